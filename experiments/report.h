/* report.h - tables (Markdown, LaTeX) and gnuplot figures made from a results file alone: measured
 * numbers beside the paper's for every method and dataset of a task (see results.h for the descriptors).
 * Runs that are missing show as "missing"; nothing is filled in. A task with one dataset has no average
 * column or group. */
#ifndef DB_REPORT_H
#define DB_REPORT_H

/* Write <out_dir>/<task>.md and <out_dir>/<task>.tex (atomically). Returns 0 or -1. */
int report_tables(const char *results_path, const char *task, const char *out_dir);

/* The two table texts, malloc'd (for the CLI's stdout and the tests). Returns 0 or -1. */
int report_table_texts(const char *results_path, const char *task, char **md, char **tex);

/* The tables of an ablation results file (voc_ablations: report_ablations.c), laid out as its /ablations/layout says;
 * report_table_texts and report_tables call it for that task. */
int report_ablation_texts(const char *results_path, char **md, char **tex);

/* The same for a task descriptor given by the caller (a task being designed, or a test). */
struct results_task_desc;
int report_table_texts_for(const char *results_path, const struct results_task_desc *t, char **md, char **tex);

/* Export the figure data to <data_dir>: <task>_accuracy.dat, <task>_params.dat, <task>_loss_<dataset>.dat
 * (formats in results/README.md). Returns 0 or -1. */
int report_plot_data(const char *results_path, const char *task, const char *data_dir);

/* Export the data, then run gnuplot (program `gnuplot`, or $DB_GNUPLOT) on <scripts_dir>/accuracy.gp,
 * params.gp and loss.gp, writing <out_dir>/<task>_accuracy.{png,svg}, <task>_params.{png,svg} and
 * <task>_loss_<dataset>.{png,svg} (each written to a temporary name, then renamed). On success, when
 * made is not NULL, *made holds the number of image files written. Returns 0 or -1. */
int report_plots(const char *results_path, const char *task, const char *data_dir, const char *scripts_dir,
                 const char *out_dir, int *made);

/* The paper's Figure 1 from the ADE20K and COCO results files: <data>/figure1.dat and <out>/figure1.png, .svg
 * (ADE20K mIoU against COCO box AP per method, measured and the paper's points, full fine-tuning's lines
 * dashed; gnuplot script <scripts>/figure1.gp). */
int report_figure1(const char *ade_path, const char *coco_path, const char *data_dir, const char *scripts_dir, const char *out_dir);

#endif

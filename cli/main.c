/* main.c - the deltabench command line: dispatches to one subcommand per task. Under mpirun every rank runs
 * the same command (core/comm.h): rank 0 speaks, the others print only errors; a rank whose command fails
 * ends the whole job (MPI_Abort), so no rank is left waiting in a collective. */
#include <stdio.h>
#include <string.h>

#include "../core/comm.h"
#include "../core/common.h"
#include "commands.h"

static const command commands[] = {
    {"reproduce", cmd_reproduce, "reproduce a paper table (cls) from data to HDF5, tables and figures"},
    {"pretrain", cmd_pretrain, "pretrain the embedded default's backbone on the synthetic upstream task"},
    {"bench", cmd_bench, "time one training step per method, against PyTorch"},
    {"golden", cmd_golden, "check the engine against golden tensors from the authors' code"},
    {"methods", cmd_methods, "list the tuning methods with their trainable parameter counts"},
    {"version", cmd_version, "print the build commit and the optional parts compiled in"},
    {"report", cmd_report, "tables and figures of a task from its results file alone"},
    {"eval", cmd_eval, "score results: COCO, VOC, semantic segmentation, DOTA (reference-exact)"},
    {"data", cmd_data, "inspect a dataset (COCO, VOC, ADE20K, DOTA, STAR, ...) through the trainers' readers"},
    {"ckpt", cmd_ckpt, "inspect checkpoint files (.pth, .safetensors, delta and training-state checkpoints)"},
};
static const int n_commands = (int)(sizeof commands / sizeof commands[0]);

static void usage(FILE *f) {
    fprintf(f,
            "deltabench - delta-tuning benchmark and reproduction harness (Mona, CVPR 2025)\n\n"
            "usage: deltabench <command> [options]    (deltabench <command> --help for its options)\n\n"
            "commands:\n");
    for (int i = 0; i < n_commands; i++) fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
}

int cmd_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("deltabench commit %s\n", build_commit());
#ifdef DB_HAVE_CUDA
    printf("cuda: yes\n");
#else
    printf("cuda: no (CPU backend only)\n");
#endif
    printf("mpi: %s\n", comm_built() ? (comm_size() > 1 ? comm_library() : "yes (run under mpirun for data-parallel training)")
                                    : "no (singleton communicator)");
    return 0;
}

/* the command under the communicator: started, finished, and on failure every rank ended */
static int run_command(const command *c, int argc, char **argv) {
    if (comm_init(&argc, &argv)) {
        fprintf(stderr, "deltabench: %s\n", err_msg());
        return 1;
    }
    if (comm_rank() != 0 && !freopen("/dev/null", "w", stdout)) { /* rank 0 alone prints results */
        fprintf(stderr, "deltabench: rank %d: %s:%d: cannot send stdout to /dev/null\n", comm_rank(), __FILE__, __LINE__);
        comm_abort(1);
    }
    int rc = c->run(argc - 1, argv + 1);
    if (rc != 0 && comm_size() > 1) {
        fprintf(stderr, "deltabench: rank %d of %d: the command failed (exit %d): ending every rank\n", comm_rank(), comm_size(), rc);
        comm_abort(rc);
    }
    comm_finalize();
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    for (int i = 0; i < n_commands; i++)
        if (!strcmp(argv[1], commands[i].name)) return run_command(&commands[i], argc, argv);
    fprintf(stderr, "deltabench: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}

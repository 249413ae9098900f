/* comm.h - the communicator of data-parallel training: rank, size and the few collectives the trainer
 * needs (the all-reduce of the trainable block's gradient, of a step's loss and of evaluation counts, the
 * broadcast of rank 0's parameters and of its run fingerprint, a barrier), behind one seam that an MPI
 * build fills with MPI and a GPU backend could fill with NCCL.
 *
 * Without MPI (no DB_HAVE_MPI, or a process not started by mpirun) the communicator is a singleton: rank 0,
 * size 1, every collective a no-op that returns 0. comm_init starts MPI only when the process was launched
 * by an MPI launcher (Open MPI's OMPI_COMM_WORLD_SIZE, PMIx or PMI variables), so a plain run never touches
 * MPI. MPI errors are fatal (MPI_ERRORS_ARE_FATAL on MPI_COMM_WORLD): a failed collective ends the job. */
#ifndef DB_COMM_H
#define DB_COMM_H

#include <stdint.h>

/* Start MPI when launched under mpirun (see above). Returns 0, or -1 with err_set. */
int comm_init(int *argc, char ***argv);
/* MPI_Finalize (a no-op for the singleton). */
void comm_finalize(void);
/* End every rank of the job now with exit status code (MPI_Abort; exit() for the singleton). */
void comm_abort(int code) __attribute__((noreturn));
int comm_rank(void);
int comm_size(void);
/* "mpi" when MPI is running, "none" for the singleton; comm_built: whether this build has MPI at all. */
const char *comm_backend(void);
int comm_built(void);
/* Processor name and the library's version string (for logs); "" for the singleton. */
const char *comm_library(void);

/* In-place sums over all ranks (any n; split into INT_MAX-sized calls). Return 0, or -1 with err_set. */
int comm_allreduce_sum_f32(float *buf, int64_t n);
int comm_allreduce_sum_f64(double *buf, int64_t n);
/* In-place maximum over all ranks. */
int comm_allreduce_max_i64(int64_t *buf, int64_t n);
/* Root's bytes to every rank. */
int comm_bcast(void *buf, int64_t bytes, int root);
int comm_barrier(void);

/* The SyncBN seam: a batch-norm op computes per-channel sum and sum of squares over its local rows and calls
 * this once per forward; afterwards sum, sumsq and *count hold the totals over every rank's rows, from which
 * the op takes the global mean and variance (and its backward does the same with its two reduced sums).
 * No op calls it yet: the training paths have no batch norm. */
int comm_syncbn_reduce(float *sum, float *sumsq, int channels, int64_t *count);

#endif

/* comm.c - the communicator (see comm.h): MPI when built with DB_HAVE_MPI and launched by mpirun, else the
 * singleton. Every MPI call is checked; a failure is reported with file and line (MPI_ERRORS_ARE_FATAL makes
 * most of them end the job before they return). */
#include "comm.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#ifdef DB_HAVE_MPI
#include <mpi.h>

static int comm_on, comm_r, comm_n = 1;
static char comm_lib[MPI_MAX_LIBRARY_VERSION_STRING + MPI_MAX_PROCESSOR_NAME + 8];

static int mpi_fail(int rc, const char *call, const char *file, int line) {
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS) snprintf(s, sizeof s, "error code %d", rc);
    return err_set("%s:%d: %s failed on rank %d: %s", file, line, call, comm_r, s);
}
#define MPI_CHECK(call)                                                                  \
    do {                                                                                 \
        int mpi_rc_ = (call);                                                            \
        if (mpi_rc_ != MPI_SUCCESS) return mpi_fail(mpi_rc_, #call, __FILE__, __LINE__); \
    } while (0)

/* launched by an MPI launcher: Open MPI's, PMIx's or a PMI-1/2 one's variables */
static int launched_by_mpirun(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK") || getenv("PMI_SIZE");
}

int comm_init(int *argc, char ***argv) {
    if (comm_on || !launched_by_mpirun()) return 0;
    int provided = 0;
    /* the training step's OpenMP threads never call MPI: only the main thread does */
    MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
    comm_on = 1;
    if (provided < MPI_THREAD_FUNNELED)
        return err_set("%s:%d: MPI_Init_thread gave thread level %d, below MPI_THREAD_FUNNELED (%d) that the OpenMP step needs", __FILE__,
                       __LINE__, provided, MPI_THREAD_FUNNELED);
    MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL));
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &comm_r));
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &comm_n));
    char ver[MPI_MAX_LIBRARY_VERSION_STRING], host[MPI_MAX_PROCESSOR_NAME];
    int len = 0;
    MPI_CHECK(MPI_Get_library_version(ver, &len));
    MPI_CHECK(MPI_Get_processor_name(host, &len));
    char *nl = strchr(ver, '\n');
    if (nl) *nl = 0;
    char *comma = strchr(ver, ',');
    if (comma) *comma = 0;
    snprintf(comm_lib, sizeof comm_lib, "%s on %s", ver, host);
    return 0;
}

void comm_finalize(void) {
    if (!comm_on) return;
    comm_on = 0;
    int rc = MPI_Finalize();
    if (rc != MPI_SUCCESS) fprintf(stderr, "deltabench: %s:%d: MPI_Finalize failed with code %d on rank %d\n", __FILE__, __LINE__, rc, comm_r);
}

void comm_abort(int code) {
    fflush(stdout);
    fflush(stderr);
    if (comm_on) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

int comm_rank(void) { return comm_on ? comm_r : 0; }
int comm_size(void) { return comm_on ? comm_n : 1; }
const char *comm_backend(void) { return comm_on ? "mpi" : "none"; }
int comm_built(void) { return 1; }
const char *comm_library(void) { return comm_on ? comm_lib : ""; }

int comm_allreduce_sum_f32(float *buf, int64_t n) {
    if (!comm_on || comm_n == 1) return 0;
    for (int64_t i = 0; i < n; i += INT_MAX) {
        int m = n - i < INT_MAX ? (int)(n - i) : INT_MAX;
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf + i, m, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
    }
    return 0;
}

int comm_allreduce_sum_f64(double *buf, int64_t n) {
    if (!comm_on || comm_n == 1) return 0;
    for (int64_t i = 0; i < n; i += INT_MAX) {
        int m = n - i < INT_MAX ? (int)(n - i) : INT_MAX;
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf + i, m, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
    }
    return 0;
}

int comm_allreduce_max_i64(int64_t *buf, int64_t n) {
    if (!comm_on || comm_n == 1) return 0;
    for (int64_t i = 0; i < n; i += INT_MAX) {
        int m = n - i < INT_MAX ? (int)(n - i) : INT_MAX;
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf + i, m, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD));
    }
    return 0;
}

int comm_bcast(void *buf, int64_t bytes, int root) {
    if (!comm_on || comm_n == 1) return 0;
    for (int64_t i = 0; i < bytes; i += INT_MAX) {
        int m = bytes - i < INT_MAX ? (int)(bytes - i) : INT_MAX;
        MPI_CHECK(MPI_Bcast((char *)buf + i, m, MPI_BYTE, root, MPI_COMM_WORLD));
    }
    return 0;
}

int comm_barrier(void) {
    if (!comm_on || comm_n == 1) return 0;
    MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
    return 0;
}

#else /* the singleton: no MPI in this build */

int comm_init(int *argc, char ***argv) {
    (void)argc, (void)argv;
    if (getenv("OMPI_COMM_WORLD_SIZE") && atoi(getenv("OMPI_COMM_WORLD_SIZE")) > 1)
        return err_set("launched by mpirun with %s ranks, but this deltabench was built without MPI (install libopenmpi-dev and "
                       "rebuild: make clean && make)",
                       getenv("OMPI_COMM_WORLD_SIZE"));
    return 0;
}
void comm_finalize(void) {}
void comm_abort(int code) {
    fflush(stdout);
    fflush(stderr);
    exit(code);
}
int comm_rank(void) { return 0; }
int comm_size(void) { return 1; }
const char *comm_backend(void) { return "none"; }
int comm_built(void) { return 0; }
const char *comm_library(void) { return ""; }
int comm_allreduce_sum_f32(float *buf, int64_t n) { return (void)buf, (void)n, 0; }
int comm_allreduce_sum_f64(double *buf, int64_t n) { return (void)buf, (void)n, 0; }
int comm_allreduce_max_i64(int64_t *buf, int64_t n) { return (void)buf, (void)n, 0; }
int comm_bcast(void *buf, int64_t bytes, int root) { return (void)buf, (void)bytes, (void)root, 0; }
int comm_barrier(void) { return 0; }

#endif

int comm_syncbn_reduce(float *sum, float *sumsq, int channels, int64_t *count) {
    if (comm_size() == 1) return 0;
    /* one buffer, one all-reduce: [sum | sumsq | count] in double (the counts stay exact) */
    double *b = xmalloc(sizeof(double) * (2 * (size_t)channels + 1));
    for (int c = 0; c < channels; c++) b[c] = sum[c], b[channels + c] = sumsq[c];
    b[2 * channels] = (double)*count;
    int rc = comm_allreduce_sum_f64(b, 2 * (int64_t)channels + 1);
    if (!rc) {
        for (int c = 0; c < channels; c++) sum[c] = (float)b[c], sumsq[c] = (float)b[channels + c];
        *count = (int64_t)b[2 * channels];
    }
    free(b);
    return rc;
}

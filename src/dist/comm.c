/* The communicator (see comm.h): MPI when built with it and started by a launcher, else a world
 * of one process. Every MPI call is non-blocking and completed by a polling wait with a
 * deadline, so that a dead peer becomes an error message instead of a hang. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef HLM_HAVE_MPI
#include <mpi.h>
#endif

#include "dist/comm.h"

typedef struct pending {
#ifdef HLM_HAVE_MPI
    MPI_Request req;
#endif
    int used;
    const char *what;
    int *counts; /* vector arguments must live until completion */
} pending;

struct hlm_comm {
    int rank, size;
    int mpi;       /* MPI initialized by us */
    int has_world; /* world is our duplicate of MPI_COMM_WORLD */
    const char *launcher;
    double timeout_s;
    uint64_t bytes;
    double wait_s;
    pending *reqs;
    int n_reqs;
#ifdef HLM_HAVE_MPI
    MPI_Comm world;
#endif
};

int hlm_comm_have_mpi(void)
{
#ifdef HLM_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

static int env_long(const char *name, long *out)
{
    const char *v = getenv(name);
    if (!v || !*v) return 0;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x < 0 || x > INT_MAX) return 0;
    *out = x;
    return 1;
}

/* The launcher's view: world size and rank from the environment (comm.h); size 1 when none. */
static void launcher_env(long *size, long *rank, const char **launcher)
{
    *size = 1;
    *rank = 0;
    *launcher = "none";
    long s, r;
    if (env_long("OMPI_COMM_WORLD_SIZE", &s) && env_long("OMPI_COMM_WORLD_RANK", &r)) {
        *launcher = "mpirun";
    } else if (env_long("PMI_SIZE", &s) && env_long("PMI_RANK", &r)) {
        *launcher = getenv("SLURM_STEP_NUM_TASKS") ? "srun" : "mpirun";
    } else if (env_long("SLURM_STEP_NUM_TASKS", &s) && (env_long("PMIX_RANK", &r) || env_long("SLURM_PROCID", &r))) {
        *launcher = "srun";
    } else {
        return;
    }
    *size = s;
    *rank = r;
}

hlm_status hlm_comm_init(int force_mpi, hlm_comm **out, hlm_error *err)
{
    *out = NULL;
    long env_size, env_rank;
    const char *launcher;
    launcher_env(&env_size, &env_rank, &launcher);
    if (env_size < 1 || env_rank >= env_size)
        return hlm_errorf(err, HLM_ERR_INVALID, "%s environment: rank %ld of %ld processes is not a valid rank", launcher,
                          env_rank, env_size);
    hlm_comm *c = calloc(1, sizeof *c);
    if (!c) return hlm_errorf(err, HLM_ERR_NOMEM, "communicator: out of memory");
    c->rank = 0;
    c->size = 1;
    c->launcher = launcher;
    c->timeout_s = 600;
    const char *t = getenv("HLM_COMM_TIMEOUT_S");
    if (t && atof(t) > 0) c->timeout_s = atof(t);
    if (env_size == 1 && !force_mpi) {
        *out = c;
        return HLM_OK;
    }
#ifdef HLM_HAVE_MPI
    int inited = 0, provided = 0;
    MPI_Initialized(&inited);
    if (!inited && MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        free(c);
        return hlm_errorf(err, HLM_ERR_IO, "MPI_Init failed (launcher %s, rank %ld of %ld)", launcher, env_rank, env_size);
    }
    c->mpi = !inited;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_dup(MPI_COMM_WORLD, &c->world);
    c->has_world = 1;
    MPI_Comm_set_errhandler(c->world, MPI_ERRORS_RETURN);
    MPI_Comm_rank(c->world, &c->rank);
    MPI_Comm_size(c->world, &c->size);
    if (c->size != env_size) {
        hlm_errorf(err, HLM_ERR_INVALID,
                   "%s started %ld processes but MPI sees a world of %d: this MPI cannot talk to the launcher "
                   "(under Slurm try srun --mpi=pmix, or mpirun inside the allocation)",
                   launcher, env_size, c->size);
        hlm_comm_free(c);
        return HLM_ERR_INVALID;
    }
    *out = c;
    return HLM_OK;
#else
    free(c);
    if (env_size > 1)
        return hlm_errorf(err, HLM_ERR_INVALID,
                          "%s started %ld processes, but this hyperlm was built without MPI "
                          "(install libopenmpi-dev and rebuild with -DHLM_WITH_MPI=ON)",
                          launcher, env_size);
    return hlm_errorf(err, HLM_ERR_INVALID, "--zero needs MPI, and this hyperlm was built without it "
                                            "(install libopenmpi-dev and rebuild with -DHLM_WITH_MPI=ON)");
#endif
}

void hlm_comm_free(hlm_comm *c)
{
    if (!c) return;
#ifdef HLM_HAVE_MPI
    if (c->has_world) MPI_Comm_free(&c->world);
    if (c->mpi) MPI_Finalize();
#endif
    for (int i = 0; i < c->n_reqs; i++) free(c->reqs[i].counts);
    free(c->reqs);
    free(c);
}

int hlm_comm_rank(const hlm_comm *c) { return c ? c->rank : 0; }
int hlm_comm_size(const hlm_comm *c) { return c ? c->size : 1; }
const char *hlm_comm_launcher(const hlm_comm *c) { return c ? c->launcher : "none"; }
uint64_t hlm_comm_bytes(const hlm_comm *c) { return c ? c->bytes : 0; }
double hlm_comm_wait_s(const hlm_comm *c) { return c ? c->wait_s : 0; }

#ifdef HLM_HAVE_MPI
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static hlm_status mpi_fail(hlm_comm *c, int rc, const char *what, hlm_error *err)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "MPI error %d", rc);
    return hlm_errorf(err, HLM_ERR_IO, "rank %d of %d: %s failed: %s (a peer process may have died)", c->rank,
                      c->size, what, msg);
}

/* A free request slot (the table grows; slots are reused after their wait). */
static int new_req(hlm_comm *c, const char *what, hlm_error *err)
{
    for (int i = 0; i < c->n_reqs; i++)
        if (!c->reqs[i].used) {
            c->reqs[i].used = 1;
            c->reqs[i].what = what;
            return i;
        }
    pending *p = realloc(c->reqs, (size_t)(c->n_reqs + 16) * sizeof *p);
    if (!p) {
        hlm_errorf(err, HLM_ERR_NOMEM, "communicator: out of memory");
        return -1;
    }
    memset(p + c->n_reqs, 0, 16 * sizeof *p);
    c->reqs = p;
    int i = c->n_reqs;
    c->n_reqs += 16;
    c->reqs[i].used = 1;
    c->reqs[i].what = what;
    return i;
}

static int *req_counts(hlm_comm *c, int req, hlm_error *err)
{
    if (!c->reqs[req].counts) c->reqs[req].counts = malloc(2 * (size_t)c->size * sizeof(int));
    if (!c->reqs[req].counts) hlm_errorf(err, HLM_ERR_NOMEM, "communicator: out of memory");
    return c->reqs[req].counts;
}

static hlm_status to_int_counts(hlm_comm *c, const size_t *counts, const size_t *displs, int *out, const char *what,
                                hlm_error *err)
{
    for (int i = 0; i < c->size; i++) {
        if (counts[i] > INT_MAX || (displs && displs[i] > INT_MAX))
            return hlm_errorf(err, HLM_ERR_RANGE, "%s: %zu floats per rank exceed MPI's int counts", what, counts[i]);
        out[i] = (int)counts[i];
        if (displs) out[c->size + i] = (int)displs[i];
    }
    return HLM_OK;
}

/* Polls one request until it completes, the deadline passes, or MPI reports an error. Short
 * sleeps after a few polls keep oversubscribed ranks (more ranks than cores) from starving the
 * ones still computing. */
static hlm_status poll_wait(hlm_comm *c, MPI_Request *r, const char *what, hlm_error *err)
{
    double t0 = now_s();
    long sleep_ns = 2000;
    for (int polls = 0;; polls++) {
        int done = 0;
        int rc = MPI_Test(r, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_fail(c, rc, what, err);
        if (done) break;
        if (polls > 32) {
            struct timespec ts = {0, sleep_ns};
            nanosleep(&ts, NULL);
            if (sleep_ns < 100000) sleep_ns *= 2;
        }
        if (now_s() - t0 > c->timeout_s)
            return hlm_errorf(err, HLM_ERR_IO,
                              "rank %d of %d: %s made no progress for %.0f s: a peer process has died or hangs", c->rank,
                              c->size, what, c->timeout_s);
    }
    c->wait_s += now_s() - t0;
    return HLM_OK;
}
#endif

hlm_status hlm_comm_iallreduce(hlm_comm *c, float *buf, size_t n, int *req, hlm_error *err)
{
    *req = -1;
    if (c->size == 1) return HLM_OK;
#ifdef HLM_HAVE_MPI
    if (n > INT_MAX) return hlm_errorf(err, HLM_ERR_RANGE, "all-reduce: %zu floats exceed MPI's int counts", n);
    int i = new_req(c, "all-reduce", err);
    if (i < 0) return HLM_ERR_NOMEM;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, c->world, &c->reqs[i].req);
    if (rc != MPI_SUCCESS) {
        c->reqs[i].used = 0;
        return mpi_fail(c, rc, "all-reduce", err);
    }
    c->bytes += 2 * (n - n / (size_t)c->size) * sizeof(float);
    *req = i;
    return HLM_OK;
#else
    (void)buf;
    (void)n;
    return hlm_errorf(err, HLM_ERR_INVALID, "all-reduce: built without MPI");
#endif
}

hlm_status hlm_comm_ireduce_scatter(hlm_comm *c, const float *send, float *recv, const size_t *counts, int *req,
                                    hlm_error *err)
{
    *req = -1;
    if (c->size == 1) {
        if (counts[0] && send != recv) memmove(recv, send, counts[0] * sizeof(float));
        return HLM_OK;
    }
#ifdef HLM_HAVE_MPI
    int i = new_req(c, "reduce-scatter", err);
    if (i < 0) return HLM_ERR_NOMEM;
    int *ic = req_counts(c, i, err);
    hlm_status s = ic ? to_int_counts(c, counts, NULL, ic, "reduce-scatter", err) : HLM_ERR_NOMEM;
    if (s != HLM_OK) {
        c->reqs[i].used = 0;
        return s;
    }
    size_t total = 0;
    for (int k = 0; k < c->size; k++) total += counts[k];
    int rc = MPI_Ireduce_scatter(send, recv, ic, MPI_FLOAT, MPI_SUM, c->world, &c->reqs[i].req);
    if (rc != MPI_SUCCESS) {
        c->reqs[i].used = 0;
        return mpi_fail(c, rc, "reduce-scatter", err);
    }
    c->bytes += (total - counts[c->rank]) * sizeof(float);
    *req = i;
    return HLM_OK;
#else
    return hlm_errorf(err, HLM_ERR_INVALID, "reduce-scatter: built without MPI");
#endif
}

hlm_status hlm_comm_wait(hlm_comm *c, int req, hlm_error *err)
{
    if (req < 0) return HLM_OK;
#ifdef HLM_HAVE_MPI
    if (req >= c->n_reqs || !c->reqs[req].used)
        return hlm_errorf(err, HLM_ERR_INVALID, "communicator: wait on unknown request %d", req);
    hlm_status s = poll_wait(c, &c->reqs[req].req, c->reqs[req].what, err);
    c->reqs[req].used = 0;
    return s;
#else
    return hlm_errorf(err, HLM_ERR_INVALID, "communicator: wait on request %d without MPI", req);
#endif
}

hlm_status hlm_comm_progress(hlm_comm *c, hlm_error *err)
{
#ifdef HLM_HAVE_MPI
    /* One MPI_Test on any pending request drives the whole progress engine; completed requests
     * stay marked used until their wait, which then finds them done (MPI_Test on a completed
     * request returns the inactive request at once). */
    for (int i = 0; i < c->n_reqs; i++)
        if (c->reqs[i].used && c->reqs[i].req != MPI_REQUEST_NULL) {
            int done = 0;
            int rc = MPI_Test(&c->reqs[i].req, &done, MPI_STATUS_IGNORE);
            if (rc != MPI_SUCCESS) return mpi_fail(c, rc, c->reqs[i].what, err);
        }
#else
    (void)c;
    (void)err;
#endif
    return HLM_OK;
}

hlm_status hlm_comm_allgatherv(hlm_comm *c, float *buf, const size_t *counts, const size_t *displs, hlm_error *err)
{
    if (c->size == 1) return HLM_OK;
#ifdef HLM_HAVE_MPI
    int i = new_req(c, "all-gather", err);
    if (i < 0) return HLM_ERR_NOMEM;
    int *ic = req_counts(c, i, err);
    hlm_status s = ic ? to_int_counts(c, counts, displs, ic, "all-gather", err) : HLM_ERR_NOMEM;
    if (s != HLM_OK) {
        c->reqs[i].used = 0;
        return s;
    }
    size_t total = 0;
    for (int k = 0; k < c->size; k++) total += counts[k];
    int rc = MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, ic, ic + c->size, MPI_FLOAT, c->world,
                             &c->reqs[i].req);
    if (rc != MPI_SUCCESS) {
        c->reqs[i].used = 0;
        return mpi_fail(c, rc, "all-gather", err);
    }
    c->bytes += (total - counts[c->rank]) * sizeof(float);
    return hlm_comm_wait(c, i, err);
#else
    return hlm_errorf(err, HLM_ERR_INVALID, "all-gather: built without MPI");
#endif
}

hlm_status hlm_comm_gatherv(hlm_comm *c, const float *send, float *recv, const size_t *counts, const size_t *displs,
                            hlm_error *err)
{
    if (c->size == 1) {
        if (counts[0] && recv + displs[0] != send) memmove(recv + displs[0], send, counts[0] * sizeof(float));
        return HLM_OK;
    }
#ifdef HLM_HAVE_MPI
    int i = new_req(c, "gather", err);
    if (i < 0) return HLM_ERR_NOMEM;
    int *ic = req_counts(c, i, err);
    hlm_status s = ic ? to_int_counts(c, counts, displs, ic, "gather", err) : HLM_ERR_NOMEM;
    if (s != HLM_OK) {
        c->reqs[i].used = 0;
        return s;
    }
    int rc = MPI_Igatherv(send, ic[c->rank], MPI_FLOAT, recv, ic, ic + c->size, MPI_FLOAT, 0, c->world,
                          &c->reqs[i].req);
    if (rc != MPI_SUCCESS) {
        c->reqs[i].used = 0;
        return mpi_fail(c, rc, "gather", err);
    }
    return hlm_comm_wait(c, i, err);
#else
    return hlm_errorf(err, HLM_ERR_INVALID, "gather: built without MPI");
#endif
}

hlm_status hlm_comm_sum_f64(hlm_comm *c, const double *in, double *out, int n, hlm_error *err)
{
    if (c->size == 1) {
        memmove(out, in, (size_t)n * sizeof(double));
        return HLM_OK;
    }
#ifdef HLM_HAVE_MPI
    double *all = malloc((size_t)n * (size_t)c->size * sizeof(double));
    if (!all) return hlm_errorf(err, HLM_ERR_NOMEM, "communicator: out of memory");
    int i = new_req(c, "all-gather of sums", err);
    hlm_status s = i < 0 ? HLM_ERR_NOMEM : HLM_OK;
    if (s == HLM_OK) {
        int rc = MPI_Iallgather(in, n, MPI_DOUBLE, all, n, MPI_DOUBLE, c->world, &c->reqs[i].req);
        if (rc != MPI_SUCCESS) {
            c->reqs[i].used = 0;
            s = mpi_fail(c, rc, "all-gather of sums", err);
        } else {
            s = hlm_comm_wait(c, i, err);
        }
    }
    if (s == HLM_OK)
        for (int k = 0; k < n; k++) {
            double sum = 0;
            for (int r = 0; r < c->size; r++) sum += all[(size_t)r * (size_t)n + (size_t)k];
            out[k] = sum;
        }
    free(all);
    return s;
#else
    return hlm_errorf(err, HLM_ERR_INVALID, "sum: built without MPI");
#endif
}

hlm_status hlm_comm_barrier(hlm_comm *c, hlm_error *err)
{
    if (c->size == 1) return HLM_OK;
#ifdef HLM_HAVE_MPI
    int i = new_req(c, "barrier", err);
    if (i < 0) return HLM_ERR_NOMEM;
    int rc = MPI_Ibarrier(c->world, &c->reqs[i].req);
    if (rc != MPI_SUCCESS) {
        c->reqs[i].used = 0;
        return mpi_fail(c, rc, "barrier", err);
    }
    return hlm_comm_wait(c, i, err);
#else
    return hlm_errorf(err, HLM_ERR_INVALID, "barrier: built without MPI");
#endif
}

hlm_status hlm_comm_allgatherv_bytes(hlm_comm *c, void *buf, const size_t *counts, const size_t *displs,
                                     hlm_error *err)
{
    if (c->size == 1) return HLM_OK;
#ifdef HLM_HAVE_MPI
    const size_t piece = (size_t)1 << 30;
    for (int root = 0; root < c->size; root++)
        for (size_t off = 0; off < counts[root]; off += piece) {
            size_t n = counts[root] - off < piece ? counts[root] - off : piece;
            int i = new_req(c, "all-gather of bytes", err);
            if (i < 0) return HLM_ERR_NOMEM;
            int rc = MPI_Ibcast((char *)buf + displs[root] + off, (int)n, MPI_BYTE, root, c->world, &c->reqs[i].req);
            if (rc != MPI_SUCCESS) {
                c->reqs[i].used = 0;
                return mpi_fail(c, rc, "all-gather of bytes", err);
            }
            hlm_status s = hlm_comm_wait(c, i, err);
            if (s != HLM_OK) return s;
        }
    return HLM_OK;
#else
    (void)buf;
    (void)counts;
    (void)displs;
    return hlm_errorf(err, HLM_ERR_INVALID, "all-gather of bytes: built without MPI");
#endif
}

hlm_status hlm_comm_allgather_u64(hlm_comm *c, uint64_t value, uint64_t *all, hlm_error *err)
{
    all[0] = value;
    if (c->size == 1) return HLM_OK;
#ifdef HLM_HAVE_MPI
    int i = new_req(c, "all-gather of u64", err);
    if (i < 0) return HLM_ERR_NOMEM;
    int rc = MPI_Iallgather(&value, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, c->world, &c->reqs[i].req);
    if (rc != MPI_SUCCESS) {
        c->reqs[i].used = 0;
        return mpi_fail(c, rc, "all-gather of u64", err);
    }
    return hlm_comm_wait(c, i, err);
#else
    return hlm_errorf(err, HLM_ERR_INVALID, "all-gather: built without MPI");
#endif
}

hlm_status hlm_comm_compare_u64(hlm_comm *c, uint64_t value, int *first_other, hlm_error *err)
{
    *first_other = -1;
    if (c->size == 1) return HLM_OK;
    uint64_t *all = malloc((size_t)c->size * sizeof *all);
    if (!all) return hlm_errorf(err, HLM_ERR_NOMEM, "communicator: out of memory");
    hlm_status s = hlm_comm_allgather_u64(c, value, all, err);
    for (int r = 1; s == HLM_OK && r < c->size; r++)
        if (all[r] != all[0]) {
            *first_other = r;
            break;
        }
    free(all);
    return s;
}

void hlm_comm_abort(hlm_comm *c, int code, const char *msg)
{
    if (!c || c->size == 1) return;
    fprintf(stderr, "hyperlm: rank %d of %d: %s; ending the job\n", c->rank, c->size, msg);
    fflush(stderr);
#ifdef HLM_HAVE_MPI
    MPI_Abort(MPI_COMM_WORLD, code);
#endif
}

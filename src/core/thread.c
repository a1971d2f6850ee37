#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hyperlm/thread.h"

int hlm_default_threads(void)
{
    const char *env = getenv("HYPERLM_THREADS");
    if (env) {
        int n = atoi(env);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

typedef struct {
    hlm_task_fn fn;
    void *ctx;
    size_t n_tasks;
    atomic_size_t next;
} pool_job;

typedef struct {
    pool_job *job;
    int index;
} worker_arg;

static void run_tasks(pool_job *job, int thread)
{
    for (;;) {
        size_t t = atomic_fetch_add(&job->next, 1);
        if (t >= job->n_tasks) break;
        job->fn(job->ctx, t, thread);
    }
}

static void *worker_main(void *p)
{
    worker_arg *a = p;
    run_tasks(a->job, a->index);
    return NULL;
}

hlm_status hlm_parallel_for(size_t n_tasks, int n_threads, hlm_task_fn fn, void *ctx, hlm_error *err)
{
    if (n_threads <= 0) n_threads = hlm_default_threads();
    if ((size_t)n_threads > n_tasks) n_threads = n_tasks ? (int)n_tasks : 1;
    pool_job job = {fn, ctx, n_tasks, 0};
    if (n_threads == 1) {
        run_tasks(&job, 0);
        return HLM_OK;
    }
    pthread_t *tids = calloc((size_t)n_threads, sizeof *tids);
    worker_arg *args = calloc((size_t)n_threads, sizeof *args);
    if (!tids || !args) {
        free(tids);
        free(args);
        return hlm_errorf(err, HLM_ERR_NOMEM, "parallel_for: out of memory");
    }
    int started = 0;
    for (int i = 1; i < n_threads; i++) {
        args[i].job = &job;
        args[i].index = i;
        if (pthread_create(&tids[i], NULL, worker_main, &args[i]) != 0) break;
        started = i;
    }
    run_tasks(&job, 0); /* the caller is worker 0; tasks left by a failed create still run here */
    for (int i = 1; i <= started; i++) pthread_join(tids[i], NULL);
    free(tids);
    free(args);
    return HLM_OK;
}

/* Threads: a fork-join parallel for on POSIX threads. Tasks are handed out dynamically (an
 * atomic counter), so uneven task sizes balance; fn runs once per task index in [0, n_tasks). */
#ifndef HYPERLM_THREAD_H
#define HYPERLM_THREAD_H

#include <stddef.h>

#include "hyperlm/error.h"

typedef void (*hlm_task_fn)(void *ctx, size_t task, int thread);

/* Runs fn over all tasks with n_threads threads (<= 0: hlm_default_threads()); thread is the
 * worker index in [0, n_threads). With one thread everything runs in the caller. */
hlm_status hlm_parallel_for(size_t n_tasks, int n_threads, hlm_task_fn fn, void *ctx, hlm_error *err);
/* HYPERLM_THREADS if set, else the number of online CPUs. */
int hlm_default_threads(void);

#endif

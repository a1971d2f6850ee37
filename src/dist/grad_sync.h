/* Gradient reduction in buckets, overlapped with the backward pass (the scheme of PyTorch's
 * DistributedDataParallel, Li et al. 2020, section 3.2.3):
 * - the flat gradient array is cut at gradient-group boundaries (hlm_model_grad_groups: the
 *   embeddings, each layer, the head) into buckets of about `bucket_mb`,
 *   counted from the end of the array, because backward finishes the parameters in that order
 *   (lm head and final norm, then the layers from the last to the first, embeddings last);
 * - hlm_model_backward reports after each layer that every gradient from an offset up is final
 *   (hlm_model_set_grad_ready); each bucket that lies wholly above it is launched at once as a
 *   non-blocking all-reduce (ZeRO stage 0) or a reduce-scatter into this rank's shard (stages 1
 *   and 2), so communication runs while the lower layers are still being differentiated;
 * - hlm_grad_sync_finish launches what is left and waits for everything, before the optimizer.
 * Every rank cuts the same buckets and launches them in the same order, as MPI requires.
 *
 * Windowed mode (ZeRO stage 2): the model has no full gradient array; backward asks for each
 * group's storage (hlm_model_set_grad_storage) and gets a zeroed buffer of its bucket, which
 * is reduce-scattered from there and reused once that completes. At most a few buckets hold a
 * buffer at a time (the embeddings' one, filled first and last by a tied lm head, and three
 * others), so gradient memory is bounded by buckets, not by the model.
 *
 * Shards (ZeRO, Rajbhandari et al. 2020): rank r owns the contiguous range
 * [bounds[r], bounds[r+1]) of the flat array, bounds at multiples of 16 floats (a cache line);
 * a bucket's reduce-scatter gives rank r the part of the bucket inside its range, written at
 * shard[offset - bounds[r]]. */
#ifndef HYPERLM_DIST_GRAD_SYNC_H
#define HYPERLM_DIST_GRAD_SYNC_H

#include <stddef.h>

#include "dist/comm.h"
#include "hyperlm/model.h"

typedef enum hlm_sync_mode { HLM_SYNC_ALLREDUCE = 0, HLM_SYNC_REDUCE_SCATTER = 1 } hlm_sync_mode;

/* bounds[0..size]: rank r owns [bounds[r], bounds[r+1]) of n floats. */
void hlm_shard_bounds(size_t n, int size, size_t *bounds);

typedef struct hlm_grad_sync hlm_grad_sync;

/* Cuts model's gradient array into buckets of about bucket_mb megabytes (> 0). */
hlm_status hlm_grad_sync_create(hlm_comm *c, hlm_model *m, double bucket_mb, hlm_grad_sync **out, hlm_error *err);
void hlm_grad_sync_free(hlm_grad_sync *s);
size_t hlm_grad_sync_n_buckets(const hlm_grad_sync *s);
/* The shard bounds (size + 1 entries). */
const size_t *hlm_grad_sync_bounds(const hlm_grad_sync *s);
/* Arms the hooks for the next backward: mode, for reduce-scatter the shard buffer
 * (bounds[rank+1] - bounds[rank] floats) that receives this rank's reduced part, and windowed
 * (reduce-scatter only): gradients live in bucket buffers, not in the model's array. */
void hlm_grad_sync_begin(hlm_grad_sync *s, hlm_sync_mode mode, float *shard, int windowed);
/* Windowed mode: the most bytes of bucket buffers held at once so far, and the bound on it
 * (the embeddings' bucket plus three of the largest others). */
size_t hlm_grad_sync_window_bytes(const hlm_grad_sync *s);
size_t hlm_grad_sync_window_bound_bytes(const hlm_grad_sync *s);
/* Launches the buckets not launched yet, waits for all, removes the hooks; the first error of
 * the step (a launch or a buffer inside the hooks, or a wait). */
hlm_status hlm_grad_sync_finish(hlm_grad_sync *s, hlm_error *err);

#endif

/* The training loop: data -> forward/backward (with gradient accumulation) -> global-norm clip ->
 * AdamW, with a learning-rate schedule, validation, metrics, checkpoints and bit-exact resume.
 *
 * Run folder (OUT):
 *   OUT/metrics.jsonl        one JSON object per step, and {"step", "val_loss"} entries
 *   OUT/loss.svg             train and validation loss, redrawn at every save
 *   OUT/step-00000100/       a checkpoint: a Hugging Face model folder (config.json,
 *                            model.safetensors[, tokenizer.json]) plus optimizer.safetensors
 *                            (AdamW m and v) and trainer.json (options, step, optimizer step,
 *                            loss EMA): everything the next step depends on
 *   OUT/latest               the name of the newest complete checkpoint
 * A checkpoint is written into OUT/.step-N.tmp, fsynced, renamed to OUT/step-N, and only then
 * named in OUT/latest (atomically): a kill -9 at any moment leaves `latest` naming a complete
 * checkpoint. Batches are a pure function of (data, seed, order, B, T, step, micro-step), and the
 * schedule a pure function of the step, so resuming from step k replays steps k+1.. exactly.
 * With several processes (opts.comm) only rank 0 writes the run folder; trainer.json adds the
 * world size and the global batch, so a run saved at N processes resumes at any M that divides
 * the global batch (accum is recomputed). */
#ifndef HYPERLM_TRAIN_TRAINER_H
#define HYPERLM_TRAIN_TRAINER_H

#include <stdint.h>

#include "dist/comm.h"
#include "hyperlm/error.h"

typedef enum hlm_decay { HLM_DECAY_COSINE = 0, HLM_DECAY_LINEAR = 1, HLM_DECAY_NONE = 2 } hlm_decay;

typedef struct hlm_train_opts {
    const char *model;      /* preset, config.json or model folder (ignored with init/resume) */
    const char *data;       /* shard, shard folder, or text/JSONL/TSV with tokenizer */
    const char *val_data;   /* NULL: the last val_fraction of data's tokens */
    const char *tokenizer;  /* for text data; copied into every checkpoint */
    const char *out_dir;
    const char *init_dir;   /* start from these weights with a fresh optimizer */
    const char *resume_dir; /* continue a run: a checkpoint folder or a run folder */
    int64_t steps;
    int batch, seq, accum;
    float lr, min_lr_frac;  /* the schedule decays to lr * min_lr_frac */
    int64_t warmup;
    hlm_decay decay;
    float weight_decay, beta1, beta2, eps, clip;
    int decay_all;          /* weight decay on biases, norms and embeddings too */
    uint64_t seed;
    int threads;
    int sequential;         /* --data-order sequential (llm.c's order) instead of shuffled */
    double val_fraction;
    int64_t eval_every, eval_batches, save_every, keep;
    float spike_factor;     /* skip an update whose loss exceeds spike_factor x its recent EMA */
    double peak_gflops;     /* for MFU; 0: measured at start */
    int bf16;               /* matrix multiplies in bf16 with fp32 accumulation (AMX), weights fp32 */
    int64_t stop_at;        /* > 0: save and stop once this many steps are done (a time slice) */
    /* Data parallelism (docs/distributed.md). With a world of N > 1 processes each rank takes
     * `batch` x `accum` sequences per step, so a step's global batch is batch x accum x N;
     * sample j of step k is the same whatever N, and checkpoints hold full, unsharded state. */
    hlm_comm *comm;         /* NULL or a world of one: one process, the code path of before */
    int zero;               /* ZeRO stage: 0 (replicated), 1 (optimizer state sharded), 2 (+ gradients) */
    double bucket_mb;       /* gradient bucket size for the reduction overlapped with backward */
} hlm_train_opts;

void hlm_train_opts_default(hlm_train_opts *o);
/* Learning rate for 0-based step (linear warmup to lr over `warmup` steps, then decay to
 * lr * min_lr_frac at `steps`). */
float hlm_train_lr_at(const hlm_train_opts *o, int64_t step);
/* Finds the checkpoint a --resume argument names (a checkpoint folder, or a run folder with
 * `latest`); writes its path into out. */
hlm_status hlm_train_find_checkpoint(const char *dir, char *out, size_t cap, hlm_error *err);
/* Reads the options saved in a checkpoint's trainer.json into o (strings are malloc'd and owned
 * by the caller; pointers left NULL when absent). */
hlm_status hlm_train_opts_load(const char *ckpt_dir, hlm_train_opts *o, hlm_error *err);
hlm_status hlm_train_run(const hlm_train_opts *o, hlm_error *err);

#endif

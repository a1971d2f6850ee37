/* hyperlm train: flags -> hlm_train_opts -> hlm_train_run. With --resume the options saved in
 * the checkpoint are the defaults, so `hyperlm train --resume RUN` alone continues a run. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "dist/comm.h"
#include "hyperlm/log.h"
#include "train/trainer.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hyperlm train --model PRESET|CONFIG.json --data SHARDS_OR_TEXT [--tokenizer TOK] --out DIR [options]\n"
            "       hyperlm train --resume DIR [options]\n\n"
            "model and data:\n"
            "  --model M          preset (hyperlm model info --list), config.json or model folder\n"
            "  --init DIR         start from a checkpoint's weights with a fresh optimizer\n"
            "  --resume DIR       continue a run (run folder or checkpoint folder), bit-exactly\n"
            "  --data PATH        token shard, folder of shards, or text/JSONL/TSV (needs --tokenizer)\n"
            "  --val-data PATH    validation data (default: the last --val-fraction of --data)\n"
            "  --val-fraction F   held-out share of --data when no --val-data (default 0.05)\n"
            "  --tokenizer TOK    tokenizer.json for text data; copied into every checkpoint\n"
            "  --data-order O     shuffled (default, seeded) or sequential (llm.c's order)\n"
            "  --out DIR          run folder: checkpoints, metrics.jsonl, loss.svg\n"
            "optimization:\n"
            "  --steps N (100)  --batch B (4)  --seq T (256)  --accum A (1)\n"
            "  --lr LR (6e-4)  --warmup N (0)  --decay cosine|linear|none (cosine)  --min-lr-frac F (0.1)\n"
            "  --weight-decay W (0.1)  --decay-all  --beta1 (0.9)  --beta2 (0.95)  --eps (1e-8)  --clip C (1.0, 0 = off)\n"
            "  --precision P      fp32 (default) or bf16: matrix multiplies on bf16 inputs with fp32\n"
            "                     accumulation (AMX); weights, gradients and optimizer stay fp32\n"
            "  --spike-factor F   skip an update whose loss exceeds F x its recent average (4; 0 = off)\n"
            "run:\n"
            "  --seed S (1337)  --threads N (all cores)\n"
            "  --eval-every N  --eval-batches N (8)  --save-every N  --keep K (3)\n"
            "  --stop-at N        save and stop after step N (continue later with --resume)\n"
            "  --peak-gflops G    FMA peak for the MFU figure (default: measured at start)\n"
            "many processes (mpirun -np N hyperlm train ..., or srun; docs/distributed.md):\n"
            "  --zero S           ZeRO stage: 0 replicated (default), 1 optimizer state sharded,\n"
            "                     2 optimizer state and gradients sharded\n"
            "  --bucket-mb M      gradient bucket reduced while backward runs (25)\n"
            "  each rank takes --batch x --accum sequences a step: the global batch is that x N\n");
}

static int parse_f(const char *flag, const char *v, double *out)
{
    char *end;
    if (!v) goto bad;
    *out = strtod(v, &end);
    if (end == v || *end) goto bad;
    return 1;
bad:
    fprintf(stderr, "hyperlm: error: %s: expected a number, got '%s'\n", flag, v ? v : "");
    return 0;
}

int cli_train(int argc, char **argv)
{
    hlm_train_opts o;
    hlm_train_opts_default(&o);
    hlm_error err = {0};
    char ckpt[4096] = "";
    char *run_dir = NULL;
    char *owned[3] = {NULL, NULL, NULL}; /* strings read from trainer.json */
    /* first pass: --resume sets the defaults */
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--resume") && i + 1 < argc) {
            o.resume_dir = argv[i + 1];
            if (hlm_train_find_checkpoint(o.resume_dir, ckpt, sizeof ckpt, &err) != HLM_OK ||
                hlm_train_opts_load(ckpt, &o, &err) != HLM_OK)
                return cli_report(&err);
            owned[0] = (char *)o.data;
            owned[1] = (char *)o.val_data;
            owned[2] = (char *)o.tokenizer;
            /* the run folder: RUN itself, or the parent of RUN/step-N */
            struct stat st;
            char latest[4200];
            snprintf(latest, sizeof latest, "%s/latest", o.resume_dir);
            if (stat(latest, &st) == 0) {
                run_dir = strdup(o.resume_dir);
            } else {
                char *copy = strdup(o.resume_dir);
                run_dir = copy ? strdup(dirname(copy)) : NULL;
                free(copy);
            }
            o.out_dir = run_dir;
        }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double f;
        unsigned long long u;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return CLI_OK;
        } else if (!strcmp(a, "--decay-all")) {
            o.decay_all = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "hyperlm: error: train: unknown flag or missing value: '%s' (see hyperlm train --help)\n", a);
            return CLI_USAGE;
        }
        i++;
#define U64(flag, field, max)                          \
    else if (!strcmp(a, flag)) {                       \
        if (!cli_parse_u64(flag, v, max, &u)) return CLI_USAGE; \
        o.field = u;                                   \
    }
#define F64(flag, field, type)                         \
    else if (!strcmp(a, flag)) {                       \
        if (!parse_f(flag, v, &f)) return CLI_USAGE;   \
        o.field = (type)f;                             \
    }
        if (!strcmp(a, "--model")) o.model = v;
        else if (!strcmp(a, "--data")) o.data = v;
        else if (!strcmp(a, "--val-data")) o.val_data = v;
        else if (!strcmp(a, "--tokenizer")) o.tokenizer = v;
        else if (!strcmp(a, "--out")) o.out_dir = v;
        else if (!strcmp(a, "--init")) o.init_dir = v;
        else if (!strcmp(a, "--resume")) o.resume_dir = v;
        else if (!strcmp(a, "--data-order")) {
            if (strcmp(v, "sequential") && strcmp(v, "shuffled")) {
                fprintf(stderr, "hyperlm: error: --data-order: expected sequential or shuffled, got '%s'\n", v);
                return CLI_USAGE;
            }
            o.sequential = !strcmp(v, "sequential");
        } else if (!strcmp(a, "--precision")) {
            if (strcmp(v, "fp32") && strcmp(v, "bf16")) {
                fprintf(stderr, "hyperlm: error: --precision: expected fp32 or bf16, got '%s'\n", v);
                return CLI_USAGE;
            }
            o.bf16 = !strcmp(v, "bf16");
        } else if (!strcmp(a, "--decay")) {
            if (!strcmp(v, "cosine")) o.decay = HLM_DECAY_COSINE;
            else if (!strcmp(v, "linear")) o.decay = HLM_DECAY_LINEAR;
            else if (!strcmp(v, "none")) o.decay = HLM_DECAY_NONE;
            else {
                fprintf(stderr, "hyperlm: error: --decay: expected cosine, linear or none, got '%s'\n", v);
                return CLI_USAGE;
            }
        }
        U64("--steps", steps, 1ull << 40)
        U64("--batch", batch, 1 << 20)
        U64("--seq", seq, 1 << 20)
        U64("--accum", accum, 1 << 20)
        U64("--warmup", warmup, 1ull << 40)
        U64("--seed", seed, ~0ull)
        U64("--threads", threads, 4096)
        U64("--eval-every", eval_every, 1ull << 40)
        U64("--eval-batches", eval_batches, 1ull << 40)
        U64("--save-every", save_every, 1ull << 40)
        U64("--keep", keep, 1ull << 20)
        U64("--stop-at", stop_at, 1ull << 40)
        U64("--zero", zero, 1ull << 20)
        F64("--bucket-mb", bucket_mb, double)
        F64("--lr", lr, float)
        F64("--min-lr-frac", min_lr_frac, float)
        F64("--weight-decay", weight_decay, float)
        F64("--beta1", beta1, float)
        F64("--beta2", beta2, float)
        F64("--eps", eps, float)
        F64("--clip", clip, float)
        F64("--val-fraction", val_fraction, double)
        F64("--spike-factor", spike_factor, float)
        F64("--peak-gflops", peak_gflops, double)
        else {
            fprintf(stderr, "hyperlm: error: train: unknown flag '%s' (see hyperlm train --help)\n", a);
            return CLI_USAGE;
        }
#undef U64
#undef F64
    }
    if (o.init_dir && o.resume_dir) {
        fprintf(stderr, "hyperlm: error: train: --init and --resume exclude each other\n");
        return CLI_USAGE;
    }
    if (!o.resume_dir && !o.init_dir && !o.model) {
        fprintf(stderr, "hyperlm: error: train: --model (or --init / --resume) is required\n");
        return CLI_USAGE;
    }
    /* one process, unless mpirun or srun started several (then MPI; rank 0 alone logs) */
    hlm_comm *comm = NULL;
    if (hlm_comm_init(o.zero > 0, &comm, &err) != HLM_OK) {
        free(run_dir);
        for (int i = 0; i < 3; i++) free(owned[i]);
        return cli_report(&err);
    }
    o.comm = comm;
    int rank = hlm_comm_rank(comm), world = hlm_comm_size(comm);
    if (rank > 0 && hlm_log_get_level() > HLM_LOG_WARN) hlm_log_set_level(HLM_LOG_WARN);
    int rc = CLI_OK;
    if (hlm_train_run(&o, &err) != HLM_OK) {
        if (world > 1) {
            /* the other ranks wait in a collective that this one will never join: end the job */
            char msg[1100];
            snprintf(msg, sizeof msg, "error: %s", err.msg[0] ? err.msg : hlm_status_name(err.code));
            hlm_comm_abort(comm, err.code == HLM_ERR_INVALID ? CLI_USAGE : CLI_FAIL, msg);
        }
        rc = cli_report(&err);
    }
    hlm_comm_free(comm);
    free(run_dir);
    for (int i = 0; i < 3; i++) free(owned[i]);
    return rc;
}

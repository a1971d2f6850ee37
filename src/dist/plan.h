/* The hyperscale training planner: what training a model on D tokens on a GPU cluster costs, in
 * FLOPs, memory per GPU and days, and which tensor x pipeline x data parallel layout is fastest.
 *
 * Everything here is arithmetic on published formulas, with the paper and equation named where it
 * is used (docs/planner.md has them all):
 * - training FLOPs: 6ND + 12 L h s D (Kaplan et al. 2020; Narayanan et al. 2021, eq. 3 without
 *   recomputation); Megatron's per-iteration count 96 B s L h^2 (1 + s/6h + V/16Lh) (Narayanan
 *   et al. 2021, eq. 3, which includes full recomputation) for comparison with its papers;
 * - model states: 16 bytes per parameter in mixed-precision Adam, partitioned by ZeRO stage
 *   (Rajbhandari et al. 2020, Fig. 1);
 * - activations: Korthikanti et al. 2022, Table 2 (tensor parallel, sequence parallel, selective
 *   and full recomputation) times the in-flight micro-batches of the 1F1B schedule;
 * - time: matrix multiplies at a measured achievable fraction of peak, memory-bound element-wise
 *   work at HBM bandwidth, tensor-parallel all-reduces on NVLink, pipeline bubble (p-1)/m,
 *   data-parallel gradient reduction on the network.
 *
 * Units: bytes, seconds, FLOP and FLOP/s throughout (decimal prefixes where printed). */
#ifndef HLM_DIST_PLAN_H
#define HLM_DIST_PLAN_H

#include "hyperlm/error.h"
#include "hyperlm/model.h"

/* ---- GPUs and clusters ---- */

typedef struct hlm_gpu {
    const char *name;            /* "A100-80GB" */
    double peak_flops;           /* dense bf16 tensor-core FLOP/s (no sparsity) */
    double hbm_bytes;            /* memory capacity */
    double hbm_bytes_per_s;      /* memory bandwidth */
    double nvlink_bytes_per_s;   /* NVLink, per GPU, one direction */
    double network_bytes_per_s;  /* inter-node network, per GPU, one direction */
    int gpus_per_node;
    double matmul_efficiency;    /* achievable fraction of peak_flops on bf16 matrix multiplies */
} hlm_gpu;

/* The GPU table (docs/planner.md cites each figure); *n gets its length. */
const hlm_gpu *hlm_gpu_table(int *n);
/* Case-insensitive; "A100" alone is the 80GB part, "H100" the SXM part. */
hlm_status hlm_gpu_find(const char *name, const hlm_gpu **out, hlm_error *err);

typedef struct hlm_cluster {
    hlm_gpu gpu;
    long n_gpus;
    double aggregate_flops; /* the aggregate the spec gave, or n_gpus * peak */
    int from_aggregate;     /* 1: the spec was an aggregate, n_gpus = floor(aggregate / peak) */
} hlm_cluster;

#define HLM_PLAN_DEFAULT_GPU "A100-80GB"

/* "1024xA100-80GB", "A100-80GB:1024", "3072xa100", "8xH200", or an aggregate peak
 * "95.7PFLOPS", "95.7pflop/s", "95.7PFLOPS@H100" (T, P and E prefixes; the GPU after @ sizes the
 * memory and the count, A100-80GB when absent). */
hlm_status hlm_cluster_parse(const char *spec, hlm_cluster *out, hlm_error *err);

/* ---- models ---- */

/* Planner presets for the published systems (megatron-1t, hyperclova-82b, ...), NULL-terminated. */
const char *const *hlm_plan_preset_names(void);
/* Where a planner preset's shape comes from (NULL for other names). */
const char *hlm_plan_preset_source(const char *name);
/* The default global batch in sequences: the published run's for the planner presets (and
 * 1,536 for gpt3-175b, Megatron-LM's GPT-3 runs), else about 4M tokens. */
double hlm_plan_default_batch(const char *name, int seq);
/* A planner preset, else any model preset, config.json or folder (hlm_config_resolve). */
hlm_status hlm_plan_model_resolve(const char *name, hlm_model_config *cfg, hlm_error *err);

/* ---- FLOPs ---- */

typedef struct hlm_plan_flops {
    double params;          /* N: hlm_config_num_params */
    double dense;           /* 6 N D */
    double attention;       /* 12 L (H hd) s D: QK^T and AV, forward and backward */
    double total;           /* dense + attention */
    double megatron_per_iter; /* 96 B s L h^2 (1 + s/6h + V/16Lh), B sequences per iteration */
} hlm_plan_flops;

hlm_plan_flops hlm_plan_training_flops(const hlm_model_config *cfg, int seq, double tokens, double batch_seqs);

/* ---- memory ---- */

typedef enum hlm_recompute {
    HLM_RECOMPUTE_NONE = 0,
    HLM_RECOMPUTE_SELECTIVE = 1, /* attention core only (Korthikanti et al. 2022, §4.2) */
    HLM_RECOMPUTE_FULL = 2,      /* every layer from its input */
} hlm_recompute;

const char *hlm_recompute_name(hlm_recompute r);

/* Bytes per GPU of weights (bf16), gradients (bf16) and optimizer state (fp32 master weights,
 * Adam m and v: 12 bytes) for params parameters held by one model-parallel rank, under ZeRO
 * stage zero (0-3) over dp data-parallel ranks (Rajbhandari et al. 2020, Fig. 1). */
void hlm_plan_state_bytes(double params, int zero, int dp, double *weights, double *grads, double *optimizer);

/* Parameters one GPU of the heaviest pipeline stage holds with tensor parallel degree tp and pp
 * stages: its layers, plus the embedding on the first stage or the output layer (a copy of the
 * tied embedding) on the last, divided by tp. */
double hlm_plan_stage_params(const hlm_model_config *cfg, int tp, int pp);

/* Activation bytes one transformer layer keeps for one micro-batch of b sequences of s tokens
 * until its backward pass (Korthikanti et al. 2022, Table 2), with tensor parallel degree tp,
 * sequence parallelism sp (0/1) and the given recomputation. */
double hlm_plan_layer_activation_bytes(const hlm_model_config *cfg, int seq, int micro_batch, int tp, int sp,
                                       hlm_recompute rc);

/* ---- layouts and the performance model ---- */

typedef struct hlm_plan_input {
    hlm_model_config cfg;
    int seq;                /* tokens per sequence */
    double tokens;          /* D: training tokens */
    double global_batch;    /* sequences per iteration */
    hlm_cluster cluster;
    double usable_fraction; /* share of HBM the estimate may fill (default 0.9) */
    /* sustained share of the modelled rate that a real framework reaches (clocks under load,
     * launch gaps, GEMM shapes); hlm_plan_input_default sets the calibrated value */
    double framework_efficiency;
    /* search restrictions; -1 (0 for recompute_mask): search all */
    int tp, pp, micro_batch, zero, sp;
    unsigned recompute_mask; /* bit (1 << hlm_recompute) per mode allowed */
} hlm_plan_input;

/* Defaults: s 2048, 90% of HBM usable, every layout searched, the calibrated framework
 * efficiency (hlm_plan_calibrate). */
void hlm_plan_input_default(hlm_plan_input *in);

typedef struct hlm_layout {
    int tp, pp, dp, micro_batch, zero, sp;
    hlm_recompute recompute;
} hlm_layout;

typedef struct hlm_plan_eval {
    hlm_layout layout;
    /* memory per GPU on the heaviest pipeline stage */
    double weights, grads, optimizer, activations, total_bytes;
    int fits;
    /* one iteration */
    int microbatches;        /* m per pipeline */
    double slot_s;           /* one micro-batch forward + backward on the slowest stage */
    double compute_s;        /* matrix multiplies, per slot */
    double elementwise_s;    /* memory-bound work, per slot */
    double tp_comm_s;        /* tensor-parallel collectives, per slot */
    double pp_comm_s;        /* pipeline send/receive, per slot */
    double bubble_s;         /* (p - 1) slots */
    double dp_comm_s;        /* data-parallel reduction not hidden behind the last backward */
    double optimizer_s;      /* the Adam step */
    double iter_s;
    /* rates */
    double model_flops_per_iter; /* 6 N B s + attention: what MFU counts */
    double mfu;                  /* model FLOPs / (iter_s * GPUs used * peak) */
    double megatron_flops_per_s; /* Megatron's count per iteration / iter_s, all GPUs */
    double tokens_per_s;
    long gpus_used;
} hlm_plan_eval;

/* Evaluates one layout; HLM_ERR_INVALID (naming the field) when it cannot be built: tp not
 * dividing the heads or beyond a node, pp not dividing the layers, more GPUs than the cluster. */
hlm_status hlm_plan_evaluate(const hlm_plan_input *in, const hlm_layout *layout, hlm_plan_eval *out,
                             hlm_error *err);

/* The fastest layout that fits, over tp in {1,2,4,8}, pp dividing the layers, micro-batch in
 * {1,2,4,8,16}, ZeRO 0-3 and the recomputation modes (each restricted by in when not -1).
 * HLM_ERR_RANGE when nothing fits; *searched gets the number of layouts evaluated. */
hlm_status hlm_plan_search(const hlm_plan_input *in, hlm_plan_eval *best, long *searched, hlm_error *err);

/* ---- calibration and validation against published runs ---- */

/* One row of Narayanan et al. 2021, Table 1 (Megatron-LM, A100-80GB, full recomputation). */
typedef struct hlm_megatron_row {
    double params_b;   /* as published, billions */
    int heads, hidden, layers, tp, pp, gpus, batch;
    double tflops_per_gpu; /* achieved, Megatron's count */
} hlm_megatron_row;

/* The 10 rows, 1.7B to 1T; *n gets 10. */
const hlm_megatron_row *hlm_plan_megatron_rows(int *n);
/* The planner on a row's model, cluster and layout (micro-batch searched) at the given framework
 * efficiency; predicted TFLOP/s per GPU by Megatron's count go to *tflops. */
hlm_status hlm_plan_megatron_row_eval(const hlm_megatron_row *row, double framework_efficiency, hlm_plan_eval *out,
                                      double *tflops, hlm_error *err);
/* The framework efficiency: geometric mean of published / modelled throughput over the rows of
 * Table 1 below 1T (the 1T row is held out for validation). */
double hlm_plan_calibrate(void);


typedef struct hlm_plan_check {
    const char *name;      /* "Megatron-LM 1T, 3072 A100-80GB, paper's layout" */
    const char *quantity;  /* "aggregate FLOP/s (Megatron's count)" */
    const char *unit;      /* how to print the two values: "PFLOP/s", "FLOP", "days", "%" */
    const char *source;    /* paper and table */
    double published;
    double predicted;      /* in the same unit as published */
    double tolerance;      /* relative; the tests hold predicted to it; 0: for information */
    const char *note;      /* why a check is for information only, or NULL */
    int has_eval;          /* eval below is the layout the prediction comes from */
    hlm_plan_eval eval;
} hlm_plan_check;

#define HLM_PLAN_CHECKS 8

/* Runs the planner on the published systems and fills out[0 .. HLM_PLAN_CHECKS-1]. */
hlm_status hlm_plan_validate(hlm_plan_check out[HLM_PLAN_CHECKS], hlm_error *err);

#endif

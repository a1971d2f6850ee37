/* The training loop (see trainer.h for the run folder and the resume invariant). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "data/loader.h"
#include "dist/grad_sync.h"
#include "hyperlm/file.h"
#include "hyperlm/log.h"
#include "hyperlm/model.h"
#include "hyperlm/progress.h"
#include "hyperlm/tokenizer.h"
#include "model/checkpoint.h"
#include "model/gemm.h"
#include "train/adamw.h"
#include "train/peak.h"
#include "train/plot.h"
#include "train/trainer.h"

#define TRAINER_FORMAT 1

void hlm_train_opts_default(hlm_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->steps = 100;
    o->batch = 4;
    o->seq = 256;
    o->accum = 1;
    o->lr = 6e-4f;
    o->min_lr_frac = 0.1f;
    o->warmup = 0;
    o->decay = HLM_DECAY_COSINE;
    o->weight_decay = 0.1f;
    o->beta1 = 0.9f;
    o->beta2 = 0.95f;
    o->eps = 1e-8f;
    o->clip = 1.0f;
    o->seed = 1337;
    o->val_fraction = 0.05;
    o->eval_every = 0;
    o->eval_batches = 8;
    o->save_every = 0;
    o->keep = 3;
    o->spike_factor = 4.0f;
    o->bucket_mb = 25;
}

float hlm_train_lr_at(const hlm_train_opts *o, int64_t step)
{
    if (o->warmup > 0 && step < o->warmup) return o->lr * (float)(step + 1) / (float)o->warmup;
    if (o->decay == HLM_DECAY_NONE || o->steps <= o->warmup) return o->lr;
    double progress = (double)(step - o->warmup) / (double)(o->steps - o->warmup);
    if (progress > 1.0) progress = 1.0;
    double min_lr = (double)o->lr * o->min_lr_frac;
    double coef = o->decay == HLM_DECAY_COSINE ? 0.5 * (1.0 + cos(M_PI * progress)) : 1.0 - progress;
    return (float)(min_lr + coef * ((double)o->lr - min_lr));
}

static const char *decay_name(hlm_decay d)
{
    return d == HLM_DECAY_COSINE ? "cosine" : d == HLM_DECAY_LINEAR ? "linear" : "none";
}

/* ---- folders ----------------------------------------------------------------------------- */

static hlm_status fsync_dir(const char *dir, hlm_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return hlm_errorf(err, HLM_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    int rc = fsync(fd);
    close(fd);
    if (rc != 0) return hlm_errorf(err, HLM_ERR_IO, "%s: fsync: %s", dir, strerror(errno));
    return HLM_OK;
}

/* Removes a folder of plain files (a checkpoint). */
static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static hlm_status make_dir(const char *dir, hlm_error *err)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return hlm_errorf(err, HLM_ERR_IO, "%s: cannot create folder: %s", dir, strerror(errno));
    if (!is_dir(dir)) return hlm_errorf(err, HLM_ERR_IO, "%s: exists and is not a folder", dir);
    return HLM_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Is name a temporary file of an atomic write (hlm_file: NAME.tmp.XXXXXX) of one of the files the
 * trainer keeps in the run folder? Such a file is left behind when the process is killed while
 * writing it. */
static int is_stale_temp(const char *name)
{
    static const char *const own[] = {"latest", "loss.svg", "metrics.jsonl", NULL};
    for (const char *const *o = own; *o; o++) {
        size_t n = strlen(*o);
        if (!strncmp(name, *o, n) && !strncmp(name + n, ".tmp.", 5)) return 1;
    }
    return 0;
}

/* Keeps the newest `keep` step-* folders of out_dir; removes stale .step-*.tmp folders and the
 * temporary files of interrupted writes. */
static void prune_checkpoints(const char *out_dir, int64_t keep)
{
    DIR *d = opendir(out_dir);
    if (!d) return;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d))) {
        if (!strncmp(e->d_name, ".step-", 6)) {
            snprintf(p, sizeof p, "%s/%s", out_dir, e->d_name);
            remove_tree(p);
        } else if (is_stale_temp(e->d_name)) {
            snprintf(p, sizeof p, "%s/%s", out_dir, e->d_name);
            unlink(p);
        } else if (!strncmp(e->d_name, "step-", 5)) {
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                char **nn = realloc(names, cap * sizeof *nn);
                if (!nn) break;
                names = nn;
            }
            names[n] = strdup(e->d_name);
            if (names[n]) n++;
        }
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (keep > 0 && i + (size_t)keep < n) {
            snprintf(p, sizeof p, "%s/%s", out_dir, names[i]);
            remove_tree(p);
        }
        free(names[i]);
    }
    free(names);
}

hlm_status hlm_train_find_checkpoint(const char *dir, char *out, size_t cap, hlm_error *err)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/trainer.json", dir);
    if (is_file(p)) {
        snprintf(out, cap, "%s", dir);
        return HLM_OK;
    }
    snprintf(p, sizeof p, "%s/latest", dir);
    hlm_buf b = {0};
    hlm_error e2;
    if (!is_file(p) || hlm_file_read_all(p, &b, &e2) != HLM_OK)
        return hlm_errorf(err, HLM_ERR_IO, "%s: not a checkpoint (no trainer.json) nor a run folder (no latest)", dir);
    size_t len = b.len;
    while (len && (b.data[len - 1] == '\n' || b.data[len - 1] == ' ')) len--;
    snprintf(out, cap, "%s/%.*s", dir, (int)len, (const char *)b.data);
    hlm_buf_free(&b);
    snprintf(p, sizeof p, "%s/trainer.json", out);
    if (!is_file(p)) return hlm_errorf(err, HLM_ERR_FORMAT, "%s/latest: names %s, which has no trainer.json", dir, out);
    return HLM_OK;
}

/* ---- trainer.json ------------------------------------------------------------------------ */

typedef struct train_state {
    int64_t step;     /* completed steps */
    int64_t opt_step; /* AdamW updates taken (skipped steps do not count) */
    double loss_ema;  /* for the spike guard; < 0 until set */
    int64_t ema_count;
    int64_t world;        /* processes of the run that saved; 1 in older checkpoints */
    int64_t global_batch; /* sequences per step (batch x accum x world); 0: not recorded */
} train_state;

static char *state_to_json(const hlm_train_opts *o, const train_state *s)
{
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    cJSON_AddNumberToObject(j, "format", TRAINER_FORMAT);
    cJSON_AddNumberToObject(j, "step", (double)s->step);
    cJSON_AddNumberToObject(j, "optimizer_step", (double)s->opt_step);
    cJSON_AddNumberToObject(j, "loss_ema", s->loss_ema);
    cJSON_AddNumberToObject(j, "loss_ema_count", (double)s->ema_count);
    cJSON_AddNumberToObject(j, "world_size", (double)s->world);
    cJSON_AddNumberToObject(j, "global_batch", (double)s->global_batch);
    cJSON *a = cJSON_AddObjectToObject(j, "options");
    if (o->data) cJSON_AddStringToObject(a, "data", o->data);
    if (o->val_data) cJSON_AddStringToObject(a, "val_data", o->val_data);
    if (o->tokenizer) cJSON_AddStringToObject(a, "tokenizer", o->tokenizer);
    cJSON_AddNumberToObject(a, "steps", (double)o->steps);
    cJSON_AddNumberToObject(a, "batch", o->batch);
    cJSON_AddNumberToObject(a, "seq", o->seq);
    cJSON_AddNumberToObject(a, "accum", o->accum);
    cJSON_AddNumberToObject(a, "lr", o->lr);
    cJSON_AddNumberToObject(a, "min_lr_frac", o->min_lr_frac);
    cJSON_AddNumberToObject(a, "warmup", (double)o->warmup);
    cJSON_AddStringToObject(a, "decay", decay_name(o->decay));
    cJSON_AddNumberToObject(a, "weight_decay", o->weight_decay);
    cJSON_AddNumberToObject(a, "beta1", o->beta1);
    cJSON_AddNumberToObject(a, "beta2", o->beta2);
    cJSON_AddNumberToObject(a, "eps", o->eps);
    cJSON_AddNumberToObject(a, "clip", o->clip);
    cJSON_AddBoolToObject(a, "decay_all", o->decay_all);
    /* seeds are 64-bit: as a string, JSON numbers are doubles */
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    cJSON_AddStringToObject(a, "seed", seed);
    cJSON_AddStringToObject(a, "data_order", o->sequential ? "sequential" : "shuffled");
    cJSON_AddNumberToObject(a, "val_fraction", o->val_fraction);
    cJSON_AddNumberToObject(a, "eval_every", (double)o->eval_every);
    cJSON_AddNumberToObject(a, "eval_batches", (double)o->eval_batches);
    cJSON_AddNumberToObject(a, "save_every", (double)o->save_every);
    cJSON_AddNumberToObject(a, "keep", (double)o->keep);
    cJSON_AddNumberToObject(a, "spike_factor", o->spike_factor);
    cJSON_AddStringToObject(a, "precision", o->bf16 ? "bf16" : "fp32");
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    return text;
}

static int get_num(const cJSON *o, const char *k, double *v)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(x)) return 0;
    *v = x->valuedouble;
    return 1;
}

static hlm_status read_trainer_json(const char *ckpt, hlm_train_opts *o, train_state *s, hlm_error *err)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/trainer.json", ckpt);
    hlm_buf b = {0};
    hlm_status st = hlm_file_read_all(p, &b, err);
    if (st != HLM_OK) return st;
    cJSON *j = cJSON_ParseWithLength((const char *)b.data, b.len);
    hlm_buf_free(&b);
    if (!j) return hlm_errorf(err, HLM_ERR_FORMAT, "%s: not valid JSON", p);
    double v;
    st = HLM_OK;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "options");
    if (!get_num(j, "format", &v) || v != TRAINER_FORMAT) {
        st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: field 'format': expected %d", p, TRAINER_FORMAT);
        goto done;
    }
    if (s) {
        double ema = -1, cnt = 0, step = 0, ostep = 0, world = 1, gb = 0;
        if (!get_num(j, "step", &step) || !get_num(j, "optimizer_step", &ostep) || step < 0 || ostep < 0) {
            st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: fields 'step' and 'optimizer_step': expected counts", p);
            goto done;
        }
        get_num(j, "loss_ema", &ema);
        get_num(j, "loss_ema_count", &cnt);
        get_num(j, "world_size", &world);
        get_num(j, "global_batch", &gb);
        if (world < 1 || gb < 0) {
            st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: fields 'world_size' and 'global_batch': expected counts", p);
            goto done;
        }
        s->world = (int64_t)world;
        s->global_batch = (int64_t)gb;
        s->step = (int64_t)step;
        s->opt_step = (int64_t)ostep;
        s->loss_ema = ema;
        s->ema_count = (int64_t)cnt;
    }
    if (o && cJSON_IsObject(a)) {
        const cJSON *x;
#define STR(key, field)                                                              \
    x = cJSON_GetObjectItemCaseSensitive(a, key);                                  \
    if (cJSON_IsString(x)) o->field = strdup(x->valuestring);
        STR("data", data);
        STR("val_data", val_data);
        STR("tokenizer", tokenizer);
#undef STR
#define NUM(key, field, type) \
    if (get_num(a, key, &v)) o->field = (type)v;
        NUM("steps", steps, int64_t);
        NUM("batch", batch, int);
        NUM("seq", seq, int);
        NUM("accum", accum, int);
        NUM("lr", lr, float);
        NUM("min_lr_frac", min_lr_frac, float);
        NUM("warmup", warmup, int64_t);
        NUM("weight_decay", weight_decay, float);
        NUM("beta1", beta1, float);
        NUM("beta2", beta2, float);
        NUM("eps", eps, float);
        NUM("clip", clip, float);
        NUM("val_fraction", val_fraction, double);
        NUM("eval_every", eval_every, int64_t);
        NUM("eval_batches", eval_batches, int64_t);
        NUM("save_every", save_every, int64_t);
        NUM("keep", keep, int64_t);
        NUM("spike_factor", spike_factor, float);
#undef NUM
        x = cJSON_GetObjectItemCaseSensitive(a, "decay_all");
        if (cJSON_IsBool(x)) o->decay_all = cJSON_IsTrue(x);
        x = cJSON_GetObjectItemCaseSensitive(a, "seed");
        if (cJSON_IsString(x)) o->seed = strtoull(x->valuestring, NULL, 10);
        x = cJSON_GetObjectItemCaseSensitive(a, "precision");
        if (cJSON_IsString(x)) o->bf16 = !strcmp(x->valuestring, "bf16");
        x = cJSON_GetObjectItemCaseSensitive(a, "data_order");
        if (cJSON_IsString(x)) o->sequential = !strcmp(x->valuestring, "sequential");
        x = cJSON_GetObjectItemCaseSensitive(a, "decay");
        if (cJSON_IsString(x))
            o->decay = !strcmp(x->valuestring, "linear") ? HLM_DECAY_LINEAR
                       : !strcmp(x->valuestring, "none") ? HLM_DECAY_NONE
                                                         : HLM_DECAY_COSINE;
    }
done:
    cJSON_Delete(j);
    return st;
}

hlm_status hlm_train_opts_load(const char *ckpt_dir, hlm_train_opts *o, hlm_error *err)
{
    return read_trainer_json(ckpt_dir, o, NULL, err);
}

/* ---- the run ----------------------------------------------------------------------------- */

typedef struct run {
    const hlm_train_opts *o;
    hlm_model *model;
    hlm_model_config cfg;
    float *m, *v;
    hlm_tokenizer *tok;
    hlm_token_source *train_src, *val_src;
    hlm_loader *train, *val;
    int32_t *inputs, *targets;
    FILE *metrics;
    char metrics_path[4096];
    train_state st;
    /* data parallelism: dist is 0 on the single-process path (no comm, or one process without
     * --zero), which stays exactly the code of before */
    hlm_comm *comm;
    int rank, world, dist;
    hlm_grad_sync *sync;
    size_t n_floats;
    size_t lo, hi;       /* this rank's shard of the flat arrays (ZeRO 1/2); [0, n_floats) otherwise */
    float *gshard;       /* ZeRO 1/2: the reduced gradients of the shard */
    float *grecv;        /* ZeRO 2 with accum > 1: where micro-batches 2.. are received, then added */
} run;

/* m and v are this rank's shard under ZeRO 1/2: rank 0 gathers the full arrays for a checkpoint
 * (into *full, which the caller frees) so that checkpoints do not depend on the world size. */
static hlm_status gather_optimizer(run *r, float **full, hlm_error *err)
{
    *full = NULL;
    if (!r->dist || r->o->zero == 0 || r->world == 1) return HLM_OK;
    const size_t *b = hlm_grad_sync_bounds(r->sync);
    size_t *counts = malloc((size_t)r->world * sizeof *counts);
    float *all = r->rank == 0 ? malloc(2 * r->n_floats * sizeof(float)) : NULL;
    hlm_status s = HLM_OK;
    if (!counts || (r->rank == 0 && !all)) s = hlm_errorf(err, HLM_ERR_NOMEM, "checkpoint: out of memory for the optimizer state");
    /* every rank takes part even after a local failure, or the others would wait forever */
    for (int k = 0; counts && k < r->world; k++) counts[k] = b[k + 1] - b[k];
    float *dst_m = all, *dst_v = all ? all + r->n_floats : NULL;
    hlm_error e2;
    if (counts) {
        hlm_status g = hlm_comm_gatherv(r->comm, r->m, dst_m, counts, b, s == HLM_OK ? err : &e2);
        if (s == HLM_OK) s = g;
        g = hlm_comm_gatherv(r->comm, r->v, dst_v, counts, b, s == HLM_OK ? err : &e2);
        if (s == HLM_OK) s = g;
    }
    free(counts);
    if (s != HLM_OK) {
        free(all);
        return s;
    }
    *full = all;
    return HLM_OK;
}

static hlm_status save_checkpoint(run *r, hlm_error *err)
{
    const hlm_train_opts *o = r->o;
    char name[64], tmp[4096], final[4096], p[4200];
    float *full = NULL;
    hlm_status s = HLM_OK;
    if (r->dist && r->world > 1) {
        /* Every rank must hold the same parameters (the invariant that makes rank 0's file the
         * run's state): compared by checksum at every save. */
        int other;
        uint64_t h = XXH3_64bits(hlm_model_params(r->model), r->n_floats * sizeof(float));
        s = hlm_comm_compare_u64(r->comm, h, &other, err);
        if (s == HLM_OK && other >= 0)
            s = hlm_errorf(err, HLM_ERR_IO,
                           "step %lld: the parameters of rank %d differ from rank 0's: the ranks have diverged",
                           (long long)r->st.step, other);
        if (s != HLM_OK) return s;
    }
    s = gather_optimizer(r, &full, err);
    if (s != HLM_OK || r->rank != 0) return s;
    snprintf(name, sizeof name, "step-%08lld", (long long)r->st.step);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", o->out_dir, name);
    snprintf(final, sizeof final, "%s/%s", o->out_dir, name);
    remove_tree(tmp);
    s = make_dir(tmp, err);
    if (s != HLM_OK) {
        free(full);
        return s;
    }
    s = hlm_checkpoint_save_model(r->model, tmp, err);
    if (s == HLM_OK) {
        const char *prefixes[2] = {"m.", "v."};
        float *arrays[2] = {full ? full : r->m, full ? full + r->n_floats : r->v};
        snprintf(p, sizeof p, "%s/optimizer.safetensors", tmp);
        s = hlm_checkpoint_save_state(r->model, p, prefixes, arrays, 2, err);
    }
    free(full);
    if (s == HLM_OK && r->tok) {
        snprintf(p, sizeof p, "%s/tokenizer.json", tmp);
        s = hlm_tokenizer_save(r->tok, p, err);
    }
    if (s == HLM_OK) {
        char *json = state_to_json(o, &r->st);
        snprintf(p, sizeof p, "%s/trainer.json", tmp);
        s = json ? hlm_file_write_atomic(p, json, strlen(json), err) : hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
        free(json);
    }
    if (s == HLM_OK) s = fsync_dir(tmp, err);
    if (s == HLM_OK) {
        if (is_dir(final)) remove_tree(final);
        if (rename(tmp, final) != 0)
            s = hlm_errorf(err, HLM_ERR_IO, "%s: cannot rename to %s: %s", tmp, final, strerror(errno));
    }
    if (s == HLM_OK) s = fsync_dir(o->out_dir, err);
    if (s == HLM_OK) {
        char line[80];
        snprintf(line, sizeof line, "%s\n", name);
        snprintf(p, sizeof p, "%s/latest", o->out_dir);
        s = hlm_file_write_atomic(p, line, strlen(line), err);
    }
    if (s != HLM_OK) {
        remove_tree(tmp);
        return s;
    }
    prune_checkpoints(o->out_dir, o->keep);
    snprintf(p, sizeof p, "%s/loss.svg", o->out_dir);
    hlm_error perr;
    if (hlm_plot_loss_svg(r->metrics_path, p, &perr) != HLM_OK) HLM_WARN("loss plot: %s", perr.msg);
    HLM_INFO("checkpoint %s", final);
    return HLM_OK;
}

/* Rewrites metrics.jsonl keeping only entries of steps <= step (a resumed run replays the rest). */
static hlm_status truncate_metrics(const char *path, int64_t step, hlm_error *err)
{
    if (!is_file(path)) return HLM_OK;
    hlm_buf in = {0}, out = {0};
    hlm_status s = hlm_file_read_all(path, &in, err);
    if (s != HLM_OK) return s;
    char *line = (char *)in.data, *end = line + in.len;
    while (line < end && s == HLM_OK) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t len = nl ? (size_t)(nl - line) : (size_t)(end - line);
        cJSON *j = cJSON_ParseWithLength(line, len);
        double v;
        if (j && get_num(j, "step", &v) && v <= (double)step) {
            s = hlm_buf_append(&out, line, len);
            if (s == HLM_OK) s = hlm_buf_append(&out, "\n", 1);
        }
        cJSON_Delete(j);
        line += len + 1;
    }
    if (s == HLM_OK) s = hlm_file_write_atomic(path, out.data ? (const char *)out.data : "", out.len, err);
    hlm_buf_free(&in);
    hlm_buf_free(&out);
    return s;
}

static hlm_status eval_val(run *r, double *out, hlm_error *err)
{
    const hlm_train_opts *o = r->o;
    uint64_t n = hlm_loader_batches_per_epoch(r->val);
    if ((uint64_t)o->eval_batches < n) n = (uint64_t)o->eval_batches;
    double sum = 0;
    /* with several ranks, rank r evaluates batches r, r + N, ... and the sums are added */
    uint64_t first = r->dist ? (uint64_t)r->rank : 0, stride = r->dist ? (uint64_t)r->world : 1;
    for (uint64_t i = first; i < n; i += stride) {
        hlm_loader_batch(r->val, i, r->inputs, r->targets);
        float loss;
        hlm_status s = hlm_model_forward(r->model, r->inputs, r->targets, o->batch, o->seq, &loss, err);
        if (s != HLM_OK) return s;
        sum += loss;
    }
    if (r->dist) {
        hlm_status s = hlm_comm_sum_f64(r->comm, &sum, &sum, 1, err);
        if (s != HLM_OK) return s;
    }
    *out = n ? sum / (double)n : NAN;
    return HLM_OK;
}

static hlm_status setup_data(run *r, hlm_error *err)
{
    const hlm_train_opts *o = r->o;
    hlm_status s = hlm_token_source_open(o->data, o->tokenizer, &r->train_src, err);
    if (s != HLM_OK) return s;
    uint32_t vocab = hlm_token_source_vocab_size(r->train_src);
    if (vocab > (uint32_t)r->cfg.vocab_size)
        return hlm_errorf(err, HLM_ERR_INVALID, "%s: the data's vocabulary (%u ids) is larger than the model's vocab_size %d",
                          o->data, vocab, r->cfg.vocab_size);
    size_t len = hlm_token_source_length(r->train_src);
    size_t train_end = 0, val_begin = 0;
    const hlm_token_source *val_src = r->train_src;
    if (o->val_data) {
        s = hlm_token_source_open(o->val_data, o->tokenizer, &r->val_src, err);
        if (s != HLM_OK) return s;
        if (hlm_token_source_vocab_size(r->val_src) > (uint32_t)r->cfg.vocab_size)
            return hlm_errorf(err, HLM_ERR_INVALID, "%s: the validation data's vocabulary is larger than the model's", o->val_data);
        val_src = r->val_src;
    } else if (o->val_fraction > 0) {
        size_t n_val = (size_t)((double)len * o->val_fraction);
        size_t need = (size_t)o->batch * o->seq + 1;
        if (n_val < need) n_val = need;
        if (len < n_val + need)
            return hlm_errorf(err, HLM_ERR_INVALID,
                              "%s: %zu tokens are too few for a train/validation split at batch %d x seq %d "
                              "(give --val-data, or --val-fraction 0, or more data)",
                              o->data, len, o->batch, o->seq);
        train_end = len - n_val;
        val_begin = train_end;
    }
    hlm_loader_config lc = {.B = o->batch, .T = o->seq, .order = o->sequential ? HLM_ORDER_SEQUENTIAL : HLM_ORDER_SHUFFLED,
                            .seed = o->seed, .begin = 0, .end = train_end};
    s = hlm_loader_create(r->train_src, &lc, &r->train, err);
    if (s != HLM_OK) return s;
    if (o->val_data || o->val_fraction > 0) {
        hlm_loader_config vc = {.B = o->batch, .T = o->seq, .order = HLM_ORDER_SEQUENTIAL, .seed = 0,
                                .begin = val_begin, .end = 0};
        s = hlm_loader_create(val_src, &vc, &r->val, err);
        if (s != HLM_OK) return s;
    }
    HLM_INFO("data: %zu tokens (%s), vocab %u; train tokens [0, %zu)%s", len, o->data, vocab,
             train_end ? train_end : len, r->val ? ", validation held out" : ", no validation");
    return HLM_OK;
}

static void run_free(run *r)
{
    hlm_model_free(r->model);
    free(r->m);
    free(r->v);
    hlm_tokenizer_free(r->tok);
    hlm_loader_free(r->train);
    hlm_loader_free(r->val);
    hlm_token_source_free(r->train_src);
    hlm_token_source_free(r->val_src);
    free(r->inputs);
    free(r->targets);
    free(r->gshard);
    free(r->grecv);
    hlm_grad_sync_free(r->sync);
    if (r->metrics) fclose(r->metrics);
}

static hlm_status check_opts(const hlm_train_opts *o, hlm_error *err)
{
    if (!o->data) return hlm_errorf(err, HLM_ERR_INVALID, "--data: required");
    if (!o->out_dir) return hlm_errorf(err, HLM_ERR_INVALID, "--out: required");
    if (strlen(o->out_dir) > 3000) return hlm_errorf(err, HLM_ERR_INVALID, "--out: path too long");
    if (o->batch <= 0 || o->seq <= 0 || o->accum <= 0 || o->steps <= 0)
        return hlm_errorf(err, HLM_ERR_INVALID, "--batch, --seq, --accum and --steps must be positive");
    if (!(o->lr >= 0) || !(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1) || !(o->eps > 0))
        return hlm_errorf(err, HLM_ERR_INVALID, "--lr >= 0, 0 <= --beta1, --beta2 < 1 and --eps > 0 are required");
    if (!(o->weight_decay >= 0) || !(o->clip >= 0) || o->warmup < 0 || !(o->min_lr_frac >= 0 && o->min_lr_frac <= 1))
        return hlm_errorf(err, HLM_ERR_INVALID, "--weight-decay, --clip, --warmup must be >= 0 and --min-lr-frac in [0, 1]");
    if (!(o->val_fraction >= 0 && o->val_fraction < 1))
        return hlm_errorf(err, HLM_ERR_INVALID, "--val-fraction: expected a value in [0, 1)");
    if (o->zero < 0 || o->zero > 2) return hlm_errorf(err, HLM_ERR_INVALID, "--zero: expected 0, 1 or 2, got %d", o->zero);
    if (!(o->bucket_mb > 0)) return hlm_errorf(err, HLM_ERR_INVALID, "--bucket-mb: expected a size > 0");
    if (o->zero > 0 && !hlm_comm_have_mpi())
        return hlm_errorf(err, HLM_ERR_INVALID, "--zero needs MPI, and this hyperlm was built without it");
    return HLM_OK;
}

/* Test hook (docs/distributed.md): HLM_TEST_DIE_AT_STEP=k kills rank HLM_TEST_DIE_RANK (default
 * 1; 0 in a world of one) with SIGKILL as step k begins, to test that a dead rank ends the job
 * with a clear message and that the last checkpoint resumes; HLM_TEST_DIE_HOW=stop stops it
 * (SIGSTOP) instead, a hung peer, to test the comm layer's deadline. */
static void test_die_hook(const run *r, int64_t step_1based)
{
    const char *k = getenv("HLM_TEST_DIE_AT_STEP");
    if (!k || atoll(k) != step_1based) return;
    const char *who = getenv("HLM_TEST_DIE_RANK"), *how = getenv("HLM_TEST_DIE_HOW");
    if ((who ? atoi(who) : (r->world > 1 ? 1 : 0)) == r->rank) raise(how && !strcmp(how, "stop") ? SIGSTOP : SIGKILL);
}

/* Memory of the model states per rank (rank 0's shard), against the ZeRO paper's count
 * (Rajbhandari et al. 2020, figure 1, in fp32: parameters 4, gradients 4, AdamW m and v 8 bytes
 * per parameter; stage 1 divides the 8 by N, stage 2 the 4 + 8). */
static void report_memory(const run *r, size_t n_params)
{
    const double MB = 1e6;
    int zero = r->o->zero, N = r->world;
    double n = (double)r->n_floats, shard = (double)(r->hi - r->lo);
    double params = 4 * n, buffer = zero == 2 ? (double)hlm_grad_sync_window_bound_bytes(r->sync) : 4 * n, reduced = r->gshard ? 4 * shard : 0, recv = r->grecv ? 4 * shard : 0;
    double opt = 8 * (zero ? shard : n);
    double psi = (double)n_params;
    double paper = psi * (zero == 0 ? 16.0 : zero == 1 ? 8.0 + 8.0 / N : 4.0 + 12.0 / N);
    if (zero < 2) {
        HLM_INFO("memory per rank (ZeRO-%d, %d ranks): parameters %.3f MB, gradients %.3f MB, AdamW m+v %.3f MB; "
                 "model states %.3f MB (ZeRO paper: %.3f MB); total %.3f MB",
                 zero, N, params / MB, (buffer + reduced) / MB, opt / MB, (params + buffer + reduced + opt) / MB,
                 paper / MB, (params + buffer + reduced + opt) / MB);
    } else {
        HLM_INFO("memory per rank (ZeRO-2, %d ranks): parameters %.3f MB, gradients %.3f MB, AdamW m+v %.3f MB; "
                 "model states %.3f MB (ZeRO paper: %.3f MB); plus backward's bucket buffers, at most %.3f MB "
                 "(a full gradient array would be %.3f MB); total %.3f MB",
                 N, params / MB, (reduced + recv) / MB, opt / MB, (params + reduced + recv + opt) / MB, paper / MB,
                 buffer / MB, 4 * n / MB, (params + reduced + recv + opt + buffer) / MB);
    }
}

/* Data-parallel setup: shards, buffers, buckets; on resume from a run saved at another world
 * size, accum is recomputed so that the global batch stays the same. */
static hlm_status setup_dist(run *r, hlm_train_opts *oo, hlm_error *err)
{
    r->rank = hlm_comm_rank(oo->comm);
    r->world = hlm_comm_size(oo->comm);
    r->comm = oo->comm;
    r->dist = oo->comm && (r->world > 1 || oo->zero > 0);
    if (oo->resume_dir && r->st.global_batch > 0) {
        int64_t per_rank = (int64_t)oo->batch * r->world;
        if (r->st.world != r->world) {
            if (r->st.global_batch % per_rank != 0)
                return hlm_errorf(err, HLM_ERR_INVALID,
                                  "resume: the run's global batch of %lld sequences (saved with %lld processes) cannot be "
                                  "split over %d processes at --batch %d; choose --batch so that batch x processes divides it",
                                  (long long)r->st.global_batch, (long long)r->st.world, r->world, oo->batch);
            oo->accum = (int)(r->st.global_batch / per_rank);
            if (r->rank == 0)
                HLM_INFO("resume: saved with %lld processes, now %d: accum %d keeps the global batch of %lld sequences",
                         (long long)r->st.world, r->world, oo->accum, (long long)r->st.global_batch);
        } else if (per_rank * oo->accum != r->st.global_batch && r->rank == 0) {
            HLM_WARN("resume: the global batch changes from %lld to %lld sequences",
                     (long long)r->st.global_batch, (long long)(per_rank * oo->accum));
        }
    }
    r->st.world = r->world;
    r->st.global_batch = (int64_t)oo->batch * oo->accum * r->world;
    r->n_floats = hlm_model_array_floats(r->model);
    r->lo = 0;
    r->hi = r->n_floats;
    if (!r->dist) return HLM_OK;
    hlm_status s = hlm_grad_sync_create(oo->comm, r->model, oo->bucket_mb, &r->sync, err);
    if (s != HLM_OK) return s;
    /* stage 2: gradients live in bucket buffers during backward (grad_sync.h), not in a
     * full-size array */
    if (oo->zero == 2) hlm_model_free_grads(r->model);
    if (oo->zero > 0) {
        const size_t *b = hlm_grad_sync_bounds(r->sync);
        r->lo = b[r->rank];
        r->hi = b[r->rank + 1];
        size_t shard = r->hi - r->lo;
        r->gshard = calloc(shard ? shard : 1, sizeof(float));
        if (oo->zero == 2 && oo->accum > 1) r->grecv = calloc(shard ? shard : 1, sizeof(float));
        if (!r->gshard || (oo->zero == 2 && oo->accum > 1 && !r->grecv))
            return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory for the gradient shard");
    }
    return HLM_OK;
}

/* Loads the optimizer moments of a checkpoint; under ZeRO 1/2 each rank keeps its shard. */
static hlm_status load_optimizer(run *r, const char *ckpt, hlm_error *err)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/optimizer.safetensors", ckpt);
    const char *prefixes[2] = {"m.", "v."};
    int sharded = r->hi - r->lo != r->n_floats;
    float *full = sharded ? calloc(2 * r->n_floats, sizeof(float)) : NULL;
    if (sharded && !full) return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory for the optimizer state");
    float *arrays[2] = {sharded ? full : r->m, sharded ? full + r->n_floats : r->v};
    hlm_status s = hlm_checkpoint_load_state(r->model, p, prefixes, arrays, 2, err);
    if (s == HLM_OK && sharded) {
        memcpy(r->m, full + r->lo, (r->hi - r->lo) * sizeof(float));
        memcpy(r->v, full + r->n_floats + r->lo, (r->hi - r->lo) * sizeof(float));
    }
    free(full);
    return s;
}

/* One step's gradients on the data-parallel path: this rank's accum micro-batches, reduced over
 * the ranks during the backward passes (the last one's, or every one's under ZeRO 2). On return
 * the full reduced gradients are in the model's array (ZeRO 0) or this rank's shard in gshard
 * (ZeRO 1/2), as the mean over the global batch; *loss is this rank's mean loss. */
static hlm_status dist_gradients(run *r, int64_t step, double *loss, hlm_error *err)
{
    const hlm_train_opts *o = r->o;
    int A = o->accum;
    size_t shard = r->hi - r->lo;
    /* the mean over the global batch: each micro-batch's gradient enters with 1/(accum x world) */
    float scale = 1.0f / (float)((int64_t)A * r->world);
    hlm_model_zero_grad(r->model);
    *loss = 0;
    for (int a = 0; a < A; a++) {
        /* sample j of step k is the same for any world size: rank r's micro-batch a holds the
         * global batch's sequences (r*A + a)*B .. +B */
        uint64_t index = (uint64_t)step * (uint64_t)r->world * (uint64_t)A + (uint64_t)r->rank * (uint64_t)A + (uint64_t)a;
        hlm_loader_batch(r->train, index, r->inputs, r->targets);
        float l;
        hlm_status s = hlm_model_forward(r->model, r->inputs, r->targets, o->batch, o->seq, &l, err);
        if (s != HLM_OK) return s;
        int sync = o->zero == 2 || a == A - 1;
        float *recv = o->zero == 2 && a > 0 ? r->grecv : r->gshard;
        if (sync) hlm_grad_sync_begin(r->sync, o->zero ? HLM_SYNC_REDUCE_SCATTER : HLM_SYNC_ALLREDUCE, recv, o->zero == 2);
        s = hlm_model_backward(r->model, scale, err);
        hlm_status w = sync ? hlm_grad_sync_finish(r->sync, s == HLM_OK ? err : &(hlm_error){0}) : HLM_OK;
        if (s == HLM_OK) s = w;
        if (s != HLM_OK) return s;
        *loss += (double)l / A;
        if (o->zero == 2 && a > 0) {
            float *g = r->gshard;
            const float *x = r->grecv;
            long n = (long)shard;
#pragma omp parallel for schedule(static)
            for (long i = 0; i < n; i++) g[i] += x[i];
        }
    }
    return HLM_OK;
}

hlm_status hlm_train_run(const hlm_train_opts *opts, hlm_error *err)
{
    hlm_status s = check_opts(opts, err);
    if (s != HLM_OK) return s;
    hlm_train_opts oo = *opts; /* accum may change on a resume at another world size */
    const hlm_train_opts *o = &oo;
    run r = {.o = o};
    size_t *counts = NULL; /* ZeRO 1/2: the parameter shards all-gathered after each update */
    r.st.loss_ema = -1;
    r.st.world = 1;
    r.rank = hlm_comm_rank(o->comm);
    hlm_set_threads(o->threads);
    if (o->bf16 && !hlm_gemm_bf16_supported())
        return hlm_errorf(err, HLM_ERR_INVALID, "--precision bf16: this CPU has no bf16 matrix instructions (avx512_bf16 or AMX)");
    hlm_gemm_set_precision(o->bf16 ? HLM_GEMM_BF16 : HLM_GEMM_F32);
    if (r.rank == 0) {
        s = make_dir(o->out_dir, err);
        if (s != HLM_OK) return s;
    }

    char ckpt[4096] = "";
    if (o->resume_dir) {
        s = hlm_train_find_checkpoint(o->resume_dir, ckpt, sizeof ckpt, err);
        if (s == HLM_OK) s = read_trainer_json(ckpt, NULL, &r.st, err);
        if (s == HLM_OK) s = hlm_checkpoint_load_model(ckpt, &r.model, err);
    } else if (o->init_dir) {
        s = hlm_checkpoint_load_model(o->init_dir, &r.model, err);
    } else {
        s = hlm_config_resolve(o->model ? o->model : "tiny-gpt2", &r.cfg, err);
        if (s == HLM_OK) s = hlm_model_create(&r.cfg, &r.model, err);
        if (s == HLM_OK) hlm_model_init_weights(r.model, o->seed);
    }
    if (s != HLM_OK) goto fail;
    s = setup_dist(&r, &oo, err);
    if (s != HLM_OK) goto fail;
    r.cfg = *hlm_model_config_of(r.model);
    if (o->seq > r.cfg.max_seq) {
        s = hlm_errorf(err, HLM_ERR_INVALID, "--seq %d exceeds the model's context length %d", o->seq, r.cfg.max_seq);
        goto fail;
    }
    if (o->tokenizer) {
        s = hlm_tokenizer_load(o->tokenizer, -1, &r.tok, err);
        if (s != HLM_OK) goto fail;
    }
    s = setup_data(&r, err);
    if (s != HLM_OK) goto fail;

    size_t np = hlm_model_array_floats(r.model);
    size_t n_opt = r.hi - r.lo; /* the whole array, or this rank's shard (ZeRO 1/2) */
    r.m = calloc(n_opt ? n_opt : 1, sizeof(float));
    r.v = calloc(n_opt ? n_opt : 1, sizeof(float));
    size_t bt = (size_t)o->batch * o->seq;
    r.inputs = malloc(bt * sizeof(int32_t));
    r.targets = malloc(bt * sizeof(int32_t));
    if (!r.m || !r.v || !r.inputs || !r.targets) {
        s = hlm_errorf(err, HLM_ERR_NOMEM, "out of memory for the optimizer state");
        goto fail;
    }
    if (o->resume_dir) {
        s = load_optimizer(&r, ckpt, err);
        if (s != HLM_OK) goto fail;
        HLM_INFO("resuming from %s at step %lld", ckpt, (long long)r.st.step);
    }
    if (r.rank == 0) {
        snprintf(r.metrics_path, sizeof r.metrics_path, "%s/metrics.jsonl", o->out_dir);
        if (o->resume_dir) s = truncate_metrics(r.metrics_path, r.st.step, err);
        if (s != HLM_OK) goto fail;
        r.metrics = fopen(r.metrics_path, o->resume_dir ? "a" : "w");
        if (!r.metrics) {
            s = hlm_errorf(err, HLM_ERR_IO, "%s: cannot open: %s", r.metrics_path, strerror(errno));
            goto fail;
        }
    }

    hlm_adamw opt = {o->beta1, o->beta2, o->eps, o->weight_decay, o->decay_all};
    int nt;
    const hlm_tensor_info *tensors = hlm_model_tensors(r.model, &nt);
    float *params = hlm_model_params(r.model), *grads = hlm_model_grads(r.model);
    double flops_per_token = 3.0 * hlm_config_flops_per_token(&r.cfg, o->seq);
    double peak = o->peak_gflops > 0 ? o->peak_gflops : hlm_measure_peak_gflops(hlm_get_threads());
    size_t n_params = hlm_model_num_params(r.model);
    HLM_INFO("model: %s, %zu parameters, %.2f GFLOP per token trained; %d threads, fp32 FMA peak %.0f GFLOP/s; "
             "matrix multiplies in %s",
             r.cfg.arch == HLM_ARCH_GPT2 ? "gpt2" : "llama", n_params, flops_per_token / 1e9, hlm_get_threads(), peak,
             o->bf16 ? "bf16 (fp32 accumulation and weights)" : "fp32");
    HLM_INFO("train: %lld steps of %d x %d tokens x %d accum, lr %g (%s, warmup %lld), wd %g, clip %g, seed %llu, %s order",
             (long long)o->steps, o->batch, o->seq, o->accum, o->lr, decay_name(o->decay), (long long)o->warmup,
             o->weight_decay, o->clip, (unsigned long long)o->seed, o->sequential ? "sequential" : "shuffled");
    if (r.dist) {
        HLM_INFO("data parallel: %d processes (%s), ZeRO stage %d, global batch %lld sequences, %zu gradient buckets "
                 "of about %g MB",
                 r.world, hlm_comm_launcher(r.comm), o->zero, (long long)r.st.global_batch,
                 hlm_grad_sync_n_buckets(r.sync), o->bucket_mb);
        report_memory(&r, n_params);
    }
    const size_t *bounds = r.sync ? hlm_grad_sync_bounds(r.sync) : NULL;
    if (r.dist && o->zero > 0) {
        counts = malloc((size_t)r.world * sizeof *counts);
        if (!counts) {
            s = hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
            goto fail;
        }
        for (int k = 0; k < r.world; k++) counts[k] = bounds[k + 1] - bounds[k];
    }

    hlm_progress prog;
    if (r.rank == 0) {
        hlm_progress_start(&prog, "train", (uint64_t)o->steps, "steps");
        hlm_progress_update(&prog, (uint64_t)r.st.step);
    }
    int64_t skipped_in_row = 0;
    double run_t0 = hlm_now_s();
    int64_t first_step = r.st.step;
    while (r.st.step < o->steps) {
        test_die_hook(&r, r.st.step + 1);
        double t0 = hlm_now_s();
        uint64_t bytes0 = hlm_comm_bytes(r.comm);
        double wait0 = hlm_comm_wait_s(r.comm);
        int64_t step = r.st.step;
        double loss = 0, norm;
        if (!r.dist) {
            hlm_model_zero_grad(r.model);
            for (int a = 0; a < o->accum; a++) {
                hlm_loader_batch(r.train, (uint64_t)step * (uint64_t)o->accum + (uint64_t)a, r.inputs, r.targets);
                float l;
                s = hlm_model_forward(r.model, r.inputs, r.targets, o->batch, o->seq, &l, err);
                if (s == HLM_OK) s = hlm_model_backward(r.model, 1.0f / (float)o->accum, err);
                if (s != HLM_OK) goto fail;
                loss += (double)l / o->accum;
            }
            norm = hlm_grad_norm(grads, np);
        } else {
            s = dist_gradients(&r, step, &loss, err);
            if (s != HLM_OK) goto fail;
            /* loss and squared norm summed over the ranks in rank order: the same on every rank,
             * so every rank takes the same skip decision */
            double local[2] = {loss, o->zero ? hlm_grad_sumsq(r.gshard, r.hi - r.lo) : 0}, sum[2];
            s = hlm_comm_sum_f64(r.comm, local, sum, 2, err);
            if (s != HLM_OK) goto fail;
            loss = sum[0] / r.world;
            norm = o->zero ? sqrt(sum[1]) : hlm_grad_norm(grads, np);
        }
        float lr = hlm_train_lr_at(o, step);
        const char *skip = NULL;
        if (!isfinite(loss) || !isfinite(norm)) skip = "non-finite loss or gradient";
        else if (o->spike_factor > 0 && r.st.ema_count >= 10 && loss > o->spike_factor * r.st.loss_ema)
            skip = "loss spike";
        if (!skip) {
            r.st.opt_step++;
            float coef = hlm_grad_clip_coef(norm, o->clip);
            if (!r.dist || o->zero == 0) {
                hlm_adamw_step_scaled(&opt, params, grads, r.m, r.v, tensors, nt, lr, r.st.opt_step, coef);
            } else {
                hlm_adamw_step_shard(&opt, params + r.lo, r.gshard, r.m, r.v, tensors, nt, lr, r.st.opt_step, coef,
                                     r.lo, r.hi);
                s = hlm_comm_allgatherv(r.comm, params, counts, bounds, err);
                if (s != HLM_OK) goto fail;
            }
            r.st.loss_ema = r.st.ema_count == 0 ? loss : 0.95 * r.st.loss_ema + 0.05 * loss;
            r.st.ema_count++;
            skipped_in_row = 0;
        } else {
            skipped_in_row++;
            if (r.rank == 0)
                HLM_WARN("step %lld: %s (loss %.4f, grad norm %.3g): update skipped", (long long)step + 1, skip, loss, norm);
            if (skipped_in_row >= 20) {
                s = hlm_errorf(err, HLM_ERR_INVALID, "training diverged: %lld updates in a row skipped (last: %s)",
                               (long long)skipped_in_row, skip);
                goto fail;
            }
        }
        r.st.step++;
        double dt = hlm_now_s() - t0;
        double tps = (double)bt * o->accum * (r.dist ? r.world : 1) / dt;
        double mfu = peak > 0 ? tps / (r.dist ? r.world : 1) * flops_per_token / (peak * 1e9) : 0;
        if (r.metrics) {
            char comm[128] = "";
            if (r.dist)
                snprintf(comm, sizeof comm, ", \"comm_bytes\": %llu, \"comm_wait_ms\": %.2f",
                         (unsigned long long)(hlm_comm_bytes(r.comm) - bytes0), (hlm_comm_wait_s(r.comm) - wait0) * 1e3);
            fprintf(r.metrics,
                    "{\"step\": %lld, \"loss\": %.6f, \"lr\": %.6g, \"grad_norm\": %.6g, \"tokens_per_s\": %.1f, "
                    "\"mfu\": %.4f, \"ms\": %.1f%s%s}\n",
                    (long long)r.st.step, loss, lr, norm, tps, mfu, dt * 1e3, comm, skip ? ", \"skipped\": true" : "");
            fflush(r.metrics);
        }
        double elapsed = hlm_now_s() - run_t0;
        double eta = (double)(o->steps - r.st.step) * elapsed / (double)(r.st.step - first_step);
        if (r.rank == 0 && (!prog.tty || r.st.step == o->steps))
            HLM_INFO("step %lld/%lld | loss %.4f | lr %.3g | norm %.3f | %.0f tok/s | MFU %.1f%% | %.0f ms | ETA %.0f s",
                     (long long)r.st.step, (long long)o->steps, loss, lr, norm, tps, 100 * mfu, dt * 1e3, eta);
        if (r.rank == 0) hlm_progress_update(&prog, (uint64_t)r.st.step);
        int last = r.st.step == o->steps;
        int stop = o->stop_at > 0 && r.st.step >= o->stop_at && !last;
        if (r.val && ((o->eval_every > 0 && r.st.step % o->eval_every == 0) || (last && o->eval_every >= 0))) {
            double vl;
            s = eval_val(&r, &vl, err);
            if (s != HLM_OK) goto fail;
            if (r.metrics) {
                fprintf(r.metrics, "{\"step\": %lld, \"val_loss\": %.6f}\n", (long long)r.st.step, vl);
                fflush(r.metrics);
            }
            if (r.rank == 0) HLM_INFO("step %lld: validation loss %.4f", (long long)r.st.step, vl);
        }
        if ((o->save_every > 0 && r.st.step % o->save_every == 0) || last || stop) {
            s = save_checkpoint(&r, err);
            if (s != HLM_OK) goto fail;
        }
        if (stop) {
            if (r.rank == 0)
                HLM_INFO("stopping at step %lld (--stop-at); continue with --resume %s", (long long)r.st.step, o->out_dir);
            break;
        }
    }
    if (r.rank == 0) hlm_progress_finish(&prog);
    if (r.dist && r.rank == 0) {
        double steps_done = (double)(r.st.step - first_step);
        if (steps_done > 0)
            HLM_INFO("communication: %.0f bytes per step received by rank 0 (bandwidth-optimal count), %.1f ms per step "
                     "waiting",
                     (double)hlm_comm_bytes(r.comm) / steps_done, hlm_comm_wait_s(r.comm) * 1e3 / steps_done);
        if (o->zero == 2)
            HLM_INFO("ZeRO-2: backward's bucket buffers peaked at %.3f MB",
                     (double)hlm_grad_sync_window_bytes(r.sync) / 1e6);
    }
    /* no rank leaves before rank 0 has written its last checkpoint */
    if (r.dist) s = hlm_comm_barrier(r.comm, err);
    free(counts);
    run_free(&r);
    return s;
fail:
    free(counts);
    run_free(&r);
    return s;
}

/* Bucketed, overlapped gradient reduction (see grad_sync.h). */
#include <stdlib.h>
#include <string.h>

#include "dist/grad_sync.h"

/* Stage 2's backward buffers: at most this many buckets hold one at a time besides the
 * embeddings' (which a tied lm head fills first and the embedding backward last); backward
 * waits for the oldest launched bucket before taking another. Two in flight keep the overlap. */
#define MAX_WINDOWS 3

typedef struct bucket {
    size_t lo, hi; /* floats of the flat gradient array; whole gradient groups */
    int req;       /* -1: not launched, or completed */
    int win;       /* stage 2: index of its buffer in windows, -1: none */
} bucket;

typedef struct window {
    float *p;
    size_t cap; /* floats */
    int busy;
} window;

struct hlm_grad_sync {
    hlm_comm *comm;
    hlm_model *model;
    size_t n_floats;
    int rank, size;
    size_t *bounds;  /* size + 1 */
    size_t *counts;  /* size: this bucket's piece per rank */
    bucket *buckets; /* from the end of the array to its start: launch order */
    size_t n_buckets, next;
    hlm_sync_mode mode;
    float *shard;
    int windowed;
    window windows[MAX_WINDOWS + 1];
    int n_windows;
    size_t window_bytes_peak;
    hlm_status st; /* first error inside the hooks */
    hlm_error err;
};

void hlm_shard_bounds(size_t n, int size, size_t *bounds)
{
    bounds[0] = 0;
    for (int r = 1; r < size; r++) {
        size_t b = (size_t)((unsigned __int128)n * (unsigned)r / (unsigned)size);
        b = (b + 15) & ~(size_t)15;
        if (b > n) b = n;
        if (b < bounds[r - 1]) b = bounds[r - 1];
        bounds[r] = b;
    }
    bounds[size] = n;
}

hlm_status hlm_grad_sync_create(hlm_comm *c, hlm_model *m, double bucket_mb, hlm_grad_sync **out, hlm_error *err)
{
    *out = NULL;
    if (!(bucket_mb > 0)) return hlm_errorf(err, HLM_ERR_INVALID, "--bucket-mb: expected a size > 0, got %g", bucket_mb);
    hlm_grad_sync *s = calloc(1, sizeof *s);
    if (!s) return hlm_errorf(err, HLM_ERR_NOMEM, "gradient buckets: out of memory");
    s->comm = c;
    s->model = m;
    s->n_floats = hlm_model_array_floats(m);
    s->rank = hlm_comm_rank(c);
    s->size = hlm_comm_size(c);
    int n_layer = hlm_model_config_of(m)->n_layer;
    size_t *groups = malloc((size_t)(n_layer + 3) * sizeof *groups);
    s->bounds = malloc((size_t)(s->size + 1) * sizeof *s->bounds);
    s->counts = malloc((size_t)s->size * sizeof *s->counts);
    s->buckets = malloc((size_t)(n_layer + 2) * sizeof *s->buckets);
    if (!groups || !s->bounds || !s->counts || !s->buckets) {
        free(groups);
        hlm_grad_sync_free(s);
        return hlm_errorf(err, HLM_ERR_NOMEM, "gradient buckets: out of memory");
    }
    hlm_shard_bounds(s->n_floats, s->size, s->bounds);
    /* whole groups from the end, a bucket closed once it reaches the size */
    int ng = hlm_model_grad_groups(m, groups);
    double cap = bucket_mb * 1e6 / sizeof(float);
    size_t hi = s->n_floats;
    for (int g = ng - 1; g > 0; g--)
        if (groups[g] < hi && (double)(hi - groups[g]) >= cap) {
            s->buckets[s->n_buckets++] = (bucket){groups[g], hi, -1, -1};
            hi = groups[g];
        }
    if (hi > 0) s->buckets[s->n_buckets++] = (bucket){0, hi, -1, -1};
    free(groups);
    *out = s;
    return HLM_OK;
}

void hlm_grad_sync_free(hlm_grad_sync *s)
{
    if (!s) return;
    for (int i = 0; i < s->n_windows; i++) free(s->windows[i].p);
    free(s->bounds);
    free(s->counts);
    free(s->buckets);
    free(s);
}

size_t hlm_grad_sync_n_buckets(const hlm_grad_sync *s) { return s->n_buckets; }
const size_t *hlm_grad_sync_bounds(const hlm_grad_sync *s) { return s->bounds; }
size_t hlm_grad_sync_window_bytes(const hlm_grad_sync *s) { return s->window_bytes_peak; }

size_t hlm_grad_sync_window_bound_bytes(const hlm_grad_sync *s)
{
    /* the embeddings' bucket (the last) plus MAX_WINDOWS of the largest others */
    size_t emb = 0, largest = 0;
    for (size_t i = 0; i < s->n_buckets; i++) {
        size_t n = s->buckets[i].hi - s->buckets[i].lo;
        if (s->buckets[i].lo == 0) emb = n;
        else if (n > largest) largest = n;
    }
    size_t others = s->n_buckets > 1 ? s->n_buckets - 1 : 0;
    size_t k = others < MAX_WINDOWS ? others : MAX_WINDOWS;
    return (emb + k * largest) * sizeof(float);
}

static void launch(hlm_grad_sync *s, bucket *b)
{
    if (s->st != HLM_OK) return;
    const float *send = s->windowed ? s->windows[b->win].p : hlm_model_grads(s->model) + b->lo;
    if (s->mode == HLM_SYNC_ALLREDUCE) {
        s->st = hlm_comm_iallreduce(s->comm, hlm_model_grads(s->model) + b->lo, b->hi - b->lo, &b->req, &s->err);
        return;
    }
    /* rank r's piece of the bucket: its intersection with [bounds[r], bounds[r+1]) */
    for (int r = 0; r < s->size; r++) {
        size_t lo = b->lo > s->bounds[r] ? b->lo : s->bounds[r];
        size_t hi = b->hi < s->bounds[r + 1] ? b->hi : s->bounds[r + 1];
        s->counts[r] = hi > lo ? hi - lo : 0;
    }
    size_t mine = b->lo > s->bounds[s->rank] ? b->lo : s->bounds[s->rank];
    float *recv = s->counts[s->rank] ? s->shard + (mine - s->bounds[s->rank]) : s->shard;
    s->st = hlm_comm_ireduce_scatter(s->comm, send, recv, s->counts, &b->req, &s->err);
}

/* Completes bucket b's reduction and returns its buffer. */
static hlm_status complete(hlm_grad_sync *s, bucket *b, hlm_error *err)
{
    hlm_status st = hlm_comm_wait(s->comm, b->req, err);
    b->req = -1;
    if (b->win >= 0) {
        s->windows[b->win].busy = 0;
        b->win = -1;
    }
    return st;
}

/* A zeroed buffer of n floats for a bucket: a free one (grown if none fits), a new one while
 * fewer than MAX_WINDOWS + 1 exist, else the buffer of the oldest launched bucket once its
 * reduction is done. */
static int take_window(hlm_grad_sync *s, size_t n)
{
    for (;;) {
        /* the smallest free buffer that fits, else the largest free one (grown) */
        int best = -1;
        for (int i = 0; i < s->n_windows; i++) {
            const window *w = &s->windows[i];
            if (w->busy) continue;
            if (best < 0) best = i;
            else if (w->cap >= n && (s->windows[best].cap < n || w->cap < s->windows[best].cap)) best = i;
            else if (w->cap < n && s->windows[best].cap < n && w->cap > s->windows[best].cap) best = i;
        }
        if (best < 0 && s->n_windows < MAX_WINDOWS + 1) {
            best = s->n_windows++;
            s->windows[best] = (window){NULL, 0, 0};
        }
        if (best >= 0) {
            window *w = &s->windows[best];
            if (w->cap < n) {
                free(w->p);
                w->p = malloc(n * sizeof(float));
                w->cap = w->p ? n : 0;
                if (!w->p) return -1;
            }
            memset(w->p, 0, n * sizeof(float));
            w->busy = 1;
            size_t total = 0;
            for (int i = 0; i < s->n_windows; i++) total += s->windows[i].cap * sizeof(float);
            if (total > s->window_bytes_peak) s->window_bytes_peak = total;
            return best;
        }
        /* all buffers busy: the oldest launched bucket frees one */
        bucket *oldest = NULL;
        for (size_t i = 0; i < s->next && !oldest; i++)
            if (s->buckets[i].win >= 0) oldest = &s->buckets[i];
        if (!oldest || complete(s, oldest, &s->err) != HLM_OK) {
            if (s->st == HLM_OK && !oldest)
                s->st = hlm_errorf(&s->err, HLM_ERR_INVALID, "gradient buffers: none free and none in flight");
            else if (s->st == HLM_OK) s->st = s->err.code;
            return -1;
        }
    }
}

static float *on_storage(void *ctx, size_t lo, size_t hi)
{
    hlm_grad_sync *s = ctx;
    if (s->st != HLM_OK) return NULL;
    for (size_t i = 0; i < s->n_buckets; i++) {
        bucket *b = &s->buckets[i];
        if (lo < b->lo || lo >= b->hi) continue;
        if (hi > b->hi) break; /* groups never straddle buckets; defensive */
        if (b->win < 0) {
            b->win = take_window(s, b->hi - b->lo);
            if (b->win < 0) {
                if (s->st == HLM_OK) s->st = hlm_errorf(&s->err, HLM_ERR_NOMEM, "gradient buffers: out of memory");
                return NULL;
            }
        }
        return s->windows[b->win].p + (lo - b->lo);
    }
    if (s->st == HLM_OK) s->st = hlm_errorf(&s->err, HLM_ERR_INVALID, "gradient storage: [%zu, %zu) is in no bucket", lo, hi);
    return NULL;
}

static void on_ready(void *ctx, size_t ready_from)
{
    hlm_grad_sync *s = ctx;
    while (s->next < s->n_buckets && s->buckets[s->next].lo >= ready_from) launch(s, &s->buckets[s->next++]);
    if (s->st == HLM_OK) s->st = hlm_comm_progress(s->comm, &s->err);
}

void hlm_grad_sync_begin(hlm_grad_sync *s, hlm_sync_mode mode, float *shard, int windowed)
{
    s->mode = mode;
    s->shard = shard;
    s->windowed = windowed && mode == HLM_SYNC_REDUCE_SCATTER;
    s->next = 0;
    s->st = HLM_OK;
    for (size_t i = 0; i < s->n_buckets; i++) {
        s->buckets[i].req = -1;
        s->buckets[i].win = -1;
    }
    for (int i = 0; i < s->n_windows; i++) s->windows[i].busy = 0;
    hlm_model_set_grad_ready(s->model, on_ready, s);
    hlm_model_set_grad_storage(s->model, s->windowed ? on_storage : NULL, s);
}

hlm_status hlm_grad_sync_finish(hlm_grad_sync *s, hlm_error *err)
{
    hlm_model_set_grad_ready(s->model, NULL, NULL);
    hlm_model_set_grad_storage(s->model, NULL, NULL);
    /* buckets that backward never asked storage for (none in practice) reduce zeros */
    while (s->next < s->n_buckets && s->st == HLM_OK) {
        bucket *b = &s->buckets[s->next++];
        if (s->windowed && b->win < 0) {
            b->win = take_window(s, b->hi - b->lo);
            if (b->win < 0) break;
        }
        launch(s, b);
    }
    hlm_status st = s->st;
    if (st != HLM_OK) *err = s->err;
    for (size_t i = 0; i < s->next; i++) {
        hlm_error e2;
        hlm_status w = complete(s, &s->buckets[i], st == HLM_OK ? err : &e2);
        if (st == HLM_OK) st = w;
    }
    return st;
}

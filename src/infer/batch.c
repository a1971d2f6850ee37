/* The continuous-batching scheduler (batch.h). Slots are the engine's sequences; a slot holds a
 * running request and the token it decodes next. */
#include "infer/batch.h"

#include <stdlib.h>
#include <string.h>

typedef struct slot {
    int req;    /* -1: free */
    int32_t next; /* sampled, not yet in the cache */
    int made;   /* tokens generated so far */
} slot;

/* The request in slot k sampled tok: passes it on and says whether the request goes on. */
static int take(const hlm_engine *e, const hlm_batch_request *reqs, slot *s, int k, int32_t tok, const hlm_eog *eog,
                hlm_batch_fn fn, void *user)
{
    const hlm_batch_request *r = &reqs[s[k].req];
    if (eog && hlm_eog_has(eog, tok)) {
        fn(user, s[k].req, -1, HLM_FINISH_EOS);
        return 0;
    }
    hlm_sampler_accept(r->sampler, tok);
    s[k].made++;
    if (fn(user, s[k].req, tok, HLM_FINISH_NONE)) {
        fn(user, s[k].req, -1, HLM_FINISH_STOP);
        return 0;
    }
    /* the next decode would put tok at position seq_pos: it needs a free one */
    if (s[k].made >= r->max_tokens || hlm_engine_seq_pos(e, k) >= hlm_engine_ctx(e)) {
        fn(user, s[k].req, -1, HLM_FINISH_LENGTH);
        return 0;
    }
    s[k].next = tok;
    return 1;
}

hlm_status hlm_batch_generate(hlm_engine *e, const hlm_batch_request *reqs, int n, int parallel, int vocab,
                              const hlm_eog *eog, hlm_batch_fn fn, void *user, hlm_error *err)
{
    if (parallel < 1) return hlm_errorf(err, HLM_ERR_INVALID, "batch: parallel %d, expected at least 1", parallel);
    if (n < 0) return hlm_errorf(err, HLM_ERR_INVALID, "batch: %d requests", n);
    for (int i = 0; i < n; i++) {
        if (reqs[i].prompt_len < 1 || !reqs[i].prompt || !reqs[i].sampler)
            return hlm_errorf(err, HLM_ERR_INVALID, "batch: request %d has no prompt tokens or no sampler", i);
        if (reqs[i].max_tokens < 1)
            return hlm_errorf(err, HLM_ERR_INVALID, "batch: request %d: max_tokens %d, expected at least 1", i,
                              reqs[i].max_tokens);
        if (reqs[i].prompt_len > hlm_engine_ctx(e))
            return hlm_errorf(err, HLM_ERR_RANGE, "batch: request %d: a prompt of %d tokens exceeds the context of %d", i,
                              reqs[i].prompt_len, hlm_engine_ctx(e));
    }
    if (n == 0) return HLM_OK;
    if (parallel > n) parallel = n;
    hlm_status st = hlm_engine_set_seqs(e, parallel, err);
    if (st != HLM_OK) return st;
    slot *s = malloc(sizeof *s * (size_t)parallel);
    int *seqs = malloc(sizeof *seqs * (size_t)parallel), *lens = malloc(sizeof *lens * (size_t)parallel);
    int32_t *step = malloc(sizeof *step * (size_t)parallel), *toks = NULL;
    size_t toks_cap = 0;
    if (!s || !seqs || !lens || !step) st = hlm_errorf(err, HLM_ERR_NOMEM, "batch: out of memory");
    for (int k = 0; st == HLM_OK && k < parallel; k++) s[k].req = -1;
    int next_req = 0, running = 0;
    while (st == HLM_OK && (next_req < n || running > 0)) {
        /* start waiting requests in the free slots, their prompts in one prefill */
        int m = 0;
        size_t total = 0;
        for (int k = 0; k < parallel && next_req < n; k++) {
            if (s[k].req >= 0) continue;
            s[k] = (slot){.req = next_req++, .next = -1, .made = 0};
            hlm_engine_seq_truncate(e, k, 0);
            hlm_sampler_accept_context(reqs[s[k].req].sampler, reqs[s[k].req].prompt, reqs[s[k].req].prompt_len);
            seqs[m] = k;
            lens[m++] = reqs[s[k].req].prompt_len;
            total += (size_t)reqs[s[k].req].prompt_len;
        }
        if (m > 0) {
            if (total > toks_cap) {
                int32_t *t = realloc(toks, sizeof *t * total);
                if (!t) {
                    st = hlm_errorf(err, HLM_ERR_NOMEM, "batch: out of memory for %zu prompt tokens", total);
                    break;
                }
                toks = t;
                toks_cap = total;
            }
            size_t at = 0;
            for (int i = 0; i < m; i++) {
                const hlm_batch_request *r = &reqs[s[seqs[i]].req];
                memcpy(toks + at, r->prompt, sizeof *toks * (size_t)r->prompt_len);
                at += (size_t)r->prompt_len;
            }
            const float *logits = NULL;
            st = hlm_engine_prefill_batch(e, seqs, toks, lens, m, &logits, err);
            if (st != HLM_OK) break;
            size_t V = (size_t)hlm_engine_config(e)->vocab_size;
            for (int i = 0; i < m; i++) {
                int k = seqs[i];
                int32_t tok = hlm_sample(reqs[s[k].req].sampler, logits + (size_t)i * V, vocab);
                if (take(e, reqs, s, k, tok, eog, fn, user)) running++;
                else s[k].req = -1;
            }
        }
        /* one decode step for every running request */
        m = 0;
        for (int k = 0; k < parallel; k++)
            if (s[k].req >= 0) {
                seqs[m] = k;
                step[m++] = s[k].next;
            }
        if (m == 0) continue;
        const float *logits = NULL;
        st = hlm_engine_decode_batch(e, seqs, step, m, &logits, err);
        if (st != HLM_OK) break;
        size_t V = (size_t)hlm_engine_config(e)->vocab_size;
        for (int i = 0; i < m; i++) {
            int k = seqs[i];
            int32_t tok = hlm_sample(reqs[s[k].req].sampler, logits + (size_t)i * V, vocab);
            if (!take(e, reqs, s, k, tok, eog, fn, user)) {
                s[k].req = -1;
                running--;
            }
        }
    }
    for (int k = 0; k < hlm_engine_seqs(e); k++) hlm_engine_seq_truncate(e, k, 0);
    free(s);
    free(seqs);
    free(lens);
    free(step);
    free(toks);
    return st;
}

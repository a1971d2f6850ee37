/* Token sources and the loader: the sequential order against a stateful reimplementation of
 * llm.c's DataLoader, the shuffled order against a reimplementation written from loader.h's text
 * (and pinned values, so that the order of existing runs never changes silently), permutation
 * properties, purity of batch(index), multi-shard sources and tokenized text sources. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/loader.h"
#include "data/shard.h"
#include "hyperlm/tokenizer.h"

#include "tmpdir.h"

/* tokens[i] = i: a token names its own position */
static hlm_token_source *counting_source(size_t n)
{
    uint32_t *t = malloc(n * sizeof *t);
    for (size_t i = 0; i < n; i++) t[i] = (uint32_t)i;
    hlm_token_source *src;
    hlm_error err;
    assert_int_equal(hlm_token_source_from_tokens(t, n, (uint32_t)n + 1, (uint32_t)n, &src, &err), HLM_OK);
    free(t);
    return src;
}

static hlm_loader *make_loader(const hlm_token_source *src, int B, int T, int order, uint64_t seed, size_t begin,
                               size_t end)
{
    hlm_loader_config c = {.B = B, .T = T, .order = order, .seed = seed, .begin = begin, .end = end};
    hlm_loader *l;
    hlm_error err;
    if (hlm_loader_create(src, &c, &l, &err)) fail_msg("hlm_loader_create: %s", err.msg);
    return l;
}

/* ---- sequential: llm.c's DataLoader, stateful, as train_gpt2.c / dataloader.h write it ---- */

typedef struct llmc_loader {
    const int32_t *tokens; /* the whole range */
    size_t ntok, B, T, current_position;
} llmc_loader;

static void llmc_next_batch(llmc_loader *l, int32_t *inputs, int32_t *targets)
{
    size_t B = l->B, T = l->T;
    /* if we are at the end of the file, loop back to the beginning */
    if (l->current_position + (B * T + 1) > l->ntok) l->current_position = 0;
    const int32_t *buf = l->tokens + l->current_position;
    memcpy(inputs, buf, B * T * sizeof *inputs);
    memcpy(targets, buf + 1, B * T * sizeof *targets);
    l->current_position += B * T;
    /* llm.c: if the next batch would be out of bounds, reset (advance the shard) */
    if (l->current_position + (B * T + 1) > l->ntok) l->current_position = 0;
}

static void check_sequential(size_t n, int B, int T, size_t begin, size_t end, int batches)
{
    hlm_token_source *src = counting_source(n);
    hlm_loader *l = make_loader(src, B, T, HLM_ORDER_SEQUENTIAL, 0, begin, end);
    size_t real_end = end ? end : n, bt = (size_t)B * T;
    int32_t *all = malloc(n * sizeof *all);
    assert_int_equal(hlm_token_source_copy(src, 0, n, all), HLM_OK);
    llmc_loader ref = {.tokens = all + begin, .ntok = real_end - begin, .B = (size_t)B, .T = (size_t)T};
    int32_t *in = malloc(bt * sizeof *in), *tg = malloc(bt * sizeof *tg);
    int32_t *rin = malloc(bt * sizeof *rin), *rtg = malloc(bt * sizeof *rtg);
    assert_int_equal(hlm_loader_batches_per_epoch(l), (real_end - begin - 1) / bt);
    for (int k = 0; k < batches; k++) {
        hlm_loader_batch(l, (uint64_t)k, in, tg);
        llmc_next_batch(&ref, rin, rtg);
        assert_memory_equal(in, rin, bt * sizeof *in);
        assert_memory_equal(tg, rtg, bt * sizeof *tg);
    }
    free(in);
    free(tg);
    free(rin);
    free(rtg);
    free(all);
    hlm_loader_free(l);
    hlm_token_source_free(src);
}

static void test_sequential_matches_llmc(void **state)
{
    check_sequential(1000, 4, 8, 0, 0, 100);     /* 31 blocks: wraps three times */
    check_sequential(33, 4, 8, 0, 0, 5);         /* exactly one block (B*T+1 tokens) */
    check_sequential(64, 4, 8, 0, 0, 7);         /* 63 / 32 = 1 block, 31 tokens unused */
    check_sequential(65, 4, 8, 0, 0, 7);         /* 2 blocks, the last target is the last token */
    check_sequential(1000, 3, 5, 100, 700, 200); /* a range */
    check_sequential(5000, 1, 1, 17, 0, 6000);   /* B = T = 1: every token once, wrapping */
}

/* ---- shuffled: perm() written again from loader.h's text ---- */

static uint64_t ref_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t ref_perm(uint64_t seed, uint64_t e, uint64_t n_win, uint64_t x)
{
    const uint64_t G = 0x9E3779B97F4A7C15ull;
    uint64_t key[4], state = ref_mix(seed + G) ^ e;
    for (int r = 0; r < 4; r++) {
        state += G;
        key[r] = ref_mix(state);
    }
    unsigned h = 1;
    while (h < 32 && (1ull << (2 * h)) < n_win) h++; /* smallest h >= 1 with 4^h >= n_win */
    uint64_t mask = (h == 32) ? 0xFFFFFFFFull : (1ull << h) - 1;
    uint64_t y = x;
    do {
        uint64_t L = y >> h, R = y & mask;
        for (int r = 0; r < 4; r++) {
            uint64_t nl = R, nr = L ^ (ref_mix(R ^ key[r]) & mask);
            L = nl;
            R = nr;
        }
        y = (L << h) | R;
    } while (y >= n_win);
    return y;
}

static void test_permutation(void **state)
{
    static const uint64_t sizes[] = {1, 2, 3, 4, 5, 15, 16, 17, 100, 1000, 4096, 4097, 12345};
    uint8_t *seen = malloc(12345);
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        uint64_t n = sizes[k];
        for (uint64_t seed = 0; seed < 3; seed++)
            for (uint64_t e = 0; e < 3; e++) {
                memset(seen, 0, n);
                for (uint64_t x = 0; x < n; x++) {
                    uint64_t y = hlm_loader_permute(seed, e, n, x);
                    assert_true(y < n);
                    assert_int_equal(seen[y], 0);
                    seen[y] = 1;
                    assert_int_equal(y, ref_perm(seed, e, n, x));
                }
            }
    }
    free(seen);
    /* a permutation of billions of windows without a table: in range, agreeing with the reference */
    uint64_t big = 3000000019ull, prev = UINT64_MAX;
    for (uint64_t x = 0; x < 1000; x++) {
        uint64_t y = hlm_loader_permute(7, 2, big, x);
        assert_true(y < big);
        assert_true(y != prev);
        assert_int_equal(y, ref_perm(7, 2, big, x));
        prev = y;
    }
    assert_true(hlm_loader_permute(1, 0, UINT64_MAX, 12345) < UINT64_MAX);
    /* pinned: these values fix the order of the shuffled loader for all runs (changing them
     * breaks bit-exact resumption of existing runs) */
    static const uint64_t pinned[10] = {8, 2, 3, 1, 4, 9, 6, 7, 0, 5};
    for (uint64_t x = 0; x < 10; x++) assert_int_equal(hlm_loader_permute(42, 0, 10, x), pinned[x]);
    assert_int_equal(hlm_loader_permute(42, 1, 1000000, 0), 303547);
}

/* Runs `epochs` epochs of the shuffled order and checks each is a permutation of the windows. */
static void check_shuffled(size_t n, int B, int T, size_t begin, size_t end, uint64_t seed, int epochs)
{
    hlm_token_source *src = counting_source(n);
    hlm_loader *l = make_loader(src, B, T, HLM_ORDER_SHUFFLED, seed, begin, end);
    size_t real_end = end ? end : n, bt = (size_t)B * T;
    uint64_t n_win = (real_end - begin - 1) / (size_t)T;
    assert_int_equal(hlm_loader_n_windows(l), n_win);
    assert_int_equal(hlm_loader_batches_per_epoch(l), n_win / (uint64_t)B);
    int32_t *in = malloc(bt * sizeof *in), *tg = malloc(bt * sizeof *tg);
    uint64_t total = n_win * (uint64_t)epochs, n_batches = (total + (uint64_t)B - 1) / (uint64_t)B;
    uint32_t *count = calloc(n_win * (uint64_t)(epochs + 1), sizeof *count); /* per epoch, per window */
    for (uint64_t k = 0; k < n_batches; k++) {
        hlm_loader_batch(l, k, in, tg);
        for (int j = 0; j < B; j++) {
            uint64_t s = k * (uint64_t)B + (uint64_t)j, e = s / n_win;
            size_t p = (size_t)in[j * T];
            assert_true(p >= begin && (p - begin) % (size_t)T == 0);
            uint64_t w = (p - begin) / (size_t)T;
            assert_true(w < n_win);
            assert_int_equal(w, ref_perm(seed, e, n_win, s % n_win));
            for (int t = 0; t < T; t++) {
                assert_int_equal(in[j * T + t], (int32_t)(p + (size_t)t));
                assert_int_equal(tg[j * T + t], (int32_t)(p + (size_t)t + 1));
            }
            assert_true((size_t)tg[j * T + T - 1] < real_end);
            count[e * n_win + w]++;
        }
    }
    for (int e = 0; e < epochs; e++)
        for (uint64_t w = 0; w < n_win; w++) assert_int_equal(count[(uint64_t)e * n_win + w], 1);
    free(count);
    free(in);
    free(tg);
    hlm_loader_free(l);
    hlm_token_source_free(src);
}

static void test_shuffled_epochs_are_permutations(void **state)
{
    check_shuffled(1000, 4, 8, 0, 0, 1, 3);      /* n_win 124, B divides it */
    check_shuffled(1000, 5, 8, 0, 0, 2, 3);      /* n_win 124: batches straddle epochs */
    check_shuffled(1000, 3, 7, 50, 900, 3, 4);   /* a range */
    check_shuffled(9, 8, 1, 0, 0, 4, 5);         /* n_win == B */
    check_shuffled(20000, 16, 1, 0, 0, 5, 2);    /* T = 1 */
}

static uint64_t order_hash(const hlm_loader *l, int B, int T, uint64_t n_batches, int reverse)
{
    size_t bt = (size_t)B * T;
    int32_t *in = malloc(bt * sizeof *in), *tg = malloc(bt * sizeof *tg);
    uint64_t h = 0;
    for (uint64_t i = 0; i < n_batches; i++) {
        uint64_t k = reverse ? n_batches - 1 - i : i;
        hlm_loader_batch(l, k, in, tg);
        uint64_t v = 0;
        for (size_t j = 0; j < bt; j++) v = v * 1000003u + (uint64_t)in[j] * 31u + (uint64_t)tg[j];
        h += v * (k + 1) * 0x9E3779B97F4A7C15ull; /* order-independent sum of (index, content) */
    }
    free(in);
    free(tg);
    return h;
}

static void test_shuffled_seeds_and_purity(void **state)
{
    hlm_token_source *src = counting_source(5000);
    hlm_loader *a = make_loader(src, 4, 16, HLM_ORDER_SHUFFLED, 1234, 0, 0);
    hlm_loader *b = make_loader(src, 4, 16, HLM_ORDER_SHUFFLED, 1234, 0, 0);
    hlm_loader *c = make_loader(src, 4, 16, HLM_ORDER_SHUFFLED, 1235, 0, 0);
    uint64_t n = 3 * hlm_loader_batches_per_epoch(a);
    uint64_t ha = order_hash(a, 4, 16, n, 0);
    assert_int_equal(ha, order_hash(b, 4, 16, n, 0));     /* same seed, same batches */
    assert_int_equal(ha, order_hash(a, 4, 16, n, 1));     /* any call order */
    assert_int_not_equal(ha, order_hash(c, 4, 16, n, 0)); /* another seed, another order */
    /* batch k alone equals batch k after others */
    int32_t in1[64], tg1[64], in2[64], tg2[64];
    hlm_loader_batch(b, 77, in1, tg1);
    hlm_loader_batch(a, 3, in2, tg2);
    hlm_loader_batch(a, 77, in2, tg2);
    assert_memory_equal(in1, in2, sizeof in1);
    assert_memory_equal(tg1, tg2, sizeof tg1);
    /* epochs differ from each other: the first batch of epoch 0 and epoch 1 (n_win = 312, B = 4) */
    hlm_loader_batch(a, 0, in1, tg1);
    hlm_loader_batch(a, 78, in2, tg2);
    assert_memory_not_equal(in1, in2, sizeof in1);
    hlm_loader_free(a);
    hlm_loader_free(b);
    hlm_loader_free(c);
    hlm_token_source_free(src);
}

static void test_loader_config_errors(void **state)
{
    hlm_token_source *src = counting_source(100);
    hlm_loader *l;
    hlm_error err;
    hlm_loader_config c = {.B = 4, .T = 25};
    assert_int_equal(hlm_loader_create(src, &c, &l, &err), HLM_ERR_INVALID); /* needs 101 tokens */
    assert_non_null(strstr(err.msg, "B*T+1"));
    c.T = 24;
    assert_int_equal(hlm_loader_create(src, &c, &l, &err), HLM_OK);
    assert_int_equal(hlm_loader_get_config(l)->end, 100);
    hlm_loader_free(l);
    c.B = 0;
    assert_int_equal(hlm_loader_create(src, &c, &l, &err), HLM_ERR_INVALID);
    c.B = 1;
    c.T = -3;
    assert_int_equal(hlm_loader_create(src, &c, &l, &err), HLM_ERR_INVALID);
    c.T = 2;
    c.end = 101;
    assert_int_equal(hlm_loader_create(src, &c, &l, &err), HLM_ERR_INVALID);
    c.begin = 50;
    c.end = 40;
    assert_int_equal(hlm_loader_create(src, &c, &l, &err), HLM_ERR_INVALID);
    c.begin = 0;
    c.end = 0;
    c.order = 7;
    assert_int_equal(hlm_loader_create(src, &c, &l, &err), HLM_ERR_INVALID);
    int32_t out[4];
    assert_int_equal(hlm_token_source_copy(src, 98, 3, out), HLM_ERR_RANGE);
    assert_int_equal(hlm_token_source_copy(src, 98, 2, out), HLM_OK);
    assert_int_equal(out[1], 99);
    hlm_token_source_free(src);
    uint32_t bad[2] = {1, 5};
    assert_int_equal(hlm_token_source_from_tokens(bad, 2, 5, 0, &src, &err), HLM_ERR_RANGE);
}

/* ---- multi-shard sources ---- */

static void write_shard(const char *path, uint32_t vocab, uint32_t eot, uint32_t first, size_t n)
{
    hlm_shard_writer *w;
    hlm_error err;
    assert_int_equal(hlm_shard_writer_open(path, 0, vocab, eot, &w, &err), HLM_OK);
    for (size_t i = 0; i < n; i++) {
        uint32_t t = (first + (uint32_t)i) % vocab;
        assert_int_equal(hlm_shard_writer_append(w, &t, 1, &err), HLM_OK);
    }
    assert_int_equal(hlm_shard_writer_end_doc(w, &err), HLM_OK);
    assert_int_equal(hlm_shard_writer_commit(w, &err), HLM_OK);
}

static void test_multi_shard(void **state)
{
    char dir[400];
    snprintf(dir, sizeof dir, "%s/shards", tmpdir);
    assert_int_equal(mkdir(dir, 0755), 0);
    char p[500];
    /* written out of order: the source sorts by name */
    snprintf(p, sizeof p, "%s/train-00002.tok", dir);
    write_shard(p, 60000, 59999, 3000, 500);
    snprintf(p, sizeof p, "%s/train-00000.tok", dir);
    write_shard(p, 60000, 59999, 0, 1000);
    snprintf(p, sizeof p, "%s/train-00001.tok", dir);
    write_shard(p, 60000, 59999, 2000, 0); /* only its EOT */
    snprintf(p, sizeof p, "%s/val-00000.tok", dir);
    write_shard(p, 60000, 59999, 50000, 10);
    snprintf(p, sizeof p, "%s/notes.txt", dir);
    write_file(p, "not a shard", 11);

    /* expected stream of the train shards: 0..999 EOT, EOT, 3000..3499 EOT */
    size_t n = 1001 + 1 + 501;
    int32_t *want = malloc(n * sizeof *want), *got = malloc((n + 11) * sizeof *got);
    size_t k = 0;
    for (int i = 0; i < 1000; i++) want[k++] = i;
    want[k++] = 59999;
    want[k++] = 59999;
    for (int i = 0; i < 500; i++) want[k++] = 3000 + i;
    want[k++] = 59999;

    hlm_token_source *src;
    hlm_error err;
    snprintf(p, sizeof p, "%s/train-*.tok", dir);
    assert_int_equal(hlm_token_source_open(p, NULL, &src, &err), HLM_OK);
    assert_int_equal(hlm_token_source_length(src), n);
    assert_int_equal(hlm_token_source_n_shards(src), 3);
    assert_int_equal(hlm_token_source_n_docs(src), 3);
    assert_int_equal(hlm_token_source_vocab_size(src), 60000);
    assert_int_equal(hlm_token_source_eot_id(src), 59999);
    assert_int_equal(hlm_token_source_copy(src, 0, n, got), HLM_OK);
    assert_memory_equal(got, want, n * sizeof *want);
    /* every range across the boundaries */
    for (size_t pos = 990; pos < 1010; pos++)
        for (size_t len = 0; pos + len <= n && len < 30; len++) {
            memset(got, 0xff, 30 * sizeof *got);
            assert_int_equal(hlm_token_source_copy(src, pos, len, got), HLM_OK);
            assert_memory_equal(got, want + pos, len * sizeof *got);
        }
    /* a loader over the concatenation crosses shards like one stream */
    hlm_loader *l = make_loader(src, 2, 300, HLM_ORDER_SEQUENTIAL, 0, 0, 0);
    int32_t in[600], tg[600];
    hlm_loader_batch(l, 1, in, tg);
    assert_memory_equal(in, want + 600, sizeof in);
    assert_memory_equal(tg, want + 601, sizeof tg);
    hlm_loader_free(l);
    hlm_token_source_free(src);

    /* the folder: all four shards (the text file is not a shard by name) */
    assert_int_equal(hlm_token_source_open(dir, NULL, &src, &err), HLM_OK);
    assert_int_equal(hlm_token_source_n_shards(src), 4);
    assert_int_equal(hlm_token_source_length(src), n + 11);
    assert_int_equal(hlm_token_source_copy(src, 0, n + 11, got), HLM_OK);
    assert_memory_equal(got, want, n * sizeof *want);
    assert_int_equal(got[n], 50000);
    hlm_token_source_free(src);

    /* one shard file */
    snprintf(p, sizeof p, "%s/train-00000.tok", dir);
    assert_int_equal(hlm_token_source_open(p, NULL, &src, &err), HLM_OK);
    assert_int_equal(hlm_token_source_length(src), 1001);
    hlm_token_source_free(src);

    /* shards that disagree */
    snprintf(p, sizeof p, "%s/val-00001.tok", dir);
    write_shard(p, 60001, 59999, 0, 10);
    snprintf(p, sizeof p, "%s/val-*.tok", dir);
    assert_int_equal(hlm_token_source_open(p, NULL, &src, &err), HLM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "val-00001.tok"));
    assert_non_null(strstr(err.msg, "vocab_size"));
    snprintf(p, sizeof p, "%s/val-00001.tok", dir);
    write_shard(p, 60000, 7, 0, 10);
    snprintf(p, sizeof p, "%s/val-*.tok", dir);
    assert_int_equal(hlm_token_source_open(p, NULL, &src, &err), HLM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "eot_id"));
    /* a corrupt shard fails the source, naming it */
    snprintf(p, sizeof p, "%s/val-00001.tok", dir);
    FILE *f = fopen(p, "r+b");
    fseek(f, 70, SEEK_SET);
    fputc(0x55, f);
    fclose(f);
    assert_int_equal(hlm_token_source_open(p, NULL, &src, &err), HLM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "val-00001.tok"));
    assert_non_null(strstr(err.msg, "checksum"));
    /* nothing matches; an empty folder; a missing path */
    snprintf(p, sizeof p, "%s/nothing-*.tok", dir);
    assert_int_equal(hlm_token_source_open(p, NULL, &src, &err), HLM_ERR_IO);
    assert_non_null(strstr(err.msg, "nothing-*.tok"));
    snprintf(p, sizeof p, "%s/empty", tmpdir);
    assert_int_equal(mkdir(p, 0755), 0);
    assert_int_equal(hlm_token_source_open(p, NULL, &src, &err), HLM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "no token shards"));
    assert_int_equal(hlm_token_source_open(tmp_path("missing.tok"), NULL, &src, &err), HLM_ERR_IO);
    assert_non_null(strstr(err.msg, "missing.tok"));
    free(want);
    free(got);
}

/* ---- text sources ---- */

static const char *fixture_tokenizer(void)
{
    static char path[1024];
    const char *dir = getenv("HLM_FIXTURES");
    if (!dir) return NULL;
    snprintf(path, sizeof path, "%s/tokenizer/hf_hyperlm.json", dir);
    return path;
}

static void test_text_source(void **state)
{
    const char *tok_path = fixture_tokenizer();
    if (!tok_path) {
        printf("SKIPPED: HLM_FIXTURES is not set\n");
        skip();
    }
    hlm_tokenizer *tok;
    hlm_error err;
    assert_int_equal(hlm_tokenizer_load(tok_path, -1, &tok, &err), HLM_OK);
    uint32_t eot;
    assert_int_equal(hlm_data_find_eot(tok, &eot, &err), HLM_OK);
    assert_int_equal(eot, 1199);

    static const char *docs[] = {"Hello, world!", "", "안녕하세요 여러분. <|endoftext|> is plain text here",
                                 "tabs\tand\nnewlines \\ \"quotes\""};
    static const char jsonl[] = "{\"text\": \"Hello, world!\"}\n{\"text\": \"\"}\n"
                                "{\"text\": \"안녕하세요 여러분. <|endoftext|> is plain text here\"}\n"
                                "{\"text\": \"tabs\\tand\\nnewlines \\\\ \\\"quotes\\\"\"}\n";
    const char *path = tmp_path("docs.jsonl");
    write_file(path, jsonl, sizeof jsonl - 1);
    hlm_ids want = {0};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(hlm_tokenizer_encode(tok, docs[i], strlen(docs[i]), 0, &want, &err), HLM_OK);
        assert_int_equal(hlm_ids_push(&want, eot), HLM_OK);
    }
    hlm_token_source *src;
    assert_int_equal(hlm_token_source_open(path, tok_path, &src, &err), HLM_OK);
    assert_int_equal(hlm_token_source_length(src), want.len);
    assert_int_equal(hlm_token_source_n_docs(src), 4);
    assert_int_equal(hlm_token_source_vocab_size(src), hlm_tokenizer_vocab_size(tok));
    assert_int_equal(hlm_token_source_eot_id(src), 1199);
    int32_t *got = malloc(want.len * sizeof *got);
    assert_int_equal(hlm_token_source_copy(src, 0, want.len, got), HLM_OK);
    for (size_t i = 0; i < want.len; i++) assert_int_equal(got[i], (int32_t)want.data[i]);
    /* the special token's text inside a document is not the EOT: exactly 4 EOTs */
    size_t eots = 0;
    for (size_t i = 0; i < want.len; i++) eots += got[i] == 1199;
    assert_int_equal(eots, 4);
    hlm_token_source_free(src);

    /* threads do not change the result */
    assert_int_equal(hlm_token_source_open_text(path, tok, NULL, 3, &src, &err), HLM_OK);
    assert_int_equal(hlm_token_source_length(src), want.len);
    hlm_token_source_free(src);

    /* a plain text file is one document */
    const char *text = "First paragraph.\n\nSecond paragraph, 한국어.\n";
    path = tmp_path("doc.txt");
    write_file(path, text, strlen(text));
    want.len = 0;
    assert_int_equal(hlm_tokenizer_encode(tok, text, strlen(text), 0, &want, &err), HLM_OK);
    assert_int_equal(hlm_ids_push(&want, eot), HLM_OK);
    assert_int_equal(hlm_token_source_open(path, tok_path, &src, &err), HLM_OK);
    assert_int_equal(hlm_token_source_n_docs(src), 1);
    assert_int_equal(hlm_token_source_length(src), want.len);
    assert_int_equal(hlm_token_source_copy(src, 0, want.len, got), HLM_OK);
    for (size_t i = 0; i < want.len; i++) assert_int_equal(got[i], (int32_t)want.data[i]);
    hlm_token_source_free(src);

    /* without a tokenizer: a clear error */
    assert_int_equal(hlm_token_source_open(path, NULL, &src, &err), HLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "doc.txt"));
    assert_non_null(strstr(err.msg, "tokenizer"));
    /* a bad JSONL line names the file and line */
    path = tmp_path("bad.jsonl");
    write_file(path, "{\"text\": \"ok\"}\n{\"text\": 5}\n", 27);
    assert_int_equal(hlm_token_source_open(path, tok_path, &src, &err), HLM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "bad.jsonl"));

    /* a tokenizer without <|endoftext|> */
    hlm_bpe_train_opts o;
    hlm_bpe_train_opts_default(&o);
    o.vocab_size = 260;
    o.n_threads = 1;
    hlm_bpe_trainer *tr;
    assert_int_equal(hlm_bpe_trainer_new(&o, &tr, &err), HLM_OK);
    const char *t1 = "aaaa bbbb aaaa bbbb";
    size_t l1 = strlen(t1);
    assert_int_equal(hlm_bpe_trainer_feed(tr, &t1, &l1, 1, &err), HLM_OK);
    hlm_tokenizer *plain;
    assert_int_equal(hlm_bpe_trainer_finish(tr, &plain, &err), HLM_OK);
    hlm_bpe_trainer_free(tr);
    assert_int_equal(hlm_token_source_open_text(tmp_path("doc.txt"), plain, NULL, 1, &src, &err), HLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "<|endoftext|>"));
    assert_non_null(strstr(err.msg, "doc.txt"));
    hlm_tokenizer_free(plain);

    free(got);
    hlm_ids_free(&want);
    hlm_tokenizer_free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequential_matches_llmc),
        cmocka_unit_test(test_permutation),
        cmocka_unit_test(test_shuffled_epochs_are_permutations),
        cmocka_unit_test(test_shuffled_seeds_and_purity),
        cmocka_unit_test(test_loader_config_errors),
        cmocka_unit_test(test_multi_shard),
        cmocka_unit_test(test_text_source),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

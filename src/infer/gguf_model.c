/* HyperLM models <-> GGUF files in llama.cpp's layout (gguf_model.h, docs/gguf.md "Models").
 *
 * One table (model_specs) pairs every GGUF tensor with the Hugging Face parameter it holds and
 * the transformation between them (none, transpose, or llama.cpp's q/k permutation); export and
 * import both walk it, so the two directions cannot disagree on a name or an orientation. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlm/buf.h"
#include "hyperlm/file.h"
#include "infer/gguf.h"
#include "infer/gguf_model.h"
#include "tokenizer/bytelevel.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/tokenizer_internal.h"

/* How a file tensor (rows, cols) relates to the parameter. */
typedef enum map_kind {
    MAP_PLAIN,     /* same layout */
    MAP_TRANSPOSE, /* GPT-2 Conv1D: parameter (in, out), file (out, in) */
    MAP_PERMUTE_Q, /* Llama q_proj: rows permuted per head (n_head heads) */
    MAP_PERMUTE_K, /* Llama k_proj: the same over n_kv_head heads */
} map_kind;

typedef struct spec {
    char gguf[64];
    char hf[80];
    map_kind kind;
    int keep_f32; /* stays f32 whatever the weight type (GPT-2's position embeddings) */
} spec;

static void spec_add(spec *s, int *n, const char *gguf, const char *hf, int layer, map_kind kind, int keep_f32)
{
    spec *p = &s[(*n)++];
    snprintf(p->gguf, sizeof p->gguf, gguf, layer);
    snprintf(p->hf, sizeof p->hf, hf, layer);
    p->kind = kind;
    p->keep_f32 = keep_f32;
}

/* The tensors of cfg in llama.cpp's file order; *n receives the count. */
static spec *model_specs(const hlm_model_config *c, int *n)
{
    spec *s = calloc((size_t)c->n_layer * 12 + 8, sizeof *s);
    if (!s) return NULL;
    *n = 0;
    if (c->arch == HLM_ARCH_GPT2) {
        spec_add(s, n, "token_embd.weight", "transformer.wte.weight", 0, MAP_PLAIN, 0);
        spec_add(s, n, "position_embd.weight", "transformer.wpe.weight", 0, MAP_PLAIN, 1);
        for (int i = 0; i < c->n_layer; i++) {
            spec_add(s, n, "blk.%d.attn_norm.weight", "transformer.h.%d.ln_1.weight", i, MAP_PLAIN, 0);
            spec_add(s, n, "blk.%d.attn_norm.bias", "transformer.h.%d.ln_1.bias", i, MAP_PLAIN, 0);
            spec_add(s, n, "blk.%d.attn_qkv.weight", "transformer.h.%d.attn.c_attn.weight", i, MAP_TRANSPOSE, 0);
            spec_add(s, n, "blk.%d.attn_qkv.bias", "transformer.h.%d.attn.c_attn.bias", i, MAP_PLAIN, 0);
            spec_add(s, n, "blk.%d.attn_output.weight", "transformer.h.%d.attn.c_proj.weight", i, MAP_TRANSPOSE, 0);
            spec_add(s, n, "blk.%d.attn_output.bias", "transformer.h.%d.attn.c_proj.bias", i, MAP_PLAIN, 0);
            spec_add(s, n, "blk.%d.ffn_norm.weight", "transformer.h.%d.ln_2.weight", i, MAP_PLAIN, 0);
            spec_add(s, n, "blk.%d.ffn_norm.bias", "transformer.h.%d.ln_2.bias", i, MAP_PLAIN, 0);
            spec_add(s, n, "blk.%d.ffn_up.weight", "transformer.h.%d.mlp.c_fc.weight", i, MAP_TRANSPOSE, 0);
            spec_add(s, n, "blk.%d.ffn_up.bias", "transformer.h.%d.mlp.c_fc.bias", i, MAP_PLAIN, 0);
            spec_add(s, n, "blk.%d.ffn_down.weight", "transformer.h.%d.mlp.c_proj.weight", i, MAP_TRANSPOSE, 0);
            spec_add(s, n, "blk.%d.ffn_down.bias", "transformer.h.%d.mlp.c_proj.bias", i, MAP_PLAIN, 0);
        }
        spec_add(s, n, "output_norm.weight", "transformer.ln_f.weight", 0, MAP_PLAIN, 0);
        spec_add(s, n, "output_norm.bias", "transformer.ln_f.bias", 0, MAP_PLAIN, 0);
        return s;
    }
    spec_add(s, n, "token_embd.weight", "model.embed_tokens.weight", 0, MAP_PLAIN, 0);
    for (int i = 0; i < c->n_layer; i++) {
        spec_add(s, n, "blk.%d.attn_norm.weight", "model.layers.%d.input_layernorm.weight", i, MAP_PLAIN, 0);
        spec_add(s, n, "blk.%d.attn_q.weight", "model.layers.%d.self_attn.q_proj.weight", i, MAP_PERMUTE_Q, 0);
        spec_add(s, n, "blk.%d.attn_k.weight", "model.layers.%d.self_attn.k_proj.weight", i, MAP_PERMUTE_K, 0);
        spec_add(s, n, "blk.%d.attn_v.weight", "model.layers.%d.self_attn.v_proj.weight", i, MAP_PLAIN, 0);
        spec_add(s, n, "blk.%d.attn_output.weight", "model.layers.%d.self_attn.o_proj.weight", i, MAP_PLAIN, 0);
        spec_add(s, n, "blk.%d.ffn_norm.weight", "model.layers.%d.post_attention_layernorm.weight", i, MAP_PLAIN, 0);
        spec_add(s, n, "blk.%d.ffn_gate.weight", "model.layers.%d.mlp.gate_proj.weight", i, MAP_PLAIN, 0);
        spec_add(s, n, "blk.%d.ffn_up.weight", "model.layers.%d.mlp.up_proj.weight", i, MAP_PLAIN, 0);
        spec_add(s, n, "blk.%d.ffn_down.weight", "model.layers.%d.mlp.down_proj.weight", i, MAP_PLAIN, 0);
    }
    spec_add(s, n, "output_norm.weight", "model.norm.weight", 0, MAP_PLAIN, 0);
    if (!c->tie_embeddings) spec_add(s, n, "output.weight", "lm_head.weight", 0, MAP_PLAIN, 0);
    return s;
}

/* The tensor as the file holds it: rows x cols (1-D: 1 x numel). */
static void file_shape(const hlm_tensor_info *t, map_kind kind, int64_t *rows, int64_t *cols)
{
    if (t->ndim == 1) {
        *rows = 1;
        *cols = t->shape[0];
    } else if (kind == MAP_TRANSPOSE) {
        *rows = t->shape[1];
        *cols = t->shape[0];
    } else {
        *rows = t->shape[0];
        *cols = t->shape[1];
    }
}

/* Parameter p -> file layout f (to_file) or back. Per head of hd rows, llama.cpp's permute
 * (convert_hf_to_gguf.py LlamaModel.permute: reshape(heads, 2, hd/2, cols).swapaxes(1, 2)) puts
 * our row i at 2i and our row hd/2 + i at 2i + 1. */
static void map_rows(float *dst, const float *src, map_kind kind, int64_t rows, int64_t cols, int hd, int to_file)
{
    if (kind == MAP_TRANSPOSE) { /* file (rows, cols) = param (cols, rows)^T */
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) {
                if (to_file) dst[r * cols + c] = src[c * rows + r];
                else dst[c * rows + r] = src[r * cols + c];
            }
        return;
    }
    if (kind == MAP_PLAIN) {
        memcpy(dst, src, (size_t)(rows * cols) * sizeof(float));
        return;
    }
    int half = hd / 2;
    for (int64_t h = 0; h < rows / hd; h++)
        for (int i = 0; i < hd; i++) {
            int64_t ours = h * hd + i, file = h * hd + (i < half ? 2 * i : 2 * (i - half) + 1);
            if (to_file) memcpy(dst + file * cols, src + ours * cols, (size_t)cols * sizeof(float));
            else memcpy(dst + ours * cols, src + file * cols, (size_t)cols * sizeof(float));
        }
}

/* ---- export ---------------------------------------------------------------------------------- */

typedef struct vocab_out {
    char **tokens; /* V strings (owned) */
    int32_t *types;
    char **merges; /* owned */
    size_t n_merges;
    int32_t eot; /* id of <|endoftext|>, -1 */
} vocab_out;

static void vocab_out_free(vocab_out *v, size_t V)
{
    if (v->tokens)
        for (size_t i = 0; i < V; i++) free(v->tokens[i]);
    for (size_t i = 0; i < v->n_merges; i++) free(v->merges[i]);
    free(v->tokens);
    free(v->types);
    free(v->merges);
}

enum { TT_NORMAL = 1, TT_CONTROL = 3, TT_USER_DEFINED = 4, TT_UNUSED = 5 };

/* tokenizer.json -> the strings of tokenizer.ggml.tokens (vocab keys: already in the byte-level
 * alphabet, as llama.cpp's "gpt2" tokenizer expects; added tokens: their text) and merges. */
static hlm_status read_tokenizer_json(const char *path, size_t V, vocab_out *v, hlm_error *err)
{
    memset(v, 0, sizeof *v);
    v->eot = -1;
    hlm_buf b = {0};
    hlm_status s = hlm_file_read_all(path, &b, err);
    if (s) {
        hlm_buf_free(&b);
        return s;
    }
    cJSON *root = cJSON_ParseWithLength((const char *)b.data, b.len);
    hlm_buf_free(&b);
    if (!root) return hlm_errorf(err, HLM_ERR_FORMAT, "%s: not valid JSON", path);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), *e;
    if (!cJSON_IsObject(vocab)) {
        s = hlm_errorf(err, HLM_ERR_FORMAT, "%s: model.vocab: expected an object (a byte-level BPE tokenizer.json)", path);
        goto done;
    }
    v->tokens = calloc(V ? V : 1, sizeof *v->tokens);
    v->types = calloc(V ? V : 1, sizeof *v->types);
    size_t nm = (size_t)cJSON_GetArraySize(merges);
    v->merges = calloc(nm ? nm : 1, sizeof *v->merges);
    if (!v->tokens || !v->types || !v->merges) goto nomem;
    cJSON_ArrayForEach(e, vocab)
    {
        double d = cJSON_IsNumber(e) ? e->valuedouble : -1;
        if (!(d >= 0 && d < (double)V) || d != (double)(size_t)d) {
            s = hlm_errorf(err, HLM_ERR_RANGE, "%s: model.vocab[\"%.40s\"]: id %g is not below the model's vocab_size %zu",
                           path, e->string ? e->string : "", d, V);
            goto done;
        }
        size_t id = (size_t)d;
        free(v->tokens[id]);
        if (!(v->tokens[id] = strdup(e->string ? e->string : ""))) goto nomem;
        v->types[id] = TT_NORMAL;
    }
    cJSON_ArrayForEach(e, added)
    {
        const cJSON *id_j = cJSON_GetObjectItemCaseSensitive(e, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(e, "content");
        const cJSON *special = cJSON_GetObjectItemCaseSensitive(e, "special");
        double d = cJSON_IsNumber(id_j) ? id_j->valuedouble : -1;
        if (!cJSON_IsString(content) || !(d >= 0 && d < (double)V)) {
            s = hlm_errorf(err, HLM_ERR_RANGE, "%s: added_tokens: an entry without content or with an id not below %zu",
                           path, V);
            goto done;
        }
        size_t id = (size_t)d;
        free(v->tokens[id]);
        if (!(v->tokens[id] = strdup(content->valuestring))) goto nomem;
        v->types[id] = cJSON_IsFalse(special) ? TT_USER_DEFINED : TT_CONTROL;
        if (!strcmp(content->valuestring, "<|endoftext|>")) v->eot = (int32_t)id;
    }
    for (size_t i = 0; i < V; i++)
        if (!v->tokens[i]) { /* convert_hf_to_gguf.py pads the same way */
            char pad[32];
            snprintf(pad, sizeof pad, "[PAD%zu]", i);
            if (!(v->tokens[i] = strdup(pad))) goto nomem;
            v->types[i] = TT_UNUSED;
        }
    cJSON_ArrayForEach(e, merges)
    {
        char *m = NULL;
        if (cJSON_IsString(e)) {
            m = strdup(e->valuestring);
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(cJSON_GetArrayItem(e, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(e, 1))) {
            const char *a = cJSON_GetArrayItem(e, 0)->valuestring, *c = cJSON_GetArrayItem(e, 1)->valuestring;
            size_t n = strlen(a) + strlen(c) + 2;
            if ((m = malloc(n))) snprintf(m, n, "%s %s", a, c);
        } else {
            s = hlm_errorf(err, HLM_ERR_FORMAT, "%s: model.merges[%zu]: expected \"a b\" or [\"a\", \"b\"]", path,
                           v->n_merges);
            goto done;
        }
        if (!m) goto nomem;
        v->merges[v->n_merges++] = m;
    }
    s = HLM_OK;
    goto done;
nomem:
    s = hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", path);
done:
    cJSON_Delete(root);
    if (s) {
        vocab_out_free(v, V);
        memset(v, 0, sizeof *v);
    }
    return s;
}

static const char *pre_name(hlm_pattern p)
{
    switch (p) {
    case HLM_PATTERN_CL100K: return "llama-bpe"; /* Llama 3's regex is cl100k's */
    case HLM_PATTERN_O200K: return "gpt-4o";
    default: return "gpt-2";
    }
}

/* The tensor in the file's type; *buf (malloc'd) holds its bytes. */
static hlm_status encode_tensor(const float *x, int64_t rows, int64_t cols, hlm_qtype t, void **buf, size_t *nbytes,
                                hlm_error *err)
{
    size_t row_bytes;
    hlm_status s = hlm_qtype_row_bytes(t, cols, &row_bytes, err);
    if (s) return s;
    *nbytes = row_bytes * (size_t)rows;
    *buf = malloc(*nbytes ? *nbytes : 1);
    if (!*buf) return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
    if (t == HLM_QT_F32) {
        memcpy(*buf, x, *nbytes);
        return HLM_OK;
    }
    for (int64_t r = 0; r < rows && !s; r++)
        s = hlm_quantize_row(t, x + r * cols, (uint8_t *)*buf + (size_t)r * row_bytes, cols, err);
    return s;
}

static hlm_status add_hparams(hlm_gguf_writer *w, const hlm_model_config *c, const char *name, hlm_qtype wtype,
                              hlm_error *err)
{
    const char *arch = c->arch == HLM_ARCH_GPT2 ? "gpt2" : "llama";
    char k[96];
    hlm_status s = hlm_gguf_add_str(w, "general.architecture", arch, err);
    if (!s) s = hlm_gguf_add_str(w, "general.name", name ? name : "hyperlm", err);
#define KEY(suffix) (snprintf(k, sizeof k, "%s.%s", arch, suffix), k)
    if (!s) s = hlm_gguf_add_u32(w, KEY("block_count"), (uint32_t)c->n_layer, err);
    if (!s) s = hlm_gguf_add_u32(w, KEY("context_length"), (uint32_t)c->max_seq, err);
    if (!s) s = hlm_gguf_add_u32(w, KEY("embedding_length"), (uint32_t)c->d_model, err);
    if (!s) s = hlm_gguf_add_u32(w, KEY("feed_forward_length"), (uint32_t)c->d_ff, err);
    if (!s) s = hlm_gguf_add_u32(w, KEY("attention.head_count"), (uint32_t)c->n_head, err);
    if (c->arch == HLM_ARCH_LLAMA) {
        if (!s) s = hlm_gguf_add_u32(w, KEY("attention.head_count_kv"), (uint32_t)c->n_kv_head, err);
        if (!s) s = hlm_gguf_add_f32(w, KEY("rope.freq_base"), c->rope_theta, err);
        if (!s) s = hlm_gguf_add_f32(w, KEY("attention.layer_norm_rms_epsilon"), c->norm_eps, err);
        if (!s) s = hlm_gguf_add_u32(w, KEY("rope.dimension_count"), (uint32_t)c->head_dim, err);
        if (!s) s = hlm_gguf_add_u32(w, KEY("vocab_size"), (uint32_t)c->vocab_size, err);
    } else if (!s) {
        s = hlm_gguf_add_f32(w, KEY("attention.layer_norm_epsilon"), c->norm_eps, err);
    }
#undef KEY
    /* llama_ftype: ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q4_0 2, MOSTLY_Q8_0 7 */
    uint32_t ftype = wtype == HLM_QT_F16 ? 1 : wtype == HLM_QT_Q4_0 ? 2 : wtype == HLM_QT_Q8_0 ? 7 : 0;
    if (!s) s = hlm_gguf_add_u32(w, "general.file_type", ftype, err);
    if (!s && (wtype == HLM_QT_Q4_0 || wtype == HLM_QT_Q8_0))
        s = hlm_gguf_add_u32(w, "general.quantization_version", 2, err);
    return s;
}

static hlm_status add_tokenizer(hlm_gguf_writer *w, const hlm_model_config *c, const char *tokenizer_json,
                                hlm_error *err)
{
    size_t V = (size_t)c->vocab_size;
    vocab_out v;
    hlm_status s = read_tokenizer_json(tokenizer_json, V, &v, err);
    if (s) return s;
    hlm_tokenizer *tok = NULL; /* for the pre-tokenizer pattern, and to check the file loads */
    s = hlm_tokenizer_load(tokenizer_json, -1, &tok, err);
    if (!s) s = hlm_gguf_add_str(w, "tokenizer.ggml.model", "gpt2", err);
    if (!s) s = hlm_gguf_add_str(w, "tokenizer.ggml.pre", pre_name(hlm_tokenizer_pattern(tok)), err);
    if (!s) s = hlm_gguf_add_str_array(w, "tokenizer.ggml.tokens", (const char *const *)v.tokens, NULL, V, err);
    if (!s) s = hlm_gguf_add_array(w, "tokenizer.ggml.token_type", HLM_GGUF_INT32, v.types, V, err);
    if (!s) s = hlm_gguf_add_str_array(w, "tokenizer.ggml.merges", (const char *const *)v.merges, NULL, v.n_merges, err);
    int32_t bos = c->bos_token_id >= 0 ? c->bos_token_id : v.eot, eos = c->eos_token_id >= 0 ? c->eos_token_id : v.eot;
    if (!s && bos >= 0) s = hlm_gguf_add_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)bos, err);
    if (!s && eos >= 0) s = hlm_gguf_add_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eos, err);
    /* HyperLM's generate and sample do not prepend a BOS token; tell llama.cpp the same */
    if (!s) s = hlm_gguf_add_bool(w, "tokenizer.ggml.add_bos_token", 0, err);
    hlm_tokenizer_free(tok);
    vocab_out_free(&v, V);
    return s;
}

hlm_status hlm_gguf_export(hlm_model *m, const char *tokenizer_json, hlm_qtype wtype, const char *name,
                           const char *path, hlm_error *err)
{
    if (wtype != HLM_QT_F32 && wtype != HLM_QT_F16 && wtype != HLM_QT_Q8_0 && wtype != HLM_QT_Q4_0)
        return hlm_errorf(err, HLM_ERR_INVALID, "gguf export: weight type %s: expected f32, f16, q8_0 or q4_0",
                          hlm_qtype_name(wtype));
    const hlm_model_config *c = hlm_model_config_of(m);
    int n = 0;
    spec *sp = model_specs(c, &n);
    hlm_gguf_writer *w = NULL;
    float *tmp = NULL;
    size_t tmp_cap = 0;
    hlm_status s = sp ? hlm_gguf_writer_new(&w, err) : hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", path);
    if (!s) s = add_hparams(w, c, name, wtype, err);
    if (!s) s = add_tokenizer(w, c, tokenizer_json, err);
    const float *params = hlm_model_params(m);
    for (int i = 0; i < n && !s; i++) {
        const hlm_tensor_info *t = hlm_model_find_tensor(m, sp[i].hf);
        if (!t) {
            s = hlm_errorf(err, HLM_ERR_INVALID, "gguf export: the model has no parameter '%s'", sp[i].hf);
            break;
        }
        int64_t rows, cols;
        file_shape(t, sp[i].kind, &rows, &cols);
        const float *x = params + t->offset;
        if (sp[i].kind != MAP_PLAIN) {
            if (t->numel > tmp_cap) {
                free(tmp);
                tmp_cap = t->numel;
                if (!(tmp = malloc(tmp_cap * sizeof *tmp))) {
                    s = hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", path);
                    break;
                }
            }
            map_rows(tmp, x, sp[i].kind, rows, cols, c->head_dim, 1);
            x = tmp;
        }
        hlm_qtype qt = HLM_QT_F32;
        if (t->ndim == 2 && !sp[i].keep_f32 && wtype != HLM_QT_F32)
            qt = wtype == HLM_QT_F16 || cols % HLM_QBLOCK ? HLM_QT_F16 : wtype;
        void *buf = NULL;
        size_t nbytes = 0;
        s = encode_tensor(x, rows, cols, qt, &buf, &nbytes, err);
        uint64_t dims[2] = {(uint64_t)cols, (uint64_t)rows};
        if (!s) s = hlm_gguf_add_tensor(w, sp[i].gguf, (hlm_ggml_type)qt, (uint32_t)t->ndim, dims, buf, nbytes, 1, err);
        free(buf);
    }
    if (!s) s = hlm_gguf_write(w, path, err);
    free(tmp);
    free(sp);
    hlm_gguf_writer_free(w);
    return s;
}

/* ---- import ---------------------------------------------------------------------------------- */

int hlm_gguf_is_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char magic[4] = {0};
    size_t n = fread(magic, 1, 4, f);
    fclose(f);
    return n == 4 && !memcmp(magic, "GGUF", 4);
}

hlm_pattern hlm_gguf_pattern_for_pre(const char *pre, size_t len, int *exact)
{
    static const struct {
        const char *name;
        hlm_pattern p;
        int exact;
    } table[] = {
        {"gpt-2", HLM_PATTERN_GPT2, 1},      {"llama-bpe", HLM_PATTERN_CL100K, 1}, {"llama3", HLM_PATTERN_CL100K, 1},
        {"dbrx", HLM_PATTERN_CL100K, 1},     {"smaug-bpe", HLM_PATTERN_CL100K, 1}, {"gpt-4o", HLM_PATTERN_O200K, 1},
        {"smollm", HLM_PATTERN_GPT2, 0},     {"starcoder", HLM_PATTERN_GPT2, 0},   {"refact", HLM_PATTERN_GPT2, 0},
        {"default", HLM_PATTERN_GPT2, 0},
    };
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (pre && strlen(table[i].name) == len && !memcmp(pre, table[i].name, len)) {
            if (exact) *exact = table[i].exact;
            return table[i].p;
        }
    if (exact) *exact = 0;
    return HLM_PATTERN_GPT2;
}

static hlm_status get_u32_or(const hlm_gguf_file *f, const char *key, uint32_t dflt, uint32_t *out, hlm_error *err)
{
    if (!hlm_gguf_find(f, key)) {
        *out = dflt;
        return HLM_OK;
    }
    return hlm_gguf_get_u32(f, key, out, err);
}

hlm_status hlm_gguf_read_config(const hlm_gguf_file *f, hlm_model_config *c, hlm_error *err)
{
    const char *src = hlm_gguf_source(f);
    memset(c, 0, sizeof *c);
    hlm_gguf_str a;
    hlm_status s = hlm_gguf_get_str(f, "general.architecture", &a, err);
    if (s) return s;
    if (a.len == 5 && !memcmp(a.ptr, "llama", 5)) c->arch = HLM_ARCH_LLAMA;
    else if (a.len == 4 && !memcmp(a.ptr, "gpt2", 4)) c->arch = HLM_ARCH_GPT2;
    else
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: general.architecture: \"%.*s\" is not supported (expected llama or gpt2)",
                          src, (int)(a.len > 40 ? 40 : a.len), a.ptr);
    const char *arch = c->arch == HLM_ARCH_GPT2 ? "gpt2" : "llama";
    char k[96];
    uint32_t v[6];
    static const char *const keys[] = {"block_count", "context_length", "embedding_length", "feed_forward_length",
                                       "attention.head_count"};
    for (int i = 0; i < 5 && !s; i++) {
        snprintf(k, sizeof k, "%s.%s", arch, keys[i]);
        s = hlm_gguf_get_u32(f, k, &v[i], err);
        if (!s && (v[i] == 0 || v[i] > (1u << 24)))
            s = hlm_errorf(err, HLM_ERR_FORMAT, "%s: %s: %u is out of range", src, k, v[i]);
    }
    if (s) return s;
    c->n_layer = (int)v[0];
    c->max_seq = (int)v[1];
    c->d_model = (int)v[2];
    c->d_ff = (int)v[3];
    c->n_head = (int)v[4];
    c->n_kv_head = c->n_head;
    c->head_dim = c->d_model / c->n_head;
    c->init_std = 0.02f;
    c->rope_theta = 10000.0f;
    if (c->arch == HLM_ARCH_LLAMA) {
        snprintf(k, sizeof k, "llama.attention.head_count_kv");
        if ((s = get_u32_or(f, k, v[4], &v[5], err))) return s;
        c->n_kv_head = (int)v[5];
        if (hlm_gguf_find(f, "llama.rope.freq_base") && (s = hlm_gguf_get_f32(f, "llama.rope.freq_base", &c->rope_theta, err)))
            return s;
        if ((s = hlm_gguf_get_f32(f, "llama.attention.layer_norm_rms_epsilon", &c->norm_eps, err))) return s;
        uint32_t rd;
        if ((s = get_u32_or(f, "llama.rope.dimension_count", (uint32_t)c->head_dim, &rd, err))) return s;
        if (rd != (uint32_t)c->head_dim)
            return hlm_errorf(err, HLM_ERR_FORMAT, "%s: llama.rope.dimension_count: %u (partial RoPE) is not supported; "
                              "expected the head size %d", src, rd, c->head_dim);
        uint32_t kl;
        if ((s = get_u32_or(f, "llama.attention.key_length", (uint32_t)c->head_dim, &kl, err))) return s;
        if (kl != (uint32_t)c->head_dim)
            return hlm_errorf(err, HLM_ERR_FORMAT, "%s: llama.attention.key_length: %u is not supported; expected "
                              "embedding_length / head_count = %d", src, kl, c->head_dim);
        const hlm_gguf_kv *sc = hlm_gguf_find(f, "llama.rope.scaling.type");
        hlm_gguf_str st;
        if (sc && (hlm_gguf_get_str(f, "llama.rope.scaling.type", &st, err) ||
                   !(st.len == 4 && !memcmp(st.ptr, "none", 4))))
            return hlm_errorf(err, HLM_ERR_FORMAT, "%s: llama.rope.scaling.type: RoPE scaling is not supported", src);
        if (hlm_gguf_find_tensor(f, "rope_freqs.weight"))
            return hlm_errorf(err, HLM_ERR_FORMAT, "%s: rope_freqs.weight: Llama 3 RoPE frequency scaling is not supported",
                              src);
    } else if ((s = hlm_gguf_get_f32(f, "gpt2.attention.layer_norm_epsilon", &c->norm_eps, err))) {
        return s;
    }
    const hlm_gguf_tensor *emb = hlm_gguf_find_tensor(f, "token_embd.weight");
    if (!emb || emb->n_dims != 2)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: token_embd.weight: missing or not 2-D", src);
    if (emb->dims[1] > (1u << 24)) return hlm_errorf(err, HLM_ERR_FORMAT, "%s: token_embd.weight: vocabulary too large", src);
    c->vocab_size = (int)emb->dims[1];
    c->tie_embeddings = c->arch == HLM_ARCH_GPT2 || !hlm_gguf_find_tensor(f, "output.weight");
    if (c->arch == HLM_ARCH_GPT2 && hlm_gguf_find_tensor(f, "output.weight"))
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: output.weight: HyperLM's GPT-2 always ties the head to token_embd", src);
    int32_t id;
    c->bos_token_id = c->eos_token_id = -1;
    if (hlm_gguf_find(f, "tokenizer.ggml.bos_token_id") && !hlm_gguf_get_i32(f, "tokenizer.ggml.bos_token_id", &id, err))
        c->bos_token_id = id < c->vocab_size ? id : -1;
    if (hlm_gguf_find(f, "tokenizer.ggml.eos_token_id") && !hlm_gguf_get_i32(f, "tokenizer.ggml.eos_token_id", &id, err))
        c->eos_token_id = id < c->vocab_size ? id : -1;
    s = hlm_config_validate(c, err);
    if (s) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: %s", src, msg);
    }
    return HLM_OK;
}

/* The tensor's values as f32 (n values into y). */
static hlm_status dequantize_tensor(const hlm_gguf_file *f, const hlm_gguf_tensor *t, float *y, hlm_error *err)
{
    switch (t->type) {
    case HLM_GGML_F32:
        memcpy(y, t->data, t->n_elems * sizeof(float));
        return HLM_OK;
    case HLM_GGML_BF16: {
        const uint8_t *p = t->data;
        for (uint64_t i = 0; i < t->n_elems; i++) {
            uint32_t u = (uint32_t)(p[2 * i] | p[2 * i + 1] << 8) << 16;
            memcpy(&y[i], &u, 4);
        }
        return HLM_OK;
    }
    case HLM_GGML_F16: case HLM_GGML_Q8_0: case HLM_GGML_Q4_0: case HLM_GGML_Q4_1: case HLM_GGML_Q5_0: case HLM_GGML_Q5_1:
        return hlm_dequantize_row((hlm_qtype)t->type, t->data, y, (int64_t)t->n_elems, err);
    default:
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: tensor '%s': type %s is not supported (F32, F16, BF16, Q8_0, Q4_0, "
                          "Q4_1, Q5_0, Q5_1 are)", hlm_gguf_source(f), t->name,
                          hlm_ggml_type_name(t->type) ? hlm_ggml_type_name(t->type) : "?");
    }
}

static hlm_status load_weights(const hlm_gguf_file *f, hlm_model *m, hlm_error *err)
{
    const hlm_model_config *c = hlm_model_config_of(m);
    const char *src = hlm_gguf_source(f);
    int n = 0;
    spec *sp = model_specs(c, &n);
    if (!sp) return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", src);
    float *params = hlm_model_params(m), *tmp = NULL;
    size_t tmp_cap = 0;
    hlm_status s = HLM_OK;
    for (int i = 0; i < n && !s; i++) {
        const hlm_tensor_info *t = hlm_model_find_tensor(m, sp[i].hf);
        const hlm_gguf_tensor *g = hlm_gguf_find_tensor(f, sp[i].gguf);
        if (!t || !g) {
            s = hlm_errorf(err, HLM_ERR_FORMAT, "%s: tensor '%s' is missing", src, sp[i].gguf);
            break;
        }
        int64_t rows, cols;
        file_shape(t, sp[i].kind, &rows, &cols);
        if (g->n_dims != (uint32_t)t->ndim || g->dims[0] != (uint64_t)cols || (t->ndim == 2 && g->dims[1] != (uint64_t)rows)) {
            if (t->ndim == 2)
                s = hlm_errorf(err, HLM_ERR_FORMAT, "%s: tensor '%s': dims [%llu, %llu], expected [%lld, %lld] from the metadata",
                               src, g->name, (unsigned long long)g->dims[0], (unsigned long long)g->dims[1],
                               (long long)cols, (long long)rows);
            else
                s = hlm_errorf(err, HLM_ERR_FORMAT, "%s: tensor '%s': %u dims of which the first is %llu, expected [%lld]",
                               src, g->name, g->n_dims, (unsigned long long)g->dims[0], (long long)cols);
            break;
        }
        float *dst = params + t->offset;
        if (sp[i].kind == MAP_PLAIN) {
            s = dequantize_tensor(f, g, dst, err);
            continue;
        }
        if (t->numel > tmp_cap) {
            free(tmp);
            tmp_cap = t->numel;
            if (!(tmp = malloc(tmp_cap * sizeof *tmp))) {
                s = hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", src);
                break;
            }
        }
        s = dequantize_tensor(f, g, tmp, err);
        if (!s) map_rows(dst, tmp, sp[i].kind, rows, cols, c->head_dim, 0);
    }
    /* a tensor this mapping does not know (biases of another architecture, ...) would be dropped
     * silently: refuse the file instead */
    for (size_t i = 0; i < hlm_gguf_tensor_count(f) && !s; i++) {
        const char *name = hlm_gguf_tensor_at(f, i)->name;
        int known = 0;
        for (int j = 0; j < n && !known; j++) known = !strcmp(sp[j].gguf, name);
        if (!known) s = hlm_errorf(err, HLM_ERR_FORMAT, "%s: tensor '%s' is not part of a HyperLM %s model", src, name,
                                   c->arch == HLM_ARCH_GPT2 ? "gpt2" : "llama");
    }
    free(tmp);
    free(sp);
    return s;
}

/* An optional token id: absent gives dflt; present, it must be an integer below n. */
static hlm_status get_token_id(const hlm_gguf_file *f, const char *key, size_t n, int64_t dflt, int64_t *out,
                               hlm_error *err)
{
    *out = dflt;
    if (!hlm_gguf_find(f, key)) return HLM_OK;
    hlm_status s = hlm_gguf_get_i64(f, key, out, err);
    if (s) return s;
    if (*out < 0 || (uint64_t)*out >= n)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: %s: %lld; expected a token id below %zu (the number of tokens)",
                          hlm_gguf_source(f), key, (long long)*out, n);
    return HLM_OK;
}

static hlm_status get_bool_or(const hlm_gguf_file *f, const char *key, int dflt, int *out, hlm_error *err)
{
    *out = dflt;
    return hlm_gguf_find(f, key) ? hlm_gguf_get_bool(f, key, out, err) : HLM_OK;
}

/* tokenizer.ggml.model "llama": SentencePiece BPE (src/tokenizer/spm.c) from the pieces, their
 * float32 scores and token types, with llama.cpp's defaults for what is absent (bos 1 when the
 * vocabulary has that id, add_bos_token and add_space_prefix true; token types normal). The
 * scores are required: without them BPE has no order to merge in. */
static hlm_status read_spm_tokenizer(const hlm_gguf_file *f, hlm_tokenizer **out, hlm_error *err)
{
    const char *src = hlm_gguf_source(f);
    const hlm_gguf_kv *tokens, *scores, *types = NULL;
    hlm_status s = hlm_gguf_get_array(f, "tokenizer.ggml.tokens", HLM_GGUF_STRING, &tokens, err);
    if (s) return s;
    size_t n = (size_t)tokens->count;
    if (!hlm_gguf_find(f, "tokenizer.ggml.scores"))
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: tokenizer.ggml.scores: missing; a SentencePiece vocabulary needs one "
                          "float32 score per token", src);
    if ((s = hlm_gguf_get_array(f, "tokenizer.ggml.scores", HLM_GGUF_FLOAT32, &scores, err))) return s;
    if (scores->count != tokens->count)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: tokenizer.ggml.scores: %llu scores; expected one per token (%zu)", src,
                          (unsigned long long)scores->count, n);
    if ((types = hlm_gguf_find(f, "tokenizer.ggml.token_type"))) {
        hlm_gguf_type et = types->elem_type;
        if (types->type != HLM_GGUF_ARRAY || types->count != tokens->count ||
            !(et == HLM_GGUF_INT32 || et == HLM_GGUF_UINT32 || et == HLM_GGUF_INT8 || et == HLM_GGUF_UINT8 ||
              et == HLM_GGUF_INT16 || et == HLM_GGUF_UINT16 || et == HLM_GGUF_INT64 || et == HLM_GGUF_UINT64))
            return hlm_errorf(err, HLM_ERR_FORMAT, "%s: tokenizer.ggml.token_type: expected an array of %zu integers", src,
                              n);
    }
    int64_t bos, eos, unk, pad;
    int add_bos, add_prefix;
    if ((s = get_token_id(f, "tokenizer.ggml.bos_token_id", n, n > 1 ? 1 : -1, &bos, err)) ||
        (s = get_token_id(f, "tokenizer.ggml.eos_token_id", n, -1, &eos, err)) ||
        (s = get_token_id(f, "tokenizer.ggml.unknown_token_id", n, -1, &unk, err)) ||
        (s = get_token_id(f, "tokenizer.ggml.padding_token_id", n, -1, &pad, err)) ||
        (s = get_bool_or(f, "tokenizer.ggml.add_bos_token", 1, &add_bos, err)) ||
        (s = get_bool_or(f, "tokenizer.ggml.add_space_prefix", 1, &add_prefix, err)))
        return s;
    const char **pieces = malloc((n ? n : 1) * sizeof *pieces);
    size_t *lens = malloc((n ? n : 1) * sizeof *lens);
    float *sc = malloc((n ? n : 1) * sizeof *sc);
    int32_t *ty = types ? malloc((n ? n : 1) * sizeof *ty) : NULL;
    if (!pieces || !lens || !sc || (types && !ty)) {
        s = hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory for %zu tokens", src, n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        hlm_gguf_str p = hlm_gguf_arr_str(tokens, i);
        pieces[i] = p.ptr;
        lens[i] = (size_t)p.len;
        sc[i] = (float)hlm_gguf_kv_elem(scores, i).f;
        if (ty) {
            hlm_gguf_value tv = hlm_gguf_kv_elem(types, i);
            int signed_type = tv.type == HLM_GGUF_INT8 || tv.type == HLM_GGUF_INT16 || tv.type == HLM_GGUF_INT32 ||
                              tv.type == HLM_GGUF_INT64;
            int64_t v = signed_type ? tv.i : tv.u > INT32_MAX ? INT32_MAX : (int64_t)tv.u;
            ty[i] = v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : (int32_t)v;
        }
    }
    hlm_spm_vocab v = {n, pieces, lens, sc, ty, bos, unk, add_bos, add_prefix};
    char what[600];
    snprintf(what, sizeof what, "%s: tokenizer.ggml", src);
    s = hlm_tokenizer_from_spm(&v, what, out, err);
done:
    free(pieces);
    free(lens);
    free(sc);
    free(ty);
    return s;
}

/* tokenizer.ggml.* -> a tokenizer.json text that our loader reads (Hugging Face semantics: the
 * listed merges in order; control and user-defined tokens become added tokens; unused ones, the
 * converters' padding, are left out, so that the tokenizer's vocabulary ends where it really
 * ends and nothing samples them). */
hlm_status hlm_gguf_read_tokenizer(const hlm_gguf_file *f, hlm_tokenizer **out, hlm_error *err)
{
    const char *src = hlm_gguf_source(f);
    hlm_gguf_str model;
    hlm_status s = hlm_gguf_get_str(f, "tokenizer.ggml.model", &model, err);
    if (s) return s;
    if (model.len == 5 && !memcmp(model.ptr, "llama", 5)) return read_spm_tokenizer(f, out, err);
    if (!(model.len == 4 && !memcmp(model.ptr, "gpt2", 4)))
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: tokenizer.ggml.model \"%.*s\" is not supported; expected \"gpt2\" "
                          "(byte-level BPE) or \"llama\" (SentencePiece)", src, (int)(model.len > 40 ? 40 : model.len),
                          model.ptr);
    const hlm_gguf_kv *tokens, *merges = NULL, *types = NULL;
    if ((s = hlm_gguf_get_array(f, "tokenizer.ggml.tokens", HLM_GGUF_STRING, &tokens, err))) return s;
    if (hlm_gguf_find(f, "tokenizer.ggml.merges") &&
        (s = hlm_gguf_get_array(f, "tokenizer.ggml.merges", HLM_GGUF_STRING, &merges, err)))
        return s;
    if (hlm_gguf_find(f, "tokenizer.ggml.token_type")) {
        types = hlm_gguf_find(f, "tokenizer.ggml.token_type");
        if (types->type != HLM_GGUF_ARRAY || types->count != tokens->count)
            return hlm_errorf(err, HLM_ERR_FORMAT, "%s: tokenizer.ggml.token_type: expected an array of %llu integers", src,
                              (unsigned long long)tokens->count);
    }
    hlm_gguf_str pre = {"gpt-2", 5};
    if (hlm_gguf_find(f, "tokenizer.ggml.pre") && (s = hlm_gguf_get_str(f, "tokenizer.ggml.pre", &pre, err))) return s;
    hlm_pattern pattern = hlm_gguf_pattern_for_pre(pre.ptr, pre.len, NULL);

    cJSON *root = cJSON_CreateObject(), *mo = cJSON_AddObjectToObject(root, "model");
    cJSON *vocab = cJSON_AddObjectToObject(mo, "vocab"), *ml = cJSON_AddArrayToObject(mo, "merges");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens"), *pt = cJSON_AddObjectToObject(root, "pre_tokenizer");
    int ok = root && mo && vocab && ml && added && pt && cJSON_AddStringToObject(mo, "type", "BPE");
    if (ok && pattern == HLM_PATTERN_GPT2) {
        ok = cJSON_AddStringToObject(pt, "type", "ByteLevel") && cJSON_AddFalseToObject(pt, "add_prefix_space") &&
             cJSON_AddTrueToObject(pt, "use_regex");
    } else if (ok) {
        cJSON *list = cJSON_AddArrayToObject(pt, "pretokenizers"), *split = cJSON_CreateObject(), *bl = cJSON_CreateObject();
        cJSON *pat = split ? cJSON_AddObjectToObject(split, "pattern") : NULL;
        ok = cJSON_AddStringToObject(pt, "type", "Sequence") && list && split && bl && pat &&
             cJSON_AddStringToObject(split, "type", "Split") && cJSON_AddStringToObject(pat, "Regex", hlm_pattern_regex(pattern)) &&
             cJSON_AddStringToObject(split, "behavior", "Isolated") && cJSON_AddFalseToObject(split, "invert") &&
             cJSON_AddStringToObject(bl, "type", "ByteLevel") && cJSON_AddFalseToObject(bl, "add_prefix_space") &&
             cJSON_AddFalseToObject(bl, "use_regex");
        if (list && split) cJSON_AddItemToArray(list, split);
        else cJSON_Delete(split);
        if (list && bl) cJSON_AddItemToArray(list, bl);
        else cJSON_Delete(bl);
    }
    /* byte-level strings of the 256 single bytes, to find those the vocabulary lacks */
    char byte_str[256][3];
    int have_byte[256] = {0};
    for (int b = 0; b < 256; b++) {
        uint32_t cp = hlm_bytelevel_char((uint8_t)b);
        if (cp < 0x80) byte_str[b][0] = (char)cp, byte_str[b][1] = 0;
        else byte_str[b][0] = (char)(0xC0 | cp >> 6), byte_str[b][1] = (char)(0x80 | (cp & 0x3F)), byte_str[b][2] = 0;
    }
    char *text = NULL;
    for (uint64_t i = 0; ok && i < tokens->count; i++) {
        hlm_gguf_str t = hlm_gguf_arr_str(tokens, i);
        if (!t.len || memchr(t.ptr, 0, t.len)) {
            cJSON_Delete(root);
            return hlm_errorf(err, HLM_ERR_FORMAT, "%s: tokenizer.ggml.tokens[%llu]: empty or holds a NUL byte", src,
                              (unsigned long long)i);
        }
        char *str = strndup(t.ptr, t.len);
        int64_t type = TT_NORMAL;
        if (types) {
            hlm_gguf_value tv = hlm_gguf_kv_elem(types, i);
            type = tv.type == HLM_GGUF_INT32 || tv.type == HLM_GGUF_INT64 || tv.type == HLM_GGUF_INT8 ||
                           tv.type == HLM_GGUF_INT16 ? tv.i : (int64_t)tv.u;
        }
        if (!str) {
            ok = 0;
            break;
        }
        if (type == TT_UNUSED) {
            /* padding ("[PADn]" from the converters): a hole, as in the tokenizer.json exported */
        } else if (type == TT_NORMAL) {
            ok = cJSON_AddNumberToObject(vocab, str, (double)i) != NULL;
            if (t.len <= 2)
                for (int b = 0; b < 256; b++)
                    if (!strcmp(str, byte_str[b])) have_byte[b] = 1;
        } else {
            cJSON *a = cJSON_CreateObject();
            ok = a && cJSON_AddNumberToObject(a, "id", (double)i) && cJSON_AddStringToObject(a, "content", str) &&
                 cJSON_AddBoolToObject(a, "special", type != TT_USER_DEFINED);
            if (a) cJSON_AddItemToArray(added, a);
        }
        free(str);
    }
    /* Our tokenizer needs every byte as a token (so that every input encodes); vocabularies such
     * as SmolLM2's lack a few control bytes. Those get ids after the file's tokens: outside the
     * model's vocabulary, so a prompt holding one fails cleanly instead of running a wrong id. */
    uint64_t next_id = tokens->count;
    for (int b = 0; ok && b < 256; b++)
        if (!have_byte[b]) ok = cJSON_AddNumberToObject(vocab, byte_str[b], (double)next_id++) != NULL;
    for (uint64_t i = 0; ok && merges && i < merges->count; i++) {
        hlm_gguf_str mstr = hlm_gguf_arr_str(merges, i);
        char *str = strndup(mstr.ptr, mstr.len);
        cJSON *js = str ? cJSON_CreateString(str) : NULL;
        ok = js != NULL;
        if (js) cJSON_AddItemToArray(ml, js);
        free(str);
    }
    if (ok) ok = (text = cJSON_PrintUnformatted(root)) != NULL;
    cJSON_Delete(root);
    if (!ok) {
        free(text);
        return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", src);
    }
    char name[600];
    snprintf(name, sizeof name, "%s: tokenizer.ggml", src);
    s = hlm_tokenizer_load_memory(text, strlen(text), name, (int)pattern, out, err);
    free(text);
    return s;
}

hlm_status hlm_gguf_import(const char *path, hlm_model **model, hlm_tokenizer **tok, hlm_error *err)
{
    *model = NULL;
    if (tok) *tok = NULL;
    hlm_gguf_file *f = NULL;
    hlm_status s = hlm_gguf_open(path, &f, err);
    if (s) return s;
    hlm_model_config cfg;
    hlm_model *m = NULL;
    s = hlm_gguf_read_config(f, &cfg, err);
    if (!s) s = hlm_model_create(&cfg, &m, err);
    if (!s) {
        hlm_model_free_grads(m);
        s = load_weights(f, m, err);
    }
    if (!s && tok) s = hlm_gguf_read_tokenizer(f, tok, err);
    hlm_gguf_close(f);
    if (s) {
        hlm_model_free(m);
        return s;
    }
    *model = m;
    return HLM_OK;
}

/* hyperlm model SUBCOMMAND: info (here) and init (model_init.c).
 *
 * `model info` answers "what would training this cost" before anything is allocated: the shape,
 * parameter counts, FLOPs per token (PaLM's convention, see hlm_config_flops_per_token) and the
 * fp32 memory of one training step with AdamW. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "hyperlm/model.h"

int cmd_model_init(int argc, char **argv); /* model_init.c */
static int cmd_model_info(int argc, char **argv);

static const cli_command model_commands[] = {
    {"info", cmd_model_info, "shape, parameters, FLOPs per token and training memory of a model"},
    {"init", cmd_model_init, "write a freshly initialized model (config.json + model.safetensors)"},
};

int cli_model(int argc, char **argv)
{
    static const char note[] =
        "\nMODEL is a preset name (`hyperlm model info --list`), a Hugging Face config.json, or a\n"
        "folder holding one. `hyperlm model COMMAND --help` lists a command's flags.\n";
    return cli_dispatch("model", model_commands, sizeof model_commands / sizeof *model_commands, note, argc, argv);
}

/* ---- formatting ---- */

/* 124439808 -> "124,439,808" */
static const char *with_commas(unsigned long long v, char *buf, size_t n)
{
    char digits[32];
    int k = snprintf(digits, sizeof digits, "%llu", v), j = 0;
    for (int i = 0; i < k && (size_t)j + 2 < n; i++) {
        if (i && (k - i) % 3 == 0) buf[j++] = ',';
        buf[j++] = digits[i];
    }
    buf[j] = 0;
    return buf;
}

/* 124439808 -> "124.4M" (decimal prefixes, as parameter counts and FLOPs are quoted) */
static const char *short_count(double v, const char *unit, char *buf, size_t n)
{
    static const char *prefix[] = {"", "K", "M", "B", "T", "P", "E"};
    int p = 0;
    while (v >= 999.95 && p < 6) {
        v /= 1000;
        p++;
    }
    snprintf(buf, n, p ? "%.1f%s%s" : "%.0f%s%s", v, prefix[p], unit);
    return buf;
}

/* bytes -> "474.7 MiB" */
static const char *bytes_str(double v, char *buf, size_t n)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;
    while (v >= 1023.95 && u < 5) {
        v /= 1024;
        u++;
    }
    snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
    return buf;
}

/* FLOPs use prefixes M, G, T, ... of FLOP */
static const char *flops_str(double v, char *buf, size_t n)
{
    static const char *prefix[] = {"", "K", "M", "G", "T", "P", "E"};
    int p = 0;
    while (v >= 999.95 && p < 6) {
        v /= 1000;
        p++;
    }
    snprintf(buf, n, "%.2f %sFLOP", v, prefix[p]);
    return buf;
}

/* ---- model info ---- */

static void info_usage(FILE *f)
{
    fprintf(f,
            "usage: hyperlm model info MODEL [--batch B] [--seq T]\n"
            "       hyperlm model info --list\n\n"
            "Prints the architecture and shape of MODEL (a preset, a Hugging Face config.json or a\n"
            "folder holding one), its parameter count (total, and without the token and position\n"
            "embeddings), forward and training FLOPs per token (PaLM's 6N + 12LHQT convention) and the\n"
            "fp32 memory of one training step with AdamW at batch B x T tokens.\n\n"
            "options:\n"
            "  --batch B   sequences per step for the memory estimate (default 4)\n"
            "  --seq T     tokens per sequence (default: 1024, or the context length if smaller)\n"
            "  --list      list the presets with their parameter counts\n"
            "  -h, --help  this help\n");
}

static int info_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "hyperlm: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see hyperlm model info --help)\n");
    return CLI_USAGE;
}

static int list_presets(void)
{
    const char *const *names = hlm_config_preset_names();
    printf("%-12s %-6s %18s %8s  %s\n", "preset", "arch", "parameters", "", "shape");
    for (int i = 0; names[i]; i++) {
        hlm_model_config c;
        hlm_error err;
        if (hlm_config_preset(names[i], &c, &err)) return cli_report(&err);
        char a[32], b[32];
        size_t n = hlm_config_num_params(&c);
        printf("%-12s %-6s %18s %8s  L%d d%d H%d", names[i], c.arch == HLM_ARCH_GPT2 ? "gpt2" : "llama",
               with_commas(n, a, sizeof a), short_count((double)n, "", b, sizeof b), c.n_layer, c.d_model,
               c.n_head);
        if (c.n_kv_head != c.n_head) printf(" KV%d", c.n_kv_head);
        printf(" ff%d V%d ctx%d\n", c.d_ff, c.vocab_size, c.max_seq);
    }
    return CLI_OK;
}

static int is_embedding(const char *name)
{
    return !strcmp(name, "transformer.wte.weight") || !strcmp(name, "transformer.wpe.weight") ||
           !strcmp(name, "model.embed_tokens.weight");
}

static int print_info(const char *model, const hlm_model_config *c, int B, int T)
{
    hlm_error err;
    hlm_tensor_info *t;
    int n;
    if (hlm_config_tensors(c, &t, &n, &err)) return cli_report(&err);
    size_t total = 0, embedding = 0, floats = t[n - 1].offset + t[n - 1].numel;
    for (int i = 0; i < n; i++) {
        total += t[i].numel;
        if (is_embedding(t[i].name)) embedding += t[i].numel;
    }
    free(t);
    int gpt2 = c->arch == HLM_ARCH_GPT2;
    char a[48], b[48], d[48];
    printf("model          %s\n", model);
    printf("architecture   %s (%s)\n", gpt2 ? "gpt2" : "llama", gpt2 ? "GPT2LMHeadModel" : "LlamaForCausalLM");
    printf("layers         %d\n", c->n_layer);
    printf("d_model        %d\n", c->d_model);
    if (c->n_kv_head != c->n_head)
        printf("heads          %d (head_dim %d), %d key/value heads\n", c->n_head, c->head_dim, c->n_kv_head);
    else
        printf("heads          %d (head_dim %d)\n", c->n_head, c->head_dim);
    printf("d_ff           %d (%s)\n", c->d_ff, gpt2 ? "GELU" : "SwiGLU");
    printf("vocabulary     %d\n", c->vocab_size);
    printf("context        %d (%s)\n", c->max_seq, gpt2 ? "learned positions" : "RoPE");
    if (!gpt2) printf("rope_theta     %g\n", c->rope_theta);
    printf("norm           %s, eps %g\n", gpt2 ? "LayerNorm" : "RMSNorm", c->norm_eps);
    printf("lm_head        %s\n", c->tie_embeddings ? "tied to the token embedding" : "separate");
    printf("parameters     %s (%s)\n", with_commas(total, a, sizeof a), short_count((double)total, "", b, sizeof b));
    printf("non-embedding  %s (%s)\n", with_commas(total - embedding, a, sizeof a),
           short_count((double)(total - embedding), "", b, sizeof b));
    double fwd = hlm_config_flops_per_token(c, T);
    printf("FLOPs/token    forward %s, training %s (3x) at T=%d\n", flops_str(fwd, a, sizeof a),
           flops_str(3 * fwd, b, sizeof b), T);

    double w = (double)floats * sizeof(float), act = (double)hlm_model_activation_bytes(c, B, T);
    printf("training memory at B=%d, T=%d (fp32, AdamW):\n", B, T);
    printf("  weights      %s\n", bytes_str(w, a, sizeof a));
    printf("  gradients    %s\n", bytes_str(w, a, sizeof a));
    printf("  AdamW m, v   %s\n", bytes_str(2 * w, a, sizeof a));
    printf("  activations  %s\n", bytes_str(act, a, sizeof a));
    printf("  total        %s\n", bytes_str(4 * w + act, d, sizeof d));
    return CLI_OK;
}

static int cmd_model_info(int argc, char **argv)
{
    const char *model = NULL;
    unsigned long long batch = 4, seq = 0;
    int list = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            info_usage(stdout);
            return CLI_OK;
        } else if (!strcmp(a, "--list")) {
            list = 1;
        } else if (!strncmp(a, "--batch", 7) || !strncmp(a, "--seq", 5)) {
            /* --batch B or --batch=B */
            const char *flag = a[2] == 'b' ? "--batch" : "--seq", *rest = a + strlen(flag), *value;
            if (*rest == '=')
                value = rest + 1;
            else if (*rest)
                return info_error("unknown option '%s'", a);
            else if (i + 1 >= argc)
                return info_error("%s: missing value", flag);
            else
                value = argv[++i];
            unsigned long long *v = a[2] == 'b' ? &batch : &seq;
            if (!cli_parse_u64(flag, value, 1 << 24, v)) return CLI_USAGE;
            if (*v == 0) return info_error("%s: expected a positive integer", flag);
        } else if (a[0] == '-' && a[1]) {
            return info_error("unknown option '%s'", a);
        } else if (model) {
            return info_error("one MODEL expected, got also '%s'", a);
        } else {
            model = a;
        }
    }
    if (list) return list_presets();
    if (!model) return info_error("%s", "MODEL missing: a preset, a config.json or a folder holding one");
    hlm_model_config c;
    hlm_error err;
    if (hlm_config_resolve(model, &c, &err)) return cli_report(&err);
    if (!seq) seq = c.max_seq < 1024 ? (unsigned long long)c.max_seq : 1024;
    if (seq > (unsigned long long)c.max_seq) {
        fprintf(stderr, "hyperlm: error: --seq %llu is longer than the model's context (%d)\n", seq, c.max_seq);
        return CLI_USAGE;
    }
    return print_info(model, &c, (int)batch, (int)seq);
}

/* hyperlm: one command for the whole chain. Subcommands are dispatched from this table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "hyperlm/log.h"

static const cli_command subcommands[] = {
    {"tokenizer", cli_tokenizer, "train, inspect and run byte-level BPE tokenizers"},
    {"train", cli_train, "pretrain a GPT-2 or Llama model (checkpoints, metrics, resume)"},
    {"sample", cli_sample, "print sampled continuations from a checkpoint"},
    {"generate", cli_generate, "stream a continuation with the inference engine (KV cache, q8_0/q4_0)"},
    {"chat", cli_chat, "chat with a model on standard input (chat templates, KV cache kept across turns)"},
    {"eval", cli_eval, "perplexity, bits per byte and task accuracy, f32 against q8_0/q4_0"},
    {"model", cli_model, "inspect model shapes and costs; create initialized models"},
    {"data", cli_data, "token shards: tokenize text into train/validation shards, inspect them"},
    {"plan", cli_plan, "plan training on a GPU cluster: FLOPs, memory per GPU, fastest layout, days"},
    {"gguf", cli_gguf, "GGUF files (llama.cpp): inspect their metadata and tensors"},
    {"serve", cli_serve, "serve a model over HTTP with OpenAI's API (continuous batching, chat page)"},
    {"quantize", cli_quantize, "export a checkpoint to GGUF for llama.cpp (f32, f16, q8_0, q4_0)"},
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hyperlm [--log-level error|warn|info|debug] COMMAND [ARGS...]\n\n"
            "HyperLM: data -> tokenizer -> training -> inference -> serving, in one command.\n\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof subcommands / sizeof *subcommands; i++)
        fprintf(f, "  %-12s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(f,
            "\noptions:\n"
            "  --log-level L  error, warn, info or debug (default: info, or $HYPERLM_LOG)\n"
            "  -q, --quiet    same as --log-level warn\n"
            "  --version      print the version\n"
            "  -h, --help     this help; `hyperlm COMMAND --help` lists a command's flags\n");
}

int cli_report(const hlm_error *err)
{
    fprintf(stderr, "hyperlm: error: %s\n", err->msg[0] ? err->msg : hlm_status_name(err->code));
    return err->code == HLM_ERR_INVALID ? CLI_USAGE : CLI_FAIL;
}

static void group_usage(FILE *f, const char *group, const cli_command *commands, size_t n, const char *note)
{
    int width = 0;
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(commands[i].name) > width) width = (int)strlen(commands[i].name);
    fprintf(f, "usage: hyperlm %s COMMAND [ARGS...]\n\ncommands:\n", group);
    for (size_t i = 0; i < n; i++) fprintf(f, "  %-*s %s\n", width + 2, commands[i].name, commands[i].summary);
    if (note) fputs(note, f);
}

int cli_dispatch(const char *group, const cli_command *commands, size_t n, const char *note, int argc, char **argv)
{
    if (argc < 2) {
        group_usage(stderr, group, commands, n, note);
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        group_usage(stdout, group, commands, n, note);
        return CLI_OK;
    }
    for (size_t i = 0; i < n; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "hyperlm: error: unknown %s command '%s' (see hyperlm %s --help)\n", group, argv[1], group);
    return CLI_USAGE;
}

int cli_usage_error(const char *command, const char *fmt, const char *arg)
{
    fprintf(stderr, "hyperlm: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see hyperlm %s --help)\n", command);
    return CLI_USAGE;
}

int cli_flag_is(const char *arg, const char *flag)
{
    size_t n = strlen(flag);
    return !strncmp(arg, flag, n) && (arg[n] == 0 || arg[n] == '=');
}

const char *cli_flag_value(const char *command, int argc, char **argv, int *i, const char *flag)
{
    const char *a = argv[*i], *eq = a[1] == '-' ? strchr(a, '=') : NULL;
    if (eq) return eq + 1;
    if (*i + 1 >= argc) {
        cli_usage_error(command, "%s: missing value", flag);
        return NULL;
    }
    return argv[++*i];
}

hlm_status cli_make_dirs(const char *dir, hlm_error *err)
{
    char *p = strdup(dir);
    if (!p) return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
    for (char *s = p + 1;; s++) {
        int last = *s == 0;
        if (*s == '/' || last) {
            *s = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                hlm_status st = hlm_errorf(err, HLM_ERR_IO, "%s: cannot create folder: %s", p, strerror(errno));
                free(p);
                return st;
            }
            if (last) break;
            *s = '/';
        }
    }
    free(p);
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return hlm_errorf(err, HLM_ERR_IO, "%s: not a folder", dir);
    return HLM_OK;
}

int cli_parse_u64(const char *flag, const char *value, unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    if (!value || !*value || *value == '-') goto bad;
    unsigned long long v = strtoull(value, &end, 10);
    if (errno || *end || v > max) goto bad;
    *out = v;
    return 1;
bad:
    fprintf(stderr, "hyperlm: error: %s: expected an integer in 0..%llu, got '%s'\n", flag, max,
            value ? value : "");
    return 0;
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return CLI_OK;
        } else if (!strcmp(argv[i], "--version")) {
            printf("hyperlm 0.1.0\n");
            return CLI_OK;
        } else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
            hlm_log_set_level(HLM_LOG_WARN);
        } else if (!strcmp(argv[i], "--log-level") && i + 1 < argc) {
            hlm_log_level l;
            if (!hlm_log_level_from_name(argv[++i], &l)) {
                fprintf(stderr, "hyperlm: error: --log-level: expected error, warn, info or debug, got '%s'\n",
                        argv[i]);
                return CLI_USAGE;
            }
            hlm_log_set_level(l);
        } else {
            fprintf(stderr, "hyperlm: error: unknown option '%s' (see hyperlm --help)\n", argv[i]);
            return CLI_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return CLI_USAGE;
    }
    for (size_t k = 0; k < sizeof subcommands / sizeof *subcommands; k++)
        if (!strcmp(argv[i], subcommands[k].name)) return subcommands[k].run(argc - i, argv + i);
    fprintf(stderr, "hyperlm: error: unknown command '%s' (see hyperlm --help)\n", argv[i]);
    return CLI_USAGE;
}

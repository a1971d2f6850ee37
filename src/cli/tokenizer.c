/* hyperlm tokenizer SUBCOMMAND: dispatch to train (tokenizer_train.c) and to encode, decode and
 * stats (tokenizer_codec.c). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/tokenizer.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} tokenizer_commands[] = {
    {"train", cli_tokenizer_train, "learn a byte-level BPE tokenizer from text, JSONL or TSV"},
    {"encode", cli_tokenizer_encode, "text to token ids"},
    {"decode", cli_tokenizer_decode, "token ids to text"},
    {"stats", cli_tokenizer_stats, "compression statistics of a tokenizer on text"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: hyperlm tokenizer COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof tokenizer_commands / sizeof *tokenizer_commands; i++)
        fprintf(f, "  %-8s %s\n", tokenizer_commands[i].name, tokenizer_commands[i].summary);
    fprintf(f, "\n`hyperlm tokenizer COMMAND --help` lists a command's flags and their defaults.\n");
}

int cli_tokenizer(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(stdout);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof tokenizer_commands / sizeof *tokenizer_commands; i++)
        if (!strcmp(argv[1], tokenizer_commands[i].name)) return tokenizer_commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "hyperlm: error: unknown tokenizer command '%s' (see hyperlm tokenizer --help)\n", argv[1]);
    return CLI_USAGE;
}

/* hyperlm tokenizer SUBCOMMAND: dispatch to train (tokenizer_train.c) and to encode, decode and
 * stats (tokenizer_codec.c). */

#include "cli/cli.h"
#include "cli/tokenizer.h"

static const cli_command tokenizer_commands[] = {
    {"train", cli_tokenizer_train, "learn a byte-level BPE tokenizer from text, JSONL or TSV"},
    {"encode", cli_tokenizer_encode, "text to token ids"},
    {"decode", cli_tokenizer_decode, "token ids to text"},
    {"stats", cli_tokenizer_stats, "compression statistics of a tokenizer on text"},
};

int cli_tokenizer(int argc, char **argv)
{
    static const char note[] =
        "\n`hyperlm tokenizer COMMAND --help` lists a command's flags and their defaults.\n";
    return cli_dispatch("tokenizer", tokenizer_commands, sizeof tokenizer_commands / sizeof *tokenizer_commands,
                        note, argc, argv);
}

/* Shared pieces of the command-line front end. Each subcommand lives in its own file and exports
 * one entry point; cli/ is the only place that prints errors and chooses exit codes. */
#ifndef HLM_CLI_H
#define HLM_CLI_H

#include <stddef.h>

#include "hyperlm/error.h"

/* Exit codes: 0 ok, 1 runtime failure (bad file, bad data), 2 usage error (unknown flag, bad value). */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

int cli_tokenizer(int argc, char **argv);
int cli_data(int argc, char **argv);
/* `hyperlm data` commands (data.c, data_prepare.c); prepare calls tokenize for its shards. */
int cli_data_tokenize(int argc, char **argv);
int cli_data_prepare(int argc, char **argv);
int cli_data_extract(int argc, char **argv);
int cli_data_clean(int argc, char **argv);
int cli_data_dedup(int argc, char **argv);
int cli_model(int argc, char **argv);
int cli_train(int argc, char **argv);
int cli_sample(int argc, char **argv);
int cli_generate(int argc, char **argv);
int cli_chat(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_plan(int argc, char **argv);
int cli_gguf(int argc, char **argv);
int cli_quantize(int argc, char **argv);
int cli_serve(int argc, char **argv);

/* Prints "hyperlm: error: MSG" and returns CLI_FAIL (or CLI_USAGE for HLM_ERR_INVALID). */
int cli_report(const hlm_error *err);
/* A command group (`hyperlm tokenizer ...`, `hyperlm data ...`): a table of commands. */
typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} cli_command;
/* Runs the command argv[1] names with (argc - 1, argv + 1); with no command or -h/--help prints
 * the group's usage (the command list, then note if not NULL). */
int cli_dispatch(const char *group, const cli_command *commands, size_t n, const char *note, int argc, char **argv);

/* Flag parsing shared by the subcommands. command is the full command ("data tokenize"), named in
 * the hint "(see hyperlm COMMAND --help)". */
/* Prints "hyperlm: error: " fmt(arg) and the hint; returns CLI_USAGE. */
int cli_usage_error(const char *command, const char *fmt, const char *arg);
/* arg is flag, or flag=VALUE. */
int cli_flag_is(const char *arg, const char *flag);
/* The value of the flag at argv[*i]: --flag=VALUE, or the next argument (advancing *i). NULL after
 * printing a usage error when it is missing. */
const char *cli_flag_value(const char *command, int argc, char **argv, int *i, const char *flag);
/* mkdir -p: creates dir and its missing parents; an error names the part that failed. */
hlm_status cli_make_dirs(const char *dir, hlm_error *err);
/* Parses a non-negative integer flag value; prints a usage error naming the flag on failure. */
int cli_parse_u64(const char *flag, const char *value, unsigned long long max, unsigned long long *out);

#endif

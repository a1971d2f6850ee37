/* Shared pieces of the command-line front end. Each subcommand lives in its own file and exports
 * one entry point; cli/ is the only place that prints errors and chooses exit codes. */
#ifndef HLM_CLI_H
#define HLM_CLI_H

#include "hyperlm/error.h"

/* Exit codes: 0 ok, 1 runtime failure (bad file, bad data), 2 usage error (unknown flag, bad value). */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

int cli_tokenizer(int argc, char **argv);
int cli_data(int argc, char **argv);
int cli_model(int argc, char **argv);
int cli_train(int argc, char **argv);
int cli_sample(int argc, char **argv);

/* Prints "hyperlm: error: MSG" and returns CLI_FAIL (or CLI_USAGE for HLM_ERR_INVALID). */
int cli_report(const hlm_error *err);
/* Parses a non-negative integer flag value; prints a usage error naming the flag on failure. */
int cli_parse_u64(const char *flag, const char *value, unsigned long long max, unsigned long long *out);

#endif

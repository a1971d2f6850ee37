#ifndef HLM_CLI_TOKENIZER_H
#define HLM_CLI_TOKENIZER_H

/* argv[0] is the command name ("train", "encode", ...). */
int cli_tokenizer_train(int argc, char **argv);
int cli_tokenizer_encode(int argc, char **argv);
int cli_tokenizer_decode(int argc, char **argv);
int cli_tokenizer_stats(int argc, char **argv);

#endif

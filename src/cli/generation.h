/* What `hyperlm generate`, `sample` and `chat` share: the sampling flags, and the tokens and
 * template that end a reply. */
#ifndef HLM_CLI_GENERATION_H
#define HLM_CLI_GENERATION_H

#include "hyperlm/error.h"
#include "hyperlm/model.h"
#include "hyperlm/tokenizer.h"
#include "infer/chat.h"
#include "infer/engine.h"
#include "infer/sample.h"
#include "infer/stop.h"

/* The flags' lines for --help, aligned under "  ". */
extern const char cli_sampling_help[];

/* Parses flag (with its value) into p when it is one of --temperature --top-k --top-p --min-p
 * --repeat-penalty --repeat-last-n --presence-penalty --frequency-penalty --seed. Returns 1 when
 * it was, 0 when flag is not a sampling flag, -1 after printing a usage error that names the flag
 * and its range (command: for the "(see hyperlm COMMAND --help)" hint). */
int cli_sampling_flag(const char *command, const char *flag, const char *value, hlm_sampler_params *p);

/* The engine and tokenizer of model_path (a GGUF file, or a checkpoint folder with
 * tokenizer.json), as generate, chat and serve load them: a GGUF file runs in its stored types
 * unless quant_set; tok_path (NULL: the model's own) overrides the tokenizer; ctx_len 0: the
 * model's context, at most 4096. */
hlm_status cli_open_model(const char *model_path, const char *tok_path, hlm_qtype wt, int quant_set, int ctx_len,
                          hlm_engine **e, hlm_tokenizer **tok, hlm_error *err);

/* The model configuration of a GGUF file (its metadata only; the file is closed again). */
hlm_status cli_gguf_config(const char *path, hlm_model_config *c, hlm_error *err);

/* The end of generation for the model in e, loaded from model_path (a GGUF file or a checkpoint
 * folder): *tmpl from template_name when not NULL, else from the GGUF's tokenizer.chat_template
 * (read from the engine's mapping, or from the file when the engine converted it), else chatml
 * (a checkpoint, or a GGUF without a template). When the GGUF's template is not recognized: an
 * error if need_template, else *tmpl = HLM_CHAT_COUNT (no template). *eog: the model's EOS
 * (config; tokenizer.ggml.eos_token_id and eot_token_id for GGUF), <|endoftext|> for checkpoints,
 * and the template's end-of-turn text when the tokenizer has it as one token. */
hlm_status cli_generation_end(const char *model_path, const hlm_engine *e, const hlm_tokenizer *tok,
                              const char *template_name, int need_template, hlm_chat_template *tmpl, hlm_eog *eog,
                              hlm_error *err);

#endif

/* Shared by generate, sample and chat (generation.h): one parser for the sampling flags, and the
 * end-of-generation tokens and chat template of a model. */
#include "cli/generation.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "infer/gguf_model.h"

const char cli_sampling_help[] =
    "  --temperature T         0 is greedy (the first largest logit after penalties); default 0.8\n"
    "  --top-k K               keep the K most likely tokens (0: all); default 40\n"
    "  --top-p P               keep the smallest set holding P of the probability; default 0.95\n"
    "  --min-p P               drop tokens less likely than P times the most likely; default 0 (off)\n"
    "  --repeat-penalty R      divide positive logits (multiply negative ones) of the tokens among\n"
    "                          the last --repeat-last-n (default 64) by R; default 1 (off)\n"
    "  --presence-penalty A    subtract A from the logits of tokens already generated; default 0\n"
    "  --frequency-penalty F   subtract F times the count of each generated token; default 0\n"
    "  --seed S                seed of the random draws; default 1337\n";

/* A number in [lo, hi] (lo excluded when lo_open). */
static int parse_num(const char *command, const char *flag, const char *v, double lo, int lo_open, double hi,
                     float *out)
{
    char *end;
    double x = v ? strtod(v, &end) : NAN;
    if (!v || end == v || *end || !(lo_open ? x > lo : x >= lo) || !(x <= hi)) {
        fprintf(stderr, "hyperlm: error: %s: expected a number %s%g and <= %g, got '%s' (see hyperlm %s --help)\n",
                flag, lo_open ? "> " : ">= ", lo, hi, v ? v : "", command);
        return -1;
    }
    *out = (float)x;
    return 1;
}

static int parse_int(const char *flag, const char *v, unsigned long long max, int *out)
{
    unsigned long long x;
    if (!cli_parse_u64(flag, v, max, &x)) return -1;
    *out = (int)x;
    return 1;
}

int cli_sampling_flag(const char *command, const char *flag, const char *value, hlm_sampler_params *p)
{
    if (!strcmp(flag, "--temperature")) return parse_num(command, flag, value, 0, 0, 1e6, &p->temperature);
    if (!strcmp(flag, "--top-k")) return parse_int(flag, value, 1 << 30, &p->top_k);
    if (!strcmp(flag, "--top-p")) return parse_num(command, flag, value, 0, 0, 1, &p->top_p);
    if (!strcmp(flag, "--min-p")) return parse_num(command, flag, value, 0, 0, 1, &p->min_p);
    if (!strcmp(flag, "--repeat-penalty")) return parse_num(command, flag, value, 0, 1, 1e6, &p->repeat_penalty);
    if (!strcmp(flag, "--repeat-last-n")) return parse_int(flag, value, 1 << 20, &p->repeat_last_n);
    if (!strcmp(flag, "--presence-penalty")) return parse_num(command, flag, value, -2, 0, 2, &p->presence_penalty);
    if (!strcmp(flag, "--frequency-penalty")) return parse_num(command, flag, value, -2, 0, 2, &p->frequency_penalty);
    if (!strcmp(flag, "--seed")) {
        unsigned long long s;
        if (!cli_parse_u64(flag, value, ~0ull, &s)) return -1;
        p->seed = s;
        return 1;
    }
    return 0;
}

static void add_token_text(hlm_eog *eog, const hlm_tokenizer *tok, const char *text)
{
    uint32_t id;
    if (text && *text && hlm_tokenizer_token_id(tok, text, strlen(text), &id)) hlm_eog_add(eog, (int32_t)id);
}

hlm_status cli_generation_end(const char *model_path, const hlm_engine *e, const hlm_tokenizer *tok,
                              const char *template_name, int need_template, hlm_chat_template *tmpl, hlm_eog *eog,
                              hlm_error *err)
{
    const hlm_model_config *c = hlm_engine_config(e);
    const hlm_gguf_file *mapped = hlm_engine_gguf(e);
    int is_gguf = mapped || hlm_gguf_is_file(model_path);
    memset(eog, 0, sizeof *eog);
    *tmpl = HLM_CHAT_CHATML;
    hlm_gguf_chat_info info = {0};
    info.eos_id = info.eot_id = -1;
    hlm_status st = HLM_OK;
    if (mapped) st = hlm_gguf_read_chat_info(mapped, &info, err);
    else if (is_gguf) st = hlm_gguf_read_chat_info_path(model_path, &info, err);
    if (!st && template_name) {
        st = hlm_chat_template_from_name(template_name, tmpl, err);
    } else if (!st && info.template_text) {
        st = hlm_chat_template_detect(info.template_text, strlen(info.template_text), tmpl, err);
        if (st && !need_template) {
            *tmpl = HLM_CHAT_COUNT;
            st = HLM_OK;
        } else if (st) {
            hlm_error_prefix(err, "%s: tokenizer.chat_template: ", model_path);
        }
    }
    if (!st) {
        hlm_eog_add(eog, c->eos_token_id);
        hlm_eog_add(eog, info.eos_id);
        hlm_eog_add(eog, info.eot_id);
        if (!is_gguf) add_token_text(eog, tok, "<|endoftext|>");
        if (*tmpl != HLM_CHAT_COUNT) add_token_text(eog, tok, hlm_chat_end_of_turn(*tmpl));
    }
    hlm_gguf_chat_info_free(&info);
    return st;
}

hlm_status cli_gguf_config(const char *path, hlm_model_config *c, hlm_error *err)
{
    hlm_gguf_file *f = NULL;
    hlm_status s = hlm_gguf_open(path, &f, err);
    if (s == HLM_OK) s = hlm_gguf_read_config(f, c, err);
    hlm_gguf_close(f);
    return s;
}

hlm_status cli_open_model(const char *model_path, const char *tok_path, hlm_qtype wt, int quant_set, int ctx_len,
                          hlm_engine **e, hlm_tokenizer **tok, hlm_error *err)
{
    *e = NULL;
    *tok = NULL;
    int is_gguf = hlm_gguf_is_file(model_path);
    char tp[4200];
    if (!tok_path && !is_gguf) {
        snprintf(tp, sizeof tp, "%s/tokenizer.json", model_path);
        tok_path = tp;
    }
    hlm_model_config probe;
    hlm_status s = is_gguf ? cli_gguf_config(model_path, &probe, err) : hlm_config_resolve(model_path, &probe, err);
    if (s == HLM_OK && !ctx_len) ctx_len = probe.max_seq < 4096 ? probe.max_seq : 4096;
    if (s == HLM_OK)
        s = hlm_engine_open(model_path, is_gguf && !quant_set ? HLM_ENGINE_STORED : wt, ctx_len, e, tok_path ? NULL : tok,
                            err);
    if (s == HLM_OK && !*tok) s = hlm_tokenizer_load(tok_path, -1, tok, err);
    if (s != HLM_OK) {
        hlm_engine_free(*e);
        hlm_tokenizer_free(*tok);
        *e = NULL;
        *tok = NULL;
    }
    return s;
}

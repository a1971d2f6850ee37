/* hyperlm quantize: a checkpoint folder (config.json + model.safetensors + tokenizer.json) to a
 * GGUF file in llama.cpp's layout, with f32, f16, q8_0 or q4_0 weights (src/infer/gguf_model.h). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "hyperlm/log.h"
#include "infer/gguf_model.h"
#include "model/checkpoint.h"

int cli_quantize(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL, *type = NULL, *tok_path = NULL, *name = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: hyperlm quantize -m DIR -o OUT.gguf --type f32|f16|q8_0|q4_0 [-t TOKENIZER] [--name NAME]\n\n"
                   "Writes the checkpoint DIR (GPT-2 or Llama) as a GGUF file that llama.cpp loads: its\n"
                   "tensor names, hyperparameters and tokenizer metadata (DIR's tokenizer.json unless -t).\n"
                   "Matrices are stored as --type (q8_0/q4_0 need rows of a multiple of 32 values; others\n"
                   "become f16); norms, biases and position embeddings stay f32. `hyperlm generate -m\n"
                   "OUT.gguf` runs the result.\n");
            return CLI_OK;
        }
        if (!v) return cli_usage_error("quantize", "unknown flag or missing value: '%s'", a);
        i++;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) dir = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) out = v;
        else if (!strcmp(a, "--type")) type = v;
        else if (!strcmp(a, "-t") || !strcmp(a, "--tokenizer")) tok_path = v;
        else if (!strcmp(a, "--name")) name = v;
        else return cli_usage_error("quantize", "unknown flag '%s'", a);
    }
    if (!dir) return cli_usage_error("quantize", "%s is required", "-m DIR");
    if (!out) return cli_usage_error("quantize", "%s is required", "-o OUT.gguf");
    if (!type) return cli_usage_error("quantize", "%s is required", "--type f32|f16|q8_0|q4_0");
    hlm_qtype wt;
    hlm_error err = {0};
    if (hlm_qtype_from_name(type, &wt, &err) != HLM_OK ||
        (wt != HLM_QT_F32 && wt != HLM_QT_F16 && wt != HLM_QT_Q8_0 && wt != HLM_QT_Q4_0))
        return cli_usage_error("quantize", "--type: expected f32, f16, q8_0 or q4_0, got '%s'", type);
    char tp[4200];
    if (!tok_path) {
        snprintf(tp, sizeof tp, "%s/tokenizer.json", dir);
        tok_path = tp;
    }
    hlm_model *m = NULL;
    hlm_status s = hlm_checkpoint_load_model(dir, &m, &err);
    if (s == HLM_OK) s = hlm_gguf_export(m, tok_path, wt, name, out, &err);
    if (s == HLM_OK) hlm_log(HLM_LOG_INFO, "quantize: wrote %s (%s weights)", out, hlm_qtype_name(wt));
    hlm_model_free(m);
    return s == HLM_OK ? CLI_OK : cli_report(&err);
}

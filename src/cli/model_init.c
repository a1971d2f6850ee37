/* hyperlm model init: a freshly initialized checkpoint (GPT-2's initialization scheme) written as
 * a Hugging Face model folder. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "hyperlm/model.h"
#include "model/checkpoint.h"

int cmd_model_init(int argc, char **argv)
{
    const char *model = NULL, *out = NULL;
    unsigned long long seed = 1337;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: hyperlm model init --model PRESET|CONFIG.json --out DIR [--seed S]\n\n"
                   "Writes DIR/config.json and DIR/model.safetensors: a Hugging Face model folder\n"
                   "with weights drawn by GPT-2's initialization (N(0, 0.02), residual projections\n"
                   "scaled by 1/sqrt(2 * layers), zero biases, unit norms), deterministic in the seed.\n");
            return CLI_OK;
        }
        if (!v) {
            fprintf(stderr, "hyperlm: error: model init: unknown flag or missing value: '%s'\n", a);
            return CLI_USAGE;
        }
        i++;
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--seed")) {
            if (!cli_parse_u64("--seed", v, ~0ull, &seed)) return CLI_USAGE;
        } else {
            fprintf(stderr, "hyperlm: error: model init: unknown flag '%s'\n", a);
            return CLI_USAGE;
        }
    }
    if (!model || !out) {
        fprintf(stderr, "hyperlm: error: model init: --model and --out are required\n");
        return CLI_USAGE;
    }
    hlm_error err = {0};
    hlm_model_config cfg;
    hlm_model *m = NULL;
    if (hlm_config_resolve(model, &cfg, &err) != HLM_OK || hlm_model_create(&cfg, &m, &err) != HLM_OK)
        return cli_report(&err);
    hlm_model_init_weights(m, seed);
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "hyperlm: error: %s: cannot create folder: %s\n", out, strerror(errno));
        hlm_model_free(m);
        return CLI_FAIL;
    }
    hlm_status s = hlm_checkpoint_save_model(m, out, &err);
    if (s == HLM_OK)
        printf("%s: %zu parameters, seed %llu\n", out, hlm_model_num_params(m), seed);
    hlm_model_free(m);
    return s == HLM_OK ? CLI_OK : cli_report(&err);
}

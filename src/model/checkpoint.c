#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlm/file.h"
#include "model/checkpoint.h"
#include "model/safetensors.h"

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static hlm_status write_arrays(hlm_model *m, const char *path, const char *const *prefixes,
                               float *const *arrays, int n_arrays, const char *config_json,
                               hlm_error *err)
{
    int nt;
    const hlm_tensor_info *t = hlm_model_tensors(m, &nt);
    size_t total = (size_t)nt * (size_t)n_arrays;
    hlm_st_tensor *st = calloc(total ? total : 1, sizeof *st);
    char (*names)[128] = calloc(total ? total : 1, sizeof *names);
    if (!st || !names) {
        free(st);
        free(names);
        return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t k = 0;
    for (int a = 0; a < n_arrays; a++)
        for (int i = 0; i < nt; i++, k++) {
            snprintf(names[k], sizeof names[k], "%s%s", prefixes[a], t[i].name);
            st[k].name = names[k];
            st[k].dtype = HLM_DT_F32;
            st[k].ndim = t[i].ndim;
            st[k].shape[0] = t[i].shape[0];
            st[k].shape[1] = t[i].shape[1];
            st[k].data = arrays[a] + t[i].offset;
            st[k].nbytes = t[i].numel * sizeof(float);
        }
    /* transformers refuses safetensors files without format=pt in the metadata */
    const char *keys[] = {"format", "hyperlm_config"};
    const char *vals[] = {"pt", config_json ? config_json : "{}"};
    hlm_status s = hlm_st_write(path, st, (int)total, keys, vals, config_json ? 2 : 1, err);
    free(st);
    free(names);
    return s;
}

hlm_status hlm_checkpoint_save_model(hlm_model *m, const char *dir, hlm_error *err)
{
    char *cfg = hlm_config_to_json(hlm_model_config_of(m));
    char *cfg_path = path_join(dir, "config.json");
    char *st_path = path_join(dir, "model.safetensors");
    hlm_status s = HLM_OK;
    if (!cfg || !cfg_path || !st_path) {
        s = hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", dir);
        goto done;
    }
    const char *prefix = "";
    float *arrays[1] = {hlm_model_params(m)};
    s = write_arrays(m, st_path, &prefix, arrays, 1, cfg, err);
    if (s == HLM_OK) s = hlm_file_write_atomic(cfg_path, cfg, strlen(cfg), err);
done:
    free(cfg);
    free(cfg_path);
    free(st_path);
    return s;
}

static hlm_status read_arrays(hlm_model *m, const char *path, const char *const *prefixes,
                              float *const *arrays, int n_arrays, hlm_error *err)
{
    hlm_st_file *f = NULL;
    hlm_status s = hlm_st_open(path, &f, err);
    if (s != HLM_OK) return s;
    int nt;
    const hlm_tensor_info *t = hlm_model_tensors(m, &nt);
    char name[160];
    for (int a = 0; a < n_arrays && s == HLM_OK; a++)
        for (int i = 0; i < nt && s == HLM_OK; i++) {
            snprintf(name, sizeof name, "%s%s", prefixes[a], t[i].name);
            if (!hlm_st_find(f, name)) {
                s = hlm_errorf(err, HLM_ERR_FORMAT, "%s: tensor '%s' is missing", path, name);
                break;
            }
            s = hlm_st_read_f32(f, name, t[i].ndim, t[i].shape, arrays[a] + t[i].offset, err);
        }
    hlm_st_close(f);
    return s;
}

hlm_status hlm_checkpoint_load_weights(hlm_model *m, const char *path, hlm_error *err)
{
    const char *prefix = "";
    float *arrays[1] = {hlm_model_params(m)};
    return read_arrays(m, path, &prefix, arrays, 1, err);
}

hlm_status hlm_checkpoint_load_model(const char *dir, hlm_model **out, hlm_error *err)
{
    *out = NULL;
    hlm_model_config cfg;
    hlm_status s = hlm_config_resolve(dir, &cfg, err);
    if (s != HLM_OK) return s;
    hlm_model *m;
    s = hlm_model_create(&cfg, &m, err);
    if (s != HLM_OK) return s;
    char *st_path = path_join(dir, "model.safetensors");
    if (!st_path) {
        hlm_model_free(m);
        return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", dir);
    }
    s = hlm_checkpoint_load_weights(m, st_path, err);
    free(st_path);
    if (s != HLM_OK) {
        hlm_model_free(m);
        return s;
    }
    *out = m;
    return HLM_OK;
}

hlm_status hlm_checkpoint_save_state(hlm_model *m, const char *path, const char *const *prefixes,
                                     float *const *arrays, int n_arrays, hlm_error *err)
{
    return write_arrays(m, path, prefixes, arrays, n_arrays, NULL, err);
}

hlm_status hlm_checkpoint_load_state(hlm_model *m, const char *path, const char *const *prefixes,
                                     float *const *arrays, int n_arrays, hlm_error *err)
{
    return read_arrays(m, path, prefixes, arrays, n_arrays, err);
}

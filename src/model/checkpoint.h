/* Model checkpoints as Hugging Face model folders: DIR/config.json + DIR/model.safetensors with
 * Hugging Face tensor names (GPT-2 / Llama conventions) and the config repeated in the
 * safetensors metadata ("hyperlm_config"), so that transformers' from_pretrained loads the folder
 * and HyperLM can load any such folder it supports. Every file is written atomically. */
#ifndef HYPERLM_MODEL_CHECKPOINT_H
#define HYPERLM_MODEL_CHECKPOINT_H

#include "hyperlm/model.h"

/* Writes DIR/config.json and DIR/model.safetensors (DIR must exist). */
hlm_status hlm_checkpoint_save_model(hlm_model *m, const char *dir, hlm_error *err);
/* Loads the weights in a safetensors file into m; every tensor of m must be present with its
 * shape (f32, f16 or bf16); a tied GPT-2/Llama lm_head.weight in the file is ignored. */
hlm_status hlm_checkpoint_load_weights(hlm_model *m, const char *path, hlm_error *err);
/* Creates a model from DIR/config.json and loads DIR/model.safetensors. */
hlm_status hlm_checkpoint_load_model(const char *dir, hlm_model **out, hlm_error *err);

/* Saves float arrays (e.g. AdamW m and v) of the parameter layout as one safetensors file with
 * tensors named PREFIX + hf name, for each tensor of m. */
hlm_status hlm_checkpoint_save_state(hlm_model *m, const char *path, const char *const *prefixes,
                                     float *const *arrays, int n_arrays, hlm_error *err);
hlm_status hlm_checkpoint_load_state(hlm_model *m, const char *path, const char *const *prefixes,
                                     float *const *arrays, int n_arrays, hlm_error *err);

#endif

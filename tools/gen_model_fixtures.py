#!/usr/bin/env python3
"""Writes the model's PyTorch reference fixtures into tests/fixtures/model/ (tests/model/test_torch_ref.c).

usage: gen_model_fixtures.py [--hyperlm BIN] [--only-hf-compat] [--only-embed]

Part 1 (always): for two tiny models built by Hugging Face `transformers` (GPT2LMHeadModel and
LlamaForCausalLM, attn_implementation="eager", float32, HF's own initialization under a fixed
torch seed), tests/fixtures/model/<name>/ gets
  config.json            the model's config (config.to_json_string(use_diff=False): HF keys);
  weights.safetensors    every parameter under its HF name (GPT-2: no lm_head.weight, it is tied);
  batch.safetensors      tokens, targets (B, T) int32, two targets -1 (ignored); train.tokens,
                         train.targets (STEPS, B, T) int32: batch k for training step k;
  expected.safetensors   logits (B, T, V) of the forward on tokens; loss (1) =
                         F.cross_entropy(logits.view(-1, V), targets.view(-1), ignore_index=-1),
                         computed here from the logits (HF's labels= would shift them);
                         grad.<name> = d loss / d parameter (tied GPT-2: wte's includes the
                         lm_head's share, as autograd gives it); train.loss, train.grad_norm
                         (STEPS): torch.optim.AdamW (lr 1e-3 constant, betas (0.9, 0.95), eps 1e-8,
                         weight decay 0.1 on the decay tensors, 0 on the rest) with
                         clip_grad_norm_(params, 1.0) before each step, loss and the total norm
                         before clipping recorded at each step; final.<name>: parameters after
                         STEPS updates. __metadata__ holds the versions.
  embed.safetensors      sentence embeddings (tests/infer/test_engine_embed.c): for prompts of
                         EMBED_LENS tokens (seeded), tokens.<i> (int32) and embedding.<i> (d_model):
                         the base model's last_hidden_state (after the final norm, what the lm
                         head reads) averaged over the positions, then scaled to unit L2 length.
  README                 what the files are, versions, and how far a float64 run of the same
                         computation is from the float32 one (the scale of rounding error that the
                         test's tolerances must admit).
Initialization: HF's own (_init_weights) with initializer_range 0.2 instead of 0.02, so that
attention is far from uniform and each block changes the residual stream noticeably (at 0.02 and
d_model 32 the attention scores are ~0.01, and a wrong RoPE or softmax scale would move the logits
by less than rounding); then every norm weight is set to 1 + 0.1 N(0,1) and every bias (norms and
GPT-2's linear biases) to 0.05 N(0,1), so that their gradients are tested through non-trivial
values.

--only-embed writes only embed.safetensors (and its README line), from the models that
build() makes again, after checking that their parameters are those of weights.safetensors.

Part 2 (--hyperlm BIN): `BIN model init --model tiny-gpt2|tiny-llama --seed 7 --out DIR`, then
transformers' AutoModelForCausalLM.from_pretrained(DIR, attn_implementation="eager") runs on fixed
tokens (B=2, T=16, seeded); tests/fixtures/model/hf_compat_<name>.safetensors gets tokens (int32)
and logits. This shows that a HyperLM checkpoint folder is a Hugging Face model folder and that HF
computes the logits HyperLM computes.

Deterministic: the same torch build on the same CPU writes the same bytes.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import load_file, save_file
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "tests", "fixtures", "model")
B, T, STEPS = 2, 16, 10
EMBED_LENS = (1, 7, 32)  # one position (no averaging), a few, the whole context (n_positions)
LR, BETAS, EPS, WD, CLIP = 1e-3, (0.9, 0.95), 1e-8, 0.1, 1.0
EMBEDDINGS = ("transformer.wte.weight", "transformer.wpe.weight", "model.embed_tokens.weight")


def gpt2_config():
    return GPT2Config(vocab_size=96, n_positions=32, n_embd=32, n_layer=2, n_head=4, n_inner=None,
                      activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0,
                      attn_pdrop=0.0, layer_norm_epsilon=1e-5, initializer_range=0.2,
                      bos_token_id=0, eos_token_id=0, tie_word_embeddings=True)


def llama_config():
    return LlamaConfig(vocab_size=96, hidden_size=32, intermediate_size=88, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32,
                       rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=False,
                       hidden_act="silu", attention_bias=False, mlp_bias=False,
                       attention_dropout=0.0, initializer_range=0.2, bos_token_id=1,
                       eos_token_id=2)


MODELS = {"gpt2": (gpt2_config, GPT2LMHeadModel), "llama": (llama_config, LlamaForCausalLM)}


def build(name, seed):
    make_config, cls = MODELS[name]
    config = make_config()
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = cls(config).float().eval()  # eval: no dropout (all rates are 0 anyway)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.endswith(".bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=gen))
            elif p.dim() == 1:  # norm weights
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
    return config, model


def params_of(model):
    """(name, parameter) in HF names; named_parameters lists a tied tensor once (wte)."""
    return [(n, p) for n, p in model.named_parameters()]


def decay_flag(name, p):
    return 1 if p.dim() == 2 and name not in EMBEDDINGS else 0


def make_batches(vocab, seed):
    """A token stream with some structure (a noisy affine recurrence), so that training learns;
    targets are the stream shifted by one, as in pretraining."""
    gen = torch.Generator().manual_seed(seed)

    def one():
        x = torch.empty(B, T + 1, dtype=torch.int64)
        x[:, 0] = torch.randint(0, vocab, (B,), generator=gen)
        for t in range(1, T + 1):
            nxt = (x[:, t - 1] * 7 + 3) % vocab
            noise = torch.randint(0, vocab, (B,), generator=gen)
            keep = torch.rand(B, generator=gen) < 0.7
            x[:, t] = torch.where(keep, nxt, noise)
        return x[:, :T].contiguous(), x[:, 1:].contiguous()

    tokens, targets = one()
    targets[0, 3] = -1
    targets[1, T - 1] = -1
    train = [one() for _ in range(STEPS)]
    return tokens, targets, train


def loss_of(model, tokens, targets):
    logits = model(input_ids=tokens).logits
    V = logits.shape[-1]
    return logits, F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-1)


def reference(model, tokens, targets, train):
    """Forward, backward and the training run, in the model's dtype."""
    params = params_of(model)
    model.zero_grad(set_to_none=True)
    logits, loss = loss_of(model, tokens, targets)
    loss.backward()
    out = {"logits": logits.detach().clone(), "loss": loss.detach().reshape(1).clone()}
    for n, p in params:
        out["grad." + n] = p.grad.detach().clone()
    model.zero_grad(set_to_none=True)

    groups = [{"params": [p for n, p in params if decay_flag(n, p)], "weight_decay": WD},
              {"params": [p for n, p in params if not decay_flag(n, p)], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=LR, betas=BETAS, eps=EPS)
    losses, norms = [], []
    for tok_k, tgt_k in train:
        opt.zero_grad(set_to_none=True)
        _, loss = loss_of(model, tok_k, tgt_k)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_([p for _, p in params], CLIP)
        opt.step()
        losses.append(loss.item())
        norms.append(norm.item())
    out["train.loss"] = torch.tensor(losses, dtype=model.dtype)
    out["train.grad_norm"] = torch.tensor(norms, dtype=model.dtype)
    for n, p in params:
        out["final." + n] = p.detach().clone()
    return out


def rel_scale_diff(a, b):
    """max |a - b| / max(max |b|, 1e-30): the error relative to the tensor's scale."""
    a, b = a.double(), b.double()
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


def versions():
    return {"torch": torch.__version__, "transformers": transformers.__version__,
            "python": sys.version.split()[0]}


def st_metadata(extra=""):
    """One metadata key: safetensors writes its metadata map in hash order, so several keys would
    make the bytes differ from run to run."""
    v = versions()
    return {"generator": f"tools/gen_model_fixtures.py; torch {v['torch']}; transformers "
                         f"{v['transformers']}; python {v['python']}" + extra}


def write_model(name, seed):
    config, model = build(name, seed)
    model64 = build(name, seed)[1].double()
    for (n1, p1), (n2, p2) in zip(params_of(model), params_of(model64)):
        assert n1 == n2 and torch.equal(p1.double(), p2)
    tokens, targets, train = make_batches(config.vocab_size, seed + 2)
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)

    with open(os.path.join(folder, "config.json"), "w") as f:
        f.write(config.to_json_string(use_diff=False))
    meta = versions()
    st_meta = st_metadata()
    save_file({n: p.detach().contiguous() for n, p in params_of(model)},
              os.path.join(folder, "weights.safetensors"), metadata=st_meta)
    save_file({"tokens": tokens.int(), "targets": targets.int(),
               "train.tokens": torch.stack([t for t, _ in train]).int(),
               "train.targets": torch.stack([y for _, y in train]).int()},
              os.path.join(folder, "batch.safetensors"), metadata=st_meta)

    ref = reference(model, tokens, targets, train)
    ref64 = reference(model64, tokens, targets, train)
    save_file({k: v.contiguous() for k, v in ref.items()},
              os.path.join(folder, "expected.safetensors"), metadata=st_meta)

    # How far float32 is from float64 on the same computation: the size of rounding error.
    worst = {"logits": 0.0, "loss": 0.0, "grad": 0.0, "train.loss": 0.0, "train.grad_norm": 0.0,
             "final": 0.0}
    worst_where = {}
    for k, v in ref.items():
        d = rel_scale_diff(v, ref64[k])
        key = k.split(".")[0] if k.startswith(("grad.", "final.")) else k
        if d >= worst[key]:
            worst[key], worst_where[key] = d, k
    final_abs = max((ref[k].double() - ref64[k]).abs().max().item()
                    for k in ref if k.startswith("final."))
    lines = [
        f"# {name}: PyTorch reference for tests/model/test_torch_ref.c",
        "",
        "Written by tools/gen_model_fixtures.py (see its docstring for what each file holds).",
        f"torch {meta['torch']}, transformers {meta['transformers']}, python {meta['python']};",
        f"model class {type(model).__name__}, attn_implementation eager, float32, seed {seed}.",
        f"parameters: {sum(p.numel() for _, p in params_of(model))}; batch B={B} T={T};"
        f" training steps {STEPS}.",
        "",
        "float32 vs float64 (same weights, same computation), max |f32 - f64| / max |f64| per",
        "tensor, worst tensor of each kind; the rounding error that tolerances must admit:",
    ]
    for key in worst:
        lines.append(f"  {key:16s} {worst[key]:.3e}  ({worst_where.get(key, '')})")
    lines.append(f"  final params, max abs diff: {final_abs:.3e}")
    lines.append(f"  float32 loss {ref['loss'].item():.7f}, train.loss "
                 + " ".join(f"{x:.5f}" for x in ref["train.loss"].tolist()))
    for f in ("weights", "batch", "expected"):
        os.chmod(os.path.join(folder, f + ".safetensors"), 0o644)
    with open(os.path.join(folder, "README"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    write_embeddings(name, seed)  # fresh models: reference() has trained the ones above


def embeddings(model, prompts):
    """Mean over the positions of the base model's last_hidden_state (GPT2Model: after ln_f;
    LlamaModel: after the final RMSNorm), scaled to unit L2 length, for each prompt (T,)."""
    out = []
    with torch.no_grad():
        for p in prompts:
            h = model.base_model(input_ids=p.unsqueeze(0)).last_hidden_state[0]  # (T, C)
            m = h.mean(dim=0)
            out.append(m / m.norm())
    return out


def write_embeddings(name, seed):
    """embed.safetensors, from the untrained model, checked to be the one in weights.safetensors."""
    folder = os.path.join(OUT, name)
    model = build(name, seed)[1]
    model64 = build(name, seed)[1].double()
    stored = load_file(os.path.join(folder, "weights.safetensors"))
    params = dict(params_of(model))
    assert stored.keys() == params.keys(), f"{name}: weights.safetensors has other tensors"
    for n, p in params.items():
        assert torch.equal(stored[n], p.detach()), f"{name}: {n} differs from weights.safetensors"
    gen = torch.Generator().manual_seed(seed + 3)
    vocab = model.config.vocab_size
    prompts = [torch.randint(0, vocab, (n,), generator=gen) for n in EMBED_LENS]
    emb = embeddings(model, prompts)
    emb64 = embeddings(model64, prompts)
    tensors = {}
    for i, (p, e) in enumerate(zip(prompts, emb)):
        tensors[f"tokens.{i}"] = p.int().contiguous()
        tensors[f"embedding.{i}"] = e.float().contiguous()
    path = os.path.join(folder, "embed.safetensors")
    save_file(tensors, path, metadata=st_metadata(f"; embeddings of {len(prompts)} prompts"))
    os.chmod(path, 0o644)
    worst = max((e.double() - e64).abs().max().item() for e, e64 in zip(emb, emb64))
    line = (f"embed.safetensors: prompts of {', '.join(map(str, EMBED_LENS))} tokens; unit vectors,"
            f" max |f32 - f64| {worst:.3e}")
    readme = os.path.join(folder, "README")
    with open(readme) as f:
        lines = [l for l in f.read().splitlines() if not l.startswith("embed.safetensors")]
    with open(readme, "w") as f:
        f.write("\n".join(lines + [line]) + "\n")
    print(line)


def hf_compat(binary):
    """HyperLM's `model init` output, loaded and run by transformers."""
    from transformers import AutoModelForCausalLM

    gen = torch.Generator().manual_seed(11)
    with tempfile.TemporaryDirectory() as tmp:
        for name, preset in (("gpt2", "tiny-gpt2"), ("llama", "tiny-llama")):
            folder = os.path.join(tmp, name)
            subprocess.run([binary, "model", "init", "--model", preset, "--seed", "7",
                            "--out", folder], check=True)
            model, info = AutoModelForCausalLM.from_pretrained(
                folder, attn_implementation="eager", dtype=torch.float32, output_loading_info=True)
            model.eval()
            # Every parameter must come from the file: a missing one would be HF's random init.
            bad = {k: v for k, v in info.items() if v}
            if bad:
                sys.exit(f"{folder}: transformers loaded it with {bad}")
            tokens = torch.randint(0, model.config.vocab_size, (B, T), generator=gen)
            with torch.no_grad():
                logits = model(input_ids=tokens).logits.float()
            path = os.path.join(OUT, f"hf_compat_{name}.safetensors")
            save_file({"tokens": tokens.int(), "logits": logits.contiguous()}, path,
                      metadata=st_metadata(f"; {preset} seed 7"))
            os.chmod(path, 0o644)
            print(f"{path}: {type(model).__name__}, logits {tuple(logits.shape)},"
                  f" max |logit| {logits.abs().max().item():.4f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default_bin = os.environ.get("HLM_BIN") or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                            "build", "hyperlm")
    ap.add_argument("--hyperlm", default=default_bin if os.path.exists(default_bin) else None,
                    help="hyperlm binary: also write hf_compat_*.safetensors (default: $HLM_BIN or build/hyperlm)")
    ap.add_argument("--only-hf-compat", action="store_true", help="skip part 1")
    ap.add_argument("--only-embed", action="store_true", help="only embed.safetensors")
    args = ap.parse_args()
    torch.set_num_threads(1)  # one summation order, the same bytes every run
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT, exist_ok=True)
    if args.only_embed:
        write_embeddings("gpt2", 1234)
        write_embeddings("llama", 4321)
        return
    if not args.only_hf_compat:
        write_model("gpt2", 1234)
        write_model("llama", 4321)
    if args.hyperlm:
        hf_compat(args.hyperlm)


if __name__ == "__main__":
    main()

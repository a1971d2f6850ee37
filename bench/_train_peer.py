#!/usr/bin/env python3
"""The PyTorch peer of the training benchmark: GPT-2 training steps (forward, backward, AdamW) on
the CPU, timed the way HyperLM's are.

  train_peer.py [--model gpt2-5m|gpt2-124m] [--batch B] [--seq T] [--steps N] [--threads N]
                [--warmup 2] [--tokens FILE [--tokens-dtype uint16|int32]] [--seed S]

Prints one JSON line: {"tokens_per_s", "ms_per_step", "torch", "model", "batch", "seq",
"threads", "steps", "params", "attention", "loss_first", "loss_last"}; timing covers --steps steps
after --warmup untimed ones (allocator and kernel caches warm), wall clock, mean per step.

The model is a minimal GPT-2 written here in plain torch (no transformers), so that it runs on
both PyPI torch 2.x and Debian's python3-torch 1.13 (/usr/bin/python3, which has no
transformers): token + position embeddings, pre-LayerNorm blocks of causal self-attention
(fused qkv) and a tanh-GELU MLP, final LayerNorm, lm_head tied to the token embedding, no
dropout, GPT-2's init (N(0, 0.02), residual projections / sqrt(2L)). Attention is
F.scaled_dot_product_attention(is_causal=True) where torch has it (>= 2.0), else the explicit
masked softmax. It is also the faster peer: on PyPI torch 2.15 (gpt2-5m, B=8, T=256, one
thread, same machine, interleaved runs) a full step took 1021-1056 ms here against 1212-1374 ms
for transformers' GPT2LMHeadModel with attn_implementation="sdpa" (forward + backward alone, best
of 5: 864 against 981 ms).
Optimizer: torch.optim.AdamW (lr 3e-4, betas (0.9, 0.95), weight decay 0.1 on matrices only,
torch's default implementation for the version), with clip_grad_norm_(1.0), as HyperLM trains.

Tokens: uniformly random (seeded) unless --tokens gives a flat little-endian file of token ids
(llm.c's .bin shards without the header are uint16), read in consecutive (B, T+1) windows.
bench/run.sh runs every bench/*.py with the hyperlm binary as first argument: it is accepted and
ignored (the peer runs alone; the benchmark that compares calls this script itself).
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

MODELS = {
    # name: (n_layer, d_model, n_head, vocab, ctx)
    "gpt2-5m": (4, 256, 4, 8192, 256),
    "gpt2-124m": (12, 768, 12, 50257, 1024),
}
HAS_SDPA = hasattr(F, "scaled_dot_product_attention")


class Block(nn.Module):
    def __init__(self, d, n_head):
        super().__init__()
        self.n_head = n_head
        self.ln_1 = nn.LayerNorm(d, eps=1e-5)
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d, eps=1e-5)
        self.c_fc = nn.Linear(d, 4 * d)
        self.mlp_proj = nn.Linear(4 * d, d)

    def attention(self, x):
        B, T, C = x.shape
        hd = C // self.n_head
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, hd).transpose(1, 2) for t in (q, k, v))
        if HAS_SDPA:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
            mask = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
            att = att.masked_fill(mask, float("-inf")).softmax(dim=-1)
            y = att @ v
        return self.c_proj(y.transpose(1, 2).reshape(B, T, C))

    def forward(self, x):
        x = x + self.attention(self.ln_1(x))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT2(nn.Module):
    def __init__(self, n_layer, d, n_head, vocab, ctx):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(ctx, d)
        self.h = nn.ModuleList(Block(d, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d, eps=1e-5)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, tokens, targets):
        T = tokens.shape[1]
        x = self.wte(tokens) + self.wpe(torch.arange(T, device=tokens.device))
        for block in self.h:
            x = block(x)
        logits = F.linear(self.ln_f(x), self.wte.weight)  # tied lm_head
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def batches(args, vocab, B, T):
    gen = torch.Generator().manual_seed(args.seed)
    if args.tokens:
        import numpy as np

        data = np.fromfile(args.tokens, dtype=np.uint16 if args.tokens_dtype == "uint16" else "<i4")
        data = torch.from_numpy(data.astype(np.int64))
        if data.numel() < B * T + 1:
            sys.exit(f"train_peer: {args.tokens}: {data.numel()} tokens, need {B * T + 1}")
        if int(data.max()) >= vocab:
            sys.exit(f"train_peer: {args.tokens}: token id {int(data.max())} >= vocab {vocab}")
        pos = 0
        while True:
            if pos + B * T + 1 > data.numel():
                pos = 0
            chunk = data[pos:pos + B * T + 1]
            pos += B * T
            yield chunk[:-1].view(B, T), chunk[1:].view(B, T)
    while True:
        x = torch.randint(0, vocab, (B, T + 1), generator=gen)
        yield x[:, :-1].contiguous(), x[:, 1:].contiguous()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("hyperlm", nargs="?", help=argparse.SUPPRESS)
    ap.add_argument("--model", choices=sorted(MODELS), default="gpt2-5m")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps before")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--tokens", help="flat file of token ids (default: random tokens)")
    ap.add_argument("--tokens-dtype", choices=["uint16", "int32"], default="uint16")
    ap.add_argument("--seed", type=int, default=1337)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set by an earlier parallel call
    torch.manual_seed(args.seed)
    L, d, H, V, ctx = MODELS[args.model]
    B, T = args.batch, args.seq
    if T > ctx:
        sys.exit(f"train_peer: --seq {T} > context {ctx} of {args.model}")
    model = GPT2(L, d, H, V, ctx)
    params = list(model.parameters())
    decay = [p for p in params if p.dim() == 2 and p is not model.wte.weight
             and p is not model.wpe.weight]
    rest = [p for p in params if not any(p is q for q in decay)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": rest, "weight_decay": 0.0}],
                            lr=3e-4, betas=(0.9, 0.95), eps=1e-8)
    data = batches(args, V, B, T)

    def step():
        x, y = next(data)
        opt.zero_grad(set_to_none=True)
        loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()

    losses = [step() for _ in range(args.warmup)]
    start = time.perf_counter()
    for _ in range(args.steps):
        losses.append(step())
    elapsed = time.perf_counter() - start
    ms = 1000.0 * elapsed / max(args.steps, 1)
    print(json.dumps({
        "tokens_per_s": round(B * T * args.steps / elapsed, 1),
        "ms_per_step": round(ms, 2),
        "torch": torch.__version__,
        "model": args.model, "batch": B, "seq": T, "threads": args.threads, "steps": args.steps,
        "params": sum(p.numel() for p in params),
        "attention": "sdpa" if HAS_SDPA else "manual",
        "loss_first": round(losses[0], 4), "loss_last": round(losses[-1], 4),
    }))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""llama.cpp's prompt (pp) and generation (tg) tokens/s on a GGUF file: the peer of bench/bench_infer.c.

Not a benchmark itself (bench/run.sh skips files that start with '_'); bench/infer_llamacpp.sh
calls it:

  _llamacpp_bench.py --model F.gguf --tokens IDS.txt [--pp 512] [--tg 128] [--prompt 16]
                     [--reps 1] [--threads 2] [--api low|high]

With llama-cpp-python, the way llama-bench measures: n_threads = n_threads_batch = THREADS,
n_batch = n_ubatch = 512 (PP when larger), n_ctx = max(PP, PROMPT + TG), llama.cpp's default
context otherwise (f16 KV cache, flash attention "auto"). pp: one llama_decode of the first PP
ids of IDS.txt on an empty cache, logits for the last one only. tg: after PROMPT ids (not
timed), TG llama_decode calls of one id each (the next ids of the file, fed, not sampled). One
untimed pp first (warm-up); each figure is the best of REPS. Prints one JSON line
{file, pp_tokens_per_s, tg_tokens_per_s, load_s}.

--api low (default) drives llama_decode with one llama_batch; --api high uses Llama.eval, which
also copies each step's logits into a numpy array (compare the two to see that overhead)."""
import argparse
import ctypes
import json
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--pp", type=int, default=512)
    ap.add_argument("--tg", type=int, default=128)
    ap.add_argument("--prompt", type=int, default=16)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--api", choices=["low", "high"], default="low")
    a = ap.parse_args()
    ids = [int(x) for x in open(a.tokens).read().split()]
    n_ctx = max(a.pp, a.prompt + a.tg)
    if len(ids) < n_ctx:
        sys.exit(f"_llamacpp_bench: {a.tokens} has {len(ids)} ids, need {n_ctx}")
    import llama_cpp as L

    t0 = time.perf_counter()
    n_batch = max(512, a.pp)
    if a.api == "high":
        llm = L.Llama(model_path=a.model, n_ctx=n_ctx, n_batch=n_batch, n_ubatch=n_batch,
                      n_threads=a.threads, n_threads_batch=a.threads, verbose=False)
        load_s = time.perf_counter() - t0

        def reset():
            llm.reset()
            L.llama_memory_clear(L.llama_get_memory(llm._ctx.ctx), True)

        def run(tokens):
            llm.eval(tokens)
    else:
        _quiet(L)
        L.llama_backend_init()
        mp = L.llama_model_default_params()
        model = L.llama_model_load_from_file(a.model.encode(), mp)
        if not model:
            sys.exit(f"_llamacpp_bench: llama.cpp could not load {a.model}")
        cp = L.llama_context_default_params()
        cp.n_ctx, cp.n_batch, cp.n_ubatch = n_ctx, n_batch, n_batch
        cp.n_threads = cp.n_threads_batch = a.threads
        cp.no_perf = True
        ctx = L.llama_init_from_model(model, cp)
        if not ctx:
            sys.exit("_llamacpp_bench: llama_init_from_model failed")
        mem = L.llama_get_memory(ctx)
        batch = L.llama_batch_init(n_batch, 0, 1)
        pos = [0]
        load_s = time.perf_counter() - t0

        def reset():
            L.llama_memory_clear(mem, True)
            pos[0] = 0

        def run(tokens):
            n = len(tokens)
            batch.n_tokens = n
            for i, t in enumerate(tokens):
                batch.token[i] = t
                batch.pos[i] = pos[0] + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = i == n - 1
            rc = L.llama_decode(ctx, batch)
            if rc != 0:
                sys.exit(f"_llamacpp_bench: llama_decode returned {rc}")
            L.llama_get_logits_ith(ctx, -1)  # waits for the result, as a caller that samples would
            pos[0] += n

    run(ids[:a.pp])  # warm-up
    best_pp = best_tg = float("inf")
    for _ in range(a.reps):
        reset()
        t = time.perf_counter()
        run(ids[:a.pp])
        L.llama_synchronize(llm._ctx.ctx if a.api == "high" else ctx)
        best_pp = min(best_pp, time.perf_counter() - t)
    for _ in range(a.reps):
        reset()
        run(ids[:a.prompt])
        t = time.perf_counter()
        for i in range(a.tg):
            run([ids[a.prompt + i]])
        L.llama_synchronize(llm._ctx.ctx if a.api == "high" else ctx)
        best_tg = min(best_tg, time.perf_counter() - t)
    print(json.dumps({"file": os.path.basename(a.model), "api": a.api, "threads": a.threads,
                      "pp": a.pp, "tg": a.tg, "pp_tokens_per_s": a.pp / best_pp,
                      "tg_tokens_per_s": a.tg / best_tg, "load_s": load_s}))


def _quiet(L):
    """Silences llama.cpp's log (it writes every tensor at load)."""
    cb = L.llama_log_callback(lambda level, text, user: None) if hasattr(L, "llama_log_callback") else None
    if cb is not None:
        _quiet.cb = cb  # keep the callback alive
        L.llama_log_set(cb, ctypes.c_void_p(0))


if __name__ == "__main__":
    sys.exit(main())

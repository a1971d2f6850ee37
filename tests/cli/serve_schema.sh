#!/usr/bin/env bash
# hyperlm serve against its own OpenAPI description (src/serve/page/openapi.json, served at
# /openapi.json): schemathesis generates requests from the schema (boundary values, then random
# valid and invalid ones) for every operation and checks each answer: no 5xx, the status code and
# content type are documented, the body matches the documented schema, documented headers are
# there (Retry-After, WWW-Authenticate), and a request the schema calls invalid is refused (4xx).
# So the description and the server cannot drift apart without this failing.
#
# The server runs a random 2-layer Llama with a context of 40 tokens (HLM_SCHEMA_CTX), so that
# generations are short. The schema is fetched from the server and narrowed for the run in two
# ways only, both exact (what is narrowed out the server refuses too): the model id is the served
# one (any other is a 404 before anything is generated; the request examples name it too), and
# token ids (logit_bias keys too) are below this vocabulary's size. The run is bounded
# (--max-examples) and seeded: HLM_SCHEMA_SEED picks another seed, HLM_SCHEMA_EXAMPLES more
# examples. Needs schemathesis (scripts/install-test-deps.sh, which make test runs); without it
# the run is SKIPPED.
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
source "$here/lib.bash"
run_flags=(-q)

py=$(bash "$repo/scripts/install-test-deps.sh" --python)
if ! "$py" -c "import schemathesis" 2>/dev/null; then
  echo "SKIPPED: $py has no schemathesis (scripts/install-test-deps.sh installs it); schema checks not run"
  finish serve_schema
  exit 0
fi

# a random 2-layer Llama whose tokenizer knows chatml's markers, so that a chat prompt is short
tiny_models --special '<|im_start|>' --special '<|im_end|>'
srv_pid=
stop_server() { [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null; srv_pid=; }
trap 'stop_server; rm -rf "$tmp"' EXIT
ctx=${HLM_SCHEMA_CTX:-40}
# one compute thread: schemathesis's two workers need the other core (an engine fighting for cores
# slows down many times over, and clients then time out). OMP_NUM_THREADS too: the scheduler's
# thread does not get --threads (OpenMP's thread count is per thread), so it would use every core.
OMP_NUM_THREADS=1 "$bin" serve -m "$tmp/llama" --port 0 --port-file "$tmp/port" --page-dir "$repo/src/serve/page" --threads 1 --ctx "$ctx" \
  >"$tmp/serve.log" 2>&1 &
srv_pid=$!
for _ in $(seq 1 200); do [ -s "$tmp/port" ] || ! kill -0 "$srv_pid" 2>/dev/null && break; sleep 0.1; done
checks=$((checks + 1))
if [ ! -s "$tmp/port" ]; then
  fail "the server did not start: $(cat "$tmp/serve.log")"
  finish serve_schema
  exit 1
fi
url=http://127.0.0.1:$(cat "$tmp/port")

# ---- the served description: the page folder's file, for OpenAPI 3.1 ----
checks=$((checks + 1))
"$py" - "$url" "$repo/src/serve/page/openapi.json" "$tmp/tok.json" "$tmp/schema.json" <<'PY' || fail "the served /openapi.json"
import json, sys, urllib.request
url, source, tokenizer, out = sys.argv[1:]
with urllib.request.urlopen(url + "/openapi.json", timeout=10) as r:
    served = json.load(r)
assert served == json.load(open(source)), "/openapi.json is not src/serve/page/openapi.json"
assert served["openapi"].startswith("3.1."), served["openapi"]
with urllib.request.urlopen(url + "/v1/models", timeout=10) as r:
    model = json.load(r)["data"][0]["id"]
tok = json.load(open(tokenizer))
vocab = 1 + max(list(tok["model"]["vocab"].values()) + [t["id"] for t in tok.get("added_tokens", [])])


def below(n):
    """A regular expression for the decimal numbers 0..n-1, leading zeros allowed (as the server reads them)."""
    top, alts = str(n - 1), []
    alts += ["[0-9]"] + ["[1-9]" + "[0-9]" * (k - 1) for k in range(2, len(top))]
    if len(top) > 1:
        for i, d in enumerate(top):
            lo = "1" if i == 0 else "0"
            if d > lo:
                alts.append(top[:i] + f"[{lo}-{int(d) - 1}]" + "[0-9]" * (len(top) - i - 1))
        alts.append(top)
    else:
        alts = [f"[0-{top}]"]
    return "^0*(" + "|".join(alts) + ")$"


schemas = served["components"]["schemas"]
schemas["ModelName"] = {"type": "string", "enum": [model]}
schemas["OptionalModelName"] = {"enum": [model, None]}
schemas["TokenId"]["maximum"] = vocab - 1
schemas["LogitBias"]["propertyNames"] = {"pattern": below(vocab)}
for item in served["paths"].values():  # the request examples, for the served model
    for op in item.values():
        example = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("example", {})
        if "model" in example:
            example["model"] = model
json.dump(served, open(out, "w"))
PY

# ---- schemathesis ----
seed=${HLM_SCHEMA_SEED:-1}
examples=${HLM_SCHEMA_EXAMPLES:-15}
checks_list=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance
checks_list+=,response_schema_conformance,negative_data_rejection,missing_required_header,unsupported_method
checks_list+=,allow_header_conformance
checks=$((checks + 1))
(cd "$tmp" && "$py" -m schemathesis.cli run "$tmp/schema.json" --url "$url" --seed "$seed" --max-examples "$examples" \
  --checks "$checks_list" \
  --generation-allow-x00 false --generation-database none --workers 2 --request-timeout 60 --no-color \
  >"$tmp/st.out" 2>&1)
rc=$?
grep -E "^ +[0-9]+ generated|^Seed:" "$tmp/st.out" | sed 's/^ */  /'
[ "$rc" -eq 0 ] || { fail "schemathesis (seed $seed) exited $rc"; sed 's/^/    /' "$tmp/st.out" | tail -120; }

# every operation was answered with success at least once (the request examples make sure of it),
# so the success bodies were checked against their schemas, not only the errors
for op in "GET /v1/models 200" "GET /v1/models/llama 200" "POST /v1/completions 200" "POST /v1/chat/completions 200" \
  "POST /v1/embeddings 200" "POST /tokenize 200" "POST /detokenize 200" "GET /health 200" "GET /metrics 200"; do
  checks=$((checks + 1))
  grep -aqF "hyperlm: $op " "$tmp/serve.log" || fail "no '$op' in the run"
done
echo "  answers: $(grep -aoE 'hyperlm: POST [^ ]+ [0-9]{3}' "$tmp/serve.log" | sed 's/hyperlm: //' | sort | uniq -c |
  awk '{print $2 " " $3 " " $4 " x" $1}' | paste -sd, - | sed 's/,/, /g')"

# ---- the server came through it and stops cleanly ----
sigterm_exits_zero "$srv_pid" "$tmp/serve.log"
srv_pid=
finish serve_schema

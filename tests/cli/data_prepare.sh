#!/usr/bin/env bash
# hyperlm data prepare / extract / clean / dedup on a generated corpus (JSONL, an HTML folder and
# a WARC file) with planted exact duplicates, near-duplicates (5% of words changed), boilerplate
# lines, PII, and Japanese documents to be dropped by --lang ko,en. Checks: every document is
# accounted for (in = kept + removed), the planted cases are removed, N parts + merge keep the same
# documents as one run (also as N processes under mpirun), the thread count does not change the output, the stage commands chained
# equal prepare, the memory cap holds on a corpus larger than it, and bad input fails cleanly.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.bash"
py=python3

mkdir -p "$tmp/in/pages"
$py - "$tmp/in" <<'EOF'
import gzip, json, random, sys
out = sys.argv[1]
rng = random.Random(7)
ko_words = ("한국어 문장 데이터 모델 학습 과정 결과 사용 방법 기능 설정 파일 경우 문서 내용 설명 프로그램 "
            "사용자 시스템 정보 처리 개발 서비스 지원 변경 추가 확인 선택 작업 화면 항목 도구 메뉴 이름 "
            "값을 위해 통해 대한 있는 하는 같은 다른 모든 새로운 여러 가장 함께 이후 다시 먼저 이미 "
            "그리고 하지만 또는 그러나 따라서 정말 매우 조금 많이 자주 항상 바로 오늘 내일 우리 그들").split()
en_words = ("the of and to in is that for it with as was on be by this are from or have an they which "
            "one you were all we her she there would their what so up out if about who get go me when "
            "make can like time no just him know take people into year your good some could them see "
            "other than then now look only come its over think also back after use two how our work "
            "first well way even new want because any these give day most us model data training "
            "corpus token filter quality language document pipeline cluster memory process thread").split()
def sentence(words, n):
    s = " ".join(rng.choice(words) for _ in range(n))
    return s[0].upper() + s[1:] + "."
def doc(words, sentences=12):
    lines = []
    for _ in range(sentences // 3):
        lines.append(" ".join(sentence(words, rng.randint(8, 14)) for _ in range(3)))
    return "\n".join(lines)
docs = []
for i in range(120):
    docs.append(("ko", doc(ko_words)))
    docs.append(("en", doc(en_words)))
truth = {"exact": [], "near": [], "ja": [], "pii": [], "boiler": []}
recs = []
for i, (lang, text) in enumerate(docs):
    recs.append({"id": f"d{i:04d}", "text": text, "source": "gen", "meta": {"n": i}})
# exact duplicates (same text up to case and spacing) of the first 20
for i in range(20):
    t = recs[i]["text"].replace(" ", "  ").upper() if i % 2 else recs[i]["text"]
    recs.append({"id": f"x{i:04d}", "text": t, "source": "gen"}); truth["exact"].append(f"x{i:04d}")
# near duplicates: 3% of words replaced
for i in range(20, 60):
    w = recs[i]["text"].split(" ")
    for k in rng.sample(range(len(w)), max(1, len(w) * 3 // 100)):
        w[k] = "변경" if i % 2 == 0 else "changed"
    recs.append({"id": f"n{i:04d}", "text": " ".join(w), "source": "gen"}); truth["near"].append(f"n{i:04d}")
# Japanese
for i in range(10):
    t = "これは日本語の文書です。" * 5 + "東京で会議があります。" * 5
    recs.append({"id": f"j{i:04d}", "text": t + str(i), "source": "gen"}); truth["ja"].append(f"j{i:04d}")
# PII and boilerplate in kept documents
for i in range(60, 80):
    # the line differs in words, not only in digits (boilerplate detection maps digits to 0)
    recs[i]["text"] += f"\n{rng.choice(ko_words)} {rng.choice(ko_words)} 연락처: user{i}@example.com 또는 010-1234-{5600 + i}로 문의하세요."
    truth["pii"].append(recs[i]["id"])
for i in range(80, 100):
    recs[i]["text"] += "\nCopyright 2026 Example Corporation. All rights reserved worldwide."
    truth["boiler"].append(recs[i]["id"])
rng.shuffle(recs)
with open(f"{out}/docs.jsonl", "w", encoding="utf-8") as f:
    for r in recs: f.write(json.dumps(r, ensure_ascii=False) + "\n")
# HTML pages: the nav and footer must not survive; 5 pages
for i in range(5):
    body = "".join(f"<p>{sentence(en_words, 12)} {sentence(en_words, 10)}</p>" for _ in range(8))
    page = (f"<html><head><title>Page {i}</title><script>var x = 1;</script></head><body>"
            f"<nav>Home | About | NAVLINK</nav><main>{body}</main><footer>FOOTERTEXT</footer></body></html>")
    open(f"{out}/pages/p{i}.html", "w").write(page)
# a WARC file (gzip member per record) with two HTML responses and a request record
def record(kind, uri, payload, ctype):
    head = (f"WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Target-URI: {uri}\r\nWARC-Record-ID: <urn:uuid:{uri[-1]}>\r\n"
            f"WARC-Date: 2026-01-01T00:00:00Z\r\nContent-Type: {ctype}\r\nContent-Length: {len(payload)}\r\n\r\n")
    return gzip.compress(head.encode() + payload + b"\r\n\r\n")
with open(f"{out}/crawl.warc.gz", "wb") as f:
    for k in range(2):
        html = "<html><body>" + "".join(f"<p>{sentence(en_words, 12)}</p>" for _ in range(10)) + "</body></html>"
        body = html.encode()
        http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: " + \
               str(len(body)).encode() + b"\r\n\r\n" + body
        f.write(record("response", f"https://example.com/{k}", http, "application/http; msgtype=response"))
        f.write(record("request", f"https://example.com/{k}", b"GET / HTTP/1.1\r\n\r\n",
                       "application/http; msgtype=request"))
json.dump(truth, open(f"{out}/../truth.json", "w"))
EOF

cat >"$tmp/config.json" <<'EOF'
{
  "lang": ["ko", "en"],
  "filters": {"ko": {"min_stop_words": 0}, "default": {"c4_min_sentences": 0}},
  "dedup": {"line_min_docs": 5}
}
EOF

docs_of() { # the kept documents of an output folder or file as sorted "id<TAB>text" lines
  $py - "$@" <<'EOF'
import glob, json, os, subprocess, sys
rows = []
for p in sys.argv[1:]:
    files = sorted(glob.glob(p + "/docs/*.jsonl.zst")) if os.path.isdir(p) else [p]
    for f in files:
        data = subprocess.run(["zstd", "-dc", f], capture_output=True, check=True).stdout if f.endswith(".zst") \
            else open(f, "rb").read()
        for line in data.decode().splitlines():
            r = json.loads(line); rows.append(r["id"] + "\t" + json.dumps(r["text"], ensure_ascii=False))
print("\n".join(sorted(rows)))
EOF
}

# 1. the whole chain
run 0 data prepare --input "$tmp/in" --output "$tmp/out1" --config "$tmp/config.json" --threads 2 -q
contains "$tmp/out1/report.txt" "documents:" "prepare report summary"
$py - "$tmp/out1" "$tmp/truth.json" >"$tmp/check1" <<'EOF'
import glob, json, subprocess, sys
d, truth = sys.argv[1], json.load(open(sys.argv[2]))
rep = json.load(open(d + "/report.json"))
kept = {}
for f in sorted(glob.glob(d + "/docs/*.jsonl.zst")):
    for line in subprocess.run(["zstd", "-dc", f], capture_output=True, check=True).stdout.decode().splitlines():
        r = json.loads(line); kept[r["id"]] = r
problems = []
docs = rep["documents"]
removed = sum(v["count"] for v in rep["removed"].values())
if docs["in"] != docs["kept"] + removed: problems.append(f"in {docs['in']} != kept {docs['kept']} + removed {removed}")
if docs["kept"] != len(kept): problems.append(f"report kept {docs['kept']} but {len(kept)} documents written")
if docs["in"] != 310 + 5 + 2: problems.append(f"documents in {docs['in']}, expected 317")
if not docs["in_equals_kept_plus_removed"]: problems.append("flag in_equals_kept_plus_removed false")
# of each planted pair exactly one document survives (the first in input order)
for k in truth["exact"]:
    if (k in kept) + ("d" + k[1:] in kept) != 1: problems.append(f"exact pair {k}: {(k in kept) + ('d' + k[1:] in kept)} kept")
both = [k for k in truth["near"] if k in kept and "d" + k[1:] in kept]
if len(both) > 0.1 * len(truth["near"]): problems.append(f"near-duplicate pairs both kept: {both}")
if [k for k in truth["near"] if k not in kept and "d" + k[1:] not in kept]: problems.append("near pair lost both")
for k in truth["ja"]:
    if k in kept: problems.append(f"Japanese {k} kept")
if rep["removed"].get("language", {}).get("count", 0) < 10: problems.append("language removals < 10")
for k in truth["pii"]:
    t = kept.get(k, {}).get("text", "")
    if "@example.com" in t or "010-1234-" in t or "<EMAIL>" not in t or "<PHONE>" not in t:
        problems.append(f"PII not replaced in {k}: {t[-80:]!r}")
for k in truth["boiler"]:
    if "Copyright 2026" in kept.get(k, {}).get("text", "Copyright 2026"): problems.append(f"boilerplate kept in {k}")
if rep["lines_removed"]["dedup"] < 20: problems.append("boilerplate lines removed < 20")
for k, r in kept.items():
    if "NAVLINK" in r["text"] or "FOOTERTEXT" in r["text"] or "var x" in r["text"]: problems.append(f"page chrome in {k}")
    if k.startswith("d") and r.get("meta", {}).get("n") is None: problems.append(f"meta field lost in {k}")
    if r.get("lang") not in ("ko", "en"): problems.append(f"{k} has lang {r.get('lang')}")
pages = [k for k in kept if k.endswith(".html")]
if len(pages) != 5: problems.append(f"{len(pages)} HTML pages kept, expected 5")
if not [r for r in kept.values() if r.get("url", "").startswith("https://example.com/")]: problems.append("no WARC document")
if rep.get("warc_records_skipped") != 2: problems.append(f"warc_records_skipped {rep.get('warc_records_skipped')}")
for name, v in rep["removed"].items():
    if v["count"] and not v["examples"]: problems.append(f"no example for {name}")
print("\n".join(problems) if problems else "ok")
EOF
checks=$((checks + 1))
[ "$(cat "$tmp/check1")" = ok ] || fail "prepare results: $(head -5 "$tmp/check1")"

# 2. three parts + merge keep the same documents as one run
for p in 0 1 2; do
  run 0 data prepare --input "$tmp/in" --output "$tmp/out3" --config "$tmp/config.json" --part $p/3 --threads 1 -q
done
absent "$tmp/out3/report.json" "parts before the merge"
run 0 data dedup --merge "$tmp/out3" --config "$tmp/config.json" -q
docs_of "$tmp/out1" >"$tmp/one"
docs_of "$tmp/out3" >"$tmp/three"
same "$tmp/one" "$tmp/three" "3 parts + merge against one run"
$py -c "import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r['documents']['in_equals_kept_plus_removed'] and r['parts']==3 else 1)" "$tmp/out3/report.json"
checks=$((checks + 1)); [ $? -eq 0 ] || fail "merged report does not add up"

# 2b. under mpirun: rank i runs part i of N, the ranks all-gather the signatures and line counts
#     and each writes its own part: the same documents as one run, and at np=3 the same report
#     as 3 parts + merge (timings aside). No rank reads another's pass-1 files: each keeps them in
#     a scratch folder of its own, removed at the end, and the ranks can even be given different
#     output folders (as on machines that share none). A rank that fails, in pass 1 or 2, ends
#     the job with a non-zero exit, not a hang. (Skipped without mpirun; without MPI in the
#     build, a clear error is checked and the rest skipped.)
mpi() { # mpirun ARGS..., with the settings that let it run here, output in $tmp/out and $tmp/err
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 \
    LSAN_OPTIONS="suppressions=$here/../lsan-mpi.supp:print_suppressions=0:fast_unwind_on_malloc=0" \
    timeout 120 mpirun "$@" >"$tmp/out" 2>"$tmp/err"
}
with_mpi=0
if command -v mpirun >/dev/null; then
  echo '{"text": "probe"}' >"$tmp/probe.jsonl"
  if mpi -np 2 "$bin" data prepare --input "$tmp/probe.jsonl" --output "$tmp/probe" -q; then
    with_mpi=1
  else
    contains "$tmp/err" "built without MPI" "mpirun data prepare without MPI in the build"
    echo "note: hyperlm was built without MPI; section 2b skipped"
  fi
fi
if [ $with_mpi = 1 ]; then
  without_timings() {
    $py - "$1" <<'EOF'
import json, sys
def strip(x):
    if isinstance(x, dict):
        return {k: strip(v) for k, v in x.items() if k not in ("wall_seconds", "cpu_seconds", "mb_per_s_per_core")}
    return [strip(v) for v in x] if isinstance(x, list) else x
print(json.dumps(strip(json.load(open(sys.argv[1]))), indent=1, ensure_ascii=False))
EOF
  }
  docs_of "$tmp/out1" >"$tmp/one"
  for np in 2 3; do
    mpi -np $np "$bin" data prepare --input "$tmp/in" --output "$tmp/outmpi$np" --config "$tmp/config.json" \
      --threads 1 -q
    checks=$((checks + 1)); [ $? -eq 0 ] || { fail "mpirun -np $np data prepare"; head -5 "$tmp/err"; }
    docs_of "$tmp/outmpi$np" >"$tmp/mpi"
    same "$tmp/one" "$tmp/mpi" "mpirun -np $np data prepare against one run"
    $py -c "import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r['documents']['in_equals_kept_plus_removed'] and r['parts']==$np else 1)" "$tmp/outmpi$np/report.json"
    checks=$((checks + 1)); [ $? -eq 0 ] || fail "mpirun -np $np report does not add up"
    left=$(cd "$tmp/outmpi$np/parts" && ls -d -- *.sigs *.lines *.exchange 2>/dev/null | tr '\n' ' ')
    checks=$((checks + 1)); [ -z "$left" ] || fail "mpirun -np $np left pass-1 exchange files: $left"
    checks=$((checks + 1)); [ -f "$tmp/outmpi$np/report.txt" ] || fail "mpirun -np $np wrote no report.txt"
  done
  without_timings "$tmp/out3/report.json" >"$tmp/rep3"
  without_timings "$tmp/outmpi3/report.json" >"$tmp/repmpi3"
  same "$tmp/rep3" "$tmp/repmpi3" "mpirun -np 3 report against 3 parts + merge"

  # no shared folder: rank 0 writes to A, rank 1 to B; together the documents of one run
  mpi -np 1 "$bin" data prepare --input "$tmp/in" --output "$tmp/outA" --config "$tmp/config.json" --threads 1 -q : \
    -np 1 "$bin" data prepare --input "$tmp/in" --output "$tmp/outB" --config "$tmp/config.json" --threads 1 -q
  checks=$((checks + 1)); [ $? -eq 0 ] || { fail "mpirun with an output folder per rank"; head -5 "$tmp/err"; }
  docs_of "$tmp/outA" "$tmp/outB" >"$tmp/mpi"
  same "$tmp/one" "$tmp/mpi" "mpirun -np 2 into two unshared folders against one run"
  checks=$((checks + 1))
  [ -f "$tmp/outA/report.json" ] && [ ! -e "$tmp/outB/report.json" ] && [ ! -e "$tmp/outA/docs/part-00001.jsonl.zst" ] ||
    fail "output folder per rank: rank 0 writes the report, each rank only its own part"

  # pass 1 fails on rank 1 only (its part is the second file, a corrupt one)
  printf '{"text":"fine"}\n{"text": oops}\n' >"$tmp/corrupt.jsonl"
  mpi -np 2 "$bin" data prepare --input "$tmp/in/docs.jsonl" --input "$tmp/corrupt.jsonl" --output "$tmp/outfail1" -q
  rc=$?
  checks=$((checks + 1)); [ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "mpirun with a failing rank in pass 1: exit $rc"
  contains "$tmp/err" "corrupt.jsonl:2" "the failing rank's error"
  contains "$tmp/err" "1 of 2 processes failed in pass 1" "pass-1 failure counted"
  absent "$tmp/outfail1/report.json" "mpirun with a failing rank in pass 1"
  # pass 2 fails on rank 1 only: the name of its final documents is taken by a folder
  mkdir -p "$tmp/outfail2/docs/part-00001.jsonl.zst"
  mpi -np 2 "$bin" data prepare --input "$tmp/in" --output "$tmp/outfail2" --config "$tmp/config.json" --threads 1 -q
  rc=$?
  checks=$((checks + 1)); [ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "mpirun with a failing rank in pass 2: exit $rc"
  contains "$tmp/err" "part-00001.jsonl.zst" "the failing rank's pass-2 error"
  contains "$tmp/err" "1 of 2 processes failed in pass 2" "pass-2 failure counted"
  absent "$tmp/outfail2/report.json" "mpirun with a failing rank in pass 2"
fi

# 3. one thread gives the same bytes as two
run 0 data prepare --input "$tmp/in" --output "$tmp/out1t" --config "$tmp/config.json" --threads 1 -q
same "$tmp/out1/docs/part-00000.jsonl.zst" "$tmp/out1t/docs/part-00000.jsonl.zst" "1 thread against 2"

# 4. extract -> clean -> dedup equals prepare
run 0 data extract --input "$tmp/in" --output "$tmp/x.jsonl" -q
run 0 data clean --input "$tmp/x.jsonl" --output "$tmp/c.jsonl.zst" --config "$tmp/config.json" -q
run 0 data dedup --input "$tmp/c.jsonl.zst" --output "$tmp/d.jsonl" --config "$tmp/config.json" -q
docs_of "$tmp/d.jsonl" >"$tmp/chained"
same "$tmp/one" "$tmp/chained" "extract | clean | dedup against prepare"
$py -c "import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r['documents']['in']==317 and r['documents']['kept']==317 else 1)" "$tmp/x.jsonl.report.json"
checks=$((checks + 1)); [ $? -eq 0 ] || fail "extract report: expected 317 documents in and out"
absent "$tmp/d.jsonl.parts" "dedup scratch folder"

# 5. with a tokenizer: shards that inspect verifies
run 0 data prepare --input "$tmp/in/docs.jsonl" --output "$tmp/outt" --config "$tmp/config.json" \
  --tokenizer "$HLM_FIXTURES/tokenizer/hf_hyperlm.json" --val-fraction 0.1 -q
run 0 data inspect "$tmp/outt/shards/train-00000.tok"
contains "$tmp/out" "checksum" "inspect of a prepared shard"

# 6. a corpus several times the memory cap: bounded peak memory
size_mb=96; cap_mb=32
[ -n "${ASAN_OPTIONS:-}" ] && size_mb=16 # sanitizers: slower and heavier, check the pass only
$py - "$tmp/big.jsonl" $size_mb <<'EOF'
import json, random, sys
rng = random.Random(1)
words = [("가나다라마바사아자차카타파하"[i % 14] + "어" * (i % 4) + "문서") for i in range(3000)]
target, n = int(sys.argv[2]) << 20, 0
with open(sys.argv[1], "w", encoding="utf-8") as f:
    i = 0
    while n < target:
        text = "\n".join(" ".join(rng.choice(words) for _ in range(40)) + "." for _ in range(20))
        line = json.dumps({"id": str(i), "text": text, "source": "big"}, ensure_ascii=False) + "\n"
        f.write(line); n += len(line.encode()); i += 1
EOF
$py - "$bin" "$tmp" $size_mb $cap_mb >"$tmp/mem" <<'EOF'
import os, resource, subprocess, sys
bin, tmp, size_mb, cap_mb = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
r = subprocess.run([bin, "data", "prepare", "--input", tmp + "/big.jsonl", "--output", tmp + "/outbig",
                    "--max-memory", f"{cap_mb}M", "--threads", "2", "--no-filters", "-q"], capture_output=True)
peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
if r.returncode: print("exit", r.returncode, r.stderr.decode()[-300:])
elif not os.environ.get("ASAN_OPTIONS") and peak_mb > cap_mb + 96:
    print(f"peak {peak_mb:.0f} MB for a {size_mb} MB corpus with --max-memory {cap_mb}M (allowed: cap + 96 MB of code and libraries)")
else: print("ok")
EOF
checks=$((checks + 1))
[ "$(cat "$tmp/mem")" = ok ] || fail "memory cap: $(cat "$tmp/mem")"

# 6b. a bad-word list (C4's optional rule) from the config
printf '# one a line\nzorkmid\n\n  frobozz bar  \n' >"$tmp/bad_words.txt"
cat >"$tmp/bw.json" <<EOF
{"filters": {"bad_words_file": "$tmp/bad_words.txt",
             "default": {"c4_min_sentences": 0, "min_doc_words": 0, "min_stop_words": 0, "gopher_repetition": 0}}}
EOF
$py - "$tmp/bw.jsonl" <<'EOF'
import json, sys
texts = ["The cat sat on the mat and looked at the bird.", "The zorkmid coin fell under the table and rolled.",
         "They went to the frobozz bar after work today.", "A frobozz barn is not the same thing at all."]
with open(sys.argv[1], "w") as f:
    for i, t in enumerate(texts): f.write(json.dumps({"id": f"b{i}", "text": t, "lang": "en"}) + "\n")
EOF
run 0 data clean --input "$tmp/bw.jsonl" --output "$tmp/bw.out.jsonl" --config "$tmp/bw.json" --no-langid -q
checks=$((checks + 1))
[ "$(cut -c1-10 "$tmp/bw.out.jsonl" | tr '\n' ' ')" = '{"id":"b0" {"id":"b3" ' ] ||
  fail "bad words: kept $(cut -c1-10 "$tmp/bw.out.jsonl" | tr '\n' ' ')"
contains "$tmp/bw.out.jsonl.report.json" "quality/c4_bad_words" "bad words counted"
echo '{"filters": {"default": {"c4_filter_bad_words": true}}}' >"$tmp/bw2.json"
run 2 data clean --input "$tmp/bw.jsonl" --output "$tmp/bw2.out.jsonl" --config "$tmp/bw2.json" -q
contains "$tmp/err" "bad_words_file" "bad-word rule without a list"

# 7. bad input
run 1 data prepare --input "$tmp/missing.jsonl" --output "$tmp/bad1" -q
contains "$tmp/err" "missing.jsonl" "missing input named"
printf '{"text":"fine"}\n{"text": oops}\n' >"$tmp/corrupt.jsonl"
run 1 data clean --input "$tmp/corrupt.jsonl" --output "$tmp/bad2.jsonl" -q
contains "$tmp/err" "corrupt.jsonl:2" "corrupt JSONL line named"
absent "$tmp/bad2.jsonl" "clean of a corrupt file"
echo '{"dedup": {"bandz": 3}}' >"$tmp/badcfg.json"
run 2 data prepare --input "$tmp/in/docs.jsonl" --output "$tmp/bad3" --config "$tmp/badcfg.json" -q
contains "$tmp/err" "dedup.bandz" "unknown config key named"
echo '{"dedup": {"korean_shingles": "eojeol"}}' >"$tmp/badcfg1.json"
run 2 data prepare --input "$tmp/in/docs.jsonl" --output "$tmp/bad3" --config "$tmp/badcfg1.json" -q
contains "$tmp/err" 'dedup.korean_shingles: expected "characters", "words" or "morphemes"' "bad Korean shingles named"
echo '{"filters": {"ko": {"dup_line_frac": "high"}}}' >"$tmp/badcfg2.json"
run 2 data prepare --input "$tmp/in/docs.jsonl" --output "$tmp/bad3" --config "$tmp/badcfg2.json" -q
contains "$tmp/err" "filters.ko.dup_line_frac" "wrongly typed config value named"
run 2 data prepare --input "$tmp/in/docs.jsonl" --output "$tmp/bad4" --part 3/3
contains "$tmp/err" "--part" "bad part named"
run 2 data prepare --input "$tmp/in/docs.jsonl" --output "$tmp/bad4" --max-memory lots
contains "$tmp/err" "--max-memory" "bad memory size named"
run 0 data prepare --input "$tmp/in/docs.jsonl" --output "$tmp/out5" --part 0/2 -q
run 1 data dedup --merge "$tmp/out5" -q
contains "$tmp/err" "part 1 of 2" "merge with a part missing"
run 0 data prepare --input "$tmp/in/docs.jsonl" --output "$tmp/out5" --part 1/2 -q
sig=$(ls "$tmp/out5/parts/"*of-00002.sigs | head -1)
head -c 100 "$sig" >"$sig.cut" && mv "$sig.cut" "$sig"
run 1 data dedup --merge "$tmp/out5" -q
contains "$tmp/err" "$(basename "$sig")" "truncated signatures file named"
absent "$tmp/out5/report.json" "merge over a truncated signatures file"
printf 'WARC/1.0\r\nWARC-Type: response\r\nContent-Length: 999\r\n\r\nshort' >"$tmp/trunc.warc"
run 1 data extract --input "$tmp/trunc.warc" --output "$tmp/bad5.jsonl" -q
contains "$tmp/err" "trunc.warc" "truncated WARC named"
absent "$tmp/bad5.jsonl" "extract of a truncated WARC"

finish data_prepare

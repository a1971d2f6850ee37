#!/usr/bin/env python3
"""datatrove's MinHash deduplication (the peer of `hyperlm data dedup`), on one core.

Not a benchmark itself (bench/run.sh skips files that start with '_'); bench/data_pipeline.sh
calls it:

  _dedup_peer.py --input DOCS.jsonl --work DIR --lang ko|en --out REMOVED_IDS.txt

Runs datatrove 0.10.1's four MinHash stages with its default configuration, which is also ours
(5-gram shingles, 14 buckets x 8 hashes, seed 1): MinhashDedupSignature -> MinhashDedupBuckets ->
MinhashDedupCluster -> MinhashDedupFilter, each through LocalPipelineExecutor with one task and one
worker. Prints one JSON line: the CPU seconds (this process and its children, so that other load
on the machine does not count), input MB, MB/s per core, and the number of documents removed;
writes the removed documents' ids, one per line.

datatrove shingles words from its word tokenizer for the language (Korean: kiwipiepy, which
finds no morphemes in the jamo that datatrove's simplify_text leaves of Hangul, so its tokens
are the words; English: spaCy). We shingle Korean as characters by default, or as datatrove's
words with dedup.korean_shingles "words" (docs/data-pipeline.md)."""
import argparse
import json
import os
import resource
import sys


def cpu_s():
    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--lang", default="en")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    import logging
    logging.disable(logging.WARNING)
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import (MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter,
                                          MinhashDedupSignature)
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    try:
        from loguru import logger
        logger.remove()
    except ImportError:
        pass

    # datatrove 0.10.1 hands str to xxhash, which xxhash >= 4 refuses: encode first (the hash of
    # the UTF-8 bytes, which is what older xxhash computed for a str)
    import datatrove.utils.hashes.xxhash as dxx
    import xxhash
    dxx.xxhash32 = lambda d: xxhash.xxh32_intdigest(d.encode() if isinstance(d, str) else d)
    dxx.xxhash64 = lambda d: xxhash.xxh64_intdigest(d.encode() if isinstance(d, str) else d)

    cfg = MinhashConfig()  # 5-grams, 14 buckets x 8 hashes, seed 1
    w = a.work
    src_dir, name = os.path.split(os.path.abspath(a.input))
    lang = {"ko": "kor_Hang", "en": "eng_Latn"}.get(a.lang, a.lang)

    def reader():
        return JsonlReader(src_dir, glob_pattern=name, id_key="id", text_key="text")

    def run(pipeline, tasks=1):
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=1, logging_dir=f"{w}/logs-{len(os.listdir(w))}",
                              skip_completed=False).run()

    t0 = cpu_s()
    run([reader(), MinhashDedupSignature(output_folder=f"{w}/sigs", config=cfg, language=lang)])
    run([MinhashDedupBuckets(input_folder=f"{w}/sigs", output_folder=f"{w}/buckets", config=cfg)],
        tasks=cfg.num_buckets)
    run([MinhashDedupCluster(input_folder=f"{w}/buckets", output_folder=f"{w}/remove", config=cfg)])
    run([reader(), MinhashDedupFilter(input_folder=f"{w}/remove",
                                      exclusion_writer=JsonlWriter(f"{w}/removed", compression=None)),
         JsonlWriter(f"{w}/kept", compression=None)])
    spent = cpu_s() - t0

    removed = []
    for root, _, files in os.walk(f"{w}/removed"):
        for f in sorted(files):
            with open(os.path.join(root, f), encoding="utf-8") as fh:
                removed += [json.loads(line)["id"] for line in fh if line.strip()]
    with open(a.out, "w", encoding="utf-8") as f:
        f.write("".join(i + "\n" for i in removed))
    mb = os.path.getsize(a.input) / 1e6
    print(json.dumps({"cpu_s": spent, "mb": mb, "mb_per_s_per_core": mb / spent, "removed": len(removed)}))


if __name__ == "__main__":
    sys.exit(main())

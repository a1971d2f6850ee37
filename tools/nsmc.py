"""NSMC reviews (../shared/data/nsmc/reviews.tsv.zst): the review column, shared by the fixture
generators and the benchmarks."""
import os
import subprocess


def reviews(shared_dir, n_bytes):
    """The first reviews, joined by newlines, until they hold at least n_bytes of UTF-8."""
    path = os.path.join(shared_dir, "data", "nsmc", "reviews.tsv.zst")
    raw = subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout.decode("utf-8")
    out, n = [], 0
    for line in raw.split("\n")[1:]:
        cols = line.split("\t")
        if len(cols) < 4:
            continue
        out.append(cols[3])
        n += len(cols[3].encode("utf-8")) + 1
        if n >= n_bytes:
            break
    return "\n".join(out)

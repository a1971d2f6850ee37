#!/usr/bin/env python3
"""Writes the quantization reference fixtures into tests/fixtures/quant/ (`make fixtures`).

usage: gen_quant_fixtures.py

One file per type, <type>.bin (q8_0, q4_0, q4_1, q5_0, q5_1, f16), all little-endian:

  magic    8 bytes  b"HLMQFIX1"
  type     u32      GGML type id (gguf.GGMLQuantizationType)
  n        u32      values
  x        f32[n]   the input row
  quant    bytes    gguf-py's quantization of x (gguf.quants.quantize: numpy, the same arithmetic
                    as ggml's reference C quantizers)
  deq      f32[n]   gguf-py's dequantization of those bytes

The block types share one row of 44 blocks: random normal rows at three scales and the edge
cases (an all-zero block, values up to fp16's largest scale, a scale that overflows fp16 to
infinity, a negative maximum, +/- ties for the largest magnitude in both orders, constant blocks
(Q4_1's d = 0), exact halves for round-half-away, scales that are fp16 subnormals or round to
zero in fp16). f16.bin holds float32 values around every fp16 rounding boundary (ties, the
subnormal range, overflow to infinity, infinities, a quiet NaN) and numpy's float16 cast of them.

Needs numpy and gguf (gguf-py, PyPI 0.19.0 was used). Deterministic: running it twice writes the
same bytes.
"""
import os
import struct
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(os.environ.get("HLM_FIXTURES", os.path.join(REPO, "tests", "fixtures")), "quant")


def block_row():
    rng = np.random.default_rng(20240611)
    blocks = []
    for scale in [1.0] * 16 + [1e-3] * 4 + [300.0] * 4:
        blocks.append(rng.standard_normal(32) * scale)
    blocks.append(np.zeros(32))                                         # all zero
    b = rng.uniform(-60000, 60000, 32); b[5] = 65504.0; blocks.append(b)  # large, finite scales
    b = rng.standard_normal(32); b[9] = -65504.0 * 8; blocks.append(b)   # Q4_0 d = 65504 exactly
    b = rng.standard_normal(32); b[3] = 1e7; blocks.append(b)           # Q8_0/Q4_1 scale overflows to inf
    b = rng.standard_normal(32); b[17] = -5.0; blocks.append(b)         # negative maximum
    b = rng.standard_normal(32); b[2] = 4.0; b[30] = -4.0; blocks.append(b)  # tie, positive first
    b = rng.standard_normal(32); b[2] = -4.0; b[30] = 4.0; blocks.append(b)  # tie, negative first
    blocks.append(np.full(32, 1.5))                                     # constant: Q4_1 d = 0
    blocks.append(np.full(32, -0.25))
    b = np.arange(32) - 15.5; b[0] = 127.0; blocks.append(b)            # Q8_0 id = 1: exact halves
    b = np.arange(32) * 0.5 - 8.0; blocks.append(b)                     # Q4_0 d = 1: exact halves
    blocks.append(rng.standard_normal(32) * 1e-5)                       # fp16 subnormal scales
    blocks.append(rng.standard_normal(32) * 1e-9)                       # scales round to 0 in fp16
    b = rng.standard_normal(32); b[::2] = np.abs(b[::2]); blocks.append(b)
    b = -np.abs(rng.standard_normal(32)); blocks.append(b)              # all negative
    b = np.abs(rng.standard_normal(32)); blocks.append(b)               # all positive
    blocks.append(rng.uniform(-1, 1, 32).round(2))
    blocks.append(rng.standard_normal(32) ** 3)                         # heavy tails
    blocks.append(rng.standard_normal(32) * 20)
    blocks.append(rng.standard_normal(32) * 0.05)
    return np.concatenate(blocks).astype(np.float32)


def f16_row():
    rng = np.random.default_rng(7)
    vals = []
    # random bit patterns over every exponent that matters to fp16 (2^-27 .. 2^17)
    bits = rng.integers(0, 1 << 23, 1200, dtype=np.uint32) | (rng.integers(100, 144, 1200, dtype=np.uint32) << 23)
    bits |= rng.integers(0, 2, 1200, dtype=np.uint32) << 31
    vals.append(bits.view(np.float32))
    # exact ties and their neighbours: halfway between consecutive fp16 values, normal and subnormal
    h = rng.integers(0, 0x7BFF, 200, dtype=np.uint16)
    lo = h.view(np.float16).astype(np.float64)
    hi = (h + 1).view(np.float16).astype(np.float64)
    mid = ((lo + hi) / 2).astype(np.float32)
    vals += [mid, np.nextafter(mid, np.float32(np.inf)), np.nextafter(mid, np.float32(-np.inf))]
    special = [0.0, -0.0, 65504.0, 65519.996, 65520.0, 65536.0, 1e10, -1e10, 2.0 ** -24, 2.0 ** -25,
               2.0 ** -25 * 1.0000001, 3 * 2.0 ** -26, 2.0 ** -14, 2.0 ** -14 * (1 - 2.0 ** -11),
               np.inf, -np.inf, np.nan, 1.0, -1.0, 1 / 3, 0.1, 6e-8, 5.96e-8, 1e-30]
    vals.append(np.array(special, dtype=np.float32))
    row = np.concatenate(vals).astype(np.float32)
    return row[: len(row) // 32 * 32]


def write(name, qtype, x, quant, deq):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name + ".bin")
    with open(path, "wb") as f:
        f.write(b"HLMQFIX1")
        f.write(struct.pack("<II", int(qtype), len(x)))
        f.write(x.astype("<f4").tobytes())
        f.write(np.ascontiguousarray(quant).view(np.uint8).tobytes())
        f.write(deq.astype("<f4").tobytes())
    print(f"  {os.path.relpath(path, REPO)}: {len(x)} values, {os.path.getsize(path)} bytes")


def main():
    x = block_row()
    with np.errstate(all="ignore"):  # the overflow block: inf scale, 0 * inf = NaN on dequantize
        for name, qtype in [("q8_0", T.Q8_0), ("q4_0", T.Q4_0), ("q4_1", T.Q4_1),
                            ("q5_0", T.Q5_0), ("q5_1", T.Q5_1)]:
            q = gguf.quants.quantize(x, qtype)
            write(name, qtype, x, q, gguf.quants.dequantize(q, qtype).reshape(-1))
        f = f16_row()
        h = f.astype(np.float16)
        write("f16", T.F16, f, h, h.astype(np.float32))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Writes the safetensors reference fixtures into tests/fixtures/model/ (`make fixtures`).

usage: gen_safetensors_fixtures.py

  st_reference.safetensors  written by PyPI `safetensors` (its Rust writer, fed numpy arrays as
                            safetensors.numpy.save_file feeds it; BF16, which numpy lacks, goes
                            in as raw uint16 bits), with metadata and tensors of
                            F32, F16, BF16, F64, I64 and U8, a 0-d and an empty tensor;
  st_reference.json         what a reader must find: the metadata, the tensors in header order
                            with dtype and shape, and the values read as f32 given as IEEE bit
                            patterns (numpy's conversions: exact for f16 and bf16, round to
                            nearest for f64), or the integer values for integer dtypes.

Needs numpy and safetensors. Deterministic: running it twice writes the same bytes.
"""
import json
import os
import struct
import sys

import numpy as np
import safetensors

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(os.environ.get("HLM_FIXTURES", os.path.join(REPO, "tests", "fixtures")), "model")

# f16 bit patterns: zeros, the smallest and largest subnormals, the smallest normal, 1, 1/3,
# the largest finite values, infinities and a quiet NaN
F16_BITS = [0x0000, 0x8000, 0x0001, 0x03FF, 0x0400, 0x3C00, 0x3555, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00, 0x7E00]
# bf16 bit patterns: 1, -2, pi rounded, a subnormal, the largest finite, infinity
BF16_BITS = [0x3F80, 0xC000, 0x4049, 0x0001, 0x7F7F, 0x7F80]


def main():
    os.makedirs(OUT, exist_ok=True)
    f16 = np.array(F16_BITS, dtype=np.uint16).view(np.float16).reshape(3, 4)
    bf16 = np.array(BF16_BITS, dtype=np.uint16).reshape(2, 3)
    tensors = {
        "f32.matrix": np.array([[0.0, 1.5, -2.25], [np.pi, 1e-30, -65504.0]], dtype=np.float32),
        "f16.values": f16,
        "f64.values": np.array([1 / 3, 1e-40, -1e300, 2.5], dtype=np.float64),
        "i64.ids": np.array([-1, 1 << 40, 7], dtype=np.int64),
        "u8.bytes": np.arange(5, dtype=np.uint8),
        "scalar": np.array(42.0, dtype=np.float32),
        "empty": np.zeros((0, 4), dtype=np.float32),
    }
    metadata = {"format": "pt", "producer": "gen_safetensors_fixtures.py", "note": "caf\u00e9 \u2713"}
    path = os.path.join(OUT, "st_reference.safetensors")
    # what safetensors.numpy.save_file does (one TensorSpec per array, numpy's dtype names), plus
    # bf16 as raw bits; the arrays stay alive in `tensors` and `bf16` during the call
    specs = {name: safetensors.TensorSpec(dtype=a.dtype.name, shape=list(a.shape), data_ptr=a.ctypes.data,
                                          data_len=a.nbytes) for name, a in tensors.items()}
    specs["bf16.values"] = safetensors.TensorSpec(dtype="bfloat16", shape=list(bf16.shape),
                                                  data_ptr=bf16.ctypes.data, data_len=bf16.nbytes)
    safetensors.serialize_file(specs, path, metadata=metadata)

    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + hlen])
    expect = {"metadata": header.pop("__metadata__"), "tensors": []}
    values = dict(tensors)
    for name, info in header.items():  # header order
        e = {"name": name, "dtype": info["dtype"], "shape": info["shape"]}
        if name == "bf16.values":
            e["f32_bits"] = [int(b) << 16 for b in BF16_BITS]
        elif info["dtype"] in ("F32", "F16", "F64"):
            with np.errstate(over="ignore"):  # -1e300 becomes -inf, as a C cast does
                f32 = values[name].astype(np.float32)
            e["f32_bits"] = [int(b) for b in f32.reshape(-1).view(np.uint32)]
        else:
            e["ints"] = [int(v) for v in values[name].reshape(-1)]
        expect["tensors"].append(e)
    with open(os.path.join(OUT, "st_reference.json"), "w") as f:
        json.dump(expect, f, indent=1, ensure_ascii=True)
        f.write("\n")
    print(f"gen_safetensors_fixtures: {path} ({len(raw)} bytes, {len(header)} tensors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

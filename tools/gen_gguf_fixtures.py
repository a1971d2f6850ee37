#!/usr/bin/env python3
"""Writes the GGUF reference fixtures into tests/fixtures/gguf/ (`make fixtures`).

usage: gen_gguf_fixtures.py

Every file is written by gguf-py's GGUFWriter (PyPI `gguf`, the writer llama.cpp's converters
use), so that tests/infer/test_gguf.c can check our reader against it and our writer byte for
byte against it:

  types.gguf   every metadata value type (uint8 .. float64, bool, string) with edge values,
               arrays of uint8, int32, uint64, float32, float64, bool and string (with an empty
               and a non-ASCII element), and tensors of types F32, F16, Q8_0, Q4_0 and Q4_1
               (random bytes) with 1 to 4 dimensions; default alignment 32
  align64.gguf general.alignment = 64 added between other keys; F32, BF16, Q4_K and Q6_K
               tensors whose sizes are not multiples of 64, so padding shows between them
  vocab.gguf   tokenizer metadata as a converter writes it: 600 tokens (byte-level pieces,
               some non-ASCII), their scores (float32) and token types (int32), merges
  v2.gguf      a version 2 file (the writer's version constant patched to 2): same layout
  empty.gguf   only general.architecture, no tensors

For each FILE.gguf, FILE.json says what a reader must find: version, alignment, data offset,
the metadata in file order (type, element type, values: integers as decimal strings, floats as
IEEE bit patterns in hex, strings as the hex of their UTF-8 bytes) and the tensors in file order
(name, ggml type id, dims in file order (ggml order, innermost first), offset in the data
section, byte size, the data as hex).

Needs numpy and gguf. Deterministic: running it twice writes the same bytes.
"""
import json
import os
import struct
import sys

import numpy as np
import gguf
import gguf.gguf_writer as gguf_writer
from gguf import GGMLQuantizationType as Q, GGUFValueType as V, GGML_QUANT_SIZES

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(os.environ.get("HLM_FIXTURES", os.path.join(REPO, "tests", "fixtures")), "gguf")


def quant_tensor(rng, rows, cols, qtype):
    """Random bytes shaped as gguf-py expects raw quantized data: (rows, bytes per row)."""
    block, size = GGML_QUANT_SIZES[qtype]
    assert cols % block == 0
    return rng.integers(0, 256, size=(rows, cols // block * size), dtype=np.uint8)


def add_tensors(w, rng, specs):
    for name, qtype, shape in specs:
        if qtype == Q.F32:
            w.add_tensor(name, rng.standard_normal(shape).astype(np.float32))
        elif qtype == Q.F16:
            w.add_tensor(name, rng.standard_normal(shape).astype(np.float16))
        elif qtype == Q.BF16:
            bits = rng.integers(0, 1 << 16, size=shape, dtype=np.uint16)
            w.add_tensor(name, bits.view(np.uint8).reshape(*shape[:-1], shape[-1] * 2), raw_dtype=Q.BF16)
        else:
            rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
            raw = quant_tensor(rng, rows, shape[-1], qtype).reshape(*shape[:-1], -1)
            w.add_tensor(name, raw, raw_dtype=qtype)


def write(path, arch, fill, version=3):
    saved = gguf_writer.GGUF_VERSION
    gguf_writer.GGUF_VERSION = version
    try:
        w = gguf.GGUFWriter(path, arch)
        fill(w)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
    finally:
        gguf_writer.GGUF_VERSION = saved


def fill_types(w):
    rng = np.random.default_rng(1)
    w.add_uint8("test.u8", 255)
    w.add_int8("test.i8", -128)
    w.add_uint16("test.u16", 65535)
    w.add_int16("test.i16", -32768)
    w.add_uint32("test.u32", 4294967295)
    w.add_int32("test.i32", -2147483648)
    w.add_float32("test.f32", 3.1415927)
    w.add_bool("test.bool_true", True)
    w.add_bool("test.bool_false", False)
    w.add_string("test.string", "caf\u00e9 \u2713 \U0001F600")
    w.add_uint64("test.u64", (1 << 64) - 1)
    w.add_int64("test.i64", -(1 << 63))
    w.add_float64("test.f64", -1.0 / 3.0)
    w.add_uint32("test.small_u32", 7)
    w.add_int32("test.negative_i32", -5)
    w.add_key_value("test.arr_u8", [0, 1, 254, 255], V.ARRAY, sub_type=V.UINT8)
    w.add_array("test.arr_i32", [1, -2, 2147483647, -2147483648])
    w.add_key_value("test.arr_u64", [0, 1 << 40, (1 << 64) - 1], V.ARRAY, sub_type=V.UINT64)
    w.add_array("test.arr_f32", [0.5, -1.25, 1e-30, 6.5e4])
    w.add_key_value("test.arr_f64", [1e300, -2.5], V.ARRAY, sub_type=V.FLOAT64)
    w.add_array("test.arr_bool", [True, False, True])
    w.add_array("test.arr_str", ["hello", "", "\uc548\ub155", "a b\tc"])
    add_tensors(w, rng, [
        ("token_embd.weight", Q.F32, (3, 5)),
        ("blk.0.attn_norm.weight", Q.F32, (7,)),
        ("blk.0.attn_q.weight", Q.Q8_0, (2, 64)),
        ("blk.0.attn_k.weight", Q.Q4_0, (3, 32)),
        ("blk.0.ffn_up.weight", Q.Q4_1, (2, 1, 32)),
        ("blk.0.ffn_norm.weight", Q.F16, (2, 3, 1, 5)),
    ])


def fill_align64(w):
    rng = np.random.default_rng(2)
    w.add_string("general.name", "align64")
    w.add_custom_alignment(64)
    w.add_uint32("llama.block_count", 1)
    add_tensors(w, rng, [
        ("a.f32", Q.F32, (3,)),
        ("b.bf16", Q.BF16, (2, 9)),
        ("c.q4_k", Q.Q4_K, (1, 256)),
        ("d.q6_k", Q.Q6_K, (2, 256)),
    ])


def vocab_tokens(n):
    tokens = ["<unk>", "<s>", "</s>"]
    tokens += [f"<0x{b:02X}>" for b in range(64)]
    words = ["the", "\u0120and", "\u0120\uc548\ub155", "ing", "\u010a", "caf\u00e9", "\u2581x"]
    i = 0
    while len(tokens) < n:
        tokens.append(words[i % len(words)] + str(i))
        i += 1
    return tokens


def fill_vocab(w):
    tokens = vocab_tokens(600)
    w.add_string("general.name", "vocab")
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_string("tokenizer.ggml.pre", "smollm")
    w.add_token_list(tokens)
    w.add_token_scores([-float(i) / 7 for i in range(len(tokens))])
    w.add_token_types([3 if i < 3 else 6 if i < 67 else 1 for i in range(len(tokens))])
    w.add_token_merges([f"{tokens[100 + i]} {tokens[101 + i]}" for i in range(40)])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(False)
    w.add_chat_template("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    add_tensors(w, np.random.default_rng(3), [("token_embd.weight", Q.Q8_0, (4, 32))])


def fill_v2(w):
    rng = np.random.default_rng(4)
    w.add_uint32("llama.context_length", 2048)
    w.add_float32("llama.rope.freq_base", 10000.0)
    add_tensors(w, rng, [("output_norm.weight", Q.F32, (4,)), ("output.weight", Q.Q4_0, (2, 32))])


def fill_empty(w):
    pass


def hexs(b):
    return bytes(b).hex()


def scalar_json(vtype, v):
    if vtype == V.FLOAT32:
        return "0x%08x" % struct.unpack("<I", struct.pack("<f", float(v)))[0]
    if vtype == V.FLOAT64:
        return "0x%016x" % struct.unpack("<Q", struct.pack("<d", float(v)))[0]
    if vtype == V.STRING:
        return hexs(v)
    if vtype == V.BOOL:
        return "1" if v else "0"
    return str(int(v))


def describe(path):
    r = gguf.GGUFReader(path)
    with open(path, "rb") as f:
        raw = f.read()
    kvs = []
    for name, field in r.fields.items():
        if name.startswith("GGUF."):
            continue
        t = field.types[0]
        e = {"key": name, "type": int(t)}
        if t == V.ARRAY:
            et = field.types[1]
            e["elem_type"] = int(et)
            e["values"] = [scalar_json(et, field.parts[i].tobytes() if et == V.STRING else field.parts[i][0])
                           for i in field.data]
        else:
            v = field.parts[-1].tobytes() if t == V.STRING else field.parts[-1][0]
            e["value"] = scalar_json(t, v)
        kvs.append(e)
    tensors = []
    for t in r.tensors:
        start = t.data_offset
        tensors.append({"name": t.name, "type": int(t.tensor_type), "type_name": t.tensor_type.name,
                        "dims": [int(d) for d in t.field.parts[3]], "offset": int(t.field.parts[5][0]),
                        "nbytes": int(t.n_bytes), "data": raw[start:start + int(t.n_bytes)].hex()})
    (version,) = struct.unpack("<I", raw[4:8])
    return {"file": os.path.basename(path), "size": len(raw), "version": version, "alignment": int(r.alignment),
            "data_offset": int(r.data_offset), "metadata": kvs, "tensors": tensors}


def main():
    os.makedirs(OUT, exist_ok=True)
    files = [("types", "llama", fill_types, 3), ("align64", "llama", fill_align64, 3),
             ("vocab", "llama", fill_vocab, 3), ("v2", "llama", fill_v2, 2), ("empty", "gpt2", fill_empty, 3)]
    for name, arch, fill, version in files:
        path = os.path.join(OUT, name + ".gguf")
        write(path, arch, fill, version)
        d = describe(path)
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump(d, f, indent=1)
            f.write("\n")
        print(f"gen_gguf_fixtures: {path} ({d['size']} bytes, {len(d['metadata'])} keys, "
              f"{len(d['tensors'])} tensors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

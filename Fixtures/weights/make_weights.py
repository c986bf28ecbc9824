#!/usr/bin/env python3
"""Writes the small checkpoint fixtures used by Tests/NNTests/WeightsTests.swift.

Run from anywhere:  python3 Fixtures/weights/make_weights.py
Needs torch (>= 2.0), safetensors and numpy. Every output is a few KB.

Valid files hold values the Swift tests recompute by formula (arange-based).
Hostile files are built from raw bytes / a pickler with a hand-made persistent id:
nothing in them is ever executed here (the os.system pickle is written as bytes).
"""
import collections
import io
import json
import os
import pickle
import struct
import zipfile

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


def out(name):
    return os.path.join(HERE, name)


def arange_f32(shape, scale=0.25, shift=-1.0):
    """value_i = i * scale + shift (exact in float32 for the small sizes used)."""
    n = int(np.prod(shape)) if len(shape) else 1
    return (torch.arange(n, dtype=torch.float64) * scale + shift).to(torch.float32).reshape(shape)


# ---------------------------------------------------------------- valid .pth files

def basic_state_dict():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(2, 3, kernel_size=2), nn.BatchNorm2d(3))
    sd = m.state_dict()  # OrderedDict with _metadata, includes bn num_batches_tracked (int64, 0-d)
    with torch.no_grad():
        for k, v in sd.items():
            if v.dtype == torch.float32:
                v.copy_(arange_f32(tuple(v.shape)))
    sd["1.num_batches_tracked"].fill_(7)
    sd["extra.half"] = (torch.arange(5, dtype=torch.float32) * 0.5).to(torch.float16)
    sd["extra.bf16"] = torch.tensor([1.5, -2.25, 3.0], dtype=torch.bfloat16)
    sd["extra.double"] = (torch.arange(4, dtype=torch.float64) / 3).reshape(2, 2)
    sd["extra.int64"] = torch.tensor([-5, 0, 1 << 40], dtype=torch.int64)
    sd["extra.int32"] = torch.tensor([-3, 0, 7], dtype=torch.int32)
    sd["extra.int16"] = torch.tensor([-2, 5], dtype=torch.int16)
    sd["extra.int8"] = torch.tensor([-128, 127], dtype=torch.int8)
    sd["extra.uint8"] = torch.tensor([0, 255], dtype=torch.uint8)
    sd["extra.bool"] = torch.tensor([True, False, True])
    sd["extra.scalar"] = torch.tensor(2.5)
    sd["extra.empty"] = torch.zeros(0, 3)
    # Views sharing one storage: the saved storage is the whole 3x4 base.
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    sd["view.base"] = base
    sd["view.t"] = base.t()                 # stride (1, 4)
    sd["view.slice"] = base[1:, 1:3]        # offset 5, stride (4, 1)
    sd["view.col"] = base[:, 2]             # offset 2, stride (4,)
    sd["view.expand"] = torch.arange(3, dtype=torch.float32).reshape(3, 1).expand(3, 4)  # stride (1, 0)
    hb = torch.arange(6, dtype=torch.float32).to(torch.float16).reshape(2, 3)
    sd["view.halfT"] = hb.t()               # f16, stride (1, 3)
    sd["param"] = nn.Parameter(torch.full((2,), 3.0))  # pickled via _rebuild_parameter
    return sd


def write_valid():
    sd = basic_state_dict()
    assert hasattr(sd, "_metadata")
    torch.save(sd, out("basic.torch"))

    small = collections.OrderedDict()
    small["a.weight"] = arange_f32((2, 3))
    small["a.bias"] = arange_f32((3,), 1.0, 0.0)
    small["bn.num_batches_tracked"] = torch.tensor(4, dtype=torch.int64)
    wrapped = {
        "model": collections.OrderedDict(("module." + k, v) for k, v in small.items()),
        "epoch": 3,
        "loss": 0.125,
        "best_loss": float("inf"),
        "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1]}]},
        "note": "wrapped",
    }
    torch.save(wrapped, out("wrapped.torch"))
    torch.save(small, out("proto4.torch"), pickle_protocol=4)
    # The same records re-zipped with deflate (as a user's zip tool might): still readable.
    src = io.BytesIO()
    torch.save(small, src)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out("deflated.torch"), "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename.replace("archive/", "deflated/"), zin.read(info))
    torch.save(small, out("legacy.torch"), _use_new_zipfile_serialization=False)

    from safetensors.torch import save_file
    st = {
        "f32": arange_f32((2, 3)),
        "f16": (torch.arange(4, dtype=torch.float32) * 0.5 - 1).to(torch.float16),
        "bf16": torch.tensor([1.5, -2.25, 3.0], dtype=torch.bfloat16),
        "f64": (torch.arange(4, dtype=torch.float64) / 3).reshape(2, 2),
        "i64": torch.tensor([-5, 0, 1 << 40], dtype=torch.int64),
        "i32": torch.tensor([-3, 0, 7], dtype=torch.int32),
        "i16": torch.tensor([-2, 5], dtype=torch.int16),
        "i8": torch.tensor([-128, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
    }
    save_file(st, out("basic.safetensors"), metadata={"format": "pt", "source": "make_weights.py"})


# ---------------------------------------------------------------- hand-made pickles

def zip_like_torch(path, archive, records):
    """Uncompressed zip with torch's record names (data.pkl, data/<key>, version, byteorder)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in records:
            z.writestr(f"{archive}/{name}", data)
        z.writestr(f"{archive}/byteorder", b"little")
        z.writestr(f"{archive}/version", b"3\n")


class Storage:
    def __init__(self, key, numel, storage_type=None):
        self.key, self.numel = key, numel
        self.storage_type = storage_type or torch.FloatStorage


class FakeTensor:
    """Pickles as torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class CraftPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", obj.storage_type, obj.key, "cpu", obj.numel)
        return None


def crafted(path, tensors, storages):
    buf = io.BytesIO()
    CraftPickler(buf, protocol=2).dump(collections.OrderedDict(tensors))
    archive = os.path.splitext(os.path.basename(path))[0]
    zip_like_torch(path, archive, [("data.pkl", buf.getvalue())] + [(f"data/{k}", v) for k, v in storages.items()])


def f32_bytes(values):
    return np.asarray(values, dtype="<f4").tobytes()


def write_hostile():
    # A correct hand-made file: proves the crafting path matches torch (checked with torch.load below).
    s0 = Storage("0", 6)
    crafted(out("crafted_ok.torch"), [("w", FakeTensor(s0, 0, (2, 3), (3, 1))), ("wt", FakeTensor(s0, 1, (2, 2), (1, 3)))],
            {"0": f32_bytes(range(6))})
    ok = torch.load(out("crafted_ok.torch"), weights_only=True)
    assert ok["w"].tolist() == [[0, 1, 2], [3, 4, 5]] and ok["wt"].tolist() == [[1, 4], [2, 5]]

    # numel in the persistent id (1000) disagrees with the 16-byte record.
    crafted(out("hostile_numel.torch"), [("w", FakeTensor(Storage("0", 1000), 0, (4,), (1,)))], {"0": f32_bytes(range(4))})
    # View (2,3) with stride (3,1) needs 6 elements; the storage has 4.
    crafted(out("hostile_oob.torch"), [("w", FakeTensor(Storage("0", 4), 0, (2, 3), (3, 1)))], {"0": f32_bytes(range(4))})
    # Storage key "7" has no data/7 record.
    crafted(out("hostile_missing_storage.torch"), [("w", FakeTensor(Storage("7", 4), 0, (4,), (1,)))], {"0": f32_bytes(range(4))})
    # Unsupported storage type.
    crafted(out("hostile_complex.torch"), [("w", FakeTensor(Storage("0", 2, torch.ComplexFloatStorage), 0, (2,), (1,)))],
            {"0": f32_bytes(range(4))})

    # GLOBAL 'os system' + REDUCE: written as raw bytes, never unpickled here.
    os_system = b"\x80\x02cos\nsystem\nq\x00X\x10\x00\x00\x00touch /tmp/pwned\x85q\x01Rq\x02."
    zip_like_torch(out("hostile_os_system.torch"), "hostile_os_system", [("data.pkl", os_system)])
    # Protocol 4: FRAME + STACK_GLOBAL('builtins', 'eval').
    body = (b"\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94" + b"\x8c\x031+1\x94\x85\x94R\x94.")
    eval_pickle = b"\x80\x04\x95" + struct.pack("<Q", len(body)) + body
    zip_like_torch(out("hostile_eval.torch"), "hostile_eval", [("data.pkl", eval_pickle)])
    # Protocol-0 INT opcode 'I' (0x49), which the reader does not implement.
    zip_like_torch(out("hostile_unknown_opcode.torch"), "hostile_unknown_opcode",
                   [("data.pkl", b"\x80\x02}q\x00X\x01\x00\x00\x00aI1\ns.")])

    # safetensors header length 2^60.
    with open(out("hostile_header.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", 1 << 60) + b"{}      ")
    # Offsets past the end of the data block (16 bytes claimed, 8 present).
    hdr = json.dumps({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    hdr += b" " * (-(8 + len(hdr)) % 8)
    with open(out("hostile_offsets.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hdr)) + hdr + f32_bytes([1, 2]))


# ---------------------------------------------------------------- deterministic weights (numpy)

M64 = (1 << 64) - 1


def fnv1a64(key):
    h = 0xCBF29CE484222325
    for b in key.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001B3) & M64
    return h


def splitmix64(z):
    z = np.asarray(z, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def deterministic(key, shape, idx):
    """docs/CONVENTIONS.md generator, at element indices idx (numpy uint64 arithmetic wraps mod 2^64)."""
    with np.errstate(over="ignore"):
        z = np.uint64(fnv1a64(key)) + np.asarray(idx, dtype=np.uint64)
        r = (splitmix64(z) >> np.uint64(40)).astype(np.float64) / 2.0 ** 23 - 1
    if key.startswith("input."):
        v = r
    elif key.endswith("running_var"):
        v = 1 + 0.25 * r
    elif key.endswith("running_mean"):
        v = 0.1 * r
    elif len(shape) == 1 and key.endswith("weight"):
        v = 1 + 0.1 * r
    elif len(shape) == 1:
        v = 0.05 * r
    else:
        v = r / np.sqrt(np.float64(np.prod(shape[1:])))
    return v.astype(np.float32)


def write_deterministic_reference():
    cases = [
        ("abc", [4], [0, 1, 2, 3]),
        ("image_encoder.blocks.0.attn.qkv.weight", [2304, 768], [0, 1, 767, 768, 1769471]),
        ("image_encoder.pos_embed", [1, 64, 64, 768], [0, 5, 12345, 3145727]),
        ("image_encoder.neck.0.weight", [256, 768, 1, 1], [0, 196607]),
        ("image_encoder.layers.0.blocks.0.conv1.bn.running_var", [256], [0, 1, 255]),
        ("image_encoder.layers.0.blocks.0.conv1.bn.running_mean", [256], [0, 1, 255]),
        ("image_encoder.neck.1.weight", [256], [0, 1, 255]),
        ("image_encoder.neck.1.bias", [256], [0, 1, 255]),
        ("input.image", [1, 3, 1024, 1024], [0, 1, 3145727]),
    ]
    ref = []
    for key, shape, idx in cases:
        vals = deterministic(key, shape, idx)
        ref.append({"key": key, "shape": shape, "indices": idx,
                    "bits": [int(b) for b in vals.view(np.uint32)], "values": [float(v) for v in vals]})
    with open(out("deterministic_reference.json"), "w") as f:
        json.dump({"generator": "numpy, docs/CONVENTIONS.md", "fnv1a64_abc": fnv1a64("abc"), "cases": ref}, f, indent=1)
        f.write("\n")
    print("abc [4]:", deterministic("abc", [4], [0, 1, 2, 3]).tolist())


if __name__ == "__main__":
    write_valid()
    write_hostile()
    write_deterministic_reference()
    for n in sorted(os.listdir(HERE)):
        print(f"{os.path.getsize(out(n)):8d}  {n}")

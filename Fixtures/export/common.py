"""Shared helpers: import shims, deterministic filling, safetensors writer, manifest."""
import json
import os
import sys
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.dirname(HERE)
sys.path.insert(0, HERE)

# --- import shims -----------------------------------------------------------------------------
# segment_anything/__init__.py and timm import torchvision at import time.  No CPU torchvision
# build matching torch 2.13.0+cpu exists on PyPI (the PyPI wheel links libtorch_cuda), so when
# torchvision cannot be imported we install a stub that only satisfies those imports.  Nothing
# used by the modeling code calls into torchvision.
try:
    import torchvision  # noqa: F401
except Exception:
    for k in [k for k in sys.modules if k == "torchvision" or k.startswith("torchvision.")]:
        del sys.modules[k]
    import _tvstub  # noqa: F401
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=UserWarning)

import torch  # noqa: E402
import struct  # noqa: E402

import detgen  # noqa: E402

torch.set_num_threads(2)
torch.manual_seed(0)

MANIFEST = []


def save_file(tensors, path, metadata):
    """Byte-deterministic safetensors writer (sorted keys, sorted metadata), float32 only.
    Same layout as safetensors.numpy.save_file: u64 LE header length, JSON header padded with
    spaces to a multiple of 8, then the raw little-endian data in header order."""
    header = {"__metadata__": dict(sorted(metadata.items()))}
    offset = 0
    names = sorted(tensors)
    for k in names:
        a = tensors[k]
        assert a.dtype == np.float32
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for k in names:
            f.write(np.ascontiguousarray(tensors[k]).astype("<f4", copy=False).tobytes())


def gen_input(name, shape):
    return torch.from_numpy(detgen.generate("input." + name, shape))


def fill_module(module, prefix=""):
    """Overwrite every persistent state_dict entry (params + buffers, except num_batches_tracked)
    with the deterministic generator, key = prefix + state-dict key.  Returns {key: np.float32}."""
    sd = module.state_dict()
    new = {}
    stored = {}
    for k, v in sd.items():
        if k.endswith("num_batches_tracked"):
            new[k] = v
            continue
        arr = detgen.generate(prefix + k, tuple(v.shape))
        new[k] = torch.from_numpy(arr)
        stored[k] = arr
    module.load_state_dict(new, strict=True)
    module.eval()  # (re)builds TinyViT's non-persistent `ab` from the new attention_biases
    return stored


def module_params(module):
    return {k: v.detach().cpu().numpy().astype(np.float32)
            for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked")}


def _np(x):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32))


def save_fixture(category, name, module, config, *, params=None, inputs=None, outputs=None,
                 tolerance="1e-4", weights="stored", weights_prefix=None, notes="",
                 generated_inputs=None, extra=None):
    """Write Fixtures/<category>/<name>.safetensors and register it in the manifest.

    params: {state_dict key: array}  -> "param.<key>"  (only when weights == "stored")
    inputs / outputs: {name: array}  -> "input.<name>" / "output.<name>"
    generated_inputs: {name: shape}  inputs NOT stored; regenerate with detgen key "input.<name>"
    """
    tensors = {}
    if weights == "stored":
        for k, v in (params or {}).items():
            tensors["param." + k] = _np(v)
    for k, v in (inputs or {}).items():
        tensors["input." + k] = _np(v)
    for k, v in (outputs or {}).items():
        tensors["output." + k] = _np(v)
    meta = {
        "module": module,
        "config": json.dumps(config, sort_keys=True),
        "tolerance": str(tolerance),
        "weights": weights,
        "notes": notes,
    }
    if weights == "generated":
        meta["weights_prefix"] = weights_prefix or ""
    if generated_inputs:
        meta["generated_inputs"] = json.dumps({k: list(v) for k, v in generated_inputs.items()})
    for k, v in (extra or {}).items():
        meta[k] = v if isinstance(v, str) else json.dumps(v)
    d = os.path.join(FIXTURES, category)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, name + ".safetensors")
    save_file(tensors, path, metadata=meta)
    size = os.path.getsize(path)
    assert size <= 10 * 1024 * 1024, f"{path} is {size} bytes > 10 MB"
    entry = {
        "name": name,
        "file": os.path.relpath(path, FIXTURES),
        "module": module,
        "config": config,
        "tolerance": str(tolerance),
        "weights": weights,
        "inputs": {k[len("input."):]: list(v.shape) for k, v in tensors.items() if k.startswith("input.")},
        "outputs": {k[len("output."):]: list(v.shape) for k, v in tensors.items() if k.startswith("output.")},
    }
    if weights == "generated":
        entry["weights_prefix"] = weights_prefix or ""
    if generated_inputs:
        entry["generated_inputs"] = {k: list(v) for k, v in generated_inputs.items()}
    MANIFEST.append(entry)
    print(f"  wrote {entry['file']} ({size / 1024:.0f} KB)", flush=True)
    return path


def sampled(name, t, stride):
    """Subsample a big output: returns ({name_sampled: flat[::stride]}, metadata)."""
    a = _np(t)
    flat = a.reshape(-1)
    a64 = a.astype(np.float64)
    meta = {
        "sample_stride." + name: str(stride),
        "shape." + name: json.dumps(list(a.shape)),
        "sum." + name: repr(float(a64.sum())),
        "abssum." + name: repr(float(np.abs(a64).sum())),
        "maxabs." + name: repr(float(np.abs(a64).max())),
    }
    return {name + "_sampled": flat[::stride].copy()}, meta


MY_CATEGORIES = ("layers/", "models/", "lite/")


def write_manifest(drop_my_old=True):
    """Merge this run's entries into Fixtures/manifest.json (entries of other writers are kept)."""
    path = os.path.join(FIXTURES, "manifest.json")
    old = []
    if os.path.exists(path):
        try:
            old = json.load(open(path))
        except Exception:
            old = []
    names = {e["name"] for e in MANIFEST}
    keep = [e for e in old if e.get("name") not in names
            and not (drop_my_old and str(e.get("file", "")).startswith(MY_CATEGORIES))]
    merged = keep + MANIFEST
    merged.sort(key=lambda e: e["file"])
    with open(path, "w") as f:
        json.dump(merged, f, indent=1)
        f.write("\n")

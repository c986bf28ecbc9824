"""Deterministic weight / input generator (docs/CONVENTIONS.md, "Deterministic weights").

fnv1a64(key) -> base; r_i = float64(splitmix64(base + i) >> 40) / 2^23 - 1 in [-1, 1);
values computed in float64 and rounded to float32 at the end.  All uint64 arithmetic wraps mod 2^64.
"""
import numpy as np

_MASK = (1 << 64) - 1


def fnv1a64(key: str) -> int:
    h = 0xCBF29CE484222325
    for b in key.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001B3) & _MASK
    return h


def _splitmix64(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def uniform(key: str, n: int) -> np.ndarray:
    """r_i for i in [0, n), float64 in [-1, 1)."""
    base = np.uint64(fnv1a64(key))
    with np.errstate(over="ignore"):
        z = base + np.arange(n, dtype=np.uint64)
    z = _splitmix64(z)
    return (z >> np.uint64(40)).astype(np.float64) / float(1 << 23) - 1.0


def generate(key: str, shape) -> np.ndarray:
    """Value for a parameter/buffer (or an input if key starts with 'input.'), float32, PyTorch shape."""
    shape = tuple(int(s) for s in shape)
    n = int(np.prod(shape)) if len(shape) > 0 else 1
    r = uniform(key, n)
    if key.startswith("input."):
        v = r
    elif key.endswith("running_var"):
        v = 1.0 + 0.25 * r
    elif key.endswith("running_mean"):
        v = 0.1 * r
    elif len(shape) == 1 and key.endswith("weight"):
        v = 1.0 + 0.1 * r
    elif len(shape) == 1:
        v = 0.05 * r
    elif len(shape) >= 2:
        v = r / np.sqrt(np.float64(np.prod(shape[1:])))
    else:
        raise ValueError(f"rank-0 tensor {key} has no generator rule")
    return v.astype(np.float32).reshape(shape)


def self_check():
    """Values the Swift side must reproduce bit-exactly."""
    out = {}
    out["fnv1a64('abc')"] = "0x%016x" % fnv1a64("abc")
    out["r('abc')[0:4]"] = uniform("abc", 4).tolist()
    out["abc [4] rank1 bias rule (0.05*r)"] = generate("abc", (4,)).tolist()
    out["abc.weight [4] rank1 weight rule"] = generate("abc.weight", (4,)).tolist()
    out["input.x [4]"] = generate("input.x", (4,)).tolist()
    out["w [2,3] rank2 rule"] = generate("w", (2, 3)).tolist()
    return out


if __name__ == "__main__":
    for k, v in self_check().items():
        print(k, "=", v)

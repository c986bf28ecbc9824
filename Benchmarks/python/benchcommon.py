"""Inputs and helpers shared by the reference-engine timing scripts (mirrors Benchmarks/Sources/BenchSupport)."""
import json
import os
import resource
import statistics
import sys
import time

import numpy as np

ROOT = os.environ.get("MEDSAM_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.append(os.path.join(ROOT, "Fixtures", "export"))  # _tvstub



def torchvision_stub():
    """segment_anything and timm import torchvision at import time; the CPU torch here may have none."""
    try:
        import torchvision  # noqa: F401
    except Exception:
        for k in [k for k in sys.modules if k == "torchvision" or k.startswith("torchvision.")]:
            del sys.modules[k]
        import _tvstub  # noqa: F401

CT_BOX = np.array([87, 97, 345, 305])  # BODY box on dicompyler_ct/ct0, x0 y0 x1 y1


def ct_image():
    """Fixtures/data/dicompyler_ct/ct0 (int16 HU) with pre_CT_MR.py's CT window L40/W400 -> uint8 (H, W)."""
    raw = np.load(os.path.join(ROOT, "Fixtures/data/dicompyler_ct/ct0_image.npy"))
    lo, hi = 40 - 400 / 2, 40 + 400 / 2
    x = np.clip(raw.astype(np.float64), lo, hi)
    x = (x - x.min()) / (x.max() - x.min()) * 255.0
    return x.astype(np.uint8)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed(n, fn, warmup=0):
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def emit(engine, model, stage, threads, runs, **extra):
    o = {"engine": engine, "model": model, "stage": stage, "threads": threads,
         "seconds_median": statistics.median(runs), "seconds_min": min(runs), "runs": runs,
         "peak_rss_mb": peak_rss_mb()}
    o.update(extra)
    print(json.dumps(o, sort_keys=True), flush=True)


def log(*a):
    print(*a, file=sys.stderr, flush=True)

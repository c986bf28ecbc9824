"""Regenerate every golden fixture: python3 Fixtures/export/export_all.py

Writes Fixtures/layers, Fixtures/models, Fixtures/lite, Fixtures/data (copies + 3-D npz) and
Fixtures/manifest.json; then runs preprocess_fixtures.main() when that module exists (owned by
another contributor)."""
import importlib
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402  (installs the torchvision import shim, sets 2 threads)
import detgen  # noqa: E402


def main():
    t0 = time.time()
    print("detgen self-check:")
    for k, v in detgen.self_check().items():
        print("  ", k, "=", v)
    for d in ("layers", "models", "lite"):
        shutil.rmtree(os.path.join(common.FIXTURES, d), ignore_errors=True)
    import cases
    cases.sync_data()
    cases.write_provenance()
    steps = [("layers", "layers"), ("models", "models"), ("lite_real", "lite")]
    for mod, label in steps:
        t = time.time()
        print(f"[{label}]", flush=True)
        importlib.import_module(mod).export()
        print(f"[{label}] {time.time() - t:.1f}s", flush=True)
    common.write_manifest()
    import index
    index.main()
    try:
        pf = importlib.import_module("preprocess_fixtures")
    except ModuleNotFoundError:
        pf = None
        print("preprocess_fixtures.py not present; skipped")
    if pf is not None and hasattr(pf, "main"):
        t = time.time()
        print("[preprocess_fixtures]", flush=True)
        pf.main()
        print(f"[preprocess_fixtures] {time.time() - t:.1f}s", flush=True)
    print(f"total {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()

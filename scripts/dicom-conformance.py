#!/usr/bin/env python3
"""Reference arrays for the DICOM conformance test (Tests/MedicalIOTests/DICOMConformanceTests.swift).

For every file with pixel data in pydicom's bundled test_files (the installed pydicom wheel's
pydicom/data/test_files; nothing is copied into the repository), decodes the pixels with pydicom +
the pylibjpeg plugins (pylibjpeg-libjpeg, pylibjpeg-openjpeg, pylibjpeg-rle) and writes
  <cache>/<name>.npy     modality values (apply_modality_lut; PALETTE COLOR through apply_color_lut), float64
  <cache>/manifest.json  per file: path, transfer syntax, photometric, bits, shape, status ("ok" or the error)

Usage: python3 scripts/dicom-conformance.py [cache dir, default .cache/dicom-conformance]
Needs: pip install pydicom pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg pylibjpeg-rle numpy (test-time only).
"""
import json
import os
import pathlib
import sys
import warnings

import numpy as np
import pydicom
from pydicom.pixels import apply_color_lut, apply_modality_lut

warnings.simplefilter("ignore")
root = pathlib.Path(pydicom.__file__).parent / "data" / "test_files"
cache = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".cache/dicom-conformance")
cache.mkdir(parents=True, exist_ok=True)
LOSSY = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.91"}

entries = []
for path in sorted(p for p in root.rglob("*") if p.is_file()):
    rel = str(path.relative_to(root))
    try:
        ds = pydicom.dcmread(path, force=True)
    except Exception as e:  # not DICOM at all
        continue
    if not any(t in ds for t in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        continue
    ts = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "1.2.840.10008.1.2"))
    e = {"file": rel, "path": str(path), "ts": ts, "photometric": str(ds.get("PhotometricInterpretation", "")),
         "bits": int(ds.get("BitsAllocated", 0) or 0), "lossy": ts in LOSSY}
    try:
        arr = ds.pixel_array
        if e["photometric"] == "PALETTE COLOR":
            arr = apply_color_lut(arr, ds)
        elif int(ds.get("SamplesPerPixel", 1) or 1) == 1:
            arr = apply_modality_lut(arr, ds)
        name = rel.replace("/", "__") + ".npy"
        np.save(cache / name, np.ascontiguousarray(arr, dtype=np.float64))
        e.update(status="ok", npy=name, shape=list(arr.shape))
    except Exception as ex:
        e.update(status="error", error=f"{type(ex).__name__}: {ex}"[:200])
    entries.append(e)

(cache / "manifest.json").write_text(json.dumps({"pydicom": pydicom.__version__, "files": entries}, indent=1))
print(f"{len(entries)} files with pixel data, {sum(e['status'] == 'ok' for e in entries)} decoded by pydicom -> {cache}")

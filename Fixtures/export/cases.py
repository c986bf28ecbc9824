"""Real cases copied into Fixtures/data (permissive licences) and intensity rules -> uint8."""
import json
import os
import shutil

import numpy as np
from skimage import io as skio

from common import FIXTURES

SRC = "/work/shared/data/cases"
DATA = os.path.join(FIXTURES, "data")
SOURCES = ("nilearn_mni152", "stardist_dsb2018", "dicompyler_ct")
CT_LEVEL, CT_WIDTH = 40.0, 400.0


def sync_data():
    """Copy the permissively licensed cases (npy images, mask PNGs, cases.json entries) if the shared
    folder is present; otherwise use the committed copies."""
    os.makedirs(DATA, exist_ok=True)
    src_json = os.path.join(SRC, "cases.json")
    if os.path.exists(src_json):
        entries = [e for e in json.load(open(src_json)) if e["source"] in SOURCES]
        for e in entries:
            for key in ("image", "mask"):
                dst = os.path.join(DATA, e[key])
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copyfile(os.path.join(SRC, e[key]), dst)
        with open(os.path.join(DATA, "cases.json"), "w") as f:
            json.dump(entries, f, indent=1)
            f.write("\n")
    return json.load(open(os.path.join(DATA, "cases.json")))


def load_case(e):
    raw = np.load(os.path.join(DATA, e["image"]))
    gt = skio.imread(os.path.join(DATA, e["mask"]))
    return raw, gt


def ct_window_u8(raw, level=CT_LEVEL, width=CT_WIDTH):
    """MedSAM pre_CT_MR.py CT branch: clip to [L-W/2, L+W/2], min-max of the CLIPPED data to 0..255,
    np.uint8 truncation."""
    lower, upper = level - width / 2, level + width / 2
    x = np.clip(raw, lower, upper)
    x = (x - np.min(x)) / (np.max(x) - np.min(x)) * 255.0
    return np.uint8(x)


def mr_percentile_u8(raw):
    """MedSAM pre_CT_MR.py non-CT branch: 0.5/99.5 percentiles of raw[raw>0] (numpy linear), clip,
    min-max to 0..255, raw==0 stays 0, np.uint8 truncation."""
    lower, upper = np.percentile(raw[raw > 0], 0.5), np.percentile(raw[raw > 0], 99.5)
    x = np.clip(raw, lower, upper)
    x = (x - np.min(x)) / (np.max(x) - np.min(x)) * 255.0
    x[raw == 0] = 0
    return np.uint8(x)


def to_uint8(raw, e):
    if raw.dtype == np.uint8:
        return raw, "uint8 as is"
    if e["modality"].startswith("CT"):
        return ct_window_u8(raw), "CT window L40 W400 (pre_CT_MR.py)"
    return mr_percentile_u8(raw), "percentile 0.5-99.5 of x>0 (pre_CT_MR.py MR rule)"


PROVENANCE = """# Provenance of Fixtures/data

Copied from the project's shared real-data folder (`cases/`, see its README); each file is a 2-D slice
cut from data that ships inside a public package:

| folder | modality | source package | ground truth | licence |
|---|---|---|---|---|
| `nilearn_mni152` | T1 MRI template (ICBM152 2009a sym) | PyPI `nilearn` 0.14.1 (`nilearn/datasets/data/mni_icbm152_*`) | white matter (WM prob. >= 128), connected components | BSD-3 + MNI template notice (permissive, copyright McConnell Brain Imaging Centre) |
| `stardist_dsb2018` | fluorescence microscopy nuclei (uint16) | PyPI `stardist` 0.9.2 (`stardist/data/images/img2d.tif`, `mask2d.tif`; from the DSB2018 data) | 125 nucleus instances | BSD-3 package; data reported CC0 |
| `dicompyler_ct` | CT neck/shoulders (int16 HU) | PyPI sdist `dicompyler-core` 0.5.6 (`tests/testdata/example_data/ct.0.dcm`, `rtss.dcm`) | BODY contour, rasterised | BSD-3 |

`cases.json` holds the entries of these three sources (image `.npy` = raw values in the original dtype,
mask = 16-bit PNG with 0 = background and value = target `id`, `box_xyxy` = [x0, y0, x1, y1] max-inclusive).

`3D_mni152_small.npz` is built by `Fixtures/export/lite_real.py` from nilearn's
`mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz` (T1) and `mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz`
(white-matter probability), nilearn 0.14.1 (BSD-3; MNI ICBM152 2009a template, permissive notice):
see Fixtures/README.md for the exact crop. Challenge npz format: `imgs` (D,H,W) uint8, `gts` (D,H,W) uint8,
`boxes` (N,6) [x_min,y_min,z_min,x_max,y_max,z_max], `spacing`.

The MNI ICBM152 notice: Copyright (C) 1993-2009 Louis Collins, McConnell Brain Imaging Centre, Montreal
Neurological Institute, McGill University. Permission to use, copy, modify, and distribute this software and
its documentation for any purpose and without fee is hereby granted, provided that the above copyright notice
appear in all copies. The authors and McGill University make no representations about the suitability of this
software for any purpose. It is provided "as is" without express or implied warranty.
"""


def write_provenance():
    with open(os.path.join(DATA, "PROVENANCE.md"), "w") as f:
        f.write(PROVENANCE)

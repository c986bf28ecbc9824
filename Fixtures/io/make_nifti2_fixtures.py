#!/usr/bin/env python3
"""NIfTI-2 and NIfTI-1 .hdr/.img fixtures for Tests/MedicalIOTests/NIfTITests.swift (nibabel; test-time only).

Data: value(x, y, z) = x + 10*y + 100*z (int16), 5 x 4 x 3, scl_slope 0.5, scl_inter -2, affine diag(0.5, 0.75, 2.5)
with origin (-10, 20, 30.5); the same volume as NIfTI-2 (.nii and .nii.gz) and as a NIfTI-1 pair (.hdr + .img).
"""
import pathlib

import nibabel as nib
import numpy as np

HERE = pathlib.Path(__file__).parent / "nifti"
x, y, z = np.meshgrid(np.arange(5), np.arange(4), np.arange(3), indexing="ij")
arr = (x + 10 * y + 100 * z).astype(np.int16)
aff = np.diag([0.5, 0.75, 2.5, 1.0]); aff[:3, 3] = [-10, 20, 30.5]
for cls, name in [(nib.Nifti2Image, "v2.nii"), (nib.Nifti2Image, "v2.nii.gz"), (nib.Nifti1Pair, "pair.img")]:
    img = cls(arr, aff)
    img.header.set_slope_inter(0.5, -2)
    img.header.set_data_dtype(np.int16)
    nib.save(img, str(HERE / name))
print(sorted(p.name for p in HERE.iterdir()))

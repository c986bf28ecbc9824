#!/usr/bin/env python3
"""NRRD and MetaImage fixtures for Tests/MedicalIOTests/NRRDMetaImageTests.swift (pynrrd, SimpleITK; test-time only).

Volume: value(x, y, z) = x + 10*y + 100*z - 500 (int16), size 5 x 4 x 3 (x fastest), spacing 0.5, 0.75, 2.5,
origin (-10, 20, 30.5), axis directions x -> (0, 1, 0), y -> (-1, 0, 0), z -> (0, 0, 1) (a 90-degree rotation).
"""
import pathlib

import nrrd
import numpy as np
import SimpleITK as sitk

HERE = pathlib.Path(__file__).parent / "nrrd"
HERE.mkdir(exist_ok=True)
nx, ny, nz = 5, 4, 3
x, y, z = np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij")
arr = (x + 10 * y + 100 * z - 500).astype(np.int16)  # index [x, y, z] (pynrrd order: fastest first)
dirs = np.array([[0, 1, 0], [-1, 0, 0], [0, 0, 1]], float)
sp = np.array([0.5, 0.75, 2.5])
hdr = {"space": "left-posterior-superior", "space directions": dirs * sp[:, None], "space origin": np.array([-10, 20, 30.5]),
       "kinds": ["domain"] * 3, "encoding": "gzip", "endian": "little"}
nrrd.write(str(HERE / "vol.nrrd"), arr, hdr)
nrrd.write(str(HERE / "vol.nhdr"), arr, dict(hdr, encoding="raw"), detached_header=True)
img = sitk.GetImageFromArray(np.ascontiguousarray(arr.transpose(2, 1, 0)))  # sitk arrays are [z, y, x]
img.SetSpacing(sp.tolist()); img.SetOrigin([-10, 20, 30.5])
img.SetDirection(dirs.T.flatten().tolist())  # ITK direction matrix: column i = axis i
sitk.WriteImage(img, str(HERE / "vol.mha"))
sitk.WriteImage(img, str(HERE / "vol.mhd"), useCompression=True)
print(sorted(p.name for p in HERE.iterdir()))

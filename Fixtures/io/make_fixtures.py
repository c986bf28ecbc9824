"""Regenerates Fixtures/io (MedicalIO tests). Needs numpy, nibabel, nilearn, pillow, pydicom (3.x).

   PYDICOM_TEST_FILES=<dir of pydicom/data/test_files>  DICOMPYLER_CT=<path of ct.0.dcm>  python3 make_fixtures.py
"""
import io, json, os, shutil, zipfile
import numpy as np
import nibabel as nib
from PIL import Image
import pydicom

here = os.path.dirname(os.path.abspath(__file__))
def out(*p):
    path = os.path.join(here, *p); os.makedirs(os.path.dirname(path), exist_ok=True); return path
meta = {}
def save_expected(path, arr):
    """Expected arrays go into compressed .npz files (key 'a'); integral float data is stored as int32."""
    arr = np.asarray(arr)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)) and np.abs(arr).max() < 2**31:
        arr = arr.astype(np.int32)
    np.savez_compressed(path.replace(".npy", ".npz"), a=arr)

# ---- NPY: arange(24).reshape(2,3,4) in every dtype, both byte orders, C and Fortran order
base = np.arange(24).reshape(2, 3, 4)
for code in ["u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f2", "f4", "f8"]:
    for order in "<>":
        if code in ("u1", "i1") and order == ">": continue
        a = base.astype(np.dtype(order + code))
        np.save(out("npy", f"arange_{code}_{'le' if order == '<' else 'be'}.npy"), a)
        np.save(out("npy", f"arange_{code}_{'le' if order == '<' else 'be'}_fortran.npy"), np.asfortranarray(a))
np.save(out("npy", "bool.npy"), (base % 3 == 0))
np.save(out("npy", "scalar_f8.npy"), np.float64(3.25))
np.save(out("npy", "empty_f4.npy"), np.zeros((0, 5), np.float32))
for v in [(2, 0), (3, 0)]:
    with open(out("npy", f"arange_i2_v{v[0]}.npy"), "wb") as f:
        np.lib.format.write_array(f, base.astype("<i2"), version=v)
np.save(out("npy", "object.npy"), np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
np.save(out("npy", "neg_f4.npy"), np.array([-1.5, 0.0, 2.5e-8, 65504.0, np.inf], np.float32))

# ---- NPZ
x = np.arange(12, dtype=np.float32).reshape(3, 4) / 4
y = (np.arange(100, dtype=np.int16) - 50)
np.savez(out("npz", "stored.npz"), x=x, y=y)
np.savez_compressed(out("npz", "compressed.npz"), x=x, y=y)
np.savez(out("npz", "object.npz"), x=x, o=np.array([1, "a"], dtype=object))

# ---- CVPR24 challenge cases (real MNI152 data from nilearn)
import nilearn
ndir = os.path.join(os.path.dirname(nilearn.__file__), "datasets", "data")
t1 = nib.load(os.path.join(ndir, "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"))
vol = np.asarray(t1.dataobj)
sl = np.flipud(vol[:, :, 60].T)[60:124, 50:146]  # 64 x 96 crop
img2d = np.repeat(sl[:, :, None], 3, axis=-1).astype(np.uint8)
np.savez_compressed(out("challenge", "2DT1_MNI_demo.npz"), imgs=img2d,
                    boxes=np.array([[10, 12, 40, 50], [50, 5, 90, 60]]), gts=(sl > 100).astype(np.uint8))
vol3 = np.stack([np.flipud(vol[:, :, k].T)[60:124, 50:146] for k in range(56, 64)]).astype(np.uint8)  # (8,64,96)
np.savez_compressed(out("challenge", "3DBox_MNI_demo.npz"), imgs=vol3,
                    boxes=np.array([[10, 12, 1, 40, 50, 6]]), spacing=np.array([1.0, 1.0, 1.0]),
                    gts=(vol3 > 100).astype(np.uint8))

# ---- PNG / JPEG: real MNI slice, 16-bit label mask from the shared cases
g = np.flipud(vol[:, :, 60].T).astype(np.uint8)
Image.fromarray(g).save(out("png", "gray8.png"))
Image.fromarray(np.stack([g, g[::-1], 255 - g], -1)).save(out("png", "rgb8.png"))
Image.fromarray(np.stack([g, g[::-1], 255 - g, (g > 50).astype(np.uint8) * 255], -1)).save(out("png", "rgba8.png"))
Image.fromarray((g.astype(np.uint16) * 257 + 3)).save(out("png", "gray16.png"))
Image.fromarray(g).convert("P").save(out("png", "palette.png"))
Image.fromarray(g).save(out("jpeg", "gray.jpg"), quality=90)
Image.fromarray(np.stack([g, g[::-1], 255 - g], -1)).save(out("jpeg", "rgb.jpg"), quality=90)
for n in ["gray8", "rgb8", "rgba8", "gray16", "palette"]:
    save_expected(out("png", n + ".expected.npy"), np.array(Image.open(out("png", n + ".png")).convert("RGB") if n == "palette" else Image.open(out("png", n + ".png"))))
for n in ["gray", "rgb"]:
    save_expected(out("jpeg", n + ".expected.npy"), np.array(Image.open(out("jpeg", n + ".jpg"))))

# ---- NIfTI: real cropped MNI152 T1 (z 55..65), nibabel keeps the geometry
crop = t1.slicer[:, :, 55:66]
nib.save(crop, out("nifti", "mni152_t1_z55-65.nii.gz"))
save_expected(out("nifti", "mni152_t1_z55-65.slice5.npy"), np.flipud(np.asarray(crop.dataobj)[:, :, 5].T))
# scaled big-endian int16, float32, 4-D
d = (np.arange(8 * 6 * 4).reshape(8, 6, 4) - 40).astype(np.int16)
im = nib.Nifti1Image(d, np.diag([0.5, 0.75, 2.0, 1.0]))
im = nib.Nifti1Image(d, im.affine, header=im.header.as_byteswapped(">")); im.header.set_slope_inter(2.0, -100.0)
nib.save(im, out("nifti", "scaled_be_i2.nii"))
nib.save(nib.Nifti1Image(d.astype(np.float32) / 8, np.eye(4)), out("nifti", "f4.nii"))
nib.save(nib.Nifti1Image(np.arange(3 * 4 * 2 * 2, dtype=np.uint16).reshape(3, 4, 2, 2), np.eye(4)), out("nifti", "u2_4d.nii.gz"))
meta["scaled_be_i2"] = {"sum": float(np.asarray(nib.load(out("nifti", "scaled_be_i2.nii")).get_fdata()).sum()),
                        "v123": float(nib.load(out("nifti", "scaled_be_i2.nii")).get_fdata()[1, 2, 3])}
meta["mni_crop"] = {"shape": list(crop.shape), "sum": int(np.asarray(crop.dataobj, dtype=np.int64).sum()),
                    "affine": crop.affine.tolist(), "zooms": [float(z) for z in crop.header.get_zooms()]}

# ---- DICOM (pydicom test files, MIT; dicompyler-core ct.0.dcm, BSD)
src = os.environ.get("PYDICOM_TEST_FILES")
files = ["CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "rtdose.dcm",
         "SC_rgb_small_odd.dcm", "JPEG-lossy.dcm", "MR_truncated.dcm"]
if src:
    for f in files: shutil.copy(os.path.join(src, f), out("dicom", f))
if os.environ.get("DICOMPYLER_CT"): shutil.copy(os.environ["DICOMPYLER_CT"], out("dicom", "dicompyler_ct.0.dcm"))
for f in files[:6] + ["dicompyler_ct.0.dcm"]:
    ds = pydicom.dcmread(out("dicom", f))
    arr = ds.pixel_array.astype(np.float64)
    if "RescaleSlope" in ds or "RescaleIntercept" in ds:
        arr = arr * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    if "DoseGridScaling" in ds: pass
    save_expected(out("dicom", f.replace(".dcm", ".expected.npy")), arr.astype(np.float32))
    meta[f] = {"rows": ds.Rows, "cols": ds.Columns, "frames": int(ds.get("NumberOfFrames", 1)),
               "sum": float(arr.sum()), "spacing": [float(v) for v in ds.get("PixelSpacing", [])],
               "position": [float(v) for v in ds.get("ImagePositionPatient", [])],
               "instance": int(ds.get("InstanceNumber", 0) or 0)}
# a 3-slice series from CT_small (shuffled instance numbers and positions) plus one foreign-series file
ct = pydicom.dcmread(out("dicom", "CT_small.dcm"))
os.makedirs(out("dicom", "series", "x"), exist_ok=True); os.remove if False else None
for i, (z, inst) in enumerate([(10.0, 3), (-5.0, 1), (2.5, 2)]):
    ds = pydicom.dcmread(out("dicom", "CT_small.dcm"))
    ds.ImagePositionPatient = [ds.ImagePositionPatient[0], ds.ImagePositionPatient[1], z]
    ds.InstanceNumber = inst
    a = ds.pixel_array.copy(); a[0, 0] = 1000 + inst; ds.PixelData = a.tobytes()
    ds.save_as(out("dicom", "series", f"slice{i}.dcm"))
ds = pydicom.dcmread(out("dicom", "CT_small.dcm")); ds.SeriesInstanceUID = "1.2.3.4.5.999"
ds.save_as(out("dicom", "series", "other_series.dcm"))
os.rmdir(out("dicom", "series", "x"))

json.dump(meta, open(out("expected.json"), "w"), indent=1)

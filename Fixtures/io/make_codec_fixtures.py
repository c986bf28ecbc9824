#!/usr/bin/env python3
"""Small compressed DICOM fixtures for Tests/MedicalIOTests/DICOMCodecTests.swift (our own synthetic pixels).

Writes Fixtures/io/dicom/codec/<name>.dcm: a native source image (pydicom), then the same image compressed
by DCMTK (Debian `dcmtk`, test-time only): JPEG Lossless with each predictor 1-7 at 8, 12 and 16 bits (signed
16-bit with a rescale), point transform 2, RGB; JPEG-LS lossless/near-lossless (line, sample, none interleave);
RLE. The Swift test compares every compressed file with its native source (`<depth>_native.dcm`).

Usage: python3 Fixtures/io/make_codec_fixtures.py   (needs pydicom, numpy, dcmcjpeg, dcmcjpls, dcmcrle)
"""
import pathlib
import subprocess

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

HERE = pathlib.Path(__file__).parent / "dicom" / "codec"
HERE.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(7)
H, W = 24, 32
y, x = np.mgrid[0:H, 0:W]


def native(name, arr, bits_stored, signed, photometric="MONOCHROME2", rescale=None):
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = "OT"
    ds.Rows, ds.Columns = arr.shape[:2]
    ds.SamplesPerPixel = 3 if arr.ndim == 3 else 1
    if arr.ndim == 3:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = arr.dtype.itemsize * 8
    ds.BitsStored, ds.HighBit = bits_stored, bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if rescale:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    ds.PixelData = arr.tobytes()
    path = HERE / f"{name}_native.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


smooth = (np.sin(x / 5.0) * np.cos(y / 4.0))
sources = {
    "u8": native("u8", np.clip(128 + 100 * smooth + rng.integers(-20, 20, (H, W)), 0, 255).astype(np.uint8), 8, False),
    "u12": native("u12", np.clip(2048 + 1800 * smooth + rng.integers(-200, 200, (H, W)), 0, 4095).astype(np.uint16), 12, False),
    "s16": native("s16", (-1000 + 30000 * smooth + rng.integers(-900, 900, (H, W))).astype(np.int16), 16, True, rescale=("0.5", "-1024")),
    "rgb": native("rgb", np.clip(np.stack([128 + 100 * smooth, x * 7, y * 9], -1) + rng.integers(0, 9, (H, W, 3)), 0, 255).astype(np.uint8),
                  8, False, "RGB"),
}
for name, src in sources.items():
    for sv in range(1, 8):
        run("dcmcjpeg", "+el", "+sv", str(sv), str(src), str(HERE / f"{name}_jpegll_sv{sv}.dcm"))
    run("dcmcjpeg", "+e1", str(src), str(HERE / f"{name}_jpegll_sv1_70.dcm"))
    run("dcmcrle", str(src), str(HERE / f"{name}_rle.dcm"))
    run("dcmcjpls", "+el", str(src), str(HERE / f"{name}_jpegls.dcm"))
run("dcmcjpeg", "+el", "+sv", "1", "+pt", "2", str(sources["u12"]), str(HERE / "u12_jpegll_sv1_pt2.dcm"))
run("dcmcjpls", "+en", str(sources["u8"]), str(HERE / "u8_jpegls_near.dcm"))
for mode in ("+is", "+in"):
    run("dcmcjpls", "+el", mode, str(sources["rgb"]), str(HERE / f"rgb_jpegls{mode.replace('+', '_')}.dcm"))
# MONOCHROME1 (higher = darker), 8-bit: the model input is inverted, raw values are not.
mono1 = native("mono1", (np.arange(H * W) % 256).astype(np.uint8).reshape(H, W), 8, False, "MONOCHROME1")
mono1.rename(HERE.parent / "mono1.dcm")
print("wrote", len(list(HERE.glob("*.dcm"))), "files to", HERE)

# A sagittal localizer in the axial test series (Fixtures/io/dicom/series), made once with:
#   ds = pydicom.dcmread("Fixtures/io/dicom/series/slice0.dcm"); ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
#   ds.ImagePositionPatient = [0, -100, 100]; ds.InstanceNumber = 99; new SOP Instance UID; save as localizer.dcm

# Exactness: 32-bit values above 2^24 and a fractional rescale (Float cannot hold either exactly).
HERE2 = HERE.parent
native("exact_u32", np.array([[16777217, 4294967295], [0, 1]], np.uint32), 32, False).rename(HERE2 / "exact_u32.dcm")
native("exact_slope", np.array([[1, 2], [3, 7]], np.int16), 16, True, rescale=("0.1", "-0.3")).rename(HERE2 / "exact_slope.dcm")

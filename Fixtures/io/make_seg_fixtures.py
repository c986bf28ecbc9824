"""Regenerates Fixtures/io/dicom/seg_series (source series of the DICOM Segmentation tests). Needs pydicom 3.x.

   python3 Fixtures/io/make_seg_fixtures.py

Three 64x64 CT slices cropped from CT_small.dcm, each its own SOP instance (fixed 2.25 UIDs), positions
z = 10, -5, 2.5 in files slice0..2 (so file order is not slice order), Patient's Name with Latin-1 letters
(ISO_IR 100) to exercise character-set decoding.
"""
import os
import pydicom

here = os.path.dirname(os.path.abspath(__file__))
folder = os.path.join(here, "dicom", "seg_series")
os.makedirs(folder, exist_ok=True)
for i, (z, inst) in enumerate([(10.0, 3), (-5.0, 1), (2.5, 2)]):
    ds = pydicom.dcmread(os.path.join(here, "dicom", "CT_small.dcm"))
    a = ds.pixel_array[32:96, 32:96].copy()
    a[0, 0] = 1000 + inst
    ds.Rows, ds.Columns = a.shape
    ds.PixelData = a.tobytes()
    x, y, _ = [float(v) for v in ds.ImagePositionPatient]
    ps = [float(v) for v in ds.PixelSpacing]
    ds.ImagePositionPatient = [round(x + 32 * ps[1], 6), round(y + 32 * ps[0], 6), z]
    ds.InstanceNumber = inst
    ds.SOPInstanceUID = f"2.25.1000000000000000000000000000000{inst}"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SeriesInstanceUID = "2.25.2000000000000000000000000000000001"
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "Müller^Jörg"
    ds.save_as(os.path.join(folder, f"slice{i}.dcm"), enforce_file_format=True)

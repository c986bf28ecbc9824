"""Reads a DICOM Segmentation with pydicom and highdicom (test-time tools) and reports what they see, for
Tests/MedicalIOTests/DICOMSegmentationTests.swift and Apps/Tests/CLITests:

    python3 scripts/check-dicom-seg.py SEG.dcm OUT_DIR SOURCE_SOP_INSTANCE_UID...
    python3 scripts/check-dicom-seg.py SEG.dcm OUT_DIR SOURCE_SOP_INSTANCE_UID:FRAME...   (multi-frame source)

Writes OUT_DIR/pixels.npy: highdicom's get_pixels_by_source_instance for the given source instances (or
get_pixels_by_source_frame for the given frames of one multi-frame instance), in that order, one channel per
segment (uint8, shape (instances or frames, rows, columns, segments)), and prints one JSON object with the
attributes pydicom reads and the segment descriptions and source references highdicom reads.
"""
import json, os, sys
import numpy as np
import pydicom
import highdicom as hd

seg_path, out_dir, uids = sys.argv[1], sys.argv[2], sys.argv[3:]
ds = pydicom.dcmread(seg_path)
report = {"pydicom": pydicom.__version__, "highdicom": hd.__version__}
report["attributes"] = {k: str(ds.get(k, "")) for k in [
    "SOPClassUID", "Modality", "NumberOfFrames", "Rows", "Columns", "BitsAllocated", "SegmentationType", "PatientName",
    "PatientID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "SpecificCharacterSet", "ContentLabel"]}
report["referenced_series"] = [
    {"series": str(s.SeriesInstanceUID), "instances": [str(i.ReferencedSOPInstanceUID) for i in s.ReferencedInstanceSequence]}
    for s in ds.get("ReferencedSeriesSequence", [])]
report["referenced_frames"] = [
    int(f.DerivationImageSequence[0].SourceImageSequence[0].get("ReferencedFrameNumber", 0))
    for f in ds.PerFrameFunctionalGroupsSequence]
report["frame_positions"] = [
    [float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient] if "PlanePositionSequence" in f else None
    for f in ds.PerFrameFunctionalGroupsSequence]

seg = hd.seg.segread(seg_path)
report["segment_numbers"] = [int(n) for n in seg.segment_numbers]
descs = [seg.get_segment_description(n) for n in seg.segment_numbers]
report["labels"] = [d.segment_label for d in descs]
report["categories"] = [[d.segmented_property_category.value, d.segmented_property_category.scheme_designator,
                         d.segmented_property_category.meaning] for d in descs]
report["types"] = [[d.segmented_property_type.value, d.segmented_property_type.scheme_designator,
                    d.segmented_property_type.meaning] for d in descs]
report["algorithm_types"] = [d.algorithm_type.value for d in descs]
report["segmentation_type"] = seg.segmentation_type.value
report["source_images"] = [[str(a), str(b), str(c)] for a, b, c in seg.get_source_image_uids()]
if uids and all(":" in u for u in uids):
    px = seg.get_pixels_by_source_frame(source_sop_instance_uid=uids[0].split(":")[0],
                                        source_frame_numbers=[int(u.split(":")[1]) for u in uids], combine_segments=False)
else:
    px = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids, combine_segments=False)
np.save(os.path.join(out_dir, "pixels.npy"), np.ascontiguousarray(px.astype(np.uint8)))
report["pixels_shape"] = list(px.shape)
print(json.dumps(report))

"""Hand-made hostile files for Tests/ReliabilityTests/CorpusTests.swift (python3 make_corpus.py).

Files found by the fuzzers (Fuzz/run.sh) are added next to these by hand, named `fuzz-<target>-<what>`.
Standard library only; every file is small.
"""
import json, pathlib, struct, zipfile, zlib, io

HERE = pathlib.Path(__file__).parent


def out(rel, data):
    p = HERE / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)


def torch_zip(pkl, storages=None, method=zipfile.ZIP_STORED):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", method) as z:
        z.writestr("archive/data.pkl", pkl)
        for k, v in (storages or {}).items():
            z.writestr(f"archive/data/{k}", v)
    return b.getvalue()


def binunicode(b):
    return b"X" + struct.pack("<I", len(b)) + b


def tensor_pickle(key_bytes, storage_key=b"0", numel=4, size=(4,)):
    # {key: torch._utils._rebuild_tensor_v2(("storage", FloatStorage, "0", "cpu", numel), 0, size, stride, False, OrderedDict())}
    p = b"\x80\x02}q\x00("
    p += binunicode(key_bytes)
    p += b"ctorch._utils\n_rebuild_tensor_v2\n("
    p += b"(" + binunicode(b"storage") + b"ctorch\nFloatStorage\n" + binunicode(storage_key) + binunicode(b"cpu") + b"K" + bytes([numel]) + b"tQ"
    p += b"K\x00" + b"(" + b"".join(b"K" + bytes([s]) for s in size) + b"t"
    stride = [1] * len(size)
    for i in range(len(size) - 2, -1, -1):
        stride[i] = stride[i + 1] * size[i + 1]
    p += b"(" + b"".join(b"K" + bytes([s]) for s in stride) + b"t"
    p += b"\x89" + b"ccollections\nOrderedDict\n)R" + b"tR"
    return p


# --- .pth ---------------------------------------------------------------------------------------
ok = tensor_pickle(b"w") + b"u."
out("torch/valid_one_tensor.torch", torch_zip(ok, {"0": b"\0" * 16}))
out("torch/non_utf8_key.torch", torch_zip(tensor_pickle(b"\xff\xfe\x80w") + b"u.", {"0": b"\0" * 16}))
dup = b"\x80\x02}q\x00(" + tensor_pickle(b"w")[6:] + tensor_pickle(b"w")[6:] + b"u."
out("torch/duplicate_key.torch", torch_zip(dup, {"0": b"\0" * 16}))
# 200,000 nested lists as the state dict value (a recursive reader would overflow the stack).
deep = b"\x80\x02}(" + binunicode(b"model") + b"]" * 200_000 + b"a" * 199_999 + b"u."
out("torch/deep_nesting.torch", torch_zip(deep, method=zipfile.ZIP_DEFLATED))
# A list that contains itself.
cyc = b"\x80\x02}(" + binunicode(b"model") + b"]q\x00h\x00au."
out("torch/self_referencing_list.torch", torch_zip(cyc))
# numel far beyond the storage record.
out("torch/huge_numel.torch", torch_zip(tensor_pickle(b"w", numel=250) + b"u.", {"0": b"\0" * 16}))
# Views past the storage (size 4·4 on a 4-element storage).
out("torch/view_past_storage.torch", torch_zip(tensor_pickle(b"w", size=(4, 4)) + b"u.", {"0": b"\0" * 16}))
out("torch/builtins_eval.torch", torch_zip(b"\x80\x02cbuiltins\neval\n" + binunicode(b"1") + b"\x85R."))
out("torch/posix_system.torch", torch_zip(b"\x80\x02cposix\nsystem\n" + binunicode(b"true") + b"\x85R."))
out("torch/truncated_pickle.torch", torch_zip(ok[: len(ok) // 2]))
out("torch/empty_pickle.torch", torch_zip(b""))
out("torch/unknown_opcode.torch", torch_zip(b"\x80\x02\xfe."))
good = torch_zip(ok, {"0": b"\0" * 16})
out("torch/truncated_zip.torch", good[: len(good) - 30])
# EOCD claims a central directory far past the end.
bad = bytearray(good)
eocd = bad.rfind(b"PK\x05\x06")
struct.pack_into("<I", bad, eocd + 16, 0x7FFFFFF0)
out("torch/cd_offset_past_end.torch", bytes(bad))
# Local header says 4 GB compressed.
bad = bytearray(good)
struct.pack_into("<I", bad, 18, 0xFFFFFFF0)
out("torch/huge_local_size.torch", bytes(bad))


# --- safetensors ------------------------------------------------------------------------------------
def st(header, data=b""):
    h = json.dumps(header).encode() if not isinstance(header, bytes) else header
    return struct.pack("<Q", len(h)) + h + data


out("safetensors/huge_shape.safetensors", st({"w": {"dtype": "F32", "shape": [1 << 40, 1 << 40], "data_offsets": [0, 16]}}, b"\0" * 16))
out("safetensors/shape_overflow.safetensors", st({"w": {"dtype": "F32", "shape": [1 << 62, 8], "data_offsets": [0, 0]}}))
out("safetensors/negative_dim.safetensors", st({"w": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}, b"\0" * 16))
out("safetensors/header_len_huge.safetensors", struct.pack("<Q", 1 << 63) + b"{}")
out("safetensors/header_len_past_end.safetensors", struct.pack("<Q", 4096) + b"{}")
out("safetensors/non_utf8_key.safetensors", st(b'{"\xff\xfe": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', b"\0" * 4))
out("safetensors/duplicate_key.safetensors",
    st(b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}', b"\0" * 8))
out("safetensors/deep_json.safetensors", st(b"[" * 20_000 + b"]" * 20_000))
out("safetensors/float_offsets.safetensors", st({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4.5]}}, b"\0" * 8))
out("safetensors/unknown_dtype.safetensors", st({"w": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8))


# --- npy / npz ----------------------------------------------------------------------------------------
def npy(header, data=b"", version=1):
    h = header.encode("latin1")
    pad = (64 - (10 + len(h) + 1) % 64) % 64
    h = h + b" " * pad + b"\n"
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<H", len(h)) + h + data


out("npy/shape_overflow.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 8), }"))
out("npy/huge_shape.npy", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000, 100000), }", b"\0" * 64))
out("npy/negative_shape.npy", npy("{'descr': '<u1', 'fortran_order': False, 'shape': (-1, 4), }", b"\0" * 64))
out("npy/object.npy", npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", b"\x80\x02cos\nsystem\n."))
out("npy/bad_dict.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'shape': (3,), }", b"\0" * 12))
out("npy/unterminated.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,", b"\0" * 8))
out("npy/long_header_v2.npy", b"\x93NUMPY\x02\x00" + struct.pack("<I", 0xFFFFFFF0) + b"{")


def npz(items, method=zipfile.ZIP_DEFLATED):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", method) as z:
        for k, v in items.items():
            z.writestr(k, v)
    return b.getvalue()


f4 = lambda shape, n: npy("{'descr': '<f4', 'fortran_order': False, 'shape': %s, }" % (shape,), b"\0" * (4 * n))
out("npz/bomb.npz", npz({"imgs.npy": npy("{'descr': '|u1', 'fortran_order': False, 'shape': (16384, 1024), }", b"\0" * (16 << 20))}))
out("npz/imgs_wrong_rank.npz", npz({"imgs.npy": f4("(2, 2, 2, 2)", 16), "boxes.npy": f4("(1, 4)", 4)}))
out("npz/boxes_wrong_width.npz", npz({"imgs.npy": f4("(4, 4)", 16), "boxes.npy": f4("(1, 5)", 5)}))
out("npz/boxes_nan.npz", npz({"imgs.npy": f4("(4, 4)", 16), "boxes.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 4), }", struct.pack("<4f", float("nan"), 0, 1, 1))}))
out("npz/duplicate_entry.npz", npz({"imgs.npy": f4("(4, 4)", 16), "boxes.npy": f4("(1, 4)", 4)}) )
dup = io.BytesIO()
with zipfile.ZipFile(dup, "w") as z:
    z.writestr("a.npy", f4("(1,)", 1))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z.writestr("a.npy", f4("(2,)", 2))
out("npz/duplicate_entry.npz", dup.getvalue())
good = npz({"a.npy": f4("(8,)", 8)})
bad = bytearray(good)
struct.pack_into("<I", bad, 14, 0xDEADBEEF)   # wrong CRC in the local header
i = bad.find(b"PK\x01\x02"); struct.pack_into("<I", bad, i + 16, 0xDEADBEEF)
out("npz/bad_crc.npz", bytes(bad))


# --- NIfTI ------------------------------------------------------------------------------------------------
def nifti(dims, datatype=2, bitpix=8, vox_offset=352.0, data=b""):
    h = bytearray(348)
    struct.pack_into("<i", h, 0, 348)
    struct.pack_into("<8h", h, 40, *dims)
    struct.pack_into("<h", h, 70, datatype)
    struct.pack_into("<h", h, 72, bitpix)
    struct.pack_into("<8f", h, 76, *([1.0] * 8))
    struct.pack_into("<f", h, 108, vox_offset)
    h[344:348] = b"n+1\0"
    return bytes(h) + b"\0" * 4 + data


out("nifti/negative_dim.nii", nifti([3, 4, -4, 2, 1, 1, 1, 1], data=b"\0" * 32))
out("nifti/huge_dims.nii", nifti([3, 32767, 32767, 32767, 1, 1, 1, 1]))
out("nifti/ndim_9.nii", nifti([9, 2, 2, 2, 2, 2, 2, 2], data=b"\0" * 64))
out("nifti/vox_offset_nan.nii", nifti([3, 2, 2, 2, 1, 1, 1, 1], vox_offset=float("nan"), data=b"\0" * 8))
out("nifti/vox_offset_huge.nii", nifti([3, 2, 2, 2, 1, 1, 1, 1], vox_offset=1e30, data=b"\0" * 8))
out("nifti/bitpix_mismatch.nii", nifti([3, 2, 2, 2, 1, 1, 1, 1], datatype=16, bitpix=8, data=b"\0" * 8))
gz = zlib.compressobj(9, zlib.DEFLATED, 31)
out("nifti/gzip_bomb.nii.gz", gz.compress(nifti([3, 1024, 1024, 16, 1, 1, 1, 1], data=b"\0" * (16 << 20))) + gz.flush())
out("nifti/gzip_truncated.nii.gz", (lambda g: g[: len(g) // 2])(zlib.compress(nifti([3, 4, 4, 4, 1, 1, 1, 1], data=bytes(range(64))), 9)))


# --- DICOM --------------------------------------------------------------------------------------------------
def el(group, elem, vr, value):
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT", b"OF"):
        return struct.pack("<HH", group, elem) + vr + b"\0\0" + struct.pack("<I", len(value)) + value
    return struct.pack("<HH", group, elem) + vr + struct.pack("<H", len(value)) + value


pre = b"\0" * 128 + b"DICM"
meta = el(0x0002, 0x0010, b"UI", b"1.2.840.10008.1.2.1\0")
meta = el(0x0002, 0x0000, b"UL", struct.pack("<I", len(meta))) + meta
img = lambda rows, cols, bits, data: (el(0x0028, 0x0002, b"US", struct.pack("<H", 1)) + el(0x0028, 0x0010, b"US", struct.pack("<H", rows))
                                      + el(0x0028, 0x0011, b"US", struct.pack("<H", cols)) + el(0x0028, 0x0100, b"US", struct.pack("<H", bits))
                                      + el(0x0028, 0x0101, b"US", struct.pack("<H", bits)) + el(0x0028, 0x0103, b"US", struct.pack("<H", 0))
                                      + el(0x7FE0, 0x0010, b"OW", data))
out("dicom/rows_cols_huge.dcm", pre + meta + img(65535, 65535, 16, b"\0" * 16))
out("dicom/bits_allocated_0.dcm", pre + meta + img(2, 2, 0, b"\0" * 8))
out("dicom/bits_allocated_64.dcm", pre + meta + img(2, 2, 64, b"\0" * 32))
out("dicom/element_length_past_end.dcm", pre + meta + struct.pack("<HH", 0x0010, 0x0010) + b"OB\0\0" + struct.pack("<I", 0xFFFFFFF0) + b"abc")
# 15,000 nested undefined-length sequences.
seq = (struct.pack("<HH", 0x0008, 0x1140) + b"SQ\0\0" + struct.pack("<I", 0xFFFFFFFF) + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)) * 15_000
out("dicom/deep_sequences.dcm", pre + meta + seq)
out("dicom/frames_huge.dcm", pre + meta + el(0x0028, 0x0008, b"IS", b"99999999") + img(2, 2, 8, b"\0" * 4))

# Header numbers that used to trap (Int(Double) on nan/inf/1e30) or were misread ('1A' as 1 frame): each is a typed error
# (layout values) or a warning (descriptive values). IS/DS strings are padded to even length.
def pad(b):
    return b + b" " * (len(b) % 2)


for tag, token in [("frames", b"nan"), ("frames", b"inf"), ("frames", b"1e20"), ("frames", b"1e30"), ("frames", b"-1"),
                   ("frames", b"1A"), ("frames", b"\\"), ("frames", b"1e400"), ("instance", b"nan"), ("instance", b"inf"),
                   ("instance", b"1e30"), ("instance", b"\\"), ("slope", b"nan"), ("slope", b"inf"), ("slope", b"1e400"),
                   ("spacing", b"nan\\nan"), ("spacing", b"\\"), ("window", b"inf")]:
    name = token.replace(b"\\", b"backslash").decode()
    elems = {
        "frames": el(0x0028, 0x0008, b"IS", pad(token)),
        "instance": el(0x0020, 0x0013, b"IS", pad(token)),
        "slope": el(0x0028, 0x1053, b"DS", pad(token)),
        "spacing": el(0x0028, 0x0030, b"DS", pad(token)),
        "window": el(0x0028, 0x1050, b"DS", pad(token)),
    }[tag]
    group = elems[:2]
    # keep tags ascending: group 0020 before 0028's image elements; 0028,0008 before 0028,0010; 1053/0030/1050 inside 0028.
    if tag == "instance":
        body = elems + img(2, 2, 8, b"\0" * 4)
    elif tag == "frames":
        body = elems + img(2, 2, 8, b"\0" * 4)
    else:
        i = img(2, 2, 8, b"\0" * 4)
        cut = i.index(struct.pack("<HH", 0x7FE0, 0x0010))
        body = i[:cut] + elems + i[cut:]
    out(f"dicom/{tag}_{name}.dcm", pre + meta + body)


# Encapsulated pixel data (compressed syntaxes): broken item lists and broken codec streams.
def meta_ts(uid):
    m = el(0x0002, 0x0010, b"UI", pad(uid.encode()) if len(uid) % 2 == 0 else uid.encode() + b"\0")
    return el(0x0002, 0x0000, b"UL", struct.pack("<I", len(m))) + m


def encap(uid, fragments, bot=b"", rows=4, cols=4, bits=8, frames=1, spp=1, photometric=b"MONOCHROME2", delimiter=True):
    items = struct.pack("<HHI", 0xFFFE, 0xE000, len(bot)) + bot
    for f in fragments:
        items += struct.pack("<HHI", 0xFFFE, 0xE000, len(f)) + f
    if delimiter:
        items += struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    body = (el(0x0028, 0x0002, b"US", struct.pack("<H", spp)) + el(0x0028, 0x0004, b"CS", pad(photometric))
            + (el(0x0028, 0x0008, b"IS", pad(str(frames).encode())) if frames != 1 else b"")
            + el(0x0028, 0x0010, b"US", struct.pack("<H", rows)) + el(0x0028, 0x0011, b"US", struct.pack("<H", cols))
            + el(0x0028, 0x0100, b"US", struct.pack("<H", bits)) + el(0x0028, 0x0101, b"US", struct.pack("<H", bits))
            + el(0x0028, 0x0103, b"US", struct.pack("<H", 0))
            + struct.pack("<HH", 0x7FE0, 0x0010) + b"OB\0\0" + struct.pack("<I", 0xFFFFFFFF) + items)
    return pre + meta_ts(uid) + body


RLE, JPEGB, JPEGL, JLS, J2K = "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90"
rle_hdr = lambda n, offs: struct.pack("<I", n) + b"".join(struct.pack("<I", o) for o in offs + [0] * (15 - len(offs)))
out("dicom/rle_valid_4x4.dcm", encap(RLE, [rle_hdr(1, [64]) + bytes([3, 1, 2, 3, 4, 0xF5, 9])]))  # 1 2 3 4, then 9 x 12
out("dicom/rle_segment_count_wrong.dcm", encap(RLE, [rle_hdr(3, [64, 65, 66]) + b"\0" * 16]))
out("dicom/rle_offset_past_end.dcm", encap(RLE, [rle_hdr(1, [0x7FFFFFF0]) + b"\0" * 16]))
out("dicom/rle_offset_in_header.dcm", encap(RLE, [rle_hdr(1, [8]) + b"\0" * 16]))
out("dicom/rle_literal_past_end.dcm", encap(RLE, [rle_hdr(1, [64]) + bytes([0x7F, 1, 2])]))
out("dicom/rle_short_segment.dcm", encap(RLE, [rle_hdr(1, [64]) + bytes([0xFD, 9])]))
out("dicom/rle_header_only_20_bytes.dcm", encap(RLE, [b"\x01" + b"\0" * 19]))
out("dicom/encap_no_delimiter.dcm", encap(RLE, [rle_hdr(1, [64]) + b"\0" * 16], delimiter=False))
out("dicom/encap_fragment_past_end.dcm", encap(RLE, [])[:-8] + struct.pack("<HHI", 0xFFFE, 0xE000, 0x7FFFFFF0) + b"abc")
out("dicom/encap_bot_points_nowhere.dcm", encap(RLE, [rle_hdr(1, [64]) + b"\0" * 16] * 2, bot=struct.pack("<II", 0, 12345), frames=2))
out("dicom/encap_bot_decreasing.dcm", encap(RLE, [rle_hdr(1, [64]) + b"\0" * 16] * 2, bot=struct.pack("<II", 88, 0), frames=2))
out("dicom/encap_frames_vs_fragments.dcm", encap(RLE, [rle_hdr(1, [64]) + b"\0" * 16] * 2, frames=5))
out("dicom/encap_no_fragments.dcm", encap(RLE, []))
out("dicom/encap_item_tag_wrong.dcm", encap(RLE, [])[:-8] + struct.pack("<HHI", 0x0008, 0x0010, 4) + b"abcd")
# Lossless JPEG (own decoder): hand-made SOF3 streams.
def jls_sof3(p, y, x, comps=1, sub=0x11):
    return b"\xFF\xC3" + struct.pack(">HBHHB", 8 + 3 * comps, p, y, x, comps) + b"".join(bytes([i + 1, sub, 0]) for i in range(comps))
dht = b"\xFF\xC4" + struct.pack(">H", 2 + 17 + 2) + b"\x00" + bytes([0, 2] + [0] * 14) + bytes([0, 1])  # codes 00 -> 0, 01 -> 1
sos = lambda pred, pt=0: b"\xFF\xDA" + struct.pack(">HB", 8, 1) + b"\x01\x00" + bytes([pred, 0, pt])
out("dicom/jpegll_valid_4x4.dcm", encap(JPEGL, [b"\xFF\xD8" + jls_sof3(8, 4, 4) + dht + sos(1) + b"\x00\x00\x00\x00\xFF\xD9"]))
out("dicom/jpegll_truncated_scan.dcm", encap(JPEGL, [b"\xFF\xD8" + jls_sof3(8, 4, 4) + dht + sos(1) + b"\x00"]))
out("dicom/jpegll_no_huffman_table.dcm", encap(JPEGL, [b"\xFF\xD8" + jls_sof3(8, 4, 4) + sos(1) + b"\x00" * 8 + b"\xFF\xD9"]))
out("dicom/jpegll_predictor_0.dcm", encap(JPEGL, [b"\xFF\xD8" + jls_sof3(8, 4, 4) + dht + sos(0) + b"\x00" * 8 + b"\xFF\xD9"]))
out("dicom/jpegll_precision_17.dcm", encap(JPEGL, [b"\xFF\xD8" + jls_sof3(17, 4, 4) + dht + sos(1) + b"\x00" * 8 + b"\xFF\xD9"]))
out("dicom/jpegll_huge_sof.dcm", encap(JPEGL, [b"\xFF\xD8" + jls_sof3(16, 65535, 65535) + dht + sos(1) + b"\x00" * 8 + b"\xFF\xD9"]))
out("dicom/jpegll_height_0_dnl.dcm", encap(JPEGL, [b"\xFF\xD8" + jls_sof3(8, 0, 4) + dht + sos(1) + b"\x00" * 8 + b"\xFF\xD9"]))
out("dicom/jpegll_subsampled.dcm", encap(JPEGL, [b"\xFF\xD8" + jls_sof3(8, 4, 4, 3, 0x21) + dht + sos(1) + b"\x00" * 8 + b"\xFF\xD9"], spp=3, photometric=b"RGB"))
out("dicom/jpegll_oversubscribed_dht.dcm", encap(JPEGL, [b"\xFF\xD8" + jls_sof3(8, 4, 4) + b"\xFF\xC4" + struct.pack(">H", 2 + 17 + 3) + b"\x00" + bytes([3] + [0] * 15) + bytes([0, 1, 2]) + sos(1) + b"\x00" * 8 + b"\xFF\xD9"]))
out("dicom/jpegll_size_mismatch.dcm", encap(JPEGL, [b"\xFF\xD8" + jls_sof3(8, 2, 2) + dht + sos(1) + b"\x00\x00\xFF\xD9"]))
out("dicom/jpegll_restart_missing.dcm", encap(JPEGL, [b"\xFF\xD8" + jls_sof3(8, 4, 4) + dht + b"\xFF\xDD\x00\x04\x00\x02" + sos(1) + b"\x00" * 4 + b"\xFF\xD9"]))
out("dicom/jpegll_segment_length_past_end.dcm", encap(JPEGL, [b"\xFF\xD8\xFF\xC3\xFF\xF0\x08"]))
# Found by FuzzJPEGLossless (out-of-memory): a 61-byte stream declaring 32809 x 63485 samples made the decoder
# allocate 8.3 GB before reading any data. Now refused: every sample needs at least one bit.
oom = bytes.fromhex("ffd8ffc3000b08f7fd802901011100ffc400150000000000000000000000010000000000003400005b0200000001ffda0008010100b70100000000ffd9")
out("dicom/fuzz-jpegll-oom-huge-sof.dcm", encap(JPEGL, [oom], rows=63485, cols=32809))
# The same for RLE: 40000 x 40000 from a 72-byte frame (PackBits gives at most 64 bytes per input byte).
out("dicom/rle_plane_too_large.dcm", encap(RLE, [rle_hdr(1, [64]) + bytes([0x81, 0]) * 4], rows=40000, cols=40000))
# Baseline JPEG / JPEG-LS / JPEG 2000 through the libraries.
out("dicom/jpeg_baseline_garbage.dcm", encap(JPEGB, [b"\xFF\xD8\xFF\xC0\x00\x11\x08\x00\x04\x00\x04\x01\x01\x11\x00" + b"\x00" * 20]))
out("dicom/jpeg_baseline_12bit_header.dcm", encap("1.2.840.10008.1.2.4.51", [b"\xFF\xD8\xFF\xC1\x00\x0B\x0C\x00\x04\x00\x04\x01\x01\x11\x00\xFF\xD9"], bits=16))
out("dicom/jpeg_baseline_not_jpeg.dcm", encap(JPEGB, [b"hello world!"]))
out("dicom/jpegls_garbage.dcm", encap(JLS, [b"\xFF\xD8\xFF\xF7\x00\x0B\x08\x00\x04\x00\x04\x01\x01\x11\x00" + b"\xAA" * 20 + b"\xFF\xD9"]))
out("dicom/jpegls_huge_sof.dcm", encap(JLS, [b"\xFF\xD8\xFF\xF7\x00\x0B\x10\xFF\xFF\xFF\xFF\x01\x01\x11\x00\xFF\xDA\x00\x08\x01\x01\x00\x00\x00\x00" + b"\x00" * 20 + b"\xFF\xD9"]))
out("dicom/jpegls_empty.dcm", encap(JLS, [b""]))
# FuzzJPEGLS findings: a 64x32 8-bit JPEG-LS stream that stops after its first scan bytes, with no EOI marker:
# CharLS 2.4.1 decodes past the end of the buffer for 30-45 s (natively) before it reports invalid data.
out("dicom/fuzz-jpegls-no-eoi-slow.dcm", encap(JLS, [b"\xFF\xD8\xFF\xF7\x00\x0B\x08\x00\x40\x00\x20\x01\x01\x11\x00"
                                                    b"\xFF\xDA\x00\x08\x01\x02\x00\x00\x00\x00\xC0"], rows=64, cols=32))
out("dicom/fuzz-jpegls-no-eoi-slow-2.dcm", encap(JLS, [b"\xFF\xD8\xFF\xF7\x00\x0B\x08\x00\x40\x00\x20\x01\x01\x11\x00"
                                                      b"\xFF\xDA\x00\x08\x01\x02\x00\x00\x00\x00\x00\x10"], rows=64, cols=32))
out("dicom/j2k_garbage.dcm", encap(J2K, [b"\xFF\x4F\xFF\x51\x00\x29" + b"\x00" * 60]))
out("dicom/j2k_huge_siz.dcm", encap(J2K, [b"\xFF\x4F\xFF\x51\x00\x29\x00\x00" + struct.pack(">IIIIIIII", 0x7FFFFFFF, 0x7FFFFFFF, 0, 0, 0x7FFFFFFF, 0x7FFFFFFF, 0, 0) + b"\x00\x01\x0F\x01\x01" + b"\xFF\x90" + b"\x00" * 20]))
out("dicom/j2k_not_j2k.dcm", encap(J2K, [b"\x00" * 32]))


# --- PNG / JPEG -----------------------------------------------------------------------------------------------
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)


sig = b"\x89PNG\r\n\x1a\n"
out("png/huge_dimensions.png", sig + chunk(b"IHDR", struct.pack(">IIBBBBB", 0x7FFFFFFF, 0x7FFFFFFF, 8, 0, 0, 0, 0))
    + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
out("png/large_but_empty_idat.png", sig + chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 16, 2, 0, 0, 0))
    + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
raw = b"".join(b"\0" + bytes([x * 16 for x in range(4)]) for _ in range(4))
valid = sig + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
out("png/truncated.png", valid[:-20])
out("png/bad_crc.png", valid[:30] + bytes([valid[30] ^ 0xFF]) + valid[31:])
out("png/zero_width.png", sig + chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 4, 8, 0, 0, 0, 0)) + chunk(b"IEND", b""))
out("jpeg/soi_only.jpg", b"\xff\xd8")
out("jpeg/sof_huge.jpg", b"\xff\xd8\xff\xc0\x00\x0b\x08\xff\xff\xff\xff\x01\x01\x11\x00\xff\xd9")
out("jpeg/garbage_after_soi.jpg", b"\xff\xd8" + bytes(range(256)) * 4)

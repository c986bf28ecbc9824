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

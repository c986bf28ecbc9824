#!/usr/bin/env python3
"""Structure-aware DICOM seeds for FuzzDICOM, derived from the repo's real test file
Fixtures/io/dicom/SC_rgb_small_odd.dcm (explicit VR little endian): the same file with its integer and decimal
string elements (NumberOfFrames, InstanceNumber, and added RescaleSlope/Intercept, WindowCenter/Width) padded
to 8 characters, so that one dictionary token (nan, inf, 1e400, -0, a backslash) written over a value gives a
file that still parses up to the number conversion. Run from the repo root; writes Fuzz/seeds/dicom/."""
import os
import struct

SRC = "Fixtures/io/dicom/SC_rgb_small_odd.dcm"
OUT = "Fuzz/seeds/dicom"


def elements(data, start):
    """(offset, tag, vr, value offset, length) of the top-level explicit-VR LE elements from `start`."""
    i = start
    while i + 8 <= len(data):
        group, elem = struct.unpack_from("<HH", data, i)
        vr = data[i + 4:i + 6]
        if vr in (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN"):
            length = struct.unpack_from("<I", data, i + 8)[0]
            value = i + 12
        else:
            length = struct.unpack_from("<H", data, i + 6)[0]
            value = i + 8
        yield i, (group, elem), vr, value, length
        if length == 0xFFFFFFFF:
            return
        i = value + length


def element(tag, vr, text):
    v = text.encode()
    if len(v) % 2:
        v += b" "
    return struct.pack("<HH", *tag) + vr + struct.pack("<H", len(v)) + v


def rebuild(data, replace):
    """`data` with the top-level elements in `replace` ({tag: (vr, text)}) rewritten or inserted in tag order."""
    start = 132
    out = bytearray(data[:start])
    pending = dict(replace)
    for off, tag, vr, value, length in elements(data, start):
        for t in sorted(k for k in pending if k < tag):
            out += element(t, *pending.pop(t))
        if tag in pending:
            out += element(tag, *pending.pop(tag))
        else:
            end = value + length if length != 0xFFFFFFFF else len(data)
            out += data[off:end]
    for t in sorted(pending):
        out += element(t, *pending[t])
    return bytes(out)


def main():
    data = open(SRC, "rb").read()
    assert data[128:132] == b"DICM"
    os.makedirs(OUT, exist_ok=True)
    pad = "1       "
    variants = {
        "frames_padded.dcm": {(0x0028, 0x0008): (b"IS", pad)},
        "instance_padded.dcm": {(0x0020, 0x0013): (b"IS", pad)},
        "rescale_padded.dcm": {(0x0028, 0x1052): (b"DS", "0       "), (0x0028, 0x1053): (b"DS", pad)},
        "window_padded.dcm": {(0x0028, 0x1050): (b"DS", "128     "), (0x0028, 0x1051): (b"DS", "256     ")},
        "multi_value.dcm": {(0x0028, 0x1050): (b"DS", "128\\40  "), (0x0020, 0x0013): (b"IS", "1\\2     ")},
    }
    for name, rep in variants.items():
        open(os.path.join(OUT, name), "wb").write(rebuild(data, rep))
        print("wrote", os.path.join(OUT, name))


if __name__ == "__main__":
    main()

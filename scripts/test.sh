#!/usr/bin/env bash
# The test command: release build (model-sized goldens are slow in debug), every test target.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --build-tests
swift test -c release --skip-build "$@"

#!/usr/bin/env bash
# The test command: release build (model-sized goldens are slow in debug), every test target.
# -enable-testing lets test targets use `@testable import` in a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --build-tests -Xswiftc -enable-testing
swift test -c release --skip-build -Xswiftc -enable-testing "$@"

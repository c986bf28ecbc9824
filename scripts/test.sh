#!/usr/bin/env bash
# The test command: release build (model-sized goldens are slow in debug), every test target, then the browser
# test of `medsam serve` (headless Chromium + Selenium; scripts/bootstrap.sh installs them).
# -enable-testing lets test targets use `@testable import` in a release build.
# With arguments (e.g. `--filter ServerTests`) only those XCTest cases run.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --build-tests -Xswiftc -enable-testing
swift test -c release --skip-build -Xswiftc -enable-testing "$@"
if [ $# -eq 0 ]; then
    python3 Tests/Browser/serve_browser_test.py --medsam "$(swift build -c release --show-bin-path)/medsam"
fi

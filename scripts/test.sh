#!/usr/bin/env bash
# The test command: release builds (model-sized goldens are slow in debug) of the library package and of the
# Apps/ package (the `medsam` executable and `medsam serve`), every test target of both, then the browser test of
# `medsam serve` (headless Chromium + Selenium; scripts/bootstrap.sh installs them).
# -enable-testing lets test targets use `@testable import` in a release build.
# With arguments (e.g. `--filter ServerTests`) only those XCTest cases run, in both packages.
set -euo pipefail
cd "$(dirname "$0")/.."
flags=(-c release -Xswiftc -enable-testing)
swift build "${flags[@]}" --build-tests
swift build "${flags[@]}" --build-tests --package-path Apps
swift test "${flags[@]}" --skip-build "$@"
swift test "${flags[@]}" --skip-build --package-path Apps "$@"
if [ $# -eq 0 ]; then
    python3 Tests/Browser/serve_browser_test.py --medsam "$(swift build "${flags[@]}" --package-path Apps --show-bin-path)/medsam"
fi

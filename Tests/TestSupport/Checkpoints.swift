import Foundation
import XCTest

/// The real LiteMedSAM checkpoint fetched by `scripts/fetch-checkpoints.sh`
/// (`$MEDSAM_CHECKPOINT_DIR` or `<repo>/.cache/checkpoints/lite_medsam.pth`).
///
/// Missing file: the test FAILS under CI (`CI` set) and is skipped with a message elsewhere.
public func liteMedSAMCheckpoint(file: StaticString = #filePath, line: UInt = #line) throws -> URL {
    let dir = ProcessInfo.processInfo.environment["MEDSAM_CHECKPOINT_DIR"].map { URL(fileURLWithPath: $0) }
        ?? repositoryRoot.appendingPathComponent(".cache/checkpoints")
    let url = dir.appendingPathComponent("lite_medsam.pth")
    if FileManager.default.fileExists(atPath: url.path) { return url }
    let message = "LiteMedSAM checkpoint missing at \(url.path): run scripts/fetch-checkpoints.sh"
    if ProcessInfo.processInfo.environment["CI"] != nil {
        XCTFail(message, file: file, line: line)
        throw XCTSkip(message)
    }
    throw XCTSkip(message)
}

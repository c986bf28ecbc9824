import Foundation
import ImageEncoder
import Imaging
import MedSAM
import NN
import Preprocess
import PromptEncoder
import Tensor
import TestSupport
import XCTest

/// Shared state and helpers for the reliability tests.
///
/// The real LiteMedSAM checkpoint is loaded once per process; the encoder costs ≈ 1–3 s per image in a
/// release build, so tests reuse embeddings and keep the number of `embed` calls small.
enum Reliability {
    /// The LiteMedSAM segmenter on the real checkpoint (loaded once).
    static let lite: Result<Segmenter, any Error> = Result {
        try Segmenter(.liteMedSAM, checkpoint: try liteMedSAMCheckpoint())
    }

    static func liteSegmenter() throws -> Segmenter { try lite.get() }

    /// Loop sizes: `RELIABILITY_<NAME>` overrides; `RELIABILITY_FULL=1` uses the full sizes
    /// (2,000 boxes, 1,000 segmentations, 20 embeds). The defaults keep the target near a minute on
    /// an idle 2-core machine (the decoder measured 0.1–0.6 s per prompt on a loaded one).
    static func count(_ name: String, default small: Int, full: Int) -> Int {
        let env = ProcessInfo.processInfo.environment
        if let v = env["RELIABILITY_" + name].flatMap(Int.init) { return v }
        return env["RELIABILITY_FULL"] != nil ? full : small
    }

    /// A synthetic "scan": dark background, a bright disc and a mid-gray rectangle, deterministic noise.
    static func phantom(width: Int, height: Int, seed: UInt64 = 1) -> Image {
        var rng = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        var px = [UInt8](repeating: 0, count: width * height)
        let (cx, cy, r) = (Double(width) * 0.4, Double(height) * 0.45, Double(min(width, height)) * 0.22)
        for y in 0..<height {
            for x in 0..<width {
                rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17
                var v = 20 + Int(rng % 12)
                let dx = Double(x) - cx, dy = Double(y) - cy
                if dx * dx + dy * dy <= r * r { v = 200 + Int(rng % 20) }
                if x > width * 3 / 5, x < width * 9 / 10, y > height / 2, y < height * 4 / 5 { v = 120 + Int(rng % 10) }
                px[y * width + x] = UInt8(v)
            }
        }
        return try! Image(uint8: px, width: width, height: height)
    }

    /// Resident set size of this process in bytes (`/proc/self/statm`, second field × page size).
    static func residentBytes() -> Int {
        guard let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = s.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Sets glibc's `M_MMAP_THRESHOLD` to 128 KiB (turning off its dynamic adjustment) so that freed
    /// large buffers go back to the kernel and RSS measures live memory. No-op when
    /// `RELIABILITY_DEFAULT_MALLOC` is set or `mallopt` is unavailable. Process-wide and permanent.
    static func fixMallocMmapThreshold() {
        guard ProcessInfo.processInfo.environment["RELIABILITY_DEFAULT_MALLOC"] == nil else { return }
        TensorMemory.useFixedMallocThreshold(128 * 1024)
    }

    static func mb(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1_048_576) }

    /// Wall-clock seconds of `body`.
    static func time<T>(_ body: () throws -> T) rethrows -> (T, Double) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let r = try body()
        return (r, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }

    /// Checks the invariants every ``Segmentation`` must satisfy.
    static func assertValid(_ s: Segmentation, width: Int, height: Int, _ label: String,
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(s.width, width, label, file: file, line: line)
        XCTAssertEqual(s.height, height, label, file: file, line: line)
        XCTAssertEqual(s.mask.count, width * height, label, file: file, line: line)
        XCTAssertEqual(s.probabilities.shape, [height, width], label, file: file, line: line)
        XCTAssertEqual(s.lowResLogits.shape, [256, 256], label, file: file, line: line)
        XCTAssertTrue(s.iouScore.isFinite, "\(label): IoU score \(s.iouScore)", file: file, line: line)
        let p = s.probabilities.scalars
        XCTAssertTrue(p.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 }, "\(label): probabilities outside [0, 1] or NaN",
                      file: file, line: line)
        XCTAssertTrue(s.lowResLogits.scalars.allSatisfy { !$0.isNaN }, "\(label): NaN logits", file: file, line: line)
        XCTAssertTrue(zip(s.mask, p).allSatisfy { m, q in m == (q > 0.5 ? 1 : 0) }, "\(label): mask ≠ (p > 0.5)",
                      file: file, line: line)
    }

    /// Asserts that `body` throws exactly `expected`.
    static func assertThrows<E: Error & Equatable, T>(_ expected: E, _ label: String = "",
                                                      file: StaticString = #filePath, line: UInt = #line,
                                                      _ body: () throws -> T) {
        do {
            _ = try body()
            XCTFail("\(label): expected \(expected), no error", file: file, line: line)
        } catch let e as E {
            XCTAssertEqual(e, expected, label, file: file, line: line)
        } catch {
            XCTFail("\(label): expected \(expected), got \(type(of: error)): \(error)", file: file, line: line)
        }
    }
}

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

/// One `Segmenter` shared by several Swift concurrency tasks gives bit-for-bit the results of
/// sequential use. Kept small enough to run under ThreadSanitizer in a debug build:
/// `swift test --sanitize=thread --scratch-path .build-tsan --filter ReliabilityTests.ConcurrencyTests`.
final class ConcurrencyTests: XCTestCase {
    static let images = [Reliability.phantom(width: 120, height: 100, seed: 1), Reliability.phantom(width: 90, height: 140, seed: 2)]

    /// Task `i`'s boxes on image `image` (default `i % 2`).
    static func prompts(task i: Int, image: Int? = nil) -> [SegmentationPrompt] {
        let img = images[image ?? i % 2]
        let (w, h) = (Double(img.width), Double(img.height))
        let f = Double(i % 4) * 0.05   // every box stays inside the image
        return [
            .box(Box(x0: (w * (0.15 + f)).rounded(), y0: (h * 0.2).rounded(), x1: (w * 0.7).rounded(), y1: (h * (0.7 + f / 2)).rounded())),
            .box(Box(x0: (w * 0.55).rounded(), y0: (h * (0.45 + f / 2)).rounded(), x1: (w * 0.95).rounded(), y1: (h * 0.85).rounded())),
            SegmentationPrompt(box: Box(x0: 1, y0: 1, x1: w - 1, y1: h - 1), points: [Point(x: w * 0.4, y: h * 0.45)]),
        ]
    }

    static func assertIdentical(_ a: [Segmentation], _ b: [Segmentation], _ label: String,
                                file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, label, file: file, line: line)
        for (k, (x, y)) in zip(a, b).enumerated() {
            XCTAssertEqual(x.mask, y.mask, "\(label) prompt \(k): masks differ", file: file, line: line)
            XCTAssertEqual(x.probabilities.scalars.map(\.bitPattern), y.probabilities.scalars.map(\.bitPattern),
                           "\(label) prompt \(k): probabilities differ", file: file, line: line)
            XCTAssertEqual(x.lowResLogits.scalars.map(\.bitPattern), y.lowResLogits.scalars.map(\.bitPattern),
                           "\(label) prompt \(k): logits differ", file: file, line: line)
            XCTAssertEqual(x.iouScore.bitPattern, y.iouScore.bitPattern, "\(label) prompt \(k): IoU differs", file: file, line: line)
        }
    }

    /// 4 tasks, each embeds one of 2 images and segments 3 prompts, against sequential use.
    func testConcurrentEmbedAndSegmentMatchSequential() async throws {
        let s = try Reliability.liteSegmenter()
        let images = Self.images
        let sequentialEmbeddings = try images.map { try s.embed($0) }
        let expected = try (0..<4).map { i in try s.segment(sequentialEmbeddings[i % 2], prompts: Self.prompts(task: i)) }

        let concurrent = try await withThrowingTaskGroup(of: (Int, ImageEmbedding, [Segmentation]).self) { group in
            for i in 0..<4 {
                group.addTask {
                    let e = try s.embed(images[i % 2])
                    return (i, e, try s.segment(e, prompts: Self.prompts(task: i)))
                }
            }
            var out = [(ImageEmbedding, [Segmentation])?](repeating: nil, count: 4)
            for try await (i, e, r) in group { out[i] = (e, r) }
            return out.map { $0! }
        }
        for i in 0..<4 {
            XCTAssertEqual(concurrent[i].0.tensor.scalars.map(\.bitPattern), sequentialEmbeddings[i % 2].tensor.scalars.map(\.bitPattern),
                           "task \(i): embedding differs from sequential")
            Self.assertIdentical(concurrent[i].1, expected[i], "task \(i)")
        }
    }

    /// Prompt encoder + decoder only: 4 tasks × 2 images × 3 prompts × 2 rounds on shared embeddings.
    func testConcurrentSegmentOnSharedEmbeddingsMatchSequential() async throws {
        let s = try Reliability.liteSegmenter()
        let embeddings = try Self.images.map { try s.embed($0) }
        let expected = try (0..<4).map { i in try (0..<2).map { j in try s.segment(embeddings[j], prompts: Self.prompts(task: i + j, image: j)) } }
        let rounds = 2
        let concurrent = try await withThrowingTaskGroup(of: (Int, [[[Segmentation]]]).self) { group in
            for i in 0..<4 {
                group.addTask {
                    var mine: [[[Segmentation]]] = []
                    for _ in 0..<rounds {
                        mine.append(try (0..<2).map { j in try s.segment(embeddings[j], prompts: Self.prompts(task: i + j, image: j)) })
                    }
                    return (i, mine)
                }
            }
            var out = [[[[Segmentation]]]](repeating: [], count: 4)
            for try await (i, r) in group { out[i] = r }
            return out
        }
        for i in 0..<4 {
            for r in 0..<rounds {
                for j in 0..<2 { Self.assertIdentical(concurrent[i][r][j], expected[i][j], "task \(i) round \(r) image \(j)") }
            }
        }
    }
}

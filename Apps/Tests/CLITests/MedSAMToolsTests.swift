import Foundation
import ImageEncoder
import Imaging
import MedSAM
import MedSAMTools
import NN
import Preprocess
import PromptEncoder
import Tensor
import TestSupport
import XCTest

/// The CLI's argument parsers, sharding, temporary names and overlay (in-process).
final class MedSAMToolsTests: XCTestCase {
    func testBoxPointWindowShardParsing() throws {
        XCTAssertEqual(try ArgumentValues.box("1,2.5, 30,40"), Box(x0: 1, y0: 2.5, x1: 30, y1: 40))
        XCTAssertThrowsError(try ArgumentValues.box("1,2,3"))
        XCTAssertEqual(try ArgumentValues.box3D("1,2,3,10,20,3").z1, 3)
        XCTAssertThrowsError(try ArgumentValues.box3D("1,2,3.5,10,20,30"))
        let p = try ArgumentValues.point("2:10,20,0")
        XCTAssertEqual(p.object, 2); XCTAssertEqual(p.point.x, 10); XCTAssertFalse(p.point.positive)
        XCTAssertTrue(try ArgumentValues.point("10,20").point.positive)
        XCTAssertThrowsError(try ArgumentValues.point("10,20,2"))
        XCTAssertEqual(try ArgumentValues.window("bone"), .window(.ct(.bone)))
        XCTAssertEqual(try ArgumentValues.window("-600,1500"), .window(.ct(.init(level: -600, width: 1500))))
        XCTAssertEqual(try ArgumentValues.window("percentile"), .window(.percentile()))
        XCTAssertThrowsError(try ArgumentValues.window("liver"))
        XCTAssertTrue(try ArgumentValues.shard("2/8") == (2, 8))
        for bad in ["0/2", "3/2", "1/0", "x/2", "1"] { XCTAssertThrowsError(try ArgumentValues.shard(bad), bad) }

        let prompts = try ArgumentValues.prompts(boxes: [Box(x0: 0, y0: 0, x1: 5, y1: 5), Box(x0: 1, y0: 1, x1: 4, y1: 4)],
                                                 points: [try ArgumentValues.point("2:2,2")])
        XCTAssertEqual(prompts.count, 2); XCTAssertEqual(prompts[1].points.count, 1); XCTAssertTrue(prompts[0].points.isEmpty)
        XCTAssertEqual(try ArgumentValues.prompts(boxes: [], points: [try ArgumentValues.point("2,2")]).count, 1)
    }

    func testDefaultWindowRule() {
        XCTAssertEqual(WindowRule.resolve(nil, pixelType: .uint8, modality: nil, minimum: 0).0, .none)
        XCTAssertEqual(WindowRule.resolve(nil, pixelType: .int16, modality: "CT", minimum: 0).0, .window(.ct(.softTissue)))
        XCTAssertEqual(WindowRule.resolve(nil, pixelType: .int16, modality: nil, minimum: -1000).0, .window(.ct(.softTissue)))
        XCTAssertEqual(WindowRule.resolve(nil, pixelType: .uint16, modality: nil, minimum: 0).0, .window(.percentile()))
        XCTAssertEqual(WindowRule.resolve(nil, pixelType: .int16, modality: "MR", minimum: -3).0, .window(.percentile()))
        XCTAssertEqual(WindowRule.resolve(.window(.ct(.lung)), pixelType: .uint8, modality: nil, minimum: 0).0, .window(.ct(.lung)))
    }

    func testShardsPartitionSortedCases() {
        let cases = (0..<10).map { i in
            Batch.Case(name: "c\(i)", input: URL(fileURLWithPath: "/in/c\(i)"), output: URL(fileURLWithPath: "/out/c\(i)"), sidecar: nil)
        }
        let shards = (1...3).map { Batch.shard(cases, index: $0, count: 3).map(\.name) }
        XCTAssertEqual(shards[0], ["c0", "c3", "c6", "c9"])
        XCTAssertEqual(Set(shards.flatMap { $0 }).count, 10)
        XCTAssertEqual(shards.map { $0.count }.reduce(0, +), 10)
    }

    func testTemporaryNamesKeepExtension() {
        let t = AtomicFile.temporaryURL(for: URL(fileURLWithPath: "/x/case.nii.gz")).lastPathComponent
        XCTAssertTrue(t.hasPrefix(".case.partial-") && t.hasSuffix(".nii.gz"), t)
        XCTAssertTrue(AtomicFile.isTemporary(t))
    }

    /// The byte writer used for batch outputs: creates, replaces, leaves no temporary file; missing folder = error.
    func testAtomicDataWrite() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("medsam-atomic-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("case.nii.gz")
        try AtomicFile.write(url, data: Data([1, 2, 3]))
        XCTAssertEqual(try Data(contentsOf: url), Data([1, 2, 3]))
        try AtomicFile.write(url, data: Data((0..<300_000).map { UInt8($0 % 251) }))
        XCTAssertEqual(try Data(contentsOf: url), Data((0..<300_000).map { UInt8($0 % 251) }))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["case.nii.gz"])
        XCTAssertThrowsError(try AtomicFile.write(dir.appendingPathComponent("nope/x.png"), data: Data([1]))) {
            XCTAssertTrue("\($0)".contains("does not exist"), "\($0)")
        }
    }

    func testOverlayDrawsBoxAndTint() throws {
        let img = try Image(uint8: [UInt8](repeating: 100, count: 20 * 10), width: 20, height: 10)
        var labels = [UInt16](repeating: 0, count: 200)
        for y in 3..<8 { for x in 3..<9 { labels[y * 20 + x] = 1 } }
        let o = try Overlay.render(image: img, labels: labels, boxes: [Box(x0: 2, y0: 2, x1: 9, y1: 8)])
        XCTAssertEqual(o.channels, 3)
        func px(_ x: Int, _ y: Int) -> [Float] { Array(o.pixels[(3 * (y * 20 + x))..<(3 * (y * 20 + x) + 3)]) }
        XCTAssertEqual(px(2, 5), [255, 64, 64])         // box outline
        XCTAssertEqual(px(15, 5), [100, 100, 100])      // untouched
        let inner = px(5, 5)                             // translucent red
        XCTAssertGreaterThan(inner[0], 100); XCTAssertLessThan(inner[1], 100)
    }
}

/// MONOCHROME1 DICOM: the model's 8-bit input is inverted (higher stored values are darker), raw values are not.
final class MonochromeOneInputTests: XCTestCase {
    func testMonochromeOneIsInvertedForTheModelOnly() throws {
        let url = fixtureURL("io/dicom/mono1.dcm")
        let source = try ImageSource.open(url)
        XCTAssertTrue(source.isInverted)
        let raw = try source.rawSlice(0)
        XCTAssertEqual(Array(raw.pixels.prefix(3)), [0, 1, 2])  // stored values: (row·32 + col) mod 256
        let input = try source.input(slice: nil, window: nil)
        XCTAssertEqual(Array(input.image.pixels.prefix(3)), [255, 254, 253])
        XCTAssertEqual(input.image.pixels, raw.pixels.map { 255 - $0 })
        XCTAssertTrue(input.windowDescription.contains("MONOCHROME1 inverted"), input.windowDescription)
    }
}

/// A DICOM folder with two series: the default is the one with more slices, the notes list both and say how to choose.
final class SeriesChoiceTests: XCTestCase {
    func testSeriesChoiceAndNotes() throws {
        let folder = fixtureURL("io/dicom/series")
        let main = try SegmentInput.load(folder, window: nil, slice: nil)
        XCTAssertTrue(main.notes.first?.contains("(3 slices) of 2 in the folder; choose with --series UID") ?? false, "\(main.notes)")
        XCTAssertTrue(main.notes.contains { $0.contains("1.2.3.4.5.999: 1 files") }, "\(main.notes)")
        XCTAssertEqual(main.slice, 1)  // the middle of 3
        let other = try SegmentInput.load(folder, window: nil, slice: 0, seriesUID: "1.2.3.4.5.999")
        XCTAssertTrue(other.notes.first?.hasPrefix("series 1.2.3.4.5.999 (1 slices)") ?? false, "\(other.notes)")
    }
}

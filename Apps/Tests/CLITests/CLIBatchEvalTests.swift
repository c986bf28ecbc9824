import Foundation
import XCTest
import MedicalIO
import MedSAMMetrics
import TestSupport

/// `medsam batch` (shard, resume, interrupted output) and `medsam eval` (against Metrics' own result).
final class CLIBatchEvalTests: XCTestCase {
    /// Three 2-D challenge cases (real MNI152 crop, boxes of its own); shard 1/2 = cases 1 and 3.
    func testBatchShardResumeAndLeftoverTemporaryFile() throws {
        let ckpt = try liteMedSAMCheckpoint()
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let inDir = dir.appendingPathComponent("in"), outDir = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: inDir, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        let src = fixtureURL("io/challenge/2DT1_MNI_demo.npz")
        for name in ["2DT1_a.npz", "2DT1_b.npz", "2DT1_c.npz"] {
            try FileManager.default.copyItem(at: src, to: inDir.appendingPathComponent(name))
        }
        try Data("not a case".utf8).write(to: inDir.appendingPathComponent("README.txt"))
        // An interrupted earlier run left a half-written temporary output for case a.
        let leftover = outDir.appendingPathComponent(".2DT1_a.partial-99999.npz")
        try Data([0x50, 0x4B, 0x03]).write(to: leftover)

        let first = try CLI.run(["batch", inDir.path, outDir.path, "--shard", "1/2", "--checkpoint", ckpt.path])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stdout.contains("3 case(s); shard 1/2: 2, 0 already done"), first.stdout)
        let outputs = try FileManager.default.contentsOfDirectory(atPath: outDir.path).sorted()
        XCTAssertEqual(outputs, ["2DT1_a.npz", "2DT1_c.npz"], "leftover temp file removed, case b belongs to shard 2")
        XCTAssertTrue(first.stderr.contains("[1/2] 2DT1_a.npz: ok"), first.stderr)
        XCTAssertTrue(first.stderr.contains("ETA"), first.stderr)
        let segs = try NPZArchive.read(outDir.appendingPathComponent("2DT1_a.npz")).array("segs")
        XCTAssertEqual(segs.shape, [64, 96])
        XCTAssertTrue(Set(try segs.uint8s()).isSuperset(of: [1, 2]), "both stored boxes segmented")

        // Second run: both finished outputs are skipped (no model needed), nothing rewritten.
        let before = try FileManager.default.attributesOfItem(atPath: outDir.appendingPathComponent("2DT1_a.npz").path)[.modificationDate] as? Date
        let again = try CLI.run(["batch", inDir.path, outDir.path, "--shard", "1/2", "--checkpoint", "/nonexistent.pth"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.contains("2 already done"), again.stdout)
        XCTAssertEqual(again.stderr.components(separatedBy: "skipped").count - 1, 2, again.stderr)
        let after = try FileManager.default.attributesOfItem(atPath: outDir.appendingPathComponent("2DT1_a.npz").path)[.modificationDate] as? Date
        XCTAssertEqual(before, after)

        // Bad shard spec: one-line error.
        try CLI.assertFails(["batch", inDir.path, outDir.path, "--shard", "3/2"], mentioning: "--shard")
    }

    /// eval on the challenge fixtures (2-D and 3-D with spacing) against predictions derived from the ground
    /// truth; CSV values equal SegmentationMetrics.caseScores.
    func testEvalMatchesMetrics() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let gtDir = dir.appendingPathComponent("gt"), predDir = dir.appendingPathComponent("pred")
        for d in [gtDir, predDir] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        var expected = [String: SegmentationMetrics.CaseScores]()
        for name in ["2DT1_MNI_demo.npz", "3DBox_MNI_demo.npz"] {
            let src = fixtureURL("io/challenge/\(name)")
            try FileManager.default.copyItem(at: src, to: gtDir.appendingPathComponent(name))
            let npz = try NPZArchive.read(src)
            let gts = try npz.array("gts")
            let g = try gts.uint8s()
            // Prediction: ground truth shifted by 2 columns (x), last columns cleared.
            let w = gts.shape.last!
            var p = [UInt8](repeating: 0, count: g.count)
            for i in 0..<g.count where i % w >= 2 { p[i] = g[i - 2] }
            try NPZArchive.write([("segs", try NPYArray(shape: gts.shape, uint8: p))], to: predDir.appendingPathComponent(name))
            expected[name] = SegmentationMetrics.caseScores(gt: LabelVolume(g, shape: gts.shape), seg: LabelVolume(p, shape: gts.shape),
                                                            spacing: gts.shape.count == 3 ? npz["spacing"]?.doubles() : nil,
                                                            tolerance: 2)
        }
        let csv = dir.appendingPathComponent("scores.csv")
        let r = try CLI.run(["eval", predDir.path, gtDir.path, "--csv", csv.path, "--tolerance", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("2 case(s): mean DSC"), r.stdout)
        let rows = try String(contentsOf: csv, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertEqual(rows.first, ["case", "label", "dsc", "nsd"])
        for (name, s) in expected {
            let all = try XCTUnwrap(rows.first { $0[0] == name && $0[1] == "all" })
            XCTAssertEqual(Double(all[2])!, s.dsc, accuracy: 1e-6)
            XCTAssertEqual(Double(all[3])!, s.nsd, accuracy: 1e-6)
            XCTAssertGreaterThan(s.nsd, 0, "\(name): the shifted prediction keeps NSD > 0")
            for (i, d) in s.dscPerLabel.enumerated() {
                let row = try XCTUnwrap(rows.first { $0[0] == name && $0[1] == "\(i + 1)" })
                XCTAssertEqual(Double(row[2])!, d, accuracy: 1e-6)
                if !s.nsdPerLabel.isEmpty { XCTAssertEqual(Double(row[3])!, s.nsdPerLabel[i], accuracy: 1e-6) }
            }
        }
        try CLI.assertFails(["eval", predDir.path, dir.appendingPathComponent("nope").path], mentioning: "no such folder")
    }
}

import Foundation
import XCTest
import MedSAMMetrics
import TestSupport

/// Against `compute_metrics.py` + `SurfaceDice.py` (faithful re-implementation in the exporter, with
/// DeepMind's lookup table; 3-D label-1 NSD cross-checked with the `surface-distance` package).
final class MetricsTests: XCTestCase {
    func testDSCAndNSDMatchReference() throws {
        let pairs = try preprocessManifest()["metrics"] as! [[String: Any]]
        XCTAssertGreaterThanOrEqual(pairs.count, 10)
        var worst = 0.0
        for p in pairs {
            let g = try NPYArray("preprocess/" + (p["gt"] as! String)), s = try NPYArray("preprocess/" + (p["seg"] as! String))
            let gt = LabelVolume(g.int32s, shape: g.shape)
            let seg = s.dtype == "<u2" ? LabelVolume(s.uint16s, shape: s.shape) : LabelVolume(s.int32s, shape: s.shape)
            let r = SegmentationMetrics.caseScores(gt: gt, seg: seg, spacing: p["spacing"] as? [Double])
            let name = p["name"] as! String
            if let d = p["dsc"] as? Double {
                XCTAssertEqual(r.dsc, d, accuracy: 1e-12, name)
            } else {
                XCTAssertTrue(r.dsc.isNaN, name)
            }
            XCTAssertEqual(r.nsd, p["nsd"] as! Double, accuracy: 1e-9, name)
            let ref = p["nsd_labels"] as! [Double]
            XCTAssertEqual(r.nsdPerLabel.count, ref.count, name)
            for (a, b) in zip(r.nsdPerLabel, ref) { worst = max(worst, abs(a - b)) }
            if let dm = p["deepmind_nsd_label1"] as? Double, let mine = r.nsdPerLabel.first {
                XCTAssertEqual(mine, dm, accuracy: 1e-9, name + " vs surface-distance")
            }
        }
        print("metrics: max |ΔNSD per label| = \(worst)")
    }

    func testHandComputedCases() {
        // Identical single pixel → DSC 1, NSD 1.
        let a = LabelVolume([UInt16]([0, 0, 0, 0, 1, 0, 0, 0, 0]), shape: [3, 3])
        let r = SegmentationMetrics.caseScores(gt: a, seg: a)
        XCTAssertEqual(r.dsc, 1); XCTAssertEqual(r.nsd, 1, accuracy: 1e-12)
        // Empty prediction → DSC 0 → NSD skipped (0).
        let z = LabelVolume([UInt16](repeating: 0, count: 9), shape: [3, 3])
        let r2 = SegmentationMetrics.caseScores(gt: a, seg: z)
        XCTAssertEqual(r2.dsc, 0); XCTAssertEqual(r2.nsd, 0)
        // EDT with anisotropic sampling.
        var f = [Bool](repeating: false, count: 3 * 4 * 5); f[0] = true
        let d = SegmentationMetrics.distanceToFeatures(f, [3, 4, 5], [2, 1, 0.5])
        XCTAssertEqual(d[(2 * 4 + 3) * 5 + 4], (16.0 + 9 + 4).squareRoot(), accuracy: 1e-12)
        // Area table: a flat face code for unit spacing.
        let t = SegmentationMetrics.surfaceAreaTable(spacing: [1, 1, 1])
        XCTAssertEqual(t[0], 0); XCTAssertEqual(t[255], 0); XCTAssertEqual(t[15], 1, accuracy: 1e-12)
    }
}

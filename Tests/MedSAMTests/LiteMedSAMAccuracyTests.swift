import Foundation
import ImageEncoder
import Imaging
import MedSAM
import MedSAMMetrics
import MedicalIO
import NN
import Preprocess
import PromptEncoder
import Tensor
import TestSupport
import XCTest

/// Accuracy against the ground truth: Swift's masks and PyTorch's (stored in the fixtures), scored by
/// the same DSC/NSD code (the challenge's metrics). Prints the README's accuracy table:
/// `swift test -c release --filter LiteMedSAMAccuracyTests` reruns it.
final class LiteMedSAMAccuracyTests: XCTestCase {
    struct Row { var source: String; var modality: String; var targets = 0
        var dscSwift = 0.0, dscTorch = 0.0, nsdSwift = 0.0, nsdTorch = 0.0 }

    func testAccuracyAgainstGroundTruthMatchesPyTorch() throws {
        let segmenter = try Segmenter(.liteMedSAM, checkpoint: try liteMedSAMCheckpoint())
        let cases: [(fixture: String, mask: String, source: String, modality: String)] = [
            ("dicompyler_ct_ct0", "dicompyler_ct/ct0_mask.png", "dicompyler-core CT (neck)", "CT"),
            ("nilearn_mni152_mni152_axial_k60", "nilearn_mni152/mni152_axial_k60_mask.png", "nilearn MNI152 T1", "MRI"),
            ("nilearn_mni152_mni152_axial_k100", "nilearn_mni152/mni152_axial_k100_mask.png", "nilearn MNI152 T1", "MRI"),
            ("stardist_dsb2018_img2d", "stardist_dsb2018/img2d_mask.png", "stardist DSB2018 nuclei", "microscopy"),
        ]
        var rows: [String: Row] = [:]
        for c in cases {
            let g = try Golden("lite/" + c.fixture)
            let gt = try PNGFile.read(fixtureURL("data/" + c.mask))
            let u8 = try g.input("image_u8")
            let (h, w) = (u8.shape[0], u8.shape[1])
            XCTAssertEqual([gt.height, gt.width], [h, w])
            let image = try Image(pixels: u8.scalars, width: w, height: h, channels: 1, pixelType: .uint8)
            let b = try g.input("boxes").scalars
            let prompts = (0..<(b.count / 4)).map { k in
                SegmentationPrompt.box(Box(x0: Double(b[4 * k]), y0: Double(b[4 * k + 1]), x1: Double(b[4 * k + 2]), y1: Double(b[4 * k + 3])))
            }
            let results = try segmenter.segment(try segmenter.embed(image), prompts: prompts)
            let ids = try JSONDecoder().decode([Int].self, from: Data((g.metadata["target_ids"] ?? "[]").utf8))
            let torchDice = try JSONDecoder().decode([Double].self, from: Data((g.metadata["dice"] ?? "[]").utf8))
            var row = rows[c.source] ?? Row(source: c.source, modality: c.modality)
            for (k, r) in results.enumerated() {
                let truth = gt.pixels.map { Int32($0) == Int32(ids[k]) ? Int32(1) : 0 }
                let torchMask = try LiteMedSAMRealTests.referenceMask(g, target: k, height: h, width: w)
                let s = SegmentationMetrics.caseScores(gt: LabelVolume(truth, shape: [h, w]), seg: LabelVolume(r.mask, shape: [h, w]))
                let t = SegmentationMetrics.caseScores(gt: LabelVolume(truth, shape: [h, w]), seg: LabelVolume(torchMask, shape: [h, w]))
                // Our scoring of PyTorch's mask reproduces the exporter's NumPy Dice.
                XCTAssertEqual(t.dsc, torchDice[k], accuracy: 1e-4, "\(c.fixture) target \(k)")
                XCTAssertEqual(s.dsc, t.dsc, accuracy: 0.01, "\(c.fixture) target \(k): Swift vs PyTorch Dice against ground truth")
                row.targets += 1
                row.dscSwift += s.dsc; row.dscTorch += t.dsc; row.nsdSwift += s.nsd; row.nsdTorch += t.nsd
            }
            rows[c.source] = row
        }
        var table = "| source | modality | targets | DSC Swift | DSC PyTorch | NSD Swift | NSD PyTorch |\n|---|---|---|---|---|---|---|\n"
        for r in rows.values.sorted(by: { $0.source < $1.source }) {
            let n = Double(r.targets)
            func f(_ v: Double) -> String { String(format: "%.4f", v / n) }
            table += "| \(r.source) | \(r.modality) | \(r.targets) | \(f(r.dscSwift)) | \(f(r.dscTorch)) | \(f(r.nsdSwift)) | \(f(r.nsdTorch)) |\n"
        }
        print("LiteMedSAM accuracy against ground truth (mean over targets, NSD tolerance 2 px):\n" + table)
    }
}

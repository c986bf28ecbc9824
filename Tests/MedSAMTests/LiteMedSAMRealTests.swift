import ImageEncoder
import Imaging
import MedSAM
import NN
import Preprocess
import PromptEncoder
import Tensor
import TestSupport
import XCTest

/// The REAL LiteMedSAM checkpoint on real CT, MRI and microscopy images, against the PyTorch
/// reference pipeline (CVPR24_LiteMedSAM_infer.py) run with the same checkpoint.
final class LiteMedSAMRealTests: XCTestCase {
    static let cases = ["dicompyler_ct_ct0", "nilearn_mni152_mni152_axial_k60", "nilearn_mni152_mni152_axial_k100", "stardist_dsb2018_img2d"]

    /// One segmenter for the whole class (loading takes a fraction of a second, but once is enough).
    nonisolated(unsafe) static var shared: Segmenter?

    func segmenter() throws -> Segmenter {
        if let s = Self.shared { return s }
        let s = try Segmenter(.liteMedSAM, checkpoint: try liteMedSAMCheckpoint())
        Self.shared = s
        return s
    }

    /// Rebuilds target `i`'s full-size mask from its stored crop.
    static func referenceMask(_ g: Golden, target i: Int, height h: Int, width w: Int) throws -> [UInt8] {
        let crop = try g.output("mask_\(i)")
        let origin = try g.output("mask_origin").scalars
        let (r0, c0) = (Int(origin[2 * i]), Int(origin[2 * i + 1]))
        let (ch, cw) = (crop.shape[0], crop.shape[1])
        var mask = [UInt8](repeating: 0, count: h * w)
        let v = crop.scalars
        for y in 0..<ch { for x in 0..<cw where v[y * cw + x] > 0.5 { mask[(r0 + y) * w + c0 + x] = 1 } }
        return mask
    }

    static func dice(_ a: [UInt8], _ b: [UInt8]) -> Double {
        var inter = 0, sa = 0, sb = 0
        for i in 0..<a.count { let x = Int(a[i]), y = Int(b[i]); inter += x & y; sa += x; sb += y }
        return sa + sb == 0 ? 1 : 2 * Double(inter) / Double(sa + sb)
    }

    func testRealCheckpointMatchesPyTorchOnRealImages() throws {
        let segmenter = try segmenter()
        var targets = 0
        var worstDice = 1.0
        for name in Self.cases {
            let g = try Golden("lite/" + name)
            let u8 = try g.input("image_u8")
            let (h, w) = (u8.shape[0], u8.shape[1])
            let image = try Image(pixels: u8.scalars, width: w, height: h, channels: 1, pixelType: .uint8)

            // Preprocessing is exact; the embedding matches to 1e-3.
            try g.check(try segmenter.preprocess(image), against: "image_256", tolerance: 0)
            let embedding = try segmenter.embed(image)
            try g.check(embedding.tensor, against: "image_embedding")

            let boxes = try g.input("boxes").scalars
            let n = boxes.count / 4
            let prompts = (0..<n).map { k in
                SegmentationPrompt.box(Box(x0: Double(boxes[4 * k]), y0: Double(boxes[4 * k + 1]),
                                           x1: Double(boxes[4 * k + 2]), y1: Double(boxes[4 * k + 3])))
            }
            let results = try segmenter.segment(embedding, prompts: prompts)
            let iou = try g.output("iou").scalars
            let logitTargets = Int(g.metadata["logits_targets"] ?? "0") ?? 0
            let logits = try g.output("low_res_logits")
            for (k, r) in results.enumerated() {
                XCTAssertEqual(r.iouScore, iou[k], accuracy: 1e-3, "\(name) target \(k) IoU prediction")
                if k < logitTargets {
                    let ref = logits.sliced([k..<(k + 1), 0..<1, 0..<256, 0..<256])
                    assertClose(r.lowResLogits, ref, tolerance: 1e-3, label: "\(name) target \(k) logits")
                }
                let d = Self.dice(r.mask, try Self.referenceMask(g, target: k, height: h, width: w))
                worstDice = min(worstDice, d)
                XCTAssertGreaterThanOrEqual(d, 0.995, "\(name) target \(k): Swift vs PyTorch mask Dice \(d)")
                targets += 1
            }
            if let segs = try? g.output("segs") {
                let labels = Segmenter.labelMap(results).map(Float.init)
                let differing = zip(labels, segs.scalars).filter { $0 != $1 }.count
                XCTAssertLessThanOrEqual(Double(differing), 0.005 * Double(labels.count), "\(name) label map")
            }
        }
        XCTAssertGreaterThanOrEqual(targets, 30, "at least 30 real targets")
        print("LiteMedSAM real checkpoint: \(targets) targets, worst Swift-vs-PyTorch mask Dice \(worstDice)")
    }
}

import Checkpoint
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

/// The accuracy of the reduced-precision encoders (int8, bf16) against fp32, on the real checkpoint and the
/// 32 real targets of ``LiteMedSAMAccuracyTests`` (CT, MRI, microscopy) plus the 3-D MRI volume. Prints the
/// per-modality table (the README's numbers) and whether issue 14's gate is met (mask Dice against fp32 ≥ 0.99
/// per target, mean ≥ 0.995, DSC and NSD against the ground truth within 0.005 of fp32's per modality).
///
/// The encoders are built with LiteMedSAM's precision policy (``PrecisionPolicy/liteMedSAM``: stage 2 keeps fp32
/// under bf16). The asserted bounds are the measured levels with a margin (``Gate/asserted``): bf16 meets the gate
/// (worst target 0.9948, mean 0.9987, volume labels 0.998 / 0.996); int8 (post-training, every Linear layer, no
/// calibration) does not — weight rounding alone gives ≈ 5 % embedding error on this model (docs/precision.md).
/// `swift test -c release --filter ReducedPrecisionAccuracyTests`.
final class ReducedPrecisionAccuracyTests: XCTestCase {
    struct Gate {
        var minDice: Double, meanDice: Double, metricDelta: Double
        /// Issue 14's gate.
        static let issue = Gate(minDice: 0.99, meanDice: 0.995, metricDelta: 0.005)
        /// What the tests assert (measured level with a margin).
        static func asserted(_ p: Precision) -> Gate {
            // bf16 measured: worst 0.9948, mean 0.9987, |ΔDSC| ≤ 0.0003, |ΔNSD| ≤ 0.0002; int8: 0.9077, 0.9827, 0.0056.
            p == .bf16 ? Gate(minDice: 0.99, meanDice: 0.997, metricDelta: 0.002) : Gate(minDice: 0.90, meanDice: 0.975, metricDelta: 0.015)
        }
        /// The volume's per-label floor: slice propagation carries each slice's difference into the next box, so the
        /// 3-D labels drift further than single slices (measured on the MNI152 volume with OpenBLAS's Cooperlake kernels,
        /// labels 1 / 2: int8 0.955 / 0.898; bf16 with the policy 0.998 / 0.996, without it 0.995 / 0.958). bf16's floor
        /// is the gate's 0.99; int8's guards against a broken path (Dice near 0), not the gate.
        static func volumeFloor(_ p: Precision) -> Double { p == .bf16 ? 0.99 : 0.85 }
    }

    struct Row { var targets = 0, diceVsFP32 = 0.0, minDiceVsFP32 = 1.0, dsc = 0.0, nsd = 0.0, dscFP32 = 0.0, nsdFP32 = 0.0 }

    static let cases: [(fixture: String, mask: String, modality: String)] = [
        ("dicompyler_ct_ct0", "dicompyler_ct/ct0_mask.png", "CT"),
        ("nilearn_mni152_mni152_axial_k60", "nilearn_mni152/mni152_axial_k60_mask.png", "MRI"),
        ("nilearn_mni152_mni152_axial_k100", "nilearn_mni152/mni152_axial_k100_mask.png", "MRI"),
        ("stardist_dsb2018_img2d", "stardist_dsb2018/img2d_mask.png", "microscopy"),
    ]

    static func dice(_ a: [UInt8], _ b: [UInt8]) -> Double {
        var inter = 0, na = 0, nb = 0
        for i in a.indices {
            let x = a[i] != 0, y = b[i] != 0
            if x { na += 1 }; if y { nb += 1 }; if x && y { inter += 1 }
        }
        return na + nb == 0 ? 1 : 2 * Double(inter) / Double(na + nb)
    }

    func precisionsUnderTest() -> [Precision] {
        var out: [Precision] = [.int8]
        if Precision.bf16.isSupported { out.append(.bf16) } else {
            print("[ReducedPrecisionAccuracyTests] NOT TESTED: bf16 — this CPU lacks AVX512_BF16")
        }
        print("[ReducedPrecisionAccuracyTests] int8 kernel: \(Int8KernelVariant.best); bf16 native: \(BF16KernelVariant.nativeAvailable)")
        return out
    }

    func testLiteMedSAMReducedPrecisionKeepsTheMasks() throws {
        let weights = try StateDict(contentsOf: try liteMedSAMCheckpoint())
        let fp32 = try Segmenter(.liteMedSAM, weights: weights)
        var table = "| precision | modality | targets | mean Dice vs fp32 | min Dice vs fp32 | DSC | DSC fp32 | NSD | NSD fp32 | encoder rel. error |\n|---|---|---|---|---|---|---|---|---|---|\n"
        for precision in precisionsUnderTest() {
            let reduced = try Segmenter(.liteMedSAM, weights: weights, precision: precision)
            XCTAssertEqual(reduced.precision, precision)
            var rows: [String: Row] = [:]
            var relErr: [String: Double] = [:]
            var allDice: [Double] = []
            let gate = Gate.asserted(precision)
            var issueMet = true
            for c in Self.cases {
                let g = try Golden("lite/" + c.fixture)
                let gt = try PNGFile.read(fixtureURL("data/" + c.mask))
                let u8 = try g.input("image_u8")
                let (h, w) = (u8.shape[0], u8.shape[1])
                let image = try Image(pixels: u8.scalars, width: w, height: h, channels: 1, pixelType: .uint8)
                let b = try g.input("boxes").scalars
                let prompts = (0..<(b.count / 4)).map { k in
                    SegmentationPrompt.box(Box(x0: Double(b[4 * k]), y0: Double(b[4 * k + 1]), x1: Double(b[4 * k + 2]), y1: Double(b[4 * k + 3])))
                }
                let e32 = try fp32.embed(image), eR = try reduced.embed(image)
                let (x, y) = (e32.tensor.scalars, eR.tensor.scalars)
                var num = 0.0, den = 0.0
                for i in x.indices { num += Double((x[i] - y[i]) * (x[i] - y[i])); den += Double(x[i] * x[i]) }
                relErr[c.modality] = max(relErr[c.modality] ?? 0, (num / den).squareRoot())
                let r32 = try fp32.segment(e32, prompts: prompts), rR = try reduced.segment(eR, prompts: prompts)
                let ids = try JSONDecoder().decode([Int].self, from: Data((g.metadata["target_ids"] ?? "[]").utf8))
                var row = rows[c.modality] ?? Row()
                for k in prompts.indices {
                    let truth = LabelVolume(gt.pixels.map { Int32($0) == Int32(ids[k]) ? Int32(1) : 0 }, shape: [h, w])
                    let s32 = SegmentationMetrics.caseScores(gt: truth, seg: LabelVolume(r32[k].mask, shape: [h, w]))
                    let sR = SegmentationMetrics.caseScores(gt: truth, seg: LabelVolume(rR[k].mask, shape: [h, w]))
                    let d = Self.dice(rR[k].mask, r32[k].mask)
                    XCTAssertGreaterThanOrEqual(d, gate.minDice, "\(precision) \(c.fixture) target \(k): mask Dice vs fp32")
                    if d < Gate.issue.minDice { issueMet = false }
                    allDice.append(d)
                    row.targets += 1
                    row.diceVsFP32 += d; row.minDiceVsFP32 = min(row.minDiceVsFP32, d)
                    row.dsc += sR.dsc; row.nsd += sR.nsd; row.dscFP32 += s32.dsc; row.nsdFP32 += s32.nsd
                }
                rows[c.modality] = row
            }
            XCTAssertEqual(allDice.count, 32, "the 32 real targets")
            let mean = allDice.reduce(0, +) / Double(allDice.count)
            XCTAssertGreaterThanOrEqual(mean, gate.meanDice, "\(precision): mean mask Dice vs fp32")
            if mean < Gate.issue.meanDice { issueMet = false }
            for (modality, r) in rows.sorted(by: { $0.key < $1.key }) {
                let n = Double(r.targets)
                XCTAssertEqual(r.dsc / n, r.dscFP32 / n, accuracy: gate.metricDelta, "\(precision) \(modality): DSC vs ground truth")
                XCTAssertEqual(r.nsd / n, r.nsdFP32 / n, accuracy: gate.metricDelta, "\(precision) \(modality): NSD vs ground truth")
                if abs(r.dsc - r.dscFP32) / n > Gate.issue.metricDelta || abs(r.nsd - r.nsdFP32) / n > Gate.issue.metricDelta { issueMet = false }
                func f(_ v: Double) -> String { String(format: "%.4f", v) }
                table += "| \(precision) | \(modality) | \(r.targets) | \(f(r.diceVsFP32 / n)) | \(f(r.minDiceVsFP32)) | \(f(r.dsc / n)) | \(f(r.dscFP32 / n)) | \(f(r.nsd / n)) | \(f(r.nsdFP32 / n)) | \(String(format: "%.4f", relErr[modality] ?? 0)) |\n"
            }
            print("[ReducedPrecisionAccuracyTests] \(precision): issue 14 gate (per target ≥ 0.99, mean ≥ 0.995, |ΔDSC|, |ΔNSD| ≤ 0.005) "
                  + (issueMet ? "MET" : "NOT MET"))
            table += "| \(precision) | all | \(allDice.count) | \(String(format: "%.4f", mean)) | \(String(format: "%.4f", allDice.min() ?? 0)) | | | | | |\n"
        }
        print("LiteMedSAM reduced-precision encoders against fp32 (real checkpoint; NSD tolerance 2 px):\n" + table)
    }

    func testLiteMedSAMVolumeReducedPrecisionKeepsTheMasks() throws {
        let weights = try StateDict(contentsOf: try liteMedSAMCheckpoint())
        let g = try Golden("lite/mni152_3d")
        let (volume, boxes) = try VolumeSegmentationTests.mni152Case(g)
        let ref = try Segmenter(.liteMedSAM, weights: weights).segmentVolume(volume, boxes: boxes)
        for precision in precisionsUnderTest() {
            let labels = try Segmenter(.liteMedSAM, weights: weights, precision: precision).segmentVolume(volume, boxes: boxes)
            for label in 1...UInt16(boxes.count) {
                let dice = Self.dice(labels.map { $0 == label ? 1 : 0 }, ref.map { $0 == label ? 1 : 0 })
                print("[ReducedPrecisionAccuracyTests] MNI152 volume \(volume.depth)×\(volume.height)×\(volume.width), label \(label), \(precision): Dice vs fp32 \(String(format: "%.4f", dice))")
                XCTAssertGreaterThanOrEqual(dice, Gate.volumeFloor(precision), "\(precision) volume label \(label): Dice vs fp32")
                if dice < Gate.issue.minDice {
                    print("[ReducedPrecisionAccuracyTests] issue 14 gate NOT MET on the volume: \(precision) label \(label) Dice \(String(format: "%.4f", dice)) < \(Gate.issue.minDice)")
                }
            }
        }
    }

    /// MedSAM ViT-B with generated weights (no real checkpoint here): encoder relative error and probability
    /// max |Δ| against fp32 on the real CT and MRI slices, reported (generated weights give no meaningful masks).
    func testMedSAMViTBReducedPrecisionReport() throws {
        let fp32 = try Segmenter(variant: .medSAM(configuration: .vitB), weights: DeterministicWeights())
        var report = "| precision | slice | encoder rel. error | probability max abs diff |\n|---|---|---|---|\n"
        let slices = [("dicompyler_ct_ct0", "CT"), ("nilearn_mni152_mni152_axial_k60", "MRI")]
        let inputs = try slices.map { s -> (String, Image, [SegmentationPrompt]) in
            let g = try Golden("lite/" + s.0)
            let u8 = try g.input("image_u8")
            let image = try Image(pixels: u8.scalars, width: u8.shape[1], height: u8.shape[0], channels: 1, pixelType: .uint8)
            let b = try g.input("boxes").scalars
            return (s.1, image, [.box(Box(x0: Double(b[0]), y0: Double(b[1]), x1: Double(b[2]), y1: Double(b[3])))])
        }
        let refs = try inputs.map { (_, image, prompts) -> (Tensor, Tensor) in
            let e = try fp32.embed(image)
            return (e.tensor, try fp32.segment(e, prompts: prompts)[0].probabilities)
        }
        for precision in precisionsUnderTest() {
            let reduced = try Segmenter(variant: .medSAM(configuration: .vitB), weights: DeterministicWeights(), precision: precision)
            for (i, (name, image, prompts)) in inputs.enumerated() {
                let e = try reduced.embed(image)
                let p = try reduced.segment(e, prompts: prompts)[0].probabilities.scalars
                let (x, y) = (refs[i].0.scalars, e.tensor.scalars)
                var num = 0.0, den = 0.0
                for j in x.indices { num += Double((x[j] - y[j]) * (x[j] - y[j])); den += Double(x[j] * x[j]) }
                let rel = (num / den).squareRoot()
                let q = refs[i].1.scalars
                let dp = zip(p, q).map { abs($0 - $1) }.max() ?? 0
                XCTAssertTrue(rel.isFinite && rel < 0.1, "\(precision) \(name): encoder relative error \(rel)")
                report += "| \(precision) | \(name) | \(String(format: "%.5f", rel)) | \(String(format: "%.5f", dp)) |\n"
            }
        }
        print("MedSAM ViT-B (generated weights) reduced-precision encoders against fp32:\n" + report)
    }
}

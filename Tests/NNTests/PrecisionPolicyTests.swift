import Foundation
import Checkpoint
import Tensor
import XCTest

@testable import NN

/// ``PrecisionPolicy``: the key patterns, and that ``Linear`` follows the loader's policy.
final class PrecisionPolicyTests: XCTestCase {
    func testPatternsMatchWholeKeys() {
        let m = PrecisionPolicy.matches
        XCTAssertTrue(m("image_encoder.layers.2.blocks.0.mlp.fc1", "image_encoder.layers.2.*"))
        XCTAssertFalse(m("image_encoder.layers.20.blocks.0.mlp.fc1", "image_encoder.layers.2.*"))
        XCTAssertFalse(m("image_encoder.layers.1.blocks.0.mlp.fc1", "image_encoder.layers.2.*"))
        XCTAssertTrue(m("image_encoder.layers.3.blocks.1.mlp.fc2", "*.mlp.fc2"))
        XCTAssertFalse(m("image_encoder.layers.3.blocks.1.mlp.fc2x", "*.mlp.fc2"), "the whole key must match")
        XCTAssertFalse(m("x.image_encoder.layers.2.a", "image_encoder.layers.2.*"), "anchored at the start")
        XCTAssertTrue(m("image_encoder.blocks.11.attn.qkv", "image_encoder.blocks.*.attn.*"))
        XCTAssertFalse(m("image_encoder.blocks.11.mlp.lin1", "image_encoder.blocks.*.attn.*"))
        XCTAssertTrue(m("a.b.c", "a.b.c"))
        XCTAssertFalse(m("a.b.c", "a.b"))
        XCTAssertTrue(m("anything", "*"))
        XCTAssertTrue(m("aXbXc", "a*b*c"))
        XCTAssertTrue(m("abbbc", "a*bc"), "backtracks over a partial match")
        XCTAssertFalse(m("", "a"))
        XCTAssertTrue(m("", "*"))
    }

    func testPolicyResolvesPerRequestedPrecision() {
        let policy = PrecisionPolicy(keepFP32: [.bf16: ["enc.stage2.*"]])
        XCTAssertEqual(policy.precision(forLayer: "enc.stage2.fc", requested: .bf16), .fp32)
        XCTAssertEqual(policy.precision(forLayer: "enc.stage1.fc", requested: .bf16), .bf16)
        XCTAssertEqual(policy.precision(forLayer: "enc.stage2.fc", requested: .int8), .int8, "no int8 entry: all reduced")
        XCTAssertEqual(policy.precision(forLayer: "enc.stage2.fc", requested: .fp32), .fp32)
        XCTAssertEqual(PrecisionPolicy.reduceAll.precision(forLayer: "enc.stage2.fc", requested: .int8), .int8)
    }

    func testLinearFollowsTheLoadersPolicy() throws {
        let w = Tensor(shape: [3, 4], scalars: (0..<12).map { Float($0) * 0.37 - 2 })
        let b = Tensor(shape: [3], scalars: [0.5, -1, 2])
        let sd = StateDict(tensors: ["enc.a.weight": w, "enc.a.bias": b, "enc.kept.weight": w, "enc.kept.bias": b])
        let loader = WeightLoader(sd, encoderPrecision: .int8, encoderPolicy: PrecisionPolicy(keepFP32: [.int8: ["enc.kept"]]))
        let scope = loader.scope("enc", precision: .int8)
        let reduced = try Linear(scope["a"], inFeatures: 4, outFeatures: 3)
        let kept = try Linear(scope["kept"], inFeatures: 4, outFeatures: 3)
        XCTAssertEqual(reduced.precision, .int8)
        XCTAssertEqual(kept.precision, .fp32)
        XCTAssertEqual(kept.weight.scalars, w.scalars, "a kept layer holds the exact fp32 weight")
        XCTAssertEqual(loader.reducedWeights, ["enc.a.weight": .int8])
        // The same layer under the default policy is reduced.
        let all = try Linear(WeightLoader(sd).scope("enc", precision: .int8)["kept"], inFeatures: 4, outFeatures: 3)
        XCTAssertEqual(all.precision, .int8)
    }

    /// fp32 Linear layers of an encoder scope (``WeightScope/packsWeights``) at depths the own GEMM handles are
    /// packed for it where the CPU runs it (AVX2+FMA or AVX-512F); deeper layers and plain scopes (the mask
    /// decoder's, whose weights are read directly) keep the PyTorch-layout weight for OpenBLAS. Both give the
    /// same layer: the forward matches a double-precision reference.
    func testEncoderFP32LinearIsPackedWhereTheOwnGEMMIsPreferred() throws {
        var rng = SystemRandomNumberGenerator()
        func tensor(_ shape: [Int]) -> Tensor {
            Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) })
        }
        let (k1, k2, n) = (384, 385, 40)
        let sd = StateDict(tensors: ["enc.shallow.weight": tensor([n, k1]), "enc.shallow.bias": tensor([n]),
                                     "enc.deep.weight": tensor([n, k2]), "enc.deep.bias": tensor([n])])
        let loader = WeightLoader(sd)
        let encoder = loader.scope("enc", precision: .fp32)
        XCTAssertTrue(encoder.packsWeights && encoder["shallow"].packsWeights)
        XCTAssertFalse(loader.scope("enc").packsWeights)
        let shallow = try Linear(encoder["shallow"], inFeatures: k1, outFeatures: n)
        let deep = try Linear(encoder["deep"], inFeatures: k2, outFeatures: n)
        let plain = try Linear(loader.scope("enc")["shallow"], inFeatures: k1, outFeatures: n)
        let ownGEMM = KernelVariant.best != .portable
        if !ownGEMM { print("[PrecisionPolicyTests] NOT TESTED: packed fp32 Linear — this CPU (or MEDSAM_KERNELS) has no AVX2+FMA") }
        if case .fp32Packed = shallow.storage { XCTAssertTrue(ownGEMM) } else { XCTAssertFalse(ownGEMM, "depth 384 must be packed") }
        // Deeper layers go to the own GEMM only where it beats the OpenBLAS in use (AVX-512 kernels of its own
        // against an OpenBLAS core without them, such as OPENBLAS_CORETYPE=Haswell on an AVX-512 CPU).
        let deepPacked = FP32PackedWeights.isPreferred(inFeatures: k2)
        XCTAssertEqual(deepPacked, KernelVariant.best == .avx512 && !OpenBLASCore.runsAVX512Kernels,
                       "depth 385: own GEMM exactly when OpenBLAS runs no AVX-512 kernels")
        switch deep.storage {
        case .fp32Packed: XCTAssertTrue(deepPacked, "depth 385 packed though OpenBLAS is preferred")
        case .fp32: XCTAssertFalse(deepPacked, "depth 385 left on OpenBLAS though the own GEMM is preferred")
        default: XCTFail("depth 385: fp32 storage expected")
        }
        guard case .fp32 = plain.storage else { return XCTFail("a plain scope keeps the PyTorch layout") }
        XCTAssertEqual(shallow.precision, .fp32)
        XCTAssertEqual(shallow.weight.scalars, sd["enc.shallow.weight"]!.scalars, "the packed weight unpacks exactly")
        let x = tensor([2, 50, k1])
        for act in [FusedActivation.none, .gelu] {
            let got = act == .none ? shallow(x) : shallow(x, activation: act)
            let other = act == .none ? plain(x) : plain(x, activation: act)
            XCTAssertEqual(got.shape, [2, 50, n])
            let w = sd["enc.shallow.weight"]!.scalars, b = sd["enc.shallow.bias"]!.scalars, xs = x.scalars
            for r in 0..<100 {
                for j in 0..<n {
                    var s = Double(b[j]), mag = abs(Double(b[j]))
                    for t in 0..<k1 { s += Double(xs[r * k1 + t]) * Double(w[j * k1 + t]); mag += abs(Double(xs[r * k1 + t]) * Double(w[j * k1 + t])) }
                    let tolerance = 2e-6 * mag + 1e-6   // fp32 sums of 384 products, any order
                    let want = act == .none ? s : 0.5 * s * (1 + erf(s / 2.0.squareRoot()))
                    XCTAssertEqual(Double(got.scalars[r * n + j]), want, accuracy: tolerance, "packed \(act) [\(r),\(j)]")
                    XCTAssertEqual(Double(other.scalars[r * n + j]), want, accuracy: tolerance, "OpenBLAS \(act) [\(r),\(j)]")
                }
            }
        }
    }
}

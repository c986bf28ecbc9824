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
}

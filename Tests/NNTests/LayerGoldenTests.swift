import NN
import Tensor
import TestSupport
import XCTest

/// Each NN layer against its PyTorch golden (`Fixtures/layers/*.safetensors`).
final class LayerGoldenTests: XCTestCase {
    func testLinear() throws {
        let g = try Golden("layers/linear")
        let layer = try Linear(g.scope, inFeatures: g.int("in_features"), outFeatures: g.int("out_features"))
        try g.check(layer(try g.input("x")), against: "y")
    }

    func testConv2dVariants() throws {
        for name in ["conv2d_3x3_p1", "conv2d_3x3_s2_p1", "conv2d_dw_s1", "conv2d_dw_s2", "conv2d_k4_s4", "conv2d_1x1_nobias"] {
            let g = try Golden("layers/" + name)
            let groups = g.config["groups"] == nil ? 1 : g.int("groups")
            let conv = try Conv2d(g.scope, inChannels: g.int("in_channels"), outChannels: g.int("out_channels"),
                                  kernelSize: g.int("kernel_size"), stride: g.int("stride"), padding: g.int("padding"),
                                  groups: groups, bias: g.bool("bias"))
            try g.check(conv(try g.input("x")), against: "y")
        }
    }

    func testConvTranspose2d() throws {
        let g = try Golden("layers/conv_transpose2d_k2_s2")
        let conv = try ConvTranspose2d(g.scope, inChannels: g.int("in_channels"), outChannels: g.int("out_channels"),
                                       kernelSize: g.int("kernel_size"))
        try g.check(conv(try g.input("x")), against: "y")
    }

    func testConv2dBNFoldsBatchNorm() throws {
        for name in ["conv2d_bn", "conv2d_bn_dw_s2"] {
            let g = try Golden("layers/" + name)
            let layer = try Conv2dBN(g.scope, inChannels: g.int("a"), outChannels: g.int("b"), kernelSize: g.int("ks"),
                                     stride: g.int("stride"), padding: g.int("pad"), groups: g.int("groups"))
            try g.check(layer(try g.input("x")), against: "y")
        }
    }

    func testLayerNorms() throws {
        for name in ["layernorm_eps1e-5", "layernorm_eps1e-6"] {
            let g = try Golden("layers/" + name)
            let norm = try LayerNorm(g.scope, dim: g.ints("normalized_shape")[0], eps: Float(g.double("eps")))
            try g.check(norm(try g.input("x")), against: "y")
        }
        let g = try Golden("layers/layernorm2d")
        let norm = try LayerNorm2d(g.scope, channels: g.int("num_channels"), eps: Float(g.double("eps")))
        try g.check(norm(try g.input("x")), against: "y")
    }

    func testGELUExactErf() throws {
        let g = try Golden("layers/gelu")
        try g.check(Activation.gelu(try g.input("x")), against: "y")
    }

    func testMLPBlocks() throws {
        for (name, act) in [("mlpblock_gelu", Activation.gelu), ("mlpblock_relu", .relu)] {
            let g = try Golden("layers/" + name)
            let mlp = try MLPBlock(g.scope, embeddingDim: g.int("embedding_dim"), mlpDim: g.int("mlp_dim"), activation: act)
            try g.check(mlp(try g.input("x")), against: "y")
        }
    }

    /// Hand-computed: softmax rows sum to 1 and match exp/sum; attention with one key returns its value.
    func testAttentionKernelHandComputed() {
        // q·kᵀ scores [1, 2, 3] → softmax → weights; V rows 10, 20, 30.
        let q: [Float] = [1], k: [Float] = [1, 2, 3], v: [Float] = [10, 20, 30]
        var out: [Float] = [0]
        var scratch = [Float](repeating: 0, count: 3)
        q.withUnsafeBufferPointer { qp in k.withUnsafeBufferPointer { kp in v.withUnsafeBufferPointer { vp in
            out.withUnsafeMutableBufferPointer { op in scratch.withUnsafeMutableBufferPointer { sp in
                AttentionKernel.run(queries: 1, keys: 3, qkDim: 1, vDim: 1, q: qp.baseAddress!, ldq: 1,
                                    k: kp.baseAddress!, ldk: 1, v: vp.baseAddress!, ldv: 1,
                                    out: op.baseAddress!, ldo: 1, scale: 1, scratch: sp.baseAddress!, scratchCount: 3)
            } }
        } } }
        let e = [1.0, 2.0, 3.0].map { Foundation.exp($0) }
        let expected = (10 * e[0] + 20 * e[1] + 30 * e[2]) / e.reduce(0, +)
        XCTAssertEqual(Double(out[0]), expected, accuracy: 1e-4)
    }

    /// The keys-as-rows attention for a few queries (the decoder's token→image attention) against a double-precision
    /// softmax attention: several key blocks with a partial last one, large score spreads (the column maxima keep
    /// exp finite), strided keys and values, and a value width other than the depth.
    func testFewQueryAttentionMatchesADoubleReference() {
        var rng = SystemRandomNumberGenerator()
        for (r, nk, depth, vw) in [(56, 4096, 32, 24), (3, 50, 8, 5), (7, 1, 16, 16)] {
            let (ldk, ldv, ldo) = (depth + 2, vw + 3, vw + 1)
            let q = (0..<(r * depth)).map { _ in Float.random(in: -2...2, using: &rng) }
            let k = (0..<(nk * ldk)).map { _ in Float.random(in: -2...2, using: &rng) }
            let v = (0..<(nk * ldv)).map { _ in Float.random(in: -1...1, using: &rng) }
            let scale: Float = 0.5
            let operand = FP32GEMMOperand(rowMajor: q, outFeatures: r, inFeatures: depth, scale: scale)
            var out = [Float](repeating: .nan, count: r * ldo)
            k.withUnsafeBufferPointer { kb in v.withUnsafeBufferPointer { vb in out.withUnsafeMutableBufferPointer { ob in
                AttentionKernel.fewQueries(operand, keys: kb.baseAddress!, ldk: ldk, count: nk, values: vb.baseAddress!, ldv: ldv,
                                           valueWidth: vw, out: ob.baseAddress!, ldo: ldo)
            } } }
            for i in 0..<r {
                let s = (0..<nk).map { t in (0..<depth).reduce(0.0) { $0 + Double(q[i * depth + $1]) * Double(k[t * ldk + $1]) } * Double(scale) }
                let m = s.max()!
                let e = s.map { Foundation.exp($0 - m) }
                let sum = e.reduce(0, +)
                for c in 0..<vw {
                    let expected = (0..<nk).reduce(0.0) { $0 + e[$1] * Double(v[$1 * ldv + c]) } / sum
                    XCTAssertEqual(Double(out[i * ldo + c]), expected, accuracy: 2e-5, "\(r)×\(nk) [\(i), \(c)]")
                }
                XCTAssertTrue(out[i * ldo + vw].isNaN, "wrote past the value width")
            }
        }
    }
}

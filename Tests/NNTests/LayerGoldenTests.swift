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

    /// Random strided operands of one attention head: q (nq × depth, stride depth + 3), k (stride depth + 1),
    /// v (nk × vw, stride vw + 2), an additive score term (nq × nk) and the output stride vw + 1.
    struct HeadOperands {
        let ldq, ldk, ldv, ldo: Int
        let q, k, v, bias: [Float]
        let scale: Float = 0.375
        init(queries nq: Int, keys nk: Int, depth: Int, valueWidth vw: Int, using rng: inout SystemRandomNumberGenerator) {
            (ldq, ldk, ldv, ldo) = (depth + 3, depth + 1, vw + 2, vw + 1)
            q = (0..<(nq * ldq)).map { _ in Float.random(in: -2...2, using: &rng) }
            k = (0..<(nk * ldk)).map { _ in Float.random(in: -2...2, using: &rng) }
            v = (0..<(nk * ldv)).map { _ in Float.random(in: -1...1, using: &rng) }
            bias = (0..<(nq * nk)).map { _ in Float.random(in: -1...1, using: &rng) }
        }
    }

    /// One head of attention (``AttentionKernel/run``) against a double-precision softmax attention on every path
    /// it takes: the own GEMM on a worker thread (keys packed with the scale folded in; values transposed into
    /// panels where the own GEMM takes their depth; query blocks with a partial last one), OpenBLAS for a lone
    /// call with several threads and for few queries, a score modifier (the rel-pos add) on each block, strided
    /// q, k, v and output, and a scratch smaller than the scores.
    func testHeadAttentionMatchesADoubleReferenceOnEveryPath() {
        var rng = SystemRandomNumberGenerator()
        for (nq, nk, depth, vw, scratchRows) in [(60, 200, 16, 12, 60), (130, 700, 24, 20, 50), (10, 64, 8, 8, 10),
                                                 (49, 49, 32, 32, 49)] {
            let ops = HeadOperands(queries: nq, keys: nk, depth: depth, valueWidth: vw, using: &rng)
            let (ldq, ldk, ldv, ldo, q, k, v, bias, scale) = (ops.ldq, ops.ldk, ops.ldv, ops.ldo, ops.q, ops.k, ops.v, ops.bias, ops.scale)
            // Reference: softmax(scale·q·kᵀ + bias)·v in double.
            var want = [Double](repeating: 0, count: nq * vw)
            for i in 0..<nq {
                let s = (0..<nk).map { t in (0..<depth).reduce(0.0) { $0 + Double(q[i * ldq + $1]) * Double(k[t * ldk + $1]) } * Double(scale) + Double(bias[i * nk + t]) }
                let m = s.max()!, e = s.map { Foundation.exp($0 - m) }, sum = e.reduce(0, +)
                for c in 0..<vw { want[i * vw + c] = (0..<nk).reduce(0.0) { $0 + e[$1] * Double(v[$1 * ldv + c]) } / sum }
            }
            func attend(heads: Int, insideRegion: Bool) -> [[Float]] {
                var outs = [[Float]](repeating: [Float](repeating: .nan, count: nq * ldo), count: heads)
                let outPointers = outs.indices.map { h in SendablePointer(UnsafeMutablePointer<Float>.allocate(capacity: nq * ldo)) }
                let body: (Range<Int>) -> Void = { hs in
                    for h in hs {
                        outPointers[h].pointer.initialize(repeating: .nan, count: nq * ldo)
                        var scratch = [Float](repeating: .nan, count: scratchRows * nk)
                        q.withUnsafeBufferPointer { qb in k.withUnsafeBufferPointer { kb in v.withUnsafeBufferPointer { vb in
                            bias.withUnsafeBufferPointer { bb in scratch.withUnsafeMutableBufferPointer { sb in
                                AttentionKernel.run(queries: nq, keys: nk, qkDim: depth, vDim: vw, q: qb.baseAddress!, ldq: ldq,
                                                    k: kb.baseAddress!, ldk: ldk, v: vb.baseAddress!, ldv: ldv,
                                                    out: outPointers[h].pointer, ldo: ldo, scale: scale,
                                                    scratch: sb.baseAddress!, scratchCount: sb.count) { rows, scores, ld in
                                    for (r, i) in rows.enumerated() { for t in 0..<nk { scores[r * ld + t] += bb[i * nk + t] } }
                                }
                            } }
                        } } }
                    }
                }
                if insideRegion { Parallel.forRanges(heads, body) } else { body(0..<heads) }
                for h in 0..<heads {
                    outs[h] = Array(UnsafeBufferPointer(start: outPointers[h].pointer, count: nq * ldo))
                    outPointers[h].pointer.deallocate()
                }
                return outs
            }
            for (inside, tag) in [(true, "worker thread"), (false, "lone call")] {
                for out in attend(heads: inside ? 2 : 1, insideRegion: inside) {
                    for i in 0..<nq {
                        for c in 0..<vw {
                            XCTAssertEqual(Double(out[i * ldo + c]), want[i * vw + c], accuracy: 2e-5, "\(tag) \(nq)×\(nk)×\(depth) [\(i), \(c)]")
                        }
                        XCTAssertTrue(out[i * ldo + vw].isNaN, "\(tag): wrote past the value width")
                    }
                }
            }
        }
    }

    /// `products: .bf16` (the reduced-precision encoders' attention) against a double-precision model of its
    /// arithmetic: queries, keys × scale, probabilities and values rounded to bf16, exact sums. Covers partial
    /// query blocks, odd depths and key counts (padded pairs), strided operands, and the lone-call fallback to fp32.
    func testHeadAttentionBF16ProductsFollowTheirArithmetic() {
        guard BF16KernelVariant.nativeAvailable else {
            print("[LayerGoldenTests] NOT TESTED: bf16 attention products — this CPU lacks AVX512_BF16 (they fall back to fp32)")
            return
        }
        func bf(_ x: Float) -> Double { Double(Float(bitPattern: UInt32(Kernels.bf16(x)) << 16)) }
        var rng = SystemRandomNumberGenerator()
        for (nq, nk, depth, vw) in [(60, 200, 16, 12), (130, 700, 24, 20), (49, 49, 32, 32), (50, 101, 7, 9)] {
            let ops = HeadOperands(queries: nq, keys: nk, depth: depth, valueWidth: vw, using: &rng)
            let (ldq, ldk, ldv, ldo, q, k, v, bias, scale) = (ops.ldq, ops.ldk, ops.ldv, ops.ldo, ops.q, ops.k, ops.v, ops.bias, ops.scale)
            // `slack`: a probability within ~6e-5 (relative) of a bf16 rounding boundary may round either way in
            // the kernel's fp32 softmax; the model takes the midpoint and allows half the gap times |v| for it.
            var model = [Double](repeating: 0, count: nq * vw), exact = model, slack = model
            for i in 0..<nq {
                let sb = (0..<nk).map { t in (0..<depth).reduce(0.0) { $0 + bf(q[i * ldq + $1]) * bf(k[t * ldk + $1] * scale) } + Double(bias[i * nk + t]) }
                let se = (0..<nk).map { t in (0..<depth).reduce(0.0) { $0 + Double(q[i * ldq + $1]) * Double(k[t * ldk + $1]) } * Double(scale) + Double(bias[i * nk + t]) }
                let mb = sb.max()!, eb = sb.map { Foundation.exp($0 - mb) }, sumB = eb.reduce(0, +)
                let me = se.max()!, ee = se.map { Foundation.exp($0 - me) }, sumE = ee.reduce(0, +)
                let (pm, ph) = (0..<nk).map { t -> (Double, Double) in
                    let u = Float(eb[t] / sumB).bitPattern, low = Int(u & 0xFFFF)
                    guard abs(low - 0x8000) < 1024 else { return (bf(Float(bitPattern: u)), 0) }
                    let lo = Double(Float(bitPattern: u & 0xFFFF_0000)), hi = Double(Float(bitPattern: (u & 0xFFFF_0000) + 0x1_0000))
                    return ((lo + hi) / 2, (hi - lo) / 2)
                }.reduce(into: ([Double](), [Double]())) { $0.0.append($1.0); $0.1.append($1.1) }
                for c in 0..<vw {
                    model[i * vw + c] = (0..<nk).reduce(0.0) { $0 + pm[$1] * bf(v[$1 * ldv + c]) }
                    slack[i * vw + c] = (0..<nk).reduce(0.0) { $0 + ph[$1] * abs(bf(v[$1 * ldv + c])) }
                    exact[i * vw + c] = (0..<nk).reduce(0.0) { $0 + ee[$1] * Double(v[$1 * ldv + c]) } / sumE
                }
            }
            func attend(insideRegion: Bool) -> [Float] {
                var out = [Float](repeating: .nan, count: nq * ldo)
                let op = SendablePointer(UnsafeMutablePointer<Float>.allocate(capacity: nq * ldo))
                op.pointer.initialize(repeating: .nan, count: nq * ldo)
                let body: (Range<Int>) -> Void = { hs in
                    guard hs.contains(0) else { return }
                    var scratch = [Float](repeating: .nan, count: nq * nk)
                    q.withUnsafeBufferPointer { qb in k.withUnsafeBufferPointer { kb in v.withUnsafeBufferPointer { vb in
                        bias.withUnsafeBufferPointer { bb in scratch.withUnsafeMutableBufferPointer { sb in
                            AttentionKernel.run(queries: nq, keys: nk, qkDim: depth, vDim: vw, q: qb.baseAddress!, ldq: ldq,
                                                k: kb.baseAddress!, ldk: ldk, v: vb.baseAddress!, ldv: ldv,
                                                out: op.pointer, ldo: ldo, scale: scale,
                                                scratch: sb.baseAddress!, scratchCount: sb.count, modifier: { rows, scores, ld in
                                for (r, i) in rows.enumerated() { for t in 0..<nk { scores[r * ld + t] += bb[i * nk + t] } }
                            }, products: .bf16)
                        } }
                    } } }
                }
                if insideRegion { Parallel.forRanges(2, body) } else { body(0..<1) }
                out = Array(UnsafeBufferPointer(start: op.pointer, count: nq * ldo))
                op.pointer.deallocate()
                return out
            }
            let tag = "\(nq)×\(nk)×\(depth)"
            let out = attend(insideRegion: true)
            var sumModel = 0.0, sumExact = 0.0, maxModel = 0.0
            for i in 0..<nq {
                for c in 0..<vw {
                    let o = Double(out[i * ldo + c]), d = abs(o - model[i * vw + c])
                    sumModel += d; maxModel = max(maxModel, d)
                    sumExact += abs(o - exact[i * vw + c])
                    XCTAssertLessThanOrEqual(d, 1e-5 + slack[i * vw + c], "\(nq)×\(nk)×\(depth) [\(i), \(c)]: bf16 products follow their arithmetic")
                }
                XCTAssertTrue(out[i * ldo + vw].isNaN, "\(tag): wrote past the value width")
            }
            let n = Double(nq * vw)
            print("[LayerGoldenTests] bf16 attention \(tag): mean |Δ| to its bf16 model \(sumModel / n) (max \(maxModel)), to exact fp64 \(sumExact / n)")
            XCTAssertLessThan(sumExact / n, 5e-3, "\(tag): bf16 attention stays near the exact result")
            // A lone call with several compute threads leaves the products to OpenBLAS in fp32.
            if ComputeThreads.count > 1 {
                let lone = attend(insideRegion: false)
                for i in 0..<nq { for c in 0..<vw {
                    XCTAssertEqual(Double(lone[i * ldo + c]), exact[i * vw + c], accuracy: 2e-5, "\(tag) lone call [\(i), \(c)]")
                } }
            }
        }
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
            // Keys given as `keys + addend` (formed per key block, strided and contiguous rows): the same bits as
            // passing the sum itself.
            for ld in [ldk, depth] {
                let a = (0..<(nk * ld)).map { _ in Float.random(in: -1...1, using: &rng) }
                let k0 = (0..<(nk * ld)).map { i in k[(i / ld) * ldk + min(i % ld, depth - 1)] - a[i] }
                let sum = zip(k0, a).map { $0 + $1 }
                func attend(_ keys: [Float], _ addend: [Float]?) -> [Float] {
                    var o = [Float](repeating: .nan, count: r * ldo)
                    keys.withUnsafeBufferPointer { kb in v.withUnsafeBufferPointer { vb in o.withUnsafeMutableBufferPointer { ob in
                        if let addend {
                            addend.withUnsafeBufferPointer { ab in
                                AttentionKernel.fewQueries(operand, keys: kb.baseAddress!, keysAddend: ab.baseAddress!, ldk: ld, count: nk,
                                                           values: vb.baseAddress!, ldv: ldv, valueWidth: vw, out: ob.baseAddress!, ldo: ldo)
                            }
                        } else {
                            AttentionKernel.fewQueries(operand, keys: kb.baseAddress!, ldk: ld, count: nk, values: vb.baseAddress!,
                                                       ldv: ldv, valueWidth: vw, out: ob.baseAddress!, ldo: ldo)
                        }
                    } } }
                    return o
                }
                let viaSum = attend(sum, nil), viaAddend = attend(k0, a)
                XCTAssertEqual(viaAddend.map(\.bitPattern), viaSum.map(\.bitPattern), "\(r)×\(nk), key stride \(ld): keys + addend")
            }
        }
    }
}

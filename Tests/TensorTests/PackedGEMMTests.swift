import Foundation
@testable import Tensor
import XCTest

/// The own fp32 GEMM on packed weights (Sources/CKernels/gemm_f32.c): every variant this CPU has, run explicitly,
/// against the scalar reference of the same arithmetic (bit for bit without GELU, whose vector polynomial differs
/// from the scalar one in the last bits), and the reference itself against a double-precision sum. A variant the
/// CPU lacks is reported loudly and not tested.
final class PackedGEMMTests: XCTestCase {
    var rng = SystemRandomNumberGenerator()

    func random(_ count: Int) -> [Float] { (0..<count).map { _ in Float.random(in: -1...1, using: &rng) } }

    func pack(_ w: [Float], n: Int, k: Int) -> [Float] {
        var packed = [Float](repeating: .nan, count: Kernels.f32PackedCount(n: n, k: k))
        w.withUnsafeBufferPointer { wp in packed.withUnsafeMutableBufferPointer { Kernels.f32Pack(wp.baseAddress!, n: n, k: k, into: $0.baseAddress!) } }
        return packed
    }

    func testPackingRoundTripsAndZeroPadsTheLastPanel() {
        for (n, k) in [(1, 1), (15, 3), (16, 7), (17, 5), (40, 33)] {
            let w = random(n * k)
            let packed = pack(w, n: n, k: k)
            XCTAssertEqual(packed.count, (n + 15) / 16 * 16 * k)
            for j in n..<((n + 15) / 16 * 16) { for t in 0..<k { XCTAssertEqual(packed[((j / 16) * k + t) * 16 + j % 16], 0, "padding column \(j)") } }
            var back = [Float](repeating: .nan, count: n * k)
            packed.withUnsafeBufferPointer { p in back.withUnsafeMutableBufferPointer { Kernels.f32Unpack(p.baseAddress!, n: n, k: k, into: $0.baseAddress!) } }
            XCTAssertEqual(back, w, "\(n)×\(k)")
            let t = FP32PackedWeights(packing: Tensor(shape: [n, k], scalars: w))
            XCTAssertEqual(t.unpacked.scalars, w)
            XCTAssertEqual(t.unpacked.shape, [n, k])
        }
    }

    /// The strided pack (attention operands read in place) equals the plain pack of the gathered matrix times the
    /// scale: keys as rows of a wider buffer, and values read transposed.
    func testStridedPackingGathersAndScales() {
        for (n, k) in [(1, 1), (17, 5), (40, 33)] {
            let ld = k + 4
            let rows = random(n * ld)
            let gathered = (0..<(n * k)).map { rows[($0 / k) * ld + $0 % k] }
            var got = [Float](repeating: .nan, count: Kernels.f32PackedCount(n: n, k: k))
            rows.withUnsafeBufferPointer { r in got.withUnsafeMutableBufferPointer {
                Kernels.f32Pack(r.baseAddress!, rowStride: ld, columnStride: 1, n: n, k: k, scale: 0.25, into: $0.baseAddress!)
            } }
            XCTAssertEqual(got, pack(gathered.map { $0 * 0.25 }, n: n, k: k), "rows \(n)×\(k)")
            // Transposed: w[j, t] = x[t·ldx + j] (x is k × n with row stride ldx).
            let ldx = n + 3
            let x = random(k * ldx)
            let transposed = (0..<(n * k)).map { x[($0 % k) * ldx + $0 / k] }
            x.withUnsafeBufferPointer { r in got.withUnsafeMutableBufferPointer {
                Kernels.f32Pack(r.baseAddress!, rowStride: 1, columnStride: ldx, n: n, k: k, into: $0.baseAddress!)
            } }
            XCTAssertEqual(got, pack(transposed, n: n, k: k), "transposed \(n)×\(k)")
        }
    }

    /// Register-tile remainders (rows 1…13), column tails (1, 15, 17, 33, 47), several depth blocks (700, 1000),
    /// strided operands, with and without bias and residual, every activation.
    func testEveryVariantMatchesTheScalarReference() {
        let shapes = [(1, 1, 1), (5, 15, 3), (6, 16, 8), (7, 17, 31), (12, 32, 64), (13, 33, 100), (25, 47, 384),
                      (30, 64, 385), (19, 40, 700), (4, 20, 1000)]
        for v in runnableVariants(tag: "PackedGEMMTests") {
            for (m, n, k) in shapes {
                let lda = k + 3, ldo = n + 2, ldr = n + 5
                let a = random(m * lda), w = random(n * k), bias = random(n), res = random(m * ldr)
                let packed = pack(w, n: n, k: k)
                let kc = Kernels.f32DepthBlock(k: k, variant: v)
                XCTAssertTrue(kc >= 1 && kc <= 384, "depth block \(kc)")
                for withBias in [false, true] {
                    for withResidual in [false, true] {
                        for act in [FusedActivation.none, .relu, .gelu] {
                            var got = [Float](repeating: -7, count: m * ldo), want = got
                            let b: [Float]? = withBias ? bias : nil, r: [Float]? = withResidual ? res : nil
                            Kernels.f32GEMM(a: a, lda: lda, m: m, packed: packed, n: n, k: k, bias: b, residual: r, ldr: ldr,
                                            activation: act, out: &got, ldo: ldo, variant: v)
                            Kernels.f32GEMMReference(depthBlock: kc, a: a, lda: lda, m: m, packed: packed, n: n, k: k, bias: b,
                                                     residual: r, ldr: ldr, activation: act, out: &want, ldo: ldo)
                            let tag = "\(v) \(m)×\(n)×\(k) bias=\(withBias) res=\(withResidual) \(act)"
                            for i in 0..<m {
                                for j in 0..<ldo {
                                    let (g, e) = (got[i * ldo + j], want[i * ldo + j])
                                    if j >= n { XCTAssertEqual(g, -7, "\(tag): wrote past column n at [\(i),\(j)]"); continue }
                                    if act == .gelu {
                                        XCTAssertEqual(g, e, accuracy: 2e-6 * max(1, abs(e)), "\(tag) [\(i),\(j)]")
                                    } else {
                                        XCTAssertEqual(g.bitPattern, e.bitPattern, "\(tag) [\(i),\(j)]: \(g) vs \(e)")
                                    }
                                }
                            }
                            // The reference against a double-precision sum (its rounding is bounded by k·ε·Σ|a·w|).
                            for i in 0..<m {
                                for j in 0..<n {
                                    var s = 0.0, mag = 0.0
                                    for t in 0..<k { s += Double(a[i * lda + t]) * Double(w[j * k + t]); mag += abs(Double(a[i * lda + t]) * Double(w[j * k + t])) }
                                    if withBias { s += Double(bias[j]) }
                                    if withResidual { s += Double(res[i * ldr + j]) }
                                    let exact: Double
                                    switch act {
                                    case .none: exact = s
                                    case .relu: exact = max(s, 0)
                                    case .gelu: exact = 0.5 * s * (1 + erf(s / 2.0.squareRoot()))
                                    }
                                    XCTAssertEqual(Double(want[i * ldo + j]), exact, accuracy: 1e-6 * (Double(k) * mag + 4) + 1e-6,
                                                   "reference \(tag) [\(i),\(j)]")
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The threaded driver (row ranges for many rows, column ranges of panel pairs for few) gives the single
    /// call's result exactly, whatever the thread count.
    func testDriverSplitsGiveTheSingleCallResult() {
        let saved = ComputeThreads.count
        defer { ComputeThreads.set(saved) }
        for (m, n, k) in [(300, 70, 64), (500, 256, 320), (20, 200, 128), (3, 96, 384)] {
            let a = random(m * k), w = random(n * k), bias = random(n), res = random(m * n)
            let weights = FP32PackedWeights(packing: Tensor(shape: [n, k], scalars: w))
            var single = [Float](repeating: 0, count: m * n)
            weights.packed.withUnsafeBufferPointer { p in
                Kernels.f32GEMM(a: a, lda: k, m: m, packed: p.baseAddress!, n: n, k: k, bias: bias, residual: res, ldr: n,
                                activation: .gelu, out: &single, ldo: n)
            }
            for threads in [1, 2, 3] {
                ComputeThreads.set(threads)
                var out = [Float](repeating: .nan, count: m * n)
                PackedGEMM.run(weights, rows: m, x: a, ldx: k, bias: bias, residual: res, ldr: n, activation: .gelu, out: &out, ldo: n)
                XCTAssertEqual(out, single, "\(m)×\(n)×\(k), \(threads) threads")
            }
        }
    }

    /// The run-time operand (the mask decoder's): packed where the own GEMM is preferred, row-major for OpenBLAS
    /// on the portable variant or past the depth limit; from the (out × in) or the transposed (in × out) layout,
    /// with a scale folded in; strided rows, bias, residual and ReLU, against a double-precision sum.
    func testRunTimeOperandInBothFormsMatchesADoubleReference() {
        let variants = runnableVariants(tag: "FP32GEMMOperand")
        for v in variants {
            for (m, n, k) in [(7, 56, 128), (48, 256, 56), (30, 1, 32), (5, 20, 400)] {
                let (ldx, ldr, ldo) = (k + 3, n + 1, n + 2)
                let x = random(m * ldx), w = random(n * k), bias = random(n), res = random(m * ldr)
                let wt = (0..<(k * n)).map { w[($0 % n) * k + $0 / n] }     // (in × out): wt[t·n + j] = w[j·k + t]
                let scale: Float = 0.25
                let direct = FP32GEMMOperand(rowMajor: w, outFeatures: n, inFeatures: k, scale: scale, variant: v)
                let transposed = FP32GEMMOperand(transposing: wt, inFeatures: k, outFeatures: n, variant: v)
                // Past the depth limit only the AVX-512 variant beside an OpenBLAS without AVX-512 kernels packs.
                let everyDepth = Kernels.resolved(v) == .avx512 && !OpenBLASCore.runsAVX512Kernels
                XCTAssertEqual(direct.isPacked, v != .portable && (k <= FP32PackedWeights.maximumDepth || everyDepth),
                               "\(v) \(n)×\(k) (OpenBLAS \(OpenBLASCore.selection.active))")
                for (operand, factor) in [(direct, Double(scale)), (transposed, 1.0)] {
                    var out = [Float](repeating: .nan, count: m * ldo)
                    operand.product(rows: m, x: x, ldx: ldx, bias: bias, residual: res, ldr: ldr, activation: .relu,
                                    out: &out, ldo: ldo, variant: v)
                    for i in 0..<m {
                        for j in 0..<n {
                            var e = 0.0
                            for t in 0..<k { e += Double(x[i * ldx + t]) * Double(w[j * k + t]) }
                            e = max(0, e * factor + Double(bias[j]) + Double(res[i * ldr + j]))
                            XCTAssertEqual(Double(out[i * ldo + j]), e, accuracy: 1e-4, "\(v) \(m)×\(n)×\(k) [\(i), \(j)]")
                        }
                        for j in n..<ldo { XCTAssertTrue(out[i * ldo + j].isNaN, "\(v) wrote past column \(n)") }
                    }
                }
            }
        }
    }
}

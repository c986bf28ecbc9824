import Foundation
@testable import Tensor
import XCTest

/// The reduced-precision GEMMs (int8, bf16): every variant this CPU has, run explicitly, against scalar
/// references of the same arithmetic written here in Swift. int8 accumulation is checked exactly (scales that
/// are powers of two make the float epilogue exact too); bf16 against a double-precision sum of the bf16 values.
/// A variant the CPU lacks is reported loudly and not tested.
final class QuantizedGEMMTests: XCTestCase {
    var rng = SystemRandomNumberGenerator()

    func int8Variants() -> [Int8KernelVariant] {
        var out: [Int8KernelVariant] = []
        for v in Int8KernelVariant.allCases {
            if v.isSupported {
                XCTAssertEqual(Kernels.resolved(v), v, "a supported int8 variant must run as itself")
                out.append(v)
            } else {
                print("[QuantizedGEMMTests] NOT TESTED: int8 variant \(v) — this CPU lacks its instructions")
                XCTAssertNotEqual(Kernels.resolved(v), v, "an unsupported int8 variant must fall back")
            }
        }
        print("[QuantizedGEMMTests] int8 variants tested: \(out.map(\.description).joined(separator: ", ")); best: \(Int8KernelVariant.best)")
        return out
    }

    func gelu(_ x: Double) -> Double { 0.5 * x * (1 + erf(x / 2.0.squareRoot())) }

    /// Packs row-major int8 weights the way Int8Weights does (via the C packer).
    func pack(_ w: [Int8], n: Int, k: Int) -> (packed: [Int8], sums: [Int32]) {
        var packed = [Int8](repeating: 0, count: Kernels.paddedColumns(n) * Kernels.int8PaddedDepth(k))
        var sums = [Int32](repeating: 0, count: Kernels.paddedColumns(n))
        w.withUnsafeBufferPointer { wp in
            packed.withUnsafeMutableBufferPointer { pp in
                sums.withUnsafeMutableBufferPointer { Kernels.int8Pack(wp.baseAddress!, n: n, k: k, into: pp.baseAddress!, columnSums: $0.baseAddress!) }
            }
        }
        return (packed, sums)
    }

    /// int8 GEMM with exact expected values: int32 sums (reference in Int), power-of-two scales and a bias in
    /// eighths, so `fmaf(acc, aScale·wScale, bias)` is exact; also the extreme ±127 operands (no saturation).
    func testInt8GEMMExactEveryVariant() {
        let shapes = [(1, 1, 1), (3, 5, 3), (6, 16, 4), (7, 17, 5), (13, 64, 64), (25, 65, 300), (50, 200, 33)]
        for v in int8Variants() {
            for (m, n, k) in shapes {
                for extreme in [false, true] {
                    let kp = Kernels.int8PaddedDepth(k), np = Kernels.paddedColumns(n)
                    var a = [Int8](repeating: 0, count: m * kp)
                    for i in 0..<m { for t in 0..<k {
                        a[i * kp + t] = extreme ? ((i + t) % 2 == 0 ? 127 : -127) : Int8.random(in: -127...127, using: &rng)
                    } }
                    let w = (0..<(n * k)).map { idx -> Int8 in extreme ? (idx % 3 == 0 ? 127 : -127) : Int8.random(in: -127...127, using: &rng) }
                    let aScale = (0..<m).map { _ in Float(1) / Float(1 << Int.random(in: 0...1, using: &rng)) }
                    var wScale = (0..<n).map { _ in Float(1) / Float(1 << Int.random(in: 0...2, using: &rng)) }
                    wScale += [Float](repeating: 0, count: np - n)
                    let bias = (0..<n).map { _ in Float(Int.random(in: -64...64, using: &rng)) / 8 }
                    let (packed, sums) = pack(w, n: n, k: k)
                    for act in [FusedActivation.none, .gelu, .relu] {
                        var out = [Float](repeating: .nan, count: m * n)
                        Kernels.int8GEMM(a: a, lda: kp, aScales: aScale, m: m, packed: packed, columnSums: sums, wScales: wScale,
                                         n: n, paddedDepth: kp, bias: bias, activation: act, out: &out, ldo: n, variant: v)
                        for i in 0..<m {
                            for j in 0..<n {
                                var acc = 0
                                for t in 0..<k { acc += Int(a[i * kp + t]) * Int(w[j * k + t]) }
                                let lin = bias[j].addingProduct(Float(acc), aScale[i] * wScale[j])
                                XCTAssertEqual(Double(lin), Double(acc) * Double(aScale[i] * wScale[j]) + Double(bias[j]),
                                               "test setup: the expected value must be exact")
                                let got = out[i * n + j]
                                switch act {
                                case .none: XCTAssertEqual(got, lin, "int8 \(v) \(m)×\(n)×\(k) [\(i),\(j)] extreme=\(extreme)")
                                case .relu: XCTAssertEqual(got, max(lin, 0), "int8 \(v) relu [\(i),\(j)]")
                                case .gelu: XCTAssertEqual(Double(got), gelu(Double(lin)), accuracy: 1e-6 * max(1, abs(Double(lin))),
                                                           "int8 \(v) gelu [\(i),\(j)]")
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Row quantisation: every variant gives exactly the scalar rule (scale = max|x|/127, round half to even,
    /// zero padding to the depth multiple); a zero row gets scale 0.
    func testRowQuantizationEveryVariant() {
        for v in int8Variants() {
            for k in [1, 3, 4, 7, 8, 15, 16, 17, 100, 768] {
                let rows = 5
                var x = (0..<(rows * k)).map { _ in Float.random(in: -3...3, using: &rng) }
                for t in 0..<k { x[2 * k + t] = 0 }                       // a zero row
                let kp = Kernels.int8PaddedDepth(k)
                var q = [Int8](repeating: 99, count: rows * kp)
                var s = [Float](repeating: .nan, count: rows)
                Kernels.int8QuantizeRows(x, ldx: k, rows: rows, k: k, into: &q, ldq: kp, scales: &s, variant: v)
                for r in 0..<rows {
                    let row = x[(r * k)..<((r + 1) * k)]
                    let amax = row.map(abs).max()!
                    let inv: Float = amax > 0 ? 127 / amax : 0
                    XCTAssertEqual(s[r], amax / 127, "scale \(v) k=\(k) row \(r)")
                    for t in 0..<kp {
                        let expected: Int8 = t < k ? Int8(max(-127, min(127, (row[row.startIndex + t] * inv).rounded(.toNearestOrEven)))) : 0
                        XCTAssertEqual(q[r * kp + t], expected, "quantised \(v) k=\(k) [\(r),\(t)]")
                    }
                }
            }
        }
    }

    /// Weight quantisation + packing: per-row scales, values within half a step of w/scale, exact column sums,
    /// and the dequantised matrix within half a step of the original.
    func testWeightQuantizationAndPacking() {
        let (n, k) = (37, 29)
        let w = Tensor(shape: [n, k], scalars: (0..<(n * k)).map { _ in Float.random(in: -1...1, using: &rng) })
        let q = Int8Weights(quantizing: w)
        XCTAssertEqual(Int8Weights(values: q.values, scales: q.scales, outFeatures: n, inFeatures: k).packed, q.packed,
                       "the panels unpack to the values that pack to them")
        let ws = w.scalars
        for r in 0..<n {
            let amax = ws[(r * k)..<((r + 1) * k)].map(abs).max()!
            XCTAssertEqual(q.scales[r], amax / 127)
            XCTAssertEqual(q.values[(r * k)..<((r + 1) * k)].map { abs(Int($0)) }.max(), 127, "the largest entry maps to ±127")
            var sum: Int32 = 0
            for t in 0..<k {
                let v = q.values[r * k + t]
                sum += Int32(v)
                XCTAssertEqual(Double(v), Double(ws[r * k + t] * (127 / amax)), accuracy: 0.5 + 1e-4)
            }
            XCTAssertEqual(q.columnSums[r], sum, "column sum \(r)")
        }
        XCTAssertEqual(q.columnSums[n..<Kernels.paddedColumns(n)].allSatisfy { $0 == 0 }, true)
        let dq = q.dequantized.scalars
        for i in 0..<(n * k) { XCTAssertEqual(dq[i], ws[i], accuracy: q.scales[i / k] * 0.5 + 1e-7) }
    }

    /// The int8 driver of `Linear` (rows over several tiles and threads, strided output): exactly the Swift
    /// reference of the same arithmetic (row quantisation, int32 sums, fused dequantise + bias), and close to
    /// the fp32 product (invariant).
    func testInt8DriverMatchesReferenceOfSameArithmetic() {
        let (rows, k, n) = (131, 70, 45)
        let ws = (0..<(n * k)).map { _ in Float.random(in: -0.3...0.3, using: &rng) }
        let bs = (0..<n).map { _ in Float.random(in: -1...1, using: &rng) }
        let xs = (0..<(rows * k)).map { _ in Float.random(in: -2...2, using: &rng) }
        let q = Int8Weights(quantizing: Tensor(shape: [n, k], scalars: ws))
        let ldo = n + 7
        var y = [Float](repeating: -1, count: rows * ldo)
        ReducedPrecisionGEMM.run(q, rows: rows, x: xs, ldx: k, bias: bs, activation: .none, out: &y, ldo: ldo)
        var maxErr: Float = 0, maxRef: Float = 0
        for r in 0..<rows {
            let row = Array(xs[(r * k)..<((r + 1) * k)])
            let amax = row.map(abs).max()!
            let inv: Float = amax > 0 ? 127 / amax : 0
            let qa = row.map { Int(max(-127, min(127, ($0 * inv).rounded(.toNearestOrEven)))) }
            for j in 0..<n {
                var acc = 0
                var exact = Double(bs[j])
                for t in 0..<k {
                    acc += qa[t] * Int(q.values[j * k + t])
                    exact += Double(row[t]) * Double(ws[j * k + t])
                }
                let scale = (amax / 127) * q.scales[j]
                let expected = bs[j].addingProduct(Float(acc), scale)
                XCTAssertEqual(y[r * ldo + j], expected, "int8 driver [\(r),\(j)] (\(Int8KernelVariant.best))")
                maxErr = max(maxErr, abs(y[r * ldo + j] - Float(exact)))
                maxRef = max(maxRef, abs(Float(exact)))
            }
            XCTAssertEqual(Array(y[(r * ldo + n)..<((r + 1) * ldo)]), [Float](repeating: -1, count: 7), "padding untouched")
        }
        XCTAssertLessThan(maxErr, 0.02 * maxRef, "int8 stays within 2% of the exact product's range")
    }

    /// Strided bf16 packing (attention keys with the scale folded in, values transposed) against the panel formula
    /// `packed[(p·kg + t/2)·32 + c·2 + t%2] = bf16(w[j·rs + t·cs] · scale)`, j = 16p + c, zeros in the padding;
    /// odd and partial-panel shapes. Runs the AVX-512 gather packer where the CPU has AVX512_BF16.
    func testBF16StridedPackingMatchesThePanelFormula() {
        print("[QuantizedGEMMTests] strided bf16 pack: \(BF16KernelVariant.nativeAvailable ? "avx512-bf16 gather packer" : "portable (NOT TESTED: avx512-bf16 packer — AVX512_BF16 absent or capped by MEDSAM_KERNELS)")")
        for (n, k) in [(1, 1), (16, 2), (17, 5), (40, 33), (64, 196), (200, 64)] {
            for (rs, cs, count) in [(k + 3, 1, n * (k + 3)), (1, n + 2, k * (n + 2))] {
                let w = (0..<count).map { _ in Float.random(in: -3...3, using: &rng) }
                let scale: Float = 0.125
                let kp = Kernels.bf16PaddedDepth(k), kg = kp / 2
                var want = [UInt16](repeating: 0, count: Kernels.bf16PackedCount(n: n, k: k))
                for j in 0..<n { for t in 0..<k { want[((j / 16) * kg + t / 2) * 32 + (j % 16) * 2 + t % 2] = Kernels.bf16(w[j * rs + t * cs] * scale) } }
                var got = [UInt16](repeating: 0xFFFF, count: want.count)
                w.withUnsafeBufferPointer { wb in got.withUnsafeMutableBufferPointer {
                    Kernels.bf16Pack(wb.baseAddress!, rowStride: rs, columnStride: cs, n: n, k: k, scale: scale, into: $0.baseAddress!)
                } }
                XCTAssertEqual(got, want, "\(n)×\(k), strides \(rs), \(cs)")
            }
        }
    }

    /// bf16 GEMM: each variant against a double-precision sum of the same bf16 values (bound: fp32 accumulation
    /// error), and the AVX512_BF16 variant against the portable reference of its pair order.
    func testBF16GEMMEveryVariant() throws {
        var variants: [BF16KernelVariant] = [.portable]
        if BF16KernelVariant.nativeAvailable { variants.append(.avx512BF16) } else {
            print("[QuantizedGEMMTests] NOT TESTED: bf16 variant avx512-bf16 — this CPU lacks AVX512_BF16")
        }
        print("[QuantizedGEMMTests] bf16 variants tested: \(variants.map(\.description).joined(separator: ", "))")
        for (m, n, k) in [(1, 1, 1), (5, 17, 3), (6, 64, 64), (13, 65, 301), (40, 100, 768)] {
            let wf = (0..<(n * k)).map { _ in Float.random(in: -1...1, using: &rng) }
            let xf = (0..<(m * k)).map { _ in Float.random(in: -2...2, using: &rng) }
            let bias = (0..<n).map { _ in Float.random(in: -1...1, using: &rng) }
            let bits = wf.map(Kernels.bf16)
            let wv = BF16Weights(bits: bits, outFeatures: n, inFeatures: k)
            XCTAssertEqual(wv.values, bits, "the panels unpack to the stored bits")
            let kp = Kernels.bf16PaddedDepth(k)
            var outs: [[Float]] = []
            for v in variants {
                var a = [UInt16](repeating: 7, count: m * kp)
                Kernels.bf16ConvertRows(xf, ldx: k, rows: m, k: k, into: &a, ldq: kp, variant: v)
                for i in 0..<m { for t in 0..<kp { XCTAssertEqual(a[i * kp + t], t < k ? Kernels.bf16(xf[i * k + t]) : 0, "bf16 rounding \(v)") } }
                var out = [Float](repeating: .nan, count: m * n)
                Kernels.bf16GEMM(a: a, lda: kp, m: m, packed: wv.packed, n: n, paddedDepth: kp, bias: bias,
                                 activation: .none, out: &out, ldo: n, variant: v)
                for i in 0..<m {
                    for j in 0..<n {
                        var s = Double(bias[j]), mag = abs(Double(bias[j]))
                        for t in 0..<k {
                            let av = Double(Float(bitPattern: UInt32(a[i * kp + t]) << 16))
                            let wv = Double(Float(bitPattern: UInt32(bits[j * k + t]) << 16))
                            let p = av * wv
                            s += p
                            mag += abs(p)
                        }
                        XCTAssertEqual(Double(out[i * n + j]), s, accuracy: Double(k + 2) * 6e-8 * mag + 1e-30, "bf16 \(v) \(m)×\(n)×\(k) [\(i),\(j)]")
                    }
                }
                outs.append(out)
            }
            if outs.count == 2 { XCTAssertEqual(outs[0], outs[1], "avx512-bf16 equals the portable reference of its order") }
        }
    }

    func testPrecisionSupport() {
        XCTAssertTrue(Precision.fp32.isSupported)
        XCTAssertTrue(Precision.int8.isSupported)
        XCTAssertEqual(Precision.bf16.isSupported, BF16KernelVariant.nativeAvailable)
        print("[QuantizedGEMMTests] bf16 native on this CPU: \(BF16KernelVariant.nativeAvailable)")
        XCTAssertEqual(Precision(rawValue: "int8"), .int8)
    }
}

import Foundation
import Tensor
import XCTest

/// The vectorised kernels against double-precision references (hand-written formulas).
final class KernelTests: XCTestCase {
    func testGELUMatchesExactErfInDouble() {
        let xs = (0..<40001).map { Float(-20 + Double($0) * 0.001) }
        let y = Tensor(shape: [xs.count], scalars: xs).gelu().scalars
        var worst = 0.0
        for (x, v) in zip(xs, y) {
            let d = Double(x)
            let ref = 0.5 * d * (1 + erf(d / 2.0.squareRoot()))
            worst = max(worst, abs(Double(v) - ref) / max(1, abs(ref)))
        }
        XCTAssertLessThan(worst, 1e-6, "GELU relative error")
    }

    func testSoftmaxMatchesDouble() {
        var rng = SystemRandomNumberGenerator()
        for cols in [1, 7, 8, 9, 196, 4096] {
            let xs = (0..<(3 * cols)).map { _ in Float.random(in: -30...30, using: &rng) }
            let y = Tensor(shape: [3, cols], scalars: xs).softmax().scalars
            for r in 0..<3 {
                let row = xs[(r * cols)..<((r + 1) * cols)].map(Double.init)
                let m = row.max()!
                let e = row.map { Foundation.exp($0 - m) }
                let s = e.reduce(0, +)
                for j in 0..<cols { XCTAssertEqual(Double(y[r * cols + j]), e[j] / s, accuracy: 1e-6) }
            }
        }
    }

    func testSigmoidMatchesDouble() {
        let xs = (0..<2001).map { Float(-50 + Double($0) * 0.05) }
        let y = Tensor(shape: [xs.count], scalars: xs).sigmoid().scalars
        for (x, v) in zip(xs, y) { XCTAssertEqual(Double(v), 1 / (1 + Foundation.exp(-Double(x))), accuracy: 1e-6) }
    }

    func testLayerNormMatchesDouble() {
        var rng = SystemRandomNumberGenerator()
        for cols in [5, 8, 24, 768] {
            let xs = (0..<(4 * cols)).map { _ in Float.random(in: -3...5, using: &rng) }
            let w = Tensor(shape: [cols], scalars: (0..<cols).map { 1 + Float($0 % 7) * 0.1 })
            let b = Tensor(shape: [cols], scalars: (0..<cols).map { Float($0 % 5) * 0.01 })
            let y = Tensor(shape: [4, cols], scalars: xs).layerNorm(weight: w, bias: b, eps: 1e-6).scalars
            for r in 0..<4 {
                let row = xs[(r * cols)..<((r + 1) * cols)].map(Double.init)
                let mean = row.reduce(0, +) / Double(cols)
                let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(cols)
                for j in 0..<cols {
                    let ref = (row[j] - mean) / (variance + 1e-6).squareRoot() * Double(w.scalars[j]) + Double(b.scalars[j])
                    XCTAssertEqual(Double(y[r * cols + j]), ref, accuracy: 1e-4)
                }
            }
        }
    }

    /// Depthwise 3×3 (vector interior + scalar borders) against a direct double loop, many widths.
    func testDepthwiseConvolutionMatchesDirectLoop() {
        var rng = SystemRandomNumberGenerator()
        for (h, w, stride) in [(5, 3, 1), (9, 17, 1), (13, 11, 2), (4, 33, 1), (1, 1, 1)] {
            let c = 3
            let x = Tensor(shape: [1, c, h, w], scalars: (0..<(c * h * w)).map { _ in Float.random(in: -1...1, using: &rng) })
            let k = Tensor(shape: [c, 1, 3, 3], scalars: (0..<(c * 9)).map { _ in Float.random(in: -1...1, using: &rng) })
            let bias = Tensor(shape: [c], scalars: [0.1, -0.2, 0.3])
            let y = x.conv2d(weight: k, bias: bias, stride: (stride, stride), padding: (1, 1), groups: c)
            let oh = (h + 2 - 3) / stride + 1, ow = (w + 2 - 3) / stride + 1
            XCTAssertEqual(y.shape, [1, c, oh, ow])
            for ch in 0..<c { for oy in 0..<oh { for ox in 0..<ow {
                var acc = Double(bias.scalars[ch])
                for ky in 0..<3 { for kx in 0..<3 {
                    let iy = oy * stride - 1 + ky, ix = ox * stride - 1 + kx
                    if iy >= 0, iy < h, ix >= 0, ix < w { acc += Double(x[0, ch, iy, ix]) * Double(k[ch, 0, ky, kx]) }
                } }
                XCTAssertEqual(Double(y[0, ch, oy, ox]), acc, accuracy: 1e-5)
            } } }
        }
    }

    /// The in-place stride-1 depthwise conv (MBConv's) gives bit for bit the out-of-place result, with and
    /// without an activation, also on planes big enough to run in parallel; a tensor sharing the storage
    /// keeps its values (copy on write).
    func testInPlaceDepthwiseConvolutionEqualsOutOfPlace() {
        var rng = SystemRandomNumberGenerator()
        for (n, c, h, w, k) in [(1, 3, 9, 17, 3), (2, 5, 4, 33, 3), (1, 64, 40, 40, 5), (1, 2, 1, 1, 3)] {
            let x = Tensor(shape: [n, c, h, w], scalars: (0..<(n * c * h * w)).map { _ in Float.random(in: -2...2, using: &rng) })
            let weight = Tensor(shape: [c, 1, k, k], scalars: (0..<(c * k * k)).map { _ in Float.random(in: -1...1, using: &rng) })
            let bias = Tensor(shape: [c], scalars: (0..<c).map { _ in Float.random(in: -1...1, using: &rng) })
            for act in [FusedActivation.none, .gelu] {
                let expected = x.conv2d(weight: weight, bias: bias, padding: (k / 2, k / 2), groups: c, activation: act)
                let before = x.scalars
                var y = x                      // shares x's storage: the in-place op must copy first
                y.applyDepthwiseConv2d(weight: weight, bias: bias, padding: k / 2, activation: act)
                XCTAssertEqual(y.shape, expected.shape)
                XCTAssertEqual(y.scalars, expected.scalars, "(\(n), \(c), \(h), \(w)) k=\(k) \(act): in place differs")
                XCTAssertEqual(x.scalars, before, "the tensor sharing the storage was written")
                var unique = x + Tensor(zeros: [n, c, h, w])   // a storage of its own
                unique.applyDepthwiseConv2d(weight: weight, bias: bias, padding: k / 2, activation: act)
                XCTAssertEqual(unique.scalars, expected.scalars)
            }
        }
    }

    /// `conv2d(residual:)` equals conv, then `+ residual`, then the activation written out, bit for bit: the
    /// 1×1 path (epilogue on GEMM tiles, several tiles and batches) and the fallback of other convolutions.
    func testConvolutionWithResidualEqualsUnfused() {
        var rng = SystemRandomNumberGenerator()
        func random(_ shape: [Int]) -> Tensor {
            Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) })
        }
        // (batch, in, out, side, kernel, groups): 1×1 GEMMs (one group, two groups), a 3×3 and a 1×1 depthwise.
        for (n, cin, cout, side, k, g) in [(1, 8, 16, 70, 1, 1), (2, 3, 5, 9, 1, 1), (1, 4, 6, 12, 1, 2),
                                           (1, 4, 6, 11, 3, 1), (1, 6, 6, 10, 1, 6)] {
            let x = random([n, cin, side, side])
            let weight = random([cout, cin / g, k, k]), bias = random([cout])
            let residual = random([n, cout, side, side])
            for act in [FusedActivation.none, .gelu] {
                var expected = x.conv2d(weight: weight, bias: bias, padding: (k / 2, k / 2), groups: g)
                expected.add(residual)
                if act == .gelu { expected.applyGELU() }
                let y = x.conv2d(weight: weight, bias: bias, padding: (k / 2, k / 2), groups: g, residual: residual,
                                 activation: act)
                XCTAssertEqual(y.scalars, expected.scalars, "(\(n), \(cin)→\(cout), \(side)², k=\(k), groups \(g)) \(act)")
            }
        }
    }

    /// A GEMM large enough to be split across threads equals the same product computed serially.
    func testSplitGEMMEqualsSerial() {
        var rng = SystemRandomNumberGenerator()
        for (m, n, k) in [(300, 200, 64), (10, 900, 300), (257, 129, 100)] {
            let a = Tensor(shape: [m, k], scalars: (0..<(m * k)).map { _ in Float.random(in: -1...1, using: &rng) })
            let b = Tensor(shape: [n, k], scalars: (0..<(n * k)).map { _ in Float.random(in: -1...1, using: &rng) })
            let c = a.matmul(b, transposeB: true)
            var serial = [Float](repeating: 0, count: m * n)
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in serial.withUnsafeMutableBufferPointer { cp in
                BLAS.sgemmSerial(transposeB: true, m: m, n: n, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: k,
                                 c: cp.baseAddress!, ldc: n)
            } } }
            // Same products; the blocking of the split may change the summation order slightly.
            let worst = zip(c.scalars, serial).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThan(worst, 1e-4, "(\(m), \(n), \(k)) split GEMM differs by \(worst)")
        }
    }
}

/// Large buffers come from the buffer pool; they behave like any other storage.
final class StorageTests: XCTestCase {
    func testLargeStorageIsZeroFilledCopyOnWriteAndReleased() {
        let n = TensorMemory.pooledThreshold / 4 * 3          // 3 MB: pooled
        var a = Tensor(zeros: [n])
        XCTAssertEqual(a.maxAbs, 0)
        let b = a                                               // shares storage
        a[n - 1] = 7                                            // copy on write
        XCTAssertEqual(a[n - 1], 7)
        XCTAssertEqual(b[n - 1], 0)
        for _ in 0..<50 { _ = Tensor(shape: [n], repeating: 1).sum }   // 150 MB allocated and freed
        let small = Tensor(shape: [3], scalars: [1, 2, 3])    // malloc path
        XCTAssertEqual(small.sum, 6)
    }
}


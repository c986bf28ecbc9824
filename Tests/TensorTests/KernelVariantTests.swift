import Foundation
@testable import Tensor
import XCTest

/// Every variant of every C kernel (portable, AVX2+FMA, AVX-512F), each run explicitly, against the same
/// double-precision references (hand-written formulas). A variant this CPU cannot run is reported loudly.
final class KernelVariantTests: XCTestCase {
    /// The variants this machine runs; prints the ones it cannot (they are not tested here).
    func runnableVariants(file: StaticString = #filePath, line: UInt = #line) -> [KernelVariant] {
        runnableVariants(tag: "KernelVariantTests", file: file, line: line)
    }

    var rng = SystemRandomNumberGenerator()
    func random(_ n: Int, _ range: ClosedRange<Float> = -4...4) -> [Float] {
        (0..<n).map { _ in Float.random(in: range, using: &rng) }
    }

    func gelu(_ x: Double) -> Double { 0.5 * x * (1 + erf(x / 2.0.squareRoot())) }

    func testBestVariantIsRunnable() {
        XCTAssertTrue(KernelVariant.best.isSupported)
        XCTAssertTrue(KernelVariant.portable.isSupported)
        print("[KernelVariantTests] best kernel variant on this CPU: \(KernelVariant.best)")
    }

    func testGELUAndSigmoidEveryVariant() {
        // Lengths around the vector widths (8, 16, 32) exercise the tails.
        let lengths = [1, 7, 8, 15, 16, 17, 31, 33, 1000]
        for v in runnableVariants() {
            for n in lengths {
                let xs = random(n, -12...12)
                var g = xs, s = xs
                g.withUnsafeMutableBufferPointer { Kernels.gelu($0.baseAddress!, count: n, variant: v) }
                s.withUnsafeMutableBufferPointer { Kernels.sigmoid($0.baseAddress!, count: n, variant: v) }
                for i in 0..<n {
                    let x = Double(xs[i])
                    XCTAssertEqual(Double(g[i]), gelu(x), accuracy: 1e-6 * max(1, abs(x)), "GELU \(v) n=\(n) x=\(x)")
                    XCTAssertEqual(Double(s[i]), 1 / (1 + Foundation.exp(-x)), accuracy: 1e-6, "sigmoid \(v) n=\(n)")
                }
            }
        }
    }

    func testSoftmaxEveryVariant() {
        for v in runnableVariants() {
            for cols in [1, 5, 8, 16, 17, 33, 196] {
                let rows = 3, ld = cols + 3
                var xs = random(rows * ld, -30...30)
                let original = xs
                xs.withUnsafeMutableBufferPointer {
                    Kernels.softmaxRows($0.baseAddress!, rows: rows, columns: cols, stride: ld, variant: v)
                }
                for r in 0..<rows {
                    let row = (0..<cols).map { Double(original[r * ld + $0]) }
                    let m = row.max()!
                    let e = row.map { Foundation.exp($0 - m) }
                    let sum = e.reduce(0, +)
                    for j in 0..<cols { XCTAssertEqual(Double(xs[r * ld + j]), e[j] / sum, accuracy: 1e-6, "softmax \(v) cols=\(cols)") }
                    for j in cols..<ld { XCTAssertEqual(xs[r * ld + j], original[r * ld + j], "softmax \(v) wrote past the row") }
                }
            }
        }
    }

    /// The interleaved softmax against a double-precision softmax of each (row, group, lane): lane counts
    /// below, at and past one vector (8 / 16 lanes), one and several groups, softmaxes held in registers (≤ 16
    /// entries) and longer ones, and that the row padding is kept.
    func testSoftmaxLanesEveryVariant() {
        for v in runnableVariants() {
            for (groups, count, lanes) in [(1, 7, 8), (2, 5, 8), (1, 3, 1), (3, 2, 5), (1, 4, 17), (2, 1, 16), (1, 6, 24), (1, 16, 12), (1, 20, 8)] {
                let rows = 3, width = groups * count * lanes, ld = width + 2
                var xs = random(rows * ld, -30...30)
                let original = xs
                xs.withUnsafeMutableBufferPointer {
                    Kernels.softmaxLanes($0.baseAddress!, rows: rows, stride: ld, groups: groups, count: count, lanes: lanes, variant: v)
                }
                for r in 0..<rows {
                    for g in 0..<groups {
                        for l in 0..<lanes {
                            let at = (0..<count).map { r * ld + (g * count + $0) * lanes + l }
                            let m = at.map { Double(original[$0]) }.max()!
                            let e = at.map { Foundation.exp(Double(original[$0]) - m) }
                            let sum = e.reduce(0, +)
                            for (j, i) in at.enumerated() {
                                XCTAssertEqual(Double(xs[i]), e[j] / sum, accuracy: 1e-6,
                                               "softmaxLanes \(v) groups=\(groups) count=\(count) lanes=\(lanes)")
                            }
                        }
                    }
                    for j in width..<ld { XCTAssertEqual(xs[r * ld + j], original[r * ld + j], "softmaxLanes \(v) wrote past the row") }
                }
            }
        }
    }

    /// The column maxima and the column exponentials/sums of a strided block against a scalar computation in
    /// double precision, column counts below, at and past one vector.
    func testColumnSoftmaxPartsEveryVariant() {
        for v in runnableVariants() {
            for cols in [1, 7, 8, 16, 17, 56] {
                let rows = 5, ld = cols + 2
                let xs = random(rows * ld, -20...20)
                var maxima = [Float](repeating: -5, count: cols)
                xs.withUnsafeBufferPointer { Kernels.maxColumns($0.baseAddress!, rows: rows, columns: cols, stride: ld, columnMax: &maxima, variant: v) }
                for j in 0..<cols {
                    XCTAssertEqual(maxima[j], max(-5, (0..<rows).map { xs[$0 * ld + j] }.max()!), "maxColumns \(v) cols=\(cols)")
                }
                var ys = xs
                var sums = [Float](repeating: 1, count: cols)
                ys.withUnsafeMutableBufferPointer {
                    Kernels.expColumns($0.baseAddress!, rows: rows, columns: cols, stride: ld, columnMax: maxima, columnSum: &sums, variant: v)
                }
                for j in 0..<cols {
                    var sum = 1.0
                    for r in 0..<rows {
                        let e = Foundation.exp(Double(xs[r * ld + j]) - Double(maxima[j]))
                        sum += e
                        XCTAssertEqual(Double(ys[r * ld + j]), e, accuracy: 1e-6 * max(1, e), "expColumns \(v) cols=\(cols)")
                    }
                    XCTAssertEqual(Double(sums[j]), sum, accuracy: 1e-5 * sum, "expColumns sum \(v) cols=\(cols)")
                }
                for r in 0..<rows {
                    for j in cols..<ld { XCTAssertEqual(ys[r * ld + j], xs[r * ld + j], "expColumns \(v) wrote past the block") }
                }
            }
        }
    }

    func testLayerNormEveryVariant() {
        for v in runnableVariants() {
            for cols in [3, 8, 16, 17, 40, 256] {
                let rows = 4
                let xs = random(rows * cols, -3...5), w = random(cols, 0.5...1.5), b = random(cols, -0.2...0.2)
                var y = [Float](repeating: .nan, count: rows * cols), yPlain = y
                xs.withUnsafeBufferPointer { x in w.withUnsafeBufferPointer { wp in b.withUnsafeBufferPointer { bp in
                    y.withUnsafeMutableBufferPointer {
                        Kernels.layerNormRows(x.baseAddress!, $0.baseAddress!, rows: rows, columns: cols,
                                              weight: wp.baseAddress!, bias: bp.baseAddress!, eps: 1e-6, variant: v)
                    }
                    yPlain.withUnsafeMutableBufferPointer {
                        Kernels.layerNormRows(x.baseAddress!, $0.baseAddress!, rows: rows, columns: cols,
                                              weight: nil, bias: nil, eps: 1e-6, variant: v)
                    }
                } } }
                for r in 0..<rows {
                    let row = (0..<cols).map { Double(xs[r * cols + $0]) }
                    let mean = row.reduce(0, +) / Double(cols)
                    let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(cols)
                    for j in 0..<cols {
                        let n = (row[j] - mean) / (variance + 1e-6).squareRoot()
                        XCTAssertEqual(Double(y[r * cols + j]), n * Double(w[j]) + Double(b[j]), accuracy: 1e-5, "LN \(v) cols=\(cols)")
                        XCTAssertEqual(Double(yPlain[r * cols + j]), n, accuracy: 1e-5, "LN (no affine) \(v) cols=\(cols)")
                    }
                }
            }
        }
    }

    func testBiasActivationEveryVariant() {
        for v in runnableVariants() {
            for (rows, cols) in [(3, 5), (2, 16), (4, 37), (1, 64)] {
                let xs = random(rows * cols), bias = random(cols, -1...1), planeBias = random(rows, -1...1)
                for act in [FusedActivation.none, .gelu, .relu] {
                    func f(_ x: Double) -> Double { act == .gelu ? gelu(x) : act == .relu ? max(0, x) : x }
                    var r = xs, p = xs, noBias = xs
                    bias.withUnsafeBufferPointer { b in
                        r.withUnsafeMutableBufferPointer {
                            Kernels.biasActivationRows($0.baseAddress!, rows: rows, columns: cols, bias: b.baseAddress!,
                                                       activation: act, variant: v)
                        }
                    }
                    planeBias.withUnsafeBufferPointer { b in
                        p.withUnsafeMutableBufferPointer {
                            Kernels.biasActivationPlanes($0.baseAddress!, channels: rows, plane: cols, bias: b.baseAddress!,
                                                         activation: act, variant: v)
                        }
                    }
                    noBias.withUnsafeMutableBufferPointer {
                        Kernels.biasActivationRows($0.baseAddress!, rows: rows, columns: cols, bias: nil, activation: act, variant: v)
                    }
                    for i in 0..<rows { for j in 0..<cols {
                        let x = Double(xs[i * cols + j])
                        XCTAssertEqual(Double(r[i * cols + j]), f(x + Double(bias[j])), accuracy: 1e-5, "rows \(v) \(act)")
                        XCTAssertEqual(Double(p[i * cols + j]), f(x + Double(planeBias[i])), accuracy: 1e-5, "planes \(v) \(act)")
                        XCTAssertEqual(Double(noBias[i * cols + j]), f(x), accuracy: 1e-5, "no bias \(v) \(act)")
                    } }
                }
            }
        }
    }

    func testDepthwisePlaneEveryVariant() {
        for v in runnableVariants() {
            for (h, w, k, s) in [(5, 3, 3, 1), (9, 17, 3, 1), (13, 40, 5, 1), (8, 21, 7, 1), (13, 11, 3, 2), (1, 1, 3, 1)] {
                let p = k / 2
                let x = random(h * w, -1...1), kernel = random(k * k, -1...1)
                let oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1
                var out = [Float](repeating: .nan, count: oh * ow)
                x.withUnsafeBufferPointer { xp in kernel.withUnsafeBufferPointer { kp in out.withUnsafeMutableBufferPointer { op in
                    Kernels.depthwisePlane(xp.baseAddress!, op.baseAddress!, height: h, width: w, kernel: kp.baseAddress!,
                                           kernelSize: k, stride: s, padding: p, bias: 0.25, outHeight: oh, outWidth: ow, variant: v)
                } } }
                for oy in 0..<oh { for ox in 0..<ow {
                    var acc = 0.25
                    for ky in 0..<k { for kx in 0..<k {
                        let iy = oy * s - p + ky, ix = ox * s - p + kx
                        if iy >= 0, iy < h, ix >= 0, ix < w { acc += Double(x[iy * w + ix]) * Double(kernel[ky * k + kx]) }
                    } }
                    XCTAssertEqual(Double(out[oy * ow + ox]), acc, accuracy: 1e-5, "depthwise \(v) \(h)×\(w) k\(k) s\(s)")
                } }
            }
        }
    }

    func testDepthwiseChannelsLastEveryVariant() {
        for v in runnableVariants() {
            for (h, w, c) in [(4, 5, 3), (3, 7, 16), (5, 4, 37), (1, 1, 8)] {
                let x = random(h * w * c, -1...1), taps = random(9 * c, -1...1), bias = random(c, -1...1)
                var out = [Float](repeating: .nan, count: h * w * c)
                x.withUnsafeBufferPointer { xp in taps.withUnsafeBufferPointer { tp in bias.withUnsafeBufferPointer { bp in
                    out.withUnsafeMutableBufferPointer { op in
                        Kernels.depthwise3x3ChannelsLast(xp.baseAddress!, op.baseAddress!, height: h, width: w, channels: c,
                                                         taps: tp.baseAddress!, bias: bp.baseAddress!, rows: 0..<h, variant: v)
                    }
                } } }
                for y in 0..<h { for xx in 0..<w { for ch in 0..<c {
                    var acc = Double(bias[ch])
                    for ky in 0..<3 { for kx in 0..<3 {
                        let iy = y + ky - 1, ix = xx + kx - 1
                        if iy >= 0, iy < h, ix >= 0, ix < w { acc += Double(x[(iy * w + ix) * c + ch]) * Double(taps[(ky * 3 + kx) * c + ch]) }
                    } }
                    XCTAssertEqual(Double(out[(y * w + xx) * c + ch]), acc, accuracy: 1e-5, "NHWC depthwise \(v) c=\(c)")
                } } }
            }
        }
    }

    /// The row form (three row pointers, nil = padding; stride 1 and 2; GELU fused) against a double reference,
    /// with nothing written past the output row.
    func testDepthwiseChannelsLastRowEveryVariant() {
        for v in runnableVariants() {
            for (h, w, c, s, act) in [(4, 5, 3, 1, FusedActivation.none), (3, 7, 16, 2, .gelu), (5, 4, 37, 1, .gelu),
                                      (6, 9, 21, 2, .relu), (1, 1, 8, 1, .none), (2, 2, 33, 2, .gelu)] {
                let x = random(h * w * c, -1...1), taps = random(9 * c, -1...1), bias = random(c, -1...1)
                let oh = (h - 1) / s + 1, ow = (w - 1) / s + 1
                var out = [Float](repeating: .nan, count: ow * c + 5)
                for oy in 0..<oh {
                    for i in out.indices { out[i] = .nan }
                    x.withUnsafeBufferPointer { xp in taps.withUnsafeBufferPointer { tp in bias.withUnsafeBufferPointer { bp in
                        out.withUnsafeMutableBufferPointer { op in
                            func row(_ iy: Int) -> UnsafePointer<Float>? { iy >= 0 && iy < h ? xp.baseAddress! + iy * w * c : nil }
                            Kernels.depthwise3x3ChannelsLastRow(above: row(oy * s - 1), center: row(oy * s), below: row(oy * s + 1),
                                                                out: op.baseAddress!, width: w, channels: c, stride: s,
                                                                taps: tp.baseAddress!, bias: bp.baseAddress!, activation: act, variant: v)
                        }
                    } } }
                    for ox in 0..<ow { for ch in 0..<c {
                        var acc = Double(bias[ch])
                        for ky in 0..<3 { for kx in 0..<3 {
                            let iy = oy * s + ky - 1, ix = ox * s + kx - 1
                            if iy >= 0, iy < h, ix >= 0, ix < w { acc += Double(x[(iy * w + ix) * c + ch]) * Double(taps[(ky * 3 + kx) * c + ch]) }
                        } }
                        let expected = act == .gelu ? gelu(acc) : act == .relu ? max(acc, 0) : acc
                        XCTAssertEqual(Double(out[ox * c + ch]), expected, accuracy: 1e-5, "NHWC depthwise row \(v) c=\(c) s=\(s) \(act)")
                    } }
                    XCTAssertTrue(out[(ow * c)...].allSatisfy { $0.isNaN }, "NHWC depthwise row \(v) wrote past its row")
                }
            }
        }
    }

    func testAttentionFewKeysEveryVariant() {
        for v in runnableVariants() {
            for (rows, keys, heads, d) in [(5, 7, 8, 16), (3, 1, 2, 5), (4, 6, 3, 19), (2, 9, 1, 32)] {
                let ldq = heads * d + 2, ldk = heads * d + 1, ldv = heads * d + 3, ldo = heads * d + 4
                let q = random(rows * ldq, -1...1), k = random(keys * ldk, -1...1), vv = random(keys * ldv, -1...1)
                var out = [Float](repeating: .nan, count: rows * ldo)
                let scale: Float = 0.3
                q.withUnsafeBufferPointer { qp in k.withUnsafeBufferPointer { kp in vv.withUnsafeBufferPointer { vp in
                    out.withUnsafeMutableBufferPointer { op in
                        Kernels.attentionFewKeys(q: qp.baseAddress!, ldq: ldq, k: kp.baseAddress!, ldk: ldk, v: vp.baseAddress!,
                                                 ldv: ldv, out: op.baseAddress!, ldo: ldo, rows: rows, keys: keys, heads: heads,
                                                 headDim: d, scale: scale, variant: v)
                    }
                } } }
                for r in 0..<rows { for h in 0..<heads {
                    let scores = (0..<keys).map { j in
                        (0..<d).reduce(0.0) { $0 + Double(q[r * ldq + h * d + $1]) * Double(k[j * ldk + h * d + $1]) } * Double(scale)
                    }
                    let m = scores.max()!
                    let e = scores.map { Foundation.exp($0 - m) }
                    let sum = e.reduce(0, +)
                    for t in 0..<d {
                        let ref = (0..<keys).reduce(0.0) { $0 + e[$1] / sum * Double(vv[$1 * ldv + h * d + t]) }
                        XCTAssertEqual(Double(out[r * ldo + h * d + t]), ref, accuracy: 1e-5, "few-keys attention \(v)")
                    }
                } }
            }
        }
    }

    func testWindowAttentionEveryVariant() {
        // (tokens, qk dim, v dim): TinyViT's 7×7 and 14×14 windows, and tails of every vector width.
        for v in runnableVariants() {
            for (n, dqk, dv) in [(49, 32, 32), (196, 32, 32), (5, 3, 19), (17, 16, 40), (10, 7, 70), (1, 4, 8)] {
                for withBias in [true, false] {
                    // Window position i holds token row (7·i + 3) mod (n + 5), except every third position, padding.
                    let tokens = n + 5
                    let index: [Int32] = (0..<n).map { i in n > 1 && i % 3 == 1 ? -1 : Int32((7 * i + 3) % tokens) }
                    let ld = 2 * dqk + dv + 3, ldo = dv + 2
                    let rows = random(tokens * ld, -1...1), pad = random(2 * dqk + dv, -1...1)
                    let bias = random(n * n, -2...2)
                    let scale: Float = 0.4
                    var out = [Float](repeating: .nan, count: tokens * ldo)
                    var scratch = [Float](repeating: .nan, count: Kernels.windowAttentionScratchCount(tokens: n, qkDim: dqk, vDim: dv))
                    rows.withUnsafeBufferPointer { rp in pad.withUnsafeBufferPointer { pp in bias.withUnsafeBufferPointer { bp in
                        index.withUnsafeBufferPointer { ip in out.withUnsafeMutableBufferPointer { op in
                            scratch.withUnsafeMutableBufferPointer { sp in
                                let q = rp.baseAddress!
                                Kernels.windowAttention(tokens: n, qkDim: dqk, vDim: dv, index: ip.baseAddress!, q: q, k: q + dqk,
                                                        v: q + 2 * dqk, ld: ld, paddingKey: pp.baseAddress! + dqk,
                                                        paddingValue: pp.baseAddress! + 2 * dqk, bias: withBias ? bp.baseAddress! : nil,
                                                        scale: scale, out: op.baseAddress!, ldo: ldo, scratch: sp.baseAddress!, variant: v)
                            }
                        } }
                    } } }
                    func key(_ j: Int, _ t: Int) -> Double {
                        index[j] >= 0 ? Double(rows[Int(index[j]) * ld + dqk + t]) : Double(pad[dqk + t])
                    }
                    func value(_ j: Int, _ t: Int) -> Double {
                        index[j] >= 0 ? Double(rows[Int(index[j]) * ld + 2 * dqk + t]) : Double(pad[2 * dqk + t])
                    }
                    var written = Set<Int>()
                    for i in 0..<n where index[i] >= 0 {
                        let row = Int(index[i])
                        written.insert(row)
                        let scores = (0..<n).map { j in
                            (0..<dqk).reduce(0.0) { $0 + Double(rows[row * ld + $1]) * key(j, $1) } * Double(scale)
                                + (withBias ? Double(bias[i * n + j]) : 0)
                        }
                        let m = scores.max()!
                        let e = scores.map { Foundation.exp($0 - m) }
                        let sum = e.reduce(0, +)
                        for t in 0..<dv {
                            let ref = (0..<n).reduce(0.0) { $0 + e[$1] / sum * value($1, t) }
                            XCTAssertEqual(Double(out[row * ldo + t]), ref, accuracy: 1e-5, "window attention \(v) n=\(n) dqk=\(dqk) dv=\(dv)")
                        }
                    }
                    // Nothing else is written: padding positions, rows of no position, and columns past dv.
                    for r in 0..<tokens {
                        for t in 0..<ldo where !(written.contains(r) && t < dv) {
                            XCTAssertTrue(out[r * ldo + t].isNaN, "window attention \(v) wrote row \(r) column \(t)")
                        }
                    }
                }
            }
        }
    }

    func testElementwiseAndRelativePositionEveryVariant() {
        for v in runnableVariants() {
            // add
            for n in [1, 8, 17, 100] {
                let a = random(n), b = random(n)
                var out = [Float](repeating: .nan, count: n)
                a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in out.withUnsafeMutableBufferPointer {
                    Kernels.add(ap.baseAddress!, bp.baseAddress!, into: $0.baseAddress!, count: n, variant: v)
                } } }
                for i in 0..<n { XCTAssertEqual(out[i], a[i] + b[i], "add \(v)") }   // one rounding: exact
            }
            // transpose(a + b), with and without b, over a sub-range of output rows
            for (rows, cols) in [(3, 5), (8, 8), (19, 27), (16, 40), (24, 40), (43, 70)] {   // 16-row bands, an 8-row band, scalar rows
                let a = random(rows * cols), b = random(rows * cols)
                for withB in [true, false] {
                    var out = [Float](repeating: .nan, count: rows * cols)
                    let lo = cols / 3
                    a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in out.withUnsafeMutableBufferPointer {
                        Kernels.transposeAdd(ap.baseAddress!, withB ? bp.baseAddress! : nil, into: $0.baseAddress!,
                                             rows: rows, columns: cols, outputRows: lo..<cols, variant: v)
                    } } }
                    for j in 0..<cols { for i in 0..<rows {
                        if j < lo { XCTAssertTrue(out[j * rows + i].isNaN, "transposeAdd \(v) wrote outside its rows") }
                        else { XCTAssertEqual(out[j * rows + i], a[i * cols + j] + (withB ? b[i * cols + j] : 0), "transposeAdd \(v)") }
                    } }
                }
            }
            // SAM decomposed relative positions
            for (kh, kw) in [(3, 5), (4, 16), (5, 21)] {
                let rows = 3, ld = kh * kw + 2
                var scores = random(rows * ld)
                let original = scores, relH = random(rows * kh), relW = random(rows * kw)
                relH.withUnsafeBufferPointer { hp in relW.withUnsafeBufferPointer { wp in scores.withUnsafeMutableBufferPointer {
                    Kernels.addDecomposedRelativePosition($0.baseAddress!, rows: rows, ld: ld, relH: hp.baseAddress!,
                                                          relW: wp.baseAddress!, kh: kh, kw: kw, variant: v)
                } } }
                for r in 0..<rows { for i in 0..<kh { for j in 0..<kw {
                    let ref = original[r * ld + i * kw + j] + (relH[r * kh + i] + relW[r * kw + j])
                    XCTAssertEqual(scores[r * ld + i * kw + j], ref, "relpos \(v)")
                } } }
            }
        }
    }
}

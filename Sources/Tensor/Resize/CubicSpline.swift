import Foundation

/// scikit-image's `skimage.transform.resize(image, (toHeight, toWidth), order=3,
/// mode="reflect", preserve_range=True, anti_aliasing=True)` — the call in MedSAM's
/// `MedSAM_Inference.py` (no `mode` argument, so skimage's default `"reflect"`, which skimage
/// translates to SciPy's `"mirror"`).
///
/// Steps (all in Double, per channel, separable; matches scikit-image 0.26 / SciPy 1.17 to
/// ~1e-10 on 0–255 data):
/// 1. anti-aliasing, only for axes that shrink: `scipy.ndimage.gaussian_filter` with
///    `σ = max(0, (in/out − 1)/2)`, `truncate = 4` (radius `Int(4σ + 0.5)`), mode `"mirror"`;
/// 2. cubic B-spline prefilter (`spline_filter`, pole `√3 − 2`, mirror boundary);
/// 3. `ndimage.zoom(grid_mode=True)`: source coordinate `(o + 0.5)·(in/out) − 0.5`,
///    mirrored into `[0, in−1]`, 4 cubic B-spline taps with mirrored coefficient indices;
/// 4. clip to the input's `[min, max]` (the spline overshoots).
///
/// The channel axis is not resampled (SciPy's zoom factor 1 along it reproduces it up to
/// rounding).
///
/// ```swift
/// let big = SplineResize.resize(gray, width: 181, height: 217, channels: 1,
///                               toWidth: 1024, toHeight: 1024)   // [Double], 1024·1024
/// let u8 = big.map { UInt8($0) }                                // `.astype(np.uint8)` truncation
/// ```
public enum SplineResize {
    /// Resizes an interleaved H×W×C image; returns H'×W'×C Double values (clipped to the input range).
    /// - Parameter antiAliasing: apply the Gaussian pre-filter on shrinking axes (skimage's `anti_aliasing=True`).
    public static func resize(_ pixels: [Double], width: Int, height: Int, channels: Int,
                              toWidth: Int, toHeight: Int, antiAliasing: Bool = true) -> [Double] {
        precondition(width > 0 && height > 0 && toWidth > 0 && toHeight > 0, "sizes must be positive")
        precondition(channels > 0 && pixels.count == width * height * channels,
                     "pixel count \(pixels.count) != \(width)×\(height)×\(channels)")
        var lo = Double.infinity, hi = -Double.infinity
        for v in pixels { lo = min(lo, v); hi = max(hi, v) }

        let fy = Double(height) / Double(toHeight), fx = Double(width) / Double(toWidth)
        let sigmaY = antiAliasing ? max(0, (fy - 1) / 2) : 0
        let sigmaX = antiAliasing ? max(0, (fx - 1) / 2) : 0
        let kernelY = sigmaY > 1e-15 ? gaussianKernel(sigmaY) : nil
        let kernelX = sigmaX > 1e-15 ? gaussianKernel(sigmaX) : nil
        let tapsY = zoomTaps(input: height, output: toHeight)
        let tapsX = zoomTaps(input: width, output: toWidth)

        var out = [Double](repeating: 0, count: toWidth * toHeight * channels)
        out.withUnsafeMutableBufferPointer { ob in
            let dst = SendablePointer(ob.baseAddress!)
            pixels.withUnsafeBufferPointer { pb in
                let src = pb.baseAddress!
                // Work per channel; inside a channel the row/column passes are split over threads.
                for c in 0..<channels {
                    var plane = [Double](repeating: 0, count: width * height)
                    for i in 0..<(width * height) { plane[i] = src[i * channels + c] }
                    plane.withUnsafeMutableBufferPointer { p in
                        let pw = SendablePointer(p.baseAddress!)
                        if let k = kernelY { filterColumns(pw, width, height) { correlateMirror(&$0, k) } }
                        if let k = kernelX { filterRows(pw, width, height) { correlateMirror(&$0, k) } }
                        filterColumns(pw, width, height) { splinePrefilterMirror(&$0) }
                        filterRows(pw, width, height) { splinePrefilterMirror(&$0) }
                    }
                    // Evaluate along x for every input row: (height × toWidth).
                    var mid = [Double](repeating: 0, count: height * toWidth)
                    plane.withUnsafeBufferPointer { p in
                        mid.withUnsafeMutableBufferPointer { m in
                            let mw = SendablePointer(m.baseAddress!)
                            let pp = p.baseAddress!
                            Parallel.forRanges(height) { r in
                                for y in r {
                                    let row = pp + y * width
                                    let o = mw.pointer + y * toWidth
                                    for x in 0..<toWidth {
                                        let t = tapsX[x]
                                        o[x] = row[t.i0] * t.w0 + row[t.i1] * t.w1 + row[t.i2] * t.w2 + row[t.i3] * t.w3
                                    }
                                }
                            }
                        }
                    }
                    // Evaluate along y and write interleaved, clipped output.
                    mid.withUnsafeBufferPointer { m in
                        let mp = m.baseAddress!
                        Parallel.forRanges(toHeight) { r in
                            for y in r {
                                let t = tapsY[y]
                                let r0 = mp + t.i0 * toWidth, r1 = mp + t.i1 * toWidth
                                let r2 = mp + t.i2 * toWidth, r3 = mp + t.i3 * toWidth
                                let o = dst.pointer + y * toWidth * channels + c
                                for x in 0..<toWidth {
                                    var v = r0[x] * t.w0 + r1[x] * t.w1 + r2[x] * t.w2 + r3[x] * t.w3
                                    if v < lo { v = lo } else if v > hi { v = hi }
                                    o[x * channels] = v
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Convenience for UInt8 input (converted to Double like `preserve_range=True`).
    public static func resize(_ pixels: [UInt8], width: Int, height: Int, channels: Int,
                              toWidth: Int, toHeight: Int, antiAliasing: Bool = true) -> [Double] {
        resize(pixels.map(Double.init), width: width, height: height, channels: channels,
               toWidth: toWidth, toHeight: toHeight, antiAliasing: antiAliasing)
    }

    // MARK: - pieces

    struct Taps: Sendable { var i0, i1, i2, i3: Int; var w0, w1, w2, w3: Double }

    /// SciPy mirror index for integer positions (`d c b | a b c d | c b a`).
    @inline(__always)
    static func mirror(_ i: Int, _ n: Int) -> Int {
        if n <= 1 { return 0 }
        let s2 = 2 * n - 2
        var idx = i
        if idx < 0 {
            idx = s2 * (-idx / s2) + idx
            idx = idx <= 1 - n ? idx + s2 : -idx
        } else if idx >= n {
            idx -= s2 * (idx / s2)
            if idx >= n { idx = s2 - idx }
        }
        return idx
    }

    /// `ndimage.zoom(..., order=3, mode="mirror", grid_mode=True)` taps along one axis.
    static func zoomTaps(input n: Int, output m: Int) -> [Taps] {
        let zoom = Double(n) / Double(m)
        var taps = [Taps]()
        taps.reserveCapacity(m)
        for k in 0..<m {
            var cc = (Double(k) + 0.5) * zoom - 0.5
            // map_coordinate, mode mirror
            if n <= 1 { cc = 0 } else if cc < 0 {
                let s2 = Double(2 * n - 2)
                cc = s2 * Double(Int(-cc / s2)) + cc
                cc = cc <= Double(1 - n) ? cc + s2 : -cc
            } else if cc > Double(n - 1) {
                let s2 = Double(2 * n - 2)
                cc -= s2 * Double(Int(cc / s2))
                if cc > Double(n - 1) { cc = s2 - cc }
            }
            let fl = cc.rounded(.down)
            let start = Int(fl) - 1
            let y = cc - fl
            let z = 1.0 - y
            let w0 = z * z * z / 6.0
            let w1 = (y * y * (y - 2.0) * 3.0 + 4.0) / 6.0
            let w2 = (z * z * (z - 2.0) * 3.0 + 4.0) / 6.0
            let w3 = y * y * y / 6.0
            taps.append(Taps(i0: mirror(start, n), i1: mirror(start + 1, n), i2: mirror(start + 2, n),
                             i3: mirror(start + 3, n), w0: w0, w1: w1, w2: w2, w3: w3))
        }
        return taps
    }

    /// SciPy `_gaussian_kernel1d(sigma, order=0, radius=int(4·sigma + 0.5))`.
    static func gaussianKernel(_ sigma: Double) -> [Double] {
        let radius = Int(4.0 * sigma + 0.5)
        let s2 = sigma * sigma
        var k = [Double]()
        for x in -radius...radius { k.append(exp(-0.5 / s2 * Double(x * x))) }
        let sum = k.reduce(0, +)
        return k.map { $0 / sum }
    }

    /// `correlate1d(line, kernel, mode="mirror")` for a symmetric kernel.
    static func correlateMirror(_ line: inout [Double], _ k: [Double]) {
        let n = line.count, r = k.count / 2
        var ext = [Double](repeating: 0, count: n + 2 * r)
        for i in 0..<(n + 2 * r) { ext[i] = line[mirror(i - r, n)] }
        for i in 0..<n {
            var t = ext[i + r] * k[r]
            for j in 1..<(r + 1) { t += (ext[i + r - j] + ext[i + r + j]) * k[r + j] }
            line[i] = t
        }
    }

    /// Cubic B-spline prefilter with SciPy's mirror initialisation.
    static func splinePrefilterMirror(_ c: inout [Double]) {
        let n = c.count
        if n <= 1 { return }
        let z = 3.0.squareRoot() - 2.0
        let gain = (1.0 - z) * (1.0 - 1.0 / z)
        for i in 0..<n { c[i] *= gain }
        // causal init (mirror)
        var zi = z
        let zn1 = pow(z, Double(n - 1))
        c[0] = c[0] + zn1 * c[n - 1]
        if n > 2 {
            for i in 1..<(n - 1) {
                c[0] += zi * (c[i] + zn1 * c[n - 1 - i])
                zi *= z
            }
        }
        c[0] /= 1 - zn1 * zn1
        for i in 1..<n { c[i] += z * c[i - 1] }
        // anticausal init (mirror)
        c[n - 1] = (z * c[n - 2] + c[n - 1]) * z / (z * z - 1)
        var i = n - 2
        while i >= 0 { c[i] = z * (c[i + 1] - c[i]); i -= 1 }
    }

    static func filterRows(_ p: SendablePointer<Double>, _ w: Int, _ h: Int,
                           _ f: (inout [Double]) -> Void) {
        Parallel.forRanges(h) { r in
            var line = [Double](repeating: 0, count: w)
            for y in r {
                let row = p.pointer + y * w
                for x in 0..<w { line[x] = row[x] }
                f(&line)
                for x in 0..<w { row[x] = line[x] }
            }
        }
    }

    static func filterColumns(_ p: SendablePointer<Double>, _ w: Int, _ h: Int,
                              _ f: (inout [Double]) -> Void) {
        Parallel.forRanges(w) { r in
            var line = [Double](repeating: 0, count: h)
            for x in r {
                for y in 0..<h { line[y] = p.pointer[y * w + x] }
                f(&line)
                for y in 0..<h { p.pointer[y * w + x] = line[y] }
            }
        }
    }
}


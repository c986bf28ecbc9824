import Foundation

/// OpenCV's `cv2.resize(src, (toWidth, toHeight), interpolation=cv2.INTER_AREA)` for interleaved
/// H×W×C images (C = 1…4), bit-exact with OpenCV 4.x for `UInt8` (verified against
/// opencv-python 4.x / 5.0 on random and real images), and to float rounding for `Float`.
///
/// The three code paths of OpenCV are reproduced:
/// - **integer downscale** (`1/(dw/sw)` and `1/(dh/sh)` integers within `DBL_EPSILON`):
///   block mean. For 2×2 on UInt8: `(sum + 2) >> 2` (round half up) for every output — verified
///   against opencv-python 5.0 for widths that are not multiples of the SIMD width, too.
///   Other factors: `round_half_even(Float(sum) · (1/area))` (`saturate_cast<uchar>(sum*scale)`).
/// - **generic downscale** (both scales ≥ 1): area-coverage weights in Float (OpenCV's
///   `computeResizeAreaTab`), accumulated row by row in Float, rounded half-to-even.
/// - **upscale on any axis**: bilinear taps with area coefficients
///   (`sx = ⌊dx·scale⌋`, `fx = (dx+1) − (sx+1)/scale`, `fx ≤ 0 ? 0 : fx − ⌊fx⌋`, edges clamped);
///   UInt8 uses OpenCV's 11-bit fixed-point coefficients and its `(((b0·(S0>>4))>>16) + ((b1·(S1>>4))>>16) + 2) >> 2` rounding.
///
/// ```swift
/// let small = AreaResize.resize(pixels, width: 181, height: 217, channels: 3, toWidth: 213, toHeight: 256)
/// ```
public enum AreaResize {
    /// Resizes a UInt8 H×W×C interleaved image. `pixels.count` must be `width·height·channels`.
    public static func resize(_ pixels: [UInt8], width: Int, height: Int, channels: Int,
                              toWidth: Int, toHeight: Int) -> [UInt8] {
        pixels.withUnsafeBufferPointer {
            resize($0, width: width, height: height, channels: channels, toWidth: toWidth, toHeight: toHeight)
        }
    }

    /// Resizes a Float H×W×C interleaved image (OpenCV's `CV_32F` path).
    public static func resize(_ pixels: [Float], width: Int, height: Int, channels: Int,
                              toWidth: Int, toHeight: Int) -> [Float] {
        check(pixels.count, width, height, channels, toWidth, toHeight)
        if width == toWidth && height == toHeight { return pixels }
        let g = Geometry(sw: width, sh: height, dw: toWidth, dh: toHeight)
        return pixels.withUnsafeBufferPointer { src -> [Float] in
            if g.downscale {
                if g.fast { return fastArea(src, g, channels) { sum, area, _ in sum * (1 / Float(area)) } }
                return genericArea(src, g, channels) { $0 }
            }
            return linearAreaFloat(src, g, channels)
        }
    }

    /// Resizes a UInt8 H×W×C interleaved image from a buffer.
    public static func resize(_ pixels: UnsafeBufferPointer<UInt8>, width: Int, height: Int, channels: Int,
                              toWidth: Int, toHeight: Int) -> [UInt8] {
        check(pixels.count, width, height, channels, toWidth, toHeight)
        if width == toWidth && height == toHeight { return Array(pixels) }
        let g = Geometry(sw: width, sh: height, dw: toWidth, dh: toHeight)
        if g.downscale {
            if g.fast {
                if g.ix == 2 && g.iy == 2 { return fastArea2x2(pixels, g, channels) }
                let s = pixels.map { Float($0) }
                return s.withUnsafeBufferPointer { fs in
                    fastArea(fs, g, channels) { sum, area, _ in sum * (1 / Float(area)) }
                }.map(saturateU8)
            }
            let s = pixels.map { Float($0) }
            return s.withUnsafeBufferPointer { genericArea($0, g, channels, saturateU8) }
        }
        return linearAreaU8(pixels, g, channels)
    }

    // MARK: - geometry

    struct Geometry {
        let sw: Int, sh: Int, dw: Int, dh: Int
        let scaleX: Double, scaleY: Double, invX: Double, invY: Double
        let ix: Int, iy: Int
        var downscale: Bool { scaleX >= 1 && scaleY >= 1 }
        var fast: Bool {
            abs(scaleX - Double(ix)) < Double.ulpOfOne && abs(scaleY - Double(iy)) < Double.ulpOfOne
        }
        init(sw: Int, sh: Int, dw: Int, dh: Int) {
            self.sw = sw; self.sh = sh; self.dw = dw; self.dh = dh
            invX = Double(dw) / Double(sw); invY = Double(dh) / Double(sh)
            scaleX = 1 / invX; scaleY = 1 / invY
            ix = Int(scaleX.rounded(.toNearestOrEven)); iy = Int(scaleY.rounded(.toNearestOrEven))
        }
    }

    static func check(_ count: Int, _ w: Int, _ h: Int, _ c: Int, _ tw: Int, _ th: Int) {
        precondition(w > 0 && h > 0 && tw > 0 && th > 0, "sizes must be positive")
        precondition((1...4).contains(c), "1…4 channels supported, got \(c)")
        precondition(count == w * h * c, "pixel count \(count) != \(w)×\(h)×\(c)")
    }

    @inline(__always)
    static func saturateU8(_ v: Float) -> UInt8 {
        let r = v.rounded(.toNearestOrEven)
        if !(r > 0) { return 0 }
        if r >= 255 { return 255 }
        return UInt8(r)
    }

    // MARK: - integer-factor downscale

    /// OpenCV `resizeAreaFast_Invoker` scalar path: sum of the block, `finish(sum, area, count)`.
    /// Blocks cut by the image edge average over the pixels present (`sum / count`).
    static func fastArea<T>(_ src: UnsafeBufferPointer<Float>, _ g: Geometry, _ cn: Int,
                            _ finish: (Float, Int, Int) -> T) -> [T] where T: Numeric {
        var out = [T](repeating: 0, count: g.dw * g.dh * cn)
        let sx = g.ix, sy = g.iy
        let area = sx * sy
        let rowLen = g.sw * cn
        let fullW = (g.sw / sx)   // output columns with a complete block
        for dy in 0..<g.dh {
            let y0 = dy * sy
            for dx in 0..<g.dw {
                for k in 0..<cn {
                    let x0 = dx * sx
                    if y0 + sy <= g.sh && dx < fullW {
                        // OpenCV accumulates in int for integer types; Float is exact here for UInt8 sums.
                        var sum: Float = 0
                        for yy in 0..<sy {
                            let base = (y0 + yy) * rowLen
                            for xx in 0..<sx { sum += src[base + (x0 + xx) * cn + k] }
                        }
                        out[(dy * g.dw + dx) * cn + k] = finish(sum, area, area)
                    } else {
                        var sum: Float = 0
                        var count = 0
                        for yy in 0..<sy where y0 + yy < g.sh {
                            for xx in 0..<sx where x0 + xx < g.sw {
                                sum += src[(y0 + yy) * rowLen + (x0 + xx) * cn + k]; count += 1
                            }
                        }
                        out[(dy * g.dw + dx) * cn + k] = count > 0 ? finish(sum / Float(count), 1, count) : 0
                    }
                }
            }
        }
        return out
    }

    /// 2×2 UInt8 block mean `(sum+2)>>2`.
    static func fastArea2x2(_ src: UnsafeBufferPointer<UInt8>, _ g: Geometry, _ cn: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: g.dw * g.dh * cn)
        let rowLen = g.sw * cn
        let w = (g.sw / 2) * cn          // OpenCV's dwidth1, in elements
        for dy in 0..<g.dh {
            let y0 = dy * 2
            let full = y0 + 2 <= g.sh
            let wRow = full ? w : 0
            for e in 0..<(g.dw * cn) {
                let dx = e / cn, k = e % cn
                let o = dy * g.dw * cn + e
                if e < wRow {
                    let a = (y0) * rowLen + (2 * dx) * cn + k
                    let b = a + rowLen
                    let sum = Int(src[a]) + Int(src[a + cn]) + Int(src[b]) + Int(src[b + cn])
                    out[o] = UInt8((sum + 2) >> 2)
                } else {
                    var sum = 0, count = 0
                    for yy in 0..<2 where y0 + yy < g.sh {
                        for xx in 0..<2 where 2 * dx + xx < g.sw {
                            sum += Int(src[(y0 + yy) * rowLen + (2 * dx + xx) * cn + k]); count += 1
                        }
                    }
                    out[o] = count > 0 ? saturateU8(Float(sum) / Float(count)) : 0
                }
            }
        }
        return out
    }

    // MARK: - generic downscale

    struct Alpha { var di: Int; var si: Int; var alpha: Float }

    /// OpenCV `computeResizeAreaTab` (indices in pixels, not elements).
    static func areaTab(_ ssize: Int, _ dsize: Int, _ scale: Double) -> [Alpha] {
        var tab = [Alpha]()
        for dx in 0..<dsize {
            let fsx1 = Double(dx) * scale
            let fsx2 = fsx1 + scale
            let cellWidth = min(scale, Double(ssize) - fsx1)
            var sx1 = Int(fsx1.rounded(.up)), sx2 = Int(fsx2.rounded(.down))
            sx2 = min(sx2, ssize - 1)
            sx1 = min(sx1, sx2)
            if Double(sx1) - fsx1 > 1e-3 {
                tab.append(Alpha(di: dx, si: sx1 - 1, alpha: Float((Double(sx1) - fsx1) / cellWidth)))
            }
            if sx1 < sx2 {
                for sx in sx1..<sx2 { tab.append(Alpha(di: dx, si: sx, alpha: Float(1.0 / cellWidth))) }
            }
            if fsx2 - Double(sx2) > 1e-3 {
                tab.append(Alpha(di: dx, si: sx2,
                                 alpha: Float(min(min(fsx2 - Double(sx2), 1.0), cellWidth) / cellWidth)))
            }
        }
        return tab
    }

    /// OpenCV `ResizeArea_Invoker` with `WT = Float`.
    static func genericArea<T>(_ src: UnsafeBufferPointer<Float>, _ g: Geometry, _ cn: Int,
                               _ finish: (Float) -> T) -> [T] where T: Numeric {
        let xtab = areaTab(g.sw, g.dw, g.scaleX)
        let ytab = areaTab(g.sh, g.dh, g.scaleY)
        let width = g.dw * cn
        var out = [T](repeating: 0, count: width * g.dh)
        var buf = [Float](repeating: 0, count: width)
        var sum = [Float](repeating: 0, count: width)
        guard let first = ytab.first else { return out }
        var prevDy = first.di
        let rowLen = g.sw * cn
        for j in 0..<ytab.count {
            let beta = ytab[j].alpha, dy = ytab[j].di, sy = ytab[j].si
            for i in 0..<width { buf[i] = 0 }
            let row = sy * rowLen
            for t in xtab {
                let a = t.alpha
                let d = t.di * cn, s = row + t.si * cn
                for k in 0..<cn { buf[d + k] = buf[d + k] + src[s + k] * a }
            }
            if dy != prevDy {
                for i in 0..<width {
                    out[prevDy * width + i] = finish(sum[i])
                    sum[i] = beta * buf[i]
                }
                prevDy = dy
            } else {
                for i in 0..<width { sum[i] = sum[i] + beta * buf[i] }
            }
        }
        for i in 0..<width { out[prevDy * width + i] = finish(sum[i]) }
        return out
    }

    // MARK: - upscale (bilinear with area coefficients)

    /// Per-axis source index and fractional weight, OpenCV's `area_mode` branch.
    /// `clampX`: OpenCV's horizontal edge handling (index and weight clamped, single tap);
    /// vertically OpenCV keeps the weight and clamps the row indices instead.
    static func linearAreaTaps(_ ssize: Int, _ dsize: Int, _ scale: Double, _ inv: Double,
                               clampX: Bool = true) -> [(Int, Float, Bool)] {
        var taps = [(Int, Float, Bool)]()
        for d in 0..<dsize {
            var s = Int((Double(d) * scale).rounded(.down))
            var f = Float(Double(d + 1) - Double(s + 1) * inv)
            f = f <= 0 ? 0 : f - f.rounded(.down)
            var single = false
            if !clampX { taps.append((s, f, false)); continue }
            if s < 0 { f = 0; s = 0 }
            if s + 1 >= ssize {
                single = true
                if s >= ssize - 1 { f = 0; s = ssize - 1 }
            }
            taps.append((s, f, single))
        }
        return taps
    }

    static func linearAreaU8(_ src: UnsafeBufferPointer<UInt8>, _ g: Geometry, _ cn: Int) -> [UInt8] {
        let one: Float = 2048
        let xt = linearAreaTaps(g.sw, g.dw, g.scaleX, g.invX)
        let yt = linearAreaTaps(g.sh, g.dh, g.scaleY, g.invY, clampX: false)
        func fixed(_ f: Float) -> (Int32, Int32) {
            (Int32(saturateI16((1 - f) * one)), Int32(saturateI16(f * one)))
        }
        let xa = xt.map { fixed($0.1) }
        let yb = yt.map { fixed($0.1) }
        let rowLen = g.sw * cn, width = g.dw * cn
        // Horizontal pass for every source row (values scaled by 2048).
        var h = [Int32](repeating: 0, count: g.sh * width)
        for y in 0..<g.sh {
            let s = y * rowLen
            for dx in 0..<g.dw {
                let (sx, _, single) = xt[dx]
                let (a0, a1) = xa[dx]
                for k in 0..<cn {
                    let v0 = Int32(src[s + sx * cn + k])
                    let o = y * width + dx * cn + k
                    if single { h[o] = v0 * 2048 } else {
                        h[o] = v0 * a0 + Int32(src[s + (sx + 1) * cn + k]) * a1
                    }
                }
            }
        }
        var out = [UInt8](repeating: 0, count: g.dh * width)
        for dy in 0..<g.dh {
            let sy = yt[dy].0
            let y0 = min(max(sy, 0), g.sh - 1), y1 = min(max(sy + 1, 0), g.sh - 1)
            let (b0, b1) = yb[dy]
            for i in 0..<width {
                let s0 = h[y0 * width + i] >> 4, s1 = h[y1 * width + i] >> 4
                let v = (((b0 * s0) >> 16) + ((b1 * s1) >> 16) + 2) >> 2
                out[dy * width + i] = UInt8(clamping: v)
            }
        }
        return out
    }

    static func linearAreaFloat(_ src: UnsafeBufferPointer<Float>, _ g: Geometry, _ cn: Int) -> [Float] {
        let xt = linearAreaTaps(g.sw, g.dw, g.scaleX, g.invX)
        let yt = linearAreaTaps(g.sh, g.dh, g.scaleY, g.invY, clampX: false)
        let rowLen = g.sw * cn, width = g.dw * cn
        var h = [Float](repeating: 0, count: g.sh * width)
        for y in 0..<g.sh {
            let s = y * rowLen
            for dx in 0..<g.dw {
                let (sx, f, single) = xt[dx]
                for k in 0..<cn {
                    let o = y * width + dx * cn + k
                    if single { h[o] = src[s + sx * cn + k] } else {
                        h[o] = src[s + sx * cn + k] * (1 - f) + src[s + (sx + 1) * cn + k] * f
                    }
                }
            }
        }
        var out = [Float](repeating: 0, count: g.dh * width)
        for dy in 0..<g.dh {
            let (sy, f, _) = yt[dy]
            let y0 = min(max(sy, 0), g.sh - 1), y1 = min(max(sy + 1, 0), g.sh - 1)
            for i in 0..<width {
                out[dy * width + i] = h[y0 * width + i] * (1 - f) + h[y1 * width + i] * f
            }
        }
        return out
    }

    @inline(__always)
    static func saturateI16(_ v: Float) -> Int16 {
        let r = v.rounded(.toNearestOrEven)
        return Int16(max(-32768, min(32767, r)))
    }
}

import Foundation

/// MedSAM's intensity normalisation to 8 bits (`pre_CT_MR.py`), bit-exact with NumPy.
///
/// - **CT** (`modality == "CT"`): `x = clip(raw, L − W/2, L + W/2)`, then
///   `(x − min(x)) / (max(x) − min(x)) · 255`, then `np.uint8` (truncation). Note that the min/max
///   are those of the *clipped* data, so an image that never reaches the window edges is stretched.
/// - **MR and everything else**: `lo, hi = percentile(raw[raw > 0], 0.5), percentile(raw[raw > 0], 99.5)`
///   (NumPy's default `"linear"` method), clip, min-max to 0…255, pixels with `raw == 0` set to 0,
///   `np.uint8`.
///
/// Computation is in Double like NumPy's float64 path (integer sources). When the normalised
/// range is empty (`max == min`) NumPy would divide by zero; here the result is all zeros.
/// The statistics are taken over all values passed in, so pass a whole volume to reproduce the
/// per-volume normalisation of `pre_CT_MR.py`.
///
/// ```swift
/// let ct = try Image(int16: hu, width: 512, height: 512)
/// let soft = IntensityWindow.ct(.softTissue).apply(to: ct)       // Image with values 0…255
/// let mr = try IntensityWindow.percentile().apply(to: t1)        // 0.5–99.5 % of x > 0
/// ```
public enum IntensityWindow: Sendable, Hashable {
    /// A CT window (level, width) in Hounsfield units.
    case ct(CTWindow)
    /// Percentile clipping of the positive values (`pre_CT_MR.py`'s MR branch), default 0.5…99.5.
    case percentile(lower: Double = 0.5, upper: Double = 99.5)

    /// Common CT windows (radiopaedia "windowing (CT)"). MedSAM's `pre_CT_MR.py` default is soft tissue.
    public struct CTWindow: Sendable, Hashable {
        public var level: Double
        public var width: Double
        public init(level: Double, width: Double) { self.level = level; self.width = width }
        /// L 40 / W 400 — `pre_CT_MR.py` default (abdomen soft tissue).
        public static let softTissue = CTWindow(level: 40, width: 400)
        /// L −600 / W 1500.
        public static let lung = CTWindow(level: -600, width: 1500)
        /// L 400 / W 1800.
        public static let bone = CTWindow(level: 400, width: 1800)
        /// L 40 / W 80.
        public static let brain = CTWindow(level: 40, width: 80)
    }

    /// Applies the window to raw values; returns 8-bit values in the same order.
    /// Throws `.noNonZeroValues` for a percentile window on data without positive values.
    public func apply(values raw: [Double]) throws -> [UInt8] {
        switch self {
        case .ct(let w):
            let lower = w.level - w.width / 2, upper = w.level + w.width / 2
            return Self.normalise(raw, lower, upper, zeroMask: false)
        case let .percentile(ql, qu):
            let positive = raw.filter { $0 > 0 }.sorted()
            guard !positive.isEmpty else { throw ImagingError.noNonZeroValues }
            let lo = Self.percentileLinear(sorted: positive, q: ql)
            let hi = Self.percentileLinear(sorted: positive, q: qu)
            return Self.normalise(raw, lo, hi, zeroMask: true)
        }
    }

    /// Applies the window to every channel value of `image`; the result has `pixelType == .uint8`.
    public func apply(to image: Image) throws -> Image {
        let u8 = try apply(values: image.pixels.map(Double.init))
        return try Image(uint8: u8, width: image.width, height: image.height, channels: image.channels)
    }

    /// The clipping bounds a percentile window uses for `raw` (for inspection and tests).
    public static func percentileBounds(_ raw: [Double], lower: Double = 0.5, upper: Double = 99.5) throws -> (Double, Double) {
        let positive = raw.filter { $0 > 0 }.sorted()
        guard !positive.isEmpty else { throw ImagingError.noNonZeroValues }
        return (percentileLinear(sorted: positive, q: lower), percentileLinear(sorted: positive, q: upper))
    }

    /// `np.percentile(x, q)` with the default `"linear"` method (Hyndman & Fan type 7), using
    /// NumPy's exact float operations: virtual index `n·p + (1 − p) − 1` with `p = q/100`,
    /// `γ = v − ⌊v⌋`, and NumPy's `_lerp` (`b − (b−a)(1−γ)` when `γ ≥ 0.5`).
    public static func percentileLinear(sorted x: [Double], q: Double) -> Double {
        let n = x.count
        let p = q / 100
        let v = Double(n) * p + (1 + p * (1 - 1 - 1)) - 1
        let prevF = v.rounded(.down)
        let prev = min(max(Int(prevF), 0), n - 1)
        let next = min(max(Int(prevF) + 1, 0), n - 1)
        var gamma = v - prevF
        if v < 0 { gamma = 0 }
        let a = x[prev], b = x[next]
        let diff = b - a
        return gamma >= 0.5 ? b - diff * (1 - gamma) : a + diff * gamma
    }

    static func normalise(_ raw: [Double], _ lower: Double, _ upper: Double, zeroMask: Bool) -> [UInt8] {
        var lo = Double.infinity, hi = -Double.infinity
        let clipped = raw.map { v -> Double in
            let c = min(max(v, lower), upper)
            lo = min(lo, c); hi = max(hi, c)
            return c
        }
        let range = hi - lo
        var out = [UInt8](repeating: 0, count: raw.count)
        guard range > 0 else { return out }
        for i in 0..<raw.count {
            if zeroMask && raw[i] == 0 { continue }
            let y = (clipped[i] - lo) / range * 255.0
            out[i] = UInt8(max(0, min(255, y)).rounded(.towardZero))
        }
        return out
    }
}

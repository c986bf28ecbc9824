import Foundation

/// Errors for user-supplied images, boxes and masks.
public enum ImagingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Width, height or pixel count is zero.
    case emptyImage
    /// The buffer does not hold `width·height·channels` values.
    case wrongPixelCount(expected: Int, got: Int)
    /// Only 1 (gray), 3 (RGB) and 4 (RGBA, alpha dropped) channels are accepted.
    case unsupportedChannelCount(Int)
    /// A pixel is NaN or infinite.
    case nonFiniteValue(index: Int)
    /// The operation needs 8-bit data (values 0…255), e.g. LiteMedSAM's `assert np.max(img) < 256`.
    case valuesOutOfUInt8Range(min: Double, max: Double)
    /// A box coordinate lies outside the image.
    case boxOutsideImage(Box, width: Int, height: Int)
    /// A box has zero width or height.
    case emptyBox(Box)
    /// `x1 < x0` or `y1 < y0`.
    case invertedBox(Box)
    /// A box coordinate is NaN or infinite.
    case nonFiniteBox(Box)
    /// A tensor has the wrong shape for this step.
    case wrongShape(expected: String, got: [Int])
    /// A percentile window needs at least one non-zero value.
    case noNonZeroValues

    public var description: String {
        switch self {
        case .emptyImage: return "image is empty"
        case let .wrongPixelCount(e, g): return "expected \(e) pixel values, got \(g)"
        case let .unsupportedChannelCount(c): return "unsupported channel count \(c) (use 1, 3 or 4)"
        case let .nonFiniteValue(i): return "pixel value at index \(i) is not finite"
        case let .valuesOutOfUInt8Range(lo, hi):
            return "values must be 0…255 for this step, got range \(lo)…\(hi) (window the image first)"
        case let .boxOutsideImage(b, w, h): return "box \(b) lies outside the \(w)×\(h) image"
        case let .emptyBox(b): return "box \(b) has zero width or height"
        case let .invertedBox(b): return "box \(b) is inverted (x1 < x0 or y1 < y0)"
        case let .nonFiniteBox(b): return "box \(b) has a non-finite coordinate"
        case let .wrongShape(e, g): return "expected tensor shape \(e), got \(g)"
        case .noNonZeroValues: return "image has no non-zero values to take percentiles of"
        }
    }
}

/// The former name of ``ImagingError`` (the type moved from `Preprocess` to `Imaging`).
public typealias PreprocessError = ImagingError

/// The element type an ``Image`` was created from.
public enum PixelType: String, Sendable, Hashable {
    case uint8, int16, uint16, int32, float32, float64
}

/// An H×W×C image (C = 1 or 3), interleaved, row-major, values kept in their stored type (``PixelStorage``:
/// 1 byte per value for 8-bit data, 2 for 16-bit) and read as `Float` (exact for every 8/16-bit source and for
/// Int32 up to 2²⁴), plus the source ``PixelType``.
///
/// ```swift
/// let ct = try Image(int16: hu, width: 512, height: 512)       // 1 channel, kept as Int16
/// let u8 = IntensityWindow.ct(.softTissue).apply(to: ct)         // UInt8-valued gray image
/// let rgb = u8.threeChannel()                                    // gray → 3 channels
/// ```
public struct Image: Sendable {
    public let width: Int
    public let height: Int
    /// 1 or 3.
    public let channels: Int
    /// The `height·width·channels` values, interleaved, in their stored type.
    public let storage: PixelStorage
    public let pixelType: PixelType

    /// The `height·width·channels` values as `Float` (a new array each time: bind it once).
    public var pixels: [Float] { storage.floats() }

    /// Validates and stores the pixels (packed into the smallest integer type that holds them exactly, see ``PixelStorage``).
    /// 4-channel input drops the alpha channel.
    public init(pixels: [Float], width: Int, height: Int, channels: Int = 1, pixelType: PixelType = .float32) throws {
        if let i = pixels.firstIndex(where: { !$0.isFinite }) {
            try Self.checkShape(count: pixels.count, width: width, height: height, channels: channels)
            throw ImagingError.nonFiniteValue(index: i)
        }
        try self.init(storage: PixelStorage(packing: pixels), width: width, height: height,
                      channels: channels, pixelType: pixelType)
    }

    /// Validates and keeps `storage` as it is. 4-channel input drops the alpha channel.
    public init(storage: PixelStorage, width: Int, height: Int, channels: Int = 1, pixelType: PixelType) throws {
        try Self.checkShape(count: storage.count, width: width, height: height, channels: channels)
        if let i = storage.firstNonFinite { throw ImagingError.nonFiniteValue(index: i) }
        self.width = width
        self.height = height
        self.pixelType = pixelType
        if channels == 4 {
            self.storage = storage.regrouped(from: 4, to: 3) { $0 }
            self.channels = 3
        } else {
            self.storage = storage
            self.channels = channels
        }
    }

    private static func checkShape(count: Int, width: Int, height: Int, channels: Int) throws {
        guard width > 0, height > 0, count > 0 else { throw ImagingError.emptyImage }
        guard [1, 3, 4].contains(channels) else { throw ImagingError.unsupportedChannelCount(channels) }
        // Overflowing width·height·channels (hostile dimensions) is reported as expected = Int.max.
        let (wh, o1) = width.multipliedReportingOverflow(by: height)
        let (expected, o2) = wh.multipliedReportingOverflow(by: channels)
        guard !o1, !o2 else { throw ImagingError.wrongPixelCount(expected: Int.max, got: count) }
        guard count == expected else { throw ImagingError.wrongPixelCount(expected: expected, got: count) }
    }

    /// Storage known to be valid (finite, `width·height·channels` values, 1 or 3 channels).
    init(validated storage: PixelStorage, width: Int, height: Int, channels: Int, pixelType: PixelType) {
        self.width = width
        self.height = height
        self.channels = channels
        self.storage = storage
        self.pixelType = pixelType
    }

    public init(uint8 values: [UInt8], width: Int, height: Int, channels: Int = 1) throws {
        try self.init(storage: PixelStorage(uint8: values), width: width, height: height, channels: channels, pixelType: .uint8)
    }
    public init(int16 values: [Int16], width: Int, height: Int, channels: Int = 1) throws {
        try self.init(storage: PixelStorage(int16: values), width: width, height: height, channels: channels, pixelType: .int16)
    }
    public init(uint16 values: [UInt16], width: Int, height: Int, channels: Int = 1) throws {
        try self.init(storage: PixelStorage(uint16: values), width: width, height: height, channels: channels, pixelType: .uint16)
    }
    public init(int32 values: [Int32], width: Int, height: Int, channels: Int = 1) throws {
        try self.init(storage: PixelStorage(int32: values), width: width, height: height, channels: channels, pixelType: .int32)
    }
    public init(float32 values: [Float], width: Int, height: Int, channels: Int = 1) throws {
        try self.init(pixels: values, width: width, height: height, channels: channels, pixelType: .float32)
    }
    public init(float64 values: [Double], width: Int, height: Int, channels: Int = 1) throws {
        if let i = values.firstIndex(where: { !$0.isFinite }) { throw ImagingError.nonFiniteValue(index: i) }
        try self.init(pixels: values.map { Float($0) }, width: width, height: height, channels: channels, pixelType: .float64)
    }

    /// Bytes of memory the pixel values hold.
    public var byteCount: Int { storage.byteCount }

    /// `np.repeat(gray[:, :, None], 3, axis=-1)`; a 3-channel image is returned unchanged.
    public func threeChannel() -> Image {
        if channels == 3 { return self }
        return Image(validated: storage.regrouped(from: 1, to: 3) { _ in 0 }, width: width, height: height, channels: 3,
                     pixelType: pixelType)
    }

    /// The pixels as UInt8, throwing if any value is outside 0…255 or not an integer-valued
    /// 8-bit image (`valuesOutOfUInt8Range`). Fractions are truncated like `astype(np.uint8)`.
    public func uint8Pixels() throws -> [UInt8] {
        if let u8 = storage.uint8Values { return u8 }
        let pixels = self.pixels
        var lo = Float.infinity, hi = -Float.infinity
        for v in pixels { lo = min(lo, v); hi = max(hi, v) }
        guard lo >= 0, hi < 256 else { throw ImagingError.valuesOutOfUInt8Range(min: Double(lo), max: Double(hi)) }
        return pixels.map { UInt8($0) }
    }
}

/// A box `[x0, y0, x1, y1]` in pixel coordinates of the original image (MedSAM's convention:
/// `x` = column, `y` = row, maximum inclusive as produced by `np.where`).
public struct Box: Sendable, Hashable, CustomStringConvertible {
    public var x0: Double, y0: Double, x1: Double, y1: Double
    public init(x0: Double, y0: Double, x1: Double, y1: Double) {
        self.x0 = x0; self.y0 = y0; self.x1 = x1; self.y1 = y1
    }
    public var description: String { "[\(x0), \(y0), \(x1), \(y1)]" }

    /// Throws unless the box is finite, not inverted, non-empty and inside `0…width`, `0…height`.
    public func validated(width: Int, height: Int) throws -> Box {
        guard [x0, y0, x1, y1].allSatisfy(\.isFinite) else { throw ImagingError.nonFiniteBox(self) }
        guard x1 >= x0, y1 >= y0 else { throw ImagingError.invertedBox(self) }
        guard x1 > x0, y1 > y0 else { throw ImagingError.emptyBox(self) }
        guard x0 >= 0, y0 >= 0, x1 <= Double(width), y1 <= Double(height) else {
            throw ImagingError.boxOutsideImage(self, width: width, height: height)
        }
        return self
    }
}

/// A point on the original image, in pixels (x = column, y = row), with its label.
public struct Point: Sendable, Hashable {
    public var x: Double
    public var y: Double
    /// `true` on the object, `false` for background.
    public var positive: Bool
    public init(x: Double, y: Double, positive: Bool = true) { self.x = x; self.y = y; self.positive = positive }

    /// Whether the point is finite and lies on a `width`×`height` image (edges included).
    public func isInside(width: Int, height: Int) -> Bool {
        x.isFinite && y.isFinite && x >= 0 && y >= 0 && x <= Double(width) && y <= Double(height)
    }
}

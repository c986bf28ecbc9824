import Foundation

/// Pixel or voxel values kept in the type they were stored in: a 16-bit CT slice holds 2 bytes per value and an
/// 8-bit photo 1 byte, not the 4 of a `Float` array. ``Image`` and ``Volume`` keep their values here; reading
/// them as `Float` (``floats()``, ``subscript(_:)``) is exact, because every stored type converts to `Float`
/// without loss for the values it holds (`Int32` only up to 2²⁴: larger values are kept as `Int32` and read as
/// the nearest `Float`, as before).
///
/// Values that arrive as `Float` (decoded by a reader, or computed) are packed into the smallest of `UInt8`,
/// `Int16`, `UInt16` that holds every one of them exactly; anything else (a fractional rescale, values out of
/// range, NaN) stays `Float`. The image's ``PixelType`` (where the values came from) is kept beside it.
public struct PixelStorage: Sendable {
    enum Values: Sendable {
        case uint8([UInt8]), int16([Int16]), uint16([UInt16]), int32([Int32]), float32([Float])
    }
    let values: Values

    init(_ values: Values) { self.values = values }

    public init(uint8 v: [UInt8]) { values = .uint8(v) }
    public init(int16 v: [Int16]) { values = .int16(v) }
    public init(uint16 v: [UInt16]) { values = .uint16(v) }
    public init(int32 v: [Int32]) { values = .int32(v) }
    public init(float32 v: [Float]) { values = .float32(v) }

    /// `values` packed into the smallest of `UInt8`, `Int16`, `UInt16` that holds every one of them exactly (CT
    /// values in Hounsfield units after an integer rescale fit `Int16`), else kept as `Float`.
    public init(packing v: [Float]) {
        var lo = Float.infinity, hi = -Float.infinity, integral = true
        for x in v {
            lo = min(lo, x); hi = max(hi, x)
            if x.rounded(.towardZero) != x { integral = false; break }
        }
        if integral && lo >= 0 && hi <= 255 { values = .uint8(v.map { UInt8($0) }) }
        else if integral && lo >= -32768 && hi <= 32767 { values = .int16(v.map { Int16($0) }) }
        else if integral && lo >= 0 && hi <= 65535 { values = .uint16(v.map { UInt16($0) }) }
        else { values = .float32(v) }
    }

    /// Number of values.
    public var count: Int {
        switch values {
        case .uint8(let a): return a.count
        case .int16(let a): return a.count
        case .uint16(let a): return a.count
        case .int32(let a): return a.count
        case .float32(let a): return a.count
        }
    }

    /// Bytes of memory the values hold (what a server counts against its memory budget).
    public var byteCount: Int {
        switch values {
        case .uint8(let a): return a.count
        case .int16(let a): return a.count * 2
        case .uint16(let a): return a.count * 2
        case .int32(let a): return a.count * 4
        case .float32(let a): return a.count * 4
        }
    }

    /// The element type the values are held in.
    public var storedType: PixelType {
        switch values {
        case .uint8: return .uint8
        case .int16: return .int16
        case .uint16: return .uint16
        case .int32: return .int32
        case .float32: return .float32
        }
    }

    /// Value `i` as `Float`.
    public subscript(i: Int) -> Float {
        switch values {
        case .uint8(let a): return Float(a[i])
        case .int16(let a): return Float(a[i])
        case .uint16(let a): return Float(a[i])
        case .int32(let a): return Float(a[i])
        case .float32(let a): return a[i]
        }
    }

    /// All values as `Float` (a new array: bind it once rather than calling this per element).
    public func floats() -> [Float] { floats(0..<count) }

    /// Values `range` as `Float`.
    public func floats(_ range: Range<Int>) -> [Float] {
        switch values {
        case .uint8(let a): return a[range].map(Float.init)
        case .int16(let a): return a[range].map(Float.init)
        case .uint16(let a): return a[range].map(Float.init)
        case .int32(let a): return a[range].map(Float.init)
        case .float32(let a): return Array(a[range])
        }
    }

    /// Values `range`, in the same stored type.
    public func slice(_ range: Range<Int>) -> PixelStorage {
        switch values {
        case .uint8(let a): return PixelStorage(.uint8(Array(a[range])))
        case .int16(let a): return PixelStorage(.int16(Array(a[range])))
        case .uint16(let a): return PixelStorage(.uint16(Array(a[range])))
        case .int32(let a): return PixelStorage(.int32(Array(a[range])))
        case .float32(let a): return PixelStorage(.float32(Array(a[range])))
        }
    }

    /// The values with each group of `from` consecutive values mapped to `to` values by `pick`
    /// (channel changes: RGBA → RGB drops alpha, gray → RGB repeats), in the same stored type.
    func regrouped(from: Int, to: Int, _ pick: (Int) -> Int) -> PixelStorage {
        gathered(count: count / from * to) { o in (o / to) * from + pick(o % to) }
    }

    /// The values reordered, in the same stored type: value `i` of the result is value `source(i)` of this one.
    package func permuted(_ source: (Int) -> Int) -> PixelStorage { gathered(count: count, source) }

    /// `count` values, value `i` being value `source(i)` of this storage, in the same stored type.
    private func gathered(count n: Int, _ source: (Int) -> Int) -> PixelStorage {
        func map<T>(_ a: [T]) -> [T] { (0..<n).map { a[source($0)] } }
        switch values {
        case .uint8(let a): return PixelStorage(.uint8(map(a)))
        case .int16(let a): return PixelStorage(.int16(map(a)))
        case .uint16(let a): return PixelStorage(.uint16(map(a)))
        case .int32(let a): return PixelStorage(.int32(map(a)))
        case .float32(let a): return PixelStorage(.float32(map(a)))
        }
    }

    /// The values as `UInt8` when they are held as `UInt8` (no copy of the meaning, one of the array).
    var uint8Values: [UInt8]? {
        if case .uint8(let a) = values { return a }
        return nil
    }

    /// The index of the first non-finite value (only `Float` storage can hold one).
    var firstNonFinite: Int? {
        if case .float32(let a) = values { return a.firstIndex { !$0.isFinite } }
        return nil
    }
}

import Foundation

/// Element types a checkpoint may store. Every one is converted to Float32 on load.
///
/// The raw values are the safetensors dtype names.
public enum CheckpointDType: String, Sendable, CaseIterable, CustomStringConvertible {
    case float32 = "F32"
    case float16 = "F16"
    case bfloat16 = "BF16"
    case float64 = "F64"
    case int64 = "I64"
    case int32 = "I32"
    case int16 = "I16"
    case int8 = "I8"
    case uint8 = "U8"
    case bool = "BOOL"

    /// Bytes per element.
    public var itemSize: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    public var description: String { rawValue }

    /// The PyTorch legacy storage class name (`torch.FloatStorage`, …) for this dtype.
    public var torchStorageName: String {
        switch self {
        case .float32: return "FloatStorage"
        case .float16: return "HalfStorage"
        case .bfloat16: return "BFloat16Storage"
        case .float64: return "DoubleStorage"
        case .int64: return "LongStorage"
        case .int32: return "IntStorage"
        case .int16: return "ShortStorage"
        case .int8: return "CharStorage"
        case .uint8: return "ByteStorage"
        case .bool: return "BoolStorage"
        }
    }

    /// The dtype of a PyTorch legacy storage class name, e.g. `"HalfStorage"`.
    public init?(torchStorageName name: String) {
        guard let t = CheckpointDType.allCases.first(where: { $0.torchStorageName == name }) else { return nil }
        self = t
    }

    /// The dtype of a PyTorch dtype attribute name, e.g. `"float16"` or `"half"`.
    init?(torchDTypeName name: String) {
        switch name {
        case "float32", "float": self = .float32
        case "float16", "half": self = .float16
        case "bfloat16": self = .bfloat16
        case "float64", "double": self = .float64
        case "int64", "long": self = .int64
        case "int32", "int": self = .int32
        case "int16", "short": self = .int16
        case "int8": self = .int8
        case "uint8": self = .uint8
        case "bool": self = .bool
        default: return nil
        }
    }

    /// Converts `count` little-endian elements at `source` (any alignment) to Float32.
    func convert(_ source: UnsafeRawPointer, count: Int, to dest: UnsafeMutablePointer<Float>) {
        switch self {
        case .float32:
            // Little-endian hosts only (all Swift platforms this package targets).
            memcpy(dest, source, count * 4)
        case .float16:
            for i in 0..<count { dest[i] = halfBitsToFloat(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .bfloat16:
            for i in 0..<count {
                dest[i] = Float(bitPattern: UInt32(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
            }
        case .float64:
            for i in 0..<count { dest[i] = Float(source.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
        case .int64:
            for i in 0..<count { dest[i] = Float(source.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
        case .int32:
            for i in 0..<count { dest[i] = Float(source.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
        case .int16:
            for i in 0..<count { dest[i] = Float(source.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)) }
        case .int8:
            for i in 0..<count { dest[i] = Float(source.load(fromByteOffset: i, as: Int8.self)) }
        case .uint8:
            for i in 0..<count { dest[i] = Float(source.load(fromByteOffset: i, as: UInt8.self)) }
        case .bool:
            for i in 0..<count { dest[i] = source.load(fromByteOffset: i, as: UInt8.self) != 0 ? 1 : 0 }
        }
    }

    /// One element at element index `index` as Float32.
    @inline(__always)
    func element(_ source: UnsafeRawPointer, at index: Int) -> Float {
        switch self {
        case .float32: return source.loadUnaligned(fromByteOffset: 4 * index, as: Float.self)
        case .float16: return halfBitsToFloat(source.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self))
        case .bfloat16:
            return Float(bitPattern: UInt32(source.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self)) << 16)
        case .float64: return Float(source.loadUnaligned(fromByteOffset: 8 * index, as: Double.self))
        case .int64: return Float(source.loadUnaligned(fromByteOffset: 8 * index, as: Int64.self))
        case .int32: return Float(source.loadUnaligned(fromByteOffset: 4 * index, as: Int32.self))
        case .int16: return Float(source.loadUnaligned(fromByteOffset: 2 * index, as: Int16.self))
        case .int8: return Float(source.load(fromByteOffset: index, as: Int8.self))
        case .uint8: return Float(source.load(fromByteOffset: index, as: UInt8.self))
        case .bool: return source.load(fromByteOffset: index, as: UInt8.self) != 0 ? 1 : 0
        }
    }
}

/// IEEE 754 binary16 bits to Float32 (exact; handles subnormals, infinities and NaN).
@inline(__always)
public func halfBitsToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exp = UInt32(h >> 10) & 0x1F
    let mant = UInt32(h & 0x03FF)
    if exp == 0x1F {  // inf / nan
        return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13))
    }
    if exp == 0 {
        if mant == 0 { return Float(bitPattern: sign) }
        // subnormal: mant * 2^-24
        let v = Float(mant) * 0x1p-24
        return sign != 0 ? -v : v
    }
    return Float(bitPattern: sign | ((exp + 112) << 23) | (mant << 13))
}

/// Float32 to IEEE 754 binary16 bits, rounding to nearest even (overflow → ±inf, NaN kept quiet).
@inline(__always)
public func floatToHalfBits(_ f: Float) -> UInt16 {
    let x = f.bitPattern
    let sign = UInt16((x >> 16) & 0x8000)
    let exp = Int((x >> 23) & 0xFF)
    let mant = x & 0x7F_FFFF
    if exp == 0xFF {
        return sign | 0x7C00 | (mant != 0 ? 0x200 | UInt16(truncatingIfNeeded: mant >> 13) : 0)
    }
    let e = exp - 127 + 15
    if e >= 0x1F { return sign | 0x7C00 }
    if e <= 0 {
        // Subnormal half (or zero): value = m * 2^-24 with m = round(|f| * 2^24).
        if e < -10 { return sign }  // |f| < 2^-25: rounds to zero
        let full = mant | 0x80_0000  // 24-bit significand
        let shift = UInt32(14 - e)  // 14..24
        var m = full >> shift
        let rem = full & ((1 << shift) - 1)
        let half = UInt32(1) << (shift - 1)
        if rem > half || (rem == half && (m & 1) == 1) { m += 1 }
        return sign | UInt16(m)
    }
    var h = UInt32(e) << 10 | (mant >> 13)
    let rem = mant & 0x1FFF
    if rem > 0x1000 || (rem == 0x1000 && (h & 1) == 1) { h += 1 }  // may carry into exponent: correct
    return sign | UInt16(h)
}

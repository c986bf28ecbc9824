import Foundation
import Imaging

/// Bounds-checked reads from a byte buffer (offsets are 0-based from the buffer's start).
struct ByteReader {
    let bytes: [UInt8]
    let file: String
    var bigEndian = false

    init(_ data: Data, file: String) { bytes = [UInt8](data); self.file = file }
    init(bytes: [UInt8], file: String) { self.bytes = bytes; self.file = file }

    var count: Int { bytes.count }

    func need(_ offset: Int, _ n: Int, _ what: @autoclosure () -> String) throws {
        guard offset >= 0, n >= 0, offset <= bytes.count, n <= bytes.count - offset else {
            throw MedicalIOError.truncated(file: file, message: "\(what()) needs bytes \(offset)..<\(offset &+ n), file has \(bytes.count)")
        }
    }
    func u8(_ o: Int) throws -> UInt8 { try need(o, 1, "byte"); return bytes[o] }
    func u16(_ o: Int) throws -> UInt16 {
        try need(o, 2, "UInt16")
        let a = UInt16(bytes[o]), b = UInt16(bytes[o + 1])
        return bigEndian ? (a << 8 | b) : (b << 8 | a)
    }
    func u32(_ o: Int) throws -> UInt32 {
        try need(o, 4, "UInt32")
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[o + (bigEndian ? 3 - i : i)]) << (8 * UInt32(i)) }
        return v
    }
    func u64(_ o: Int) throws -> UInt64 {
        try need(o, 8, "UInt64")
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[o + (bigEndian ? 7 - i : i)]) << (8 * UInt64(i)) }
        return v
    }
    func i16(_ o: Int) throws -> Int16 { Int16(bitPattern: try u16(o)) }
    func i32(_ o: Int) throws -> Int32 { Int32(bitPattern: try u32(o)) }
    func f32(_ o: Int) throws -> Float { Float(bitPattern: try u32(o)) }
    func f64(_ o: Int) throws -> Double { Double(bitPattern: try u64(o)) }
    func slice(_ o: Int, _ n: Int) throws -> ArraySlice<UInt8> { try need(o, n, "block"); return bytes[o..<(o + n)] }
    func string(_ o: Int, _ n: Int) throws -> String {
        let s = try slice(o, n)
        let trimmed = s.prefix { $0 != 0 }
        return String(decoding: trimmed, as: UTF8.self)
    }
}

/// Little-endian appends for writers.
extension Array where Element == UInt8 {
    mutating func appendLE<T: FixedWidthInteger>(_ v: T) {
        Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) }
    }
}

/// IEEE half → single, without relying on `Float16` (unavailable on some Apple x86_64 targets).
@inline(__always) func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h >> 15) << 31
    let exp = Int((h >> 10) & 0x1F)
    let man = UInt32(h & 0x3FF)
    if exp == 0 {
        if man == 0 { return Float(bitPattern: sign) }
        let v = Float(man) * Float(sign: .plus, exponent: -24, significand: 1)
        return sign != 0 ? -v : v
    }
    if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (man << 13)) }
    return Float(bitPattern: sign | (UInt32(exp + 112) << 23) | (man << 13))
}

/// Single → IEEE half, round to nearest even.
@inline(__always) func floatToHalf(_ f: Float) -> UInt16 {
    let x = f.bitPattern
    let sign = UInt16((x >> 16) & 0x8000)
    if f.isNaN { return sign | 0x7E00 }
    let a = Swift.abs(f)
    if a >= 65520 { return sign | 0x7C00 }
    if a < Float(sign: .plus, exponent: -25, significand: 1) { return sign }
    if a < Float(sign: .plus, exponent: -14, significand: 1) {
        let m = (a / Float(sign: .plus, exponent: -24, significand: 1)).rounded(.toNearestOrEven)
        return sign | UInt16(m)
    }
    let e = a.exponent
    let m = (a.significand - 1) * 1024
    var mr = m.rounded(.toNearestOrEven)
    var ee = Int(e) + 15
    if mr >= 1024 { mr = 0; ee += 1 }
    if ee >= 31 { return sign | 0x7C00 }
    return sign | UInt16(ee) << 10 | UInt16(mr)
}

import Foundation
import Imaging

/// A NumPy array read from or written to `.npy` (format versions 1.0, 2.0 and 3.0).
///
/// Values are kept as raw little-endian bytes in C (row-major) order whatever the file had:
/// big-endian data is byte-swapped and Fortran-ordered data transposed on reading.
/// Object arrays (`dtype=object`, pickled) are refused with ``MedicalIOError/objectArray(file:)``.
///
/// ```swift
/// let a = try NPYArray.read(URL(fileURLWithPath: "ct.npy"))   // shape [512, 512], dtype .int16
/// let hu: [Float] = try a.floats()
/// try NPYArray(shape: [2, 3], float32: [1, 2, 3, 4, 5, 6]).write(to: out)
/// ```
public struct NPYArray: Sendable, Equatable {
    /// NumPy's fixed-size numeric dtypes (`'<f4'` → ``float32`` …).
    public enum DType: String, Sendable, CaseIterable {
        case uint8 = "u1", int8 = "i1", uint16 = "u2", int16 = "i2", uint32 = "u4", int32 = "i4"
        case uint64 = "u8", int64 = "i8", float16 = "f2", float32 = "f4", float64 = "f8", bool = "b1"

        public var itemSize: Int { Int(rawValue.dropFirst()) ?? 1 }  // the digit of a case name above
        public var isInteger: Bool { rawValue.hasPrefix("u") || rawValue.hasPrefix("i") }
        public var isFloat: Bool { rawValue.hasPrefix("f") }
        /// The `descr` NumPy writes for little-endian data (`'|u1'`, `'<f4'`).
        public var descr: String { itemSize == 1 ? "|" + rawValue : "<" + rawValue }
    }

    public let shape: [Int]
    public let dtype: DType
    /// `count · dtype.itemSize` bytes, little-endian, C order.
    public let rawBytes: [UInt8]

    public var count: Int { shape.reduce(1, *) }

    /// Wraps little-endian C-order bytes; throws if the byte count does not match the shape.
    public init(shape: [Int], dtype: DType, rawBytes: [UInt8]) throws {
        let n = try MedicalIOLimits.default.checkedCount(shape, itemSize: dtype.itemSize, file: "<memory>")
        guard rawBytes.count == n * dtype.itemSize else {
            throw MedicalIOError.invalidArgument("NPYArray: shape \(shape) of \(dtype) needs \(n * dtype.itemSize) bytes, got \(rawBytes.count)")
        }
        self.shape = shape; self.dtype = dtype; self.rawBytes = rawBytes
    }

    private static func make<T: FixedWidthInteger>(_ shape: [Int], _ dtype: DType, _ v: [T]) throws -> NPYArray {
        var b = [UInt8](); b.reserveCapacity(v.count * MemoryLayout<T>.size)
        for x in v { b.appendLE(x) }
        return try NPYArray(shape: shape, dtype: dtype, rawBytes: b)
    }
    public init(shape: [Int], uint8 v: [UInt8]) throws { self = try Self.make(shape, .uint8, v) }
    public init(shape: [Int], int8 v: [Int8]) throws { self = try Self.make(shape, .int8, v) }
    public init(shape: [Int], uint16 v: [UInt16]) throws { self = try Self.make(shape, .uint16, v) }
    public init(shape: [Int], int16 v: [Int16]) throws { self = try Self.make(shape, .int16, v) }
    public init(shape: [Int], uint32 v: [UInt32]) throws { self = try Self.make(shape, .uint32, v) }
    public init(shape: [Int], int32 v: [Int32]) throws { self = try Self.make(shape, .int32, v) }
    public init(shape: [Int], uint64 v: [UInt64]) throws { self = try Self.make(shape, .uint64, v) }
    public init(shape: [Int], int64 v: [Int64]) throws { self = try Self.make(shape, .int64, v) }
    public init(shape: [Int], bool v: [Bool]) throws { self = try Self.make(shape, .bool, v.map { $0 ? UInt8(1) : 0 }) }
    public init(shape: [Int], float16 v: [Float]) throws { self = try Self.make(shape, .float16, v.map(floatToHalf)) }
    public init(shape: [Int], float32 v: [Float]) throws { self = try Self.make(shape, .float32, v.map(\.bitPattern)) }
    public init(shape: [Int], float64 v: [Double]) throws { self = try Self.make(shape, .float64, v.map(\.bitPattern)) }

    // MARK: values

    @inline(__always) private func le<T: FixedWidthInteger>(_ i: Int, _: T.Type) -> T {
        var v: T = 0
        let s = MemoryLayout<T>.size
        for k in 0..<s { v |= T(truncatingIfNeeded: rawBytes[i * s + k]) << (8 * k) }
        return v
    }

    /// Element `i` (flat C-order index) as Double (exact for every dtype but 64-bit integers beyond 2⁵³).
    public func double(at i: Int) -> Double {
        switch dtype {
        case .uint8, .bool: return Double(rawBytes[i])
        case .int8: return Double(Int8(bitPattern: rawBytes[i]))
        case .uint16: return Double(le(i, UInt16.self))
        case .int16: return Double(le(i, Int16.self))
        case .uint32: return Double(le(i, UInt32.self))
        case .int32: return Double(le(i, Int32.self))
        case .uint64: return Double(le(i, UInt64.self))
        case .int64: return Double(le(i, Int64.self))
        case .float16: return Double(halfToFloat(le(i, UInt16.self)))
        case .float32: return Double(Float(bitPattern: le(i, UInt32.self)))
        case .float64: return Double(bitPattern: le(i, UInt64.self))
        }
    }

    /// All values as Double.
    public func doubles() -> [Double] { (0..<count).map(double(at:)) }
    /// All values as Float (rounded like `astype(np.float32)`).
    public func floats() -> [Float] {
        switch dtype {
        case .float32: return (0..<count).map { Float(bitPattern: le($0, UInt32.self)) }
        case .float16: return (0..<count).map { halfToFloat(le($0, UInt16.self)) }
        default: return (0..<count).map { Float(double(at: $0)) }
        }
    }
    /// All values as Int; throws for floating-point data with a non-integer or non-finite value, or
    /// `uint64` values above `Int.max`.
    public func ints() throws -> [Int] {
        var out = [Int](); out.reserveCapacity(count)
        for i in 0..<count {
            switch dtype {
            case .int64: out.append(Int(le(i, Int64.self)))
            case .uint64:
                let v = le(i, UInt64.self)
                guard v <= UInt64(Int.max) else { throw MedicalIOError.invalidArgument("uint64 value \(v) at \(i) exceeds Int.max") }
                out.append(Int(v))
            default:
                let d = double(at: i)
                guard d.isFinite, d.rounded() == d, Swift.abs(d) < 9.2e18 else {
                    throw MedicalIOError.invalidArgument("value \(d) at index \(i) is not an integer")
                }
                out.append(Int(d))
            }
        }
        return out
    }
    /// All values as UInt8; throws unless every value is an integer in 0…255.
    public func uint8s() throws -> [UInt8] {
        if dtype == .uint8 || dtype == .bool { return rawBytes }
        return try ints().enumerated().map { i, v in
            guard (0...255).contains(v) else { throw MedicalIOError.invalidArgument("value \(v) at index \(i) is outside 0…255") }
            return UInt8(v)
        }
    }

    // MARK: reading

    /// Reads a `.npy` file.
    public static func read(_ url: URL, limits: MedicalIOLimits = .default) throws -> NPYArray {
        try parse(readFile(url), file: fileLabel(url), limits: limits)
    }

    /// Parses `.npy` bytes; `file` names the source in errors.
    public static func parse(_ data: Data, file: String = "<memory>", limits: MedicalIOLimits = .default) throws -> NPYArray {
        try parse(bytes: [UInt8](data), file: file, limits: limits)
    }

    static func parse(bytes: [UInt8], file: String, limits: MedicalIOLimits) throws -> NPYArray {
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        guard bytes.count >= 6, Array(bytes[0..<6]) == magic else { throw MedicalIOError.badMagic(file: file, expected: "NumPy .npy") }
        let r = ByteReader(bytes: bytes, file: file)
        let major = try r.u8(6)
        let headerLen: Int, start: Int
        switch major {
        case 1: headerLen = Int(try r.u16(8)); start = 10
        case 2, 3: headerLen = Int(try r.u32(8)); start = 12
        default: throw MedicalIOError.unsupported(file: file, message: ".npy format version \(major)")
        }
        guard headerLen <= 1 << 20 else { throw MedicalIOError.tooLarge(file: file, message: "header of \(headerLen) bytes") }
        let header = try r.slice(start, headerLen)
        let text = major == 3 ? String(decoding: header, as: UTF8.self) : String(header.map { Character(Unicode.Scalar($0)) })
        let dict = try PyLiteral.parseDict(text, file: file)
        guard case let .string(descr)? = dict["descr"] else {
            if case .list? = dict["descr"] {
                throw MedicalIOError.unsupported(file: file, message: "structured dtypes")
            }
            throw MedicalIOError.invalidHeader(file: file, message: "no 'descr' string in \(text)")
        }
        guard case let .bool(fortran)? = dict["fortran_order"] else {
            throw MedicalIOError.invalidHeader(file: file, message: "no 'fortran_order' in \(text)")
        }
        guard case let .tuple(shape)? = dict["shape"] else { throw MedicalIOError.invalidHeader(file: file, message: "no 'shape' tuple") }
        guard shape.count <= 32 else { throw MedicalIOError.invalidHeader(file: file, message: "\(shape.count) dimensions") }
        var order = descr.first ?? "?"
        var code = String(descr.dropFirst())
        if !"<>|=".contains(order) { order = "|"; code = descr }
        if code.hasPrefix("O") { throw MedicalIOError.objectArray(file: file) }
        guard let dtype = DType(rawValue: code) else {
            throw MedicalIOError.unsupported(file: file, message: "dtype '\(descr)'")
        }
        let n = try limits.checkedCount(shape, itemSize: dtype.itemSize, file: file)
        let nbytes = n * dtype.itemSize
        let dataStart = start + headerLen
        try r.need(dataStart, nbytes, "array data of shape \(shape), dtype \(descr)")
        var raw = Array(bytes[dataStart..<(dataStart + nbytes)])
        let size = dtype.itemSize
        if order == ">" && size > 1 {
            raw.withUnsafeMutableBufferPointer { b in
                var i = 0
                while i < b.count { b[i..<(i + size)].reverse(); i += size }
            }
        }
        if fortran && shape.count > 1 && n > 0 { raw = fortranToC(raw, shape: shape, itemSize: size) }
        return try NPYArray(shape: shape, dtype: dtype, rawBytes: raw)
    }

    /// Fortran (column-major) bytes → C order.
    static func fortranToC(_ src: [UInt8], shape: [Int], itemSize: Int) -> [UInt8] {
        let rank = shape.count
        var fStride = [Int](repeating: 1, count: rank)
        for d in 1..<rank { fStride[d] = fStride[d - 1] * shape[d - 1] }
        var out = [UInt8](repeating: 0, count: src.count)
        var idx = [Int](repeating: 0, count: rank)
        let n = src.count / itemSize
        for c in 0..<n {
            var f = 0
            for d in 0..<rank { f += idx[d] * fStride[d] }
            for k in 0..<itemSize { out[c * itemSize + k] = src[f * itemSize + k] }
            var d = rank - 1
            while d >= 0 { idx[d] += 1; if idx[d] < shape[d] { break }; idx[d] = 0; d -= 1 }
        }
        return out
    }

    // MARK: writing

    /// The `.npy` bytes (format 1.0, or 2.0 if the header needs more than 65 535 bytes), C order,
    /// little-endian, header padded to a multiple of 64 bytes like NumPy.
    public func npyData() -> Data {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var dict = "{'descr': '\(dtype.descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        var pre = 10
        if dict.utf8.count + 11 > 65535 { pre = 12 }
        let pad = (64 - (pre + dict.utf8.count + 1) % 64) % 64
        dict += String(repeating: " ", count: pad) + "\n"
        var out = [UInt8]([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, pre == 10 ? 1 : 2, 0])
        if pre == 10 { out.appendLE(UInt16(dict.utf8.count)) } else { out.appendLE(UInt32(dict.utf8.count)) }
        out.append(contentsOf: Array(dict.utf8))
        out.append(contentsOf: rawBytes)
        return Data(out)
    }

    /// Writes a `.npy` file.
    public func write(to url: URL) throws { try writeFile(npyData(), to: url) }
}

/// Just enough of Python's literal syntax for `.npy` headers: a dict of str → str / bool / int tuple / list.
enum PyLiteral: Equatable {
    case string(String), bool(Bool), tuple([Int]), list, none

    static func parseDict(_ text: String, file: String) throws -> [String: PyLiteral] {
        var s = Substring(text)
        func fail(_ m: String) -> MedicalIOError { .invalidHeader(file: file, message: "\(m) in header \(text.prefix(200))") }
        func skipWS() { while let c = s.first, c == " " || c == "\n" || c == "\t" || c == "\r" { s.removeFirst() } }
        func eat(_ c: Character) -> Bool { skipWS(); if s.first == c { s.removeFirst(); return true }; return false }
        func str() throws -> String {
            skipWS()
            guard let q = s.first, q == "'" || q == "\"" else { throw fail("expected a string") }
            s.removeFirst()
            guard let end = s.firstIndex(of: q) else { throw fail("unterminated string") }
            let v = String(s[..<end]); s = s[s.index(after: end)...]; return v
        }
        func value() throws -> PyLiteral {
            skipWS()
            if s.hasPrefix("True") { s.removeFirst(4); return .bool(true) }
            if s.hasPrefix("False") { s.removeFirst(5); return .bool(false) }
            if s.hasPrefix("None") { s.removeFirst(4); return .none }
            if s.first == "'" || s.first == "\"" { return .string(try str()) }
            if s.first == "[" {  // structured dtype: skip balanced brackets
                var depth = 0
                while let c = s.first {
                    s.removeFirst()
                    if c == "[" || c == "(" { depth += 1 } else if c == "]" || c == ")" { depth -= 1; if depth == 0 { return .list } }
                }
                throw fail("unterminated list")
            }
            if eat("(") {
                var items = [Int]()
                while true {
                    if eat(")") { return .tuple(items) }
                    skipWS()
                    var digits = ""
                    if s.first == "-" { digits.append("-"); s.removeFirst() }
                    while let c = s.first, c.isASCII, c.isNumber { digits.append(c); s.removeFirst() }
                    if s.first == "L" { s.removeFirst() }
                    guard digits.count <= 19, let v = Int(digits) else { throw fail("bad shape entry '\(digits)'") }
                    items.append(v)
                    if eat(")") { return .tuple(items) }
                    guard eat(",") else { throw fail("expected ',' in shape") }
                }
            }
            throw fail("unexpected value")
        }
        guard eat("{") else { throw fail("expected '{'") }
        var out = [String: PyLiteral]()
        while true {
            if eat("}") { return out }
            let k = try str()
            guard eat(":") else { throw fail("expected ':'") }
            out[k] = try value()
            if eat("}") { return out }
            guard eat(",") else { throw fail("expected ','") }
        }
    }
}

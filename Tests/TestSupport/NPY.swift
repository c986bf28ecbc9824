import Foundation

/// A tiny `.npy` reader for test fixtures (format 1.0–3.0, little-endian, C order).
/// Supported dtypes: `|u1`, `|b1`, `<i2`, `<u2`, `<i4`, `<u4`, `<i8`, `<f4`, `<f8`.
public struct NPYArray: Sendable {
    public let shape: [Int]
    public let dtype: String
    let data: Data

    public var count: Int { shape.reduce(1, *) }

    public init(contentsOf url: URL) throws {
        let d = try Data(contentsOf: url)
        guard d.count >= 10, d.prefix(6) == Data([0x93]) + "NUMPY".data(using: .ascii)! else {
            throw NPYError.badFile(url.lastPathComponent)
        }
        let major = d[d.startIndex + 6]
        let headerLen: Int, start: Int
        if major == 1 {
            headerLen = Int(d[d.startIndex + 8]) | Int(d[d.startIndex + 9]) << 8
            start = 10
        } else {
            headerLen = (0..<4).reduce(0) { $0 | Int(d[d.startIndex + 8 + $1]) << (8 * $1) }
            start = 12
        }
        let header = String(decoding: d[(d.startIndex + start)..<(d.startIndex + start + headerLen)], as: UTF8.self)
        func field(_ key: String) -> String? {
            guard let r = header.range(of: "'\(key)':") else { return nil }
            return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let descr = field("descr"), let q1 = descr.firstIndex(of: "'") else { throw NPYError.badFile("descr") }
        let rest = descr[descr.index(after: q1)...]
        dtype = String(rest[..<rest.firstIndex(of: "'")!])
        if let fo = field("fortran_order"), fo.hasPrefix("True") { throw NPYError.badFile("fortran order") }
        guard let sh = field("shape"), let open = sh.firstIndex(of: "("), let close = sh.firstIndex(of: ")") else {
            throw NPYError.badFile("shape")
        }
        shape = sh[sh.index(after: open)..<close].split(separator: ",")
            .compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        data = d.subdata(in: (d.startIndex + start + headerLen)..<d.endIndex)
    }

    public init(_ relativeFixture: String) throws {
        try self.init(contentsOf: fixtureURL(relativeFixture))
    }

    func load<T>(_: T.Type) -> [T] {
        data.withUnsafeBytes { raw in
            (0..<count).map { raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self) }
        }
    }

    /// All elements converted to Double.
    public var doubles: [Double] {
        switch dtype {
        case "|u1", "|b1": return load(UInt8.self).map(Double.init)
        case "<i2": return load(Int16.self).map(Double.init)
        case "<u2": return load(UInt16.self).map(Double.init)
        case "<i4": return load(Int32.self).map(Double.init)
        case "<u4": return load(UInt32.self).map(Double.init)
        case "<i8": return load(Int64.self).map(Double.init)
        case "<f4": return load(Float.self).map(Double.init)
        case "<f8": return load(Double.self)
        default: fatalError("unsupported npy dtype \(dtype)")
        }
    }
    public var floats: [Float] { dtype == "<f4" ? load(Float.self) : doubles.map { Float($0) } }
    public var uint8s: [UInt8] { dtype == "|u1" ? load(UInt8.self) : doubles.map { UInt8($0) } }
    public var int16s: [Int16] { load(Int16.self) }
    public var uint16s: [UInt16] { dtype == "<u2" ? load(UInt16.self) : doubles.map { UInt16($0) } }
    public var int32s: [Int32] { dtype == "<i4" ? load(Int32.self) : doubles.map { Int32($0) } }
}

public enum NPYError: Error, CustomStringConvertible {
    case badFile(String)
    public var description: String {
        switch self { case .badFile(let s): return "malformed .npy (\(s))" }
    }
}

/// `Fixtures/preprocess/manifest.json` as a JSON object.
public func preprocessManifest() throws -> [String: Any] {
    let d = try Data(contentsOf: fixtureURL("preprocess/manifest.json"))
    return try JSONSerialization.jsonObject(with: d) as! [String: Any]
}

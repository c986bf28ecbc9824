import Foundation

/// Checked conversions of DICOM header values (IS / DS strings, multi-values separated by `\`).
///
/// Every number a DICOM header holds goes through here before it is used: a string that is not a
/// number, not finite (`nan`, `inf`, `1e400`), outside the range the attribute allows (`1e20` frames,
/// `-1` rows) or a multi-value with empty parts (`\`) is a typed ``MedicalIOError``, never a trap.
enum DICOMValues {
    /// The `\`-separated components of a string value, trimmed of spaces and NULs; empty components kept
    /// (so `\` is two empty values, not none).
    static func components(_ s: String) -> [String] {
        s.split(separator: "\\", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " \0")) }
    }

    /// A decimal string (DS) → finite Double. Accepts what `pydicom`'s DS accepts for numbers: optional sign,
    /// digits, optional fraction, optional exponent; rejects `nan`, `inf`, hex, empty, trailing garbage.
    static func decimal(_ s: String) -> Double? {
        guard !s.isEmpty, s.utf8.count <= 64,
              s.utf8.allSatisfy({ (0x30...0x39).contains($0) || $0 == 0x2B || $0 == 0x2D || $0 == 0x2E || $0 == 0x45 || $0 == 0x65 }),
              let v = Double(s), v.isFinite else { return nil }
        return v
    }

    /// An integer string (IS) → Int in the 32-bit signed range DICOM allows. `"12"`, `"+12"`, `"-3"`; an
    /// integral decimal such as `"12.0"` is accepted as pydicom does; `"1A"`, `"1.5"`, `"nan"`, `"1e30"` are not.
    static func integer(_ s: String) -> Int? {
        if let v = Int32(s) { return Int(v) }
        guard let d = decimal(s), d.rounded() == d, d >= Double(Int32.min), d <= Double(Int32.max) else { return nil }
        return Int(d)
    }
}

/// Typed accessors over one parsed dataset: each throws ``MedicalIOError/invalidHeader(file:message:)``
/// naming the attribute and the bad value.
struct DICOMAttributes {
    let ds: [UInt32: DICOMParser.Element]
    let parser: DICOMParser
    var file: String { parser.r.file }

    static func tagName(_ tag: UInt32) -> String {
        let g = String(tag >> 16, radix: 16, uppercase: true), e = String(tag & 0xFFFF, radix: 16, uppercase: true)
        return "(\(String(repeating: "0", count: 4 - g.count))\(g),\(String(repeating: "0", count: 4 - e.count))\(e))"
    }

    func bad(_ name: String, _ tag: UInt32, _ value: String, _ why: String) -> MedicalIOError {
        let shown = value.count > 40 ? String(value.prefix(40)) + "…" : value
        return .invalidHeader(file: file, message: "\(name) \(Self.tagName(tag)) = '\(shown)': \(why)")
    }

    func has(_ tag: UInt32) -> Bool { ds[tag] != nil }

    /// Raw string (nil when absent or empty).
    func string(_ tag: UInt32) throws -> String? {
        guard let e = ds[tag] else { return nil }
        let s = try parser.string(e)
        return s.isEmpty ? nil : s
    }

    /// An unsigned short (US). Absent or zero-length → nil.
    func us(_ tag: UInt32, index: Int = 0) throws -> Int? {
        guard let e = ds[tag], e.length >= 2 * (index + 1) else { return nil }
        return Int(try parser.r.u16(e.offset + 2 * index))
    }

    /// An unsigned short (or signed short, `SS`, by VR) list of `count` values.
    func shorts(_ tag: UInt32, count: Int) throws -> [Int]? {
        guard let e = ds[tag], e.length >= 2 * count else { return nil }
        return try (0..<count).map { i in
            let u = try parser.r.u16(e.offset + 2 * i)
            return e.vr == "SS" ? Int(Int16(bitPattern: u)) : Int(u)
        }
    }

    /// An IS value with VM 1, checked to lie in `range`.
    func integer(_ tag: UInt32, _ name: String, range: ClosedRange<Int>) throws -> Int? {
        guard let s = try string(tag) else { return nil }
        let parts = DICOMValues.components(s)
        guard parts.count == 1 else { throw bad(name, tag, s, "\(parts.count) values, expected 1") }
        guard let v = DICOMValues.integer(parts[0]) else { throw bad(name, tag, s, "not an integer") }
        guard range.contains(v) else { throw bad(name, tag, s, "outside \(range.lowerBound)…\(range.upperBound)") }
        return v
    }

    /// DS values: exactly `count` (or at least 1 when `count` is nil) finite numbers, each with |v| ≤ `maxMagnitude`
    /// (and > 0 when `positive`).
    func decimals(_ tag: UInt32, _ name: String, count: Int?, maxMagnitude: Double = 1e9, positive: Bool = false) throws -> [Double]? {
        guard let s = try string(tag) else { return nil }
        let parts = DICOMValues.components(s)
        if let c = count, parts.count != c { throw bad(name, tag, s, "\(parts.count) values, expected \(c)") }
        var out = [Double]()
        for p in parts {
            guard let v = DICOMValues.decimal(p) else { throw bad(name, tag, s, p.isEmpty ? "empty value" : "'\(p)' is not a finite number") }
            guard Swift.abs(v) <= maxMagnitude else { throw bad(name, tag, s, "\(p) exceeds ±\(maxMagnitude)") }
            if positive && !(v > 0) { throw bad(name, tag, s, "\(p) is not positive") }
            out.append(v)
        }
        return out
    }

    /// Like ``decimals(_:_:count:maxMagnitude:positive:)`` but a malformed value gives nil and a warning
    /// (for descriptive attributes: spacing, position, window, instance number).
    func optionalDecimals(_ tag: UInt32, _ name: String, count: Int?, maxMagnitude: Double = 1e9, positive: Bool = false,
                          warnings: inout [String]) -> [Double]? {
        do { return try decimals(tag, name, count: count, maxMagnitude: maxMagnitude, positive: positive) } catch {
            warnings.append("\(error) (ignored)")
            return nil
        }
    }

    func optionalInteger(_ tag: UInt32, _ name: String, range: ClosedRange<Int>, warnings: inout [String]) -> Int? {
        do { return try integer(tag, name, range: range) } catch {
            warnings.append("\(error) (ignored)")
            return nil
        }
    }
}

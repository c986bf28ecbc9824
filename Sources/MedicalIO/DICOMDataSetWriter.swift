import Foundation

/// One element of a DICOM data set to be written: tag, VR and either value bytes or sequence items.
///
/// Text values are padded to even length as Part 5 says (UI with NUL, other text with a space), binary values
/// with NUL. Multi-valued text is joined with `\`. Built with the small constructors below:
///
/// ```swift
/// let ds: [DICOMElement] = [.text(0x0008_0060, "CS", "SEG"), .us(0x0028_0010, [512]),
///                           .sequence(0x0062_0002, [[.us(0x0062_0004, [1])]])]
/// ```
package struct DICOMElement: Sendable {
    package enum Value: Sendable {
        case bytes([UInt8])
        case items([[DICOMElement]])
    }

    package let tag: UInt32
    package let vr: String
    package let value: Value

    package init(tag: UInt32, vr: String, value: Value) { self.tag = tag; self.vr = vr; self.value = value }

    /// A text value (`AE AS CS DA DS DT IS LO LT PN SH ST TM UC UI UR UT`); several values are joined with `\`.
    package static func text(_ tag: UInt32, _ vr: String, _ values: String...) -> DICOMElement {
        text(tag, vr, values)
    }

    package static func text(_ tag: UInt32, _ vr: String, _ values: [String]) -> DICOMElement {
        DICOMElement(tag: tag, vr: vr, value: .bytes(Array(values.joined(separator: "\\").utf8)))
    }

    /// Decimal strings (DS) written with up to 16 characters each (`%.10g`, shortened further when needed).
    package static func decimals(_ tag: UInt32, _ values: [Double]) -> DICOMElement {
        text(tag, "DS", values.map(DICOMDataSetWriter.decimalString))
    }

    /// Unsigned shorts (US).
    package static func us(_ tag: UInt32, _ values: [Int]) -> DICOMElement {
        var b = [UInt8]()
        for v in values { let u = UInt16(clamping: v); b += [UInt8(u & 0xFF), UInt8(u >> 8)] }
        return DICOMElement(tag: tag, vr: "US", value: .bytes(b))
    }

    /// Unsigned longs (UL).
    package static func ul(_ tag: UInt32, _ values: [Int]) -> DICOMElement {
        var b = [UInt8]()
        for v in values { b += DICOMDataSetWriter.le32(UInt32(clamping: v)) }
        return DICOMElement(tag: tag, vr: "UL", value: .bytes(b))
    }

    /// Attribute tags (AT): each tag as group, element (little endian).
    package static func at(_ tag: UInt32, _ tags: [UInt32]) -> DICOMElement {
        var b = [UInt8]()
        for t in tags { b += DICOMDataSetWriter.le16(UInt16(t >> 16)) + DICOMDataSetWriter.le16(UInt16(t & 0xFFFF)) }
        return DICOMElement(tag: tag, vr: "AT", value: .bytes(b))
    }

    /// Binary bytes (`OB`, `OW`, `UN`).
    package static func bytes(_ tag: UInt32, _ vr: String, _ bytes: [UInt8]) -> DICOMElement {
        DICOMElement(tag: tag, vr: vr, value: .bytes(bytes))
    }

    /// A sequence (`SQ`) of items, each a list of elements.
    package static func sequence(_ tag: UInt32, _ items: [[DICOMElement]]) -> DICOMElement {
        DICOMElement(tag: tag, vr: "SQ", value: .items(items))
    }
}

/// Encodes data sets as Explicit VR Little Endian Part 10 files: preamble, `DICM`, File Meta Information
/// (group 0002 with its group length), then the data set. Elements are written in ascending tag order at every
/// level; sequences and items have defined lengths (or undefined lengths with delimiters, `undefinedLengths`).
/// Every value length is checked against what its length field can hold (typed error, never a trap).
package enum DICOMDataSetWriter {
    /// This implementation's UID (File Meta Implementation Class UID), a `2.25` UUID-derived UID.
    package static let implementationClassUID = "2.25.332361838680851491264457337668684180092"
    package static let implementationVersionName = "MEDSAM_SWIFT_1"
    static let explicitVRLittleEndian = "1.2.840.10008.1.2.1"
    static let longVRs: Set<String> = ["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]
    static let textVRs: Set<String> = ["AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"]

    static func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
    static func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)] }

    /// A DS value of at most 16 characters.
    static func decimalString(_ v: Double) -> String {
        guard v.isFinite else { return "0" }
        for digits in stride(from: 10, through: 1, by: -1) {
            var s = String(format: "%.\(digits)g", v)
            if s.contains("e") { s = s.replacingOccurrences(of: "e+", with: "e") }
            if s.utf8.count <= 16 { return s }
        }
        return "0"
    }

    /// A new UID `2.25.<decimal of a random (version 4) UUID>` (at most 44 characters).
    package static func newUID() -> String {
        let u = UUID().uuid
        let bytes = [u.0, u.1, u.2, u.3, u.4, u.5, u.6, u.7, u.8, u.9, u.10, u.11, u.12, u.13, u.14, u.15]
        let value = bytes.reduce(UInt128(0)) { $0 << 8 | UInt128($1) }
        return "2.25.\(value)"
    }

    /// The whole file: 128-byte preamble, `DICM`, File Meta Information, data set.
    /// - Throws: ``MedicalIOError/tooLarge(file:message:)`` when a value does not fit its length field.
    package static func file(sopClassUID: String, sopInstanceUID: String, dataSet: [DICOMElement],
                             undefinedLengths: Bool = false, file: String = "<DICOM>") throws -> [UInt8] {
        var meta = [UInt8]()
        try encode([.bytes(0x0002_0001, "OB", [0x00, 0x01]), .text(0x0002_0002, "UI", sopClassUID),
                    .text(0x0002_0003, "UI", sopInstanceUID), .text(0x0002_0010, "UI", explicitVRLittleEndian),
                    .text(0x0002_0012, "UI", implementationClassUID), .text(0x0002_0013, "SH", implementationVersionName)],
                   into: &meta, undefinedLengths: false, file: file)
        var out = [UInt8](repeating: 0, count: 128) + Array("DICM".utf8)
        try encode([.ul(0x0002_0000, [meta.count])], into: &out, undefinedLengths: false, file: file)
        out += meta
        try encode(dataSet, into: &out, undefinedLengths: undefinedLengths, file: file)
        return out
    }

    /// Appends `elements` (sorted by tag; group 0002 is refused here) in Explicit VR Little Endian.
    package static func encode(_ elements: [DICOMElement], into out: inout [UInt8], undefinedLengths: Bool, file: String) throws {
        let sorted = elements.sorted { $0.tag < $1.tag }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.tag == b.tag {
            throw MedicalIOError.invalidArgument("\(file): element \(DICOMAttributes.tagName(a.tag)) given twice")
        }
        for e in sorted {
            guard e.vr.utf8.count == 2, e.vr.utf8.allSatisfy({ (0x41...0x5A).contains($0) }) else {
                throw MedicalIOError.invalidArgument("\(file): bad VR '\(e.vr)' for \(DICOMAttributes.tagName(e.tag))")
            }
            out += le16(UInt16(e.tag >> 16)) + le16(UInt16(e.tag & 0xFFFF)) + Array(e.vr.utf8)
            switch e.value {
            case .bytes(var v):
                if v.count % 2 == 1 { v.append(e.vr == "UI" || !textVRs.contains(e.vr) ? 0x00 : 0x20) }
                try header(length: v.count, vr: e.vr, tag: e.tag, into: &out, file: file)
                out += v
            case .items(let items):
                guard e.vr == "SQ" else { throw MedicalIOError.invalidArgument("\(file): items under VR \(e.vr)") }
                var body = [UInt8]()
                for item in items {
                    var inner = [UInt8]()
                    try encode(item, into: &inner, undefinedLengths: undefinedLengths, file: file)
                    body += le16(0xFFFE) + le16(0xE000)
                    if undefinedLengths {
                        body += le32(0xFFFF_FFFF) + inner + le16(0xFFFE) + le16(0xE00D) + le32(0)
                    } else {
                        guard inner.count < 0xFFFF_FFFF else { throw tooLarge(e.tag, inner.count, file) }
                        body += le32(UInt32(inner.count)) + inner
                    }
                }
                out += [0, 0]
                if undefinedLengths {
                    out += le32(0xFFFF_FFFF) + body + le16(0xFFFE) + le16(0xE0DD) + le32(0)
                } else {
                    guard body.count < 0xFFFF_FFFF else { throw tooLarge(e.tag, body.count, file) }
                    out += le32(UInt32(body.count)) + body
                }
            }
        }
    }

    static func header(length: Int, vr: String, tag: UInt32, into out: inout [UInt8], file: String) throws {
        if longVRs.contains(vr) {
            guard length < 0xFFFF_FFFF else { throw tooLarge(tag, length, file) }
            out += [0, 0] + le32(UInt32(length))
        } else {
            guard length <= 0xFFFF else { throw tooLarge(tag, length, file) }
            out += le16(UInt16(length))
        }
    }

    static func tooLarge(_ tag: UInt32, _ length: Int, _ file: String) -> MedicalIOError {
        .tooLarge(file: file, message: "value of \(DICOMAttributes.tagName(tag)) is \(length) bytes, more than its length field holds")
    }
}

import Foundation
import Imaging

/// An uncompressed DICOM image (single- or multi-frame CT, MR, secondary capture, …).
///
/// Transfer syntaxes: Implicit VR Little Endian, Explicit VR Little Endian, Explicit VR Big Endian and
/// Deflated Explicit VR Little Endian. Compressed syntaxes (JPEG, JPEG-LS, JPEG 2000, RLE, …) throw
/// ``MedicalIOError/compressedTransferSyntax(file:uid:name:)``. Unknown elements are skipped, sequences
/// (defined or undefined length, nested) are skipped. Pixel values are rescaled
/// (`stored · RescaleSlope + RescaleIntercept`, as `pydicom`'s `pixel_array` followed by the rescale).
/// MONOCHROME1 values are kept as stored (higher = darker); check ``photometric``.
///
/// ```swift
/// let ct = try DICOMImage.read(URL(fileURLWithPath: "CT_small.dcm"))
/// let hu = try ct.frame(0)                          // Image, 128 × 128, HU values
/// print(ct.pixelSpacing, ct.imagePosition, ct.windowCenter)
/// ```
public struct DICOMImage: Sendable {
    public let transferSyntaxUID: String
    public let rows: Int, columns: Int
    public let bitsAllocated: Int, bitsStored: Int
    public let pixelRepresentation: Int
    public let samplesPerPixel: Int
    public let photometric: String
    public let numberOfFrames: Int
    public let rescaleSlope: Double, rescaleIntercept: Double
    /// Row spacing, column spacing (mm), `PixelSpacing`.
    public let pixelSpacing: [Double]?
    public let imagePosition: [Double]?
    public let imageOrientation: [Double]?
    public let instanceNumber: Int?
    public let windowCenter: Double?, windowWidth: Double?
    public let seriesInstanceUID: String?
    public let sliceThickness: Double?
    public let modality: String?
    /// `frames · rows · columns · samplesPerPixel` rescaled values, interleaved samples.
    public let pixels: [Float]

    /// The ``PixelType`` of the stored values (before rescaling).
    public var storedType: PixelType {
        switch (bitsAllocated, pixelRepresentation) {
        case (8, _): return .uint8
        case (16, 0): return .uint16
        case (16, _): return .int16
        default: return .int32
        }
    }

    /// Frame `i` as an ``Image`` (1 or 3 channels). Pixel type: the stored type when no rescale applies,
    /// else `.float32`.
    public func frame(_ i: Int) throws -> Image {
        guard (0..<numberOfFrames).contains(i) else { throw MedicalIOError.invalidArgument("frame \(i) outside 0..<\(numberOfFrames)") }
        let n = rows * columns * samplesPerPixel
        let rescaled = rescaleSlope != 1 || rescaleIntercept != 0
        return try Image(pixels: Array(pixels[(i * n)..<((i + 1) * n)]), width: columns, height: rows,
                         channels: samplesPerPixel, pixelType: rescaled ? .float32 : storedType)
    }

    public static func read(_ url: URL, limits: MedicalIOLimits = .default) throws -> DICOMImage {
        try parse(readFile(url), file: fileLabel(url), limits: limits)
    }

    static let compressedSyntaxes: [String: String] = [
        "1.2.840.10008.1.2.4.50": "JPEG Baseline", "1.2.840.10008.1.2.4.51": "JPEG Extended",
        "1.2.840.10008.1.2.4.57": "JPEG Lossless", "1.2.840.10008.1.2.4.70": "JPEG Lossless SV1",
        "1.2.840.10008.1.2.4.80": "JPEG-LS Lossless", "1.2.840.10008.1.2.4.81": "JPEG-LS Near-Lossless",
        "1.2.840.10008.1.2.4.90": "JPEG 2000 Lossless", "1.2.840.10008.1.2.4.91": "JPEG 2000",
        "1.2.840.10008.1.2.4.201": "HTJ2K Lossless", "1.2.840.10008.1.2.4.203": "HTJ2K",
        "1.2.840.10008.1.2.5": "RLE Lossless", "1.2.840.10008.1.2.4.100": "MPEG2", "1.2.840.10008.1.2.4.102": "MPEG-4 AVC/H.264",
    ]

    public static func parse(_ data: Data, file: String = "<memory>", limits: MedicalIOLimits = .default) throws -> DICOMImage {
        var bytes = [UInt8](data)
        var pos = 0
        var ts = "1.2.840.10008.1.2"  // no meta header: implicit VR little endian
        if bytes.count >= 132, bytes[128..<132].elementsEqual([0x44, 0x49, 0x43, 0x4D]) {
            pos = 132
            var p = DICOMParser(r: ByteReader(bytes: bytes, file: file), explicit: true)
            let meta = try p.elements(from: pos, stopAtGroupChange: 0x0002)
            pos = p.end
            if let e = meta[0x0002_0010] { ts = try p.string(e) }
        } else if bytes.count >= 8, bytes[0] == 0x08 || bytes[0] == 0x02, bytes[1] == 0x00 {
            // headerless dataset starting with group 0008 or 0002
            if bytes[4...5].allSatisfy({ (0x41...0x5A).contains($0) }) { ts = "1.2.840.10008.1.2.1" }
        } else {
            throw MedicalIOError.badMagic(file: file, expected: "DICOM (no DICM prefix)")
        }
        if let name = compressedSyntaxes[ts] ?? (ts.hasPrefix("1.2.840.10008.1.2.4.") ? "compressed" : nil) {
            throw MedicalIOError.compressedTransferSyntax(file: file, uid: ts, name: name)
        }
        var explicit = true, big = false
        switch ts {
        case "1.2.840.10008.1.2": explicit = false
        case "1.2.840.10008.1.2.1": break
        case "1.2.840.10008.1.2.2": big = true
        case "1.2.840.10008.1.2.1.99":
            let inflated = try Zlib.inflate(bytes[pos...], container: .raw, maxOutput: limits.maxBytes, file: file)
            bytes = Array(bytes[0..<pos]) + inflated
        default: throw MedicalIOError.unsupported(file: file, message: "transfer syntax \(ts)")
        }
        var r = ByteReader(bytes: bytes, file: file)
        r.bigEndian = big
        var p = DICOMParser(r: r, explicit: explicit)
        let ds = try p.elements(from: pos, stopAtGroupChange: nil)

        func us(_ tag: UInt32) throws -> Int? { guard let e = ds[tag], e.length >= 2 else { return nil }; return Int(try r.u16(e.offset)) }
        func strs(_ tag: UInt32) throws -> [String]? {
            guard let e = ds[tag] else { return nil }
            let s = try p.string(e)
            return s.isEmpty ? nil : s.split(separator: "\\").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        func nums(_ tag: UInt32) throws -> [Double]? {
            guard let s = try strs(tag) else { return nil }
            let v = s.compactMap(Double.init)
            return v.count == s.count ? v : nil
        }
        guard let pe = ds[0x7FE0_0010] else { throw MedicalIOError.missing(file: file, what: "Pixel Data (7FE0,0010)") }
        guard pe.length != 0xFFFF_FFFF else {
            throw MedicalIOError.compressedTransferSyntax(file: file, uid: ts, name: "encapsulated pixel data")
        }
        guard let rows = try us(0x0028_0010), let cols = try us(0x0028_0011), let bits = try us(0x0028_0100) else {
            throw MedicalIOError.missing(file: file, what: "Rows/Columns/BitsAllocated")
        }
        let spp = try us(0x0028_0002) ?? 1
        let rep = try us(0x0028_0103) ?? 0
        let stored = try us(0x0028_0101) ?? bits
        let photometric = try strs(0x0028_0004)?.first ?? (spp == 3 ? "RGB" : "MONOCHROME2")
        let planar = try us(0x0028_0006) ?? 0
        let frames = Int(try nums(0x0028_0008)?.first ?? 1)
        guard [8, 16, 32].contains(bits) else { throw MedicalIOError.unsupported(file: file, message: "BitsAllocated \(bits)") }
        guard spp == 1 || (spp == 3 && photometric == "RGB") else {
            throw MedicalIOError.unsupported(file: file, message: "SamplesPerPixel \(spp) with \(photometric)")
        }
        guard frames >= 1, rows >= 1, cols >= 1 else {
            throw MedicalIOError.invalidHeader(file: file, message: "\(frames) frames of \(rows)×\(cols)")
        }
        let bpp = bits / 8
        let n = try limits.checkedCount([frames, rows, cols, spp], itemSize: bpp, file: file)
        guard pe.length >= n * bpp else {
            throw MedicalIOError.truncated(file: file, message: "Pixel Data has \(pe.length) bytes, \(frames)×\(rows)×\(cols)×\(spp) needs \(n * bpp)")
        }
        try r.need(pe.offset, n * bpp, "Pixel Data")
        let type: RawVolume.SampleType
        switch (bits, rep) { case (8, 0): type = .uint8; case (8, _): type = .int8; case (16, 0): type = .uint16
        case (16, _): type = .int16; case (32, 0): type = .uint32; default: type = .int32 }
        var px = try RawVolume.decodeSamples(r, offset: pe.offset, count: n, type: type)
        if rep == 1, stored < bits, stored > 0 {  // sign-extend from BitsStored
            let m = Float(1 << stored), half = Float(1 << (stored - 1))
            for i in px.indices { var v = px[i].truncatingRemainder(dividingBy: m); if v < 0 { v += m }; px[i] = v >= half ? v - m : v }
        }
        if spp == 3 && planar == 1 {  // RRR…GGG…BBB… per frame → interleaved
            let plane = rows * cols
            var out = px
            for f in 0..<frames { for s in 0..<3 { for i in 0..<plane { out[f * plane * 3 + i * 3 + s] = px[f * plane * 3 + s * plane + i] } } }
            px = out
        }
        let slope = try nums(0x0028_1053)?.first ?? 1, inter = try nums(0x0028_1052)?.first ?? 0
        if slope != 1 || inter != 0 { for i in px.indices { px[i] = Float(Double(px[i]) * slope + inter) } }
        return DICOMImage(transferSyntaxUID: ts, rows: rows, columns: cols, bitsAllocated: bits, bitsStored: stored,
                          pixelRepresentation: rep, samplesPerPixel: spp, photometric: photometric, numberOfFrames: frames,
                          rescaleSlope: slope, rescaleIntercept: inter, pixelSpacing: try nums(0x0028_0030),
                          imagePosition: try nums(0x0020_0032), imageOrientation: try nums(0x0020_0037),
                          instanceNumber: try nums(0x0020_0013).map { Int($0[0]) }, windowCenter: try nums(0x0028_1050)?.first,
                          windowWidth: try nums(0x0028_1051)?.first, seriesInstanceUID: try strs(0x0020_000E)?.first,
                          sliceThickness: try nums(0x0018_0050)?.first, modality: try strs(0x0008_0060)?.first, pixels: px)
    }
}

/// Element walker. Collects top-level elements; skips sequence contents.
struct DICOMParser {
    struct Element { let vr: String; let offset: Int; let length: Int }
    let r: ByteReader
    let explicit: Bool
    var end = 0
    static let longVRs: Set<String> = ["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]
    static let undefined = 0xFFFF_FFFF

    func string(_ e: Element) throws -> String {
        let s = try r.slice(e.offset, min(e.length, 1 << 16))
        return String(decoding: s, as: UTF8.self).trimmingCharacters(in: CharacterSet(charactersIn: " \0"))
    }

    /// Reads elements from `start` to the end (or until the group changes from `stopAtGroupChange`).
    mutating func elements(from start: Int, stopAtGroupChange group: UInt16?) throws -> [UInt32: Element] {
        var out = [UInt32: Element]()
        var p = start
        var rr = r
        if group != nil { rr.bigEndian = false }
        while p + 8 <= r.count {
            let g = try rr.u16(p), el = try rr.u16(p + 2)
            if let gg = group, g != gg { break }
            let (e, next) = try element(rr, at: p, explicit: group != nil ? true : explicit, depth: 0)
            out[UInt32(g) << 16 | UInt32(el)] = e
            p = next
            if g == 0x7FE0, el == 0x0010 { break }
        }
        end = p
        return out
    }

    /// One element at `p`: returns it and the offset after it (sequences are skipped whole).
    func element(_ rr: ByteReader, at p: Int, explicit: Bool, depth: Int) throws -> (Element, Int) {
        guard depth < 64 else { throw MedicalIOError.invalidHeader(file: r.file, message: "sequences nested more than 64 deep") }
        let g = try rr.u16(p), el = try rr.u16(p + 2)
        var vr = "", len: Int, valueStart: Int
        if g == 0xFFFE {  // item / delimiters: always tag + 4-byte length
            len = Int(try rr.u32(p + 4)); valueStart = p + 8; vr = "--"
        } else if explicit {
            vr = String(decoding: try rr.slice(p + 4, 2), as: UTF8.self)
            if Self.longVRs.contains(vr) { len = Int(try rr.u32(p + 8)); valueStart = p + 12 }
            else if vr.utf8.allSatisfy({ (0x41...0x5A).contains($0) }) { len = Int(try rr.u16(p + 6)); valueStart = p + 8 }
            else { throw MedicalIOError.invalidHeader(file: r.file, message: "bad VR bytes at offset \(p + 4)") }
        } else {
            len = Int(try rr.u32(p + 4)); valueStart = p + 8
        }
        let e = Element(vr: vr, offset: valueStart, length: len)
        if len == Self.undefined {
            if g == 0x7FE0 && el == 0x0010 { return (e, rr.count) }  // encapsulated pixel data: caller refuses it
            // SQ / UN / implicit sequence / item of undefined length: walk to the matching delimiter.
            let innerExplicit = vr == "UN" ? false : explicit
            var q = valueStart
            let delimiter: UInt16 = g == 0xFFFE ? 0xE00D : 0xE0DD
            while true {
                guard q + 8 <= rr.count else { throw MedicalIOError.truncated(file: r.file, message: "sequence at offset \(p) has no delimiter") }
                let ig = try rr.u16(q), ie = try rr.u16(q + 2)
                if ig == 0xFFFE && ie == delimiter { return (e, q + 8) }
                let (_, next) = try element(rr, at: q, explicit: innerExplicit, depth: depth + 1)
                guard next > q else { throw MedicalIOError.invalidHeader(file: r.file, message: "no progress at offset \(q)") }
                q = next
            }
        }
        try rr.need(valueStart, len, "element (\(String(g, radix: 16)),\(String(el, radix: 16))) of \(len) bytes")
        return (e, valueStart + len)
    }
}

import Foundation
import Imaging

/// A DICOM image (single- or multi-frame CT, MR, secondary capture, …), native or compressed.
///
/// Transfer syntaxes: Implicit VR Little Endian, Explicit VR Little/Big Endian, Deflated Explicit VR Little
/// Endian, and the encapsulated (compressed) syntaxes RLE Lossless, JPEG Baseline (8-bit), JPEG Lossless
/// (process 14, all predictors), JPEG-LS (CharLS) and JPEG 2000 (OpenJPEG); see ``DICOMCodec``. Others
/// (12-bit JPEG Extended, HTJ2K, MPEG) throw ``MedicalIOError/compressedTransferSyntax(file:uid:name:)``.
/// Unknown elements are skipped, sequences (defined or undefined length, nested) are skipped.
///
/// Values are the modality values, as `pydicom`'s `apply_modality_lut(pixel_array)`: stored values rescaled
/// (`stored · RescaleSlope + RescaleIntercept`, computed in Double) or mapped through the Modality LUT
/// Sequence. Colour is RGB: YBR_FULL / YBR_FULL_422 are converted, PALETTE COLOR goes through its lookup tables
/// (16-bit entries kept). MONOCHROME1 values are kept as stored (higher = darker); check ``photometric``
/// (``isInverted``) — inversion belongs to display and windowing.
///
/// Every number read from the header goes through a checked conversion: a malformed value that decides the
/// pixel layout or values (Rows, NumberOfFrames, rescale, LUTs) is a typed error; a malformed descriptive value
/// (spacing, position, window, instance number) is dropped and named in ``warnings``.
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
    /// Samples per pixel of ``pixels`` (3 for RGB, YBR converted to RGB and PALETTE COLOR), 1 for gray.
    public let samplesPerPixel: Int
    /// Photometric interpretation as stored in the file (`MONOCHROME1`, `YBR_FULL_422`, `PALETTE COLOR`, …).
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
    /// Problems with descriptive header values that were ignored (each names the attribute and value).
    public let warnings: [String]
    /// Per-frame geometry and rescale of an Enhanced multi-frame object (Shared and Per-Frame Functional Groups:
    /// Pixel Value Transformation, Pixel Measures, Plane Position, Plane Orientation), one per frame; empty for
    /// classic objects. Each frame's values in ``pixels`` use its own rescale.
    public let perFrame: [FrameGeometry]

    /// One frame's functional-group values (nil where the groups do not give one).
    public struct FrameGeometry: Sendable, Hashable {
        public var rescaleSlope: Double, rescaleIntercept: Double
        public var pixelSpacing: [Double]?, sliceThickness: Double?
        public var imagePosition: [Double]?, imageOrientation: [Double]?
    }
    /// Pixel type of ``frame(_:)``: the stored (or LUT output) type when no rescale applies, else `.float32`.
    public let pixelType: PixelType
    /// `frames · rows · columns · samplesPerPixel` modality values, interleaved samples, in the smallest type that
    /// holds them exactly (``PixelStorage``: Hounsfield units after an integer rescale are `Int16`).
    public let storage: PixelStorage
    /// The modality values as `Float` (a new array each time: bind it once).
    public var pixels: [Float] { storage.floats() }
    /// The same values in Double when ``pixels`` cannot hold them exactly (32-bit stored values above 2^24,
    /// fractional rescales such as slope 0.1); nil when every Float is exact. ``pixelType`` is then `.float64`.
    public let exactValues: [Double]?
    /// SOP, study, series and frame-of-reference UIDs and the patient / study attributes (what a derived object
    /// such as a ``DICOMSegmentation`` references and repeats).
    public let identity: DICOMIdentity

    /// True for MONOCHROME1 (higher values display darker).
    public var isInverted: Bool { photometric == "MONOCHROME1" }

    /// The ``PixelType`` of the stored values (before rescaling).
    public var storedType: PixelType {
        switch (bitsAllocated, pixelRepresentation) {
        case (1, _), (8, _): return .uint8
        case (16, 0): return .uint16
        case (16, _): return .int16
        case (64, _): return .float64
        default: return .int32
        }
    }

    /// Frame `i` as an ``Image`` (1 or 3 channels) of modality values, type ``pixelType``.
    /// - Throws: ``MedicalIOError/invalidArgument(_:)`` for a frame outside `0..<numberOfFrames`.
    public func frame(_ i: Int) throws -> Image {
        guard (0..<numberOfFrames).contains(i) else { throw MedicalIOError.invalidArgument("frame \(i) outside 0..<\(numberOfFrames)") }
        let n = rows * columns * samplesPerPixel
        return try Image(storage: storage.slice((i * n)..<((i + 1) * n)), width: columns, height: rows,
                         channels: samplesPerPixel, pixelType: pixelType)
    }

    /// Reads and decodes a DICOM file.
    /// - Throws: ``MedicalIOError`` for unreadable, malformed, truncated, oversized or unsupported files.
    public static func read(_ url: URL, limits: MedicalIOLimits = .default) throws -> DICOMImage {
        try parse(readFile(url), file: fileLabel(url), limits: limits)
    }

    static let unsupportedSyntaxes: [String: String] = [
        "1.2.840.10008.1.2.4.52": "JPEG Extended (3, 5)", "1.2.840.10008.1.2.4.53": "JPEG Spectral Selection",
        "1.2.840.10008.1.2.4.55": "JPEG Full Progression",
        "1.2.840.10008.1.2.4.201": "HTJ2K Lossless", "1.2.840.10008.1.2.4.202": "HTJ2K Lossless RPCL",
        "1.2.840.10008.1.2.4.203": "HTJ2K", "1.2.840.10008.1.2.4.92": "JPEG 2000 Part 2 Lossless",
        "1.2.840.10008.1.2.4.93": "JPEG 2000 Part 2", "1.2.840.10008.1.2.4.94": "JPIP", "1.2.840.10008.1.2.4.95": "JPIP Deflate",
        "1.2.840.10008.1.2.4.100": "MPEG2", "1.2.840.10008.1.2.4.101": "MPEG2 High Level",
        "1.2.840.10008.1.2.4.102": "MPEG-4 AVC/H.264", "1.2.840.10008.1.2.4.103": "MPEG-4 AVC/H.264 BD",
        "1.2.840.10008.1.2.4.104": "MPEG-4 AVC/H.264 2D", "1.2.840.10008.1.2.4.105": "MPEG-4 AVC/H.264 3D",
        "1.2.840.10008.1.2.4.106": "MPEG-4 AVC/H.264 Stereo", "1.2.840.10008.1.2.4.107": "HEVC/H.265",
        "1.2.840.10008.1.2.4.108": "HEVC/H.265 Main 10",
    ]

    /// Parses and decodes DICOM bytes (see ``read(_:limits:)``).
    /// - Throws: ``MedicalIOError``.
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
        if let name = unsupportedSyntaxes[ts] { throw MedicalIOError.compressedTransferSyntax(file: file, uid: ts, name: name) }
        let codec = DICOMCodec.Syntax(uid: ts)
        if codec == nil, ts.hasPrefix("1.2.840.10008.1.2.4.") {
            throw MedicalIOError.compressedTransferSyntax(file: file, uid: ts, name: "compressed")
        }
        var explicit = true, big = false
        var warnings = [String]()
        switch ts {
        case "1.2.840.10008.1.2": explicit = false
        case "1.2.840.10008.1.2.1": break
        case "1.2.840.10008.1.2.2": big = true
        case "1.2.840.10008.1.2.1.99":
            let inflated = try Zlib.inflate(bytes[pos...], container: .raw, maxOutput: limits.maxBytes, file: file)
            bytes = Array(bytes[0..<pos]) + inflated
        default:
            guard codec != nil else { throw MedicalIOError.unsupported(file: file, message: "transfer syntax \(ts)") }
        }
        // Like pydicom: a dataset whose first element's VR bytes disagree with the transfer syntax is read as what it is.
        if pos + 6 <= bytes.count {
            let looksExplicit = bytes[(pos + 4)...(pos + 5)].allSatisfy { (0x41...0x5A).contains($0) }
            if explicit != looksExplicit {
                warnings.append("\(file): dataset is \(looksExplicit ? "explicit" : "implicit") VR, transfer syntax \(ts) says otherwise (read as found)")
                explicit = looksExplicit
            }
        }
        var r = ByteReader(bytes: bytes, file: file)
        r.bigEndian = big
        var p = DICOMParser(r: r, explicit: explicit)
        let ds = try p.elements(from: pos, stopAtGroupChange: nil)
        let a = DICOMAttributes(ds: ds, parser: p)

        let pixelTag: UInt32 = [0x7FE0_0010, 0x7FE0_0008, 0x7FE0_0009].first { ds[$0] != nil } ?? 0
        guard let pe = ds[pixelTag] else { throw MedicalIOError.missing(file: file, what: "Pixel Data (7FE0,0010)") }
        let maxDim = Swift.min(limits.maxDimension, 65535)
        guard let rows = try a.us(0x0028_0010), let cols = try a.us(0x0028_0011), let bits = try a.us(0x0028_0100) else {
            throw MedicalIOError.missing(file: file, what: "Rows/Columns/BitsAllocated")
        }
        guard rows >= 1, cols >= 1, rows <= maxDim, cols <= maxDim else {
            throw MedicalIOError.invalidHeader(file: file, message: "\(rows)×\(cols) pixels (allowed 1…\(maxDim))")
        }
        let spp = try a.us(0x0028_0002) ?? 1
        let rep = try a.us(0x0028_0103) ?? 0
        let stored = try a.us(0x0028_0101) ?? bits
        let photometric = try a.string(0x0028_0004).map { DICOMValues.components($0)[0] } ?? (spp == 3 ? "RGB" : "MONOCHROME2")
        let planar = try a.us(0x0028_0006) ?? 0
        let frames = try a.integer(0x0028_0008, "NumberOfFrames", range: 1...Swift.max(1, limits.maxDimension)) ?? 1
        let isFloat = pixelTag != 0x7FE0_0010
        if isFloat {
            let want = pixelTag == 0x7FE0_0008 ? 32 : 64
            guard bits == want else { throw MedicalIOError.invalidHeader(file: file, message: "BitsAllocated \(bits) with \(want)-bit float Pixel Data") }
        } else {
            guard [1, 8, 16, 32].contains(bits) else { throw MedicalIOError.unsupported(file: file, message: "BitsAllocated \(bits)") }
        }
        guard (1...bits).contains(stored) else { throw MedicalIOError.invalidHeader(file: file, message: "BitsStored \(stored) with BitsAllocated \(bits)") }
        guard rep == 0 || rep == 1 else { throw MedicalIOError.invalidHeader(file: file, message: "PixelRepresentation \(rep)") }
        let colourSyntaxes = ["RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420"]
        guard (spp == 1 && !colourSyntaxes.contains(photometric)) || (spp == 3 && colourSyntaxes.contains(photometric)) else {
            throw MedicalIOError.unsupported(file: file, message: "SamplesPerPixel \(spp) with \(photometric)")
        }
        if photometric == "PALETTE COLOR", bits > 16 || isFloat {
            throw MedicalIOError.unsupported(file: file, message: "PALETTE COLOR with \(bits)-bit data")
        }
        _ = try limits.checkedCount([frames, rows, cols, spp], itemSize: Swift.max(bits / 8, 1), file: file)
        let layout = DICOMCodec.Layout(rows: rows, columns: cols, samplesPerPixel: spp, bitsAllocated: bits,
                                       bitsStored: stored, signed: rep == 1, planarConfiguration: planar,
                                       photometric: photometric)

        // Stored values per frame (Double, signed values resolved), samples interleaved; YBR converted to RGB.
        var frameValues: (Int) throws -> [Double]
        if let codec {
            guard pe.length == DICOMParser.undefined else {
                throw MedicalIOError.invalidHeader(file: file, message: "\(ts) needs encapsulated Pixel Data (undefined length)")
            }
            let fragments = try DICOMEncapsulated.frames(r, from: pe.offset, frames: frames, jpegFamily: codec.isJPEGFamily, file: file)
            frameValues = { i in try DICOMCodec.decode(fragments[i], syntax: codec, layout: layout, limits: limits, file: file) }
        } else {
            guard pe.length != DICOMParser.undefined else {
                throw MedicalIOError.invalidHeader(file: file, message: "encapsulated Pixel Data under the native transfer syntax \(ts)")
            }
            let native = try DICOMNative(r: r, element: pe, layout: layout, frames: frames, isFloat: isFloat,
                                         swapOWBytes: big && bits == 8 && pe.vr == "OW", file: file)
            frameValues = { i in try native.frame(i) }
        }

        // Modality transform: Modality LUT Sequence, else rescale.
        var slope = 1.0, inter = 0.0
        var lut: DICOMLookupTable? = nil
        if let seq = ds[0x0028_3000], let item = try p.sequenceItems(seq).first, spp == 1 {
            lut = try DICOMLookupTable(item: DICOMAttributes(ds: item, parser: p), descriptor: 0x0028_3002, data: 0x0028_3006,
                                       name: "Modality LUT", file: file)
        } else {
            slope = try a.decimals(0x0028_1053, "RescaleSlope", count: 1, maxMagnitude: 1e30)?[0] ?? 1
            inter = try a.decimals(0x0028_1052, "RescaleIntercept", count: 1, maxMagnitude: 1e30)?[0] ?? 0
        }
        var perFrame = [FrameGeometry]()
        if ds[0x5200_9229] != nil || ds[0x5200_9230] != nil {
            perFrame = try functionalGroups(ds, parser: p, frames: frames, slope: slope, intercept: inter, hasLUT: lut != nil,
                                            warnings: &warnings, file: file)
        }
        var palette: [DICOMLookupTable]? = nil
        if photometric == "PALETTE COLOR" {
            palette = try [(0x0028_1101, 0x0028_1201), (0x0028_1102, 0x0028_1202), (0x0028_1103, 0x0028_1203)].map { d, v in
                try DICOMLookupTable(item: a, descriptor: UInt32(d), data: UInt32(v), name: "Palette", file: file)
            }
        }
        let outSpp = palette != nil ? 3 : spp
        let total = try limits.checkedCount([frames, rows, cols, outSpp], itemSize: 4, file: file)
        var px = [Float]()
        var exact: [Double]? = nil
        for i in 0..<frames {
            let v = try frameValues(i)
            // Reserve once the first frame decoded (a compressed header alone does not prove the data is there).
            if i == 0 { px.reserveCapacity(Swift.min(total, v.count * outSpp / spp * frames)) }
            let (m, b) = i < perFrame.count ? (perFrame[i].rescaleSlope, perFrame[i].rescaleIntercept) : (slope, inter)
            if let palette {
                for s in v { for t in palette { px.append(Float(t[s])) } }
            } else if let lut {
                for s in v { px.append(Float(lut[s])) }
            } else {
                // Modality values in Double; kept (``exactValues``) once Float cannot hold one of them exactly
                // (32-bit data above 2^24, fractional rescales).
                for s in v {
                    let d = m != 1 || b != 0 ? s * m + b : s
                    let f = Float(d)
                    if exact == nil && Double(f) != d {
                        exact = px.map(Double.init)  // every earlier value was exact
                        exact?.reserveCapacity(total)
                    }
                    px.append(f)
                    exact?.append(d)
                }
            }
        }
        let pixelType: PixelType
        if let t = palette?.first ?? lut { pixelType = t.bits > 8 ? .uint16 : .uint8 }
        else if slope != 1 || inter != 0 || isFloat || perFrame.contains(where: { $0.rescaleSlope != 1 || $0.rescaleIntercept != 0 }) {
            pixelType = bits == 64 ? .float64 : .float32
        }
        else if photometric.hasPrefix("YBR") { pixelType = bits > 8 ? .uint16 : .uint8 }
        else {
            switch (bits, rep) {
            case (1, _), (8, 0): pixelType = .uint8
            case (8, _), (16, 1): pixelType = .int16
            case (16, _): pixelType = .uint16
            default: pixelType = rep == 1 ? .int32 : .float32
            }
        }

        let spacing = a.optionalDecimals(0x0028_0030, "PixelSpacing", count: 2, maxMagnitude: 1e6, positive: true, warnings: &warnings)
            ?? perFrame.first?.pixelSpacing
        let position = a.optionalDecimals(0x0020_0032, "ImagePositionPatient", count: 3, maxMagnitude: 1e9, warnings: &warnings)
            ?? perFrame.first?.imagePosition
        let orientation = a.optionalDecimals(0x0020_0037, "ImageOrientationPatient", count: 6, maxMagnitude: 1.5, warnings: &warnings)
            ?? perFrame.first?.imageOrientation
        let thickness = a.optionalDecimals(0x0018_0050, "SliceThickness", count: 1, maxMagnitude: 1e6, positive: true, warnings: &warnings)?[0]
            ?? perFrame.first?.sliceThickness
        let instance = a.optionalInteger(0x0020_0013, "InstanceNumber", range: Int(Int32.min)...Int(Int32.max), warnings: &warnings)
        // WindowCenter/Width may hold several windows: the first is used.
        let center = a.optionalDecimals(0x0028_1050, "WindowCenter", count: nil, maxMagnitude: 1e30, warnings: &warnings)?[0]
        let width = a.optionalDecimals(0x0028_1051, "WindowWidth", count: nil, maxMagnitude: 1e30, positive: true, warnings: &warnings)?[0]
        return DICOMImage(transferSyntaxUID: ts, rows: rows, columns: cols, bitsAllocated: bits, bitsStored: stored,
                          pixelRepresentation: rep, samplesPerPixel: outSpp, photometric: photometric, numberOfFrames: frames,
                          rescaleSlope: slope, rescaleIntercept: inter, pixelSpacing: spacing, imagePosition: position,
                          imageOrientation: orientation, instanceNumber: instance, windowCenter: center, windowWidth: width,
                          seriesInstanceUID: try a.string(0x0020_000E).map { DICOMValues.components($0)[0] },
                          sliceThickness: thickness, modality: try a.string(0x0008_0060).map { DICOMValues.components($0)[0] },
                          warnings: warnings, perFrame: perFrame, pixelType: exact != nil ? .float64 : pixelType, storage: PixelStorage(packing: px),
                          exactValues: exact, identity: DICOMIdentity(a))
    }

    /// Shared / Per-Frame Functional Groups → one ``FrameGeometry`` per frame (per-frame values override shared).
    static func functionalGroups(_ ds: [UInt32: DICOMParser.Element], parser p: DICOMParser, frames: Int, slope: Double,
                                 intercept: Double, hasLUT: Bool, warnings: inout [String], file: String) throws -> [FrameGeometry] {
        let shared = try ds[0x5200_9229].map { try p.sequenceItems($0).first } ?? nil
        var items = try ds[0x5200_9230].map { try p.sequenceItems($0) } ?? []
        if !items.isEmpty && items.count != frames {
            warnings.append("\(file): \(items.count) Per-Frame Functional Groups items for \(frames) frames (ignored)")
            items = []
        }
        var out = [FrameGeometry]()
        out.reserveCapacity(frames)
        for i in 0..<frames {
            func group(_ tag: UInt32) throws -> DICOMAttributes? {
                for src in [items.isEmpty ? nil : items[i], shared] {
                    if let g = src, let e = g[tag], let item = try p.sequenceItems(e).first { return DICOMAttributes(ds: item, parser: p) }
                }
                return nil
            }
            var f = FrameGeometry(rescaleSlope: slope, rescaleIntercept: intercept)
            if !hasLUT, let t = try group(0x0028_9145) {
                f.rescaleSlope = try t.decimals(0x0028_1053, "RescaleSlope (frame \(i))", count: 1, maxMagnitude: 1e30)?[0] ?? slope
                f.rescaleIntercept = try t.decimals(0x0028_1052, "RescaleIntercept (frame \(i))", count: 1, maxMagnitude: 1e30)?[0] ?? intercept
            }
            if let m = try group(0x0028_9110) {
                f.pixelSpacing = m.optionalDecimals(0x0028_0030, "PixelSpacing (frame \(i))", count: 2, maxMagnitude: 1e6, positive: true, warnings: &warnings)
                f.sliceThickness = m.optionalDecimals(0x0018_0050, "SliceThickness (frame \(i))", count: 1, maxMagnitude: 1e6, positive: true, warnings: &warnings)?[0]
            }
            if let g = try group(0x0020_9113) {
                f.imagePosition = g.optionalDecimals(0x0020_0032, "ImagePositionPatient (frame \(i))", count: 3, maxMagnitude: 1e9, warnings: &warnings)
            }
            if let g = try group(0x0020_9116) {
                f.imageOrientation = g.optionalDecimals(0x0020_0037, "ImageOrientationPatient (frame \(i))", count: 6, maxMagnitude: 1.5, warnings: &warnings)
            }
            out.append(f)
        }
        return out
    }
}

/// A lookup table (Modality LUT or one PALETTE COLOR channel): descriptor (entries, first mapped value, bits)
/// and 8/16-bit data. Values below / above the mapped range take the first / last entry (as pydicom).
struct DICOMLookupTable {
    let first: Int, bits: Int
    let table: [UInt16]

    init(item a: DICOMAttributes, descriptor: UInt32, data: UInt32, name: String, file: String) throws {
        guard let d = try a.shorts(descriptor, count: 3) else { throw MedicalIOError.missing(file: file, what: "\(name) Descriptor \(DICOMAttributes.tagName(descriptor))") }
        let entries = d[0] == 0 ? 65536 : d[0]
        // The first mapped value is US or SS by the image's signedness; implicit VR cannot tell, as pydicom.
        first = a.ds[descriptor]?.vr == "SS" ? Int(Int16(truncatingIfNeeded: d[1])) : d[1]
        bits = d[2]
        guard bits == 8 || bits == 16 else { throw MedicalIOError.invalidHeader(file: file, message: "\(name) has \(bits)-bit entries") }
        guard let e = a.ds[data] else {
            if a.ds[data + 0x10] != nil || a.ds[0x0028_1221] != nil {  // segmented palette
                throw MedicalIOError.unsupported(file: file, message: "segmented \(name) data")
            }
            throw MedicalIOError.missing(file: file, what: "\(name) Data \(DICOMAttributes.tagName(data))")
        }
        guard e.length != DICOMParser.undefined else { throw MedicalIOError.invalidHeader(file: file, message: "\(name) Data of undefined length") }
        let r = a.parser.r
        var t = [UInt16]()
        if bits == 8 && e.length == entries {  // packed 8-bit entries (allowed by some writers)
            t = try r.slice(e.offset, entries).map { UInt16($0) }
        } else {
            guard e.length >= 2 * entries else {
                throw MedicalIOError.truncated(file: file, message: "\(name) Data has \(e.length) bytes for \(entries) entries")
            }
            t = try (0..<entries).map { try r.u16(e.offset + 2 * $0) }
            if bits == 8 { t = t.map { $0 & 0xFF } }
        }
        table = t
    }

    subscript(_ v: Double) -> UInt16 {
        let i = v - Double(first)
        if !(i > 0) { return table[0] }
        if i >= Double(table.count - 1) { return table[table.count - 1] }
        return table[Int(i)]
    }
}

/// Native (uncompressed) Pixel Data: frames of packed samples in the dataset's byte order.
struct DICOMNative {
    let r: ByteReader
    let offset: Int
    let layout: DICOMCodec.Layout
    let isFloat: Bool
    let swapOWBytes: Bool
    let frameBytes: Int  // bytes per frame (for 1-bit data: bits per frame, frames are not byte aligned)

    init(r: ByteReader, element pe: DICOMParser.Element, layout: DICOMCodec.Layout, frames: Int, isFloat: Bool,
         swapOWBytes: Bool, file: String) throws {
        self.r = r; self.offset = pe.offset; self.layout = layout; self.isFloat = isFloat; self.swapOWBytes = swapOWBytes
        let l = layout
        if l.photometric == "YBR_FULL_422" {
            guard l.bitsAllocated == 8, l.columns % 2 == 0 else {
                throw MedicalIOError.unsupported(file: file, message: "native YBR_FULL_422 with \(l.bitsAllocated) bits, \(l.columns) columns")
            }
            frameBytes = l.rows * l.columns * 2
        } else if l.bitsAllocated == 1 {
            frameBytes = l.rows * l.columns * l.samplesPerPixel  // bits
        } else {
            frameBytes = l.rows * l.columns * l.samplesPerPixel * (l.bitsAllocated / 8)
        }
        let needed = l.bitsAllocated == 1 ? (frameBytes * frames + 7) / 8 : frameBytes * frames
        guard pe.length >= needed else {
            throw MedicalIOError.truncated(file: file, message: "Pixel Data has \(pe.length) bytes, \(frames)×\(l.rows)×\(l.columns)×\(l.samplesPerPixel) needs \(needed)")
        }
        try r.need(pe.offset, needed, "Pixel Data")
    }

    func frame(_ f: Int) throws -> [Double] {
        let l = layout
        let n = l.rows * l.columns * l.samplesPerPixel
        var out = [Double](repeating: 0, count: n)
        if l.bitsAllocated == 1 {
            let base = f * frameBytes
            for i in 0..<n {
                let b = base + i
                out[i] = Double((r.bytes[offset + b / 8] >> UInt8(b % 8)) & 1)
            }
            return out
        }
        let start = offset + f * frameBytes
        if l.photometric == "YBR_FULL_422" {
            var ybr = [Double](repeating: 0, count: n)
            for pair in 0..<(l.rows * l.columns / 2) {
                let o = start + 4 * pair
                let y0 = Double(r.bytes[o]), y1 = Double(r.bytes[o + 1]), cb = Double(r.bytes[o + 2]), cr = Double(r.bytes[o + 3])
                ybr[6 * pair] = y0; ybr[6 * pair + 1] = cb; ybr[6 * pair + 2] = cr
                ybr[6 * pair + 3] = y1; ybr[6 * pair + 4] = cb; ybr[6 * pair + 5] = cr
            }
            return DICOMColor.ybrFullToRGB(ybr, bits: 8)
        }
        let s = l.bitsAllocated / 8
        for i in 0..<n {
            let o = start + i * s
            switch (l.bitsAllocated, isFloat) {
            case (8, _):
                let b = swapOWBytes ? r.bytes[(o - offset) ^ 1 + offset] : r.bytes[o]
                out[i] = Double(b)
            case (16, _): out[i] = Double(try r.u16(o))
            case (32, false): out[i] = Double(try r.u32(o))
            case (32, true): out[i] = Double(try r.f32(o))
            default: out[i] = try r.f64(o)
            }
        }
        if !isFloat { l.resolveSign(&out) }
        if l.samplesPerPixel == 3 && l.planarConfiguration == 1 {  // RRR…GGG…BBB… → interleaved
            let plane = l.rows * l.columns
            let src = out
            for s in 0..<3 { for i in 0..<plane { out[i * 3 + s] = src[s * plane + i] } }
        }
        if l.photometric == "YBR_FULL" { out = DICOMColor.ybrFullToRGB(out, bits: l.bitsStored) }
        return out
    }
}

/// Colour-space conversions, as pydicom's `convert_color_space` (float32 matrix, +0.5, floor, clip).
enum DICOMColor {
    static func ybrFullToRGB(_ v: [Double], bits: Int) -> [Double] {
        let off = Float(1 << (Swift.max(bits, 1) - 1)), maxV = Float((1 << Swift.max(bits, 1)) - 1)
        let crR: Float = 1.402, cbG: Float = -0.114 * 1.772 / 0.587, crG: Float = -0.299 * 1.402 / 0.587, cbB: Float = 1.772
        var out = v
        var i = 0
        while i + 2 < v.count {
            let y = Float(v[i]), cb = Float(v[i + 1]) - off, cr = Float(v[i + 2]) - off
            let rgb = [y + cr * crR, y + cb * cbG + cr * crG, y + cb * cbB]
            for k in 0..<3 { out[i + k] = Double(Swift.min(Swift.max((rgb[k] + 0.5).rounded(.down), 0), maxV)) }
            i += 3
        }
        return out
    }
}

/// Element walker. Collects top-level elements; skips sequence contents (``sequenceItems(_:)`` reads them).
struct DICOMParser {
    struct Element { let vr: String; let offset: Int; let length: Int }
    let r: ByteReader
    let explicit: Bool
    var end = 0
    static let longVRs: Set<String> = ["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]
    static let undefined = 0xFFFF_FFFF

    func string(_ e: Element) throws -> String {
        guard e.length != Self.undefined else { throw MedicalIOError.invalidHeader(file: r.file, message: "string value of undefined length") }
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

    /// The items of a sequence element, each as its elements (nested sequences skipped; read them with this
    /// function again). At most 100 000 items.
    func sequenceItems(_ seq: Element) throws -> [[UInt32: Element]] {
        let innerExplicit = seq.vr == "UN" ? false : explicit
        let limit = seq.length == Self.undefined ? r.count : seq.offset + seq.length
        try r.need(seq.offset, limit - seq.offset, "sequence")
        var items = [[UInt32: Element]]()
        var q = seq.offset
        while q + 8 <= limit {
            let g = try r.u16(q), el = try r.u16(q + 2)
            guard g == 0xFFFE else { throw MedicalIOError.invalidHeader(file: r.file, message: "sequence item expected at offset \(q)") }
            if el == 0xE0DD { break }
            guard el == 0xE000 else { throw MedicalIOError.invalidHeader(file: r.file, message: "bad item tag at offset \(q)") }
            guard items.count < 100_000 else { throw MedicalIOError.tooLarge(file: r.file, message: "more than 100000 sequence items") }
            let len = Int(try r.u32(q + 4))
            let itemEnd = len == Self.undefined ? limit : q + 8 + len
            try r.need(q + 8, itemEnd - (q + 8), "sequence item")
            var p = q + 8
            var out = [UInt32: Element]()
            while p + 8 <= itemEnd {
                let ig = try r.u16(p), ie = try r.u16(p + 2)
                if ig == 0xFFFE && ie == 0xE00D { p += 8; break }
                let (e, next) = try element(r, at: p, explicit: innerExplicit, depth: 1)
                guard next > p else { throw MedicalIOError.invalidHeader(file: r.file, message: "no progress at offset \(p)") }
                out[UInt32(ig) << 16 | UInt32(ie)] = e
                p = next
            }
            items.append(out)
            q = len == Self.undefined ? p : itemEnd
        }
        return items
    }

    /// One element at `p`: returns it and the offset after it (sequences are skipped whole). Encapsulated
    /// Pixel Data (undefined length) is returned with its value offset and the undefined length; the walk ends there.
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
            if g == 0x0028 && (el == 0x1101 || el == 0x1102 || el == 0x1103 || el == 0x3002) { vr = "US" }
        }
        let e = Element(vr: vr, offset: valueStart, length: len)
        if len == Self.undefined {
            if g == 0x7FE0 && el == 0x0010 { return (e, rr.count) }  // encapsulated pixel data: DICOMEncapsulated reads it
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

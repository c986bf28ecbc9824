import Foundation
import Imaging

/// A 2-D or 3-D scalar volume with its patient-space geometry, as 3-D Slicer and ITK store it: NRRD
/// (`.nrrd`, or `.nhdr` + raw/gzip data file) and MetaImage (`.mha`, or `.mhd` + `.raw`/`.zraw`).
///
/// `directions[i]` is the unit direction of voxel axis i (x = fastest) in the file's space, ``volume``'s
/// spacing the step along it (mm) and `origin` the centre of voxel (0, 0, 0). Every header number goes
/// through a checked conversion (sizes within ``MedicalIOLimits``, finite spacing and origin) with a typed error.
///
/// ```swift
/// let ct = try SpatialVolume.read(URL(fileURLWithPath: "ct.nrrd"))
/// try SpatialVolume(volume: labels, origin: ct.origin, directions: ct.directions).write(to: URL(fileURLWithPath: "seg.nrrd"), type: .uint8)
/// ```
public struct SpatialVolume: Sendable {
    public var volume: Volume
    public var origin: [Double]
    public var directions: [[Double]]
    /// NRRD `space` (e.g. `left-posterior-superior`); MetaImage files are LPS (ITK).
    public var space: String
    /// Exact values (Double) when ``volume``'s Float voxels are not (e.g. ``DICOMSeries/exactVoxels``); written
    /// instead of the Float voxels, so `.float64` output keeps them.
    public var exactVoxels: [Double]?

    public init(volume: Volume, origin: [Double] = [0, 0, 0],
                directions: [[Double]] = [[1, 0, 0], [0, 1, 0], [0, 0, 1]], space: String = "left-posterior-superior",
                exactVoxels: [Double]? = nil) {
        self.volume = volume; self.origin = origin; self.directions = directions; self.space = space
        self.exactVoxels = exactVoxels?.count == volume.voxels.count ? exactVoxels : nil
    }

    /// Sample types for writing.
    public enum SampleType: String, Sendable { case uint8, int16, uint16, int32, float32, float64 }

    /// Reads `.nrrd`, `.nhdr`, `.mha` or `.mhd` (by extension).
    /// - Throws: ``MedicalIOError`` for malformed headers, missing or short data, unsupported encodings, sizes past `limits`.
    public static func read(_ url: URL, limits: MedicalIOLimits = .default) throws -> SpatialVolume {
        switch url.pathExtension.lowercased() {
        case "nrrd", "nhdr": return try readNRRD(url, limits: limits)
        case "mha", "mhd": return try readMetaImage(url, limits: limits)
        default: throw MedicalIOError.unsupported(file: fileLabel(url), message: "not .nrrd/.nhdr/.mha/.mhd")
        }
    }

    /// Writes by extension: `.nrrd` (gzip-compressed, attached data), `.mha` (raw, local data) or `.nii` / `.nii.gz`
    /// (NIfTI-1, sform from the geometry converted to RAS).
    /// - Throws: ``MedicalIOError`` for an unknown extension, values that do not fit `type`, or I/O errors.
    public func write(to url: URL, type: SampleType = .float32) throws {
        let data = try encode(type)
        let v = volume
        let dims = v.depth > 1 ? [v.width, v.height, v.depth] : [v.width, v.height]
        let n = dims.count
        func vec(_ a: [Double]) -> String { "(" + a.prefix(n).map { fmt($0) }.joined(separator: ",") + ")" }
        switch url.pathExtension.lowercased() {
        case "nrrd":
            let nrrdType = ["uint8": "uint8", "int16": "int16", "uint16": "uint16", "int32": "int32", "float32": "float", "float64": "double"][type.rawValue] ?? "float"
            var h = "NRRD0004\n# written by MedSAM-Swift\ntype: \(nrrdType)\ndimension: \(n)\nspace: \(space)\n"
            h += "sizes: \(dims.map(String.init).joined(separator: " "))\n"
            h += "space directions: " + (0..<n).map { i in vec(directions[i].map { $0 * v.spacing[i] }) }.joined(separator: " ") + "\n"
            h += "kinds: \(Array(repeating: "domain", count: n).joined(separator: " "))\nendian: little\nencoding: gzip\n"
            h += "space origin: \(vec(origin))\n\n"
            try writeFile(Data(h.utf8) + Data(try Zlib.deflate(data, container: .gzip)), to: url)
        case "mha":
            let metType = ["uint8": "MET_UCHAR", "int16": "MET_SHORT", "uint16": "MET_USHORT", "int32": "MET_INT", "float32": "MET_FLOAT", "float64": "MET_DOUBLE"][type.rawValue] ?? "MET_FLOAT"
            var h = "ObjectType = Image\nNDims = \(n)\nBinaryData = True\nBinaryDataByteOrderMSB = False\nCompressedData = False\n"
            h += "TransformMatrix = " + (0..<n).flatMap { i in directions[i].prefix(n) }.map { fmt($0) }.joined(separator: " ") + "\n"
            h += "Offset = \(origin.prefix(n).map { fmt($0) }.joined(separator: " "))\n"
            h += "ElementSpacing = \(v.spacing.prefix(n).map { fmt($0) }.joined(separator: " "))\n"
            h += "DimSize = \(dims.map(String.init).joined(separator: " "))\nElementType = \(metType)\nElementDataFile = LOCAL\n"
            try writeFile(Data(h.utf8) + Data(data), to: url)
        case "nii", "gz" where url.lastPathComponent.lowercased().hasSuffix(".nii.gz"):
            let bytes = try niftiBytes(data, type: type)
            try writeFile(Data(url.pathExtension.lowercased() == "gz" ? try Zlib.deflate(bytes, container: .gzip) : bytes), to: url)
        default: throw MedicalIOError.invalidArgument("\(url.lastPathComponent): write .nrrd, .mha, .nii or .nii.gz")
        }
    }

    /// NIfTI-1 single file: sform (code 1, scanner) and qform-free header; the LPS directions/origin become RAS
    /// (x and y negated), as dcm2niix and ITK write them.
    func niftiBytes(_ data: [UInt8], type: SampleType) throws -> [UInt8] {
        let v = volume
        let (code, bitpix): (Int16, Int16) = [
            .uint8: (2, 8), .int16: (4, 16), .uint16: (512, 16), .int32: (8, 32), .float32: (16, 32), .float64: (64, 64),
        ][type] ?? (16, 32)
        var h = [UInt8]()
        h.appendLE(Int32(348)); h += [UInt8](repeating: 0, count: 36)
        let ndim: Int16 = v.depth > 1 ? 3 : 2
        for d in [ndim, Int16(clamping: v.width), Int16(clamping: v.height), Int16(clamping: v.depth), 1, 1, 1, 1] { h.appendLE(d) }
        guard v.width <= 32767, v.height <= 32767, v.depth <= 32767 else { throw MedicalIOError.invalidArgument("NIfTI-1 dimensions are at most 32767") }
        h += [UInt8](repeating: 0, count: 14)  // intent_p1..3, intent_code
        h.appendLE(code); h.appendLE(bitpix); h.appendLE(Int16(0))  // datatype, bitpix, slice_start
        for f in [Float(1), Float(v.spacing[0]), Float(v.spacing[1]), Float(v.spacing[2]), 0, 0, 0, 0] { h.appendLE(f.bitPattern) }
        h.appendLE(Float(352).bitPattern); h.appendLE(Float(1).bitPattern); h.appendLE(Float(0).bitPattern)  // vox_offset, scl
        h += [UInt8](repeating: 0, count: 2 + 1 + 1 + 2 * 4 + 4 + 4)  // slice_end, slice_code, xyzt_units, cal, slice_duration, toffset
        h[123] = 2  // xyzt_units: mm
        h += [UInt8](repeating: 0, count: 8 + 80 + 24)  // glmax, glmin, descrip, aux_file
        h.appendLE(Int16(0)); h.appendLE(Int16(1))  // qform_code, sform_code
        h += [UInt8](repeating: 0, count: 24)  // quatern b..d, qoffset x..z
        for row in 0..<3 {
            let sign: Double = row < 2 ? -1 : 1  // LPS → RAS
            for axis in 0..<3 { h.appendLE(Float(sign * directions[axis][row] * v.spacing[axis]).bitPattern) }
            h.appendLE(Float(sign * origin[row]).bitPattern)
        }
        h += [UInt8](repeating: 0, count: 16)  // intent_name
        h += Array("n+1\0".utf8)
        h += [0, 0, 0, 0]  // extension
        return h + data
    }

    func fmt(_ x: Double) -> String { x == x.rounded() && Swift.abs(x) < 1e15 ? String(Int(x)) : "\(x)" }

    func encode(_ type: SampleType) throws -> [UInt8] {
        var out = [UInt8]()
        let vs = exactVoxels ?? volume.voxels.map(Double.init)
        func integral(_ lo: Double, _ hi: Double) throws {
            if let i = vs.firstIndex(where: { !($0.isFinite && $0.rounded() == $0 && $0 >= lo && $0 <= hi) }) {
                throw MedicalIOError.invalidArgument("voxel \(i) = \(vs[i]) does not fit \(type.rawValue)")
            }
        }
        switch type {
        case .uint8: try integral(0, 255); out = vs.map { UInt8($0) }
        case .int16: try integral(-32768, 32767); out.reserveCapacity(2 * vs.count); for v in vs { out.appendLE(Int16(v)) }
        case .uint16: try integral(0, 65535); out.reserveCapacity(2 * vs.count); for v in vs { out.appendLE(UInt16(v)) }
        case .int32: try integral(-2147483648, 2147483647); out.reserveCapacity(4 * vs.count); for v in vs { out.appendLE(Int32(v)) }
        case .float32: out.reserveCapacity(4 * vs.count); for v in vs { out.appendLE(Float(v).bitPattern) }
        case .float64: out.reserveCapacity(8 * vs.count); for v in vs { out.appendLE(v.bitPattern) }
        }
        return out
    }

    // MARK: reading

    /// Header text up to the first blank line (NRRD) or the whole `key = value` block (MetaImage), at most 64 KB.
    static func headerLines(_ bytes: [UInt8], file: String, nrrd: Bool) -> (lines: [String], dataStart: Int) {
        var lines = [String](), p = 0
        while p < bytes.count && p < 1 << 16 {
            var q = p
            while q < bytes.count && bytes[q] != 0x0A { q += 1 }
            let line = String(decoding: bytes[p..<q], as: UTF8.self).trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
            p = Swift.min(q + 1, bytes.count)
            if nrrd && line.isEmpty { return (lines, p) }
            lines.append(line)
            if !nrrd && line.hasPrefix("ElementDataFile") { return (lines, p) }
        }
        return (lines, p)
    }

    static func int(_ s: String, _ what: String, _ file: String, max: Int) throws -> Int {
        guard let v = Int(s), v >= 1, v <= max else {
            throw MedicalIOError.invalidHeader(file: file, message: "\(what) '\(s)' is not an integer in 1…\(max)")
        }
        return v
    }

    static func number(_ s: String, _ what: String, _ file: String) throws -> Double {
        guard let v = DICOMValues.decimal(s), Swift.abs(v) <= 1e9 else {
            throw MedicalIOError.invalidHeader(file: file, message: "\(what) '\(s)' is not a finite number (|v| ≤ 1e9)")
        }
        return v
    }

    static func samples(_ bytes: [UInt8], offset: Int, count: Int, type: RawVolume.SampleType, big: Bool, file: String) throws -> [Float] {
        var r = ByteReader(bytes: bytes, file: file)
        r.bigEndian = big
        return try RawVolume.decodeSamples(r, offset: offset, count: count, type: type)
    }

    static func pixelType(_ t: RawVolume.SampleType) -> PixelType {
        switch t { case .uint8: .uint8; case .int8, .int16: .int16; case .uint16: .uint16; case .int32: .int32; case .float64: .float64
        default: .float32 }
    }

    static func build(_ values: [Float], dims: [Int], spacing: [Double], origin: [Double], directions: [[Double]], type: RawVolume.SampleType,
                      space: String) throws -> SpatialVolume {
        let d3 = dims + Array(repeating: 1, count: 3 - dims.count)
        let sp = spacing + Array(repeating: 1, count: 3 - spacing.count)
        var dirs = directions.map { $0 + Array(repeating: 0, count: Swift.max(0, 3 - $0.count)) }
        while dirs.count < 3 { var e = [0.0, 0, 0]; e[dirs.count] = 1; dirs.append(e) }
        let vol = try Volume(width: d3[0], height: d3[1], depth: d3[2], spacing: sp, voxels: values, pixelType: pixelType(type))
        return SpatialVolume(volume: vol, origin: origin + Array(repeating: 0, count: Swift.max(0, 3 - origin.count)), directions: dirs, space: space)
    }

    static func readNRRD(_ url: URL, limits: MedicalIOLimits) throws -> SpatialVolume {
        let file = fileLabel(url)
        let bytes = [UInt8](try readFile(url))
        guard bytes.count >= 8, bytes[0..<4].elementsEqual(Array("NRRD".utf8)) else { throw MedicalIOError.badMagic(file: file, expected: "NRRD") }
        let (lines, dataStart) = headerLines(bytes, file: file, nrrd: true)
        var f = [String: String]()
        for l in lines.dropFirst() where !l.hasPrefix("#") {
            guard let c = l.range(of: ": ") ?? l.range(of: ":=") else { continue }
            f[l[..<c.lowerBound].lowercased()] = String(l[c.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let dimS = f["dimension"], let sizesS = f["sizes"], let typeS = f["type"] else {
            throw MedicalIOError.missing(file: file, what: "NRRD dimension/sizes/type")
        }
        let n = try int(dimS, "dimension", file, max: 3)
        let dims = try sizesS.split(separator: " ").map { try int(String($0), "size", file, max: limits.maxDimension) }
        guard dims.count == n, n >= 2 else { throw MedicalIOError.unsupported(file: file, message: "NRRD with dimension \(n), sizes \(sizesS) (2-D or 3-D scalar only)") }
        let types: [String: RawVolume.SampleType] = [
            "uchar": .uint8, "unsigned char": .uint8, "uint8": .uint8, "uint8_t": .uint8, "signed char": .int8, "int8": .int8, "int8_t": .int8,
            "short": .int16, "short int": .int16, "signed short": .int16, "int16": .int16, "int16_t": .int16,
            "ushort": .uint16, "unsigned short": .uint16, "uint16": .uint16, "uint16_t": .uint16,
            "int": .int32, "signed int": .int32, "int32": .int32, "int32_t": .int32, "uint": .uint32, "unsigned int": .uint32,
            "uint32": .uint32, "uint32_t": .uint32, "float": .float32, "double": .float64,
        ]
        guard let type = types[typeS.lowercased()] else { throw MedicalIOError.unsupported(file: file, message: "NRRD type '\(typeS)'") }
        let count = try limits.checkedCount(dims, itemSize: type.size, file: file)
        let big = (f["endian"] ?? "little").lowercased() == "big"
        var spacing = Array(repeating: 1.0, count: n)
        var dirs = (0..<n).map { i -> [Double] in var e = [0.0, 0, 0]; e[i] = 1; return e }
        if let sd = f["space directions"] {
            let vecs = sd.components(separatedBy: ")").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " (")) }.filter { !$0.isEmpty }
            guard vecs.count == n else { throw MedicalIOError.invalidHeader(file: file, message: "space directions '\(sd)' for \(n) axes") }
            for (i, v) in vecs.enumerated() {
                let c = try v.split(separator: ",").map { try number(String($0).trimmingCharacters(in: .whitespaces), "space direction", file) }
                let norm = (c.map { $0 * $0 }.reduce(0, +)).squareRoot()
                guard c.count >= 2, norm > 0 else { throw MedicalIOError.invalidHeader(file: file, message: "space direction '\(v)'") }
                spacing[i] = norm; dirs[i] = c.map { $0 / norm }
            }
        } else if let sp = f["spacings"] {
            let s = try sp.split(separator: " ").map { try number(String($0), "spacing", file) }
            guard s.count == n, s.allSatisfy({ $0 > 0 }) else { throw MedicalIOError.invalidHeader(file: file, message: "spacings '\(sp)'") }
            spacing = s
        }
        var origin = [0.0, 0, 0]
        if let o = f["space origin"] {
            origin = try o.trimmingCharacters(in: CharacterSet(charactersIn: "() ")).split(separator: ",")
                .map { try number(String($0).trimmingCharacters(in: .whitespaces), "space origin", file) }
        }
        var data = bytes, offset = dataStart
        if let df = f["data file"] ?? f["datafile"] {
            guard !df.contains("%"), !df.hasPrefix("LIST") else { throw MedicalIOError.unsupported(file: file, message: "NRRD data file list '\(df)'") }
            let u = df.hasPrefix("/") ? URL(fileURLWithPath: df) : url.deletingLastPathComponent().appendingPathComponent(df)
            data = [UInt8](try readFile(u)); offset = 0
        }
        let skip = try f["byte skip"].map { s -> Int in
            guard let v = Int(s), v >= 0, v <= 1 << 30 else { throw MedicalIOError.invalidHeader(file: file, message: "byte skip '\(s)'") }
            return v
        } ?? 0
        let encoding = (f["encoding"] ?? "raw").lowercased()
        switch encoding {
        case "raw": break
        case "gzip", "gz":
            guard offset <= data.count else { throw MedicalIOError.truncated(file: file, message: "no data after the header") }
            data = try Zlib.inflate(data[offset...], container: .gzip, maxOutput: count * type.size + skip, file: file)
            offset = 0
        default: throw MedicalIOError.unsupported(file: file, message: "NRRD encoding '\(encoding)'")
        }
        let values = try samples(data, offset: offset + skip, count: count, type: type, big: big, file: file)
        return try build(values, dims: dims, spacing: spacing, origin: origin, directions: dirs, type: type,
                         space: f["space"] ?? "left-posterior-superior")
    }

    static func readMetaImage(_ url: URL, limits: MedicalIOLimits) throws -> SpatialVolume {
        let file = fileLabel(url)
        let bytes = [UInt8](try readFile(url))
        let (lines, dataStart) = headerLines(bytes, file: file, nrrd: false)
        var f = [String: String]()
        for l in lines {
            guard let eq = l.range(of: "=") else { continue }
            f[l[..<eq.lowerBound].trimmingCharacters(in: .whitespaces).lowercased()] = String(l[eq.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let nS = f["ndims"], let dimS = f["dimsize"], let typeS = f["elementtype"], let df = f["elementdatafile"] else {
            throw MedicalIOError.missing(file: file, what: "MetaImage NDims/DimSize/ElementType/ElementDataFile")
        }
        let n = try int(nS, "NDims", file, max: 3)
        let dims = try dimS.split(separator: " ").map { try int(String($0), "DimSize", file, max: limits.maxDimension) }
        guard dims.count == n, n >= 2 else { throw MedicalIOError.unsupported(file: file, message: "MetaImage NDims \(n), DimSize \(dimS)") }
        if let c = f["elementnumberofchannels"], c != "1" { throw MedicalIOError.unsupported(file: file, message: "\(c) channels") }
        let types: [String: RawVolume.SampleType] = ["MET_UCHAR": .uint8, "MET_CHAR": .int8, "MET_SHORT": .int16, "MET_USHORT": .uint16,
                                                     "MET_INT": .int32, "MET_UINT": .uint32, "MET_FLOAT": .float32, "MET_DOUBLE": .float64]
        guard let type = types[typeS.uppercased()] else { throw MedicalIOError.unsupported(file: file, message: "MetaImage ElementType '\(typeS)'") }
        let count = try limits.checkedCount(dims, itemSize: type.size, file: file)
        let big = ["true", "1"].contains((f["binarydatabyteordermsb"] ?? f["elementbyteordermsb"] ?? "False").lowercased())
        let spacing = try (f["elementspacing"] ?? f["elementsize"]).map { s -> [Double] in
            let v = try s.split(separator: " ").map { try number(String($0), "ElementSpacing", file) }
            guard v.count == n, v.allSatisfy({ $0 > 0 }) else { throw MedicalIOError.invalidHeader(file: file, message: "ElementSpacing '\(s)'") }
            return v
        } ?? Array(repeating: 1, count: n)
        let origin = try (f["offset"] ?? f["origin"] ?? f["position"]).map { s in try s.split(separator: " ").map { try number(String($0), "Offset", file) } } ?? []
        var dirs = (0..<n).map { i -> [Double] in var e = [Double](repeating: 0, count: n); e[i] = 1; return e }
        if let tm = f["transformmatrix"] ?? f["rotation"] ?? f["orientation"] {
            let v = try tm.split(separator: " ").map { try number(String($0), "TransformMatrix", file) }
            guard v.count == n * n else { throw MedicalIOError.invalidHeader(file: file, message: "TransformMatrix '\(tm)'") }
            dirs = (0..<n).map { i in Array(v[(i * n)..<((i + 1) * n)]) }
        }
        var data = bytes, offset = dataStart
        if df.uppercased() != "LOCAL" {
            guard !df.contains("%"), !df.uppercased().hasPrefix("LIST") else { throw MedicalIOError.unsupported(file: file, message: "MetaImage data file list '\(df)'") }
            let u = df.hasPrefix("/") ? URL(fileURLWithPath: df) : url.deletingLastPathComponent().appendingPathComponent(df)
            data = [UInt8](try readFile(u)); offset = 0
        }
        if ["true", "1"].contains((f["compresseddata"] ?? "False").lowercased()) {
            guard offset <= data.count else { throw MedicalIOError.truncated(file: file, message: "no data after the header") }
            data = try Zlib.inflate(data[offset...], container: .zlib, maxOutput: count * type.size, file: file)
            offset = 0
        }
        let values = try samples(data, offset: offset, count: count, type: type, big: big, file: file)
        return try build(values, dims: dims, spacing: spacing, origin: origin, directions: dirs, type: type, space: "left-posterior-superior")
    }
}

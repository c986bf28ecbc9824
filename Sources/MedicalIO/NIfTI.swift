import Foundation
import Imaging

/// A NIfTI-1 image (`.nii` or gzip-compressed `.nii.gz`, single file "n+1").
///
/// - Byte order is detected from `sizeof_hdr` (348 little- or big-endian).
/// - Values are rescaled `v·scl_slope + scl_inter` when `scl_slope` is finite and ≠ 0 (as nibabel does).
/// - The full 348-byte header is kept so a label volume can be written back with the same geometry
///   (``writeLabels(_:to:datatype:)``).
/// - ``axialSlice(_:t:)`` gives slice `k` as seen in the usual radiology viewers for RAS-stored volumes
///   (e.g. MNI templates): row 0 = largest y (anterior), column = x, i.e. `np.flipud(data[:, :, k].T)`.
///   ``Volume/slice(z:t:)`` gives the storage order instead (`data[:, :, k].T`). No reorientation by the
///   affine is done.
///
/// ```swift
/// let nii = try NIfTIImage.read(URL(fileURLWithPath: "brain.nii.gz"))
/// print(nii.volume.width, nii.volume.spacing)          // 197, [1, 1, 1]
/// let slice = try nii.axialSlice(60)                   // Image, 233 × 197
/// try nii.writeLabels(mask, to: URL(fileURLWithPath: "mask.nii.gz"))
/// ```
public struct NIfTIImage: Sendable {
    /// NIfTI-1 `datatype` codes that can be read.
    public enum DataType: Int16, Sendable {
        case uint8 = 2, int16 = 4, int32 = 8, float32 = 16, float64 = 64, int8 = 256, uint16 = 512, uint32 = 768
        case int64 = 1024, uint64 = 1280
        public var bitpix: Int16 {
            switch self { case .uint8, .int8: 8; case .int16, .uint16: 16; case .int32, .uint32, .float32: 32
            case .float64, .int64, .uint64: 64 }
        }
    }

    /// The 348 header bytes as read (in the file's byte order).
    public let headerBytes: [UInt8]
    public let bigEndian: Bool
    /// `dim[0...7]`.
    public let dim: [Int]
    /// `pixdim[0...7]` (`pixdim[0]` = qfac).
    public let pixdim: [Float]
    public let datatype: DataType
    public let voxOffset: Int
    public let sclSlope: Float, sclInter: Float
    /// The scaling applied to the stored values, in Double: NIfTI-2's `scl_slope` / `scl_inter` as stored (float64),
    /// NIfTI-1's float32 values widened. Each voxel is `Float(Double(stored) · slope + inter)`, rounded once.
    public let scaleSlope: Double, scaleIntercept: Double
    public let qformCode: Int, sformCode: Int
    /// `quatern_b, c, d, qoffset_x, y, z`.
    public let qform: [Float]
    /// `srow_x`, `srow_y`, `srow_z` (3 × 4).
    public let sform: [[Float]]
    public let volume: Volume

    /// The voxel → world (mm) affine, 3 × 4: sform if `sform_code > 0`, else qform if `qform_code > 0`,
    /// else the pixdim diagonal (like nibabel's `affine`).
    public var affine: [[Double]] {
        if sformCode > 0 { return sform.map { $0.map(Double.init) } }
        let dx = Double(pixdim[1]), dy = Double(pixdim[2]), dz = Double(pixdim[3])
        if qformCode <= 0 { return [[dx, 0, 0, 0], [0, dy, 0, 0], [0, 0, dz, 0]] }
        let b = Double(qform[0]), c = Double(qform[1]), d = Double(qform[2])
        let a = Swift.max(0, 1 - (b * b + c * c + d * d)).squareRoot()
        let qfac: Double = pixdim[0] < 0 ? -1 : 1
        let r = [[a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
                 [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
                 [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b]]
        return (0..<3).map { i in [r[i][0] * dx, r[i][1] * dy, r[i][2] * dz * qfac, Double(qform[3 + i])] }
    }

    /// Reads `.nii` or `.nii.gz` (detected from the gzip signature, not the name; NIfTI-1 or NIfTI-2), or an
    /// `.hdr`/`.img` pair (either name given; each may be gzipped).
    /// - Throws: ``MedicalIOError`` for malformed, truncated, oversized or unsupported files.
    public static func read(_ url: URL, limits: MedicalIOLimits = .default) throws -> NIfTIImage {
        let name = url.lastPathComponent.lowercased()
        if [".hdr", ".img", ".hdr.gz", ".img.gz"].contains(where: { name.hasSuffix($0) }) { return try readPair(url, limits: limits) }
        return try parse(readFile(url), file: fileLabel(url), limits: limits)
    }

    /// `.hdr` + `.img` (magic `ni1`): the header, then the data file from its `vox_offset`.
    static func readPair(_ url: URL, limits: MedicalIOLimits) throws -> NIfTIImage {
        let file = fileLabel(url)
        let path = url.path
        let gz = path.lowercased().hasSuffix(".gz")
        let stem = String(path.dropLast(gz ? 7 : 4))
        func load(_ ext: String) throws -> [UInt8] {
            for candidate in [stem + ext, stem + ext + ".gz"] where FileManager.default.fileExists(atPath: candidate) {
                let b = [UInt8](try readFile(URL(fileURLWithPath: candidate)))
                if b.count >= 2, b[0] == 0x1F, b[1] == 0x8B {
                    return try Zlib.inflate(b[...], container: .gzip, maxOutput: limits.maxBytes, file: file)
                }
                return b
            }
            throw MedicalIOError.missing(file: file, what: "the \(ext) file of the pair (\((stem as NSString).lastPathComponent)\(ext))")
        }
        var h = try load(".hdr")
        let img = try load(".img")
        var r = ByteReader(bytes: h, file: file)
        try r.need(0, 348, "NIfTI-1 header")
        if try r.i32(0) != 348 { r.bigEndian = true }
        guard try r.i32(0) == 348 else { throw MedicalIOError.badMagic(file: file, expected: "NIfTI-1 .hdr (sizeof_hdr 348)") }
        guard h[344..<348].elementsEqual([0x6E, 0x69, 0x31, 0]) || h[344..<348].elementsEqual([0x6E, 0x2B, 0x31, 0]) else {
            throw MedicalIOError.badMagic(file: file, expected: "NIfTI-1 .hdr (magic ni1)")
        }
        let vo = try r.f32(108)
        guard vo.isFinite, vo >= 0, vo < 1e9, Int(vo) <= img.count else {
            throw MedicalIOError.invalidHeader(file: file, message: "vox_offset \(vo) for a \(img.count)-byte .img")
        }
        // Re-frame as a single .nii: magic n+1, vox_offset 352 (in the header's byte order).
        h = Array(h[0..<348])
        h[344..<348] = [0x6E, 0x2B, 0x31, 0]
        let v = Float(352).bitPattern
        let vb: [UInt8] = (0..<4).map { UInt8((v >> (8 * UInt32($0))) & 0xFF) }
        h[108..<112] = ArraySlice(r.bigEndian ? vb.reversed() : vb)
        return try parseUncompressed(h + [0, 0, 0, 0] + img[Int(vo)...], file: file, limits: limits)
    }

    /// A NIfTI-2 header (`sizeof_hdr` 540, magic `n+2`) as the equivalent NIfTI-1 header (little endian, 352 bytes,
    /// `vox_offset` 352) and the data offset in the source; nil for other files. Dimensions must fit NIfTI-1
    /// (≤ 32 767); pixdim and the affines are stored as Float, the scaling is also returned in Double.
    static func nifti2Header(_ b: [UInt8], file: String) throws -> (header: [UInt8], dataOffset: Int, scaling: (slope: Double, intercept: Double))? {
        guard b.count >= 4 else { return nil }
        var r = ByteReader(bytes: b, file: file)
        if try r.i32(0) != 540 { r.bigEndian = true; guard try r.i32(0) == 540 else { return nil } }
        try r.need(0, 540, "NIfTI-2 header")
        guard b[4..<7].elementsEqual([0x6E, 0x2B, 0x32]) else {
            throw MedicalIOError.unsupported(file: file, message: "NIfTI-2 pairs (magic ni2) or bad magic; convert to .nii")
        }
        func f64(_ o: Int) throws -> Float {
            let d = try r.f64(o)
            guard d.isNaN || Swift.abs(d) <= Double(Float.greatestFiniteMagnitude) else {
                throw MedicalIOError.invalidHeader(file: file, message: "NIfTI-2 value \(d) at byte \(o) beyond Float range")
            }
            return Float(d)
        }
        var h = [UInt8]()
        h.appendLE(Int32(348)); h += [UInt8](repeating: 0, count: 36)
        for i in 0..<8 {
            let d = Int64(bitPattern: try r.u64(16 + 8 * i))
            guard d >= Int64(Int16.min), d <= Int64(Int16.max) else {
                throw MedicalIOError.unsupported(file: file, message: "NIfTI-2 dim[\(i)] = \(d): more than 32767 voxels per axis")
            }
            h.appendLE(Int16(d))
        }
        for o in [80, 88, 96] { h.appendLE(try f64(o).bitPattern) }  // intent_p1..3
        h.appendLE(Int16(truncatingIfNeeded: try r.i32(504)))        // intent_code
        h.appendLE(try r.i16(12)); h.appendLE(try r.i16(14))          // datatype, bitpix
        h.appendLE(Int16(0))                                          // slice_start
        for i in 0..<8 { h.appendLE(try f64(104 + 8 * i).bitPattern) }
        let vox = Int64(bitPattern: try r.u64(168))
        guard vox >= 0, vox <= 1 << 40 else { throw MedicalIOError.invalidHeader(file: file, message: "NIfTI-2 vox_offset \(vox)") }
        h.appendLE(Float(352).bitPattern)
        h.appendLE(try f64(176).bitPattern); h.appendLE(try f64(184).bitPattern)  // scl_slope, scl_inter
        h.appendLE(Int16(0)); h.append(0); h.append(UInt8(truncatingIfNeeded: try r.i32(500)))  // slice_end, slice_code, xyzt_units
        for o in [192, 200, 208, 216] { h.appendLE(try f64(o).bitPattern) }  // cal_max, cal_min, slice_duration, toffset
        h += [UInt8](repeating: 0, count: 8)                                   // glmax, glmin
        h += Array(try r.slice(240, 80)) + Array(try r.slice(320, 24))        // descrip, aux_file
        h.appendLE(Int16(truncatingIfNeeded: try r.i32(344))); h.appendLE(Int16(truncatingIfNeeded: try r.i32(348)))
        for i in 0..<6 { h.appendLE(try f64(352 + 8 * i).bitPattern) }       // quatern_b..d, qoffset_x..z
        for i in 0..<12 { h.appendLE(try f64(400 + 8 * i).bitPattern) }      // srow_x, srow_y, srow_z
        h += Array(try r.slice(508, 16))                                       // intent_name
        h += [0x6E, 0x2B, 0x31, 0, 0, 0, 0, 0]                                 // magic n+1, no extension
        return (h, Int(vox), (try r.f64(176), try r.f64(184)))
    }

    public static func parse(_ data: Data, file: String = "<memory>", limits: MedicalIOLimits = .default) throws -> NIfTIImage {
        var bytes = [UInt8](data)
        if bytes.count >= 2, bytes[0] == 0x1F, bytes[1] == 0x8B {
            // Inflate only as far as the header says the data reaches.
            var needed: Int? = nil
            var headerError: Error? = nil
            var runaway = false
            bytes = try Zlib.inflate(bytes[...], container: .gzip, maxOutput: limits.maxBytes, file: file) { out in
                if needed == nil, out.count >= 544 || (out.count >= 352 && !Self.isNIfTI2(out)) {
                    do {
                        if let (h2, off, _) = try Self.nifti2Header(Array(out[0..<Swift.min(out.count, 544)]), file: file) {
                            needed = try Self.dataEnd(ByteReader(bytes: h2, file: file), file: file, limits: limits) - 352 + off
                        } else {
                            needed = try Self.dataEnd(ByteReader(bytes: Array(out[0..<352]), file: file), file: file, limits: limits)
                        }
                    } catch { headerError = error; return true }
                }
                // Inflate to the stream's end so zlib checks the gzip CRC; stop only on runaway trailing data.
                // Data running on far past that end is not a NIfTI file (and stopping early would skip the CRC).
                if let n = needed, out.count > n + (1 << 20) { runaway = true; return true }
                return false
            }
            if let e = headerError { throw e }
            if runaway, let n = needed {
                throw MedicalIOError.corruptData(file: file, message: "the gzip stream goes on more than 1 MB past the \(n) bytes the header declares")
            }
            if let n = needed, bytes.count > n { bytes.removeSubrange(n...) }
        }
        if let (h2, off, scaling) = try nifti2Header(bytes, file: file) {
            guard off <= bytes.count else { throw MedicalIOError.truncated(file: file, message: "NIfTI-2 vox_offset \(off) past the end") }
            return try parseUncompressed(h2 + bytes[off...], file: file, limits: limits, scaling: scaling)
        }
        return try parseUncompressed(bytes, file: file, limits: limits)
    }

    static func isNIfTI2(_ b: [UInt8]) -> Bool {
        b.count >= 4 && (b[0..<4].elementsEqual([0x1C, 0x02, 0, 0]) || b[0..<4].elementsEqual([0, 0, 0x02, 0x1C]))
    }

    /// Byte order and end of the voxel data announced by a header (checks dims against the limits).
    private static func dataEnd(_ r0: ByteReader, file: String, limits: MedicalIOLimits) throws -> Int {
        let h = try Header(r0, file: file, limits: limits)
        return h.voxOffset + h.count * Int(h.datatype.bitpix / 8)
    }

    private struct Header {
        var r: ByteReader
        var dim: [Int], pixdim: [Float], datatype: DataType, voxOffset: Int, count: Int
        init(_ reader: ByteReader, file: String, limits: MedicalIOLimits) throws {
            var r = reader
            guard r.count >= 4 else { throw MedicalIOError.truncated(file: file, message: "shorter than a NIfTI header") }
            if try r.i32(0) != 348 {
                r.bigEndian = true
                guard try r.i32(0) == 348 else {
                    throw MedicalIOError.badMagic(file: file, expected: "NIfTI-1 (sizeof_hdr 348)")
                }
            }
            self.r = r
            try r.need(0, 348, "NIfTI-1 header")
            let magic = try r.slice(344, 4)
            if Array(magic) == [0x6E, 0x69, 0x31, 0] {
                throw MedicalIOError.unsupported(file: file, message: "NIfTI .hdr/.img pairs (magic ni1); convert to .nii")
            }
            guard Array(magic) == [0x6E, 0x2B, 0x31, 0] else { throw MedicalIOError.badMagic(file: file, expected: "NIfTI-1 (magic n+1)") }
            let dim = try (0..<8).map { Int(try r.i16(40 + 2 * $0)) }
            self.dim = dim
            pixdim = try (0..<8).map { try r.f32(76 + 4 * $0) }
            guard (1...7).contains(dim[0]) else { throw MedicalIOError.invalidHeader(file: file, message: "dim[0] = \(dim[0])") }
            guard dim[5...7].allSatisfy({ $0 <= 1 }) || dim[0] <= 4 else {
                throw MedicalIOError.unsupported(file: file, message: "more than 4 dimensions: \(dim)")
            }
            let code = try r.i16(70)
            guard let dt = DataType(rawValue: code) else {
                throw MedicalIOError.unsupported(file: file, message: "NIfTI datatype \(code)")
            }
            datatype = dt
            let used = (1...Swift.min(dim[0], 4)).map { dim[$0] }
            for d in used where d < 1 { throw MedicalIOError.invalidHeader(file: file, message: "dimension \(d) in \(dim)") }
            count = try limits.checkedCount(used, itemSize: Int(dt.bitpix / 8), file: file)
            let vo = try r.f32(108)
            guard vo.isFinite, vo >= 0, vo < 1e9 else { throw MedicalIOError.invalidHeader(file: file, message: "vox_offset \(vo)") }
            voxOffset = Swift.max(352, Int(vo))
        }
    }

    /// `scaling`: NIfTI-2's float64 `scl_slope` / `scl_inter` (the converted header holds them as Float).
    private static func parseUncompressed(_ bytes: [UInt8], file: String, limits: MedicalIOLimits,
                                          scaling: (slope: Double, intercept: Double)? = nil) throws -> NIfTIImage {
        let h = try Header(ByteReader(bytes: bytes, file: file), file: file, limits: limits)
        let r = h.r
        let size = Int(h.datatype.bitpix / 8)
        try r.need(h.voxOffset, h.count * size, "voxel data of \(h.dim[1...Swift.min(h.dim[0], 4)].map { $0 }) \(h.datatype)")
        let type: RawVolume.SampleType
        switch h.datatype {
        case .uint8: type = .uint8; case .int8: type = .int8; case .int16: type = .int16; case .uint16: type = .uint16
        case .int32: type = .int32; case .uint32: type = .uint32; case .float32: type = .float32; case .float64: type = .float64
        case .int64, .uint64: type = .float64
        }
        var values: [Float]
        if h.datatype == .int64 || h.datatype == .uint64 {
            values = try (0..<h.count).map { i in
                let u = try r.u64(h.voxOffset + 8 * i)
                return h.datatype == .int64 ? Float(Int64(bitPattern: u)) : Float(u)
            }
        } else {
            values = try RawVolume.decodeSamples(r, offset: h.voxOffset, count: h.count, type: type)
        }
        let slope = try r.f32(112), inter = try r.f32(116)
        var pt: PixelType
        switch h.datatype { case .uint8: pt = .uint8; case .int16: pt = .int16; case .uint16: pt = .uint16; case .int32: pt = .int32
        case .float64: pt = .float64; default: pt = .float32 }
        let slope64 = scaling?.slope ?? Double(slope), inter64 = scaling?.intercept ?? Double(inter)
        if slope64.isFinite, slope64 != 0, inter64.isFinite, !(slope64 == 1 && inter64 == 0) {
            for i in values.indices { values[i] = Float(Double(values[i]) * slope64 + inter64) }
            pt = .float32
        }
        let d = h.dim
        let nx = d[1], ny = d[0] >= 2 ? d[2] : 1, nz = d[0] >= 3 ? d[3] : 1, nt = d[0] >= 4 ? d[4] : 1
        let sp = (1...3).map { i -> Double in
            let v = Double(Swift.abs(h.pixdim[i])); return v.isFinite && v > 0 ? v : 1
        }
        let vol = try Volume(width: nx, height: ny, depth: nz, frames: nt, spacing: sp, voxels: values, pixelType: pt)
        let sform = try (0..<3).map { row in try (0..<4).map { try r.f32(280 + 16 * row + 4 * $0) } }
        return NIfTIImage(headerBytes: Array(r.bytes[0..<348]), bigEndian: r.bigEndian, dim: d, pixdim: h.pixdim,
                          datatype: h.datatype, voxOffset: h.voxOffset, sclSlope: slope, sclInter: inter,
                          scaleSlope: slope64, scaleIntercept: inter64,
                          qformCode: Int(try r.i16(252)), sformCode: Int(try r.i16(254)),
                          qform: try (0..<6).map { try r.f32(256 + 4 * $0) }, sform: sform, volume: vol)
    }

    /// Slice `k` (frame `t`) in display orientation: row r ↔ y = ny−1−r, column c ↔ x = c
    /// (`np.flipud(data[:, :, k].T)`).
    public func axialSlice(_ k: Int, t: Int = 0) throws -> Image {
        let s = try volume.slice(z: k, t: t)
        let w = s.width, h = s.height
        let flipped = s.storage.permuted { i in (h - 1 - i / w) * w + i % w }
        return try Image(storage: flipped, width: w, height: h, channels: 1, pixelType: s.pixelType)
    }

    /// Label data types for ``writeLabels(_:to:datatype:)``.
    public enum LabelType: Sendable { case uint8, int16 }

    /// Writes a label volume with this image's geometry: the source header is copied and only `datatype`,
    /// `bitpix`, `dim[0]`/`dim[4]` (3-D), `vox_offset` (352), `scl_slope/scl_inter` (0 = no scaling) and
    /// `cal_min/cal_max` change. `labels` is in ``Volume`` order (x fastest), one 3-D frame. The file is
    /// gzip-compressed when the name ends in `.gz`. Byte order is the source header's.
    public func writeLabels(_ labels: [Int], to url: URL, datatype: LabelType = .uint8) throws {
        try Data(labelFileBytes(labels, datatype: datatype, gzip: url.pathExtension.lowercased() == "gz"))
            .write(to: url, options: .atomic)
    }

    /// The bytes ``writeLabels(_:to:datatype:)`` writes.
    public func labelFileBytes(_ labels: [Int], datatype: LabelType = .uint8, gzip: Bool = false) throws -> [UInt8] {
        let n = volume.width * volume.height * volume.depth
        guard labels.count == n else { throw MedicalIOError.invalidArgument("labels: expected \(n) values, got \(labels.count)") }
        let range = datatype == .uint8 ? 0...255 : Int(Int16.min)...Int(Int16.max)
        if let bad = labels.first(where: { !range.contains($0) }) {
            throw MedicalIOError.invalidArgument("label \(bad) does not fit \(datatype)")
        }
        var h = headerBytes
        func put16(_ o: Int, _ v: Int16) { let u = UInt16(bitPattern: v); let b = [UInt8(u & 0xFF), UInt8(u >> 8)]
            h[o] = bigEndian ? b[1] : b[0]; h[o + 1] = bigEndian ? b[0] : b[1] }
        func putF(_ o: Int, _ v: Float) { var b = (0..<4).map { UInt8((v.bitPattern >> (8 * UInt32($0))) & 0xFF) }
            if bigEndian { b.reverse() }; for i in 0..<4 { h[o + i] = b[i] } }
        let dt: DataType = datatype == .uint8 ? .uint8 : .int16
        put16(40, 3); put16(48, 1)
        put16(70, dt.rawValue); put16(72, dt.bitpix)
        putF(108, 352); putF(112, 0); putF(116, 0); putF(124, 0); putF(128, 0)
        h.replaceSubrange(344..<348, with: [0x6E, 0x2B, 0x31, 0])
        var out = h + [0, 0, 0, 0]
        out.reserveCapacity(352 + n * Int(dt.bitpix / 8))
        for v in labels {
            if dt == .uint8 { out.append(UInt8(v)) } else {
                let u = UInt16(bitPattern: Int16(v))
                if bigEndian { out += [UInt8(u >> 8), UInt8(u & 0xFF)] } else { out += [UInt8(u & 0xFF), UInt8(u >> 8)] }
            }
        }
        return gzip ? try Zlib.deflate(out, container: .gzip) : out
    }
}

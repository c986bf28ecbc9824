import Foundation

/// Decoders for one frame of encapsulated DICOM Pixel Data.
///
/// | transfer syntax | decoder |
/// |---|---|
/// | RLE Lossless `1.2.840.10008.1.2.5` | ``DICOMRLE`` (in this package: PackBits segments, no library needed) |
/// | JPEG Baseline `…4.50`, Extended `…4.51` (8-bit) | libjpeg-turbo's TurboJPEG API |
/// | JPEG Lossless `…4.57`, `…4.70` | ``JPEGLossless`` (in this package: libjpeg-turbo 2.1 has no lossless mode) |
/// | JPEG-LS `…4.80`, `…4.81` | CharLS |
/// | JPEG 2000 `…4.90`, `…4.91` | OpenJPEG |
///
/// 12-bit JPEG Extended is refused with a typed error: the TurboJPEG API of libjpeg-turbo 2.1 (Debian 12)
/// decodes 8-bit samples only.
///
/// ```swift
/// let layout = DICOMCodec.Layout(rows: 64, columns: 64, samplesPerPixel: 1, bitsAllocated: 16, bitsStored: 12)
/// let values = try DICOMCodec.decodeFrame(fragmentBytes, transferSyntaxUID: "1.2.840.10008.1.2.5", layout: layout)
/// ```
public enum DICOMCodec {
    /// The compressed transfer syntaxes this package decodes.
    public enum Syntax: String, Sendable, CaseIterable {
        case rle = "1.2.840.10008.1.2.5"
        case jpegBaseline = "1.2.840.10008.1.2.4.50"
        case jpegExtended = "1.2.840.10008.1.2.4.51"
        case jpegLossless = "1.2.840.10008.1.2.4.57"
        case jpegLosslessSV1 = "1.2.840.10008.1.2.4.70"
        case jpegLSLossless = "1.2.840.10008.1.2.4.80"
        case jpegLSNearLossless = "1.2.840.10008.1.2.4.81"
        case jpeg2000Lossless = "1.2.840.10008.1.2.4.90"
        case jpeg2000 = "1.2.840.10008.1.2.4.91"

        public init?(uid: String) { self.init(rawValue: uid) }

        var isJPEGFamily: Bool { self != .rle }
        public var name: String {
            switch self {
            case .rle: "RLE Lossless"; case .jpegBaseline: "JPEG Baseline"; case .jpegExtended: "JPEG Extended"
            case .jpegLossless: "JPEG Lossless"; case .jpegLosslessSV1: "JPEG Lossless SV1"
            case .jpegLSLossless: "JPEG-LS Lossless"; case .jpegLSNearLossless: "JPEG-LS Near-Lossless"
            case .jpeg2000Lossless: "JPEG 2000 Lossless"; case .jpeg2000: "JPEG 2000"
            }
        }
    }

    /// What the header says a frame holds.
    public struct Layout: Sendable, Hashable {
        public var rows: Int, columns: Int, samplesPerPixel: Int
        public var bitsAllocated: Int, bitsStored: Int
        public var signed: Bool
        public var planarConfiguration: Int
        public var photometric: String
        public init(rows: Int, columns: Int, samplesPerPixel: Int = 1, bitsAllocated: Int, bitsStored: Int, signed: Bool = false,
                    planarConfiguration: Int = 0, photometric: String = "MONOCHROME2") {
            self.rows = rows; self.columns = columns; self.samplesPerPixel = samplesPerPixel
            self.bitsAllocated = bitsAllocated; self.bitsStored = bitsStored; self.signed = signed
            self.planarConfiguration = planarConfiguration; self.photometric = photometric
        }
        var samples: Int { rows * columns * samplesPerPixel }

        /// Signed data: the low `bitsStored` bits as two's complement (as pydicom); unsigned data is kept.
        func resolveSign(_ v: inout [Double]) {
            guard signed, bitsStored >= 1, bitsStored <= 32 else { return }
            let m = Int64(1) << Int64(bitsStored), half = m >> 1
            for i in v.indices {
                var x = Int64(v[i]) & (m - 1)
                if x >= half { x -= m }
                v[i] = Double(x)
            }
        }
    }

    /// Decodes one frame (all its fragments concatenated) to stored values, samples interleaved, signed values
    /// resolved, YBR_FULL converted to RGB.
    /// - Throws: ``MedicalIOError`` (corrupt data, a frame that does not match `layout`, unsupported precision).
    public static func decodeFrame(_ bytes: [UInt8], transferSyntaxUID: String, layout: Layout,
                                   limits: MedicalIOLimits = .default, file: String = "<memory>") throws -> [Double] {
        guard let s = Syntax(uid: transferSyntaxUID) else {
            throw MedicalIOError.unsupported(file: file, message: "transfer syntax \(transferSyntaxUID)")
        }
        let l = layout
        guard l.rows >= 1, l.columns >= 1, [1, 3].contains(l.samplesPerPixel), [8, 16, 32].contains(l.bitsAllocated),
              (1...l.bitsAllocated).contains(l.bitsStored) else {
            throw MedicalIOError.invalidHeader(file: file, message: "frame layout \(l.rows)×\(l.columns)×\(l.samplesPerPixel), \(l.bitsAllocated)/\(l.bitsStored) bits")
        }
        _ = try limits.checkedCount([l.rows, l.columns, l.samplesPerPixel], itemSize: 8, file: file)
        return try decode(bytes, syntax: s, layout: l, limits: limits, file: file)
    }

    static func decode(_ bytes: [UInt8], syntax: Syntax, layout l: Layout, limits: MedicalIOLimits, file: String) throws -> [Double] {
        var v: [Double]
        var convertYBR = l.photometric == "YBR_FULL"
        switch syntax {
        case .rle: v = try DICOMRLE.decode(bytes, layout: l, file: file)
        case .jpegBaseline, .jpegExtended:
            v = try TurboJPEGFrame.decode(bytes, layout: l, limits: limits, file: file)
            convertYBR = false  // libjpeg converts YCbCr to RGB itself
        case .jpegLossless, .jpegLosslessSV1:
            let img = try JPEGLossless.decode(bytes, limits: limits, file: file)
            try check(img.width, img.height, img.components, img.precision, l, "JPEG Lossless", file)
            v = img.samples.map(Double.init)
        case .jpegLSLossless, .jpegLSNearLossless: v = try CharLSFrame.decode(bytes, layout: l, limits: limits, file: file)
        case .jpeg2000Lossless, .jpeg2000:
            v = try OpenJPEGFrame.decode(bytes, layout: l, limits: limits, file: file)
            convertYBR = false
        }
        l.resolveSign(&v)
        if convertYBR && l.samplesPerPixel == 3 { v = DICOMColor.ybrFullToRGB(v, bits: l.bitsStored) }
        return v
    }

    /// A decoded frame must have the header's size and sample count, and a precision that fits BitsAllocated.
    static func check(_ w: Int, _ h: Int, _ c: Int, _ precision: Int, _ l: Layout, _ what: String, _ file: String) throws {
        guard w == l.columns, h == l.rows, c == l.samplesPerPixel else {
            throw MedicalIOError.invalidHeader(file: file, message: "\(what) frame is \(h)×\(w)×\(c), the header says \(l.rows)×\(l.columns)×\(l.samplesPerPixel)")
        }
        guard precision <= l.bitsAllocated else {
            throw MedicalIOError.invalidHeader(file: file, message: "\(what) precision \(precision) exceeds BitsAllocated \(l.bitsAllocated)")
        }
    }
}

/// RLE Lossless (PS3.5 Annex G): a 64-byte header (segment count, 15 offsets) and PackBits segments, one per
/// byte of each sample (most significant byte first), each holding one plane of `rows · columns` bytes.
enum DICOMRLE {
    static func decode(_ d: [UInt8], layout l: DICOMCodec.Layout, file: String) throws -> [Double] {
        guard d.count >= 64 else { throw MedicalIOError.truncated(file: file, message: "RLE frame of \(d.count) bytes has no 64-byte header") }
        let r = ByteReader(bytes: d, file: file)
        let bytesPerSample = l.bitsAllocated / 8
        let nSeg = Int(try r.u32(0))
        guard nSeg == bytesPerSample * l.samplesPerPixel else {
            throw MedicalIOError.corruptData(file: file, message: "RLE frame has \(nSeg) segments, \(l.samplesPerPixel) samples of \(l.bitsAllocated) bits need \(bytesPerSample * l.samplesPerPixel)")
        }
        let offsets = try (0..<nSeg).map { Int(try r.u32(4 + 4 * $0)) }
        let plane = l.rows * l.columns
        // PackBits yields at most 128 bytes per 2 input bytes: refuse a plane the frame cannot hold before allocating it.
        guard plane <= 64 * d.count else {
            throw MedicalIOError.corruptData(file: file, message: "RLE frame of \(d.count) bytes cannot hold \(nSeg) segments of \(plane) bytes")
        }
        var out = [Double](repeating: 0, count: plane * l.samplesPerPixel)
        for k in 0..<nSeg {
            let start = offsets[k], end = k + 1 < nSeg ? offsets[k + 1] : d.count
            guard start >= 64, start <= end, end <= d.count else {
                throw MedicalIOError.corruptData(file: file, message: "RLE segment \(k) offsets \(start)..<\(end) outside the \(d.count)-byte frame")
            }
            let seg = try packBits(d, start, end, count: plane, file: file, segment: k)
            let sample = k / bytesPerSample, shift = Double(1 << (8 * (bytesPerSample - 1 - k % bytesPerSample)))
            for i in 0..<plane { out[i * l.samplesPerPixel + sample] += Double(seg[i]) * shift }
        }
        return out
    }

    /// PackBits: n in 0…127 copies n+1 literal bytes, n in −127…−1 repeats the next byte 1−n times, −128 is a no-op.
    static func packBits(_ d: [UInt8], _ start: Int, _ end: Int, count: Int, file: String, segment: Int) throws -> [UInt8] {
        var out = [UInt8](); out.reserveCapacity(count)
        var p = start
        while p < end && out.count < count {
            let n = Int(Int8(bitPattern: d[p])); p += 1
            if n >= 0 {
                let m = Swift.min(n + 1, count - out.count)
                guard p + n + 1 <= end else { throw MedicalIOError.corruptData(file: file, message: "RLE segment \(segment): literal run past its end") }
                out += d[p..<(p + m)]; p += n + 1
            } else if n != -128 {
                guard p < end else { throw MedicalIOError.corruptData(file: file, message: "RLE segment \(segment): repeat run past its end") }
                out += repeatElement(d[p], count: Swift.min(1 - n, count - out.count)); p += 1
            }
        }
        guard out.count == count else {
            throw MedicalIOError.corruptData(file: file, message: "RLE segment \(segment) decodes to \(out.count) bytes, \(count) expected")
        }
        return out
    }
}

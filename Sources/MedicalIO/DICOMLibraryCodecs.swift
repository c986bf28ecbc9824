import CCharLS
import COpenJPEG
import CTurboJPEG
import Foundation

/// JPEG Baseline / Extended (8-bit) frames through libjpeg-turbo's TurboJPEG API.
enum TurboJPEGFrame {
    /// The precision of the first SOF marker (nil when none is found in the first bytes).
    static func sofPrecision(_ d: [UInt8]) -> (marker: UInt8, precision: Int)? {
        var p = 2
        while p + 4 < d.count {
            guard d[p] == 0xFF else { p += 1; continue }
            let m = d[p + 1]
            if m == 0xFF { p += 1; continue }
            if (0xC0...0xCF).contains(m) && m != 0xC4 && m != 0xC8 && m != 0xCC {
                return p + 4 < d.count ? (m, Int(d[p + 4])) : nil
            }
            if m == 0xD8 || m == 0x01 || (0xD0...0xD7).contains(m) { p += 2; continue }
            let len = Int(d[p + 2]) << 8 | Int(d[p + 3])
            guard len >= 2 else { return nil }
            p += 2 + len
        }
        return nil
    }

    /// True when the stream has a JFIF (APP0) or Adobe (APP14) marker, which fix the colour transform.
    static func hasColourMarker(_ d: [UInt8]) -> Bool {
        var p = 2
        while p + 8 < d.count, d[p] == 0xFF {
            let m = d[p + 1]
            if m == 0xDA || m == 0xD9 { return false }
            let len = Int(d[p + 2]) << 8 | Int(d[p + 3])
            if m == 0xE0 && d[(p + 4)..<(p + 8)].elementsEqual(Array("JFIF".utf8)) { return true }
            // An Adobe segment shorter than its 12 data bytes is ignored by libjpeg (pydicom's SC_rgb_jpeg.dcm has one).
            if m == 0xEE && len >= 14 && p + 9 < d.count && d[(p + 4)..<(p + 9)].elementsEqual(Array("Adobe".utf8)) { return true }
            guard len >= 2 else { return false }
            p += 2 + len
        }
        return false
    }

    static func decode(_ src: [UInt8], layout l: DICOMCodec.Layout, limits: MedicalIOLimits, file: String) throws -> [Double] {
        guard src.count >= 4, src[0] == 0xFF, src[1] == 0xD8 else { throw MedicalIOError.corruptData(file: file, message: "JPEG frame has no SOI marker") }
        if let (m, prec) = sofPrecision(src) {
            if m == 0xC3 || m == 0xC7 || m == 0xCB || m == 0xCF {
                throw MedicalIOError.corruptData(file: file, message: "lossless JPEG (SOF\(m - 0xC0)) under a lossy JPEG transfer syntax")
            }
            guard prec == 8 else {
                throw MedicalIOError.unsupported(file: file, message: "\(prec)-bit JPEG (SOF\(m - 0xC0)): the linked libjpeg-turbo 2.1 decodes 8-bit JPEG only")
            }
        }
        var bytes = src
        guard let handle = tjInitDecompress() else { throw MedicalIOError.invalidArgument("TurboJPEG init failed") }
        defer { tjDestroy(handle) }
        func fail(_ what: String) -> MedicalIOError {
            .corruptData(file: file, message: "\(what): \(String(cString: tjGetErrorStr2(handle)))")
        }
        var w: Int32 = 0, h: Int32 = 0, sub: Int32 = 0, cs: Int32 = 0
        let hr = bytes.withUnsafeMutableBufferPointer { tjDecompressHeader3(handle, $0.baseAddress, UInt($0.count), &w, &h, &sub, &cs) }
        guard hr == 0 else { throw fail("JPEG header") }
        if cs == Int32(TJCS_CMYK.rawValue) || cs == Int32(TJCS_YCCK.rawValue) {
            throw MedicalIOError.unsupported(file: file, message: "CMYK JPEG in DICOM")
        }
        let channels = cs == Int32(TJCS_GRAY.rawValue) ? 1 : 3
        try DICOMCodec.check(Int(w), Int(h), channels, 8, l, "JPEG", file)
        let count = try limits.checkedCount([Int(h), Int(w), channels], file: file)
        // Photometric RGB with neither a JFIF nor an Adobe marker: the components are R, G, B (no colour transform),
        // as pydicom + libjpeg decode them; libjpeg-turbo would take them as YCbCr. Read the planes raw (4:4:4 only).
        if l.photometric == "RGB", channels == 3, cs == Int32(TJCS_YCbCr.rawValue), !hasColourMarker(src) {
            guard sub == Int32(TJSAMP_444.rawValue) else {
                throw MedicalIOError.unsupported(file: file, message: "subsampled RGB JPEG without a colour transform")
            }
            let plane = Int(w) * Int(h)
            var planes = [UInt8](repeating: 0, count: 3 * plane)
            let r = planes.withUnsafeMutableBufferPointer { pl in
                var ptrs: [UnsafeMutablePointer<UInt8>?] = [pl.baseAddress, pl.baseAddress.map { $0 + plane }, pl.baseAddress.map { $0 + 2 * plane }]
                var strides: [Int32] = [w, w, w]
                return bytes.withUnsafeMutableBufferPointer { s in
                    tjDecompressToYUVPlanes(handle, s.baseAddress, UInt(s.count), &ptrs, w, &strides, h, 0)
                }
            }
            guard r == 0 else { throw fail("JPEG data") }
            var out = [Double](repeating: 0, count: count)
            for i in 0..<plane { for k in 0..<3 { out[i * 3 + k] = Double(planes[k * plane + i]) } }
            return out
        }
        var out = [UInt8](repeating: 0, count: count)
        let fmt = channels == 1 ? Int32(TJPF_GRAY.rawValue) : Int32(TJPF_RGB.rawValue)
        let r = bytes.withUnsafeMutableBufferPointer { s in
            out.withUnsafeMutableBufferPointer { d in tjDecompress2(handle, s.baseAddress, UInt(s.count), d.baseAddress, w, 0, h, fmt, 0) }
        }
        guard r == 0 else { throw fail("JPEG data") }
        return out.map(Double.init)
    }
}

/// JPEG-LS frames through CharLS's C API.
enum CharLSFrame {
    /// `frame` ending in an end-of-image marker (trailing zero padding allowed): a stream cut short is given one.
    /// CharLS 2.4.1 (Debian 12) reads past the end of a buffer without a closing marker and spends tens of
    /// seconds on a 26-byte frame before it reports invalid data (FuzzJPEGLS,
    /// `Fixtures/corpus/dicom/fuzz-jpegls-no-eoi-slow*.dcm`); with the marker it stops at once.
    static func closed(_ frame: [UInt8]) -> [UInt8] {
        var end = frame.count
        while end > 0 && frame[end - 1] == 0 { end -= 1 }
        if end >= 2 && frame[end - 2] == 0xFF && frame[end - 1] == 0xD9 { return frame }
        return frame + [0xFF, 0xD9]
    }

    static func decode(_ frame: [UInt8], layout l: DICOMCodec.Layout, limits: MedicalIOLimits, file: String) throws -> [Double] {
        let src = closed(frame)
        guard let dec = charls_jpegls_decoder_create() else { throw MedicalIOError.invalidArgument("CharLS init failed") }
        defer { charls_jpegls_decoder_destroy(dec) }
        func fail(_ what: String, _ e: charls_jpegls_errc) -> MedicalIOError {
            .corruptData(file: file, message: "JPEG-LS \(what): \(charls_get_error_message(e).map { String(cString: $0) } ?? "error \(e.rawValue)")")
        }
        return try src.withUnsafeBytes { s -> [Double] in
            guard let base = s.baseAddress else { throw MedicalIOError.corruptData(file: file, message: "empty JPEG-LS frame") }
            var e = charls_jpegls_decoder_set_source_buffer(dec, base, s.count)
            guard e == CHARLS_JPEGLS_ERRC_SUCCESS else { throw fail("source", e) }
            e = charls_jpegls_decoder_read_header(dec)
            guard e == CHARLS_JPEGLS_ERRC_SUCCESS else { throw fail("header", e) }
            var info = charls_frame_info()
            e = charls_jpegls_decoder_get_frame_info(dec, &info)
            guard e == CHARLS_JPEGLS_ERRC_SUCCESS else { throw fail("frame info", e) }
            var mode = CHARLS_INTERLEAVE_MODE_NONE
            e = charls_jpegls_decoder_get_interleave_mode(dec, &mode)
            guard e == CHARLS_JPEGLS_ERRC_SUCCESS else { throw fail("interleave mode", e) }
            let w = Int(info.width), h = Int(info.height), c = Int(info.component_count), bits = Int(info.bits_per_sample)
            try DICOMCodec.check(w, h, c, bits, l, "JPEG-LS", file)
            let bps = bits <= 8 ? 1 : 2
            let n = try limits.checkedCount([h, w, c], itemSize: bps, file: file)
            var size = 0
            e = charls_jpegls_decoder_get_destination_size(dec, 0, &size)
            guard e == CHARLS_JPEGLS_ERRC_SUCCESS, size == n * bps else { throw fail("destination size", e) }
            var buf = [UInt8](repeating: 0, count: size)
            e = buf.withUnsafeMutableBytes { d in
                guard let p = d.baseAddress else { return CHARLS_JPEGLS_ERRC_INVALID_ARGUMENT }
                return charls_jpegls_decoder_decode_to_buffer(dec, p, size, 0)
            }
            guard e == CHARLS_JPEGLS_ERRC_SUCCESS else { throw fail("data", e) }
            var out = [Double](repeating: 0, count: n)
            for i in 0..<n { out[i] = bps == 1 ? Double(buf[i]) : Double(UInt16(buf[2 * i]) | UInt16(buf[2 * i + 1]) << 8) }
            if c > 1 && mode == CHARLS_INTERLEAVE_MODE_NONE {  // planes → interleaved
                let plane = w * h, src = out
                for k in 0..<c { for i in 0..<plane { out[i * c + k] = src[k * plane + i] } }
            }
            return out
        }
    }
}

/// JPEG 2000 frames (J2K codestream or JP2 file) through OpenJPEG, read from memory.
enum OpenJPEGFrame {
    final class Source {
        let base: UnsafeRawPointer, count: Int
        var pos = 0
        var errors = [String]()
        init(base: UnsafeRawPointer, count: Int) { self.base = base; self.count = count }
    }

    static func decode(_ src: [UInt8], layout l: DICOMCodec.Layout, limits: MedicalIOLimits, file: String) throws -> [Double] {
        let isJP2 = src.count >= 12 && src[4..<8].elementsEqual(Array("jP  ".utf8))
        let isJ2K = src.count >= 4 && src[0] == 0xFF && src[1] == 0x4F && src[2] == 0xFF && src[3] == 0x51
        guard isJP2 || isJ2K else { throw MedicalIOError.corruptData(file: file, message: "JPEG 2000 frame has no SOC/SIZ or JP2 signature") }
        return try src.withUnsafeBytes { raw -> [Double] in
            guard let base = raw.baseAddress else { throw MedicalIOError.corruptData(file: file, message: "empty JPEG 2000 frame") }
            let source = Source(base: base, count: raw.count)
            let user = Unmanaged.passUnretained(source).toOpaque()
            guard let codec = opj_create_decompress(isJP2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K) else {
                throw MedicalIOError.invalidArgument("OpenJPEG init failed")
            }
            defer { opj_destroy_codec(codec) }
            let onError: opj_msg_callback = { msg, data in
                guard let msg, let data else { return }
                let s = Unmanaged<Source>.fromOpaque(data).takeUnretainedValue()
                if s.errors.count < 8 { s.errors.append(String(cString: msg).trimmingCharacters(in: .whitespacesAndNewlines)) }
            }
            let quiet: opj_msg_callback = { _, _ in }
            opj_set_error_handler(codec, onError, user)
            opj_set_warning_handler(codec, quiet, user)
            opj_set_info_handler(codec, quiet, user)
            var params = opj_dparameters_t()
            opj_set_default_decoder_parameters(&params)
            guard opj_setup_decoder(codec, &params) != 0 else { throw MedicalIOError.invalidArgument("OpenJPEG setup failed") }
            guard let stream = opj_stream_create(1 << 16, 1) else { throw MedicalIOError.invalidArgument("OpenJPEG stream failed") }
            defer { opj_stream_destroy(stream) }
            opj_stream_set_read_function(stream) { buf, n, data in
                guard let buf, let data else { return -1 /* (OPJ_SIZE_T)-1 = end of stream; size_t imports as Int */ }
                let s = Unmanaged<Source>.fromOpaque(data).takeUnretainedValue()
                let left = s.count - s.pos
                guard left > 0 else { return -1 /* (OPJ_SIZE_T)-1 = end of stream; size_t imports as Int */ }
                let k = Swift.min(Int(n), left)
                buf.copyMemory(from: s.base + s.pos, byteCount: k)
                s.pos += k
                return OPJ_SIZE_T(k)
            }
            opj_stream_set_skip_function(stream) { n, data in
                guard let data else { return -1 }
                let s = Unmanaged<Source>.fromOpaque(data).takeUnretainedValue()
                let target = Swift.max(0, Swift.min(s.count, s.pos + Int(n)))
                let moved = target - s.pos
                s.pos = target
                return OPJ_OFF_T(moved)
            }
            opj_stream_set_seek_function(stream) { n, data in
                guard let data else { return 0 }
                let s = Unmanaged<Source>.fromOpaque(data).takeUnretainedValue()
                guard n >= 0, Int(n) <= s.count else { return 0 }
                s.pos = Int(n)
                return 1
            }
            opj_stream_set_user_data(stream, user, nil)
            opj_stream_set_user_data_length(stream, UInt64(raw.count))
            func fail(_ what: String) -> MedicalIOError {
                .corruptData(file: file, message: "JPEG 2000 \(what)" + (source.errors.isEmpty ? "" : ": " + source.errors.joined(separator: "; ")))
            }
            var imagePtr: UnsafeMutablePointer<opj_image_t>? = nil
            guard opj_read_header(stream, codec, &imagePtr) != 0, let image = imagePtr else { throw fail("header") }
            defer { opj_image_destroy(image) }
            let img = image.pointee
            let w = Int(img.x1) - Int(img.x0), h = Int(img.y1) - Int(img.y0), c = Int(img.numcomps)
            guard w > 0, h > 0, c > 0, let comps0 = img.comps else { throw fail("header (empty image)") }
            let prec0 = Int(comps0[0].prec)
            try DICOMCodec.check(w, h, c, prec0, l, "JPEG 2000", file)
            _ = try limits.checkedCount([h, w, c], itemSize: 8, file: file)
            guard opj_decode(codec, stream, image) != 0, opj_end_decompress(codec, stream) != 0 else { throw fail("data") }
            guard let comps = image.pointee.comps else { throw fail("data (no components)") }
            var out = [Double](repeating: 0, count: w * h * c)
            for k in 0..<c {
                let comp = comps[k]
                guard Int(comp.w) == w, Int(comp.h) == h, let data = comp.data else {
                    throw MedicalIOError.unsupported(file: file, message: "JPEG 2000 component \(k) is \(comp.w)×\(comp.h) (subsampled) for a \(w)×\(h) image")
                }
                guard Int(comp.prec) <= l.bitsAllocated else { throw fail("component \(k) precision \(comp.prec)") }
                for i in 0..<(w * h) { out[i * c + k] = Double(data[i]) }
            }
            return out
        }
    }
}

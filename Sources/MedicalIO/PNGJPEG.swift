import CPNG
import CTurboJPEG
import Foundation
import Imaging

/// PNG reading and writing through libpng's simplified `png_image_*` API (errors come back as return
/// codes, so a corrupt file is a thrown ``MedicalIOError``, never a crash).
///
/// Reading: 8-bit files give ``PixelType/uint8`` values 0…255, 16-bit files ``PixelType/uint16`` values
/// 0…65535; gray, gray+alpha, RGB, RGBA and palette images are accepted (alpha is dropped, palette
/// expanded to RGB, gray+alpha read as gray). Caveats of the simplified API: a file whose `gAMA`/`sRGB`
/// chunk disagrees with the default (sRGB for 8-bit, linear for 16-bit) is gamma-converted, and 16-bit
/// images with alpha come back premultiplied. Medical PNGs (no gamma chunks, no alpha) read exactly.
///
/// ```swift
/// let mask = try PNGFile.read(URL(fileURLWithPath: "mask.png"))        // 16-bit labels → .uint16
/// try PNGFile.write(mask, to: URL(fileURLWithPath: "copy.png"), bitDepth: 16)
/// ```
public enum PNGFile {
    /// Reads a PNG file into an ``Image`` (1 or 3 channels).
    public static func read(_ url: URL, limits: MedicalIOLimits = .default) throws -> Image {
        try decode(readFile(url), file: fileLabel(url), limits: limits)
    }

    public static func decode(_ data: Data, file: String = "<memory>", limits: MedicalIOLimits = .default) throws -> Image {
        let bytes = [UInt8](data)
        guard bytes.count >= 8, bytes[0..<8].elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else {
            throw MedicalIOError.badMagic(file: file, expected: "PNG")
        }
        // libpng reads from the memory given to begin_read until finish_read returns, so the whole
        // decode runs inside one withUnsafeBytes scope (the buffer must stay valid; an escaped
        // pointer breaks in optimised builds).
        return try bytes.withUnsafeBytes { raw in try decode(raw, file: file, limits: limits) }
    }

    private static func decode(_ raw: UnsafeRawBufferPointer, file: String, limits: MedicalIOLimits) throws -> Image {
        var img = png_image()
        img.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&img) }
        func fail(_ what: String) -> MedicalIOError {
            let msg = withUnsafeBytes(of: img.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return .corruptData(file: file, message: "\(what): \(msg)")
        }
        let ok = png_image_begin_read_from_memory(&img, raw.baseAddress, raw.count)
        guard ok != 0 else { throw fail("PNG header") }
        let w = Int(img.width), h = Int(img.height)
        let fileFormat = img.format
        let sixteen = fileFormat & UInt32(PNG_FORMAT_FLAG_LINEAR) != 0
        let color = fileFormat & UInt32(PNG_FORMAT_FLAG_COLOR) != 0
        let alpha = fileFormat & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0
        let channels = color ? 3 : 1
        let stored = channels + (alpha ? 1 : 0)  // keep alpha while decoding (no compositing), drop it after
        _ = try limits.checkedCount([h, w, stored], itemSize: sixteen ? 2 : 1, file: file)
        img.format = (color ? UInt32(PNG_FORMAT_FLAG_COLOR) : 0) | (sixteen ? UInt32(PNG_FORMAT_FLAG_LINEAR) : 0)
            | (alpha ? UInt32(PNG_FORMAT_FLAG_ALPHA) : 0)
        let n = w * h * stored
        var pixels: [Float]
        if sixteen {
            var buf = [UInt16](repeating: 0, count: n)
            let r = buf.withUnsafeMutableBytes { png_image_finish_read(&img, nil, $0.baseAddress, 0, nil) }
            guard r != 0 else { throw fail("PNG data") }
            pixels = buf.map(Float.init)
        } else {
            var buf = [UInt8](repeating: 0, count: n)
            let r = buf.withUnsafeMutableBytes { png_image_finish_read(&img, nil, $0.baseAddress, 0, nil) }
            guard r != 0 else { throw fail("PNG data") }
            pixels = buf.map(Float.init)
        }
        if alpha {
            var kept = [Float](); kept.reserveCapacity(w * h * channels)
            for p in 0..<(w * h) { kept.append(contentsOf: pixels[(p * stored)..<(p * stored + channels)]) }
            pixels = kept
        }
        return try Image(pixels: pixels, width: w, height: h, channels: channels, pixelType: sixteen ? .uint16 : .uint8)
    }

    /// PNG bytes for a 1-channel image at 8 or 16 bits, or a 3-channel image at 8 bits. Values must be
    /// integers in range (0…255 or 0…65535).
    public static func encode(_ image: Image, bitDepth: Int = 8) throws -> Data {
        guard bitDepth == 8 || (bitDepth == 16 && image.channels == 1) else {
            throw MedicalIOError.invalidArgument("PNG writing supports 8-bit gray/RGB and 16-bit gray, not \(bitDepth)-bit with \(image.channels) channels")
        }
        let maxV: Float = bitDepth == 8 ? 255 : 65535
        let pixels = image.pixels
        if let i = pixels.firstIndex(where: { $0 < 0 || $0 > maxV || $0.rounded() != $0 }) {
            throw MedicalIOError.invalidArgument("pixel \(i) = \(pixels[i]) is not an integer in 0…\(Int(maxV))")
        }
        var img = png_image()
        img.version = UInt32(PNG_IMAGE_VERSION)
        img.width = UInt32(image.width); img.height = UInt32(image.height)
        img.format = (image.channels == 3 ? UInt32(PNG_FORMAT_FLAG_COLOR) : 0) | (bitDepth == 16 ? UInt32(PNG_FORMAT_FLAG_LINEAR) : 0)
        defer { png_image_free(&img) }
        func run(_ buffer: UnsafeRawPointer) throws -> Data {
            var size = 0
            guard png_image_write_to_memory(&img, nil, &size, 0, buffer, 0, nil) != 0, size > 0 else {
                throw MedicalIOError.invalidArgument("libpng cannot encode this image")
            }
            var out = [UInt8](repeating: 0, count: size)
            let ok = out.withUnsafeMutableBytes { png_image_write_to_memory(&img, $0.baseAddress, &size, 0, buffer, 0, nil) }
            guard ok != 0 else { throw MedicalIOError.invalidArgument("libpng failed to encode") }
            return Data(out[0..<size])
        }
        if bitDepth == 16 {
            let b = pixels.map { UInt16($0) }
            return try b.withUnsafeBytes { try run($0.baseAddress!) }
        }
        let b = pixels.map { UInt8($0) }
        return try b.withUnsafeBytes { try run($0.baseAddress!) }
    }

    /// Writes a PNG file (see ``encode(_:bitDepth:)``).
    public static func write(_ image: Image, to url: URL, bitDepth: Int = 8) throws {
        try writeFile(encode(image, bitDepth: bitDepth), to: url)
    }
}

/// Baseline/progressive 8-bit JPEG reading through libjpeg-turbo's TurboJPEG API (accurate DCT and fancy
/// upsampling, the same defaults as PIL). Gray files give 1 channel, colour files 3 (RGB); CMYK is refused.
/// libjpeg warnings (e.g. a truncated file) are treated as errors.
///
/// ```swift
/// let photo = try JPEGFile.read(URL(fileURLWithPath: "fundus.jpg"))     // .uint8, 3 channels
/// ```
public enum JPEGFile {
    public static func read(_ url: URL, limits: MedicalIOLimits = .default) throws -> Image {
        try decode(readFile(url), file: fileLabel(url), limits: limits)
    }

    public static func decode(_ data: Data, file: String = "<memory>", limits: MedicalIOLimits = .default) throws -> Image {
        var bytes = [UInt8](data)
        guard bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8 else { throw MedicalIOError.badMagic(file: file, expected: "JPEG") }
        guard let handle = tjInitDecompress() else { throw MedicalIOError.invalidArgument("TurboJPEG init failed") }
        defer { tjDestroy(handle) }
        func fail(_ what: String) -> MedicalIOError {
            .corruptData(file: file, message: "\(what): \(String(cString: tjGetErrorStr2(handle)))")
        }
        var w: Int32 = 0, h: Int32 = 0, sub: Int32 = 0, cs: Int32 = 0
        let hr = bytes.withUnsafeMutableBufferPointer { tjDecompressHeader3(handle, $0.baseAddress, UInt($0.count), &w, &h, &sub, &cs) }
        guard hr == 0 else { throw fail("JPEG header") }
        if cs == Int32(TJCS_CMYK.rawValue) || cs == Int32(TJCS_YCCK.rawValue) {
            throw MedicalIOError.unsupported(file: file, message: "CMYK JPEG")
        }
        let gray = cs == Int32(TJCS_GRAY.rawValue)
        let channels = gray ? 1 : 3
        let count = try limits.checkedCount([Int(h), Int(w), channels], file: file)
        var out = [UInt8](repeating: 0, count: count)
        let fmt = gray ? Int32(TJPF_GRAY.rawValue) : Int32(TJPF_RGB.rawValue)
        let r = bytes.withUnsafeMutableBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                tjDecompress2(handle, src.baseAddress, UInt(src.count), dst.baseAddress, w, 0, h, fmt, 0)
            }
        }
        guard r == 0 else { throw fail("JPEG data") }
        return try Image(uint8: out, width: Int(w), height: Int(h), channels: channels)
    }
}

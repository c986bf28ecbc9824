import CZlibIO
import Foundation
import Imaging

/// zlib through the system library (see `Sources/CZlibIO`). Every decoder here bounds its input to the
/// given bytes and its output to `maxOutput`; truncated streams are errors, never loops.
enum Zlib {
    enum Container { case raw, gzip, zlib }

    /// Inflates `input` completely. With `.gzip`, concatenated members are inflated in turn and each
    /// member's CRC-32 / size trailer is verified by zlib. Stops with `tooLarge` past `maxOutput` bytes.
    static func inflate(_ input: ArraySlice<UInt8>, container: Container, maxOutput: Int, file: String,
                        stopAfter: ((inout [UInt8]) throws -> Bool)? = nil) throws -> [UInt8] {
        var out = [UInt8]()
        if input.isEmpty { throw MedicalIOError.truncated(file: file, message: "empty compressed stream") }
        let strm = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        strm.initialize(to: z_stream())
        defer { strm.deinitialize(count: 1); strm.deallocate() }
        let wbits: Int32 = container == .gzip ? 15 + 16 : container == .zlib ? 15 : -15
        guard inflateInit2_(strm, wbits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw MedicalIOError.corruptData(file: file, message: "zlib inflateInit failed")
        }
        defer { inflateEnd(strm) }
        let chunk = 1 << 16
        var buffer = [UInt8](repeating: 0, count: chunk)
        try input.withUnsafeBufferPointer { inBuf in
            var consumed = 0
            let total = inBuf.count
            while true {
                let avail = min(total - consumed, Int(UInt32.max / 2))
                strm.pointee.next_in = inBuf.baseAddress.map { UnsafeMutablePointer(mutating: $0 + consumed) }  // nil for empty input
                strm.pointee.avail_in = UInt32(avail)
                var ret: Int32 = Z_OK
                var progressed = false
                repeat {
                    let produced: Int = buffer.withUnsafeMutableBufferPointer { ob in
                        strm.pointee.next_out = ob.baseAddress
                        strm.pointee.avail_out = UInt32(chunk)
                        ret = CZlibIO.inflate(strm, Z_NO_FLUSH)
                        return chunk - Int(strm.pointee.avail_out)
                    }
                    if ret == Z_NEED_DICT || ret == Z_DATA_ERROR || ret == Z_MEM_ERROR || ret == Z_STREAM_ERROR {
                        let msg = strm.pointee.msg.map { String(cString: $0) } ?? "code \(ret)"
                        throw MedicalIOError.corruptData(file: file, message: "inflate: \(msg)")
                    }
                    if produced > 0 {
                        progressed = true
                        guard out.count + produced <= maxOutput else {
                            throw MedicalIOError.tooLarge(file: file, message: "decompressed data exceeds \(maxOutput) bytes")
                        }
                        out.append(contentsOf: buffer[0..<produced])
                        if let stop = stopAfter, try stop(&out) { return }
                    }
                } while strm.pointee.avail_out == 0 && ret != Z_STREAM_END
                let used = avail - Int(strm.pointee.avail_in)
                if used > 0 { progressed = true }
                consumed += used
                if ret == Z_STREAM_END {
                    // gzip: another member may follow (ignore trailing zero padding).
                    if container == .gzip, consumed < total, inBuf[consumed] == 0x1F {
                        guard inflateReset(strm) == Z_OK else {
                            throw MedicalIOError.corruptData(file: file, message: "inflateReset failed")
                        }
                        continue
                    }
                    return
                }
                if consumed >= total || !progressed {
                    throw MedicalIOError.truncated(file: file, message: "compressed stream ends before its end marker")
                }
            }
        }
        return out
    }

    /// Compresses with zlib's default level; `.gzip` writes a gzip member, `.raw` a bare deflate stream.
    static func deflate(_ input: [UInt8], container: Container, level: Int32 = 6) throws -> [UInt8] {
        let strm = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        strm.initialize(to: z_stream())
        defer { strm.deinitialize(count: 1); strm.deallocate() }
        let wbits: Int32 = container == .gzip ? 15 + 16 : container == .zlib ? 15 : -15
        guard deflateInit2_(strm, level, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                            Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw MedicalIOError.invalidArgument("zlib deflateInit failed")
        }
        defer { deflateEnd(strm) }
        var out = [UInt8]()
        let chunk = 1 << 16
        var buffer = [UInt8](repeating: 0, count: chunk)
        try input.withUnsafeBufferPointer { inBuf in
            var consumed = 0
            while true {
                let avail = min(inBuf.count - consumed, 1 << 30)
                strm.pointee.next_in = avail > 0 ? inBuf.baseAddress.map { UnsafeMutablePointer(mutating: $0 + consumed) } : nil
                strm.pointee.avail_in = UInt32(avail)
                let flush = consumed + avail >= inBuf.count ? Z_FINISH : Z_NO_FLUSH
                var ret: Int32 = Z_OK
                repeat {
                    let produced: Int = buffer.withUnsafeMutableBufferPointer { ob in
                        strm.pointee.next_out = ob.baseAddress
                        strm.pointee.avail_out = UInt32(chunk)
                        ret = CZlibIO.deflate(strm, flush)
                        return chunk - Int(strm.pointee.avail_out)
                    }
                    guard ret != Z_STREAM_ERROR else { throw MedicalIOError.invalidArgument("zlib deflate failed") }
                    out.append(contentsOf: buffer[0..<produced])
                } while strm.pointee.avail_out == 0
                consumed += avail
                if flush == Z_FINISH { break }
            }
        }
        return out
    }

    static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc = CZlibIO.crc32(0, nil, 0)
        bytes.withUnsafeBufferPointer { b in
            var p = 0
            while p < b.count {
                let n = min(b.count - p, 1 << 30)
                crc = CZlibIO.crc32(crc, b.baseAddress.map { $0 + p }, UInt32(n))
                p += n
            }
        }
        return UInt32(crc)
    }
}

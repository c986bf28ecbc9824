import Foundation
import Tensor

/// Reader and writer for the safetensors format:
/// `u64 LE header length`, a JSON header `{name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}`,
/// then the raw little-endian tensor bytes (offsets relative to the end of the header).
public enum Safetensors {
    /// Largest header accepted (the reference implementation uses the same 100 MB limit).
    public static let maxHeaderSize = 100_000_000
    /// Deepest JSON nesting accepted in a header (a valid header needs 3).
    static let maxJSONDepth = 16

    // MARK: - Reading

    static func read(_ url: URL) throws -> LoadedTensors {
        let path = url.path
        let fileSize = try FileProbe.size(of: url)
        guard fileSize >= 8 else { throw CheckpointError.truncated(path) }
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw CheckpointError.unreadable(path, reason: "\(error)")
        }
        return try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> LoadedTensors in
            try parse(raw, path: path)
        }
    }

    /// Parses a whole safetensors file held in memory.
    static func parse(_ raw: UnsafeRawBufferPointer, path: String) throws -> LoadedTensors {
        guard raw.count >= 8 else { throw CheckpointError.truncated(path) }
        let n = raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian
        guard n <= UInt64(maxHeaderSize) else { throw CheckpointError.headerTooLarge(n) }
        let headerLen = Int(n)
        guard headerLen <= raw.count - 8 else {
            throw CheckpointError.truncated(path)
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: raw[8..<(8 + headerLen)])
        let dataStart = 8 + headerLen
        let dataSize = raw.count - dataStart

        try checkNesting(headerBytes)
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(headerBytes), options: [])
        } catch {
            throw CheckpointError.invalidHeader("not valid JSON (\(error))")
        }
        guard let header = json as? [String: Any] else { throw CheckpointError.invalidHeader("top level is not an object") }

        var out = LoadedTensors()
        if let meta = header["__metadata__"] {
            guard let m = meta as? [String: Any] else {
                throw CheckpointError.invalidHeader("__metadata__ is not an object")
            }
            for (k, v) in m {
                guard let s = v as? String else {
                    throw CheckpointError.invalidHeader("__metadata__ value for '\(k)' is not a string")
                }
                out.metadata[k] = s
            }
        }

        struct Item { var key: String; var dtype: CheckpointDType; var shape: [Int]; var begin: Int; var end: Int }
        var items: [Item] = []
        for (key, value) in header where key != "__metadata__" {
            guard let info = value as? [String: Any] else {
                throw CheckpointError.invalidHeader("entry '\(key)' is not an object")
            }
            guard let dt = info["dtype"] as? String else { throw CheckpointError.invalidHeader("entry '\(key)' has no dtype") }
            guard let dtype = CheckpointDType(rawValue: dt) else { throw CheckpointError.badDType(dt) }
            guard let shapeAny = info["shape"] as? [Any], shapeAny.count <= 64 else {
                throw CheckpointError.invalidHeader("entry '\(key)' has no valid shape")
            }
            let shape = try shapeAny.map { (v: Any) -> Int in
                guard let d = exactInt(v), d >= 0 else {
                    throw CheckpointError.invalidHeader("entry '\(key)' has an invalid dimension")
                }
                return d
            }
            guard let offs = info["data_offsets"] as? [Any], offs.count == 2,
                let begin = exactInt(offs[0]), let end = exactInt(offs[1]), begin >= 0, end >= begin
            else { throw CheckpointError.invalidHeader("entry '\(key)' has invalid data_offsets") }
            guard end <= dataSize else {
                throw CheckpointError.invalidHeader("entry '\(key)' data_offsets [\(begin), \(end)] run past the data block of \(dataSize) bytes")
            }
            var bytes = dtype.itemSize
            for d in shape {
                let (b, o) = bytes.multipliedReportingOverflow(by: d)
                guard !o else { throw CheckpointError.invalidHeader("entry '\(key)' shape \(shape) overflows") }
                bytes = b
            }
            guard bytes == end - begin else {
                throw CheckpointError.invalidHeader("entry '\(key)' is \(dtype) \(shape) = \(bytes) bytes but data_offsets span \(end - begin)")
            }
            items.append(Item(key: key, dtype: dtype, shape: shape, begin: begin, end: end))
        }
        items.sort { ($0.begin, $0.end, $0.key) < ($1.begin, $1.end, $1.key) }
        var previousEnd = 0
        var previousKey = ""
        for it in items where it.end > it.begin {
            guard it.begin >= previousEnd else {
                throw CheckpointError.invalidHeader("entries '\(previousKey)' and '\(it.key)' overlap")
            }
            previousEnd = it.end
            previousKey = it.key
        }

        let base = raw.baseAddress! + dataStart
        for it in items {
            var t = Tensor(uninitializedShape: it.shape)
            let count = t.count
            if count > 0 {
                t.withUnsafeMutableBufferPointer { buf in
                    it.dtype.convert(base + it.begin, count: count, to: buf.baseAddress!)
                }
            }
            out.add(it.key, t, it.dtype)
        }
        return out
    }

    private static func exactInt(_ v: Any) -> Int? {
        if let i = v as? Int { return i }
        if let n = v as? NSNumber {
            let d = n.doubleValue
            guard d.rounded() == d, abs(d) < 9.0e15 else { return nil }
            return Int(d)
        }
        return nil
    }

    /// Rejects JSON nested deeper than `maxJSONDepth` before handing it to a recursive parser.
    private static func checkNesting(_ bytes: UnsafeRawBufferPointer) throws {
        var depth = 0
        var inString = false
        var escaped = false
        for b in bytes {
            if inString {
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch b {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                guard depth <= maxJSONDepth else { throw CheckpointError.invalidHeader("JSON nested deeper than \(maxJSONDepth) levels") }
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            default: break
            }
        }
    }

    // MARK: - Writing

    /// Writes tensors as safetensors: keys in sorted order, data in the same order,
    /// header padded with spaces to a multiple of 8 bytes. `half` stores F16 instead of F32.
    /// `dtypes` stores single keys otherwise: `.int8` (values must be integers in −128…127, e.g. quantised
    /// weights), `.bfloat16` (rounded to nearest even), `.float32`.
    public static func write(
        _ tensors: [String: Tensor], to url: URL, half: Bool = false, metadata: [String: String] = [:],
        dtypes: [String: CheckpointDType] = [:]
    ) throws {
        let keys = tensors.keys.sorted()
        func dtypeOf(_ k: String) -> CheckpointDType { dtypes[k] ?? (half ? .float16 : .float32) }
        for (k, d) in dtypes where ![.int8, .bfloat16, .float32, .float16].contains(d) {
            throw CheckpointError.writeFailed(url.path, reason: "cannot write \(k) as \(d)")
        }
        for (k, d) in dtypes where d == .int8 {
            if let t = tensors[k], !t.scalars.allSatisfy({ $0 == $0.rounded() && $0 >= -128 && $0 <= 127 }) {
                throw CheckpointError.writeFailed(url.path, reason: "\(k): values are not int8")
            }
        }
        var json = "{"
        var parts: [String] = []
        if !metadata.isEmpty {
            let m = metadata.keys.sorted().map { jsonString($0) + ":" + jsonString(metadata[$0]!) }
            parts.append("\"__metadata__\":{" + m.joined(separator: ",") + "}")
        }
        var offset = 0
        for k in keys {
            let t = tensors[k]!
            let end = offset + t.count * dtypeOf(k).itemSize
            parts.append(jsonString(k) + ":{\"dtype\":\"\(dtypeOf(k).rawValue)\",\"shape\":["
                + t.shape.map(String.init).joined(separator: ",") + "],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        json += parts.joined(separator: ",") + "}"
        var header = Array(json.utf8)
        while (8 + header.count) % 8 != 0 { header.append(UInt8(ascii: " ")) }

        let path = url.path
        guard let f = fopen(path, "wb") else {
            throw CheckpointError.writeFailed(path, reason: String(cString: strerror(errno)))
        }
        var ok = true
        func put(_ p: UnsafeRawPointer, _ n: Int) {
            if ok && n > 0 && fwrite(p, 1, n, f) != n { ok = false }
        }
        var len = UInt64(header.count).littleEndian
        withUnsafeBytes(of: &len) { put($0.baseAddress!, 8) }
        header.withUnsafeBytes { put($0.baseAddress!, $0.count) }
        let chunk = 1 << 16
        var buf = [UInt16](repeating: 0, count: chunk)
        var bytes = [Int8](repeating: 0, count: chunk)
        for k in keys {
            let d = dtypeOf(k)
            tensors[k]!.withUnsafeBufferPointer { src in
                if d == .float32 {
                    if let b = src.baseAddress { put(b, src.count * 4) }
                    return
                }
                var i = 0
                while i < src.count {
                    let n = min(chunk, src.count - i)
                    switch d {
                    case .int8:
                        for j in 0..<n { bytes[j] = Int8(src[i + j]) }
                        bytes.withUnsafeBytes { put($0.baseAddress!, n) }
                    case .bfloat16:
                        for j in 0..<n { buf[j] = floatToBFloat16Bits(src[i + j]).littleEndian }
                        buf.withUnsafeBytes { put($0.baseAddress!, n * 2) }
                    default:
                        for j in 0..<n { buf[j] = floatToHalfBits(src[i + j]).littleEndian }
                        buf.withUnsafeBytes { put($0.baseAddress!, n * 2) }
                    }
                    i += n
                }
            }
        }
        let closed = fclose(f) == 0
        guard ok && closed else {
            throw CheckpointError.writeFailed(path, reason: String(cString: strerror(errno)))
        }
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    out += String(format: "\\u%04x", u.value)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}

/// fp32 → bf16 bits, round to nearest even (NaN stays a quiet NaN).
@inline(__always)
func floatToBFloat16Bits(_ x: Float) -> UInt16 {
    let u = x.bitPattern
    if x.isNaN { return UInt16(truncatingIfNeeded: u >> 16) | 0x40 }
    return UInt16(truncatingIfNeeded: (u &+ 0x7FFF &+ ((u >> 16) & 1)) >> 16)
}

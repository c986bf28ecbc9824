import Foundation
import Imaging
import ZIPFoundation

/// A NumPy `.npz` archive: named arrays, as written by `np.savez` (stored entries) and
/// `np.savez_compressed` (deflated entries).
///
/// Reading uses a small bounded ZIP reader over the bytes in memory plus system zlib, not ZIPFoundation's
/// reader: ZIPFoundation 0.9.20's Linux inflate loop spins forever on a deflate stream that runs past the
/// end of the file (reproduced with a 1.2 KB crafted archive), and feeds zlib bytes beyond the entry.
/// Here every entry's input is bounded by its compressed size, its output by its declared size (and the
/// 1032:1 deflate ratio), and its CRC-32 is checked. Writing uses ZIPFoundation (deflate, like
/// `np.savez_compressed`).
///
/// ```swift
/// let npz = try NPZArchive.read(url)
/// let imgs = try npz.array("imgs")                  // NPYArray
/// try NPZArchive.write([("segs", segs)], to: out)   // compressed
/// ```
public struct NPZArchive: Sendable {
    /// Array names in archive order (entry names without the `.npy` suffix).
    public let names: [String]
    public let arrays: [String: NPYArray]

    public init(_ items: [(String, NPYArray)]) {
        names = items.map(\.0)
        arrays = Dictionary(items, uniquingKeysWith: { _, b in b })
    }

    public subscript(name: String) -> NPYArray? { arrays[name] }

    /// The array `name`, or ``MedicalIOError/missing(file:what:)``.
    public func array(_ name: String, file: String = "npz") throws -> NPYArray {
        guard let a = arrays[name] else { throw MedicalIOError.missing(file: file, what: "array '\(name)' (has \(names))") }
        return a
    }

    /// Reads every `.npy` entry of an `.npz` file.
    public static func read(_ url: URL, limits: MedicalIOLimits = .default) throws -> NPZArchive {
        try parse(readFile(url), file: fileLabel(url), limits: limits)
    }

    /// Parses `.npz` bytes.
    public static func parse(_ data: Data, file: String = "<memory>", limits: MedicalIOLimits = .default) throws -> NPZArchive {
        let zip = try ZipReader(bytes: [UInt8](data), file: file, limits: limits)
        var items = [(String, NPYArray)]()
        for e in zip.entries {
            let bytes = try zip.contents(of: e)
            let name = e.name.hasSuffix(".npy") ? String(e.name.dropLast(4)) : e.name
            items.append((name, try NPYArray.parse(bytes: bytes, file: "\(file)/\(e.name)", limits: limits)))
        }
        return NPZArchive(items)
    }

    /// The `.npz` bytes; `compressed` = `np.savez_compressed` (deflate), otherwise `np.savez` (stored).
    public static func data(_ items: [(String, NPYArray)], compressed: Bool = true) throws -> Data {
        do {
            let archive = try Archive(data: Data(), accessMode: .create)
            for (name, array) in items {
                let npy = array.npyData()
                try archive.addEntry(with: name + ".npy", type: .file, uncompressedSize: Int64(npy.count),
                                     compressionMethod: compressed ? .deflate : .none) { pos, size in
                    npy.subdata(in: Int(pos)..<(Int(pos) + size))
                }
            }
            guard let d = archive.data else { throw MedicalIOError.invalidArgument("ZIP archive produced no data") }
            return d
        } catch let e as MedicalIOError { throw e } catch {
            throw MedicalIOError.invalidArgument("cannot build .npz: \(error)")
        }
    }

    /// Writes an `.npz` file (compressed by default).
    public static func write(_ items: [(String, NPYArray)], to url: URL, compressed: Bool = true) throws {
        try writeFile(data(items, compressed: compressed), to: url)
    }
}

/// Minimal read-only ZIP (incl. ZIP64) directory reader for in-memory archives.
struct ZipReader {
    struct Entry { let name: String; let method: UInt16; let flags: UInt16; let crc: UInt32
        let compressedSize: Int; let size: Int; let localOffset: Int }
    let r: ByteReader
    let entries: [Entry]
    let limits: MedicalIOLimits

    init(bytes: [UInt8], file: String, limits: MedicalIOLimits) throws {
        r = ByteReader(bytes: bytes, file: file)
        self.limits = limits
        let n = bytes.count
        guard n >= 22 else {
            if n >= 4, bytes[0] == 0x50, bytes[1] == 0x4B { throw MedicalIOError.truncated(file: file, message: "ZIP of \(n) bytes") }
            throw MedicalIOError.badMagic(file: file, expected: "ZIP/.npz")
        }
        guard bytes[0] == 0x50, bytes[1] == 0x4B else { throw MedicalIOError.badMagic(file: file, expected: "ZIP/.npz") }
        var eocd = -1
        var i = n - 22
        let lowest = max(0, n - 22 - 65535)
        while i >= lowest {
            if bytes[i] == 0x50, bytes[i + 1] == 0x4B, bytes[i + 2] == 5, bytes[i + 3] == 6 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else { throw MedicalIOError.truncated(file: file, message: "no ZIP end-of-central-directory record") }
        var count = Int(try r.u16(eocd + 10))
        var cdSize = Int(try r.u32(eocd + 12))
        var cdOffset = Int(try r.u32(eocd + 16))
        if count == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF {
            let loc = eocd - 20
            guard loc >= 0, try r.u32(loc) == 0x0706_4B50 else {
                throw MedicalIOError.invalidHeader(file: file, message: "ZIP64 locator missing")
            }
            let z64 = try r.u64(loc + 8)
            guard z64 < UInt64(n) else { throw MedicalIOError.truncated(file: file, message: "ZIP64 record offset \(z64)") }
            let o = Int(z64)
            guard try r.u32(o) == 0x0606_4B50 else { throw MedicalIOError.invalidHeader(file: file, message: "bad ZIP64 record") }
            let c = try r.u64(o + 32), s = try r.u64(o + 40), off = try r.u64(o + 48)
            guard c < UInt64(n), s <= UInt64(n), off <= UInt64(n) else {
                throw MedicalIOError.truncated(file: file, message: "ZIP64 directory outside the file")
            }
            count = Int(c); cdSize = Int(s); cdOffset = Int(off)
        }
        try r.need(cdOffset, cdSize, "ZIP central directory")
        guard count <= cdSize / 46 + 1 else { throw MedicalIOError.invalidHeader(file: file, message: "\(count) entries in \(cdSize) bytes") }
        var out = [Entry]()
        var p = cdOffset
        for _ in 0..<count {
            guard try r.u32(p) == 0x0201_4B50 else { throw MedicalIOError.invalidHeader(file: file, message: "bad central directory entry at \(p)") }
            let flags = try r.u16(p + 8), method = try r.u16(p + 10), crc = try r.u32(p + 16)
            var csize = UInt64(try r.u32(p + 20)), usize = UInt64(try r.u32(p + 24))
            let nameLen = Int(try r.u16(p + 28)), extraLen = Int(try r.u16(p + 30)), commentLen = Int(try r.u16(p + 32))
            var local = UInt64(try r.u32(p + 42))
            let name = try r.string(p + 46, nameLen)
            // ZIP64 extended information: present fields in order usize, csize, offset.
            var e = p + 46 + nameLen
            let extraEnd = e + extraLen
            try r.need(e, extraLen, "ZIP extra field")
            while e + 4 <= extraEnd {
                let id = try r.u16(e), len = Int(try r.u16(e + 2))
                guard e + 4 + len <= extraEnd else { break }
                if id == 1 {
                    var q = e + 4
                    if usize == 0xFFFF_FFFF, q + 8 <= e + 4 + len { usize = try r.u64(q); q += 8 }
                    if csize == 0xFFFF_FFFF, q + 8 <= e + 4 + len { csize = try r.u64(q); q += 8 }
                    if local == 0xFFFF_FFFF, q + 8 <= e + 4 + len { local = try r.u64(q); q += 8 }
                }
                e += 4 + len
            }
            guard csize <= UInt64(n), local < UInt64(n) else {
                throw MedicalIOError.truncated(file: file, message: "entry '\(name)' lies outside the file")
            }
            guard usize <= UInt64(limits.maxBytes) else {
                throw MedicalIOError.tooLarge(file: file, message: "entry '\(name)' claims \(usize) bytes")
            }
            out.append(Entry(name: name, method: method, flags: flags, crc: crc, compressedSize: Int(csize),
                             size: Int(usize), localOffset: Int(local)))
            p = extraEnd + commentLen
        }
        entries = out
    }

    func contents(of e: Entry) throws -> [UInt8] {
        let file = r.file
        guard e.flags & 1 == 0 else { throw MedicalIOError.unsupported(file: file, message: "encrypted entry '\(e.name)'") }
        guard try r.u32(e.localOffset) == 0x0403_4B50 else {
            throw MedicalIOError.invalidHeader(file: file, message: "bad local header for '\(e.name)'")
        }
        let start = e.localOffset + 30 + Int(try r.u16(e.localOffset + 26)) + Int(try r.u16(e.localOffset + 28))
        let input = try r.slice(start, e.compressedSize)
        let out: [UInt8]
        switch e.method {
        case 0:
            guard e.compressedSize == e.size else {
                throw MedicalIOError.invalidHeader(file: file, message: "stored entry '\(e.name)' sizes \(e.compressedSize) ≠ \(e.size)")
            }
            out = Array(input)
        case 8:
            guard e.size / 1032 <= e.compressedSize + 1 else {
                throw MedicalIOError.invalidHeader(file: file, message: "entry '\(e.name)' claims \(e.size) bytes from \(e.compressedSize) compressed")
            }
            out = try Zlib.inflate(input, container: .raw, maxOutput: e.size, file: "\(file)/\(e.name)")
            guard out.count == e.size else {
                throw MedicalIOError.truncated(file: file, message: "entry '\(e.name)' inflates to \(out.count) bytes, directory says \(e.size)")
            }
        default:
            throw MedicalIOError.unsupported(file: file, message: "ZIP compression method \(e.method) for '\(e.name)'")
        }
        guard Zlib.crc32(out[...]) == e.crc else { throw MedicalIOError.corruptData(file: file, message: "CRC-32 mismatch in '\(e.name)'") }
        return out
    }
}

import Foundation

/// Structural checks run on a zip before ZIPFoundation sees it.
///
/// ZIPFoundation 0.9.20 traps (instead of throwing) when a ZIP64 field holds an offset above
/// `Int64.max`, and scans the whole file byte by byte for a missing end-of-central-directory
/// record. This walks the same records it will read (EOCD, ZIP64 EOCD, central directory,
/// local headers) and rejects any 64-bit size or offset larger than the file, so hostile or
/// truncated archives become typed errors.
enum ZipPrecheck {
    static func validate(_ url: URL, fileSize: Int) throws {
        let path = url.path
        let h: FileHandle
        do { h = try FileHandle(forReadingFrom: url) } catch {
            throw CheckpointError.unreadable(path, reason: "\(error)")
        }
        defer { try? h.close() }
        func read(_ offset: Int, _ count: Int) throws -> [UInt8] {
            guard offset >= 0, offset < fileSize, count > 0 else { return [] }
            do {
                try h.seek(toOffset: UInt64(offset))
                return [UInt8](try h.read(upToCount: min(count, fileSize - offset)) ?? Data())
            } catch {
                throw CheckpointError.unreadable(path, reason: "\(error)")
            }
        }
        func u16(_ b: [UInt8], _ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 }
        func u32(_ b: [UInt8], _ i: Int) -> UInt64 { (0..<4).reduce(0) { $0 | UInt64(b[i + $1]) << (8 * UInt64($1)) } }
        func u64(_ b: [UInt8], _ i: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[i + $1]) << (8 * UInt64($1)) } }
        let size = UInt64(fileSize)
        // Deflated records may be larger than the file (TorchCheckpoint allows up to 4× + 1 MB).
        let limit = size * 4 + (1 << 20)
        func bad(_ what: String) -> CheckpointError { .notAZip(path, reason: what) }

        // End of central directory: last signature within the final 22 + 65535 bytes.
        let tailStart = max(0, fileSize - (22 + 65_535))
        let tail = try read(tailStart, fileSize - tailStart)
        guard tail.count >= 22,
            let eocdInTail = stride(from: tail.count - 22, through: 0, by: -1).first(where: { u32(tail, $0) == 0x0605_4B50 })
        else { throw CheckpointError.truncated(path) }
        let eocd = tailStart + eocdInTail
        var cdOffset = u32(tail, eocdInTail + 16)
        var count = UInt64(u16(tail, eocdInTail + 10))

        // ZIP64 record at the fixed position ZIPFoundation reads (locator 20 bytes, record 56 bytes before).
        if eocd > 76 {
            let z = try read(eocd - 76, 76)
            if z.count == 76, u32(z, 0) == 0x0606_4B50 {
                for field in [24, 32, 40, 48] where u64(z, field) > size {
                    throw bad("ZIP64 end-of-directory field \(field) (\(u64(z, field))) exceeds the file size")
                }
                if u32(z, 56) == 0x0706_4B50 && u16(z, 14) >= 45 {
                    cdOffset = u64(z, 48)
                    count = u64(z, 32)
                }
            }
        }

        // Central directory records and their local headers.
        let cd = try read(Int(cdOffset), fileSize - Int(min(cdOffset, size)))
        var i = 0
        var n: UInt64 = 0
        while n < count, i + 46 <= cd.count, u32(cd, i) == 0x0201_4B50 {
            let nameLen = u16(cd, i + 28), extraLen = u16(cd, i + 30), commentLen = u16(cd, i + 32)
            guard i + 46 + nameLen + extraLen <= cd.count else { break }
            var offsets = [u32(cd, i + 42)]
            offsets += try zip64Values(Array(cd[(i + 46 + nameLen)..<(i + 46 + nameLen + extraLen)]), limit: limit, bad: bad)
            for off in offsets where off < size {
                let lh = try read(Int(off), 30)
                guard lh.count == 30, u32(lh, 0) == 0x0403_4B50 else { continue }
                let ext = try read(Int(off) + 30 + u16(lh, 26), u16(lh, 28))
                _ = try zip64Values(ext, limit: limit, bad: bad)
            }
            i += 46 + nameLen + extraLen + commentLen
            n += 1
        }
    }

    /// The 64-bit values of ZIP64 extended-information extra fields, each checked against `limit`.
    private static func zip64Values(_ extra: [UInt8], limit: UInt64, bad: (String) -> CheckpointError) throws -> [UInt64] {
        var out: [UInt64] = []
        var j = 0
        while j + 4 <= extra.count {
            let id = Int(extra[j]) | Int(extra[j + 1]) << 8
            let len = Int(extra[j + 2]) | Int(extra[j + 3]) << 8
            let body = j + 4
            if id == 1 {
                var k = 0
                while k + 8 <= len && body + k + 8 <= extra.count {
                    let v = (0..<8).reduce(UInt64(0)) { $0 | UInt64(extra[body + k + $1]) << (8 * UInt64($1)) }
                    guard v <= limit else { throw bad("ZIP64 size/offset \(v) exceeds the file size \(limit)") }
                    out.append(v)
                    k += 8
                }
            }
            j = body + len
        }
        return out
    }
}

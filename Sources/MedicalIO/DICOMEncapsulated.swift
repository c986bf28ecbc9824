import Foundation

/// Encapsulated (compressed) Pixel Data: an item list whose first item is the Basic Offset Table and whose
/// other items are fragments, ended by a Sequence Delimitation Item (PS3.5 A.4).
///
/// Fragments are grouped into frames by the Basic Offset Table when it is present; without one, one fragment
/// per frame when the counts agree, else (JPEG family) a fragment starting with an SOI marker starts a new
/// frame; a single frame takes every fragment.
enum DICOMEncapsulated {
    static func frames(_ r: ByteReader, from start: Int, frames: Int, jpegFamily: Bool, file: String) throws -> [[UInt8]] {
        var p = start
        var items = [(offset: Int, length: Int)]()
        while true {
            guard p + 8 <= r.count else { throw MedicalIOError.truncated(file: file, message: "encapsulated Pixel Data has no sequence delimiter") }
            let g = try r.u16(p), e = try r.u16(p + 2)
            let len = Int(try r.u32(p + 4))
            guard g == 0xFFFE else { throw MedicalIOError.invalidHeader(file: file, message: "encapsulated Pixel Data: item expected at offset \(p)") }
            if e == 0xE0DD { break }
            guard e == 0xE000 else { throw MedicalIOError.invalidHeader(file: file, message: "encapsulated Pixel Data: bad item tag at offset \(p)") }
            guard len != DICOMParser.undefined else { throw MedicalIOError.invalidHeader(file: file, message: "fragment of undefined length at offset \(p)") }
            try r.need(p + 8, len, "fragment at offset \(p)")
            items.append((p + 8, len))
            p += 8 + len
        }
        guard let bot = items.first else { throw MedicalIOError.invalidHeader(file: file, message: "encapsulated Pixel Data without a Basic Offset Table item") }
        let fragments = Array(items.dropFirst())
        guard !fragments.isEmpty else { throw MedicalIOError.missing(file: file, what: "pixel data fragments") }
        func bytes(_ list: ArraySlice<(offset: Int, length: Int)>) -> [UInt8] {
            var out = [UInt8](); out.reserveCapacity(list.reduce(0) { $0 + $1.length })
            for f in list { out += r.bytes[f.offset..<(f.offset + f.length)] }
            return out
        }
        if frames == 1 { return [bytes(fragments[...])] }
        // Basic Offset Table: frame k starts at the fragment item whose offset (from the first fragment's item tag) is bot[k].
        if bot.length >= 4 * frames, bot.length % 4 == 0 {
            let first = fragments[0].offset - 8
            var starts = [Int: Int]()  // item offset → fragment index
            for (i, f) in fragments.enumerated() { starts[f.offset - 8 - first] = i }
            var idx = [Int]()
            for k in 0..<frames {
                guard let i = starts[Int(try r.u32(bot.offset + 4 * k))] else {
                    throw MedicalIOError.invalidHeader(file: file, message: "Basic Offset Table entry \(k) does not point at a fragment")
                }
                guard idx.last.map({ i > $0 }) ?? true else {
                    throw MedicalIOError.invalidHeader(file: file, message: "Basic Offset Table is not increasing at entry \(k)")
                }
                idx.append(i)
            }
            return (0..<frames).map { k in bytes(fragments[idx[k]..<(k + 1 < frames ? idx[k + 1] : fragments.count)]) }
        }
        guard bot.length == 0 else { throw MedicalIOError.invalidHeader(file: file, message: "Basic Offset Table of \(bot.length) bytes for \(frames) frames") }
        if fragments.count == frames { return fragments.map { bytes([$0][...]) } }
        if jpegFamily {
            var groups = [[UInt8]]()
            for f in fragments {
                let isSOI = f.length >= 2 && r.bytes[f.offset] == 0xFF && r.bytes[f.offset + 1] == 0xD8
                if isSOI || groups.isEmpty { groups.append([]) }
                groups[groups.count - 1] += r.bytes[f.offset..<(f.offset + f.length)]
            }
            if groups.count == frames { return groups }
            throw MedicalIOError.invalidHeader(file: file, message: "\(fragments.count) fragments hold \(groups.count) JPEG frames, NumberOfFrames is \(frames)")
        }
        throw MedicalIOError.invalidHeader(file: file, message: "\(fragments.count) fragments for \(frames) frames and no Basic Offset Table")
    }
}

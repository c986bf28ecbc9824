import Foundation

/// A decoder for lossless JPEG (ITU T.81 process 14, SOF3, Huffman coded; DICOM 1.2.840.10008.1.2.4.57 and
/// .70): 2–16 bit precision, predictors 1–7, point transform, restart intervals, one or more components
/// (sampling factors 1), interleaved or one scan per component.
///
/// In this package because the libjpeg-turbo 2.1 that Debian 12 ships has no lossless mode (lossless JPEG
/// arrived in libjpeg-turbo 3.0). Hierarchical and arithmetic-coded JPEG and DNL markers are refused with
/// ``MedicalIOError/unsupported(file:message:)``; corrupt streams give
/// ``MedicalIOError/corruptData(file:message:)``. Fuzzed by `Fuzz/Sources/FuzzJPEGLossless`.
///
/// ```swift
/// let img = try JPEGLossless.decode(bytes)
/// print(img.width, img.height, img.precision, img.samples[0])
/// ```
public enum JPEGLossless {
    /// A decoded image: samples interleaved by component, row-major.
    public struct Decoded: Sendable {
        public let width: Int, height: Int, components: Int, precision: Int
        public let samples: [Int32]
    }

    struct Huffman {
        /// 16-bit look-ahead: entry = code length << 8 | value (0 = no code).
        var lookup = [UInt16](repeating: 0, count: 1 << 16)
    }

    struct Bits {
        let d: [UInt8]
        var p: Int
        var acc: UInt64 = 0, n = 0, padded = 0
        var atMarker = false

        init(_ d: [UInt8], at p: Int) { self.d = d; self.p = p }

        mutating func fill() {
            while n <= 56 {
                var b: UInt64 = 0
                if !atMarker && p < d.count {
                    let c = d[p]
                    if c == 0xFF {
                        if p + 1 < d.count && d[p + 1] == 0x00 { b = 0xFF; p += 2 } else { atMarker = true; padded += 1 }
                    } else { b = UInt64(c); p += 1 }
                } else { padded += 1 }
                acc |= b << UInt64(56 - n); n += 8
            }
        }
        mutating func peek16() -> Int { if n < 16 { fill() }; return Int(acc >> 48) }
        mutating func skip(_ k: Int) { acc <<= UInt64(k); n -= k }
        mutating func bits(_ k: Int) -> Int {
            guard k > 0 else { return 0 }
            if n < k { fill() }
            let v = Int(acc >> UInt64(64 - k)); skip(k); return v
        }
        /// Bits taken from past the end of the data (a stream that ends early).
        var overrun: Bool { n < 8 * padded }

        /// Drops the buffered bits and reads the RSTn marker that must follow.
        mutating func restart(file: String) throws {
            acc = 0; n = 0; padded = 0; atMarker = false
            while p < d.count && d[p] == 0xFF && p + 1 < d.count && d[p + 1] == 0xFF { p += 1 }
            guard p + 1 < d.count, d[p] == 0xFF, (0xD0...0xD7).contains(d[p + 1]) else {
                throw MedicalIOError.corruptData(file: file, message: "lossless JPEG: restart marker missing at byte \(p)")
            }
            p += 2
        }
    }

    /// Decodes a lossless JPEG stream.
    /// - Throws: ``MedicalIOError`` for corrupt or truncated streams, other JPEG processes, or sizes past `limits`.
    public static func decode(_ d: [UInt8], limits: MedicalIOLimits = .default, file: String = "<memory>") throws -> Decoded {
        func corrupt(_ m: String) -> MedicalIOError { .corruptData(file: file, message: "lossless JPEG: \(m)") }
        guard d.count >= 4, d[0] == 0xFF, d[1] == 0xD8 else { throw corrupt("no SOI marker") }
        var p = 2
        var tables = [Huffman?](repeating: nil, count: 4)
        var precision = 0, width = 0, height = 0
        var comps = [Int]()  // component ids
        var restartInterval = 0
        var out = [Int32]()
        var decodedComponents = Set<Int>()
        func segment() throws -> (Int, Int) {  // (start of payload, end)
            guard p + 2 <= d.count else { throw corrupt("segment length past the end") }
            let len = Int(d[p]) << 8 | Int(d[p + 1])
            guard len >= 2, p + len <= d.count else { throw corrupt("segment of length \(len) at byte \(p) runs past the end") }
            return (p + 2, p + len)
        }
        markers: while true {
            while p < d.count && d[p] != 0xFF { p += 1 }  // tolerate garbage between segments
            while p + 1 < d.count && d[p + 1] == 0xFF { p += 1 }
            guard p + 1 < d.count else { break }
            let m = d[p + 1]; p += 2
            switch m {
            case 0xD9: break markers
            case 0xD8, 0x01, 0xD0...0xD7: continue
            case 0xC3:
                let (s, e) = try segment()
                guard precision == 0 else { throw corrupt("two SOF markers") }
                guard e - s >= 6 else { throw corrupt("short SOF3") }
                precision = Int(d[s]); height = Int(d[s + 1]) << 8 | Int(d[s + 2]); width = Int(d[s + 3]) << 8 | Int(d[s + 4])
                let nf = Int(d[s + 5])
                guard (2...16).contains(precision) else { throw corrupt("precision \(precision)") }
                guard height > 0 else { throw MedicalIOError.unsupported(file: file, message: "lossless JPEG with a DNL marker (height 0)") }
                guard width > 0, (1...4).contains(nf), e - s >= 6 + 3 * nf else { throw corrupt("SOF3 with width \(width), \(nf) components") }
                for i in 0..<nf {
                    guard d[s + 7 + 3 * i] == 0x11 else {
                        throw MedicalIOError.unsupported(file: file, message: "lossless JPEG with subsampled components")
                    }
                    comps.append(Int(d[s + 6 + 3 * i]))
                }
                guard Set(comps).count == nf else { throw corrupt("duplicate component ids") }
                let n = try limits.checkedCount([height, width, nf], itemSize: 4, file: file)
                // Every sample costs at least one bit (Huffman codes are 1–16 bits): a frame larger than 8 samples
                // per byte of stream is corrupt, and is refused before its buffer is allocated (found by FuzzJPEGLossless).
                guard n <= 8 * d.count else {
                    throw corrupt("\(width)×\(height)×\(nf) samples cannot be coded in \(d.count) bytes")
                }
                out = [Int32](repeating: 0, count: n)
                p = e
            case 0xC0, 0xC1, 0xC2, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF:
                throw MedicalIOError.unsupported(file: file, message: "JPEG process SOF\(m - 0xC0) in a lossless JPEG transfer syntax")
            case 0xC4:
                let (s, e) = try segment()
                var q = s
                while q < e {
                    guard q + 17 <= e else { throw corrupt("short DHT") }
                    let tc = Int(d[q] >> 4), th = Int(d[q] & 15)
                    guard tc == 0, th < 4 else { throw corrupt("DHT class \(tc) id \(th)") }
                    let counts = (1...16).map { Int(d[q + $0]) }
                    let total = counts.reduce(0, +)
                    guard total <= 256, q + 17 + total <= e else { throw corrupt("DHT with \(total) codes") }
                    var h = Huffman()
                    var code = 0, k = q + 17
                    for len in 1...16 {
                        for _ in 0..<counts[len - 1] {
                            let v = d[k]; k += 1
                            guard v <= 16 else { throw corrupt("Huffman value \(v) > 16") }
                            guard code < (1 << len) else { throw corrupt("over-subscribed Huffman table") }
                            let lo = code << (16 - len), hi = (code + 1) << (16 - len)
                            for j in lo..<hi { h.lookup[j] = UInt16(len << 8) | UInt16(v) }
                            code += 1
                        }
                        code <<= 1
                    }
                    tables[th] = h
                    q = k
                }
                p = e
            case 0xDD:
                let (s, e) = try segment()
                guard e - s >= 2 else { throw corrupt("short DRI") }
                restartInterval = Int(d[s]) << 8 | Int(d[s + 1])
                p = e
            case 0xDA:
                let (s, e) = try segment()
                guard precision > 0 else { throw corrupt("SOS before SOF3") }
                let ns = e - s >= 1 ? Int(d[s]) : 0
                guard (1...comps.count).contains(ns), e - s >= 1 + 2 * ns + 3 else { throw corrupt("SOS with \(ns) components") }
                var scan = [(index: Int, table: Huffman)]()
                for i in 0..<ns {
                    guard let ci = comps.firstIndex(of: Int(d[s + 1 + 2 * i])) else { throw corrupt("SOS names an unknown component") }
                    let td = Int(d[s + 2 + 2 * i] >> 4)
                    guard td < 4, let t = tables[td] else { throw corrupt("SOS uses undefined Huffman table \(td)") }
                    guard decodedComponents.insert(ci).inserted else { throw corrupt("component decoded twice") }
                    scan.append((ci, t))
                }
                let predictor = Int(d[s + 1 + 2 * ns]), pt = Int(d[s + 3 + 2 * ns] & 15)
                guard (1...7).contains(predictor) else {
                    throw MedicalIOError.unsupported(file: file, message: "lossless JPEG predictor \(predictor)")
                }
                guard pt < precision else { throw corrupt("point transform \(pt) for precision \(precision)") }
                p = e
                p = try decodeScan(d, at: p, out: &out, width: width, height: height, nf: comps.count, scan: scan,
                                   predictor: predictor, pt: pt, precision: precision, restartInterval: restartInterval, file: file)
            default:
                let (_, e) = try segment()
                p = e
            }
        }
        guard precision > 0 else { throw corrupt("no SOF3 marker") }
        guard decodedComponents.count == comps.count else { throw corrupt("\(comps.count - decodedComponents.count) components have no scan") }
        return Decoded(width: width, height: height, components: comps.count, precision: precision, samples: out)
    }

    static func decodeScan(_ d: [UInt8], at start: Int, out: inout [Int32], width: Int, height: Int, nf: Int,
                           scan: [(index: Int, table: Huffman)], predictor: Int, pt: Int, precision: Int,
                           restartInterval: Int, file: String) throws -> Int {
        var bits = Bits(d, at: start)
        let initial = Int32(1 << (precision - pt - 1))
        var firstLine = true, firstSample = true
        var mcus = 0
        let total = width * height
        for y in 0..<height {
            for x in 0..<width {
                if restartInterval > 0 && mcus > 0 && mcus % restartInterval == 0 {
                    try bits.restart(file: file)
                    firstLine = true; firstSample = true
                }
                let o = (y * width + x) * nf
                for (ci, table) in scan {
                    let e = table.lookup[bits.peek16()]
                    guard e != 0 else { throw MedicalIOError.corruptData(file: file, message: "lossless JPEG: invalid Huffman code at row \(y)") }
                    bits.skip(Int(e >> 8))
                    let t = Int(e & 0xFF)
                    var diff: Int32
                    if t == 16 { diff = 32768 } else {
                        let v = bits.bits(t)
                        diff = Int32(t > 0 && v < (1 << (t - 1)) ? v - (1 << t) + 1 : v)
                    }
                    let pred: Int32
                    if firstSample { pred = initial }
                    else if firstLine { pred = out[o - nf + ci] }
                    else if x == 0 { pred = out[o - width * nf + ci] }
                    else {
                        let ra = out[o - nf + ci], rb = out[o - width * nf + ci], rc = out[o - width * nf - nf + ci]
                        switch predictor {
                        case 1: pred = ra
                        case 2: pred = rb
                        case 3: pred = rc
                        case 4: pred = ra + rb - rc
                        case 5: pred = ra + ((rb - rc) >> 1)
                        case 6: pred = rb + ((ra - rc) >> 1)
                        default: pred = (ra + rb) >> 1
                        }
                    }
                    out[o + ci] = (pred &+ diff) & 0xFFFF
                }
                firstSample = false
                mcus += 1
                if bits.overrun { throw MedicalIOError.corruptData(file: file, message: "lossless JPEG: data ends at sample \(mcus) of \(total)") }
            }
            firstLine = false
        }
        // Point transform: stored values are the reconstructed ones shifted left.
        if pt > 0 { for (ci, _) in scan { for i in 0..<total { out[i * nf + ci] <<= Int32(pt) } } }
        // Continue after the entropy-coded data: at the next marker.
        var p = bits.p
        while p + 1 < d.count && !(d[p] == 0xFF && d[p + 1] != 0x00 && !(0xD0...0xD7).contains(d[p + 1])) { p += 1 }
        return p
    }
}

import Foundation
import Imaging

/// Byte order of raw data.
public enum Endianness: Sendable { case little, big }

/// Headerless raw volumes (`.raw`, `.img` without header, …).
///
/// ```swift
/// let vol = try RawVolume.read(url, width: 512, height: 512, depth: 40, type: .int16, endianness: .little)
/// ```
public enum RawVolume {
    /// Sample types of raw data.
    public enum SampleType: Sendable { case uint8, int8, uint16, int16, uint32, int32, float32, float64
        var size: Int { switch self { case .uint8, .int8: 1; case .uint16, .int16: 2; case .uint32, .int32, .float32: 4; case .float64: 8 } }
    }

    /// Reads `width·height·depth` samples starting at byte `offset` (x fastest). Throws `truncated` if the
    /// file holds fewer bytes than that; extra bytes after the volume are ignored.
    public static func read(_ url: URL, width: Int, height: Int, depth: Int, type: SampleType,
                            endianness: Endianness = .little, offset: Int = 0, spacing: [Double] = [1, 1, 1],
                            limits: MedicalIOLimits = .default) throws -> Volume {
        let file = fileLabel(url)
        let n = try limits.checkedCount([width, height, depth], itemSize: type.size, file: file)
        guard offset >= 0 else { throw MedicalIOError.invalidArgument("negative offset \(offset)") }
        let data = try readFile(url)
        var r = ByteReader(data, file: file)
        r.bigEndian = endianness == .big
        try r.need(offset, n * type.size, "\(width)×\(height)×\(depth) \(type) samples at offset \(offset)")
        let values = try decodeSamples(r, offset: offset, count: n, type: type)
        let pt: PixelType
        switch type { case .uint8: pt = .uint8; case .int16: pt = .int16; case .uint16: pt = .uint16; case .int32: pt = .int32
        case .float64: pt = .float64; default: pt = .float32 }
        return try Volume(width: width, height: height, depth: depth, spacing: spacing, voxels: values, pixelType: pt)
    }

    static func decodeSamples(_ r: ByteReader, offset: Int, count n: Int, type: SampleType) throws -> [Float] {
        try r.need(offset, n * type.size, "samples")
        var out = [Float](repeating: 0, count: n)
        let s = type.size
        for i in 0..<n {
            let o = offset + i * s
            switch type {
            case .uint8: out[i] = Float(r.bytes[o])
            case .int8: out[i] = Float(Int8(bitPattern: r.bytes[o]))
            case .uint16: out[i] = Float(try r.u16(o))
            case .int16: out[i] = Float(try r.i16(o))
            case .uint32: out[i] = Float(try r.u32(o))
            case .int32: out[i] = Float(try r.i32(o))
            case .float32: out[i] = try r.f32(o)
            case .float64: out[i] = Float(try r.f64(o))
            }
        }
        return out
    }
}

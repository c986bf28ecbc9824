import Foundation
import Checkpoint
import MedSAM
import ZIPFoundation
#if canImport(Glibc)
import Glibc
#endif

/// The inputs shared by the package-benchmark suite and `medsam-bench` (and mirrored by
/// `Benchmarks/python/common.py`): a real CT slice windowed to uint8, one box, ten boxes, a volume.
public enum BenchInputs {
    /// The repository root: `$MEDSAM_ROOT`, else found from this file's path.
    public static let root: URL = {
        if let r = ProcessInfo.processInfo.environment["MEDSAM_ROOT"], !r.isEmpty {
            return URL(fileURLWithPath: r)
        }
        // <root>/Benchmarks/Sources/BenchSupport/Inputs.swift
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }()

    /// Fixtures/data/dicompyler_ct/ct0 (512×512 int16 HU), CT window L40 W400 (`pre_CT_MR.py`), uint8.
    public static func ctImage() throws -> Image {
        let (shape, values) = try readNPY(root.appendingPathComponent("Fixtures/data/dicompyler_ct/ct0_image.npy"))
        let raw = try Image(pixels: values.map(Float.init), width: shape[1], height: shape[0], channels: 1, pixelType: .int16)
        return try IntensityWindow.ct(.softTissue).apply(to: raw)
    }

    /// The BODY contour's box on ct0 (cases.json target 1), x0 y0 x1 y1.
    public static let ctBox = Box(x0: 87, y0: 97, x1: 345, y1: 305)

    /// Ten boxes on the CT slice (the BODY box shifted/shrunk), for the embedding-reuse case.
    public static let ctBoxes10: [Box] = (0..<10).map { k in
        let d = Double(8 * k)
        return Box(x0: 87 + d, y0: 97 + d / 2, x1: 345 - d, y1: 305 - d / 2)
    }

    /// `n` slices (120×100 uint8) of the MNI152 T1 volume in Fixtures/data/3D_mni152_small.npz
    /// (16 slices; beyond that the stack is mirrored back), with one box per slice.
    public static func volume(slices n: Int) throws -> (images: [Image], box: Box) {
        let url = root.appendingPathComponent("Fixtures/data/3D_mni152_small.npz")
        let (shape, values) = try readNPY(data: try npzMember(url, "imgs.npy"))
        let (d, h, w) = (shape[0], shape[1], shape[2])
        var images: [Image] = []
        for i in 0..<n {
            let period = 2 * d - 2
            var z = i % period
            if z >= d { z = period - z }
            let slice = Array(values[(z * h * w)..<((z + 1) * h * w)]).map { UInt8($0) }
            images.append(try Image(uint8: slice, width: w, height: h))
        }
        return (images, Box(x0: 10, y0: 12, x1: 90, y1: 108))
    }

    /// The model's real checkpoint when it has a cached one that is present (LiteMedSAM:
    /// .cache/checkpoints/lite_medsam.pth, from scripts/fetch-checkpoints.sh), else reproducible synthetic weights
    /// of the real shapes (MedSAM ViT-B: same FLOPs as the checkpoint).
    /// `precision` is the image encoder's (``Precision``).
    public static func segmenter(_ model: ModelKind, precision: Precision = .fp32) throws -> (Segmenter, weights: String) {
        let variant = try ModelRegistry.standard.variant(for: model)
        if let name = variant.cachedCheckpointName {
            let dir = ProcessInfo.processInfo.environment["MEDSAM_CHECKPOINT_DIR"].map { URL(fileURLWithPath: $0) }
                ?? root.appendingPathComponent(".cache/checkpoints")
            let ckpt = dir.appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: ckpt.path) {
                return (try Segmenter(variant: variant, checkpoint: ckpt, precision: precision), name)
            }
        }
        return (try Segmenter(variant: variant, weights: DeterministicWeights(), precision: precision), "DeterministicWeights (\(variant.kind.displayName))")
    }

    /// Peak resident set size of this process so far, in MiB (getrusage ru_maxrss).
    public static func peakRSSMiB() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_maxrss) / 1024
    }
}

public enum BenchError: Error { case npy(String), npz(String) }

/// Minimal .npy reader (little-endian u1/i2/u2/i4/f4/f8, C order) returning values as Double.
public func readNPY(_ url: URL) throws -> (shape: [Int], values: [Double]) {
    try readNPY(data: try Data(contentsOf: url))
}

public func readNPY(data: Data) throws -> (shape: [Int], values: [Double]) {
    let bytes = [UInt8](data)
    guard bytes.count > 10, bytes[0] == 0x93 else { throw BenchError.npy("not an npy file") }
    let major = bytes[6]
    let (hlen, hstart) = major == 1 ? (Int(bytes[8]) | Int(bytes[9]) << 8, 10)
        : (Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24, 12)
    let header = String(decoding: bytes[hstart..<(hstart + hlen)], as: UTF8.self)
    guard let dr = header.range(of: "'descr': '"), let end = header[dr.upperBound...].firstIndex(of: "'") else {
        throw BenchError.npy("no descr")
    }
    let descr = String(header[dr.upperBound..<end])
    guard let sr = header.range(of: "'shape': ("), let se = header[sr.upperBound...].firstIndex(of: ")") else {
        throw BenchError.npy("no shape")
    }
    let shape = header[sr.upperBound..<se].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !header.contains("'fortran_order': True") else { throw BenchError.npy("fortran order") }
    let count = shape.reduce(1, *)
    let body = Array(bytes[(hstart + hlen)...])
    func le<T: FixedWidthInteger>(_ t: T.Type, _ i: Int) -> T {
        var v: T = 0
        for b in 0..<MemoryLayout<T>.size { v |= T(truncatingIfNeeded: body[i * MemoryLayout<T>.size + b]) << (8 * b) }
        return v
    }
    var out = [Double](repeating: 0, count: count)
    switch descr {
    case "|u1", "<u1": for i in 0..<count { out[i] = Double(body[i]) }
    case "<i2": for i in 0..<count { out[i] = Double(le(Int16.self, i)) }
    case "<u2": for i in 0..<count { out[i] = Double(le(UInt16.self, i)) }
    case "<i4": for i in 0..<count { out[i] = Double(le(Int32.self, i)) }
    case "<f4": for i in 0..<count { out[i] = Double(Float(bitPattern: le(UInt32.self, i))) }
    case "<f8": for i in 0..<count { out[i] = Double(bitPattern: le(UInt64.self, i)) }
    default: throw BenchError.npy("dtype \(descr)")
    }
    return (shape, out)
}

/// One member of a .npz (numpy.savez / savez_compressed).
public func npzMember(_ url: URL, _ name: String) throws -> Data {
    let archive = try Archive(url: url, accessMode: .read)
    guard let entry = archive[name] else { throw BenchError.npz("\(name) not found") }
    var out = Data()
    _ = try archive.extract(entry, skipCRC32: true) { out.append($0) }
    return out
}

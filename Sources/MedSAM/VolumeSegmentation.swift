import Foundation
import Imaging
import Preprocess
import PromptEncoder

extension Box3D {
    /// Throws unless the box is not inverted or empty (`x1 > x0`, `y1 > y0`, `z1 ≥ z0`) and lies inside a
    /// `width`×`height`×`depth` volume (x and y maxima up to the size, z maximum a slice index).
    /// - Throws: ``VolumeError/invertedBox(_:)`` or ``VolumeError/boxOutsideVolume(_:depth:height:width:)``.
    public func validated(width: Int, height: Int, depth: Int) throws -> Box3D {
        guard x1 > x0, y1 > y0, z1 >= z0 else { throw VolumeError.invertedBox(self) }
        guard x0 >= 0, y0 >= 0, z0 >= 0, x1 <= width, y1 <= height, z1 < depth else {
            throw VolumeError.boxOutsideVolume(self, depth: depth, height: height, width: width)
        }
        return self
    }
}

/// Errors of the 3-D pipeline.
public enum VolumeError: Error, Sendable, Equatable, CustomStringConvertible {
    case boxOutsideVolume(Box3D, depth: Int, height: Int, width: Int)
    case invertedBox(Box3D)
    case unsupportedModel(ModelKind)

    public var description: String {
        switch self {
        case let .boxOutsideVolume(b, d, h, w): return "3-D box \(b) lies outside the \(w)×\(h)×\(d) volume"
        case let .invertedBox(b): return "3-D box \(b) is inverted or empty"
        case let .unsupportedModel(m):
            return "slice propagation is LiteMedSAM's 3-D pipeline; \(m.displayName) does not support it (segment volumes slice by slice with 2-D boxes)"
        }
    }
}

extension Segmenter {
    /// LiteMedSAM's 3-D pipeline (`CVPR24_LiteMedSAM_infer.py`): for each 3-D box, segment the middle
    /// slice with the box, then walk up and down; each next slice's box is the bounding box (±3 px
    /// in the 256 frame) of the previous slice's mask, or the middle box when that mask is empty.
    ///
    /// Returns a (D, H, W) label volume: box `k` (from 1) writes label `k`; later boxes win.
    /// Slice embeddings are computed once and shared by all boxes (the reference re-encodes them
    /// per box; the result is identical).
    ///
    /// `volume` holds 0…255 values (a windowed CT/MR volume, `Volume/init(uint8:width:height:depth:spacing:)`);
    /// its first frame is segmented.
    ///
    /// ```swift
    /// let labels = try segmenter.segmentVolume(volume, boxes: [Box3D(x0: 40, y0: 30, z0: 3, x1: 90, y1: 80, z1: 12)])
    /// ```
    /// - Throws: ``VolumeError`` for a variant without propagation or a box that is inverted or outside the volume;
    ///   `ImagingError` for values outside 0…255.
    public func segmentVolume(_ volume: Volume, boxes: [Box3D]) throws -> [UInt16] {
        let (d, h, w) = (volume.depth, volume.height, volume.width)
        guard variant.supportsVolumePropagation, let transform = frame(width: w, height: h) as? any PropagationFrame else {
            throw VolumeError.unsupportedModel(model)
        }
        for b in boxes { _ = try b.validated(width: w, height: h, depth: d) }
        let plane = h * w
        var labels = [UInt16](repeating: 0, count: d * plane)
        var cache: [Int: ImageEmbedding] = [:]
        func embedding(_ z: Int) throws -> ImageEmbedding {
            if let e = cache[z] { return e }
            let e = try embed(volume.slice(z: z))
            cache[z] = e
            return e
        }
        for (i, b) in boxes.enumerated() {
            let idx = i + 1
            let value = UInt8(truncatingIfNeeded: idx)   // the reference's uint8 temp volume
            var temp = [UInt8](repeating: 0, count: d * plane)
            let midBox = try transform.box(Box(x0: Double(b.x0), y0: Double(b.y0), x1: Double(b.x1), y1: Double(b.y1)))
            let zMiddle = Int(Double(b.z1 - b.z0) / 2 + Double(b.z0))
            func run(_ z: Int, previous: Int?) throws {
                var box = midBox
                if let p = previous {
                    let prev = Array(temp[(p * plane)..<((p + 1) * plane)])
                    if let bb = transform.boundingBox(ofFrameMask: transform.resizedMask(prev), shift: 3) { box = bb }
                }
                let seg = try segmentModelFrame(try embedding(z), prompt: Prompt(box: box))
                for j in 0..<plane where seg.mask[j] > 0 { temp[z * plane + j] = value }
            }
            for z in zMiddle..<min(b.z1 + 1, d) {
                try run(z, previous: z == zMiddle ? nil : z - 1)
            }
            var z = zMiddle - 1
            while z > max(-1, b.z0 - 1) {
                try run(z, previous: z + 1)
                z -= 1
            }
            for j in 0..<(d * plane) where temp[j] > 0 { labels[j] = UInt16(idx) }
        }
        return labels
    }

    /// A label map from per-prompt results: pixel = k (from 1) for the k-th mask, later masks win.
    public static func labelMap(_ results: [Segmentation]) -> [UInt16] {
        guard let first = results.first else { return [] }
        var out = [UInt16](repeating: 0, count: first.width * first.height)
        for (k, r) in results.enumerated() {
            for j in 0..<out.count where r.mask[j] > 0 { out[j] = UInt16(k + 1) }
        }
        return out
    }
}

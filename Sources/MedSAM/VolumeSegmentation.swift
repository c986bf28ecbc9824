import Foundation

/// A (D, H, W) volume of 8-bit intensities (window raw CT/MR values first, see ``IntensityWindow``).
public struct Volume: Sendable {
    public let depth: Int
    public let height: Int
    public let width: Int
    /// `depth·height·width` values, slice-major then row-major (numpy's C order of `(D, H, W)`).
    public let voxels: [UInt8]

    public init(voxels: [UInt8], depth: Int, height: Int, width: Int) throws {
        guard depth > 0, height > 0, width > 0 else { throw PreprocessError.emptyImage }
        let (plane, o1) = height.multipliedReportingOverflow(by: width)
        let (total, o2) = plane.multipliedReportingOverflow(by: depth)
        guard !o1, !o2, voxels.count == total else {
            throw PreprocessError.wrongPixelCount(expected: o1 || o2 ? Int.max : total, got: voxels.count)
        }
        self.depth = depth; self.height = height; self.width = width; self.voxels = voxels
    }

    /// Slice `z` as a gray image.
    public func slice(_ z: Int) -> Image {
        let n = height * width
        return try! Image(uint8: Array(voxels[(z * n)..<((z + 1) * n)]), width: width, height: height)
    }
}

/// A 3-D box `[x_min, y_min, z_min, x_max, y_max, z_max]` in voxels (the challenge's `boxes` row), maxima inclusive.
public struct Box3D: Sendable, Hashable, CustomStringConvertible {
    public var x0: Int, y0: Int, z0: Int, x1: Int, y1: Int, z1: Int
    public init(x0: Int, y0: Int, z0: Int, x1: Int, y1: Int, z1: Int) {
        self.x0 = x0; self.y0 = y0; self.z0 = z0; self.x1 = x1; self.y1 = y1; self.z1 = z1
    }
    public var description: String { "[\(x0), \(y0), \(z0), \(x1), \(y1), \(z1)]" }
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
            return "slice propagation is LiteMedSAM's 3-D pipeline; \(m.displayName) segments volumes slice by slice with 2-D boxes"
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
    /// ```swift
    /// let labels = try segmenter.segmentVolume(volume, boxes: [Box3D(x0: 40, y0: 30, z0: 3, x1: 90, y1: 80, z1: 12)])
    /// ```
    public func segmentVolume(_ volume: Volume, boxes: [Box3D]) throws -> [UInt16] {
        guard model == .liteMedSAM else { throw VolumeError.unsupportedModel(model) }
        let (d, h, w) = (volume.depth, volume.height, volume.width)
        for b in boxes {
            guard b.x1 > b.x0, b.y1 > b.y0, b.z1 >= b.z0 else { throw VolumeError.invertedBox(b) }
            guard b.x0 >= 0, b.y0 >= 0, b.z0 >= 0, b.x1 <= w, b.y1 <= h, b.z1 < d else {
                throw VolumeError.boxOutsideVolume(b, depth: d, height: h, width: w)
            }
        }
        let transform = LiteMedSAMTransform(originalHeight: h, originalWidth: w, imageSize: inputSize)
        let plane = h * w
        var labels = [UInt16](repeating: 0, count: d * plane)
        var cache: [Int: ImageEmbedding] = [:]
        func embedding(_ z: Int) throws -> ImageEmbedding {
            if let e = cache[z] { return e }
            let e = try embed(volume.slice(z))
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
                    if let bb = LiteMedSAMTransform.boundingBox256(transform.resizedMask(prev), size: inputSize) {
                        box = bb.map(Float.init)
                    }
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

    /// Segments one prompt already in the model's input frame (e.g. a 256-frame box).
    public func segmentModelFrame(_ embedding: ImageEmbedding, prompt: Prompt) throws -> Segmentation {
        guard embedding.model == model else {
            throw SegmenterError.embeddingFromOtherModel(expected: model, found: embedding.model)
        }
        return try decode(embedding, prompt: prompt)
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

import Foundation
import Imaging
import Tensor

/// LiteMedSAM (CVPR 2024 "MedSAM on Laptop", 256×256) pre- and post-processing, as in
/// `CVPR24_LiteMedSAM_infer.py` (`LiteMedSAM` branch):
///
/// - `resize_longest_side`: `scale = 256/max(h, w)`, `newh = Int(h·scale + 0.5)`,
///   `neww = Int(w·scale + 0.5)`, `cv2.resize(INTER_AREA)` on the UInt8 3-channel image;
/// - min-max normalisation of the resized, **unpadded** image (denominator clipped to 1e-8);
/// - zero padding at the bottom/right to 256×256 → (1, 3, 256, 256), no mean/std;
/// - box: `Int(box[i] · 256 / max(H, W))` (truncation);
/// - post: crop logits to `[:newh, :neww]` → bilinear to (H, W) → sigmoid (*after* the resize) → `> 0.5`.
///
/// ```swift
/// let t = LiteMedSAMTransform(originalHeight: 233, originalWidth: 197)
/// let input = try t.preprocess(image)                       // (1, 3, 256, 256)
/// let box = try t.box(Box(x0: 69, y0: 29, x1: 82, y1: 80))  // [Float] in 256 space
/// let (probs, masks) = try t.postprocess(lowResLogits: logits)
/// ```
public struct LiteMedSAMTransform: Sendable, Hashable {
    public let originalHeight: Int
    public let originalWidth: Int
    /// 256 for LiteMedSAM.
    public let imageSize: Int
    /// Size of the resized image before padding.
    public let newHeight: Int
    public let newWidth: Int

    public init(originalHeight: Int, originalWidth: Int, imageSize: Int = 256) {
        self.originalHeight = originalHeight
        self.originalWidth = originalWidth
        self.imageSize = imageSize
        (newHeight, newWidth) = Self.longestSideSize(height: originalHeight, width: originalWidth, target: imageSize)
    }

    /// `resize_longest_side` output size: `Int(side · target/max(h, w) + 0.5)`, at least 1.
    ///
    /// For aspect ratios beyond 512:1 (e.g. 4000×3) the reference formula gives 0 rows and the
    /// reference pipeline fails inside `cv2.resize`; here the short side is clamped to 1 pixel so
    /// such images segment (every other size is unchanged).
    public static func longestSideSize(height: Int, width: Int, target: Int = 256) -> (height: Int, width: Int) {
        let scale = Double(target) * 1.0 / Double(max(height, width, 1))
        return (max(1, Int(Double(height) * scale + 0.5)), max(1, Int(Double(width) * scale + 0.5)))
    }

    /// UInt8 image (1 or 3 channels, values 0…255) → (1, 3, 256, 256) Float tensor.
    public func preprocess(_ image: Image) throws -> Tensor {
        guard image.width == originalWidth, image.height == originalHeight else {
            throw ImagingError.wrongShape(expected: "\(originalHeight)×\(originalWidth)",
                                             got: [image.height, image.width, image.channels])
        }
        let rgb = try image.threeChannel().uint8Pixels()
        let small = AreaResize.resize(rgb, width: originalWidth, height: originalHeight, channels: 3,
                                      toWidth: newWidth, toHeight: newHeight)
        let lo = Double(small.min() ?? 0), hi = Double(small.max() ?? 0)
        let range = max(hi - lo, 1e-8)
        var lut = [Float](repeating: 0, count: 256)
        for v in 0..<256 { lut[v] = Float((Double(v) - lo) / range) }
        let s = imageSize
        var t = Tensor(zeros: [1, 3, s, s])
        t.withUnsafeMutableBufferPointer { d in
            for y in 0..<newHeight {
                for x in 0..<newWidth {
                    let i = (y * newWidth + x) * 3
                    for c in 0..<3 { d[c * s * s + y * s + x] = lut[Int(small[i + c])] }
                }
            }
        }
        return t
    }

    /// `resize_box_to_256`: each coordinate `Int(v · 256/max(H, W))`, truncated toward zero.
    public func box(_ b: Box) throws -> [Float] {
        let v = try b.validated(width: originalWidth, height: originalHeight)
        let ratio = Double(imageSize) / Double(max(originalHeight, originalWidth))
        return [v.x0, v.y0, v.x1, v.y1].map { Float(Int($0 * ratio)) }
    }

    /// Logits (N, 1, 256, 256) → crop to (newHeight, newWidth) → bilinear to (H, W) → sigmoid →
    /// probabilities (N, 1, H, W) and masks `p > 0.5` (N·H·W, values 0/1).
    public func postprocess(lowResLogits logits: Tensor) throws -> (probabilities: Tensor, masks: [UInt8]) {
        guard logits.rank == 4, logits.shape[1] == 1, logits.shape[2] >= newHeight, logits.shape[3] >= newWidth else {
            throw ImagingError.wrongShape(expected: "(N, 1, ≥\(newHeight), ≥\(newWidth))", got: logits.shape)
        }
        let (n, h, w) = (logits.shape[0], logits.shape[2], logits.shape[3])
        var crop = Tensor(uninitializedShape: [n, 1, newHeight, newWidth])
        crop.withUnsafeMutableBufferPointer { d in
            logits.withUnsafeBufferPointer { s in
                for b in 0..<n {
                    for y in 0..<newHeight {
                        for x in 0..<newWidth {
                            d[(b * newHeight + y) * newWidth + x] = s[(b * h + y) * w + x]
                        }
                    }
                }
            }
        }
        var up = crop.resizedBilinear(height: originalHeight, width: originalWidth)
        up.applySigmoid()
        return (up, up.mask(above: 0.5))
    }

    /// The 3-D propagation's mask resize: `pad_image(resize_longest_side(mask))` on a UInt8
    /// H×W mask (INTER_AREA, so the values matter: the reference passes the label index `idx`,
    /// not 1, and a boundary pixel survives when `round(idx·coverage) > 0`). Returns 256×256.
    public func resizedMask(_ mask: [UInt8]) -> [UInt8] {
        precondition(mask.count == originalWidth * originalHeight, "mask size mismatch")
        let small = AreaResize.resize(mask, width: originalWidth, height: originalHeight, channels: 1,
                                      toWidth: newWidth, toHeight: newHeight)
        let s = imageSize
        var out = [UInt8](repeating: 0, count: s * s)
        for y in 0..<newHeight { for x in 0..<newWidth { out[y * s + x] = small[y * newWidth + x] } }
        return out
    }

    /// `get_bbox256`: `[x_min, y_min, x_max, y_max]` of the non-zero pixels of a 256×256 mask,
    /// moved `shift` pixels outward and clipped to `[0, 256]` (note: the upper clip is the size,
    /// 256, not 255 — as in the reference). `nil` for an empty mask (the reference then falls back
    /// to the middle-slice box).
    public static func boundingBox256(_ mask: [UInt8], size: Int = 256, shift: Int = 3) -> [Int]? {
        precondition(mask.count == size * size, "mask must be \(size)×\(size)")
        var x0 = Int.max, y0 = Int.max, x1 = -1, y1 = -1
        for y in 0..<size {
            for x in 0..<size where mask[y * size + x] > 0 {
                x0 = min(x0, x); x1 = max(x1, x); y0 = min(y0, y); y1 = max(y1, y)
            }
        }
        if x1 < 0 { return nil }
        return [max(0, x0 - shift), max(0, y0 - shift), min(size, x1 + shift), min(size, y1 + shift)]
    }
}

import Foundation
import Imaging
import Tensor

/// MedSAM (ViT-B, 1024×1024) pre- and post-processing, as in `MedSAM_Inference.py`:
///
/// ```python
/// img_3c = np.repeat(gray[:, :, None], 3, axis=-1)            # if 2-D
/// img_1024 = transform.resize(img_3c, (1024, 1024), order=3, preserve_range=True,
///                             anti_aliasing=True).astype(np.uint8)
/// img_1024 = (img_1024 - img_1024.min()) / np.clip(img_1024.max() - img_1024.min(), 1e-8, None)
/// box_1024 = box / [W, H, W, H] * 1024
/// p = F.interpolate(sigmoid(low_res_logits), (H, W), mode="bilinear", align_corners=False)
/// seg = p > 0.5
/// ```
/// The aspect ratio is not preserved (the image is stretched to 1024²) and no mean/std
/// normalisation is applied.
///
/// ```swift
/// let t = MedSAMTransform(originalHeight: img.height, originalWidth: img.width)
/// let input = try t.preprocess(img)                      // (1, 3, 1024, 1024)
/// let box = try t.box(Box(x0: 95, y0: 255, x1: 190, y1: 350))   // 4 Floats in 1024 space
/// let (probs, masks) = try t.postprocess(lowResLogits: logits)  // (N, 1, H, W), N·H·W UInt8
/// ```
public struct MedSAMTransform: Sendable, Hashable {
    public let originalHeight: Int
    public let originalWidth: Int
    /// Side of the square model input (1024 for MedSAM).
    public let imageSize: Int

    public init(originalHeight: Int, originalWidth: Int, imageSize: Int = 1024) {
        self.originalHeight = originalHeight
        self.originalWidth = originalWidth
        self.imageSize = imageSize
    }

    /// Resizes a 0…255 image (1 or 3 channels) to `imageSize²` with scikit-image's cubic
    /// spline, truncates to UInt8 and min-max normalises over all channels → (1, 3, S, S).
    /// Throws for a size mismatch or values outside 0…255 (window the image first).
    public func preprocess(_ image: Image) throws -> Tensor {
        let u8 = try resizedUInt8(image)
        return Self.normalisedTensor(u8, size: imageSize)
    }

    /// The `.astype(np.uint8)` image after the cubic resize, S×S×3 interleaved.
    public func resizedUInt8(_ image: Image) throws -> [UInt8] {
        guard image.width == originalWidth, image.height == originalHeight else {
            throw ImagingError.wrongShape(expected: "\(originalHeight)×\(originalWidth)",
                                             got: [image.height, image.width, image.channels])
        }
        _ = try image.uint8Pixels()   // range check
        let values = image.pixels.map(Double.init)
        let s = imageSize
        let resized = SplineResize.resize(values, width: image.width, height: image.height,
                                          channels: image.channels, toWidth: s, toHeight: s)
        let u8 = resized.map { UInt8(max(0, min(255, $0)).rounded(.towardZero)) }
        if image.channels == 3 { return u8 }
        var rgb = [UInt8](repeating: 0, count: u8.count * 3)
        for (i, v) in u8.enumerated() { rgb[3 * i] = v; rgb[3 * i + 1] = v; rgb[3 * i + 2] = v }
        return rgb
    }

    /// `(x − min) / clip(max − min, 1e-8)` over all values (Double, then Float), HWC → (1, 3, S, S).
    static func normalisedTensor(_ hwc: [UInt8], size s: Int) -> Tensor {
        let lo = Double(hwc.min() ?? 0), hi = Double(hwc.max() ?? 0)
        let range = max(hi - lo, 1e-8)
        var lut = [Float](repeating: 0, count: 256)
        for v in 0..<256 { lut[v] = Float((Double(v) - lo) / range) }
        var t = Tensor(uninitializedShape: [1, 3, s, s])
        t.withUnsafeMutableBufferPointer { d in
            let plane = s * s
            for p in 0..<plane {
                d[p] = lut[Int(hwc[3 * p])]
                d[plane + p] = lut[Int(hwc[3 * p + 1])]
                d[2 * plane + p] = lut[Int(hwc[3 * p + 2])]
            }
        }
        return t
    }

    /// `box / [W, H, W, H] * 1024` (Double, not rounded), validated against the original size.
    public func box(_ b: Box) throws -> [Float] {
        let v = try b.validated(width: originalWidth, height: originalHeight)
        let w = Double(originalWidth), h = Double(originalHeight), s = Double(imageSize)
        return [Float(v.x0 / w * s), Float(v.y0 / h * s), Float(v.x1 / w * s), Float(v.y1 / h * s)]
    }

    /// Low-resolution logits (N, 1, 256, 256) → sigmoid → bilinear to (H, W) (sigmoid *before*
    /// the resize, as MedSAM does) → probabilities (N, 1, H, W) and masks `p > 0.5`
    /// (N·H·W, row-major, values 0/1).
    public func postprocess(lowResLogits logits: Tensor) throws -> (probabilities: Tensor, masks: [UInt8]) {
        guard logits.rank == 4, logits.shape[1] == 1 else {
            throw ImagingError.wrongShape(expected: "(N, 1, h, w)", got: logits.shape)
        }
        var p = logits
        p.applySigmoid()
        let up = p.resizedBilinear(height: originalHeight, width: originalWidth)
        return (up, up.mask(above: 0.5))
    }
}

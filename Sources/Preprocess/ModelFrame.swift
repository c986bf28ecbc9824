import Imaging
import Tensor

/// One model's whole geometry between the original image and the model's square input frame — the role of
/// SAM's `ResizeLongestSide` plus its pre- and post-processing: the image becomes the model input, boxes and
/// points move into the input frame, and the decoder's low-resolution logits return to the original size.
///
/// ``MedSAMTransform`` (MedSAM: cubic resize of the whole image to 1024², `MedSAM_Inference.py`) and
/// ``LiteMedSAMTransform`` (LiteMedSAM: longest side to 256, zero padding, `CVPR24_LiteMedSAM_infer.py`)
/// conform. A model variant makes one frame per original image size.
public protocol ModelFrame: Sendable {
    /// Size of the original image.
    var originalWidth: Int { get }
    var originalHeight: Int { get }
    /// Side of the square model input.
    var imageSize: Int { get }

    /// The model input, (1, 3, S, S), for a 0…255 gray or RGB image of the original size.
    /// - Throws: ``ImagingError`` when the image has another size or values outside 0…255.
    func preprocess(_ image: Image) throws -> Tensor

    /// A box in original pixels → `[x0, y0, x1, y1]` in the model input frame.
    /// - Throws: ``ImagingError`` when the box is not finite, inverted, empty or outside the image.
    func box(_ b: Box) throws -> [Float]

    /// A point in original pixels (already checked to lie on the image) → the model input frame.
    func point(x: Double, y: Double) -> (x: Float, y: Float)

    /// Low-resolution logits (N, 1, h, w) → foreground probabilities (N, 1, H, W) at the original size and
    /// the binary masks (probability > 0.5).
    /// - Throws: ``ImagingError/wrongShape(expected:got:)`` for logits of another shape.
    func postprocess(lowResLogits logits: Tensor) throws -> (probabilities: Tensor, masks: [UInt8])
}

/// A frame that can carry a mask from one slice to the next in the model frame (LiteMedSAM's 3-D slice
/// propagation: the next box is the bounding box of the previous slice's mask, resized into the frame).
public protocol PropagationFrame: ModelFrame {
    /// A mask at the original size → the model frame (S·S, zero padded).
    func resizedMask(_ mask: [UInt8]) -> [UInt8]
    /// The bounding box of a model-frame mask, widened by `shift` pixels, or nil when it is empty.
    func boundingBox(ofFrameMask mask: [UInt8], shift: Int) -> [Float]?
}

extension MedSAMTransform: ModelFrame {
    public func point(x: Double, y: Double) -> (x: Float, y: Float) {
        let s = Double(imageSize)
        return (Float(x / Double(originalWidth) * s), Float(y / Double(originalHeight) * s))
    }
}

extension LiteMedSAMTransform: PropagationFrame {
    public func point(x: Double, y: Double) -> (x: Float, y: Float) {
        let s = Double(imageSize), side = Double(max(originalWidth, originalHeight))
        return (Float(x * s / side), Float(y * s / side))
    }

    public func boundingBox(ofFrameMask mask: [UInt8], shift: Int) -> [Float]? {
        Self.boundingBox256(mask, size: imageSize, shift: shift)?.map(Float.init)
    }
}

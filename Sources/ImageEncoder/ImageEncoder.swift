import NN
import Tensor

/// What an image encoder gives the prompt encoder and mask decoder: SAM's (1, C, h, w) image embedding,
/// plus any further feature maps an encoder makes (e.g. the high-resolution features of SAM 2 / MedSAM2),
/// by name.
public struct ImageFeatures: Sendable {
    /// (1, C, h, w): the embedding SAM's mask decoder attends to.
    public var embedding: Tensor
    /// Further feature maps, by name (empty for MedSAM and LiteMedSAM).
    public var additional: [String: Tensor]

    public init(embedding: Tensor, additional: [String: Tensor] = [:]) {
        self.embedding = embedding
        self.additional = additional
    }
}

/// An image encoder a model variant can be built from: a (1, 3, S, S) normalised image in, ``ImageFeatures`` out.
///
/// ``ImageEncoderViT`` (MedSAM, SAM) and ``TinyViT`` (LiteMedSAM) conform; a new encoder (EfficientViT,
/// RepViT, …) conforms in the same way and is registered as a model variant (see the *Adding a model* article
/// of the `MedSAM` documentation).
///
/// ```swift
/// struct TinyConvEncoder: ImageEncoding {
///     let conv: Conv2d
///     var inputSize: Int { 64 }
///     var embeddingChannels: Int { 256 }
///     var embeddingSize: Int { 16 }
///     func encode(_ input: Tensor) -> ImageFeatures { ImageFeatures(embedding: conv(input)) }
/// }
/// ```
public protocol ImageEncoding: Sendable {
    /// Side of the square input (1024 for SAM's ViT, 256 for LiteMedSAM's TinyViT).
    var inputSize: Int { get }
    /// Channels of the embedding (256 for SAM's decoder).
    var embeddingChannels: Int { get }
    /// Side of the embedding grid (64 for MedSAM and LiteMedSAM).
    var embeddingSize: Int { get }
    /// Encodes one (1, 3, inputSize, inputSize) image.
    func encode(_ input: Tensor) -> ImageFeatures
}

/// The neck SAM's encoders share (`image_encoder.neck`): 1×1 conv (no bias) → LayerNorm2d → 3×3 conv (no bias)
/// → LayerNorm2d, mapping the encoder's last stage to the decoder's 256 channels.
public struct EncoderNeck: Sendable {
    public let conv1: Conv2d
    public let norm1: LayerNorm2d
    public let conv2: Conv2d
    public let norm2: LayerNorm2d

    /// - Throws: ``WeightError`` when a weight is missing or mis-shaped.
    public init(_ scope: WeightScope, inChannels: Int, outChannels: Int) throws {
        conv1 = try Conv2d(scope[0], inChannels: inChannels, outChannels: outChannels, kernelSize: 1, bias: false)
        norm1 = try LayerNorm2d(scope[1], channels: outChannels)
        conv2 = try Conv2d(scope[2], inChannels: outChannels, outChannels: outChannels, kernelSize: 3, padding: 1, bias: false)
        norm2 = try LayerNorm2d(scope[3], channels: outChannels)
    }

    /// (B, C, H, W) → (B, outChannels, H, W).
    public func callAsFunction(_ x: Tensor) -> Tensor { norm2(conv2(norm1(conv1(x)))) }
}

extension ImageEncoderViT: ImageEncoding {
    public var inputSize: Int { configuration.imageSize }
    public var embeddingChannels: Int { configuration.outChannels }
    public var embeddingSize: Int { configuration.gridSize }
    public func encode(_ input: Tensor) -> ImageFeatures { ImageFeatures(embedding: self(input)) }
}

extension TinyViT: ImageEncoding {
    public var inputSize: Int { configuration.imageSize }
    public var embeddingChannels: Int { configuration.outChannels }
    public var embeddingSize: Int { configuration.resolution(ofStage: configuration.embedDims.count - 1) }
    public func encode(_ input: Tensor) -> ImageFeatures { ImageFeatures(embedding: self(input)) }
}

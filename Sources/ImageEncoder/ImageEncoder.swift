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
///
/// It runs channels-last, the layout both encoders end in: the 1×1 convolution is a per-pixel ``Linear``, each
/// LayerNorm2d a ``LayerNorm`` over the channels, and the 3×3 convolution a ``Linear`` of depth 9·C on each pixel's
/// zero-padded 3×3 neighbourhood (its weight reordered to (out, kh, kw, in) at load), so both convolutions run on
/// the package's own packed GEMM where it is preferred. Always fp32 (no layer of a reduced precision).
public struct EncoderNeck: Sendable {
    /// `neck.0`, the 1×1 convolution as a per-pixel linear map.
    public let conv1: Linear
    /// `neck.1` (LayerNorm2d, eps 1e-6) over the channels of each pixel.
    public let norm1: LayerNorm
    /// `neck.2`, the 3×3 convolution (padding 1) on each pixel's neighbourhood: input features ordered
    /// (row offset, column offset, channel).
    public let conv2: Linear
    /// `neck.3` (LayerNorm2d, eps 1e-6).
    public let norm2: LayerNorm

    /// - Throws: ``WeightError`` when a weight is missing or mis-shaped.
    public init(_ scope: WeightScope, inChannels: Int, outChannels: Int) throws {
        conv1 = Linear(pointwise: try Conv2d(scope[0], inChannels: inChannels, outChannels: outChannels, kernelSize: 1, bias: false))
        norm1 = try LayerNorm(scope[1], dim: outChannels, eps: 1e-6)
        let spatial = try Conv2d(scope[2], inChannels: outChannels, outChannels: outChannels, kernelSize: 3, padding: 1, bias: false)
        conv2 = Linear(packing: spatial.weight.permuted([0, 2, 3, 1]).reshaped([outChannels, 9 * outChannels]), bias: nil)
        norm2 = try LayerNorm(scope[3], dim: outChannels, eps: 1e-6)
    }

    /// Pixels per block of neighbourhoods gathered for the 3×3 convolution (512 × 9·256 floats = 4.7 MB).
    static let blockPixels = 512

    /// (B, H, W, C) channels-last → (B, outChannels, H, W).
    public func callAsFunction(channelsLast x: Tensor) -> Tensor {
        precondition(x.rank == 4, "EncoderNeck expects (B, H, W, C), got \(x.shape)")
        let y = norm1(conv1(x))
        let (b, h, w, c) = (y.shape[0], y.shape[1], y.shape[2], y.shape[3]), n = conv2.outFeatures
        var z = Tensor(uninitializedShape: [b, h, w, n])
        let rowsPerBlock = max(1, Self.blockPixels / max(w, 1))
        var block = Tensor(uninitializedShape: [min(b * h, rowsPerBlock) * w * 9 * c])   // written before read
        y.withUnsafeBufferPointer { src in
            z.withUnsafeMutableBufferPointer { dst in
                block.withUnsafeMutableBufferPointer { blk in
                    var r0 = 0
                    while r0 < b * h {
                        let r1 = min(b * h, r0 + rowsPerBlock)
                        Self.gatherNeighbourhoods(src.baseAddress!, height: h, width: w, channels: c, rows: r0..<r1,
                                                  into: blk.baseAddress!)
                        conv2.apply(rows: (r1 - r0) * w, x: blk.baseAddress!, ldx: 9 * c,
                                    out: dst.baseAddress! + r0 * w * n, ldo: n)
                        r0 = r1
                    }
                }
            }
        }
        return norm2(z).permuted([0, 3, 1, 2])
    }

    /// (B, C, H, W) → (B, outChannels, H, W) (the reference's layout; the encoders call ``callAsFunction(channelsLast:)``).
    public func callAsFunction(_ x: Tensor) -> Tensor { self(channelsLast: x.permuted([0, 2, 3, 1])) }

    /// Writes, for each pixel of the image rows `rows` (indices into B·H) of a (B, H, W, C) map, its 3×3
    /// neighbourhood (9·C floats: row offsets, then column offsets, then channels; zeros outside the map).
    static func gatherNeighbourhoods(_ x: UnsafePointer<Float>, height h: Int, width w: Int, channels c: Int,
                                     rows: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let sp = SendablePointer(UnsafeMutablePointer(mutating: x)), dp = SendablePointer(out)
        Parallel.forRanges(rows.count, minimumPerThread: 1) { part in
            for r in part {
                let row = rows.lowerBound + r, (bi, y) = (row / h, row % h)
                for xx in 0..<w {
                    var d = dp.pointer + (r * w + xx) * 9 * c
                    for i in -1...1 {
                        for j in -1...1 {
                            let (yy, xj) = (y + i, xx + j)
                            if yy >= 0 && yy < h && xj >= 0 && xj < w {
                                d.update(from: sp.pointer + ((bi * h + yy) * w + xj) * c, count: c)
                            } else {
                                d.update(repeating: 0, count: c)
                            }
                            d += c
                        }
                    }
                }
            }
        }
    }
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

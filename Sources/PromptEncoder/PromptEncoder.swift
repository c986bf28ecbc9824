import Foundation
import NN
import Tensor

/// A point prompt in input-image pixels (the model's input frame: 1024 for MedSAM, 256 for LiteMedSAM).
public struct PointPrompt: Sendable, Hashable {
    /// What a point says about the object.
    public enum Label: Int, Sendable, Hashable {
        /// The point is background (`0`).
        case negative = 0
        /// The point is on the object (`1`).
        case positive = 1
    }
    public var x: Float
    public var y: Float
    public var label: Label

    public init(x: Float, y: Float, label: Label = .positive) {
        self.x = x; self.y = y; self.label = label
    }
}

/// The prompts for one object: any of points, a box `[x0, y0, x1, y1]`, a low-res mask, all in the
/// model's input frame.
public struct Prompt: Sendable {
    public var points: [PointPrompt]
    public var box: [Float]?
    /// (1, 4·E, 4·E) mask logits (256×256 for a 64×64 embedding), or nil.
    public var mask: Tensor?

    public init(points: [PointPrompt] = [], box: [Float]? = nil, mask: Tensor? = nil) {
        self.points = points; self.box = box; self.mask = mask
    }
}

/// `PositionEmbeddingRandom`: random Fourier features of normalised (x, y) coordinates.
///
/// `pe(c) = [sin(2π(2c−1)G), cos(2π(2c−1)G)]` with the (2, F) Gaussian matrix `G`
/// (`positional_encoding_gaussian_matrix`, a persistent buffer in the checkpoint).
public struct PositionEmbeddingRandom: Sendable {
    public let gaussianMatrix: Tensor

    public init(_ scope: WeightScope, numPosFeats: Int) throws {
        gaussianMatrix = try scope.tensor("positional_encoding_gaussian_matrix", shape: [2, numPosFeats])
    }

    /// Encodes coordinates already normalised to [0, 1]: (N, 2) → (N, 2F), sin first.
    public func encode(normalized coords: [(Float, Float)]) -> Tensor {
        let f = gaussianMatrix.shape[1]
        var out = Tensor(uninitializedShape: [coords.count, 2 * f])
        let g = gaussianMatrix.scalars
        out.withUnsafeMutableBufferPointer { o in
            for (i, (x, y)) in coords.enumerated() {
                let cx = 2 * x - 1, cy = 2 * y - 1
                for j in 0..<f {
                    let v = 2 * Float.pi * (cx * g[j] + cy * g[f + j])
                    o[i * 2 * f + j] = sinf(v)
                    o[i * 2 * f + f + j] = cosf(v)
                }
            }
        }
        return out
    }

    /// `forward((h, w))`: the dense (2F, h, w) grid encoding at pixel centres.
    public func dense(height h: Int, width w: Int) -> Tensor {
        var coords: [(Float, Float)] = []
        coords.reserveCapacity(h * w)
        for i in 0..<h {
            for j in 0..<w { coords.append(((Float(j) + 0.5) / Float(w), (Float(i) + 0.5) / Float(h))) }
        }
        return encode(normalized: coords).permuted([1, 0]).reshaped([2 * gaussianMatrix.shape[1], h, w])
    }

    /// `forward_with_coords`: pixel coordinates divided by the image size (W, H).
    public func encode(pixels coords: [(Float, Float)], imageSize: (height: Int, width: Int)) -> Tensor {
        encode(normalized: coords.map { ($0.0 / Float(imageSize.width), $0.1 / Float(imageSize.height)) })
    }
}

/// SAM's prompt encoder (`segment_anything.modeling.prompt_encoder.PromptEncoder`).
///
/// ```swift
/// let pe = try PromptEncoder(loader.scope("prompt_encoder"), configuration: .medSAM)
/// let (sparse, dense) = pe(Prompt(box: [120, 300, 400, 560]))   // (1, 2, 256), (1, 256, 64, 64)
/// ```
public struct PromptEncoder: Sendable {
    public struct Configuration: Sendable, Hashable, Codable {
        public var embedDim = 256
        public var imageEmbeddingSize = 64
        public var inputImageSize = 1024
        public var maskInChannels = 16

        public init(embedDim: Int = 256, imageEmbeddingSize: Int = 64, inputImageSize: Int = 1024, maskInChannels: Int = 16) {
            self.embedDim = embedDim; self.imageEmbeddingSize = imageEmbeddingSize
            self.inputImageSize = inputImageSize; self.maskInChannels = maskInChannels
        }

        /// MedSAM: 1024 input, 64×64 embedding.
        public static let medSAM = Configuration()
        /// LiteMedSAM: 256 input, 64×64 embedding.
        public static let liteMedSAM = Configuration(inputImageSize: 256)
    }

    public let configuration: Configuration
    public let peLayer: PositionEmbeddingRandom
    /// `point_embeddings.{0..3}`: negative point, positive point, box corner 1, box corner 2.
    public let pointEmbeddings: [Tensor]
    public let notAPointEmbed: Tensor
    public let noMaskEmbed: Tensor
    public let maskDownscaling: MaskDownscaling

    public init(_ scope: WeightScope, configuration c: Configuration) throws {
        configuration = c
        peLayer = try PositionEmbeddingRandom(scope["pe_layer"], numPosFeats: c.embedDim / 2)
        pointEmbeddings = try (0..<4).map { try scope["point_embeddings"][$0].tensor("weight", shape: [1, c.embedDim]) }
        notAPointEmbed = try scope["not_a_point_embed"].tensor("weight", shape: [1, c.embedDim])
        noMaskEmbed = try scope["no_mask_embed"].tensor("weight", shape: [1, c.embedDim])
        maskDownscaling = try MaskDownscaling(scope["mask_downscaling"], maskInChannels: c.maskInChannels, embedDim: c.embedDim)
    }

    /// `get_dense_pe()`: (1, E, h, w) positional encoding of the embedding grid.
    public func densePositionalEncoding() -> Tensor {
        let s = configuration.imageEmbeddingSize
        return peLayer.dense(height: s, width: s).reshaped([1, configuration.embedDim, s, s])
    }

    /// Sparse (1, tokens, E) and dense (1, E, h, w) embeddings of one prompt.
    ///
    /// Tokens are ordered [points…, (padding point), box corner 1, box corner 2]; a padding point
    /// (label −1) is appended to points only when there is no box, as the reference does.
    public func callAsFunction(_ prompt: Prompt) -> (sparse: Tensor, dense: Tensor) {
        (sparseEmbedding(prompt), denseEmbedding(prompt))
    }

    /// The sparse (1, tokens, E) embedding of a prompt's points and box.
    public func sparseEmbedding(_ prompt: Prompt) -> Tensor {
        let e = configuration.embedDim
        let size = (height: configuration.inputImageSize, width: configuration.inputImageSize)
        var rows: [Tensor] = []
        if !prompt.points.isEmpty {
            var coords = prompt.points.map { ($0.x + 0.5, $0.y + 0.5) }
            var labels = prompt.points.map { $0.label.rawValue }
            if prompt.box == nil {
                coords.append((0, 0))
                labels.append(-1)
            }
            var pe = peLayer.encode(pixels: coords, imageSize: size)
            pe.withUnsafeMutableBufferPointer { p in
                for (i, label) in labels.enumerated() {
                    let row = p.baseAddress! + i * e
                    let add: Tensor
                    if label == -1 {
                        for j in 0..<e { row[j] = 0 }
                        add = notAPointEmbed
                    } else {
                        add = pointEmbeddings[label]
                    }
                    add.withUnsafeBufferPointer { a in for j in 0..<e { row[j] += a[j] } }
                }
            }
            rows.append(pe)
        }
        if let box = prompt.box {
            precondition(box.count == 4, "a box has 4 coordinates")
            var pe = peLayer.encode(pixels: [(box[0] + 0.5, box[1] + 0.5), (box[2] + 0.5, box[3] + 0.5)], imageSize: size)
            pe.withUnsafeMutableBufferPointer { p in
                for corner in 0..<2 {
                    pointEmbeddings[2 + corner].withUnsafeBufferPointer { a in
                        for j in 0..<e { p[corner * e + j] += a[j] }
                    }
                }
            }
            rows.append(pe)
        }
        return rows.isEmpty ? Tensor(zeros: [1, 0, e]) : Tensor.concatenate(rows, axis: 0).reshaped([1, -1, e])
    }

    /// The dense (1, E, h, w) embedding: the mask prompt downscaled, or the no-mask embedding everywhere.
    public func denseEmbedding(_ prompt: Prompt) -> Tensor {
        let e = configuration.embedDim
        let s = configuration.imageEmbeddingSize
        let dense: Tensor
        if let mask = prompt.mask {
            dense = maskDownscaling(mask.reshaped([1, 1, 4 * s, 4 * s]))
        } else {
            var d = Tensor(uninitializedShape: [1, e, s, s])
            let v = noMaskEmbed.scalars
            d.withUnsafeMutableBufferPointer { p in
                for c in 0..<e { (p.baseAddress! + c * s * s).initialize(repeating: v[c], count: s * s) }
            }
            dense = d
        }
        return dense
    }

    /// `mask_downscaling`: Conv(1→4, 2, s2) → LN2d → GELU → Conv(4→16, 2, s2) → LN2d → GELU → Conv(16→E, 1).
    public struct MaskDownscaling: Sendable {
        public let conv1: Conv2d
        public let norm1: LayerNorm2d
        public let conv2: Conv2d
        public let norm2: LayerNorm2d
        public let conv3: Conv2d

        public init(_ scope: WeightScope, maskInChannels: Int, embedDim: Int) throws {
            conv1 = try Conv2d(scope[0], inChannels: 1, outChannels: maskInChannels / 4, kernelSize: 2, stride: 2)
            norm1 = try LayerNorm2d(scope[1], channels: maskInChannels / 4)
            conv2 = try Conv2d(scope[3], inChannels: maskInChannels / 4, outChannels: maskInChannels, kernelSize: 2, stride: 2)
            norm2 = try LayerNorm2d(scope[4], channels: maskInChannels)
            conv3 = try Conv2d(scope[6], inChannels: maskInChannels, outChannels: embedDim, kernelSize: 1)
        }

        public func callAsFunction(_ x: Tensor) -> Tensor {
            var h = norm1(conv1(x))
            h.applyGELU()
            h = norm2(conv2(h))
            h.applyGELU()
            return conv3(h)
        }
    }
}

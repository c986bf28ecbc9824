import NN
import Tensor

/// The mask decoder's small MLP (`mask_decoder.MLP`): Linear layers with ReLU between them.
public struct DecoderMLP: Sendable {
    public let layers: [Linear]
    public let sigmoidOutput: Bool

    public init(_ scope: WeightScope, inputDim: Int, hiddenDim: Int, outputDim: Int, numLayers: Int, sigmoidOutput: Bool = false) throws {
        let dims = [inputDim] + Array(repeating: hiddenDim, count: numLayers - 1) + [outputDim]
        layers = try (0..<numLayers).map { i in
            try Linear(scope["layers"][i], inFeatures: dims[i], outFeatures: dims[i + 1])
        }
        self.sigmoidOutput = sigmoidOutput
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = x
        for (i, layer) in layers.enumerated() {
            h = layer(h)
            if i < layers.count - 1 { h.applyReLU() }
        }
        if sigmoidOutput { h.applySigmoid() }
        return h
    }
}

/// SAM's mask decoder (`segment_anything.modeling.mask_decoder.MaskDecoder`), shared by MedSAM and LiteMedSAM.
///
/// ```swift
/// let decoder = try MaskDecoder(loader.scope("mask_decoder"))
/// let out = decoder(imageEmbedding: embedding, imagePE: pe, sparse: sparse, dense: dense, multimaskOutput: false)
/// out.masks          // (1, 256, 256) low-res logits
/// out.iouPredictions // [Float] of 1
/// ```
public struct MaskDecoder: Sendable {
    public struct Configuration: Sendable, Hashable, Codable {
        public var transformerDim = 256
        public var numMultimaskOutputs = 3
        public var iouHeadDepth = 3
        public var iouHeadHiddenDim = 256
        public var transformerDepth = 2
        public var transformerHeads = 8
        public var transformerMLPDim = 2048

        public init(transformerDim: Int = 256, numMultimaskOutputs: Int = 3, iouHeadDepth: Int = 3, iouHeadHiddenDim: Int = 256,
                    transformerDepth: Int = 2, transformerHeads: Int = 8, transformerMLPDim: Int = 2048) {
            self.transformerDim = transformerDim; self.numMultimaskOutputs = numMultimaskOutputs
            self.iouHeadDepth = iouHeadDepth; self.iouHeadHiddenDim = iouHeadHiddenDim
            self.transformerDepth = transformerDepth; self.transformerHeads = transformerHeads
            self.transformerMLPDim = transformerMLPDim
        }

        /// SAM / MedSAM / LiteMedSAM.
        public static let sam = Configuration()
    }

    /// Masks and quality scores for one prompt.
    public struct Output: Sendable {
        /// (numMasks, 4h, 4w) mask logits (256×256 for a 64×64 embedding).
        public var masks: Tensor
        /// Predicted IoU per mask.
        public var iouPredictions: [Float]
    }

    public let configuration: Configuration
    public let transformer: TwoWayTransformer
    public let iouToken: Tensor
    public let maskTokens: Tensor
    public let upscaleConv1: ConvTranspose2d
    public let upscaleNorm: LayerNorm2d
    public let upscaleConv2: ConvTranspose2d
    public let hypernetworks: [DecoderMLP]
    public let iouPredictionHead: DecoderMLP

    public init(_ scope: WeightScope, configuration c: Configuration = .sam) throws {
        configuration = c
        let dim = c.transformerDim
        let numMaskTokens = c.numMultimaskOutputs + 1
        transformer = try TwoWayTransformer(scope["transformer"], depth: c.transformerDepth, embeddingDim: dim,
                                            numHeads: c.transformerHeads, mlpDim: c.transformerMLPDim)
        iouToken = try scope["iou_token"].tensor("weight", shape: [1, dim])
        maskTokens = try scope["mask_tokens"].tensor("weight", shape: [numMaskTokens, dim])
        let up = scope["output_upscaling"]
        upscaleConv1 = try ConvTranspose2d(up[0], inChannels: dim, outChannels: dim / 4, kernelSize: 2)
        upscaleNorm = try LayerNorm2d(up[1], channels: dim / 4)
        upscaleConv2 = try ConvTranspose2d(up[3], inChannels: dim / 4, outChannels: dim / 8, kernelSize: 2)
        hypernetworks = try (0..<numMaskTokens).map { i in
            try DecoderMLP(scope["output_hypernetworks_mlps"][i], inputDim: dim, hiddenDim: dim, outputDim: dim / 8, numLayers: 3)
        }
        iouPredictionHead = try DecoderMLP(scope["iou_prediction_head"], inputDim: dim, hiddenDim: c.iouHeadHiddenDim,
                                           outputDim: numMaskTokens, numLayers: c.iouHeadDepth)
    }

    /// (Cin, Cout, k, k) weight → (Cin, k·k·Cout) with `W'[ci, (a·k + b)·Cout + co] = W[ci, co, a, b]`.
    static func channelsLastTransposedConv(_ conv: ConvTranspose2d) -> (Tensor, Tensor) {
        let (cin, cout, k) = (conv.weight.shape[0], conv.weight.shape[1], conv.weight.shape[2])
        let src = conv.weight.scalars
        var w = [Float](repeating: 0, count: cin * k * k * cout)
        for ci in 0..<cin {
            for co in 0..<cout {
                for a in 0..<k {
                    for b in 0..<k {
                        w[ci * k * k * cout + (a * k + b) * cout + co] = src[((ci * cout + co) * k + a) * k + b]
                    }
                }
            }
        }
        let bias = conv.bias?.scalars ?? [Float](repeating: 0, count: cout)
        let biasRep = (0..<(k * k)).flatMap { _ in bias }
        return (Tensor(shape: [cin, k * k * cout], scalars: w), Tensor(shape: [k * k * cout], scalars: biasRep))
    }

    /// Predicts masks for one prompt.
    ///
    /// - Parameters:
    ///   - imageEmbedding: (1, C, h, w); shared by all prompts of an image and never copied per prompt.
    ///   - imagePE: (1, C, h, w) from ``PromptEncoder/densePositionalEncoding()``.
    ///   - sparse: (1, N, C) prompt tokens; dense: (1, C, h, w).
    ///   - multimaskOutput: `true` gives masks 1…3, `false` gives mask 0 (MedSAM and LiteMedSAM use `false`).
    public func callAsFunction(imageEmbedding: Tensor, imagePE: Tensor, sparse: Tensor, dense: Tensor,
                               multimaskOutput: Bool) -> Output {
        if imageEmbedding.rank == 4 && imageEmbedding.shape[0] == 1 && imagePE.count == imageEmbedding.count
            && dense.count == imageEmbedding.count {
            let ctx = prepare(imageEmbedding: imageEmbedding, imagePE: imagePE, dense: dense)
            return decode(ctx, sparse: sparse, multimaskOutput: multimaskOutput)
        }
        return referenceForward(imageEmbedding: imageEmbedding, imagePE: imagePE, sparse: sparse, dense: dense,
                                multimaskOutput: multimaskOutput)
    }

    /// The unfused forward pass (op by op, as the PyTorch module); kept as the reference.
    public func referenceForward(imageEmbedding: Tensor, imagePE: Tensor, sparse: Tensor, dense: Tensor,
                                 multimaskOutput: Bool) -> Output {
        let dim = configuration.transformerDim
        let (h, w) = (imageEmbedding.shape[2], imageEmbedding.shape[3])
        let numMaskTokens = maskTokens.shape[0]
        let tokens = Tensor.concatenate([iouToken, maskTokens, sparse.reshaped([-1, dim])], axis: 0)
            .reshaped([1, -1, dim])
        let src = imageEmbedding + dense
        let (hs, keys) = transformer(imageEmbedding: src, imagePE: imagePE, pointEmbedding: tokens)

        // Only the mask tokens whose masks are returned need a hypernetwork and a product.
        let selected = multimaskOutput ? Array(1..<numMaskTokens) : [0]
        let hsRows = hs.reshaped([-1, dim])
        var upscaled = upscaleConv1(keys.permuted([0, 2, 1]).reshaped([1, dim, h, w]))
        upscaled = upscaleNorm(upscaled)
        upscaled.applyGELU()
        upscaled = upscaleConv2(upscaled)
        upscaled.applyGELU()
        let (cUp, hUp, wUp) = (upscaled.shape[1], upscaled.shape[2], upscaled.shape[3])
        let hyper = Tensor.concatenate(selected.map { i in
            hypernetworks[i](hsRows.sliced([(1 + i)..<(2 + i), 0..<dim]))
        }, axis: 0)                                                           // (M, C/8)
        let masks = hyper.matmul(upscaled.reshaped([cUp, hUp * wUp])).reshaped([selected.count, hUp, wUp])
        let iou = iouPredictionHead(hsRows.sliced([0..<1, 0..<dim])).scalars
        return Output(masks: masks, iouPredictions: selected.map { iou[$0] })
    }
}

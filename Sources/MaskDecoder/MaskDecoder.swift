import Checkpoint
import NN
import Tensor

/// The mask decoder's small MLP (`mask_decoder.MLP`): Linear layers with ReLU between them.
public struct DecoderMLP: Sendable {
    public let layers: [Linear]
    public let sigmoidOutput: Bool

    /// - Throws: ``WeightError`` when a weight is missing or mis-shaped.
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
            h = layer(h, activation: i < layers.count - 1 ? .relu : .none)
        }
        if sigmoidOutput { h.applySigmoid() }
        return h
    }
}

/// SAM's mask decoder (`segment_anything.modeling.mask_decoder.MaskDecoder`), shared by MedSAM and LiteMedSAM.
///
/// There is one forward pass. Its prompt-independent first half (image tokens as rows, positional encoding,
/// optionally the first layer's image projections) is ``prepare(imageEmbedding:imagePE:dense:precomputeFirstLayer:)``;
/// the per-prompt rest is ``decode(_:sparse:multimaskOutput:workspace:)`` (or, for several prompts in one pass,
/// ``decode(_:prompts:multimaskOutput:workspace:)``). Calling the decoder directly runs both. An app that segments
/// many prompts on one image prepares once and decodes them together (``Segmenter`` does).
///
/// ```swift
/// let decoder = try MaskDecoder(loader.scope("mask_decoder"))
/// let out = decoder(imageEmbedding: embedding, imagePE: pe, sparse: sparse, dense: dense, multimaskOutput: false)
/// out.masks          // (1, 256, 256) low-res logits
/// out.iouPredictions // [Float] of 1
/// ```
///
/// Under `loader.scope("mask_decoder").packing(true)` (as the model registry loads it) the token-side Linear layers
/// keep their weights packed for the package's own GEMM; the results are the same to rounding.
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
    /// The upscaling transposed convolutions as GEMM operands mapping Cin channels to k·k·Cout outputs ordered
    /// (subpixel, channel), and their biases repeated per subpixel: re-arranged once at load for the
    /// channels-last upscaling.
    let upscale1: (weight: FP32GEMMOperand, bias: Tensor)
    let upscale2: (weight: FP32GEMMOperand, bias: Tensor)

    /// - Throws: ``WeightError`` when a weight is missing or mis-shaped.
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
        upscale1 = Self.channelsLastTransposedConv(upscaleConv1)
        upscale2 = Self.channelsLastTransposedConv(upscaleConv2)
    }

    /// (Cin, Cout, k, k) weight → the operand of the (k·k·Cout × Cin) matrix `W'[(a·k + b)·Cout + co, ci] =
    /// W[ci, co, a, b]` (Cin channels in, k·k·Cout outputs ordered (subpixel, channel)), and the bias repeated
    /// per subpixel.
    static func channelsLastTransposedConv(_ conv: ConvTranspose2d) -> (weight: FP32GEMMOperand, bias: Tensor) {
        let (cin, cout, k) = (conv.weight.shape[0], conv.weight.shape[1], conv.weight.shape[2])
        let src = conv.weight.scalars
        var w = [Float](repeating: 0, count: k * k * cout * cin)
        for ci in 0..<cin {
            for co in 0..<cout {
                for a in 0..<k {
                    for b in 0..<k {
                        w[((a * k + b) * cout + co) * cin + ci] = src[((ci * cout + co) * k + a) * k + b]
                    }
                }
            }
        }
        let bias = conv.bias?.scalars ?? [Float](repeating: 0, count: cout)
        let biasRep = (0..<(k * k)).flatMap { _ in bias }
        let operand = w.withUnsafeBufferPointer { FP32GEMMOperand(rowMajor: $0.baseAddress!, outFeatures: k * k * cout, inFeatures: cin) }
        return (operand, Tensor(shape: [k * k * cout], scalars: biasRep))
    }

    /// Predicts masks for one prompt (`MaskDecoder.forward` for a batch of one): prepares the image and decodes.
    ///
    /// - Parameters:
    ///   - imageEmbedding: (1, C, h, w); shared by all prompts of an image and never copied per prompt.
    ///   - imagePE: (1, C, h, w) from ``PromptEncoder/densePositionalEncoding()``.
    ///   - sparse: (1, N, C) prompt tokens; dense: (1, C, h, w).
    ///   - multimaskOutput: `true` gives masks 1…3, `false` gives mask 0 (MedSAM and LiteMedSAM use `false`).
    public func callAsFunction(imageEmbedding: Tensor, imagePE: Tensor, sparse: Tensor, dense: Tensor,
                               multimaskOutput: Bool) -> Output {
        let ctx = prepare(imageEmbedding: imageEmbedding, imagePE: imagePE, dense: dense, precomputeFirstLayer: false)
        return decode(ctx, sparse: sparse, multimaskOutput: multimaskOutput)
    }

    /// Predicts masks for a batch of prompts, as the PyTorch module does for a batch: `sparse` (B, N, C),
    /// `imageEmbedding` and `dense` (1 or B, C, h, w) — a batch of 1 is shared by every prompt (SAM's
    /// `repeat_interleave`). Prompts that share both the image and the dense embedding share one prepared
    /// image (with precomputed first-layer projections) and are decoded together in one pass
    /// (``decode(_:prompts:multimaskOutput:workspace:)``).
    public func predictMasks(imageEmbedding: Tensor, imagePE: Tensor, sparse: Tensor, dense: Tensor,
                             multimaskOutput: Bool) -> [Output] {
        let b = sparse.shape[0]
        if imageEmbedding.shape[0] == 1 && dense.shape[0] == 1 {
            let ctx = prepare(imageEmbedding: imageEmbedding, imagePE: imagePE, dense: dense)
            return decode(ctx, prompts: (0..<b).map { sparse.batchItem($0) }, multimaskOutput: multimaskOutput)
        }
        return (0..<b).map { i in
            self(imageEmbedding: imageEmbedding.batchItem(i), imagePE: imagePE, sparse: sparse.batchItem(i),
                 dense: dense.batchItem(i), multimaskOutput: multimaskOutput)
        }
    }

    /// Computes the prompt-independent part of the decoder for one image.
    ///
    /// - Parameters:
    ///   - imageEmbedding: (1, C, h, w).
    ///   - imagePE: (1, C, h, w).
    ///   - dense: (1, C, h, w) dense prompt embedding shared by the prompts (the no-mask embedding).
    ///   - precomputeFirstLayer: also compute the first two-way layer's image projections (worth it when more
    ///     than one prompt is decoded on the image; the result is the same).
    public func prepare(imageEmbedding: Tensor, imagePE: Tensor, dense: Tensor,
                        precomputeFirstLayer: Bool = true) -> DecoderImageContext {
        let c = configuration.transformerDim
        precondition(imageEmbedding.rank == 4 && imageEmbedding.shape[0] == 1 && imageEmbedding.shape[1] == c,
                     "image embedding must be (1, \(c), h, w), got \(imageEmbedding.shape)")
        let (h, w) = (imageEmbedding.shape[2], imageEmbedding.shape[3])
        let n = h * w
        precondition(imagePE.count == c * n && dense.count == c * n, "image PE and dense embedding must match the embedding")
        let src = TensorStorage(uninitializedCount: n * c)
        let pe = TensorStorage(uninitializedCount: n * c)
        imageEmbedding.withUnsafeBufferPointer { e in
            dense.withUnsafeBufferPointer { d in
                transposePlanes(e.baseAddress!, plus: d.baseAddress!, into: src.pointer, channels: c, pixels: n)
            }
        }
        imagePE.withUnsafeBufferPointer { p in
            transposePlanes(p.baseAddress!, plus: nil, into: pe.pointer, channels: c, pixels: n)
        }
        var first: ImageProjections?
        if precomputeFirstLayer, let layer = transformer.layers.first {
            let kpe = TensorStorage(uninitializedCount: n * c)                   // src + PE, for the projections only
            addRows(src.pointer, pe.pointer, kpe.pointer, rows: n, cols: c)
            let t2i = layer.crossAttnTokenToImage, i2t = layer.crossAttnImageToToken
            let (dk, dq) = (t2i.internalDim, i2t.internalDim)
            let k = TensorStorage(uninitializedCount: n * dk), v = TensorStorage(uninitializedCount: n * dk)
            let q = TensorStorage(uninitializedCount: n * dq)
            t2i.kProj.apply(rows: n, x: kpe.pointer, ldx: c, out: k.pointer, ldo: dk)
            t2i.vProj.apply(rows: n, x: src.pointer, ldx: c, out: v.pointer, ldo: dk)
            i2t.qProj.apply(rows: n, x: kpe.pointer, ldx: c, out: q.pointer, ldo: dq)
            first = ImageProjections(k: k, v: v, q: q)
        }
        return DecoderImageContext(height: h, width: w, channels: c, src: src, keyPE: pe,
                                   firstLayer: first, internalDim: transformer.internalDim)
    }

    /// A workspace for ``decode(_:sparse:multimaskOutput:workspace:)`` on images like `context`'s.
    public func makeWorkspace(for context: DecoderImageContext) -> DecoderWorkspace {
        DecoderWorkspace(tokens: context.height * context.width, channels: context.channels, internalDim: context.internalDim)
    }

    /// Predicts masks for one prompt on a prepared image (the second half of the forward pass).
    ///
    /// - Parameters:
    ///   - sparse: (1, N, C) or (N, C) prompt tokens.
    ///   - workspace: scratch from ``makeWorkspace(for:)`` (made here when nil); not shared between threads.
    public func decode(_ ctx: DecoderImageContext, sparse: Tensor, multimaskOutput: Bool,
                       workspace: DecoderWorkspace? = nil) -> Output {
        decodePass(ctx, sparse: [sparse], multimaskOutput: multimaskOutput, workspaces: [workspace ?? makeWorkspace(for: ctx)])[0]
    }

    /// Most prompts decoded in one pass (each holds its own image tokens, ≈8 MB for a 64×64 embedding).
    public static let maxPromptsPerPass = 8

    /// Predicts masks for several prompts on one prepared image, in passes of up to ``maxPromptsPerPass``
    /// prompts with the same number of tokens: in a pass the token-side layers run once on all prompts' tokens,
    /// the first layer's token→image attention over the (shared) image runs once for all of them, and the
    /// prompts' own image sides (updates, later attentions, upscaling) run one prompt per thread. Each
    /// result is the one ``decode(_:sparse:multimaskOutput:workspace:)`` gives for that prompt (to rounding).
    ///
    /// - Parameters:
    ///   - prompts: (1, N, C) or (N, C) prompt tokens per prompt.
    ///   - workspace: scratch for the first prompt of each pass (the others get their own); not shared between
    ///     threads.
    public func decode(_ ctx: DecoderImageContext, prompts: [Tensor], multimaskOutput: Bool,
                       workspace: DecoderWorkspace? = nil) -> [Output] {
        let dim = configuration.transformerDim
        var results = [Output?](repeating: nil, count: prompts.count)
        var workspaces = workspace.map { [$0] } ?? []
        let groups = Dictionary(grouping: prompts.indices) { prompts[$0].count / dim }
        for key in groups.keys.sorted() {
            let members = groups[key] ?? []
            for start in stride(from: 0, to: members.count, by: Self.maxPromptsPerPass) {
                let pass = Array(members[start..<min(members.count, start + Self.maxPromptsPerPass)])
                while workspaces.count < pass.count { workspaces.append(makeWorkspace(for: ctx)) }
                let outs = decodePass(ctx, sparse: pass.map { prompts[$0] }, multimaskOutput: multimaskOutput,
                                      workspaces: Array(workspaces.prefix(pass.count)))
                for (j, i) in pass.enumerated() { results[i] = outs[j] }
            }
        }
        return results.compactMap { $0 }
    }

    /// One pass of the transformer, hypernetworks, IoU head and upscaling for prompts with the same number of
    /// tokens, prompt `i` in `workspaces[i]`.
    private func decodePass(_ ctx: DecoderImageContext, sparse: [Tensor], multimaskOutput: Bool,
                            workspaces: [DecoderWorkspace]) -> [Output] {
        let dim = configuration.transformerDim
        let b = sparse.count
        precondition(ctx.channels == dim && workspaces.count == b && workspaces.allSatisfy { $0.fits(ctx) },
                     "workspace does not fit the image context")
        let numMaskTokens = maskTokens.shape[0]
        let tokens = Tensor.concatenate(sparse.map { Tensor.concatenate([iouToken, maskTokens, $0.reshaped([-1, dim])], axis: 0) },
                                        axis: 0).reshaped([b, -1, dim])                // (B, T, C)
        let t = tokens.shape[1]
        var images = workspaces.map { ImageSide(context: ctx, workspace: $0) }
        let queries = transformer.forward(pointEmbedding: tokens, images: &images, firstLayer: ctx.firstLayer).scalars
        // Token `k` of every prompt: (B, C).
        func tokenRows(_ k: Int) -> Tensor {
            var rows = [Float]()
            rows.reserveCapacity(b * dim)
            for i in 0..<b {
                let start: Int = (i * t + k) * dim
                rows.append(contentsOf: queries[start..<(start + dim)])
            }
            return Tensor(shape: [b, dim], scalars: rows)
        }

        // Only the mask tokens whose masks are returned need a hypernetwork and a product.
        let selected = multimaskOutput ? Array(1..<numMaskTokens) : [0]
        let hyper = selected.map { i in hypernetworks[i](tokenRows(1 + i)).scalars }     // each (B, C/8)
        let iou = iouPredictionHead(tokenRows(0)).scalars                                 // (B, numMaskTokens)
        let c8 = hypernetworks[0].layers.last?.outFeatures ?? dim / 8
        var outputs = [Output?](repeating: nil, count: b)
        outputs.withUnsafeMutableBufferPointer { ob in
            let op = SendablePointer(ob.baseAddress!)
            // Several prompts: one per thread at a time.
            Parallel.forRanges(b, minimumPerThread: 1) { range in
                for i in range {
                    var h = [Float]()
                    for m in hyper { h.append(contentsOf: m[(i * c8)..<((i + 1) * c8)]) }
                    let rows = Tensor(shape: [selected.count, c8], scalars: h)
                    let masks = upscaleAndProject(keys: images[i].keys, height: ctx.height, width: ctx.width, hyper: rows)
                    op.pointer[i] = Output(masks: masks, iouPredictions: selected.map { iou[i * numMaskTokens + $0] })
                }
            }
        }
        withExtendedLifetime((ctx, workspaces, images)) {}
        return outputs.map { $0! }
    }

    /// output_upscaling (ConvT → LN2d → GELU → ConvT → GELU) on the (h·w, C) keys, fused per image row
    /// with the hypernetwork product: returns (M, 4h, 4w) mask logits for the (M, C/8) `hyper` rows.
    private func upscaleAndProject(keys: UnsafeMutablePointer<Float>, height h: Int, width w: Int, hyper: Tensor) -> Tensor {
        let dim = configuration.transformerDim
        let k1 = upscaleConv1.weight.shape[2], c1 = upscaleConv1.weight.shape[1]
        let k2 = upscaleConv2.weight.shape[2], c2 = upscaleConv2.weight.shape[1]
        let (s1, s2) = (k1 * k1, k2 * k2)
        let (n1, n2) = (s1 * c1, s2 * c2)
        let m = hyper.shape[0]
        precondition(hyper.shape[1] == c2, "hypernetwork output \(hyper.shape) for \(c2) channels")
        let (oh, ow) = (h * k1 * k2, w * k1 * k2)
        var masks = Tensor(uninitializedShape: [m, oh, ow])
        let kp = SendablePointer(keys)
        let (w1, w2) = (upscale1.weight, upscale2.weight)
        let b1 = SendablePointer(upscale1.bias.storagePointer), b2 = SendablePointer(upscale2.bias.storagePointer)
        let lw = SendablePointer(upscaleNorm.weight.storagePointer), lb = SendablePointer(upscaleNorm.bias.storagePointer)
        let hyperOperand = hyper.withUnsafeBufferPointer { FP32GEMMOperand(rowMajor: $0.baseAddress!, outFeatures: m, inFeatures: c2) }
        let eps = upscaleNorm.eps
        masks.withUnsafeMutableBufferPointer { mb in
            let mp = SendablePointer(mb.baseAddress!)
            Parallel.forRanges(h, minimumPerThread: 1) { rows in
                let u1 = UnsafeMutablePointer<Float>.allocate(capacity: w * n1)
                let u2 = UnsafeMutablePointer<Float>.allocate(capacity: w * s1 * n2)
                let mo = UnsafeMutablePointer<Float>.allocate(capacity: w * s1 * s2 * m)
                defer { u1.deallocate(); u2.deallocate(); mo.deallocate() }
                for i in rows {
                    // (w, C) → (w, s1·c1): columns ordered (subpixel, channel), bias added in the tiles.
                    w1.product(rows: w, x: kp.pointer + i * w * dim, ldx: dim, bias: b1.pointer, out: u1, ldo: n1)
                    Kernels.layerNormRows(u1, u1, rows: w * s1, columns: c1, weight: lw.pointer, bias: lb.pointer, eps: eps)
                    Kernels.gelu(u1, count: w * n1)
                    w2.product(rows: w * s1, x: u1, ldx: c1, bias: b2.pointer, activation: .gelu, out: u2, ldo: n2)
                    // (w·s1·s2, c2) · hyperᵀ → (w·s1·s2, M).
                    hyperOperand.product(rows: w * s1 * s2, x: u2, ldx: c2, bias: nil, out: mo, ldo: m)
                    for j in 0..<w {
                        for a1 in 0..<k1 {
                            for e1 in 0..<k1 {
                                for a2 in 0..<k2 {
                                    let y = (i * k1 + a1) * k2 + a2
                                    for e2 in 0..<k2 {
                                        let x = (j * k1 + e1) * k2 + e2
                                        let row = (j * s1 + a1 * k1 + e1) * s2 + a2 * k2 + e2
                                        for mi in 0..<m { mp.pointer[(mi * oh + y) * ow + x] = mo[row * m + mi] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        withExtendedLifetime(hyper) {}
        return masks
    }
}

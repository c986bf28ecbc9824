import Checkpoint
import NN
import Tensor

/// The transformer attention of SAM's mask decoder (`transformer.Attention`): projections to an
/// internal width (`embeddingDim / downsampleRate`), multi-head attention, output projection.
public struct DecoderAttention: Sendable {
    public let qProj: Linear
    public let kProj: Linear
    public let vProj: Linear
    public let outProj: Linear
    public let numHeads: Int
    public let internalDim: Int

    /// Where the attention sits in the two-way transformer, which decides the projections whose PyTorch-layout
    /// weights the reassociated cross attentions read directly (``attendImages(q:images:)`` reads the token→image
    /// `k_proj` and `v_proj`, ``updateImages(_:tokenQ:tokenV:projectedQueries:norm:)`` the image→token `q_proj` and
    /// `out_proj`). Those stay row-major; under a scope that ``WeightScope/packsWeights`` the others are packed for
    /// the own GEMM. Only speed depends on it: every path works with either storage.
    public enum Role: Sendable {
        case selfAttention, tokenToImage, imageToToken
    }

    /// - Throws: ``WeightError`` when a weight is missing or mis-shaped, or when `numHeads` does not divide
    ///   the internal width.
    public init(_ scope: WeightScope, embeddingDim: Int, numHeads: Int, downsampleRate: Int = 1,
                role: Role = .selfAttention) throws {
        guard downsampleRate > 0, numHeads > 0, (embeddingDim / downsampleRate) % numHeads == 0 else {
            throw WeightError.invalidConfiguration(
                "attention \(scope.prefix): num_heads \(numHeads) must divide embedding_dim / downsample_rate")
        }
        internalDim = embeddingDim / downsampleRate
        let rowMajor = scope.packing(false)
        let (q, k, v, o) = switch role {
        case .selfAttention: (scope, scope, scope, scope)
        case .tokenToImage: (scope, rowMajor, rowMajor, scope)
        case .imageToToken: (rowMajor, scope, scope, rowMajor)
        }
        qProj = try Linear(q["q_proj"], inFeatures: embeddingDim, outFeatures: internalDim)
        kProj = try Linear(k["k_proj"], inFeatures: embeddingDim, outFeatures: internalDim)
        vProj = try Linear(v["v_proj"], inFeatures: embeddingDim, outFeatures: internalDim)
        outProj = try Linear(o["out_proj"], inFeatures: internalDim, outFeatures: embeddingDim)
        self.numHeads = numHeads
    }

    /// q (B, Nq, E), k and v (B, Nk, E) → (B, Nq, E): `out_proj(attention(q_proj(q), k_proj(k), v_proj(v)))`.
    public func callAsFunction(q: Tensor, k: Tensor, v: Tensor) -> Tensor {
        let (b, nq, nk) = (q.shape[0], q.shape[1], k.shape[1])
        let kp = kProj(k), vp = vProj(v)
        let dim = internalDim
        var out = Tensor(uninitializedShape: [b, nq, dim])
        kp.withUnsafeBufferPointer { kb in
            vp.withUnsafeBufferPointer { vb in
                out.withUnsafeMutableBufferPointer { ob in
                    for bi in 0..<b {
                        let qi = q.sliced([bi..<(bi + 1), 0..<nq, 0..<q.shape[2]])
                        let o = attendProjectedHeads(q: qi, k: kb.baseAddress! + bi * nk * dim,
                                                     v: vb.baseAddress! + bi * nk * dim, keys: nk)
                        o.withUnsafeBufferPointer { (ob.baseAddress! + bi * nq * dim).update(from: $0.baseAddress!, count: nq * dim) }
                    }
                }
            }
        }
        return outProj(out)
    }

    /// Attention for a few query tokens over image keys and values already projected (`K = k_proj(·)`,
    /// `V = v_proj(·)`, each (nk, internalDim) rows): `out_proj(attention(q_proj(q), K, V))`, q (…, E).
    func attendProjected(q: Tensor, k: UnsafePointer<Float>, v: UnsafePointer<Float>, keys nk: Int) -> Tensor {
        let o = attendProjectedHeads(q: q, k: k, v: v, keys: nk)
        return outProj(o.reshaped(Array(q.shape.dropLast()) + [internalDim]))
    }

    /// `attention(q_proj(q), K, V)` per head (no output projection) → (nq, internalDim).
    private func attendProjectedHeads(q: Tensor, k: UnsafePointer<Float>, v: UnsafePointer<Float>, keys nk: Int) -> Tensor {
        let nq = q.count / q.shape[q.rank - 1]
        let qp = qProj(q)
        let d = internalDim / numHeads
        let dim = internalDim
        var out = Tensor(uninitializedShape: [nq, dim])
        let scale = 1 / Float(d).squareRoot()
        let per = AttentionKernel.scratchCount(queries: nq, keys: nk)
        let scratch = TensorStorage(uninitializedCount: per * numHeads)
        let kp = SendablePointer(UnsafeMutablePointer(mutating: k))
        let vp = SendablePointer(UnsafeMutablePointer(mutating: v))
        let sp = SendablePointer(scratch.pointer)
        qp.withUnsafeBufferPointer { qb in
            out.withUnsafeMutableBufferPointer { ob in
                let qq = SendablePointer(UnsafeMutablePointer(mutating: qb.baseAddress!))
                let oo = SendablePointer(ob.baseAddress!)
                Parallel.forRanges(numHeads, minimumPerThread: 1) { hr in
                    for h in hr {
                        AttentionKernel.run(
                            queries: nq, keys: nk, qkDim: d, vDim: d,
                            q: qq.pointer + h * d, ldq: dim, k: kp.pointer + h * d, ldk: dim,
                            v: vp.pointer + h * d, ldv: dim, out: oo.pointer + h * d, ldo: dim,
                            scale: scale, scratch: sp.pointer + h * per, scratchCount: per)
                    }
                }
            }
        }
        withExtendedLifetime(scratch) {}
        return out
    }

    /// Token→image attention for a batch of prompts, each over its own image side's current tokens: q (B, nq, E)
    /// with `B == images.count` → (B, nq, E). Reassociated so that the image tokens are never projected
    /// (`attention(q_proj(q), k_proj(keys + PE), v_proj(keys))` followed by `out_proj`):
    ///
    /// - scores per head: `q_h·(W_k,h·x + b_k,h)ᵀ = (q_h·W_k,h)·xᵀ + q_h·b_k,h`; the last term is the same for
    ///   every key of a query row, which the softmax ignores, so it is left out;
    /// - values per head: `A_h·(x·W_v,hᵀ + b_v,h) = (A_h·x)·W_v,hᵀ + b_v,h` (the rows of `A_h` sum to 1).
    ///
    /// All heads' `q_h·W_k,h` rows (H·nq of them, width C) run as one attention over the (h·w, C) image rows,
    /// which costs 2·(H·nq)·(h·w)·C multiply-adds per product instead of the 2·(h·w)·C·internalDim of each image
    /// projection. Same mathematics as the module, different rounding. `q_proj` and `out_proj` run once on
    /// all prompts' tokens.
    func attendImages(q: Tensor, images: [ImageSide]) -> Tensor {
        let b = images.count, dim = internalDim
        let nq = q.count / q.shape[q.rank - 1] / max(b, 1)
        precondition(nq * b * q.shape[q.rank - 1] == q.count, "one row block of queries per image side")
        let qp = qProj(q)                                                     // (B·nq, D)
        var o = Tensor(uninitializedShape: [b * nq, dim])
        qp.withUnsafeBufferPointer { qb in
            o.withUnsafeMutableBufferPointer { ob in
                let qq = SendablePointer(UnsafeMutablePointer(mutating: qb.baseAddress!)), oo = SendablePointer(ob.baseAddress!)
                // Several prompts: one per thread at a time.
                Parallel.forRanges(b, minimumPerThread: 1) { range in
                    for i in range {
                        attendImage(projectedQueries: qq.pointer + i * nq * dim, rows: nq, image: images[i],
                                    out: oo.pointer + i * nq * dim)
                    }
                }
            }
        }
        return outProj(o.reshaped(Array(q.shape.dropLast()) + [dim]))
    }

    /// One prompt's part of ``attendImages(q:images:)``: (nq, internalDim) projected queries → (nq, internalDim)
    /// attention output before `out_proj`.
    private func attendImage(projectedQueries qp: UnsafePointer<Float>, rows nq: Int, image: ImageSide,
                             out: UnsafeMutablePointer<Float>) {
        let c = image.channels, n = image.rows
        let heads = numHeads, d = internalDim / numHeads, dim = internalDim
        let scale = 1 / Float(d).squareRoot()
        var u = [Float](repeating: 0, count: nq * heads * c)                 // (nq·H, C): row j·H + h is q_h[j]·W_k,h
        u.withUnsafeMutableBufferPointer { perHeadProducts(qp, rows: nq, kProj, weightIsOutByIn: true, into: $0.baseAddress!) }
        let queries = u.withUnsafeBufferPointer {
            FP32GEMMOperand(rowMajor: $0.baseAddress!, outFeatures: nq * heads, inFeatures: c, scale: scale)
        }
        let z = TensorStorage(uninitializedCount: heads * nq * c)
        AttentionKernel.fewQueries(queries, keys: image.keys, keysAddend: image.keyPE, ldk: c, count: n, values: image.keys,
                                   ldv: c, valueWidth: c, out: z.pointer, ldo: c)
        fillRows(out, rows: nq, columns: dim, with: vProj.bias)
        vProj.weight.withUnsafeBufferPointer { w in
            for h in 0..<heads {
                // out[:, h·d ..< (h+1)·d] += Z_h · W_v,hᵀ with Z_h (nq, C) the rows j·H + h of Z, W_v,h (d, C).
                BLAS.sgemmSerial(transposeB: true, m: nq, n: d, k: c, a: z.pointer + h * c, lda: heads * c,
                                 b: w.baseAddress! + h * d * c, ldb: c, beta: 1, c: out + h * d, ldc: dim)
            }
        }
        withExtendedLifetime((z, image)) {}
    }

    /// Image→token attention and the image update `keys = norm(keys + out_proj(attention(q_proj(keys + PE),
    /// k_proj(tokenQ), v_proj(tokenV))))` for a batch of prompts (tokenQ, tokenV (B, nt, E), `B ==
    /// images.count`), each updating its own image side. Reassociated so that neither `q_proj` nor `out_proj`
    /// runs on the image tokens:
    ///
    /// - scores per head: `(x·W_q,hᵀ + b_q,h)·K_hᵀ = x·(K_h·W_q,h)ᵀ + b_q,h·K_hᵀ` for the few token keys `K_h`
    ///   (or `Q_h·K_hᵀ` when the image queries `Q` were projected once per image, `projectedQueries`);
    /// - output: `out_proj(A·V) = Σ_h A_h·(V_h·W_o,hᵀ) + b_o`.
    ///
    /// The probabilities of all heads are one (h·w, H·nt) matrix per prompt, columns ordered (token, head), so
    /// both products have inner width H·nt (56 for a box) instead of internalDim-wide projections; the scale is
    /// folded into the score operand. ``ImageSide/attendTokens(queries:lda:scores:scoreBias:heads:tokens:values:bias:norm:)``
    /// runs them, the softmax and the norm per block of image rows. Same mathematics, different rounding.
    func updateImages(_ images: inout [ImageSide], tokenQ: Tensor, tokenV: Tensor, projectedQueries: UnsafePointer<Float>?,
                      norm: LayerNorm) {
        guard let first = images.first else { return }
        let b = images.count
        let kt = kProj(tokenQ), vt = vProj(tokenV)                           // (B·nt, D)
        let heads = numHeads, d = internalDim / numHeads, dim = internalDim
        let nt = kt.count / dim / b
        precondition(nt * b * dim == kt.count, "one row block of tokens per image side")
        let c = first.channels
        let cols = heads * nt
        let scale = 1 / Float(d).squareRoot()
        let ktp = SendablePointer(kt.storagePointer), vtp = SendablePointer(vt.storagePointer)
        let qpp = projectedQueries.map { SendablePointer(UnsafeMutablePointer(mutating: $0)) }
        images.withUnsafeMutableBufferPointer { sides in
            let sp = SendablePointer(sides.baseAddress!)
            // Several prompts: one per thread at a time (each prompt's steps then run serially, with no hand-offs).
            Parallel.forRanges(b, minimumPerThread: 1) { range in
                var rows = [Float](repeating: 0, count: cols * max(c, dim))
                for i in range {
                    update(i, side: &sp.pointer[i], rows: &rows)
                }
            }
        }
        withExtendedLifetime((kt, vt)) {}

        func update(_ i: Int, side: inout ImageSide, rows: inout [Float]) {
            let projectedQueries = qpp.map { UnsafePointer($0.pointer) }
            let k = ktp.pointer + i * nt * dim, v = vtp.pointer + i * nt * dim
            // Values: row j·H + h of M is V_h[j]·W_o,hᵀ (C wide); the operand is Mᵀ.
            rows.withUnsafeMutableBufferPointer { perHeadProducts(v, rows: nt, outProj, weightIsOutByIn: false, into: $0.baseAddress!) }
            let values = rows.withUnsafeBufferPointer { FP32GEMMOperand(transposing: $0.baseAddress!, inFeatures: cols, outFeatures: c) }
            let scores: FP32GEMMOperand
            var g: [Float]?
            if projectedQueries != nil {
                // Row j·H + h: K_h[j] in the head's columns of a D-wide row, zeros elsewhere.
                rows.withUnsafeMutableBufferPointer { r in
                    r.baseAddress!.update(repeating: 0, count: cols * dim)
                    for j in 0..<nt {
                        for h in 0..<heads { (r.baseAddress! + (j * heads + h) * dim + h * d).update(from: k + j * dim + h * d, count: d) }
                    }
                }
                scores = rows.withUnsafeBufferPointer { FP32GEMMOperand(rowMajor: $0.baseAddress!, outFeatures: cols, inFeatures: dim, scale: scale) }
            } else {
                // Row j·H + h: K_h[j]·W_q,h (C wide); g[j·H + h] = b_q,h·K_h[j], the query bias's share of the score.
                rows.withUnsafeMutableBufferPointer { perHeadProducts(k, rows: nt, qProj, weightIsOutByIn: true, into: $0.baseAddress!) }
                scores = rows.withUnsafeBufferPointer { FP32GEMMOperand(rowMajor: $0.baseAddress!, outFeatures: cols, inFeatures: c, scale: scale) }
                if let bq = qProj.bias {
                    let bb = bq.scalars
                    g = (0..<cols).map { col in
                        let (j, h) = (col / heads, col % heads)
                        var s: Float = 0
                        for e in 0..<d { s += bb[h * d + e] * k[j * dim + h * d + e] }
                        return s * scale
                    }
                }
            }
            let scoreBias = g ?? []
            scoreBias.withUnsafeBufferPointer { gp in
                side.attendTokens(queries: projectedQueries, lda: dim, scores: scores,
                                  scoreBias: g == nil ? nil : gp.baseAddress, heads: heads, tokens: nt, values: values,
                                  bias: outProj.bias, norm: norm)
            }
        }
    }

    /// Per-head products of a few (rows, internalDim) token rows `x` with a projection's head blocks, stacked
    /// token-major into (rows·H, C) at `out`: row `j·H + h` is `Σ_e x[j, h·d + e] · W[h·d + e, ·]` for a
    /// projection into the heads (`weightIsOutByIn`, W (internalDim, C)), or `Σ_e x[j, h·d + e] · W[·, h·d + e]`
    /// for the output projection (W (C, internalDim)).
    private func perHeadProducts(_ x: UnsafePointer<Float>, rows nt: Int, _ layer: Linear, weightIsOutByIn: Bool,
                                 into out: UnsafeMutablePointer<Float>) {
        let heads = numHeads, d = internalDim / numHeads, dim = internalDim
        let c = weightIsOutByIn ? layer.inFeatures : layer.outFeatures
        layer.weight.withUnsafeBufferPointer { w in
            for h in 0..<heads {
                if weightIsOutByIn {
                    BLAS.sgemmSerial(m: nt, n: c, k: d, a: x + h * d, lda: dim,
                                     b: w.baseAddress! + h * d * c, ldb: c, c: out + h * c, ldc: heads * c)
                } else {
                    BLAS.sgemmSerial(transposeB: true, m: nt, n: c, k: d, a: x + h * d, lda: dim,
                                     b: w.baseAddress! + h * d, ldb: dim, c: out + h * c, ldc: heads * c)
                }
            }
        }
    }
}

/// Sets each of `rows` rows (`columns` wide, contiguous) to `values` (or to zeros when nil).
func fillRows(_ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int, with values: Tensor?) {
    guard let values else { x.update(repeating: 0, count: rows * columns); return }
    values.withUnsafeBufferPointer { fillRows(x, rows: rows, columns: columns, with: $0.baseAddress!) }
}

/// Sets each of `rows` rows (`columns` wide, contiguous) to the `columns` floats at `values`.
func fillRows(_ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int, with values: UnsafePointer<Float>) {
    for r in 0..<rows { (x + r * columns).update(from: values, count: columns) }
}

/// One `TwoWayAttentionBlock`: token self-attention, token→image cross-attention, token MLP,
/// image→token cross-attention, each followed by a LayerNorm (eps 1e-5).
///
/// The image side (4,096 tokens for a 64×64 embedding) is held as (h·w, C) rows in a
/// ``DecoderWorkspace``; the prompt side (a handful of tokens) as small tensors. With a few prompt tokens
/// against thousands of image tokens, the cross attentions are reassociated so that the image tokens are
/// never run through a projection (see ``DecoderAttention``'s `attendImages` and `updateImages`); only the first
/// layer, whose image tokens do not depend on the prompt, uses image projections, computed once per image
/// (``ImageProjections``, made by ``MaskDecoder/prepare(imageEmbedding:imagePE:dense:precomputeFirstLayer:)``).
public struct TwoWayAttentionBlock: Sendable {
    public let selfAttn: DecoderAttention
    public let norm1: LayerNorm
    public let crossAttnTokenToImage: DecoderAttention
    public let norm2: LayerNorm
    public let mlp: MLPBlock
    public let norm3: LayerNorm
    public let norm4: LayerNorm
    public let crossAttnImageToToken: DecoderAttention
    public let skipFirstLayerPE: Bool

    /// - Throws: ``WeightError`` when a weight is missing or mis-shaped.
    public init(_ scope: WeightScope, embeddingDim: Int, numHeads: Int, mlpDim: Int = 2048,
                attentionDownsampleRate: Int = 2, skipFirstLayerPE: Bool = false) throws {
        selfAttn = try DecoderAttention(scope["self_attn"], embeddingDim: embeddingDim, numHeads: numHeads)
        norm1 = try LayerNorm(scope["norm1"], dim: embeddingDim)
        crossAttnTokenToImage = try DecoderAttention(scope["cross_attn_token_to_image"], embeddingDim: embeddingDim,
                                                     numHeads: numHeads, downsampleRate: attentionDownsampleRate,
                                                     role: .tokenToImage)
        norm2 = try LayerNorm(scope["norm2"], dim: embeddingDim)
        mlp = try MLPBlock(scope["mlp"], embeddingDim: embeddingDim, mlpDim: mlpDim, activation: .relu)
        norm3 = try LayerNorm(scope["norm3"], dim: embeddingDim)
        norm4 = try LayerNorm(scope["norm4"], dim: embeddingDim)
        crossAttnImageToToken = try DecoderAttention(scope["cross_attn_image_to_token"], embeddingDim: embeddingDim,
                                                     numHeads: numHeads, downsampleRate: attentionDownsampleRate,
                                                     role: .imageToToken)
        self.skipFirstLayerPE = skipFirstLayerPE
    }

    /// Largest attention width of the block (sizes a workspace).
    var internalDim: Int { max(crossAttnTokenToImage.internalDim, crossAttnImageToToken.internalDim) }

    /// The block's forward pass for a batch of prompts (queries and queryPE (B, N, C)), prompt `i` against image
    /// side `images[i]`: updates the image sides in place and returns the new queries. `precomputed` (the first
    /// layer's image projections) requires every image side to be the same prepared image.
    func forward(queries: Tensor, queryPE: Tensor, images: inout [ImageSide], precomputed: ImageProjections?) -> Tensor {
        var queries = queries
        if skipFirstLayerPE {
            queries = selfAttn(q: queries, k: queries, v: queries)
        } else {
            let q = queries + queryPE
            queries.add(selfAttn(q: q, k: q, v: queries))
        }
        queries = norm1(queries)

        // Token → image: attention(q_proj(queries + PE), k_proj(keys + PE), v_proj(keys)), on the image
        // projections when they were computed once per image, else reassociated.
        let t2i = crossAttnTokenToImage, i2t = crossAttnImageToToken
        let q = queries + queryPE
        if let p = precomputed {
            queries.add(t2i.attendProjected(q: q, k: p.k.pointer, v: p.v.pointer, keys: images.first?.rows ?? 0))
        } else {
            queries.add(t2i.attendImages(q: q, images: images))
        }
        queries = norm2(queries)

        queries.add(mlp(queries))
        queries = norm3(queries)

        // Image → token: keys = norm4(keys + out_proj(attention(q_proj(keys + PE), k_proj(queries + PE), v_proj(queries)))).
        i2t.updateImages(&images, tokenQ: queries + queryPE, tokenV: queries,
                         projectedQueries: precomputed.map { UnsafePointer($0.q.pointer) }, norm: norm4)
        withExtendedLifetime(precomputed) {}
        return queries
    }

    /// Returns updated (queries, keys) for queries (B, N, C), keys (B, Nk, C) rows, queryPE like queries and
    /// keyPE (1 or B, Nk, C) — the module's `forward(queries, keys, query_pe, key_pe)`.
    public func callAsFunction(queries: Tensor, keys: Tensor, queryPE: Tensor, keyPE: Tensor) -> (Tensor, Tensor) {
        let (b, nq, c, nk) = (queries.shape[0], queries.shape[1], queries.shape[2], keys.shape[1])
        var outQ = [Tensor](), outK = [Tensor]()
        for bi in 0..<b {
            var images = [ImageSide(rows: keys.batchItem(bi).reshaped([nk, c]), pe: keyPE.batchItem(bi).reshaped([nk, c]),
                                    internalDim: internalDim)]
            let q = forward(queries: queries.batchItem(bi), queryPE: queryPE.batchItem(bi), images: &images, precomputed: nil)
            outQ.append(q)
            outK.append(images[0].keysTensor())
        }
        return (Tensor.concatenate(outQ, axis: 0).reshaped([b, nq, c]), Tensor.concatenate(outK, axis: 0).reshaped([b, nk, c]))
    }
}

/// SAM's `TwoWayTransformer` (depth 2, dim 256, 8 heads, MLP 2048 in SAM/MedSAM/LiteMedSAM).
public struct TwoWayTransformer: Sendable {
    public let layers: [TwoWayAttentionBlock]
    public let finalAttnTokenToImage: DecoderAttention
    public let normFinalAttn: LayerNorm

    /// - Throws: ``WeightError`` when a weight is missing or mis-shaped.
    public init(_ scope: WeightScope, depth: Int = 2, embeddingDim: Int = 256, numHeads: Int = 8,
                mlpDim: Int = 2048, attentionDownsampleRate: Int = 2) throws {
        layers = try (0..<depth).map { i in
            try TwoWayAttentionBlock(scope["layers"][i], embeddingDim: embeddingDim, numHeads: numHeads, mlpDim: mlpDim,
                                     attentionDownsampleRate: attentionDownsampleRate, skipFirstLayerPE: i == 0)
        }
        finalAttnTokenToImage = try DecoderAttention(scope["final_attn_token_to_image"], embeddingDim: embeddingDim,
                                                     numHeads: numHeads, downsampleRate: attentionDownsampleRate,
                                                     role: .tokenToImage)
        normFinalAttn = try LayerNorm(scope["norm_final_attn"], dim: embeddingDim)
    }

    /// Largest attention width of the transformer (sizes a workspace).
    var internalDim: Int { (layers.map(\.internalDim) + [finalAttnTokenToImage.internalDim]).max()! }

    /// The forward pass for a batch of prompts: `pointEmbedding` (B, N, C) tokens, prompt `i` against image side
    /// `images[i]`; returns the final queries (B, N, C) and leaves the final keys in `images`. `firstLayer` are
    /// the first layer's image projections when precomputed (they do not depend on the prompt; every image side
    /// must then be that prepared image). Where the prompts share the image (the first layer's token→image
    /// attention) it runs once on all their tokens; every token-side layer runs once on all B·N tokens; the image
    /// sides run one prompt per thread.
    func forward(pointEmbedding: Tensor, images: inout [ImageSide], firstLayer: ImageProjections?) -> Tensor {
        var queries = pointEmbedding
        for (l, layer) in layers.enumerated() {
            queries = layer.forward(queries: queries, queryPE: pointEmbedding, images: &images,
                                    precomputed: l == 0 ? firstLayer : nil)
        }
        queries.add(finalAttnTokenToImage.attendImages(q: queries + pointEmbedding, images: images))
        return normFinalAttn(queries)
    }

    /// The module's `forward(image_embedding, image_pe, point_embedding)`.
    ///
    /// - Parameters:
    ///   - imageEmbedding: (B, C, h, w)
    ///   - imagePE: (1 or B, C, h, w)
    ///   - pointEmbedding: (B, N, C)
    /// - Returns: queries (B, N, C) and keys (B, h·w, C).
    public func callAsFunction(imageEmbedding: Tensor, imagePE: Tensor, pointEmbedding: Tensor) -> (Tensor, Tensor) {
        let (b, c, h, w) = (imageEmbedding.shape[0], imageEmbedding.shape[1], imageEmbedding.shape[2], imageEmbedding.shape[3])
        let n = h * w
        var outQ = [Tensor](), outK = [Tensor]()
        for bi in 0..<b {
            var images = [ImageSide(planes: imageEmbedding.batchItem(bi), pe: imagePE.batchItem(bi), internalDim: internalDim)]
            outQ.append(forward(pointEmbedding: pointEmbedding.batchItem(bi), images: &images, firstLayer: nil))
            outK.append(images[0].keysTensor())
        }
        let nq = pointEmbedding.shape[1]
        return (Tensor.concatenate(outQ, axis: 0).reshaped([b, nq, c]), Tensor.concatenate(outK, axis: 0).reshaped([b, n, c]))
    }
}

extension Tensor {
    /// Item `i` of the leading (batch) axis as a (1, …) tensor; item 0 when the batch is 1 (broadcast).
    func batchItem(_ i: Int) -> Tensor {
        let b = shape[0] == 1 ? 0 : i
        var ranges = shape.map { 0..<$0 }
        ranges[0] = b..<(b + 1)
        return shape[0] == 1 ? self : sliced(ranges)
    }
}

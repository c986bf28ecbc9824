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

    /// - Throws: ``WeightError`` when a weight is missing or mis-shaped, or when `numHeads` does not divide
    ///   the internal width.
    public init(_ scope: WeightScope, embeddingDim: Int, numHeads: Int, downsampleRate: Int = 1) throws {
        guard downsampleRate > 0, numHeads > 0, (embeddingDim / downsampleRate) % numHeads == 0 else {
            throw WeightError.invalidConfiguration(
                "attention \(scope.prefix): num_heads \(numHeads) must divide embedding_dim / downsample_rate")
        }
        internalDim = embeddingDim / downsampleRate
        qProj = try Linear(scope["q_proj"], inFeatures: embeddingDim, outFeatures: internalDim)
        kProj = try Linear(scope["k_proj"], inFeatures: embeddingDim, outFeatures: internalDim)
        vProj = try Linear(scope["v_proj"], inFeatures: embeddingDim, outFeatures: internalDim)
        outProj = try Linear(scope["out_proj"], inFeatures: internalDim, outFeatures: embeddingDim)
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

    /// Image→token attention: `out[r] = attention(Q[r], k_proj(tokenQ), v_proj(tokenV))` for the
    /// (nq, internalDim) projected image queries `Q`, written to `out` (nq, internalDim), before `out_proj`.
    /// With a handful of keys (the prompt tokens) the softmax runs per image row in registers.
    func attendFewKeys(projectedQueries qp: UnsafePointer<Float>, rows nq: Int, tokenQ: Tensor, tokenV: Tensor,
                       out: UnsafeMutablePointer<Float>) {
        let kp = kProj(tokenQ), vp = vProj(tokenV)
        let nk = kp.count / internalDim
        let d = internalDim / numHeads
        let dim = internalDim, heads = numHeads
        let scale = 1 / Float(d).squareRoot()
        let qq = SendablePointer(UnsafeMutablePointer(mutating: qp))
        let oo = SendablePointer(out)
        kp.withUnsafeBufferPointer { kb in
            vp.withUnsafeBufferPointer { vb in
                let kk = SendablePointer(UnsafeMutablePointer(mutating: kb.baseAddress!))
                let vv = SendablePointer(UnsafeMutablePointer(mutating: vb.baseAddress!))
                Parallel.forRanges(nq, minimumPerThread: 256) { r in
                    Kernels.attentionFewKeys(q: qq.pointer + r.lowerBound * dim, ldq: dim, k: kk.pointer, ldk: dim, v: vv.pointer, ldv: dim,
                                         out: oo.pointer + r.lowerBound * dim, ldo: dim, rows: r.count, keys: nk, heads: heads,
                                         headDim: d, scale: scale)
                }
            }
        }
    }
}

/// One `TwoWayAttentionBlock`: token self-attention, token→image cross-attention, token MLP,
/// image→token cross-attention, each followed by a LayerNorm (eps 1e-5).
///
/// The image side (4,096 tokens for a 64×64 embedding) is held as (h·w, C) rows in a
/// ``DecoderWorkspace``; the prompt side (a handful of tokens) as small tensors. The block's
/// prompt-independent image projections (`k_proj`/`v_proj` of the token→image attention and `q_proj` of
/// the image→token attention) are either computed here or passed in precomputed (``ImageProjections``,
/// made once per image by ``MaskDecoder/prepare(imageEmbedding:imagePE:dense:precomputeFirstLayer:)``).
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
                                                     numHeads: numHeads, downsampleRate: attentionDownsampleRate)
        norm2 = try LayerNorm(scope["norm2"], dim: embeddingDim)
        mlp = try MLPBlock(scope["mlp"], embeddingDim: embeddingDim, mlpDim: mlpDim, activation: .relu)
        norm3 = try LayerNorm(scope["norm3"], dim: embeddingDim)
        norm4 = try LayerNorm(scope["norm4"], dim: embeddingDim)
        crossAttnImageToToken = try DecoderAttention(scope["cross_attn_image_to_token"], embeddingDim: embeddingDim,
                                                     numHeads: numHeads, downsampleRate: attentionDownsampleRate)
        self.skipFirstLayerPE = skipFirstLayerPE
    }

    /// Largest attention width of the block (sizes a workspace).
    var internalDim: Int { max(crossAttnTokenToImage.internalDim, crossAttnImageToToken.internalDim) }

    /// The block's forward pass on one image: updates the image side in place and returns the new queries.
    ///
    /// On entry `image.keysPE` holds `keys + keyPE`; on return the same holds for the updated keys.
    func forward(queries: Tensor, queryPE: Tensor, image: inout ImageSide, precomputed: ImageProjections?) -> Tensor {
        var queries = queries
        if skipFirstLayerPE {
            queries = selfAttn(q: queries, k: queries, v: queries)
        } else {
            let q = queries + queryPE
            queries.add(selfAttn(q: q, k: q, v: queries))
        }
        queries = norm1(queries)

        // Token → image: attention(q_proj(queries + PE), k_proj(keys + PE), v_proj(keys)).
        let t2i = crossAttnTokenToImage, i2t = crossAttnImageToToken
        let p = precomputed ?? image.project(t2i: t2i, i2t: i2t)
        queries.add(t2i.attendProjected(q: queries + queryPE, k: p.k.pointer, v: p.v.pointer, keys: image.rows))
        queries = norm2(queries)

        queries.add(mlp(queries))
        queries = norm3(queries)

        // Image → token: keys = norm4(keys + out_proj(attention(q_proj(keys + PE), k_proj(queries + PE), v_proj(queries)))).
        let o = image.workspace.o
        i2t.attendFewKeys(projectedQueries: p.q.pointer, rows: image.rows, tokenQ: queries + queryPE, tokenV: queries,
                          out: o.pointer)
        image.addProjectedAndNormalise(o.pointer, outProj: i2t.outProj, norm: norm4)
        withExtendedLifetime(p) {}
        return queries
    }

    /// Returns updated (queries, keys) for queries (B, N, C), keys (B, Nk, C) rows, queryPE like queries and
    /// keyPE (1 or B, Nk, C) — the module's `forward(queries, keys, query_pe, key_pe)`.
    public func callAsFunction(queries: Tensor, keys: Tensor, queryPE: Tensor, keyPE: Tensor) -> (Tensor, Tensor) {
        let (b, nq, c, nk) = (queries.shape[0], queries.shape[1], queries.shape[2], keys.shape[1])
        var outQ = [Tensor](), outK = [Tensor]()
        for bi in 0..<b {
            var image = ImageSide(rows: keys.batchItem(bi).reshaped([nk, c]), pe: keyPE.batchItem(bi).reshaped([nk, c]),
                                  internalDim: internalDim)
            let q = forward(queries: queries.batchItem(bi), queryPE: queryPE.batchItem(bi), image: &image, precomputed: nil)
            outQ.append(q)
            outK.append(image.keysTensor())
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
                                                     numHeads: numHeads, downsampleRate: attentionDownsampleRate)
        normFinalAttn = try LayerNorm(scope["norm_final_attn"], dim: embeddingDim)
    }

    /// Largest attention width of the transformer (sizes a workspace).
    var internalDim: Int { (layers.map(\.internalDim) + [finalAttnTokenToImage.internalDim]).max()! }

    /// The forward pass on one image: `pointEmbedding` (1, N, C) tokens against the image side; returns the
    /// final queries (1, N, C) and leaves the final keys in `image`. `firstLayer` are the first layer's
    /// image projections when precomputed (they do not depend on the prompt).
    func forward(pointEmbedding: Tensor, image: inout ImageSide, firstLayer: ImageProjections?) -> Tensor {
        var queries = pointEmbedding
        for (l, layer) in layers.enumerated() {
            queries = layer.forward(queries: queries, queryPE: pointEmbedding, image: &image,
                                    precomputed: l == 0 ? firstLayer : nil)
        }
        let fin = finalAttnTokenToImage
        let p = image.project(t2i: fin, i2t: nil)
        queries.add(fin.attendProjected(q: queries + pointEmbedding, k: p.k.pointer, v: p.v.pointer, keys: image.rows))
        withExtendedLifetime(p) {}
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
            var image = ImageSide(planes: imageEmbedding.batchItem(bi), pe: imagePE.batchItem(bi), internalDim: internalDim)
            outQ.append(forward(pointEmbedding: pointEmbedding.batchItem(bi), image: &image, firstLayer: nil))
            outK.append(image.keysTensor())
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

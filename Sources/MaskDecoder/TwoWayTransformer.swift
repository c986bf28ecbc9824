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

    public init(_ scope: WeightScope, embeddingDim: Int, numHeads: Int, downsampleRate: Int = 1) throws {
        internalDim = embeddingDim / downsampleRate
        precondition(internalDim % numHeads == 0, "num_heads must divide embedding_dim")
        qProj = try Linear(scope["q_proj"], inFeatures: embeddingDim, outFeatures: internalDim)
        kProj = try Linear(scope["k_proj"], inFeatures: embeddingDim, outFeatures: internalDim)
        vProj = try Linear(scope["v_proj"], inFeatures: embeddingDim, outFeatures: internalDim)
        outProj = try Linear(scope["out_proj"], inFeatures: internalDim, outFeatures: embeddingDim)
        self.numHeads = numHeads
    }

    /// q (B, Nq, E), k and v (B, Nk, E) → (B, Nq, E).
    public func callAsFunction(q: Tensor, k: Tensor, v: Tensor) -> Tensor {
        let (b, nq, nk) = (q.shape[0], q.shape[1], k.shape[1])
        let qp = qProj(q), kp = kProj(k), vp = vProj(v)
        let d = internalDim / numHeads
        var out = Tensor(uninitializedShape: [b, nq, internalDim])
        let scale = 1 / Float(d).squareRoot()
        let scratchCount = AttentionKernel.scratchCount(queries: nq, keys: nk)
        var scratch = [Float](repeating: 0, count: scratchCount)
        let dim = internalDim
        qp.withUnsafeBufferPointer { qb in
            kp.withUnsafeBufferPointer { kb in
                vp.withUnsafeBufferPointer { vb in
                    out.withUnsafeMutableBufferPointer { ob in
                        scratch.withUnsafeMutableBufferPointer { s in
                            for bi in 0..<b {
                                for h in 0..<numHeads {
                                    AttentionKernel.run(
                                        queries: nq, keys: nk, qkDim: d, vDim: d,
                                        q: qb.baseAddress! + bi * nq * dim + h * d, ldq: dim,
                                        k: kb.baseAddress! + bi * nk * dim + h * d, ldk: dim,
                                        v: vb.baseAddress! + bi * nk * dim + h * d, ldv: dim,
                                        out: ob.baseAddress! + bi * nq * dim + h * d, ldo: dim,
                                        scale: scale, scratch: s.baseAddress!, scratchCount: scratchCount)
                                }
                            }
                        }
                    }
                }
            }
        }
        return outProj(out)
    }
}

/// One `TwoWayAttentionBlock`: token self-attention, token→image cross-attention, token MLP,
/// image→token cross-attention, each followed by a LayerNorm (eps 1e-5).
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

    /// Returns updated (queries, keys).
    public func callAsFunction(queries: Tensor, keys: Tensor, queryPE: Tensor, keyPE: Tensor) -> (Tensor, Tensor) {
        var queries = queries
        if skipFirstLayerPE {
            queries = selfAttn(q: queries, k: queries, v: queries)
        } else {
            let q = queries + queryPE
            queries.add(selfAttn(q: q, k: q, v: queries))
        }
        queries = norm1(queries)

        var q = queries + queryPE
        let k = keys + keyPE
        queries.add(crossAttnTokenToImage(q: q, k: k, v: keys))
        queries = norm2(queries)

        queries.add(mlp(queries))
        queries = norm3(queries)

        q = queries + queryPE
        var keys = keys
        keys.add(crossAttnImageToToken(q: k, k: q, v: queries))
        keys = norm4(keys)
        return (queries, keys)
    }
}

/// SAM's `TwoWayTransformer` (depth 2, dim 256, 8 heads, MLP 2048 in SAM/MedSAM/LiteMedSAM).
public struct TwoWayTransformer: Sendable {
    public let layers: [TwoWayAttentionBlock]
    public let finalAttnTokenToImage: DecoderAttention
    public let normFinalAttn: LayerNorm

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

    /// - Parameters:
    ///   - imageEmbedding: (B, C, h, w)
    ///   - imagePE: (1 or B, C, h, w)
    ///   - pointEmbedding: (B, N, C)
    /// - Returns: queries (B, N, C) and keys (B, h·w, C).
    public func callAsFunction(imageEmbedding: Tensor, imagePE: Tensor, pointEmbedding: Tensor) -> (Tensor, Tensor) {
        let (b, c, h, w) = (imageEmbedding.shape[0], imageEmbedding.shape[1], imageEmbedding.shape[2], imageEmbedding.shape[3])
        let keys0 = imageEmbedding.reshaped([b, c, h * w]).permuted([0, 2, 1])
        var keyPE = imagePE.reshaped([imagePE.shape[0], c, h * w]).permuted([0, 2, 1])
        if keyPE.shape[0] != b {
            keyPE = Tensor.concatenate(Array(repeating: keyPE, count: b), axis: 0)
        }
        var queries = pointEmbedding
        var keys = keys0
        for layer in layers {
            (queries, keys) = layer(queries: queries, keys: keys, queryPE: pointEmbedding, keyPE: keyPE)
        }
        let q = queries + pointEmbedding
        let k = keys + keyPE
        queries.add(finalAttnTokenToImage(q: q, k: k, v: keys))
        queries = normFinalAttn(queries)
        return (queries, keys)
    }
}

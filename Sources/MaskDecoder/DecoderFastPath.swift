import CKernels
import NN
import Tensor

/// The prompt-independent part of the mask decoder for one image embedding (and one dense prompt
/// embedding, the no-mask embedding for box and point prompts), computed once and shared by every
/// prompt on that image.
///
/// Holds the image tokens `src = embedding + dense` and the image positional encoding as (h·w, C)
/// rows, and the first two-way layer's projections of them (`k_proj(src + pe)` and
/// `v_proj(src)` of its token→image attention, `q_proj(src + pe)` of its image→token attention),
/// which do not depend on the prompt.
public struct DecoderImageContext: @unchecked Sendable {
    public let height: Int
    public let width: Int
    public let channels: Int
    /// (h·w, C) image tokens (embedding + dense).
    let src: TensorStorage
    /// (h·w, C) image positional encoding.
    let keyPE: TensorStorage
    /// First layer: token→image K and V, image→token Q, each (h·w, internalDim); nil when depth is 0.
    let firstK: TensorStorage?
    let firstV: TensorStorage?
    let firstQ: TensorStorage?
    /// Largest attention width of the decoder (sizes the workspace).
    let internalDim: Int
    /// The upscaling transposed convolutions as (Cin, k·k·Cout) matrices with columns ordered
    /// (subpixel, channel), and their biases repeated per subpixel (for the fused channels-last path).
    let upscale1: (weight: Tensor, bias: Tensor)
    let upscale2: (weight: Tensor, bias: Tensor)
}

/// Scratch buffers of the fused decoder path, reusable across prompts of one image.
public final class DecoderWorkspace: @unchecked Sendable {
    let tokens: Int
    let channels: Int
    let internalDim: Int
    /// (h·w, C): current image keys; keys + PE.
    let keys: TensorStorage
    let keysPE: TensorStorage
    /// (h·w, internalDim): projections and attention output.
    let k: TensorStorage
    let v: TensorStorage
    let q: TensorStorage
    let o: TensorStorage

    init(tokens: Int, channels: Int, internalDim: Int) {
        self.tokens = tokens; self.channels = channels; self.internalDim = internalDim
        keys = TensorStorage(uninitializedCount: tokens * channels)
        keysPE = TensorStorage(uninitializedCount: tokens * channels)
        k = TensorStorage(uninitializedCount: tokens * internalDim)
        v = TensorStorage(uninitializedCount: tokens * internalDim)
        q = TensorStorage(uninitializedCount: tokens * internalDim)
        o = TensorStorage(uninitializedCount: tokens * internalDim)
    }

    func fits(tokens t: Int, channels c: Int, internalDim d: Int) -> Bool {
        t == tokens && c == channels && d == internalDim
    }

    /// Whether the workspace serves images of `context`'s size.
    public func fits(_ context: DecoderImageContext) -> Bool {
        tokens == context.height * context.width && channels == context.channels && internalDim == context.internalDim
    }
}

/// Rows `[r0, r1)` of `(rows, cols)` matrices: `out = a + b` (out may alias a).
@inline(__always)
func addRows(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
             rows: Int, cols: Int) {
    let pa = SendablePointer(UnsafeMutablePointer(mutating: a))
    let pb = SendablePointer(UnsafeMutablePointer(mutating: b))
    let po = SendablePointer(out)
    Parallel.forRanges(rows, minimumPerThread: max(1, 16384 / max(cols, 1))) { r in
        let off = r.lowerBound * cols
        mk_add_rows(pa.pointer + off, pb.pointer + off, po.pointer + off, r.count * cols)
    }
}

/// (C, n) planes + optional (C, n) planes → (n, C) rows.
func transposePlanes(_ a: UnsafePointer<Float>, plus b: UnsafePointer<Float>?, into out: UnsafeMutablePointer<Float>,
                     channels c: Int, pixels n: Int) {
    let pa = SendablePointer(UnsafeMutablePointer(mutating: a))
    let pb = b.map { SendablePointer(UnsafeMutablePointer(mutating: $0)) }
    let po = SendablePointer(out)
    Parallel.forRanges(n, minimumPerThread: 256) { r in
        mk_transpose_add(pa.pointer, pb?.pointer, po.pointer, c, n, r.lowerBound, r.upperBound)
    }
}

extension DecoderAttention {
    /// Token→image attention for a few query tokens over projected image keys/values:
    /// `out_proj(attention(q_proj(q), K, V))` with K, V (nk, internalDim) already projected.
    func attendProjected(q: Tensor, k: UnsafePointer<Float>, v: UnsafePointer<Float>, keys nk: Int) -> Tensor {
        let nq = q.count / q.shape[q.rank - 1]
        let qp = qProj(q)
        let d = internalDim / numHeads
        let dim = internalDim
        var out = Tensor(uninitializedShape: [nq, dim])
        let scale = 1 / Float(d).squareRoot()
        let per = AttentionKernel.scratchCount(queries: nq, keys: nk)
        let scratch = TensorStorage(uninitializedCount: per * numHeads)
        let heads = numHeads
        let kp = SendablePointer(UnsafeMutablePointer(mutating: k))
        let vp = SendablePointer(UnsafeMutablePointer(mutating: v))
        let sp = SendablePointer(scratch.pointer)
        qp.withUnsafeBufferPointer { qb in
            out.withUnsafeMutableBufferPointer { ob in
                let qq = SendablePointer(UnsafeMutablePointer(mutating: qb.baseAddress!))
                let oo = SendablePointer(ob.baseAddress!)
                Parallel.forRanges(heads, minimumPerThread: 1) { hr in
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
        return outProj(out.reshaped(Array(q.shape.dropLast()) + [dim]))
    }

    /// Image→token attention: `out[r] = attention(Q[r], k_proj(tokenQ), v_proj(tokenV))` for the
    /// (nq, internalDim) projected image queries `Q`, written to `out` (nq, internalDim).
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
                    mk_attention_few_keys(qq.pointer + r.lowerBound * dim, dim, kk.pointer, dim, vv.pointer, dim,
                                          oo.pointer + r.lowerBound * dim, dim, r.count, nk, heads, d, scale)
                }
            }
        }
    }
}

extension MaskDecoder {
    /// Computes the prompt-independent part of the decoder for one image.
    ///
    /// - Parameters:
    ///   - imageEmbedding: (1, C, h, w).
    ///   - imagePE: (1, C, h, w).
    ///   - dense: (1, C, h, w) dense prompt embedding shared by the prompts (the no-mask embedding).
    public func prepare(imageEmbedding: Tensor, imagePE: Tensor, dense: Tensor) -> DecoderImageContext {
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
        var firstK: TensorStorage?, firstV: TensorStorage?, firstQ: TensorStorage?
        if let first = transformer.layers.first {
            let kpe = TensorStorage(uninitializedCount: n * c)
            addRows(src.pointer, pe.pointer, kpe.pointer, rows: n, cols: c)
            let t2i = first.crossAttnTokenToImage, i2t = first.crossAttnImageToToken
            let (dk, dq) = (t2i.internalDim, i2t.internalDim)
            let k = TensorStorage(uninitializedCount: n * dk), v = TensorStorage(uninitializedCount: n * dk)
            let q = TensorStorage(uninitializedCount: n * dq)
            t2i.kProj.apply(rows: n, x: kpe.pointer, ldx: c, out: k.pointer, ldo: dk)
            t2i.vProj.apply(rows: n, x: src.pointer, ldx: c, out: v.pointer, ldo: dk)
            i2t.qProj.apply(rows: n, x: kpe.pointer, ldx: c, out: q.pointer, ldo: dq)
            withExtendedLifetime(kpe) {}
            (firstK, firstV, firstQ) = (k, v, q)
        }
        return DecoderImageContext(height: h, width: w, channels: c, src: src, keyPE: pe,
                                   firstK: firstK, firstV: firstV, firstQ: firstQ, internalDim: maxInternalDim,
                                   upscale1: Self.channelsLastTransposedConv(upscaleConv1),
                                   upscale2: Self.channelsLastTransposedConv(upscaleConv2))
    }

    /// A workspace for ``decode(_:sparse:multimaskOutput:workspace:)`` on images like `context`'s.
    public func makeWorkspace(for context: DecoderImageContext) -> DecoderWorkspace {
        DecoderWorkspace(tokens: context.height * context.width, channels: context.channels, internalDim: context.internalDim)
    }

    var maxInternalDim: Int {
        let dims = transformer.layers.flatMap { [$0.crossAttnTokenToImage.internalDim, $0.crossAttnImageToToken.internalDim] }
            + [transformer.finalAttnTokenToImage.internalDim]
        return dims.max() ?? configuration.transformerDim
    }

    /// Predicts masks for one prompt on a prepared image (same result as
    /// ``callAsFunction(imageEmbedding:imagePE:sparse:dense:multimaskOutput:)``).
    ///
    /// - Parameters:
    ///   - sparse: (1, N, C) or (N, C) prompt tokens.
    ///   - workspace: scratch from ``makeWorkspace(for:)`` (made here when nil); not shared between threads.
    public func decode(_ ctx: DecoderImageContext, sparse: Tensor, multimaskOutput: Bool,
                       workspace: DecoderWorkspace? = nil) -> Output {
        let dim = configuration.transformerDim
        let ws = workspace ?? makeWorkspace(for: ctx)
        let n = ctx.height * ctx.width
        precondition(ws.fits(ctx) && ctx.channels == dim, "workspace does not fit the image context")
        let numMaskTokens = maskTokens.shape[0]
        let tokens = Tensor.concatenate([iouToken, maskTokens, sparse.reshaped([-1, dim])], axis: 0)
            .reshaped([1, -1, dim])                                          // (1, T, C)
        let queryPE = tokens
        var queries = tokens

        // `keys` points at the current image tokens: the shared src until the first layer writes ws.keys.
        var keys: UnsafeMutablePointer<Float> = ctx.src.pointer
        for (l, layer) in transformer.layers.enumerated() {
            if layer.skipFirstLayerPE {
                queries = layer.selfAttn(q: queries, k: queries, v: queries)
            } else {
                let q = queries + queryPE
                queries.add(layer.selfAttn(q: q, k: q, v: queries))
            }
            queries = layer.norm1(queries)

            // Token → image.
            let t2i = layer.crossAttnTokenToImage, i2t = layer.crossAttnImageToToken
            let kPtr: UnsafeMutablePointer<Float>, vPtr: UnsafeMutablePointer<Float>, qImage: UnsafeMutablePointer<Float>
            if l == 0, let fk = ctx.firstK, let fv = ctx.firstV, let fq = ctx.firstQ {
                (kPtr, vPtr, qImage) = (fk.pointer, fv.pointer, fq.pointer)
            } else {
                // ws.keysPE holds keys + PE (written with the previous layer's norm4).
                t2i.kProj.apply(rows: n, x: ws.keysPE.pointer, ldx: dim, out: ws.k.pointer, ldo: t2i.internalDim)
                t2i.vProj.apply(rows: n, x: keys, ldx: dim, out: ws.v.pointer, ldo: t2i.internalDim)
                i2t.qProj.apply(rows: n, x: ws.keysPE.pointer, ldx: dim, out: ws.q.pointer, ldo: i2t.internalDim)
                (kPtr, vPtr, qImage) = (ws.k.pointer, ws.v.pointer, ws.q.pointer)
            }
            queries.add(t2i.attendProjected(q: queries + queryPE, k: kPtr, v: vPtr, keys: n))
            queries = layer.norm2(queries)

            queries.add(layer.mlp(queries))
            queries = layer.norm3(queries)

            // Image → token: keys = norm4(keys + out_proj(attention(q_proj(keys + PE), k_proj(queries + PE), v_proj(queries)))).
            i2t.attendFewKeys(projectedQueries: qImage, rows: n, tokenQ: queries + queryPE, tokenV: queries, out: ws.o.pointer)
            updateKeys(from: keys, attention: ws.o.pointer, outProj: i2t.outProj, norm: layer.norm4, ctx: ctx, ws: ws)
            keys = ws.keys.pointer
        }
        // Final token → image attention.
        let fin = transformer.finalAttnTokenToImage
        if transformer.layers.isEmpty { addRows(ctx.src.pointer, ctx.keyPE.pointer, ws.keysPE.pointer, rows: n, cols: dim) }
        fin.kProj.apply(rows: n, x: ws.keysPE.pointer, ldx: dim, out: ws.k.pointer, ldo: fin.internalDim)
        fin.vProj.apply(rows: n, x: keys, ldx: dim, out: ws.v.pointer, ldo: fin.internalDim)
        queries.add(fin.attendProjected(q: queries + queryPE, k: ws.k.pointer, v: ws.v.pointer, keys: n))
        queries = transformer.normFinalAttn(queries).reshaped([-1, dim])

        // Heads.
        let selected = multimaskOutput ? Array(1..<numMaskTokens) : [0]
        let hyper = Tensor.concatenate(selected.map { i in
            hypernetworks[i](queries.sliced([(1 + i)..<(2 + i), 0..<dim]))
        }, axis: 0)                                                           // (M, C/8)
        let masks = upscaleAndProject(keys: keys, ctx: ctx, hyper: hyper)
        let iou = iouPredictionHead(queries.sliced([0..<1, 0..<dim])).scalars
        withExtendedLifetime((ctx, ws)) {}
        return Output(masks: masks, iouPredictions: selected.map { iou[$0] })
    }

    /// ws.keys = LN(prev + out_proj(attn)); ws.keysPE = ws.keys + PE.
    private func updateKeys(from prev: UnsafeMutablePointer<Float>, attention o: UnsafeMutablePointer<Float>,
                            outProj: Linear, norm: LayerNorm, ctx: DecoderImageContext, ws: DecoderWorkspace) {
        let n = ctx.height * ctx.width, dim = ctx.channels
        let dst = ws.keys.pointer
        let bias = outProj.bias
        // dst = prev + bias, then dst += o · Woutᵀ.
        let pp = SendablePointer(prev), pd = SendablePointer(dst)
        let bp = bias.map { b in b.withUnsafeBufferPointer { SendablePointer(UnsafeMutablePointer(mutating: $0.baseAddress!)) } }
        Parallel.forRanges(n, minimumPerThread: 512) { r in
            for row in r {
                let s = pp.pointer + row * dim, d = pd.pointer + row * dim
                if let bp { mk_add_rows(s, bp.pointer, d, dim) } else if s != d { d.update(from: s, count: dim) }
            }
        }
        outProj.weight.withUnsafeBufferPointer { w in
            BLAS.sgemm(transposeB: true, m: n, n: dim, k: outProj.inFeatures, a: o, lda: outProj.inFeatures,
                       b: w.baseAddress!, ldb: outProj.inFeatures, beta: 1, c: dst, ldc: dim)
        }
        let pe = SendablePointer(ctx.keyPE.pointer), kp = SendablePointer(ws.keysPE.pointer)
        let nw = norm.weight, nb = norm.bias, eps = norm.eps
        nw.withUnsafeBufferPointer { wb in
            nb.withUnsafeBufferPointer { bb in
                let wp = SendablePointer(UnsafeMutablePointer(mutating: wb.baseAddress!))
                let bq = SendablePointer(UnsafeMutablePointer(mutating: bb.baseAddress!))
                Parallel.forRanges(n, minimumPerThread: 256) { r in
                    let off = r.lowerBound * dim
                    mk_layernorm_rows(pd.pointer + off, pd.pointer + off, r.count, dim, wp.pointer, bq.pointer, eps)
                    mk_add_rows(pd.pointer + off, pe.pointer + off, kp.pointer + off, r.count * dim)
                }
            }
        }
        withExtendedLifetime((bias, ctx, ws)) {}
    }

    /// output_upscaling (ConvT → LN2d → GELU → ConvT → GELU) on the (h·w, C) keys, fused per image row
    /// with the hypernetwork product: returns (M, 4h·…, 4w·…) mask logits for the (M, C/8) `hyper` rows.
    private func upscaleAndProject(keys: UnsafeMutablePointer<Float>, ctx: DecoderImageContext, hyper: Tensor) -> Tensor {
        let (h, w, dim) = (ctx.height, ctx.width, ctx.channels)
        let k1 = upscaleConv1.weight.shape[2], c1 = upscaleConv1.weight.shape[1]
        let k2 = upscaleConv2.weight.shape[2], c2 = upscaleConv2.weight.shape[1]
        let (s1, s2) = (k1 * k1, k2 * k2)
        let (n1, n2) = (s1 * c1, s2 * c2)
        let m = hyper.shape[0]
        precondition(hyper.shape[1] == c2, "hypernetwork output \(hyper.shape) for \(c2) channels")
        let (oh, ow) = (h * k1 * k2, w * k1 * k2)
        var masks = Tensor(uninitializedShape: [m, oh, ow])
        let kp = SendablePointer(keys)
        let w1 = SendablePointer(ctx.upscale1.weight.storagePointer), b1 = SendablePointer(ctx.upscale1.bias.storagePointer)
        let w2 = SendablePointer(ctx.upscale2.weight.storagePointer), b2 = SendablePointer(ctx.upscale2.bias.storagePointer)
        let lw = SendablePointer(upscaleNorm.weight.storagePointer), lb = SendablePointer(upscaleNorm.bias.storagePointer)
        let hp = SendablePointer(hyper.storagePointer)
        let eps = upscaleNorm.eps
        masks.withUnsafeMutableBufferPointer { mb in
            let mp = SendablePointer(mb.baseAddress!)
            Parallel.forRanges(h, minimumPerThread: 1) { rows in
                let u1 = UnsafeMutablePointer<Float>.allocate(capacity: w * n1)
                let u2 = UnsafeMutablePointer<Float>.allocate(capacity: w * s1 * n2)
                let mo = UnsafeMutablePointer<Float>.allocate(capacity: w * s1 * s2 * m)
                defer { u1.deallocate(); u2.deallocate(); mo.deallocate() }
                for i in rows {
                    // (w, C) · (C, s1·c1): columns ordered (subpixel, channel).
                    BLAS.sgemmSerial(m: w, n: n1, k: dim, a: kp.pointer + i * w * dim, lda: dim,
                                     b: w1.pointer, ldb: n1, c: u1, ldc: n1)
                    mk_bias_act_rows(u1, w, n1, b1.pointer, FusedActivation.none.rawValue)
                    mk_layernorm_rows(u1, u1, w * s1, c1, lw.pointer, lb.pointer, eps)
                    mk_gelu(u1, w * n1)
                    BLAS.sgemmSerial(m: w * s1, n: n2, k: c1, a: u1, lda: c1, b: w2.pointer, ldb: n2, c: u2, ldc: n2)
                    mk_bias_act_rows(u2, w * s1, n2, b2.pointer, FusedActivation.gelu.rawValue)
                    // (w·s1·s2, c2) · hyperᵀ → (w·s1·s2, M).
                    BLAS.sgemmSerial(transposeB: true, m: w * s1 * s2, n: m, k: c2, a: u2, lda: c2,
                                     b: hp.pointer, ldb: c2, c: mo, ldc: m)
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
        withExtendedLifetime((hyper, ctx)) {}
        return masks
    }
}

extension Tensor {
    /// The storage's base address; valid while the tensor (or a copy sharing its storage) is alive.
    /// Read-only use only.
    var storagePointer: UnsafeMutablePointer<Float> {
        withUnsafeBufferPointer { UnsafeMutablePointer(mutating: $0.baseAddress!) }
    }
}

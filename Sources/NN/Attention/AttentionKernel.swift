import Tensor

/// Scaled dot-product attention for one head on strided matrices, computed in row chunks so
/// the full (queries × keys) score matrix is never materialised.
///
/// `out[i] = softmax(scale · q[i]·Kᵀ + extra(i)) · V`, where `extra` is an optional callback that
/// adds position terms (relative positions, attention biases) to a chunk of scores.
///
/// All matrices are row-major with explicit leading dimensions, so one head of a packed
/// `qkv` projection (columns `h·d ..< (h+1)·d`) is passed without copying.
package struct AttentionKernel {
    /// Adds terms to `scores[r - rows.lowerBound][j]` (row stride `ld`) for the query rows `rows`.
    package typealias ScoreModifier = (_ rows: Range<Int>, _ scores: UnsafeMutablePointer<Float>, _ ld: Int) -> Void

    /// Largest number of score elements one chunk holds (4 M floats = 16 MB).
    package static let maxChunkElements = 1 << 22

    /// Runs attention for one head.
    ///
    /// Both products run on the package's own GEMM where ``FP32PackedWeights/isPreferred(inFeatures:variant:)``
    /// prefers it for their depths (the head width for the scores, the key count for the values) and this call is
    /// one thread's share of the work (the own kernels are single-threaded; a lone call leaves the threads to
    /// OpenBLAS): the keys are packed once per call with the scale folded in, the values transposed into panels,
    /// and the queries go in blocks of ``ownBlockElements`` scores, so each block's scores stay in cache from
    /// the product through the position terms and the softmax to the second product. Otherwise OpenBLAS runs
    /// them on chunks of up to ``maxChunkElements`` scores.
    ///
    /// `products: .bf16` (the reduced-precision image encoders) runs both products on the bf16 GEMM instead —
    /// queries, keys times the scale, probabilities and values rounded to bf16, fp32 accumulation; position
    /// terms and softmax stay fp32 — where the CPU has AVX512_BF16 and the call is one thread's share of the work
    /// with at least ``ownMinimumQueries`` queries; otherwise the fp32 paths above.
    package static func run(
        queries nq: Int, keys nk: Int, qkDim: Int, vDim: Int,
        q: UnsafePointer<Float>, ldq: Int,
        k: UnsafePointer<Float>, ldk: Int,
        v: UnsafePointer<Float>, ldv: Int,
        out: UnsafeMutablePointer<Float>, ldo: Int,
        scale: Float,
        scratch: UnsafeMutablePointer<Float>, scratchCount: Int,
        modifier: ScoreModifier? = nil,
        products: Precision = .fp32
    ) {
        if nq == 0 { return }
        let ownThread = Parallel.isInsideParallelRegion || ComputeThreads.count == 1
        let bf16 = products == .bf16 && ownThread && nq >= ownMinimumQueries && BF16KernelVariant.nativeAvailable
        let ownScores = !bf16 && ownThread && nq >= ownMinimumQueries && FP32PackedWeights.isPreferred(inFeatures: qkDim)
        let ownValues = ownScores && FP32PackedWeights.isPreferred(inFeatures: nk)
        let packedKeys = ownScores ? TensorStorage(uninitializedCount: Kernels.f32PackedCount(n: nk, k: qkDim)) : nil
        let packedValues = ownValues ? TensorStorage(uninitializedCount: Kernels.f32PackedCount(n: vDim, k: nk)) : nil
        if let packedKeys { Kernels.f32Pack(k, rowStride: ldk, columnStride: 1, n: nk, k: qkDim, scale: scale, into: packedKeys.pointer) }
        if let packedValues { Kernels.f32Pack(v, rowStride: 1, columnStride: ldv, n: vDim, k: nk, into: packedValues.pointer) }
        var chunk = max(1, min(nq, scratchCount / max(nk, 1)))
        if ownValues || bf16 { chunk = min(chunk, max(12, ownBlockElements / max(nk, 1) / 12 * 12)) }
        let halves = bf16 ? BF16Operands(queries: chunk, keys: nk, qkDim: qkDim, vDim: vDim) : nil
        if let halves {
            Kernels.bf16Pack(k, rowStride: ldk, columnStride: 1, n: nk, k: qkDim, scale: scale, into: halves.keys)
            Kernels.bf16Pack(v, rowStride: 1, columnStride: ldv, n: vDim, k: nk, into: halves.values)
        }
        var r0 = 0
        while r0 < nq {
            let r1 = min(nq, r0 + chunk)
            let m = r1 - r0
            if let h = halves {
                Kernels.bf16ConvertRows(q + r0 * ldq, ldx: ldq, rows: m, k: qkDim, into: h.queries, ldq: h.qkDepth)
                Kernels.bf16GEMM(a: h.queries, lda: h.qkDepth, m: m, packed: h.keys, n: nk, paddedDepth: h.qkDepth,
                                 bias: nil, activation: .none, out: scratch, ldo: nk)
            } else if let packedKeys {
                Kernels.f32GEMM(a: q + r0 * ldq, lda: ldq, m: m, packed: packedKeys.pointer, n: nk, k: qkDim, bias: nil,
                                residual: nil, ldr: 0, activation: .none, out: scratch, ldo: nk)
            } else {
                BLAS.sgemm(transposeB: true, m: m, n: nk, k: qkDim, alpha: scale,
                           a: q + r0 * ldq, lda: ldq, b: k, ldb: ldk, c: scratch, ldc: nk)
            }
            modifier?(r0..<r1, scratch, nk)
            let s = SendablePointer(scratch)
            Parallel.forRanges(m, minimumPerThread: max(1, 16384 / max(nk, 1))) { rr in
                Kernels.softmaxRows(s.pointer + rr.lowerBound * nk, rows: rr.count, columns: nk, stride: nk)
            }
            if let h = halves {
                Kernels.bf16ConvertRows(scratch, ldx: nk, rows: m, k: nk, into: h.probabilities, ldq: h.keyDepth)
                Kernels.bf16GEMM(a: h.probabilities, lda: h.keyDepth, m: m, packed: h.values, n: vDim,
                                 paddedDepth: h.keyDepth, bias: nil, activation: .none, out: out + r0 * ldo, ldo: ldo)
            } else if let packedValues {
                Kernels.f32GEMM(a: scratch, lda: nk, m: m, packed: packedValues.pointer, n: vDim, k: nk, bias: nil,
                                residual: nil, ldr: 0, activation: .none, out: out + r0 * ldo, ldo: ldo)
            } else {
                BLAS.sgemm(m: m, n: vDim, k: nk, a: scratch, lda: nk, b: v, ldb: ldv,
                           c: out + r0 * ldo, ldc: ldo)
            }
            r0 = r1
        }
        withExtendedLifetime((packedKeys, packedValues, halves)) {}
    }

    /// The bf16 operands of one ``run(queries:keys:qkDim:vDim:q:ldq:k:ldk:v:ldv:out:ldo:scale:scratch:scratchCount:modifier:products:)``
    /// with `products: .bf16`: keys (scale folded in) and transposed values in the bf16 GEMM's panels, and one
    /// query block's rows of queries and of probabilities, all in one buffer from the tensor pool.
    final class BF16Operands {
        let storage: TensorStorage
        let keys, values, queries, probabilities: UnsafeMutablePointer<UInt16>
        /// Padded depths of the two products (head width, key count).
        let qkDepth, keyDepth: Int

        init(queries chunk: Int, keys nk: Int, qkDim: Int, vDim: Int) {
            qkDepth = Kernels.bf16PaddedDepth(qkDim)
            keyDepth = Kernels.bf16PaddedDepth(nk)
            let align = { (n: Int) in (n + 31) / 32 * 32 }          // 64-byte boundaries
            let sizes = [Kernels.bf16PackedCount(n: nk, k: qkDim), Kernels.bf16PackedCount(n: vDim, k: nk),
                         chunk * qkDepth, chunk * keyDepth].map(align)
            let total = sizes.reduce(0, +)
            storage = TensorStorage(uninitializedCount: (total + 1) / 2)
            let base = UnsafeMutableRawPointer(storage.pointer).bindMemory(to: UInt16.self, capacity: total)
            keys = base
            values = base + sizes[0]
            queries = values + sizes[1]
            probabilities = queries + sizes[2]
        }
    }

    /// Fewest query rows for which ``run(queries:keys:qkDim:vDim:q:ldq:k:ldk:v:ldv:out:ldo:scale:scratch:scratchCount:modifier:)``
    /// packs the keys for the own GEMM (below it the packing costs about as much as the product).
    static let ownMinimumQueries = 48

    /// Scores per query block on the own GEMM (64 K floats = 256 KB: a block stays in L2 between its steps).
    static let ownBlockElements = 1 << 16

    /// Scratch size (in floats) for attention over `nq × nk` scores.
    package static func scratchCount(queries nq: Int, keys nk: Int) -> Int {
        min(nq * nk, max(nk, maxChunkElements))
    }

    /// Rows of keys per block of ``fewQueries(_:keys:ldk:count:values:ldv:valueWidth:out:ldo:)`` (a multiple of
    /// both own-GEMM tile heights).
    static let keyBlock = 48

    /// Attention of a few query rows over many keys, computed with the keys as rows (the mask decoder's
    /// token→image attentions: ~56 query rows against 4,096 image tokens):
    ///
    ///     Sᵀ = K·Qᵀ (own GEMM, the queries packed once, the scale folded in)  → (keys × queries)
    ///     P  = softmax of each column of Sᵀ (maxima first, then exponentials and sums per block of keys)
    ///     out = (Pᵀ·V) / sums  (one OpenBLAS product)
    ///
    /// `queries` holds the (R × qkDim) query rows times the scale; `out` gets R rows of `valueWidth`. The same
    /// result as ``run(queries:keys:qkDim:vDim:q:ldq:k:ldk:v:ldv:out:ldo:scale:scratch:scratchCount:modifier:)``
    /// to rounding, without packing the keys for a product.
    ///
    /// `keysAddend` (rows of stride `ldk`, like the keys), when given, is added to the keys block by block in a
    /// cached scratch before the product: the keys are `keys + addend` (the decoder's `keys + PE`) without that
    /// sum ever being stored whole.
    package static func fewQueries(_ queries: FP32GEMMOperand, keys k: UnsafePointer<Float>, keysAddend: UnsafePointer<Float>? = nil,
                                   ldk: Int, count nk: Int, values v: UnsafePointer<Float>, ldv: Int, valueWidth: Int,
                                   out: UnsafeMutablePointer<Float>, ldo: Int) {
        let r = queries.outFeatures, block = keyBlock, depth = queries.inFeatures
        let units = (nk + block - 1) / block
        if r == 0 || nk == 0 { return }
        let scores = TensorStorage(uninitializedCount: nk * r)
        var partial = [Float](repeating: -.infinity, count: units * r)      // per block: column maxima, then sums
        let sp = SendablePointer(scores.pointer), kp = SendablePointer(UnsafeMutablePointer(mutating: k))
        let ap = keysAddend.map { SendablePointer(UnsafeMutablePointer(mutating: $0)) }
        partial.withUnsafeMutableBufferPointer { pb in
            let pp = SendablePointer(pb.baseAddress!)
            Parallel.forRanges(units, minimumPerThread: 4) { range in
                let sum = ap == nil ? nil : UnsafeMutablePointer<Float>.allocate(capacity: block * depth)
                defer { sum?.deallocate() }
                for u in range {
                    let r0 = u * block, m = min(nk, r0 + block) - r0
                    var x = UnsafePointer(kp.pointer + r0 * ldk), ldx = ldk
                    if let ap, let sum {
                        if ldk == depth {
                            Kernels.add(kp.pointer + r0 * ldk, ap.pointer + r0 * ldk, into: sum, count: m * depth)
                        } else {
                            for i in 0..<m {
                                Kernels.add(kp.pointer + (r0 + i) * ldk, ap.pointer + (r0 + i) * ldk, into: sum + i * depth, count: depth)
                            }
                        }
                        x = UnsafePointer(sum); ldx = depth
                    }
                    queries.product(rows: m, x: x, ldx: ldx, bias: nil, out: sp.pointer + r0 * r, ldo: r)
                    Kernels.maxColumns(sp.pointer + r0 * r, rows: m, columns: r, stride: r, columnMax: pp.pointer + u * r)
                }
            }
        }
        var columnMax = [Float](repeating: -.infinity, count: r)
        for u in 0..<units {
            for j in 0..<r { columnMax[j] = max(columnMax[j], partial[u * r + j]) }
        }
        partial.withUnsafeMutableBufferPointer { pb in
            pb.update(repeating: 0)
            let pp = SendablePointer(pb.baseAddress!)
            columnMax.withUnsafeBufferPointer { cm in
                let cp = SendablePointer(UnsafeMutablePointer(mutating: cm.baseAddress!))
                Parallel.forRanges(units, minimumPerThread: 4) { range in
                    for u in range {
                        let r0 = u * block, m = min(nk, r0 + block) - r0
                        Kernels.expColumns(sp.pointer + r0 * r, rows: m, columns: r, stride: r, columnMax: cp.pointer,
                                           columnSum: pp.pointer + u * r)
                    }
                }
            }
        }
        BLAS.sgemm(transposeA: true, m: r, n: valueWidth, k: nk, a: scores.pointer, lda: r, b: v, ldb: ldv, c: out, ldc: ldo)
        for j in 0..<r {
            var sum: Float = 0
            for u in 0..<units { sum += partial[u * r + j] }
            let inv = 1 / sum
            for c in 0..<valueWidth { out[j * ldo + c] *= inv }
        }
        withExtendedLifetime(scores) {}
    }
}

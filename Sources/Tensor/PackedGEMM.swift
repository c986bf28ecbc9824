// The package's own fp32 GEMM for the image encoders' Linear layers and the mask decoder's products: weights
// packed once (at load, or per prompt for the decoder's few-token operands), bias, residual and activation
// applied in the register tiles. The kernels are in Sources/CKernels/gemm_f32.c
// (reached through ``Kernels``); this file holds the packed weight type and the driver that splits the rows
// (or, for a few rows, the columns) over the threads.

/// An fp32 weight matrix packed into the 16-column panels of the package's own GEMM.
///
/// Only the packed copy is kept (the PyTorch-layout matrix is rebuilt on demand by ``unpacked``), so packing
/// does not add to resident memory.
package struct FP32PackedWeights: Sendable {
    /// Output features (rows of the PyTorch weight) and input features (the GEMM's depth).
    package let outFeatures: Int, inFeatures: Int
    let packed: [Float]

    /// The longest depth the own GEMM is used for while OpenBLAS runs AVX-512 kernels: one depth block of the
    /// own AVX-512 variant. Measured against OpenBLAS 0.3.21 (Cooperlake kernels, Xeon model 207, one thread,
    /// TinyViT's and ViT-B's shapes): level to 0.81× at depths ≤ 384 with the bias (and GELU) fused; 1.05–1.38×
    /// slower at ViT-B's depths 768 and 3072, which therefore stay on OpenBLAS there.
    package static let maximumDepth = 384

    /// Whether a Linear layer of depth `inFeatures` runs on the own GEMM on this CPU; otherwise it keeps its
    /// PyTorch-layout weight for OpenBLAS. The own GEMM needs AVX2+FMA or AVX-512F; it takes depths up to
    /// ``maximumDepth``, and every depth when its AVX-512 variant runs while OpenBLAS runs kernels without
    /// AVX-512 (``OpenBLASCore/runsAVX512Kernels``: e.g. `OPENBLAS_CORETYPE=Haswell` set on an AVX-512 CPU).
    /// Measured on an AMD EPYC Zen 5 (family 26, 2 threads) with OpenBLAS held to Haswell: MedSAM ViT-B encoder
    /// 5.83 → 3.65 s, LiteMedSAM 0.30–0.34 → 0.28 s.
    package static func isPreferred(inFeatures: Int, variant: KernelVariant? = nil) -> Bool {
        let resolved = Kernels.resolved(variant)
        guard resolved != .portable else { return false }
        return inFeatures <= maximumDepth || (resolved == .avx512 && !OpenBLASCore.runsAVX512Kernels)
    }

    /// Packs a row-major (out × in) matrix.
    package init(packing w: Tensor) {
        precondition(w.rank == 2, "FP32PackedWeights: 2-D weight expected")
        self = w.withUnsafeBufferPointer { FP32PackedWeights(packing: $0.baseAddress!, outFeatures: w.shape[0], inFeatures: w.shape[1]) }
    }

    /// Packs the row-major (out × in) matrix at `w`.
    package init(packing w: UnsafePointer<Float>, outFeatures n: Int, inFeatures k: Int) {
        var packed = [Float](repeating: 0, count: Kernels.f32PackedCount(n: n, k: k))
        packed.withUnsafeMutableBufferPointer { Kernels.f32Pack(w, n: n, k: k, into: $0.baseAddress!) }
        outFeatures = n
        inFeatures = k
        self.packed = packed
    }

    /// The row-major (out × in) matrix, rebuilt from the panels.
    package var unpacked: Tensor {
        let (n, k) = (outFeatures, inFeatures)
        var out = [Float](repeating: 0, count: n * k)
        packed.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { Kernels.f32Unpack(p.baseAddress!, n: n, k: k, into: $0.baseAddress!) }
        }
        return Tensor(shape: [n, k], scalars: out)
    }
}

/// The own fp32 GEMM of a Linear layer: `out[r] = act((x[r]·Wᵀ + b) + residual[r])` for `rows` rows.
package enum PackedGEMM {
    /// Rows per unit of work handed to a thread (a multiple of both register tiles' heights, 6 and 12).
    static let rowUnit = 48

    /// Runs the GEMM; `residual` (rows of stride `ldr`) and `bias` may be nil; `out` overlaps neither `x` nor
    /// `residual`. Many rows are split into row ranges over the threads; fewer than two units of rows into
    /// column ranges of whole panel pairs.
    package static func run(_ w: FP32PackedWeights, rows: Int, x: UnsafePointer<Float>, ldx: Int,
                            bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>? = nil, ldr: Int = 0,
                            activation: FusedActivation, out: UnsafeMutablePointer<Float>, ldo: Int,
                            variant: KernelVariant? = nil) {
        if rows == 0 || w.outFeatures == 0 { return }
        let n = w.outFeatures, k = w.inFeatures
        let xp = SendablePointer(UnsafeMutablePointer(mutating: x)), op = SendablePointer(out)
        let bp = bias.map { SendablePointer(UnsafeMutablePointer(mutating: $0)) }
        let rp = residual.map { SendablePointer(UnsafeMutablePointer(mutating: $0)) }
        w.packed.withUnsafeBufferPointer { packed in
            let pk = SendablePointer(UnsafeMutablePointer(mutating: packed.baseAddress!))
            let units = (rows + rowUnit - 1) / rowUnit
            let pairs = (n + 31) / 32
            // Work below ~2 MFLOP per thread is not worth a hand-off.
            let minimumUnits = max(1, (1 << 21) / max(1, rowUnit * n * k))
            if units >= 2 || pairs < 2 {
                Parallel.forRanges(units, minimumPerThread: minimumUnits) { r in
                    let r0 = r.lowerBound * rowUnit, r1 = min(rows, r.upperBound * rowUnit)
                    Kernels.f32GEMM(a: xp.pointer + r0 * ldx, lda: ldx, m: r1 - r0, packed: pk.pointer, n: n, k: k,
                                    bias: bp.map { UnsafePointer($0.pointer) },
                                    residual: rp.map { UnsafePointer($0.pointer + r0 * ldr) }, ldr: ldr,
                                    activation: activation, out: op.pointer + r0 * ldo, ldo: ldo, variant: variant)
                }
            } else {
                let minimumPairs = max(1, (1 << 21) / max(1, rows * 32 * k))
                Parallel.forRanges(pairs, minimumPerThread: minimumPairs) { r in
                    let j0 = r.lowerBound * 32, j1 = min(n, r.upperBound * 32)
                    Kernels.f32GEMM(a: xp.pointer, lda: ldx, m: rows, packed: pk.pointer + j0 * k, n: j1 - j0, k: k,
                                    bias: bp.map { UnsafePointer($0.pointer + j0) },
                                    residual: rp.map { UnsafePointer($0.pointer + j0) }, ldr: ldr,
                                    activation: activation, out: op.pointer + j0, ldo: ldo, variant: variant)
                }
            }
        }
    }
}


/// An fp32 (out × in) matrix `W` for products `out[r] = act((x[r]·Wᵀ + b) + residual[r])` that the caller runs
/// inside its own loop over row blocks (one thread per call): packed for the own GEMM where that is preferred on
/// this CPU (``FP32PackedWeights/isPreferred(inFeatures:variant:)``), else row-major for OpenBLAS. The mask
/// decoder makes them at load (the upscaling) and per prompt (its few-token operands), so that a row block's
/// products and the row-wise steps after them run while the block is in cache.
package struct FP32GEMMOperand: Sendable {
    enum Form: Sendable {
        case packed(FP32PackedWeights)
        case rowMajor([Float])
    }
    let form: Form
    package let outFeatures: Int, inFeatures: Int

    /// From the row-major (out × in) matrix at `w`, each entry times `scale`.
    package init(rowMajor w: UnsafePointer<Float>, outFeatures n: Int, inFeatures k: Int, scale: Float = 1,
                 variant: KernelVariant? = nil) {
        let scaled = scale == 1 ? Array(UnsafeBufferPointer(start: w, count: n * k))
                                : (0..<(n * k)).map { w[$0] * scale }
        self.init(scaled, outFeatures: n, inFeatures: k, variant: variant)
    }

    /// From the row-major (in × out) matrix at `w` (the transpose of `W`: `W[j, t] = w[t·out + j]`).
    package init(transposing w: UnsafePointer<Float>, inFeatures k: Int, outFeatures n: Int, variant: KernelVariant? = nil) {
        var t = [Float](repeating: 0, count: n * k)
        for i in 0..<k {
            for j in 0..<n { t[j * k + i] = w[i * n + j] }
        }
        self.init(t, outFeatures: n, inFeatures: k, variant: variant)
    }

    private init(_ w: [Float], outFeatures n: Int, inFeatures k: Int, variant: KernelVariant?) {
        outFeatures = n
        inFeatures = k
        form = FP32PackedWeights.isPreferred(inFeatures: k, variant: variant)
            ? .packed(w.withUnsafeBufferPointer { FP32PackedWeights(packing: $0.baseAddress!, outFeatures: n, inFeatures: k) })
            : .rowMajor(w)
    }

    /// Whether the own GEMM runs the products.
    package var isPacked: Bool { if case .packed = form { true } else { false } }

    /// `out[r] = act((x[r]·Wᵀ + bias) + residual[r])` for `rows` rows, on the calling thread; `bias` (out
    /// entries) and `residual` (rows of stride `ldr`) may be nil; `out` overlaps neither `x` nor `residual`.
    package func product(rows m: Int, x: UnsafePointer<Float>, ldx: Int, bias: UnsafePointer<Float>?,
                         residual: UnsafePointer<Float>? = nil, ldr: Int = 0, activation: FusedActivation = .none,
                         out: UnsafeMutablePointer<Float>, ldo: Int, variant: KernelVariant? = nil) {
        if m == 0 || outFeatures == 0 { return }
        let (n, k) = (outFeatures, inFeatures)
        switch form {
        case .packed(let w):
            w.packed.withUnsafeBufferPointer { p in
                Kernels.f32GEMM(a: x, lda: ldx, m: m, packed: p.baseAddress!, n: n, k: k, bias: bias, residual: residual,
                                ldr: ldr, activation: activation, out: out, ldo: ldo, variant: variant)
            }
        case .rowMajor(let w):
            for r in 0..<m {
                let o = out + r * ldo
                if let residual { o.update(from: residual + r * ldr, count: n) } else { o.update(repeating: 0, count: n) }
            }
            w.withUnsafeBufferPointer { wb in
                BLAS.sgemmSerial(transposeB: true, m: m, n: n, k: k, a: x, lda: ldx, b: wb.baseAddress!, ldb: k, beta: 1,
                                 c: out, ldc: ldo)
            }
            if bias != nil || activation != .none {
                for r in 0..<m { Kernels.biasActivationRows(out + r * ldo, rows: 1, columns: n, bias: bias, activation: activation, variant: variant) }
            }
        }
    }
}

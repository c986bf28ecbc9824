import Checkpoint
import Tensor

/// `nn.Linear`: `y = x·Wᵀ + b` over the last dimension.
///
/// ```swift
/// let fc = try Linear(scope["mlp"]["lin1"], inFeatures: 768, outFeatures: 3072)
/// let y = fc(x)            // x (…, 768) → y (…, 3072)
/// ```
///
/// The weight is held in the scope's ``Precision``: fp32 (the reference), or int8 / bf16 packed at load for the
/// reduced-precision GEMMs. An fp32 layer of an image encoder (a scope with ``WeightScope/packsWeights``) whose
/// depth the package's own GEMM handles faster (``FP32PackedWeights/isPreferred(inFeatures:variant:)``) is packed
/// at load for it, with bias and activation in its register tiles; other fp32 layers run on OpenBLAS. One forward
/// serves all of them; only the GEMM it calls differs.
public struct Linear: Sendable {
    /// How the weight is stored.
    package enum Storage: Sendable {
        case fp32(Tensor)
        /// fp32, packed for the own GEMM (only the packed copy is kept).
        case fp32Packed(FP32PackedWeights)
        case int8(Int8Weights)
        case bf16(BF16Weights)
    }

    package let storage: Storage
    /// (out) or nil.
    public let bias: Tensor?
    public let inFeatures: Int
    public let outFeatures: Int

    /// The arithmetic of this layer's GEMM.
    public var precision: Precision {
        switch storage {
        case .fp32, .fp32Packed: return .fp32
        case .int8: return .int8
        case .bf16: return .bf16
        }
    }

    /// (out, in), PyTorch layout: the stored fp32 weight, or the dequantised values of a reduced-precision one.
    public var weight: Tensor {
        switch storage {
        case let .fp32(w): return w
        case let .fp32Packed(p): return p.unpacked
        case let .int8(q): return q.dequantized
        case let .bf16(h): return h.dequantized
        }
    }

    /// Loads `weight` (and `bias`) under `scope`, converted to the scope's precision (``WeightScope/layerPrecision``:
    /// the loader's ``PrecisionPolicy`` may keep this layer fp32).
    ///
    /// A weight stored already quantised (int8 values with a `weight_scale` of one scale per output row, as
    /// `medsam convert --precision int8` writes) is used as it is, in int8, whatever the scope's precision.
    /// - Throws: `WeightError` for missing or mis-shaped keys, and `.invalidConfiguration` for quantised values
    ///   that are not integers in ±127 or scales that are negative or not finite.
    public init(_ scope: WeightScope, inFeatures: Int, outFeatures: Int, bias: Bool = true) throws {
        let w = try scope.tensor("weight", shape: [outFeatures, inFeatures])
        self.bias = bias ? try scope.tensor("bias", shape: [outFeatures]) : nil
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        // Generated sources (allKeys nil) claim every key; only an enumerable source can hold a stored scale.
        let source = scope.loader.source
        if source.allKeys != nil, source.contains(scope.key("weight_scale")) {
            let scales = try scope.tensor("weight_scale", shape: [outFeatures]).scalars
            let values = w.scalars
            guard values.allSatisfy({ $0 == $0.rounded() && abs($0) <= 127 }),
                  scales.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
                throw WeightError.invalidConfiguration(
                    "\(scope.key("weight")): quantised weights must be integers in ±127 with finite, non-negative scales")
            }
            storage = .int8(Int8Weights(values: values.map { Int8($0) }, scales: scales,
                                        outFeatures: outFeatures, inFeatures: inFeatures))
            scope.loader.markReduced(scope.key("weight"), .int8)
            return
        }
        let precision = scope.layerPrecision
        storage = Self.storage(w, precision: precision, packed: scope.packsWeights)
        if precision != .fp32 { scope.loader.markReduced(scope.key("weight"), precision) }
    }

    public init(weight: Tensor, bias: Tensor?, precision: Precision = .fp32) {
        precondition(weight.rank == 2, "Linear weight must be 2-D")
        self.bias = bias
        inFeatures = weight.shape[1]
        outFeatures = weight.shape[0]
        storage = Self.storage(weight, precision: precision)
    }

    /// A 1×1, stride-1, unpadded, ungrouped convolution (out, in, 1, 1) as a per-pixel linear map on channels-last
    /// data, in fp32, packed for the own GEMM where it is preferred.
    public init(pointwise conv: Conv2d) {
        let w = conv.weight
        precondition(w.rank == 4 && w.shape[2] == 1 && w.shape[3] == 1 && conv.groups == 1 && conv.stride == (1, 1)
                     && conv.padding == (0, 0), "Linear(pointwise:) needs a plain 1×1 convolution, got \(w.shape)")
        bias = conv.bias
        inFeatures = w.shape[1]
        outFeatures = w.shape[0]
        storage = Self.storage(w.reshaped([w.shape[0], w.shape[1]]), precision: .fp32, packed: true)
    }

    /// An fp32 layer on a weight computed at load (e.g. a reordered convolution kernel), packed for the own GEMM
    /// where it is preferred.
    public init(packing weight: Tensor, bias: Tensor?) {
        precondition(weight.rank == 2, "Linear weight must be 2-D")
        self.bias = bias
        inFeatures = weight.shape[1]
        outFeatures = weight.shape[0]
        storage = Self.storage(weight, precision: .fp32, packed: true)
    }

    /// A layer on already reduced weights (e.g. read from a converted weight file).
    package init(storage: Storage, bias: Tensor?) {
        self.storage = storage
        self.bias = bias
        switch storage {
        case let .fp32(w): (outFeatures, inFeatures) = (w.shape[0], w.shape[1])
        case let .fp32Packed(p): (outFeatures, inFeatures) = (p.outFeatures, p.inFeatures)
        case let .int8(q): (outFeatures, inFeatures) = (q.outFeatures, q.inFeatures)
        case let .bf16(h): (outFeatures, inFeatures) = (h.outFeatures, h.inFeatures)
        }
    }

    /// The storage of `w` in `precision`; fp32 is packed for the own GEMM when `packed` and the GEMM is preferred.
    static func storage(_ w: Tensor, precision: Precision, packed: Bool = false) -> Storage {
        switch precision {
        case .fp32:
            return packed && FP32PackedWeights.isPreferred(inFeatures: w.shape[1]) ? .fp32Packed(FP32PackedWeights(packing: w)) : .fp32(w)
        case .int8: return .int8(Int8Weights(quantizing: w))
        case .bf16: return .bf16(BF16Weights(rounding: w))
        }
    }

    /// `act(x·Wᵀ + b)`, with the bias and activation applied in one pass after the GEMM.
    public func callAsFunction(_ x: Tensor, activation: FusedActivation) -> Tensor {
        guard case let .fp32(weight) = storage else { return packedForward(x, activation: activation) }
        if activation == .none { return self(x) }
        let rows = x.count / inFeatures
        precondition(x.shape.last == inFeatures, "Linear expects last dim \(inFeatures), got \(x.shape)")
        var out = Tensor(uninitializedShape: Array(x.shape.dropLast()) + [outFeatures])
        let n = outFeatures
        let bp = bias.map { b in b.withUnsafeBufferPointer { SendablePointer(UnsafeMutablePointer(mutating: $0.baseAddress!)) } }
        x.withUnsafeBufferPointer { xp in
            weight.withUnsafeBufferPointer { w in
                out.withUnsafeMutableBufferPointer { op in
                    let o = SendablePointer(op.baseAddress!)
                    // Row tiles: bias + activation run on each tile right after its GEMM, while cached.
                    BLAS.sgemmTiled(transposeB: true, m: rows, n: n, k: inFeatures, a: xp.baseAddress!, lda: inFeatures,
                                    b: w.baseAddress!, ldb: inFeatures, c: op.baseAddress!, ldc: n,
                                    tileColumns: false, tileSize: max(16, (1 << 17) / max(n, 1)) / 16 * 16) { r in
                        Kernels.biasActivationRows(o.pointer + r.lowerBound * n, rows: r.count, columns: n,
                                                   bias: bp.map { UnsafePointer($0.pointer) }, activation: activation)
                    }
                }
            }
        }
        withExtendedLifetime(bias) {}
        return out
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        guard case .fp32 = storage else { return packedForward(x, activation: .none) }
        let rows = x.count / inFeatures
        precondition(x.shape.last == inFeatures, "Linear expects last dim \(inFeatures), got \(x.shape)")
        var out = Tensor(uninitializedShape: Array(x.shape.dropLast()) + [outFeatures])
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                apply(rows: rows, x: xp.baseAddress!, ldx: inFeatures, out: op.baseAddress!, ldo: outFeatures)
            }
        }
        return out
    }

    /// `x·Wᵀ + b + residual` (a block's residual connection), with `residual` shaped like the output: added in the
    /// own GEMM's tiles for packed fp32 weights (after the bias, the reference's order), as OpenBLAS's starting C
    /// (`residual + b`, beta = 1) for row-major fp32 ones, and after the GEMM for int8 and bf16.
    public func callAsFunction(_ x: Tensor, adding residual: Tensor) -> Tensor {
        let rows = x.count / inFeatures
        precondition(x.shape.last == inFeatures, "Linear expects last dim \(inFeatures), got \(x.shape)")
        precondition(residual.count == rows * outFeatures, "Linear: residual \(residual.shape) does not match \(rows)×\(outFeatures)")
        var out = Tensor(uninitializedShape: Array(x.shape.dropLast()) + [outFeatures])
        let n = outFeatures, k = inFeatures
        switch storage {
        case let .fp32Packed(p):
            x.withUnsafeBufferPointer { xp in residual.withUnsafeBufferPointer { rp in out.withUnsafeMutableBufferPointer { op in
                let run = { (b: UnsafePointer<Float>?) in
                    PackedGEMM.run(p, rows: rows, x: xp.baseAddress!, ldx: k, bias: b, residual: rp.baseAddress!, ldr: n,
                                   activation: .none, out: op.baseAddress!, ldo: n)
                }
                if let bias { bias.withUnsafeBufferPointer { run($0.baseAddress!) } } else { run(nil) }
            } } }
        case let .fp32(weight):
            x.withUnsafeBufferPointer { xp in residual.withUnsafeBufferPointer { rp in weight.withUnsafeBufferPointer { w in
                out.withUnsafeMutableBufferPointer { op in
                    let o = SendablePointer(op.baseAddress!), r = SendablePointer(UnsafeMutablePointer(mutating: rp.baseAddress!))
                    let bp = bias.map { b in b.withUnsafeBufferPointer { SendablePointer(UnsafeMutablePointer(mutating: $0.baseAddress!)) } }
                    Parallel.forRanges(rows, minimumPerThread: max(1, 16384 / max(n, 1))) { range in
                        let start = range.lowerBound * n, count = range.count * n
                        if let bp {
                            for row in range { Kernels.add(r.pointer + row * n, bp.pointer, into: o.pointer + row * n, count: n) }
                        } else {
                            (o.pointer + start).update(from: r.pointer + start, count: count)
                        }
                    }
                    BLAS.sgemm(transposeB: true, m: rows, n: n, k: k, a: xp.baseAddress!, lda: k,
                               b: w.baseAddress!, ldb: k, beta: 1, c: op.baseAddress!, ldc: n)
                }
            } } }
            withExtendedLifetime(bias) {}
        case .int8, .bf16:
            out = packedForward(x, activation: .none)
            out.add(residual)
        }
        return out
    }

    /// The packed fp32 / int8 / bf16 forward: a GEMM with bias and activation (and dequantisation) in its epilogue.
    private func packedForward(_ x: Tensor, activation: FusedActivation) -> Tensor {
        let rows = x.count / inFeatures
        precondition(x.shape.last == inFeatures, "Linear expects last dim \(inFeatures), got \(x.shape)")
        var out = Tensor(uninitializedShape: Array(x.shape.dropLast()) + [outFeatures])
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                applyPacked(rows: rows, x: xp.baseAddress!, ldx: inFeatures, out: op.baseAddress!, ldo: outFeatures,
                             activation: activation)
            }
        }
        return out
    }

    private func applyPacked(rows: Int, x: UnsafePointer<Float>, ldx: Int, out: UnsafeMutablePointer<Float>, ldo: Int,
                              activation: FusedActivation) {
        let run = { (b: UnsafePointer<Float>?) in
            switch storage {
            case let .int8(q):
                ReducedPrecisionGEMM.run(q, rows: rows, x: x, ldx: ldx, bias: b, activation: activation, out: out, ldo: ldo)
            case let .bf16(h):
                ReducedPrecisionGEMM.run(h, rows: rows, x: x, ldx: ldx, bias: b, activation: activation, out: out, ldo: ldo)
            case let .fp32Packed(p):
                PackedGEMM.run(p, rows: rows, x: x, ldx: ldx, bias: b, activation: activation, out: out, ldo: ldo)
            case .fp32:
                preconditionFailure("applyPacked on an OpenBLAS fp32 layer")
            }
        }
        if let bias { bias.withUnsafeBufferPointer { run($0.baseAddress!) } } else { run(nil) }
    }

    /// Applies the layer to `rows` rows read with stride `ldx`, writing rows with stride `ldo`
    /// (lets callers work on column blocks without copies).
    package func apply(rows: Int, x: UnsafePointer<Float>, ldx: Int, out: UnsafeMutablePointer<Float>, ldo: Int) {
        guard case let .fp32(weight) = storage else {
            applyPacked(rows: rows, x: x, ldx: ldx, out: out, ldo: ldo, activation: .none)
            return
        }
        let n = outFeatures
        var beta: Float = 0
        if let bias {
            // The bias rows are the GEMM's starting C (beta = 1). Written in parallel: on one thread this fill
            // was TinyViT's largest serial stretch (qkv, proj and fc2 outputs, up to 25 MB each).
            bias.withUnsafeBufferPointer { b in
                let bp = SendablePointer(UnsafeMutablePointer(mutating: b.baseAddress!)), op = SendablePointer(out)
                Parallel.forRanges(rows, minimumPerThread: max(1, 16384 / max(n, 1))) { r in
                    for row in r { (op.pointer + row * ldo).update(from: bp.pointer, count: n) }
                }
            }
            beta = 1
        }
        weight.withUnsafeBufferPointer { w in
            BLAS.sgemm(transposeB: true, m: rows, n: n, k: inFeatures, a: x, lda: ldx,
                       b: w.baseAddress!, ldb: inFeatures, beta: beta, c: out, ldc: ldo)
        }
    }
}

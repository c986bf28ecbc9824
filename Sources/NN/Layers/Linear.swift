import Tensor

/// `nn.Linear`: `y = x·Wᵀ + b` over the last dimension.
///
/// ```swift
/// let fc = try Linear(scope["mlp"]["lin1"], inFeatures: 768, outFeatures: 3072)
/// let y = fc(x)            // x (…, 768) → y (…, 3072)
/// ```
public struct Linear: Sendable {
    /// (out, in), PyTorch layout.
    public let weight: Tensor
    /// (out) or nil.
    public let bias: Tensor?

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    /// Loads `weight` (and `bias`) under `scope`.
    public init(_ scope: WeightScope, inFeatures: Int, outFeatures: Int, bias: Bool = true) throws {
        weight = try scope.tensor("weight", shape: [outFeatures, inFeatures])
        self.bias = bias ? try scope.tensor("bias", shape: [outFeatures]) : nil
    }

    public init(weight: Tensor, bias: Tensor?) {
        precondition(weight.rank == 2, "Linear weight must be 2-D")
        self.weight = weight
        self.bias = bias
    }

    /// `act(x·Wᵀ + b)`, with the bias and activation applied in one pass after the GEMM.
    public func callAsFunction(_ x: Tensor, activation: FusedActivation) -> Tensor {
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

    /// Applies the layer to `rows` rows read with stride `ldx`, writing rows with stride `ldo`
    /// (lets callers work on column blocks without copies).
    package func apply(rows: Int, x: UnsafePointer<Float>, ldx: Int, out: UnsafeMutablePointer<Float>, ldo: Int) {
        let n = outFeatures
        var beta: Float = 0
        if let bias {
            bias.withUnsafeBufferPointer { b in
                for r in 0..<rows { (out + r * ldo).update(from: b.baseAddress!, count: n) }
            }
            beta = 1
        }
        weight.withUnsafeBufferPointer { w in
            BLAS.sgemm(transposeB: true, m: rows, n: n, k: inFeatures, a: x, lda: ldx,
                       b: w.baseAddress!, ldb: inFeatures, beta: beta, c: out, ldc: ldo)
        }
    }
}

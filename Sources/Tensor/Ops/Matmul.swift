/// Matrix products on BLAS.
extension Tensor {
    /// Matrix product of the last two dimensions; leading dimensions are batch
    /// dimensions (equal on both sides, or `rhs` is 2-D and shared).
    ///
    /// ```swift
    /// let c = a.matmul(b, transposeB: true)   // a (…, m, k) · bᵀ with b (…, n, k)
    /// ```
    public func matmul(_ rhs: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        precondition(rank >= 2 && rhs.rank >= 2, "matmul needs rank ≥ 2, got \(shape) and \(rhs.shape)")
        let (ar, ac) = (shape[rank - 2], shape[rank - 1])
        let (br, bc) = (rhs.shape[rhs.rank - 2], rhs.shape[rhs.rank - 1])
        let m = transposeA ? ac : ar, k = transposeA ? ar : ac
        let kb = transposeB ? bc : br, n = transposeB ? br : bc
        precondition(k == kb, "matmul inner dimensions differ: \(shape) · \(rhs.shape)")
        let batchA = Array(shape.dropLast(2))
        let batch = batchA.reduce(1, *)
        let sharedB = rhs.rank == 2
        if !sharedB {
            precondition(Array(rhs.shape.dropLast(2)) == batchA, "matmul batch dims differ: \(shape) · \(rhs.shape)")
        }
        var out = Tensor(uninitializedShape: batchA + [m, n])
        withUnsafeBufferPointer { a in
            rhs.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { c in
                    if sharedB && !transposeA {
                        // Fold the batch into the rows: one big GEMM.
                        BLAS.sgemm(transposeA: false, transposeB: transposeB, m: batch * m, n: n, k: k,
                                   a: a.baseAddress!, lda: ac, b: b.baseAddress!, ldb: bc,
                                   c: c.baseAddress!, ldc: n)
                        return
                    }
                    for i in 0..<batch {
                        BLAS.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                                   a: a.baseAddress! + i * ar * ac, lda: ac,
                                   b: b.baseAddress! + (sharedB ? 0 : i * br * bc), ldb: bc,
                                   c: c.baseAddress! + i * m * n, ldc: n)
                    }
                }
            }
        }
        return out
    }
}

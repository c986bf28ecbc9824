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
    package static func run(
        queries nq: Int, keys nk: Int, qkDim: Int, vDim: Int,
        q: UnsafePointer<Float>, ldq: Int,
        k: UnsafePointer<Float>, ldk: Int,
        v: UnsafePointer<Float>, ldv: Int,
        out: UnsafeMutablePointer<Float>, ldo: Int,
        scale: Float,
        scratch: UnsafeMutablePointer<Float>, scratchCount: Int,
        modifier: ScoreModifier? = nil
    ) {
        let chunk = max(1, min(nq, scratchCount / max(nk, 1)))
        var r0 = 0
        while r0 < nq {
            let r1 = min(nq, r0 + chunk)
            let m = r1 - r0
            BLAS.sgemm(transposeB: true, m: m, n: nk, k: qkDim, alpha: scale,
                       a: q + r0 * ldq, lda: ldq, b: k, ldb: ldk, c: scratch, ldc: nk)
            modifier?(r0..<r1, scratch, nk)
            let s = SendablePointer(scratch)
            Parallel.forRanges(m, minimumPerThread: max(1, 16384 / max(nk, 1))) { rr in
                Kernels.softmaxRows(s.pointer + rr.lowerBound * nk, rows: rr.count, columns: nk, stride: nk)
            }
            BLAS.sgemm(m: m, n: vDim, k: nk, a: scratch, lda: nk, b: v, ldb: ldv,
                       c: out + r0 * ldo, ldc: ldo)
            r0 = r1
        }
    }

    /// Scratch size (in floats) for attention over `nq × nk` scores.
    package static func scratchCount(queries nq: Int, keys nk: Int) -> Int {
        min(nq * nk, max(nk, maxChunkElements))
    }
}

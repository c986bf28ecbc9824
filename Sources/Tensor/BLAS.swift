#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

/// Thin wrappers over CBLAS (package-internal: raw pointers; model code outside the package uses
/// ``Tensor/matmul(_:transposeA:transposeB:)``) (OpenBLAS on Linux, Accelerate on Apple platforms).
///
/// All matrices are row-major. Leading dimensions let callers pass strided views
/// (e.g. one head of a packed `qkv` projection) without copying.
package enum BLAS {
    /// `C = alpha · op(A) · op(B) + beta · C` with `op(A)` of shape (m, k) and `op(B)` of shape (k, n).
    ///
    /// Large products are split into row (or column) blocks across ``ComputeThreads``; each block
    /// is a single-threaded BLAS call. Inside a parallel region the call runs inline.
    package static func sgemm(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        let threads = Parallel.isInsideParallelRegion ? 1 : ComputeThreads.count
        let work = m * n * max(k, 1)
        if threads <= 1 || work < 1 << 21 {
            sgemmSerial(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                        a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        let ap = SendablePointer(UnsafeMutablePointer(mutating: a))
        let bp = SendablePointer(UnsafeMutablePointer(mutating: b))
        let cp = SendablePointer(c)
        if m >= n || m >= 64 * threads {
            // Row blocks of C (multiples of 16 rows keep the kernels' panels whole).
            let blocks = threads
            let step = ((m + blocks - 1) / blocks + 15) / 16 * 16
            let count = (m + step - 1) / step
            Parallel.forRanges(count, minimumPerThread: 1) { r in
                for blk in r {
                    let i0 = blk * step, i1 = min(m, i0 + step)
                    let aOff = transposeA ? i0 : i0 * lda
                    sgemmSerial(transposeA: transposeA, transposeB: transposeB, m: i1 - i0, n: n, k: k, alpha: alpha,
                                a: ap.pointer + aOff, lda: lda, b: bp.pointer, ldb: ldb, beta: beta,
                                c: cp.pointer + i0 * ldc, ldc: ldc)
                }
            }
        } else {
            let blocks = threads
            let step = ((n + blocks - 1) / blocks + 15) / 16 * 16
            let count = (n + step - 1) / step
            Parallel.forRanges(count, minimumPerThread: 1) { r in
                for blk in r {
                    let j0 = blk * step, j1 = min(n, j0 + step)
                    let bOff = transposeB ? j0 * ldb : j0
                    sgemmSerial(transposeA: transposeA, transposeB: transposeB, m: m, n: j1 - j0, k: k, alpha: alpha,
                                a: ap.pointer, lda: lda, b: bp.pointer + bOff, ldb: ldb, beta: beta,
                                c: cp.pointer + j0, ldc: ldc)
                }
            }
        }
    }

    /// `C = op(A)·op(B)` computed in tiles spread over the threads, each tile followed at once by
    /// `epilogue` on the same tile (e.g. bias + GELU) while it is still in cache.
    ///
    /// - `tileColumns`: tiles are column ranges of C (else row ranges); `epilogue` receives the range.
    package static func sgemmTiled(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        tileColumns: Bool, tileSize: Int,
        epilogue: (Range<Int>) -> Void
    ) {
        if m == 0 || n == 0 { return }
        let total = tileColumns ? n : m
        let step = max(16, tileSize)
        let tiles = (total + step - 1) / step
        let ap = SendablePointer(UnsafeMutablePointer(mutating: a))
        let bp = SendablePointer(UnsafeMutablePointer(mutating: b))
        let cp = SendablePointer(c)
        withoutActuallyEscaping(epilogue) { epilogue in
            let box = UncheckedSendableBox(epilogue)
            Parallel.forRanges(tiles, minimumPerThread: 1) { r in
                for t in r {
                    let lo = t * step, hi = min(total, lo + step)
                    if tileColumns {
                        sgemmSerial(transposeA: transposeA, transposeB: transposeB, m: m, n: hi - lo, k: k,
                                    a: ap.pointer, lda: lda, b: bp.pointer + (transposeB ? lo * ldb : lo), ldb: ldb,
                                    c: cp.pointer + lo, ldc: ldc)
                    } else {
                        sgemmSerial(transposeA: transposeA, transposeB: transposeB, m: hi - lo, n: n, k: k,
                                    a: ap.pointer + (transposeA ? lo : lo * lda), lda: lda, b: bp.pointer, ldb: ldb,
                                    c: cp.pointer + lo * ldc, ldc: ldc)
                    }
                    box.value(lo..<hi)
                }
            }
        }
    }

    /// One single-threaded BLAS call.
    @inlinable
    package static func sgemmSerial(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        OpenBLASCore.ensureSelected()
        if k == 0 {
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        cblas_sgemm(
            CblasRowMajor,
            transposeA ? CblasTrans : CblasNoTrans,
            transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha,
            a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Sets the number of threads the BLAS library uses (OpenBLAS only; Accelerate manages its own).
    package static func setThreadCount(_ n: Int) {
        #if !canImport(Accelerate)
        OpenBLASCore.ensureSelected()
        openblas_set_num_threads(Int32(max(1, n)))
        #endif
    }

    /// The number of threads the BLAS library uses.
    package static var threadCount: Int {
        #if canImport(Accelerate)
        return 1
        #else
        return Int(openblas_get_num_threads())
        #endif
    }
}

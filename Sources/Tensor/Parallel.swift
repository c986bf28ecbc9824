import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one thread-count setting of the package.
///
/// It drives both OpenBLAS (GEMMs) and the package's own loops (elementwise ops,
/// depthwise convolutions, attention heads). The two never run at the same time
/// inside one op, so the cores are not oversubscribed.
///
/// ```swift
/// ComputeThreads.set(2)   // before the first segmentation
/// ```
public enum ComputeThreads {
    private static let value = Atomic<Int>(0)

    /// Number of threads in use (defaults to the number of online cores).
    public static var count: Int {
        let v = value.load(ordering: .relaxed)
        if v > 0 { return v }
        let n = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        value.store(n, ordering: .relaxed)
        BLAS.setThreadCount(1)
        return n
    }

    /// Sets the thread count for the package's loops and its GEMM splitting.
    ///
    /// OpenBLAS itself always runs single-threaded: the package splits large GEMMs across
    /// its own workers, so several ops (or several segmenters) never oversubscribe the cores.
    public static func set(_ n: Int) {
        let n = max(1, n)
        value.store(n, ordering: .relaxed)
        BLAS.setThreadCount(1)
    }
}

/// Splits index ranges across ``ComputeThreads/count`` workers.
public enum Parallel {
    /// Calls `body` on disjoint sub-ranges covering `0..<count`. Runs inline when the
    /// work is small (`count < minimumPerThread * 2`) or only one thread is configured.
    @inlinable
    public static func forRanges(_ count: Int, minimumPerThread: Int = 1, _ body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        let threads = isInsideParallelRegion ? 1 : ComputeThreads.count
        let workers = min(threads, max(1, count / max(1, minimumPerThread)))
        if workers <= 1 {
            body(0..<count)
            return
        }
        // A few chunks per worker balance uneven work.
        let chunks = min(count, workers * 4)
        withoutActuallyEscaping(body) { body in
            // The body only touches disjoint ranges; callers guarantee that.
            let box = UncheckedSendableBox(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let lo = count * c / chunks
                let hi = count * (c + 1) / chunks
                if lo < hi {
                    let previous = pthread_getspecific(parallelRegionKey)
                    pthread_setspecific(parallelRegionKey, UnsafeRawPointer(bitPattern: 1))
                    box.value(lo..<hi)
                    pthread_setspecific(parallelRegionKey, previous)
                }
            }
        }
    }
}

extension Parallel {
    /// Whether the current thread is running a chunk of ``forRanges(_:minimumPerThread:_:)``
    /// (nested loops and GEMMs then run inline instead of spawning more work).
    public static var isInsideParallelRegion: Bool { pthread_getspecific(parallelRegionKey) != nil }
}

/// Thread-local marker of parallel regions (created once, never mutated).
@usableFromInline
let parallelRegionKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
}()

/// A pointer that may be captured by concurrent loops writing disjoint elements (package-internal).
@usableFromInline
package struct SendablePointer<T>: @unchecked Sendable {
    @usableFromInline package let pointer: UnsafeMutablePointer<T>
    @inlinable package init(_ p: UnsafeMutablePointer<T>) { pointer = p }
    @inlinable package subscript(i: Int) -> T {
        get { pointer[i] }
        nonmutating set { pointer[i] = newValue }
    }
}

/// Carries a non-Sendable value into a concurrent loop whose iterations touch disjoint data.
@usableFromInline
struct UncheckedSendableBox<T>: @unchecked Sendable {
    @usableFromInline let value: T
    @usableFromInline init(_ value: T) { self.value = value }
}

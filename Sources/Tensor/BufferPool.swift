import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The package's memory policy for large tensor buffers: a bounded, thread-safe size-class cache.
///
/// Every tensor buffer of at least ``TensorMemory/pooledThreshold`` bytes is mapped from the kernel
/// (`mmap`) and, when its last tensor goes away, kept in this cache instead of being unmapped. The next
/// buffer of the same size class reuses it: its pages are already resident, so an encoder run after the
/// first one maps, faults in and zeroes no activation memory (before the cache, each run did that for all
/// its temporaries: about a quarter of the LiteMedSAM encoder's time went to the kernel's page-fault path).
///
/// The cache is bounded twice: mapped memory (in use + cached) stays within the most ever in use at once
/// plus an eighth (so peak resident memory grows by at most 12.5 % of the activations' peak), and cached
/// bytes stay within ``TensorMemory/cacheLimit``. It gives everything back to the system on
/// ``TensorMemory/trim()`` or by itself once no large buffer has been taken or returned for
/// ``TensorMemory/idleSeconds``. Size classes are 8 per power of two, page-rounded; a request is served
/// from its class or else from the smallest cached class up to twice its size.
public enum TensorMemory {
    /// Buffers of at least this many bytes are pooled (smaller ones come from `malloc`).
    public static let pooledThreshold = 1 << 20

    /// Default bound on the cached (free) bytes.
    public static let defaultCacheLimit = 512 << 20

    /// Seconds without large-buffer traffic after which the cache returns its buffers to the system.
    public static let idleSeconds: Double = 5

    /// Unmaps every cached buffer now (buffers in use are not affected).
    public static func trim() { BufferPool.shared.trim() }

    /// Bytes currently cached (free, resident, ready for reuse).
    public static var cachedBytes: Int { BufferPool.shared.statistics.cachedBytes }

    /// The bound on cached bytes (default ``defaultCacheLimit``).
    public static var cacheLimit: Int { BufferPool.shared.statistics.limit }

    /// Sets the bound on cached bytes; 0 disables caching (every large buffer is unmapped when freed).
    /// Cached buffers beyond the new bound are unmapped at once.
    public static func setCacheLimit(_ bytes: Int) { BufferPool.shared.setLimit(max(0, bytes)) }

    /// Reuse counters since the process started: buffers served from the cache, and newly mapped.
    public static var reuseCounts: (hits: Int, misses: Int) {
        let s = BufferPool.shared.statistics
        return (s.hits, s.misses)
    }
}

/// The size-class cache behind ``TensorMemory`` (one per process, internally synchronised).
package final class BufferPool: Sendable {
    package static let shared = BufferPool(limit: TensorMemory.defaultCacheLimit, idleSeconds: TensorMemory.idleSeconds)

    struct Entry {
        var address: UInt
        /// Release order (smaller = released earlier), for evicting the oldest first.
        var sequence: UInt64
    }

    struct State {
        /// Size class (bytes) → free buffers of that class, most recently released last.
        var free: [Int: [Entry]] = [:]
        var cachedBytes = 0
        /// Bytes of pooled buffers in use, and the most ever in use at once.
        var liveBytes = 0
        var peakLiveBytes = 0
        var sequence: UInt64 = 0
        var limit: Int
        var lastActivity: UInt64 = 0
        var idleTrimScheduled = false
        var hits = 0
        var misses = 0
    }

    package struct Statistics: Sendable {
        package var cachedBytes: Int
        package var limit: Int
        package var hits: Int
        package var misses: Int
    }

    private let state: Mutex<State>
    private let idleNanoseconds: UInt64

    package init(limit: Int, idleSeconds: Double) {
        state = Mutex(State(limit: limit))
        idleNanoseconds = UInt64(max(0.001, idleSeconds) * 1e9)
    }

    /// The size class a request of `bytes` is served from: page-rounded, 8 classes per power of two.
    package static func sizeClass(_ bytes: Int) -> Int {
        let page = 4096
        let b = max(page, (bytes + page - 1) / page * page)
        let log2 = Int.bitWidth - 1 - b.leadingZeroBitCount
        let step = max(page, 1 << max(0, log2 - 3))
        return (b + step - 1) / step * step
    }

    /// Headroom above the peak of bytes in use that the cache may add: an eighth of that peak.
    /// Mapped memory (in use + cached) stays within `peak + peak / 8`, so the cache costs at most
    /// 12.5 % of the peak resident activations, yet holds buffers of the size classes a run needs.
    package static func headroom(peak: Int) -> Int { peak / 8 }

    /// A buffer of at least `bytes` bytes and its size class (pass both back to ``release(_:classBytes:)``),
    /// or nil when the system refuses the mapping.
    ///
    /// Served from the cache when a buffer of the request's class, or else of the smallest cached class up
    /// to twice it, is free; otherwise newly mapped, after unmapping the oldest cached buffers as needed to
    /// keep (in use + cached) within the peak in use plus ``headroom(peak:)``.
    package func allocate(bytes: Int) -> (UnsafeMutableRawPointer, Int)? {
        let cls = Self.sizeClass(bytes)
        let now = DispatchTime.now().uptimeNanoseconds
        let (cached, evicted): ((UInt, Int)?, [(UInt, Int)]) = state.withLock { s in
            s.lastActivity = now
            var chosen: Int? = s.free[cls] != nil ? cls : nil
            if chosen == nil {
                // Up to twice the request: a much larger buffer would hold resident memory the request does
                // not need (measured: serving any larger class raised the LiteMedSAM encoder peak RSS from 269 to 381 MB).
                for k in s.free.keys where k > cls && k <= 2 * cls && (chosen == nil || k < chosen!) { chosen = k }
            }
            if let k = chosen, let entry = s.free[k]?.popLast() {
                if s.free[k]?.isEmpty == true { s.free[k] = nil }
                s.cachedBytes -= k
                s.liveBytes += k
                s.peakLiveBytes = max(s.peakLiveBytes, s.liveBytes)
                s.hits += 1
                return ((entry.address, k), [])
            }
            s.misses += 1
            s.liveBytes += cls
            s.peakLiveBytes = max(s.peakLiveBytes, s.liveBytes)
            let budget = s.peakLiveBytes + Self.headroom(peak: s.peakLiveBytes)
            var out: [(UInt, Int)] = []
            while s.cachedBytes > 0 && s.liveBytes + s.cachedBytes > budget {
                guard let (k, _) = s.free.min(by: { ($0.value.first?.sequence ?? .max) < ($1.value.first?.sequence ?? .max) }),
                      let entry = s.free[k]?.first else { break }
                s.free[k]?.removeFirst()
                if s.free[k]?.isEmpty == true { s.free[k] = nil }
                s.cachedBytes -= k
                out.append((entry.address, k))
            }
            return (nil, out)
        }
        for (address, k) in evicted { Self.unmap(address, k) }
        if let (address, k) = cached, let p = UnsafeMutableRawPointer(bitPattern: address) { return (p, k) }
        #if canImport(Glibc) || canImport(Darwin)
        if let p = mmap(nil, cls, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON, -1, 0), p != MAP_FAILED {
            return (p, cls)
        }
        #endif
        state.withLock { s in s.liveBytes -= cls }
        return nil
    }

    /// Returns a buffer from ``allocate(bytes:)``: cached if the bound allows, unmapped otherwise.
    package func release(_ pointer: UnsafeMutableRawPointer, classBytes cls: Int) {
        let now = DispatchTime.now().uptimeNanoseconds
        let address = UInt(bitPattern: pointer)
        let (kept, schedule): (Bool, Bool) = state.withLock { s in
            s.lastActivity = now
            s.liveBytes -= cls
            guard s.cachedBytes + cls <= s.limit else { return (false, false) }
            s.sequence += 1
            s.free[cls, default: []].append(Entry(address: address, sequence: s.sequence))
            s.cachedBytes += cls
            let schedule = !s.idleTrimScheduled
            s.idleTrimScheduled = true
            return (true, schedule)
        }
        if !kept { Self.unmap(address, cls) }
        if schedule { scheduleIdleCheck(afterNanoseconds: idleNanoseconds) }
    }

    /// Unmaps every cached buffer.
    package func trim() {
        let taken = state.withLock { s in Self.takeAll(&s) }
        for (address, cls) in taken { Self.unmap(address, cls) }
    }

    package func setLimit(_ limit: Int) {
        let taken: [(UInt, Int)] = state.withLock { s in
            s.limit = limit
            var out: [(UInt, Int)] = []
            // Drop the largest classes first until the cache fits.
            for cls in s.free.keys.sorted(by: >) where s.cachedBytes > limit {
                while s.cachedBytes > limit, let e = s.free[cls]?.popLast() {
                    out.append((e.address, cls))
                    s.cachedBytes -= cls
                }
                if s.free[cls]?.isEmpty == true { s.free[cls] = nil }
            }
            return out
        }
        for (address, cls) in taken { Self.unmap(address, cls) }
    }

    package var statistics: Statistics {
        state.withLock { s in Statistics(cachedBytes: s.cachedBytes, limit: s.limit, hits: s.hits, misses: s.misses) }
    }

    private static func takeAll(_ s: inout State) -> [(UInt, Int)] {
        var out: [(UInt, Int)] = []
        for (cls, list) in s.free { for e in list { out.append((e.address, cls)) } }
        s.free = [:]
        s.cachedBytes = 0
        s.peakLiveBytes = s.liveBytes   // the next workload sets its own peak
        return out
    }

    private static func unmap(_ address: UInt, _ cls: Int) {
        #if canImport(Glibc) || canImport(Darwin)
        if let p = UnsafeMutableRawPointer(bitPattern: address) { munmap(p, cls) }
        #endif
    }

    /// Idle release: a check runs `idle` after the cache last became non-empty; it trims when nothing
    /// has been taken or returned since, and otherwise re-arms for the rest of the idle period.
    private func scheduleIdleCheck(afterNanoseconds delay: UInt64) {
        DispatchQueue.global(qos: .utility).asyncAfter(deadline: .now() + .nanoseconds(Int(delay))) { [self] in
            let now = DispatchTime.now().uptimeNanoseconds
            let idle = idleNanoseconds
            let (taken, again): ([(UInt, Int)], UInt64?) = state.withLock { s in
                let quiet = now &- s.lastActivity
                if quiet >= idle {
                    s.idleTrimScheduled = false
                    return (Self.takeAll(&s), nil)
                }
                return ([], idle - quiet)
            }
            for (address, cls) in taken { Self.unmap(address, cls) }
            if let again { scheduleIdleCheck(afterNanoseconds: again) }
        }
    }
}

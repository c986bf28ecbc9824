import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The package's memory policy for large tensor buffers: a bounded, thread-safe best-fit arena.
///
/// Every tensor buffer of at least ``TensorMemory/pooledThreshold`` bytes is carved from memory mapped from the
/// kernel (`mmap`) and, when its last tensor goes away, returned to the arena instead of being unmapped. Free
/// blocks are coalesced with their free neighbours, and a request takes the smallest free block that holds it
/// (splitting off the rest), the way ONNX Runtime's best-fit-with-coalescing arena does. So after the first
/// encoder run a run maps, faults in and zeroes no activation memory: its temporaries reuse the resident pages
/// of the previous run, whatever their sizes (a cache of whole buffers by size class, this pool's first design,
/// still mapped ~340 MB per LiteMedSAM encoder run afresh, because a run's temporaries rarely match the sizes
/// the previous run left; about a quarter of the encoder's time went to the kernel's page-fault path).
///
/// The arena is bounded twice: mapped memory (in use + free) stays within the most ever in use at once plus an
/// eighth where wholly free regions can be given back (a request that fits no free block unmaps the oldest
/// wholly free regions first), and free bytes stay within ``TensorMemory/cacheLimit`` likewise. It gives every
/// wholly free region back to the system on ``TensorMemory/trim()`` or by itself once no large buffer has been
/// taken or returned for ``TensorMemory/idleSeconds``.
public enum TensorMemory {
    /// Buffers of at least this many bytes come from the arena (smaller ones from `malloc`).
    public static let pooledThreshold = 1 << 20

    /// Default bound on the free (mapped, unused) bytes.
    public static let defaultCacheLimit = 512 << 20

    /// Seconds without large-buffer traffic after which the arena returns its free regions to the system.
    public static let idleSeconds: Double = 5

    /// Unmaps every wholly free region now (buffers in use, and the regions they are in, are not affected).
    public static func trim() { BufferPool.shared.trim() }

    /// Bytes currently free in the arena (mapped, resident, ready for reuse).
    public static var cachedBytes: Int { BufferPool.shared.statistics.cachedBytes }

    /// The bound on free bytes (default ``defaultCacheLimit``).
    public static var cacheLimit: Int { BufferPool.shared.statistics.limit }

    /// Sets the bound on free bytes; 0 disables reuse (every large buffer is its own mapping, unmapped when
    /// freed). Wholly free regions beyond the new bound are unmapped at once.
    public static func setCacheLimit(_ bytes: Int) { BufferPool.shared.setLimit(max(0, bytes)) }

    /// Counters since the process started: buffers served from free arena memory, and requests that mapped a new
    /// region.
    public static var reuseCounts: (hits: Int, misses: Int) {
        let s = BufferPool.shared.statistics
        return (s.hits, s.misses)
    }
}

/// The best-fit arena behind ``TensorMemory`` (one per process, internally synchronised).
package final class BufferPool: Sendable {
    package static let shared = BufferPool(limit: TensorMemory.defaultCacheLimit, idleSeconds: TensorMemory.idleSeconds,
                                           regionBytes: defaultRegionBytes)

    /// The smallest region the arena maps (larger requests get a region of their own size). Regions this size let
    /// neighbouring temporaries coalesce: measured on the LiteMedSAM bench process (encoder runs, then pipeline
    /// runs), peak RSS 361 MB with one region per request, 323 MB with 32 MB regions (64 MB: 335, 128 MB: 321),
    /// against 331 MB for the old size-class cache; pages of a region that are never used are never resident.
    package static let defaultRegionBytes = 32 << 20

    /// One `mmap` of the arena.
    struct Region {
        var size: Int
        /// Bytes of this region's blocks in use.
        var live = 0
        /// When it last became wholly free (smaller = earlier), for giving back the oldest first.
        var freedAt: UInt64 = 0
    }

    struct State {
        /// Region base → region.
        var regions: [UInt: Region] = [:]
        /// Free block start → (bytes, region base); `freeEnds` maps each free block's end to its start.
        var free: [UInt: (size: Int, region: UInt)] = [:]
        var freeEnds: [UInt: UInt] = [:]
        /// Block in use → its region base.
        var liveBlocks: [UInt: UInt] = [:]
        var mappedBytes = 0
        /// Bytes of blocks in use, and the most ever in use at once.
        var liveBytes = 0
        var peakLiveBytes = 0
        var sequence: UInt64 = 0
        var limit: Int
        var lastActivity: UInt64 = 0
        var idleTrimScheduled = false
        var hits = 0
        var misses = 0

        var cachedBytes: Int { mappedBytes - liveBytes }

        mutating func insertFree(_ start: UInt, _ size: Int, region: UInt) {
            free[start] = (size, region)
            freeEnds[start + UInt(size)] = start
        }

        mutating func removeFree(_ start: UInt) -> Int? {
            guard let (size, _) = free.removeValue(forKey: start) else { return nil }
            freeEnds[start + UInt(size)] = nil
            return size
        }

        /// Unmaps (after the lock: returned) wholly free regions, oldest first, while `over()` holds.
        mutating func giveBack(while over: (State) -> Bool) -> [(UInt, Int)] {
            var out: [(UInt, Int)] = []
            while over(self), let (base, r) = regions.filter({ $0.value.live == 0 }).min(by: { $0.value.freedAt < $1.value.freedAt }) {
                _ = removeFree(base)          // a wholly free region is one coalesced block
                regions[base] = nil
                mappedBytes -= r.size
                out.append((base, r.size))
            }
            return out
        }
    }

    package struct Statistics: Sendable {
        /// Free bytes (mapped, not in use).
        package var cachedBytes: Int
        package var mappedBytes: Int
        package var regions: Int
        package var limit: Int
        package var hits: Int
        package var misses: Int
    }

    private let state: Mutex<State>
    private let idleNanoseconds: UInt64
    private let regionBytes: Int

    /// - Parameter regionBytes: the smallest region mapped (0: each region is the size of the request that mapped it).
    package init(limit: Int, idleSeconds: Double, regionBytes: Int = 0) {
        state = Mutex(State(limit: limit))
        idleNanoseconds = UInt64(max(0.001, idleSeconds) * 1e9)
        self.regionBytes = Self.blockSize(max(0, regionBytes))
    }

    /// The bytes a request of `bytes` takes from the arena: whole pages.
    package static func blockSize(_ bytes: Int) -> Int {
        let page = 4096
        return max(page, (bytes + page - 1) / page * page)
    }

    /// Headroom above the peak of bytes in use that free memory may add: an eighth of that peak.
    package static func headroom(peak: Int) -> Int { peak / 8 }

    /// A buffer of at least `bytes` bytes and its block size (pass both back to ``release(_:classBytes:)``),
    /// or nil when the system refuses the mapping.
    ///
    /// Served from the smallest free block that holds it (the rest stays free); otherwise a new region is mapped,
    /// after unmapping the oldest wholly free regions as needed to keep (in use + free) within the peak in use
    /// plus ``headroom(peak:)``.
    package func allocate(bytes: Int) -> (UnsafeMutableRawPointer, Int)? {
        let size = Self.blockSize(bytes)
        let now = DispatchTime.now().uptimeNanoseconds
        let (served, evicted, regionSize): (UInt?, [(UInt, Int)], Int) = state.withLock { s in
            s.lastActivity = now
            var best: (start: UInt, size: Int, region: UInt)?
            if s.limit > 0 {
                for (start, b) in s.free where b.size >= size {
                    if best == nil || b.size < best!.size || (b.size == best!.size && start < best!.start) {
                        best = (start, b.size, b.region)
                    }
                }
            }
            s.liveBytes += size
            s.peakLiveBytes = max(s.peakLiveBytes, s.liveBytes)
            if let b = best {
                _ = s.removeFree(b.start)
                if b.size > size { s.insertFree(b.start + UInt(size), b.size - size, region: b.region) }
                s.regions[b.region]?.live += size
                s.liveBlocks[b.start] = b.region
                s.hits += 1
                return (b.start, [], 0)
            }
            s.misses += 1
            // Without reuse (limit 0) every buffer is its own mapping.
            let regionSize = s.limit > 0 ? max(size, regionBytes) : size
            let budget = s.peakLiveBytes + Self.headroom(peak: s.peakLiveBytes)
            return (nil, s.giveBack { $0.mappedBytes + regionSize > budget }, regionSize)
        }
        for (address, k) in evicted { Self.unmap(address, k) }
        if let served, let p = UnsafeMutableRawPointer(bitPattern: served) { return (p, size) }
        #if canImport(Glibc) || canImport(Darwin)
        if let p = mmap(nil, regionSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON, -1, 0), p != MAP_FAILED {
            let base = UInt(bitPattern: p)
            state.withLock { s in
                s.regions[base] = Region(size: regionSize, live: size)
                s.mappedBytes += regionSize
                s.liveBlocks[base] = base
                if regionSize > size { s.insertFree(base + UInt(size), regionSize - size, region: base) }
            }
            return (p, size)
        }
        #endif
        state.withLock { s in s.liveBytes -= size }
        return nil
    }

    /// Returns a buffer from ``allocate(bytes:)`` to the arena (coalesced with free neighbours in its region);
    /// wholly free regions beyond the free-bytes bound are unmapped.
    package func release(_ pointer: UnsafeMutableRawPointer, classBytes size: Int) {
        let now = DispatchTime.now().uptimeNanoseconds
        let address = UInt(bitPattern: pointer)
        let (unmapped, schedule): ([(UInt, Int)], Bool) = state.withLock { s in
            s.lastActivity = now
            guard let base = s.liveBlocks.removeValue(forKey: address) else {
                preconditionFailure("BufferPool.release of a buffer it did not hand out")
            }
            s.liveBytes -= size
            s.regions[base]?.live -= size
            var start = address, length = size
            if let next = s.free[address + UInt(size)], next.region == base {
                length += s.removeFree(address + UInt(size)) ?? 0
            }
            if let prev = s.freeEnds[address], s.free[prev]?.region == base {
                length += s.removeFree(prev) ?? 0
                start = prev
            }
            s.insertFree(start, length, region: base)
            if s.regions[base]?.live == 0 {
                s.sequence += 1
                s.regions[base]?.freedAt = s.sequence
            }
            let out = s.giveBack { $0.cachedBytes > $0.limit }
            let schedule = !s.idleTrimScheduled && s.cachedBytes > 0
            if schedule { s.idleTrimScheduled = true }
            return (out, schedule)
        }
        for (address, k) in unmapped { Self.unmap(address, k) }
        if schedule { scheduleIdleCheck(afterNanoseconds: idleNanoseconds) }
    }

    /// Unmaps every wholly free region.
    package func trim() {
        let taken = state.withLock { s in Self.takeAll(&s) }
        for (address, k) in taken { Self.unmap(address, k) }
    }

    package func setLimit(_ limit: Int) {
        let taken: [(UInt, Int)] = state.withLock { s in
            s.limit = limit
            return s.giveBack { $0.cachedBytes > $0.limit }
        }
        for (address, k) in taken { Self.unmap(address, k) }
    }

    package var statistics: Statistics {
        state.withLock { s in
            Statistics(cachedBytes: s.cachedBytes, mappedBytes: s.mappedBytes, regions: s.regions.count, limit: s.limit,
                       hits: s.hits, misses: s.misses)
        }
    }

    private static func takeAll(_ s: inout State) -> [(UInt, Int)] {
        let out = s.giveBack { _ in true }
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

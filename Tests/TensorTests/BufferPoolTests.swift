import Foundation
@testable import Tensor
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The size-class buffer cache behind large tensors (``TensorMemory``).
final class BufferPoolTests: XCTestCase {
    func testSizeClassesCoverRequestsWithBoundedWaste() {
        for bytes in [1, 4096, 4097, 1 << 20, (1 << 20) + 1, 3_000_000, 12_582_912, 50_331_648, 123_456_789] {
            let cls = BufferPool.sizeClass(bytes)
            XCTAssertGreaterThanOrEqual(cls, bytes)
            XCTAssertEqual(cls % 4096, 0, "classes are whole pages")
            XCTAssertLessThanOrEqual(Double(cls), max(Double(bytes) * 1.125, Double(bytes)) + 4096, "waste above 12.5 % for \(bytes)")
        }
        // Nearby sizes share a class (so a run's slightly different temporaries reuse each other's buffers).
        XCTAssertEqual(BufferPool.sizeClass(3_000_000), BufferPool.sizeClass(3_000_000 - 4096))
    }

    func testReleasedBufferIsReusedAndTrimmed() throws {
        let pool = BufferPool(limit: 64 << 20, idleSeconds: 60)
        let (p1, c1) = try XCTUnwrap(pool.allocate(bytes: 3 << 20))
        p1.storeBytes(of: 42, as: Int.self)
        pool.release(p1, classBytes: c1)
        XCTAssertEqual(pool.statistics.cachedBytes, c1)
        let (p2, c2) = try XCTUnwrap(pool.allocate(bytes: 3 << 20))
        XCTAssertEqual(p2, p1, "the cached buffer is handed out again")
        XCTAssertEqual(c2, c1)
        XCTAssertEqual(p2.load(as: Int.self), 42, "reused memory is not remapped (no fresh zero pages)")
        XCTAssertEqual(pool.statistics.hits, 1)
        XCTAssertEqual(pool.statistics.misses, 1)
        XCTAssertEqual(pool.statistics.cachedBytes, 0)
        pool.release(p2, classBytes: c2)
        pool.trim()
        XCTAssertEqual(pool.statistics.cachedBytes, 0)
        let (p3, c3) = try XCTUnwrap(pool.allocate(bytes: 3 << 20))
        XCTAssertEqual(pool.statistics.misses, 2, "after a trim the next buffer is mapped afresh")
        pool.release(p3, classBytes: c3)
        pool.trim()
    }

    func testCacheStaysWithinItsLimit() throws {
        let pool = BufferPool(limit: 8 << 20, idleSeconds: 60)
        let buffers = (0..<5).compactMap { _ in pool.allocate(bytes: 3 << 20) }
        XCTAssertEqual(buffers.count, 5)
        for (p, c) in buffers { pool.release(p, classBytes: c) }
        XCTAssertLessThanOrEqual(pool.statistics.cachedBytes, 8 << 20)
        XCTAssertGreaterThan(pool.statistics.cachedBytes, 0)
        pool.setLimit(0)
        XCTAssertEqual(pool.statistics.cachedBytes, 0, "lowering the limit unmaps what no longer fits")
        pool.trim()
    }

    func testSmallerRequestReusesALargerCachedBuffer() throws {
        let pool = BufferPool(limit: 64 << 20, idleSeconds: 60)
        let (p, c) = try XCTUnwrap(pool.allocate(bytes: 4 << 20))
        pool.release(p, classBytes: c)
        let (q, k) = try XCTUnwrap(pool.allocate(bytes: 3 << 20))      // no 3 MB buffer cached: the 4 MB one serves
        XCTAssertEqual(q, p)
        XCTAssertEqual(k, c, "the buffer keeps its own class")
        XCTAssertEqual(pool.statistics.hits, 1)
        pool.release(q, classBytes: k)
        let (r, cr) = try XCTUnwrap(pool.allocate(bytes: 1 << 20))     // 4 MB is more than twice 1 MB: not reused
        XCTAssertNotEqual(r, p)
        XCTAssertEqual(pool.statistics.misses, 2)
        pool.release(r, classBytes: cr)
        pool.trim()
    }

    /// In use + cached stays within the peak in use plus an eighth: a miss evicts cached buffers first.
    func testMappedMemoryStaysWithinPeakPlusHeadroom() throws {
        let pool = BufferPool(limit: 1 << 30, idleSeconds: 60)
        let (a, ca) = try XCTUnwrap(pool.allocate(bytes: 8 << 20))
        pool.release(a, classBytes: ca)
        XCTAssertEqual(pool.statistics.cachedBytes, 8 << 20)
        // 2 MB in use + 8 MB cached would exceed 8 MB (peak) + 1 MB (headroom): the 8 MB buffer is unmapped.
        let (b, cb) = try XCTUnwrap(pool.allocate(bytes: 2 << 20))
        XCTAssertEqual(pool.statistics.cachedBytes, 0)
        pool.release(b, classBytes: cb)
        XCTAssertEqual(pool.statistics.cachedBytes, 2 << 20)
        pool.trim()
    }

    func testIdleCacheIsReturnedToTheSystem() throws {
        let pool = BufferPool(limit: 64 << 20, idleSeconds: 0.05)
        let (p, c) = try XCTUnwrap(pool.allocate(bytes: 2 << 20))
        pool.release(p, classBytes: c)
        XCTAssertEqual(pool.statistics.cachedBytes, c)
        let deadline = Date().addingTimeInterval(5)
        while pool.statistics.cachedBytes > 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        XCTAssertEqual(pool.statistics.cachedBytes, 0, "an idle cache trims itself")
    }

    #if canImport(Glibc)
    /// Repeated large temporaries fault no pages in after the first (before the pool, each 16 MB tensor
    /// was a fresh mapping: 4,096 minor faults every time).
    func testRepeatedLargeTensorsDoNotFaultAfterWarmUp() {
        func minorFaults() -> Int {
            var u = rusage()
            getrusage(RUSAGE_SELF.rawValue, &u)
            return u.ru_minflt
        }
        let n = 4 << 20                                       // 16 MB
        var checksum = 0.0
        checksum += Tensor(shape: [n], repeating: 1).sum      // warm-up: maps and faults the buffer in
        let before = minorFaults()
        for i in 0..<20 { checksum += Tensor(shape: [n], repeating: Float(i)).sum }
        let faults = minorFaults() - before
        XCTAssertEqual(checksum, Double(n) * (1 + 190), accuracy: 1)
        XCTAssertLessThan(faults, 1000, "20 reused 16 MB tensors took \(faults) minor faults (a fresh mapping each: ≥ 81,920)")
    }
    #endif
}

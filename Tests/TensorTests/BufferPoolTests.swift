import Foundation
@testable import Tensor
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The best-fit arena behind large tensors (``TensorMemory``).
final class BufferPoolTests: XCTestCase {
    func testBlocksAreWholePages() {
        for bytes in [1, 4096, 4097, 1 << 20, (1 << 20) + 1, 3_000_000, 123_456_789] {
            let size = BufferPool.blockSize(bytes)
            XCTAssertGreaterThanOrEqual(size, bytes)
            XCTAssertEqual(size % 4096, 0, "blocks are whole pages")
            XCTAssertLessThan(size - bytes, 4096, "at most one page of waste for \(bytes)")
        }
    }

    func testReleasedBufferIsReusedAndTrimmed() throws {
        let pool = BufferPool(limit: 64 << 20, idleSeconds: 60)
        let (p1, c1) = try XCTUnwrap(pool.allocate(bytes: 3 << 20))
        p1.storeBytes(of: 42, as: Int.self)
        pool.release(p1, classBytes: c1)
        XCTAssertEqual(pool.statistics.cachedBytes, c1)
        let (p2, c2) = try XCTUnwrap(pool.allocate(bytes: 3 << 20))
        XCTAssertEqual(p2, p1, "the free block is handed out again")
        XCTAssertEqual(c2, c1)
        XCTAssertEqual(p2.load(as: Int.self), 42, "reused memory is not remapped (no fresh zero pages)")
        XCTAssertEqual(pool.statistics.hits, 1)
        XCTAssertEqual(pool.statistics.misses, 1)
        XCTAssertEqual(pool.statistics.cachedBytes, 0)
        pool.release(p2, classBytes: c2)
        pool.trim()
        XCTAssertEqual(pool.statistics.cachedBytes, 0)
        XCTAssertEqual(pool.statistics.mappedBytes, 0)
        let (p3, c3) = try XCTUnwrap(pool.allocate(bytes: 3 << 20))
        XCTAssertEqual(pool.statistics.misses, 2, "after a trim the next buffer is mapped afresh")
        pool.release(p3, classBytes: c3)
        pool.trim()
    }

    func testFreeBytesStayWithinTheLimit() throws {
        let pool = BufferPool(limit: 8 << 20, idleSeconds: 60)
        let buffers = (0..<5).compactMap { _ in pool.allocate(bytes: 3 << 20) }
        XCTAssertEqual(buffers.count, 5)
        XCTAssertEqual(pool.statistics.regions, 5)
        for (p, c) in buffers { pool.release(p, classBytes: c) }
        XCTAssertEqual(pool.statistics.cachedBytes, 6 << 20, "two 3 MB regions fit the 8 MB bound, three were unmapped")
        pool.setLimit(0)
        XCTAssertEqual(pool.statistics.cachedBytes, 0, "lowering the limit unmaps what no longer fits")
        XCTAssertEqual(pool.statistics.mappedBytes, 0)
        pool.trim()
    }

    /// A smaller request is carved from a larger free block; the rest stays free and serves the next request;
    /// released neighbours coalesce back into one block that serves the whole size again.
    func testBlocksSplitAndCoalesce() throws {
        let pool = BufferPool(limit: 64 << 20, idleSeconds: 60)
        let (p, c) = try XCTUnwrap(pool.allocate(bytes: 4 << 20))
        pool.release(p, classBytes: c)
        let (q, k) = try XCTUnwrap(pool.allocate(bytes: 3 << 20))
        XCTAssertEqual(q, p, "best fit: the 4 MB block's front")
        XCTAssertEqual(k, 3 << 20)
        let (r, kr) = try XCTUnwrap(pool.allocate(bytes: 1 << 20))
        XCTAssertEqual(r, p + (3 << 20), "the split-off rest serves the next request")
        XCTAssertEqual(pool.statistics.hits, 2)
        XCTAssertEqual(pool.statistics.misses, 1)
        XCTAssertEqual(pool.statistics.cachedBytes, 0)
        pool.release(q, classBytes: k)
        pool.release(r, classBytes: kr)
        let (w, kw) = try XCTUnwrap(pool.allocate(bytes: 4 << 20))
        XCTAssertEqual(w, p, "freed neighbours coalesce into the whole region")
        XCTAssertEqual(pool.statistics.misses, 1)
        XCTAssertEqual(pool.statistics.regions, 1)
        pool.release(w, classBytes: kw)
        pool.trim()
    }

    /// With a minimum region size, small requests share one mapping and coalesce across each other.
    func testSmallRequestsShareARegion() throws {
        let pool = BufferPool(limit: 64 << 20, idleSeconds: 60, regionBytes: 8 << 20)
        let (a, ca) = try XCTUnwrap(pool.allocate(bytes: 3 << 20))
        let (b, cb) = try XCTUnwrap(pool.allocate(bytes: 3 << 20))
        XCTAssertEqual(b, a + (3 << 20), "the second request is carved from the first one's region")
        XCTAssertEqual(pool.statistics.regions, 1)
        XCTAssertEqual(pool.statistics.mappedBytes, 8 << 20)
        XCTAssertEqual(pool.statistics.cachedBytes, 2 << 20)
        XCTAssertEqual(pool.statistics.misses, 1)
        pool.release(a, classBytes: ca)
        pool.release(b, classBytes: cb)
        let (c, cc) = try XCTUnwrap(pool.allocate(bytes: 8 << 20))
        XCTAssertEqual(c, a, "the two freed blocks and the untouched rest coalesce into the whole region")
        XCTAssertEqual(pool.statistics.misses, 1)
        let (d, cd) = try XCTUnwrap(pool.allocate(bytes: 12 << 20))
        XCTAssertEqual(pool.statistics.regions, 2, "a request above the region size gets a region of its own size")
        XCTAssertEqual(pool.statistics.mappedBytes, 20 << 20)
        pool.release(c, classBytes: cc)
        pool.release(d, classBytes: cd)
        pool.trim()
        XCTAssertEqual(pool.statistics.mappedBytes, 0)
    }

    /// Best fit: of two free blocks that hold a request, the smaller serves it.
    func testSmallestFreeBlockThatFitsIsChosen() throws {
        let pool = BufferPool(limit: 64 << 20, idleSeconds: 60)
        let (a, ca) = try XCTUnwrap(pool.allocate(bytes: 8 << 20))
        let (b, cb) = try XCTUnwrap(pool.allocate(bytes: 2 << 20))
        pool.release(a, classBytes: ca)
        pool.release(b, classBytes: cb)
        let (x, cx) = try XCTUnwrap(pool.allocate(bytes: 2 << 20))
        XCTAssertEqual(x, b)
        pool.release(x, classBytes: cx)
        pool.trim()
    }

    /// In use + free stays within the peak in use plus an eighth: a request that fits no free block unmaps
    /// wholly free regions first.
    func testMappedMemoryStaysWithinPeakPlusHeadroom() throws {
        let pool = BufferPool(limit: 1 << 30, idleSeconds: 60)
        let (a, ca) = try XCTUnwrap(pool.allocate(bytes: 8 << 20))
        pool.release(a, classBytes: ca)
        XCTAssertEqual(pool.statistics.cachedBytes, 8 << 20)
        // 16 MB does not fit the free 8 MB; 16 + 8 would exceed 16 MB (the new peak) + 2 MB: the 8 MB region goes.
        let (b, cb) = try XCTUnwrap(pool.allocate(bytes: 16 << 20))
        XCTAssertEqual(pool.statistics.cachedBytes, 0)
        XCTAssertEqual(pool.statistics.mappedBytes, 16 << 20)
        pool.release(b, classBytes: cb)
        XCTAssertEqual(pool.statistics.cachedBytes, 16 << 20)
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

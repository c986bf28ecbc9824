import Foundation
import MedSAM
@testable import MedSAMServer
import MedSAMTools
import MedicalIO
import TestSupport
import XCTest

/// The memory budget: reader limits derived from it, per-session least-recently-used eviction, compact masks,
/// and peak RSS (VmHWM) while hostile uploads are refused.
final class ServerMemoryTests: XCTestCase {
    var base: URL!

    override func setUpWithError() throws {
        base = FileManager.default.temporaryDirectory.appendingPathComponent("medsam-memory-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let base { try? FileManager.default.removeItem(at: base) }
    }

    func makeAPI(_ configure: (inout ServerConfiguration) -> Void) throws -> ServerAPI {
        var config = ServerConfiguration(workdir: base.appendingPathComponent("work"))
        configure(&config)
        return try ServerAPI(segmenter: try Segmenter(.liteMedSAM, checkpoint: try liteMedSAMCheckpoint()), configuration: config)
    }

    func upload(_ api: ServerAPI, _ data: Data, name: String, session: String = "") async -> APIResponse {
        await api.handle(APIRequest(method: "POST", path: "/api/images", query: ["name": name], body: data, session: session))
    }

    func id(_ r: APIResponse) throws -> String {
        XCTAssertEqual(r.status, 201, String(decoding: r.body, as: UTF8.self))
        return try XCTUnwrap((try JSONSerialization.jsonObject(with: r.body) as? [String: Any])?["id"] as? String)
    }

    /// `/proc/self/status` field in kB.
    static func status(_ field: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int(line.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces).split(separator: " ")[0])
        }
        return nil
    }

    /// Writes a valid file with Python's zlib/gzip streaming (the files are small; their decoded size is not).
    func python(_ script: String, _ out: URL) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, out.path]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "python3 could not write \(out.lastPathComponent)")
    }

    /// A valid 46,340² 8-bit PNG of zeros (≈2 MB) and a valid 1000³ uint8 NIfTI (≈1 MB): refused with 413
    /// before their pixels are allocated; peak RSS stays within the budget; the server keeps serving.
    func testHugeValidImagesAreRefusedWithinTheBudget() async throws {
        let budget = 256 << 20
        let api = try makeAPI { $0.memoryBudgetBytes = budget }
        let png = base.appendingPathComponent("zeros46340.png"), nii = base.appendingPathComponent("zeros1000.nii.gz")
        try python("""
        import sys, zlib, struct
        w = h = 46340
        def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
        c = zlib.compressobj(9); row = bytes(w + 1); idat = bytearray()
        for _ in range(h): idat += c.compress(row)
        idat += c.flush()
        open(sys.argv[1], 'wb').write(b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0)) + chunk(b'IDAT', bytes(idat)) + chunk(b'IEND', b''))
        """, png)
        try python("""
        import sys, gzip, struct
        hdr = bytearray(348); struct.pack_into('<i', hdr, 0, 348)
        struct.pack_into('<8h', hdr, 40, 3, 1000, 1000, 1000, 1, 1, 1, 1)
        struct.pack_into('<hh', hdr, 70, 2, 8)            # datatype uint8, bitpix 8
        struct.pack_into('<8f', hdr, 76, 1, 1, 1, 1, 1, 1, 1, 1)
        struct.pack_into('<f', hdr, 108, 352.0); struct.pack_into('<f', hdr, 112, 1.0)
        hdr[344:348] = b'n+1\\0'
        with gzip.open(sys.argv[1], 'wb', compresslevel=9) as f:
            f.write(bytes(hdr) + bytes(4)); block = bytes(1 << 24)
            for _ in range(1000 * 1000 * 1000 // len(block)): f.write(block)
            f.write(bytes(1000 * 1000 * 1000 % len(block)))
        """, nii)
        let pngData = try Data(contentsOf: png), niiData = try Data(contentsOf: nii)
        XCTAssertLessThan(pngData.count, 4 << 20)
        XCTAssertLessThan(niiData.count, 4 << 20)

        let canReset = (try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)) != nil
        let baseline = try XCTUnwrap(Self.status("VmRSS"), "no /proc/self/status")
        if !canReset { print("NOTE: cannot reset VmHWM (/proc/self/clear_refs); the peak is measured since the process started") }
        let r1 = await upload(api, pngData, name: "zeros.png")
        XCTAssertEqual(r1.status, 413, String(decoding: r1.body, as: UTF8.self))
        XCTAssertTrue(String(decoding: r1.body, as: UTF8.self).contains("too large"), String(decoding: r1.body, as: UTF8.self))
        for _ in 0..<3 {
            let r = await upload(api, niiData, name: "zeros.nii.gz")
            XCTAssertEqual(r.status, 413, String(decoding: r.body, as: UTF8.self))
        }
        let peak = try XCTUnwrap(Self.status("VmHWM"))
        if canReset {
            XCTAssertLessThan((peak - baseline) << 10, budget, "peak RSS rose \((peak - baseline) >> 10) MB above the \(budget >> 20) MB budget")
        }
        print("memory test: VmRSS before \(baseline >> 10) MB, VmHWM after \(peak >> 10) MB, budget \(budget >> 20) MB")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: base.appendingPathComponent("work").path), [])
        _ = try id(await upload(api, try Data(contentsOf: fixtureURL("io/png/gray8.png")), name: "gray8.png"))
    }

    /// Budget full: a session's own least recently used image goes before another session's; beyond
    /// `maxImages` per session only that session's images go.
    func testEvictionIsPerSessionFirst() async throws {
        let gray = try Data(contentsOf: fixtureURL("io/png/gray8.png"))
        let imageBytes = 197 * 233  // an 8-bit PNG is kept as UInt8
        // Room for 9 images (the reader limits, an eighth of the budget in elements, still take one).
        let api = try makeAPI { $0.memoryBudgetBytes = 9 * imageBytes + 1000 }
        var a = [String](), b = [String]()
        for k in 0..<4 { a.append(try id(await upload(api, gray, name: "a\(k).png", session: "A"))) }
        for k in 0..<5 { b.append(try id(await upload(api, gray, name: "b\(k).png", session: "B"))) }
        let used = await api.store.bytesInUse
        XCTAssertEqual(used, 9 * imageBytes)
        _ = await api.handle(APIRequest(method: "GET", path: "/api/images/\(a[0])"))   // a0 most recently used
        b.append(try id(await upload(api, gray, name: "b5.png", session: "B")))
        func alive(_ id: String) async -> Bool { await api.handle(APIRequest(method: "GET", path: "/api/images/\(id)")).status == 200 }
        var aliveA = [Bool](), aliveB = [Bool]()
        for x in a { aliveA.append(await alive(x)) }
        for x in b { aliveB.append(await alive(x)) }
        XCTAssertEqual(aliveA, [true, true, true, true], "B's own old image made the room, not A's")
        XCTAssertEqual(aliveB, [false, true, true, true, true, true])
        // A session with no image of its own to give: the globally least recently used goes.
        let c1 = try id(await upload(api, gray, name: "c1.png", session: "C"))
        var left = await alive(c1) ? 1 : 0
        for x in a + b.dropFirst() { if await alive(x) { left += 1 } }
        XCTAssertEqual(left, 9)

        let perSession = try makeAPI { $0.maxImages = 2 }
        let x = try id(await upload(perSession, gray, name: "x.png", session: "X"))
        var ys = [String]()
        for k in 0..<3 { ys.append(try id(await upload(perSession, gray, name: "y\(k).png", session: "Y"))) }
        let status = { (id: String) async in await perSession.handle(APIRequest(method: "GET", path: "/api/images/\(id)")).status }
        let sx = await status(x), sy0 = await status(ys[0]), sy2 = await status(ys[2])
        XCTAssertEqual([sx, sy0, sy2], [200, 404, 200], "Y's uploads evict Y's oldest image, never X's")
    }

    /// A mask is kept run-length coded; embeddings and masks count against the budget.
    func testMasksAreCompactAndCounted() async throws {
        let api = try makeAPI { _ in }
        let info = try id(await upload(api, try Data(contentsOf: fixtureURL("io/dicom/dicompyler_ct.0.dcm")), name: "ct.dcm"))
        let before = await api.store.bytesInUse
        XCTAssertEqual(before, 512 * 512 * 2, "CT in Hounsfield units is kept as Int16")
        let r = await api.handle(APIRequest(method: "POST", path: "/api/images/\(info)/slices/0/masks",
                                            body: Data("{\"box\":[87,97,345,305]}".utf8)))
        XCTAssertEqual(r.status, 201, String(decoding: r.body, as: UTF8.self))
        let after = await api.store.bytesInUse
        let embedding = 256 * 64 * 64 * 4
        let maskBytes = after - before - embedding
        XCTAssertGreaterThan(maskBytes, 0)
        XCTAssertLessThan(maskBytes, 512 * 512 / 8, "the stored mask is smaller than even a bit-packed one (\(maskBytes) bytes)")
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: r.body) as? [String: Any])
        let rle = try XCTUnwrap(json["rle"] as? [Int])
        XCTAssertEqual(maskBytes, rle.count * 8 + 256)
        XCTAssertEqual(json["area"] as? Int, stride(from: 1, to: rle.count, by: 2).reduce(0) { $0 + rle[$1] })
    }

    func testDefaultBudgetIsAQuarterOfTheMachine() {
        let physical = Int(ProcessInfo.processInfo.physicalMemory)
        let budget = ServerConfiguration.defaultMemoryBudget()
        XCTAssertLessThanOrEqual(budget, physical / 4)
        XCTAssertGreaterThanOrEqual(budget, 64 << 20)
        var c = ServerConfiguration(workdir: base)
        c.memoryBudgetBytes = 800 << 20
        XCTAssertEqual(c.readerLimits.maxElements, 100 << 20)
        XCTAssertEqual(c.readerLimits.maxBytes, 200 << 20)
    }

    /// Uploads are kept in their stored type: an 8-bit PNG costs 1 byte per value, a 16-bit one 2.
    func testImagesAreKeptInTheirStoredType() async throws {
        let api = try makeAPI { _ in }
        _ = try id(await upload(api, try Data(contentsOf: fixtureURL("io/png/gray8.png")), name: "gray8.png"))
        let afterGray8 = await api.store.bytesInUse
        XCTAssertEqual(afterGray8, 197 * 233)
        let values = (0..<(300 * 200)).map { UInt16(($0 * 37) % 65536) }
        let png16 = try PNGFile.encode(try Image(uint16: values, width: 300, height: 200), bitDepth: 16)
        _ = try id(await upload(api, png16, name: "gray16.png"))
        let afterGray16 = await api.store.bytesInUse
        XCTAssertEqual(afterGray16 - afterGray8, 300 * 200 * 2)
    }

    /// A request's working memory (the slice windowed, full-size probabilities, a label file) is held against the
    /// budget while it runs: embeddings make room first; a request that cannot fit beside its image is 413; room
    /// held by other requests in progress is 503; nothing stays reserved afterwards.
    func testRequestWorkingMemoryIsCounted() async throws {
        let gray = try Data(contentsOf: fixtureURL("io/png/gray8.png"))
        let imageBytes = 197 * 233
        let maskBox = Data("{\"box\":[40,40,150,180]}".utf8)

        // Budget too small for a mask on this image: 413 with the reason; the server goes on answering.
        let small = try makeAPI { $0.memoryBudgetBytes = imageBytes + 1 << 20 }
        let s1 = try id(await upload(small, gray, name: "g.png"))
        let refused = await small.handle(APIRequest(method: "POST", path: "/api/images/\(s1)/slices/0/masks", body: maskBox))
        XCTAssertEqual(refused.status, 413, String(decoding: refused.body, as: UTF8.self))
        XCTAssertTrue(String(decoding: refused.body, as: UTF8.self).contains("working memory"))
        let inFlightAfterRefusal = await small.store.inFlightBytes
        XCTAssertEqual(inFlightAfterRefusal, 0)
        let info = await small.handle(APIRequest(method: "GET", path: "/api/info"))
        XCTAssertEqual(info.status, 200)

        // Enough budget: the mask is made, and only the image, its embedding and its mask stay counted.
        let api = try makeAPI { $0.memoryBudgetBytes = 64 << 20 }
        let a = try id(await upload(api, gray, name: "a.png"))
        let ok = await api.handle(APIRequest(method: "POST", path: "/api/images/\(a)/slices/0/masks", body: maskBox))
        XCTAssertEqual(ok.status, 201, String(decoding: ok.body, as: UTF8.self))
        let rle = try XCTUnwrap((try JSONSerialization.jsonObject(with: ok.body) as? [String: Any])?["rle"] as? [Int])
        let used = await api.store.bytesInUse
        XCTAssertEqual(used, imageBytes + 256 * 64 * 64 * 4 + rle.count * 8 + 256)
        let inFlight = await api.store.inFlightBytes
        XCTAssertEqual(inFlight, 0)

        // Reservations directly: counted while held; the cached embedding goes first when the room is needed;
        // a second request that cannot fit beside the first is 503.
        let img = try await api.store.image(a)
        let working = WorkingMemory.mask(img)
        let budget = 64 << 20
        let embeddingsBefore = await api.store.embeddingCount
        XCTAssertEqual(embeddingsBefore, 1)
        let big = budget - imageBytes - img.maskBytes - 1000   // fits only without the embedding
        try await api.store.reserve(big, on: a, what: "a test")
        let (held, embeddingsNow) = (await api.store.inFlightBytes, await api.store.embeddingCount)
        XCTAssertEqual(held, big)
        XCTAssertEqual(embeddingsNow, 0, "the embedding made room for the request")
        do {
            try await api.store.reserve(working, on: a, what: "a mask")
            XCTFail("a second reservation beyond the budget was granted")
        } catch let e as APIError {
            XCTAssertEqual(e.status, 503)
        }
        await api.store.release(big)
        let released = await api.store.inFlightBytes
        XCTAssertEqual(released, 0)
    }

    /// The working-memory estimate of a mask is an upper bound of what one costs: peak RSS (VmHWM) during a box on
    /// a cached embedding of a 3000² image rises by less than ``WorkingMemory/mask(_:)``.
    func testMaskWorkingMemoryEstimateBoundsThePeak() async throws {
        let w = 3000, h = 3000
        let values = (0..<(w * h)).map { i -> UInt8 in
            let x = i % w, y = i / w
            return (x - 1500) * (x - 1500) + (y - 1500) * (y - 1500) < 600 * 600 ? 200 : 30
        }
        let png = try PNGFile.encode(try Image(uint8: values, width: w, height: h))
        let api = try makeAPI { $0.memoryBudgetBytes = 4 << 30 }
        let a = try id(await upload(api, png, name: "disc.png"))
        let e = await api.handle(APIRequest(method: "POST", path: "/api/images/\(a)/slices/0/embedding"))
        XCTAssertEqual(e.status, 200, String(decoding: e.body, as: UTF8.self))
        let box = Data("{\"box\":[800,800,2200,2200]}".utf8)
        // A first mask warms the decoder's buffers; the second is measured.
        let warm = await api.handle(APIRequest(method: "POST", path: "/api/images/\(a)/slices/0/masks", body: box))
        XCTAssertEqual(warm.status, 201)
        guard (try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)) != nil else {
            throw XCTSkip("cannot reset VmHWM (/proc/self/clear_refs) on this machine: the peak of one request cannot be measured")
        }
        let baseline = try XCTUnwrap(Self.status("VmHWM"))
        let r = await api.handle(APIRequest(method: "POST", path: "/api/images/\(a)/slices/0/masks", body: box))
        XCTAssertEqual(r.status, 201)
        let peak = try XCTUnwrap(Self.status("VmHWM"))
        let estimate = WorkingMemory.mask(try await api.store.image(a))
        print("mask working memory on \(w)×\(h): peak rise \((peak - baseline) >> 10) MB, estimate \(estimate >> 20) MB")
        XCTAssertLessThan((peak - baseline) << 10, estimate)

        // An embedding under another window (the encoder's buffers are warm): reading, windowing and resizing the
        // slice stay under ``WorkingMemory/embedding(_:)``.
        _ = try "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
        let before = try XCTUnwrap(Self.status("VmHWM"))
        let e2 = await api.handle(APIRequest(method: "POST", path: "/api/images/\(a)/slices/0/embedding", query: ["window": "none"]))
        XCTAssertEqual(e2.status, 200, String(decoding: e2.body, as: UTF8.self))
        let after = try XCTUnwrap(Self.status("VmHWM"))
        let embeddingEstimate = WorkingMemory.embedding(try await api.store.image(a))
        print("embedding working memory on \(w)×\(h): peak rise \((after - before) >> 10) MB, estimate \(embeddingEstimate >> 20) MB")
        XCTAssertLessThan((after - before) << 10, embeddingEstimate)
    }
}

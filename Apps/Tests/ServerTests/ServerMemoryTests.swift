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
        let imageBytes = 197 * 233 * 4
        let api = try makeAPI { $0.memoryBudgetBytes = 3 * imageBytes + 1000 }
        let a1 = try id(await upload(api, gray, name: "a1.png", session: "A"))
        let a2 = try id(await upload(api, gray, name: "a2.png", session: "A"))
        let b1 = try id(await upload(api, gray, name: "b1.png", session: "B"))
        let used = await api.store.bytesInUse
        XCTAssertEqual(used, 3 * imageBytes)
        _ = await api.handle(APIRequest(method: "GET", path: "/api/images/\(a1)"))   // a1 most recently used
        let b2 = try id(await upload(api, gray, name: "b2.png", session: "B"))
        func alive(_ id: String) async -> Bool { await api.handle(APIRequest(method: "GET", path: "/api/images/\(id)")).status == 200 }
        let (ka1, ka2, kb1, kb2) = (await alive(a1), await alive(a2), await alive(b1), await alive(b2))
        XCTAssertEqual([ka1, ka2, kb1, kb2], [true, true, false, true], "B's own old image made the room, not A's")
        // A session with no image of its own to give: the globally least recently used goes.
        let c1 = try id(await upload(api, gray, name: "c1.png", session: "C"))
        let left = await [alive(a1), alive(a2), alive(b2), alive(c1)].filter { $0 }.count
        XCTAssertEqual(left, 3)

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
        XCTAssertEqual(before, 512 * 512 * 4)
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
}

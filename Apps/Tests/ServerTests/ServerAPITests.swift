import Foundation
import ImageEncoder
import Imaging
import MedSAM
import MedSAMTools
import MedicalIO
import NN
import Preprocess
import PromptEncoder
import Tensor
import TestSupport
import XCTest
@testable import MedSAMServer

/// The JSON API of `medsam serve`, called directly (no sockets): every endpoint, every error status, and masks
/// equal to the library's own result for the same prompt.
final class ServerAPITests: XCTestCase {
    var workdir: URL!

    override func setUpWithError() throws {
        workdir = FileManager.default.temporaryDirectory.appendingPathComponent("medsam-server-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws {
        if let workdir { try? FileManager.default.removeItem(at: workdir) }
    }

    func makeAPI(_ configure: (inout ServerConfiguration) -> Void = { _ in }) throws -> (ServerAPI, Segmenter) {
        let segmenter = try Segmenter(.liteMedSAM, checkpoint: try liteMedSAMCheckpoint())
        var config = ServerConfiguration(workdir: workdir)
        configure(&config)
        return (try ServerAPI(segmenter: segmenter, configuration: config), segmenter)
    }

    func json(_ r: APIResponse, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        XCTAssertEqual(r.contentType, "application/json", file: file, line: line)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: r.body) as? [String: Any], file: file, line: line)
    }

    func assertError(_ r: APIResponse, _ status: Int, mentioning text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(r.status, status, String(decoding: r.body, as: UTF8.self), file: file, line: line)
        let message = try json(r, file: file, line: line)["error"] as? String ?? ""
        XCTAssertTrue(message.lowercased().contains(text.lowercased()), "'\(message)' should mention '\(text)'", file: file, line: line)
    }

    func upload(_ api: ServerAPI, _ url: URL, name: String? = nil) async throws -> [String: Any] {
        let r = await api.handle(APIRequest(method: "POST", path: "/api/images", query: ["name": name ?? url.lastPathComponent],
                                            body: try Data(contentsOf: url)))
        XCTAssertEqual(r.status, 201, String(decoding: r.body, as: UTF8.self))
        return try json(r)
    }

    func mask(_ api: ServerAPI, image id: String, slice: Int = 0, window: String? = nil, body: String) async -> APIResponse {
        var q = [String: String]()
        if let window { q["window"] = window }
        return await api.handle(APIRequest(method: "POST", path: "/api/images/\(id)/slices/\(slice)/masks", query: q, body: Data(body.utf8)))
    }

    static let ct = fixtureURL("io/dicom/dicompyler_ct.0.dcm")

    // MARK: page and info

    func testPageInfoAndUnknownPaths() async throws {
        let (api, _) = try makeAPI()
        let page = await api.handle(APIRequest(method: "GET", path: "/"))
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.contentType.hasPrefix("text/html"))
        let html = String(decoding: page.body, as: UTF8.self)
        XCTAssertTrue(html.contains("/app.js") && html.contains("id=\"canvas\""), "index.html links app.js and has the canvas")
        let js = await api.handle(APIRequest(method: "GET", path: "/app.js"))
        XCTAssertEqual(js.status, 200)
        XCTAssertTrue(js.contentType.hasPrefix("text/javascript"))
        XCTAssertTrue(String(decoding: js.body, as: UTF8.self).contains("/api/images"))

        let info = try json(await api.handle(APIRequest(method: "GET", path: "/api/info")))
        XCTAssertEqual(info["model"] as? String, "LiteMedSAM")
        XCTAssertEqual(info["inputSize"] as? Int, 256)
        XCTAssertEqual(info["maxUploadBytes"] as? Int, 512 << 20)

        try assertError(await api.handle(APIRequest(method: "GET", path: "/etc/passwd")), 404, mentioning: "no such page")
        try assertError(await api.handle(APIRequest(method: "GET", path: "/../../etc/passwd")), 404, mentioning: "no such")
        try assertError(await api.handle(APIRequest(method: "GET", path: "/api/nothing")), 404, mentioning: "no such API endpoint")
        try assertError(await api.handle(APIRequest(method: "POST", path: "/")), 405, mentioning: "use GET")
        try assertError(await api.handle(APIRequest(method: "GET", path: "/api/images")), 405, mentioning: "use POST")
    }

    // MARK: uploads

    func testBadUploadsGiveCleanErrorsAndLeaveNothingBehind() async throws {
        let (api, _) = try makeAPI { $0.maxUploadBytes = 64 << 10 }
        try assertError(await api.handle(APIRequest(method: "POST", path: "/api/images", query: ["name": "x.png"])),
                        400, mentioning: "empty upload")
        try assertError(await api.handle(APIRequest(method: "POST", path: "/api/images", query: ["name": "notes.txt"],
                                                    body: Data("hello, not an image".utf8))), 415, mentioning: "unknown file format")
        let png = try Data(contentsOf: fixtureURL("io/png/gray8.png"))
        try assertError(await api.handle(APIRequest(method: "POST", path: "/api/images", query: ["name": "cut.png"],
                                                    body: png.prefix(60))), 400, mentioning: "cut.png")
        let dcm = try Data(contentsOf: fixtureURL("io/dicom/MR_truncated.dcm"))
        let r = await api.handle(APIRequest(method: "POST", path: "/api/images", query: ["name": "t.dcm"], body: dcm))
        XCTAssertEqual(r.status, 400, String(decoding: r.body, as: UTF8.self))
        // Larger than the limit (the HTTP layer refuses it before reading; the API checks again).
        try assertError(await api.handle(APIRequest(method: "POST", path: "/api/images", query: ["name": "big.png"],
                                                    body: Data(count: (64 << 10) + 1))), 413, mentioning: "exceeds the limit")
        // Nothing of the failed uploads stays in the working folder.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: workdir.path), [])
    }

    func testUploadNameCannotEscapeTheWorkingFolder() async throws {
        let (api, _) = try makeAPI()
        let info = try await upload(api, fixtureURL("io/png/gray8.png"), name: "../../../../tmp/evil name\u{0}.png")
        let id = try XCTUnwrap(info["id"] as? String)
        XCTAssertEqual(info["name"] as? String, "evilname.png")
        let stored = try FileManager.default.contentsOfDirectory(atPath: workdir.appendingPathComponent(id).path)
        XCTAssertEqual(stored, ["evilname.png"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: workdir.path), [id])
        XCTAssertEqual(ServerAPI.safeName("..."), "upload")
        XCTAssertEqual(ServerAPI.safeName("a/b\\..\\.hidden.nii.gz"), "hidden.nii.gz")
    }

    func testUnknownIdsAre404() async throws {
        let (api, _) = try makeAPI()
        let ghost = String(repeating: "ab", count: 16)
        try assertError(await api.handle(APIRequest(method: "GET", path: "/api/images/\(ghost)")), 404, mentioning: "unknown image id")
        try assertError(await api.handle(APIRequest(method: "GET", path: "/api/images/..%2F..%2Fetc")), 404, mentioning: "unknown id")
        try assertError(await api.handle(APIRequest(method: "DELETE", path: "/api/images/\(ghost)")), 404, mentioning: "unknown image id")
        try assertError(await mask(api, image: ghost, body: "{\"box\":[1,1,5,5]}"), 404, mentioning: "unknown image id")
        try assertError(await api.handle(APIRequest(method: "POST", path: "/api/images/\(ghost)/slices/0/embedding")),
                        404, mentioning: "unknown image id")
        let info = try await upload(api, fixtureURL("io/png/gray8.png"))
        let id = try XCTUnwrap(info["id"] as? String)
        try assertError(await api.handle(APIRequest(method: "DELETE", path: "/api/images/\(id)/masks/\(ghost)")), 404, mentioning: "unknown mask id")
        try assertError(await api.handle(APIRequest(method: "GET", path: "/api/images/\(id)/labels.png", query: ["masks": ghost])),
                        404, mentioning: "unknown mask id")
        try assertError(await api.handle(APIRequest(method: "GET", path: "/api/images/\(id)/labels.png")), 400, mentioning: "masks")
        let deleted = await api.handle(APIRequest(method: "DELETE", path: "/api/images/\(id)"))
        XCTAssertEqual(deleted.status, 204)
        XCTAssertFalse(FileManager.default.fileExists(atPath: workdir.appendingPathComponent(id).path), "folder removed with the image")
        try assertError(await api.handle(APIRequest(method: "GET", path: "/api/images/\(id)")), 404, mentioning: "unknown image id")
    }

    // MARK: segmentation

    /// Upload a real CT slice, segment a box: the mask is the library's own result, the second box reuses the
    /// embedding, bad prompts are 400s, a refinement replaces the mask in place, and the label PNG is what
    /// `medsam segment` writes.
    func testMasksEqualTheLibrarysResult() async throws {
        let (api, segmenter) = try makeAPI()
        let info = try await upload(api, Self.ct)
        let id = try XCTUnwrap(info["id"] as? String)
        XCTAssertEqual(info["width"] as? Int, 512)
        XCTAssertEqual(info["height"] as? Int, 512)
        XCTAssertEqual(info["slices"] as? Int, 1)
        XCTAssertEqual(info["isCT"] as? Bool, true)
        XCTAssertEqual(info["windowDescription"] as? String, "CT: soft-tissue window L 40 / W 400")
        XCTAssertEqual(info["downloads"] as? [String], ["png"])

        // The slice image is the 8-bit image the model sees.
        let input = try SegmentInput.load(Self.ct, window: nil, slice: nil)
        let png = await api.handle(APIRequest(method: "GET", path: "/api/images/\(id)/slices/0/image.png"))
        XCTAssertEqual(png.status, 200)
        XCTAssertEqual(try PNGFile.decode(png.body).pixels, input.image.pixels)

        let box = Box(x0: 87, y0: 97, x1: 345, y1: 305)
        let expected = try segmenter.segment(try segmenter.embed(input.image), prompts: [.box(box)])[0]
        let first = await mask(api, image: id, body: "{\"box\":[87,97,345,305]}")
        XCTAssertEqual(first.status, 201, String(decoding: first.body, as: UTF8.self))
        let m1 = try json(first)
        let rle = try XCTUnwrap(m1["rle"] as? [Int])
        XCTAssertEqual(rle.reduce(0, +), 512 * 512)
        XCTAssertEqual(RunLength.decode(rle, count: 512 * 512), expected.mask, "mask = Segmenter.segment for the same box")
        XCTAssertEqual(m1["area"] as? Int, expected.area)
        XCTAssertEqual(m1["iou"] as? Double ?? 0, Double(expected.iouScore), accuracy: 1e-6)
        let seconds1 = try XCTUnwrap(m1["seconds"] as? [String: Double])
        XCTAssertGreaterThan(seconds1["embedding"] ?? 0, 0, "the first box computes the embedding")

        let second = try json(await mask(api, image: id, body: "{\"box\":[300,150,480,290]}"))
        XCTAssertEqual((second["seconds"] as? [String: Double])?["embedding"], 0, "the second box reuses the cached embedding")
        let embedAgain = try json(await api.handle(APIRequest(method: "POST", path: "/api/images/\(id)/slices/0/embedding")))
        XCTAssertEqual(embedAgain["cached"] as? Bool, true)

        // Bad prompts and parameters.
        try assertError(await mask(api, image: id, body: "{\"box\":[400,400,600,600]}"), 400, mentioning: "outside")
        try assertError(await mask(api, image: id, body: "{\"box\":[300,300,100,100]}"), 400, mentioning: "inverted")
        try assertError(await mask(api, image: id, body: "{\"box\":[10,10,10,50]}"), 400, mentioning: "zero width")
        try assertError(await mask(api, image: id, body: "{\"box\":[1,2,3]}"), 400, mentioning: "x0,y0,x1,y1")
        try assertError(await mask(api, image: id, body: "{\"box\":\"everything\"}"), 400, mentioning: "expected JSON")
        try assertError(await mask(api, image: id, body: "{}"), 400, mentioning: "needs a box or points")
        try assertError(await mask(api, image: id, body: "{\"points\":[[600,10,1]]}"), 400, mentioning: "outside")
        try assertError(await mask(api, image: id, body: "{\"points\":[[6,10,7]]}"), 400, mentioning: "label")
        try assertError(await mask(api, image: id, window: "purple", body: "{\"box\":[1,1,9,9]}"), 400, mentioning: "unknown window")
        try assertError(await mask(api, image: id, slice: 1, body: "{\"box\":[1,1,9,9]}"), 400, mentioning: "slices 0…0")
        try assertError(await mask(api, image: id, body: "{\"box\":[87,97,345,305],\"replaces\":\"\(String(repeating: "0", count: 32))\"}"),
                        404, mentioning: "unknown mask id")

        // Refine mask 1 with a positive point: replaces it in place, equals the library's box+point result.
        let id1 = try XCTUnwrap(m1["id"] as? String), id2 = try XCTUnwrap(second["id"] as? String)
        let refined = try json(await mask(api, image: id, body: "{\"box\":[87,97,345,305],\"points\":[[200,150,1]],\"replaces\":\"\(id1)\"}"))
        let id1b = try XCTUnwrap(refined["id"] as? String)
        var prompt = SegmentationPrompt.box(box)
        prompt.points = [Point(x: 200, y: 150, positive: true)]
        let expectedRefined = try segmenter.segment(try segmenter.embed(input.image), prompts: [prompt])[0]
        XCTAssertEqual(RunLength.decode(try XCTUnwrap(refined["rle"] as? [Int]), count: 512 * 512), expectedRefined.mask)
        let gone = await api.handle(APIRequest(method: "GET", path: "/api/images/\(id)/masks/\(id1)"))
        XCTAssertEqual(gone.status, 404, "replaced mask is gone")

        // Labels PNG = what `medsam segment` writes for the same label map (later masks win).
        let labels = await api.handle(APIRequest(method: "GET", path: "/api/images/\(id)/labels.png", query: ["masks": "\(id1b),\(id2)"]))
        XCTAssertEqual(labels.status, 200)
        XCTAssertEqual(labels.headers["Content-Disposition"], "attachment; filename=\"dicompyler_ct.0-labels.png\"")
        let got = try PNGFile.decode(labels.body)
        let m2 = try XCTUnwrap(RunLength.decode(try XCTUnwrap(second["rle"] as? [Int]), count: 512 * 512))
        var want = [Float](repeating: 0, count: 512 * 512)
        for i in 0..<want.count {
            if expectedRefined.mask[i] != 0 { want[i] = 1 }
            if m2[i] != 0 { want[i] = 2 }
        }
        XCTAssertEqual(got.pixels, want)
        try assertError(await api.handle(APIRequest(method: "GET", path: "/api/images/\(id)/labels.nii.gz", query: ["masks": id2])),
                        400, mentioning: "only for NIfTI input")

        let deleted = await api.handle(APIRequest(method: "DELETE", path: "/api/images/\(id)/masks/\(id2)"))
        XCTAssertEqual(deleted.status, 204)
        try assertError(await api.handle(APIRequest(method: "GET", path: "/api/images/\(id)/labels.png", query: ["masks": id2])),
                        404, mentioning: "unknown mask id")
    }

    /// A NIfTI volume: masks on two slices; labels.png refuses the mix, labels.nii.gz keeps the input's geometry
    /// and puts each mask on its own slice (read back through the NIfTI reader, in display orientation).
    func testNIfTIVolumeLabelsAlignWithTheInput() async throws {
        let (api, _) = try makeAPI()
        let url = fixtureURL("io/nifti/mni152_t1_z55-65.nii.gz")
        let source = try NIfTIImage.read(url)
        let info = try await upload(api, url)
        let id = try XCTUnwrap(info["id"] as? String)
        let w = try XCTUnwrap(info["width"] as? Int), h = try XCTUnwrap(info["height"] as? Int)
        XCTAssertEqual(info["slices"] as? Int, source.volume.depth)
        XCTAssertEqual(info["downloads"] as? [String], ["png", "nii.gz"])
        let a = try json(await mask(api, image: id, slice: 2, body: "{\"box\":[40,40,150,170]}"))
        let b = try json(await mask(api, image: id, slice: 7, body: "{\"box\":[30,50,100,150]}"))
        let ida = try XCTUnwrap(a["id"] as? String), idb = try XCTUnwrap(b["id"] as? String)
        try assertError(await api.handle(APIRequest(method: "GET", path: "/api/images/\(id)/labels.png", query: ["masks": "\(ida),\(idb)"])),
                        400, mentioning: "different slices")
        let r = await api.handle(APIRequest(method: "GET", path: "/api/images/\(id)/labels.nii.gz", query: ["masks": "\(ida),\(idb)"]))
        XCTAssertEqual(r.status, 200, String(decoding: r.body, as: UTF8.self))
        let out = try NIfTIImage.parse(r.body)
        XCTAssertEqual(out.dim, source.dim)
        XCTAssertEqual(out.pixdim, source.pixdim)
        XCTAssertEqual(out.affine, source.affine)
        let maskA = try XCTUnwrap(RunLength.decode(try XCTUnwrap(a["rle"] as? [Int]), count: w * h))
        let maskB = try XCTUnwrap(RunLength.decode(try XCTUnwrap(b["rle"] as? [Int]), count: w * h))
        XCTAssertGreaterThan(maskA.reduce(0) { $0 + Int($1) }, 100)
        for k in 0..<source.volume.depth {
            let slice = try out.axialSlice(k).pixels
            let want: [Float] = k == 2 ? maskA.map { $0 != 0 ? 1 : 0 } : k == 7 ? maskB.map { $0 != 0 ? 2 : 0 } : [Float](repeating: 0, count: w * h)
            XCTAssertEqual(slice, want, "slice \(k)")
        }
    }

    /// Three boxes sent at once on a new image: the embedding is computed once and shared.
    func testConcurrentRequestsShareOneEmbedding() async throws {
        let (api, _) = try makeAPI()
        let uploaded = try await upload(api, fixtureURL("io/png/rgb8.png"))
        let id = try XCTUnwrap(uploaded["id"] as? String)
        let results = await withTaskGroup(of: Int.self) { group in
            for b in ["[2,2,20,20]", "[5,5,30,25]", "[1,3,12,28]"] {
                group.addTask {
                    await api.handle(APIRequest(method: "POST", path: "/api/images/\(id)/slices/0/masks",
                                                body: Data("{\"box\":\(b)}".utf8))).status
                }
            }
            var all = [Int]()
            for await s in group { all.append(s) }
            return all
        }
        XCTAssertEqual(results, [201, 201, 201])
        let passes = await api.store.encoderPasses
        XCTAssertEqual(passes, 1)
    }

    /// Beyond `maxImages`, the least recently used image goes, with its folder.
    func testOldImagesAreDropped() async throws {
        let (api, _) = try makeAPI { $0.maxImages = 2 }
        var ids = [String]()
        for name in ["gray8.png", "rgb8.png", "palette.png"] {
            let uploaded = try await upload(api, fixtureURL("io/png/\(name)"))
            ids.append(try XCTUnwrap(uploaded["id"] as? String))
        }
        let oldest = await api.handle(APIRequest(method: "GET", path: "/api/images/\(ids[0])"))
        let newest = await api.handle(APIRequest(method: "GET", path: "/api/images/\(ids[2])"))
        XCTAssertEqual(oldest.status, 404)
        XCTAssertEqual(newest.status, 200)
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: workdir.path)), Set(ids[1...]))
    }

    func testRunLengthCode() {
        XCTAssertEqual(RunLength.encode([0, 0, 1, 1, 1, 0]), [2, 3, 1])
        XCTAssertEqual(RunLength.encode([1, 0]), [0, 1, 1])
        XCTAssertEqual(RunLength.encode([]), [0])
        XCTAssertEqual(RunLength.decode([0, 1, 1], count: 2), [1, 0])
        XCTAssertNil(RunLength.decode([2, 3], count: 4), "runs longer than the mask")
        XCTAssertNil(RunLength.decode([1, -1, 2], count: 2), "negative run")
        XCTAssertNil(RunLength.decode([1], count: 2), "runs shorter than the mask")
    }

    func testMissingWebFilesAreATypedError() throws {
        let segmenter = try Segmenter(.liteMedSAM, checkpoint: try liteMedSAMCheckpoint())
        var config = ServerConfiguration(workdir: workdir)
        config.webRoot = workdir.appendingPathComponent("no-such-folder")
        XCTAssertThrowsError(try ServerAPI(segmenter: segmenter, configuration: config)) { error in
            XCTAssertTrue(String(describing: error).contains("index.html"), "\(error)")
        }
    }
}

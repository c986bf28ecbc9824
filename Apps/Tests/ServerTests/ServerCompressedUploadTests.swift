import Foundation
import MedSAM
import MedicalIO
import TestSupport
import XCTest
@testable import MedSAMServer

/// The web page's path for compressed DICOM (issue 15): a real CT slice uploaded as RLE Lossless and as JPEG 2000
/// Lossless (copies made at test time by pydicom / pylibjpeg-openjpeg) shows the same slice picture and gives the
/// same mask for the same box as the uncompressed file.
final class ServerCompressedUploadTests: XCTestCase {
    func testCompressedCTUploadsSegmentLikeTheUncompressedFile() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("medsam-server-codec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let api = try ServerAPI(segmenter: try Segmenter(.liteMedSAM, checkpoint: try liteMedSAMCheckpoint()),
                                configuration: ServerConfiguration(workdir: dir.appendingPathComponent("work")))
        let native = fixtureURL("io/dicom/dicompyler_ct.0.dcm")

        func result(_ file: URL) async throws -> (png: Data, rle: [Int]) {
            let up = await api.handle(APIRequest(method: "POST", path: "/api/images", query: ["name": file.lastPathComponent],
                                                 body: try Data(contentsOf: file)))
            XCTAssertEqual(up.status, 201, String(decoding: up.body, as: UTF8.self))
            let id = try XCTUnwrap((try JSONSerialization.jsonObject(with: up.body) as? [String: Any])?["id"] as? String)
            let png = await api.handle(APIRequest(method: "GET", path: "/api/images/\(id)/slices/0/image.png"))
            XCTAssertEqual(png.status, 200)
            let mask = await api.handle(APIRequest(method: "POST", path: "/api/images/\(id)/slices/0/masks",
                                                   body: Data("{\"box\":[87,97,345,305]}".utf8)))
            XCTAssertEqual(mask.status, 201, String(decoding: mask.body, as: UTF8.self))
            let rle = try XCTUnwrap((try JSONSerialization.jsonObject(with: mask.body) as? [String: Any])?["rle"] as? [Int])
            return (png.body, rle)
        }
        let expected = try await result(native)
        XCTAssertGreaterThan(expected.rle.count, 2, "a non-empty mask")
        for syntax in ["RLELossless", "JPEG2000Lossless"] {
            let file = dir.appendingPathComponent("ct_\(syntax).dcm")
            try TestTools.compressDICOM(native, to: file, syntax: syntax)
            let got = try await result(file)
            XCTAssertEqual(try PNGFile.decode(got.png).pixels, try PNGFile.decode(expected.png).pixels, "\(syntax): slice picture")
            XCTAssertEqual(got.rle, expected.rle, "\(syntax): the same mask as the uncompressed upload")
        }
    }
}

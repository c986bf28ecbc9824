import Foundation
import Imaging
import MedSAM
import MedSAMTools
import MedicalIO
import TestSupport
import XCTest
@testable import MedSAMServer

/// NRRD and MetaImage uploads on the page's API: the CT series of `Fixtures/io/dicom/seg_series` converted to
/// `.nrrd` and `.mha` uploads as a 3-slice volume whose slice images equal the DICOM series' (same HU values, so
/// the same soft-tissue window), and a box on a slice gives the library's mask.
final class ServerVolumeUploadTests: XCTestCase {
    func testNRRDAndMetaImageUploadsSegmentLikeTheirDICOMSeries() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("medsam-server-vol-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let segmenter = try Segmenter(.liteMedSAM, checkpoint: try liteMedSAMCheckpoint())
        let api = try ServerAPI(segmenter: segmenter, configuration: ServerConfiguration(workdir: dir.appendingPathComponent("work")))
        let series = fixtureURL("io/dicom/seg_series")
        let dicom = try ImageSource.open(series)

        for ext in ["nrrd", "mha"] {
            let file = dir.appendingPathComponent("ct.\(ext)")
            _ = try ImageConverter.convert(series, file)
            let up = await api.handle(APIRequest(method: "POST", path: "/api/images", query: ["name": "ct.\(ext)"],
                                                 body: try Data(contentsOf: file)))
            XCTAssertEqual(up.status, 201, String(decoding: up.body, as: UTF8.self))
            let info = try XCTUnwrap(JSONSerialization.jsonObject(with: up.body) as? [String: Any])
            XCTAssertEqual(info["format"] as? String, ext == "nrrd" ? "NRRD" : "MetaImage")
            XCTAssertEqual([info["width"] as? Int, info["height"] as? Int, info["slices"] as? Int], [64, 64, 3])
            XCTAssertTrue((info["windowDescription"] as? String ?? "").contains("soft-tissue"), "\(info)")
            let id = try XCTUnwrap(info["id"] as? String)

            let expectedInput = try dicom.input(slice: 2, window: nil)
            let png = await api.handle(APIRequest(method: "GET", path: "/api/images/\(id)/slices/2/image.png"))
            XCTAssertEqual(png.status, 200)
            XCTAssertEqual(try PNGFile.decode(png.body).pixels, expectedInput.image.pixels, "\(ext) slice 2 = DICOM series slice 2")

            let expected = try segmenter.segment(try segmenter.embed(expectedInput.image),
                                                 prompts: [.box(Box(x0: 8, y0: 8, x1: 56, y1: 56))])[0]
            XCTAssertGreaterThan(expected.area, 100)
            let m = await api.handle(APIRequest(method: "POST", path: "/api/images/\(id)/slices/2/masks", body: Data("{\"box\":[8,8,56,56]}".utf8)))
            XCTAssertEqual(m.status, 201, String(decoding: m.body, as: UTF8.self))
            let mj = try XCTUnwrap(JSONSerialization.jsonObject(with: m.body) as? [String: Any])
            XCTAssertEqual(RunLength.decode(try XCTUnwrap(mj["rle"] as? [Int]), count: 64 * 64), expected.mask)
        }
        // NRRD bytes under another name are refused with a clear message (the reader needs the extension).
        let bad = await api.handle(APIRequest(method: "POST", path: "/api/images", query: ["name": "ct.bin"],
                                              body: try Data(contentsOf: dir.appendingPathComponent("ct.nrrd"))))
        XCTAssertEqual(bad.status, 400, String(decoding: bad.body, as: UTF8.self))
        XCTAssertTrue(String(decoding: bad.body, as: UTF8.self).contains(".nrrd"))
    }
}

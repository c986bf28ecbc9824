import Foundation
import MedicalIO
import TestSupport
import XCTest

/// NRRD and MetaImage: files written by pynrrd and SimpleITK (`Fixtures/io/make_nrrd_fixtures.py`) read with their
/// geometry; our writer round-trips; hostile headers are typed errors.
final class NRRDMetaImageTests: XCTestCase {
    /// value(x, y, z) = x + 10y + 100z − 500, 5×4×3, spacing 0.5/0.75/2.5, origin (−10, 20, 30.5), x → (0,1,0), y → (−1,0,0).
    func checkFixture(_ v: SpatialVolume, _ name: String) {
        XCTAssertEqual([v.volume.width, v.volume.height, v.volume.depth], [5, 4, 3], name)
        XCTAssertEqual(v.volume[3, 2, 1], 3 + 20 + 100 - 500, name)
        XCTAssertEqual(v.volume.voxels.first, -500, name); XCTAssertEqual(v.volume.voxels.last, 4 + 30 + 200 - 500, name)
        XCTAssertEqual(v.volume.pixelType, .int16, name)
        XCTAssertEqual(v.volume.spacing, [0.5, 0.75, 2.5], name)
        XCTAssertEqual(v.origin, [-10, 20, 30.5], name)
        XCTAssertEqual(v.directions, [[0, 1, 0], [-1, 0, 0], [0, 0, 1]], name)
    }

    func testFilesFromPynrrdAndSimpleITK() throws {
        for name in ["vol.nrrd", "vol.nhdr", "vol.mha", "vol.mhd"] {
            checkFixture(try SpatialVolume.read(io("nrrd/\(name)")), name)
        }
    }

    func testWriterRoundTrips() throws {
        let src = try SpatialVolume.read(io("nrrd/vol.nrrd"))
        for (ext, type) in [("nrrd", SpatialVolume.SampleType.int16), ("mha", .int16), ("nrrd", .float32), ("mha", .float64)] {
            let url = tempURL("rt.\(ext)")
            defer { try? FileManager.default.removeItem(at: url) }
            try src.write(to: url, type: type)
            let back = try SpatialVolume.read(url)
            XCTAssertEqual(back.volume.voxels, src.volume.voxels, "\(ext) \(type)")
            XCTAssertEqual(back.volume.spacing, src.volume.spacing); XCTAssertEqual(back.origin, src.origin)
            XCTAssertEqual(back.directions, src.directions)
        }
        XCTAssertThrowsError(try src.write(to: tempURL("x.mha"), type: .uint8)) {  // negative values do not fit uint8
            XCTAssertTrue("\($0)".contains("does not fit uint8"), "\($0)")
        }
    }

    func testHostileHeadersAreTypedErrors() throws {
        let good = try String(contentsOf: io("nrrd/vol.nhdr"), encoding: .utf8)
        let dir = tempURL("nrrd")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: io("nrrd/vol.raw"), to: dir.appendingPathComponent("vol.raw"))
        let cases: [(String, String, String)] = [
            ("sizes: 5 4 3", "sizes: 5 4 99999999", "size"), ("sizes: 5 4 3", "sizes: 5 4 -3", "size"),
            ("sizes: 5 4 3", "sizes: 5 4 300", "truncated"), ("(0,0.5,0)", "(0,nan,0)", "space direction"),
            ("(-10,20,30.5)", "(-10,inf,30.5)", "space origin"), ("type: int16", "type: complex", "type"),
            ("encoding: raw", "encoding: bzip2", "encoding"), ("dimension: 3", "dimension: 1e3", "dimension"),
            ("data file: vol.raw", "data file: missing.raw", "cannot read"),
        ]
        for (from, to, fragment) in cases {
            let url = dir.appendingPathComponent("bad.nhdr")
            try good.replacingOccurrences(of: from, with: to).write(to: url, atomically: true, encoding: .utf8)
            do { _ = try SpatialVolume.read(url); XCTFail("\(to): no error") } catch let e as MedicalIOError {
                XCTAssertTrue("\(e)".contains(fragment), "\(to): \(e)")
            }
        }
        let mha = try Data(contentsOf: io("nrrd/vol.mha"))
        for cut in [10, 100, 300, mha.count - 7] {
            let url = dir.appendingPathComponent("cut.mha")
            try mha.prefix(cut).write(to: url)
            assertTypedError("mha cut \(cut)") { try SpatialVolume.read(url) }
        }
    }

    /// Our .nrrd and .mha read back by pynrrd and SimpleITK (PyPI, test-time; scripts/bootstrap.sh installs them):
    /// same values, spacing, origin and directions.
    func testOurFilesOpenInPynrrdAndSimpleITK() throws {
        let src = try SpatialVolume.read(io("nrrd/vol.mha"))
        let dir = tempURL("py")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try src.write(to: dir.appendingPathComponent("o.nrrd"), type: .int16)
        try src.write(to: dir.appendingPathComponent("o.mha"), type: .int16)
        let script = """
        import json, sys, nrrd, numpy as np, SimpleITK as sitk
        d, h = nrrd.read(sys.argv[1] + "/o.nrrd")
        img = sitk.ReadImage(sys.argv[1] + "/o.mha")
        a = sitk.GetArrayFromImage(img).transpose(2, 1, 0)
        sd = np.asarray(h["space directions"], float)
        print(json.dumps({"nrrd_v": int(d[3, 2, 1]), "nrrd_sum": int(d.astype(int).sum()), "nrrd_dirs": sd.tolist(),
                          "nrrd_origin": np.asarray(h["space origin"], float).tolist(), "sitk_v": int(a[3, 2, 1]),
                          "sitk_sum": int(a.astype(int).sum()), "sitk_spacing": list(img.GetSpacing()),
                          "sitk_origin": list(img.GetOrigin()), "sitk_dir": list(img.GetDirection())}))
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, dir.path]
        let pipe = Pipe(); p.standardOutput = pipe
        try p.run(); p.waitUntilExit()
        guard p.terminationStatus == 0,
              let j = try JSONSerialization.jsonObject(with: pipe.fileHandleForReading.readDataToEndOfFile()) as? [String: Any] else {
            return XCTFail("python3 with pynrrd + SimpleITK is needed for this check (scripts/bootstrap.sh installs them)")
        }
        let sum = Int(src.volume.voxels.reduce(0, +))
        XCTAssertEqual(j["nrrd_v"] as? Int, -377); XCTAssertEqual(j["sitk_v"] as? Int, -377)
        XCTAssertEqual(j["nrrd_sum"] as? Int, sum); XCTAssertEqual(j["sitk_sum"] as? Int, sum)
        XCTAssertEqual(j["nrrd_dirs"] as? [[Double]], [[0, 0.5, 0], [-0.75, 0, 0], [0, 0, 2.5]])
        XCTAssertEqual(j["nrrd_origin"] as? [Double], [-10, 20, 30.5])
        XCTAssertEqual(j["sitk_spacing"] as? [Double], [0.5, 0.75, 2.5])
        XCTAssertEqual(j["sitk_origin"] as? [Double], [-10, 20, 30.5])
        XCTAssertEqual(j["sitk_dir"] as? [Double], [0, -1, 0, 1, 0, 0, 0, 0, 1])  // ITK: column i = axis i
    }
}

import Foundation
import MedicalIO
import TestSupport
import XCTest

/// Header numbers from hostile files (`Fixtures/corpus/dicom/<attribute>_<token>.dcm`): values that decide the
/// pixel layout or values are typed errors naming the attribute; descriptive values are dropped with a warning.
/// Before the checked conversions, `nan`/`inf`/`1e30` trapped in `Int(Double)` and `1A` was read as 1 frame.
final class DICOMHeaderValueTests: XCTestCase {
    func corpus(_ name: String) -> URL { fixtureURL("corpus/dicom/\(name).dcm") }

    func testLayoutValuesAreTypedErrors() {
        let cases = ["frames_nan", "frames_inf", "frames_1e20", "frames_1e30", "frames_-1", "frames_1A", "frames_backslash",
                     "frames_1e400", "frames_huge", "slope_nan", "slope_inf", "slope_1e400"]
        for name in cases {
            XCTAssertThrowsError(try DICOMImage.read(corpus(name)), name) { error in
                guard case MedicalIOError.invalidHeader(_, let m) = error else { return XCTFail("\(name): \(error)") }
                let attribute = name.hasPrefix("frames") ? "NumberOfFrames" : "RescaleSlope"
                XCTAssertTrue(m.contains(attribute), "\(name): \(m)")
            }
        }
    }

    func testDescriptiveValuesAreDroppedWithAWarning() throws {
        let cases: [(String, String)] = [("instance_nan", "InstanceNumber"), ("instance_inf", "InstanceNumber"),
                                         ("instance_1e30", "InstanceNumber"), ("instance_backslash", "InstanceNumber"),
                                         ("spacing_nanbackslashnan", "PixelSpacing"), ("spacing_backslash", "PixelSpacing"),
                                         ("window_inf", "WindowCenter")]
        for (name, attribute) in cases {
            let d = try DICOMImage.read(corpus(name))
            XCTAssertEqual(d.pixels, [0, 0, 0, 0], name)
            XCTAssertNil(d.instanceNumber, name); XCTAssertNil(d.pixelSpacing, name); XCTAssertNil(d.windowCenter, name)
            XCTAssertEqual(d.warnings.count, 1, name)
            XCTAssertTrue(d.warnings.first?.contains(attribute) ?? false, "\(name): \(d.warnings)")
        }
        // Good values still read: pydicom's CT_small has InstanceNumber 1, spacing 0.661468 mm.
        let ct = try DICOMImage.read(io("dicom/CT_small.dcm"))
        XCTAssertEqual(ct.instanceNumber, 1)
        XCTAssertEqual(ct.pixelSpacing, [0.661468, 0.661468])
        XCTAssertEqual(ct.warnings, [])
    }

    /// A series folder with one hostile file (NumberOfFrames `nan`, which used to kill the process) and one
    /// non-DICOM file: both skipped with a message, the three good slices load.
    func testSeriesFolderSkipsTheBadFile() throws {
        let dir = tempURL("series")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for n in ["slice0", "slice1", "slice2"] {
            try FileManager.default.copyItem(at: io("dicom/series/\(n).dcm"), to: dir.appendingPathComponent("\(n).dcm"))
        }
        try FileManager.default.copyItem(at: corpus("frames_nan"), to: dir.appendingPathComponent("bad.dcm"))
        try Data("not dicom".utf8).write(to: dir.appendingPathComponent("notes.txt"))
        let s = try DICOMSeries.read(dir)
        XCTAssertEqual(s.slices.count, 3)
        XCTAssertEqual(s.slices.map { $0.imagePosition?[2] }, [-5, 2.5, 10])
        XCTAssertEqual(s.skipped.map { $0.0.lastPathComponent }.sorted(), ["bad.dcm", "notes.txt"])
        let bad = s.skipped.first { $0.0.lastPathComponent == "bad.dcm" }?.1 ?? ""
        XCTAssertTrue(bad.contains("NumberOfFrames"), bad)
    }

    /// A localizer (other orientation) in the series folder is excluded with a message, not stacked.
    func testLocalizerIsExcludedFromTheSeries() throws {
        let dir = tempURL("series-localizer")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for n in ["slice0", "slice1", "slice2", "other_series"] {
            try FileManager.default.copyItem(at: io("dicom/series/\(n).dcm"), to: dir.appendingPathComponent("\(n).dcm"))
        }
        try FileManager.default.copyItem(at: io("dicom/localizer.dcm"), to: dir.appendingPathComponent("localizer.dcm"))
        let s = try DICOMSeries.read(dir)
        XCTAssertEqual(s.slices.count, 3)
        XCTAssertEqual(s.volume.spacing[2], 7.5)
        XCTAssertEqual(s.excluded.map { $0.0.lastPathComponent }, ["localizer.dcm"])
        XCTAssertTrue(s.excluded[0].1.contains("localizer"), s.excluded[0].1)
        XCTAssertEqual(s.series.map(\.files), [4, 1])  // the localizer counts as a file of the main series
        XCTAssertEqual(s.series.first?.uid, s.seriesUID)
        XCTAssertTrue(s.messages.contains { $0.contains("--series") }, "\(s.messages)")
        XCTAssertTrue(s.messages.contains { $0.hasPrefix("excluded localizer.dcm") }, "\(s.messages)")
        XCTAssertThrowsError(try DICOMSeries.read(dir, seriesUID: "1.2.3.nope")) {
            XCTAssertTrue("\($0)".contains("1.2.3.4.5.999"), "\($0)")  // names the series that exist
        }
    }

    /// Values Float cannot hold come back exact in ``DICOMImage/exactValues`` (Double), as pydicom gives them.
    func testValuesAbove2To24AndFractionalRescalesAreExact() throws {
        let u32 = try DICOMImage.read(io("dicom/exact_u32.dcm"))
        XCTAssertEqual(u32.exactValues, [16_777_217, 4_294_967_295, 0, 1])
        XCTAssertEqual(u32.pixelType, .float64)
        let slope = try DICOMImage.read(io("dicom/exact_slope.dcm"))
        XCTAssertEqual(slope.exactValues, [1, 2, 3, 7].map { Double($0) * 0.1 + -0.3 })
        XCTAssertNotEqual(Double(Float(1 * 0.1 - 0.3)), 1 * 0.1 - 0.3)  // why Float is not enough here
        XCTAssertNil(try DICOMImage.read(io("dicom/CT_small.dcm")).exactValues)  // 16-bit HU: Float is exact
    }
}

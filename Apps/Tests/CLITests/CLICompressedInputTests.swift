import Foundation
import MedicalIO
import TestSupport
import XCTest

/// Issue 15's end-to-end check: a compressed CT file and a compressed CT series segment with `medsam` exactly as
/// their uncompressed originals do (the same label mask, value for value). The compressed copies are made at test
/// time with pydicom (RLE Lossless: pydicom's own encoder; JPEG 2000 Lossless: pylibjpeg-openjpeg, both installed by
/// scripts/bootstrap.sh); the DCMTK-made JPEG Lossless / JPEG-LS fixtures are compared value by value in
/// `DICOMCodecTests`.
final class CLICompressedInputTests: XCTestCase {
    func compress(_ src: URL, to dst: URL, syntax: String) throws { try TestTools.compressDICOM(src, to: dst, syntax: syntax) }

    func testCompressedCTSegmentsExactlyAsTheUncompressedFile() throws {
        let ckpt = try liteMedSAMCheckpoint()
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let native = fixtureURL("io/dicom/dicompyler_ct.0.dcm")
        func segment(_ input: URL, _ name: String) throws -> [Float] {
            let out = dir.appendingPathComponent(name + ".png")
            let r = try CLI.run(["segment", input.path, "--box", "87,97,345,305", "--box", "300,120,420,260",
                                 "--checkpoint", ckpt.path, "-o", out.path])
            XCTAssertEqual(r.status, 0, r.stderr)
            return try PNGFile.read(out).pixels
        }
        let expected = try segment(native, "native")
        XCTAssertGreaterThan(expected.filter { $0 == 1 }.count, 1000)
        XCTAssertGreaterThan(expected.filter { $0 == 2 }.count, 100)
        for syntax in ["RLELossless", "JPEG2000Lossless"] {
            let file = dir.appendingPathComponent("ct_\(syntax).dcm")
            try compress(native, to: file, syntax: syntax)
            let d = try DICOMImage.read(file)
            XCTAssertNotEqual(d.transferSyntaxUID, "1.2.840.10008.1.2.1", "\(syntax): the copy is compressed")
            XCTAssertEqual(try segment(file, syntax), expected, "\(syntax): the same masks as the uncompressed file")
        }
    }

    func testCompressedSeriesSegmentsExactlyAsTheUncompressedSeries() throws {
        let ckpt = try liteMedSAMCheckpoint()
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let native = fixtureURL("io/dicom/seg_series")
        let rle = dir.appendingPathComponent("rle", isDirectory: true)
        try FileManager.default.createDirectory(at: rle, withIntermediateDirectories: true)
        for k in 0..<3 {
            try compress(native.appendingPathComponent("slice\(k).dcm"), to: rle.appendingPathComponent("slice\(k).dcm"), syntax: "RLELossless")
        }
        func volume(_ input: URL, _ name: String) throws -> [Float] {
            let out = dir.appendingPathComponent(name + ".npy")
            let r = try CLI.run(["volume", input.path, "--box3d", "10,10,0,50,50,2", "--checkpoint", ckpt.path, "-o", out.path])
            XCTAssertEqual(r.status, 0, r.stderr)
            return try NPYArray.read(out).floats()
        }
        let expected = try volume(native, "native")
        XCTAssertGreaterThan(expected.filter { $0 != 0 }.count, 0)
        XCTAssertEqual(try volume(rle, "rle"), expected, "the RLE series gives the same labels as the uncompressed one")
    }
}

import Foundation
import MedicalIO
import XCTest

final class DICOMTests: XCTestCase {
    func testRealFilesMatchPydicom() throws {
        let meta = try expectedJSON()
        for name in ["CT_small", "MR_small", "MR_small_implicit", "MR_small_bigendian", "rtdose", "SC_rgb_small_odd", "dicompyler_ct.0"] {
            let d = try DICOMImage.read(io("dicom/\(name).dcm"))
            let m = meta[name + ".dcm"] as! [String: Any]
            XCTAssertEqual(d.rows, m["rows"] as! Int, name); XCTAssertEqual(d.columns, m["cols"] as! Int, name)
            XCTAssertEqual(d.numberOfFrames, m["frames"] as! Int, name)
            let ref = try expected("dicom/\(name).expected.npz").floats()
            XCTAssertEqual(d.pixels.count, ref.count, name)
            XCTAssertEqual(d.pixels, ref, name)
            let sp = m["spacing"] as! [Double]
            if !sp.isEmpty { XCTAssertEqual(d.pixelSpacing, sp, name) }
            let pos = m["position"] as! [Double]
            if !pos.isEmpty { XCTAssertEqual(d.imagePosition, pos, name) }
        }
        let ct = try DICOMImage.read(io("dicom/CT_small.dcm"))
        XCTAssertEqual(ct.transferSyntaxUID, "1.2.840.10008.1.2.1")
        XCTAssertEqual(ct.modality, "CT")
        let f = try ct.frame(0)
        XCTAssertEqual([f.width, f.height, f.channels], [128, 128, 1])
        let rgb = try DICOMImage.read(io("dicom/SC_rgb_small_odd.dcm")).frame(0)
        XCTAssertEqual(rgb.channels, 3)
        let dose = try DICOMImage.read(io("dicom/rtdose.dcm")).volume()
        XCTAssertEqual([dose.width, dose.height, dose.depth], [10, 10, 15])
    }

    func testSeriesSortedByPosition() throws {
        let s = try DICOMSeries.read(io("dicom/series"))
        XCTAssertEqual(s.seriesUIDs.count, 2)
        XCTAssertEqual(s.slices.count, 3)
        // positions z = -5, 2.5, 10 carry instance numbers 1, 2, 3 and pixel (0,0) = 1000 + instance
        XCTAssertEqual(s.slices.map { $0.imagePosition![2] }, [-5, 2.5, 10])
        let v = s.volume
        XCTAssertEqual([v.width, v.height, v.depth], [128, 128, 3])
        XCTAssertEqual((0..<3).map { v[0, 0, $0] }, [1001, 1002, 1003].map { Float($0) * 1 + Float(s.slices[0].rescaleIntercept) })
        XCTAssertEqual(v.spacing[2], 7.5)
        let other = try DICOMSeries.read(io("dicom/series"), seriesUID: "1.2.3.4.5.999")
        XCTAssertEqual(other.slices.count, 1)
    }

    func testCompressedAndHostile() throws {
        assertTypedError("pydicom's truncated file") { try DICOMImage.read(io("dicom/MR_truncated.dcm")) }
        let good = try Data(contentsOf: io("dicom/MR_small.dcm"))
        // MR_small ends with (FFFC,FFFC) trailing padding after Pixel Data, which is not read: cut before it.
        for cut in stride(from: 0, to: good.count - 150, by: 97) {
            assertTypedError("cut \(cut)") { try DICOMImage.parse(good.prefix(cut)) }
        }
        for off in stride(from: 132, to: 3000, by: 7) {  // flipped header bytes: typed error or a result, never a crash
            var d = good; d[off] ^= 0xFF
            _ = try? DICOMImage.parse(d)
        }
        // an element whose 32-bit length runs past the end (OB after the meta header)
        var b = [UInt8](repeating: 0, count: 128) + Array("DICM".utf8)
        b += [0x02, 0x00, 0x10, 0x00] + Array("UI".utf8) + [20, 0] + Array("1.2.840.10008.1.2.1\0".utf8)
        b += [0x08, 0x00, 0x10, 0x00] + Array("OB".utf8) + [0, 0, 0xF0, 0xFF, 0xFF, 0x7F] + [1, 2, 3]
        assertTypedError("length past end") { try DICOMImage.parse(Data(b)) }
        // a sequence of undefined length that never ends
        var s = [UInt8](repeating: 0, count: 128) + Array("DICM".utf8)
        s += [0x02, 0x00, 0x10, 0x00] + Array("UI".utf8) + [20, 0] + Array("1.2.840.10008.1.2.1\0".utf8)
        s += [0x08, 0x00, 0x15, 0x11] + Array("SQ".utf8) + [0, 0, 0xFF, 0xFF, 0xFF, 0xFF]
        s += [0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF] + [0x08, 0x00, 0x20, 0x00] + Array("DA".utf8) + [2, 0, 0x31, 0x32]
        assertTypedError("unterminated sequence") { try DICOMImage.parse(Data(s)) }
        assertTypedError("not dicom") { try DICOMImage.parse(Data("hello world, definitely not DICOM".utf8)) }
    }
}

import Foundation
import MedicalIO
import Imaging
import XCTest

final class ChallengeRawTests: XCTestCase {
    func testChallengeCases() throws {
        let c2 = try ChallengeCase.read(io("challenge/2DT1_MNI_demo.npz"))
        XCTAssertFalse(c2.is3D)
        XCTAssertEqual(c2.imgs.shape, [64, 96, 3])
        XCTAssertEqual(try c2.boxes2D().first, Box(x0: 10, y0: 12, x1: 40, y1: 50))
        let img = try c2.image2D()
        XCTAssertEqual([img.width, img.height, img.channels], [96, 64, 3])
        XCTAssertEqual(c2.gts?.shape, [64, 96])
        let c3 = try ChallengeCase.read(io("challenge/3DBox_MNI_demo.npz"))
        XCTAssertTrue(c3.is3D)
        XCTAssertEqual(c3.imgs.shape, [8, 64, 96])
        XCTAssertEqual(try c3.boxes3D(), [Box3D(x0: 10, y0: 12, z0: 1, x1: 40, y1: 50, z1: 6)])
        XCTAssertEqual(c3.spacing, [1, 1, 1])
        XCTAssertEqual(try c3.slice(2).pixels.count, 64 * 96)
        XCTAssertTrue(ChallengeCase.is3D(name: "x.npz", imgsShape: [5, 10, 10]))
        XCTAssertFalse(ChallengeCase.is3D(name: "x.npz", imgsShape: [10, 10, 3]))

        for (hi, dtype) in [(2, MedicalIO.NPYArray.DType.uint8), (300, .uint16)] {
            let url = tempURL("seg.npz"); defer { try? FileManager.default.removeItem(at: url) }
            let labels = (0..<(8 * 64 * 96)).map { $0 % (hi + 1) }
            try ChallengeCase.writeSegmentation(labels, shape: [8, 64, 96], to: url)
            let segs = try NPZArchive.read(url).array("segs")
            XCTAssertEqual(segs.dtype, dtype); XCTAssertEqual(segs.shape, [8, 64, 96]); XCTAssertEqual(try segs.ints(), labels)
        }
    }

    func testRawVolume() throws {
        let url = tempURL("vol.raw"); defer { try? FileManager.default.removeItem(at: url) }
        var bytes = [UInt8](repeating: 0xAA, count: 16)
        let values: [Int16] = (0..<(4 * 3 * 2)).map { Int16($0 * 100 - 1000) }
        for v in values { let u = UInt16(bitPattern: v); bytes += [UInt8(u >> 8), UInt8(u & 0xFF)] }
        try Data(bytes).write(to: url)
        let vol = try RawVolume.read(url, width: 4, height: 3, depth: 2, type: .int16, endianness: .big, offset: 16)
        XCTAssertEqual(vol.voxels, values.map(Float.init))
        XCTAssertEqual(vol.pixelType, .int16)
        assertTypedError("too short") { try RawVolume.read(url, width: 4, height: 3, depth: 3, type: .int16, offset: 16) }
        assertTypedError("absurd") { try RawVolume.read(url, width: 1 << 20, height: 1 << 20, depth: 1 << 20, type: .float32) }
        assertTypedError("negative") { try RawVolume.read(url, width: -4, height: 3, depth: 2, type: .uint8) }
        let f = tempURL("f.raw"); defer { try? FileManager.default.removeItem(at: f) }
        try Data([Float(1.5), -2].flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }).write(to: f)
        XCTAssertEqual(try RawVolume.read(f, width: 2, height: 1, depth: 1, type: .float32).voxels, [1.5, -2])
    }
}

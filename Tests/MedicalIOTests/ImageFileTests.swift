import Foundation
import MedicalIO
import Imaging
import XCTest

final class ImageFileTests: XCTestCase {
    func testPNGMatchesPIL() throws {
        for (name, ch, type) in [("gray8", 1, PixelType.uint8), ("rgb8", 3, .uint8), ("rgba8", 3, .uint8),
                                 ("gray16", 1, .uint16), ("palette", 3, .uint8)] {
            let img = try PNGFile.read(io("png/\(name).png"))
            let ref = try expected("png/\(name).expected.npz")
            XCTAssertEqual(img.channels, ch, name); XCTAssertEqual(img.pixelType, type, name)
            XCTAssertEqual([img.height, img.width], Array(ref.shape.prefix(2)), name)
            var want = ref.floats()
            if ref.shape.count == 3 && ref.shape[2] == 4 {  // PIL keeps alpha; Image drops it
                want = stride(from: 0, to: want.count, by: 4).flatMap { want[$0..<($0 + 3)] }
            }
            XCTAssertEqual(img.pixels, want, name)
        }
    }

    func testPNGRoundTrip() throws {
        let g8 = try Image(uint8: (0..<60).map { UInt8($0 * 4) }, width: 10, height: 6)
        let g16 = try Image(uint16: (0..<60).map { UInt16($0 * 1000 + 7) }, width: 6, height: 10)
        let rgb = try Image(uint8: (0..<90).map { UInt8(($0 * 37) % 256) }, width: 5, height: 6, channels: 3)
        for (img, depth) in [(g8, 8), (g16, 16), (rgb, 8)] {
            let back = try PNGFile.decode(PNGFile.encode(img, bitDepth: depth))
            XCTAssertEqual(back.pixels, img.pixels); XCTAssertEqual(back.width, img.width)
            XCTAssertEqual(back.channels, img.channels); XCTAssertEqual(back.pixelType, img.pixelType)
        }
        assertTypedError("16-bit rgb") { try PNGFile.encode(rgb, bitDepth: 16) }
        assertTypedError("out of range") { try PNGFile.encode(g16, bitDepth: 8) }
    }

    func testJPEGMatchesPIL() throws {
        for (name, ch) in [("gray", 1), ("rgb", 3)] {
            let img = try JPEGFile.read(io("jpeg/\(name).jpg"))
            let ref = try expected("jpeg/\(name).expected.npz").floats()
            XCTAssertEqual(img.channels, ch)
            let maxDiff = zip(img.pixels, ref).map { abs($0 - $1) }.max()!
            XCTAssertLessThanOrEqual(maxDiff, 1, name)  // same libjpeg-turbo defaults as PIL: normally exact
        }
    }

    func testHostileImages() throws {
        for path in ["png/gray16.png", "png/rgb8.png", "jpeg/rgb.jpg", "jpeg/gray.jpg"] {
            let good = try Data(contentsOf: io(path))
            let decode: (Data) throws -> Image = path.hasSuffix("png") ? { try PNGFile.decode($0) } : { try JPEGFile.decode($0) }
            for cut in stride(from: 0, to: good.count, by: max(1, good.count / 40)) {
                assertTypedError("\(path) cut at \(cut)") { try decode(good.prefix(cut)) }
            }
            for off in stride(from: 20, to: good.count, by: max(1, good.count / 30)) {
                var d = good; d[off] ^= 0xFF
                _ = try? decode(d)  // must not crash
            }
        }
        // PNG with absurd IHDR dimensions (CRC fixed up): libpng's limits or ours refuse it
        var png = [UInt8](try Data(contentsOf: io("png/gray8.png")))
        png.replaceSubrange(16..<24, with: [0x00, 0x0F, 0x42, 0x40, 0x00, 0x0F, 0x42, 0x40])
        let crc = crc32(Array(png[12..<29]))
        png.replaceSubrange(29..<33, with: [UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)])
        assertTypedError("huge png") { try PNGFile.decode(Data(png)) }
    }

    private func crc32(_ b: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for x in b { c ^= UInt32(x); for _ in 0..<8 { c = (c >> 1) ^ (0xEDB8_8320 & (0 &- (c & 1))) } }
        return ~c
    }
}

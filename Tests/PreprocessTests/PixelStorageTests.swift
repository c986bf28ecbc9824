import XCTest
import Imaging

/// Images and volumes keep their values in the stored type (1 byte per 8-bit value, 2 per 16-bit) and read back
/// exactly as `Float`.
final class PixelStorageTests: XCTestCase {
    func testTypedInitialisersKeepTheirType() throws {
        let hu: [Int16] = [-1024, -1, 0, 1, 3071, 32767, -32768, 40]
        let ct = try Image(int16: hu, width: 4, height: 2)
        XCTAssertEqual(ct.storage.storedType, .int16)
        XCTAssertEqual(ct.byteCount, 16)
        XCTAssertEqual(ct.pixels, hu.map(Float.init))
        XCTAssertEqual(ct.storage[5], 32767)

        let u16 = try Image(uint16: [0, 65535, 4095], width: 3, height: 1)
        XCTAssertEqual(u16.storage.storedType, .uint16)
        XCTAssertEqual(u16.byteCount, 6)
        XCTAssertEqual(u16.pixels, [0, 65535, 4095])

        let u8 = try Image(uint8: [0, 128, 255, 7, 8, 9], width: 2, height: 1, channels: 3)
        XCTAssertEqual(u8.storage.storedType, .uint8)
        XCTAssertEqual(u8.byteCount, 6)
        XCTAssertEqual(try u8.uint8Pixels(), [0, 128, 255, 7, 8, 9])
    }

    func testFloatValuesArePackedOnlyWhenExact() throws {
        let packed = try Image(pixels: [0, 17, 255, 3], width: 2, height: 2, pixelType: .uint8)
        XCTAssertEqual(packed.storage.storedType, .uint8)
        XCTAssertEqual(packed.pixels, [0, 17, 255, 3])

        // A fractional value, or one outside the type's range, keeps the whole image as Float (exact).
        let fractional = try Image(pixels: [0, 17.5, 255, 3], width: 2, height: 2, pixelType: .uint8)
        XCTAssertEqual(fractional.storage.storedType, .float32)
        XCTAssertEqual(fractional.pixels, [0, 17.5, 255, 3])
        let wide = try Image(pixels: [-1024, 40000], width: 2, height: 1, pixelType: .int16)
        XCTAssertEqual(wide.storage.storedType, .float32)
        XCTAssertEqual(wide.pixels, [-1024, 40000])
        // Hounsfield units after an integer rescale (a reader's Float values, pixel type float32) fit Int16.
        let rescaled = try Image(pixels: [-1024, 3071], width: 2, height: 1, pixelType: .float32)
        XCTAssertEqual(rescaled.storage.storedType, .int16)
        XCTAssertEqual(rescaled.pixelType, .float32)
        XCTAssertEqual(rescaled.byteCount, 4)
        XCTAssertEqual(PixelStorage(packing: [0, 40000, 65535]).storedType, .uint16)
        XCTAssertEqual(PixelStorage(packing: [.nan, 1]).storedType, .float32)
        XCTAssertEqual(PixelStorage(packing: [.infinity]).storedType, .float32)

        XCTAssertThrowsError(try Image(pixels: [0, .nan], width: 2, height: 1, pixelType: .uint8)) {
            XCTAssertEqual($0 as? ImagingError, .nonFiniteValue(index: 1))
        }
        XCTAssertThrowsError(try Image(uint8: [1, 2, 3], width: 2, height: 1)) {
            XCTAssertEqual($0 as? ImagingError, .wrongPixelCount(expected: 2, got: 3))
        }
    }

    func testChannelChangesKeepTheStoredType() throws {
        let rgba = try Image(uint8: [1, 2, 3, 255, 4, 5, 6, 128], width: 2, height: 1, channels: 4)
        XCTAssertEqual(rgba.channels, 3)
        XCTAssertEqual(rgba.storage.storedType, .uint8)
        XCTAssertEqual(rgba.pixels, [1, 2, 3, 4, 5, 6])

        let gray = try Image(uint16: [10, 65535], width: 2, height: 1)
        let rgb = gray.threeChannel()
        XCTAssertEqual(rgb.storage.storedType, .uint16)
        XCTAssertEqual(rgb.pixels, [10, 10, 10, 65535, 65535, 65535])
    }

    func testVolumeSlicesKeepTheStoredType() throws {
        // 3×2×2, x fastest: value = 100·z + 10·y + x − 50 (fits Int16).
        var values = [Float]()
        for z in 0..<2 { for y in 0..<2 { for x in 0..<3 { values.append(Float(100 * z + 10 * y + x - 50)) } } }
        let v = try Volume(width: 3, height: 2, depth: 2, voxels: values, pixelType: .int16)
        XCTAssertEqual(v.storage.storedType, .int16)
        XCTAssertEqual(v.byteCount, 24)
        XCTAssertEqual(v.voxels, values)
        XCTAssertEqual(v[2, 1, 1], 100 + 10 + 2 - 50)
        let s = try v.slice(z: 1)
        XCTAssertEqual(s.storage.storedType, .int16)
        XCTAssertEqual(s.pixels, Array(values[6..<12]))

        let u8 = try Volume(uint8: [0, 1, 2, 3, 4, 5, 6, 7], width: 2, height: 2, depth: 2)
        XCTAssertEqual(u8.byteCount, 8)
        XCTAssertEqual(try u8.slice(z: 1).uint8Pixels(), [4, 5, 6, 7])
    }

    func testPermutedAndRangesReadTheSameValues() throws {
        let s = PixelStorage(int16: [5, -6, 7, -8, 9, -10])
        XCTAssertEqual(s.floats(2..<5), [7, -8, 9])
        XCTAssertEqual(s.slice(1..<3).floats(), [-6, 7])
        XCTAssertEqual(s.slice(1..<3).storedType, .int16)
        // Rows of a 3×2 image flipped (the NIfTI axial-slice orientation).
        let flipped = s.permuted { i in (1 - i / 3) * 3 + i % 3 }
        XCTAssertEqual(flipped.floats(), [-8, 9, -10, 5, -6, 7])
        XCTAssertEqual(flipped.storedType, .int16)
    }
}

import Foundation
import MedicalIO
import XCTest

final class NPYTests: XCTestCase {
    func testAllDtypesOrdersAndVersions() throws {
        let codes = ["u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f2", "f4", "f8"]
        for code in codes {
            for end in ["le", "be"] where !(end == "be" && code.hasSuffix("1")) {
                for suffix in ["", "_fortran"] {
                    let a = try MedicalIO.NPYArray.read(io("npy/arange_\(code)_\(end)\(suffix).npy"))
                    XCTAssertEqual(a.shape, [2, 3, 4])
                    XCTAssertEqual(a.dtype.rawValue, code)
                    XCTAssertEqual(a.doubles(), (0..<24).map(Double.init), "\(code) \(end) \(suffix)")
                    XCTAssertEqual(try a.ints(), Array(0..<24))
                }
            }
        }
        for v in [2, 3] {
            let a = try MedicalIO.NPYArray.read(io("npy/arange_i2_v\(v).npy"))
            XCTAssertEqual(a.floats(), (0..<24).map(Float.init))
        }
        let b = try MedicalIO.NPYArray.read(io("npy/bool.npy"))
        XCTAssertEqual(b.dtype, .bool)
        XCTAssertEqual(try b.uint8s(), (0..<24).map { $0 % 3 == 0 ? 1 : 0 })
        let s = try MedicalIO.NPYArray.read(io("npy/scalar_f8.npy"))
        XCTAssertEqual(s.shape, []); XCTAssertEqual(s.doubles(), [3.25])
        let e = try MedicalIO.NPYArray.read(io("npy/empty_f4.npy"))
        XCTAssertEqual(e.shape, [0, 5]); XCTAssertEqual(e.count, 0)
        let n = try MedicalIO.NPYArray.read(io("npy/neg_f4.npy"))
        XCTAssertEqual(n.floats(), [-1.5, 0, 2.5e-8, 65504, .infinity])
    }

    func testRoundTrips() throws {
        let arrays: [MedicalIO.NPYArray] = [
            try .init(shape: [2, 3], float32: [1, -2, 3.5, 4, 5, 6]),
            try .init(shape: [5], float64: [1e300, -0.0, 1, 2, 3]),
            try .init(shape: [2, 2], int16: [-32768, 32767, 0, 1]),
            try .init(shape: [3], uint16: [0, 65535, 7]),
            try .init(shape: [1, 1, 2], float16: [0.5, -65504]),
            try .init(shape: [4], uint8: [0, 1, 254, 255]),
            try .init(shape: [2], int64: [Int64.min, Int64.max]),
        ]
        for a in arrays {
            let url = tempURL("a.npy"); defer { try? FileManager.default.removeItem(at: url) }
            try a.write(to: url)
            XCTAssertEqual(try MedicalIO.NPYArray.read(url), a)
            XCTAssertEqual(try Data(contentsOf: url).count % 64, (a.rawBytes.count) % 64, "header padded to 64")
        }
        // npz round trip, compressed and stored
        for compressed in [true, false] {
            let url = tempURL("a.npz"); defer { try? FileManager.default.removeItem(at: url) }
            try NPZArchive.write([("x", arrays[0]), ("y", arrays[2])], to: url, compressed: compressed)
            let z = try NPZArchive.read(url)
            XCTAssertEqual(z.names, ["x", "y"])
            XCTAssertEqual(z["x"], arrays[0]); XCTAssertEqual(z["y"], arrays[2])
        }
    }

    func testNumpyNPZ() throws {
        for name in ["stored", "compressed"] {
            let z = try NPZArchive.read(io("npz/\(name).npz"))
            XCTAssertEqual(Set(z.names), ["x", "y"])
            XCTAssertEqual(try z.array("x").floats(), (0..<12).map { Float($0) / 4 })
            XCTAssertEqual(try z.array("y").ints(), (0..<100).map { $0 - 50 })
        }
    }

    func testObjectArraysRefused() {
        XCTAssertThrowsError(try MedicalIO.NPYArray.read(io("npy/object.npy"))) {
            XCTAssertEqual($0 as? MedicalIOError, .objectArray(file: "object.npy"))
        }
        XCTAssertThrowsError(try NPZArchive.read(io("npz/object.npz"))) {
            guard case .objectArray? = $0 as? MedicalIOError else { return XCTFail("\($0)") }
        }
    }

    func testHostileNPY() throws {
        let good = try Data(contentsOf: io("npy/arange_f4_le.npy"))
        for cut in stride(from: 0, to: good.count, by: 3) {
            assertTypedError("truncated at \(cut)") { try MedicalIO.NPYArray.parse(good.prefix(cut)) }
        }
        var bad = good; bad[1] = 0x58
        assertTypedError("magic") { try MedicalIO.NPYArray.parse(bad) }
        func withHeader(_ h: String) -> Data {
            var d = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
            let hb = Array(h.utf8); d.append(UInt8(hb.count & 0xFF)); d.append(UInt8(hb.count >> 8))
            d.append(contentsOf: hb); d.append(contentsOf: [UInt8](repeating: 0, count: 64)); return d
        }
        for h in ["{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 100000000000), }",
                  "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000), }",
                  "{'descr': '<f4', 'fortran_order': False, 'shape': (-5, 2), }",
                  "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }",
                  "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }",
                  "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }",
                  "{'descr': '<f4', 'shape': (2,), }", "{'descr': '<f4'", "garbage"] {
            assertTypedError(h) { try MedicalIO.NPYArray.parse(withHeader(h)) }
        }
    }

    /// ZIPFoundation 0.9.20 loops forever on this archive (deflate stream running past the end of the
    /// file); the bounded reader reports it as truncated.
    func testHostileNPZ() throws {
        let good = try Data(contentsOf: io("npz/compressed.npz"))
        for cut in stride(from: 0, to: good.count, by: 97) {
            assertTypedError("truncated at \(cut)") { try NPZArchive.parse(good.prefix(cut)) }
        }
        // flip bytes inside the compressed data: CRC or inflate error, never a crash
        for off in stride(from: 60, to: good.count - 200, by: 131) {
            var d = good; d[off] ^= 0x5A
            _ = try? NPZArchive.parse(d)
        }
        assertTypedError("runaway deflate") { try NPZArchive.parse(Self.runawayDeflateZip()) }
    }

    static func runawayDeflateZip() -> Data {
        // a non-final stored block whose length runs past the end of the file
        let comp: [UInt8] = [0x00, 0x60, 0xEA, 0x9F, 0x15]
        let name = Array("a.npy".utf8)
        var lh = [UInt8](); lh.appendLE32(0x0403_4B50); lh.appendLE16(20); lh.appendLE16(0); lh.appendLE16(8)
        lh.appendLE16(0); lh.appendLE16(0); lh.appendLE32(0); lh.appendLE32(UInt32(comp.count)); lh.appendLE32(1000)
        lh.appendLE16(UInt16(name.count)); lh.appendLE16(0); lh += name
        let body = lh + comp
        var cd = [UInt8](); cd.appendLE32(0x0201_4B50); cd.appendLE16(20); cd.appendLE16(20); cd.appendLE16(0); cd.appendLE16(8)
        cd.appendLE16(0); cd.appendLE16(0); cd.appendLE32(0); cd.appendLE32(UInt32(comp.count)); cd.appendLE32(1000)
        cd.appendLE16(UInt16(name.count)); cd += [UInt8](repeating: 0, count: 12); cd.appendLE32(0); cd += name
        var eocd = [UInt8](); eocd.appendLE32(0x0605_4B50); eocd += [0, 0, 0, 0]; eocd.appendLE16(1); eocd.appendLE16(1)
        eocd.appendLE32(UInt32(cd.count)); eocd.appendLE32(UInt32(body.count)); eocd.appendLE16(0)
        return Data(body + cd + eocd)
    }
}

extension Array where Element == UInt8 {
    mutating func appendLE16(_ v: UInt16) { append(UInt8(v & 0xFF)); append(UInt8(v >> 8)) }
    mutating func appendLE32(_ v: UInt32) { for i in 0..<4 { append(UInt8((v >> (8 * UInt32(i))) & 0xFF)) } }
}

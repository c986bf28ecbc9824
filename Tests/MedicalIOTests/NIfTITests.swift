import Foundation
import MedicalIO
import XCTest

final class NIfTITests: XCTestCase {
    func testRealMNICropMatchesNibabel() throws {
        let nii = try NIfTIImage.read(io("nifti/mni152_t1_z55-65.nii.gz"))
        let meta = try expectedJSON()["mni_crop"] as! [String: Any]
        let v = nii.volume
        XCTAssertEqual([v.width, v.height, v.depth], meta["shape"] as! [Int])
        XCTAssertEqual(v.spacing, (meta["zooms"] as! [Double]))
        XCTAssertEqual(v.voxels.reduce(0) { $0 + Int($1) }, meta["sum"] as! Int)
        XCTAssertEqual(v.pixelType, .uint8)
        let aff = meta["affine"] as! [[Double]]
        XCTAssertEqual(nii.affine, Array(aff.prefix(3)))
        let slice = try nii.axialSlice(5)
        let ref = try expected("nifti/mni152_t1_z55-65.slice5.npz")
        XCTAssertEqual([slice.height, slice.width], ref.shape)
        XCTAssertEqual(slice.pixels, ref.floats())
    }

    func testScaledBigEndianAndFloat() throws {
        let nii = try NIfTIImage.read(io("nifti/scaled_be_i2.nii"))
        XCTAssertTrue(nii.bigEndian)
        XCTAssertEqual(nii.sclSlope, 2); XCTAssertEqual(nii.sclInter, -100)
        let meta = try expectedJSON()["scaled_be_i2"] as! [String: Double]
        XCTAssertEqual(Double(nii.volume.voxels.reduce(0, +)), meta["sum"]!)
        XCTAssertEqual(Double(nii.volume[1, 2, 3]), meta["v123"]!)
        XCTAssertEqual(nii.volume.spacing, [0.5, 0.75, 2.0])
        let f = try NIfTIImage.read(io("nifti/f4.nii"))
        XCTAssertEqual(f.volume[1, 2, 3], Float((1 * 6 + 2) * 4 + 3 - 40) / 8)
        let t = try NIfTIImage.read(io("nifti/u2_4d.nii.gz"))
        XCTAssertEqual([t.volume.width, t.volume.height, t.volume.depth, t.volume.frames], [3, 4, 2, 2])
        // nibabel's array is C order over (x, y, z, t): value = ((x·4 + y)·2 + z)·2 + t
        XCTAssertEqual(t.volume[2, 1, 1, 1], Float(((2 * 4 + 1) * 2 + 1) * 2 + 1))
    }

    func testLabelRoundTripKeepsGeometry() throws {
        for src in ["nifti/mni152_t1_z55-65.nii.gz", "nifti/scaled_be_i2.nii"] {
            let nii = try NIfTIImage.read(io(src))
            let labels = nii.volume.voxels.prefix(nii.volume.width * nii.volume.height * nii.volume.depth).map { Int($0) > 100 ? 3 : 0 }
            for (ext, type) in [("nii", NIfTIImage.LabelType.uint8), ("nii.gz", .int16)] {
                let url = tempURL("labels.\(ext)"); defer { try? FileManager.default.removeItem(at: url) }
                try nii.writeLabels(labels, to: url, datatype: type)
                let back = try NIfTIImage.read(url)
                XCTAssertEqual(back.volume.voxels.map { Int($0) }, labels)
                XCTAssertEqual(back.affine, nii.affine); XCTAssertEqual(back.volume.spacing, nii.volume.spacing)
                XCTAssertEqual(back.datatype, type == .uint8 ? .uint8 : .int16)
                XCTAssertEqual(Array(back.headerBytes[148..<228]), Array(nii.headerBytes[148..<228]), "descrip kept")
            }
        }
    }

    func testHostileNIfTI() throws {
        for path in ["nifti/scaled_be_i2.nii", "nifti/u2_4d.nii.gz"] {
            let good = try Data(contentsOf: io(path))
            for cut in stride(from: 0, to: good.count, by: max(1, good.count / 60)) {
                assertTypedError("\(path) cut \(cut)") { try NIfTIImage.parse(good.prefix(cut)) }
            }
        }
        let base = [UInt8](try Data(contentsOf: io("nifti/f4.nii")))
        func patched(_ o: Int, _ v: Int16) -> Data { var b = base; b[o] = UInt8(UInt16(bitPattern: v) & 0xFF); b[o + 1] = UInt8(UInt16(bitPattern: v) >> 8); return Data(b) }
        assertTypedError("absurd dims") { try NIfTIImage.parse(patched(42, 32767), limits: .init(maxDimension: 1 << 16, maxElements: 1 << 20)) }
        assertTypedError("claims more than present") { try NIfTIImage.parse(patched(42, 30000)) }
        assertTypedError("negative dim") { try NIfTIImage.parse(patched(44, -3)) }
        assertTypedError("dim0") { try NIfTIImage.parse(patched(40, 9)) }
        assertTypedError("datatype") { try NIfTIImage.parse(patched(70, 32)) }
        var m = base; m[345] = 0x58
        assertTypedError("magic") { try NIfTIImage.parse(Data(m)) }
        assertTypedError("sizeof_hdr") { try NIfTIImage.parse(Data([1, 2, 3, 4] + base.dropFirst(4))) }
    }
}

/// NIfTI-2 (.nii, .nii.gz) and NIfTI-1 .hdr/.img pairs written by nibabel (`Fixtures/io/make_nifti2_fixtures.py`).
final class NIfTI2AndPairTests: XCTestCase {
    func testNIfTI2AndPairsMatchTheirDefinition() throws {
        for name in ["v2.nii", "v2.nii.gz", "pair.img", "pair.hdr"] {
            let n = try NIfTIImage.read(io("nifti/\(name)"))
            let v = n.volume
            XCTAssertEqual([v.width, v.height, v.depth], [5, 4, 3], name)
            // value(x, y, z) = (x + 10y + 100z) · 0.5 − 2
            XCTAssertEqual(v[3, 2, 1], Float(3 + 20 + 100) * 0.5 - 2, name)
            XCTAssertEqual(v.voxels.last, Float(4 + 30 + 200) * 0.5 - 2, name)
            XCTAssertEqual(v.spacing, [0.5, 0.75, 2.5], name)
            XCTAssertEqual(n.affine[0][3], -10, name); XCTAssertEqual(n.affine[2][3], 30.5, name)
            XCTAssertEqual(n.affine[1][1], 0.75, name)
        }
    }

    /// NIfTI-2 stores scl_slope / scl_inter as float64: they are applied in Double (each voxel rounded once to
    /// Float), not through the Float of the converted NIfTI-1 header. Slope 0.1 and intercept 1/3 are not Floats.
    func testNIfTI2ScalingIsAppliedInDouble() throws {
        var v2 = try Data(contentsOf: io("nifti/v2.nii"))
        let slope = 0.1, inter = 1.0 / 3
        v2.replaceSubrange(176..<184, with: withUnsafeBytes(of: slope.bitPattern.littleEndian) { Data($0) })
        v2.replaceSubrange(184..<192, with: withUnsafeBytes(of: inter.bitPattern.littleEndian) { Data($0) })
        let n = try NIfTIImage.parse(v2)
        XCTAssertEqual(n.scaleSlope, slope); XCTAssertEqual(n.scaleIntercept, inter)
        var floatPathDiffers = 0
        for z in 0..<3 { for y in 0..<4 { for x in 0..<5 {
            let stored = Double(x + 10 * y + 100 * z)
            XCTAssertEqual(n.volume[x, y, z], Float(stored * slope + inter), "(\(x), \(y), \(z))")
            if Float(stored) * Float(slope) + Float(inter) != Float(stored * slope + inter) { floatPathDiffers += 1 }
        } } }
        XCTAssertGreaterThan(floatPathDiffers, 0, "the case must tell Double scaling from Float scaling")
        // NIfTI-1: the float32 header values, widened.
        let v1 = try NIfTIImage.read(io("nifti/pair.img"))
        XCTAssertEqual(v1.scaleSlope, 0.5); XCTAssertEqual(v1.scaleIntercept, -2)
    }

    func testBrokenPairsAndNIfTI2AreTypedErrors() throws {
        let dir = tempURL("pair")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: io("nifti/pair.hdr"), to: dir.appendingPathComponent("lonely.hdr"))
        assertTypedError("no .img") { try NIfTIImage.read(dir.appendingPathComponent("lonely.hdr")) }
        var v2 = try Data(contentsOf: io("nifti/v2.nii"))
        v2.replaceSubrange(16..<24, with: withUnsafeBytes(of: Int64(1) << 40) { Data($0) })  // dim[0] huge
        assertTypedError("NIfTI-2 dim") { try NIfTIImage.parse(v2) }
        for cut in [10, 300, 539, 560] { assertTypedError("NIfTI-2 cut \(cut)") { try NIfTIImage.parse(try Data(contentsOf: io("nifti/v2.nii")).prefix(cut)) } }
    }
}

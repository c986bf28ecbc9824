import Foundation
import MedicalIO
import TestSupport
import XCTest

/// `medsam convert IN OUT` on images and volumes, through the built executable; outputs read back with our readers.
final class CLIConvertImageTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try CLI.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func convert(_ input: URL, _ name: String) throws -> URL {
        let out = dir.appendingPathComponent(name)
        let r = try CLI.run(["convert", input.path, out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        return out
    }

    func testDICOMSeriesToNRRDAndNIfTIKeepsValuesAndGeometry() throws {
        let series = try DICOMSeries.read(fixtureURL("io/dicom/series"))
        let nrrd = try SpatialVolume.read(try convert(fixtureURL("io/dicom/series"), "ct.nrrd"))
        XCTAssertEqual(nrrd.volume.voxels, series.volume.voxels)
        XCTAssertEqual([nrrd.volume.width, nrrd.volume.height, nrrd.volume.depth], [128, 128, 3])
        XCTAssertEqual(nrrd.volume.spacing[2], 7.5)
        XCTAssertEqual(nrrd.origin, series.slices[0].imagePosition)  // the first slice along the normal (z = −5)
        XCTAssertEqual(nrrd.directions, [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
        let nii = try NIfTIImage.read(try convert(fixtureURL("io/dicom/series"), "ct.nii.gz"))
        XCTAssertEqual(nii.volume.voxels, series.volume.voxels)
        let p = series.slices[0].imagePosition ?? []
        XCTAssertEqual(nii.affine[0][3], -p[0], accuracy: 1e-4)  // LPS → RAS
        XCTAssertEqual(nii.affine[1][3], -p[1], accuracy: 1e-4)
        XCTAssertEqual(nii.affine[2][3], p[2], accuracy: 1e-4)
        XCTAssertEqual(nii.affine[0][0], -series.volume.spacing[0], accuracy: 1e-6)
        XCTAssertEqual(nii.affine[2][2], 7.5, accuracy: 1e-6)
    }

    func testNIfTIToMetaImageAndColourDICOMToNPY() throws {
        let src = try NIfTIImage.read(fixtureURL("io/nifti/scaled_be_i2.nii"))
        let mha = try SpatialVolume.read(try convert(fixtureURL("io/nifti/scaled_be_i2.nii"), "v.mha"))
        XCTAssertEqual(mha.volume.voxels, src.volume.voxels)
        XCTAssertEqual(mha.volume.spacing, src.volume.spacing)
        let rgb = try DICOMImage.read(fixtureURL("io/dicom/SC_rgb_small_odd.dcm"))
        let npy = try NPYArray.read(try convert(fixtureURL("io/dicom/SC_rgb_small_odd.dcm"), "rgb.npy"))
        XCTAssertEqual(npy.shape, [rgb.rows, rgb.columns, 3])
        XCTAssertEqual(npy.floats(), rgb.pixels)
        try CLI.assertFails(["convert", fixtureURL("io/dicom/SC_rgb_small_odd.dcm").path, dir.appendingPathComponent("x.nrrd").path],
                            mentioning: "only .npy")
        try CLI.assertFails(["convert", fixtureURL("io/dicom/CT_small.dcm").path, dir.appendingPathComponent("x.tiff").path],
                            mentioning: "output must end in")
        try CLI.assertFails(["convert", fixtureURL("corpus/dicom/frames_nan.dcm").path, dir.appendingPathComponent("x.nrrd").path],
                            mentioning: "NumberOfFrames")
    }

    /// 32-bit values above 2^24 and fractional rescales stay exact through convert (float64 output).
    func testExactValuesSurviveConvert() throws {
        let npy = try NPYArray.read(try convert(fixtureURL("io/dicom/exact_u32.dcm"), "u32.npy"))
        XCTAssertEqual(npy.dtype, .float64)
        XCTAssertEqual(npy.doubles(), [16_777_217, 4_294_967_295, 0, 1])
        let nrrd = try convert(fixtureURL("io/dicom/exact_slope.dcm"), "s.nrrd")
        let text = try String(contentsOf: nrrd, encoding: .isoLatin1)
        XCTAssertTrue(text.contains("type: double"), "a fractional rescale is written as float64")
    }
}

import Foundation
import Imaging
import MedSAM
import MedSAMTools
import MedicalIO
import TestSupport
import XCTest

/// `medsam segment` / `medsam volume` on DICOM input writing a DICOM Segmentation (and `volume` on a DICOM
/// series writing label volumes), run through the built executable with the real LiteMedSAM checkpoint. The
/// masks must equal the library's own results; the SEG is read back by our reader and, when installed, by
/// highdicom (labels, codes, references) and checked by dciodvfy (missing tool: failure under CI, loud skip elsewhere).
final class CLIDICOMSegTests: XCTestCase {
    static let series = fixtureURL("io/dicom/seg_series")

    func testSegmentDICOMWritesSegmentationWithTheLibraryMasks() throws {
        let ckpt = try liteMedSAMCheckpoint()
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ct = fixtureURL("io/dicom/CT_small.dcm")
        let out = dir.appendingPathComponent("seg.dcm")
        let r = try CLI.run(["segment", ct.path, "--box", "20,20,100,100", "--box", "60,30,90,60", "--label", "soft tissue",
                             "--label", "spot:lesion", "--checkpoint", ckpt.path, "-o", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)

        let input = try SegmentInput.load(ct, window: nil, slice: nil)
        let expected = try Segmenter(.liteMedSAM, checkpoint: ckpt).segment(input.image, boxes: [
            Box(x0: 20, y0: 20, x1: 100, y1: 100), Box(x0: 60, y0: 30, x1: 90, y1: 60)])
        XCTAssertGreaterThan(expected[0].area, 100); XCTAssertGreaterThan(expected[1].area, 50)
        let seg = try DICOMImage.read(out)
        XCTAssertEqual(seg.modality, "SEG")
        XCTAssertEqual([seg.rows, seg.columns, seg.numberOfFrames, seg.bitsAllocated], [128, 128, 2, 1])
        XCTAssertEqual(seg.pixels.map { UInt8($0) }, expected[0].mask + expected[1].mask, "one frame per box, the box's own mask")
        let source = try DICOMImage.read(ct)
        XCTAssertEqual(seg.identity.studyInstanceUID, source.identity.studyInstanceUID)
        XCTAssertEqual(seg.identity.frameOfReferenceUID, source.identity.frameOfReferenceUID)

        guard let report = try SEGCheck.highdicom(out, sources: [source.identity.sopInstanceUID ?? ""]) else { return }
        XCTAssertEqual(report["labels"] as? [String], ["soft tissue", "spot"])
        XCTAssertEqual(report["types"] as? [[String]], [["85756007", "SCT", "Tissue"], ["52988006", "SCT", "Lesion"]])
        XCTAssertEqual(report["source_images"] as? [[String]],
                       [[source.identity.studyInstanceUID ?? "", source.seriesInstanceUID ?? "", source.identity.sopInstanceUID ?? ""]])
        try SEGCheck.dciodvfyClean(out)
    }

    /// A DICOM series folder (file order ≠ slice order) through `medsam volume`: the SEG's frames are the library's
    /// propagated masks in slice order, each referencing its slice; `.nrrd` output keeps the series geometry, and
    /// the series converted to NRRD as input gives the same labels.
    func testVolumeOnDICOMSeriesWritesSegmentationAndNRRD() throws {
        let ckpt = try liteMedSAMCheckpoint()
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("vol.seg"), nrrd = dir.appendingPathComponent("labels.nrrd")
        let box = "8,8,0,56,56,2"
        let r = try CLI.run(["volume", Self.series.path, "--box3d", box, "--format", "dicom-seg", "--checkpoint", ckpt.path, "-o", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let r2 = try CLI.run(["volume", Self.series.path, "--box3d", box, "--checkpoint", ckpt.path, "-o", nrrd.path])
        XCTAssertEqual(r2.status, 0, r2.stderr)

        let input = try Pipelines.loadVolume(Self.series, window: nil, segmentationSource: true)
        XCTAssertTrue(input.windowDescription.contains("soft-tissue"), input.windowDescription)
        let labels = try Segmenter(.liteMedSAM, checkpoint: ckpt).segmentVolume(input.volume, boxes: [Box3D(x0: 8, y0: 8, z0: 0, x1: 56, y1: 56, z1: 2)])
        let plane = 64 * 64
        let mask = labels.map { $0 == 1 ? UInt8(1) : 0 }
        XCTAssertGreaterThan(mask.filter { $0 == 1 }.count, 200)

        // NRRD: the same labels, origin = the lowest slice's position, spacing = pixel spacing × slice distance.
        let sv = try SpatialVolume.read(nrrd)
        XCTAssertEqual(sv.volume.voxels.map { UInt16($0) }, labels)
        XCTAssertEqual(sv.origin[2], -5, accuracy: 1e-9)
        XCTAssertEqual(sv.volume.spacing[2], 7.5, accuracy: 1e-9)
        // The same series as NRRD input (medsam convert's geometry) gives the same labels, written as MetaImage.
        let ctNRRD = dir.appendingPathComponent("ct.nrrd"), mha = dir.appendingPathComponent("labels.mha")
        XCTAssertEqual(try CLI.run(["convert", Self.series.path, ctNRRD.path]).status, 0)
        let r3 = try CLI.run(["volume", ctNRRD.path, "--box3d", box, "--checkpoint", ckpt.path, "-o", mha.path])
        XCTAssertEqual(r3.status, 0, r3.stderr)
        let fromNRRD = try SpatialVolume.read(mha)
        XCTAssertEqual(fromNRRD.volume.voxels.map { UInt16($0) }, labels)
        XCTAssertEqual(fromNRRD.origin, sv.origin)

        // SEG: frames of non-empty slices, in slice order, each on its own source instance.
        let source = try XCTUnwrap(input.segmentationSource)
        XCTAssertEqual(source.frames.map(\.sopInstanceUID), (1...3).map { "2.25.1000000000000000000000000000000\($0)" })
        let kept = (0..<3).filter { k in mask[(k * plane)..<((k + 1) * plane)].contains(1) }
        let seg = try DICOMImage.read(out)
        XCTAssertEqual(seg.numberOfFrames, kept.count)
        XCTAssertEqual(seg.pixels.map { UInt8($0) }, kept.flatMap { mask[($0 * plane)..<(($0 + 1) * plane)] })
        XCTAssertEqual(seg.perFrame.map { $0.imagePosition?[2] }, kept.map { [-5, 2.5, 10][$0] })
        XCTAssertEqual(seg.identity.patientName, "Müller^Jörg")

        guard let report = try SEGCheck.highdicom(out, sources: source.frames.map(\.sopInstanceUID)) else { return }
        XCTAssertEqual(report["labels"] as? [String], ["object 1"])
        XCTAssertEqual(report["pixels_shape"] as? [Int], [3, 64, 64, 1])
        try SEGCheck.dciodvfyClean(out)
    }

    /// One slice of a DICOM series folder: the SEG has that slice's frame and references only its instance.
    func testSegmentSeriesSliceReferencesThatSlice() throws {
        let ckpt = try liteMedSAMCheckpoint()
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("slice2.dcm")
        let r = try CLI.run(["segment", Self.series.path, "--slice", "2", "--box", "8,8,56,56", "--label", "lump:lesion",
                             "--checkpoint", ckpt.path, "-o", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let input = try SegmentInput.load(Self.series, window: nil, slice: 2)
        let expected = try Segmenter(.liteMedSAM, checkpoint: ckpt).segment(input.image, boxes: [Box(x0: 8, y0: 8, x1: 56, y1: 56)])[0]
        XCTAssertGreaterThan(expected.area, 100)
        let seg = try DICOMImage.read(out)
        XCTAssertEqual(seg.numberOfFrames, 1)
        XCTAssertEqual(seg.pixels.map { UInt8($0) }, expected.mask)
        XCTAssertEqual(seg.perFrame.first?.imagePosition?[2], 10)  // slice 2 of the sorted series (z = 10)

        let slice = "2.25.10000000000000000000000000000003"
        guard let report = try SEGCheck.highdicom(out, sources: [slice]) else { return }
        XCTAssertEqual(report["source_images"] as? [[String]],
                       [["1.3.6.1.4.1.5962.1.2.1.20040119072730.12322", "2.25.2000000000000000000000000000000001", slice]])
        XCTAssertEqual(report["categories"] as? [[String]], [["49755003", "SCT", "Morphologically Abnormal Structure"]])
        XCTAssertEqual(report["labels"] as? [String], ["lump"])
        try SEGCheck.dciodvfyClean(out)
    }

    func testSegmentationOutputErrors() throws {
        let png = fixtureURL("io/png/gray8.png").path, ct = fixtureURL("io/dicom/CT_small.dcm").path
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let dcm = dir.appendingPathComponent("x.dcm").path
        try CLI.assertFails(["segment", png, "--box", "1,1,5,5", "-o", dcm], mentioning: "needs DICOM input")
        try CLI.assertFails(["segment", ct, "--box", "1,1,5,5", "--format", "rtstruct", "-o", dcm], mentioning: "--format rtstruct")
        try CLI.assertFails(["segment", ct, "--box", "1,1,5,5", "--label", "a", "-o", dir.appendingPathComponent("m.png").path],
                            mentioning: "--label")
        try CLI.assertFails(["segment", ct, "--box", "1,1,5,5", "--label", "a", "--label", "b", "-o", dcm], mentioning: "2 labels for 1")
        try CLI.assertFails(["volume", fixtureURL("io/nifti/mni152_t1_z55-65.nii.gz").path, "--box3d", "1,1,0,5,5,1", "-o", dcm],
                            mentioning: "needs DICOM input")
        try CLI.assertFails(["volume", Self.series.path, "--box3d", "1,1,0,5,5,1", "-o", dir.appendingPathComponent("x.png").path],
                            mentioning: ".nrrd")
    }
}

/// highdicom / dciodvfy checks of a written SEG (`scripts/check-dicom-seg.py`).
enum SEGCheck {
    static func missing(_ message: String) throws -> Never { try TestTools.missing(message) }

    static func run(_ args: [String]) throws -> (status: Int32, out: String, err: String) { try TestTools.run(args) }

    /// highdicom's report (JSON object), or a skip / CI failure when highdicom is not installed.
    static func highdicom(_ url: URL, sources: [String]) throws -> [String: Any]? {
        if try run(["python3", "-c", "import highdicom, pydicom, numpy"]).status != 0 {
            try missing("python3 with highdicom, pydicom and numpy is needed to check DICOM SEG")
        }
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try run(["python3", repositoryRoot.appendingPathComponent("scripts/check-dicom-seg.py").path, url.path, dir.path] + sources)
        guard r.status == 0, let j = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any] else {
            XCTFail("highdicom could not read \(url.lastPathComponent): \(r.err)")
            return nil
        }
        return j
    }

    static func dciodvfyClean(_ url: URL) throws {
        if try run(["sh", "-c", "command -v dciodvfy"]).status != 0 { try missing("dciodvfy (Debian dicom3tools) is needed to check DICOM SEG") }
        let r = try run(["dciodvfy", url.path])
        let lines = (r.out + r.err).split(whereSeparator: \.isNewline).map(String.init)
        print("dciodvfy \(url.lastPathComponent): \(lines)")
        XCTAssertTrue(lines.contains { $0.contains("Segmentation") }, "\(lines)")
        XCTAssertEqual(lines.filter { $0.hasPrefix("Error") }, [])
    }
}

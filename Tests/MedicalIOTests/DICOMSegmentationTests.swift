import Foundation
import MedicalIO
import TestSupport
import XCTest

/// DICOM Segmentation writer: our own reader reads the objects back (always), and the tools people use check
/// them when installed (`scripts/bootstrap.sh`): highdicom's `segread` gives back the same masks, segment
/// descriptions and source references, pydicom reads the attributes, `dciodvfy` (Debian dicom3tools) reports no
/// error for the Segmentation IOD. A missing tool fails the test under CI (`CI` set) and skips it loudly elsewhere.
final class DICOMSegmentationTests: XCTestCase {
    // MARK: sources and masks

    /// The 3-slice series of `Fixtures/io/dicom/seg_series` (file order ≠ slice order; 64 × 64).
    func series() throws -> DICOMSeries { try DICOMSeries.read(io("dicom/seg_series")) }

    /// A filled rectangle (inclusive bounds) in a rows × columns plane.
    func rectangle(rows: Int, columns: Int, r0: Int, r1: Int, c0: Int, c1: Int) -> [UInt8] {
        var m = [UInt8](repeating: 0, count: rows * columns)
        for r in r0...r1 { for c in c0...c1 { m[r * columns + c] = 1 } }
        return m
    }

    /// A disk of radius `radius` around (cr, cc).
    func disk(rows: Int, columns: Int, cr: Int, cc: Int, radius: Int) -> [UInt8] {
        var m = [UInt8](repeating: 0, count: rows * columns)
        for r in 0..<rows { for c in 0..<columns where (r - cr) * (r - cr) + (c - cc) * (c - cc) <= radius * radius { m[r * columns + c] = 1 } }
        return m
    }

    /// CT_small (128 × 128) with two overlapping segments: a rectangle (tissue) and a disk (lesion).
    func twoD() throws -> (DICOMImage, DICOMSegmentation) {
        let ct = try DICOMImage.read(io("dicom/CT_small.dcm"))
        var seg = DICOMSegmentation(source: try DICOMSegmentationSource(image: ct), segments: [
            DICOMSegment(label: "box 1", mask: rectangle(rows: 128, columns: 128, r0: 20, r1: 70, c0: 30, c1: 101)),
            DICOMSegment(label: "lésion", category: .morphologicallyAbnormalStructure, type: .lesion,
                         algorithmName: "LiteMedSAM", mask: disk(rows: 128, columns: 128, cr: 64, cc: 64, radius: 17)),
        ])
        seg.seriesDescription = "test 2-D"
        return (ct, seg)
    }

    /// The series with segment 1 on slices 0 and 2 only (slice 1 empty: no frame written) and segment 2 empty
    /// everywhere (its first frame is kept so the segment is present).
    func threeD() throws -> (DICOMSeries, DICOMSegmentation, [[UInt8]]) {
        let s = try series()
        let plane = 64 * 64
        var m1 = [UInt8](repeating: 0, count: 3 * plane)
        m1.replaceSubrange(0..<plane, with: rectangle(rows: 64, columns: 64, r0: 5, r1: 30, c0: 10, c1: 50))
        m1.replaceSubrange((2 * plane)..<(3 * plane), with: disk(rows: 64, columns: 64, cr: 40, cc: 21, radius: 9))
        let m2 = [UInt8](repeating: 0, count: 3 * plane)
        let seg = DICOMSegmentation(source: try DICOMSegmentationSource(series: s), segments: [
            DICOMSegment(label: "object 1", mask: m1), DICOMSegment(label: "object 2", mask: m2),
        ])
        return (s, seg, [m1, m2])
    }

    // MARK: always (our reader)

    func testSeriesIdentityAndFrameReferences() throws {
        let s = try series()
        // Sorted by position z = -5, 2.5, 10 ↔ instance 1, 2, 3 (files slice1, slice2, slice0).
        let source = try DICOMSegmentationSource(series: s)
        XCTAssertEqual(source.frames.map(\.sopInstanceUID), (1...3).map { "2.25.1000000000000000000000000000000\($0)" })
        XCTAssertEqual(source.frames.map { $0.imagePosition?[2] }, [-5, 2.5, 10])
        XCTAssertEqual(source.frames.map(\.sopClassUID), Array(repeating: "1.2.840.10008.5.1.4.1.1.2", count: 3))
        XCTAssertTrue(source.isSpatial)
        let id = source.identity
        XCTAssertEqual(id.patientName, "Müller^Jörg")  // ISO_IR 100 bytes decoded as Latin-1
        XCTAssertEqual(id.studyInstanceUID, "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322")
        XCTAssertEqual(id.seriesInstanceUID, "2.25.2000000000000000000000000000000001")
        XCTAssertEqual(id.frameOfReferenceUID, "1.3.6.1.4.1.5962.1.4.1.1.20040119072730.12322")
        XCTAssertEqual(id.patientID, "1CT1")
        XCTAssertEqual(id.studyDate, "20040119")
        XCTAssertEqual(source.rows, 64); XCTAssertEqual(source.columns, 64)
    }

    func testTwoDReadsBackWithOurReader() throws {
        let (ct, seg) = try twoD()
        let back = try DICOMImage.parse(try seg.encode())
        XCTAssertEqual(back.identity.sopClassUID, DICOMSegmentation.sopClassUID)
        XCTAssertEqual(back.modality, "SEG")
        XCTAssertEqual(back.bitsAllocated, 1)
        XCTAssertEqual([back.rows, back.columns, back.numberOfFrames], [128, 128, 2])
        XCTAssertEqual(back.identity.studyInstanceUID, ct.identity.studyInstanceUID)
        XCTAssertEqual(back.identity.frameOfReferenceUID, ct.identity.frameOfReferenceUID)
        XCTAssertNotEqual(back.seriesInstanceUID, ct.seriesInstanceUID)
        XCTAssertTrue(back.seriesInstanceUID?.hasPrefix("2.25.") ?? false)
        XCTAssertEqual(back.pixels.map { UInt8($0) }, seg.segments[0].mask + seg.segments[1].mask)
        XCTAssertEqual(back.perFrame.map(\.imagePosition), [ct.imagePosition, ct.imagePosition])
        XCTAssertEqual(back.imageOrientation, ct.imageOrientation)
        XCTAssertEqual(back.perFrame.first?.pixelSpacing, ct.pixelSpacing)
        XCTAssertEqual(back.identity.patientName, ct.identity.patientName)
    }

    func testThreeDOmitsEmptyFramesAndKeepsEverySegment() throws {
        let (_, seg, masks) = try threeD()
        let list = seg.frameList()
        XCTAssertEqual(list.map(\.segment), [1, 1, 2])
        XCTAssertEqual(list.map(\.frame), [0, 2, 0])
        let back = try DICOMImage.parse(try seg.encode())
        XCTAssertEqual(back.numberOfFrames, 3)
        let plane = 64 * 64
        let expected = Array(masks[0][0..<plane]) + Array(masks[0][(2 * plane)...]) + Array(masks[1][0..<plane])
        XCTAssertEqual(back.pixels.map { UInt8($0) }, expected)
        XCTAssertEqual(back.perFrame.map { $0.imagePosition?[2] }, [-5, 10, -5])
        XCTAssertEqual(back.identity.patientName, "Müller^Jörg")  // written as UTF-8 under ISO_IR 192, read back
    }

    /// Frames whose bits do not start on a byte boundary (5 × 7 pixels): packed back to back, as Part 5 says.
    func testOddFrameSizesPackBitsAcrossFrames() throws {
        var id = DICOMIdentity()
        id.studyInstanceUID = "2.25.1"; id.seriesInstanceUID = "2.25.2"
        let frames = (0..<3).map { DICOMSegmentationSource.Frame(sopClassUID: "1.2.840.10008.5.1.4.1.1.7", sopInstanceUID: "2.25.\(10 + $0)") }
        let source = DICOMSegmentationSource(identity: id, rows: 5, columns: 7, pixelSpacing: nil, sliceThickness: nil,
                                             imageOrientation: nil, frames: frames)
        XCTAssertFalse(source.isSpatial)
        let mask = (0..<105).map { UInt8(($0 * 7 + $0 / 5) % 3 == 0 ? 1 : 0) }
        let back = try DICOMImage.parse(try DICOMSegmentation(source: source, segments: [DICOMSegment(label: "a", mask: mask)]).encode())
        XCTAssertEqual(back.numberOfFrames, 3)
        XCTAssertEqual(back.pixels.map { UInt8($0) }, mask)
    }

    func testBadSegmentsAreTypedErrors() throws {
        let (_, seg) = try twoD()
        var wrongSize = seg; wrongSize.segments[0].mask.removeLast()
        assertTypedError("mask size") { try wrongSize.encode() }
        var longLabel = seg; longLabel.segments[0].label = String(repeating: "x", count: 65)
        assertTypedError("label of 65 characters") { try longLabel.encode() }
        var backslash = seg; backslash.segments[0].label = "a\\b"
        assertTypedError("label with a backslash") { try backslash.encode() }
        var badCode = seg; badCode.segments[0].type.value = String(repeating: "1", count: 17)
        assertTypedError("code value of 17 characters") { try badCode.encode() }
        var lowerLabel = seg; lowerLabel.contentLabel = "medsam"
        assertTypedError("lower-case content label") { try lowerLabel.encode() }
        var none = seg; none.segments = []
        assertTypedError("no segments") { try none.encode() }
        var noName = seg; noName.segments[0].algorithmName = nil
        assertTypedError("semi-automatic segment without an algorithm name") { try noName.encode() }
    }

    /// The encoder's sequences with undefined lengths (item and sequence delimiters) read back as with defined lengths.
    func testUndefinedLengthSequencesReadBack() throws {
        let (_, seg) = try twoD()
        let defined = try DICOMImage.parse(try seg.encode())
        XCTAssertEqual(defined.perFrame.count, 2)
        let ds: [DICOMElement] = [
            .text(0x0008_0016, "UI", "1.2.840.10008.5.1.4.1.1.7"), .text(0x0008_0018, "UI", "2.25.5"), .text(0x0008_0060, "CS", "OT"),
            .sequence(0x5200_9229, [[.sequence(0x0028_9110, [[.decimals(0x0028_0030, [0.5, 0.25])]])]]),
            .sequence(0x5200_9230, [[.sequence(0x0020_9113, [[.decimals(0x0020_0032, [1, 2, 3])]])],
                                    [.sequence(0x0020_9113, [[.decimals(0x0020_0032, [1, 2, 4.5])]])]]),
            .us(0x0028_0002, [1]), .text(0x0028_0004, "CS", "MONOCHROME2"), .text(0x0028_0008, "IS", "2"),
            .us(0x0028_0010, [1]), .us(0x0028_0011, [3]), .us(0x0028_0100, [8]), .us(0x0028_0101, [8]), .us(0x0028_0102, [7]),
            .us(0x0028_0103, [0]), .bytes(0x7FE0_0010, "OB", [1, 2, 3, 4, 5, 6]),
        ]
        for undefined in [false, true] {
            let bytes = try DICOMDataSetWriter.file(sopClassUID: "1.2.840.10008.5.1.4.1.1.7", sopInstanceUID: "2.25.5", dataSet: ds,
                                                    undefinedLengths: undefined)
            let d = try DICOMImage.parse(Data(bytes))
            XCTAssertEqual(d.pixels, [1, 2, 3, 4, 5, 6], "undefined lengths: \(undefined)")
            XCTAssertEqual(d.perFrame.map(\.imagePosition), [[1, 2, 3], [1, 2, 4.5]], "undefined lengths: \(undefined)")
            XCTAssertEqual(d.perFrame.map(\.pixelSpacing), [[0.5, 0.25], [0.5, 0.25]], "undefined lengths: \(undefined)")
        }
        let tooLong = [DICOMElement.text(0x0008_0060, "CS", String(repeating: "A", count: 70_000))]
        assertTypedError("short-VR value over 65535 bytes") {
            try DICOMDataSetWriter.file(sopClassUID: "1.2.3", sopInstanceUID: "2.25.6", dataSet: tooLong)
        }
    }

    func testNewUIDsAreUUIDDerived() {
        let a = DICOMDataSetWriter.newUID(), b = DICOMDataSetWriter.newUID()
        XCTAssertNotEqual(a, b)
        for u in [a, b] {
            XCTAssertTrue(u.hasPrefix("2.25."))
            XCTAssertLessThanOrEqual(u.count, 44)
            let digits = u.dropFirst(5)
            XCTAssertTrue(digits.allSatisfy(\.isNumber) && (digits.first != "0" || digits.count == 1), u)
        }
    }

    // MARK: external tools

    func testTwoDWithHighdicomPydicomAndDciodvfy() throws {
        let (ct, seg) = try twoD()
        let url = tempURL("seg2d.dcm")
        defer { try? FileManager.default.removeItem(at: url) }
        try seg.write(to: url)
        let sop = try XCTUnwrap(ct.identity.sopInstanceUID)
        let r = try SegmentationToolCheck.highdicom(url, sources: [sop])
        XCTAssertEqual(r.pixelsShape, [1, 128, 128, 2])
        XCTAssertEqual(r.pixels, zip(seg.segments[0].mask, seg.segments[1].mask).flatMap { [$0, $1] })
        XCTAssertEqual(r.labels, ["box 1", "lésion"])
        XCTAssertEqual(r.categories, [["85756007", "SCT", "Tissue"], ["49755003", "SCT", "Morphologically Abnormal Structure"]])
        XCTAssertEqual(r.types, [["85756007", "SCT", "Tissue"], ["52988006", "SCT", "Lesion"]])
        XCTAssertEqual(r.algorithmTypes, ["SEMIAUTOMATIC", "SEMIAUTOMATIC"])
        XCTAssertEqual(r.segmentationType, "BINARY")
        let id = ct.identity
        XCTAssertEqual(r.sourceImages, [[id.studyInstanceUID ?? "", id.seriesInstanceUID ?? "", sop]])
        XCTAssertEqual(r.attributes["SOPClassUID"], DICOMSegmentation.sopClassUID)
        XCTAssertEqual(r.attributes["Modality"], "SEG")
        XCTAssertEqual(r.attributes["NumberOfFrames"], "2")
        XCTAssertEqual(r.attributes["StudyInstanceUID"], id.studyInstanceUID)
        XCTAssertEqual(r.attributes["FrameOfReferenceUID"], id.frameOfReferenceUID)
        XCTAssertEqual(r.attributes["PatientName"], "CompressedSamples^CT1")
        XCTAssertEqual(r.attributes["SpecificCharacterSet"], "ISO_IR 192")  // the label "lésion"
        XCTAssertEqual(r.referencedSeries, [[id.seriesInstanceUID ?? "", sop]])
        XCTAssertEqual(r.framePositions, [ct.imagePosition, ct.imagePosition])
        try SegmentationToolCheck.dciodvfyClean(url)
    }

    func testThreeDWithHighdicomPydicomAndDciodvfy() throws {
        let (s, seg, masks) = try threeD()
        let url = tempURL("seg3d.dcm")
        defer { try? FileManager.default.removeItem(at: url) }
        try seg.write(to: url)
        let sops = seg.source.frames.map(\.sopInstanceUID)
        let r = try SegmentationToolCheck.highdicom(url, sources: sops)
        XCTAssertEqual(r.pixelsShape, [3, 64, 64, 2])
        var expected = [UInt8]()
        for i in 0..<(3 * 64 * 64) { expected += [masks[0][i], masks[1][i]] }
        XCTAssertEqual(r.pixels, expected)
        XCTAssertEqual(r.labels, ["object 1", "object 2"])
        XCTAssertEqual(r.categories, [["85756007", "SCT", "Tissue"], ["85756007", "SCT", "Tissue"]])
        let id = seg.source.identity
        XCTAssertEqual(Set(r.sourceImages), Set(sops.map { [id.studyInstanceUID ?? "", s.seriesUID, $0] }))
        XCTAssertEqual(r.referencedSeries, [[s.seriesUID] + sops])
        XCTAssertEqual(r.attributes["PatientName"], "Müller^Jörg")
        XCTAssertEqual(r.attributes["NumberOfFrames"], "3")
        XCTAssertEqual(r.framePositions.map { $0?[2] }, [-5, 10, -5])
        try SegmentationToolCheck.dciodvfyClean(url)
    }

    /// An Enhanced CT-like multi-frame source (3 frames of 16 × 12, per-frame Plane Position), written with our
    /// encoder: the SEG references each source frame by Referenced Frame Number, highdicom gives the masks back per
    /// source frame, and dciodvfy finds no error.
    func testMultiFrameSourceIsReferencedByFrameNumber() throws {
        let (rows, cols) = (12, 16)
        let ds: [DICOMElement] = [
            .text(0x0008_0016, "UI", "1.2.840.10008.5.1.4.1.1.2.1"), .text(0x0008_0018, "UI", "2.25.77"), .text(0x0008_0060, "CS", "CT"),
            .text(0x0010_0010, "PN", "Multi^Frame"), .text(0x0010_0020, "LO", "MF1"),
            .text(0x0020_000D, "UI", "2.25.78"), .text(0x0020_000E, "UI", "2.25.79"), .text(0x0020_0052, "UI", "2.25.80"),
            .sequence(0x5200_9229, [[.sequence(0x0020_9116, [[.decimals(0x0020_0037, [1, 0, 0, 0, 1, 0])]]),
                                     .sequence(0x0028_9110, [[.decimals(0x0018_0050, [2]), .decimals(0x0028_0030, [0.8, 0.8])]])]]),
            .sequence(0x5200_9230, (0..<3).map { k in [.sequence(0x0020_9113, [[.decimals(0x0020_0032, [-5, -4, 2 * Double(k)])]])] }),
            .us(0x0028_0002, [1]), .text(0x0028_0004, "CS", "MONOCHROME2"), .text(0x0028_0008, "IS", "3"),
            .us(0x0028_0010, [rows]), .us(0x0028_0011, [cols]), .us(0x0028_0100, [16]), .us(0x0028_0101, [16]), .us(0x0028_0102, [15]),
            .us(0x0028_0103, [0]), .bytes(0x7FE0_0010, "OW", [UInt8](repeating: 7, count: 3 * rows * cols * 2)),
        ]
        let src = try DICOMImage.parse(Data(try DICOMDataSetWriter.file(sopClassUID: "1.2.840.10008.5.1.4.1.1.2.1", sopInstanceUID: "2.25.77", dataSet: ds)))
        let source = try DICOMSegmentationSource(image: src)
        XCTAssertEqual(source.frames.map(\.frameNumber), [1, 2, 3])
        XCTAssertEqual(source.frames.map { $0.imagePosition?[2] }, [0, 2, 4])
        XCTAssertTrue(source.isSpatial)
        let plane = rows * cols
        var mask = [UInt8](repeating: 0, count: 3 * plane)
        for f in [0, 2] { for i in 0..<plane where (i / cols + i % cols + f) % 4 == 0 { mask[f * plane + i] = 1 } }
        let seg = DICOMSegmentation(source: source, segments: [DICOMSegment(label: "grid", mask: mask)])
        let url = tempURL("seg-mf.dcm")
        defer { try? FileManager.default.removeItem(at: url) }
        try seg.write(to: url)
        let back = try DICOMImage.read(url)
        XCTAssertEqual(back.numberOfFrames, 2)
        XCTAssertEqual(back.pixels.map { UInt8($0) }, Array(mask[0..<plane]) + Array(mask[(2 * plane)...]))

        let r = try SegmentationToolCheck.highdicom(url, sources: (1...3).map { "2.25.77:\($0)" })
        XCTAssertEqual(r.referencedFrames, [1, 3])
        XCTAssertEqual(r.pixelsShape, [3, rows, cols, 1])
        XCTAssertEqual(r.pixels, mask)
        XCTAssertEqual(r.sourceImages, [["2.25.78", "2.25.79", "2.25.77"]])
        XCTAssertEqual(r.attributes["FrameOfReferenceUID"], "2.25.80")
        try SegmentationToolCheck.dciodvfyClean(url)
    }

    /// A source without Frame of Reference or positions (secondary capture, 3 × 3 RGB): no Plane Position /
    /// Orientation, no Frame of Reference, one dimension (the segment number); still read back and valid.
    func testNonSpatialSourceWithHighdicomAndDciodvfy() throws {
        let sc = try DICOMImage.read(io("dicom/SC_rgb_small_odd.dcm"))
        let source = try DICOMSegmentationSource(image: sc)
        XCTAssertFalse(source.isSpatial)
        let mask: [UInt8] = [1, 0, 1, 0, 1, 0, 1, 1, 0]
        let url = tempURL("seg-sc.dcm")
        defer { try? FileManager.default.removeItem(at: url) }
        try DICOMSegmentation(source: source, segments: [DICOMSegment(label: "x", mask: mask)]).write(to: url)
        let back = try DICOMImage.read(url)
        XCTAssertEqual(back.pixels.map { UInt8($0) }, mask)
        XCTAssertEqual(back.perFrame.map(\.imagePosition), [nil])
        let r = try SegmentationToolCheck.highdicom(url, sources: [sc.identity.sopInstanceUID ?? ""])
        XCTAssertEqual(r.pixels, mask)
        XCTAssertEqual(r.attributes["FrameOfReferenceUID"], "")
        try SegmentationToolCheck.dciodvfyClean(url)
    }

    /// The dciodvfy check can fail: the same object without its Type 1 Content Label is reported.
    func testDciodvfyReportsAMissingType1Attribute() throws {
        let (_, seg) = try twoD()
        let url = tempURL("seg-broken.dcm")
        defer { try? FileManager.default.removeItem(at: url) }
        try seg.write(to: url)
        let r = try SegmentationToolCheck.run(["python3", "-c", "import sys, pydicom; d = pydicom.dcmread(sys.argv[1]); del d.ContentLabel; d.save_as(sys.argv[1])", url.path])
        if r.status != 0 { try SegmentationToolCheck.missingTool("python3 with pydicom is needed (\(r.err))") }
        let errors = try SegmentationToolCheck.dciodvfy(url).filter { $0.hasPrefix("Error") }
        XCTAssertTrue(errors.contains { $0.contains("ContentLabel") }, "\(errors)")
    }
}

/// Runs the external checkers of a written Segmentation.
enum SegmentationToolCheck {
    struct Report {
        var attributes: [String: String]
        var labels: [String], categories: [[String]], types: [[String]], algorithmTypes: [String]
        var segmentationType: String
        var sourceImages: [[String]]
        /// Per referenced series: series UID then its instance UIDs.
        var referencedSeries: [[String]]
        var framePositions: [[Double]?]
        /// Referenced Frame Number of each SEG frame's source image (0 when absent).
        var referencedFrames: [Int]
        var pixelsShape: [Int]
        /// highdicom's (instances, rows, columns, segments) array, flattened.
        var pixels: [UInt8]
    }

    /// Fails (CI) or skips (elsewhere) with `message`.
    static func missingTool(_ message: String, file: StaticString = #filePath, line: UInt = #line) throws -> Never {
        try TestTools.missing(message, file: file, line: line)
    }

    static func run(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
        try TestTools.run(args, cwd: repositoryRoot)
    }

    static func highdicom(_ url: URL, sources: [String], file: StaticString = #filePath, line: UInt = #line) throws -> Report {
        let probe = try run(["python3", "-c", "import highdicom, pydicom, numpy"])
        if probe.status != 0 { try missingTool("python3 with highdicom, pydicom and numpy is needed to check DICOM SEG", file: file, line: line) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("segcheck-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try run(["python3", repositoryRoot.appendingPathComponent("scripts/check-dicom-seg.py").path, url.path, dir.path] + sources)
        guard r.status == 0, let j = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any] else {
            XCTFail("highdicom/pydicom could not read the segmentation: \(r.err)", file: file, line: line)
            throw XCTSkip("highdicom failed")
        }
        let px = try MedicalIO.NPYArray.read(dir.appendingPathComponent("pixels.npy"))
        print("DICOM SEG check: pydicom \(j["pydicom"] ?? "?"), highdicom \(j["highdicom"] ?? "?")")
        return Report(
            attributes: j["attributes"] as? [String: String] ?? [:], labels: j["labels"] as? [String] ?? [],
            categories: j["categories"] as? [[String]] ?? [], types: j["types"] as? [[String]] ?? [],
            algorithmTypes: j["algorithm_types"] as? [String] ?? [], segmentationType: j["segmentation_type"] as? String ?? "",
            sourceImages: j["source_images"] as? [[String]] ?? [],
            referencedSeries: (j["referenced_series"] as? [[String: Any]] ?? []).map { [$0["series"] as? String ?? ""] + ($0["instances"] as? [String] ?? []) },
            framePositions: (j["frame_positions"] as? [Any] ?? []).map { $0 as? [Double] },
            referencedFrames: j["referenced_frames"] as? [Int] ?? [],
            pixelsShape: px.shape, pixels: try px.uint8s())
    }

    /// What `dciodvfy` prints (warnings and errors), after checking that it took the file for a Segmentation.
    static func dciodvfy(_ url: URL, file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        let probe = try run(["sh", "-c", "command -v dciodvfy"])
        if probe.status != 0 { try missingTool("dciodvfy (Debian dicom3tools) is needed to check DICOM SEG", file: file, line: line) }
        let r = try run(["dciodvfy", url.path])
        let lines = (r.out + r.err).split(whereSeparator: \.isNewline).map(String.init)
        print("dciodvfy \(url.lastPathComponent):\n" + lines.map { "  " + $0 }.joined(separator: "\n"))
        XCTAssertTrue(lines.contains { $0.contains("Segmentation") }, "dciodvfy did not recognise a Segmentation: \(lines)", file: file, line: line)
        return lines
    }

    /// `dciodvfy` prints no `Error` line (warnings are printed for the record).
    static func dciodvfyClean(_ url: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        let errors = try dciodvfy(url, file: file, line: line).filter { $0.hasPrefix("Error") }
        XCTAssertEqual(errors, [], "dciodvfy errors", file: file, line: line)
    }
}

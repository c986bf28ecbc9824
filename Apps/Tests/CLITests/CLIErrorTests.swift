import Foundation
import XCTest
import TestSupport

/// Bad inputs end with one `error: …` line and a non-zero status (no model is loaded for any of them).
final class CLIErrorTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try CLI.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    var out: String { dir.appendingPathComponent("mask.png").path }
    let ct = fixtureURL("io/dicom/CT_small.dcm").path

    func testMissingFile() throws {
        try CLI.assertFails(["segment", dir.appendingPathComponent("nothere.png").path, "--box", "1,1,5,5", "-o", out],
                            mentioning: "no such file")
        try CLI.assertFails(["volume", dir.appendingPathComponent("nothere.nii.gz").path, "--box3d", "1,1,0,5,5,1", "-o", out],
                            mentioning: "no such file")
        try CLI.assertFails(["info", dir.appendingPathComponent("nothere.pth").path], mentioning: "no such file")
        try CLI.assertFails(["segment", ct, "--box", "1,1,5,5", "--checkpoint", "/nonexistent/lite.pth", "-o", out],
                            mentioning: "no such file")
    }

    func testUnknownFormat() throws {
        let txt = dir.appendingPathComponent("notes.txt")
        try Data("hello, not an image".utf8).write(to: txt)
        try CLI.assertFails(["segment", txt.path, "--box", "1,1,5,5", "-o", out], mentioning: "unknown file format")
        try CLI.assertFails(["volume", fixtureURL("data/dicompyler_ct/ct0_softtissue.png").path, "--box3d", "1,1,0,5,5,1",
                             "-o", out], mentioning: "NIfTI")
        try CLI.assertFails(["segment", ct, "--box", "1,1,5,5", "-o", dir.appendingPathComponent("mask.jpg").path],
                            mentioning: ".png")
    }

    func testCorruptFiles() throws {
        let png = try Data(contentsOf: fixtureURL("data/dicompyler_ct/ct0_softtissue.png"))
        let cut = dir.appendingPathComponent("cut.png")
        try png.prefix(200).write(to: cut)
        try CLI.assertFails(["segment", cut.path, "--box", "1,1,5,5", "-o", out], mentioning: "cut.png")
        try CLI.assertFails(["segment", fixtureURL("io/dicom/MR_truncated.dcm").path, "--box", "1,1,5,5", "-o", out],
                            mentioning: "truncated")
        let npz = dir.appendingPathComponent("2D_bad.npz")
        try Data(try Data(contentsOf: fixtureURL("io/challenge/2DT1_MNI_demo.npz")).prefix(300)).write(to: npz)
        try CLI.assertFails(["segment", npz.path, "-o", dir.appendingPathComponent("s.npz").path], mentioning: "2D_bad.npz")
        // 12-bit JPEG Extended: the linked libjpeg-turbo 2.1 decodes 8-bit JPEG only.
        try CLI.assertFails(["segment", fixtureURL("io/dicom/JPEG-lossy.dcm").path, "--box", "1,1,5,5", "-o", out],
                            mentioning: "12-bit JPEG")
    }

    func testBadBoxesAndPoints() throws {
        try CLI.assertFails(["segment", ct, "--box", "10,10,200,50", "-o", out], mentioning: "outside the 128×128 image")
        try CLI.assertFails(["segment", ct, "--box", "-5,10,20,50", "-o", out], mentioning: "outside")
        try CLI.assertFails(["segment", ct, "--box", "10,10,5", "-o", out], mentioning: "x0,y0,x1,y1")
        try CLI.assertFails(["segment", ct, "--box", "30,10,5,50", "-o", out], mentioning: "x1 must exceed x0")
        try CLI.assertFails(["segment", ct, "--box", "a,b,c,d", "-o", out], mentioning: "not a number")
        try CLI.assertFails(["segment", ct, "--box", "1,1,50,50", "--point", "300,3", "-o", out], mentioning: "outside")
        try CLI.assertFails(["segment", ct, "--box", "1,1,50,50", "--box", "2,2,40,40", "--point", "3,3", "-o", out],
                            mentioning: "K:x,y")
        try CLI.assertFails(["segment", ct, "-o", out], mentioning: "no prompt")
        try CLI.assertFails(["volume", fixtureURL("io/challenge/3DBox_MNI_demo.npz").path, "--box3d", "1,1,0,500,50,3",
                             "-o", dir.appendingPathComponent("v.npz").path], mentioning: "outside")
        try CLI.assertFails(["segment", fixtureURL("io/nifti/mni152_t1_z55-65.nii.gz").path, "--slice", "40", "--box", "1,1,5,5",
                             "-o", dir.appendingPathComponent("m.nii.gz").path], mentioning: "--slice 40")
    }

    func testUnknownWindowAndOptions() throws {
        try CLI.assertFails(["segment", ct, "--box", "1,1,50,50", "--window", "liver", "-o", out], mentioning: "unknown window")
        try CLI.assertFails(["segment", ct, "--box", "1,1,50,50", "--window", "40,-5", "-o", out], mentioning: "width")
        try CLI.assertFails(["segment", ct, "--box", "1,1,50,50", "--window", "none", "-o", out], mentioning: "not 8-bit")
        try CLI.assertFails(["segment", ct, "--box", "1,1,50,50", "--model", "sam3", "-o", out], mentioning: "unknown model")
        try CLI.assertFails(["segment", ct, "--box", "1,1,50,50", "--frobnicate", "-o", out], mentioning: "--frobnicate")
        try CLI.assertFails(["segment", ct, "--box", "1,1,50,50"], mentioning: "--output")
        try CLI.assertFails(["segment", ct, "--box", "1,1,50,50", "--threads", "0", "-o", out], mentioning: "--threads")
        try CLI.assertFails(["frobnicate"], mentioning: "frobnicate")
        try CLI.assertFails(["volume", fixtureURL("io/challenge/3DBox_MNI_demo.npz").path, "--model", "medsam",
                             "-o", dir.appendingPathComponent("v.npz").path], mentioning: "LiteMedSAM")
    }

    func testCheckpointGuidance() throws {
        try CLI.assertFails(["segment", ct, "--box", "1,1,50,50", "--model", "medsam", "-o", out], mentioning: "medsam_vit_b.pth")
        // A copy of the executable outside the checkout, no cache: explains how to fetch the checkpoint.
        guard let exe = CLI.executable else { return XCTFail("no executable") }
        let copy = dir.appendingPathComponent("bin/medsam")
        try FileManager.default.createDirectory(at: copy.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: exe, to: copy)
        var env = ProcessInfo.processInfo.environment
        env["MEDSAM_CHECKPOINT_DIR"] = dir.appendingPathComponent("empty").path
        let r = try CLI.run(["segment", ct, "--box", "1,1,50,50", "-o", out], environment: env, cwd: dir, executable: copy)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("error: ") && r.stderr.contains("scripts/fetch-checkpoints.sh"), r.stderr)
    }

    func testHelpHasExamples() throws {
        for cmd in ["segment", "volume", "batch", "eval", "convert", "info"] {
            let r = try CLI.run([cmd, "--help"])
            XCTAssertEqual(r.status, 0, cmd)
            XCTAssertTrue(r.stdout.contains("Example"), "\(cmd) --help has no example")
            XCTAssertTrue(r.stdout.contains("medsam \(cmd)"), "\(cmd) --help example")
        }
        let root = try CLI.run(["--help"])
        XCTAssertEqual(root.status, 0)
        XCTAssertTrue(root.stdout.contains("SUBCOMMANDS"))
    }
}

/// Hostile DICOM header values and `--series` through the built `medsam`: typed one-line errors, never a signal.
final class CLIDICOMInputTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try CLI.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testHostileNumberOfFramesIsAnErrorNotASignal() throws {
        let out = dir.appendingPathComponent("mask.png").path
        for token in ["nan", "inf", "1e30", "1A"] {
            try CLI.assertFails(["segment", fixtureURL("corpus/dicom/frames_\(token).dcm").path, "--box", "0,0,1,1", "-o", out],
                                mentioning: "NumberOfFrames")
        }
    }

    func testUnknownSeriesIsRefusedNamingTheSeriesThere() throws {
        let out = dir.appendingPathComponent("mask.png").path
        try CLI.assertFails(["segment", fixtureURL("io/dicom/series").path, "--series", "1.2.3.nope", "--box", "1,1,5,5", "-o", out],
                            mentioning: "1.2.3.4.5.999")
        try CLI.assertFails(["segment", fixtureURL("io/dicom/CT_small.dcm").path, "--series", "1.2", "--box", "1,1,5,5", "-o", out],
                            mentioning: "not a DICOM folder")
    }
}

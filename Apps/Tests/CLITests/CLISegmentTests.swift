import Foundation
import ImageEncoder
import Imaging
import MedSAM
import MedSAMMetrics
import MedicalIO
import NN
import Preprocess
import PromptEncoder
import Tensor
import TestSupport
import XCTest

/// `medsam segment` and `medsam volume` on real images, run through the built executable.
final class CLISegmentTests: XCTestCase {
    /// Real CT slice (dicompyler-core, soft-tissue windowed PNG): mask, overlay and probabilities, and the mask
    /// equals the library's own result for the same box.
    func testSegmentPNGMatchesLibrary() throws {
        let ckpt = try liteMedSAMCheckpoint()
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let png = fixtureURL("data/dicompyler_ct/ct0_softtissue.png")
        let mask = dir.appendingPathComponent("mask.png"), overlay = dir.appendingPathComponent("overlay.png")
        let probs = dir.appendingPathComponent("probs.npy")
        let r = try CLI.run(["segment", png.path, "--box", "87,97,345,305", "--checkpoint", ckpt.path, "--output", mask.path,
                             "--overlay", overlay.path, "--probabilities", probs.path, "--threads", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)

        let image = try PNGFile.read(png)
        let seg = try Segmenter(.liteMedSAM, checkpoint: ckpt)
        let expected = try seg.segment(image, boxes: [Box(x0: 87, y0: 97, x1: 345, y1: 305)])
        let labels = Segmenter.labelMap(expected)

        let written = try PNGFile.read(mask)
        XCTAssertEqual(written.width, 512); XCTAssertEqual(written.height, 512); XCTAssertEqual(written.channels, 1)
        XCTAssertEqual(written.pixels.map { UInt16($0) }, labels)
        XCTAssertGreaterThan(expected[0].area, 1000)

        let p = try NPYArray.read(probs)
        XCTAssertEqual(p.shape, [1, 512, 512]); XCTAssertEqual(p.dtype, .float32)
        let want = expected[0].probabilities.scalars, got = p.floats()
        XCTAssertEqual(got.count, want.count)
        XCTAssertLessThanOrEqual(zip(got, want).map { abs($0 - $1) }.max() ?? 1, 1e-5)

        let o = try PNGFile.read(overlay)
        XCTAssertEqual([o.width, o.height, o.channels], [512, 512, 3])
        // Box outline drawn in the first palette colour; a foreground pixel tinted red, a background one left gray.
        let px = { (x: Int, y: Int) -> [Float] in Array(o.pixels[(3 * (y * 512 + x))..<(3 * (y * 512 + x) + 3)]) }
        XCTAssertEqual(px(87, 200), [255, 64, 64])
        let fg = labels.firstIndex(where: { $0 == 1 && true })!
        let inner = (0..<labels.count).first { i in
            let (y, x) = (i / 512, i % 512)
            return x > 1 && y > 1 && x < 510 && y < 510 && labels[i] == 1 && labels[i - 1] == 1 && labels[i + 1] == 1
                && labels[i - 512] == 1 && labels[i + 512] == 1 && !(87...89).contains(x) && !(97...99).contains(y)
        } ?? fg
        let c = px(inner % 512, inner / 512)
        XCTAssertGreaterThan(c[0], c[1], "mask pixels are tinted red")
        let bg = px(5, 5)
        XCTAssertEqual(bg[0], bg[1]); XCTAssertEqual(bg[1], bg[2])
    }

    /// Real DICOM (pydicom's CT_small.dcm, int16 HU): default soft-tissue window, 128×128 label PNG.
    func testSegmentDICOM() throws {
        let ckpt = try liteMedSAMCheckpoint()
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("ct.png")
        let r = try CLI.run(["segment", fixtureURL("io/dicom/CT_small.dcm").path, "--box", "20,20,100,100",
                             "--box", "60,30,90,60", "--checkpoint", ckpt.path, "-o", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("soft-tissue"), r.stdout)
        let m = try PNGFile.read(out)
        XCTAssertEqual([m.width, m.height, m.channels], [128, 128, 1])
        let labels = Set(m.pixels)
        XCTAssertTrue(labels.isSubset(of: [0, 1, 2]))
        XCTAssertTrue(labels.contains(2), "the later box wins where masks overlap and has its own label")
        // Foreground lies (almost) inside the boxes.
        var inside = 0, total = 0
        for y in 0..<128 { for x in 0..<128 where m.pixels[y * 128 + x] > 0 {
            total += 1; if (18...102).contains(x) && (18...102).contains(y) { inside += 1 }
        } }
        XCTAssertGreaterThan(total, 100)
        XCTAssertGreaterThan(Double(inside) / Double(total), 0.95)
    }

    /// Real NIfTI (MNI152 T1 crop): the mask is a NIfTI with the input's geometry, filled on --slice only.
    func testSegmentNIfTIKeepsGeometry() throws {
        let ckpt = try liteMedSAMCheckpoint()
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let src = fixtureURL("io/nifti/mni152_t1_z55-65.nii.gz")
        let out = dir.appendingPathComponent("wm.nii.gz")
        let r = try CLI.run(["segment", src.path, "--slice", "5", "--box", "40,60,150,170", "--checkpoint", ckpt.path,
                             "--output", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let a = try NIfTIImage.read(src), b = try NIfTIImage.read(out)
        XCTAssertEqual(b.dim[1...3], a.dim[1...3])
        XCTAssertEqual(b.affine, a.affine)
        XCTAssertEqual(b.datatype, .uint8)
        for k in 0..<b.volume.depth {
            let s = try b.axialSlice(k).pixels
            let n = s.filter { $0 > 0 }.count
            if k == 5 {
                XCTAssertGreaterThan(n, 200)
                // In display orientation the foreground lies inside the box given on the command line.
                for (i, v) in s.enumerated() where v > 0 {
                    let (y, x) = (i / a.volume.width, i % a.volume.width)
                    XCTAssertTrue((38...152).contains(x) && (58...172).contains(y), "pixel (\(x), \(y)) outside the box")
                }
            } else {
                XCTAssertEqual(n, 0, "slice \(k)")
            }
        }
    }

    /// 3-D propagation on a 3-slice crop of the real MNI152 challenge volume, with the npz's own boxes.
    func testVolumeOnChallengeNPZ() throws {
        let ckpt = try liteMedSAMCheckpoint()
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let full = try NPZArchive.read(fixtureURL("data/3D_mni152_small.npz"))
        let imgs = try full.array("imgs"), gts = try full.array("gts")
        let (h, w) = (imgs.shape[1], imgs.shape[2])
        let z = 6..<9
        let plane = h * w
        let cropImgs = Array(try imgs.uint8s()[(z.lowerBound * plane)..<(z.upperBound * plane)])
        let cropGts = Array(try gts.uint8s()[(z.lowerBound * plane)..<(z.upperBound * plane)])
        // Box of label 1 on the middle slice.
        var x0 = w, y0 = h, x1 = 0, y1 = 0
        for i in plane..<(2 * plane) where cropGts[i] == 1 {
            let (y, x) = ((i - plane) / w, (i - plane) % w)
            x0 = min(x0, x); y0 = min(y0, y); x1 = max(x1, x); y1 = max(y1, y)
        }
        XCTAssertLessThan(x0, x1)
        let input = dir.appendingPathComponent("3D_mni_crop.npz")
        try NPZArchive.write([("imgs", try NPYArray(shape: [3, h, w], uint8: cropImgs)),
                              ("gts", try NPYArray(shape: [3, h, w], uint8: cropGts)),
                              ("boxes", try NPYArray(shape: [1, 6], int64: [Int64(x0), Int64(y0), 0, Int64(x1), Int64(y1), 2])),
                              ("spacing", try NPYArray(shape: [3], float64: [1, 1, 1]))], to: input)
        let out = dir.appendingPathComponent("segs.npz")
        let r = try CLI.run(["volume", input.path, "--checkpoint", ckpt.path, "--output", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let segs = try NPZArchive.read(out).array("segs")
        XCTAssertEqual(segs.shape, [3, h, w]); XCTAssertEqual(segs.dtype, .uint8)
        let s = try segs.uint8s()
        XCTAssertTrue(Set(s).isSubset(of: [0, 1]))
        for k in 0..<3 { XCTAssertGreaterThan(s[(k * plane)..<((k + 1) * plane)].filter { $0 == 1 }.count, 50, "slice \(k)") }
        let dice = SegmentationMetrics.dice(cropGts.map { Int32($0) }, s.map { Int32($0) }, label: 1)
        XCTAssertGreaterThan(dice, 0.3)
    }
}

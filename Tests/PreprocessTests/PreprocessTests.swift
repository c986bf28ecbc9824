import Foundation
import XCTest
import Imaging
import Preprocess
import Tensor
import TestSupport

/// Goldens from `Fixtures/export/preprocess_fixtures.py` (pre_CT_MR.py rules, MedSAM_Inference.py,
/// CVPR24_LiteMedSAM_infer.py, run with NumPy / OpenCV / scikit-image / PyTorch).
final class PreprocessTests: XCTestCase {
    func entry(_ key: String) throws -> [String: Any] { try preprocessManifest()[key] as! [String: Any] }
    func npy(_ name: Any?) throws -> NPYArray { try NPYArray("preprocess/" + (name as! String)) }

    func testCTWindowsExact() throws {
        let e = try entry("window")
        let raw = try npy(e["ct_raw"])
        let presets: [String: IntensityWindow.CTWindow] = ["softTissue": .softTissue, "lung": .lung, "bone": .bone, "brain": .brain]
        for c in e["ct"] as! [[String: Any]] {
            let name = c["preset"] as! String, step = c["stride"] as! Int
            let out = try IntensityWindow.ct(presets[name]!).apply(values: raw.doubles)
            let (h, w) = (raw.shape[0], raw.shape[1])
            var sub = [UInt8]()
            for y in stride(from: 0, to: h, by: step) { for x in stride(from: 0, to: w, by: step) { sub.append(out[y * w + x]) } }
            XCTAssertEqual(sub, try npy(c["output"]).uint8s, name)
        }
    }

    func testPercentileWindowExact() throws {
        let e = try entry("window")
        let star = try npy(e["star_raw"])
        let s = e["star"] as! [String: Any]
        let (lo, hi) = try IntensityWindow.percentileBounds(star.doubles)
        XCTAssertEqual(lo, s["lower"] as! Double); XCTAssertEqual(hi, s["upper"] as! Double)
        XCTAssertEqual(try IntensityWindow.percentile().apply(values: star.doubles), try npy(s["output"]).uint8s)
        let mniIn = try npy((try entry("cubic"))["mni_in"])
        let m = e["mni"] as! [String: Any]
        let (lo2, hi2) = try IntensityWindow.percentileBounds(mniIn.doubles)
        XCTAssertEqual(lo2, m["lower"] as! Double); XCTAssertEqual(hi2, m["upper"] as! Double)
        let img = try Image(uint8: mniIn.uint8s, width: mniIn.shape[1], height: mniIn.shape[0])
        XCTAssertEqual(try IntensityWindow.percentile().apply(to: img).pixels.map { UInt8($0) }, try npy(m["output"]).uint8s)
        XCTAssertThrowsError(try IntensityWindow.percentile().apply(values: [0, 0, -3]))
    }

    func testLiteMedSAMPreprocessExact() throws {
        let e = try entry("lite")
        let mni = try npy((try entry("cubic"))["mni_in"])
        let (H, W) = (e["H"] as! Int, e["W"] as! Int)
        let t = LiteMedSAMTransform(originalHeight: H, originalWidth: W)
        XCTAssertEqual(t.newHeight, e["newh"] as! Int); XCTAssertEqual(t.newWidth, e["neww"] as! Int)
        let x = try t.preprocess(try Image(uint8: mni.uint8s, width: W, height: H))
        XCTAssertEqual(x.shape, [1, 3, 256, 256])
        let golden = try npy(e["tensor"]).floats   // (1, 3, newh, neww), the padding must be 0
        var i = 0, maxDiff: Float = 0, padNonZero = 0
        for c in 0..<3 { for y in 0..<256 { for xx in 0..<256 {
            let v = x[0, c, y, xx]
            if y < t.newHeight && xx < t.newWidth { maxDiff = max(maxDiff, abs(v - golden[i])); i += 1 } else if v != 0 { padNonZero += 1 }
        } } }
        XCTAssertEqual(maxDiff, 0); XCTAssertEqual(padNonZero, 0)
        let boxes = e["boxes"] as! [[Double]], b256 = e["boxes256"] as! [[Double]]
        for (b, g) in zip(boxes, b256) {
            XCTAssertEqual(try t.box(Box(x0: b[0], y0: b[1], x1: b[2], y1: b[3])), g.map { Float($0) })
        }
    }

    func testLiteMedSAMPostprocess() throws {
        let e = try entry("lite")
        let (H, W) = (e["H"] as! Int, e["W"] as! Int)
        let t = LiteMedSAMTransform(originalHeight: H, originalWidth: W)
        let l = try npy(e["logits"])
        let (p, masks) = try t.postprocess(lowResLogits: Tensor(shape: l.shape, scalars: l.floats))
        let gp = try npy(e["prob"]).floats, gm = try npy(e["mask"]).uint8s
        let pd = zip(p.scalars, gp).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(pd, 1e-5)
        let bad = zip(masks, gm).enumerated().filter { $0.element.0 != $0.element.1 && abs(gp[$0.offset] - 0.5) > 1e-5 }.count
        XCTAssertEqual(bad, 0)
        print("lite postprocess: max |Δp| = \(pd), mask mismatches = \(zip(masks, gm).filter { $0 != $1 }.count)")
    }

    func testGetBBox256WithLabelValueQuirk() throws {
        let e = try entry("lite")
        let (H, W) = (e["H"] as! Int, e["W"] as! Int)
        let t = LiteMedSAMTransform(originalHeight: H, originalWidth: W)
        let labels = try npy(e["label_mask"]).uint16s
        for c in e["bbox256"] as! [[String: Any]] {
            let lab = UInt16(c["label"] as! Int), value = UInt8(c["value"] as! Int)
            let m = labels.map { $0 == lab ? value : 0 }
            let r = t.resizedMask(m)
            XCTAssertEqual(Int(r.max()!), c["max"] as! Int)
            let box = LiteMedSAMTransform.boundingBox256(r)
            XCTAssertEqual(box, c["box"] as? [Int], "label \(lab) value \(value)")
        }
    }

    func testMedSAMPreprocess() throws {
        let e = try entry("medsam")
        let mni = try npy((try entry("cubic"))["mni_in"])
        let (H, W) = (e["H"] as! Int, e["W"] as! Int)
        let t = MedSAMTransform(originalHeight: H, originalWidth: W)
        let x = try t.preprocess(try Image(uint8: mni.uint8s, width: W, height: H))
        XCTAssertEqual(x.shape, [1, 3, 1024, 1024])
        let st = e["tensor"] as! [String: Any]
        let sum = x.scalars.reduce(0.0) { $0 + Double($1) }
        XCTAssertEqual(sum, st["sum"] as! Double, accuracy: 1e-3)
        let sub = try npy(st["sub"]).floats
        var got = [Float]()
        for c in 0..<3 { for y in stride(from: 0, to: 1024, by: 9) { for xx in stride(from: 0, to: 1024, by: 9) { got.append(x[0, c, y, xx]) } } }
        XCTAssertEqual(got, sub)
        let boxes = e["boxes"] as! [[Double]], b1024 = e["boxes1024"] as! [[Double]]
        for (b, g) in zip(boxes, b1024) {
            XCTAssertEqual(try t.box(Box(x0: b[0], y0: b[1], x1: b[2], y1: b[3])), g.map { Float($0) })
        }
    }

    func testMedSAMPostprocess() throws {
        let e = try entry("medsam")
        let (H, W) = (e["H"] as! Int, e["W"] as! Int)
        let t = MedSAMTransform(originalHeight: H, originalWidth: W)
        let l = try npy(e["logits"])
        let (p, masks) = try t.postprocess(lowResLogits: Tensor(shape: l.shape, scalars: l.floats))
        let gp = try npy(e["prob"]).floats, gm = try npy(e["mask"]).uint8s
        let pd = zip(p.scalars, gp).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(pd, 1e-5)
        let bad = zip(masks, gm).enumerated().filter { $0.element.0 != $0.element.1 && abs(gp[$0.offset] - 0.5) > 1e-5 }.count
        XCTAssertEqual(bad, 0)
        print("medsam postprocess: max |Δp| = \(pd), mask mismatches = \(zip(masks, gm).filter { $0 != $1 }.count)")
    }

    func testValidation() throws {
        XCTAssertThrowsError(try Image(uint8: [], width: 0, height: 0)) { XCTAssertEqual($0 as? PreprocessError, .emptyImage) }
        XCTAssertThrowsError(try Image(uint8: [1, 2, 3], width: 2, height: 2)) {
            XCTAssertEqual($0 as? PreprocessError, .wrongPixelCount(expected: 4, got: 3)) }
        XCTAssertThrowsError(try Image(uint8: [1, 2], width: 1, height: 1, channels: 2)) {
            XCTAssertEqual($0 as? PreprocessError, .unsupportedChannelCount(2)) }
        XCTAssertThrowsError(try Image(float32: [1, .nan], width: 2, height: 1)) {
            XCTAssertEqual($0 as? PreprocessError, .nonFiniteValue(index: 1)) }
        let rgba = try Image(uint8: [1, 2, 3, 255, 4, 5, 6, 255], width: 2, height: 1, channels: 4)
        XCTAssertEqual(rgba.channels, 3); XCTAssertEqual(rgba.pixels, [1, 2, 3, 4, 5, 6])
        let t = LiteMedSAMTransform(originalHeight: 10, originalWidth: 20)
        XCTAssertThrowsError(try t.box(Box(x0: 5, y0: 1, x1: 2, y1: 3))) {
            XCTAssertEqual($0 as? PreprocessError, .invertedBox(Box(x0: 5, y0: 1, x1: 2, y1: 3))) }
        XCTAssertThrowsError(try t.box(Box(x0: 2, y0: 1, x1: 2, y1: 3)))
        XCTAssertThrowsError(try t.box(Box(x0: 0, y0: 0, x1: 21, y1: 3)))
        let u16 = try Image(uint16: [0, 1000], width: 2, height: 1)
        XCTAssertThrowsError(try t.preprocess(u16))
        // constant image: guarded min-max gives zeros, not NaN
        let flat = try Image(uint8: [UInt8](repeating: 7, count: 200), width: 20, height: 10)
        XCTAssertTrue(try t.preprocess(flat).scalars.allSatisfy { $0 == 0 })
    }
}

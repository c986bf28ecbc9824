import Foundation
import XCTest
import Tensor
import TestSupport

/// Goldens from `Fixtures/export/preprocess_fixtures.py` (PyTorch, OpenCV, scikit-image).
final class ResizeTests: XCTestCase {
    func entry(_ key: String) throws -> [String: Any] { try preprocessManifest()[key] as! [String: Any] }
    func npy(_ name: Any?) throws -> NPYArray { try NPYArray("preprocess/" + (name as! String)) }

    func maxDiff(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }

    func testBilinearMatchesPyTorch() throws {
        let e = try entry("bilinear")
        let x = try npy(e["input"])
        let t = Tensor(shape: x.shape, scalars: x.floats)
        for (h, w, step) in [(217, 181, 1), (512, 512, 3), (64, 96, 1)] {
            let golden = try npy(e["out_\(h)x\(w)"]).floats
            let y = t.resizedBilinear(height: h, width: w)
            XCTAssertEqual(y.shape, [1, 1, h, w])
            var got = [Float]()
            for r in stride(from: 0, to: h, by: step) { for c in stride(from: 0, to: w, by: step) { got.append(y[0, 0, r, c]) } }
            XCTAssertEqual(got.count, golden.count)
            // PyTorch's source index differs from the Float formula by ≤ 2 ulp at large indices
            // (λ off by ~3e-5 near index 183); inputs are ~N(0, 4²), so allow 2e-4 absolute.
            XCTAssertLessThan(maxDiff(got, golden), 2e-4, "\(h)x\(w)")
        }
        let small = try npy(e["small_in"])
        let st = Tensor(shape: small.shape, scalars: small.floats)
        XCTAssertLessThan(maxDiff(st.resizedBilinear(height: 3, width: 2).scalars, try npy(e["small_out_3x2"]).floats), 1e-6)
        XCTAssertLessThan(maxDiff(st.resizedBilinear(height: 11, width: 13).scalars, try npy(e["small_out_11x13"]).floats), 1e-6)
    }

    func testLinear1DMatchesPyTorch() throws {
        let e = try entry("bilinear")
        let rel = try npy(e["rel_in"])
        let out = Tensor(shape: rel.shape, scalars: rel.floats).resizedLinear1D(length: 127)
        XCTAssertEqual(out.shape, [127, 64])
        XCTAssertLessThan(maxDiff(out.scalars, try npy(e["rel_out_127"]).floats), 1e-5)
    }

    func testAreaResizeBitExactWithOpenCV() throws {
        let e = try entry("area")
        for c in e["cases"] as! [[String: Any]] {
            let x = try npy(c["input"]), y = try npy(c["output"])
            let cn = x.shape.count == 3 ? x.shape[2] : 1
            let tw = c["toWidth"] as! Int, th = c["toHeight"] as! Int
            let out = AreaResize.resize(x.uint8s, width: x.shape[1], height: x.shape[0], channels: cn, toWidth: tw, toHeight: th)
            let golden = y.uint8s
            let mismatches = zip(out, golden).filter { $0 != $1 }.count
            XCTAssertEqual(out.count, golden.count, c["name"] as! String)
            XCTAssertEqual(mismatches, 0, "\(c["name"]!): \(mismatches) of \(golden.count) differ")
        }
    }

    func testAreaResizeFloatMatchesOpenCV() throws {
        let e = try entry("area")
        let x = try npy(e["float_input"])
        for c in e["float_cases"] as! [[String: Any]] {
            let tw = c["toWidth"] as! Int, th = c["toHeight"] as! Int
            let out = AreaResize.resize(x.floats, width: x.shape[1], height: x.shape[0], channels: 3, toWidth: tw, toHeight: th)
            XCTAssertLessThan(maxDiff(out, try npy(c["output"]).floats), 1e-3, "\(th)x\(tw)")   // 0…255 data, Float32
        }
    }

    /// skimage cubic: ≤ 1e-3 on the Double values; UInt8 truncation exact except values within
    /// 1e-3 of an integer (counted, must be rare).
    func checkCubic(_ input: NPYArray, channels: Int, toH: Int, toW: Int, golden: [Double], step: Int = 1,
                    u8: [UInt8]? = nil, u8Stride: Int = 1, file: StaticString = #filePath, line: UInt = #line) {
        let out = SplineResize.resize(input.doubles, width: input.shape[1], height: input.shape[0], channels: channels,
                                      toWidth: toW, toHeight: toH)
        var got = [Double]()
        for r in stride(from: 0, to: toH, by: step) { for c in stride(from: 0, to: toW, by: step) {
            for k in 0..<channels { got.append(out[(r * toW + c) * channels + k]) } } }
        XCTAssertEqual(got.count, golden.count, file: file, line: line)
        let md = zip(got, golden).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThan(md, 1e-3, file: file, line: line)
        if let u8 {
            var mism = 0, nearInt = 0, i = 0
            for r in stride(from: 0, to: toH, by: u8Stride) { for c in stride(from: 0, to: toW, by: u8Stride) {
                for k in 0..<channels {
                    let v = out[(r * toW + c) * channels + k]
                    if UInt8(v) != u8[i] {
                        if abs(v - v.rounded()) < 1e-3 { nearInt += 1 } else { mism += 1 }
                    }
                    i += 1
                } } }
            XCTAssertEqual(mism, 0, "uint8 mismatches away from integer boundaries", file: file, line: line)
            XCTAssertLessThan(nearInt, 20, "uint8 mismatches at integer boundaries", file: file, line: line)
            print("cubic \(input.shape)->\(toH)x\(toW): max |Δ| = \(md), uint8 boundary mismatches = \(nearInt) of \(i)")
        } else {
            print("cubic \(input.shape)->\(toH)x\(toW): max |Δ| = \(md)")
        }
    }

    func testCubicSplineMatchesSkimage() throws {
        let e = try entry("cubic")
        checkCubic(try npy(e["mni_in"]), channels: 1, toH: 1024, toW: 1024, golden: try npy(e["mni_1024_sub"]).doubles,
                   step: 11, u8: try npy(e["mni_1024_u8"]).uint8s)
        checkCubic(try npy(e["ct_in"]), channels: 1, toH: 1024, toW: 1024, golden: try npy(e["ct_1024_sub"]).doubles,
                   step: 11, u8: try npy(e["ct_1024_u8_sub2"]).uint8s, u8Stride: 2)
        checkCubic(try npy(e["rand_in"]), channels: 1, toH: 128, toW: 97, golden: try npy(e["rand_128x97"]).doubles)
        checkCubic(try npy(e["rand3_in"]), channels: 3, toH: 77, toW: 55, golden: try npy(e["rand3_77x55"]).doubles)
        checkCubic(try npy(e["rand3_in"]), channels: 3, toH: 23, toW: 50, golden: try npy(e["rand3_23x50"]).doubles)
    }
}

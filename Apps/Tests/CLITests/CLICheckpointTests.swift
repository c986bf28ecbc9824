import Checkpoint
import Foundation
import XCTest
import NN
import TestSupport

/// `medsam convert` and `medsam info` on the real LiteMedSAM checkpoint.
final class CLICheckpointTests: XCTestCase {
    func testConvertHalfAndInfo() throws {
        let ckpt = try liteMedSAMCheckpoint()
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let info = try CLI.run(["info", ckpt.path])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stdout.contains("model: LiteMedSAM"), info.stdout)
        XCTAssertTrue(info.stdout.contains("parameters: 9801439"), info.stdout)
        for prefix in ["image_encoder:", "prompt_encoder:", "mask_decoder:"] { XCTAssertTrue(info.stdout.contains(prefix), info.stdout) }

        let out = dir.appendingPathComponent("lite.safetensors")
        let conv = try CLI.run(["convert", ckpt.path, out.path, "--half"])
        XCTAssertEqual(conv.status, 0, conv.stderr)
        let a = try StateDict(contentsOf: ckpt), b = try StateDict(contentsOf: out)
        XCTAssertEqual(Set(a.keys), Set(b.keys))
        XCTAssertEqual(a.parameterCount, b.parameterCount)
        let key = "mask_decoder.iou_token.weight"
        let x = try XCTUnwrap(a[key]).scalars, y = try XCTUnwrap(b[key]).scalars
        for (u, v) in zip(x, y) { XCTAssertEqual(u, v, accuracy: abs(u) * 1e-3 + 1e-6) }
        XCTAssertLessThan(try FileManager.default.attributesOfItem(atPath: out.path)[.size] as! Int, 25_000_000, "half precision (F32 would be ~39 MB)")
        let info2 = try CLI.run(["info", out.path])
        XCTAssertTrue(info2.stdout.contains("model: LiteMedSAM"), info2.stdout)

        try CLI.assertFails(["info", fixtureURL("data/cases.json").path], mentioning: "cases.json")
        try CLI.assertFails(["convert", ckpt.path, dir.appendingPathComponent("x.bin").path], mentioning: ".safetensors")
    }
}

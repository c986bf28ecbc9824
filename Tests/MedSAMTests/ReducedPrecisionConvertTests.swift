import Checkpoint
import Foundation
import Imaging
import MedSAM
import NN
import Tensor
import TestSupport
import XCTest

/// Converted reduced-precision weight files (`medsam convert --precision int8|bf16`): written as safetensors,
/// loaded without the fp32 original, they give exactly the encoder output of quantising at load; the file is
/// smaller; a tampered file fails with a typed error.
final class ReducedPrecisionConvertTests: XCTestCase {
    func image() throws -> Image {
        let g = try Golden("lite/dicompyler_ct_ct0")
        let u8 = try g.input("image_u8")
        return try Image(pixels: u8.scalars, width: u8.shape[1], height: u8.shape[0], channels: 1, pixelType: .uint8)
    }

    func testConvertedFilesLoadToTheSameEncoder() throws {
        let weights = try StateDict(contentsOf: try liteMedSAMCheckpoint())
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("medsam-prec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let fp32URL = dir.appendingPathComponent("fp32.safetensors")
        try weights.write(safetensorsTo: fp32URL)
        let fp32Size = try FileManager.default.attributesOfItem(atPath: fp32URL.path)[.size] as! Int
        let input = try Segmenter(.liteMedSAM, weights: weights).preprocess(try image())
        var precisions: [Precision] = [.int8]
        if Precision.bf16.isSupported { precisions.append(.bf16) } else {
            print("[ReducedPrecisionConvertTests] NOT TESTED: bf16 — this CPU lacks AVX512_BF16")
        }
        for precision in precisions {
            let export = try ReducedPrecisionExport(weights, precision: precision)
            // TinyViT's Linear layers: 3 stages × blocks × (qkv, proj, fc1, fc2) = 10 blocks × 4; LiteMedSAM's
            // precision policy keeps stage 2's 6 blocks (24 layers) fp32 under bf16.
            XCTAssertEqual(export.reducedKeys.count, precision == .bf16 ? 16 : 40, "\(precision): the encoder's Linear weights")
            XCTAssertTrue(export.reducedKeys.allSatisfy { $0.hasPrefix("image_encoder.") })
            XCTAssertEqual(export.reducedKeys.contains { $0.hasPrefix("image_encoder.layers.2.") }, precision == .int8,
                           "\(precision): stage 2 follows the policy")
            let url = dir.appendingPathComponent("\(precision).safetensors")
            try Safetensors.write(export.tensors, to: url, metadata: export.metadata, dtypes: export.dtypes)
            let size = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as! Int
            print("[ReducedPrecisionConvertTests] LiteMedSAM safetensors: fp32 \(fp32Size) bytes, \(precision) \(size) bytes")
            XCTAssertLessThan(size, fp32Size, "\(precision) file is smaller")
            let loaded = try StateDict(contentsOf: url)
            XCTAssertEqual(loaded.metadata["medsam.encoder_precision"], precision.rawValue)
            let fromFile = try Segmenter(.liteMedSAM, weights: loaded, precision: precision)
            let atLoad = try Segmenter(.liteMedSAM, weights: weights, precision: precision)
            XCTAssertEqual(fromFile.precision, precision)
            XCTAssertEqual(fromFile.encode(input).scalars, atLoad.encode(input).scalars,
                           "\(precision): converted file gives exactly the encoder output of converting at load")
            if precision == .int8 {
                // An int8 file is int8 whatever is asked: no fp32 original to fall back to.
                XCTAssertEqual(try Segmenter(.liteMedSAM, weights: loaded).precision, .int8)
                // Tampered values or scales are a typed error, not a trap.
                var bad = loaded.tensors
                let key = export.reducedKeys[0]
                bad[key] = Tensor(shape: bad[key]!.shape, scalars: bad[key]!.scalars.map { $0 * 1.5 })
                XCTAssertThrowsError(try Segmenter(.liteMedSAM, weights: StateDict(tensors: bad))) {
                    guard case .invalidConfiguration? = $0 as? WeightError else { return XCTFail("\($0)") }
                }
                var badScale = loaded.tensors
                let sk = String(key.dropLast("weight".count)) + "weight_scale"
                badScale[sk] = Tensor(shape: badScale[sk]!.shape, scalars: badScale[sk]!.scalars.map { _ in .nan })
                XCTAssertThrowsError(try Segmenter(.liteMedSAM, weights: StateDict(tensors: badScale))) {
                    guard case .invalidConfiguration? = $0 as? WeightError else { return XCTFail("\($0)") }
                }
            }
        }
    }
}

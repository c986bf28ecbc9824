import Checkpoint
import Foundation
import ImageEncoder
import Imaging
import MedSAM
import NN
import Preprocess
import PromptEncoder
import Tensor
import TestSupport
import XCTest

/// MedSAM's checkpoint layout: the 314 keys and shapes of `medsam_vit_b.pth` (SAM ViT-B's state dict,
/// exported from segment-anything 1.0 into `Fixtures/models/medsam_vit_b_keys.json`) load strictly by name.
final class MedSAMCheckpointTests: XCTestCase {
    struct KeyList: Decodable { let keys: [[AnyShape]] }
    enum AnyShape: Decodable {
        case key(String), shape([Int])
        init(from d: Decoder) throws {
            let c = try d.singleValueContainer()
            if let s = try? c.decode(String.self) { self = .key(s) } else { self = .shape(try c.decode([Int].self)) }
        }
    }

    static func medsamStateDict() throws -> (StateDict, [String]) {
        let list = try JSONDecoder().decode(KeyList.self, from: Data(contentsOf: fixtureURL("models/medsam_vit_b_keys.json")))
        var tensors: [String: Tensor] = [:]
        var order: [String] = []
        for entry in list.keys {
            guard case .key(let k) = entry[0], case .shape(let s) = entry[1] else { continue }
            tensors[k] = DeterministicWeights.generate(key: k, shape: s)
            order.append(k)
        }
        return (StateDict(tensors: tensors, order: order), order)
    }

    func testMedSAMKeyNamesLoadStrictly() throws {
        let (dict, keys) = try Self.medsamStateDict()
        XCTAssertEqual(keys.count, 314)
        XCTAssertEqual(dict.parameterCount, 93_735_728)   // the paper's 89,670,912 encoder + 4,058,340 decoder + prompt encoder
        XCTAssertEqual(Segmenter.detect(dict), .medSAM)
        let segmenter = try Segmenter(.medSAM, weights: dict)   // strict: every key used, none missing
        guard let encoder = segmenter.encoder as? ImageEncoderViT else { return XCTFail("expected a ViT encoder") }
        XCTAssertEqual(encoder.configuration, .vitB)
        XCTAssertEqual(segmenter.inputSize, 1024)

        XCTAssertThrowsError(try Segmenter(.liteMedSAM, weights: dict)) {
            XCTAssertEqual($0 as? SegmenterError, .wrongModel(expected: .liteMedSAM, found: "MedSAM"))
        }
        var missing = dict.tensors
        missing["image_encoder.blocks.7.attn.rel_pos_w"] = nil
        XCTAssertThrowsError(try Segmenter(.medSAM, weights: StateDict(tensors: missing))) {
            XCTAssertEqual($0 as? WeightError, .missingKey("image_encoder.blocks.7.attn.rel_pos_w"))
        }
        var extra = dict.tensors
        extra["mask_decoder.extra_head.weight"] = Tensor(zeros: [2])
        XCTAssertThrowsError(try Segmenter(.medSAM, weights: StateDict(tensors: extra))) {
            XCTAssertEqual($0 as? WeightError, .unexpectedKeys(["mask_decoder.extra_head.weight"]))
        }
        var wrong = dict.tensors
        wrong["mask_decoder.iou_token.weight"] = Tensor(zeros: [1, 128])
        XCTAssertThrowsError(try Segmenter(.medSAM, weights: StateDict(tensors: wrong))) {
            XCTAssertEqual($0 as? WeightError, .shapeMismatch(key: "mask_decoder.iou_token.weight", expected: [1, 256], found: [1, 128]))
        }
    }

    /// Round trip through safetensors on disk, the format `medsam convert` writes.
    func testMedSAMStateDictRoundTripsThroughSafetensors() throws {
        let (dict, _) = try Self.medsamStateDict()
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("medsam-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try dict.filtered(prefix: "prompt_encoder.").write(safetensorsTo: url)
        let back = try StateDict(contentsOf: url)
        XCTAssertEqual(back.keys.sorted(), dict.filtered(prefix: "prompt_encoder.").keys.sorted())
        for k in back.keys { XCTAssertEqual(back[k]!.scalars, dict[k]!.scalars, k) }
    }
}

import Checkpoint
import ImageEncoder
import MaskDecoder
import NN
import PromptEncoder
import Tensor
import TestSupport
import XCTest

/// The released LiteMedSAM checkpoint loads by its PyTorch key names, strictly.
final class RealCheckpointTests: XCTestCase {
    func testLiteMedSAMLoadsEveryKeyByName() throws {
        let dict = try StateDict(contentsOf: try liteMedSAMCheckpoint())
        // 9,791,xxx parameters (BatchNorm running stats included in the count of stored floats).
        XCTAssertGreaterThan(dict.parameterCount, 9_700_000)
        XCTAssertLessThan(dict.parameterCount, 9_900_000)
        let loader = WeightLoader(dict)
        let encoder = try TinyViT(loader.scope("image_encoder"), configuration: .liteMedSAM)
        _ = try PromptEncoder(loader.scope("prompt_encoder"), configuration: .liteMedSAM)
        _ = try MaskDecoder(loader.scope("mask_decoder"))
        XCTAssertNoThrow(try loader.checkAllUsed())
        XCTAssertEqual(encoder.configuration, .liteMedSAM)
    }

    func testWrongShapeIsATypedErrorNamingTheKey() throws {
        let dict = try StateDict(contentsOf: try liteMedSAMCheckpoint())
        let loader = WeightLoader(dict)
        // A MedSAM-sized prompt encoder (embed 256) fits; a 128-wide one does not.
        XCTAssertThrowsError(try PromptEncoder(loader.scope("prompt_encoder"), configuration: .init(embedDim: 128))) { error in
            guard case WeightError.shapeMismatch(let key, _, let found) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(key, "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix")
            XCTAssertEqual(found, [2, 128])
        }
        XCTAssertThrowsError(try ImageEncoderViT(loader.scope("image_encoder"), configuration: .vitB)) { error in
            XCTAssertEqual(error as? WeightError, .missingKey("image_encoder.patch_embed.proj.weight"))
        }
    }
}

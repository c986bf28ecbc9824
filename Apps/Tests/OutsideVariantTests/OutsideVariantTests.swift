import Checkpoint
import Foundation
import ImageEncoder
import Imaging
import MedSAM
import MedSAMServer
import MedSAMTools
import MedicalIO
import NN
import Preprocess
import PromptEncoder
import Tensor
import TestSupport
import XCTest

// A model variant written outside the MedSAM package (this test package depends on it by path), with its
// public API only (no `@testable`): a tiny conv encoder, SAM's prompt encoder and mask decoder, LiteMedSAM's
// geometry at 64×64. It is registered and then used through the Segmenter, the CLI code path and the server API.

/// A 4×4 patch convolution from a 64×64 image to a (1, 256, 16, 16) embedding: `image_encoder.conv`.
struct TinyConvEncoder: ImageEncoding {
    let conv: Conv2d
    init(_ scope: WeightScope) throws {
        conv = try Conv2d(scope["conv"], inChannels: 3, outChannels: 256, kernelSize: 4, stride: 4)
    }
    var inputSize: Int { 64 }
    var embeddingChannels: Int { 256 }
    var embeddingSize: Int { 16 }
    func encode(_ input: Tensor) -> ImageFeatures { ImageFeatures(embedding: conv(input)) }
}

let tinyKind = ModelKind(id: "tinyconv", displayName: "Tiny conv SAM")

/// The registry entry: the whole of what a new model needs besides its encoder file.
let tinyVariant = ModelVariant(
    kind: tinyKind, aliases: ["tiny"], summary: "a 64×64 conv encoder (test)",
    recognizes: { $0.contains("image_encoder.conv.weight") },
    build: { loader in try ModelParts.sam(encoder: TinyConvEncoder(loader.scope("image_encoder")), loader: loader) },
    frame: { w, h, size in LiteMedSAMTransform(originalHeight: h, originalWidth: w, imageSize: size) })

/// Generated weights that remember which keys were read, so they can be written as a checkpoint file.
final class RecordingWeights: WeightSource, @unchecked Sendable {
    private let lock = NSLock()
    private var tensors: [String: Tensor] = [:]
    private var order: [String] = []
    func tensor(_ key: String, shape: [Int]) throws -> Tensor {
        let t = try DeterministicWeights().tensor(key, shape: shape)
        lock.lock(); defer { lock.unlock() }
        if tensors[key] == nil { order.append(key) }
        tensors[key] = t
        return t
    }
    func contains(_ key: String) -> Bool { DeterministicWeights().contains(key) }
    var allKeys: [String]? { nil }
    var stateDict: StateDict { lock.lock(); defer { lock.unlock() }; return StateDict(tensors: tensors, order: order) }
}

final class OutsideVariantTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("medsam-outside-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { if let dir { try? FileManager.default.removeItem(at: dir) } }

    /// The variant's checkpoint: generated weights written as safetensors.
    func checkpoint() throws -> URL {
        let recorder = RecordingWeights()
        _ = try Segmenter(variant: tinyVariant, weights: recorder)
        let url = dir.appendingPathComponent("tiny.safetensors")
        try recorder.stateDict.write(safetensorsTo: url)
        return url
    }

    func registry() throws -> ModelRegistry {
        var r = ModelRegistry.standard
        try r.register(tinyVariant)
        return r
    }

    func testRegisteredVariantSegmentsThroughSegmenterCLIAndServer() async throws {
        let registry = try registry()
        XCTAssertEqual(registry.variants.map(\.kind.id), ["medsam", "lite", "tinyconv"])
        XCTAssertThrowsError(try ModelRegistry.standard.variant(named: "tiny")) {
            XCTAssertEqual($0 as? SegmenterError, .unknownModel("tiny", known: ["medsam", "lite"]))
        }
        var twice = registry
        XCTAssertThrowsError(try twice.register(tinyVariant)) { XCTAssertEqual($0 as? SegmenterError, .duplicateModelName("tinyconv")) }

        let url = try checkpoint()
        let weights = try StateDict(contentsOf: url)
        XCTAssertEqual(Segmenter.detect(weights, registry: registry), tinyKind)
        XCTAssertNil(Segmenter.detect(weights), "the standard registry does not know the variant")
        // Strict loading and the wrong-model check work for the new variant as for the built-in ones.
        XCTAssertThrowsError(try Segmenter(.liteMedSAM, weights: weights, registry: registry))

        // 1. The library API.
        let segmenter = try Segmenter(tinyKind, checkpoint: url, registry: registry)
        XCTAssertEqual(segmenter.inputSize, 64)
        let image = try PNGFile.read(fixtureURL("io/png/gray8.png"))   // 197×233, 8-bit gray
        let box = Box(x0: 40, y0: 50, x1: 150, y1: 180)
        let embedding = try segmenter.embed(image)
        XCTAssertEqual(embedding.model, tinyKind)
        XCTAssertEqual(embedding.tensor.shape, [1, 256, 16, 16])
        let result = try segmenter.segment(embedding, prompts: [.box(box)])[0]
        XCTAssertEqual(result.mask.count, image.width * image.height)
        XCTAssertEqual(result.lowResLogits.shape, [64, 64])
        // The mask is the probabilities thresholded at 0.5, and the probabilities are the frame's post-processing
        // of the decoder's logits: the same chain as the built-in models.
        let probs = result.probabilities.scalars
        XCTAssertEqual(result.mask, probs.map { $0 > 0.5 ? 1 : 0 })
        XCTAssertTrue(probs.allSatisfy { $0 >= 0 && $0 <= 1 })
        // The box in the 64-frame: LiteMedSAM's rule, scale 64/233 (longest side), truncated.
        let frame = segmenter.frame(width: image.width, height: image.height)
        XCTAssertEqual(try frame.box(box), [10, 13, 41, 49])
        XCTAssertEqual(LiteMedSAMTransform.longestSideSize(height: 233, width: 197, target: 64).width, 54)
        // 3-D propagation is not declared by the variant.
        XCTAssertThrowsError(try segmenter.segmentVolume(try Volume(uint8: [UInt8](repeating: 0, count: 64), width: 8, height: 8,
                                                                    depth: 1),
                                                         boxes: [Box3D(x0: 1, y0: 1, z0: 0, x1: 4, y1: 4, z1: 0)])) {
            XCTAssertEqual($0 as? VolumeError, .unsupportedModel(tinyKind))
        }

        // 2. The CLI code path (`medsam segment --model tiny --checkpoint …`, with the app's registry).
        var request = SegmentRequest(input: fixtureURL("io/png/gray8.png").path, output: dir.appendingPathComponent("mask.png").path)
        request.registry = registry
        request.model = "tiny"
        request.checkpoint = url.path
        request.boxes = ["40,50,150,180"]
        try Pipelines.segment(request) { _ in }
        let written = try PNGFile.read(dir.appendingPathComponent("mask.png"))
        XCTAssertEqual(written.pixels.map { UInt8($0) }, result.mask, "the CLI writes the library's mask (label 1)")

        // 3. The server API, with a segmenter of the new variant.
        let api = try ServerAPI(segmenter: segmenter, configuration: ServerConfiguration(workdir: dir.appendingPathComponent("serve")))
        let infoResponse = await api.handle(APIRequest(method: "GET", path: "/api/info"))
        let info = try XCTUnwrap(JSONSerialization.jsonObject(with: infoResponse.body) as? [String: Any])
        XCTAssertEqual(info["model"] as? String, "Tiny conv SAM")
        XCTAssertEqual(info["inputSize"] as? Int, 64)
        let up = await api.handle(APIRequest(method: "POST", path: "/api/images", query: ["name": "gray8.png"],
                                             body: try Data(contentsOf: fixtureURL("io/png/gray8.png"))))
        XCTAssertEqual(up.status, 201, String(decoding: up.body, as: UTF8.self))
        let id = try XCTUnwrap((try JSONSerialization.jsonObject(with: up.body) as? [String: Any])?["id"] as? String)
        let m = await api.handle(APIRequest(method: "POST", path: "/api/images/\(id)/slices/0/masks",
                                            body: Data("{\"box\":[40,50,150,180]}".utf8)))
        XCTAssertEqual(m.status, 201, String(decoding: m.body, as: UTF8.self))
        let rle = try XCTUnwrap((try JSONSerialization.jsonObject(with: m.body) as? [String: Any])?["rle"] as? [Int])
        XCTAssertEqual(RunLength.decode(rle, count: image.width * image.height), result.mask, "the server gives the library's mask")
    }
}

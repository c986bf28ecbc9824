import MaskDecoder
import NN
import Tensor
import TestSupport
import XCTest

/// SAM's mask decoder and two-way transformer against PyTorch goldens.
final class MaskDecoderTests: XCTestCase {
    func testDecoderAttention() throws {
        let g = try Golden("layers/twoway_attention")
        let attn = try DecoderAttention(g.scope, embeddingDim: g.int("embedding_dim"), numHeads: g.int("num_heads"),
                                        downsampleRate: g.int("downsample_rate"))
        try g.check(attn(q: try g.input("q"), k: try g.input("k"), v: try g.input("v")), against: "y")
    }

    func testTwoWayAttentionBlocks() throws {
        for name in ["twoway_attention_block_skip_pe", "twoway_attention_block_with_pe"] {
            let g = try Golden("layers/" + name)
            let block = try TwoWayAttentionBlock(g.scope, embeddingDim: g.int("embedding_dim"), numHeads: g.int("num_heads"),
                                                 mlpDim: g.int("mlp_dim"), attentionDownsampleRate: g.int("attention_downsample_rate"),
                                                 skipFirstLayerPE: g.bool("skip_first_layer_pe"))
            let (q, k) = block(queries: try g.input("queries"), keys: try g.input("keys"),
                               queryPE: try g.input("query_pe"), keyPE: try g.input("key_pe"))
            try g.check(q, against: "queries")
            try g.check(k, against: "keys")
        }
    }

    /// Both weight storages: PyTorch layout (OpenBLAS) and, as the model registry loads the decoder, token-side
    /// layers packed for the own GEMM (`WeightScope.packing(true)`).
    func testTwoWayTransformer() throws {
        for name in ["two_way_transformer_small", "two_way_transformer"] { for packs in [false, true] {
            let g = try Golden("layers/" + name)
            let t = try TwoWayTransformer(g.scope.packing(packs), depth: g.int("depth"), embeddingDim: g.int("embedding_dim"),
                                          numHeads: g.int("num_heads"), mlpDim: g.int("mlp_dim"),
                                          attentionDownsampleRate: g.int("attention_downsample_rate"))
            let (q, k) = t(imageEmbedding: try g.input("image_embedding"), imagePE: try g.input("image_pe"),
                           pointEmbedding: try g.input("point_embedding"))
            try g.check(q, against: "queries")
            try g.check(k, against: "keys")
            if packs { try assertPacked(t.layers[0].mlp.lin1, t.layers[0].selfAttn.qProj, t.layers[0].crossAttnImageToToken.kProj) }
        } }
    }

    /// Two prompts; multimask true and false. `mask_decoder` shares one image embedding between the
    /// prompts (MedSAM's repeat rule), `mask_decoder_small` has one embedding per prompt.
    func testMaskDecoderMultimaskAndSingle() throws {
        for name in ["mask_decoder_small", "mask_decoder"] { for packs in [false, true] {
            let g = try Golden("layers/" + name)
            let decoder = try maskDecoder(g, packs: packs)
            if packs { try assertPacked(decoder.hypernetworks[0].layers[0], decoder.iouPredictionHead.layers[0]) }
            let images = try g.input("image_embeddings"), sparse = try g.input("sparse_prompt_embeddings")
            let dense = try g.input("dense_prompt_embeddings"), pe = try g.input("image_pe")
            let n = sparse.shape[0]
            func item(_ t: Tensor, _ i: Int) -> Tensor {
                let b = t.shape[0] == 1 ? 0 : i
                let per = t.count / t.shape[0]
                return Tensor(shape: [1] + t.shape.dropFirst(), scalars: t.scalars[(b * per)..<((b + 1) * per)])
            }
            for multimask in [false, true] {
                let outs = (0..<n).map { i in
                    decoder(imageEmbedding: item(images, i), imagePE: pe, sparse: item(sparse, i), dense: item(dense, i),
                            multimaskOutput: multimask)
                }
                let suffix = multimask ? "multimask_true" : "multimask_false"
                try g.check(Tensor.concatenate(outs.map { $0.masks.reshaped([1] + $0.masks.shape) }, axis: 0), against: "masks_" + suffix)
                let iou = outs.flatMap(\.iouPredictions)
                try g.check(Tensor(shape: [n, iou.count / n], scalars: iou), against: "iou_" + suffix)
            }
        } }
    }

    /// The same goldens through the precomputed path: the first layer's image projections computed once by
    /// `prepare` and the workspace reused across prompts, and through the batched entry point (B = 2 prompts,
    /// image shared or per prompt), for multimask true and false.
    func testMaskDecoderPrecomputedAndBatched() throws {
        for name in ["mask_decoder_small", "mask_decoder"] { for packs in [false, true] {
            let g = try Golden("layers/" + name)
            let decoder = try maskDecoder(g, packs: packs)
            let images = try g.input("image_embeddings"), sparse = try g.input("sparse_prompt_embeddings")
            let dense = try g.input("dense_prompt_embeddings"), pe = try g.input("image_pe")
            let n = sparse.shape[0]
            XCTAssertGreaterThan(n, 1, "the golden must hold a batch of prompts")
            func item(_ t: Tensor, _ i: Int) -> Tensor {
                let b = t.shape[0] == 1 ? 0 : i
                let per = t.count / t.shape[0]
                return Tensor(shape: [1] + t.shape.dropFirst(), scalars: t.scalars[(b * per)..<((b + 1) * per)])
            }
            for multimask in [false, true] {
                let suffix = multimask ? "multimask_true" : "multimask_false"
                // Precomputed: one context per prompt (precomputed projections), one workspace for all.
                var workspace: DecoderWorkspace?
                let pre = (0..<n).map { i -> MaskDecoder.Output in
                    let ctx = decoder.prepare(imageEmbedding: item(images, i), imagePE: pe, dense: item(dense, i))
                    XCTAssertTrue(ctx.hasPrecomputedProjections)
                    if workspace == nil { workspace = decoder.makeWorkspace(for: ctx) }
                    return decoder.decode(ctx, sparse: item(sparse, i), multimaskOutput: multimask, workspace: workspace)
                }
                try g.check(Tensor.concatenate(pre.map { $0.masks.reshaped([1] + $0.masks.shape) }, axis: 0), against: "masks_" + suffix)
                try g.check(Tensor(shape: [n, pre[0].iouPredictions.count], scalars: pre.flatMap(\.iouPredictions)),
                            against: "iou_" + suffix)
                // Batched: the whole golden batch at once.
                let batched = decoder.predictMasks(imageEmbedding: images, imagePE: pe, sparse: sparse, dense: dense,
                                                   multimaskOutput: multimask)
                XCTAssertEqual(batched.count, n)
                try g.check(Tensor.concatenate(batched.map { $0.masks.reshaped([1] + $0.masks.shape) }, axis: 0), against: "masks_" + suffix)
                try g.check(Tensor(shape: [n, batched[0].iouPredictions.count], scalars: batched.flatMap(\.iouPredictions)),
                            against: "iou_" + suffix)
            }
        } }
    }

    /// Prompts sharing one image: the shared context (precomputed once) gives each prompt the same result as
    /// decoding it alone on the plain path (to float rounding: the same operations in the same order).
    func testSharedContextMatchesPlainPath() throws {
        let g = try Golden("layers/mask_decoder")
        let decoder = try maskDecoder(g)
        let image = try g.input("image_embeddings").batchItemForTest(0), pe = try g.input("image_pe")
        let dense = try g.input("dense_prompt_embeddings").batchItemForTest(0), sparse = try g.input("sparse_prompt_embeddings")
        let shared = decoder.predictMasks(imageEmbedding: image, imagePE: pe, sparse: sparse, dense: dense, multimaskOutput: true)
        for i in 0..<sparse.shape[0] {
            let plain = decoder(imageEmbedding: image, imagePE: pe, sparse: sparse.batchItemForTest(i), dense: dense,
                                multimaskOutput: true)
            XCTAssertLessThanOrEqual(maxAbsDifference(plain.masks.scalars, shared[i].masks.scalars), 1e-4)
            XCTAssertEqual(plain.iouPredictions.count, shared[i].iouPredictions.count)
            for (a, b) in zip(plain.iouPredictions, shared[i].iouPredictions) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        }
    }
}

extension MaskDecoderTests {
    /// Several prompts decoded together in one call (passes of up to `maxPromptsPerPass` prompts with the same
    /// number of tokens, first-layer scores as one wide GEMM) give each prompt what decoding it alone gives, in the
    /// caller's order: 11 prompts (the golden's two, rescaled copies of them, and prompts with one and three
    /// tokens) so that there are two passes of the two-token group and groups of other sizes in between.
    func testPromptsDecodedTogetherMatchOneByOne() throws {
        let g = try Golden("layers/mask_decoder")
        let decoder = try maskDecoder(g)
        let image = try g.input("image_embeddings").batchItemForTest(0), pe = try g.input("image_pe")
        let dense = try g.input("dense_prompt_embeddings").batchItemForTest(0), sparse = try g.input("sparse_prompt_embeddings")
        let dim = sparse.shape[2], n = sparse.shape[1]
        XCTAssertEqual(n, 2, "the golden's prompts have two tokens")
        let base = (0..<sparse.shape[0]).map { sparse.batchItemForTest($0).reshaped([n, dim]) }
        var prompts = [Tensor]()
        for k in 0..<9 {
            let s = base[k % base.count].scalars.map { $0 * (1 + 0.1 * Float(k)) }
            prompts.append(Tensor(shape: [n, dim], scalars: s))
        }
        prompts.insert(Tensor(shape: [1, dim], scalars: Array(base[0].scalars[0..<dim])), at: 3)
        prompts.insert(Tensor(shape: [3, dim], scalars: base[1].scalars + Array(base[0].scalars[0..<dim])), at: 7)
        XCTAssertGreaterThan(prompts.count - 2, MaskDecoder.maxPromptsPerPass, "two passes of the two-token prompts")
        let ctx = decoder.prepare(imageEmbedding: image, imagePE: pe, dense: dense)
        for multimask in [false, true] {
            let together = decoder.decode(ctx, prompts: prompts, multimaskOutput: multimask)
            XCTAssertEqual(together.count, prompts.count)
            var spread: Float = 0
            for (i, p) in prompts.enumerated() {
                let alone = decoder.decode(ctx, sparse: p, multimaskOutput: multimask)
                XCTAssertEqual(together[i].masks.shape, alone.masks.shape)
                XCTAssertLessThanOrEqual(maxAbsDifference(alone.masks.scalars, together[i].masks.scalars), 1e-4, "prompt \(i)")
                XCTAssertEqual(alone.iouPredictions.count, together[i].iouPredictions.count)
                for (a, b) in zip(alone.iouPredictions, together[i].iouPredictions) { XCTAssertEqual(a, b, accuracy: 1e-5) }
                if i > 0 { spread = max(spread, maxAbsDifference(alone.masks.scalars, together[i - 1].masks.scalars)) }
            }
            // The prompts give different masks, so a mix-up of the order would have been seen.
            XCTAssertGreaterThan(spread, 1e-2)
        }
    }
}

/// The golden's mask decoder, configured from its config.
/// Fails unless each layer holds its weight packed for the own GEMM — where this CPU prefers it for the layer's
/// depth; elsewhere (portable kernels) says loudly that the packed storage was not exercised.
private func assertPacked(_ layers: Linear..., file: StaticString = #filePath, line: UInt = #line) throws {
    for layer in layers {
        guard FP32PackedWeights.isPreferred(inFeatures: layer.inFeatures) else {
            print("[MaskDecoderTests] NOT TESTED: packed decoder weights (the own GEMM is not preferred for depth \(layer.inFeatures) here)")
            continue
        }
        guard case .fp32Packed = layer.storage else { return XCTFail("layer of depth \(layer.inFeatures) not packed", file: file, line: line) }
    }
}

private func maskDecoder(_ g: Golden, packs: Bool = true) throws -> MaskDecoder {
    let t = g.config["transformer"] as! [String: Any]
    let cfg = MaskDecoder.Configuration(
        transformerDim: g.int("transformer_dim"), numMultimaskOutputs: g.int("num_multimask_outputs"),
        iouHeadDepth: g.int("iou_head_depth"), iouHeadHiddenDim: g.int("iou_head_hidden_dim"),
        transformerDepth: (t["depth"] as! NSNumber).intValue, transformerHeads: (t["num_heads"] as! NSNumber).intValue,
        transformerMLPDim: (t["mlp_dim"] as! NSNumber).intValue)
    return try MaskDecoder(g.scope.packing(packs), configuration: cfg)
}

private func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

private extension Tensor {
    func batchItemForTest(_ i: Int) -> Tensor {
        let per = count / shape[0]
        return Tensor(shape: [1] + shape.dropFirst(), scalars: scalars[(i * per)..<((i + 1) * per)])
    }
}

import Checkpoint
import ImageEncoder
import Imaging
import MedSAM
import NN
import Preprocess
import PromptEncoder
import Tensor
import TestSupport
import XCTest

/// The whole MedSAM pipeline (MedSAM_Inference.py: cubic resize → uint8 → min-max → ViT → prompt
/// encoder → decoder → sigmoid → bilinear → threshold) with a reduced-width ViT and generated
/// weights, on real CT and MRI images, against PyTorch.
final class MedSAMPipelineTests: XCTestCase {
    func testReducedMedSAMPipelineOnRealImages() throws {
        for name in ["reduced_medsam_pipeline_mni152_axial_k60", "reduced_medsam_pipeline_mni152_axial_k100", "reduced_medsam_pipeline_ct0"] {
            let g = try Golden("models/" + name)
            let vit = g.config["image_encoder"] as! [String: Any]
            func i(_ k: String) -> Int { (vit[k] as! NSNumber).intValue }
            let cfg = ImageEncoderViT.Configuration(
                embedDim: i("embed_dim"), depth: i("depth"), numHeads: i("num_heads"), outChannels: i("out_chans"),
                windowSize: i("window_size"), globalAttentionIndexes: (vit["global_attn_indexes"] as! [NSNumber]).map(\.intValue))
            let segmenter = try Segmenter(variant: .medSAM(configuration: cfg), weights: DeterministicWeights())

            // Large images are stored once, in the LiteMedSAM fixture of the same case.
            let u8: Tensor
            if let other = g.metadata["image_u8_from"]?.split(separator: " ").first {
                u8 = try Golden(String(other.dropLast(".safetensors".count))).input("image_u8")
            } else {
                u8 = try g.input("image_u8")
            }
            let (h, w) = (u8.shape[0], u8.shape[1])
            let image = try Image(pixels: u8.scalars, width: w, height: h, channels: 1, pixelType: .uint8)

            // Preprocessing: the uint8 1024² image (channel 0, sampled) must match exactly.
            let resized = try MedSAMTransform(originalHeight: h, originalWidth: w).resizedUInt8(image)
            let channel0 = stride(from: 0, to: resized.count, by: 3).map { Float(resized[$0]) }
            try g.check(Tensor(shape: [1024, 1024], scalars: channel0), against: "img_1024_u8", tolerance: 0)

            let embedding = try segmenter.embed(image)
            try g.check(embedding.tensor, against: "image_embedding")

            let boxes = try g.input("boxes")
            let n = boxes.shape[0]
            let b = boxes.scalars
            let prompts = (0..<n).map { k in
                SegmentationPrompt.box(Box(x0: Double(b[4 * k]), y0: Double(b[4 * k + 1]), x1: Double(b[4 * k + 2]), y1: Double(b[4 * k + 3])))
            }
            let results = try segmenter.segment(embedding, prompts: prompts)
            try g.check(Tensor.concatenate(results.map { $0.lowResLogits.reshaped([1, 1, 256, 256]) }, axis: 0), against: "low_res_logits")
            try g.check(Tensor(shape: [n, 1], scalars: results.map(\.iouScore)), against: "iou")
            // Probabilities within 1e-3 (absolute: they are in [0, 1]).
            let probs = Tensor.concatenate(results.map { $0.probabilities.reshaped([1, h, w]) }, axis: 0)
            try g.check(probs, against: "probs", tolerance: 1e-3)
            // Masks identical except at most 0.1 % of pixels (pixels whose probability sits at 0.5 ± 1e-3).
            var actual = results.flatMap(\.mask).map(Float.init)
            let expected: [Float]
            if let full = try? g.output("masks") {
                expected = full.scalars
            } else {
                // Large images store every `sample_stride.masks`-th pixel.
                let stride = Int(g.metadata["sample_stride.masks"] ?? "1") ?? 1
                expected = try g.output("masks_sampled").scalars
                actual = Swift.stride(from: 0, to: actual.count, by: stride).map { actual[$0] }
            }
            let differing = zip(actual, expected).filter { $0 != $1 }.count
            XCTAssertLessThanOrEqual(Double(differing), 0.001 * Double(actual.count), "\(name): \(differing) mask pixels differ")
        }
    }
}

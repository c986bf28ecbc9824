import Foundation
import MedSAM
import PromptEncoder
import Tensor

/// One prepared model with its inputs; each method is one benchmark case body.
public final class BenchCase: @unchecked Sendable {
    public let model: ModelKind
    public let segmenter: Segmenter
    public let weights: String
    public let image: Image
    public let box: Box
    public let input: Tensor
    public let embedding: ImageEmbedding
    public let modelBox: [Float]

    public init(_ model: ModelKind, precision: Precision = .fp32) throws {
        self.model = model
        (segmenter, weights) = try BenchInputs.segmenter(model, precision: precision)
        image = try BenchInputs.ctImage()
        box = BenchInputs.ctBox
        input = try segmenter.preprocess(image)
        embedding = try segmenter.embed(image)
        modelBox = try segmenter.frame(width: image.width, height: image.height).box(box)
    }

    /// Image encoder on the preprocessed (1, 3, S, S) input.
    public func encoder() -> Tensor { segmenter.encode(input) }

    /// Prompt encoder + mask decoder for one box (no post-processing).
    public func decoder() -> Float {
        let (sparse, dense) = segmenter.promptEncoder(Prompt(box: modelBox))
        let out = segmenter.maskDecoder(imageEmbedding: embedding.tensor, imagePE: segmenter.imagePE,
                                        sparse: sparse, dense: dense, multimaskOutput: false)
        return out.iouPredictions[0]
    }

    /// One box on the embedded image, post-processing to the original size included.
    public func segmentOneBox() throws -> Int { try segmenter.segment(embedding, prompts: [.box(box)])[0].width }

    /// Ten boxes on the embedded image (embedding reused).
    public func segmentTenBoxes() throws -> Int {
        try segmenter.segment(embedding, prompts: BenchInputs.ctBoxes10.map { .box($0) }).count
    }

    /// Full 2-D pipeline: preprocessing, encoder, prompt encoder, decoder, post-processing.
    public func pipeline() throws -> Int { try segmenter.segment(image, boxes: [box])[0].area }

    /// `slices` slices of the MNI volume, each embedded and segmented with its box (no volume API
    /// in the library yet, so this is a loop over `embed` + `segment`).
    public func volumeLoop(_ images: [Image], box: Box) throws -> Int {
        var area = 0
        for im in images { area += try segmenter.segment(im, boxes: [box])[0].area }
        return area
    }
}

import Foundation
import Synchronization
@_exported import ImageEncoder
@_exported import MaskDecoder
@_exported import NN
@_exported import Preprocess
@_exported import PromptEncoder
@_exported import Tensor

/// The models this package runs.
public enum ModelKind: String, Sendable, Hashable, CaseIterable, Codable {
    /// MedSAM (SAM ViT-B fine-tuned on medical images), 1024×1024 input, `MedSAM_Inference.py` pipeline.
    /// SAM ViT-L/H checkpoints load too (same pipeline).
    case medSAM = "medsam"
    /// LiteMedSAM (TinyViT encoder), 256×256 input, `CVPR24_LiteMedSAM_infer.py` pipeline.
    case liteMedSAM = "lite"

    public var displayName: String { self == .medSAM ? "MedSAM" : "LiteMedSAM" }
}

/// Errors of the ``Segmenter`` API.
public enum SegmenterError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The checkpoint holds another model than the one asked for.
    case wrongModel(expected: ModelKind, found: String)
    /// The checkpoint's keys match no model this package knows.
    case unrecognizedCheckpoint(String)
    /// An embedding made by a segmenter of another model was passed in.
    case embeddingFromOtherModel(expected: ModelKind, found: ModelKind)
    /// A prompt has neither a box nor points.
    case emptyPrompt(index: Int)
    /// A point lies outside the image or is not finite.
    case pointOutsideImage(x: Double, y: Double, width: Int, height: Int)

    public var description: String {
        switch self {
        case let .wrongModel(e, f): return "checkpoint is \(f), not \(e.displayName)"
        case let .unrecognizedCheckpoint(why): return "unrecognized checkpoint: \(why)"
        case let .embeddingFromOtherModel(e, f):
            return "embedding was computed by \(f.displayName), this segmenter runs \(e.displayName)"
        case let .emptyPrompt(i): return "prompt \(i) has neither a box nor points"
        case let .pointOutsideImage(x, y, w, h): return "point (\(x), \(y)) lies outside the \(w)×\(h) image"
        }
    }
}

/// A point on the original image, in pixels (x = column, y = row).
public struct Point: Sendable, Hashable {
    public var x: Double
    public var y: Double
    /// `true` on the object, `false` for background.
    public var positive: Bool
    public init(x: Double, y: Double, positive: Bool = true) { self.x = x; self.y = y; self.positive = positive }
}

/// The prompt for one object, in original-image pixels: a box (what MedSAM and LiteMedSAM were
/// trained with), optionally refined with points.
public struct SegmentationPrompt: Sendable, Hashable {
    public var box: Box?
    public var points: [Point]
    public init(box: Box? = nil, points: [Point] = []) { self.box = box; self.points = points }
    /// A box prompt.
    public static func box(_ b: Box) -> SegmentationPrompt { SegmentationPrompt(box: b) }
}

/// The expensive part of a segmentation: the image encoder's output for one image. Reuse it for
/// every prompt on that image.
public struct ImageEmbedding: Sendable {
    /// The model that made it.
    public let model: ModelKind
    /// (1, 256, 64, 64).
    public let tensor: Tensor
    /// Size of the original image.
    public let width: Int
    public let height: Int
}

/// The result for one prompt.
public struct Segmentation: Sendable {
    public let width: Int
    public let height: Int
    /// Binary mask at the original size, row-major, 0 or 1.
    public let mask: [UInt8]
    /// Foreground probability per pixel at the original size, (H, W).
    public let probabilities: Tensor
    /// The decoder's low-resolution logits, (256, 256), in the model's input frame.
    public let lowResLogits: Tensor
    /// The decoder's predicted IoU of the mask.
    public let iouScore: Float

    /// Number of foreground pixels.
    public var area: Int { mask.reduce(0) { $0 + Int($1) } }
}

/// Box-prompted medical image segmentation with MedSAM or LiteMedSAM.
///
/// ```swift
/// import MedSAM
///
/// let segmenter = try Segmenter(.liteMedSAM, checkpoint: URL(fileURLWithPath: "lite_medsam.pth"))
/// let image = try Image(uint8: pixels, width: 512, height: 512)          // gray or RGB, 0…255
/// let embedding = try segmenter.embed(image)                              // once per image
/// let results = try segmenter.segment(embedding, prompts: [.box(Box(x0: 95, y0: 255, x1: 190, y1: 350))])
/// print(results[0].area, results[0].iouScore)
/// ```
///
/// A `Segmenter` is immutable and `Sendable`: one instance can serve many threads.
public final class Segmenter: Sendable {
    /// Which encoder a segmenter runs.
    public enum Encoder: Sendable {
        case vit(ImageEncoderViT)
        case tinyViT(TinyViT)
    }

    public let model: ModelKind
    public let encoder: Encoder
    public let promptEncoder: PromptEncoder
    public let maskDecoder: MaskDecoder
    /// `get_dense_pe()`, computed once.
    public let imagePE: Tensor
    /// The prompt-independent decoder state of the last embedding segmented and a reusable workspace
    /// (≈ 34 MB for LiteMedSAM while held), so that one box per call on the same image stays cheap.
    let decoderCache = DecoderStateCache()

    /// Loads a `.pth` (torch.save, plain state dict, `{"model": …}` wrapper, `module.` prefix) or a
    /// safetensors checkpoint and checks that it holds `model`.
    public convenience init(_ model: ModelKind, checkpoint url: URL) throws {
        try self.init(model, weights: try StateDict(contentsOf: url))
    }

    /// Builds the model from any weight source, looked up by PyTorch state-dict keys.
    ///
    /// For ``ModelKind/medSAM`` the ViT size (B/L/H) is read from the checkpoint; pass
    /// `vitConfiguration` to override it (e.g. generated weights, reduced test models).
    /// Loading is strict for enumerable sources: unexpected keys are an error.
    public init(_ model: ModelKind, weights: any WeightSource,
                vitConfiguration: ImageEncoderViT.Configuration? = nil,
                tinyViTConfiguration: TinyViT.Configuration = .liteMedSAM) throws {
        let found = Self.detect(weights)
        if let found, found != model {
            throw SegmenterError.wrongModel(expected: model, found: found.displayName)
        }
        let loader = WeightLoader(weights)
        self.model = model
        switch model {
        case .medSAM:
            var cfg = vitConfiguration ?? .vitB
            if vitConfiguration == nil, let shape = weights.shape(of: "image_encoder.patch_embed.proj.weight") {
                switch shape.first {
                case 1024: cfg = .vitL
                case 1280: cfg = .vitH
                default: cfg = .vitB
                }
            }
            encoder = .vit(try ImageEncoderViT(loader.scope("image_encoder"), configuration: cfg))
            promptEncoder = try PromptEncoder(loader.scope("prompt_encoder"),
                                              configuration: .init(embedDim: cfg.outChannels, imageEmbeddingSize: cfg.gridSize,
                                                                   inputImageSize: cfg.imageSize))
        case .liteMedSAM:
            let cfg = tinyViTConfiguration
            encoder = .tinyViT(try TinyViT(loader.scope("image_encoder"), configuration: cfg))
            promptEncoder = try PromptEncoder(loader.scope("prompt_encoder"),
                                              configuration: .init(embedDim: cfg.outChannels, imageEmbeddingSize: cfg.imageSize / 4,
                                                                   inputImageSize: cfg.imageSize))
        }
        maskDecoder = try MaskDecoder(loader.scope("mask_decoder"))
        try loader.checkAllUsed()
        imagePE = promptEncoder.densePositionalEncoding()
    }

    /// The model a checkpoint holds, from its keys (nil when the source cannot tell).
    public static func detect(_ weights: any WeightSource) -> ModelKind? {
        guard let keys = weights.allKeys else { return nil }
        if keys.contains("image_encoder.patch_embed.proj.weight") { return .medSAM }
        if keys.contains("image_encoder.patch_embed.seq.0.c.weight") { return .liteMedSAM }
        return nil
    }

    /// Side of the square model input (1024 or 256).
    public var inputSize: Int { promptEncoder.configuration.inputImageSize }

    /// Runs the image encoder (the expensive step) on a 0…255 gray or RGB image.
    public func embed(_ image: Image) throws -> ImageEmbedding {
        let input = try preprocess(image)
        return ImageEmbedding(model: model, tensor: encode(input), width: image.width, height: image.height)
    }

    /// The model input for `image`: (1, 3, S, S).
    public func preprocess(_ image: Image) throws -> Tensor {
        switch model {
        case .medSAM:
            return try MedSAMTransform(originalHeight: image.height, originalWidth: image.width, imageSize: inputSize)
                .preprocess(image)
        case .liteMedSAM:
            return try LiteMedSAMTransform(originalHeight: image.height, originalWidth: image.width, imageSize: inputSize)
                .preprocess(image)
        }
    }

    /// The image encoder on a preprocessed (1, 3, S, S) input.
    public func encode(_ input: Tensor) -> Tensor {
        switch encoder {
        case .vit(let e): return e(input)
        case .tinyViT(let e): return e(input)
        }
    }

    /// Segments each prompt on an embedded image (prompt encoder + mask decoder + post-processing).
    public func segment(_ embedding: ImageEmbedding, prompts: [SegmentationPrompt]) throws -> [Segmentation] {
        guard embedding.model == model else {
            throw SegmenterError.embeddingFromOtherModel(expected: model, found: embedding.model)
        }
        let (w, h) = (embedding.width, embedding.height)
        // Validate everything before running anything.
        let modelPrompts = try prompts.enumerated().map { i, p in try modelPrompt(p, index: i, width: w, height: h) }
        if modelPrompts.isEmpty { return [] }
        // Everything that does not depend on the prompt (image tokens, positional encoding, the first
        // layer's image projections) is computed once and shared by all prompts without a mask.
        var shared: (context: DecoderImageContext, workspace: DecoderWorkspace)?
        defer { if let shared { decoderCache.checkIn(shared.workspace) } }
        return try modelPrompts.map { prompt in
            if prompt.mask != nil { return try decode(embedding, prompt: prompt) }
            if shared == nil { shared = decoderState(for: embedding) }
            return try decode(embedding, prompt: prompt, context: shared!.context, workspace: shared!.workspace)
        }
    }

    /// The prompt-independent decoder state for `embedding` (from the one-entry cache when the same
    /// embedding was segmented last) and a workspace checked out for this call.
    func decoderState(for embedding: ImageEmbedding) -> (context: DecoderImageContext, workspace: DecoderWorkspace) {
        let context: DecoderImageContext
        let cache = decoderCache
        if let cached = cache.context(for: embedding.tensor) {
            context = cached
        } else {
            let noMask = promptEncoder.denseEmbedding(Prompt())
            context = maskDecoder.prepare(imageEmbedding: embedding.tensor, imagePE: imagePE, dense: noMask)
            cache.store(context, for: embedding.tensor)
        }
        let workspace = cache.checkOut(fitting: context) ?? maskDecoder.makeWorkspace(for: context)
        return (context, workspace)
    }

    /// Prompt encoder + mask decoder + the model's post-processing for one model-frame prompt.
    func decode(_ embedding: ImageEmbedding, prompt: Prompt,
                context: DecoderImageContext? = nil, workspace: DecoderWorkspace? = nil) throws -> Segmentation {
        let (w, h) = (embedding.width, embedding.height)
        let out: MaskDecoder.Output
        if let context {
            out = maskDecoder.decode(context, sparse: promptEncoder.sparseEmbedding(prompt), multimaskOutput: false,
                                     workspace: workspace)
        } else {
            let (sparse, dense) = promptEncoder(prompt)
            out = maskDecoder(imageEmbedding: embedding.tensor, imagePE: imagePE, sparse: sparse, dense: dense,
                              multimaskOutput: false)
        }
        let (mh, mw) = (out.masks.shape[1], out.masks.shape[2])
        let logits = out.masks.reshaped([1, 1, mh, mw])
        let post: (probabilities: Tensor, masks: [UInt8])
        switch model {
        case .medSAM:
            post = try MedSAMTransform(originalHeight: h, originalWidth: w, imageSize: inputSize).postprocess(lowResLogits: logits)
        case .liteMedSAM:
            post = try LiteMedSAMTransform(originalHeight: h, originalWidth: w, imageSize: inputSize).postprocess(lowResLogits: logits)
        }
        return Segmentation(width: w, height: h, mask: post.masks, probabilities: post.probabilities.reshaped([h, w]),
                            lowResLogits: out.masks.reshaped([mh, mw]), iouScore: out.iouPredictions[0])
    }

    /// Embeds `image` and segments every box on it (the embedding is computed once).
    public func segment(_ image: Image, boxes: [Box]) throws -> [Segmentation] {
        for b in boxes { _ = try b.validated(width: image.width, height: image.height) }
        return try segment(try embed(image), prompts: boxes.map { .box($0) })
    }

    /// Maps a prompt from original pixels to the model's input frame, as each reference pipeline does.
    func modelPrompt(_ p: SegmentationPrompt, index: Int, width w: Int, height h: Int) throws -> Prompt {
        guard p.box != nil || !p.points.isEmpty else { throw SegmenterError.emptyPrompt(index: index) }
        var prompt = Prompt()
        if let box = p.box {
            switch model {
            case .medSAM: prompt.box = try MedSAMTransform(originalHeight: h, originalWidth: w, imageSize: inputSize).box(box)
            case .liteMedSAM: prompt.box = try LiteMedSAMTransform(originalHeight: h, originalWidth: w, imageSize: inputSize).box(box)
            }
        }
        let s = Double(inputSize)
        prompt.points = try p.points.map { pt in
            guard pt.x.isFinite, pt.y.isFinite, pt.x >= 0, pt.y >= 0, pt.x <= Double(w), pt.y <= Double(h) else {
                throw SegmenterError.pointOutsideImage(x: pt.x, y: pt.y, width: w, height: h)
            }
            let (x, y): (Double, Double)
            switch model {
            case .medSAM: (x, y) = (pt.x / Double(w) * s, pt.y / Double(h) * s)
            case .liteMedSAM: (x, y) = (pt.x * s / Double(max(w, h)), pt.y * s / Double(max(w, h)))
            }
            return PointPrompt(x: Float(x), y: Float(y), label: pt.positive ? .positive : .negative)
        }
        return prompt
    }
}

/// A one-entry cache (one per ``Segmenter``) of the prompt-independent decoder state
/// (``DecoderImageContext``, ~18 MB for a 64×64 embedding) of the last embedding segmented, plus one idle
/// ``DecoderWorkspace`` (~16 MB), so that interactive use (one box per call on the same image) neither
/// recomputes the image-only projections nor faults in fresh scratch memory on every call.
///
/// The entry keeps the embedding's tensor alive, so comparing storage addresses identifies the embedding
/// (no other live tensor can share the address). A workspace is checked out by one call at a time; concurrent
/// calls make their own.
final class DecoderStateCache: Sendable {
    private struct Entry {
        var embedding: Tensor?
        var context: DecoderImageContext?
        var workspace: DecoderWorkspace?
    }
    private let state = Mutex(Entry())

    private static func same(_ a: Tensor, _ b: Tensor) -> Bool {
        guard a.shape == b.shape else { return false }
        return a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in pa.baseAddress == pb.baseAddress } }
    }

    func context(for embedding: Tensor) -> DecoderImageContext? {
        state.withLock { e in
            guard let cached = e.embedding, Self.same(cached, embedding) else { return nil }
            return e.context
        }
    }

    func store(_ context: DecoderImageContext, for embedding: Tensor) {
        state.withLock { e in
            e.embedding = embedding
            e.context = context
        }
    }

    func checkOut(fitting context: DecoderImageContext) -> DecoderWorkspace? {
        state.withLock { e in
            guard let w = e.workspace, w.fits(context) else { return nil }
            e.workspace = nil
            return w
        }
    }

    func checkIn(_ workspace: DecoderWorkspace) {
        state.withLock { e in e.workspace = workspace }
    }
}

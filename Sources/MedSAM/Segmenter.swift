import Checkpoint
import Foundation
@_exported import Imaging
@_exported import enum Tensor.Precision
import ImageEncoder
import MaskDecoder
import NN
import Preprocess
import PromptEncoder
import Synchronization
import Tensor

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
    /// No registered model variant has this name.
    case unknownModel(String, known: [String])
    /// Two model variants of one registry share a name.
    case duplicateModelName(String)
    /// A variant's parts do not fit together (e.g. encoder channels ≠ decoder width).
    case inconsistentModel(String)
    /// The CPU cannot run this encoder precision natively (bf16 needs AVX512_BF16); it is not emulated slowly.
    case unsupportedPrecision(Precision, reason: String)

    public var description: String {
        switch self {
        case let .wrongModel(e, f): return "checkpoint is \(f), not \(e.displayName)"
        case let .unrecognizedCheckpoint(why): return "unrecognized checkpoint: \(why)"
        case let .embeddingFromOtherModel(e, f):
            return "embedding was computed by \(f.displayName), this segmenter runs \(e.displayName)"
        case let .emptyPrompt(i): return "prompt \(i) has neither a box nor points"
        case let .pointOutsideImage(x, y, w, h): return "point (\(x), \(y)) lies outside the \(w)×\(h) image"
        case let .unknownModel(name, known): return "unknown model '\(name)' (known: \(known.joined(separator: ", ")))"
        case let .duplicateModelName(name): return "a model variant named '\(name)' is already registered"
        case let .inconsistentModel(why): return "inconsistent model: \(why)"
        case let .unsupportedPrecision(p, why): return "precision \(p) is not available on this CPU: \(why)"
        }
    }
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
    /// Everything the encoder produced.
    public let features: ImageFeatures
    /// Size of the original image.
    public let width: Int
    public let height: Int

    /// The (1, 256, 64, 64) embedding the mask decoder attends to.
    public var tensor: Tensor { features.embedding }
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

/// Box-prompted medical image segmentation with any registered model variant (MedSAM, LiteMedSAM, or one of
/// an app's own, see ``ModelRegistry``).
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
    /// The variant this segmenter runs.
    public let variant: ModelVariant
    public let encoder: any ImageEncoding
    public let promptEncoder: PromptEncoder
    public let maskDecoder: MaskDecoder
    /// `get_dense_pe()`, computed once.
    public let imagePE: Tensor
    /// The prompt-independent decoder state of the last embedding segmented and a reusable workspace
    /// (≈ 34 MB for LiteMedSAM while held), so that one box per call on the same image stays cheap.
    let decoderCache = DecoderStateCache()

    /// The model's name.
    public var model: ModelKind { variant.kind }
    /// The arithmetic of the image encoder's Linear layers (the prompt encoder and mask decoder are always fp32).
    public let precision: Precision

    /// Loads a `.pth` (torch.save, plain state dict, `{"model": …}` wrapper, `module.` prefix) or a
    /// safetensors checkpoint and checks that it holds `model`.
    /// - Throws: `CheckpointError` for unreadable files, `WeightError` for missing, unexpected or mis-shaped
    ///   keys, ``SegmenterError`` when the checkpoint holds another model or `model` is not in `registry`.
    public convenience init(_ model: ModelKind, checkpoint url: URL, registry: ModelRegistry = .standard,
                            precision: Precision = .fp32) throws {
        try self.init(variant: try registry.variant(for: model), weights: try StateDict(contentsOf: url), registry: registry,
                      precision: precision)
    }

    /// Builds `model` (looked up in `registry`) from any weight source, by PyTorch state-dict keys.
    /// - Throws: as ``init(variant:weights:registry:)``, and ``SegmenterError/unknownModel(_:known:)``.
    public convenience init(_ model: ModelKind, weights: any WeightSource, registry: ModelRegistry = .standard,
                            precision: Precision = .fp32) throws {
        try self.init(variant: try registry.variant(for: model), weights: weights, registry: registry, precision: precision)
    }

    /// Loads `variant` from a checkpoint file.
    /// - Throws: as ``init(variant:weights:registry:)`` and `CheckpointError` for unreadable files.
    public convenience init(variant: ModelVariant, checkpoint url: URL, registry: ModelRegistry = .standard,
                            precision: Precision = .fp32) throws {
        try self.init(variant: variant, weights: try StateDict(contentsOf: url), registry: registry, precision: precision)
    }

    /// Builds `variant` from any weight source. Loading is strict for enumerable sources: unexpected keys are
    /// an error. When the source's keys are another variant's of `registry`, that is reported by name.
    /// - Throws: ``SegmenterError/wrongModel(expected:found:)``, `WeightError` for missing, unexpected or
    ///   mis-shaped keys, ``SegmenterError/inconsistentModel(_:)`` when the parts do not fit together,
    ///   ``SegmenterError/unsupportedPrecision(_:reason:)`` for `bf16` on a CPU without AVX512_BF16.
    /// - Parameter precision: the image encoder's arithmetic (``Precision``; `.fp32`, the exact reference, by default).
    ///   The variant reads it from the loader (``WeightLoader/encoderPrecision``).
    public init(variant: ModelVariant, weights: any WeightSource, registry: ModelRegistry = .standard,
                precision: Precision = .fp32) throws {
        guard precision.isSupported else {
            throw SegmenterError.unsupportedPrecision(
                precision, reason: "needs AVX512_BF16 (vdpbf16ps) and MEDSAM_KERNELS not capped below avx512")
        }
        if let keys = weights.allKeys {
            let set = Set(keys)
            if !variant.recognizes(set), let other = registry.variants.first(where: { $0.recognizes(set) }) {
                throw SegmenterError.wrongModel(expected: variant.kind, found: other.kind.displayName)
            }
        }
        let loader = WeightLoader(weights, encoderPrecision: precision, encoderPolicy: variant.precisionPolicy)
        let parts = try variant.build(loader)
        try loader.checkAllUsed()
        let (e, p, d) = (parts.encoder, parts.promptEncoder.configuration, parts.maskDecoder.configuration)
        guard e.embeddingChannels == p.embedDim, p.embedDim == d.transformerDim,
              e.embeddingSize == p.imageEmbeddingSize, e.inputSize == p.inputImageSize else {
            throw SegmenterError.inconsistentModel(
                "encoder gives \(e.embeddingChannels)×\(e.embeddingSize)² from \(e.inputSize)² input; prompt encoder expects "
                + "\(p.embedDim)×\(p.imageEmbeddingSize)² from \(p.inputImageSize)², mask decoder \(d.transformerDim) channels")
        }
        self.variant = variant
        // What the encoder was built in: a converted int8 file is int8 whatever was asked; a variant that ignores
        // the loader's precision stays fp32.
        let built = Set(loader.reducedWeights.values)
        self.precision = built.contains(.int8) ? .int8 : built.contains(.bf16) ? .bf16 : .fp32
        encoder = parts.encoder
        promptEncoder = parts.promptEncoder
        maskDecoder = parts.maskDecoder
        imagePE = promptEncoder.densePositionalEncoding()
    }

    /// The model a checkpoint holds, from its keys (nil when the source cannot tell).
    public static func detect(_ weights: any WeightSource, registry: ModelRegistry = .standard) -> ModelKind? {
        registry.detect(weights)?.kind
    }

    /// Side of the square model input (1024 or 256).
    public var inputSize: Int { encoder.inputSize }

    /// The model's geometry for an original image of `width`×`height`.
    public func frame(width: Int, height: Int) -> any ModelFrame { variant.frame(width, height, inputSize) }

    /// Runs the image encoder (the expensive step) on a 0…255 gray or RGB image.
    /// - Throws: `ImagingError` when the image has values outside 0…255.
    public func embed(_ image: Image) throws -> ImageEmbedding {
        let input = try preprocess(image)
        return ImageEmbedding(model: model, features: encoder.encode(input), width: image.width, height: image.height)
    }

    /// The model input for `image`: (1, 3, S, S).
    /// - Throws: `ImagingError` when the image has values outside 0…255.
    public func preprocess(_ image: Image) throws -> Tensor {
        try frame(width: image.width, height: image.height).preprocess(image)
    }

    /// The image encoder's embedding for a preprocessed (1, 3, S, S) input.
    public func encode(_ input: Tensor) -> Tensor { encoder.encode(input).embedding }

    /// Segments each prompt on an embedded image (prompt encoder + mask decoder + post-processing).
    /// - Throws: ``SegmenterError`` for an embedding of another model, an empty prompt or a point off the image;
    ///   `ImagingError` for a box that is not finite, inverted, empty or off the image. Nothing runs until
    ///   every prompt is checked.
    public func segment(_ embedding: ImageEmbedding, prompts: [SegmentationPrompt]) throws -> [Segmentation] {
        guard embedding.model == model else {
            throw SegmenterError.embeddingFromOtherModel(expected: model, found: embedding.model)
        }
        try Self.validate(prompts, width: embedding.width, height: embedding.height)
        let frame = self.frame(width: embedding.width, height: embedding.height)
        let modelPrompts = try prompts.map { try modelPrompt($0, frame: frame) }
        if modelPrompts.isEmpty { return [] }
        // Everything that does not depend on the prompt (image tokens, positional encoding, the first
        // layer's image projections) is computed once and shared by all prompts.
        let shared = decoderState(for: embedding)
        defer { decoderCache.checkIn(shared.workspace) }
        // Prompts without a mask input share the prepared image and are decoded together in one pass.
        let plain = modelPrompts.indices.filter { modelPrompts[$0].mask == nil }
        let outs = maskDecoder.decode(shared.context, prompts: plain.map { promptEncoder.sparseEmbedding(modelPrompts[$0]) },
                                      multimaskOutput: false, workspace: shared.workspace)
        var decoded = [MaskDecoder.Output?](repeating: nil, count: modelPrompts.count)
        for (i, out) in zip(plain, outs) { decoded[i] = out }
        // Prompts with a mask input: their own decoder pass each (parallel inside).
        for i in modelPrompts.indices where decoded[i] == nil {
            decoded[i] = decoderOutput(embedding, prompt: modelPrompts[i], context: shared.context, workspace: shared.workspace)
        }
        // Post-processing (resize to the image, sigmoid, threshold): one prompt per thread when there are several.
        var results = [Result<Segmentation, any Error>?](repeating: nil, count: modelPrompts.count)
        results.withUnsafeMutableBufferPointer { rb in
            let rp = SendablePointer(rb.baseAddress!)
            Parallel.forRanges(modelPrompts.count) { range in
                for i in range {
                    rp.pointer[i] = Result { try finish(decoded[i]!, frame: frame, width: embedding.width, height: embedding.height) }
                }
            }
        }
        return try results.map { try $0!.get() }
    }

    /// Embeds `image` and segments every box on it (the embedding is computed once).
    /// - Throws: as ``embed(_:)`` and ``segment(_:prompts:)``; boxes are checked before the encoder runs.
    public func segment(_ image: Image, boxes: [Box]) throws -> [Segmentation] {
        for b in boxes { _ = try b.validated(width: image.width, height: image.height) }
        return try segment(try embed(image), prompts: boxes.map { .box($0) })
    }

    /// Segments one prompt already in the model's input frame (e.g. a 256-frame box of the 3-D propagation).
    package func segmentModelFrame(_ embedding: ImageEmbedding, prompt: Prompt) throws -> Segmentation {
        guard embedding.model == model else {
            throw SegmenterError.embeddingFromOtherModel(expected: model, found: embedding.model)
        }
        return try decode(embedding, prompt: prompt, frame: frame(width: embedding.width, height: embedding.height))
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

    /// Prompt encoder + mask decoder + the frame's post-processing for one model-frame prompt. Prompts with a mask
    /// input have their own dense embedding and so their own decoder context.
    func decode(_ embedding: ImageEmbedding, prompt: Prompt, frame: any ModelFrame) throws -> Segmentation {
        try finish(decoderOutput(embedding, prompt: prompt), frame: frame, width: embedding.width, height: embedding.height)
    }

    /// Prompt encoder + mask decoder for one model-frame prompt: on the shared `context` when given and the prompt
    /// has no mask input, else the full decoder with the prompt's own dense embedding.
    func decoderOutput(_ embedding: ImageEmbedding, prompt: Prompt, context: DecoderImageContext? = nil,
                       workspace: DecoderWorkspace? = nil) -> MaskDecoder.Output {
        if let context, prompt.mask == nil {
            return maskDecoder.decode(context, sparse: promptEncoder.sparseEmbedding(prompt), multimaskOutput: false,
                                      workspace: workspace)
        }
        let (sparse, dense) = promptEncoder(prompt)
        return maskDecoder(imageEmbedding: embedding.tensor, imagePE: imagePE, sparse: sparse, dense: dense,
                           multimaskOutput: false)
    }

    /// The frame's post-processing of one decoder output into a `width`×`height` segmentation.
    func finish(_ out: MaskDecoder.Output, frame: any ModelFrame, width w: Int, height h: Int) throws -> Segmentation {
        let (mh, mw) = (out.masks.shape[1], out.masks.shape[2])
        let post = try frame.postprocess(lowResLogits: out.masks.reshaped([1, 1, mh, mw]))
        return Segmentation(width: w, height: h, mask: post.masks, probabilities: post.probabilities.reshaped([h, w]),
                            lowResLogits: out.masks.reshaped([mh, mw]), iouScore: out.iouPredictions[0])
    }

    /// Checks prompts against a `width`×`height` image, as ``segment(_:prompts:)`` does before running anything:
    /// each prompt has a box or points, boxes are finite, ordered, non-empty and on the image, points on the image.
    /// - Throws: ``SegmenterError/emptyPrompt(index:)``, ``SegmenterError/pointOutsideImage(x:y:width:height:)``
    ///   or the box's `ImagingError`.
    public static func validate(_ prompts: [SegmentationPrompt], width: Int, height: Int) throws {
        for (i, p) in prompts.enumerated() {
            guard p.box != nil || !p.points.isEmpty else { throw SegmenterError.emptyPrompt(index: i) }
            if let b = p.box { _ = try b.validated(width: width, height: height) }
            if let pt = p.points.first(where: { !$0.isInside(width: width, height: height) }) {
                throw SegmenterError.pointOutsideImage(x: pt.x, y: pt.y, width: width, height: height)
            }
        }
    }

    /// Maps a validated prompt from original pixels to the model's input frame (the frame owns the geometry).
    func modelPrompt(_ p: SegmentationPrompt, frame: any ModelFrame) throws -> Prompt {
        var prompt = Prompt()
        if let box = p.box { prompt.box = try frame.box(box) }
        prompt.points = p.points.map { pt in
            let (x, y) = frame.point(x: pt.x, y: pt.y)
            return PointPrompt(x: x, y: y, label: pt.positive ? .positive : .negative)
        }
        return prompt
    }
}

/// A one-entry cache (one per ``Segmenter``) of the prompt-independent decoder state
/// (``DecoderImageContext``, ~18 MB for a 64×64 embedding) of the last embedding segmented, plus one idle
/// ``DecoderWorkspace`` (~8 MB: keys and keys + PE), so that interactive use (one box
/// per call on the same image) neither recomputes the image-only projections nor faults in fresh scratch memory
/// on every call.
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

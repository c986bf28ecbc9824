import Checkpoint
import Foundation
import ImageEncoder
import MaskDecoder
import NN
import Preprocess
import PromptEncoder
import Tensor

/// Names a model: a stable `id` (what `medsam --model` takes and what embeddings are tagged with) and the
/// name shown to people. Two kinds are equal when their ids are.
public struct ModelKind: Sendable, Hashable, Codable, CustomStringConvertible {
    public let id: String
    public let displayName: String

    public init(id: String, displayName: String) {
        self.id = id
        self.displayName = displayName
    }

    /// MedSAM (SAM ViT-B fine-tuned on medical images), 1024×1024 input, `MedSAM_Inference.py` pipeline.
    public static let medSAM = ModelKind(id: "medsam", displayName: "MedSAM")
    /// LiteMedSAM (TinyViT encoder), 256×256 input, `CVPR24_LiteMedSAM_infer.py` pipeline.
    public static let liteMedSAM = ModelKind(id: "lite", displayName: "LiteMedSAM")

    /// The id (the raw value of the former enum).
    public var rawValue: String { id }
    public var description: String { displayName }

    public static func == (a: ModelKind, b: ModelKind) -> Bool { a.id == b.id }
    public func hash(into h: inout Hasher) { h.combine(id) }
}

/// The loaded parts of a SAM-style model: an image encoder, SAM's prompt encoder and mask decoder.
public struct ModelParts: Sendable {
    public var encoder: any ImageEncoding
    public var promptEncoder: PromptEncoder
    public var maskDecoder: MaskDecoder

    public init(encoder: any ImageEncoding, promptEncoder: PromptEncoder, maskDecoder: MaskDecoder) {
        self.encoder = encoder
        self.promptEncoder = promptEncoder
        self.maskDecoder = maskDecoder
    }

    /// `encoder` with SAM's prompt encoder and mask decoder, read under `prompt_encoder` and `mask_decoder`
    /// and sized from the encoder (embedding channels and grid, input size).
    /// - Throws: `WeightError` when a weight is missing or mis-shaped.
    public static func sam(encoder: any ImageEncoding, loader: WeightLoader,
                           decoder: MaskDecoder.Configuration = .sam) throws -> ModelParts {
        let prompt = try PromptEncoder(loader.scope("prompt_encoder"),
                                       configuration: .init(embedDim: encoder.embeddingChannels,
                                                            imageEmbeddingSize: encoder.embeddingSize,
                                                            inputImageSize: encoder.inputSize))
        // fp32 always; its token-side layers packed for the own GEMM (the attentions keep the weights they read
        // directly in PyTorch layout: `DecoderAttention.Role`).
        let mask = try MaskDecoder(loader.scope("mask_decoder").packing(true), configuration: decoder)
        return ModelParts(encoder: encoder, promptEncoder: prompt, maskDecoder: mask)
    }
}

/// A model this package can run, as data: how to recognise its checkpoint, how to build it, its geometry, and
/// what it supports. ``ModelRegistry/standard`` holds MedSAM and LiteMedSAM; an app adds its own variant with
/// ``ModelRegistry/register(_:)`` (see the *Adding a model* article).
///
/// ```swift
/// let variant = ModelVariant(
///     kind: ModelKind(id: "tiny", displayName: "Tiny conv SAM"),
///     summary: "a 64×64 conv encoder",
///     recognizes: { $0.contains("image_encoder.conv.weight") },
///     build: { loader in try ModelParts.sam(encoder: TinyConvEncoder(loader.scope("image_encoder")), loader: loader) },
///     frame: { w, h, size in LiteMedSAMTransform(originalHeight: h, originalWidth: w, imageSize: size) })
/// var registry = ModelRegistry.standard
/// try registry.register(variant)
/// ```
public struct ModelVariant: Sendable {
    /// Its name.
    public let kind: ModelKind
    /// Further names `--model` accepts (matched without regard to case).
    public var aliases: [String]
    /// One line for `--help` and `medsam info`.
    public var summary: String
    /// File name of a checkpoint the CLI finds on its own (in `$MEDSAM_CHECKPOINT_DIR` or `.cache/checkpoints`),
    /// nil when the user always passes one.
    public var cachedCheckpointName: String?
    /// What to tell a user who has no checkpoint.
    public var checkpointHint: String
    /// Whether LiteMedSAM's 3-D slice propagation applies (its frame must be a `PropagationFrame`).
    public var supportsVolumePropagation: Bool
    /// Which encoder layers keep fp32 under `--precision int8` / `bf16`: this model's measured policy
    /// (docs/precision.md). ``PrecisionPolicy/reduceAll`` by default.
    public var precisionPolicy: PrecisionPolicy
    /// Whether a checkpoint with these keys holds this model.
    public let recognizes: @Sendable (_ keys: Set<String>) -> Bool
    /// Builds the model from weights read through `loader` (strict: the segmenter checks afterwards that every
    /// key was read).
    public let build: @Sendable (_ loader: WeightLoader) throws -> ModelParts
    /// The model's geometry for an original image of `width`×`height` and a square input of `inputSize`.
    public let frame: @Sendable (_ width: Int, _ height: Int, _ inputSize: Int) -> any ModelFrame

    public init(kind: ModelKind, aliases: [String] = [], summary: String, cachedCheckpointName: String? = nil,
                checkpointHint: String = "pass the checkpoint with --checkpoint PATH",
                supportsVolumePropagation: Bool = false,
                precisionPolicy: PrecisionPolicy = .reduceAll,
                recognizes: @escaping @Sendable (_ keys: Set<String>) -> Bool,
                build: @escaping @Sendable (_ loader: WeightLoader) throws -> ModelParts,
                frame: @escaping @Sendable (_ width: Int, _ height: Int, _ inputSize: Int) -> any ModelFrame) {
        self.kind = kind
        self.aliases = aliases
        self.summary = summary
        self.cachedCheckpointName = cachedCheckpointName
        self.checkpointHint = checkpointHint
        self.supportsVolumePropagation = supportsVolumePropagation
        self.precisionPolicy = precisionPolicy
        self.recognizes = recognizes
        self.build = build
        self.frame = frame
    }

    /// Every name of the variant, lower-cased: its id, then its aliases.
    public var names: [String] { ([kind.id] + aliases).map { $0.lowercased() } }
}

/// The set of model variants a ``Segmenter``, the `medsam` CLI and `medsam serve` choose from. A value: copy
/// ``standard`` and register more variants into the copy.
public struct ModelRegistry: Sendable {
    /// In registration order.
    public private(set) var variants: [ModelVariant]

    /// MedSAM and LiteMedSAM.
    public static let standard = ModelRegistry(checked: [.medSAM(), .liteMedSAM()])

    private init(checked: [ModelVariant]) { variants = checked }

    /// A registry of `variants`.
    /// - Throws: ``SegmenterError/duplicateModelName(_:)`` when two variants share a name.
    public init(_ variants: [ModelVariant]) throws {
        self.variants = []
        for v in variants { try register(v) }
    }

    /// Adds a variant.
    /// - Throws: ``SegmenterError/duplicateModelName(_:)`` when one of its names is taken.
    public mutating func register(_ variant: ModelVariant) throws {
        let taken = Set(variants.flatMap(\.names))
        if let clash = variant.names.first(where: taken.contains) { throw SegmenterError.duplicateModelName(clash) }
        variants.append(variant)
    }

    /// The variant called `name` (its id or an alias, any case).
    /// - Throws: ``SegmenterError/unknownModel(_:known:)``.
    public func variant(named name: String) throws -> ModelVariant {
        let key = name.lowercased()
        guard let v = variants.first(where: { $0.names.contains(key) }) else {
            throw SegmenterError.unknownModel(name, known: variants.map(\.kind.id))
        }
        return v
    }

    /// The variant of `kind`.
    /// - Throws: ``SegmenterError/unknownModel(_:known:)``.
    public func variant(for kind: ModelKind) throws -> ModelVariant { try variant(named: kind.id) }

    /// The first variant that recognises the source's keys (nil when the source cannot list its keys or none does).
    public func detect(_ weights: any WeightSource) -> ModelVariant? {
        guard let keys = weights.allKeys else { return nil }
        let set = Set(keys)
        return variants.first { $0.recognizes(set) }
    }
}

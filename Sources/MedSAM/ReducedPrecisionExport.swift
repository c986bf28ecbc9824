import Checkpoint
import Foundation
import NN
import Tensor

/// The weights of a model with its image encoder's Linear layers stored in a reduced precision, for a smaller
/// model file (`medsam convert --precision int8|bf16`) that loads without the fp32 original.
///
/// - int8: each reduced weight `W` becomes its int8 values (dtype I8) and `W_scale` (`<name>.weight_scale`, F32,
///   one per output row): exactly what quantising at load computes, so a segmenter built from the file gives the
///   same encoder output as one built from the fp32 checkpoint with `precision: .int8`.
/// - bf16: each reduced weight is stored as BF16 (rounded to nearest even; loading with `precision: .bf16` rounds
///   again, which changes nothing).
///
/// ```swift
/// let export = try ReducedPrecisionExport(StateDict(contentsOf: pth), precision: .int8)
/// try Safetensors.write(export.tensors, to: out, metadata: export.metadata, dtypes: export.dtypes)
/// ```
public struct ReducedPrecisionExport: Sendable {
    /// All tensors of the model (reduced ones as their stored values, plus the int8 scales).
    public var tensors: [String: Tensor]
    /// The dtype of each reduced tensor in the file (others stay as the writer stores them).
    public var dtypes: [String: CheckpointDType]
    /// The source's metadata plus `medsam.encoder_precision`.
    public var metadata: [String: String]
    /// The keys stored reduced.
    public var reducedKeys: [String]

    /// - Throws: ``SegmenterError/unrecognizedCheckpoint(_:)`` when no variant of `registry` recognises the
    ///   weights, and what building the variant throws.
    public init(_ weights: StateDict, precision: Precision, registry: ModelRegistry = .standard) throws {
        guard let variant = registry.detect(weights) else {
            throw SegmenterError.unrecognizedCheckpoint("its keys match no registered model")
        }
        // Building the variant with the precision records which weights its Linear layers reduce.
        let loader = WeightLoader(weights, encoderPrecision: precision, encoderPolicy: variant.precisionPolicy)
        _ = try variant.build(loader)
        var tensors = weights.tensors
        var dtypes: [String: CheckpointDType] = [:]
        let reduced = loader.reducedWeights
        for (key, p) in reduced {
            guard let w = weights[key], w.rank == 2 else { continue }
            switch p {
            case .int8:
                let q = weights.dtypes[key] == .int8 && tensors[String(key.dropLast("weight".count)) + "weight_scale"] != nil
                    ? nil : Int8Weights(quantizing: w)
                if let q {
                    tensors[key] = Tensor(shape: w.shape, scalars: q.values.map { Float($0) })
                    tensors[String(key.dropLast("weight".count)) + "weight_scale"] = Tensor(shape: [w.shape[0]], scalars: q.scales)
                }
                dtypes[key] = .int8
            case .bf16:
                dtypes[key] = .bfloat16
            case .fp32:
                break
            }
        }
        self.tensors = tensors
        self.dtypes = dtypes
        var meta = weights.metadata
        meta["medsam.encoder_precision"] = precision.rawValue
        metadata = meta
        reducedKeys = reduced.keys.sorted()
    }
}

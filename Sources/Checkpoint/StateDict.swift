import Foundation
import Tensor

/// The file formats ``StateDict`` reads.
public enum CheckpointFormat: String, Sendable {
    /// `torch.save` zip archive (`.pth`, PyTorch ≥ 1.6).
    case torch
    /// safetensors.
    case safetensors
}

/// A loaded checkpoint: Float32 tensors by PyTorch state-dict key.
///
/// ```swift
/// let sd = try StateDict(contentsOf: URL(fileURLWithPath: "lite_medsam.pth"))
/// let w = try sd.tensor("mask_decoder.iou_token.weight", shape: [1, 256])
/// try sd.write(safetensorsTo: URL(fileURLWithPath: "lite_medsam.safetensors"), half: true)
/// ```
public struct StateDict: WeightSource {
    /// Tensors by key (all converted to Float32, contiguous).
    public private(set) var tensors: [String: Tensor]
    /// Keys in file order.
    public private(set) var keys: [String]
    /// The dtype each tensor was stored with (Float32 for tensors made in memory).
    public private(set) var dtypes: [String: CheckpointDType]
    /// safetensors `__metadata__` (empty for `.pth` files).
    public var metadata: [String: String]

    /// Reads a `torch.save` zip or a safetensors file, detected by its first bytes.
    public init(contentsOf url: URL) throws {
        _ = try FileProbe.size(of: url)
        let head = try FileProbe.prefix(of: url, count: 512)
        switch FileProbe.kind(head) {
        case .zip, .legacyTorch: try self.init(contentsOf: url, format: .torch)
        case .safetensors: try self.init(contentsOf: url, format: .safetensors)
        case .unknown:
            throw head.count < 9 ? CheckpointError.truncated(url.path) : CheckpointError.unknownFormat(url.path)
        }
    }

    /// Reads a file of a known format.
    public init(contentsOf url: URL, format: CheckpointFormat) throws {
        let loaded: LoadedTensors
        switch format {
        case .torch: loaded = try TorchCheckpoint.read(url)
        case .safetensors: loaded = try Safetensors.read(url)
        }
        self.init(loaded)
    }

    init(_ loaded: LoadedTensors) {
        tensors = loaded.tensors
        keys = loaded.keys
        dtypes = loaded.dtypes
        metadata = loaded.metadata
    }

    /// Tensors made in memory; keys are kept in sorted order unless `order` lists them.
    public init(tensors: [String: Tensor], order: [String]? = nil, metadata: [String: String] = [:]) {
        self.tensors = tensors
        if let order, Set(order) == Set(tensors.keys), order.count == tensors.count {
            keys = order
        } else {
            keys = tensors.keys.sorted()
        }
        dtypes = tensors.mapValues { _ in .float32 }
        self.metadata = metadata
    }

    /// Number of tensors.
    public var count: Int { keys.count }

    /// Total number of elements over all tensors (including buffers such as BatchNorm statistics).
    public var parameterCount: Int { tensors.values.reduce(0) { $0 + $1.count } }

    public subscript(_ key: String) -> Tensor? { tensors[key] }

    // MARK: WeightSource

    public func tensor(_ key: String, shape: [Int]) throws -> Tensor {
        guard let t = tensors[key] else { throw WeightError.missingKey(key) }
        guard t.shape == shape else { throw WeightError.shapeMismatch(key: key, expected: shape, found: t.shape) }
        return t
    }

    public func contains(_ key: String) -> Bool { tensors[key] != nil }

    public var allKeys: [String]? { keys }

    // MARK: Editing

    /// Keys starting with `prefix` lose it; other keys are dropped
    /// (`strippingPrefix("image_encoder.")` gives the encoder's own state dict).
    public func strippingPrefix(_ prefix: String) -> StateDict {
        var out = StateDict(tensors: [:])
        out.metadata = metadata
        for k in keys where k.hasPrefix(prefix) {
            let nk = String(k.dropFirst(prefix.count))
            if out.tensors.updateValue(tensors[k]!, forKey: nk) == nil { out.keys.append(nk) }
            out.dtypes[nk] = dtypes[k]
        }
        return out
    }

    /// Only the keys starting with `prefix` (unchanged).
    public func filtered(prefix: String) -> StateDict { filtered { $0.hasPrefix(prefix) } }

    /// Only the keys for which `include` is true (unchanged).
    public func filtered(_ include: (String) -> Bool) -> StateDict {
        var out = StateDict(tensors: [:])
        out.metadata = metadata
        for k in keys where include(k) {
            out.tensors[k] = tensors[k]
            out.dtypes[k] = dtypes[k]
            out.keys.append(k)
        }
        return out
    }

    /// Adds or replaces a tensor.
    public mutating func set(_ key: String, _ tensor: Tensor) {
        if tensors.updateValue(tensor, forKey: key) == nil { keys.append(key) }
        dtypes[key] = .float32
    }

    // MARK: Writing

    /// Writes all tensors as safetensors (F32, or F16 when `half`); `metadata` defaults to ``metadata``.
    public func write(safetensorsTo url: URL, half: Bool = false, metadata: [String: String]? = nil) throws {
        try Safetensors.write(tensors, to: url, half: half, metadata: metadata ?? self.metadata)
    }
}

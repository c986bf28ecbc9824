import Synchronization
import Tensor

/// Errors raised while finding or checking model weights.
public enum WeightError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A key the model needs is not in the checkpoint.
    case missingKey(String)
    /// The checkpoint has the key with another shape.
    case shapeMismatch(key: String, expected: [Int], found: [Int])
    /// Keys in the checkpoint that the model does not use (strict loading).
    case unexpectedKeys([String])
    /// The tensor is stored with a dtype this package cannot convert to Float32.
    case unsupportedDType(key: String, dtype: String)
    /// A model configuration that cannot be built (e.g. heads that do not divide the width).
    case invalidConfiguration(String)

    public var description: String {
        switch self {
        case .missingKey(let k): return "missing weight '\(k)' in checkpoint"
        case .shapeMismatch(let k, let e, let f): return "weight '\(k)' has shape \(f), expected \(e)"
        case .unexpectedKeys(let ks):
            let head = ks.prefix(5).joined(separator: ", ")
            return "checkpoint has \(ks.count) unexpected key(s): \(head)\(ks.count > 5 ? ", …" : "")"
        case .unsupportedDType(let k, let d): return "weight '\(k)' has unsupported dtype \(d)"
        case .invalidConfiguration(let why): return "invalid model configuration: \(why)"
        }
    }
}

/// Anything that can hand out weights by their PyTorch state-dict key.
///
/// ``StateDict`` (a loaded `.pth` or safetensors file) and ``DeterministicWeights``
/// (reproducible synthetic weights for tests and benchmarks) conform.
public protocol WeightSource: Sendable {
    /// The tensor stored under `key`, checked against `shape`.
    func tensor(_ key: String, shape: [Int]) throws -> Tensor
    /// Whether a key exists (for optional buffers such as `num_batches_tracked`).
    func contains(_ key: String) -> Bool
    /// All keys, when the source can enumerate them (nil for generated weights).
    var allKeys: [String]? { get }
    /// The stored shape of a key, when the source knows it without being told (nil otherwise).
    func shape(of key: String) -> [Int]?
}

extension WeightSource {
    public func shape(of key: String) -> [Int]? { nil }
}

/// Records which keys a model read, so loading can be strict about leftovers.
public final class WeightLoader: Sendable {
    public let source: any WeightSource
    private let used = Mutex<Set<String>>([])

    public init(_ source: any WeightSource) { self.source = source }

    /// A view rooted at `prefix` (like PyTorch's module path, e.g. `"image_encoder"`).
    public func scope(_ prefix: String = "") -> WeightScope { WeightScope(loader: self, prefix: prefix) }

    func load(_ key: String, shape: [Int]) throws -> Tensor {
        used.withLock { _ = $0.insert(key) }
        return try source.tensor(key, shape: shape)
    }

    func markUsed(_ key: String) { used.withLock { _ = $0.insert(key) } }

    /// Throws ``WeightError/unexpectedKeys(_:)`` if the source holds keys under `prefix`
    /// that no module read (keys ending in one of `ignoring` are allowed to stay unused).
    public func checkAllUsed(under prefix: String = "", ignoring suffixes: [String] = ["num_batches_tracked"]) throws {
        guard let keys = source.allKeys else { return }
        let used = self.used.withLock { $0 }
        let left = keys.filter { k in
            k.hasPrefix(prefix) && !used.contains(k) && !suffixes.contains { k.hasSuffix($0) }
        }.sorted()
        if !left.isEmpty { throw WeightError.unexpectedKeys(left) }
    }
}

/// A position in the module tree: `scope["blocks"][3]["attn"].tensor("qkv.weight", shape: [...])`
/// reads `blocks.3.attn.qkv.weight`.
public struct WeightScope {
    public let loader: WeightLoader
    public let prefix: String

    /// The full key of a name under this scope.
    public func key(_ name: String) -> String { prefix.isEmpty ? name : prefix + "." + name }

    /// A child scope.
    public subscript(_ name: String) -> WeightScope { WeightScope(loader: loader, prefix: key(name)) }
    /// A child scope for a list index (`layers.0`).
    public subscript(_ index: Int) -> WeightScope { self[String(index)] }

    /// The tensor named `name` under this scope, with a shape check.
    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        try loader.load(key(name), shape: shape)
    }

    /// The tensor if present, else nil (for optional biases and buffers).
    public func optionalTensor(_ name: String, shape: [Int]) throws -> Tensor? {
        loader.source.contains(key(name)) ? try tensor(name, shape: shape) : nil
    }

    /// Marks a key as read without loading it (e.g. `num_batches_tracked`).
    public func skip(_ name: String) { loader.markUsed(key(name)) }
}

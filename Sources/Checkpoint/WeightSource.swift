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


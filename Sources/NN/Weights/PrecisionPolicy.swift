import Tensor

/// Which of an image encoder's layers keep fp32 when a reduced ``Precision`` is asked for: data that lives with
/// the model's registry entry (`ModelVariant.precisionPolicy`), measured per model (see docs/precision.md).
///
/// A pattern is matched against a layer's full weight key with its `.weight` suffix dropped
/// (`image_encoder.layers.1.blocks.0.mlp.fc2`); `*` stands for any run of characters, every other character
/// for itself, and the whole key must match.
///
/// ```swift
/// let policy = PrecisionPolicy(keepFP32: [.int8: ["image_encoder.layers.1.*", "*.mlp.fc2"]])
/// policy.precision(forLayer: "image_encoder.layers.1.blocks.0.attn.qkv", requested: .int8)   // .fp32
/// policy.precision(forLayer: "image_encoder.layers.2.blocks.0.attn.qkv", requested: .bf16)   // .bf16
/// ```
public struct PrecisionPolicy: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Layer-key patterns kept fp32, per requested precision (a precision without an entry reduces every layer
    /// the encoder offers).
    public var keepFP32: [Precision: [String]]

    public init(keepFP32: [Precision: [String]] = [:]) { self.keepFP32 = keepFP32 }

    /// Every offered layer in the requested precision.
    public static let reduceAll = PrecisionPolicy()

    /// The precision of the layer `layer` (a key without `.weight`) when `requested` is asked for.
    public func precision(forLayer layer: String, requested: Precision) -> Precision {
        guard requested != .fp32, let patterns = keepFP32[requested] else { return requested }
        return patterns.contains { Self.matches(layer, pattern: $0) } ? .fp32 : requested
    }

    /// Whole-string match of `key` against `pattern`, `*` matching any run of characters.
    package static func matches(_ key: String, pattern: String) -> Bool {
        let k = Array(key.utf8), p = Array(pattern.utf8)
        var (i, j) = (0, 0)
        var star = -1, mark = 0
        let asterisk = UInt8(ascii: "*")
        while i < k.count {
            if j < p.count, p[j] != asterisk, p[j] == k[i] {
                i += 1; j += 1
            } else if j < p.count, p[j] == asterisk {
                star = j; mark = i; j += 1
            } else if star >= 0 {
                j = star + 1; mark += 1; i = mark
            } else {
                return false
            }
        }
        while j < p.count, p[j] == asterisk { j += 1 }
        return j == p.count
    }

    public var description: String {
        keepFP32.isEmpty ? "reduce all"
            : keepFP32.sorted { $0.key.rawValue < $1.key.rawValue }
                .map { "\($0.key) keeps fp32: \($0.value.joined(separator: ", "))" }.joined(separator: "; ")
    }
}

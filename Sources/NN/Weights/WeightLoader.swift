import Checkpoint
import Synchronization
import Tensor

/// Records which keys a model read, so loading can be strict about leftovers.
public final class WeightLoader: Sendable {
    public let source: any WeightSource
    private let used = Mutex<Set<String>>([])

    /// The precision a model variant builds its image encoder with (``scope(_:precision:)``); `.fp32` by default.
    public let encoderPrecision: Precision
    /// Which of the encoder's layers keep fp32 under a reduced precision (the model variant's measured policy).
    public let encoderPolicy: PrecisionPolicy

    public init(_ source: any WeightSource, encoderPrecision: Precision = .fp32, encoderPolicy: PrecisionPolicy = .reduceAll) {
        self.source = source
        self.encoderPrecision = encoderPrecision
        self.encoderPolicy = encoderPolicy
    }

    /// A view rooted at `prefix` (like PyTorch's module path, e.g. `"image_encoder"`).
    public func scope(_ prefix: String = "") -> WeightScope { WeightScope(loader: self, prefix: prefix) }

    /// A view rooted at `prefix` whose ``Linear`` layers use `precision` (an image encoder's reduced precision)
    /// and pack their weights for the package's own GEMMs (``WeightScope/packsWeights``): the image encoders'
    /// scope.
    public func scope(_ prefix: String, precision: Precision) -> WeightScope {
        WeightScope(loader: self, prefix: prefix, precision: precision, packsWeights: true)
    }

    func load(_ key: String, shape: [Int]) throws -> Tensor {
        used.withLock { _ = $0.insert(key) }
        return try source.tensor(key, shape: shape)
    }

    func markUsed(_ key: String) { used.withLock { _ = $0.insert(key) } }

    private let reduced = Mutex<[String: Precision]>([:])

    /// Records that the weight `key` was built in a reduced precision (by ``Linear``).
    package func markReduced(_ key: String, _ precision: Precision) { reduced.withLock { $0[key] = precision } }

    /// The weights built in a reduced precision so far, by key (what `medsam convert --precision` stores reduced).
    public var reducedWeights: [String: Precision] { reduced.withLock { $0 } }

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
    /// The arithmetic of the ``Linear`` layers built under this scope (inherited by child scopes; `.fp32`
    /// unless the scope was made with ``WeightLoader/scope(_:precision:)``).
    public let precision: Precision
    /// Whether fp32 ``Linear`` layers under this scope may keep only a packed copy of their weight, for the
    /// package's own GEMM (inherited by child scopes). Layers whose weights are read directly elsewhere (the mask
    /// decoder's reassociated attention) are built under scopes without it.
    public let packsWeights: Bool

    public init(loader: WeightLoader, prefix: String, precision: Precision = .fp32, packsWeights: Bool = false) {
        self.loader = loader
        self.prefix = prefix
        self.precision = precision
        self.packsWeights = packsWeights
    }

    /// The precision of the layer rooted at this scope: the scope's, unless the loader's
    /// ``WeightLoader/encoderPolicy`` keeps this layer fp32.
    public var layerPrecision: Precision { loader.encoderPolicy.precision(forLayer: prefix, requested: precision) }

    /// The full key of a name under this scope.
    public func key(_ name: String) -> String { prefix.isEmpty ? name : prefix + "." + name }

    /// A child scope.
    public subscript(_ name: String) -> WeightScope {
        WeightScope(loader: loader, prefix: key(name), precision: precision, packsWeights: packsWeights)
    }
    /// A child scope for a list index (`layers.0`).
    public subscript(_ index: Int) -> WeightScope { self[String(index)] }

    /// The same scope with ``packsWeights`` set to `packs` (inherited by its child scopes).
    public func packing(_ packs: Bool) -> WeightScope {
        WeightScope(loader: loader, prefix: prefix, precision: precision, packsWeights: packs)
    }

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

import Dispatch
import Foundation
import Tensor

/// Reproducible synthetic weights, identical to the Python generator in `docs/CONVENTIONS.md`
/// (fnv1a64 of the key, splitmix64 per element, value rules by key suffix and rank).
///
/// Large goldens (real ViT-B dimensions) store no weights: Python and Swift both generate them.
public struct DeterministicWeights: WeightSource {
    public init() {}

    public func tensor(_ key: String, shape: [Int]) throws -> Tensor {
        guard contains(key) else { throw WeightError.missingKey(key) }
        return DeterministicWeights.generate(key: key, shape: shape)
    }

    /// Every key except BatchNorm's `num_batches_tracked` counters.
    public func contains(_ key: String) -> Bool { !key.hasSuffix("num_batches_tracked") }

    /// Generated weights cannot be enumerated.
    public var allKeys: [String]? { nil }

    /// The model input `input.<name>`: `r_i` with scale 1.
    public static func input(_ name: String, shape: [Int]) -> Tensor {
        generate(key: "input." + name, shape: shape)
    }

    // MARK: - Generator

    /// FNV-1a 64 of the key's UTF-8 bytes.
    public static func fnv1a64(_ key: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key.utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return h
    }

    /// splitmix64 finaliser of `z` (mod 2^64).
    @inline(__always)
    public static func splitmix64(_ z0: UInt64) -> UInt64 {
        var z = z0 &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// `r_i` in [-1, 1), exact in Float32.
    @inline(__always)
    static func unit(_ seed: UInt64, _ i: Int) -> Double {
        Double(splitmix64(seed &+ UInt64(i)) >> 40) * 0x1p-23 - 1
    }

    /// The value rule for a key and shape: `value = offset + scale * r` or `r / divisor`.
    enum Rule: Equatable {
        case affine(offset: Double, scale: Double)
        case divide(Double)
    }

    static func rule(key: String, shape: [Int]) -> Rule {
        if key.hasPrefix("input.") { return .affine(offset: 0, scale: 1) }
        if key.hasSuffix("running_var") { return .affine(offset: 1, scale: 0.25) }
        if key.hasSuffix("running_mean") { return .affine(offset: 0, scale: 0.1) }
        if shape.count >= 2 { return .divide(Double(shape.dropFirst().reduce(1, *)).squareRoot()) }
        // Rank 1 (and, by extension, rank 0).
        if key.hasSuffix("weight") { return .affine(offset: 1, scale: 0.1) }
        return .affine(offset: 0, scale: 0.05)
    }

    /// The generated tensor for `key` with the PyTorch `shape` (no `num_batches_tracked` check).
    public static func generate(key: String, shape: [Int]) -> Tensor {
        var t = Tensor(uninitializedShape: shape)
        let count = t.count
        guard count > 0 else { return t }
        let seed = fnv1a64(key)
        let rule = rule(key: key, shape: shape)
        t.withUnsafeMutableBufferPointer { buf in
            nonisolated(unsafe) let dst = buf.baseAddress!
            let chunk = 1 << 16
            let chunks = (count + chunk - 1) / chunk
            let fill: @Sendable (Int) -> Void = { c in
                let lo = c * chunk, hi = min(lo + chunk, count)
                switch rule {
                case .affine(let offset, let scale):
                    if offset == 0 && scale == 1 {
                        for i in lo..<hi { dst[i] = Float(unit(seed, i)) }
                    } else {
                        for i in lo..<hi { dst[i] = Float(offset + scale * unit(seed, i)) }
                    }
                case .divide(let d):
                    for i in lo..<hi { dst[i] = Float(unit(seed, i) / d) }
                }
            }
            if chunks == 1 {
                fill(0)
            } else {
                DispatchQueue.concurrentPerform(iterations: chunks, execute: fill)
            }
        }
        return t
    }
}

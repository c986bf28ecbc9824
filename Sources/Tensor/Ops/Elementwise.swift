import Foundation

/// Elementwise math. In-place variants (`mutating`) avoid allocations on the hot path.
extension Tensor {
    /// Applies `f` to every element in place, splitting large tensors across threads.
    @inlinable
    public mutating func apply(_ f: @escaping (Float) -> Float) {
        let n = count
        withUnsafeMutableBufferPointer { buf in
            let p = SendablePointer(buf.baseAddress!)
            Parallel.forRanges(n, minimumPerThread: 1 << 15) { r in
                for i in r { p[i] = f(p[i]) }
            }
        }
    }

    /// A copy with `f` applied to every element.
    @inlinable
    public func map(_ f: @escaping (Float) -> Float) -> Tensor {
        var out = self
        out.apply(f)
        return out
    }

    /// GELU with the exact error function, `0.5·x·(1 + erf(x/√2))` (PyTorch's default `nn.GELU()`).
    public mutating func applyGELU() {
        let n = count
        withUnsafeMutableBufferPointer { buf in
            let p = SendablePointer(buf.baseAddress!)
            Parallel.forRanges(n, minimumPerThread: 1 << 14) { r in
                Kernels.gelu(p.pointer + r.lowerBound, count: r.count)
            }
        }
    }

    /// ReLU in place.
    public mutating func applyReLU() { apply { max($0, 0) } }

    /// Logistic sigmoid in place.
    public mutating func applySigmoid() {
        let n = count
        withUnsafeMutableBufferPointer { buf in
            let p = SendablePointer(buf.baseAddress!)
            Parallel.forRanges(n, minimumPerThread: 1 << 14) { r in
                Kernels.sigmoid(p.pointer + r.lowerBound, count: r.count)
            }
        }
    }

    /// The binary mask `x > threshold` (1 or 0 per element, same order), split across threads.
    public func mask(above threshold: Float) -> [UInt8] {
        let n = count
        var out = [UInt8](repeating: 0, count: n)
        withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                let s = SendablePointer(UnsafeMutablePointer(mutating: src.baseAddress!))
                let d = SendablePointer(dst.baseAddress!)
                Parallel.forRanges(n, minimumPerThread: 1 << 15) { r in
                    for i in r { d.pointer[i] = s.pointer[i] > threshold ? 1 : 0 }
                }
            }
        }
        return out
    }

    /// GELU (exact erf) as a new tensor.
    public func gelu() -> Tensor { var t = self; t.applyGELU(); return t }
    /// ReLU as a new tensor.
    public func relu() -> Tensor { var t = self; t.applyReLU(); return t }
    /// Sigmoid as a new tensor.
    public func sigmoid() -> Tensor { var t = self; t.applySigmoid(); return t }

    /// Softmax over the last dimension, in place (max-subtracted, like PyTorch).
    public mutating func applySoftmaxLastDim() {
        let cols = shape.last ?? 1
        let rows = cols == 0 ? 0 : count / cols
        withUnsafeMutableBufferPointer { buf in
            let p = SendablePointer(buf.baseAddress!)
            Parallel.forRanges(rows, minimumPerThread: max(1, 8192 / max(cols, 1))) { r in
                Kernels.softmaxRows(p.pointer + r.lowerBound * cols, rows: r.count, columns: cols, stride: cols)
            }
        }
    }

    /// Softmax over the last dimension.
    public func softmax() -> Tensor { var t = self; t.applySoftmaxLastDim(); return t }

    /// Elementwise sum of two tensors of the same shape.
    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor { var t = lhs; t.add(rhs); return t }
    /// Elementwise difference of two tensors of the same shape.
    public static func - (lhs: Tensor, rhs: Tensor) -> Tensor {
        var t = lhs; t.add(rhs, scale: -1); return t
    }
    /// Elementwise product of two tensors of the same shape.
    public static func * (lhs: Tensor, rhs: Tensor) -> Tensor {
        precondition(lhs.shape == rhs.shape, "shape mismatch \(lhs.shape) vs \(rhs.shape)")
        var t = lhs
        let n = t.count
        rhs.withUnsafeBufferPointer { b in
            t.withUnsafeMutableBufferPointer { a in
                for i in 0..<n { a[i] *= b[i] }
            }
        }
        return t
    }
    /// Every element times a scalar.
    public static func * (lhs: Tensor, rhs: Float) -> Tensor { lhs.map { $0 * rhs } }

    /// `self += scale · other` (same element count; shapes may differ by a reshape).
    public mutating func add(_ other: Tensor, scale: Float = 1) {
        precondition(count == other.count, "shape mismatch \(shape) vs \(other.shape)")
        let n = count
        other.withUnsafeBufferPointer { b in
            withUnsafeMutableBufferPointer { a in
                let pa = SendablePointer(a.baseAddress!)
                let pb = SendablePointer(UnsafeMutablePointer(mutating: b.baseAddress!))
                Parallel.forRanges(n, minimumPerThread: 1 << 16) { r in
                    if scale == 1 { for i in r { pa[i] += pb[i] } } else { for i in r { pa[i] += scale * pb[i] } }
                }
            }
        }
    }

    /// The largest absolute element (0 for an empty tensor).
    public var maxAbs: Float { withUnsafeBufferPointer { $0.reduce(0) { max($0, abs($1)) } } }

    /// Whether every element is finite.
    public var isFinite: Bool { withUnsafeBufferPointer { $0.allSatisfy { $0.isFinite } } }

    /// Sum of all elements (accumulated in Double).
    public var sum: Double { withUnsafeBufferPointer { $0.reduce(0.0) { $0 + Double($1) } } }
}

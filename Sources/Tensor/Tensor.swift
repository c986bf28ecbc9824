/// Reference-counted, 64-byte aligned Float32 buffer behind a ``Tensor``.
///
/// The buffer is owned by this object and freed in `deinit`; tensors share it
/// (cheap reshape) and copy it on write when it is not uniquely referenced. Its memory is reachable
/// only inside the package (writing through a shared storage would break copy on write); use
/// ``Tensor/withUnsafeMutableBufferPointer(_:)``, which copies first when the storage is shared.
///
/// Buffers of at least ``TensorMemory/pooledThreshold`` bytes come from the package's buffer cache
/// (``TensorMemory``): mapped from the kernel, reused by later tensors of the same size class, and
/// returned to the system on ``TensorMemory/trim()`` or when idle.
@usableFromInline
package final class TensorStorage: @unchecked Sendable {
    /// Start of the buffer.
    @usableFromInline package let pointer: UnsafeMutablePointer<Float>
    /// Number of elements in the buffer.
    @usableFromInline package let count: Int

    /// The size class of a pooled buffer (0: taken from malloc).
    let pooledBytes: Int

    /// Allocates `count` uninitialised elements.
    package init(uninitializedCount count: Int) {
        precondition(count >= 0, "negative element count")
        self.count = count
        let (bytes, overflow) = max(count, 1).multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        precondition(!overflow, "tensor of \(count) elements is too large")
        if bytes >= TensorMemory.pooledThreshold, let (p, cls) = BufferPool.shared.allocate(bytes: bytes) {
            self.pointer = p.bindMemory(to: Float.self, capacity: max(count, 1))
            self.pooledBytes = cls
            return
        }
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        self.pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        self.pooledBytes = 0
    }

    /// Allocates `count` elements set to `value`.
    package convenience init(count: Int, repeating value: Float) {
        self.init(uninitializedCount: count)
        pointer.initialize(repeating: value, count: count)
    }

    deinit {
        if pooledBytes > 0 {
            BufferPool.shared.release(UnsafeMutableRawPointer(pointer), classBytes: pooledBytes)
            return
        }
        UnsafeMutableRawPointer(pointer).deallocate()
    }

    @usableFromInline
    func copy() -> TensorStorage {
        let other = TensorStorage(uninitializedCount: count)
        other.pointer.update(from: pointer, count: count)
        return other
    }
}

/// A dense, contiguous, row-major Float32 array with a shape.
///
/// `Tensor` is a value type: copies share storage until one of them is mutated
/// (copy on write). Reshaping is free; permutes make an explicit copy.
///
/// ```swift
/// let x = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
/// let y = x.reshaped([3, 2])          // shares storage
/// let z = x.permuted([1, 0])          // (3, 2) copy, transposed
/// ```
public struct Tensor: Sendable {
    /// The dimensions, outermost first.
    public private(set) var shape: [Int]
    @usableFromInline package var storage: TensorStorage

    /// A tensor of the given shape filled with `value`.
    public init(shape: [Int], repeating value: Float) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.storage = TensorStorage(count: shape.reduce(1, *), repeating: value)
    }

    /// A zero-filled tensor.
    public init(zeros shape: [Int]) { self.init(shape: shape, repeating: 0) }

    /// A tensor whose elements are left uninitialised; write all of them before reading.
    public init(uninitializedShape shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.storage = TensorStorage(uninitializedCount: shape.reduce(1, *))
    }

    /// A tensor from row-major scalars; `scalars.count` must equal the product of `shape`.
    public init<C: Collection>(shape: [Int], scalars: C) where C.Element == Float {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        let n = shape.reduce(1, *)
        precondition(scalars.count == n, "\(scalars.count) scalars for shape \(shape)")
        self.shape = shape
        self.storage = TensorStorage(uninitializedCount: n)
        var i = 0
        for v in scalars { storage.pointer[i] = v; i += 1 }
    }

    /// Wraps existing storage (shared, not copied).
    package init(shape: [Int], storage: TensorStorage) {
        precondition(shape.reduce(1, *) == storage.count, "shape \(shape) does not match storage of \(storage.count)")
        self.shape = shape
        self.storage = storage
    }

    /// Number of elements.
    @inlinable public var count: Int { storage.count }
    /// Number of dimensions.
    @inlinable public var rank: Int { shape.count }

    /// The row-major elements as an array (a copy).
    public var scalars: [Float] {
        Array(UnsafeBufferPointer(start: storage.pointer, count: count))
    }

    /// Read access to the contiguous elements.
    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.pointer, count: storage.count))
    }

    /// Write access to the contiguous elements; copies the storage first if it is shared.
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        return try body(UnsafeMutableBufferPointer(start: storage.pointer, count: storage.count))
    }

    /// The same elements with another shape (no copy). One dimension may be `-1`.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var s = newShape
        if let i = s.firstIndex(of: -1) {
            let rest = s.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            precondition(rest > 0 && count % rest == 0, "cannot reshape \(shape) to \(newShape)")
            s[i] = count / rest
        }
        precondition(s.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(shape: s, storage: storage)
    }

    /// Element at a multi-index (slow; for tests and small lookups).
    public subscript(_ index: Int...) -> Float {
        get { storage.pointer[flatIndex(index)] }
        set {
            let i = flatIndex(index)
            withUnsafeMutableBufferPointer { $0[i] = newValue }
        }
    }

    func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == rank, "index \(index) for shape \(shape)")
        var flat = 0
        for (i, d) in zip(index, shape) {
            precondition(i >= 0 && i < d, "index \(index) out of range for shape \(shape)")
            flat = flat * d + i
        }
        return flat
    }

    /// Row-major strides of `shape`.
    public static func strides(of shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = acc
            acc *= shape[i]
        }
        return strides
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = scalars.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape), [\(head)\(count > 8 ? ", …" : "")])"
    }
}

import Foundation

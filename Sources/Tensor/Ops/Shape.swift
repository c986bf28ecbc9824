/// Layout operations: permute, pad, slice, concatenate. Each returns a contiguous copy.
extension Tensor {
    /// `x.permute(dims).contiguous()`.
    public func permuted(_ dims: [Int]) -> Tensor {
        precondition(dims.count == rank && Set(dims) == Set(0..<rank), "bad permutation \(dims) for \(shape)")
        if dims == Array(0..<rank) { return self }
        let newShape = dims.map { shape[$0] }
        let inStrides = Tensor.strides(of: shape)
        let srcStrides = dims.map { inStrides[$0] }
        var out = Tensor(uninitializedShape: newShape)
        let inner = newShape.last ?? 1
        let innerStride = srcStrides.last ?? 1
        let outer = inner == 0 ? 0 : count / inner
        withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { o in
                let px = SendablePointer(UnsafeMutablePointer(mutating: x.baseAddress!))
                let po = SendablePointer(o.baseAddress!)
                Parallel.forRanges(outer, minimumPerThread: max(1, 16384 / max(inner, 1))) { r in
                    var idx = [Int](repeating: 0, count: newShape.count)
                    for row in r {
                        // Decode row into the leading indices.
                        var rem = row
                        var srcOff = 0
                        for d in stride(from: newShape.count - 2, through: 0, by: -1) {
                            idx[d] = rem % newShape[d]
                            rem /= newShape[d]
                            srcOff += idx[d] * srcStrides[d]
                        }
                        let dst = po.pointer + row * inner
                        let src = px.pointer + srcOff
                        if innerStride == 1 {
                            dst.update(from: src, count: inner)
                        } else {
                            for j in 0..<inner { dst[j] = src[j * innerStride] }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Zero padding: `pads[d] = (before, after)` for every dimension.
    public func padded(_ pads: [(Int, Int)], value: Float = 0) -> Tensor {
        precondition(pads.count == rank, "padding for \(pads.count) dims on \(shape)")
        let newShape = zip(shape, pads).map { $0 + $1.0 + $1.1 }
        if newShape == shape { return self }
        var out = Tensor(shape: newShape, repeating: value)
        copyBlock(into: &out, offset: pads.map(\.0))
        return out
    }

    /// The sub-tensor `self[ranges[0], ranges[1], …]` (one range per dimension).
    public func sliced(_ ranges: [Range<Int>]) -> Tensor {
        precondition(ranges.count == rank, "slice ranges \(ranges) for \(shape)")
        for (r, d) in zip(ranges, shape) { precondition(r.lowerBound >= 0 && r.upperBound <= d, "slice \(ranges) out of \(shape)") }
        if ranges.map(\.count) == shape { return self }
        let newShape = ranges.map(\.count)
        var out = Tensor(uninitializedShape: newShape)
        let inStrides = Tensor.strides(of: shape)
        let inner = newShape.last ?? 1
        let outer = inner == 0 ? 0 : out.count / inner
        withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { o in
                var idx = [Int](repeating: 0, count: rank)
                for row in 0..<outer {
                    var rem = row
                    var off = ranges[rank - 1].lowerBound
                    for d in stride(from: rank - 2, through: 0, by: -1) {
                        idx[d] = rem % newShape[d]
                        rem /= newShape[d]
                        off += (idx[d] + ranges[d].lowerBound) * inStrides[d]
                    }
                    (o.baseAddress! + row * inner).update(from: x.baseAddress! + off, count: inner)
                }
            }
        }
        return out
    }

    /// Concatenation along `axis`; all other dimensions must agree.
    public static func concatenate(_ tensors: [Tensor], axis: Int) -> Tensor {
        precondition(!tensors.isEmpty, "concatenate of nothing")
        let first = tensors[0]
        let ax = axis < 0 ? axis + first.rank : axis
        var newShape = first.shape
        newShape[ax] = tensors.map { $0.shape[ax] }.reduce(0, +)
        for t in tensors {
            precondition(t.rank == first.rank, "concatenate ranks differ")
            for d in 0..<first.rank where d != ax { precondition(t.shape[d] == first.shape[d], "concatenate shapes \(t.shape) vs \(first.shape)") }
        }
        var out = Tensor(uninitializedShape: newShape)
        var offset = 0
        for t in tensors {
            var o = [Int](repeating: 0, count: first.rank)
            o[ax] = offset
            t.copyBlock(into: &out, offset: o)
            offset += t.shape[ax]
        }
        return out
    }

    /// Copies `self` into `dst` at the given per-dimension offset.
    func copyBlock(into dst: inout Tensor, offset: [Int]) {
        let dstStrides = Tensor.strides(of: dst.shape)
        let inner = shape.last ?? 1
        let outer = inner == 0 ? 0 : count / inner
        withUnsafeBufferPointer { x in
            dst.withUnsafeMutableBufferPointer { o in
                var idx = [Int](repeating: 0, count: rank)
                for row in 0..<outer {
                    var rem = row
                    var off = offset[rank - 1]
                    for d in stride(from: rank - 2, through: 0, by: -1) {
                        idx[d] = rem % shape[d]
                        rem /= shape[d]
                        off += (idx[d] + offset[d]) * dstStrides[d]
                    }
                    (o.baseAddress! + off).update(from: x.baseAddress! + row * inner, count: inner)
                }
            }
        }
    }
}

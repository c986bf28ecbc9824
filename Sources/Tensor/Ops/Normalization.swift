import Foundation

/// Normalisations (PyTorch semantics: biased variance, eps inside the square root).
extension Tensor {
    /// `F.layer_norm` over the last dimension, optionally with affine weight and bias.
    public func layerNorm(weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        var out = Tensor(uninitializedShape: shape)
        let cols = shape.last ?? 1
        let rows = cols == 0 ? 0 : count / cols
        precondition(weight == nil || weight!.count == cols, "layer norm weight for \(cols) columns")
        precondition((weight == nil) == (bias == nil), "layer norm needs both weight and bias, or neither")
        // The storages stay alive with `weight` and `bias` for the whole call.
        let wv: UnsafeMutablePointer<Float>? = weight?.storage.pointer
        let bv: UnsafeMutablePointer<Float>? = bias?.storage.pointer
        withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { o in
                let px = SendablePointer(UnsafeMutablePointer(mutating: x.baseAddress!))
                let po = SendablePointer(o.baseAddress!)
                let pw = wv.map { SendablePointer($0) }
                let pb = bv.map { SendablePointer($0) }
                Parallel.forRanges(rows, minimumPerThread: max(1, 16384 / max(cols, 1))) { r in
                    Kernels.layerNormRows(px.pointer + r.lowerBound * cols, po.pointer + r.lowerBound * cols,
                                          rows: r.count, columns: cols, weight: pw.map { UnsafePointer($0.pointer) },
                                          bias: pb.map { UnsafePointer($0.pointer) }, eps: eps)
                }
            }
        }
        return out
    }

    /// SAM's `LayerNorm2d`: per pixel over the channels of an (N, C, H, W) tensor.
    public func layerNorm2d(weight: Tensor, bias: Tensor, eps: Float) -> Tensor {
        precondition(rank == 4, "layerNorm2d expects NCHW, got \(shape)")
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        precondition(weight.count == c && bias.count == c, "layerNorm2d affine size for \(c) channels")
        let plane = h * w
        var out = Tensor(uninitializedShape: shape)
        let wv = weight.scalars, bv = bias.scalars
        withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { o in
                let px = SendablePointer(UnsafeMutablePointer(mutating: x.baseAddress!))
                let po = SendablePointer(o.baseAddress!)
                // Split pixel ranges; each worker walks channels over its contiguous pixel strip.
                let strips = n * plane
                Parallel.forRanges(strips, minimumPerThread: 1024) { r in
                    var lo = r.lowerBound
                    while lo < r.upperBound {
                        let b = lo / plane
                        let p0 = lo % plane
                        let p1 = min(plane, p0 + (r.upperBound - lo))
                        let len = p1 - p0
                        var mean = [Float](repeating: 0, count: len)
                        var varc = [Float](repeating: 0, count: len)
                        let base = px.pointer + b * c * plane + p0
                        for ch in 0..<c {
                            let s = base + ch * plane
                            for j in 0..<len { mean[j] += s[j] }
                        }
                        let invC = 1 / Float(c)
                        for j in 0..<len { mean[j] *= invC }
                        for ch in 0..<c {
                            let s = base + ch * plane
                            for j in 0..<len { let d = s[j] - mean[j]; varc[j] += d * d }
                        }
                        for j in 0..<len { varc[j] = 1 / (varc[j] * invC + eps).squareRoot() }
                        let obase = po.pointer + b * c * plane + p0
                        for ch in 0..<c {
                            let s = base + ch * plane
                            let d = obase + ch * plane
                            let wc = wv[ch], bc = bv[ch]
                            for j in 0..<len { d[j] = (s[j] - mean[j]) * varc[j] * wc + bc }
                        }
                        lo += len
                    }
                }
            }
        }
        return out
    }
}

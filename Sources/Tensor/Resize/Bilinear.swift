import Foundation

/// Source taps for one output coordinate of PyTorch's linear interpolation
/// (`align_corners=False`, no explicit `scale_factor`).
@usableFromInline
struct LinearTap: Sendable {
    @usableFromInline var i0: Int
    @usableFromInline var i1: Int
    @usableFromInline var w0: Float
    @usableFromInline var w1: Float
}

/// PyTorch's source-index rule (`area_pixel_compute_source_index` with `align_corners=False`):
/// `scale = in/out` (Float), `src = max(scale*(dst+0.5)-0.5, 0)`, `i0 = Int(src)`,
/// `i1 = i0 + (i0 < in-1 ? 1 : 0)`, `λ1 = src - i0`, `λ0 = 1 - λ1`.
@usableFromInline
func pytorchLinearTaps(input: Int, output: Int) -> [LinearTap] {
    let scale = Float(input) / Float(output)
    var taps = [LinearTap]()
    taps.reserveCapacity(output)
    for dst in 0..<output {
        var src = scale * (Float(dst) + 0.5) - 0.5
        if src < 0 { src = 0 }
        let i0 = min(Int(src), input - 1)
        let i1 = i0 + (i0 < input - 1 ? 1 : 0)
        let l1 = src - Float(i0)
        taps.append(LinearTap(i0: i0, i1: i1, w0: 1 - l1, w1: l1))
    }
    return taps
}

extension Tensor {
    /// `F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)` for an
    /// (N, C, H, W) tensor, up- or down-sampling (no anti-aliasing, exactly like PyTorch).
    ///
    /// Each output element is `λh0·(λw0·x[h0,w0] + λw1·x[h0,w1]) + λh1·(λw0·x[h1,w0] + λw1·x[h1,w1])`,
    /// computed in Float like PyTorch's CPU kernel (agreement ≲ 1e-6 relative).
    /// Rows are processed in parallel when the output is large.
    ///
    /// ```swift
    /// let low = Tensor(zeros: [1, 1, 256, 256])
    /// let full = low.resizedBilinear(height: 217, width: 181)   // (1, 1, 217, 181)
    /// ```
    public func resizedBilinear(height: Int, width: Int) -> Tensor {
        precondition(rank == 4, "resizedBilinear expects (N, C, H, W), got \(shape)")
        precondition(height > 0 && width > 0, "output size must be positive")
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        precondition(h > 0 && w > 0, "cannot resize an empty image")
        if h == height && w == width { return self }
        let ty = pytorchLinearTaps(input: h, output: height)
        let tx = pytorchLinearTaps(input: w, output: width)
        var out = Tensor(uninitializedShape: [n, c, height, width])
        let planes = n * c
        let inPlane = h * w, outPlane = height * width
        out.withUnsafeMutableBufferPointer { dst in
            let d = dst.baseAddress!
            self.withUnsafeBufferPointer { src in
                let s = src.baseAddress!
                // Rows of all planes are independent: split (plane, row) pairs over threads.
                Parallel.forRanges(planes * height, minimumPerThread: 64) { range in
                    for pr in range {
                        let p = pr / height, oy = pr % height
                        let t = ty[oy]
                        let base = s + p * inPlane
                        let r0 = base + t.i0 * w, r1 = base + t.i1 * w
                        let drow = d + p * outPlane + oy * width
                        for ox in 0..<width {
                            let u = tx[ox]
                            let a = u.w0 * r0[u.i0] + u.w1 * r0[u.i1]
                            let b = u.w0 * r1[u.i0] + u.w1 * r1[u.i1]
                            drow[ox] = t.w0 * a + t.w1 * b
                        }
                    }
                }
            }
        }
        return out
    }

    /// 1-D linear interpolation (`F.interpolate(mode="linear", align_corners=False)`) of an
    /// **(L, C)** table along its first axis `L` to `length` rows — the layout of SAM's relative
    /// position tables (`rel_pos` of shape `(2·size−1, head_dim)`), which PyTorch resizes as
    /// `interpolate(t.reshape(1, L, C).permute(0, 2, 1), size=length, mode="linear")`.
    ///
    /// ```swift
    /// let table = Tensor(zeros: [27, 64])
    /// let resized = table.resizedLinear1D(length: 127)     // (127, 64)
    /// ```
    public func resizedLinear1D(length: Int) -> Tensor {
        precondition(rank == 2, "resizedLinear1D expects (L, C), got \(shape)")
        precondition(length > 0, "output length must be positive")
        let (l, c) = (shape[0], shape[1])
        precondition(l > 0, "cannot resize an empty table")
        if l == length { return self }
        let taps = pytorchLinearTaps(input: l, output: length)
        var out = Tensor(uninitializedShape: [length, c])
        out.withUnsafeMutableBufferPointer { dst in
            self.withUnsafeBufferPointer { src in
                for (o, t) in taps.enumerated() {
                    let r0 = src.baseAddress! + t.i0 * c, r1 = src.baseAddress! + t.i1 * c
                    let d = dst.baseAddress! + o * c
                    for j in 0..<c { d[j] = t.w0 * r0[j] + t.w1 * r1[j] }
                }
            }
        }
        return out
    }
}


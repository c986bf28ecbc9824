/// 2-D convolutions on NCHW tensors (PyTorch layouts and semantics).
extension Tensor {
    /// `act(F.conv2d(self, weight, bias, stride, padding, groups=groups) + residual)`.
    ///
    /// - `self`: (N, Cin, H, W); `weight`: (Cout, Cin/groups, kH, kW); `bias`: (Cout) or nil.
    /// - `residual`: nil, or a tensor of the output's shape added before the activation (an NCHW
    ///   inverted bottleneck's `GELU(conv3(h) + x)`; TinyViT's runs channels-last, `DepthwiseBottleneck`); for 1×1 convolutions the add runs on each GEMM tile while it is in cache, in
    ///   the reference's order (conv + bias, then + residual, then the activation), so the result is the same.
    /// - 1×1 stride-1 unpadded convolutions are a single GEMM; depthwise convolutions
    ///   (groups = Cin = Cout) use a direct loop; everything else is im2col + GEMM per group.
    public func conv2d(
        weight: Tensor, bias: Tensor? = nil,
        stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), groups: Int = 1,
        residual: Tensor? = nil,
        activation: FusedActivation = .none
    ) -> Tensor {
        precondition(rank == 4 && weight.rank == 4, "conv2d expects NCHW input and OIHW weight, got \(shape), \(weight.shape)")
        let (n, cin, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let (cout, cinG, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        precondition(groups >= 1 && cin % groups == 0 && cout % groups == 0 && cinG == cin / groups,
                     "conv2d channels: input \(shape), weight \(weight.shape), groups \(groups)")
        if let bias { precondition(bias.count == cout, "conv2d bias \(bias.shape) for \(cout) outputs") }
        let (sh, sw) = stride, (ph, pw) = padding
        let oh = (h + 2 * ph - kh) / sh + 1
        let ow = (w + 2 * pw - kw) / sw + 1
        precondition(oh > 0 && ow > 0, "conv2d output would be empty for input \(shape)")
        let depthwise = groups == cin && groups == cout && cinG == 1 && kh == kw && sh == sw && ph == pw
        let direct = kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0
        if let residual {
            precondition(residual.shape == [n, cout, oh, ow], "conv2d residual \(residual.shape) for output \([n, cout, oh, ow])")
            if depthwise || !direct {   // only the 1×1 GEMM path adds the residual on its tiles
                var out = conv2d(weight: weight, bias: bias, stride: stride, padding: padding, groups: groups)
                out.add(residual)
                if activation != .none { out.applyChannelBias(nil, activation: activation) }
                return out
            }
        }

        if depthwise {
            return depthwiseConv2d(weight: weight, bias: bias, stride: stride, padding: padding, activation: activation)
        }
        var out = Tensor(uninitializedShape: [n, cout, oh, ow])
        let coutG = cout / groups
        let kdim = cinG * kh * kw
        let pixels = oh * ow
        // im2col writes every column entry (zeros for padding), so pooled uninitialised memory serves.
        var columns = direct ? nil : Tensor(uninitializedShape: [kdim * pixels])
        var fused = false
        let res = residual.map { SendablePointer(UnsafeMutablePointer(mutating: $0.storage.pointer)) }
        withUnsafeBufferPointer { x in
            weight.withUnsafeBufferPointer { wt in
                out.withUnsafeMutableBufferPointer { o in
                    for b in 0..<n {
                        for g in 0..<groups {
                            let xin = x.baseAddress! + (b * cin + g * cinG) * h * w
                            let wg = wt.baseAddress! + g * coutG * kdim
                            let og = o.baseAddress! + (b * cout + g * coutG) * pixels
                            if direct && (bias != nil || activation != .none || res != nil) {
                                // 1×1 conv: GEMM in pixel tiles, bias + activation on each tile while cached.
                                let bp = bias.map { SendablePointer($0.storage.pointer + g * coutG) }
                                let opg = SendablePointer(og)
                                let act = activation
                                let resg = res.map { SendablePointer($0.pointer + (b * cout + g * coutG) * pixels) }
                                BLAS.sgemmTiled(m: coutG, n: pixels, k: kdim, a: wg, lda: kdim, b: xin, ldb: pixels,
                                                c: og, ldc: pixels, tileColumns: true,
                                                tileSize: max(64, (1 << 18) / max(coutG, 1)) / 16 * 16) { cols in
                                    for ch in 0..<coutG {
                                        let dst = opg.pointer + ch * pixels + cols.lowerBound
                                        let chBias = bp.map { UnsafePointer($0.pointer + ch) }
                                        guard let resg else {
                                            Kernels.biasActivationPlanes(dst, channels: 1, plane: cols.count, bias: chBias, activation: act)
                                            continue
                                        }
                                        // conv + bias, + residual, activation: the unfused order, on the cached tile.
                                        if chBias != nil {
                                            Kernels.biasActivationPlanes(dst, channels: 1, plane: cols.count, bias: chBias, activation: .none)
                                        }
                                        Kernels.add(dst, resg.pointer + ch * pixels + cols.lowerBound, into: dst, count: cols.count)
                                        if act != .none {
                                            Kernels.biasActivationPlanes(dst, channels: 1, plane: cols.count, bias: nil, activation: act)
                                        }
                                    }
                                }
                                fused = true
                            } else if direct {
                                BLAS.sgemm(m: coutG, n: pixels, k: kdim, a: wg, lda: kdim, b: xin, ldb: pixels,
                                           c: og, ldc: pixels)
                            } else {
                                columns!.withUnsafeMutableBufferPointer { col in
                                    im2col(xin, channels: cinG, h: h, w: w, kh: kh, kw: kw, sh: sh, sw: sw,
                                           ph: ph, pw: pw, oh: oh, ow: ow, into: col.baseAddress!)
                                    BLAS.sgemm(m: coutG, n: pixels, k: kdim, a: wg, lda: kdim,
                                               b: col.baseAddress!, ldb: pixels, c: og, ldc: pixels)
                                }
                            }
                        }
                    }
                }
            }
        }
        if !fused && (bias != nil || activation != .none) { out.applyChannelBias(bias, activation: activation) }
        withExtendedLifetime(bias) {}
        withExtendedLifetime(residual) {}
        return out
    }

    /// Depthwise convolution (groups = channels), computed directly.
    func depthwiseConv2d(weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: (Int, Int),
                         activation: FusedActivation = .none) -> Tensor {
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let (kh, kw) = (weight.shape[2], weight.shape[3])
        let (sh, sw) = stride, (ph, pw) = padding
        let oh = (h + 2 * ph - kh) / sh + 1
        let ow = (w + 2 * pw - kw) / sw + 1
        var out = Tensor(uninitializedShape: [n, c, oh, ow])
        withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { o in
                Self.depthwisePlanes(UnsafeMutablePointer(mutating: x.baseAddress!), into: o.baseAddress!, inPlace: false, planes: n * c, channels: c,
                                     height: h, width: w, weight: weight, bias: bias, stride: sh, padding: ph,
                                     outHeight: oh, outWidth: ow, activation: activation)
            }
        }
        return out
    }

    /// `self = act(F.conv2d(self, weight, bias, padding=p, groups=C))` for a stride-1 depthwise convolution that
    /// keeps the size (`2p + 1 = k`), written over `self`'s own memory: each output plane is computed into a
    /// plane-sized scratch buffer per worker and copied back over its input plane, which only it reads. Same
    /// arithmetic as ``conv2d(weight:bias:stride:padding:groups:activation:)``; saves the second full-size
    /// tensor (64 MB for an NCHW map of 256 channels × 256²). When the storage is shared it is copied first
    /// (copy on write), so other holders never see the change.
    public mutating func applyDepthwiseConv2d(weight: Tensor, bias: Tensor?, padding: Int,
                                              activation: FusedActivation = .none) {
        precondition(rank == 4 && weight.rank == 4, "depthwise conv expects NCHW input and (C, 1, k, k) weight")
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let k = weight.shape[2]
        precondition(weight.shape == [c, 1, k, k] && 2 * padding + 1 == k,
                     "in-place depthwise conv needs a (\(c), 1, k, k) weight with padding (k − 1)/2, got \(weight.shape), \(padding)")
        if let bias { precondition(bias.count == c, "depthwise conv bias \(bias.shape) for \(c) channels") }
        withUnsafeMutableBufferPointer { x in
            Self.depthwisePlanes(x.baseAddress!, into: x.baseAddress!, inPlace: true, planes: n * c, channels: c,
                                 height: h, width: w, weight: weight, bias: bias, stride: 1, padding: padding,
                                 outHeight: h, outWidth: w, activation: activation)
        }
    }

    /// The depthwise loop over (batch, channel) planes, in parallel; `inPlace` computes each plane into scratch
    /// and copies it over its input plane (`output` = `input`, same size).
    private static func depthwisePlanes(_ input: UnsafeMutablePointer<Float>, into output: UnsafeMutablePointer<Float>,
                                        inPlace: Bool, planes: Int, channels c: Int, height h: Int, width w: Int,
                                        weight: Tensor, bias: Tensor?, stride: Int, padding: Int,
                                        outHeight oh: Int, outWidth ow: Int, activation: FusedActivation) {
        let (kh, kw) = (weight.shape[2], weight.shape[3])
        let biasValues = bias?.scalars
        weight.withUnsafeBufferPointer { wt in
            let px = SendablePointer(input), po = SendablePointer(output)
            let pw8 = SendablePointer(UnsafeMutablePointer(mutating: wt.baseAddress!))
            Parallel.forRanges(planes, minimumPerThread: 1) { r in
                var scratch = inPlace ? Tensor(uninitializedShape: [oh * ow]) : Tensor(zeros: [0])
                scratch.withUnsafeMutableBufferPointer { s in
                    for plane in r {
                        let ch = plane % c
                        let dst = inPlace ? s.baseAddress! : po.pointer + plane * oh * ow
                        Kernels.depthwisePlane(px.pointer + plane * h * w, dst, height: h, width: w,
                                               kernel: pw8.pointer + ch * kh * kw, kernelSize: kh, stride: stride,
                                               padding: padding, bias: biasValues?[ch] ?? 0, outHeight: oh, outWidth: ow)
                        if activation != .none {
                            Kernels.biasActivationPlanes(dst, channels: 1, plane: oh * ow, bias: nil, activation: activation)
                        }
                        if inPlace { (po.pointer + plane * oh * ow).update(from: dst, count: oh * ow) }
                    }
                }
            }
        }
    }

    /// `F.conv_transpose2d` with kernel = stride and no padding (SAM's upscaling, 2×2 stride 2).
    ///
    /// - `self`: (N, Cin, H, W); `weight`: (Cin, Cout, k, k) (PyTorch's layout); output (N, Cout, kH, kW·W).
    public func convTranspose2d(weight: Tensor, bias: Tensor? = nil) -> Tensor {
        precondition(rank == 4 && weight.rank == 4 && weight.shape[0] == shape[1],
                     "conv_transpose2d: input \(shape), weight \(weight.shape)")
        let (n, cin, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let (cout, kh, kw) = (weight.shape[1], weight.shape[2], weight.shape[3])
        let pixels = h * w
        let kk = cout * kh * kw
        var out = Tensor(uninitializedShape: [n, cout, h * kh, w * kw])
        var tmp = Tensor(uninitializedShape: [kk * pixels])   // fully written by the GEMM
        let biasValues = bias?.scalars
        withUnsafeBufferPointer { x in
            weight.withUnsafeBufferPointer { wt in
                out.withUnsafeMutableBufferPointer { o in
                    tmp.withUnsafeMutableBufferPointer { t in
                        for b in 0..<n {
                            // tmp (Cout·kh·kw, H·W) = Wᵀ (Cout·kh·kw, Cin) · X (Cin, H·W)
                            BLAS.sgemm(transposeA: true, m: kk, n: pixels, k: cin,
                                       a: wt.baseAddress!, lda: kk,
                                       b: x.baseAddress! + b * cin * pixels, ldb: pixels,
                                       c: t.baseAddress!, ldc: pixels)
                            let ob = o.baseAddress! + b * cout * pixels * kh * kw
                            let ow = w * kw
                            for co in 0..<cout {
                                let bv = biasValues?[co] ?? 0
                                for a in 0..<kh {
                                    for c in 0..<kw {
                                        let src = t.baseAddress! + ((co * kh + a) * kw + c) * pixels
                                        let dstPlane = ob + co * pixels * kh * kw
                                        for i in 0..<h {
                                            let dstRow = dstPlane + (i * kh + a) * ow + c
                                            let srcRow = src + i * w
                                            for j in 0..<w { dstRow[j * kw] = srcRow[j] + bv }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}

/// Unfolds a (C, H, W) image into (C·kh·kw, oh·ow) columns for a convolution GEMM.
@inlinable
func im2col(_ x: UnsafePointer<Float>, channels: Int, h: Int, w: Int, kh: Int, kw: Int,
            sh: Int, sw: Int, ph: Int, pw: Int, oh: Int, ow: Int, into col: UnsafeMutablePointer<Float>) {
    let pixels = oh * ow
    let xs = SendablePointer(UnsafeMutablePointer(mutating: x))
    let cs = SendablePointer(col)
    Parallel.forRanges(channels * kh * kw, minimumPerThread: max(1, 16384 / max(pixels, 1))) { r in
        for row in r {
            let c = row / (kh * kw)
            let ky = (row / kw) % kh
            let kx = row % kw
            let dst = cs.pointer + row * pixels
            let src = xs.pointer + c * h * w
            for oy in 0..<oh {
                let iy = oy * sh - ph + ky
                let d = dst + oy * ow
                if iy < 0 || iy >= h {
                    for ox in 0..<ow { d[ox] = 0 }
                    continue
                }
                let srow = src + iy * w
                if sw == 1 {
                    for ox in 0..<ow {
                        let ix = ox - pw + kx
                        d[ox] = (ix >= 0 && ix < w) ? srow[ix] : 0
                    }
                } else {
                    for ox in 0..<ow {
                        let ix = ox * sw - pw + kx
                        d[ox] = (ix >= 0 && ix < w) ? srow[ix] : 0
                    }
                }
            }
        }
    }
}

/// An activation applied in the same pass as a bias (saves a sweep over memory).
public enum FusedActivation: Int32, Sendable {
    case none = 0
    /// Exact-erf GELU.
    case gelu = 1
    case relu = 2
}

extension Tensor {
    /// `x[:, c] = act(x[:, c] + bias[c])` on an (N, C, …) tensor, in one parallel pass.
    public mutating func applyChannelBias(_ bias: Tensor?, activation: FusedActivation = .none) {
        precondition(rank >= 2, "channel bias needs (N, C, …), got \(shape)")
        let (n, c) = (shape[0], shape[1])
        if let bias { precondition(bias.count == c, "bias of \(bias.count) for \(c) channels") }
        let plane = count / max(n * c, 1)
        let b = bias.map { SendablePointer($0.storage.pointer) }
        withUnsafeMutableBufferPointer { buf in
            let p = SendablePointer(buf.baseAddress!)
            Parallel.forRanges(n * c, minimumPerThread: max(1, 16384 / max(plane, 1))) { r in
                for i in r {
                    Kernels.biasActivationPlanes(p.pointer + i * plane, channels: 1, plane: plane,
                                                 bias: b.map { UnsafePointer($0.pointer + i % c) }, activation: activation)
                }
            }
        }
        withExtendedLifetime(bias) {}
    }

    /// `x[r, j] = act(x[r, j] + bias[j])` over the last dimension, in one parallel pass.
    public mutating func applyRowBias(_ bias: Tensor?, activation: FusedActivation = .none) {
        let cols = shape.last ?? 1
        if let bias { precondition(bias.count == cols, "bias of \(bias.count) for \(cols) columns") }
        let rows = cols == 0 ? 0 : count / cols
        let b = bias.map { SendablePointer($0.storage.pointer) }
        withUnsafeMutableBufferPointer { buf in
            let p = SendablePointer(buf.baseAddress!)
            Parallel.forRanges(rows, minimumPerThread: max(1, 16384 / max(cols, 1))) { r in
                Kernels.biasActivationRows(p.pointer + r.lowerBound * cols, rows: r.count, columns: cols,
                                           bias: b.map { UnsafePointer($0.pointer) }, activation: activation)
            }
        }
        withExtendedLifetime(bias) {}
    }

    /// Depthwise 3×3 convolution (stride 1, zero padding 1) on a channels-last (N, H, W, C) tensor.
    /// `kernelTaps` is the depthwise weight transposed to (9, C) (see ``depthwiseTaps(_:)``).
    public func depthwiseConv3x3ChannelsLast(kernelTaps: Tensor, bias: Tensor) -> Tensor {
        precondition(rank == 4 && kernelTaps.shape == [9, shape[3]] && bias.count == shape[3],
                     "channels-last depthwise: input \(shape), taps \(kernelTaps.shape)")
        let (n, h, w, c) = (shape[0], shape[1], shape[2], shape[3])
        var out = Tensor(uninitializedShape: shape)
        let k = SendablePointer(kernelTaps.storage.pointer), b = SendablePointer(bias.storage.pointer)
        withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { o in
                let px = SendablePointer(UnsafeMutablePointer(mutating: x.baseAddress!))
                let po = SendablePointer(o.baseAddress!)
                Parallel.forRanges(n * h, minimumPerThread: max(1, 4096 / max(w * c, 1))) { r in
                    for row in r {
                        let img = row / h, y = row % h
                        Kernels.depthwise3x3ChannelsLast(px.pointer + img * h * w * c, po.pointer + img * h * w * c,
                                                         height: h, width: w, channels: c, taps: k.pointer, bias: b.pointer,
                                                         rows: y..<(y + 1))
                    }
                }
            }
        }
        withExtendedLifetime((kernelTaps, bias)) {}
        return out
    }

    /// A (C, 1, 3, 3) depthwise weight as (9, C) taps for ``depthwiseConv3x3ChannelsLast(kernelTaps:bias:)``.
    public static func depthwiseTaps(_ weight: Tensor) -> Tensor {
        precondition(weight.rank == 4 && weight.shape[1] == 1 && weight.shape[2] == 3 && weight.shape[3] == 3,
                     "depthwise 3×3 weight expected, got \(weight.shape)")
        return weight.reshaped([weight.shape[0], 9]).permuted([1, 0])
    }
}

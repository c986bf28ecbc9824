import Tensor

/// A 1×1 convolution → activation → depthwise 3×3 (padding 1, stride 1 or 2) → activation → 1×1 convolution
/// stack on a channels-last map (MobileNetV2's inverted bottleneck: TinyViT's `MBConv` and `PatchMerging`),
/// computed one output row at a time so the wide hidden map never exists in memory.
///
/// Each thread takes a band of output rows and keeps a ring of the three hidden rows (after the expansion and
/// its activation) the current output row's 3×3 window needs; a hidden row is computed once per band (each
/// band's first window recomputes one row of its neighbour's). Per output row: the depthwise row
/// (``Kernels/depthwise3x3ChannelsLastRow(above:center:below:out:width:channels:stride:taps:bias:activation:variant:)``),
/// then the projection with its bias, the optional residual (the block's input) and the output activation in
/// the GEMM's tiles. Both 1×1 convolutions run on the own GEMM where it is preferred
/// (``FP32GEMMOperand``), else on OpenBLAS. The arithmetic is that of the three convolutions written out
/// (`act(project(act(dw(act(expand(x))))) + x)`), to GEMM rounding; for TinyViT's stage 0 the hidden map it
/// avoids is 64 MB (256 channels × 256²).
///
/// ```swift
/// let block = DepthwiseBottleneck(expand: conv1, depthwise: conv2, project: conv3)
/// let y = block(x, addingInput: true, outputActivation: .gelu)   // (B, H, W, C) → (B, H, W, C)
/// ```
public struct DepthwiseBottleneck: Sendable {
    public let inChannels: Int
    public let hiddenChannels: Int
    public let outChannels: Int
    /// The depthwise convolution's stride (both directions).
    public let stride: Int
    /// Applied after the expansion and after the depthwise convolution.
    public let activation: FusedActivation
    let expand: FP32GEMMOperand
    let expandBias: [Float]
    /// The depthwise weight as (9, hidden) taps, and its bias.
    let taps: [Float]
    let depthwiseBias: [Float]
    let project: FP32GEMMOperand
    let projectBias: [Float]

    /// From the three PyTorch-layout convolutions: `expand` (hidden, in, 1, 1), `depthwise` (hidden, 1, 3, 3)
    /// with padding 1 and `groups` = hidden, `project` (out, hidden, 1, 1); missing biases count as zero.
    public init(expand: Conv2d, depthwise: Conv2d, project: Conv2d, activation: FusedActivation = .gelu) {
        let (hidden, cin) = (expand.weight.shape[0], expand.weight.shape[1])
        precondition(expand.weight.shape[2] == 1 && expand.weight.shape[3] == 1 && expand.groups == 1
                     && expand.stride == (1, 1) && expand.padding == (0, 0), "DepthwiseBottleneck: expand must be a plain 1×1 conv")
        precondition(depthwise.weight.shape == [hidden, 1, 3, 3] && depthwise.groups == hidden && depthwise.padding == (1, 1)
                     && depthwise.stride.0 == depthwise.stride.1 && depthwise.stride.0 >= 1,
                     "DepthwiseBottleneck: depthwise must be a 3×3, padding-1 conv over the \(hidden) hidden channels, got \(depthwise.weight.shape)")
        let cout = project.weight.shape[0]
        precondition(project.weight.shape == [cout, hidden, 1, 1] && project.groups == 1 && project.stride == (1, 1)
                     && project.padding == (0, 0), "DepthwiseBottleneck: project must be a plain 1×1 conv from \(hidden) channels")
        inChannels = cin
        hiddenChannels = hidden
        outChannels = cout
        stride = depthwise.stride.0
        self.activation = activation
        self.expand = expand.weight.withUnsafeBufferPointer { FP32GEMMOperand(rowMajor: $0.baseAddress!, outFeatures: hidden, inFeatures: cin) }
        self.project = project.weight.withUnsafeBufferPointer { FP32GEMMOperand(rowMajor: $0.baseAddress!, outFeatures: cout, inFeatures: hidden) }
        expandBias = expand.bias?.scalars ?? [Float](repeating: 0, count: hidden)
        projectBias = project.bias?.scalars ?? [Float](repeating: 0, count: cout)
        depthwiseBias = depthwise.bias?.scalars ?? [Float](repeating: 0, count: hidden)
        taps = Tensor.depthwiseTaps(depthwise.weight).scalars
    }

    /// Output side for an input side (padding 1, kernel 3).
    public func outputSize(_ side: Int) -> Int { (side - 1) / stride + 1 }

    /// (B, H, W, inChannels) → (B, H', W', outChannels) with H' = (H − 1)/stride + 1: `act(project(…) + x)` when
    /// `addingInput` (stride 1 and as many output as input channels), `act(project(…))` otherwise, `act` being
    /// `outputActivation`.
    public func callAsFunction(_ x: Tensor, addingInput: Bool = false, outputActivation: FusedActivation = .none) -> Tensor {
        precondition(x.rank == 4 && x.shape[3] == inChannels,
                     "DepthwiseBottleneck expects (B, H, W, \(inChannels)) channels-last input, got \(x.shape)")
        precondition(!addingInput || (stride == 1 && inChannels == outChannels),
                     "DepthwiseBottleneck: the residual needs stride 1 and as many output as input channels")
        let (b, h, w) = (x.shape[0], x.shape[1], x.shape[2])
        let (oh, ow) = (outputSize(h), outputSize(w))
        var out = Tensor(uninitializedShape: [b, oh, ow, outChannels])
        if out.count == 0 { return out }
        let (cin, ch, cout, s, act) = (inChannels, hiddenChannels, outChannels, stride, activation)
        let (expand, project) = (expand, project)
        let rowFloats = w * ch
        x.withUnsafeBufferPointer { xb in
            out.withUnsafeMutableBufferPointer { ob in
                expandBias.withUnsafeBufferPointer { eb in
                    projectBias.withUnsafeBufferPointer { pb in
                        taps.withUnsafeBufferPointer { tb in
                            depthwiseBias.withUnsafeBufferPointer { db in
                                let xp = SendablePointer(UnsafeMutablePointer(mutating: xb.baseAddress!))
                                let op = SendablePointer(ob.baseAddress!)
                                let ep = SendablePointer(UnsafeMutablePointer(mutating: eb.baseAddress!))
                                let pp = SendablePointer(UnsafeMutablePointer(mutating: pb.baseAddress!))
                                let tp = SendablePointer(UnsafeMutablePointer(mutating: tb.baseAddress!))
                                let dp = SendablePointer(UnsafeMutablePointer(mutating: db.baseAddress!))
                                Parallel.forRanges(b * oh, minimumPerThread: 1) { band in
                                    // Three ring rows of the hidden map, then the depthwise output row.
                                    var scratch = Tensor(uninitializedShape: [3 * rowFloats + ow * ch])
                                    scratch.withUnsafeMutableBufferPointer { sb in
                                        let ring = sb.baseAddress!, dwRow = ring + 3 * rowFloats
                                        var held = [-1, -1, -1]   // the (image·h + row) each ring slot holds
                                        func hidden(_ image: Int, _ iy: Int) -> UnsafePointer<Float>? {
                                            guard iy >= 0 && iy < h else { return nil }
                                            let key = image * h + iy, slot = iy % 3
                                            let dst = ring + slot * rowFloats
                                            if held[slot] != key {
                                                expand.product(rows: w, x: xp.pointer + key * w * cin, ldx: cin,
                                                               bias: ep.pointer, activation: act, out: dst, ldo: ch)
                                                held[slot] = key
                                            }
                                            return UnsafePointer(dst)
                                        }
                                        for row in band {
                                            let image = row / oh, cy = (row % oh) * s
                                            let above = hidden(image, cy - 1), center = hidden(image, cy)
                                            let below = hidden(image, cy + 1)
                                            Kernels.depthwise3x3ChannelsLastRow(
                                                above: above, center: center, below: below, out: dwRow, width: w,
                                                channels: ch, stride: s, taps: tp.pointer, bias: dp.pointer, activation: act)
                                            project.product(rows: ow, x: dwRow, ldx: ch, bias: pp.pointer,
                                                            residual: addingInput ? xp.pointer + row * w * cin : nil, ldr: cin,
                                                            activation: outputActivation,
                                                            out: op.pointer + row * ow * cout, ldo: cout)
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

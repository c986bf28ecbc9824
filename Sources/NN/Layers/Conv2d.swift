import Tensor

/// `nn.Conv2d` on NCHW tensors (groups, stride, zero padding, optional bias).
///
/// ```swift
/// let conv = try Conv2d(scope["neck"][2], inChannels: 256, outChannels: 256, kernelSize: 3, padding: 1, bias: false)
/// let y = conv(x)          // (N, 256, H, W)
/// ```
public struct Conv2d: Sendable {
    /// (out, in/groups, kH, kW), PyTorch layout.
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: (Int, Int)
    public let padding: (Int, Int)
    public let groups: Int

    public init(_ scope: WeightScope, inChannels: Int, outChannels: Int, kernelSize: Int,
                stride: Int = 1, padding: Int = 0, groups: Int = 1, bias: Bool = true) throws {
        weight = try scope.tensor("weight", shape: [outChannels, inChannels / groups, kernelSize, kernelSize])
        self.bias = bias ? try scope.tensor("bias", shape: [outChannels]) : nil
        self.stride = (stride, stride)
        self.padding = (padding, padding)
        self.groups = groups
    }

    public init(weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0, groups: Int = 1) {
        self.weight = weight
        self.bias = bias
        self.stride = (stride, stride)
        self.padding = (padding, padding)
        self.groups = groups
    }

    public func callAsFunction(_ x: Tensor, activation: FusedActivation = .none) -> Tensor {
        x.conv2d(weight: weight, bias: bias, stride: stride, padding: padding, groups: groups, activation: activation)
    }

    /// `act(conv(x) + residual)`, the residual added on each GEMM tile of a 1×1 convolution while it is cached
    /// (same order of operations as `act(conv(x) + residual)` written out, so the same result).
    public func callAsFunction(_ x: Tensor, adding residual: Tensor, activation: FusedActivation = .none) -> Tensor {
        x.conv2d(weight: weight, bias: bias, stride: stride, padding: padding, groups: groups, residual: residual,
                 activation: activation)
    }

    /// Whether ``callAsFunction(inPlace:activation:)`` writes over its input: a stride-1 depthwise convolution
    /// that keeps the size.
    public var worksInPlace: Bool {
        let c = weight.shape[0], k = weight.shape[2]
        return groups == c && weight.shape[1] == 1 && k == weight.shape[3] && stride == (1, 1)
            && padding.0 == padding.1 && 2 * padding.0 + 1 == k
    }

    /// `x = act(conv(x))`: in `x`'s own memory when ``worksInPlace`` (no second full-size tensor), else the
    /// ordinary forward assigned back. The result is the same either way.
    public func callAsFunction(inPlace x: inout Tensor, activation: FusedActivation = .none) {
        if worksInPlace && x.rank == 4 && x.shape[1] == weight.shape[0] {
            x.applyDepthwiseConv2d(weight: weight, bias: bias, padding: padding.0, activation: activation)
        } else {
            x = self(x, activation: activation)
        }
    }
}

/// `nn.ConvTranspose2d` with kernel size = stride and no padding (SAM's mask upscaling).
public struct ConvTranspose2d: Sendable {
    /// (in, out, k, k), PyTorch layout.
    public let weight: Tensor
    public let bias: Tensor?

    public init(_ scope: WeightScope, inChannels: Int, outChannels: Int, kernelSize: Int, bias: Bool = true) throws {
        weight = try scope.tensor("weight", shape: [inChannels, outChannels, kernelSize, kernelSize])
        self.bias = bias ? try scope.tensor("bias", shape: [outChannels]) : nil
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.convTranspose2d(weight: weight, bias: bias) }
}

/// TinyViT's `Conv2d_BN`: a bias-free convolution followed by an eval-mode `BatchNorm2d`,
/// folded into one convolution at load time (`w' = w·γ/√(σ²+ε)`, `b' = β − μ·γ/√(σ²+ε)`).
///
/// Weights: `c.weight`, `bn.weight`, `bn.bias`, `bn.running_mean`, `bn.running_var`
/// (`bn.num_batches_tracked` optional and ignored).
public struct Conv2dBN: Sendable {
    public let conv: Conv2d

    public init(_ scope: WeightScope, inChannels: Int, outChannels: Int, kernelSize: Int = 1,
                stride: Int = 1, padding: Int = 0, groups: Int = 1, eps: Float = 1e-5) throws {
        let w = try scope["c"].tensor("weight", shape: [outChannels, inChannels / groups, kernelSize, kernelSize])
        let bn = scope["bn"]
        let gamma = try bn.tensor("weight", shape: [outChannels]).scalars
        let beta = try bn.tensor("bias", shape: [outChannels]).scalars
        let mean = try bn.tensor("running_mean", shape: [outChannels]).scalars
        let variance = try bn.tensor("running_var", shape: [outChannels]).scalars
        bn.skip("num_batches_tracked")
        var folded = w
        let per = w.count / outChannels
        var bias = [Float](repeating: 0, count: outChannels)
        folded.withUnsafeMutableBufferPointer { p in
            for o in 0..<outChannels {
                let s = gamma[o] / (variance[o] + eps).squareRoot()
                for j in 0..<per { p[o * per + j] *= s }
                bias[o] = beta[o] - mean[o] * s
            }
        }
        conv = Conv2d(weight: folded, bias: Tensor(shape: [outChannels], scalars: bias),
                      stride: stride, padding: padding, groups: groups)
    }

    public func callAsFunction(_ x: Tensor, activation: FusedActivation = .none) -> Tensor { conv(x, activation: activation) }

    /// `act(conv(x) + residual)` (``Conv2d/callAsFunction(_:adding:activation:)``).
    public func callAsFunction(_ x: Tensor, adding residual: Tensor, activation: FusedActivation = .none) -> Tensor {
        conv(x, adding: residual, activation: activation)
    }

    /// `x = act(conv(x))`, in `x`'s memory for stride-1 depthwise convolutions (``Conv2d/callAsFunction(inPlace:activation:)``).
    public func callAsFunction(inPlace x: inout Tensor, activation: FusedActivation = .none) {
        conv(inPlace: &x, activation: activation)
    }
}

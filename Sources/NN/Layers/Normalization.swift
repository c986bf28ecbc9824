import Tensor

/// `nn.LayerNorm` over the last dimension.
///
/// ```swift
/// let norm = try LayerNorm(scope["norm1"], dim: 768, eps: 1e-6)
/// let y = norm(x)          // (…, 768)
/// ```
public struct LayerNorm: Sendable {
    public let weight: Tensor
    public let bias: Tensor
    public let eps: Float

    public init(_ scope: WeightScope, dim: Int, eps: Float = 1e-5) throws {
        weight = try scope.tensor("weight", shape: [dim])
        bias = try scope.tensor("bias", shape: [dim])
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.layerNorm(weight: weight, bias: bias, eps: eps) }
}

/// SAM's `LayerNorm2d`: normalises each pixel of an (N, C, H, W) map over its channels.
public struct LayerNorm2d: Sendable {
    public let weight: Tensor
    public let bias: Tensor
    public let eps: Float

    public init(_ scope: WeightScope, channels: Int, eps: Float = 1e-6) throws {
        weight = try scope.tensor("weight", shape: [channels])
        bias = try scope.tensor("bias", shape: [channels])
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.layerNorm2d(weight: weight, bias: bias, eps: eps) }
}

import Tensor

/// The activations the models use.
///
/// ```swift
/// let y = Activation.gelu(x)     // exact-erf GELU, as nn.GELU()
/// ```
public enum Activation: Sendable {
    /// `nn.GELU()` (exact erf).
    case gelu
    /// `nn.ReLU()`.
    case relu
    /// No activation.
    case identity

    public func callAsFunction(_ x: Tensor) -> Tensor {
        var y = x
        apply(&y)
        return y
    }

    /// The same activation for the fused bias+activation kernels.
    public var fused: FusedActivation {
        switch self {
        case .gelu: return .gelu
        case .relu: return .relu
        case .identity: return .none
        }
    }

    /// Applies the activation in place.
    public func apply(_ x: inout Tensor) {
        switch self {
        case .gelu: x.applyGELU()
        case .relu: x.applyReLU()
        case .identity: break
        }
    }
}

/// SAM's `MLPBlock`: `lin2(act(lin1(x)))`.
public struct MLPBlock: Sendable {
    public let lin1: Linear
    public let lin2: Linear
    public let activation: Activation

    public init(_ scope: WeightScope, embeddingDim: Int, mlpDim: Int, activation: Activation = .gelu) throws {
        lin1 = try Linear(scope["lin1"], inFeatures: embeddingDim, outFeatures: mlpDim)
        lin2 = try Linear(scope["lin2"], inFeatures: mlpDim, outFeatures: embeddingDim)
        self.activation = activation
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        lin2(lin1(x, activation: activation.fused))
    }
}

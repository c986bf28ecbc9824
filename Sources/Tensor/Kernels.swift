import CKernels

// # Kernels: the one place Swift reaches the package's C kernels
//
// The C kernels live in `Sources/CKernels`, one file per family (activations, GEMM epilogues,
// normalisation, softmax, depthwise convolution, attention, elementwise; model-specific ones named
// as such, e.g. `sam_relpos.c`). Each family has a portable, an AVX2+FMA and an AVX-512F variant,
// chosen at run time from the CPU (``KernelVariant/best``).
//
// Only this file imports `CKernels`. Model code (layers, encoders, decoders) never does; it uses
// the public tensor ops (`applyGELU`, `layerNorm`, `conv2d`, `applyRowBias`, …) or, for a fused
// fast path inside the package, the `package` functions of ``Kernels``.
//
// **How to write a fused fast path** (the one pattern used everywhere):
// 1. Allocate the output as a `Tensor(uninitializedShape:)` (its memory comes from the pool,
//    see ``TensorStorage``), and take the pointers inside `withUnsafe(Mutable)BufferPointer`.
// 2. Split the work with `Parallel.forRanges` (GEMMs: `BLAS.sgemmTiled`, whose epilogue runs on
//    each tile right after its product, while it is still in cache).
// 3. In each range call one `Kernels.*` function on that range (e.g. ``Kernels/biasActivationRows(_:rows:columns:bias:activation:variant:)``
//    as a GEMM epilogue). No pointer math on kernel internals, no C calls, no second copy of a
//    layer's mathematics: the fast path *is* the layer's forward.
//
// Every function takes an optional `variant` (default: the CPU's best) so the tests can run each
// variant explicitly against the same expected values.

/// The GEMM instruction tier of this CPU (cpuid and OS support; not capped by `MEDSAM_KERNELS`): 0 = no
/// AVX2+FMA, 1 = AVX2+FMA, 2 = AVX-512 F/BW/VL/DQ, 3 = the same plus AVX512_BF16. ``OpenBLASCore`` reads it.
package func cpuGEMMTier() -> Int { Int(mk_cpu_gemm_tier()) }

/// The instruction-set variant of the package's own kernels.
public enum KernelVariant: Int32, Sendable, CaseIterable, CustomStringConvertible {
    /// Plain C, any CPU.
    case portable = 0
    /// AVX2 + FMA (x86-64).
    case avx2 = 1
    /// AVX-512F (x86-64).
    case avx512 = 2

    /// The best variant this CPU runs (cpuid, checked once). The environment variable
    /// `MEDSAM_KERNELS` (`portable`, `avx2`, `avx512`) caps it, e.g. to measure the AVX2 path on an
    /// AVX-512 machine.
    public static var best: KernelVariant { KernelVariant(rawValue: mk_best_variant()) ?? .portable }

    /// Whether this CPU can run the variant.
    public var isSupported: Bool { mk_cpu_supports(rawValue) != 0 }

    /// `portable`, `avx2` or `avx512`.
    public var description: String {
        switch self {
        case .portable: return "portable"
        case .avx2: return "avx2"
        case .avx512: return "avx512"
        }
    }
}

/// Swift wrappers of the C kernels (package-internal: raw pointers in, no checks beyond the C contract).
///
/// Pointers must be valid for the extents given; the callers are the tensor ops and the fast paths of
/// the model targets. `variant` nil runs ``KernelVariant/best``; a variant the CPU lacks runs the best
/// one below it.
package enum Kernels {
    @inline(__always)
    static func code(_ v: KernelVariant?) -> Int32 { v?.rawValue ?? -1 }

    /// The variant a call with `variant` actually runs.
    package static func resolved(_ variant: KernelVariant?) -> KernelVariant {
        KernelVariant(rawValue: mk_resolve_variant(code(variant))) ?? .portable
    }

    // MARK: Activations

    /// In-place exact-erf GELU of `count` floats.
    package static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int, variant: KernelVariant? = nil) {
        mk_gelu_v(code(variant), x, count)
    }

    /// In-place logistic sigmoid of `count` floats.
    package static func sigmoid(_ x: UnsafeMutablePointer<Float>, count: Int, variant: KernelVariant? = nil) {
        mk_sigmoid_v(code(variant), x, count)
    }

    // MARK: GEMM epilogues

    /// `x[r·columns + j] = act(x[r·columns + j] + bias[j])` for `rows` rows (bias may be nil).
    package static func biasActivationRows(_ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int,
                                           bias: UnsafePointer<Float>?, activation: FusedActivation,
                                           variant: KernelVariant? = nil) {
        mk_bias_act_rows_v(code(variant), x, rows, columns, bias, activation.rawValue)
    }

    /// `x[c·plane + i] = act(x[c·plane + i] + bias[c])` for `channels` planes (bias may be nil).
    package static func biasActivationPlanes(_ x: UnsafeMutablePointer<Float>, channels: Int, plane: Int,
                                             bias: UnsafePointer<Float>?, activation: FusedActivation,
                                             variant: KernelVariant? = nil) {
        mk_bias_act_planes_v(code(variant), x, channels, plane, bias, activation.rawValue)
    }

    // MARK: Normalisation

    /// LayerNorm of `rows` rows of `columns` floats (`y` may alias `x`; weight and bias both or neither).
    package static func layerNormRows(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, columns: Int,
                                      weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?, eps: Float,
                                      variant: KernelVariant? = nil) {
        mk_layernorm_rows_v(code(variant), x, y, rows, columns, weight, bias, eps)
    }

    // MARK: Softmax

    /// In-place softmax of `rows` rows of `columns` floats with row stride `stride`.
    package static func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int, stride: Int,
                                    variant: KernelVariant? = nil) {
        if rows == 0 || columns == 0 { return }
        mk_softmax_rows_v(code(variant), x, rows, columns, stride)
    }

    // MARK: Depthwise convolution

    /// One depthwise plane: k×k kernel, stride, zero padding, plus bias; `out` is oh×ow.
    package static func depthwisePlane(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, height: Int, width: Int,
                                       kernel: UnsafePointer<Float>, kernelSize: Int, stride: Int, padding: Int,
                                       bias: Float, outHeight: Int, outWidth: Int, variant: KernelVariant? = nil) {
        mk_depthwise_plane_v(code(variant), x, out, height, width, kernel, kernelSize, stride, padding, bias,
                             outHeight, outWidth)
    }

    /// Channels-last depthwise 3×3 (stride 1, padding 1) of output rows `rows`; `taps` is (9, c).
    package static func depthwise3x3ChannelsLast(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                                                 height: Int, width: Int, channels: Int,
                                                 taps: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                                                 rows: Range<Int>, variant: KernelVariant? = nil) {
        mk_depthwise3x3_nhwc_v(code(variant), x, out, height, width, channels, taps, bias, rows.lowerBound, rows.upperBound)
    }

    // MARK: Attention

    /// Multi-head attention of `rows` query rows over `keys` keys (few keys), all heads of a row at once:
    /// `out[r, h·d + t] = Σ_j softmax_j(scale·q[r, h]·k[j, h]) · v[j, h·d + t]`. Zero keys give NaN.
    package static func attentionFewKeys(q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int,
                                         v: UnsafePointer<Float>, ldv: Int, out: UnsafeMutablePointer<Float>, ldo: Int,
                                         rows: Int, keys: Int, heads: Int, headDim: Int, scale: Float,
                                         variant: KernelVariant? = nil) {
        mk_attention_few_keys_v(code(variant), q, ldq, k, ldk, v, ldv, out, ldo, rows, keys, heads, headDim, scale)
    }

    // MARK: Elementwise

    /// `out[i] = a[i] + b[i]` for `count` floats (`out` may alias `a`).
    package static func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                            count: Int, variant: KernelVariant? = nil) {
        mk_add_rows_v(code(variant), a, b, out, count)
    }

    /// `out (columns × rows) = transpose(a + b)` of row-major (rows × columns) `a`, `b` (b may be nil), for the
    /// output rows (input columns) `outputRows`.
    package static func transposeAdd(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>?, into out: UnsafeMutablePointer<Float>,
                                     rows: Int, columns: Int, outputRows: Range<Int>, variant: KernelVariant? = nil) {
        mk_transpose_add_v(code(variant), a, b, out, rows, columns, outputRows.lowerBound, outputRows.upperBound)
    }

    // MARK: Model-specific

    /// SAM ViT's decomposed relative positions on `rows` score rows (stride `ld`, laid out kh·kw):
    /// `scores[r][i·kw + j] += relH[r·kh + i] + relW[r·kw + j]`.
    package static func addDecomposedRelativePosition(_ scores: UnsafeMutablePointer<Float>, rows: Int, ld: Int,
                                                      relH: UnsafePointer<Float>, relW: UnsafePointer<Float>,
                                                      kh: Int, kw: Int, variant: KernelVariant? = nil) {
        mk_add_relpos_v(code(variant), scores, rows, ld, relH, relW, kh, kw)
    }
}

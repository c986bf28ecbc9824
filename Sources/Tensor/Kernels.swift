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

    /// In-place softmax over interleaved entries: in row `r` (stride `stride`), group `g` and lane `l`, the
    /// `count` floats `x[r·stride + (g·count + j)·lanes + l]` (j < count) form one softmax. The mask decoder's
    /// image→token scores use it with the attention heads as the lanes.
    package static func softmaxLanes(_ x: UnsafeMutablePointer<Float>, rows: Int, stride: Int, groups: Int, count: Int,
                                     lanes: Int, variant: KernelVariant? = nil) {
        mk_softmax_lanes_v(code(variant), x, rows, stride, groups, count, lanes)
    }

    /// The column-wise half of a softmax down the columns of a (rows × columns) block of stride `stride`:
    /// `x[r, j] = exp(x[r, j] − columnMax[j])`, `columnSum[j] += x[r, j]`.
    package static func expColumns(_ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int, stride: Int,
                                   columnMax: UnsafePointer<Float>, columnSum: UnsafeMutablePointer<Float>,
                                   variant: KernelVariant? = nil) {
        mk_exp_columns_v(code(variant), x, rows, columns, stride, columnMax, columnSum)
    }

    /// `columnMax[j] = max(columnMax[j], x[r, j])` over the rows of a (rows × columns) block of stride `stride`.
    package static func maxColumns(_ x: UnsafePointer<Float>, rows: Int, columns: Int, stride: Int,
                                   columnMax: UnsafeMutablePointer<Float>, variant: KernelVariant? = nil) {
        mk_max_columns_v(code(variant), x, rows, columns, stride, columnMax)
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

    /// One output row of a channels-last 3×3 depthwise convolution (zero padding 1, horizontal `stride`) from its
    /// three input rows of `width` pixels × `channels` (nil = a padding row): `out` gets (width − 1)/stride + 1
    /// pixels, `act(bias + Σ taps·x)` with `taps` as (9, channels), summed in (ky, kx) order.
    package static func depthwise3x3ChannelsLastRow(above: UnsafePointer<Float>?, center: UnsafePointer<Float>?,
                                                    below: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>,
                                                    width: Int, channels: Int, stride: Int,
                                                    taps: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                                                    activation: FusedActivation, variant: KernelVariant? = nil) {
        mk_depthwise3x3_nhwc_row_v(code(variant), above, center, below, out, width, channels, stride, taps, bias,
                                   activation.rawValue)
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

    /// Floats of scratch one ``windowAttention(tokens:qkDim:vDim:index:q:k:v:ld:paddingKey:paddingValue:bias:scale:out:ldo:scratch:variant:)``
    /// call needs.
    package static func windowAttentionScratchCount(tokens n: Int, qkDim: Int, vDim: Int) -> Int {
        Int(mk_attention_window_scratch(n, qkDim, vDim))
    }

    /// Attention of one head within one window of `n` tokens, the scores kept in `scratch`: for each window
    /// position `i` with a token (`index[i] >= 0`),
    /// `out[index[i]·ldo + t] = Σ_j softmax_j(scale·q_i·k_j + bias[i·n + j]) · v_j[t]`, with `q_i = q + index[i]·ld`
    /// and `k_j`, `v_j` the rows at `index[j]·ld`, or `paddingKey` / `paddingValue` where `index[j] < 0` (a padding
    /// token: a key and value, never a query). `bias` is (n × n) or nil.
    package static func windowAttention(tokens n: Int, qkDim: Int, vDim: Int, index: UnsafePointer<Int32>,
                                        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, ld: Int,
                                        paddingKey: UnsafePointer<Float>, paddingValue: UnsafePointer<Float>,
                                        bias: UnsafePointer<Float>?, scale: Float, out: UnsafeMutablePointer<Float>, ldo: Int,
                                        scratch: UnsafeMutablePointer<Float>, variant: KernelVariant? = nil) {
        mk_attention_window_v(code(variant), n, qkDim, vDim, index, q, k, v, ld, paddingKey, paddingValue, bias, scale,
                              out, ldo, scratch)
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

    // MARK: Reduced-precision GEMMs (int8, bf16) — begin
    // (include/mk_gemm_int8.h; the drivers that split the work over threads are in ReducedPrecision.swift.)

    /// The int8 variant a call with `variant` actually runs.
    package static func resolved(_ variant: Int8KernelVariant?) -> Int8KernelVariant {
        Int8KernelVariant(rawValue: mk_q8_resolve_variant(variant?.rawValue ?? -1)) ?? .portable
    }

    /// `k` rounded up to the int8 kernels' depth multiple (4).
    package static func int8PaddedDepth(_ k: Int) -> Int { mk_q8_padded_depth(k) }
    /// `k` rounded up to the bf16 kernels' depth multiple (2).
    package static func bf16PaddedDepth(_ k: Int) -> Int { mk_bf16_padded_depth(k) }
    /// `n` rounded up to whole 16-column panels.
    package static func paddedColumns(_ n: Int) -> Int { mk_q8_padded_columns(n) }

    /// Symmetric per-row int8 quantisation of an (n × k) matrix (scales: n entries).
    package static func int8QuantizeWeights(_ w: UnsafePointer<Float>, n: Int, k: Int,
                                            into q: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>) {
        mk_q8_quantize_weights(w, n, k, q, scales)
    }

    /// Packs (n × k) int8 weights into 16-column panels and writes the padded column sums.
    package static func int8Pack(_ q: UnsafePointer<Int8>, n: Int, k: Int, into packed: UnsafeMutablePointer<Int8>,
                                 columnSums: UnsafeMutablePointer<Int32>) {
        mk_q8_pack(q, n, k, packed, columnSums)
    }

    /// Dynamic per-row int8 quantisation of `rows` rows (stride `ldx`) into rows of stride `ldq`.
    package static func int8QuantizeRows(_ x: UnsafePointer<Float>, ldx: Int, rows: Int, k: Int,
                                         into q: UnsafeMutablePointer<Int8>, ldq: Int, scales: UnsafeMutablePointer<Float>,
                                         variant: Int8KernelVariant? = nil) {
        mk_q8_quantize_rows_v(variant?.rawValue ?? -1, x, ldx, rows, k, q, ldq, scales)
    }

    /// `out[i, j] = act(float(Σ a·w) · (aScale[i]·wScale[j]) + bias[j])` on packed int8 weights.
    package static func int8GEMM(a: UnsafePointer<Int8>, lda: Int, aScales: UnsafePointer<Float>, m: Int,
                                 packed: UnsafePointer<Int8>, columnSums: UnsafePointer<Int32>, wScales: UnsafePointer<Float>,
                                 n: Int, paddedDepth: Int, bias: UnsafePointer<Float>?, activation: FusedActivation,
                                 out: UnsafeMutablePointer<Float>, ldo: Int, variant: Int8KernelVariant? = nil) {
        mk_q8_gemm_v(variant?.rawValue ?? -1, a, lda, aScales, m, packed, columnSums, wScales, n, paddedDepth,
                     bias, activation.rawValue, out, ldo)
    }

    /// fp32 → bf16 bits, round to nearest even.
    package static func bf16(_ x: Float) -> UInt16 { mk_bf16_from_float(x) }

    /// Packs (n × k) float weights, rounded to bf16, into 16-column panels.
    package static func bf16Pack(_ w: UnsafePointer<Float>, n: Int, k: Int, into packed: UnsafeMutablePointer<UInt16>) {
        mk_bf16_pack(w, n, k, packed)
    }

    /// bf16 values of the 16-column panel form of an (n × k) matrix.
    package static func bf16PackedCount(n: Int, k: Int) -> Int { mk_q8_padded_columns(n) * mk_bf16_padded_depth(k) }

    /// Packs element `(j, t) = w[j·rowStride + t·columnStride] · scale` of an (n × k) matrix, rounded to bf16
    /// after the multiply, into 16-column panels (attention keys with the scale folded in, or values transposed).
    package static func bf16Pack(_ w: UnsafePointer<Float>, rowStride: Int, columnStride: Int, n: Int, k: Int,
                                 scale: Float = 1, into packed: UnsafeMutablePointer<UInt16>) {
        mk_bf16_pack_strided(w, rowStride, columnStride, n, k, scale, packed)
    }

    /// Packs (n × k) bf16 weights into 16-column panels.
    package static func bf16PackBits(_ w: UnsafePointer<UInt16>, n: Int, k: Int, into packed: UnsafeMutablePointer<UInt16>) {
        mk_bf16_pack_bits(w, n, k, packed)
    }

    /// Rounds `rows` rows (stride `ldx`) to bf16 rows of stride `ldq`.
    package static func bf16ConvertRows(_ x: UnsafePointer<Float>, ldx: Int, rows: Int, k: Int,
                                        into q: UnsafeMutablePointer<UInt16>, ldq: Int, variant: BF16KernelVariant? = nil) {
        mk_bf16_convert_rows_v(variant?.rawValue ?? -1, x, ldx, rows, k, q, ldq)
    }

    /// `out[i, j] = act(Σ a·w + bias[j])`, bf16 inputs, fp32 accumulation.
    package static func bf16GEMM(a: UnsafePointer<UInt16>, lda: Int, m: Int, packed: UnsafePointer<UInt16>, n: Int,
                                 paddedDepth: Int, bias: UnsafePointer<Float>?, activation: FusedActivation,
                                 out: UnsafeMutablePointer<Float>, ldo: Int, variant: BF16KernelVariant? = nil) {
        mk_bf16_gemm_v(variant?.rawValue ?? -1, a, lda, m, packed, n, paddedDepth, bias, activation.rawValue, out, ldo)
    }
    // MARK: Reduced-precision GEMMs — end

    // MARK: fp32 GEMM on packed weights (include/mk_gemm_f32.h; the driver is PackedGEMM.swift)

    /// Floats of the 16-column panel form of an (n × k) weight.
    package static func f32PackedCount(n: Int, k: Int) -> Int { mk_f32_packed_count(n, k) }

    /// Packs a row-major (n × k) weight into 16-column panels.
    package static func f32Pack(_ w: UnsafePointer<Float>, n: Int, k: Int, into packed: UnsafeMutablePointer<Float>) {
        mk_f32_pack(w, n, k, packed)
    }

    /// Packs the (n × k) matrix `w[j·rowStride + t·columnStride]`, times `scale`, into 16-column panels.
    package static func f32Pack(_ w: UnsafePointer<Float>, rowStride: Int, columnStride: Int, n: Int, k: Int, scale: Float = 1,
                                into packed: UnsafeMutablePointer<Float>) {
        mk_f32_pack_strided(w, rowStride, columnStride, n, k, scale, packed)
    }

    /// The row-major (n × k) weight back from its panels.
    package static func f32Unpack(_ packed: UnsafePointer<Float>, n: Int, k: Int, into w: UnsafeMutablePointer<Float>) {
        mk_f32_unpack(packed, n, k, w)
    }

    /// The depth block of the fp32 GEMM variant for depth `k`.
    package static func f32DepthBlock(k: Int, variant: KernelVariant? = nil) -> Int { mk_f32_depth_block(code(variant), k) }

    /// `out[i, j] = act((Σ_t a[i, t]·w[j, t] + bias[j]) + res[i, j])` on packed weights (`out` overlaps neither
    /// `a` nor `res`).
    package static func f32GEMM(a: UnsafePointer<Float>, lda: Int, m: Int, packed: UnsafePointer<Float>, n: Int, k: Int,
                                bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, ldr: Int,
                                activation: FusedActivation, out: UnsafeMutablePointer<Float>, ldo: Int,
                                variant: KernelVariant? = nil) {
        mk_f32_gemm_v(code(variant), a, lda, m, packed, n, k, bias, residual, ldr, activation.rawValue, out, ldo)
    }

    /// The scalar reference of ``f32GEMM(a:lda:m:packed:n:k:bias:residual:ldr:activation:out:ldo:variant:)`` with
    /// depth block `depthBlock` (tests only).
    package static func f32GEMMReference(depthBlock: Int, a: UnsafePointer<Float>, lda: Int, m: Int, packed: UnsafePointer<Float>,
                                         n: Int, k: Int, bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, ldr: Int,
                                         activation: FusedActivation, out: UnsafeMutablePointer<Float>, ldo: Int) {
        mk_f32_gemm_reference(depthBlock, a, lda, m, packed, n, k, bias, residual, ldr, activation.rawValue, out, ldo)
    }
}

// MARK: Reduced-precision kernel variants — begin

/// The instruction-set variant of the int8 GEMM (``Precision/int8``).
public enum Int8KernelVariant: Int32, Sendable, CaseIterable, CustomStringConvertible {
    /// Plain C, any CPU (the reference the vector variants are tested against).
    case portable = 0
    /// AVX2 `vpmaddubsw`/`vpmaddwd` on |a| and sign(a)·w.
    case avx2 = 1
    /// AVX-VNNI 256-bit `vpdpbusd`.
    case avxVNNI = 2
    /// AVX-512 VNNI 512-bit `vpdpbusd`.
    case avx512VNNI = 3

    /// The best variant this CPU runs (capped by `MEDSAM_KERNELS`: `portable`, or `avx2` for the 256-bit forms).
    public static var best: Int8KernelVariant { Int8KernelVariant(rawValue: mk_q8_best_variant()) ?? .portable }
    /// Whether this CPU can run the variant.
    public var isSupported: Bool { mk_q8_cpu_supports(rawValue) != 0 }

    public var description: String {
        switch self {
        case .portable: return "portable"
        case .avx2: return "avx2"
        case .avxVNNI: return "avx-vnni"
        case .avx512VNNI: return "avx512-vnni"
        }
    }
}

/// The instruction-set variant of the bf16 GEMM (``Precision/bf16``).
public enum BF16KernelVariant: Int32, Sendable, CaseIterable, CustomStringConvertible {
    /// Plain C: the scalar reference (slow; ``Precision/bf16`` never runs it, it fails instead).
    case portable = 0
    /// AVX512_BF16 `vdpbf16ps`.
    case avx512BF16 = 1

    /// Whether this CPU has native bf16 dot products (and `MEDSAM_KERNELS` does not cap below `avx512`).
    public static var nativeAvailable: Bool { mk_bf16_native() != 0 }
    /// Whether this CPU can run the variant.
    public var isSupported: Bool { self == .portable || Self.nativeAvailable }

    public var description: String { self == .portable ? "portable" : "avx512-bf16" }
}
// MARK: Reduced-precision kernel variants — end

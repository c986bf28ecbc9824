#ifndef MEDSAM_MK_GEMM_INT8_H
#define MEDSAM_MK_GEMM_INT8_H
// Reduced-precision GEMMs for the image encoders' Linear layers (opt-in, see Precision in the Tensor module):
// int8 (symmetric per-output-channel weights, dynamic per-row activations, exact int32 accumulation) and
// bf16 (bf16 weights and activations, fp32 accumulation). Both end in one fused epilogue:
//     out[i, j] = act(acc[i, j] · (rowScale[i] · colScale[j]) + bias[j])      (int8)
//     out[i, j] = act(acc[i, j] + bias[j])                                     (bf16)
//
// Weights are packed once, at load, into panels of 16 output columns:
//     int8: packed[(p·kg + g)·64 + c·4 + t] = w[16p + c, 4g + t]   (kg = kp/4, kp = k rounded up to 4)
//     bf16: packed[(p·kg + g)·32 + c·2 + t] = w[16p + c, 2g + t]   (kg = kp/2, kp = k rounded up to 2)
// zero-filled past n and k, so every panel is whole. Per-column arrays (scales, column sums) have
// mk_q8_padded_columns(n) entries.
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// int8 GEMM variants, in increasing order of the instructions they need.
enum {
    MK_Q8_PORTABLE = 0,    ///< plain C (also the reference the tests compare with)
    MK_Q8_AVX2 = 1,        ///< AVX2: vpmaddubsw on |a| and sign(a)·w (no saturation: |a|,|w| ≤ 127), vpmaddwd
    MK_Q8_AVXVNNI = 2,     ///< AVX-VNNI: 256-bit vpdpbusd on a+128 with a column-sum correction
    MK_Q8_AVX512VNNI = 3   ///< AVX-512 VNNI: 512-bit vpdpbusd
};

/// The best int8 variant of this CPU (cpuid, checked once), capped by MEDSAM_KERNELS
/// ("portable" → portable, "avx2" → at most AVX-VNNI, the 256-bit forms).
int mk_q8_best_variant(void);
/// Whether the CPU can run int8 variant `variant`.
int mk_q8_cpu_supports(int variant);
/// AUTO (-1) → mk_q8_best_variant(); otherwise the highest supported variant not above `variant`.
int mk_q8_resolve_variant(int variant);

/// bf16 GEMM variants.
enum {
    MK_BF16_PORTABLE = 0,  ///< plain C, the scalar reference (slow: for tests only)
    MK_BF16_AVX512 = 1     ///< AVX512_BF16 vdpbf16ps
};
/// Whether the CPU has native bf16 dot products (AVX512_BF16), and MEDSAM_KERNELS does not cap below avx512.
int mk_bf16_native(void);

/// k rounded up to a multiple of 4 (int8) / 2 (bf16), n rounded up to a multiple of 16.
ptrdiff_t mk_q8_padded_depth(ptrdiff_t k);
ptrdiff_t mk_bf16_padded_depth(ptrdiff_t k);
ptrdiff_t mk_q8_padded_columns(ptrdiff_t n);

/// Symmetric per-row quantisation of a row-major (n × k) float matrix: scale[r] = max|w[r, ·]| / 127,
/// q[r, j] = round_half_even(w[r, j] / scale[r]) clamped to ±127 (a zero row gets scale 0 and zeros).
void mk_q8_quantize_weights(const float *w, ptrdiff_t n, ptrdiff_t k, int8_t *q, float *scale);

/// Packs row-major (n × k) int8 weights into panels (mk_q8_padded_columns(n)·mk_q8_padded_depth(k) bytes)
/// and writes the column sums colsum[j] = Σ_t q[j, t] (mk_q8_padded_columns(n) entries, zero past n).
void mk_q8_pack(const int8_t *q, ptrdiff_t n, ptrdiff_t k, int8_t *packed, int32_t *colsum);

/// Dynamic per-row quantisation of `rows` rows of k floats (row stride ldx) into int8 rows of stride ldq
/// (zero-filled from k up to mk_q8_padded_depth(k)): the same rule as mk_q8_quantize_weights.
void mk_q8_quantize_rows_v(int variant, const float *x, ptrdiff_t ldx, ptrdiff_t rows, ptrdiff_t k,
                           int8_t *q, ptrdiff_t ldq, float *scale);

/// out[i, j] = act(float(Σ_t a[i, t]·w[j, t]) · (ascale[i]·wscale[j]) + bias[j]) for i < m, j < n
/// (the product of the scales and the multiply-add are rounded as fmaf(acc, ascale·wscale, bias)).
/// `a` holds m rows of kp int8 (stride lda), `packed`/`colsum`/`wscale` come from mk_q8_pack and the
/// quantisation, `bias` may be NULL (n entries).
void mk_q8_gemm_v(int variant, const int8_t *a, ptrdiff_t lda, const float *ascale, ptrdiff_t m,
                  const int8_t *packed, const int32_t *colsum, const float *wscale, ptrdiff_t n, ptrdiff_t kp,
                  const float *bias, int act, float *out, ptrdiff_t ldo);

/// fp32 → bf16 (round to nearest even; NaN stays NaN).
uint16_t mk_bf16_from_float(float x);
/// Packs row-major (n × k) float weights, rounded to bf16, into panels (mk_q8_padded_columns(n)·
/// mk_bf16_padded_depth(k) values).
void mk_bf16_pack(const float *w, ptrdiff_t n, ptrdiff_t k, uint16_t *packed);
/// Packs element (j, t) = w[j·rs + t·cs]·scale (rounded to bf16 after the multiply) of an (n × k) matrix into
/// panels, like mk_bf16_pack: attention keys (rs = row stride, cs = 1) or values transposed (rs = 1, cs = stride).
void mk_bf16_pack_strided(const float *w, ptrdiff_t rs, ptrdiff_t cs, ptrdiff_t n, ptrdiff_t k, float scale,
                          uint16_t *packed);
/// Packs row-major (n × k) bf16 weights into panels.
void mk_bf16_pack_bits(const uint16_t *w, ptrdiff_t n, ptrdiff_t k, uint16_t *packed);
/// Rounds `rows` rows of k floats (stride ldx) to bf16 rows of stride ldq, zero-filled up to the padded depth.
void mk_bf16_convert_rows_v(int variant, const float *x, ptrdiff_t ldx, ptrdiff_t rows, ptrdiff_t k,
                            uint16_t *q, ptrdiff_t ldq);
/// out[i, j] = act(Σ_t a[i, t]·w[j, t] + bias[j]) with bf16 inputs and fp32 accumulation (pairs of t
/// accumulate in order; see the tests for the reference).
void mk_bf16_gemm_v(int variant, const uint16_t *a, ptrdiff_t lda, ptrdiff_t m, const uint16_t *packed,
                    ptrdiff_t n, ptrdiff_t kp, const float *bias, int act, float *out, ptrdiff_t ldo);

#ifdef __cplusplus
}
#endif
#endif

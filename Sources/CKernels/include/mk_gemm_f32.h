#ifndef MEDSAM_MK_GEMM_F32_H
#define MEDSAM_MK_GEMM_F32_H
// The package's own fp32 GEMM for the image encoders' Linear layers and the mask decoder's products (the exact
// default precision):
//     out[i, j] = act((Σ_t a[i, t]·w[j, t] + bias[j]) + res[i, j])
// with the weights packed once (at load, or per call for small run-time operands) into panels of 16 output columns:
//     packed[(p·k + t)·16 + c] = w[16p + c, t]        (zero past n, mk_f32_packed_count(n, k) floats)
// and the bias, residual and activation applied to each register tile after its last depth block, while
// it is still in registers (no second pass over the output).
//
// Arithmetic (the same in every variant, so the variants agree bit for bit except for GELU's polynomial):
// the depth is cut into blocks of mk_f32_depth_block(variant, k) (the last may be shorter); within a
// block each output sums a[i, t]·w[j, t] in increasing t with fused multiply-adds, starting from 0;
// the block sums are added in order (out = out + block); then + bias, + residual, activation.
// The activations (a) are read in place, row-major with stride lda; no copy of them is made.
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Floats of the packed form of an (n × k) weight: n rounded up to 16, times k.
ptrdiff_t mk_f32_packed_count(ptrdiff_t n, ptrdiff_t k);

/// Packs a row-major (n × k) weight (PyTorch's Linear layout, out × in) into 16-column panels.
void mk_f32_pack(const float *w, ptrdiff_t n, ptrdiff_t k, float *packed);

/// Packs the (n × k) matrix w[j, t] = w[j·row_stride + t·column_stride], times `scale`, into the same panels:
/// attention operands read in place (keys as rows of a qkv projection: row_stride = its width, column_stride = 1;
/// values transposed: row_stride = 1, column_stride = their row stride).
void mk_f32_pack_strided(const float *w, ptrdiff_t row_stride, ptrdiff_t column_stride, ptrdiff_t n, ptrdiff_t k,
                         float scale, float *packed);

/// The row-major (n × k) weight back from its panels.
void mk_f32_unpack(const float *packed, ptrdiff_t n, ptrdiff_t k, float *w);

/// The depth block the variant uses for depth k (blocks are equal but the last, at most 320 / 384 long).
ptrdiff_t mk_f32_depth_block(int variant, ptrdiff_t k);

/// The GEMM above for i < m, j < n (`packed` may start at any panel: columns 16p… of a wider weight, with
/// `bias` and `out` offset the same way). `bias` (n entries) and `res` (rows of stride ldr) may be NULL.
/// `out` must not overlap `a` or `res` (with several depth blocks, partial sums are stored in `out`).
void mk_f32_gemm_v(int variant, const float *a, ptrdiff_t lda, ptrdiff_t m, const float *packed, ptrdiff_t n,
                   ptrdiff_t k, const float *bias, const float *res, ptrdiff_t ldr, int act, float *out, ptrdiff_t ldo);

/// The scalar reference of the same arithmetic with an explicit depth block `kc` (for the tests; slow).
void mk_f32_gemm_reference(ptrdiff_t kc, const float *a, ptrdiff_t lda, ptrdiff_t m, const float *packed, ptrdiff_t n,
                           ptrdiff_t k, const float *bias, const float *res, ptrdiff_t ldr, int act, float *out,
                           ptrdiff_t ldo);

#ifdef __cplusplus
}
#endif
#endif

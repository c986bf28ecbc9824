#ifndef MEDSAM_CKERNELS_H
#define MEDSAM_CKERNELS_H
// Vectorised elementwise kernels for the hot loops of the encoders.
// Each picks an AVX2+FMA implementation at run time when the CPU has it
// (function-level target attributes: no compiler flags needed) and a portable one otherwise.
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// In-place softmax of `rows` rows of `cols` floats, row stride `ld`.
void mk_softmax_rows(float *x, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld);

/// In-place exact-erf GELU, 0.5·x·(1 + erf(x/√2)) (|error| < 2e-7·max(1,|x|)).
void mk_gelu(float *x, ptrdiff_t n);

/// In-place logistic sigmoid.
void mk_sigmoid(float *x, ptrdiff_t n);

/// LayerNorm over the last dimension: y = (x − mean)/√(var + eps)·w + b (w, b may be NULL).
void mk_layernorm_rows(const float *x, float *y, ptrdiff_t rows, ptrdiff_t cols,
                       const float *w, const float *b, float eps);

/// Decomposed relative positions: for each of `rows` score rows (stride `ld`, laid out as kh·kw),
/// scores[r][i·kw + j] += relh[r·kh + i] + relw[r·kw + j].
void mk_add_relpos(float *scores, ptrdiff_t rows, ptrdiff_t ld, const float *relh, const float *relw,
                   ptrdiff_t kh, ptrdiff_t kw);

/// Depthwise 2-D convolution of one plane (h×w) with a k×k kernel, stride s, zero padding p,
/// plus bias: out is oh×ow.
void mk_depthwise_plane(const float *x, float *out, ptrdiff_t h, ptrdiff_t w, const float *kernel,
                        ptrdiff_t k, ptrdiff_t s, ptrdiff_t p, float bias, ptrdiff_t oh, ptrdiff_t ow);

/// Activation codes for the fused kernels.
enum { MK_ACT_NONE = 0, MK_ACT_GELU = 1, MK_ACT_RELU = 2 };

/// NCHW: x[c·plane + i] = act(x[c·plane + i] + bias[c]) for `channels` planes (bias may be NULL).
void mk_bias_act_planes(float *x, ptrdiff_t channels, ptrdiff_t plane, const float *bias, int act);

/// Rows: x[r·cols + j] = act(x[r·cols + j] + bias[j]) (bias may be NULL).
void mk_bias_act_rows(float *x, ptrdiff_t rows, ptrdiff_t cols, const float *bias, int act);

/// Channels-last depthwise 3×3, stride 1, zero padding 1: x and out are (h, w, c);
/// kernel is transposed to (3·3, c) (taps contiguous over channels); rows [row_begin, row_end) of out = conv + bias.
void mk_depthwise3x3_nhwc(const float *x, float *out, ptrdiff_t h, ptrdiff_t w, ptrdiff_t c,
                          const float *kernel, const float *bias, ptrdiff_t row_begin, ptrdiff_t row_end);

/// Multi-head attention of `rows` query rows over `nk` keys (few keys: scores of one row kept in registers/stack):
/// for each row r and head h, out[r·ldo + h·d + t] = Σ_j softmax_j(scale·q_r,h·k_j,h) · v[j·ldv + h·d + t].
void mk_attention_few_keys(const float *q, ptrdiff_t ldq, const float *k, ptrdiff_t ldk,
                           const float *v, ptrdiff_t ldv, float *out, ptrdiff_t ldo,
                           ptrdiff_t rows, ptrdiff_t nk, ptrdiff_t heads, ptrdiff_t d, float scale);

/// out (cols × rows) = transpose(a + b) of row-major (rows × cols) a and b (b may be NULL), for the
/// output rows (= input columns) [col_begin, col_end).
void mk_transpose_add(const float *a, const float *b, float *out, ptrdiff_t rows, ptrdiff_t cols,
                      ptrdiff_t col_begin, ptrdiff_t col_end);

/// out[i] = a[i] + b[i] (out may alias a).
void mk_add_rows(const float *a, const float *b, float *out, ptrdiff_t n);

/// Whether the AVX2+FMA paths are in use (for diagnostics and benchmarks).
int mk_has_avx2(void);

#ifdef __cplusplus
}
#endif
#endif

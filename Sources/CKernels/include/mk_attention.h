#ifndef MEDSAM_MK_ATTENTION_H
#define MEDSAM_MK_ATTENTION_H
// Attention kernels that do not go through GEMM.
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Multi-head attention of `rows` query rows over `nk` keys (few keys: one row's scores stay on the stack):
/// for each row r and head h, out[r·ldo + h·d + t] = Σ_j softmax_j(scale·q_r,h·k_j,h) · v[j·ldv + h·d + t].
/// nk = 0 writes NaN (softmax over nothing).
void mk_attention_few_keys(const float *q, ptrdiff_t ldq, const float *k, ptrdiff_t ldk,
                           const float *v, ptrdiff_t ldv, float *out, ptrdiff_t ldo,
                           ptrdiff_t rows, ptrdiff_t nk, ptrdiff_t heads, ptrdiff_t d, float scale);
void mk_attention_few_keys_v(int variant, const float *q, ptrdiff_t ldq, const float *k, ptrdiff_t ldk,
                             const float *v, ptrdiff_t ldv, float *out, ptrdiff_t ldo,
                             ptrdiff_t rows, ptrdiff_t nk, ptrdiff_t heads, ptrdiff_t d, float scale);

/// Attention within one window of n tokens for one head, the scores never leaving scratch: for each window
/// position i whose token row index[i] is >= 0,
///   out[index[i]·ldo + t] = Σ_j softmax_j(scale · q_i·k_j + bias[i·n + j]) · v_j[t]   (t < dv),
/// where q_i = q + index[i]·ld (dqk floats), and k_j, v_j are the rows k + index[j]·ld and v + index[j]·ld, or
/// padk and padv for a position with index[j] < 0 (a padding token: a key and value, never a query; its out row is
/// not written). `bias` (n × n) may be NULL. `scratch` holds mk_attention_window_scratch(n, dqk, dv) floats.
size_t mk_attention_window_scratch(ptrdiff_t n, ptrdiff_t dqk, ptrdiff_t dv);
void mk_attention_window_v(int variant, ptrdiff_t n, ptrdiff_t dqk, ptrdiff_t dv, const int32_t *index,
                           const float *q, const float *k, const float *v, ptrdiff_t ld,
                           const float *padk, const float *padv, const float *bias, float scale,
                           float *out, ptrdiff_t ldo, float *scratch);

#ifdef __cplusplus
}
#endif
#endif

#ifndef MEDSAM_MK_ATTENTION_H
#define MEDSAM_MK_ATTENTION_H
// Attention kernels that do not go through GEMM.
#include <stddef.h>

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

#ifdef __cplusplus
}
#endif
#endif

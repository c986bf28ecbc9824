#ifndef MEDSAM_MK_NORMALIZATION_H
#define MEDSAM_MK_NORMALIZATION_H
// Normalisations (PyTorch semantics: biased variance, eps inside the square root).
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// LayerNorm over the last dimension: y = (x − mean)/√(var + eps)·w + b (w, b may both be NULL).
/// y may alias x.
void mk_layernorm_rows(const float *x, float *y, ptrdiff_t rows, ptrdiff_t cols,
                       const float *w, const float *b, float eps);
void mk_layernorm_rows_v(int variant, const float *x, float *y, ptrdiff_t rows, ptrdiff_t cols,
                         const float *w, const float *b, float eps);

#ifdef __cplusplus
}
#endif
#endif

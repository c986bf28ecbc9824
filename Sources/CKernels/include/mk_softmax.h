#ifndef MEDSAM_MK_SOFTMAX_H
#define MEDSAM_MK_SOFTMAX_H
// Softmax (max-subtracted, like PyTorch).
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// In-place softmax of `rows` rows of `cols` floats, row stride `ld`.
void mk_softmax_rows(float *x, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld);
void mk_softmax_rows_v(int variant, float *x, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld);

#ifdef __cplusplus
}
#endif
#endif

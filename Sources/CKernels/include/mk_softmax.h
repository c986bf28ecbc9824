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

/// In-place softmax over `count` interleaved entries for each of `lanes` lanes of each of `groups` groups of
/// each row: in row r, group g, lane l the entries x[r·ld + (g·count + j)·lanes + l], j < count, form one
/// softmax. (The mask decoder's image→token scores: per image token, per prompt, one softmax over the prompt
/// tokens j for every head l, with the heads adjacent so that the vector lanes run over the heads.)
void mk_softmax_lanes_v(int variant, float *x, ptrdiff_t rows, ptrdiff_t ld, ptrdiff_t groups, ptrdiff_t count,
                        ptrdiff_t lanes);

#ifdef __cplusplus
}
#endif
#endif

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

/// The column-wise half of a softmax down the columns of a (rows × cols) block, row stride `ld`:
/// x[r, j] = exp(x[r, j] − colmax[j]) and colsum[j] += x[r, j]. The caller takes the maxima over all rows first
/// and divides by the sums at the end (the mask decoder's few-query attention, keys as rows).
void mk_exp_columns_v(int variant, float *x, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld, const float *colmax,
                      float *colsum);

/// colmax[j] = max(colmax[j], x[r, j]) over the rows of a (rows × cols) block, row stride `ld`.
void mk_max_columns_v(int variant, const float *x, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld, float *colmax);

#ifdef __cplusplus
}
#endif
#endif

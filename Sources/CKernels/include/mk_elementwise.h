#ifndef MEDSAM_MK_ELEMENTWISE_H
#define MEDSAM_MK_ELEMENTWISE_H
// Elementwise sums and the fused sum-and-transpose.
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// out[i] = a[i] + b[i] (out may alias a).
void mk_add_rows(const float *a, const float *b, float *out, ptrdiff_t n);
void mk_add_rows_v(int variant, const float *a, const float *b, float *out, ptrdiff_t n);

/// out (cols × rows) = transpose(a + b) of row-major (rows × cols) a and b (b may be NULL), for the
/// output rows (= input columns) [col_begin, col_end).
void mk_transpose_add(const float *a, const float *b, float *out, ptrdiff_t rows, ptrdiff_t cols,
                      ptrdiff_t col_begin, ptrdiff_t col_end);
void mk_transpose_add_v(int variant, const float *a, const float *b, float *out, ptrdiff_t rows, ptrdiff_t cols,
                        ptrdiff_t col_begin, ptrdiff_t col_end);

#ifdef __cplusplus
}
#endif
#endif

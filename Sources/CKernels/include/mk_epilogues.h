#ifndef MEDSAM_MK_EPILOGUES_H
#define MEDSAM_MK_EPILOGUES_H
// GEMM epilogues: bias + activation applied to a tile of a GEMM's output while it is in cache.
#include <stddef.h>
#include "mk_activations.h"

#ifdef __cplusplus
extern "C" {
#endif

/// NCHW: x[c·plane + i] = act(x[c·plane + i] + bias[c]) for `channels` planes (bias may be NULL).
void mk_bias_act_planes(float *x, ptrdiff_t channels, ptrdiff_t plane, const float *bias, int act);
void mk_bias_act_planes_v(int variant, float *x, ptrdiff_t channels, ptrdiff_t plane, const float *bias, int act);

/// Rows: x[r·cols + j] = act(x[r·cols + j] + bias[j]) (bias may be NULL).
void mk_bias_act_rows(float *x, ptrdiff_t rows, ptrdiff_t cols, const float *bias, int act);
void mk_bias_act_rows_v(int variant, float *x, ptrdiff_t rows, ptrdiff_t cols, const float *bias, int act);

#ifdef __cplusplus
}
#endif
#endif

#ifndef MEDSAM_MK_ACTIVATIONS_H
#define MEDSAM_MK_ACTIVATIONS_H
// Activations, in place over contiguous floats.
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Activation codes for the fused kernels (epilogues, depthwise).
enum { MK_ACT_NONE = 0, MK_ACT_GELU = 1, MK_ACT_RELU = 2 };

/// In-place exact-erf GELU, 0.5·x·(1 + erf(x/√2)) (|error| < 2e-7·max(1,|x|)).
void mk_gelu(float *x, ptrdiff_t n);
void mk_gelu_v(int variant, float *x, ptrdiff_t n);

/// In-place logistic sigmoid 1/(1 + exp(−x)).
void mk_sigmoid(float *x, ptrdiff_t n);
void mk_sigmoid_v(int variant, float *x, ptrdiff_t n);

#ifdef __cplusplus
}
#endif
#endif

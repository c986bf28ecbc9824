#ifndef MEDSAM_MK_DEPTHWISE_H
#define MEDSAM_MK_DEPTHWISE_H
// Depthwise 2-D convolutions (one filter per channel), zero padding.
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// One plane (h×w) with a k×k kernel, stride s, zero padding p, plus bias: out is oh×ow.
void mk_depthwise_plane(const float *x, float *out, ptrdiff_t h, ptrdiff_t w, const float *kernel,
                        ptrdiff_t k, ptrdiff_t s, ptrdiff_t p, float bias, ptrdiff_t oh, ptrdiff_t ow);
void mk_depthwise_plane_v(int variant, const float *x, float *out, ptrdiff_t h, ptrdiff_t w, const float *kernel,
                          ptrdiff_t k, ptrdiff_t s, ptrdiff_t p, float bias, ptrdiff_t oh, ptrdiff_t ow);

/// Channels-last 3×3, stride 1, zero padding 1: x and out are (h, w, c); `kernel` is transposed to
/// (3·3, c) (taps contiguous over channels); rows [row_begin, row_end) of out = conv + bias.
void mk_depthwise3x3_nhwc(const float *x, float *out, ptrdiff_t h, ptrdiff_t w, ptrdiff_t c,
                          const float *kernel, const float *bias, ptrdiff_t row_begin, ptrdiff_t row_end);
void mk_depthwise3x3_nhwc_v(int variant, const float *x, float *out, ptrdiff_t h, ptrdiff_t w, ptrdiff_t c,
                            const float *kernel, const float *bias, ptrdiff_t row_begin, ptrdiff_t row_end);

/// One output row of a channels-last 3×3 depthwise convolution with zero padding 1 and horizontal stride
/// `stride` (1 or more): `above`, `center` and `below` are the three input rows (w pixels × c channels,
/// contiguous), any of them NULL for a padding row; out gets ow = (w − 1)/stride + 1 pixels,
/// out[ox·c + ch] = act(bias[ch] + Σ taps·x) with `taps` as (3·3, c), the sum in (ky, kx) order, `act` an
/// MK_ACT_* code. The row form lets a caller keep only three input rows (a ring) in cache.
void mk_depthwise3x3_nhwc_row(const float *above, const float *center, const float *below, float *out,
                              ptrdiff_t w, ptrdiff_t c, ptrdiff_t stride, const float *taps, const float *bias, int act);
void mk_depthwise3x3_nhwc_row_v(int variant, const float *above, const float *center, const float *below, float *out,
                                ptrdiff_t w, ptrdiff_t c, ptrdiff_t stride, const float *taps, const float *bias, int act);

#ifdef __cplusplus
}
#endif
#endif

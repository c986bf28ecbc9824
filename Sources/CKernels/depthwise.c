// Depthwise convolutions (see include/mk_depthwise.h).
#include "mk_internal.h"

// One output pixel of a depthwise convolution, with bounds checks (borders and the portable path).
static inline float dw_pixel(const float *x, ptrdiff_t h, ptrdiff_t w, const float *kernel, ptrdiff_t k,
                             ptrdiff_t s, ptrdiff_t p, float bias, ptrdiff_t oy, ptrdiff_t ox) {
    float acc = bias;
    for (ptrdiff_t ky = 0; ky < k; ky++) {
        ptrdiff_t iy = oy * s - p + ky;
        if (iy < 0 || iy >= h) continue;
        for (ptrdiff_t kx = 0; kx < k; kx++) {
            ptrdiff_t ix = ox * s - p + kx;
            if (ix >= 0 && ix < w) acc += x[iy * w + ix] * kernel[ky * k + kx];
        }
    }
    return acc;
}

static void plane_portable(const float *x, float *out, ptrdiff_t h, ptrdiff_t w, const float *kernel,
                           ptrdiff_t k, ptrdiff_t s, ptrdiff_t p, float bias, ptrdiff_t oh, ptrdiff_t ow) {
    for (ptrdiff_t oy = 0; oy < oh; oy++)
        for (ptrdiff_t ox = 0; ox < ow; ox++) out[oy * ow + ox] = dw_pixel(x, h, w, kernel, k, s, p, bias, oy, ox);
}

// One channels-last output pixel's channels [c0, c1), with bounds checks.
static inline void dw_nhwc_channels(const float *x, float *o, ptrdiff_t h, ptrdiff_t w, ptrdiff_t c,
                                    const float *kt, const float *bias, ptrdiff_t y, ptrdiff_t xx,
                                    ptrdiff_t c0, ptrdiff_t c1) {
    for (ptrdiff_t ch = c0; ch < c1; ch++) {
        float acc = bias[ch];
        for (int ky = 0; ky < 3; ky++) {
            ptrdiff_t iy = y + ky - 1;
            if (iy < 0 || iy >= h) continue;
            for (int kx = 0; kx < 3; kx++) {
                ptrdiff_t ix = xx + kx - 1;
                if (ix < 0 || ix >= w) continue;
                acc += x[(iy * w + ix) * c + ch] * kt[(ky * 3 + kx) * c + ch];
            }
        }
        o[ch] = acc;
    }
}

static void nhwc_portable(const float *x, float *out, ptrdiff_t h, ptrdiff_t w, ptrdiff_t c,
                          const float *kt, const float *bias, ptrdiff_t r0, ptrdiff_t r1) {
    for (ptrdiff_t y = r0; y < r1; y++)
        for (ptrdiff_t xx = 0; xx < w; xx++) dw_nhwc_channels(x, out + (y * w + xx) * c, h, w, c, kt, bias, y, xx, 0, c);
}

// One channels-last output row from three input rows (NULL = padding): channels [c0, c1), scalar.
static void nhwc_row_channels(const float *const rows[3], float *out, ptrdiff_t w, ptrdiff_t c, ptrdiff_t s,
                              const float *kt, const float *bias, int act, ptrdiff_t c0, ptrdiff_t c1) {
    ptrdiff_t ow = (w - 1) / s + 1;
    for (ptrdiff_t ox = 0; ox < ow; ox++) {
        for (ptrdiff_t ch = c0; ch < c1; ch++) {
            float acc = bias[ch];
            for (int ky = 0; ky < 3; ky++) {
                if (!rows[ky]) continue;
                for (int kx = 0; kx < 3; kx++) {
                    ptrdiff_t ix = ox * s + kx - 1;
                    if (ix < 0 || ix >= w) continue;
                    acc += rows[ky][ix * c + ch] * kt[(ky * 3 + kx) * c + ch];
                }
            }
            out[ox * c + ch] = mk_act1(acc, act);
        }
    }
}

#ifdef MK_X86
// Stride-1 plane: vectorised over output columns in the interior, scalar at the borders.
MK_AVX2 static void plane_s1_avx2(const float *x, float *out, ptrdiff_t h, ptrdiff_t w, const float *kernel,
                                  ptrdiff_t k, ptrdiff_t p, float bias, ptrdiff_t oh, ptrdiff_t ow) {
    for (ptrdiff_t oy = 0; oy < oh; oy++) {
        float *o = out + oy * ow;
        ptrdiff_t x0 = p, x1 = w - k + p + 1;        // ox in [x0, x1) has ix = ox - p + kx in [0, w)
        if (x1 > ow) x1 = ow;
        if (x0 > x1) x0 = x1;
        for (ptrdiff_t ox = 0; ox < x0; ox++) o[ox] = dw_pixel(x, h, w, kernel, k, 1, p, bias, oy, ox);
        ptrdiff_t ox = x0;
        for (; ox + 8 <= x1; ox += 8) {
            __m256 acc = _mm256_set1_ps(bias);
            for (ptrdiff_t ky = 0; ky < k; ky++) {
                ptrdiff_t iy = oy - p + ky;
                if (iy < 0 || iy >= h) continue;
                const float *row = x + iy * w + ox - p;
                for (ptrdiff_t kx = 0; kx < k; kx++)
                    acc = _mm256_fmadd_ps(_mm256_loadu_ps(row + kx), _mm256_set1_ps(kernel[ky * k + kx]), acc);
            }
            _mm256_storeu_ps(o + ox, acc);
        }
        for (; ox < ow; ox++) o[ox] = dw_pixel(x, h, w, kernel, k, 1, p, bias, oy, ox);
    }
}

MK_AVX512 static void plane_s1_avx512(const float *x, float *out, ptrdiff_t h, ptrdiff_t w, const float *kernel,
                                      ptrdiff_t k, ptrdiff_t p, float bias, ptrdiff_t oh, ptrdiff_t ow) {
    for (ptrdiff_t oy = 0; oy < oh; oy++) {
        float *o = out + oy * ow;
        ptrdiff_t x0 = p, x1 = w - k + p + 1;
        if (x1 > ow) x1 = ow;
        if (x0 > x1) x0 = x1;
        for (ptrdiff_t ox = 0; ox < x0; ox++) o[ox] = dw_pixel(x, h, w, kernel, k, 1, p, bias, oy, ox);
        for (ptrdiff_t ox = x0; ox < x1; ox += 16) {
            __mmask16 m = x1 - ox >= 16 ? (__mmask16)0xFFFF : mk_tail16(x1 - ox);
            __m512 acc = _mm512_set1_ps(bias);
            for (ptrdiff_t ky = 0; ky < k; ky++) {
                ptrdiff_t iy = oy - p + ky;
                if (iy < 0 || iy >= h) continue;
                const float *row = x + iy * w + ox - p;
                for (ptrdiff_t kx = 0; kx < k; kx++)
                    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, row + kx), _mm512_set1_ps(kernel[ky * k + kx]), acc);
            }
            _mm512_mask_storeu_ps(o + ox, m, acc);
        }
        for (ptrdiff_t ox = x1; ox < ow; ox++) o[ox] = dw_pixel(x, h, w, kernel, k, 1, p, bias, oy, ox);
    }
}

MK_AVX2 static void nhwc_avx2(const float *x, float *out, ptrdiff_t h, ptrdiff_t w, ptrdiff_t c,
                              const float *kt, const float *bias, ptrdiff_t r0, ptrdiff_t r1) {
    for (ptrdiff_t y = r0; y < r1; y++) {
        for (ptrdiff_t xx = 0; xx < w; xx++) {
            float *o = out + (y * w + xx) * c;
            ptrdiff_t ch = 0;
            for (; ch + 8 <= c; ch += 8) {
                __m256 acc = _mm256_loadu_ps(bias + ch);
                for (int ky = 0; ky < 3; ky++) {
                    ptrdiff_t iy = y + ky - 1;
                    if (iy < 0 || iy >= h) continue;
                    for (int kx = 0; kx < 3; kx++) {
                        ptrdiff_t ix = xx + kx - 1;
                        if (ix < 0 || ix >= w) continue;
                        acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + (iy * w + ix) * c + ch),
                                              _mm256_loadu_ps(kt + (ky * 3 + kx) * c + ch), acc);
                    }
                }
                _mm256_storeu_ps(o + ch, acc);
            }
            dw_nhwc_channels(x, o, h, w, c, kt, bias, y, xx, ch, c);
        }
    }
}

MK_AVX512 static void nhwc_avx512(const float *x, float *out, ptrdiff_t h, ptrdiff_t w, ptrdiff_t c,
                                  const float *kt, const float *bias, ptrdiff_t r0, ptrdiff_t r1) {
    for (ptrdiff_t y = r0; y < r1; y++) {
        for (ptrdiff_t xx = 0; xx < w; xx++) {
            float *o = out + (y * w + xx) * c;
            for (ptrdiff_t ch = 0; ch < c; ch += 16) {
                __mmask16 m = c - ch >= 16 ? (__mmask16)0xFFFF : mk_tail16(c - ch);
                __m512 acc = _mm512_maskz_loadu_ps(m, bias + ch);
                for (int ky = 0; ky < 3; ky++) {
                    ptrdiff_t iy = y + ky - 1;
                    if (iy < 0 || iy >= h) continue;
                    for (int kx = 0; kx < 3; kx++) {
                        ptrdiff_t ix = xx + kx - 1;
                        if (ix < 0 || ix >= w) continue;
                        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + (iy * w + ix) * c + ch),
                                              _mm512_maskz_loadu_ps(m, kt + (ky * 3 + kx) * c + ch), acc);
                    }
                }
                _mm512_mask_storeu_ps(o + ch, m, acc);
            }
        }
    }
}

// The row form with the block's 9 taps held in registers: channel blocks outermost, pixels inside.
MK_AVX2 static void nhwc_row_avx2(const float *const rows[3], float *out, ptrdiff_t w, ptrdiff_t c, ptrdiff_t s,
                                  const float *kt, const float *bias, int act) {
    ptrdiff_t ow = (w - 1) / s + 1, ch = 0;
    for (; ch + 8 <= c; ch += 8) {
        __m256 t[9];
        for (int i = 0; i < 9; i++) t[i] = _mm256_loadu_ps(kt + i * c + ch);
        __m256 b = _mm256_loadu_ps(bias + ch);
        for (ptrdiff_t ox = 0; ox < ow; ox++) {
            __m256 acc = b;
            for (int ky = 0; ky < 3; ky++) {
                const float *r = rows[ky];
                if (!r) continue;
                for (int kx = 0; kx < 3; kx++) {
                    ptrdiff_t ix = ox * s + kx - 1;
                    if (ix < 0 || ix >= w) continue;
                    acc = _mm256_fmadd_ps(_mm256_loadu_ps(r + ix * c + ch), t[ky * 3 + kx], acc);
                }
            }
            _mm256_storeu_ps(out + ox * c + ch, mk_act256(acc, act));
        }
    }
    if (ch < c) nhwc_row_channels(rows, out, w, c, s, kt, bias, act, ch, c);
}

MK_AVX512 static void nhwc_row_avx512(const float *const rows[3], float *out, ptrdiff_t w, ptrdiff_t c, ptrdiff_t s,
                                      const float *kt, const float *bias, int act) {
    ptrdiff_t ow = (w - 1) / s + 1;
    for (ptrdiff_t ch = 0; ch < c; ch += 16) {
        __mmask16 m = c - ch >= 16 ? (__mmask16)0xFFFF : mk_tail16(c - ch);
        __m512 t[9];
        for (int i = 0; i < 9; i++) t[i] = _mm512_maskz_loadu_ps(m, kt + i * c + ch);
        __m512 b = _mm512_maskz_loadu_ps(m, bias + ch);
        for (ptrdiff_t ox = 0; ox < ow; ox++) {
            __m512 acc = b;
            for (int ky = 0; ky < 3; ky++) {
                const float *r = rows[ky];
                if (!r) continue;
                for (int kx = 0; kx < 3; kx++) {
                    ptrdiff_t ix = ox * s + kx - 1;
                    if (ix < 0 || ix >= w) continue;
                    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, r + ix * c + ch), t[ky * 3 + kx], acc);
                }
            }
            _mm512_mask_storeu_ps(out + ox * c + ch, m, mk_act512(acc, act));
        }
    }
}
#endif

void mk_depthwise_plane_v(int variant, const float *x, float *out, ptrdiff_t h, ptrdiff_t w, const float *kernel,
                          ptrdiff_t k, ptrdiff_t s, ptrdiff_t p, float bias, ptrdiff_t oh, ptrdiff_t ow) {
    int v = s == 1 ? mk_resolve_variant(variant) : MK_VARIANT_PORTABLE;   // strided: portable only
    switch (v) {
#ifdef MK_X86
    case MK_VARIANT_AVX512: plane_s1_avx512(x, out, h, w, kernel, k, p, bias, oh, ow); return;
    case MK_VARIANT_AVX2: plane_s1_avx2(x, out, h, w, kernel, k, p, bias, oh, ow); return;
#endif
    default: plane_portable(x, out, h, w, kernel, k, s, p, bias, oh, ow);
    }
}

void mk_depthwise3x3_nhwc_v(int variant, const float *x, float *out, ptrdiff_t h, ptrdiff_t w, ptrdiff_t c,
                            const float *kernel, const float *bias, ptrdiff_t row_begin, ptrdiff_t row_end) {
    switch (mk_resolve_variant(variant)) {
#ifdef MK_X86
    case MK_VARIANT_AVX512: nhwc_avx512(x, out, h, w, c, kernel, bias, row_begin, row_end); return;
    case MK_VARIANT_AVX2: nhwc_avx2(x, out, h, w, c, kernel, bias, row_begin, row_end); return;
#endif
    default: nhwc_portable(x, out, h, w, c, kernel, bias, row_begin, row_end);
    }
}

void mk_depthwise_plane(const float *x, float *out, ptrdiff_t h, ptrdiff_t w, const float *kernel,
                        ptrdiff_t k, ptrdiff_t s, ptrdiff_t p, float bias, ptrdiff_t oh, ptrdiff_t ow) {
    mk_depthwise_plane_v(MK_VARIANT_AUTO, x, out, h, w, kernel, k, s, p, bias, oh, ow);
}

void mk_depthwise3x3_nhwc(const float *x, float *out, ptrdiff_t h, ptrdiff_t w, ptrdiff_t c,
                          const float *kernel, const float *bias, ptrdiff_t row_begin, ptrdiff_t row_end) {
    mk_depthwise3x3_nhwc_v(MK_VARIANT_AUTO, x, out, h, w, c, kernel, bias, row_begin, row_end);
}

void mk_depthwise3x3_nhwc_row_v(int variant, const float *above, const float *center, const float *below, float *out,
                                ptrdiff_t w, ptrdiff_t c, ptrdiff_t stride, const float *taps, const float *bias, int act) {
    const float *rows[3] = {above, center, below};
    if (w <= 0 || c <= 0 || stride <= 0) return;
    switch (mk_resolve_variant(variant)) {
#ifdef MK_X86
    case MK_VARIANT_AVX512: nhwc_row_avx512(rows, out, w, c, stride, taps, bias, act); return;
    case MK_VARIANT_AVX2: nhwc_row_avx2(rows, out, w, c, stride, taps, bias, act); return;
#endif
    default: nhwc_row_channels(rows, out, w, c, stride, taps, bias, act, 0, c);
    }
}

void mk_depthwise3x3_nhwc_row(const float *above, const float *center, const float *below, float *out,
                              ptrdiff_t w, ptrdiff_t c, ptrdiff_t stride, const float *taps, const float *bias, int act) {
    mk_depthwise3x3_nhwc_row_v(MK_VARIANT_AUTO, above, center, below, out, w, c, stride, taps, bias, act);
}

// Vectorised kernels with run-time dispatch (see include/ckernels.h).
#include "ckernels.h"

#include <math.h>
#include <string.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#define MK_X86 1
#include <immintrin.h>
#endif

// ---------------------------------------------------------------------------------------------
// Portable scalar versions (also the reference for the vector paths).

// erfc for z >= 0 (Numerical Recipes' erfcc, fractional error < 1.2e-7).
static inline float mk_erfc_pos(float z) {
    float t = 1.0f / (1.0f + 0.5f * z);
    float poly = -1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f +
                 t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f +
                 t * (-0.82215223f + t * 0.17087277f))))))));
    return t * expf(-z * z + poly);
}

static inline float mk_gelu1(float x) {
    float z = fabsf(x) * 0.70710678118654752f;
    float half_erfc = 0.5f * mk_erfc_pos(z);
    return x >= 0 ? x - x * half_erfc : x * half_erfc;
}

static void softmax_scalar(float *x, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *p = x + r * ld;
        float m = -INFINITY;
        for (ptrdiff_t j = 0; j < cols; j++) m = p[j] > m ? p[j] : m;
        float s = 0;
        for (ptrdiff_t j = 0; j < cols; j++) { p[j] = expf(p[j] - m); s += p[j]; }
        float inv = 1.0f / s;
        for (ptrdiff_t j = 0; j < cols; j++) p[j] *= inv;
    }
}

static void layernorm_scalar(const float *x, float *y, ptrdiff_t rows, ptrdiff_t cols,
                             const float *w, const float *b, float eps) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *s = x + r * cols;
        float *d = y + r * cols;
        float mean = 0;
        for (ptrdiff_t j = 0; j < cols; j++) mean += s[j];
        mean /= (float)cols;
        float var = 0;
        for (ptrdiff_t j = 0; j < cols; j++) { float t = s[j] - mean; var += t * t; }
        var /= (float)cols;
        float inv = 1.0f / sqrtf(var + eps);
        for (ptrdiff_t j = 0; j < cols; j++) {
            float v = (s[j] - mean) * inv;
            d[j] = w ? v * w[j] + b[j] : v;
        }
    }
}

static void relpos_scalar(float *scores, ptrdiff_t rows, ptrdiff_t ld, const float *relh, const float *relw,
                          ptrdiff_t kh, ptrdiff_t kw) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *row = scores + r * ld;
        const float *h = relh + r * kh, *wv = relw + r * kw;
        for (ptrdiff_t i = 0; i < kh; i++) {
            float t = h[i];
            float *seg = row + i * kw;
            for (ptrdiff_t j = 0; j < kw; j++) seg[j] += t + wv[j];
        }
    }
}

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

static void depthwise_scalar(const float *x, float *out, ptrdiff_t h, ptrdiff_t w, const float *kernel,
                             ptrdiff_t k, ptrdiff_t s, ptrdiff_t p, float bias, ptrdiff_t oh, ptrdiff_t ow) {
    for (ptrdiff_t oy = 0; oy < oh; oy++)
        for (ptrdiff_t ox = 0; ox < ow; ox++) out[oy * ow + ox] = dw_pixel(x, h, w, kernel, k, s, p, bias, oy, ox);
}

// ---------------------------------------------------------------------------------------------
// AVX2 + FMA versions.

#ifdef MK_X86
#define MK_AVX2 __attribute__((target("avx2,fma")))

// exp (Cephes polynomial, as in the classic avx_mathfun), ~1 ulp over the clamped range.
MK_AVX2 static inline __m256 mk_exp256(__m256 x) {
    const __m256 hi = _mm256_set1_ps(88.3762626647949f), lo = _mm256_set1_ps(-88.3762626647949f);
    x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    __m256 fx = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f));
    fx = _mm256_floor_ps(fx);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 z = _mm256_mul_ps(x, x);
    // Cephes' degree-5 polynomial in Estrin form (shorter dependency chain than Horner).
    __m256 a = _mm256_fmadd_ps(_mm256_set1_ps(1.6666665459E-1f), x, _mm256_set1_ps(5.0000001201E-1f));
    __m256 b = _mm256_fmadd_ps(_mm256_set1_ps(8.3334519073E-3f), x, _mm256_set1_ps(4.1665795894E-2f));
    __m256 c = _mm256_fmadd_ps(_mm256_set1_ps(1.9875691500E-4f), x, _mm256_set1_ps(1.3981999507E-3f));
    __m256 z2 = _mm256_mul_ps(z, z);
    __m256 y = _mm256_fmadd_ps(c, z2, _mm256_fmadd_ps(b, z, a));
    y = _mm256_fmadd_ps(y, z, _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_cvttps_epi32(fx);
    e = _mm256_slli_epi32(_mm256_add_epi32(e, _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

MK_AVX2 static inline float mk_hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

MK_AVX2 static inline float mk_hmax256(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

MK_AVX2 static void softmax_avx2(float *x, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *p = x + r * ld;
        ptrdiff_t j = 0;
        __m256 vm = _mm256_set1_ps(-INFINITY);
        for (; j + 8 <= cols; j += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(p + j));
        float m = mk_hmax256(vm);
        for (; j < cols; j++) m = p[j] > m ? p[j] : m;
        __m256 vmax = _mm256_set1_ps(m), vs = _mm256_setzero_ps();
        j = 0;
        for (; j + 8 <= cols; j += 8) {
            __m256 e = mk_exp256(_mm256_sub_ps(_mm256_loadu_ps(p + j), vmax));
            _mm256_storeu_ps(p + j, e);
            vs = _mm256_add_ps(vs, e);
        }
        float s = mk_hsum256(vs);
        for (; j < cols; j++) { p[j] = expf(p[j] - m); s += p[j]; }
        float inv = 1.0f / s;
        __m256 vinv = _mm256_set1_ps(inv);
        j = 0;
        for (; j + 8 <= cols; j += 8) _mm256_storeu_ps(p + j, _mm256_mul_ps(_mm256_loadu_ps(p + j), vinv));
        for (; j < cols; j++) p[j] *= inv;
    }
}

MK_AVX2 static inline __m256 mk_gelu256(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    __m256 absx = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
    __m256 z = _mm256_mul_ps(absx, _mm256_set1_ps(0.70710678118654752f));
    __m256 den = _mm256_fmadd_ps(half, z, one);
    __m256 t = _mm256_rcp_ps(den);                              // 12 bits …
    t = _mm256_mul_ps(t, _mm256_fnmadd_ps(den, t, _mm256_set1_ps(2.0f)));   // … Newton → ~23 bits
    // Numerical Recipes' erfc polynomial, degree 9 in t, in Estrin form (depth 4 instead of 10).
    __m256 t2 = _mm256_mul_ps(t, t);
    __m256 t4 = _mm256_mul_ps(t2, t2);
    __m256 t8 = _mm256_mul_ps(t4, t4);
    __m256 p01 = _mm256_fmadd_ps(_mm256_set1_ps(1.00002368f), t, _mm256_set1_ps(-1.26551223f));
    __m256 p23 = _mm256_fmadd_ps(_mm256_set1_ps(0.09678418f), t, _mm256_set1_ps(0.37409196f));
    __m256 p45 = _mm256_fmadd_ps(_mm256_set1_ps(0.27886807f), t, _mm256_set1_ps(-0.18628806f));
    __m256 p67 = _mm256_fmadd_ps(_mm256_set1_ps(1.48851587f), t, _mm256_set1_ps(-1.13520398f));
    __m256 p89 = _mm256_fmadd_ps(_mm256_set1_ps(0.17087277f), t, _mm256_set1_ps(-0.82215223f));
    __m256 q0 = _mm256_fmadd_ps(p23, t2, p01);
    __m256 q1 = _mm256_fmadd_ps(p67, t2, p45);
    __m256 poly = _mm256_fmadd_ps(p89, t8, _mm256_fmadd_ps(q1, t4, q0));
    __m256 arg = _mm256_fnmadd_ps(z, z, poly);                 // -z² + poly
    __m256 halfErfc = _mm256_mul_ps(half, _mm256_mul_ps(t, mk_exp256(arg)));
    __m256 neg = _mm256_mul_ps(x, halfErfc);                    // x < 0: 0.5·x·erfc(|x|/√2)
    __m256 pos = _mm256_sub_ps(x, neg);                         // x ≥ 0: x − 0.5·x·erfc
    __m256 isNeg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    return _mm256_blendv_ps(pos, neg, isNeg);
}

MK_AVX2 static void gelu_avx2(float *x, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16) {   // two independent chains per iteration
        __m256 a = mk_gelu256(_mm256_loadu_ps(x + i)), b = mk_gelu256(_mm256_loadu_ps(x + i + 8));
        _mm256_storeu_ps(x + i, a);
        _mm256_storeu_ps(x + i + 8, b);
    }
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, mk_gelu256(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) x[i] = mk_gelu1(x[i]);
}

MK_AVX2 static void sigmoid_avx2(float *x, ptrdiff_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 e = mk_exp256(_mm256_sub_ps(_mm256_setzero_ps(), v));
        _mm256_storeu_ps(x + i, _mm256_div_ps(one, _mm256_add_ps(one, e)));
    }
    for (; i < n; i++) x[i] = 1.0f / (1.0f + expf(-x[i]));
}

MK_AVX2 static void layernorm_avx2(const float *x, float *y, ptrdiff_t rows, ptrdiff_t cols,
                                   const float *w, const float *b, float eps) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *s = x + r * cols;
        float *d = y + r * cols;
        ptrdiff_t j = 0;
        __m256 acc = _mm256_setzero_ps();
        for (; j + 8 <= cols; j += 8) acc = _mm256_add_ps(acc, _mm256_loadu_ps(s + j));
        float mean = mk_hsum256(acc);
        for (; j < cols; j++) mean += s[j];
        mean /= (float)cols;
        __m256 vm = _mm256_set1_ps(mean);
        acc = _mm256_setzero_ps();
        j = 0;
        for (; j + 8 <= cols; j += 8) {
            __m256 t = _mm256_sub_ps(_mm256_loadu_ps(s + j), vm);
            acc = _mm256_fmadd_ps(t, t, acc);
        }
        float var = mk_hsum256(acc);
        for (; j < cols; j++) { float t = s[j] - mean; var += t * t; }
        var /= (float)cols;
        float inv = 1.0f / sqrtf(var + eps);
        __m256 vinv = _mm256_set1_ps(inv);
        j = 0;
        if (w) {
            for (; j + 8 <= cols; j += 8) {
                __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(s + j), vm), vinv);
                _mm256_storeu_ps(d + j, _mm256_fmadd_ps(v, _mm256_loadu_ps(w + j), _mm256_loadu_ps(b + j)));
            }
            for (; j < cols; j++) d[j] = (s[j] - mean) * inv * w[j] + b[j];
        } else {
            for (; j + 8 <= cols; j += 8)
                _mm256_storeu_ps(d + j, _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(s + j), vm), vinv));
            for (; j < cols; j++) d[j] = (s[j] - mean) * inv;
        }
    }
}

MK_AVX2 static void relpos_avx2(float *scores, ptrdiff_t rows, ptrdiff_t ld, const float *relh, const float *relw,
                                ptrdiff_t kh, ptrdiff_t kw) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *row = scores + r * ld;
        const float *h = relh + r * kh, *wv = relw + r * kw;
        for (ptrdiff_t i = 0; i < kh; i++) {
            __m256 t = _mm256_set1_ps(h[i]);
            float *seg = row + i * kw;
            ptrdiff_t j = 0;
            for (; j + 8 <= kw; j += 8)
                _mm256_storeu_ps(seg + j, _mm256_add_ps(_mm256_loadu_ps(seg + j), _mm256_add_ps(t, _mm256_loadu_ps(wv + j))));
            for (; j < kw; j++) seg[j] += h[i] + wv[j];
        }
    }
}

// Stride-1 depthwise: vectorised over output columns in the interior, scalar at the borders.
MK_AVX2 static void depthwise_s1_avx2(const float *x, float *out, ptrdiff_t h, ptrdiff_t w, const float *kernel,
                                      ptrdiff_t k, ptrdiff_t p, float bias, ptrdiff_t oh, ptrdiff_t ow) {
    for (ptrdiff_t oy = 0; oy < oh; oy++) {
        float *o = out + oy * ow;
        // Interior columns: every tap in range horizontally.
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

MK_AVX2 static void bias_act_avx2(float *x, ptrdiff_t n, float b, int act) {
    __m256 vb = _mm256_set1_ps(b);
    ptrdiff_t i = 0;
    if (act == MK_ACT_GELU) {
        for (; i + 16 <= n; i += 16) {
            __m256 a = mk_gelu256(_mm256_add_ps(_mm256_loadu_ps(x + i), vb));
            __m256 c = mk_gelu256(_mm256_add_ps(_mm256_loadu_ps(x + i + 8), vb));
            _mm256_storeu_ps(x + i, a);
            _mm256_storeu_ps(x + i + 8, c);
        }
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, mk_gelu256(_mm256_add_ps(_mm256_loadu_ps(x + i), vb)));
        for (; i < n; i++) x[i] = mk_gelu1(x[i] + b);
    } else if (act == MK_ACT_RELU) {
        __m256 z = _mm256_setzero_ps();
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_max_ps(_mm256_add_ps(_mm256_loadu_ps(x + i), vb), z));
        for (; i < n; i++) { float v = x[i] + b; x[i] = v > 0 ? v : 0; }
    } else {
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_add_ps(_mm256_loadu_ps(x + i), vb));
        for (; i < n; i++) x[i] += b;
    }
}

MK_AVX2 static void bias_act_rows_avx2(float *x, ptrdiff_t rows, ptrdiff_t cols, const float *bias, int act) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *p = x + r * cols;
        ptrdiff_t j = 0;
        for (; j + 8 <= cols; j += 8) {
            __m256 v = _mm256_loadu_ps(p + j);
            if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + j));
            if (act == MK_ACT_GELU) v = mk_gelu256(v);
            else if (act == MK_ACT_RELU) v = _mm256_max_ps(v, _mm256_setzero_ps());
            _mm256_storeu_ps(p + j, v);
        }
        for (; j < cols; j++) {
            float v = p[j] + (bias ? bias[j] : 0);
            p[j] = act == MK_ACT_GELU ? mk_gelu1(v) : act == MK_ACT_RELU ? (v > 0 ? v : 0) : v;
        }
    }
}

MK_AVX2 static void dw3x3_nhwc_avx2(const float *x, float *out, ptrdiff_t h, ptrdiff_t w, ptrdiff_t c,
                                    const float *kt, const float *bias, ptrdiff_t r0, ptrdiff_t r1) {
    // kt is the kernel transposed to (9, c) so taps are contiguous over channels.
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
            for (; ch < c; ch++) {
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
    }
}

static int mk_detect(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

static int mk_avx2_state = -1;   // benign race: every thread computes the same value

int mk_has_avx2(void) {
#ifdef MK_X86
    if (mk_avx2_state < 0) mk_avx2_state = mk_detect();
    return mk_avx2_state;
#else
    return 0;
#endif
}

// ---------------------------------------------------------------------------------------------
// Dispatch.

void mk_softmax_rows(float *x, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld) {
#ifdef MK_X86
    if (mk_has_avx2()) { softmax_avx2(x, rows, cols, ld); return; }
#endif
    softmax_scalar(x, rows, cols, ld);
}

void mk_gelu(float *x, ptrdiff_t n) {
#ifdef MK_X86
    if (mk_has_avx2()) { gelu_avx2(x, n); return; }
#endif
    for (ptrdiff_t i = 0; i < n; i++) x[i] = mk_gelu1(x[i]);
}

void mk_sigmoid(float *x, ptrdiff_t n) {
#ifdef MK_X86
    if (mk_has_avx2()) { sigmoid_avx2(x, n); return; }
#endif
    for (ptrdiff_t i = 0; i < n; i++) x[i] = 1.0f / (1.0f + expf(-x[i]));
}

void mk_layernorm_rows(const float *x, float *y, ptrdiff_t rows, ptrdiff_t cols,
                       const float *w, const float *b, float eps) {
#ifdef MK_X86
    if (mk_has_avx2()) { layernorm_avx2(x, y, rows, cols, w, b, eps); return; }
#endif
    layernorm_scalar(x, y, rows, cols, w, b, eps);
}

void mk_add_relpos(float *scores, ptrdiff_t rows, ptrdiff_t ld, const float *relh, const float *relw,
                   ptrdiff_t kh, ptrdiff_t kw) {
#ifdef MK_X86
    if (mk_has_avx2()) { relpos_avx2(scores, rows, ld, relh, relw, kh, kw); return; }
#endif
    relpos_scalar(scores, rows, ld, relh, relw, kh, kw);
}

void mk_depthwise_plane(const float *x, float *out, ptrdiff_t h, ptrdiff_t w, const float *kernel,
                        ptrdiff_t k, ptrdiff_t s, ptrdiff_t p, float bias, ptrdiff_t oh, ptrdiff_t ow) {
#ifdef MK_X86
    if (s == 1 && mk_has_avx2()) { depthwise_s1_avx2(x, out, h, w, kernel, k, p, bias, oh, ow); return; }
#endif
    depthwise_scalar(x, out, h, w, kernel, k, s, p, bias, oh, ow);
}

void mk_bias_act_planes(float *x, ptrdiff_t channels, ptrdiff_t plane, const float *bias, int act) {
#ifdef MK_X86
    if (mk_has_avx2()) {
        for (ptrdiff_t c = 0; c < channels; c++) bias_act_avx2(x + c * plane, plane, bias ? bias[c] : 0, act);
        return;
    }
#endif
    for (ptrdiff_t c = 0; c < channels; c++) {
        float b = bias ? bias[c] : 0;
        float *p = x + c * plane;
        for (ptrdiff_t i = 0; i < plane; i++) {
            float v = p[i] + b;
            p[i] = act == MK_ACT_GELU ? mk_gelu1(v) : act == MK_ACT_RELU ? (v > 0 ? v : 0) : v;
        }
    }
}

void mk_bias_act_rows(float *x, ptrdiff_t rows, ptrdiff_t cols, const float *bias, int act) {
#ifdef MK_X86
    if (mk_has_avx2()) { bias_act_rows_avx2(x, rows, cols, bias, act); return; }
#endif
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *p = x + r * cols;
        for (ptrdiff_t j = 0; j < cols; j++) {
            float v = p[j] + (bias ? bias[j] : 0);
            p[j] = act == MK_ACT_GELU ? mk_gelu1(v) : act == MK_ACT_RELU ? (v > 0 ? v : 0) : v;
        }
    }
}

/// kernel here is already transposed to (9, c) by the caller.
void mk_depthwise3x3_nhwc(const float *x, float *out, ptrdiff_t h, ptrdiff_t w, ptrdiff_t c,
                          const float *kernel, const float *bias, ptrdiff_t row_begin, ptrdiff_t row_end) {
#ifdef MK_X86
    if (mk_has_avx2()) { dw3x3_nhwc_avx2(x, out, h, w, c, kernel, bias, row_begin, row_end); return; }
#endif
    for (ptrdiff_t y = row_begin; y < row_end; y++)
        for (ptrdiff_t xx = 0; xx < w; xx++)
            for (ptrdiff_t ch = 0; ch < c; ch++) {
                float acc = bias[ch];
                for (int ky = 0; ky < 3; ky++) {
                    ptrdiff_t iy = y + ky - 1;
                    if (iy < 0 || iy >= h) continue;
                    for (int kx = 0; kx < 3; kx++) {
                        ptrdiff_t ix = xx + kx - 1;
                        if (ix < 0 || ix >= w) continue;
                        acc += x[(iy * w + ix) * c + ch] * kernel[(ky * 3 + kx) * c + ch];
                    }
                }
                out[(y * w + xx) * c + ch] = acc;
            }
}

// Attention of many queries over few keys (SAM's image→token attention: 4096 queries, ~7 keys),
// all heads of one query row at once. q row r head h: q[r·ldq + h·d …]; same for k, v, out.
static void attn_few_keys_scalar(const float *q, ptrdiff_t ldq, const float *k, ptrdiff_t ldk,
                                 const float *v, ptrdiff_t ldv, float *out, ptrdiff_t ldo,
                                 ptrdiff_t rows, ptrdiff_t nk, ptrdiff_t heads, ptrdiff_t d, float scale, float *s) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *qr = q + r * ldq;
        float *o = out + r * ldo;
        for (ptrdiff_t h = 0; h < heads; h++) {
            float *sh = s + h * nk;
            float m = -INFINITY;
            for (ptrdiff_t j = 0; j < nk; j++) {
                const float *kj = k + j * ldk + h * d;
                float acc = 0;
                for (ptrdiff_t t = 0; t < d; t++) acc += qr[h * d + t] * kj[t];
                sh[j] = acc * scale;
                m = sh[j] > m ? sh[j] : m;
            }
            float sum = 0;
            for (ptrdiff_t j = 0; j < nk; j++) { sh[j] = expf(sh[j] - m); sum += sh[j]; }
            float inv = 1.0f / sum;
            for (ptrdiff_t t = 0; t < d; t++) o[h * d + t] = 0;
            for (ptrdiff_t j = 0; j < nk; j++) {
                const float *vj = v + j * ldv + h * d;
                float p = sh[j] * inv;
                for (ptrdiff_t t = 0; t < d; t++) o[h * d + t] += p * vj[t];
            }
        }
    }
}

#ifdef MK_X86
MK_AVX2 static void attn_few_keys_avx2(const float *q, ptrdiff_t ldq, const float *k, ptrdiff_t ldk,
                                       const float *v, ptrdiff_t ldv, float *out, ptrdiff_t ldo,
                                       ptrdiff_t rows, ptrdiff_t nk, ptrdiff_t heads, ptrdiff_t d, float scale, float *s) {
    const ptrdiff_t n = heads * nk;
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *qr = q + r * ldq;
        float *o = out + r * ldo;
        // Scores (max-subtracted per head).
        for (ptrdiff_t h = 0; h < heads; h++) {
            float *sh = s + h * nk;
            float m = -INFINITY;
            for (ptrdiff_t j = 0; j < nk; j++) {
                const float *kj = k + j * ldk + h * d;
                const float *qh = qr + h * d;
                __m256 acc = _mm256_setzero_ps();
                ptrdiff_t t = 0;
                for (; t + 8 <= d; t += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(qh + t), _mm256_loadu_ps(kj + t), acc);
                float a = mk_hsum256(acc);
                for (; t < d; t++) a += qh[t] * kj[t];
                sh[j] = a * scale;
                m = sh[j] > m ? sh[j] : m;
            }
            for (ptrdiff_t j = 0; j < nk; j++) sh[j] -= m;
        }
        ptrdiff_t i = 0;
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(s + i, mk_exp256(_mm256_loadu_ps(s + i)));
        for (; i < n; i++) s[i] = expf(s[i]);
        for (ptrdiff_t h = 0; h < heads; h++) {
            float *sh = s + h * nk;
            float sum = 0;
            for (ptrdiff_t j = 0; j < nk; j++) sum += sh[j];
            float inv = 1.0f / sum;
            float *oh = o + h * d;
            ptrdiff_t t = 0;
            for (; t + 8 <= d; t += 8) {
                __m256 acc = _mm256_setzero_ps();
                for (ptrdiff_t j = 0; j < nk; j++)
                    acc = _mm256_fmadd_ps(_mm256_set1_ps(sh[j]), _mm256_loadu_ps(v + j * ldv + h * d + t), acc);
                _mm256_storeu_ps(oh + t, _mm256_mul_ps(acc, _mm256_set1_ps(inv)));
            }
            for (; t < d; t++) {
                float acc = 0;
                for (ptrdiff_t j = 0; j < nk; j++) acc += sh[j] * v[j * ldv + h * d + t];
                oh[t] = acc * inv;
            }
        }
    }
}
#endif

void mk_attention_few_keys(const float *q, ptrdiff_t ldq, const float *k, ptrdiff_t ldk,
                           const float *v, ptrdiff_t ldv, float *out, ptrdiff_t ldo,
                           ptrdiff_t rows, ptrdiff_t nk, ptrdiff_t heads, ptrdiff_t d, float scale) {
    if (rows <= 0 || heads <= 0 || d <= 0) return;
    if (nk <= 0) {
        for (ptrdiff_t r = 0; r < rows; r++) for (ptrdiff_t t = 0; t < heads * d; t++) out[r * ldo + t] = NAN;
        return;
    }
    float stackbuf[512];
    float *s = heads * nk <= 512 ? stackbuf : (float *)malloc(sizeof(float) * (size_t)(heads * nk));
#ifdef MK_X86
    if (mk_has_avx2()) attn_few_keys_avx2(q, ldq, k, ldk, v, ldv, out, ldo, rows, nk, heads, d, scale, s);
    else
#endif
    attn_few_keys_scalar(q, ldq, k, ldk, v, ldv, out, ldo, rows, nk, heads, d, scale, s);
    if (s != stackbuf) free(s);
}

#ifdef MK_X86
MK_AVX2 static void transpose_add_avx2(const float *a, const float *b, float *out, ptrdiff_t rows, ptrdiff_t cols,
                                       ptrdiff_t j0, ptrdiff_t j1, ptrdiff_t i1) {
    // 8×8 blocks transposed in registers: rows i..i+8 of (a + b), columns j..j+8.
    for (ptrdiff_t j = j0; j < j1; j += 8) {
        for (ptrdiff_t i = 0; i < i1; i += 8) {
            __m256 r[8];
            for (int k = 0; k < 8; k++) {
                r[k] = _mm256_loadu_ps(a + (i + k) * cols + j);
                if (b) r[k] = _mm256_add_ps(r[k], _mm256_loadu_ps(b + (i + k) * cols + j));
            }
            __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
            __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
            __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
            __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
            __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
            __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
            __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
            __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
            __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
            __m256 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
            __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
            __m256 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
            _mm256_storeu_ps(out + (j + 0) * rows + i, _mm256_permute2f128_ps(u0, u4, 0x20));
            _mm256_storeu_ps(out + (j + 1) * rows + i, _mm256_permute2f128_ps(u1, u5, 0x20));
            _mm256_storeu_ps(out + (j + 2) * rows + i, _mm256_permute2f128_ps(u2, u6, 0x20));
            _mm256_storeu_ps(out + (j + 3) * rows + i, _mm256_permute2f128_ps(u3, u7, 0x20));
            _mm256_storeu_ps(out + (j + 4) * rows + i, _mm256_permute2f128_ps(u0, u4, 0x31));
            _mm256_storeu_ps(out + (j + 5) * rows + i, _mm256_permute2f128_ps(u1, u5, 0x31));
            _mm256_storeu_ps(out + (j + 6) * rows + i, _mm256_permute2f128_ps(u2, u6, 0x31));
            _mm256_storeu_ps(out + (j + 7) * rows + i, _mm256_permute2f128_ps(u3, u7, 0x31));
        }
    }
}
#endif

static void transpose_add_scalar(const float *a, const float *b, float *out, ptrdiff_t rows, ptrdiff_t cols,
                                 ptrdiff_t col_begin, ptrdiff_t col_end) {
    const ptrdiff_t B = 16;
    for (ptrdiff_t j0 = col_begin; j0 < col_end; j0 += B) {
        ptrdiff_t j1 = j0 + B < col_end ? j0 + B : col_end;
        for (ptrdiff_t i0 = 0; i0 < rows; i0 += B) {
            ptrdiff_t i1 = i0 + B < rows ? i0 + B : rows;
            for (ptrdiff_t j = j0; j < j1; j++) {
                float *o = out + j * rows;
                if (b) for (ptrdiff_t i = i0; i < i1; i++) o[i] = a[i * cols + j] + b[i * cols + j];
                else for (ptrdiff_t i = i0; i < i1; i++) o[i] = a[i * cols + j];
            }
        }
    }
}

void mk_add_rows(const float *a, const float *b, float *out, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void mk_transpose_add(const float *a, const float *b, float *out, ptrdiff_t rows, ptrdiff_t cols,
                      ptrdiff_t col_begin, ptrdiff_t col_end) {
#ifdef MK_X86
    if (mk_has_avx2() && rows >= 8) {
        ptrdiff_t j1 = col_begin + (col_end - col_begin) / 8 * 8, i1 = rows / 8 * 8;
        transpose_add_avx2(a, b, out, rows, cols, col_begin, j1, i1);
        // Leftover rows (channels) for the vector columns, then leftover columns.
        if (i1 < rows)
            for (ptrdiff_t j = col_begin; j < j1; j++)
                for (ptrdiff_t i = i1; i < rows; i++) out[j * rows + i] = a[i * cols + j] + (b ? b[i * cols + j] : 0);
        transpose_add_scalar(a, b, out, rows, cols, j1, col_end);
        return;
    }
#endif
    transpose_add_scalar(a, b, out, rows, cols, col_begin, col_end);
}

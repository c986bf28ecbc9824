// Row softmax (see include/mk_softmax.h).
#include "mk_internal.h"

static void softmax_portable(float *x, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld) {
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

static void softmax_lanes_portable(float *x, ptrdiff_t rows, ptrdiff_t ld, ptrdiff_t groups, ptrdiff_t count,
                                   ptrdiff_t lanes) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        for (ptrdiff_t g = 0; g < groups; g++) {
            float *p = x + r * ld + g * count * lanes;
            for (ptrdiff_t l = 0; l < lanes; l++) {
                float m = -INFINITY;
                for (ptrdiff_t j = 0; j < count; j++) m = p[j * lanes + l] > m ? p[j * lanes + l] : m;
                float s = 0;
                for (ptrdiff_t j = 0; j < count; j++) { p[j * lanes + l] = expf(p[j * lanes + l] - m); s += p[j * lanes + l]; }
                float inv = 1.0f / s;
                for (ptrdiff_t j = 0; j < count; j++) p[j * lanes + l] *= inv;
            }
        }
    }
}

#ifdef MK_X86
// The entries of one softmax are held in registers (up to LANES_HELD of them): each is loaded and stored once.
// Longer softmaxes (more than 16 prompt tokens) take the portable loop.
#define LANES_HELD 16

MK_AVX2 static void softmax_lanes_avx2(float *x, ptrdiff_t rows, ptrdiff_t ld, ptrdiff_t groups, ptrdiff_t count,
                                       ptrdiff_t lanes) {
    if (count > LANES_HELD) { softmax_lanes_portable(x, rows, ld, groups, count, lanes); return; }
    __m256 v[LANES_HELD];
    for (ptrdiff_t r = 0; r < rows; r++) {
        for (ptrdiff_t g = 0; g < groups; g++) {
            float *p = x + r * ld + g * count * lanes;
            for (ptrdiff_t l = 0; l < lanes; l += 8) {
                __m256i mask = mk_mask256(lanes - l);
                __m256 vm = _mm256_set1_ps(-INFINITY);
                for (ptrdiff_t j = 0; j < count; j++) {
                    v[j] = _mm256_maskload_ps(p + j * lanes + l, mask);
                    vm = _mm256_max_ps(vm, v[j]);
                }
                __m256 vs = _mm256_setzero_ps();
                for (ptrdiff_t j = 0; j < count; j++) {
                    v[j] = mk_exp256(_mm256_sub_ps(v[j], vm));
                    vs = _mm256_add_ps(vs, v[j]);
                }
                __m256 vinv = _mm256_div_ps(_mm256_set1_ps(1.0f), vs);
                for (ptrdiff_t j = 0; j < count; j++) _mm256_maskstore_ps(p + j * lanes + l, mask, _mm256_mul_ps(v[j], vinv));
            }
        }
    }
}

MK_AVX512 static void softmax_lanes_avx512(float *x, ptrdiff_t rows, ptrdiff_t ld, ptrdiff_t groups, ptrdiff_t count,
                                           ptrdiff_t lanes) {
    if (count > LANES_HELD) { softmax_lanes_portable(x, rows, ld, groups, count, lanes); return; }
    // Eight lanes or fewer (SAM's eight heads) fill a ymm register exactly: the 256-bit form does half the work.
    if (lanes <= 8) { softmax_lanes_avx2(x, rows, ld, groups, count, lanes); return; }
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    __m512 v[LANES_HELD];
    for (ptrdiff_t r = 0; r < rows; r++) {
        for (ptrdiff_t g = 0; g < groups; g++) {
            float *p = x + r * ld + g * count * lanes;
            for (ptrdiff_t l = 0; l < lanes; l += 16) {
                __mmask16 m = lanes - l >= 16 ? (__mmask16)0xFFFF : mk_tail16(lanes - l);
                __m512 vm = ninf;
                for (ptrdiff_t j = 0; j < count; j++) {
                    v[j] = _mm512_mask_loadu_ps(ninf, m, p + j * lanes + l);
                    vm = _mm512_max_ps(vm, v[j]);
                }
                __m512 vs = _mm512_setzero_ps();
                for (ptrdiff_t j = 0; j < count; j++) {
                    v[j] = mk_exp512(_mm512_maskz_sub_ps(m, v[j], vm));
                    vs = _mm512_add_ps(vs, v[j]);
                }
                __m512 vinv = _mm512_div_ps(_mm512_set1_ps(1.0f), vs);
                for (ptrdiff_t j = 0; j < count; j++) _mm512_mask_storeu_ps(p + j * lanes + l, m, _mm512_mul_ps(v[j], vinv));
            }
        }
    }
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

MK_AVX512 static void softmax_avx512(float *x, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld) {
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *p = x + r * ld;
        __m512 vm = ninf;
        for (ptrdiff_t j = 0; j < cols; j += 16) {
            __mmask16 m = cols - j >= 16 ? (__mmask16)0xFFFF : mk_tail16(cols - j);
            vm = _mm512_max_ps(vm, _mm512_mask_loadu_ps(ninf, m, p + j));
        }
        __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(vm)), vs = _mm512_setzero_ps();
        for (ptrdiff_t j = 0; j < cols; j += 16) {
            __mmask16 m = cols - j >= 16 ? (__mmask16)0xFFFF : mk_tail16(cols - j);
            __m512 e = mk_exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, p + j), vmax));
            _mm512_mask_storeu_ps(p + j, m, e);
            vs = _mm512_mask_add_ps(vs, m, vs, e);
        }
        __m512 vinv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(vs));
        for (ptrdiff_t j = 0; j < cols; j += 16) {
            __mmask16 m = cols - j >= 16 ? (__mmask16)0xFFFF : mk_tail16(cols - j);
            _mm512_mask_storeu_ps(p + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, p + j), vinv));
        }
    }
}
#endif

void mk_softmax_rows_v(int variant, float *x, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld) {
    if (rows <= 0 || cols <= 0) return;
    switch (mk_resolve_variant(variant)) {
#ifdef MK_X86
    case MK_VARIANT_AVX512: softmax_avx512(x, rows, cols, ld); return;
    case MK_VARIANT_AVX2: softmax_avx2(x, rows, cols, ld); return;
#endif
    default: softmax_portable(x, rows, cols, ld);
    }
}

void mk_softmax_lanes_v(int variant, float *x, ptrdiff_t rows, ptrdiff_t ld, ptrdiff_t groups, ptrdiff_t count,
                        ptrdiff_t lanes) {
    if (rows <= 0 || groups <= 0 || count <= 0 || lanes <= 0) return;
    switch (mk_resolve_variant(variant)) {
#ifdef MK_X86
    case MK_VARIANT_AVX512: softmax_lanes_avx512(x, rows, ld, groups, count, lanes); return;
    case MK_VARIANT_AVX2: softmax_lanes_avx2(x, rows, ld, groups, count, lanes); return;
#endif
    default: softmax_lanes_portable(x, rows, ld, groups, count, lanes);
    }
}

static void exp_columns_portable(float *x, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld, const float *colmax,
                                 float *colsum) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *p = x + r * ld;
        for (ptrdiff_t j = 0; j < cols; j++) { p[j] = expf(p[j] - colmax[j]); colsum[j] += p[j]; }
    }
}

#ifdef MK_X86
MK_AVX2 static void exp_columns_avx2(float *x, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld, const float *colmax,
                                     float *colsum) {
    for (ptrdiff_t j = 0; j < cols; j += 8) {
        __m256i mask = mk_mask256(cols - j);
        __m256 m = _mm256_maskload_ps(colmax + j, mask), s = _mm256_maskload_ps(colsum + j, mask);
        for (ptrdiff_t r = 0; r < rows; r++) {
            float *p = x + r * ld + j;
            __m256 e = mk_exp256(_mm256_sub_ps(_mm256_maskload_ps(p, mask), m));
            _mm256_maskstore_ps(p, mask, e);
            s = _mm256_add_ps(s, e);
        }
        _mm256_maskstore_ps(colsum + j, mask, s);
    }
}

MK_AVX512 static void exp_columns_avx512(float *x, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld, const float *colmax,
                                         float *colsum) {
    for (ptrdiff_t j = 0; j < cols; j += 16) {
        __mmask16 k = cols - j >= 16 ? (__mmask16)0xFFFF : mk_tail16(cols - j);
        __m512 m = _mm512_maskz_loadu_ps(k, colmax + j), s = _mm512_maskz_loadu_ps(k, colsum + j);
        for (ptrdiff_t r = 0; r < rows; r++) {
            float *p = x + r * ld + j;
            __m512 e = mk_exp512(_mm512_maskz_sub_ps(k, _mm512_maskz_loadu_ps(k, p), m));
            _mm512_mask_storeu_ps(p, k, e);
            s = _mm512_mask_add_ps(s, k, s, e);
        }
        _mm512_mask_storeu_ps(colsum + j, k, s);
    }
}
#endif

static void max_columns_portable(const float *x, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld, float *colmax) {
    for (ptrdiff_t r = 0; r < rows; r++)
        for (ptrdiff_t j = 0; j < cols; j++) colmax[j] = x[r * ld + j] > colmax[j] ? x[r * ld + j] : colmax[j];
}

#ifdef MK_X86
MK_AVX2 static void max_columns_avx2(const float *x, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld, float *colmax) {
    for (ptrdiff_t j = 0; j < cols; j += 8) {
        __m256i mask = mk_mask256(cols - j);
        __m256 m = _mm256_maskload_ps(colmax + j, mask);
        for (ptrdiff_t r = 0; r < rows; r++) m = _mm256_max_ps(m, _mm256_maskload_ps(x + r * ld + j, mask));
        _mm256_maskstore_ps(colmax + j, mask, m);
    }
}

MK_AVX512 static void max_columns_avx512(const float *x, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld, float *colmax) {
    for (ptrdiff_t j = 0; j < cols; j += 16) {
        __mmask16 k = cols - j >= 16 ? (__mmask16)0xFFFF : mk_tail16(cols - j);
        __m512 m = _mm512_maskz_loadu_ps(k, colmax + j);
        for (ptrdiff_t r = 0; r < rows; r++) m = _mm512_max_ps(m, _mm512_maskz_loadu_ps(k, x + r * ld + j));
        _mm512_mask_storeu_ps(colmax + j, k, m);
    }
}
#endif

void mk_max_columns_v(int variant, const float *x, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld, float *colmax) {
    if (rows <= 0 || cols <= 0) return;
    switch (mk_resolve_variant(variant)) {
#ifdef MK_X86
    case MK_VARIANT_AVX512: max_columns_avx512(x, rows, cols, ld, colmax); return;
    case MK_VARIANT_AVX2: max_columns_avx2(x, rows, cols, ld, colmax); return;
#endif
    default: max_columns_portable(x, rows, cols, ld, colmax);
    }
}

void mk_exp_columns_v(int variant, float *x, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld, const float *colmax,
                      float *colsum) {
    if (rows <= 0 || cols <= 0) return;
    switch (mk_resolve_variant(variant)) {
#ifdef MK_X86
    case MK_VARIANT_AVX512: exp_columns_avx512(x, rows, cols, ld, colmax, colsum); return;
    case MK_VARIANT_AVX2: exp_columns_avx2(x, rows, cols, ld, colmax, colsum); return;
#endif
    default: exp_columns_portable(x, rows, cols, ld, colmax, colsum);
    }
}

void mk_softmax_rows(float *x, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld) {
    mk_softmax_rows_v(MK_VARIANT_AUTO, x, rows, cols, ld);
}

// Layer normalisation over rows (see include/mk_normalization.h).
#include "mk_internal.h"

static void layernorm_portable(const float *x, float *y, ptrdiff_t rows, ptrdiff_t cols,
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

#ifdef MK_X86
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

MK_AVX512 static void layernorm_avx512(const float *x, float *y, ptrdiff_t rows, ptrdiff_t cols,
                                       const float *w, const float *b, float eps) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *s = x + r * cols;
        float *d = y + r * cols;
        __m512 acc = _mm512_setzero_ps();
        for (ptrdiff_t j = 0; j < cols; j += 16) {
            __mmask16 m = cols - j >= 16 ? (__mmask16)0xFFFF : mk_tail16(cols - j);
            acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, s + j));
        }
        float mean = _mm512_reduce_add_ps(acc) / (float)cols;
        __m512 vm = _mm512_set1_ps(mean);
        acc = _mm512_setzero_ps();
        for (ptrdiff_t j = 0; j < cols; j += 16) {
            __mmask16 m = cols - j >= 16 ? (__mmask16)0xFFFF : mk_tail16(cols - j);
            __m512 t = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, s + j), vm);
            acc = _mm512_fmadd_ps(t, t, acc);
        }
        float var = _mm512_reduce_add_ps(acc) / (float)cols;
        __m512 vinv = _mm512_set1_ps(1.0f / sqrtf(var + eps));
        for (ptrdiff_t j = 0; j < cols; j += 16) {
            __mmask16 m = cols - j >= 16 ? (__mmask16)0xFFFF : mk_tail16(cols - j);
            __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + j), vm), vinv);
            if (w) v = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, w + j), _mm512_maskz_loadu_ps(m, b + j));
            _mm512_mask_storeu_ps(d + j, m, v);
        }
    }
}
#endif

void mk_layernorm_rows_v(int variant, const float *x, float *y, ptrdiff_t rows, ptrdiff_t cols,
                         const float *w, const float *b, float eps) {
    switch (mk_resolve_variant(variant)) {
#ifdef MK_X86
    case MK_VARIANT_AVX512: layernorm_avx512(x, y, rows, cols, w, b, eps); return;
    case MK_VARIANT_AVX2: layernorm_avx2(x, y, rows, cols, w, b, eps); return;
#endif
    default: layernorm_portable(x, y, rows, cols, w, b, eps);
    }
}

void mk_layernorm_rows(const float *x, float *y, ptrdiff_t rows, ptrdiff_t cols,
                       const float *w, const float *b, float eps) {
    mk_layernorm_rows_v(MK_VARIANT_AUTO, x, y, rows, cols, w, b, eps);
}

// GEMM epilogues: bias + activation on a tile (see include/mk_epilogues.h).
#include "mk_internal.h"

static void bias_act_plane_portable(float *p, ptrdiff_t n, float b, int act) {
    for (ptrdiff_t i = 0; i < n; i++) p[i] = mk_act1(p[i] + b, act);
}

static void bias_act_rows_portable(float *x, ptrdiff_t rows, ptrdiff_t cols, const float *bias, int act) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *p = x + r * cols;
        for (ptrdiff_t j = 0; j < cols; j++) p[j] = mk_act1(p[j] + (bias ? bias[j] : 0), act);
    }
}

#ifdef MK_X86
MK_AVX2 static void bias_act_plane_avx2(float *x, ptrdiff_t n, float b, int act) {
    __m256 vb = _mm256_set1_ps(b);
    ptrdiff_t i = 0;
    if (act == MK_ACT_GELU) {
        for (; i + 16 <= n; i += 16) {
            __m256 a = mk_gelu256(_mm256_add_ps(_mm256_loadu_ps(x + i), vb));
            __m256 c = mk_gelu256(_mm256_add_ps(_mm256_loadu_ps(x + i + 8), vb));
            _mm256_storeu_ps(x + i, a);
            _mm256_storeu_ps(x + i + 8, c);
        }
    }
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, mk_act256(_mm256_add_ps(_mm256_loadu_ps(x + i), vb), act));
    if (i < n) mk_act_tail256(x + i, n - i, vb, act);
}

MK_AVX2 static void bias_act_rows_avx2(float *x, ptrdiff_t rows, ptrdiff_t cols, const float *bias, int act) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *p = x + r * cols;
        ptrdiff_t j = 0;
        for (; j + 8 <= cols; j += 8) {
            __m256 v = _mm256_loadu_ps(p + j);
            if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + j));
            _mm256_storeu_ps(p + j, mk_act256(v, act));
        }
        if (j < cols) {
            float bt[8] = {0};
            if (bias) memcpy(bt, bias + j, (size_t)(cols - j) * sizeof(float));
            mk_act_tail256(p + j, cols - j, _mm256_loadu_ps(bt), act);
        }
    }
}

MK_AVX512 static void bias_act_plane_avx512(float *x, ptrdiff_t n, float b, int act) {
    __m512 vb = _mm512_set1_ps(b);
    ptrdiff_t i = 0;
    if (act == MK_ACT_GELU) {
        for (; i + 32 <= n; i += 32) {
            __m512 a = mk_gelu512(_mm512_add_ps(_mm512_loadu_ps(x + i), vb));
            __m512 c = mk_gelu512(_mm512_add_ps(_mm512_loadu_ps(x + i + 16), vb));
            _mm512_storeu_ps(x + i, a);
            _mm512_storeu_ps(x + i + 16, c);
        }
    }
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : mk_tail16(n - i);
        _mm512_mask_storeu_ps(x + i, m, mk_act512(_mm512_add_ps(_mm512_maskz_loadu_ps(m, x + i), vb), act));
    }
}

MK_AVX512 static void bias_act_rows_avx512(float *x, ptrdiff_t rows, ptrdiff_t cols, const float *bias, int act) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *p = x + r * cols;
        for (ptrdiff_t j = 0; j < cols; j += 16) {
            __mmask16 m = cols - j >= 16 ? (__mmask16)0xFFFF : mk_tail16(cols - j);
            __m512 v = _mm512_maskz_loadu_ps(m, p + j);
            if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias + j));
            _mm512_mask_storeu_ps(p + j, m, mk_act512(v, act));
        }
    }
}
#endif

void mk_bias_act_planes_v(int variant, float *x, ptrdiff_t channels, ptrdiff_t plane, const float *bias, int act) {
    int v = mk_resolve_variant(variant);
    for (ptrdiff_t c = 0; c < channels; c++) {
        float b = bias ? bias[c] : 0;
        float *p = x + c * plane;
        switch (v) {
#ifdef MK_X86
        case MK_VARIANT_AVX512: bias_act_plane_avx512(p, plane, b, act); break;
        case MK_VARIANT_AVX2: bias_act_plane_avx2(p, plane, b, act); break;
#endif
        default: bias_act_plane_portable(p, plane, b, act);
        }
    }
}

void mk_bias_act_rows_v(int variant, float *x, ptrdiff_t rows, ptrdiff_t cols, const float *bias, int act) {
    switch (mk_resolve_variant(variant)) {
#ifdef MK_X86
    case MK_VARIANT_AVX512: bias_act_rows_avx512(x, rows, cols, bias, act); return;
    case MK_VARIANT_AVX2: bias_act_rows_avx2(x, rows, cols, bias, act); return;
#endif
    default: bias_act_rows_portable(x, rows, cols, bias, act);
    }
}

void mk_bias_act_planes(float *x, ptrdiff_t channels, ptrdiff_t plane, const float *bias, int act) {
    mk_bias_act_planes_v(MK_VARIANT_AUTO, x, channels, plane, bias, act);
}
void mk_bias_act_rows(float *x, ptrdiff_t rows, ptrdiff_t cols, const float *bias, int act) {
    mk_bias_act_rows_v(MK_VARIANT_AUTO, x, rows, cols, bias, act);
}

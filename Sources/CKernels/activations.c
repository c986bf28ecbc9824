// Activations: exact-erf GELU and the logistic sigmoid (see include/mk_activations.h).
#include "mk_internal.h"

static void gelu_portable(float *x, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) x[i] = mk_gelu1(x[i]);
}

static void sigmoid_portable(float *x, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) x[i] = 1.0f / (1.0f + expf(-x[i]));
}

#ifdef MK_X86
MK_AVX2 static void gelu_avx2(float *x, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16) {   // two independent chains per iteration
        __m256 a = mk_gelu256(_mm256_loadu_ps(x + i)), b = mk_gelu256(_mm256_loadu_ps(x + i + 8));
        _mm256_storeu_ps(x + i, a);
        _mm256_storeu_ps(x + i + 8, b);
    }
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, mk_gelu256(_mm256_loadu_ps(x + i)));
    if (i < n) mk_act_tail256(x + i, n - i, _mm256_setzero_ps(), MK_ACT_GELU);
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

MK_AVX512 static void gelu_avx512(float *x, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 a = mk_gelu512(_mm512_loadu_ps(x + i)), b = mk_gelu512(_mm512_loadu_ps(x + i + 16));
        _mm512_storeu_ps(x + i, a);
        _mm512_storeu_ps(x + i + 16, b);
    }
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, mk_gelu512(_mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = mk_tail16(n - i);
        _mm512_mask_storeu_ps(x + i, m, mk_gelu512(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

MK_AVX512 static void sigmoid_avx512(float *x, ptrdiff_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (ptrdiff_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : mk_tail16(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512 e = mk_exp512(_mm512_sub_ps(_mm512_setzero_ps(), v));
        _mm512_mask_storeu_ps(x + i, m, _mm512_div_ps(one, _mm512_add_ps(one, e)));
    }
}
#endif

void mk_gelu_v(int variant, float *x, ptrdiff_t n) {
    switch (mk_resolve_variant(variant)) {
#ifdef MK_X86
    case MK_VARIANT_AVX512: gelu_avx512(x, n); return;
    case MK_VARIANT_AVX2: gelu_avx2(x, n); return;
#endif
    default: gelu_portable(x, n);
    }
}

void mk_sigmoid_v(int variant, float *x, ptrdiff_t n) {
    switch (mk_resolve_variant(variant)) {
#ifdef MK_X86
    case MK_VARIANT_AVX512: sigmoid_avx512(x, n); return;
    case MK_VARIANT_AVX2: sigmoid_avx2(x, n); return;
#endif
    default: sigmoid_portable(x, n);
    }
}

void mk_gelu(float *x, ptrdiff_t n) { mk_gelu_v(MK_VARIANT_AUTO, x, n); }
void mk_sigmoid(float *x, ptrdiff_t n) { mk_sigmoid_v(MK_VARIANT_AUTO, x, n); }

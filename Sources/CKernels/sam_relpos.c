// Model-specific: SAM ViT's decomposed relative-position add (see include/mk_sam_relpos.h).
#include "mk_internal.h"

static void relpos_portable(float *scores, ptrdiff_t rows, ptrdiff_t ld, const float *relh, const float *relw,
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

#ifdef MK_X86
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

MK_AVX512 static void relpos_avx512(float *scores, ptrdiff_t rows, ptrdiff_t ld, const float *relh, const float *relw,
                                    ptrdiff_t kh, ptrdiff_t kw) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *row = scores + r * ld;
        const float *h = relh + r * kh, *wv = relw + r * kw;
        for (ptrdiff_t i = 0; i < kh; i++) {
            __m512 t = _mm512_set1_ps(h[i]);
            float *seg = row + i * kw;
            for (ptrdiff_t j = 0; j < kw; j += 16) {
                __mmask16 m = kw - j >= 16 ? (__mmask16)0xFFFF : mk_tail16(kw - j);
                __m512 add = _mm512_add_ps(t, _mm512_maskz_loadu_ps(m, wv + j));
                _mm512_mask_storeu_ps(seg + j, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, seg + j), add));
            }
        }
    }
}
#endif

void mk_add_relpos_v(int variant, float *scores, ptrdiff_t rows, ptrdiff_t ld, const float *relh, const float *relw,
                     ptrdiff_t kh, ptrdiff_t kw) {
    switch (mk_resolve_variant(variant)) {
#ifdef MK_X86
    case MK_VARIANT_AVX512: relpos_avx512(scores, rows, ld, relh, relw, kh, kw); return;
    case MK_VARIANT_AVX2: relpos_avx2(scores, rows, ld, relh, relw, kh, kw); return;
#endif
    default: relpos_portable(scores, rows, ld, relh, relw, kh, kw);
    }
}

void mk_add_relpos(float *scores, ptrdiff_t rows, ptrdiff_t ld, const float *relh, const float *relw,
                   ptrdiff_t kh, ptrdiff_t kw) {
    mk_add_relpos_v(MK_VARIANT_AUTO, scores, rows, ld, relh, relw, kh, kw);
}

// Attention of many queries over few keys (SAM's image→token attention: 4096 queries, ~7 keys),
// all heads of one query row at once (see include/mk_attention.h).
#include "mk_internal.h"

static void few_keys_portable(const float *q, ptrdiff_t ldq, const float *k, ptrdiff_t ldk,
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
MK_AVX2 static void few_keys_avx2(const float *q, ptrdiff_t ldq, const float *k, ptrdiff_t ldk,
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

MK_AVX512 static void few_keys_avx512(const float *q, ptrdiff_t ldq, const float *k, ptrdiff_t ldk,
                                      const float *v, ptrdiff_t ldv, float *out, ptrdiff_t ldo,
                                      ptrdiff_t rows, ptrdiff_t nk, ptrdiff_t heads, ptrdiff_t d, float scale, float *s) {
    const ptrdiff_t n = heads * nk;
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *qr = q + r * ldq;
        float *o = out + r * ldo;
        for (ptrdiff_t h = 0; h < heads; h++) {
            float *sh = s + h * nk;
            const float *qh = qr + h * d;
            float m = -INFINITY;
            for (ptrdiff_t j = 0; j < nk; j++) {
                const float *kj = k + j * ldk + h * d;
                __m512 acc = _mm512_setzero_ps();
                for (ptrdiff_t t = 0; t < d; t += 16) {
                    __mmask16 mk = d - t >= 16 ? (__mmask16)0xFFFF : mk_tail16(d - t);
                    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, qh + t), _mm512_maskz_loadu_ps(mk, kj + t), acc);
                }
                sh[j] = _mm512_reduce_add_ps(acc) * scale;
                m = sh[j] > m ? sh[j] : m;
            }
            for (ptrdiff_t j = 0; j < nk; j++) sh[j] -= m;
        }
        for (ptrdiff_t i = 0; i < n; i += 16) {
            __mmask16 mk = n - i >= 16 ? (__mmask16)0xFFFF : mk_tail16(n - i);
            _mm512_mask_storeu_ps(s + i, mk, mk_exp512(_mm512_maskz_loadu_ps(mk, s + i)));
        }
        for (ptrdiff_t h = 0; h < heads; h++) {
            float *sh = s + h * nk;
            float sum = 0;
            for (ptrdiff_t j = 0; j < nk; j++) sum += sh[j];
            __m512 vinv = _mm512_set1_ps(1.0f / sum);
            float *oh = o + h * d;
            for (ptrdiff_t t = 0; t < d; t += 16) {
                __mmask16 mk = d - t >= 16 ? (__mmask16)0xFFFF : mk_tail16(d - t);
                __m512 acc = _mm512_setzero_ps();
                for (ptrdiff_t j = 0; j < nk; j++)
                    acc = _mm512_fmadd_ps(_mm512_set1_ps(sh[j]), _mm512_maskz_loadu_ps(mk, v + j * ldv + h * d + t), acc);
                _mm512_mask_storeu_ps(oh + t, mk, _mm512_mul_ps(acc, vinv));
            }
        }
    }
}
#endif

void mk_attention_few_keys_v(int variant, const float *q, ptrdiff_t ldq, const float *k, ptrdiff_t ldk,
                             const float *v, ptrdiff_t ldv, float *out, ptrdiff_t ldo,
                             ptrdiff_t rows, ptrdiff_t nk, ptrdiff_t heads, ptrdiff_t d, float scale) {
    if (rows <= 0 || heads <= 0 || d <= 0) return;
    if (nk <= 0) {
        for (ptrdiff_t r = 0; r < rows; r++) for (ptrdiff_t t = 0; t < heads * d; t++) out[r * ldo + t] = NAN;
        return;
    }
    float stackbuf[512];
    float *s = heads * nk <= 512 ? stackbuf : (float *)malloc(sizeof(float) * (size_t)(heads * nk));
    if (!s) {   // out of memory for an unusually large key count: NaN rather than a crash
        for (ptrdiff_t r = 0; r < rows; r++) for (ptrdiff_t t = 0; t < heads * d; t++) out[r * ldo + t] = NAN;
        return;
    }
    switch (mk_resolve_variant(variant)) {
#ifdef MK_X86
    case MK_VARIANT_AVX512: few_keys_avx512(q, ldq, k, ldk, v, ldv, out, ldo, rows, nk, heads, d, scale, s); break;
    case MK_VARIANT_AVX2: few_keys_avx2(q, ldq, k, ldk, v, ldv, out, ldo, rows, nk, heads, d, scale, s); break;
#endif
    default: few_keys_portable(q, ldq, k, ldk, v, ldv, out, ldo, rows, nk, heads, d, scale, s);
    }
    if (s != stackbuf) free(s);
}

void mk_attention_few_keys(const float *q, ptrdiff_t ldq, const float *k, ptrdiff_t ldk,
                           const float *v, ptrdiff_t ldv, float *out, ptrdiff_t ldo,
                           ptrdiff_t rows, ptrdiff_t nk, ptrdiff_t heads, ptrdiff_t d, float scale) {
    mk_attention_few_keys_v(MK_VARIANT_AUTO, q, ldq, k, ldk, v, ldv, out, ldo, rows, nk, heads, d, scale);
}

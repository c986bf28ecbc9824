// int8 GEMM for the encoders' Linear layers (see include/mk_gemm_int8.h): weight quantisation and packing,
// dynamic row quantisation, and the blocked micro-kernels (portable, AVX2, AVX-VNNI, AVX-512 VNNI) with the
// fused dequantise + bias + activation epilogue.
#include "mk_internal.h"
#include "mk_gemm_int8.h"

#ifdef MK_X86
#define MK_Q8_AVX512VNNI_T __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")))
#define MK_Q8_AVXVNNI_T __attribute__((target("avxvnni,avx2,fma")))
#endif

ptrdiff_t mk_q8_padded_depth(ptrdiff_t k) { return (k + 3) / 4 * 4; }
ptrdiff_t mk_q8_padded_columns(ptrdiff_t n) { return (n + 15) / 16 * 16; }

static inline int8_t q8_round(float v) {
    float r = nearbyintf(v);
    if (!(r <= 127.0f)) r = (r != r) ? 0.0f : 127.0f;   // NaN → 0
    if (r < -127.0f) r = -127.0f;
    return (int8_t)r;
}

void mk_q8_quantize_weights(const float *w, ptrdiff_t n, ptrdiff_t k, int8_t *q, float *scale) {
    for (ptrdiff_t r = 0; r < n; r++) {
        const float *row = w + r * k;
        float amax = 0;
        for (ptrdiff_t j = 0; j < k; j++) { float a = fabsf(row[j]); if (a > amax) amax = a; }
        float inv = amax > 0 ? 127.0f / amax : 0.0f;
        scale[r] = amax / 127.0f;
        for (ptrdiff_t j = 0; j < k; j++) q[r * k + j] = q8_round(row[j] * inv);
    }
}

void mk_q8_pack(const int8_t *q, ptrdiff_t n, ptrdiff_t k, int8_t *packed, int32_t *colsum) {
    ptrdiff_t kp = mk_q8_padded_depth(k), np = mk_q8_padded_columns(n), kg = kp / 4;
    memset(packed, 0, (size_t)(np * kp));
    for (ptrdiff_t j = 0; j < np; j++) {
        int32_t s = 0;
        if (j < n) {
            ptrdiff_t p = j / 16, c = j % 16;
            for (ptrdiff_t t = 0; t < k; t++) {
                int8_t v = q[j * k + t];
                packed[(p * kg + t / 4) * 64 + c * 4 + t % 4] = v;
                s += v;
            }
        }
        colsum[j] = s;
    }
}

// ---------------------------------------------------------------------------------------------
// Row quantisation.

static void quantize_rows_portable(const float *x, ptrdiff_t ldx, ptrdiff_t rows, ptrdiff_t k,
                                   int8_t *q, ptrdiff_t ldq, float *scale) {
    ptrdiff_t kp = mk_q8_padded_depth(k);
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *row = x + r * ldx;
        int8_t *qr = q + r * ldq;
        float amax = 0;
        for (ptrdiff_t j = 0; j < k; j++) { float a = fabsf(row[j]); if (a > amax) amax = a; }
        float inv = amax > 0 ? 127.0f / amax : 0.0f;
        scale[r] = amax / 127.0f;
        for (ptrdiff_t j = 0; j < k; j++) qr[j] = q8_round(row[j] * inv);
        for (ptrdiff_t j = k; j < kp; j++) qr[j] = 0;
    }
}

#ifdef MK_X86
MK_Q8_AVX512VNNI_T static void quantize_rows_avx512(const float *x, ptrdiff_t ldx, ptrdiff_t rows, ptrdiff_t k,
                                           int8_t *q, ptrdiff_t ldq, float *scale) {
    ptrdiff_t kp = mk_q8_padded_depth(k);
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *row = x + r * ldx;
        int8_t *qr = q + r * ldq;
        __m512 vmax = _mm512_setzero_ps();
        for (ptrdiff_t j = 0; j < k; j += 16) {
            __mmask16 m = k - j >= 16 ? (__mmask16)0xFFFF : mk_tail16(k - j);
            vmax = _mm512_max_ps(vmax, _mm512_abs_ps(_mm512_maskz_loadu_ps(m, row + j)));
        }
        float amax = _mm512_reduce_max_ps(vmax);
        float inv = amax > 0 ? 127.0f / amax : 0.0f;
        scale[r] = amax / 127.0f;
        __m512 vinv = _mm512_set1_ps(inv), hi = _mm512_set1_ps(127.0f), lo = _mm512_set1_ps(-127.0f);
        for (ptrdiff_t j = 0; j < k; j += 16) {
            __mmask16 m = k - j >= 16 ? (__mmask16)0xFFFF : mk_tail16(k - j);
            __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, row + j), vinv);
            v = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
            _mm_mask_storeu_epi8(qr + j, m, _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(v)));
        }
        for (ptrdiff_t j = k; j < kp; j++) qr[j] = 0;
    }
}

MK_AVX2 static void quantize_rows_avx2(const float *x, ptrdiff_t ldx, ptrdiff_t rows, ptrdiff_t k,
                                       int8_t *q, ptrdiff_t ldq, float *scale) {
    ptrdiff_t kp = mk_q8_padded_depth(k);
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *row = x + r * ldx;
        int8_t *qr = q + r * ldq;
        __m256 vmax = _mm256_setzero_ps();
        ptrdiff_t j = 0;
        for (; j + 8 <= k; j += 8) vmax = _mm256_max_ps(vmax, _mm256_and_ps(_mm256_loadu_ps(row + j), absmask));
        float amax = mk_hmax256(vmax);
        for (; j < k; j++) { float a = fabsf(row[j]); if (a > amax) amax = a; }
        float inv = amax > 0 ? 127.0f / amax : 0.0f;
        scale[r] = amax / 127.0f;
        __m256 vinv = _mm256_set1_ps(inv), hi = _mm256_set1_ps(127.0f), lo = _mm256_set1_ps(-127.0f);
        for (j = 0; j + 8 <= k; j += 8) {
            __m256 v = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(row + j), vinv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
            __m256i i32 = _mm256_cvtps_epi32(v);
            __m128i i16 = _mm_packs_epi32(_mm256_castsi256_si128(i32), _mm256_extracti128_si256(i32, 1));
            _mm_storel_epi64((__m128i *)(qr + j), _mm_packs_epi16(i16, i16));
        }
        for (; j < k; j++) qr[j] = q8_round(row[j] * inv);
        for (j = k; j < kp; j++) qr[j] = 0;
    }
}
#endif

void mk_q8_quantize_rows_v(int variant, const float *x, ptrdiff_t ldx, ptrdiff_t rows, ptrdiff_t k,
                           int8_t *q, ptrdiff_t ldq, float *scale) {
    int v = mk_q8_resolve_variant(variant);
#ifdef MK_X86
    if (v == MK_Q8_AVX512VNNI) { quantize_rows_avx512(x, ldx, rows, k, q, ldq, scale); return; }
    if (v >= MK_Q8_AVX2) { quantize_rows_avx2(x, ldx, rows, k, q, ldq, scale); return; }
#endif
    (void)v;
    quantize_rows_portable(x, ldx, rows, k, q, ldq, scale);
}

// ---------------------------------------------------------------------------------------------
// GEMM: portable.

static void q8_gemm_portable(const int8_t *a, ptrdiff_t lda, const float *ascale, ptrdiff_t m,
                             const int8_t *packed, const float *wscale, ptrdiff_t n, ptrdiff_t kp,
                             const float *bias, int act, float *out, ptrdiff_t ldo) {
    ptrdiff_t kg = kp / 4;
    for (ptrdiff_t i = 0; i < m; i++) {
        const int8_t *ar = a + i * lda;
        for (ptrdiff_t j = 0; j < n; j++) {
            const int8_t *panel = packed + (j / 16) * kg * 64 + (j % 16) * 4;
            int32_t acc = 0;
            for (ptrdiff_t g = 0; g < kg; g++)
                for (int t = 0; t < 4; t++) acc += (int32_t)ar[g * 4 + t] * (int32_t)panel[g * 64 + t];
            float v = fmaf((float)acc, ascale[i] * wscale[j], bias ? bias[j] : 0.0f);
            out[i * ldo + j] = mk_act1(v, act);
        }
    }
}

#ifdef MK_X86
// ---------------------------------------------------------------------------------------------
// AVX-512 VNNI: tiles of up to 6 rows × 4 panels (64 columns), 24 zmm accumulators.

MK_Q8_AVX512VNNI_T MK_INLINE void q8_tile_512(int mr, int np, const int8_t *a, ptrdiff_t lda, const float *ascale,
                                              const int8_t *b, ptrdiff_t pstride, ptrdiff_t kg, const int32_t *colsum,
                                              const float *wscale, const float *bias, ptrdiff_t ncols, int act,
                                              float *out, ptrdiff_t ldo) {
    __m512i acc[6][4];
    for (int r = 0; r < 6; r++)
        for (int p = 0; p < 4; p++) acc[r][p] = _mm512_setzero_si512();
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    for (ptrdiff_t g = 0; g < kg; g++) {
        __m512i bv[4];
        for (int p = 0; p < np; p++) bv[p] = _mm512_loadu_si512((const void *)(b + p * pstride + g * 64));
        for (int r = 0; r < mr; r++) {
            int32_t word;
            memcpy(&word, a + r * lda + g * 4, 4);
            __m512i av = _mm512_xor_si512(_mm512_set1_epi32(word), flip);      // a + 128 as u8
            for (int p = 0; p < np; p++) acc[r][p] = _mm512_dpbusd_epi32(acc[r][p], av, bv[p]);
        }
    }
    for (int p = 0; p < np; p++) {
        ptrdiff_t left = ncols - p * 16;
        __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : mk_tail16(left);
        __m512i corr = _mm512_slli_epi32(_mm512_loadu_si512((const void *)(colsum + p * 16)), 7);   // 128·Σw
        __m512 ws = _mm512_loadu_ps(wscale + p * 16);
        __m512 bv = bias ? _mm512_maskz_loadu_ps(m, bias + p * 16) : _mm512_setzero_ps();
        for (int r = 0; r < mr; r++) {
            __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][p], corr));
            __m512 s = _mm512_mul_ps(_mm512_set1_ps(ascale[r]), ws);
            v = mk_act512(_mm512_fmadd_ps(v, s, bv), act);
            _mm512_mask_storeu_ps(out + r * ldo + p * 16, m, v);
        }
    }
}

#define Q8_512_CASE(MR, NP) case (MR) * 8 + (NP): \
    q8_tile_512(MR, NP, a, lda, ascale, b, pstride, kg, colsum, wscale, bias, ncols, act, out, ldo); break;

MK_Q8_AVX512VNNI_T static void q8_tile_512_any(int mr, int np, const int8_t *a, ptrdiff_t lda, const float *ascale,
                                               const int8_t *b, ptrdiff_t pstride, ptrdiff_t kg, const int32_t *colsum,
                                               const float *wscale, const float *bias, ptrdiff_t ncols, int act,
                                               float *out, ptrdiff_t ldo) {
    switch (mr * 8 + np) {
        Q8_512_CASE(6, 4) Q8_512_CASE(6, 3) Q8_512_CASE(6, 2) Q8_512_CASE(6, 1)
        Q8_512_CASE(5, 4) Q8_512_CASE(5, 3) Q8_512_CASE(5, 2) Q8_512_CASE(5, 1)
        Q8_512_CASE(4, 4) Q8_512_CASE(4, 3) Q8_512_CASE(4, 2) Q8_512_CASE(4, 1)
        Q8_512_CASE(3, 4) Q8_512_CASE(3, 3) Q8_512_CASE(3, 2) Q8_512_CASE(3, 1)
        Q8_512_CASE(2, 4) Q8_512_CASE(2, 3) Q8_512_CASE(2, 2) Q8_512_CASE(2, 1)
        Q8_512_CASE(1, 4) Q8_512_CASE(1, 3) Q8_512_CASE(1, 2) Q8_512_CASE(1, 1)
        default: break;
    }
}

MK_Q8_AVX512VNNI_T static void q8_gemm_avx512vnni(const int8_t *a, ptrdiff_t lda, const float *ascale, ptrdiff_t m,
                                                  const int8_t *packed, const int32_t *colsum, const float *wscale,
                                                  ptrdiff_t n, ptrdiff_t kp, const float *bias, int act,
                                                  float *out, ptrdiff_t ldo) {
    ptrdiff_t kg = kp / 4, pstride = kg * 64, panels = mk_q8_padded_columns(n) / 16;
    for (ptrdiff_t p0 = 0; p0 < panels; p0 += 4) {
        int np = (int)(panels - p0 < 4 ? panels - p0 : 4);
        ptrdiff_t j0 = p0 * 16;
        for (ptrdiff_t i0 = 0; i0 < m; i0 += 6) {
            int mr = (int)(m - i0 < 6 ? m - i0 : 6);
            q8_tile_512_any(mr, np, a + i0 * lda, lda, ascale + i0, packed + p0 * pstride, pstride, kg,
                            colsum + j0, wscale + j0, bias ? bias + j0 : NULL, n - j0, act, out + i0 * ldo + j0, ldo);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 256-bit kernels: one panel (16 columns, two ymm) × up to MR rows.

// The per-panel constants of the 256-bit epilogue, loaded once per tile (not once per row): bias and, for the
// shifted (u8·s8) forms, 128·Σw of the panel's 16 columns; columns past `ncols` read as zero.
typedef struct { __m256 b0, b1; __m256i c0, c1; } q8_panel256;

MK_AVX2 MK_INLINE q8_panel256 q8_panel_constants256(const int32_t *colsum, const float *bias, ptrdiff_t ncols) {
    q8_panel256 k;
    if (bias && ncols >= 16) {
        k.b0 = _mm256_loadu_ps(bias);
        k.b1 = _mm256_loadu_ps(bias + 8);
    } else if (bias) {
        float btmp[16] = {0};
        for (ptrdiff_t c = 0; c < ncols; c++) btmp[c] = bias[c];
        k.b0 = _mm256_loadu_ps(btmp);
        k.b1 = _mm256_loadu_ps(btmp + 8);
    } else {
        k.b0 = k.b1 = _mm256_setzero_ps();
    }
    // colsum is padded to whole panels (mk_q8_padded_columns), so 16 values are always readable.
    k.c0 = colsum ? _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)colsum), 7) : _mm256_setzero_si256();
    k.c1 = colsum ? _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)(colsum + 8)), 7) : _mm256_setzero_si256();
    return k;
}

// Dequantise + bias + activation of one row's two ymm accumulators (16 columns, `ncols` of them kept).
MK_AVX2 MK_INLINE void q8_store_row256(__m256i lo, __m256i hi, const q8_panel256 *k, float ascale,
                                       const float *wscale, ptrdiff_t ncols, int act, float *out) {
    lo = _mm256_sub_epi32(lo, k->c0);
    hi = _mm256_sub_epi32(hi, k->c1);
    __m256 as = _mm256_set1_ps(ascale);
    __m256 v0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lo), _mm256_mul_ps(as, _mm256_loadu_ps(wscale)), k->b0);
    __m256 v1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hi), _mm256_mul_ps(as, _mm256_loadu_ps(wscale + 8)), k->b1);
    v0 = mk_act256(v0, act);
    v1 = mk_act256(v1, act);
    if (ncols >= 16) {
        _mm256_storeu_ps(out, v0);
        _mm256_storeu_ps(out + 8, v1);
    } else {
        float tmp[16];
        _mm256_storeu_ps(tmp, v0);
        _mm256_storeu_ps(tmp + 8, v1);
        memcpy(out, tmp, (size_t)ncols * sizeof(float));
    }
}

MK_Q8_AVXVNNI_T MK_INLINE void q8_tile_vnni256(int mr, const int8_t *a, ptrdiff_t lda, const float *ascale,
                                               const int8_t *b, ptrdiff_t kg, const int32_t *colsum,
                                               const float *wscale, const float *bias, ptrdiff_t ncols, int act,
                                               float *out, ptrdiff_t ldo) {
    __m256i acc[6][2];
    for (int r = 0; r < 6; r++) { acc[r][0] = _mm256_setzero_si256(); acc[r][1] = _mm256_setzero_si256(); }
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (ptrdiff_t g = 0; g < kg; g++) {
        __m256i b0 = _mm256_loadu_si256((const __m256i *)(b + g * 64));
        __m256i b1 = _mm256_loadu_si256((const __m256i *)(b + g * 64 + 32));
        for (int r = 0; r < mr; r++) {
            int32_t word;
            memcpy(&word, a + r * lda + g * 4, 4);
            __m256i av = _mm256_xor_si256(_mm256_set1_epi32(word), flip);
            acc[r][0] = _mm256_dpbusd_avx_epi32(acc[r][0], av, b0);
            acc[r][1] = _mm256_dpbusd_avx_epi32(acc[r][1], av, b1);
        }
    }
    q8_panel256 pk = q8_panel_constants256(colsum, bias, ncols);
    for (int r = 0; r < mr; r++)
        q8_store_row256(acc[r][0], acc[r][1], &pk, ascale[r], wscale, ncols, act, out + r * ldo);
}

MK_AVX2 MK_INLINE void q8_tile_avx2(int mr, const int8_t *a, ptrdiff_t lda, const float *ascale,
                                    const int8_t *b, ptrdiff_t kg, const float *wscale, const float *bias,
                                    ptrdiff_t ncols, int act, float *out, ptrdiff_t ldo) {
    __m256i acc[4][2];
    for (int r = 0; r < 4; r++) { acc[r][0] = _mm256_setzero_si256(); acc[r][1] = _mm256_setzero_si256(); }
    const __m256i ones = _mm256_set1_epi16(1);
    for (ptrdiff_t g = 0; g < kg; g++) {
        __m256i b0 = _mm256_loadu_si256((const __m256i *)(b + g * 64));
        __m256i b1 = _mm256_loadu_si256((const __m256i *)(b + g * 64 + 32));
        for (int r = 0; r < mr; r++) {
            int32_t word;
            memcpy(&word, a + r * lda + g * 4, 4);
            __m256i av = _mm256_set1_epi32(word);
            __m256i aabs = _mm256_abs_epi8(av);
            // |a|·(sign(a)·w): pairs of products ≤ 2·128·127 < 2^15, so vpmaddubsw never saturates.
            __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(aabs, _mm256_sign_epi8(b0, av)), ones);
            __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(aabs, _mm256_sign_epi8(b1, av)), ones);
            acc[r][0] = _mm256_add_epi32(acc[r][0], p0);
            acc[r][1] = _mm256_add_epi32(acc[r][1], p1);
        }
    }
    q8_panel256 pk = q8_panel_constants256(NULL, bias, ncols);
    for (int r = 0; r < mr; r++)
        q8_store_row256(acc[r][0], acc[r][1], &pk, ascale[r], wscale, ncols, act, out + r * ldo);
}

MK_Q8_AVXVNNI_T static void q8_gemm_avxvnni(const int8_t *a, ptrdiff_t lda, const float *ascale, ptrdiff_t m,
                                            const int8_t *packed, const int32_t *colsum, const float *wscale,
                                            ptrdiff_t n, ptrdiff_t kp, const float *bias, int act,
                                            float *out, ptrdiff_t ldo) {
    ptrdiff_t kg = kp / 4, panels = mk_q8_padded_columns(n) / 16;
    for (ptrdiff_t p = 0; p < panels; p++) {
        ptrdiff_t j0 = p * 16;
        const float *bj = bias ? bias + j0 : NULL;
        for (ptrdiff_t i0 = 0; i0 < m; i0 += 6) {
            int mr = (int)(m - i0 < 6 ? m - i0 : 6);
            const int8_t *ai = a + i0 * lda;
            float *o = out + i0 * ldo + j0;
            const int8_t *b = packed + p * kg * 64;
            switch (mr) {
            case 6: q8_tile_vnni256(6, ai, lda, ascale + i0, b, kg, colsum + j0, wscale + j0, bj, n - j0, act, o, ldo); break;
            case 5: q8_tile_vnni256(5, ai, lda, ascale + i0, b, kg, colsum + j0, wscale + j0, bj, n - j0, act, o, ldo); break;
            case 4: q8_tile_vnni256(4, ai, lda, ascale + i0, b, kg, colsum + j0, wscale + j0, bj, n - j0, act, o, ldo); break;
            case 3: q8_tile_vnni256(3, ai, lda, ascale + i0, b, kg, colsum + j0, wscale + j0, bj, n - j0, act, o, ldo); break;
            case 2: q8_tile_vnni256(2, ai, lda, ascale + i0, b, kg, colsum + j0, wscale + j0, bj, n - j0, act, o, ldo); break;
            default: q8_tile_vnni256(1, ai, lda, ascale + i0, b, kg, colsum + j0, wscale + j0, bj, n - j0, act, o, ldo); break;
            }
        }
    }
}

MK_AVX2 static void q8_gemm_avx2(const int8_t *a, ptrdiff_t lda, const float *ascale, ptrdiff_t m,
                                 const int8_t *packed, const float *wscale, ptrdiff_t n, ptrdiff_t kp,
                                 const float *bias, int act, float *out, ptrdiff_t ldo) {
    ptrdiff_t kg = kp / 4, panels = mk_q8_padded_columns(n) / 16;
    for (ptrdiff_t p = 0; p < panels; p++) {
        ptrdiff_t j0 = p * 16;
        const float *bj = bias ? bias + j0 : NULL;
        for (ptrdiff_t i0 = 0; i0 < m; i0 += 4) {
            int mr = (int)(m - i0 < 4 ? m - i0 : 4);
            const int8_t *ai = a + i0 * lda;
            float *o = out + i0 * ldo + j0;
            const int8_t *b = packed + p * kg * 64;
            switch (mr) {
            case 4: q8_tile_avx2(4, ai, lda, ascale + i0, b, kg, wscale + j0, bj, n - j0, act, o, ldo); break;
            case 3: q8_tile_avx2(3, ai, lda, ascale + i0, b, kg, wscale + j0, bj, n - j0, act, o, ldo); break;
            case 2: q8_tile_avx2(2, ai, lda, ascale + i0, b, kg, wscale + j0, bj, n - j0, act, o, ldo); break;
            default: q8_tile_avx2(1, ai, lda, ascale + i0, b, kg, wscale + j0, bj, n - j0, act, o, ldo); break;
            }
        }
    }
}
#endif

void mk_q8_gemm_v(int variant, const int8_t *a, ptrdiff_t lda, const float *ascale, ptrdiff_t m,
                  const int8_t *packed, const int32_t *colsum, const float *wscale, ptrdiff_t n, ptrdiff_t kp,
                  const float *bias, int act, float *out, ptrdiff_t ldo) {
    if (m <= 0 || n <= 0) return;
    switch (mk_q8_resolve_variant(variant)) {
#ifdef MK_X86
    case MK_Q8_AVX512VNNI: q8_gemm_avx512vnni(a, lda, ascale, m, packed, colsum, wscale, n, kp, bias, act, out, ldo); return;
    case MK_Q8_AVXVNNI: q8_gemm_avxvnni(a, lda, ascale, m, packed, colsum, wscale, n, kp, bias, act, out, ldo); return;
    case MK_Q8_AVX2: q8_gemm_avx2(a, lda, ascale, m, packed, wscale, n, kp, bias, act, out, ldo); return;
#endif
    default: q8_gemm_portable(a, lda, ascale, m, packed, wscale, n, kp, bias, act, out, ldo);
    }
}

// bf16 GEMM for the encoders' Linear layers (see include/mk_gemm_int8.h): bf16 weights packed at load,
// activations rounded to bf16 per call, fp32 accumulation with AVX512_BF16 vdpbf16ps, fused bias +
// activation epilogue. The portable variant is the scalar reference (same pair order), not a fallback.
#include "mk_internal.h"
#include "mk_gemm_int8.h"

#ifdef MK_X86
#define MK_BF16_T __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma")))
#endif

ptrdiff_t mk_bf16_padded_depth(ptrdiff_t k) { return (k + 1) / 2 * 2; }

uint16_t mk_bf16_from_float(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40);   // quiet NaN
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float bf16_to_float(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void bf16_pack_impl(const float *wf, const uint16_t *wb, ptrdiff_t rs, ptrdiff_t cs, ptrdiff_t n, ptrdiff_t k,
                           float scale, uint16_t *packed) {
    ptrdiff_t kp = mk_bf16_padded_depth(k), np = mk_q8_padded_columns(n), kg = kp / 2;
    memset(packed, 0, (size_t)(np * kp) * sizeof(uint16_t));
    for (ptrdiff_t j = 0; j < n; j++) {
        ptrdiff_t p = j / 16, c = j % 16;
        for (ptrdiff_t t = 0; t < k; t++)
            packed[(p * kg + t / 2) * 32 + c * 2 + t % 2] =
                wf ? mk_bf16_from_float(wf[j * rs + t * cs] * scale) : wb[j * rs + t * cs];
    }
}

void mk_bf16_pack(const float *w, ptrdiff_t n, ptrdiff_t k, uint16_t *packed) { bf16_pack_impl(w, NULL, k, 1, n, k, 1.0f, packed); }
void mk_bf16_pack_bits(const uint16_t *w, ptrdiff_t n, ptrdiff_t k, uint16_t *packed) {
    bf16_pack_impl(NULL, w, k, 1, n, k, 1.0f, packed);
}
#ifdef MK_X86
// One 64-byte panel row (16 columns × one depth pair) per step: two masked gathers (columns past n and a depth
// past k read as 0), the scale, and vcvtne2ps2bf16 (round to nearest even, as mk_bf16_from_float for normal
// values); a permute interleaves the pair. Per-call packing of attention keys and values (AttentionKernel).
MK_BF16_T static void bf16_pack_strided_avx512(const float *w, ptrdiff_t rs, ptrdiff_t cs, ptrdiff_t n, ptrdiff_t k,
                                               float scale, uint16_t *packed) {
    ptrdiff_t kp = mk_bf16_padded_depth(k), panels = mk_q8_padded_columns(n) / 16, kg = kp / 2;
    const __m512i lanes = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i rows = _mm512_mullo_epi32(lanes, _mm512_set1_epi32((int)rs));
    const __m512i second = _mm512_add_epi32(rows, _mm512_set1_epi32((int)cs));
    // cvtne2ps(b, a) = [bf16(a0..a15), bf16(b0..b15)]; the panel wants a0 b0 a1 b1 ….
    const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                                23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512 vs = _mm512_set1_ps(scale);
    for (ptrdiff_t p = 0; p < panels; p++) {
        ptrdiff_t left = n - p * 16;
        __mmask16 cols = left >= 16 ? (__mmask16)0xFFFF : mk_tail16(left);
        const float *base = w + p * 16 * rs;
        for (ptrdiff_t g = 0; g < kg; g++) {
            const float *at = base + 2 * g * cs;
            __m512 a = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), cols, rows, at, 4);
            __m512 b = 2 * g + 1 < k ? _mm512_mask_i32gather_ps(_mm512_setzero_ps(), cols, second, at, 4) : _mm512_setzero_ps();
            __m512bh h = _mm512_cvtne2ps_pbh(_mm512_mul_ps(b, vs), _mm512_mul_ps(a, vs));
            __m512i bits;
            memcpy(&bits, &h, sizeof bits);
            _mm512_storeu_si512((void *)(packed + (p * kg + g) * 32), _mm512_permutexvar_epi16(interleave, bits));
        }
    }
}
#endif

void mk_bf16_pack_strided(const float *w, ptrdiff_t rs, ptrdiff_t cs, ptrdiff_t n, ptrdiff_t k, float scale,
                          uint16_t *packed) {
#ifdef MK_X86
    // Gather offsets are 32-bit: 15·rs + cs must fit.
    if (mk_bf16_native() && 15 * rs + cs <= INT32_MAX && rs >= 0 && cs >= 0) {
        bf16_pack_strided_avx512(w, rs, cs, n, k, scale, packed);
        return;
    }
#endif
    bf16_pack_impl(w, NULL, rs, cs, n, k, scale, packed);
}

#ifdef MK_X86
MK_BF16_T static void bf16_convert_rows_avx512(const float *x, ptrdiff_t ldx, ptrdiff_t rows, ptrdiff_t k,
                                               uint16_t *q, ptrdiff_t ldq) {
    ptrdiff_t kp = mk_bf16_padded_depth(k);
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *row = x + r * ldx;
        uint16_t *qr = q + r * ldq;
        for (ptrdiff_t j = 0; j < k; j += 16) {
            __mmask16 m = k - j >= 16 ? (__mmask16)0xFFFF : mk_tail16(k - j);
            __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, row + j));
            __m256i bits;
            memcpy(&bits, &h, sizeof bits);
            _mm256_mask_storeu_epi16(qr + j, m, bits);
        }
        for (ptrdiff_t j = k; j < kp; j++) qr[j] = 0;
    }
}
#endif

void mk_bf16_convert_rows_v(int variant, const float *x, ptrdiff_t ldx, ptrdiff_t rows, ptrdiff_t k,
                            uint16_t *q, ptrdiff_t ldq) {
#ifdef MK_X86
    if (variant != MK_BF16_PORTABLE && mk_bf16_native()) { bf16_convert_rows_avx512(x, ldx, rows, k, q, ldq); return; }
#endif
    (void)variant;
    ptrdiff_t kp = mk_bf16_padded_depth(k);
    for (ptrdiff_t r = 0; r < rows; r++) {
        for (ptrdiff_t j = 0; j < k; j++) q[r * ldq + j] = mk_bf16_from_float(x[r * ldx + j]);
        for (ptrdiff_t j = k; j < kp; j++) q[r * ldq + j] = 0;
    }
}

static void bf16_gemm_portable(const uint16_t *a, ptrdiff_t lda, ptrdiff_t m, const uint16_t *packed,
                               ptrdiff_t n, ptrdiff_t kp, const float *bias, int act, float *out, ptrdiff_t ldo) {
    ptrdiff_t kg = kp / 2;
    for (ptrdiff_t i = 0; i < m; i++) {
        for (ptrdiff_t j = 0; j < n; j++) {
            const uint16_t *panel = packed + (j / 16) * kg * 32 + (j % 16) * 2;
            float acc = 0;
            for (ptrdiff_t g = 0; g < kg; g++) {
                // vdpbf16ps' order: the odd element of the pair first, then the even one.
                acc += bf16_to_float(a[i * lda + 2 * g + 1]) * bf16_to_float(panel[g * 32 + 1]);
                acc += bf16_to_float(a[i * lda + 2 * g]) * bf16_to_float(panel[g * 32]);
            }
            out[i * ldo + j] = mk_act1(acc + (bias ? bias[j] : 0.0f), act);
        }
    }
}

#ifdef MK_X86
MK_BF16_T MK_INLINE void bf16_tile(int mr, int np, const uint16_t *a, ptrdiff_t lda, const uint16_t *b, ptrdiff_t pstride,
                                   ptrdiff_t kg, const float *bias, ptrdiff_t ncols, int act, float *out, ptrdiff_t ldo) {
    __m512 acc[6][4];
    for (int r = 0; r < 6; r++)
        for (int p = 0; p < 4; p++) acc[r][p] = _mm512_setzero_ps();
    for (ptrdiff_t g = 0; g < kg; g++) {
        __m512bh bv[4];
        for (int p = 0; p < np; p++) {
            __m512i raw = _mm512_loadu_si512((const void *)(b + p * pstride + g * 32));
            memcpy(&bv[p], &raw, sizeof raw);
        }
        for (int r = 0; r < mr; r++) {
            int32_t word;
            memcpy(&word, a + r * lda + g * 2, 4);
            __m512i raw = _mm512_set1_epi32(word);
            __m512bh av;
            memcpy(&av, &raw, sizeof raw);
            for (int p = 0; p < np; p++) acc[r][p] = _mm512_dpbf16_ps(acc[r][p], av, bv[p]);
        }
    }
    for (int p = 0; p < np; p++) {
        ptrdiff_t left = ncols - p * 16;
        __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : mk_tail16(left);
        __m512 bb = bias ? _mm512_maskz_loadu_ps(m, bias + p * 16) : _mm512_setzero_ps();
        for (int r = 0; r < mr; r++)
            _mm512_mask_storeu_ps(out + r * ldo + p * 16, m, mk_act512(_mm512_add_ps(acc[r][p], bb), act));
    }
}

#define BF16_CASE(MR, NP) case (MR) * 8 + (NP): bf16_tile(MR, NP, a, lda, b, pstride, kg, bias, ncols, act, out, ldo); break;

MK_BF16_T static void bf16_tile_any(int mr, int np, const uint16_t *a, ptrdiff_t lda, const uint16_t *b, ptrdiff_t pstride,
                                    ptrdiff_t kg, const float *bias, ptrdiff_t ncols, int act, float *out, ptrdiff_t ldo) {
    switch (mr * 8 + np) {
        BF16_CASE(6, 4) BF16_CASE(6, 3) BF16_CASE(6, 2) BF16_CASE(6, 1)
        BF16_CASE(5, 4) BF16_CASE(5, 3) BF16_CASE(5, 2) BF16_CASE(5, 1)
        BF16_CASE(4, 4) BF16_CASE(4, 3) BF16_CASE(4, 2) BF16_CASE(4, 1)
        BF16_CASE(3, 4) BF16_CASE(3, 3) BF16_CASE(3, 2) BF16_CASE(3, 1)
        BF16_CASE(2, 4) BF16_CASE(2, 3) BF16_CASE(2, 2) BF16_CASE(2, 1)
        BF16_CASE(1, 4) BF16_CASE(1, 3) BF16_CASE(1, 2) BF16_CASE(1, 1)
        default: break;
    }
}

MK_BF16_T static void bf16_gemm_avx512(const uint16_t *a, ptrdiff_t lda, ptrdiff_t m, const uint16_t *packed,
                                       ptrdiff_t n, ptrdiff_t kp, const float *bias, int act, float *out, ptrdiff_t ldo) {
    ptrdiff_t kg = kp / 2, pstride = kg * 32, panels = mk_q8_padded_columns(n) / 16;
    for (ptrdiff_t p0 = 0; p0 < panels; p0 += 4) {
        int np = (int)(panels - p0 < 4 ? panels - p0 : 4);
        ptrdiff_t j0 = p0 * 16;
        for (ptrdiff_t i0 = 0; i0 < m; i0 += 6) {
            int mr = (int)(m - i0 < 6 ? m - i0 : 6);
            bf16_tile_any(mr, np, a + i0 * lda, lda, packed + p0 * pstride, pstride, kg,
                          bias ? bias + j0 : NULL, n - j0, act, out + i0 * ldo + j0, ldo);
        }
    }
}
#endif

void mk_bf16_gemm_v(int variant, const uint16_t *a, ptrdiff_t lda, ptrdiff_t m, const uint16_t *packed,
                    ptrdiff_t n, ptrdiff_t kp, const float *bias, int act, float *out, ptrdiff_t ldo) {
    if (m <= 0 || n <= 0) return;
#ifdef MK_X86
    if (variant != MK_BF16_PORTABLE && mk_bf16_native()) { bf16_gemm_avx512(a, lda, m, packed, n, kp, bias, act, out, ldo); return; }
#endif
    (void)variant;
    bf16_gemm_portable(a, lda, m, packed, n, kp, bias, act, out, ldo);
}

// The package's own fp32 GEMM on weights packed at load (see include/mk_gemm_f32.h).
//
// Loop order. AVX2 (BLIS's, with the weights as the packed operand): depth block → block of MC rows → group of
// panels → micro-rows; a group's weight slice (16 columns × depth block) stays in L1 across the micro-rows of a row
// block, the row block of activations (MC × depth block, read in place) in L2 across the panel groups. AVX-512:
// depth block → block of NC columns (the weight slice in L2) → 12 rows, copied once to a stack buffer of constant
// row stride (in L1; the tile's 12 broadcasts then need no address arithmetic: 5 % faster on the LiteMedSAM encoder
// than reading them in place) → panel pairs. Register tiles: AVX2 6 × 16 (12 ymm accumulators), AVX-512 12 × 32
// (24 zmm). The epilogue (earlier blocks' sum, bias, residual, activation) runs on the registers of each tile.
#include "mk_internal.h"
#include "mk_gemm_f32.h"

enum { KC_AVX2 = 320, KC_AVX512 = 384, MC_AVX2 = 120, NC_AVX512 = 320 };

ptrdiff_t mk_f32_packed_count(ptrdiff_t n, ptrdiff_t k) { return (n + 15) / 16 * 16 * k; }

void mk_f32_pack(const float *w, ptrdiff_t n, ptrdiff_t k, float *packed) {
    mk_f32_pack_strided(w, k, 1, n, k, 1.0f, packed);
}

void mk_f32_pack_strided(const float *w, ptrdiff_t row_stride, ptrdiff_t column_stride, ptrdiff_t n, ptrdiff_t k,
                         float scale, float *packed) {
    ptrdiff_t panels = (n + 15) / 16;
    for (ptrdiff_t p = 0; p < panels; p++)
        for (ptrdiff_t t = 0; t < k; t++)
            for (ptrdiff_t c = 0; c < 16; c++) {
                ptrdiff_t j = p * 16 + c;
                float x = j < n ? w[j * row_stride + t * column_stride] : 0.0f;
                packed[(p * k + t) * 16 + c] = scale == 1.0f ? x : x * scale;
            }
}

void mk_f32_unpack(const float *packed, ptrdiff_t n, ptrdiff_t k, float *w) {
    for (ptrdiff_t j = 0; j < n; j++)
        for (ptrdiff_t t = 0; t < k; t++) w[j * k + t] = packed[((j / 16) * k + t) * 16 + j % 16];
}

static ptrdiff_t equal_blocks(ptrdiff_t k, ptrdiff_t most) {
    if (k <= most) return k > 0 ? k : 1;
    ptrdiff_t blocks = (k + most - 1) / most;
    return (k + blocks - 1) / blocks;
}

ptrdiff_t mk_f32_depth_block(int variant, ptrdiff_t k) {
    return equal_blocks(k, mk_resolve_variant(variant) == MK_VARIANT_AVX512 ? KC_AVX512 : KC_AVX2);
}

void mk_f32_gemm_reference(ptrdiff_t kc, const float *a, ptrdiff_t lda, ptrdiff_t m, const float *packed, ptrdiff_t n,
                           ptrdiff_t k, const float *bias, const float *res, ptrdiff_t ldr, int act, float *out,
                           ptrdiff_t ldo) {
    if (kc < 1) kc = 1;
    for (ptrdiff_t i = 0; i < m; i++)
        for (ptrdiff_t j = 0; j < n; j++) {
            const float *w = packed + (j / 16) * k * 16 + j % 16;
            float v = 0;
            for (ptrdiff_t k0 = 0; k0 < k; k0 += kc) {
                ptrdiff_t k1 = k0 + kc < k ? k0 + kc : k;
                float s = 0;
                for (ptrdiff_t t = k0; t < k1; t++) s = fmaf(a[i * lda + t], w[t * 16], s);
                v = k0 == 0 ? s : v + s;
            }
            if (bias) v = v + bias[j];
            if (res) v = v + res[i * ldr + j];
            out[i * ldo + j] = mk_act1(v, act);
        }
}

#ifdef MK_X86
// ---------------------------------------------------------------------------------------------
// AVX2 + FMA: 6 × 16 tiles (two ymm per row).

MK_AVX2 MK_INLINE void f32_tile_avx2(int mr, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t kb, int first,
                                     int last, const float *bias, const float *res, ptrdiff_t ldr, ptrdiff_t ncols,
                                     int act, float *out, ptrdiff_t ldo) {
    __m256 acc[6][2];
    for (int r = 0; r < 6; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int r = 0; r < mr; r++) _mm_prefetch((const char *)(out + r * ldo), _MM_HINT_T0);
    for (ptrdiff_t t = 0; t < kb; t++) {
        __m256 b0 = _mm256_loadu_ps(b + t * 16), b1 = _mm256_loadu_ps(b + t * 16 + 8);
        for (int r = 0; r < mr; r++) {
            __m256 av = _mm256_broadcast_ss(a + r * lda + t);
            acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
        }
    }
    for (int h = 0; h < 2; h++) {
        ptrdiff_t left = ncols - h * 8;
        if (left <= 0) break;
        int whole = left >= 8;
        __m256i m = mk_mask256(left);
        __m256 bb = _mm256_setzero_ps();
        if (last && bias) bb = whole ? _mm256_loadu_ps(bias + h * 8) : _mm256_maskload_ps(bias + h * 8, m);
        for (int r = 0; r < mr; r++) {
            float *o = out + r * ldo + h * 8;
            __m256 v = acc[r][h];
            if (!first) v = _mm256_add_ps(whole ? _mm256_loadu_ps(o) : _mm256_maskload_ps(o, m), v);
            if (last) {
                if (bias) v = _mm256_add_ps(v, bb);
                if (res) {
                    const float *q = res + r * ldr + h * 8;
                    v = _mm256_add_ps(v, whole ? _mm256_loadu_ps(q) : _mm256_maskload_ps(q, m));
                }
                v = mk_act256(v, act);
            }
            if (whole) _mm256_storeu_ps(o, v); else _mm256_maskstore_ps(o, m, v);
        }
    }
}

#define F32_AVX2_CASE(MR) case MR: f32_tile_avx2(MR, a, lda, b, kb, first, last, bias, res, ldr, ncols, act, out, ldo); break;

MK_AVX2 static void f32_tile_avx2_any(int mr, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t kb, int first,
                                      int last, const float *bias, const float *res, ptrdiff_t ldr, ptrdiff_t ncols,
                                      int act, float *out, ptrdiff_t ldo) {
    switch (mr) {
        F32_AVX2_CASE(6) F32_AVX2_CASE(5) F32_AVX2_CASE(4) F32_AVX2_CASE(3) F32_AVX2_CASE(2) F32_AVX2_CASE(1)
        default: break;
    }
}

MK_AVX2 static void f32_gemm_avx2(const float *a, ptrdiff_t lda, ptrdiff_t m, const float *packed, ptrdiff_t n,
                                  ptrdiff_t k, const float *bias, const float *res, ptrdiff_t ldr, int act, float *out,
                                  ptrdiff_t ldo) {
    ptrdiff_t kc = equal_blocks(k, KC_AVX2), panels = (n + 15) / 16;
    for (ptrdiff_t k0 = 0; k0 < k; k0 += kc) {
        ptrdiff_t kb = k - k0 < kc ? k - k0 : kc;
        int first = k0 == 0, last = k0 + kb >= k;
        for (ptrdiff_t i0 = 0; i0 < m; i0 += MC_AVX2) {
            ptrdiff_t i1 = i0 + MC_AVX2 < m ? i0 + MC_AVX2 : m;
            for (ptrdiff_t p = 0; p < panels; p++) {
                ptrdiff_t j0 = p * 16;
                const float *b = packed + (p * k + k0) * 16;
                for (ptrdiff_t i = i0; i < i1; i += 6) {
                    int mr = (int)(i1 - i < 6 ? i1 - i : 6);
                    f32_tile_avx2_any(mr, a + i * lda + k0, lda, b, kb, first, last, bias ? bias + j0 : NULL,
                                      res ? res + i * ldr + j0 : NULL, ldr, n - j0, act, out + i * ldo + j0, ldo);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// AVX-512F: 12 × 32 tiles (two panels, one zmm each per row); a single last panel runs 12 × 16.

MK_AVX512 MK_INLINE void f32_tile_avx512(int mr, int np, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t pstride,
                                         ptrdiff_t kb, int first, int last, const float *bias, const float *res,
                                         ptrdiff_t ldr, ptrdiff_t ncols, int act, float *out, ptrdiff_t ldo) {
    __m512 acc[12][2];
    for (int r = 0; r < 12; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    // The output tile's lines are fetched while the products run (a store miss would stall the epilogue).
    for (int r = 0; r < mr; r++) {
        _mm_prefetch((const char *)(out + r * ldo), _MM_HINT_T0);
        if (np > 1) _mm_prefetch((const char *)(out + r * ldo + 16), _MM_HINT_T0);
    }
    for (ptrdiff_t t = 0; t < kb; t++) {
        __m512 b0 = _mm512_loadu_ps(b + t * 16);
        __m512 b1 = np > 1 ? _mm512_loadu_ps(b + pstride + t * 16) : b0;
        for (int r = 0; r < mr; r++) {
            __m512 av = _mm512_set1_ps(a[r * lda + t]);
            acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
            if (np > 1) acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
        }
    }
    for (int p = 0; p < np; p++) {
        ptrdiff_t left = ncols - p * 16;
        if (left <= 0) break;
        __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : mk_tail16(left);
        __m512 bb = last && bias ? _mm512_maskz_loadu_ps(m, bias + p * 16) : _mm512_setzero_ps();
        for (int r = 0; r < mr; r++) {
            float *o = out + r * ldo + p * 16;
            __m512 v = acc[r][p];
            if (!first) v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, o), v);
            if (last) {
                if (bias) v = _mm512_add_ps(v, bb);
                if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res + r * ldr + p * 16));
                v = mk_act512(v, act);
            }
            _mm512_mask_storeu_ps(o, m, v);
        }
    }
}

// The AVX-512 tiles read their 12 rows of activations from a copy with the constant row stride KC_AVX512 (see
// f32_gemm_avx512), so every broadcast addresses one pointer plus a fixed offset.
#define F32_512_CASE(MR) \
    case MR * 2 + 1: f32_tile_avx512(MR, 1, a, KC_AVX512, b, pstride, kb, first, last, bias, res, ldr, ncols, act, out, ldo); break; \
    case MR * 2 + 2: f32_tile_avx512(MR, 2, a, KC_AVX512, b, pstride, kb, first, last, bias, res, ldr, ncols, act, out, ldo); break;

MK_AVX512 static void f32_tile_avx512_any(int mr, int np, const float *a, const float *b, ptrdiff_t pstride,
                                          ptrdiff_t kb, int first, int last, const float *bias, const float *res,
                                          ptrdiff_t ldr, ptrdiff_t ncols, int act, float *out, ptrdiff_t ldo) {
    switch (mr * 2 + np) {
        F32_512_CASE(12) F32_512_CASE(11) F32_512_CASE(10) F32_512_CASE(9) F32_512_CASE(8) F32_512_CASE(7)
        F32_512_CASE(6) F32_512_CASE(5) F32_512_CASE(4) F32_512_CASE(3) F32_512_CASE(2) F32_512_CASE(1)
        default: break;
    }
}

// Depth block → block of NC_AVX512 columns (its weight slice, ≤ 480 KB, stays in L2) → 12 rows (copied once into a
// stack buffer of constant row stride: 18 KB, in L1) → panel pairs.
MK_AVX512 static void f32_gemm_avx512(const float *a, ptrdiff_t lda, ptrdiff_t m, const float *packed, ptrdiff_t n,
                                      ptrdiff_t k, const float *bias, const float *res, ptrdiff_t ldr, int act, float *out,
                                      ptrdiff_t ldo) {
    ptrdiff_t kc = equal_blocks(k, KC_AVX512), panels = (n + 15) / 16, pstride = k * 16;
    float rows[12 * KC_AVX512];
    for (ptrdiff_t k0 = 0; k0 < k; k0 += kc) {
        ptrdiff_t kb = k - k0 < kc ? k - k0 : kc;
        int first = k0 == 0, last = k0 + kb >= k;
        for (ptrdiff_t q0 = 0; q0 < panels; q0 += NC_AVX512 / 16) {
            ptrdiff_t q1 = q0 + NC_AVX512 / 16 < panels ? q0 + NC_AVX512 / 16 : panels;
            for (ptrdiff_t i = 0; i < m; i += 12) {
                int mr = (int)(m - i < 12 ? m - i : 12);
                for (int r = 0; r < mr; r++) memcpy(rows + r * KC_AVX512, a + (i + r) * lda + k0, (size_t)kb * sizeof(float));
                for (ptrdiff_t p = q0; p < q1; p += 2) {
                    int np = q1 - p >= 2 ? 2 : 1;
                    ptrdiff_t j0 = p * 16;
                    f32_tile_avx512_any(mr, np, rows, packed + p * pstride + k0 * 16, pstride, kb, first, last,
                                        bias ? bias + j0 : NULL, res ? res + i * ldr + j0 : NULL, ldr, n - j0, act,
                                        out + i * ldo + j0, ldo);
                }
            }
        }
    }
}
#endif

void mk_f32_gemm_v(int variant, const float *a, ptrdiff_t lda, ptrdiff_t m, const float *packed, ptrdiff_t n,
                   ptrdiff_t k, const float *bias, const float *res, ptrdiff_t ldr, int act, float *out, ptrdiff_t ldo) {
    if (m <= 0 || n <= 0) return;
    int v = mk_resolve_variant(variant);
    if (k <= 0) { mk_f32_gemm_reference(1, a, lda, m, packed, n, 0, bias, res, ldr, act, out, ldo); return; }
#ifdef MK_X86
    if (v == MK_VARIANT_AVX512) { f32_gemm_avx512(a, lda, m, packed, n, k, bias, res, ldr, act, out, ldo); return; }
    if (v == MK_VARIANT_AVX2) { f32_gemm_avx2(a, lda, m, packed, n, k, bias, res, ldr, act, out, ldo); return; }
#endif
    (void)v;
    mk_f32_gemm_reference(equal_blocks(k, KC_AVX2), a, lda, m, packed, n, k, bias, res, ldr, act, out, ldo);
}

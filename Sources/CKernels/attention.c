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

// ---------------------------------------------------------------------------------------------
// Attention within one window (TinyViT's 7×7 and 14×14 windows): all n keys of the window are in L1/L2, so the
// scores, the bias, the softmax and the product with V are done row block by row block in scratch, with no
// score matrix in memory and no GEMM calls. Token rows are addressed through `index` (see mk_attention.h).

// Copies the n rows (width floats) of a window's tokens into dst, contiguous: row index[j] of src, or pad.
static void window_gather_rows(const int32_t *index, ptrdiff_t n, const float *src, ptrdiff_t ld, const float *pad,
                               ptrdiff_t width, float *dst) {
    for (ptrdiff_t j = 0; j < n; j++)
        memcpy(dst + j * width, index[j] >= 0 ? src + (ptrdiff_t)index[j] * ld : pad, (size_t)width * sizeof(float));
}

// Kᵀ (dqk × npad, zero columns past n) from the contiguous keys kc (n × dqk).
static void window_transpose_keys(const float *kc, ptrdiff_t n, ptrdiff_t npad, ptrdiff_t dqk, float *kt) {
    for (ptrdiff_t t = 0; t < dqk; t++) {
        for (ptrdiff_t j = 0; j < n; j++) kt[t * npad + j] = kc[j * dqk + t];
        for (ptrdiff_t j = n; j < npad; j++) kt[t * npad + j] = 0;
    }
}

// The scratch of one call: Kᵀ (dqk × npad), 4 score rows (npad), the keys (n × dqk) and values (n × dv).
typedef struct { float *kt, *s, *kc, *vc; ptrdiff_t npad; } window_scratch;

static window_scratch window_layout(float *scratch, ptrdiff_t n, ptrdiff_t dqk) {
    window_scratch w;
    w.npad = (n + 15) / 16 * 16;
    w.kt = scratch;
    w.s = w.kt + dqk * w.npad;
    w.kc = w.s + 4 * w.npad;
    w.vc = w.kc + n * dqk;
    return w;
}

// The scratch of one call with the window's keys and values copied in (Kᵀ is left to the variant).
static window_scratch window_prepare(float *scratch, ptrdiff_t n, ptrdiff_t dqk, ptrdiff_t dv, const int32_t *index,
                                     const float *k, const float *v, ptrdiff_t ld, const float *padk, const float *padv) {
    window_scratch w = window_layout(scratch, n, dqk);
    window_gather_rows(index, n, k, ld, padk, dqk, w.kc);
    window_gather_rows(index, n, v, ld, padv, dv, w.vc);
    return w;
}

// The next block of up to 4 query positions with a token row, from position *p on; returns how many. Missing
// rows of the block repeat the first one (computed, never stored: their out pointer is NULL).
static int window_next_queries(const int32_t *index, ptrdiff_t n, ptrdiff_t *p, const float *q, ptrdiff_t ld,
                               const float *bias, float *out, ptrdiff_t ldo,
                               const float *qr[4], const float *br[4], float *orow[4]) {
    int r = 0;
    while (*p < n && r < 4) {
        ptrdiff_t i = (*p)++;
        if (index[i] < 0) continue;
        qr[r] = q + (ptrdiff_t)index[i] * ld;
        br[r] = bias ? bias + i * n : NULL;
        orow[r] = out + (ptrdiff_t)index[i] * ldo;
        r++;
    }
    for (int s = r; s < 4 && r > 0; s++) { qr[s] = qr[0]; br[s] = br[0]; orow[s] = NULL; }
    return r;
}

static void window_portable(ptrdiff_t n, ptrdiff_t dqk, ptrdiff_t dv, const int32_t *index,
                            const float *q, const float *k, const float *v, ptrdiff_t ld,
                            const float *padk, const float *padv, const float *bias, float scale,
                            float *out, ptrdiff_t ldo, float *scratch) {
    window_scratch w = window_prepare(scratch, n, dqk, dv, index, k, v, ld, padk, padv);
    const ptrdiff_t npad = w.npad;
    float *kt = w.kt, *s = w.s;
    window_transpose_keys(w.kc, n, npad, dqk, kt);
    const float *qr[4], *br[4];
    float *orow[4];
    ptrdiff_t p = 0;
    while (window_next_queries(index, n, &p, q, ld, bias, out, ldo, qr, br, orow) > 0) {
        for (int r = 0; r < 4; r++) {
            if (!orow[r]) continue;
            float *sr = s + r * npad, m = -INFINITY;
            for (ptrdiff_t j = 0; j < n; j++) {
                float acc = 0;
                for (ptrdiff_t t = 0; t < dqk; t++) acc += qr[r][t] * kt[t * npad + j];
                sr[j] = acc * scale + (br[r] ? br[r][j] : 0.0f);
                m = sr[j] > m ? sr[j] : m;
            }
            float sum = 0;
            for (ptrdiff_t j = 0; j < n; j++) { sr[j] = expf(sr[j] - m); sum += sr[j]; }
            float inv = 1.0f / sum;
            for (ptrdiff_t t = 0; t < dv; t++) {
                float acc = 0;
                for (ptrdiff_t j = 0; j < n; j++) acc += sr[j] * w.vc[j * dv + t];
                orow[r][t] = acc * inv;
            }
        }
    }
}

#ifdef MK_X86
// Scores of 4 query rows against C vectors of 8 keys from column `col`, scaled, plus the bias rows.
MK_INLINE MK_AVX2 void window_scores_avx2(const float *const qr[4], const float *const br[4], const float *kt,
                                  ptrdiff_t npad, ptrdiff_t dqk, ptrdiff_t n, ptrdiff_t col, int C, float scale,
                                  float *s) {
    __m256 acc[4][2];
    for (int r = 0; r < 4; r++) for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
    for (ptrdiff_t t = 0; t < dqk; t++) {
        __m256 kv[2];
        for (int c = 0; c < C; c++) kv[c] = _mm256_loadu_ps(kt + t * npad + col + 8 * c);
        for (int r = 0; r < 4; r++) {
            __m256 qb = _mm256_broadcast_ss(qr[r] + t);
            for (int c = 0; c < C; c++) acc[r][c] = _mm256_fmadd_ps(qb, kv[c], acc[r][c]);
        }
    }
    const __m256 vs = _mm256_set1_ps(scale);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < C; c++) {
            ptrdiff_t j = col + 8 * c;
            __m256 b = br[r] ? _mm256_maskload_ps(br[r] + j, mk_mask256(n - j)) : _mm256_setzero_ps();
            _mm256_storeu_ps(s + r * npad + j, _mm256_fmadd_ps(acc[r][c], vs, b));
        }
}

// out rows += P·V for C vectors of 8 value columns from `col` (tail lanes masked), normalised by inv.
MK_INLINE MK_AVX2 void window_values_avx2(ptrdiff_t n, const float *vc,
                                  const float *s, ptrdiff_t npad, ptrdiff_t dv, ptrdiff_t col, int C,
                                  const float inv[4], float *const orow[4]) {
    __m256 acc[4][2];
    __m256i mask[2];
    for (int c = 0; c < C; c++) mask[c] = mk_mask256(dv - col - 8 * c);
    for (int r = 0; r < 4; r++) for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
    for (ptrdiff_t j = 0; j < n; j++) {
        const float *vj = vc + j * dv + col;
        __m256 vv[2];
        for (int c = 0; c < C; c++) vv[c] = _mm256_maskload_ps(vj + 8 * c, mask[c]);
        for (int r = 0; r < 4; r++) {
            __m256 pb = _mm256_broadcast_ss(s + r * npad + j);
            for (int c = 0; c < C; c++) acc[r][c] = _mm256_fmadd_ps(pb, vv[c], acc[r][c]);
        }
    }
    for (int r = 0; r < 4; r++) {
        if (!orow[r]) continue;
        __m256 vi = _mm256_set1_ps(inv[r]);
        for (int c = 0; c < C; c++) _mm256_maskstore_ps(orow[r] + col + 8 * c, mask[c], _mm256_mul_ps(acc[r][c], vi));
    }
}

MK_AVX2 static void window_avx2(ptrdiff_t n, ptrdiff_t dqk, ptrdiff_t dv, const int32_t *index,
                                const float *q, const float *k, const float *v, ptrdiff_t ld,
                                const float *padk, const float *padv, const float *bias, float scale,
                                float *out, ptrdiff_t ldo, float *scratch) {
    window_scratch w = window_prepare(scratch, n, dqk, dv, index, k, v, ld, padk, padv);
    const ptrdiff_t npad = w.npad;
    float *kt = w.kt, *s = w.s;
    window_transpose_keys(w.kc, n, npad, dqk, kt);
    const float *qr[4], *br[4];
    float *orow[4];
    ptrdiff_t p = 0;
    while (window_next_queries(index, n, &p, q, ld, bias, out, ldo, qr, br, orow) > 0) {
        for (ptrdiff_t col = 0; col < npad; col += 16) window_scores_avx2(qr, br, kt, npad, dqk, n, col, 2, scale, s);
        float inv[4];
        for (int r = 0; r < 4; r++) {
            float *sr = s + r * npad;
            __m256 vm = _mm256_set1_ps(-INFINITY);
            ptrdiff_t j = 0;
            for (; j + 8 <= n; j += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(sr + j));
            float m = mk_hmax256(vm);
            for (; j < n; j++) m = sr[j] > m ? sr[j] : m;
            __m256 vsum = _mm256_setzero_ps();
            const __m256 vmax = _mm256_set1_ps(m);
            for (j = 0; j < n; j += 8) {
                __m256i mk = mk_mask256(n - j);
                __m256 e = _mm256_and_ps(mk_exp256(_mm256_sub_ps(_mm256_loadu_ps(sr + j), vmax)), _mm256_castsi256_ps(mk));
                _mm256_storeu_ps(sr + j, e);
                vsum = _mm256_add_ps(vsum, e);
            }
            inv[r] = 1.0f / mk_hsum256(vsum);
        }
        ptrdiff_t col = 0;
        for (; col + 16 <= dv; col += 16) window_values_avx2(n, w.vc, s, npad, dv, col, 2, inv, orow);
        if (col < dv) window_values_avx2(n, w.vc, s, npad, dv, col, dv - col > 8 ? 2 : 1, inv, orow);
    }
}

MK_INLINE MK_AVX512 void window_scores_avx512(const float *const qr[4], const float *const br[4], const float *kt,
                                    ptrdiff_t npad, ptrdiff_t dqk, ptrdiff_t n, ptrdiff_t col, int C, float scale,
                                    float *s) {
    __m512 acc[4][4];
    for (int r = 0; r < 4; r++) for (int c = 0; c < C; c++) acc[r][c] = _mm512_setzero_ps();
    for (ptrdiff_t t = 0; t < dqk; t++) {
        __m512 kv[4];
        for (int c = 0; c < C; c++) kv[c] = _mm512_loadu_ps(kt + t * npad + col + 16 * c);
        for (int r = 0; r < 4; r++) {
            __m512 qb = _mm512_set1_ps(qr[r][t]);
            for (int c = 0; c < C; c++) acc[r][c] = _mm512_fmadd_ps(qb, kv[c], acc[r][c]);
        }
    }
    const __m512 vs = _mm512_set1_ps(scale);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < C; c++) {
            ptrdiff_t j = col + 16 * c;
            __mmask16 m = n - j >= 16 ? (__mmask16)0xFFFF : n - j > 0 ? mk_tail16(n - j) : 0;
            __m512 b = br[r] ? _mm512_maskz_loadu_ps(m, br[r] + j) : _mm512_setzero_ps();
            _mm512_storeu_ps(s + r * npad + j, _mm512_fmadd_ps(acc[r][c], vs, b));
        }
}

MK_INLINE MK_AVX512 void window_values_avx512(ptrdiff_t n, const float *vc,
                                    const float *s, ptrdiff_t npad, ptrdiff_t dv, ptrdiff_t col, int C,
                                    const float inv[4], float *const orow[4]) {
    __m512 acc[4][4];
    __mmask16 mask[4];
    for (int c = 0; c < C; c++) {
        ptrdiff_t left = dv - col - 16 * c;
        mask[c] = left >= 16 ? (__mmask16)0xFFFF : mk_tail16(left);
    }
    for (int r = 0; r < 4; r++) for (int c = 0; c < C; c++) acc[r][c] = _mm512_setzero_ps();
    for (ptrdiff_t j = 0; j < n; j++) {
        const float *vj = vc + j * dv + col;
        __m512 vv[4];
        for (int c = 0; c < C; c++) vv[c] = _mm512_maskz_loadu_ps(mask[c], vj + 16 * c);
        for (int r = 0; r < 4; r++) {
            __m512 pb = _mm512_set1_ps(s[r * npad + j]);
            for (int c = 0; c < C; c++) acc[r][c] = _mm512_fmadd_ps(pb, vv[c], acc[r][c]);
        }
    }
    for (int r = 0; r < 4; r++) {
        if (!orow[r]) continue;
        __m512 vi = _mm512_set1_ps(inv[r]);
        for (int c = 0; c < C; c++) _mm512_mask_storeu_ps(orow[r] + col + 16 * c, mask[c], _mm512_mul_ps(acc[r][c], vi));
    }
}

MK_AVX512 static void window_avx512(ptrdiff_t n, ptrdiff_t dqk, ptrdiff_t dv, const int32_t *index,
                                    const float *q, const float *k, const float *v, ptrdiff_t ld,
                                    const float *padk, const float *padv, const float *bias, float scale,
                                    float *out, ptrdiff_t ldo, float *scratch) {
    window_scratch w = window_prepare(scratch, n, dqk, dv, index, k, v, ld, padk, padv);
    const ptrdiff_t npad = w.npad;
    float *kt = w.kt, *s = w.s;
    // Kᵀ by 16-key gathers from the contiguous keys (lanes past n read as zero).
    {
        const __m512i lanes = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                                 _mm512_set1_epi32((int)dqk));
        for (ptrdiff_t j0 = 0; j0 < npad; j0 += 16) {
            __mmask16 m = n - j0 >= 16 ? (__mmask16)0xFFFF : mk_tail16(n - j0);
            const float *base = w.kc + j0 * dqk;
            for (ptrdiff_t t = 0; t < dqk; t++)
                _mm512_storeu_ps(kt + t * npad + j0, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, lanes, base + t, 4));
        }
    }
    const float *qr[4], *br[4];
    float *orow[4];
    ptrdiff_t p = 0;
    while (window_next_queries(index, n, &p, q, ld, bias, out, ldo, qr, br, orow) > 0) {
        ptrdiff_t col = 0;
        for (; col + 64 <= npad; col += 64) window_scores_avx512(qr, br, kt, npad, dqk, n, col, 4, scale, s);
        switch ((npad - col) / 16) {
        case 3: window_scores_avx512(qr, br, kt, npad, dqk, n, col, 3, scale, s); break;
        case 2: window_scores_avx512(qr, br, kt, npad, dqk, n, col, 2, scale, s); break;
        case 1: window_scores_avx512(qr, br, kt, npad, dqk, n, col, 1, scale, s); break;
        default: break;
        }
        float inv[4];
        for (int r = 0; r < 4; r++) {
            float *sr = s + r * npad;
            __m512 vm = _mm512_set1_ps(-INFINITY);
            for (ptrdiff_t j = 0; j < n; j += 16) {
                __mmask16 mk = n - j >= 16 ? (__mmask16)0xFFFF : mk_tail16(n - j);
                vm = _mm512_mask_max_ps(vm, mk, vm, _mm512_loadu_ps(sr + j));
            }
            const __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(vm));
            __m512 vsum = _mm512_setzero_ps();
            for (ptrdiff_t j = 0; j < n; j += 16) {
                __mmask16 mk = n - j >= 16 ? (__mmask16)0xFFFF : mk_tail16(n - j);
                __m512 e = _mm512_maskz_mov_ps(mk, mk_exp512(_mm512_sub_ps(_mm512_loadu_ps(sr + j), vmax)));
                _mm512_storeu_ps(sr + j, e);
                vsum = _mm512_add_ps(vsum, e);
            }
            inv[r] = 1.0f / _mm512_reduce_add_ps(vsum);
        }
        col = 0;
        for (; col + 64 <= dv; col += 64) window_values_avx512(n, w.vc, s, npad, dv, col, 4, inv, orow);
        switch ((dv - col + 15) / 16) {
        case 3: window_values_avx512(n, w.vc, s, npad, dv, col, 3, inv, orow); break;
        case 2: window_values_avx512(n, w.vc, s, npad, dv, col, 2, inv, orow); break;
        case 1: window_values_avx512(n, w.vc, s, npad, dv, col, 1, inv, orow); break;
        default: break;
        }
    }
}
#endif

size_t mk_attention_window_scratch(ptrdiff_t n, ptrdiff_t dqk, ptrdiff_t dv) {
    if (n <= 0 || dqk < 0 || dv < 0) return 0;
    return (size_t)((dqk + 4) * ((n + 15) / 16 * 16) + n * (dqk + dv));
}

void mk_attention_window_v(int variant, ptrdiff_t n, ptrdiff_t dqk, ptrdiff_t dv, const int32_t *index,
                           const float *q, const float *k, const float *v, ptrdiff_t ld,
                           const float *padk, const float *padv, const float *bias, float scale,
                           float *out, ptrdiff_t ldo, float *scratch) {
    if (n <= 0 || dv <= 0) return;
    switch (mk_resolve_variant(variant)) {
#ifdef MK_X86
    case MK_VARIANT_AVX512: window_avx512(n, dqk, dv, index, q, k, v, ld, padk, padv, bias, scale, out, ldo, scratch); return;
    case MK_VARIANT_AVX2: window_avx2(n, dqk, dv, index, q, k, v, ld, padk, padv, bias, scale, out, ldo, scratch); return;
#endif
    default: window_portable(n, dqk, dv, index, q, k, v, ld, padk, padv, bias, scale, out, ldo, scratch);
    }
}

// Elementwise sums and the fused sum-and-transpose (see include/mk_elementwise.h).
#include "mk_internal.h"

static void add_portable(const float *a, const float *b, float *out, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

#ifdef MK_X86
MK_AVX2 static void add_avx2(const float *a, const float *b, float *out, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    for (; i < n; i++) out[i] = a[i] + b[i];
}

MK_AVX512 static void add_avx512(const float *a, const float *b, float *out, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : mk_tail16(n - i);
        _mm512_mask_storeu_ps(out + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i)));
    }
}
#endif

void mk_add_rows_v(int variant, const float *a, const float *b, float *out, ptrdiff_t n) {
    switch (mk_resolve_variant(variant)) {
#ifdef MK_X86
    case MK_VARIANT_AVX512: add_avx512(a, b, out, n); return;
    case MK_VARIANT_AVX2: add_avx2(a, b, out, n); return;
#endif
    default: add_portable(a, b, out, n);
    }
}

void mk_add_rows(const float *a, const float *b, float *out, ptrdiff_t n) { mk_add_rows_v(MK_VARIANT_AUTO, a, b, out, n); }

#ifdef MK_X86
// One 8×8 block: rows i..i+8 of (a + b), columns j..j+8, transposed in registers.
MK_AVX2 MK_INLINE void transpose_add_block8(const float *a, const float *b, float *out, ptrdiff_t rows, ptrdiff_t cols,
                                            ptrdiff_t i, ptrdiff_t j) {
    __m256 r[8];
    for (int k = 0; k < 8; k++) {
        r[k] = _mm256_loadu_ps(a + (i + k) * cols + j);
        if (b) r[k] = _mm256_add_ps(r[k], _mm256_loadu_ps(b + (i + k) * cols + j));
    }
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    _mm256_storeu_ps(out + (j + 0) * rows + i, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(out + (j + 1) * rows + i, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(out + (j + 2) * rows + i, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(out + (j + 3) * rows + i, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(out + (j + 4) * rows + i, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(out + (j + 5) * rows + i, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(out + (j + 6) * rows + i, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(out + (j + 7) * rows + i, _mm256_permute2f128_ps(u3, u7, 0x31));
}

MK_AVX2 static void transpose_add_avx2(const float *a, const float *b, float *out, ptrdiff_t rows, ptrdiff_t cols,
                                       ptrdiff_t j0, ptrdiff_t j1, ptrdiff_t i1) {
    // 16×16 tiles (four 8×8 register transposes): each input row segment and each output row segment is one
    // whole cache line, and a band of 16 input rows (32 pages with `b`) is swept along the columns before
    // the next band, so the loads stay within the L1 TLB. Sweeping all rows per column block instead touched
    // 2 × 256 pages per block with the decoder's (256, 4,096) planes.
    ptrdiff_t i = 0;
    for (; i + 16 <= i1; i += 16) {
        ptrdiff_t j = j0;
        for (; j + 16 <= j1; j += 16) {
            transpose_add_block8(a, b, out, rows, cols, i, j);
            transpose_add_block8(a, b, out, rows, cols, i + 8, j);
            transpose_add_block8(a, b, out, rows, cols, i, j + 8);
            transpose_add_block8(a, b, out, rows, cols, i + 8, j + 8);
        }
        for (; j < j1; j += 8) {
            transpose_add_block8(a, b, out, rows, cols, i, j);
            transpose_add_block8(a, b, out, rows, cols, i + 8, j);
        }
    }
    for (; i < i1; i += 8)
        for (ptrdiff_t j = j0; j < j1; j += 8) transpose_add_block8(a, b, out, rows, cols, i, j);
}
#endif

static void transpose_add_scalar(const float *a, const float *b, float *out, ptrdiff_t rows, ptrdiff_t cols,
                                 ptrdiff_t col_begin, ptrdiff_t col_end) {
    const ptrdiff_t B = 16;
    for (ptrdiff_t j0 = col_begin; j0 < col_end; j0 += B) {
        ptrdiff_t j1 = j0 + B < col_end ? j0 + B : col_end;
        for (ptrdiff_t i0 = 0; i0 < rows; i0 += B) {
            ptrdiff_t i1 = i0 + B < rows ? i0 + B : rows;
            for (ptrdiff_t j = j0; j < j1; j++) {
                float *o = out + j * rows;
                if (b) for (ptrdiff_t i = i0; i < i1; i++) o[i] = a[i * cols + j] + b[i * cols + j];
                else for (ptrdiff_t i = i0; i < i1; i++) o[i] = a[i * cols + j];
            }
        }
    }
}

// The AVX-512 variant reuses the AVX2 8×8 register transpose (no 16×16 AVX-512 version is written).
void mk_transpose_add_v(int variant, const float *a, const float *b, float *out, ptrdiff_t rows, ptrdiff_t cols,
                        ptrdiff_t col_begin, ptrdiff_t col_end) {
#ifdef MK_X86
    if (mk_resolve_variant(variant) >= MK_VARIANT_AVX2 && rows >= 8) {
        ptrdiff_t j1 = col_begin + (col_end - col_begin) / 8 * 8, i1 = rows / 8 * 8;
        transpose_add_avx2(a, b, out, rows, cols, col_begin, j1, i1);
        // Leftover rows (channels) for the vector columns, then leftover columns.
        if (i1 < rows)
            for (ptrdiff_t j = col_begin; j < j1; j++)
                for (ptrdiff_t i = i1; i < rows; i++) out[j * rows + i] = a[i * cols + j] + (b ? b[i * cols + j] : 0);
        transpose_add_scalar(a, b, out, rows, cols, j1, col_end);
        return;
    }
#endif
    transpose_add_scalar(a, b, out, rows, cols, col_begin, col_end);
}

void mk_transpose_add(const float *a, const float *b, float *out, ptrdiff_t rows, ptrdiff_t cols,
                      ptrdiff_t col_begin, ptrdiff_t col_end) {
    mk_transpose_add_v(MK_VARIANT_AUTO, a, b, out, rows, cols, col_begin, col_end);
}

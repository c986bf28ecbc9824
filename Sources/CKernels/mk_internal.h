// Shared, private helpers of the kernel families: target attributes, the scalar reference math and
// the vector math (exp, exact-erf GELU, horizontal reductions) for AVX2+FMA and AVX-512F.
// Not part of the module's public headers (include/); every .c file of a family includes it.
#ifndef MEDSAM_MK_INTERNAL_H
#define MEDSAM_MK_INTERNAL_H

#include "ckernels.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// Forced inlining for micro-kernel helpers (tiles, epilogues) whose arguments must become constants.
#define MK_INLINE static inline __attribute__((always_inline))

#if defined(__x86_64__) || defined(__i386__)
#define MK_X86 1
#include <immintrin.h>
// Function-level target attributes: the library needs no compiler flags; a variant is only called
// after mk_resolve_variant() has checked the CPU (cpuid) for it.
#define MK_AVX2 __attribute__((target("avx2,fma")))
#define MK_AVX512 __attribute__((target("avx512f,avx2,fma")))
#endif

// ---------------------------------------------------------------------------------------------
// Portable scalar math (also the reference for the vector paths).

// erfc for z >= 0 (Numerical Recipes' erfcc, fractional error < 1.2e-7).
static inline float mk_erfc_pos(float z) {
    float t = 1.0f / (1.0f + 0.5f * z);
    float poly = -1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f +
                 t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f +
                 t * (-0.82215223f + t * 0.17087277f))))))));
    return t * expf(-z * z + poly);
}

static inline float mk_gelu1(float x) {
    float z = fabsf(x) * 0.70710678118654752f;
    float half_erfc = 0.5f * mk_erfc_pos(z);
    return x >= 0 ? x - x * half_erfc : x * half_erfc;
}

static inline float mk_act1(float v, int act) {
    return act == MK_ACT_GELU ? mk_gelu1(v) : act == MK_ACT_RELU ? (v > 0 ? v : 0) : v;
}

#ifdef MK_X86
// ---------------------------------------------------------------------------------------------
// AVX2 + FMA vector math.

// exp (Cephes polynomial, as in the classic avx_mathfun), ~1 ulp over the clamped range.
MK_AVX2 static inline __m256 mk_exp256(__m256 x) {
    const __m256 hi = _mm256_set1_ps(88.3762626647949f), lo = _mm256_set1_ps(-88.3762626647949f);
    x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    __m256 fx = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f));
    fx = _mm256_floor_ps(fx);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 z = _mm256_mul_ps(x, x);
    // Cephes' degree-5 polynomial in Estrin form (shorter dependency chain than Horner).
    __m256 a = _mm256_fmadd_ps(_mm256_set1_ps(1.6666665459E-1f), x, _mm256_set1_ps(5.0000001201E-1f));
    __m256 b = _mm256_fmadd_ps(_mm256_set1_ps(8.3334519073E-3f), x, _mm256_set1_ps(4.1665795894E-2f));
    __m256 c = _mm256_fmadd_ps(_mm256_set1_ps(1.9875691500E-4f), x, _mm256_set1_ps(1.3981999507E-3f));
    __m256 z2 = _mm256_mul_ps(z, z);
    __m256 y = _mm256_fmadd_ps(c, z2, _mm256_fmadd_ps(b, z, a));
    y = _mm256_fmadd_ps(y, z, _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_cvttps_epi32(fx);
    e = _mm256_slli_epi32(_mm256_add_epi32(e, _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

MK_AVX2 static inline float mk_hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

MK_AVX2 static inline float mk_hmax256(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

MK_AVX2 static inline __m256 mk_gelu256(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    __m256 absx = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
    __m256 z = _mm256_mul_ps(absx, _mm256_set1_ps(0.70710678118654752f));
    __m256 den = _mm256_fmadd_ps(half, z, one);
    __m256 t = _mm256_rcp_ps(den);                              // 12 bits …
    t = _mm256_mul_ps(t, _mm256_fnmadd_ps(den, t, _mm256_set1_ps(2.0f)));   // … Newton → ~23 bits
    // Numerical Recipes' erfc polynomial, degree 9 in t, in Estrin form (depth 4 instead of 10).
    __m256 t2 = _mm256_mul_ps(t, t);
    __m256 t4 = _mm256_mul_ps(t2, t2);
    __m256 t8 = _mm256_mul_ps(t4, t4);
    __m256 p01 = _mm256_fmadd_ps(_mm256_set1_ps(1.00002368f), t, _mm256_set1_ps(-1.26551223f));
    __m256 p23 = _mm256_fmadd_ps(_mm256_set1_ps(0.09678418f), t, _mm256_set1_ps(0.37409196f));
    __m256 p45 = _mm256_fmadd_ps(_mm256_set1_ps(0.27886807f), t, _mm256_set1_ps(-0.18628806f));
    __m256 p67 = _mm256_fmadd_ps(_mm256_set1_ps(1.48851587f), t, _mm256_set1_ps(-1.13520398f));
    __m256 p89 = _mm256_fmadd_ps(_mm256_set1_ps(0.17087277f), t, _mm256_set1_ps(-0.82215223f));
    __m256 q0 = _mm256_fmadd_ps(p23, t2, p01);
    __m256 q1 = _mm256_fmadd_ps(p67, t2, p45);
    __m256 poly = _mm256_fmadd_ps(p89, t8, _mm256_fmadd_ps(q1, t4, q0));
    __m256 arg = _mm256_fnmadd_ps(z, z, poly);                 // -z² + poly
    __m256 halfErfc = _mm256_mul_ps(half, _mm256_mul_ps(t, mk_exp256(arg)));
    __m256 neg = _mm256_mul_ps(x, halfErfc);                    // x < 0: 0.5·x·erfc(|x|/√2)
    __m256 pos = _mm256_sub_ps(x, neg);                         // x ≥ 0: x − 0.5·x·erfc
    __m256 isNeg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    return _mm256_blendv_ps(pos, neg, isNeg);
}

MK_AVX2 static inline __m256 mk_act256(__m256 v, int act) {
    if (act == MK_ACT_GELU) return mk_gelu256(v);
    if (act == MK_ACT_RELU) return _mm256_max_ps(v, _mm256_setzero_ps());
    return v;
}

// Lane mask of the first min(left, 8) lanes, for _mm256_maskload_ps / _mm256_maskstore_ps.
MK_AVX2 static inline __m256i mk_mask256(ptrdiff_t left) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(left < 8 ? left : 8)), lanes);
}

// The last n < 8 values of a row through the same vector arithmetic as the rest (a zero-padded copy), so a
// value's result does not depend on where a tile, plane or thread range happens to end.
MK_AVX2 static inline void mk_act_tail256(float *x, ptrdiff_t n, __m256 add, int act) {
    float tmp[8] = {0};
    memcpy(tmp, x, (size_t)n * sizeof(float));
    _mm256_storeu_ps(tmp, mk_act256(_mm256_add_ps(_mm256_loadu_ps(tmp), add), act));
    memcpy(x, tmp, (size_t)n * sizeof(float));
}

// ---------------------------------------------------------------------------------------------
// AVX-512F vector math (the same polynomials, 16 lanes; tails use lane masks instead of scalar loops).

static inline __mmask16 mk_tail16(ptrdiff_t n) { return (__mmask16)((1u << n) - 1u); }

MK_AVX512 static inline __m512 mk_exp512(__m512 x) {
    const __m512 hi = _mm512_set1_ps(88.3762626647949f), lo = _mm512_set1_ps(-88.3762626647949f);
    x = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
    __m512 fx = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f));
    fx = _mm512_roundscale_ps(fx, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
    x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), x);
    __m512 z = _mm512_mul_ps(x, x);
    __m512 a = _mm512_fmadd_ps(_mm512_set1_ps(1.6666665459E-1f), x, _mm512_set1_ps(5.0000001201E-1f));
    __m512 b = _mm512_fmadd_ps(_mm512_set1_ps(8.3334519073E-3f), x, _mm512_set1_ps(4.1665795894E-2f));
    __m512 c = _mm512_fmadd_ps(_mm512_set1_ps(1.9875691500E-4f), x, _mm512_set1_ps(1.3981999507E-3f));
    __m512 z2 = _mm512_mul_ps(z, z);
    __m512 y = _mm512_fmadd_ps(c, z2, _mm512_fmadd_ps(b, z, a));
    y = _mm512_fmadd_ps(y, z, _mm512_add_ps(x, _mm512_set1_ps(1.0f)));
    __m512i e = _mm512_cvttps_epi32(fx);
    e = _mm512_slli_epi32(_mm512_add_epi32(e, _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(y, _mm512_castsi512_ps(e));
}

MK_AVX512 static inline __m512 mk_gelu512(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f);
    __m512 z = _mm512_mul_ps(_mm512_abs_ps(x), _mm512_set1_ps(0.70710678118654752f));
    __m512 den = _mm512_fmadd_ps(half, z, one);
    __m512 t = _mm512_rcp14_ps(den);                                        // 14 bits …
    t = _mm512_mul_ps(t, _mm512_fnmadd_ps(den, t, _mm512_set1_ps(2.0f)));   // … Newton → ~24 bits
    __m512 t2 = _mm512_mul_ps(t, t);
    __m512 t4 = _mm512_mul_ps(t2, t2);
    __m512 t8 = _mm512_mul_ps(t4, t4);
    __m512 p01 = _mm512_fmadd_ps(_mm512_set1_ps(1.00002368f), t, _mm512_set1_ps(-1.26551223f));
    __m512 p23 = _mm512_fmadd_ps(_mm512_set1_ps(0.09678418f), t, _mm512_set1_ps(0.37409196f));
    __m512 p45 = _mm512_fmadd_ps(_mm512_set1_ps(0.27886807f), t, _mm512_set1_ps(-0.18628806f));
    __m512 p67 = _mm512_fmadd_ps(_mm512_set1_ps(1.48851587f), t, _mm512_set1_ps(-1.13520398f));
    __m512 p89 = _mm512_fmadd_ps(_mm512_set1_ps(0.17087277f), t, _mm512_set1_ps(-0.82215223f));
    __m512 q0 = _mm512_fmadd_ps(p23, t2, p01);
    __m512 q1 = _mm512_fmadd_ps(p67, t2, p45);
    __m512 poly = _mm512_fmadd_ps(p89, t8, _mm512_fmadd_ps(q1, t4, q0));
    __m512 arg = _mm512_fnmadd_ps(z, z, poly);
    __m512 halfErfc = _mm512_mul_ps(half, _mm512_mul_ps(t, mk_exp512(arg)));
    __m512 neg = _mm512_mul_ps(x, halfErfc);
    __m512 pos = _mm512_sub_ps(x, neg);
    __mmask16 isNeg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    return _mm512_mask_blend_ps(isNeg, pos, neg);
}

MK_AVX512 static inline __m512 mk_act512(__m512 v, int act) {
    if (act == MK_ACT_GELU) return mk_gelu512(v);
    if (act == MK_ACT_RELU) return _mm512_max_ps(v, _mm512_setzero_ps());
    return v;
}
#endif  // MK_X86

#endif

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

// erfc for z >= 0 by Abramowitz & Stegun 7.1.26, erfc(z) = t·P(t)·exp(−z²) with t = 1/(1 + p·z) (absolute error
// < 1.5e-7): the approximation of PyTorch's vectorised erf, hence of its CPU GELU. The vector paths below use the same
// polynomial, halved (the ½ of GELU's ½·erfc folded into the coefficients: an exact scaling).
#define MK_ERFC_P 0.3275911f
#define MK_ERFC_HALF_A1 0.127414796f
#define MK_ERFC_HALF_A2 -0.142248368f
#define MK_ERFC_HALF_A3 0.7107068705f
#define MK_ERFC_HALF_A4 -0.7265760135f
#define MK_ERFC_HALF_A5 0.5307027145f

// ½·erfc(z) for z >= 0.
static inline float mk_half_erfc_pos(float z) {
    float t = 1.0f / (1.0f + MK_ERFC_P * z);
    float poly = MK_ERFC_HALF_A1 + t * (MK_ERFC_HALF_A2 + t * (MK_ERFC_HALF_A3 + t * (MK_ERFC_HALF_A4 + t * MK_ERFC_HALF_A5)));
    return t * poly * expf(-z * z);
}

static inline float mk_gelu1(float x) {
    float half_erfc = mk_half_erfc_pos(fabsf(x) * 0.70710678118654752f);
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
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 absx = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
    __m256 z = _mm256_mul_ps(absx, _mm256_set1_ps(0.70710678118654752f));
    __m256 den = _mm256_fmadd_ps(_mm256_set1_ps(MK_ERFC_P), z, one);
    __m256 t = _mm256_rcp_ps(den);                              // 12 bits …
    t = _mm256_mul_ps(t, _mm256_fnmadd_ps(den, t, _mm256_set1_ps(2.0f)));   // … Newton → ~23 bits
    __m256 poly = _mm256_fmadd_ps(_mm256_set1_ps(MK_ERFC_HALF_A5), t, _mm256_set1_ps(MK_ERFC_HALF_A4));
    poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(MK_ERFC_HALF_A3));
    poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(MK_ERFC_HALF_A2));
    poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(MK_ERFC_HALF_A1));
    __m256 e = mk_exp256(_mm256_fnmadd_ps(z, z, _mm256_setzero_ps()));   // exp(−z²)
    __m256 halfErfc = _mm256_mul_ps(_mm256_mul_ps(t, poly), e);
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
    return _mm512_scalef_ps(y, fx);                             // y·2^fx in one instruction
}

MK_AVX512 static inline __m512 mk_gelu512(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 z = _mm512_mul_ps(_mm512_abs_ps(x), _mm512_set1_ps(0.70710678118654752f));
    __m512 den = _mm512_fmadd_ps(_mm512_set1_ps(MK_ERFC_P), z, one);
    __m512 t = _mm512_rcp14_ps(den);                                        // 14 bits …
    t = _mm512_mul_ps(t, _mm512_fnmadd_ps(den, t, _mm512_set1_ps(2.0f)));   // … Newton → ~24 bits
    __m512 poly = _mm512_fmadd_ps(_mm512_set1_ps(MK_ERFC_HALF_A5), t, _mm512_set1_ps(MK_ERFC_HALF_A4));
    poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(MK_ERFC_HALF_A3));
    poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(MK_ERFC_HALF_A2));
    poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(MK_ERFC_HALF_A1));
    __m512 e = mk_exp512(_mm512_fnmadd_ps(z, z, _mm512_setzero_ps()));   // exp(−z²)
    __m512 halfErfc = _mm512_mul_ps(_mm512_mul_ps(t, poly), e);
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

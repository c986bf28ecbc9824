// Run-time choice of a kernel variant (see include/mk_dispatch.h).
#include "mk_internal.h"

// The CPU's best variant, computed once. The cached value is a pure function of the CPU and the
// process environment, so racing first calls all store the same value (relaxed atomics).
static int mk_cached_best = -2;

static int mk_detect(void) {
    int best = MK_VARIANT_PORTABLE;
#ifdef MK_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = MK_VARIANT_AVX2;
    if (best == MK_VARIANT_AVX2 && __builtin_cpu_supports("avx512f")) best = MK_VARIANT_AVX512;
#endif
    const char *env = getenv("MEDSAM_KERNELS");
    if (env) {
        int cap = best;
        if (strcmp(env, "portable") == 0) cap = MK_VARIANT_PORTABLE;
        else if (strcmp(env, "avx2") == 0) cap = MK_VARIANT_AVX2;
        else if (strcmp(env, "avx512") == 0) cap = MK_VARIANT_AVX512;
        if (cap < best) best = cap;
    }
    return best;
}

static int mk_cpu_best(void) {
    int v = __atomic_load_n(&mk_cached_best, __ATOMIC_RELAXED);
    if (v == -2) {
        v = mk_detect();
        __atomic_store_n(&mk_cached_best, v, __ATOMIC_RELAXED);
    }
    return v;
}

int mk_best_variant(void) { return mk_cpu_best(); }

int mk_cpu_supports(int variant) {
    if (variant <= MK_VARIANT_PORTABLE) return 1;
#ifdef MK_X86
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (variant == MK_VARIANT_AVX2) return avx2;
    if (variant == MK_VARIANT_AVX512) return avx2 && __builtin_cpu_supports("avx512f");
#endif
    return 0;
}

int mk_resolve_variant(int variant) {
    if (variant < 0) return mk_cpu_best();
    if (variant > MK_VARIANT_AVX512) variant = MK_VARIANT_AVX512;
    while (variant > MK_VARIANT_PORTABLE && !mk_cpu_supports(variant)) variant--;
    return variant;
}

int mk_has_avx2(void) { return mk_cpu_best() >= MK_VARIANT_AVX2; }

int mk_cpu_gemm_tier(void) {
#ifdef MK_X86
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return 0;
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    if (!avx512) return 1;
    return __builtin_cpu_supports("avx512bf16") ? 3 : 2;
#else
    return 0;
#endif
}

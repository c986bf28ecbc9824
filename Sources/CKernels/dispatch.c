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

// ---- Reduced-precision GEMM variants (int8, bf16; include/mk_gemm_int8.h) ----------------------------
#ifdef MK_X86
#include <cpuid.h>
// CPUID leaf 7: sub-leaf 0 ECX bit 11 AVX512_VNNI; sub-leaf 1 EAX bit 4 AVX-VNNI, bit 5 AVX512_BF16.
static int mk_cpuid7(unsigned sub, int reg, int bit) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, sub, &a, &b, &c, &d)) return 0;
    unsigned r = reg == 0 ? a : reg == 2 ? c : 0;
    return (int)((r >> bit) & 1u);
}

// Those three bits, read once: CPUID traps to the hypervisor in a virtual machine (microseconds a call), and
// the GEMM drivers ask on every call. Same caching rule as mk_cached_best.
enum { MK_X_AVX512VNNI = 1, MK_X_AVXVNNI = 2, MK_X_AVX512BF16 = 4 };
static int mk_x86_ext_cached = -1;

static int mk_x86_ext(int bit) {
    int v = __atomic_load_n(&mk_x86_ext_cached, __ATOMIC_RELAXED);
    if (v < 0) {
        v = (mk_cpuid7(0, 2, 11) ? MK_X_AVX512VNNI : 0) | (mk_cpuid7(1, 0, 4) ? MK_X_AVXVNNI : 0)
            | (mk_cpuid7(1, 0, 5) ? MK_X_AVX512BF16 : 0);
        __atomic_store_n(&mk_x86_ext_cached, v, __ATOMIC_RELAXED);
    }
    return (v & bit) != 0;
}
#endif

int mk_q8_cpu_supports(int variant) {
    if (variant <= MK_Q8_PORTABLE) return 1;
#ifdef MK_X86
    int avx2 = mk_cpu_supports(MK_VARIANT_AVX2);
    if (variant == MK_Q8_AVX2) return avx2;
    if (variant == MK_Q8_AVXVNNI) return avx2 && mk_x86_ext(MK_X_AVXVNNI);
    if (variant == MK_Q8_AVX512VNNI)
        return mk_cpu_supports(MK_VARIANT_AVX512) && __builtin_cpu_supports("avx512bw") && mk_x86_ext(MK_X_AVX512VNNI);
#endif
    return 0;
}

static int mk_q8_cached = -2;

int mk_q8_best_variant(void) {
    int v = __atomic_load_n(&mk_q8_cached, __ATOMIC_RELAXED);
    if (v != -2) return v;
    // The general cap (MEDSAM_KERNELS) maps onto the int8 family: portable → portable, avx2 → 256-bit forms.
    int cap = mk_best_variant();
    int top = cap == MK_VARIANT_PORTABLE ? MK_Q8_PORTABLE : cap == MK_VARIANT_AVX2 ? MK_Q8_AVXVNNI : MK_Q8_AVX512VNNI;
    v = top;
    while (v > MK_Q8_PORTABLE && !mk_q8_cpu_supports(v)) v--;
    __atomic_store_n(&mk_q8_cached, v, __ATOMIC_RELAXED);
    return v;
}

int mk_q8_resolve_variant(int variant) {
    if (variant < 0) return mk_q8_best_variant();
    if (variant > MK_Q8_AVX512VNNI) variant = MK_Q8_AVX512VNNI;
    while (variant > MK_Q8_PORTABLE && !mk_q8_cpu_supports(variant)) variant--;
    return variant;
}

int mk_bf16_native(void) {
#ifdef MK_X86
    return mk_best_variant() >= MK_VARIANT_AVX512 && __builtin_cpu_supports("avx512bw") && mk_x86_ext(MK_X_AVX512BF16);
#else
    return 0;
#endif
}
// ---- end of reduced-precision GEMM variants ------------------------------------------------------------

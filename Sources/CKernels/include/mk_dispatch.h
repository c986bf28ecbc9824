#ifndef MEDSAM_MK_DISPATCH_H
#define MEDSAM_MK_DISPATCH_H
// Run-time choice of a kernel variant (cpuid; no compiler flags are needed to build any of them).
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Kernel variants, in increasing order of the instructions they need.
enum {
    MK_VARIANT_AUTO = -1,     ///< the best variant this CPU runs (mk_best_variant)
    MK_VARIANT_PORTABLE = 0,  ///< plain C
    MK_VARIANT_AVX2 = 1,      ///< AVX2 + FMA (x86-64)
    MK_VARIANT_AVX512 = 2     ///< AVX-512F (x86-64)
};

/// The highest variant the CPU supports (cpuid, checked once), lowered to the value of the environment
/// variable MEDSAM_KERNELS ("portable", "avx2", "avx512") when that is set to a lower one.
int mk_best_variant(void);

/// Whether this CPU can run `variant`.
int mk_cpu_supports(int variant);

/// The variant a call with `variant` runs: AUTO → mk_best_variant(); otherwise the highest variant the
/// CPU supports that is not above `variant`.
int mk_resolve_variant(int variant);

/// Whether the AVX2+FMA paths (or better) are in use (for diagnostics and benchmarks).
int mk_has_avx2(void);

/// The GEMM instruction tier of this CPU, OS support included (independent of MEDSAM_KERNELS):
/// 0 = no AVX2+FMA, 1 = AVX2+FMA, 2 = AVX-512 F/BW/VL/DQ, 3 = the same plus AVX512_BF16.
int mk_cpu_gemm_tier(void);

#ifdef __cplusplus
}
#endif
#endif

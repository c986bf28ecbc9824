#ifndef MEDSAM_CKERNELS_H
#define MEDSAM_CKERNELS_H
// The package's own C kernels, one header (and one .c file) per family. Swift reaches them only
// through the `Kernels` namespace of the Tensor module (Sources/Tensor/Kernels.swift).
//
// Every kernel `mk_X(...)` has a twin `mk_X_v(variant, ...)`: `mk_X` runs the best variant this CPU
// has (see mk_dispatch.h), `mk_X_v` runs the one asked for (clamped to what the CPU can run), so the
// portable, AVX2+FMA and AVX-512F versions can all be tested on one machine.
#include "mk_dispatch.h"
#include "mk_activations.h"
#include "mk_epilogues.h"
#include "mk_normalization.h"
#include "mk_softmax.h"
#include "mk_depthwise.h"
#include "mk_attention.h"
#include "mk_elementwise.h"
#include "mk_sam_relpos.h"
#include "mk_gemm_int8.h"   // reduced-precision GEMMs (int8, bf16)
#include "mk_gemm_f32.h"    // the fp32 GEMM on weights packed at load
#endif

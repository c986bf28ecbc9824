#ifndef MEDSAM_MK_SAM_RELPOS_H
#define MEDSAM_MK_SAM_RELPOS_H
// Model-specific: SAM ViT's decomposed relative positions (`add_decomposed_rel_pos`).
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// For each of `rows` score rows (stride `ld`, laid out as kh·kw):
/// scores[r][i·kw + j] += relh[r·kh + i] + relw[r·kw + j].
void mk_add_relpos(float *scores, ptrdiff_t rows, ptrdiff_t ld, const float *relh, const float *relw,
                   ptrdiff_t kh, ptrdiff_t kw);
void mk_add_relpos_v(int variant, float *scores, ptrdiff_t rows, ptrdiff_t ld, const float *relh, const float *relw,
                     ptrdiff_t kh, ptrdiff_t kw);

#ifdef __cplusplus
}
#endif
#endif

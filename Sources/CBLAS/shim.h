#ifndef MEDSAM_CBLAS_SHIM_H
#define MEDSAM_CBLAS_SHIM_H
// OpenBLAS' CBLAS interface (Debian: libopenblas-dev, found through pkg-config "openblas").
#include <cblas.h>
// Thread control, exported by OpenBLAS (declared in its cblas.h as well; repeated for other providers).
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
#endif

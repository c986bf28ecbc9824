#ifndef MEDSAM_CPNG_SHIM_H
#define MEDSAM_CPNG_SHIM_H
// libpng 1.6 (Debian: libpng-dev, pkg-config "libpng"); MedicalIO uses the simplified png_image_* API,
// which reports errors through return codes (no setjmp/longjmp needed from Swift).
#include <png.h>
#endif

#ifndef MEDSAM_CZLIBIO_SHIM_H
#define MEDSAM_CZLIBIO_SHIM_H
// zlib (Debian: zlib1g-dev, pkg-config "zlib"). Named CZlibIO because ZIPFoundation already
// declares a module "CZlib" on Linux; two modules of one name cannot coexist in a build.
#include <zlib.h>
#endif

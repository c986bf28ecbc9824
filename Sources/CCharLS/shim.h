#ifndef MEDSAM_CCHARLS_SHIM_H
#define MEDSAM_CCHARLS_SHIM_H
// CharLS (Debian: libcharls-dev, pkg-config "charls"): JPEG-LS decoding for DICOM 1.2.840.10008.1.2.4.80/.81.
// Only the C API is used; every call returns an error code (no exceptions cross into Swift).
#include <stddef.h>
#include <stdint.h>
#include <charls/charls.h>
#endif

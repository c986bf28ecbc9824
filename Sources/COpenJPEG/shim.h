#ifndef MEDSAM_COPENJPEG_SHIM_H
#define MEDSAM_COPENJPEG_SHIM_H
// OpenJPEG (Debian: libopenjp2-7-dev, pkg-config "libopenjp2"): JPEG 2000 decoding for DICOM
// 1.2.840.10008.1.2.4.90/.91. Errors are reported through return codes and a message callback.
#include <stddef.h>
#include <openjpeg.h>
#endif

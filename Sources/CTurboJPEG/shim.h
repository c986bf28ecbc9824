#ifndef MEDSAM_CTURBOJPEG_SHIM_H
#define MEDSAM_CTURBOJPEG_SHIM_H
// libjpeg-turbo's TurboJPEG API (Debian: libturbojpeg0-dev, pkg-config "libturbojpeg"). Used instead of the
// classic libjpeg API because libjpeg reports fatal errors through error_exit (exit() or longjmp), which
// Swift cannot catch; TurboJPEG returns error codes.
#include <stddef.h>
#include <turbojpeg.h>
#endif

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (compiler-rt, LLVM ≥ 11), linked by `-sanitize=fuzzer`. SwiftPM gives every
/// executable its own `main`, so the targets call the driver themselves instead of using libFuzzer's `main`.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (compiler-rt, LLVM ≥ 11), linked by `-sanitize=fuzzer`. SwiftPM gives every
/// executable its own `main`, so the targets call the driver themselves instead of using libFuzzer's `main`.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

/// libFuzzer's own mutator (for custom mutators that fall back to it).
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t maxSize);

/// Makes this process's custom mutator rewrite DICOM IS/DS values (explicit VR) with the number tokens that
/// trapped before (nan, inf, 1e400, -0, an empty multi-value…) for one mutation in four, fixing the element
/// length; every other mutation is libFuzzer's own. Without this call the custom mutator is libFuzzer's.
void MedSAMFuzzUseDICOMValueMutator(void);

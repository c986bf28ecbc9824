// Declarations of the libFuzzer driver (see include/CLibFuzzer.h) and a structure-aware custom mutator.
#include "CLibFuzzer.h"
#include <string.h>

static int use_dicom_values = 0;

void MedSAMFuzzUseDICOMValueMutator(void) { use_dicom_values = 1; }

// Tokens for IS (integer string) and DS (decimal string) values: what a file may hold where a number is due.
static const char *const number_tokens[] = {
    "nan", "NaN", "inf", "-inf", "Infinity", "-0", "1e400", "-1e400", "1e20", "1e30", "1.7976931348623157e308",
    "4.9e-324", "\\", "", " ", "1A", "2147483647", "2147483648", "-2147483649", "9223372036854775808", "-1", "0",
    "+1", " 1", "1\\2", "\\\\", "0x10", ".", "e5", "1e-400",
};

// libFuzzer calls this for every mutation when it is defined (weak hook). Rewrites one explicit-VR IS/DS value.
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed) {
    if (!use_dicom_values || seed % 4 != 0) return LLVMFuzzerMutate(data, size, max_size);
    size_t candidates[256];
    size_t n = 0;
    for (size_t i = 0; i + 8 <= size && n < 256; i++) {
        if ((data[i + 4] == 'I' || data[i + 4] == 'D') && data[i + 5] == 'S') {
            size_t len = (size_t)data[i + 6] | ((size_t)data[i + 7] << 8);
            if (i + 8 + len <= size) candidates[n++] = i;
        }
    }
    if (n == 0) return LLVMFuzzerMutate(data, size, max_size);
    unsigned int r = seed * 1103515245u + 12345u;
    size_t at = candidates[(r >> 8) % n];
    const char *token = number_tokens[(r >> 20) % (sizeof number_tokens / sizeof number_tokens[0])];
    size_t old_len = (size_t)data[at + 6] | ((size_t)data[at + 7] << 8);
    size_t token_len = strlen(token), new_len = token_len + (token_len & 1);   // values have even length
    size_t tail = size - (at + 8 + old_len);
    size_t new_size = size - old_len + new_len;
    if (new_size > max_size) return LLVMFuzzerMutate(data, size, max_size);
    memmove(data + at + 8 + new_len, data + at + 8 + old_len, tail);
    memcpy(data + at + 8, token, token_len);
    if (token_len & 1) data[at + 8 + token_len] = ' ';
    data[at + 6] = (uint8_t)(new_len & 0xff);
    data[at + 7] = (uint8_t)(new_len >> 8);
    return new_size;
}

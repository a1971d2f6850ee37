/* Shared by the fuzz targets: CHECK traps (libFuzzer reports a crash with the input) when an
 * invariant of the code under test does not hold, and the libFuzzer entry point. */
#ifndef HLM_FUZZ_CHECK_H
#define HLM_FUZZ_CHECK_H

#include <stddef.h>
#include <stdint.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) __builtin_trap();                                                             \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif

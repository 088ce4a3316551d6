/* rng.c - the xorshift generator the kernel tests draw their data from
 * (test.h): one definition instead of a copy per test. */
#include "support/test.h"

uint64_t mmtest_rng_u64(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

float mmtest_rng_f(uint64_t *state)
{
    /* 2^53: the top 53 bits as a double in [0, 1), then [-1, 1) */
    return (float)((double)(mmtest_rng_u64(state) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* parse.c - strict parsing of integers, booleans and byte sizes: the whole
 * string must be consumed, and out-of-range values are errors, never clamped. */
#include "core/core.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int mm_parse_i64(const char *text, int64_t min, int64_t max, int64_t *out)
{
    if (!text)
        return MM_EINVAL;
    while (isspace((unsigned char)*text))
        text++;
    if (!*text)
        return MM_EINVAL;
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text)
        return MM_EINVAL;
    while (isspace((unsigned char)*end))
        end++;
    if (*end || v < min || v > max)
        return MM_EINVAL;
    *out = (int64_t)v;
    return 0;
}

int mm_parse_bool(const char *text, bool *out)
{
    static const char *yes[] = { "1", "true", "yes", "on" };
    static const char *no[] = { "0", "false", "no", "off" };
    if (!text)
        return MM_EINVAL;
    for (size_t i = 0; i < MM_ARRAY_LEN(yes); i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return MM_EINVAL;
}

int mm_parse_size(const char *text, uint64_t *out)
{
    if (!text)
        return MM_EINVAL;
    while (isspace((unsigned char)*text))
        text++;
    if (!isdigit((unsigned char)*text))
        return MM_EINVAL;
    /* Decimal digits with an optional fraction only: strtod alone would also
     * take hex ("0x10"), exponents ("1e3") and the locale's radix. */
    const char *number_end = text;
    while (isdigit((unsigned char)*number_end))
        number_end++;
    if (*number_end == '.')
        for (number_end++; isdigit((unsigned char)*number_end); number_end++) {}
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end != number_end || !isfinite(v) || v < 0)
        return MM_EINVAL;
    while (isspace((unsigned char)*end))
        end++;
    double mult = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K': mult = 1024.0; end++; break;
    case 'M': mult = 1024.0 * 1024; end++; break;
    case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
    case 'T': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
    case '\0': break;
    case 'B': break;
    default: return MM_EINVAL;
    }
    /* Accept K, KB, KiB (all binary: memory is counted in pages). */
    if (mult > 1 && (end[0] == 'i' || end[0] == 'I'))
        end++;
    if (*end == 'B' || *end == 'b')
        end++;
    while (isspace((unsigned char)*end))
        end++;
    if (*end)
        return MM_EINVAL;
    double bytes = v * mult;
    if (bytes >= 18446744073709551615.0)
        return MM_EINVAL;
    *out = (uint64_t)bytes;
    return 0;
}

bool mm_double_to_count(double v, uint64_t max, uint64_t *out)
{
    if (max > MM_COUNT_MAX)
        max = MM_COUNT_MAX;
    /* the comparisons are false for NaN, so it is refused too */
    if (!(v >= 0 && v <= (double)max) || v != (double)(uint64_t)v)
        return false;
    *out = (uint64_t)v;
    return true;
}

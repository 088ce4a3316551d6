/* gguf-meta.c - typed metadata lookups over an opened GGUF file: integers of
 * any stored width converted when the value fits, floats, bools, strings and
 * arrays, by key or by index. Values were validated at open time. */
#include "gguf/gguf.h"

#include <string.h>

static uint64_t load_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

int gguf_kv_int(const gguf_file *f, size_t i, bool *negative, uint64_t *magnitude)
{
    const uint8_t *p = gguf_kv_data(f, i);
    if (!p)
        return MM_EINVAL;
    int64_t s;
    switch (gguf_kv_type(f, i)) {
    case GGUF_TYPE_UINT8:  *negative = false; *magnitude = p[0]; return 0;
    case GGUF_TYPE_UINT16: *negative = false; *magnitude = load_le(p, 2); return 0;
    case GGUF_TYPE_UINT32: *negative = false; *magnitude = load_le(p, 4); return 0;
    case GGUF_TYPE_UINT64: *negative = false; *magnitude = load_le(p, 8); return 0;
    case GGUF_TYPE_INT8:   s = (int8_t)p[0]; break;
    case GGUF_TYPE_INT16:  s = (int16_t)(uint16_t)load_le(p, 2); break;
    case GGUF_TYPE_INT32:  s = (int32_t)(uint32_t)load_le(p, 4); break;
    case GGUF_TYPE_INT64:  s = (int64_t)load_le(p, 8); break;
    default: return MM_EFORMAT;
    }
    *negative = s < 0;
    *magnitude = s < 0 ? (uint64_t)0 - (uint64_t)s : (uint64_t)s;
    return 0;
}

/* The integer stored under key, as sign and magnitude. */
static int key_int(const gguf_file *f, const char *key, bool *negative, uint64_t *magnitude)
{
    int64_t i = gguf_find_key(f, key);
    if (i < 0)
        return MM_ENOTFOUND;
    return gguf_kv_int(f, (size_t)i, negative, magnitude);
}

int gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out)
{
    bool neg;
    uint64_t mag;
    int rc = key_int(f, key, &neg, &mag);
    if (rc)
        return rc;
    if (neg)
        return MM_EFORMAT;
    *out = mag;
    return 0;
}

int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out)
{
    uint64_t v;
    int rc = gguf_get_u64(f, key, &v);
    if (rc)
        return rc;
    if (v > UINT32_MAX)
        return MM_EFORMAT;
    *out = (uint32_t)v;
    return 0;
}

int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out)
{
    bool neg;
    uint64_t mag;
    int rc = key_int(f, key, &neg, &mag);
    if (rc)
        return rc;
    if (neg ? mag > (uint64_t)INT64_MAX + 1 : mag > (uint64_t)INT64_MAX)
        return MM_EFORMAT;
    /* -2^63 has no positive counterpart: negate in unsigned arithmetic. */
    *out = neg ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
    return 0;
}

int gguf_get_i32(const gguf_file *f, const char *key, int32_t *out)
{
    int64_t v;
    int rc = gguf_get_i64(f, key, &v);
    if (rc)
        return rc;
    if (v < INT32_MIN || v > INT32_MAX)
        return MM_EFORMAT;
    *out = (int32_t)v;
    return 0;
}

/* Floats are stored little-endian; the reader only builds for little-endian
 * hosts (gguf-read.c), so the stored bytes are the host's. */
int gguf_get_f64(const gguf_file *f, const char *key, double *out)
{
    int64_t i = gguf_find_key(f, key);
    if (i < 0)
        return MM_ENOTFOUND;
    const void *p = gguf_kv_data(f, (size_t)i);
    switch (gguf_kv_type(f, (size_t)i)) {
    case GGUF_TYPE_FLOAT32: {
        float v;
        memcpy(&v, p, sizeof v);
        *out = v;
        return 0;
    }
    case GGUF_TYPE_FLOAT64:
        memcpy(out, p, sizeof *out);
        return 0;
    default:
        return MM_EFORMAT;
    }
}

int gguf_get_f32(const gguf_file *f, const char *key, float *out)
{
    double d;
    int rc = gguf_get_f64(f, key, &d);
    if (rc == 0)
        *out = (float)d;
    return rc;
}

int gguf_get_bool(const gguf_file *f, const char *key, bool *out)
{
    int64_t i = gguf_find_key(f, key);
    if (i < 0)
        return MM_ENOTFOUND;
    if (gguf_kv_type(f, (size_t)i) != GGUF_TYPE_BOOL)
        return MM_EFORMAT;
    *out = *(const uint8_t *)gguf_kv_data(f, (size_t)i) != 0;
    return 0;
}

int gguf_kv_str(const gguf_file *f, size_t i, gguf_str *out)
{
    if (i >= gguf_kv_count(f) || gguf_kv_type(f, i) != GGUF_TYPE_STRING)
        return MM_EINVAL;
    const uint8_t *p = gguf_kv_data(f, i);
    out->len = load_le(p, 8);
    out->ptr = (const char *)p + 8;
    return 0;
}

int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out)
{
    int64_t i = gguf_find_key(f, key);
    if (i < 0)
        return MM_ENOTFOUND;
    return gguf_kv_str(f, (size_t)i, out) == 0 ? 0 : MM_EFORMAT;
}

int gguf_get_arr(const gguf_file *f, const char *key, gguf_arr *out)
{
    int64_t i = gguf_find_key(f, key);
    if (i < 0)
        return MM_ENOTFOUND;
    return gguf_kv_arr(f, (size_t)i, out) == 0 ? 0 : MM_EFORMAT;
}

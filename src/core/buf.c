/* buf.c - capped growable buffers and the small string helpers. */
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mm_buf_init(mm_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
    b->failed = false;
}

static int buf_reserve(mm_buf *b, size_t extra)
{
    if (b->failed)
        return MM_ENOMEM;
    if (extra > b->max || b->len > b->max - extra) {
        b->failed = true;
        return MM_ELIMIT;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *data = realloc(b->data, cap);
    if (!data) {
        b->failed = true;
        return MM_ENOMEM;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

int mm_buf_append(mm_buf *b, const void *data, size_t len)
{
    int rc = buf_reserve(b, len);
    if (rc)
        return rc;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int mm_buf_puts(mm_buf *b, const char *s)
{
    return mm_buf_append(b, s, strlen(s));
}

int mm_buf_printf(mm_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return MM_EINVAL;
    int rc = buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

char *mm_buf_take(mm_buf *b)
{
    char *data = b->data;
    if (!data)
        data = calloc(1, 1);
    mm_buf_init(b, b->max);
    return data;
}

void mm_buf_free(mm_buf *b)
{
    free(b->data);
    mm_buf_init(b, b->max);
}

char *mm_strdup(const char *s)
{
    return s ? mm_strndup(s, strlen(s)) : NULL;
}

char *mm_strndup(const char *s, size_t n)
{
    if (!s)
        return NULL;
    size_t len = strnlen(s, n);
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, s, len);
        copy[len] = '\0';
    }
    return copy;
}

char *mm_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *out = malloc((size_t)n + 1);
    if (!out)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(out, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return out;
}

size_t mm_strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);
    if (size) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

bool mm_str_has_suffix(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

bool mm_str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

char *mm_str_trim(char *s)
{
    size_t len = strlen(s);
    while (len && is_space(s[len - 1]))
        s[--len] = '\0';
    size_t start = 0;
    while (is_space(s[start]))
        start++;
    if (start)
        memmove(s, s + start, len - start + 1);
    return s;
}

char *mm_path_join(const char *a, const char *b)
{
    if (!a || !*a)
        return mm_strdup(b);
    if (b[0] == '/')
        return mm_strdup(b);
    size_t la = strlen(a);
    while (la > 1 && a[la - 1] == '/')
        la--;
    return mm_asprintf("%.*s/%s", (int)la, a, b);
}

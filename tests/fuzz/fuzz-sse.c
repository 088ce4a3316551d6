/* fuzz-sse.c - the remote backend's incremental SSE parser on arbitrary
 * bytes split at arbitrary points: the events it reports must not depend on
 * where the stream was split, and no event may exceed the line bound. */
#include "backends/backends.h"
#include "fuzz.h"

#include <string.h>

#define SSE_FUZZ_MAX 4096   /* small bound so the ELIMIT path is reached */

typedef struct events {
    mm_buf all;             /* every event's data, each followed by '\0' */
    size_t n;
} events;

static int on_data(const char *data, size_t len, void *user)
{
    events *ev = user;
    FUZZ_CHECK(len <= SSE_FUZZ_MAX);
    ev->n++;
    if (mm_buf_append(&ev->all, data, len) || mm_buf_append(&ev->all, "", 1))
        return MM_ENOMEM;
    return 0;
}

/* Feed text in pieces whose sizes come from the seed; returns the result. */
static int run(const char *text, size_t len, uint8_t seed, events *ev)
{
    backend_sse p;
    backend_sse_init(&p, SSE_FUZZ_MAX, on_data, ev);
    int rc = 0;
    size_t pos = 0;
    unsigned step = seed;
    while (pos < len && rc == 0) {
        step = step * 1103515245u + 12345u;
        size_t n = seed == 0 ? len - pos : 1 + (step >> 16) % 64;
        if (n > len - pos)
            n = len - pos;
        rc = backend_sse_feed(&p, text + pos, n);
        pos += n;
    }
    if (rc == 0)
        rc = backend_sse_finish(&p);
    backend_sse_free(&p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    events whole, split;
    mm_buf_init(&whole.all, 1u << 24);
    mm_buf_init(&split.all, 1u << 24);
    whole.n = split.n = 0;
    int rc_whole = run(text, len, 0, &whole);
    int rc_split = run(text, len, data[0] | 1, &split);
    FUZZ_CHECK(rc_whole == 0 || rc_whole == MM_ELIMIT || rc_whole == MM_ENOMEM);
    /* Splitting changes nothing: neither the outcome nor the events. */
    FUZZ_CHECK(rc_whole == rc_split);
    if (rc_whole == 0) {
        FUZZ_CHECK(whole.n == split.n);
        FUZZ_CHECK(whole.all.len == split.all.len);
        FUZZ_CHECK(whole.all.len == 0 || memcmp(whole.all.data, split.all.data, whole.all.len) == 0);
    }
    mm_buf_free(&whole.all);
    mm_buf_free(&split.all);
    return 0;
}

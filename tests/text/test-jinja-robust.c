/* test-jinja-robust.c - the interpreter on thousands of damaged templates
 * (the unit cases, mutated with a fixed seed): every one must parse and
 * render to a result or a clean MM_EINVAL/MM_ELIMIT, the same way twice.
 * Run under make test-asan, this is a memory-safety check of every path. */
#include "text/text.h"
#include "support/test.h"

#include <stdlib.h>
#include <string.h>

#include "jinja-unit-cases.inc"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)rng_state;
}

/* Replace, delete or duplicate a few bytes; len grows by at most 16 per edit. */
static size_t mutate(char *s, size_t len, size_t cap)
{
    static const char pool[] = "{}%#-+()[]|.,'\"~ \n0az_!=<>*/:";
    int edits = 1 + (int)(rnd() % 4);
    for (int k = 0; k < edits && len > 0; k++) {
        size_t at = rnd() % len;
        switch (rnd() % 3) {
        case 0:
            s[at] = pool[rnd() % (sizeof pool - 1)];
            break;
        case 1:
            memmove(s + at, s + at + 1, len - at - 1);
            len--;
            break;
        default: {
            size_t from = rnd() % len, n = rnd() % 16;
            char tmp[16];
            if (from + n > len)
                n = len - from;
            if (len + n >= cap)
                break;
            memcpy(tmp, s + from, n);
            memmove(s + at + n, s + at, len - at);
            memcpy(s + at, tmp, n);
            len += n;
        }
        }
    }
    s[len] = '\0';
    return len;
}

static int render_once(const text_tmpl *t, const cJSON *ctx, char **out, mm_error *err)
{
    text_tmpl_opts opts = { .now_unix = 1721989800, .max_steps = 20000, .max_output = 1u << 16,
                            .max_memory = 8u << 20 };
    mm_buf b;
    mm_buf_init(&b, 1u << 20);
    int rc = text_tmpl_render(t, ctx, &opts, &b, err);
    *out = mm_buf_take(&b);
    mm_buf_free(&b);
    return rc;
}

int main(void)
{
    cJSON *ctx = cJSON_Parse(UNIT_CONTEXT);
    CHECK(ctx != NULL);
    int rendered = 0, refused = 0;
    char buf[4096];
    for (int iter = 0; iter < 6000; iter++) {
        const char *src = UNIT_CASES[rnd() % MM_ARRAY_LEN(UNIT_CASES)].src;
        size_t len = strlen(src);
        if (len >= sizeof buf / 2)
            continue;
        memcpy(buf, src, len + 1);
        len = mutate(buf, len, sizeof buf);
        text_tmpl *t = NULL;
        mm_error err = { 0 };
        int rc = text_tmpl_parse(buf, len, &t, &err);
        mmtest_checks++;
        if (rc != 0) {
            if (rc != MM_EINVAL && rc != MM_ELIMIT)
                mmtest_fail(__FILE__, __LINE__, "parse rc %d for [%s]", rc, buf);
            refused++;
            continue;
        }
        char *out1 = NULL, *out2 = NULL;
        mm_error err2 = { 0 };
        int rc1 = render_once(t, ctx, &out1, &err);
        int rc2 = render_once(t, ctx, &out2, &err2);
        if (rc1 != 0 && rc1 != MM_EINVAL && rc1 != MM_ELIMIT)
            mmtest_fail(__FILE__, __LINE__, "render rc %d for [%s]: %s", rc1, buf, err.message);
        if (rc1 != rc2 || strcmp(out1 ? out1 : "", out2 ? out2 : "") != 0 ||
            (rc1 && strcmp(err.message, err2.message) != 0))
            mmtest_fail(__FILE__, __LINE__, "two renders of [%s] differ", buf);
        if (rc1 == 0)
            rendered++;
        else
            refused++;
        free(out1);
        free(out2);
        text_tmpl_free(t);
    }
    printf("damaged templates: %d rendered, %d refused cleanly\n", rendered, refused);
    CHECK(rendered > 100);
    cJSON_Delete(ctx);
    return mmtest_finish();
}

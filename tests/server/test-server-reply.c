/* test-server-reply.c - the server's hand-written JSON against cJSON, which
 * printed the same answers before (cJSON is the reference: an independent
 * implementation): every byte value in a string, numbers at the edges of
 * cJSON's integer and "%1.15g" rules. And request ids: their form, and no
 * repeat across threads. */
#include "server/server.h"
#include "support/test.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* What cJSON prints for the string s. */
static char *cjson_string(const char *s)
{
    cJSON *item = cJSON_CreateString(s);
    char *text = cJSON_PrintUnformatted(item);
    cJSON_Delete(item);
    return text;
}

static char *ours_string(const char *s, size_t len)
{
    mm_buf b;
    mm_buf_init(&b, 1 << 20);
    server_json_string(&b, s, len);
    CHECK(!b.failed);
    return mm_buf_take(&b);
}

static void test_strings(void)
{
    /* Each byte alone, between other text. */
    for (int c = 1; c < 256; c++) {
        char s[8] = { 'a', (char)c, 'b', '\0' };
        char *want = cjson_string(s);
        char *got = ours_string(s, strlen(s));
        if (strcmp(want, got) != 0)
            mmtest_fail(__FILE__, __LINE__, "byte 0x%02x: got %s, cJSON %s", c, got, want);
        mmtest_checks++;
        free(want);
        free(got);
    }
    /* Runs of escapes, UTF-8, the empty string. */
    const char *cases[] = {
        "", "\"", "\\\\\"\"", "line\nline\r\n\ttab", "\x01\x1f\x7f", "caf\xc3\xa9 \xe2\x82\xac",
        "{\"json\":[1,2]}", "</script>",
    };
    for (size_t i = 0; i < MM_ARRAY_LEN(cases); i++) {
        char *want = cjson_string(cases[i]);
        char *got = ours_string(cases[i], strlen(cases[i]));
        CHECK_STR(got, want);
        free(want);
        free(got);
    }
    /* A length shorter than the string cuts it; a NUL ends it as cJSON's
     * C strings end. */
    char *got = ours_string("abcdef", 3);
    CHECK_STR(got, "\"abc\"");
    free(got);
    got = ours_string("ab\0cd", 5);
    CHECK_STR(got, "\"ab\"");
    free(got);
}

static void test_numbers(void)
{
    const int64_t cases[] = {
        0, 1, -1, 42, 1764201600, 2147483647LL, 2147483648LL, -2147483648LL, -2147483649LL,
        4294967296LL, 999999999999999LL, -999999999999999LL, 1000000000000000LL,
        -1000000000000000LL, 1234567890123456LL, 9007199254740993LL, 4611686018427387903LL,
        INT64_MAX, INT64_MIN + 1,
    };
    for (size_t i = 0; i < MM_ARRAY_LEN(cases); i++) {
        cJSON *item = cJSON_CreateNumber((double)cases[i]);
        char *want = cJSON_PrintUnformatted(item);
        cJSON_Delete(item);
        mm_buf b;
        mm_buf_init(&b, 64);
        server_json_int(&b, cases[i]);
        if (!b.data || strcmp(b.data, want) != 0)
            mmtest_fail(__FILE__, __LINE__, "%lld: got %s, cJSON %s", (long long)cases[i],
                        b.data ? b.data : "(null)", want);
        mmtest_checks++;
        mm_buf_free(&b);
        free(want);
    }
}

#define ID_THREADS 4
#define IDS_EACH   5000

static char ids[ID_THREADS * IDS_EACH][48];

static void *make_ids(void *arg)
{
    size_t t = (size_t)(uintptr_t)arg;
    for (size_t i = 0; i < IDS_EACH; i++)
        server_random_id("req-", ids[t * IDS_EACH + i], sizeof ids[0]);
    return NULL;
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_ids(void)
{
    pthread_t th[ID_THREADS];
    for (size_t t = 0; t < ID_THREADS; t++)
        pthread_create(&th[t], NULL, make_ids, (void *)(uintptr_t)t);
    for (size_t t = 0; t < ID_THREADS; t++)
        pthread_join(th[t], NULL);
    size_t bad = 0;
    for (size_t i = 0; i < ID_THREADS * IDS_EACH; i++) {
        const char *id = ids[i];
        bool ok = strncmp(id, "req-", 4) == 0 && strlen(id) == 4 + 24 &&
                  strspn(id + 4, "0123456789abcdef") == 24;
        bad += !ok;
    }
    CHECK_INT(bad, 0);
    qsort(ids, ID_THREADS * IDS_EACH, sizeof ids[0], cmp_id);
    size_t repeats = 0;
    for (size_t i = 1; i < ID_THREADS * IDS_EACH; i++)
        repeats += strcmp(ids[i - 1], ids[i]) == 0;
    CHECK_INT(repeats, 0);

    /* A buffer too small keeps a terminated prefix. */
    char small[10];
    server_random_id("chatcmpl-", small, sizeof small);
    CHECK_STR(small, "chatcmpl-");
    char tiny[4];
    server_random_id("chatcmpl-", tiny, sizeof tiny);
    CHECK_STR(tiny, "cha");
    char id[48];
    server_random_id("", id, sizeof id);
    CHECK_INT(strlen(id), 24);
}

int main(void)
{
    test_strings();
    test_numbers();
    test_ids();
    return mmtest_finish();
}

/* test-cache.c - the response cache: only deterministic requests are
 * cacheable, every output-changing field changes the key, hits and misses
 * are counted, entries expire after the TTL (on an injected clock) and the
 * least recently used entry is evicted first. */
#include "runtime/runtime.h"
#include "support/test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static int64_t fake_now;

static int64_t fake_clock(void *user)
{
    (void)user;
    return fake_now;
}

static void test_cacheable(void)
{
    mm_gen_request r = { .prompt = "hi" };
    CHECK(rt_cache_cacheable(&r));           /* temperature 0 */
    r.temperature = 0.8;
    CHECK(!rt_cache_cacheable(&r));          /* sampled */
    r.has_seed = true;
    r.seed = 42;
    CHECK(rt_cache_cacheable(&r));           /* sampled, fixed seed */
    r.no_cache = true;
    CHECK(!rt_cache_cacheable(&r));
    CHECK(!rt_cache_cacheable(NULL));
}

static void check_keys_differ(const mm_gen_request *a, const mm_gen_request *b)
{
    char *ka = rt_cache_key("m", a), *kb = rt_cache_key("m", b);
    CHECK(ka && kb && strcmp(ka, kb) != 0);
    free(ka);
    free(kb);
}

static void test_keys(void)
{
    mm_gen_request base = { .prompt = "hello", .temperature = 0, .max_tokens = 16 };
    mm_gen_request r = base;
    char *k1 = rt_cache_key("m", &base), *k2 = rt_cache_key("m", &r);
    CHECK_STR(k1, k2);
    free(k2);
    k2 = rt_cache_key("n", &base);            /* another model */
    CHECK(strcmp(k1, k2) != 0);
    free(k1);
    free(k2);
    r.prompt = "hellO";
    check_keys_differ(&base, &r);
    r = base;
    r.max_tokens = 17;
    check_keys_differ(&base, &r);
    r = base;
    r.top_k = 40;
    check_keys_differ(&base, &r);
    r = base;
    r.temperature = 0.5;
    r.has_seed = true;
    mm_gen_request r2 = r;
    r2.seed = 1;
    check_keys_differ(&r, &r2);
    /* Length prefixes keep field boundaries: ("ab","c") vs ("a","bc"). */
    mm_gen_message m1[] = { { "ab", "c" } }, m2[] = { { "a", "bc" } };
    mm_gen_request c1 = { .messages = m1, .n_messages = 1 };
    mm_gen_request c2 = { .messages = m2, .n_messages = 1 };
    check_keys_differ(&c1, &c2);
    /* A prompt vs the same text as a message. */
    mm_gen_message m3[] = { { "user", "hello" } };
    mm_gen_request c3 = { .messages = m3, .n_messages = 1 };
    check_keys_differ(&base, &c3);
}

static void test_hits_ttl_lru(void)
{
    fake_now = 1000;
    rt_cache *c = NULL;
    CHECK_INT(rt_cache_new(2, 10, fake_clock, NULL, &c, NULL), 0);
    CHECK(rt_cache_get(c, "a") == NULL);                /* miss 1 */
    CHECK_INT(rt_cache_put(c, "a", "A"), 0);
    char *t = rt_cache_get(c, "a");                     /* hit 1 */
    CHECK_STR(t, "A");
    free(t);
    rt_cache_stats st;
    rt_cache_stats_get(c, &st);
    CHECK_INT(st.hits, 1);
    CHECK_INT(st.misses, 1);
    CHECK_INT(st.entries, 1);

    /* LRU: a is touched after b, so c's arrival evicts b. */
    CHECK_INT(rt_cache_put(c, "b", "B"), 0);
    t = rt_cache_get(c, "a");                           /* hit 2 */
    free(t);
    CHECK_INT(rt_cache_put(c, "c", "C"), 0);
    CHECK(rt_cache_get(c, "b") == NULL);                /* miss 2: evicted */
    t = rt_cache_get(c, "a");                           /* hit 3 */
    CHECK_STR(t, "A");
    free(t);
    t = rt_cache_get(c, "c");                           /* hit 4 */
    CHECK_STR(t, "C");
    free(t);
    rt_cache_stats_get(c, &st);
    CHECK_INT(st.evictions, 1);
    CHECK_INT(st.entries, 2);
    CHECK_INT(st.hits, 4);
    CHECK_INT(st.misses, 2);

    /* TTL 10 s: valid at 9.999 s, gone at 10 s. */
    fake_now = 1000 + 9999;
    t = rt_cache_get(c, "c");
    CHECK_STR(t, "C");
    free(t);
    fake_now = 1000 + 10000;
    CHECK(rt_cache_get(c, "c") == NULL);
    rt_cache_stats_get(c, &st);
    CHECK_INT(st.expirations, 1);
    CHECK_INT(st.entries, 1);

    /* Replacing a key keeps one entry with the new text. */
    CHECK_INT(rt_cache_put(c, "a", "A2"), 0);
    t = rt_cache_get(c, "a");
    CHECK_STR(t, "A2");
    free(t);
    rt_cache_stats_get(c, &st);
    CHECK_INT(st.entries, 1);
    rt_cache_free(c);
    rt_cache_free(NULL);

    /* Capacity 0 stores nothing. */
    CHECK_INT(rt_cache_new(0, 10, fake_clock, NULL, &c, NULL), 0);
    CHECK_INT(rt_cache_put(c, "a", "A"), 0);
    CHECK(rt_cache_get(c, "a") == NULL);
    rt_cache_free(c);
}

/* Threads hammering one small cache: no crash, counters add up. */
static rt_cache *shared;

static void *hammer(void *arg)
{
    long id = (long)arg;
    char key[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof key, "k%d", (int)((i * 7 + id) % 50));
        char *t = rt_cache_get(shared, key);
        if (t)
            free(t);
        else
            rt_cache_put(shared, key, key);
    }
    return NULL;
}

static void test_threads(void)
{
    CHECK_INT(rt_cache_new(16, 600, NULL, NULL, &shared, NULL), 0);
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, (void *)i);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    rt_cache_stats st;
    rt_cache_stats_get(shared, &st);
    CHECK_INT(st.hits + st.misses, 4 * 2000);
    CHECK(st.entries <= 16);
    CHECK_INT(st.inserts - st.evictions - st.expirations, st.entries);
    rt_cache_free(shared);
}

int main(void)
{
    test_cacheable();
    test_keys();
    test_hits_ttl_lru();
    test_threads();
    return mmtest_finish();
}

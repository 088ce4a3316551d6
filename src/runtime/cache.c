/* cache.c - the response cache: deterministic requests (temperature 0 or a
 * fixed seed) keyed by model + canonical request, kept in a hash table with
 * an LRU list, a capacity in entries and a time to live. One mutex guards
 * it all; lookups copy the text out so no pointer escapes the lock. */
#include "runtime/runtime.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_BUCKETS_MAX (1u << 20)

typedef struct cache_entry {
    char    *key;
    char    *text;
    uint64_t hash;
    int64_t  stored_ms;
    struct cache_entry *chain;       /* next in the bucket */
    struct cache_entry *prev, *next; /* LRU list: head is the most recent */
} cache_entry;

struct rt_cache {
    pthread_mutex_t lock;
    size_t       capacity;
    int64_t      ttl_ms;
    rt_clock_fn  clock;
    void        *clock_user;
    cache_entry **buckets;
    size_t       n_buckets;          /* a power of two */
    cache_entry *head, *tail;
    size_t       entries;
    rt_cache_stats stats;
};

static int64_t cache_now(const rt_cache *c)
{
    return c->clock ? c->clock(c->clock_user) : mm_now_ms();
}

/* FNV-1a: the keys are our own canonical strings, not attacker-chosen
 * hash-flooding material beyond the request bound, and chains stay short. */
static uint64_t hash_key(const char *key)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return h;
}

int rt_cache_new(size_t capacity, int64_t ttl_s, rt_clock_fn clock, void *clock_user,
                 rt_cache **out, mm_error *err)
{
    *out = NULL;
    rt_cache *c = calloc(1, sizeof *c);
    if (!c)
        return mm_error_set(err, MM_ENOMEM, "out of memory creating the response cache");
    size_t n = 16;
    while (n < capacity && n < CACHE_BUCKETS_MAX)
        n <<= 1;
    c->buckets = calloc(n, sizeof *c->buckets);
    if (!c->buckets) {
        free(c);
        return mm_error_set(err, MM_ENOMEM, "out of memory creating the response cache");
    }
    pthread_mutex_init(&c->lock, NULL);
    c->n_buckets = n;
    c->capacity = capacity;
    c->ttl_ms = ttl_s * 1000;
    c->clock = clock;
    c->clock_user = clock_user;
    c->stats.capacity = capacity;
    *out = c;
    return 0;
}

static void entry_free(cache_entry *e)
{
    free(e->key);
    free(e->text);
    free(e);
}

void rt_cache_free(rt_cache *c)
{
    if (!c)
        return;
    cache_entry *e = c->head;
    while (e) {
        cache_entry *next = e->next;
        entry_free(e);
        e = next;
    }
    free(c->buckets);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static void lru_unlink(rt_cache *c, cache_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(rt_cache *c, cache_entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static void entry_remove(rt_cache *c, cache_entry *e)
{
    cache_entry **pp = &c->buckets[e->hash & (c->n_buckets - 1)];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    lru_unlink(c, e);
    c->entries--;
    entry_free(e);
}

static cache_entry *entry_find(rt_cache *c, const char *key, uint64_t h)
{
    for (cache_entry *e = c->buckets[h & (c->n_buckets - 1)]; e; e = e->chain)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static bool expired(const rt_cache *c, const cache_entry *e, int64_t now)
{
    return now - e->stored_ms >= c->ttl_ms;
}

char *rt_cache_get(rt_cache *c, const char *key)
{
    if (!c || !key)
        return NULL;
    uint64_t h = hash_key(key);
    char *copy = NULL;
    pthread_mutex_lock(&c->lock);
    cache_entry *e = entry_find(c, key, h);
    if (e && expired(c, e, cache_now(c))) {
        entry_remove(c, e);
        c->stats.expirations++;
        e = NULL;
    }
    if (e) {
        copy = mm_strdup(e->text);
        lru_unlink(c, e);
        lru_push_front(c, e);
    }
    if (copy)
        c->stats.hits++;
    else
        c->stats.misses++;
    pthread_mutex_unlock(&c->lock);
    return copy;
}

int rt_cache_put(rt_cache *c, const char *key, const char *text)
{
    if (!c || !key || !text || c->capacity == 0 || c->ttl_ms <= 0)
        return 0;
    if (strlen(text) > RT_CACHE_VALUE_MAX)
        return MM_ELIMIT;
    uint64_t h = hash_key(key);
    char *key_copy = mm_strdup(key), *text_copy = mm_strdup(text);
    cache_entry *fresh = calloc(1, sizeof *fresh);
    if (!key_copy || !text_copy || !fresh) {
        free(key_copy);
        free(text_copy);
        free(fresh);
        return MM_ENOMEM;
    }
    pthread_mutex_lock(&c->lock);
    int64_t now = cache_now(c);
    cache_entry *old = entry_find(c, key, h);
    bool replaced = old != NULL;
    if (old)
        entry_remove(c, old);
    while (c->entries >= c->capacity && c->tail) {
        bool was_expired = expired(c, c->tail, now);
        entry_remove(c, c->tail);
        if (was_expired)
            c->stats.expirations++;
        else
            c->stats.evictions++;
    }
    fresh->key = key_copy;
    fresh->text = text_copy;
    fresh->hash = h;
    fresh->stored_ms = now;
    size_t b = h & (c->n_buckets - 1);
    fresh->chain = c->buckets[b];
    c->buckets[b] = fresh;
    lru_push_front(c, fresh);
    c->entries++;
    if (!replaced)
        c->stats.inserts++;   /* so inserts - evictions - expirations == entries */
    pthread_mutex_unlock(&c->lock);
    return 0;
}

void rt_cache_stats_get(rt_cache *c, rt_cache_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    *out = c->stats;
    out->entries = c->entries;
    out->capacity = c->capacity;
    pthread_mutex_unlock(&c->lock);
}

bool rt_cache_cacheable(const mm_gen_request *req)
{
    return req && !req->no_cache && (req->temperature == 0.0 || req->has_seed);
}

static void put_field(mm_buf *b, char tag, const char *s)
{
    if (!s) {
        mm_buf_printf(b, "%c-;", tag);
        return;
    }
    mm_buf_printf(b, "%c%zu:", tag, strlen(s));
    mm_buf_puts(b, s);
    mm_buf_puts(b, ";");
}

char *rt_cache_key(const char *model, const mm_gen_request *req)
{
    mm_buf b;
    mm_buf_init(&b, RT_CACHE_KEY_MAX);
    put_field(&b, 'M', model);
    put_field(&b, 'P', req->prompt);
    mm_buf_printf(&b, "N%zu;", req->n_messages);
    for (size_t i = 0; i < req->n_messages && req->messages; i++) {
        put_field(&b, 'R', req->messages[i].role);
        put_field(&b, 'C', req->messages[i].content);
    }
    /* %a prints the exact double, so 0.7 and 0.70000001 never collide. */
    mm_buf_printf(&b, "t%a;p%a;k%d;n%d;", req->temperature, req->top_p, req->top_k,
                  req->max_tokens);
    mm_buf_printf(&b, "m%a;r%a;e%a;f%a;S%zu;", req->min_p, req->repeat_penalty,
                  req->presence_penalty, req->frequency_penalty, req->n_stop);
    for (size_t i = 0; i < req->n_stop && req->stop; i++)
        put_field(&b, 'x', req->stop[i]);
    if (req->has_seed)
        mm_buf_printf(&b, "s%" PRIu64 ";", req->seed);
    else
        mm_buf_puts(&b, "s-;");
    if (b.failed) {
        mm_buf_free(&b);
        return NULL;
    }
    return mm_buf_take(&b);
}

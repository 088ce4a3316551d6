/* tok-cache.c - a per-call cache from a word's bytes to its token ids:
 * natural text repeats words, and a word always encodes the same way, so
 * each distinct word runs the merge loop once. Bounded in entries and ids;
 * when full it stops learning but keeps answering. */
#include "text/text.h"

#include <stdlib.h>
#include <string.h>

#define CACHE_MAX_ENTRIES (1u << 16)
#define CACHE_MAX_IDS     (1u << 20)
#define CACHE_MAX_WORD    256u

typedef struct cache_entry {
    const char *word;      /* borrowed from the caller's text */
    uint64_t    head;      /* the word's first 8 bytes (fewer: zero-padded) */
    uint32_t    len;
    uint32_t    ids_off, n_ids;
} cache_entry;

struct text_word_cache {
    const char  *end;      /* the end of the text the words are in */
    uint32_t    *slots;    /* entry index + 1; 0 = empty */
    size_t       mask;
    cache_entry *e;
    size_t       n, cap;
    int32_t     *ids;
    size_t       n_ids, cap_ids;
    bool         full;
};

/* The first min(n, 8) bytes of word as a number, zero-padded. Most words
 * are that short, so the head is their whole key: one load, no call. */
static inline uint64_t word_head(const text_word_cache *c, const char *word, size_t n)
{
    uint64_t k = 0;
#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (c->end - word >= 8) {
        memcpy(&k, word, 8);
        return n >= 8 ? k : k & ((1ull << (8 * n)) - 1);
    }
#else
    (void)c;
#endif
    for (size_t j = 0; j < n && j < 8; j++)
        k |= (uint64_t)(uint8_t)word[j] << (8 * j);
    return k;
}

static inline uint64_t word_hash(uint64_t head, const char *s, size_t n)
{
    uint64_t h = (head ^ (0x9E3779B97F4A7C15ull * n)) * 0xff51afd7ed558ccdull;
    for (size_t i = 8; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h ^ (h >> 32);
}

text_word_cache *text_word_cache_new(const char *text, size_t len)
{
    text_word_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->end = text + len;
    c->mask = 1023;
    c->slots = calloc(c->mask + 1, sizeof *c->slots);
    if (!c->slots) {
        free(c);
        return NULL;
    }
    return c;
}

void text_word_cache_free(text_word_cache *c)
{
    if (!c)
        return;
    free(c->slots);
    free(c->e);
    free(c->ids);
    free(c);
}

bool text_word_cache_get(const text_word_cache *c, const char *word, size_t len,
                         const int32_t **ids, size_t *n_ids)
{
    if (!c || len > CACHE_MAX_WORD)
        return false;
    uint64_t head = word_head(c, word, len);
    size_t i = (size_t)word_hash(head, word, len) & c->mask;
    for (;;) {
        uint32_t s = c->slots[i];
        if (s == 0)
            return false;
        const cache_entry *e = &c->e[s - 1];
        if (e->head == head && e->len == len &&
            (len <= 8 || memcmp(e->word + 8, word + 8, len - 8) == 0)) {
            *ids = c->ids + e->ids_off;
            *n_ids = e->n_ids;
            return true;
        }
        i = (i + 1) & c->mask;
    }
}

static bool grow_slots(text_word_cache *c)
{
    size_t cap = (c->mask + 1) * 2;
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    for (size_t k = 0; k < c->n; k++) {
        size_t i = (size_t)word_hash(c->e[k].head, c->e[k].word, c->e[k].len) & (cap - 1);
        while (slots[i])
            i = (i + 1) & (cap - 1);
        slots[i] = (uint32_t)k + 1;
    }
    free(c->slots);
    c->slots = slots;
    c->mask = cap - 1;
    return true;
}

void text_word_cache_put(text_word_cache *c, const char *word, size_t len, const int32_t *ids,
                         size_t n_ids)
{
    if (!c || c->full || len > CACHE_MAX_WORD)
        return;
    if (c->n >= CACHE_MAX_ENTRIES || c->n_ids + n_ids > CACHE_MAX_IDS) {
        c->full = true;
        return;
    }
    /* an allocation failure only means less caching */
    if ((c->n + 1) * 2 > c->mask + 1 && !grow_slots(c)) {
        c->full = true;
        return;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        cache_entry *e = realloc(c->e, cap * sizeof *e);
        if (!e) {
            c->full = true;
            return;
        }
        c->e = e;
        c->cap = cap;
    }
    if (c->n_ids + n_ids > c->cap_ids) {
        size_t cap = c->cap_ids ? c->cap_ids : 1024;
        while (cap < c->n_ids + n_ids)
            cap *= 2;
        int32_t *v = realloc(c->ids, cap * sizeof *v);
        if (!v) {
            c->full = true;
            return;
        }
        c->ids = v;
        c->cap_ids = cap;
    }
    memcpy(c->ids + c->n_ids, ids, n_ids * sizeof *ids);
    cache_entry *e = &c->e[c->n];
    e->word = word;
    e->head = word_head(c, word, len);
    e->len = (uint32_t)len;
    e->ids_off = (uint32_t)c->n_ids;
    e->n_ids = (uint32_t)n_ids;
    c->n_ids += n_ids;
    size_t i = (size_t)word_hash(e->head, word, len) & c->mask;
    while (c->slots[i])
        i = (i + 1) & c->mask;
    c->slots[i] = (uint32_t)++c->n;
}

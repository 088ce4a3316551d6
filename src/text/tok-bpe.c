/* tok-bpe.c - byte-level BPE (tokenizer.ggml.model = "gpt2"): the
 * pre-tokenizer splits a fragment into words, and each word's bytes start as
 * one symbol each (their byte-to-unicode tokens) and are merged pairwise,
 * lowest merge rank first (ties: leftmost), as llama.cpp's
 * llm_tokenizer_bpe_session does. */
#include "text/text.h"

#include <stdlib.h>
#include <string.h>

typedef struct bpe_sym {
    int32_t id;      /* token of the symbol's text, -1 when none */
    int32_t prev, next;
    uint32_t n;      /* bytes of the word covered; 0 once merged away */
} bpe_sym;

typedef struct bpe_work {
    bpe_sym  *sym;
    text_merge_queue q;
    size_t    sym_cap;
    char     *enc;   /* byte-encoded word, for whole-word lookups */
} bpe_work;

static int add_pair(const text_vocab *v, bpe_work *w, int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return 0;
    int32_t l = w->sym[left].id, r = w->sym[right].id;
    if (l < 0 || r < 0 || v->n_merges == 0)
        return 0;
    uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
    uint64_t h = key;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    size_t i = (size_t)h & v->merge_mask;
    for (;;) {
        if (v->merge_rank[i] < 0)
            return 0;
        if (v->merge_keys[i] == key)
            break;
        i = (i + 1) & v->merge_mask;
    }
    /* Lower ranks merge first: the queue pops the highest priority. */
    text_merge p = { -(double)v->merge_rank[i], left, right, { l, r, v->merge_result[i] } };
    return text_mq_push(&w->q, &p);
}

static int encode_word(const text_vocab *v, bpe_work *w, const uint8_t *word, size_t n,
                       text_ids *out)
{
    if (v->ignore_merges) {
        size_t el = 0;
        for (size_t i = 0; i < n; i++)
            el += text_utf8_encode(text_byte_to_cpt(word[i]), w->enc + el);
        int32_t id = text_vocab_lookup(v, w->enc, el);
        if (id >= 0)
            return text_ids_push(out, id);
    }
    for (size_t i = 0; i < n; i++) {
        w->sym[i].id = v->byte_tok[word[i]];
        w->sym[i].prev = (int32_t)i - 1;
        w->sym[i].next = i + 1 < n ? (int32_t)i + 1 : -1;
        w->sym[i].n = 1;
    }
    w->q.n = 0;
    for (size_t i = 1; i < n; i++)
        if (add_pair(v, w, (int32_t)i - 1, (int32_t)i) != 0)
            return MM_ENOMEM;
    while (w->q.n > 0) {
        text_merge p = text_mq_pop(&w->q);
        bpe_sym *l = &w->sym[p.left], *r = &w->sym[p.right];
        /* stale: either side merged since; texts only grow, so equal ids
         * mean unchanged symbols */
        if (l->n == 0 || r->n == 0 || l->id != p.aux[0] || r->id != p.aux[1] ||
            l->next != p.right)
            continue;
        l->id = p.aux[2];
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            w->sym[r->next].prev = p.left;
        if (add_pair(v, w, l->prev, p.left) != 0 || add_pair(v, w, p.left, l->next) != 0)
            return MM_ENOMEM;
    }
    for (int32_t i = 0; i >= 0; i = w->sym[i].next) {
        int32_t id = w->sym[i].id;
        if (id < 0)
            id = v->unk;   /* a byte the vocabulary cannot spell */
        if (id >= 0) {
            int rc = text_ids_push(out, id);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

int text_bpe_encode(const text_vocab *v, const char *text, size_t len, text_ids *out,
                    mm_error *err)
{
    text_spans words = { 0 }, scratch = { 0 };
    bpe_work w = { 0 };
    int rc = text_pretok_split(v->pretok, text, len, &words, &scratch, err);
    if (rc != 0)
        goto done;
    size_t longest = 1;
    for (size_t i = 0; i < words.n; i++)
        if (words.v[i].len > longest)
            longest = words.v[i].len;
    w.sym = malloc(longest * sizeof *w.sym);
    w.enc = malloc(longest * 2 + 1);
    if (!w.sym || !w.enc) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory tokenizing");
        goto done;
    }
    /* short texts are not worth a cache */
    text_word_cache *cache = words.n >= 64 ? text_word_cache_new(text, len) : NULL;
    for (size_t i = 0; i < words.n; i++) {
        const char *word = text + words.v[i].off;
        size_t wl = words.v[i].len, start = out->n;
        const int32_t *cached;
        size_t n_cached;
        if (text_word_cache_get(cache, word, wl, &cached, &n_cached)) {
            /* the hot path: one bound check, no call per id */
            if (n_cached > out->max - out->n)
                rc = MM_ELIMIT;
            for (size_t k = 0; k < n_cached && rc == 0; k++)
                out->v[out->n++] = cached[k];
        } else {
            rc = encode_word(v, &w, (const uint8_t *)word, wl, out);
            if (rc == 0)
                text_word_cache_put(cache, word, wl, out->v + start, out->n - start);
        }
        if (rc != 0)
            break;
    }
    text_word_cache_free(cache);
    if (rc == MM_ELIMIT)
        rc = mm_error_set(err, MM_ELIMIT, "the text needs more than %zu tokens", out->max);
    else if (rc != 0)
        rc = mm_error_set(err, MM_ENOMEM, "out of memory tokenizing");
done:
    free(w.sym);
    free(w.enc);
    text_mq_free(&w.q);
    text_spans_free(&words);
    text_spans_free(&scratch);
    return rc;
}

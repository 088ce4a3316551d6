/* tok-spm.c - SentencePiece-style BPE (tokenizer.ggml.model = "llama"):
 * spaces become U+2581, the text starts as one symbol per UTF-8 character,
 * and adjacent symbols whose concatenation is a token merge highest score
 * first (ties: leftmost), as llama.cpp's llm_tokenizer_spm_session does.
 * What never forms a token falls back to <0xXX> byte tokens. */
#include "text/text.h"

#include <stdlib.h>
#include <string.h>

typedef struct spm_sym {
    int32_t  prev, next;
    uint32_t off, n;      /* bytes of the escaped text; n = 0 once merged away */
} spm_sym;

typedef struct spm_work {
    spm_sym  *sym;
    text_merge_queue q;
    const char *text;
} spm_work;

static int try_pair(const text_vocab *v, spm_work *w, int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return 0;
    uint32_t size = w->sym[left].n + w->sym[right].n;
    int32_t id = text_vocab_lookup(v, w->text + w->sym[left].off, size);
    if (id < 0)
        return 0;
    text_merge p = { v->scores[id], left, right, { (int32_t)size, 0, 0 } };
    return text_mq_push(&w->q, &p);
}

/* lead byte -> sequence length, as llama.cpp's unicode_len_utf8 (stray
 * continuation bytes count as one character) */
static size_t utf8_len(uint8_t b)
{
    static const uint8_t lookup[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };
    return lookup[b >> 4];
}

/* Merge and emit esc[off, off + len) on its own. */
static int encode_segment(const text_vocab *v, spm_work *w, uint32_t off, uint32_t len,
                          text_ids *out)
{
    const char *esc = w->text;
    size_t n_sym = 0;
    w->q.n = 0;
    for (uint32_t o = off; o < off + len;) {
        uint32_t cl = (uint32_t)utf8_len((uint8_t)esc[o]);
        if (cl > off + len - o)
            cl = off + len - o;
        w->sym[n_sym].off = o;
        w->sym[n_sym].n = cl;
        w->sym[n_sym].prev = (int32_t)n_sym - 1;
        o += cl;
        w->sym[n_sym].next = o < off + len ? (int32_t)n_sym + 1 : -1;
        n_sym++;
    }
    for (size_t i = 1; i < n_sym; i++)
        if (try_pair(v, w, (int32_t)i - 1, (int32_t)i) != 0)
            return MM_ENOMEM;
    while (w->q.n > 0) {
        text_merge p = text_mq_pop(&w->q);
        spm_sym *l = &w->sym[p.left], *r = &w->sym[p.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != (uint32_t)p.aux[0])
            continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            w->sym[r->next].prev = p.left;
        if (try_pair(v, w, l->prev, p.left) != 0 || try_pair(v, w, p.left, l->next) != 0)
            return MM_ENOMEM;
    }
    int rc;
    for (int32_t i = n_sym ? 0 : -1; i >= 0; i = w->sym[i].next) {
        const spm_sym *s = &w->sym[i];
        int32_t id = text_vocab_lookup(v, esc + s->off, s->n);
        if (id >= 0) {
            if ((rc = text_ids_push(out, id)) != 0)
                return rc;
            continue;
        }
        for (uint32_t j = 0; j < s->n; j++) {
            id = v->byte_tok[(uint8_t)esc[s->off + j]];
            if (id < 0)
                id = v->unk;
            if (id >= 0 && (rc = text_ids_push(out, id)) != 0)
                return rc;
        }
    }
    return 0;
}

static bool is_space_mark(const char *s, size_t i, size_t n)
{
    return i + 2 < n && (uint8_t)s[i] == 0xE2 && (uint8_t)s[i + 1] == 0x96 &&
           (uint8_t)s[i + 2] == 0x81;
}

/* End of the segment that starts at start (a symbol boundary): the next
 * symbol that is U+2581 after one that is not, when the vocabulary allows
 * cutting there; else the end of the text. */
static size_t segment_end(const text_vocab *v, const char *esc, size_t e, size_t start)
{
    if (!v->spm_split_ok)
        return e;
    bool prev_mark = false;
    for (size_t pos = start; pos < e;) {
        size_t cl = utf8_len((uint8_t)esc[pos]);
        if (cl > e - pos)
            cl = e - pos;
        bool mark = cl == 3 && is_space_mark(esc, pos, e);
        if (pos > start && mark && !prev_mark)
            return pos;
        prev_mark = mark;
        pos += cl;
    }
    return e;
}

int text_spm_encode(const text_vocab *v, const char *text, size_t len, bool prefix_space,
                    text_ids *out, mm_error *err)
{
    size_t spaces = prefix_space ? 1 : 0;
    for (size_t i = 0; i < len; i++)
        spaces += text[i] == ' ';
    size_t elen = len + (prefix_space ? 1 : 0) + spaces * 2;
    char *esc = malloc(elen ? elen : 1);
    spm_work w = { 0 };
    text_word_cache *cache = NULL;
    int rc = 0;
    if (!esc)
        goto oom;
    size_t e = 0;
    if (prefix_space) {
        memcpy(esc, "\xe2\x96\x81", 3);
        e = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(esc + e, "\xe2\x96\x81", 3);
            e += 3;
        } else {
            esc[e++] = text[i];
        }
    }
    w.text = esc;
    /* When no token joins a non-space character to a following U+2581, no
     * merge can cross the point before such a U+2581: the words between
     * those points encode independently, with identical results, in small
     * heaps, and repeated words come from the cache. */
    size_t longest = 0, n_seg = 0;
    for (size_t st = 0, en; st < e; st = en) {
        en = segment_end(v, esc, e, st);
        if (en - st > longest)
            longest = en - st;
        n_seg++;
    }
    w.sym = malloc((longest ? longest : 1) * sizeof *w.sym);
    if (!w.sym)
        goto oom;
    cache = n_seg >= 64 ? text_word_cache_new(esc, e) : NULL;
    for (size_t st = 0, en; st < e && rc == 0; st = en) {
        en = segment_end(v, esc, e, st);
        const char *word = esc + st;
        size_t wl = en - st, start = out->n;
        const int32_t *cached;
        size_t n_cached;
        if (text_word_cache_get(cache, word, wl, &cached, &n_cached)) {
            if (n_cached > out->max - out->n)
                rc = MM_ELIMIT;
            for (size_t k = 0; k < n_cached && rc == 0; k++)
                out->v[out->n++] = cached[k];
        } else {
            rc = encode_segment(v, &w, (uint32_t)st, (uint32_t)wl, out);
            if (rc == 0)
                text_word_cache_put(cache, word, wl, out->v + start, out->n - start);
        }
    }
    if (rc == MM_ELIMIT)
        rc = mm_error_set(err, MM_ELIMIT, "the text needs more than %zu tokens", out->max);
    else if (rc != 0)
        goto oom;
    goto done;
oom:
    rc = mm_error_set(err, MM_ENOMEM, "out of memory tokenizing");
done:
    text_word_cache_free(cache);
    free(esc);
    free(w.sym);
    text_mq_free(&w.q);
    return rc;
}

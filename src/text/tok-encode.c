/* tok-encode.c - text_tokenize: finds special tokens written in the text
 * (with llama.cpp's precedence: longest token first, each splitting the
 * remaining raw text at its leftmost occurrences), then hands each raw
 * fragment to the SPM or BPE encoder and adds BOS/EOS as asked. */
#include "text/text.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

int text_ids_push(text_ids *o, int32_t id)
{
    if (o->n >= o->max)
        return MM_ELIMIT;
    o->v[o->n++] = id;
    return 0;
}

typedef struct special_match {
    uint32_t pos, len;   /* covered bytes: the token plus what it stripped */
    int32_t  id;         /* -1 for stripped whitespace only */
} special_match;

static bool special_active(const text_vocab *v, int32_t id, bool parse_special)
{
    /* control and unknown tokens only when asked; user-defined always */
    return parse_special || !(v->attr[id] & (TEXT_ATTR_CONTROL | TEXT_ATTR_UNKNOWN));
}

static int cmp_match(const void *a, const void *b)
{
    const special_match *x = a, *y = b;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

typedef struct match_list {
    special_match *v;
    size_t         n, cap;
} match_list;

static int add_match(match_list *m, size_t pos, size_t len, int32_t id)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        special_match *v = realloc(m->v, cap * sizeof *v);
        if (!v)
            return MM_ENOMEM;
        m->v = v;
        m->cap = cap;
    }
    m->v[m->n++] = (special_match){ (uint32_t)pos, (uint32_t)len, id };
    return 0;
}

/* Which special tokens occur at all: one pass over the text, first byte
 * bucket, second byte, then the whole text; a token found once is not
 * compared again. occurs is indexed like v->special_ids. */
static size_t scan_occurring(const text_vocab *v, const char *text, size_t len,
                             bool parse_special, uint8_t *occurs)
{
    size_t found = 0;
    const uint8_t *s = (const uint8_t *)text, *first = v->special_first;
    for (size_t p = 0; p < len && found < v->n_special; p++) {
        /* most bytes start no special token at all: four at a time */
        while (p + 4 <= len && !(first[s[p]] | first[s[p + 1]] | first[s[p + 2]] |
                                 first[s[p + 3]]))
            p += 4;
        while (p < len && !first[s[p]])
            p++;
        if (p == len)
            break;
        uint8_t b = s[p];
        /* of the rest, most start none either: two bitmap probes */
        unsigned pair = p + 1 < len ? (unsigned)b << 8 | (uint8_t)text[p + 1] : 0;
        if (!(v->special_single[b >> 3] & (1u << (b & 7))) &&
            !(p + 1 < len && (v->special_pair[pair >> 3] & (1u << (pair & 7)))))
            continue;
        for (uint32_t k = v->special_bucket[b]; k < v->special_bucket[b + 1]; k++) {
            uint32_t idx = v->special_by_byte[k];
            if (occurs[idx])
                continue;
            int32_t id = v->special_ids[idx];
            size_t tl = v->text_off[id + 1] - v->text_off[id];
            const char *t = v->pool + v->text_off[id];
            if (tl > len - p || (tl > 1 && t[1] != text[p + 1]) ||
                !special_active(v, id, parse_special) || memcmp(text + p, t, tl) != 0)
                continue;
            occurs[idx] = 1;
            found++;
        }
    }
    return found;
}

/* First occurrence of t (tl >= 1 bytes) in s[0, n), or NULL (portable memmem). */
static const char *find_bytes(const char *s, size_t n, const char *t, size_t tl)
{
    while (n >= tl) {
        const char *q = memchr(s, t[0], n - tl + 1);
        if (!q)
            return NULL;
        if (memcmp(q, t, tl) == 0)
            return q;
        n -= (size_t)(q - s) + 1;
        s = q + 1;
    }
    return NULL;
}

/* Split the raw fragment [off, off + flen) at the leftmost non-overlapping
 * occurrences of token id; the raw pieces left go to gaps. */
static int split_fragment(const text_vocab *v, int32_t id, const char *text, size_t off,
                          size_t flen, text_spans *gaps, match_list *m)
{
    const char *t = v->pool + v->text_off[id];
    size_t tl = v->text_off[id + 1] - v->text_off[id];
    size_t pos = off, end = off + flen;
    uint16_t attr = v->attr[id];
    while (end - pos >= tl) {
        const char *q = find_bytes(text + pos, end - pos, t, tl);
        if (!q)
            break;
        size_t at = (size_t)(q - text), left_end = at;
        if (attr & TEXT_ATTR_LSTRIP) {
            while (left_end > pos && isspace((uint8_t)text[left_end - 1]))
                left_end--;
            if (left_end < at && add_match(m, left_end, at - left_end, -1) != 0)
                return MM_ENOMEM;
        }
        if (left_end > pos && text_spans_push(gaps, (uint32_t)pos, (uint32_t)(left_end - pos)))
            return MM_ENOMEM;
        if (add_match(m, at, tl, id) != 0)
            return MM_ENOMEM;
        pos = at + tl;
        if (attr & TEXT_ATTR_RSTRIP) {
            size_t s = pos;
            while (pos < end && isspace((uint8_t)text[pos]))
                pos++;
            if (pos > s && add_match(m, s, pos - s, -1) != 0)
                return MM_ENOMEM;
        }
    }
    if (pos < end && text_spans_push(gaps, (uint32_t)pos, (uint32_t)(end - pos)) != 0)
        return MM_ENOMEM;
    return 0;
}

/* Find the special tokens in text, as llama.cpp's tokenizer_st_partition:
 * for each token in priority order, every still-raw fragment is split at
 * that token's leftmost non-overlapping occurrences. Fills *out (sorted by
 * position) with the tokens and the whitespace their strip flags removed.
 * Memory is bounded by the number of matches, itself at most len. */
static int find_specials(const text_vocab *v, const char *text, size_t len, bool parse_special,
                         special_match **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (v->n_special == 0 || len == 0)
        return 0;
    uint8_t *occurs = calloc(v->n_special, 1);
    text_spans a = { 0 }, b = { 0 };
    match_list m = { 0 };
    int rc = MM_ENOMEM;
    if (!occurs)
        goto done;
    if (scan_occurring(v, text, len, parse_special, occurs) == 0) {
        rc = 0;
        goto done;
    }
    if (text_spans_push(&a, 0, (uint32_t)len) != 0)
        goto done;
    text_spans *gaps = &a, *next = &b;
    for (size_t i = 0; i < v->n_special && gaps->n > 0; i++) {
        if (!occurs[i])
            continue;
        next->n = 0;
        for (size_t k = 0; k < gaps->n; k++)
            if (split_fragment(v, v->special_ids[i], text, gaps->v[k].off, gaps->v[k].len,
                               next, &m) != 0)
                goto done;
        text_spans *t = gaps; gaps = next; next = t;
    }
    qsort(m.v, m.n, sizeof *m.v, cmp_match);
    *out = m.v;
    *n_out = m.n;
    m.v = NULL;
    rc = 0;
done:
    free(occurs);
    free(m.v);
    text_spans_free(&a);
    text_spans_free(&b);
    return rc;
}

static int encode_raw(const text_vocab *v, const char *text, size_t len, bool prefix_space,
                      text_ids *out, mm_error *err)
{
    if (v->type == TEXT_VOCAB_SPM)
        return text_spm_encode(v, text, len, prefix_space, out, err);
    return text_bpe_encode(v, text, len, out, err);
}

int text_tokenize(const text_vocab *v, const char *text, size_t len, bool add_special,
                  bool parse_special, int32_t *ids, size_t max_ids, size_t *n_ids,
                  mm_error *err)
{
    *n_ids = 0;
    if (len > TEXT_MAX_INPUT)
        return mm_error_set(err, MM_ELIMIT, "text of %zu bytes is over the %u-byte limit "
                            "for one tokenize call", len, TEXT_MAX_INPUT);
    if (!text && len > 0)
        return mm_error_set(err, MM_EINVAL, "text is NULL");
    text_ids out = { ids, 0, max_ids };
    special_match *m = NULL;
    size_t n_m = 0;
    int rc = find_specials(v, text, len, parse_special, &m, &n_m);
    if (rc != 0)
        return mm_error_set(err, rc, "out of memory matching special tokens");

    if (add_special && v->add_bos && (rc = text_ids_push(&out, v->bos)) != 0)
        goto limit;
    bool prev_special = true;   /* SPM adds its space prefix after a special token */
    size_t pos = 0;
    for (size_t i = 0; i <= n_m; i++) {
        size_t next = i < n_m ? m[i].pos : len;
        if (next > pos) {
            rc = encode_raw(v, text + pos, next - pos, v->add_space_prefix && prev_special,
                            &out, err);
            if (rc != 0)
                goto fail;
            prev_special = false;
        }
        if (i == n_m)
            break;
        if (m[i].id >= 0) {
            if ((rc = text_ids_push(&out, m[i].id)) != 0)
                goto limit;
            prev_special = true;
        }
        pos = (size_t)m[i].pos + m[i].len;
    }
    if (add_special && v->add_eos && (rc = text_ids_push(&out, v->eos)) != 0)
        goto limit;
    free(m);
    *n_ids = out.n;
    return 0;
limit:
    rc = mm_error_set(err, MM_ELIMIT, "the text needs more than %zu tokens", max_ids);
fail:
    free(m);
    return rc;
}

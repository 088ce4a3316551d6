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

/* C11 qsort has no context: sort keys carry what the comparison needs. */
typedef struct occ_key {
    uint32_t len;
    int32_t  id;
    uint32_t pos;
} occ_key;

static int cmp_key(const void *a, const void *b)
{
    const occ_key *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int cmp_match(const void *a, const void *b)
{
    const special_match *x = a, *y = b;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Find the special tokens in text; fills *out (sorted by position) with
 * accepted matches. Equivalent to llama.cpp's tokenizer_st_partition: for
 * each token in priority order, scan every still-raw fragment left to right
 * for non-overlapping occurrences. */
static int find_specials(const text_vocab *v, const char *text, size_t len, bool parse_special,
                         special_match **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (v->n_special == 0 || len == 0)
        return 0;
    occ_key *occ = NULL;
    size_t n_occ = 0, cap_occ = 0;
    uint8_t *covered = NULL;
    special_match *m = NULL;
    int rc = MM_ENOMEM;

    for (size_t p = 0; p < len; p++) {
        uint8_t b = (uint8_t)text[p];
        for (uint32_t k = v->special_bucket[b]; k < v->special_bucket[b + 1]; k++) {
            int32_t id = v->special_ids[k];
            size_t tl = v->text_off[id + 1] - v->text_off[id];
            const char *t = v->pool + v->text_off[id];
            /* the second byte rejects most candidates before memcmp */
            if (tl > len - p || (tl > 1 && t[1] != text[p + 1]) ||
                !special_active(v, id, parse_special) || memcmp(text + p, t, tl) != 0)
                continue;
            if (n_occ == cap_occ) {
                size_t cap = cap_occ ? cap_occ * 2 : 16;
                occ_key *o = realloc(occ, cap * sizeof *o);
                if (!o)
                    goto done;
                occ = o;
                cap_occ = cap;
            }
            occ[n_occ].len = (uint32_t)tl;
            occ[n_occ].id = id;
            occ[n_occ].pos = (uint32_t)p;
            n_occ++;
        }
    }
    if (n_occ == 0) {
        rc = 0;
        goto done;
    }
    qsort(occ, n_occ, sizeof *occ, cmp_key);
    covered = calloc(len, 1);
    m = malloc(n_occ * 3 * sizeof *m);
    if (!covered || !m)
        goto done;
    size_t n_m = 0;
    size_t last_end = 0;
    int32_t last_id = -1;
    for (size_t i = 0; i < n_occ; i++) {
        const occ_key *o = &occ[i];
        if (o->id != last_id) {
            last_id = o->id;
            last_end = 0;
        }
        if (o->pos < last_end)
            continue;
        bool free_span = true;
        for (uint32_t j = 0; j < o->len && free_span; j++)
            free_span = !covered[o->pos + j];
        if (!free_span)
            continue;
        memset(covered + o->pos, 1, o->len);
        m[n_m++] = (special_match){ o->pos, o->len, o->id };
        size_t end = (size_t)o->pos + o->len;
        last_end = end;
        /* the strip flags swallow whitespace of the neighbouring raw text */
        if (v->attr[o->id] & TEXT_ATTR_RSTRIP) {
            size_t e = end;
            while (e < len && !covered[e] && isspace((uint8_t)text[e]))
                covered[e++] = 1;
            if (e > end)
                m[n_m++] = (special_match){ (uint32_t)end, (uint32_t)(e - end), -1 };
            last_end = e;
        }
        if (v->attr[o->id] & TEXT_ATTR_LSTRIP) {
            size_t s = o->pos;
            while (s > 0 && !covered[s - 1] && isspace((uint8_t)text[s - 1]))
                covered[--s] = 1;
            if (s < o->pos)
                m[n_m++] = (special_match){ (uint32_t)s, (uint32_t)(o->pos - s), -1 };
        }
    }
    qsort(m, n_m, sizeof *m, cmp_match);
    *out = m;
    *n_out = n_m;
    m = NULL;
    rc = 0;
done:
    free(occ);
    free(covered);
    free(m);
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

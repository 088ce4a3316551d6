/* tok-split.c - hand-written splitters for the three hottest pre-tokenizer
 * regexes (GPT-2's, Llama 3's and Qwen2's), as llama.cpp has too: one pass
 * over valid UTF-8 instead of one PCRE2 call per word. Unicode categories
 * come from PCRE2 itself (a table built once per process), so both paths
 * agree; a differential test checks that they do. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "text/text.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { CAT_L = 1, CAT_N = 2, CAT_WS = 4 };
#define N_CPTS 0x110000u

static uint8_t       *g_cat;      /* N_CPTS entries of CAT_* bits, or NULL */
static pthread_once_t g_cat_once = PTHREAD_ONCE_INIT;

/* Mark every code point that pattern matches with bit. all is every
 * scalar value in order, UTF-8. */
bool text_regex_jit(void)
{
    const char *v = getenv("MM_VALGRIND");
    return !v || !*v;
}

static bool mark(uint8_t *cat, const char *pattern, uint8_t bit, const char *all, size_t n)
{
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                  PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    pcre2_match_data *md = c ? pcre2_match_data_create_from_pattern(c, NULL) : NULL;
    if (!c || !md) {
        pcre2_match_data_free(md);
        pcre2_code_free(c);
        return false;
    }
    if (text_regex_jit())
        (void)pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
    size_t pos = 0;
    bool ok = true;
    while (pos < n) {
        /* all is valid by construction: no per-call UTF check of 4 MB */
        int rc = pcre2_match(c, (PCRE2_SPTR)all, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0) {
            ok = false;
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        for (size_t i = ov[0]; i < ov[1];) {
            int k = text_utf8_check((const uint8_t *)all + i, n - i);
            uint32_t cpt = (uint8_t)all[i];
            if (k > 1) {
                cpt &= 0x7Fu >> k;
                for (int j = 1; j < k; j++)
                    cpt = (cpt << 6) | ((uint8_t)all[i + (size_t)j] & 0x3F);
            }
            cat[cpt] |= bit;
            i += k > 0 ? (size_t)k : 1;
        }
        pos = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
    }
    pcre2_match_data_free(md);
    pcre2_code_free(c);
    return ok;
}

static void build_categories(void)
{
    size_t cap = 4u * N_CPTS, n = 0;
    char *all = malloc(cap);
    uint8_t *cat = calloc(N_CPTS, 1);
    if (!all || !cat)
        goto fail;
    for (uint32_t c = 0; c < N_CPTS; c++)
        if (c < 0xD800 || c > 0xDFFF)
            n += text_utf8_encode(c, all + n);
    if (!mark(cat, "\\p{L}+", CAT_L, all, n) || !mark(cat, "\\p{N}+", CAT_N, all, n) ||
        !mark(cat, "\\s+", CAT_WS, all, n))
        goto fail;
    free(all);
    g_cat = cat;
    return;
fail:
    /* without the table every piece goes through PCRE2: slower, same ids */
    free(all);
    free(cat);
}

bool text_split_ready(void)
{
    pthread_once(&g_cat_once, build_categories);
    return g_cat != NULL;
}

/* A cursor over a valid UTF-8 piece: code point and category at a byte
 * position; past the end everything is "no character". */
typedef struct piece {
    const uint8_t *s;
    size_t         n;
} piece;

static uint32_t cpt_at(const piece *p, size_t pos, size_t *len)
{
    if (pos >= p->n) {
        *len = 0;
        return UINT32_MAX;
    }
    uint8_t b = p->s[pos];
    if (b < 0x80) {
        *len = 1;
        return b;
    }
    size_t k = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
    uint32_t c = b & (0x7Fu >> k);
    for (size_t j = 1; j < k; j++)
        c = (c << 6) | (p->s[pos + j] & 0x3F);
    *len = k;
    return c;
}

static uint8_t cat_at(const piece *p, size_t pos)
{
    size_t l;
    uint32_t c = cpt_at(p, pos, &l);
    return c == UINT32_MAX ? 0 : g_cat[c];
}

static bool is_other(const piece *p, size_t pos)   /* [^\s\p{L}\p{N}] */
{
    return pos < p->n && cat_at(p, pos) == 0;
}

static size_t next_pos(const piece *p, size_t pos)
{
    size_t l;
    cpt_at(p, pos, &l);
    return pos + (l ? l : 1);
}

static int emit(text_spans *out, uint32_t base, size_t *prev, size_t end)
{
    if (end > *prev) {
        if (text_spans_push(out, base + (uint32_t)*prev, (uint32_t)(end - *prev)) != 0)
            return MM_ENOMEM;
        *prev = end;
    }
    return 0;
}

static char lower_ascii(uint32_t c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c < 128 ? (char)c : 0;
}

/* Length of a contraction ('s 't 're 've 'm 'll 'd) at pos, or 0. */
static size_t contraction(const piece *p, size_t pos, bool any_case)
{
    if (pos + 1 >= p->n || p->s[pos] != '\'')
        return 0;
    char a = (char)p->s[pos + 1], b = pos + 2 < p->n ? (char)p->s[pos + 2] : 0;
    if (any_case) {
        a = lower_ascii((uint8_t)a);
        b = lower_ascii((uint8_t)b);
    }
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return 3;
    return 0;
}

/* Whitespace run at pos: its end, and the end of its last \r or \n. */
static size_t ws_run(const piece *p, size_t pos, size_t *last_nl)
{
    *last_nl = 0;
    while (pos < p->n && (cat_at(p, pos) & CAT_WS)) {
        size_t nx = next_pos(p, pos);
        if (p->s[pos] == '\r' || p->s[pos] == '\n')
            *last_nl = nx;
        pos = nx;
    }
    return pos;
}

/* The start of the last character before end (end > start). */
static size_t last_char(const piece *p, size_t start, size_t end)
{
    size_t q = end - 1;
    while (q > start && (p->s[q] & 0xC0) == 0x80)
        q--;
    return q;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S) */
static int split_gpt2(const piece *p, uint32_t base, text_spans *out)
{
    size_t pos = 0, prev = 0;
    while (pos < p->n) {
        size_t c = contraction(p, pos, false);
        if (c) {
            pos += c;
        } else {
            size_t q = p->s[pos] == ' ' ? pos + 1 : pos;
            uint8_t k = q < p->n ? cat_at(p, q) : 0xFF;
            if (k != 0xFF && (k & CAT_L)) {
                while (q < p->n && (cat_at(p, q) & CAT_L))
                    q = next_pos(p, q);
                pos = q;
            } else if (k != 0xFF && (k & CAT_N)) {
                while (q < p->n && (cat_at(p, q) & CAT_N))
                    q = next_pos(p, q);
                pos = q;
            } else if (is_other(p, q)) {
                while (is_other(p, q))
                    q = next_pos(p, q);
                pos = q;
            } else {
                size_t nl, end = ws_run(p, pos, &nl);
                if (end == pos) {
                    pos = next_pos(p, pos);            /* cannot happen on valid input */
                } else if (end < p->n) {
                    /* \s+(?!\S): leave the last one to the next word, if
                     * there is more than one; a lone one is a gap of its own */
                    size_t lc = last_char(p, pos, end);
                    pos = lc > pos ? lc : end;
                } else {
                    pos = end;
                }
            }
        }
        if (emit(out, base, &prev, pos) != 0)
            return MM_ENOMEM;
    }
    return 0;
}

/* (?:'[sS]|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,D}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 * \s*[\r\n]+|\s+(?!\S)|\s+  with D = 3 (Llama 3) or 1 (Qwen2) */
static int split_llama3(const piece *p, uint32_t base, size_t max_digits, text_spans *out)
{
    size_t pos = 0, prev = 0;
    while (pos < p->n) {
        size_t c = contraction(p, pos, true);
        uint8_t k = cat_at(p, pos);
        uint8_t b = p->s[pos];
        if (c) {
            pos += c;
        } else if (!(b == '\r' || b == '\n' || (k & CAT_N)) &&
                   ((k & CAT_L) || (cat_at(p, next_pos(p, pos)) & CAT_L))) {
            pos = next_pos(p, pos);
            while (pos < p->n && (cat_at(p, pos) & CAT_L))
                pos = next_pos(p, pos);
        } else if (k & CAT_N) {
            for (size_t d = 0; d < max_digits && pos < p->n && (cat_at(p, pos) & CAT_N); d++)
                pos = next_pos(p, pos);
        } else if ((b == ' ' && is_other(p, pos + 1)) || is_other(p, pos)) {
            if (b == ' ')
                pos++;
            while (is_other(p, pos))
                pos = next_pos(p, pos);
            while (pos < p->n && (p->s[pos] == '\r' || p->s[pos] == '\n'))
                pos++;
        } else {
            size_t nl, end = ws_run(p, pos, &nl);
            if (nl) {
                pos = nl;                                  /* \s*[\r\n]+ */
            } else if (end < p->n && end > pos) {
                size_t lc = last_char(p, pos, end);        /* \s+(?!\S) */
                pos = lc > pos ? lc : end;                 /* else \s+ */
            } else if (end > pos) {
                pos = end;
            } else {
                pos = next_pos(p, pos);                    /* cannot happen on valid input */
            }
        }
        if (emit(out, base, &prev, pos) != 0)
            return MM_ENOMEM;
    }
    return 0;
}

int text_split_custom(int kind, const char *text, uint32_t off, uint32_t len, text_spans *out)
{
    piece p = { (const uint8_t *)text + off, len };
    switch (kind) {
    case TEXT_SPLIT_GPT2:   return split_gpt2(&p, off, out);
    case TEXT_SPLIT_LLAMA3: return split_llama3(&p, off, 3, out);
    case TEXT_SPLIT_QWEN2:  return split_llama3(&p, off, 1, out);
    default:                return MM_EINVAL;
    }
}

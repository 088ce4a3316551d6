/* tok-class.c - hand-written splitting for the simple patterns most
 * multi-pattern pre-tokenizer cascades are made of (deepseek's, the
 * "default" one): `C`, `C+`, `\s?C`, `\s?C+` for one character class C, and
 * `\s+$`. One pass over valid UTF-8 with a membership bitmap instead of a
 * PCRE2 call per match. The bitmaps come from PCRE2 itself (the class
 * matched over every code point, once per process), so both paths agree;
 * the differential test in test-tok-utf8.c checks that they do. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "text/text.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define N_CPTS        0x110000u
#define BITMAP_WORDS  (N_CPTS / 64u)
#define CLASSES_MAX   32           /* distinct classes one process keeps */
#define CLASS_SRC_MAX 4096

enum { SHAPE_ONE = TEXT_CLASS_ONE, SHAPE_RUN = TEXT_CLASS_RUN,
       SHAPE_TRAIL_WS = TEXT_CLASS_TRAIL_WS };

/* A recognized pattern; the bitmaps are the process's, never freed. */
struct text_class {
    int             shape;
    bool            ws_prefix;   /* `\s?` in front */
    const uint64_t *member;      /* C (SHAPE_ONE, SHAPE_RUN) */
    bool            ascii_only;  /* C has no member >= U+0080 */
    const uint64_t *ws;          /* \s */
};

typedef struct class_entry {
    char     *src;     /* the class as written: "\\p{N}", "[\\r\\n]" */
    uint64_t *bits;    /* NULL: could not be built */
} class_entry;

static class_entry     g_classes[CLASSES_MAX];
static size_t          g_n_classes;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

/* Every code point whose one-character string src matches, as bits. */
static uint64_t *build_bitmap(const char *src)
{
    char *pattern = NULL, *all = NULL;
    uint64_t *bits = calloc(BITMAP_WORDS, sizeof *bits);
    pcre2_code *c = NULL;
    pcre2_match_data *md = NULL;
    size_t n = 0;
    if (!bits)
        return NULL;
    pattern = malloc(strlen(src) + 8);
    all = malloc(4u * N_CPTS);
    if (!pattern || !all)
        goto fail;
    /* a plain repeat of the one class: a group, (?:C)+, would take a JIT
     * stack frame per character and overflow on the long runs of letters
     * (20,000 CJK ideographs in a row), and the class would be lost */
    memcpy(pattern, src, strlen(src));
    memcpy(pattern + strlen(src), "+", 2);
    int ec;
    PCRE2_SIZE eo;
    c = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec,
                      &eo, NULL);
    md = c ? pcre2_match_data_create_from_pattern(c, NULL) : NULL;
    if (!md)
        goto fail;
    (void)pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
    for (uint32_t cp = 0; cp < N_CPTS; cp++)
        if (cp < 0xD800 || cp > 0xDFFF)
            n += text_utf8_encode(cp, all + n);
    size_t pos = 0;
    while (pos < n) {
        int rc = pcre2_match(c, (PCRE2_SPTR)all, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0)
            goto fail;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        for (size_t i = ov[0]; i < ov[1];) {
            int k = text_utf8_check((const uint8_t *)all + i, n - i);
            uint32_t cp = (uint8_t)all[i];
            if (k > 1) {
                cp &= 0x7Fu >> k;
                for (int j = 1; j < k; j++)
                    cp = (cp << 6) | ((uint8_t)all[i + (size_t)j] & 0x3F);
            }
            bits[cp >> 6] |= 1ull << (cp & 63);
            i += k > 0 ? (size_t)k : 1;
        }
        pos = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
    }
    pcre2_match_data_free(md);
    pcre2_code_free(c);
    free(all);
    free(pattern);
    return bits;
fail:
    pcre2_match_data_free(md);
    pcre2_code_free(c);
    free(all);
    free(pattern);
    free(bits);
    return NULL;
}

/* The bitmap of class src (len bytes), built on first use; NULL when it
 * cannot be (then the caller keeps PCRE2). Thread-safe. */
static const uint64_t *class_bits(const char *src, size_t len)
{
    const uint64_t *bits = NULL;
    pthread_mutex_lock(&g_mu);
    for (size_t i = 0; i < g_n_classes; i++)
        if (strlen(g_classes[i].src) == len && memcmp(g_classes[i].src, src, len) == 0) {
            bits = g_classes[i].bits;
            goto done;
        }
    if (g_n_classes == CLASSES_MAX)
        goto done;
    char *copy = malloc(len + 1);
    if (!copy)
        goto done;
    memcpy(copy, src, len);
    copy[len] = '\0';
    /* a failed build is remembered too, so it is not retried per vocab */
    g_classes[g_n_classes].src = copy;
    g_classes[g_n_classes].bits = build_bitmap(copy);
    bits = g_classes[g_n_classes++].bits;
done:
    pthread_mutex_unlock(&g_mu);
    return bits;
}

/* Length of the one class at s: "\p{X}" or "[...]" without nested
 * brackets, or 0 when s does not start with one. */
static size_t class_len(const char *s)
{
    if (strncmp(s, "\\p{", 3) == 0) {
        const char *close = strchr(s, '}');
        return close ? (size_t)(close - s) + 1 : 0;
    }
    if (s[0] != '[')
        return 0;
    size_t i = 1;
    if (s[i] == '^')
        i++;
    if (s[i] == ']')
        return 0;   /* a literal ']' first: leave such classes to PCRE2 */
    for (; s[i]; i++) {
        if (s[i] == '\\') {
            if (!s[i + 1])
                return 0;
            i++;
        } else if (s[i] == '[') {
            return 0;   /* POSIX classes, nested sets */
        } else if (s[i] == ']') {
            return i + 1;
        }
    }
    return 0;
}

int text_class_new(const char *pattern, text_class **out)
{
    *out = NULL;
    text_class c = { 0 };
    size_t len = strlen(pattern);
    if (len > CLASS_SRC_MAX)
        return 0;
    const char *p = pattern;
    if (strcmp(p, "\\s+$") == 0) {
        c.shape = SHAPE_TRAIL_WS;
    } else {
        if (strncmp(p, "\\s?", 3) == 0) {
            c.ws_prefix = true;
            p += 3;
        }
        size_t cl = class_len(p);
        if (cl == 0)
            return 0;
        if (p[cl] == '\0')
            c.shape = SHAPE_ONE;
        else if (strcmp(p + cl, "+") == 0)
            c.shape = SHAPE_RUN;
        else
            return 0;
        if (!(c.member = class_bits(p, cl)))
            return 0;
        c.ascii_only = true;
        for (size_t w = 2; w < BITMAP_WORDS && c.ascii_only; w++)
            c.ascii_only = c.member[w] == 0;
    }
    if (!(c.ws = class_bits("\\s", 2)))
        return 0;
    text_class *made = malloc(sizeof *made);
    if (!made)
        return MM_ENOMEM;
    *made = c;
    *out = made;
    return 0;
}

void text_class_free(text_class *c)
{
    free(c);
}

void text_class_get_info(const text_class *c, text_class_info *info)
{
    info->shape = c->shape;
    info->ws_prefix = c->ws_prefix;
    info->member = c->member;
    info->ws = c->ws;
}

const uint64_t *text_class_bitmap(const char *cls)
{
    size_t len = strlen(cls);
    return len <= CLASS_SRC_MAX ? class_bits(cls, len) : NULL;
}

static bool has(const uint64_t *bits, uint32_t cp)
{
    return (bits[cp >> 6] >> (cp & 63)) & 1u;
}

/* The code point at s[pos] of valid UTF-8 and its length. */
static uint32_t cpt(const uint8_t *s, size_t pos, size_t *len)
{
    uint8_t b = s[pos];
    if (b < 0x80) {
        *len = 1;
        return b;
    }
    size_t k = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
    uint32_t c = b & (0x7Fu >> k);
    for (size_t j = 1; j < k; j++)
        c = (c << 6) | (s[pos + j] & 0x3F);
    *len = k;
    return c;
}

static int push(text_spans *out, uint32_t base, size_t from, size_t to)
{
    return to > from ? text_spans_push(out, base + (uint32_t)from, (uint32_t)(to - from)) : 0;
}

/* Leftmost-first matches, as PCRE2 finds them: at each position the longest
 * `\s?` that lets C match, then C once or as a maximal run. */
int text_class_split(const text_class *c, const char *text, uint32_t off, uint32_t len,
                     text_spans *out)
{
    const uint8_t *s = (const uint8_t *)text + off;
    size_t pos = 0, gap = 0, l0 = 0, l1 = 0;
    if (c->shape == SHAPE_TRAIL_WS) {
        size_t start = len;
        while (start > 0) {
            size_t q = start - 1;
            while (q > 0 && (s[q] & 0xC0) == 0x80)
                q--;
            if (!has(c->ws, cpt(s, q, &l0)))
                break;
            start = q;
        }
        if (push(out, off, 0, start) != 0 || push(out, off, start, len) != 0)
            return MM_ENOMEM;
        return 0;
    }
    /* a class of ASCII characters only, without `\s?`: other bytes never
     * start a match, so they are skipped without decoding */
    bool skip_high = c->ascii_only && !c->ws_prefix;
    while (pos < len) {
        if (s[pos] >= 0x80 && skip_high) {
            pos++;
            continue;
        }
        uint32_t c0 = cpt(s, pos, &l0);
        size_t at = pos;   /* where C starts */
        if (c->ws_prefix && has(c->ws, c0) && pos + l0 < len &&
            has(c->member, cpt(s, pos + l0, &l1)))
            at = pos + l0;
        else if (!has(c->member, c0)) {
            pos += l0;
            continue;
        }
        size_t end = at + (at == pos ? l0 : l1);
        if (c->shape == SHAPE_RUN)
            while (end < len && has(c->member, cpt(s, end, &l1)))
                end += l1;
        if (push(out, off, gap, pos) != 0 || push(out, off, pos, end) != 0)
            return MM_ENOMEM;
        gap = pos = end;
    }
    return push(out, off, gap, len) != 0 ? MM_ENOMEM : 0;
}

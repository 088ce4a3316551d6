/* tok-cascade.c - a multi-pattern pre-tokenizer cascade (deepseek's,
 * "default", falcon's, starcoder's) run over one byte map of the text: each
 * byte is classified once, every pattern marks where it cuts, and the words
 * are read off the map at the end, where the level-by-level path (tok-pre.c)
 * decodes the text again and builds a list of pieces for every pattern. */
#include "text/text.h"

#include <stdlib.h>
#include <string.h>

/* The map: one byte per text byte. A code point's first byte holds its
 * class bits (one bit per distinct class of the cascade, plus \s); its
 * continuation bytes hold the same bits and M_CONT, so runs of a class can
 * be followed byte by byte. M_CUT marks a byte where a piece starts; a
 * pattern never matches across one, exactly as each pattern of the cascade
 * only ever sees the pieces the earlier ones left. The bytes from m[len] on
 * are sentinels with every bit but M_CONT. The differential test in
 * test-tok-utf8.c checks the result against PCRE2. */
#define MAX_LEVELS 8
#define MAX_SLOTS  5
#define M_CUT  0x80u
#define M_CONT 0x40u
#define M_WS   0x20u
#define MAP_PAD 8     /* sentinel bytes after the text, room for 8-byte reads */

typedef struct level {
    int     kind;         /* TEXT_LEVEL_* */
    int     shape;        /* TEXT_LEVEL_CLASS: TEXT_CLASS_* */
    bool    ws_prefix;
    uint8_t member;       /* the class's slot bit; TEXT_LEVEL_GPT2: \p{L}'s */
    uint8_t number;       /* TEXT_LEVEL_GPT2: \p{N}'s slot bit */
} level;

struct text_cascade {
    size_t          n_levels;
    level           lv[MAX_LEVELS];
    size_t          n_slots;
    const uint64_t *slot_bits[MAX_SLOTS];
    const uint64_t *ws;
    uint8_t         bmp[0x10000];   /* map bits of every code point below U+10000 */
};

static bool has(const uint64_t *bits, uint32_t cp)
{
    return (bits[cp >> 6] >> (cp & 63)) & 1u;
}

static uint8_t classify(const text_cascade *c, uint32_t cp)
{
    uint8_t bits = has(c->ws, cp) ? M_WS : 0;
    for (size_t s = 0; s < c->n_slots; s++)
        if (has(c->slot_bits[s], cp))
            bits |= (uint8_t)(1u << s);
    return bits;
}

/* The slot bit of class bitmap bits, adding it if new; 0 when full. */
static uint8_t slot_of(text_cascade *c, const uint64_t *bits)
{
    for (size_t s = 0; s < c->n_slots; s++)
        if (c->slot_bits[s] == bits)
            return (uint8_t)(1u << s);
    if (c->n_slots == MAX_SLOTS)
        return 0;
    c->slot_bits[c->n_slots] = bits;
    return (uint8_t)(1u << c->n_slots++);
}

int text_cascade_new(const text_level *levels, size_t n_levels, text_cascade **out)
{
    *out = NULL;
    if (n_levels < 2 || n_levels > MAX_LEVELS)
        return 0;
    text_cascade *c = calloc(1, sizeof *c);
    if (!c)
        return MM_ENOMEM;
    c->ws = text_class_bitmap("\\s");
    if (!c->ws)
        goto none;
    for (size_t i = 0; i < n_levels; i++) {
        level *l = &c->lv[i];
        l->kind = levels[i].kind;
        if (l->kind == TEXT_LEVEL_CLASS) {
            text_class_info info;
            if (!levels[i].cls)
                goto none;
            text_class_get_info(levels[i].cls, &info);
            l->shape = info.shape;
            l->ws_prefix = info.ws_prefix;
            if (info.ws != c->ws)
                goto none;
            if (info.shape != TEXT_CLASS_TRAIL_WS && !(l->member = slot_of(c, info.member)))
                goto none;
        } else if (l->kind == TEXT_LEVEL_GPT2) {
            const uint64_t *L = text_class_bitmap("\\p{L}"), *N = text_class_bitmap("\\p{N}");
            if (!L || !N || !(l->member = slot_of(c, L)) || !(l->number = slot_of(c, N)))
                goto none;
        } else if (l->kind != TEXT_LEVEL_DIGIT3) {
            goto none;
        }
    }
    c->n_levels = n_levels;
    for (uint32_t cp = 0; cp < 0x10000; cp++)
        c->bmp[cp] = cp >= 0xD800 && cp <= 0xDFFF ? 0 : classify(c, cp);
    *out = c;
    return 0;
none:
    free(c);
    return 0;
}

void text_cascade_free(text_cascade *c)
{
    free(c);
}

static void build_map(const text_cascade *c, const uint8_t *t, size_t n, uint8_t *m)
{
    size_t pos = 0;
    while (pos < n) {
        uint64_t w;
        if (pos + 8 <= n && (memcpy(&w, t + pos, 8), !(w & 0x8080808080808080ull))) {
            for (size_t j = 0; j < 8; j++)   /* eight ASCII bytes */
                m[pos + j] = c->bmp[t[pos + j]];
            pos += 8;
            continue;
        }
        uint8_t b = t[pos];
        if (b < 0x80) {
            m[pos++] = c->bmp[b];
            continue;
        }
        size_t k = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
        uint32_t cp = b & (0x7Fu >> k);
        for (size_t j = 1; j < k; j++)
            cp = (cp << 6) | (t[pos + j] & 0x3F);
        uint8_t bits = cp < 0x10000 ? c->bmp[cp] : classify(c, cp);
        m[pos] = bits;
        for (size_t j = 1; j < k; j++)
            m[pos + j] = (uint8_t)(bits | M_CONT);
        pos += k;
    }
    m[0] |= M_CUT;
    /* every bit but M_CONT: every search stops at the end */
    memset(m + n, 0xFF & ~M_CONT, MAP_PAD);
}

/* The start of the code point after the one at pos. */
static size_t next_cp(const uint8_t *m, size_t pos)
{
    do
        pos++;
    while (m[pos] & M_CONT);
    return pos;
}

/* The first position from pos whose map byte has a bit of stop; the
 * sentinel ends every search, and the padding after it lets the search
 * read eight bytes at a time. */
static size_t find_any(const uint8_t *m, size_t pos, uint8_t stop)
{
#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t rep = 0x0101010101010101ull * stop;
    for (;; pos += 8) {
        uint64_t w;
        memcpy(&w, m + pos, 8);
        if (w & rep)
            return pos + ((size_t)__builtin_ctzll(w & rep) >> 3);
    }
#else
    while (!(m[pos] & stop))
        pos++;
    return pos;
#endif
}

/* The first position from pos that is not C inside the piece: one without
 * bit C, or a cut. */
static size_t run_end(const uint8_t *m, size_t pos, uint8_t C)
{
#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t rc = 0x0101010101010101ull * C, rcut = 0x0101010101010101ull * M_CUT;
    for (;; pos += 8) {
        uint64_t w;
        memcpy(&w, m + pos, 8);
        uint64_t x = (w & (rc | rcut)) ^ rc;
        if (x)
            return pos + ((size_t)__builtin_ctzll(x) >> 3);
    }
#else
    while ((m[pos] & (C | M_CUT)) == C)
        pos++;
    return pos;
#endif
}

/* `C`, `C+`, `\s?C`, `\s?C+`, leftmost first inside each piece: the
 * longest `\s?` that lets C match, then C once or as a maximal run. */
static void level_class(uint8_t *m, size_t n, uint8_t C, bool ws_prefix, bool run)
{
    /* a cut alone never starts a match: only C, or \s before C */
    uint8_t stop = (uint8_t)(C | (ws_prefix ? M_WS : 0));
    size_t pos = 0;
    for (;;) {
        pos = find_any(m, pos, stop);
        if (pos >= n)
            return;
        uint8_t b = m[pos];
        size_t at;
        if (ws_prefix && (b & M_WS)) {
            size_t q = next_cp(m, pos);
            if ((m[q] & (C | M_CUT)) == C)
                at = q;             /* the next code point is in this piece */
            else if (b & C)
                at = pos;
            else {
                pos = q;
                continue;
            }
        } else {
            at = pos;
        }
        size_t end = run ? run_end(m, at + 1, C) : next_cp(m, at);
        m[pos] |= M_CUT;
        m[end] |= M_CUT;
        pos = end;
    }
}

/* `\s+$`: the whitespace that ends a piece becomes a piece of its own.
 * Whitespace runs are followed from their first character (after a
 * non-space or at a piece's start), so the run that reaches the piece's
 * end is the one to cut at. */
static void level_trail_ws(uint8_t *m, size_t n)
{
    size_t pos = 0;
    for (;;) {
        pos = find_any(m, pos, M_WS);
        if (pos >= n)
            return;
        size_t end = run_end(m, pos + 1, M_WS);
        if (m[end] & M_CUT)
            m[pos] |= M_CUT;
        pos = end;
    }
}

static bool is_digit(uint8_t b)
{
    return b >= '0' && b <= '9';
}

/* `[0-9][0-9][0-9]`: non-overlapping triples of ASCII digits. */
static void level_digit3(uint8_t *m, const uint8_t *t, size_t n)
{
    size_t pos = 0;
    while (pos < n) {
        if (is_digit(t[pos]) && !(m[pos + 1] & M_CUT) && is_digit(t[pos + 1]) &&
            !(m[pos + 2] & M_CUT) && is_digit(t[pos + 2])) {
            m[pos] |= M_CUT;
            m[pos + 3] |= M_CUT;
            pos += 3;
        } else {
            pos++;   /* a continuation byte is never a digit */
        }
    }
}

/* Length of a contraction ('s 't 're 've 'm 'll 'd, lower case) at pos
 * inside its piece, or 0. */
static size_t contraction(const uint8_t *m, const uint8_t *t, size_t pos)
{
    if (t[pos] != '\'' || (m[pos + 1] & M_CUT))
        return 0;
    uint8_t a = t[pos + 1], b = (m[pos + 2] & M_CUT) ? 0 : t[pos + 2];
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return 3;
    return 0;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
 * inside each piece; the same decisions as tok-split.c's split_gpt2. */
static void level_gpt2(uint8_t *m, const uint8_t *t, size_t n, uint8_t L, uint8_t N)
{
    const uint8_t cats = (uint8_t)(L | N | M_WS);
    size_t pos = 0;
    while (pos < n) {
        size_t c = contraction(m, t, pos);
        if (c) {
            pos += c;
        } else {
            size_t q = t[pos] == ' ' ? pos + 1 : pos;
            bool past = q > pos && (m[q] & M_CUT);   /* a space ends the piece */
            uint8_t k = past ? 0 : (uint8_t)(m[q] & cats);
            if (!past && (k & L)) {
                pos = run_end(m, q + 1, L);
            } else if (!past && (k & N)) {
                pos = run_end(m, q + 1, N);
            } else if (!past && k == 0) {
                pos = find_any(m, q + 1, (uint8_t)(cats | M_CUT));
            } else {
                /* a whitespace run from pos: \s+(?!\S) leaves its last
                 * character to the next word when more follows in the
                 * piece; a lone one is a piece of its own */
                size_t end = run_end(m, pos + 1, M_WS);
                if (m[end] & M_CUT) {
                    pos = end;
                } else {
                    size_t last = end - 1;
                    while (m[last] & M_CONT)
                        last--;
                    pos = last > pos ? last : end;
                }
            }
        }
        m[pos] |= M_CUT;
    }
}

/* Every piece of the map, in order. */
static int read_off(const uint8_t *m, size_t n, text_spans *out)
{
    size_t prev = 0;
    while (prev < n) {
        size_t pos = find_any(m, prev + 1, M_CUT);
        if (out->n < out->cap)   /* the common case without a call */
            out->v[out->n++] = (text_span){ (uint32_t)prev, (uint32_t)(pos - prev) };
        else if (text_spans_push(out, (uint32_t)prev, (uint32_t)(pos - prev)) != 0)
            return MM_ENOMEM;
        prev = pos;
    }
    return 0;
}

int text_cascade_split(const text_cascade *c, const char *text, size_t len, text_spans *out)
{
    const uint8_t *t = (const uint8_t *)text;
    uint8_t *m = malloc(len + MAP_PAD);
    if (!m)
        return MM_ENOMEM;
    build_map(c, t, len, m);
    for (size_t i = 0; i < c->n_levels; i++) {
        const level *l = &c->lv[i];
        if (l->kind == TEXT_LEVEL_GPT2) {
            level_gpt2(m, t, len, l->member, l->number);
        } else if (l->kind == TEXT_LEVEL_DIGIT3) {
            level_digit3(m, t, len);
        } else if (l->shape == TEXT_CLASS_TRAIL_WS) {
            level_trail_ws(m, len);
        } else {
            level_class(m, len, l->member, l->ws_prefix, l->shape == TEXT_CLASS_RUN);
        }
    }
    int rc = read_off(m, len, out);
    free(m);
    return rc;
}

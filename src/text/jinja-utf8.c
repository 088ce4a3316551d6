/* jinja-utf8.c - the bits of Python's Unicode str that templates reach:
 * code point counting and indexing, str.isspace(), and upper/lower case for
 * Latin-1, Latin Extended-A, Greek and Cyrillic (the scripts whose case
 * mappings are one code point to one, plus German sharp s). */
#include "text/text.h"

#include <string.h>

uint32_t jinja_utf8_decode(const char *s, size_t len, size_t *adv)
{
    const unsigned char *u = (const unsigned char *)s;
    uint32_t ch = u[0];
    int n = ch >= 0xF0 ? 3 : ch >= 0xE0 ? 2 : ch >= 0xC0 ? 1 : 0;
    if ((size_t)n >= len) {
        *adv = 1;
        return ch;
    }
    uint32_t cp = n == 3 ? ch & 0x07 : n == 2 ? ch & 0x0F : n == 1 ? ch & 0x1F : ch;
    for (int k = 1; k <= n; k++)
        cp = (cp << 6) | (u[k] & 0x3F);
    *adv = (size_t)n + 1;
    return cp;
}

size_t jinja_utf8_encode(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* cp within [lo, hi]: a range where upper and lower case letters alternate. */
static bool in_pairs(uint32_t cp, uint32_t lo, uint32_t hi)
{
    return cp >= lo && cp <= hi;
}

uint32_t jinja_upper(uint32_t cp)
{
    if (cp >= 'a' && cp <= 'z')
        return cp - 32;
    if (cp < 0x80)
        return cp;
    if ((cp >= 0xE0 && cp <= 0xFE && cp != 0xF7))
        return cp - 32;
    if (cp == 0xFF) return 0x178;
    if (cp == 0xB5) return 0x39C;
    if (cp == 0x131) return 'I';
    if (cp == 0x17F) return 'S';
    if ((in_pairs(cp, 0x100, 0x12F) || in_pairs(cp, 0x132, 0x137) || in_pairs(cp, 0x14A, 0x177)) &&
        (cp & 1))
        return cp - 1;
    if ((in_pairs(cp, 0x139, 0x148) || in_pairs(cp, 0x179, 0x17E)) && !(cp & 1))
        return cp - 1;
    if (cp >= 0x3B1 && cp <= 0x3C9)
        return cp == 0x3C2 ? 0x3A3 : cp - 32;
    if (cp == 0x3AC) return 0x386;
    if (cp >= 0x3AD && cp <= 0x3AF) return cp - 37;
    if (cp == 0x3CC) return 0x38C;
    if (cp == 0x3CD || cp == 0x3CE) return cp - 63;
    if (cp >= 0x430 && cp <= 0x44F) return cp - 32;
    if (cp >= 0x450 && cp <= 0x45F) return cp - 80;
    if ((in_pairs(cp, 0x460, 0x481) || in_pairs(cp, 0x48A, 0x4BF)) && (cp & 1))
        return cp - 1;
    return cp;
}

uint32_t jinja_lower(uint32_t cp)
{
    if (cp >= 'A' && cp <= 'Z')
        return cp + 32;
    if (cp < 0x80)
        return cp;
    if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7)
        return cp + 32;
    if (cp == 0x178) return 0xFF;
    if ((in_pairs(cp, 0x100, 0x12F) || in_pairs(cp, 0x132, 0x137) || in_pairs(cp, 0x14A, 0x177)) &&
        !(cp & 1))
        return cp + 1;
    if ((in_pairs(cp, 0x139, 0x148) || in_pairs(cp, 0x179, 0x17E)) && (cp & 1))
        return cp + 1;
    if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2)
        return cp + 32;
    if (cp == 0x386) return 0x3AC;
    if (cp >= 0x388 && cp <= 0x38A) return cp + 37;
    if (cp == 0x38C) return 0x3CC;
    if (cp == 0x38E || cp == 0x38F) return cp + 63;
    if (cp >= 0x410 && cp <= 0x42F) return cp + 32;
    if (cp >= 0x400 && cp <= 0x40F) return cp + 80;
    if ((in_pairs(cp, 0x460, 0x481) || in_pairs(cp, 0x48A, 0x4BF)) && !(cp & 1))
        return cp + 1;
    return cp;
}

bool jinja_is_cased(uint32_t cp)
{
    return jinja_upper(cp) != cp || jinja_lower(cp) != cp || cp == 0xDF || cp == 0x130 ||
           cp == 0x138 || cp == 0x149;
}


/* Python's str.isspace(): ASCII \t\n\v\f\r, \x1c-\x1f and space, plus
 * U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F
 * and U+3000. */
static bool space_seq(const unsigned char *p, size_t n)
{
    if (n == 1)
        return p[0] == ' ' || (p[0] >= '\t' && p[0] <= '\r') || (p[0] >= 0x1c && p[0] <= 0x1f);
    if (n == 2)
        return p[0] == 0xC2 && (p[1] == 0x85 || p[1] == 0xA0);
    if (p[0] == 0xE1)
        return p[1] == 0x9A && p[2] == 0x80;
    if (p[0] == 0xE2 && p[1] == 0x80)
        return p[2] <= 0x8A || p[2] == 0xA8 || p[2] == 0xA9 || p[2] == 0xAF;
    if (p[0] == 0xE2 && p[1] == 0x81)
        return p[2] == 0x9F;
    return p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80;
}

size_t jinja_space_len(const char *s, size_t len)
{
    for (size_t n = 1; n <= 3 && n <= len; n++)
        if (space_seq((const unsigned char *)s, n))
            return n;
    return 0;
}

size_t jinja_space_len_back(const char *s, size_t len)
{
    for (size_t n = 1; n <= 3 && n <= len; n++)
        if (space_seq((const unsigned char *)s + len - n, n))
            return n;
    return 0;
}

size_t jinja_utf8_len(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

size_t jinja_utf8_offset(const char *s, size_t len, size_t index)
{
    size_t i = 0;
    while (i < len && index > 0) {
        i++;
        while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
        index--;
    }
    return i;
}

/* Append the case-changed form of cp: one code point, or two for the
 * mappings Python expands (sharp s upper-cases to "SS", title-cases to
 * "Ss"; n preceded by apostrophe to "'N"; dotted capital I lower-cases to
 * "i" + combining dot). */
static void put_case(jinja_ctx *c, mm_buf *b, uint32_t cp, char how)
{
    char tmp[8];
    size_t n;
    if (cp == 0xDF && how != 'l') {
        jinja_buf_put(c, b, how == 'u' ? "SS" : "Ss", 2);
        return;
    }
    if (cp == 0x149 && how != 'l') {
        jinja_buf_put(c, b, "\xca\xbcN", 3);
        return;
    }
    if (cp == 0x130 && how == 'l') {
        jinja_buf_put(c, b, "i\xcc\x87", 3);
        return;
    }
    n = jinja_utf8_encode(tmp, how == 'l' ? jinja_lower(cp) : jinja_upper(cp));
    jinja_buf_put(c, b, tmp, n);
}

jinja_val jinja_change_case(jinja_ctx *c, jinja_val v, int mode)
{
    mm_buf *b = jinja_buf_new(c);
    const char *s = v.u.s.p;
    size_t len = v.u.s.len, i = 0;
    bool prev_cased = false, word_start = true;
    for (size_t k = 0; i < len; k++) {
        size_t adv;
        uint32_t cp = jinja_utf8_decode(s + i, len - i, &adv);
        char how = 'l';
        switch (mode) {
        case 'U': how = 'u'; break;
        case 'L': how = 'l'; break;
        case 'T': how = prev_cased ? 'l' : 't'; break;
        case 'C': how = k == 0 ? 't' : 'l'; break;
        default: {                  /* 'J': Jinja's title filter */
            bool sep = jinja_space_len(s + i, len - i) > 0 || (cp < 0x80 && strchr("-({[<", (int)cp));
            how = word_start && !sep ? 'u' : 'l';
            word_start = sep;
        }
        }
        put_case(c, b, cp, how);
        prev_cased = jinja_is_cased(cp);
        i += adv;
    }
    jinja_val out = jinja_buf_to_str(c, b);
    return out;
}

bool jinja_has_case(jinja_val v, bool upper)
{
    bool cased = false;
    for (size_t i = 0, adv; i < v.u.s.len; i += adv) {
        uint32_t cp = jinja_utf8_decode(v.u.s.p + i, v.u.s.len - i, &adv);
        if ((upper && jinja_upper(cp) != cp) || (!upper && jinja_lower(cp) != cp) ||
            (upper && (cp == 0xDF || cp == 0x138 || cp == 0x149)))
            return false;
        cased = cased || jinja_is_cased(cp);
    }
    return cased;
}

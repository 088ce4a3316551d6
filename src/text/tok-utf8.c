/* tok-utf8.c - strict UTF-8 checking (Unicode Table 3-7, maximal-subpart
 * replacement) and GPT-2's byte-to-unicode mapping that byte-level BPE
 * vocabularies store their tokens in. */
#include "text/text.h"

int text_utf8_check(const uint8_t *s, size_t n)
{
    if (n == 0)
        return 0;
    uint8_t b0 = s[0];
    if (b0 < 0x80)
        return 1;
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;   /* range of the second byte */
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 3;
        if (b0 == 0xE0) lo = 0xA0;          /* no overlongs */
        else if (b0 == 0xED) hi = 0x9F;     /* no surrogates */
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 4;
        if (b0 == 0xF0) lo = 0x90;
        else if (b0 == 0xF4) hi = 0x8F;     /* <= U+10FFFF */
    } else {
        return -1;
    }
    for (size_t i = 1; i < need; i++) {
        if (i >= n)
            return 0;
        uint8_t b = s[i];
        uint8_t l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
        if (b < l || b > h)
            return -(int)i;
    }
    return (int)need;
}

bool text_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        int k = text_utf8_check(s + i, n - i);
        if (k <= 0)
            return false;
        i += (size_t)k;
    }
    return true;
}

/* Bytes that GPT-2 keeps as their own code point: printable Latin-1 except
 * the soft hyphen. The other 68 bytes map, in increasing order, to U+0100.. */
static bool byte_is_direct(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

/* The 68 remapped bytes, in order, are 0x00-0x20 (33), 0x7F-0xA0 (34) and
 * 0xAD (1): their code points are U+0100 + their rank in that order. */
uint32_t text_byte_to_cpt(uint8_t b)
{
    if (byte_is_direct(b))
        return b;
    if (b <= 0x20)
        return 0x100u + b;
    if (b >= 0x7F && b <= 0xA0)
        return 0x100u + 33 + (uint32_t)(b - 0x7F);
    return 0x100u + 67;   /* 0xAD */
}

int text_cpt_to_byte(uint32_t cpt)
{
    if (cpt < 0x100)
        return byte_is_direct(cpt) ? (int)cpt : -1;
    uint32_t rank = cpt - 0x100;
    if (rank <= 32)
        return (int)rank;
    if (rank <= 66)
        return (int)(0x7F + rank - 33);
    return rank == 67 ? 0xAD : -1;
}

size_t text_utf8_encode(uint32_t cpt, char *out)
{
    if (cpt < 0x80) {
        out[0] = (char)cpt;
        return 1;
    }
    if (cpt < 0x800) {
        out[0] = (char)(0xC0 | (cpt >> 6));
        out[1] = (char)(0x80 | (cpt & 0x3F));
        return 2;
    }
    if (cpt < 0x10000) {
        out[0] = (char)(0xE0 | (cpt >> 12));
        out[1] = (char)(0x80 | ((cpt >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cpt & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cpt >> 18));
    out[1] = (char)(0x80 | ((cpt >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cpt >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cpt & 0x3F));
    return 4;
}

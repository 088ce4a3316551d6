/* test-gemm-k.c - the Q4_K, Q5_K and Q6_K tile kernels (1 row x up to 8
 * tokens) on hand-made blocks that reach the formats' extremes: 6-bit
 * scales and mins of 63 and 0, quants of 15 (Q5_K: 31) and 0, Q6_K quants of +31 and -32 under
 * scales of 127 and -128, activations of -128 and 127, beside random
 * bytes. Every (row, token) must be the bits of vec_dot, for every token
 * count 1..9 and 17 and rows longer than one activation summary (64
 * super-blocks), and within float-order tolerance of a naive double
 * reference that unpacks the blocks by itself from the GGUF layout. */
#include "engine/engine.h"
#include "support/test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x13198A2E03707344ULL;
static uint64_t rng_u64(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void put_f16(uint8_t *p, float v)
{
    uint16_t h = engine_f32_to_f16(v);
    memcpy(p, &h, sizeof h);
}

static double get_f16(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return (double)engine_f16_to_f32(h);
}

/* Q4_K block (144 bytes: d, dmin, 12 scale bytes, 128 quant bytes) of a
 * kind: 0 every scale and min 63, nibbles 15; 1 sub-blocks 0..3 scale and
 * min 0, 4..7 only the top bits (48), nibbles 0; 2 sub-blocks 0..3 scale
 * 63 and min 0, 4..7 scale 15 and min 48, low nibbles 15 and high 0; else
 * random bytes (3 with a negative d). */
static void make_q4_k(uint8_t *b, int kind)
{
    for (int i = 0; i < 144; i++)
        b[i] = (uint8_t)rng_u64();
    uint8_t *sc = b + 4, *qs = b + 16;
    switch (kind) {
    case 0: memset(sc, 0xFF, 12); memset(qs, 0xFF, 128); break;
    case 1: memset(sc, 0xC0, 8); memset(sc + 8, 0x00, 4); memset(qs, 0x00, 128); break;
    case 2:
        memset(sc, 0x3F, 4); memset(sc + 4, 0xC0, 4); memset(sc + 8, 0x0F, 4);
        memset(qs, 0x0F, 128);
        break;
    default: break;
    }
    put_f16(b, (kind == 3 ? -1.0f : 1.0f) * (float)(rng_u64() % 1000 + 1) * 1e-5f);
    put_f16(b + 2, (float)(rng_u64() % 1000 + 1) * 1e-5f);
}

/* Q5_K block (176 bytes: d, dmin, 12 scale bytes, 32 qh bytes, 128 quant
 * bytes): the Q4_K kinds with every 5th bit set (kinds 0 and 2: quants of
 * 31 and 16) or clear (kind 1), random otherwise. */
static void make_q5_k(uint8_t *b, int kind)
{
    uint8_t q4[144];
    make_q4_k(q4, kind);
    memcpy(b, q4, 16);
    for (int i = 0; i < 32; i++)
        b[16 + i] = kind == 0 || kind == 2 ? 0xFF : kind == 1 ? 0x00 : (uint8_t)rng_u64();
    memcpy(b + 48, q4 + 16, 128);
}

/* Q6_K block (210 bytes: 128 ql, 64 qh, 16 signed scales, d): 0 every
 * quant +31, scales alternating 127 and -128; 1 every quant -32, scales
 * -128; else random bytes. */
static void make_q6_k(uint8_t *b, int kind)
{
    for (int i = 0; i < 210; i++)
        b[i] = (uint8_t)rng_u64();
    switch (kind) {
    case 0:
        memset(b, 0xFF, 192);
        for (int j = 0; j < 16; j++)
            b[192 + j] = (uint8_t)(j % 2 ? 0x80 : 0x7F);
        break;
    case 1: memset(b, 0x00, 192); memset(b + 192, 0x80, 16); break;
    default: break;
    }
    put_f16(b + 208, (float)(rng_u64() % 1000 + 1) * 1e-5f);
}

/* Q8_K block (d, 256 int8, 16 int16 sums of 16): 0 all -128; 1 all 127;
 * 2 alternating; else random. */
static void make_q8_k(uint8_t *b, int kind)
{
    int8_t q[256];
    for (int i = 0; i < 256; i++)
        q[i] = kind == 0 ? -128 : kind == 1 ? 127 : kind == 2 ? (i % 2 ? 127 : -128)
                                                           : (int8_t)rng_u64();
    float d = (float)(rng_u64() % 1000 + 1) * 1e-4f;
    memcpy(b, &d, 4);
    memcpy(b + 4, q, 256);
    for (int j = 0; j < 16; j++) {
        int16_t s = 0;
        for (int i = 0; i < 16; i++)
            s = (int16_t)(s + q[16 * j + i]);
        memcpy(b + 260 + 2 * j, &s, 2);
    }
}

/* Scale and min of sub-block j from the 12 packed bytes: sub-blocks 4..7
 * keep their low 4 bits in bytes 8..11 and their top 2 bits in bits 6-7
 * of bytes 0..7. */
static void k_sc_m(const uint8_t *s, int j, int *sc, int *m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* Element e of a Q4_K block (qh NULL) or a Q5_K one: d * sc * q - dmin * m,
 * split into its two terms (for the tolerance). qs byte 32c + l holds
 * element 64c + l in its low nibble and 64c + 32 + l in its high one; the
 * Q5_K 5th bit of element e is bit e / 32 of qh[e % 32]. */
static void k45_elem(const uint8_t *b, const uint8_t *qh, const uint8_t *qs, int e, double *pos,
                     double *neg)
{
    int sc, m;
    k_sc_m(b + 4, e / 32, &sc, &m);
    int c = e / 64, l = e % 32;
    int q = (e % 64) < 32 ? (qs[32 * c + l] & 0x0F) : (qs[32 * c + l] >> 4);
    if (qh)
        q += ((qh[l] >> (e / 32)) & 1) * 16;
    *pos = get_f16(b) * sc * q;
    *neg = get_f16(b + 2) * m;
}

static void q6_k_elem(const uint8_t *b, int e, double *pos, double *neg)
{
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(const void *)(b + 192);
    int h = e / 128, k = (e % 128) / 32, l = e % 32;
    int lo = ql[64 * h + 32 * (k & 1) + l];
    lo = k < 2 ? lo & 0x0F : lo >> 4;
    int hi = (qh[32 * h + l] >> (2 * k)) & 3;
    double ds = get_f16(b + 208) * sc[e / 16];
    *pos = ds * (lo | (hi << 4));
    *neg = ds * 32;
}

static int n_checked;

static void check(uint32_t type, int64_t n_sb, int64_t rows, int64_t toks)
{
    const engine_quant_traits *wt = engine_quant_get(type);
    if (!wt || !wt->gemm)
        return;
    size_t bsz = type == GGML_TYPE_Q4_K ? 144 : type == GGML_TYPE_Q5_K ? 176 : 210, wrow = bsz * (size_t)n_sb + 1;
    size_t arow = 292 * (size_t)n_sb + 3, ostride = (size_t)rows + 2;
    uint8_t *wbuf = malloc(wrow * (size_t)rows + 1), *abuf = malloc(arow * (size_t)toks + 1);
    float *out = malloc(ostride * (size_t)toks * sizeof *out);
    CHECK(wbuf && abuf && out);
    if (!wbuf || !abuf || !out)
        goto done;
    uint8_t *w = wbuf + 1, *act = abuf + 1;        /* odd addresses and strides */
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < n_sb; i++) {
            int kind = (int)((r + i) % 5);
            if (type == GGML_TYPE_Q4_K)
                make_q4_k(w + (size_t)r * wrow + (size_t)i * bsz, kind);
            else if (type == GGML_TYPE_Q5_K)
                make_q5_k(w + (size_t)r * wrow + (size_t)i * bsz, kind);
            else
                make_q6_k(w + (size_t)r * wrow + (size_t)i * bsz, kind);
        }
    for (int64_t t = 0; t < toks; t++)
        for (int64_t i = 0; i < n_sb; i++)
            make_q8_k(act + (size_t)t * arow + (size_t)i * 292, (int)((t + 2 * i) % 5));
    wt->gemm(n_sb * 256, w, wrow, rows, act, arow, toks, out, ostride);
    int bad_bits = 0, bad_ref = 0;
    for (int64_t t = 0; t < toks; t++)
        for (int64_t r = 0; r < rows; r++) {
            const uint8_t *x = w + (size_t)r * wrow, *y = act + (size_t)t * arow;
            float got = out[(size_t)t * ostride + (size_t)r];
            float one = wt->vec_dot(n_sb * 256, x, y);
            if (memcmp(&got, &one, sizeof got) != 0)
                bad_bits++;
            double ref = 0, sabs = 0;
            for (int64_t i = 0; i < n_sb; i++) {
                const uint8_t *xb = x + (size_t)i * bsz, *yb = y + (size_t)i * 292;
                float dy;
                memcpy(&dy, yb, 4);
                for (int e = 0; e < 256; e++) {
                    double pos, neg, a = (double)dy * (int8_t)yb[4 + e];
                    if (type == GGML_TYPE_Q4_K)
                        k45_elem(xb, NULL, xb + 16, e, &pos, &neg);
                    else if (type == GGML_TYPE_Q5_K)
                        k45_elem(xb, xb + 16, xb + 48, e, &pos, &neg);
                    else
                        q6_k_elem(xb, e, &pos, &neg);
                    ref += (pos - neg) * a;
                    sabs += (fabs(pos) + fabs(neg)) * fabs(a);
                }
            }
            if (!(fabs((double)got - ref) <= 1e-5 * sabs + 1e-30)) {
                if (bad_ref++ < 3)
                    printf("%s %lld super-blocks, row %lld token %lld: got %.9g, reference %.9g\n",
                           wt->name, (long long)n_sb, (long long)r, (long long)t, (double)got, ref);
            }
        }
    CHECK_INT(bad_bits, 0);
    CHECK_INT(bad_ref, 0);
    n_checked++;
done:
    free(wbuf);
    free(abuf);
    free(out);
}

int main(void)
{
    static const uint32_t types[] = { GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K };
    static const int64_t lens[] = { 1, 3, 4, 67 };   /* 67: two activation summaries */
    static const int64_t toks[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 17 };
    for (size_t ty = 0; ty < 3; ty++)
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++)
            for (size_t t = 0; t < sizeof toks / sizeof toks[0]; t++)
                check(types[ty], lens[l], lens[l] > 4 ? 2 : 5, toks[t]);
    if (strcmp(engine_quant_isa(), "avx2") == 0)
        CHECK_INT(n_checked, 3 * 4 * 10);
    return mmtest_finish();
}

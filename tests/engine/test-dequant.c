/* test-dequant.c - dequantization of every supported type against blocks
 * built byte by byte from the GGUF layout tables (gguf-and-quants.md
 * section 3) with expected values from the per-element formulas written out
 * here, plus the document's two worked examples. Scales are powers of two
 * (and one subnormal), so every product is exact and results are compared
 * bit for bit with the correctly rounded expected value. */
#include "engine/engine.h"
#include "support/test.h"

#include <math.h>
#include <stdlib.h>

#define MAX_BLOCK 292

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFF);
    p[1] = (uint8_t)(v >> 8);
}

static double half(const uint8_t *p)
{
    int h = p[0] | p[1] << 8;
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e ? ldexp(1024.0 + m, e - 25) : ldexp((double)m, -24);
    return s ? -v : v;
}

/* A deterministic byte pattern that hits every nibble and bit position. */
static void fill_pattern(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)((i * 37u + seed * 101u + (i >> 3) * 13u) & 0xFF);
}

/* Scale patterns for the two blocks of each row: 0.25 / 0.125 for block 0,
 * a subnormal 2^-24 / 0.5 for block 1 (subnormals must not be flushed). */
static const uint16_t D0 = 0x3400, DMIN0 = 0x3000, D1 = 0x0001, DMIN1 = 0x3800;

/* Expected values for one block of bytes blk, written from the layout
 * tables; out receives block_size values. */
static void expect_block(uint32_t type, const uint8_t *blk, double *out)
{
    switch (type) {
    case GGML_TYPE_Q4_0:
        for (int j = 0; j < 16; j++) {
            out[j] = ((blk[2 + j] & 0xF) - 8) * half(blk);
            out[j + 16] = ((blk[2 + j] >> 4) - 8) * half(blk);
        }
        break;
    case GGML_TYPE_Q4_1:
        for (int j = 0; j < 16; j++) {
            out[j] = (blk[4 + j] & 0xF) * half(blk) + half(blk + 2);
            out[j + 16] = (blk[4 + j] >> 4) * half(blk) + half(blk + 2);
        }
        break;
    case GGML_TYPE_Q5_0:
    case GGML_TYPE_Q5_1: {
        int off_qh = type == GGML_TYPE_Q5_0 ? 2 : 4, off_qs = off_qh + 4;
        uint32_t qh = (uint32_t)blk[off_qh] | (uint32_t)blk[off_qh + 1] << 8 |
                      (uint32_t)blk[off_qh + 2] << 16 | (uint32_t)blk[off_qh + 3] << 24;
        for (int e = 0; e < 32; e++) {
            int nib = e < 16 ? (blk[off_qs + e] & 0xF) : (blk[off_qs + e - 16] >> 4);
            int q = nib + 16 * (int)((qh >> e) & 1);
            out[e] = type == GGML_TYPE_Q5_0 ? (q - 16) * half(blk)
                                            : q * half(blk) + half(blk + 2);
        }
        break;
    }
    case GGML_TYPE_Q8_0:
        for (int e = 0; e < 32; e++)
            out[e] = (int8_t)blk[2 + e] * half(blk);
        break;
    case GGML_TYPE_Q2_K:
        for (int e = 0; e < 256; e++) {
            int h = e / 128, j = (e % 128) / 32, l = e % 32;
            int q = (blk[16 + 32 * h + l] >> (2 * j)) & 3;
            int s = blk[e / 16];
            out[e] = half(blk + 80) * (s & 0xF) * q - half(blk + 82) * (s >> 4);
        }
        break;
    case GGML_TYPE_Q3_K: {
        const uint8_t *sc = blk + 96;
        for (int e = 0; e < 256; e++) {
            int i = e / 16;
            int low4 = i < 8 ? (sc[i] & 0xF) : (sc[i - 8] >> 4);
            int high2 = (sc[8 + i % 4] >> (2 * (i / 4))) & 3;
            int scale = (low4 | (high2 << 4)) - 32;
            int h = e / 128, j = (e % 128) / 32, l = e % 32;
            int q2 = (blk[32 + 32 * h + l] >> (2 * j)) & 3;
            int hb = (blk[l] >> (e / 32)) & 1;
            out[e] = half(blk + 108) * scale * (q2 - (hb ? 0 : 4));
        }
        break;
    }
    case GGML_TYPE_Q4_K:
    case GGML_TYPE_Q5_K: {
        const uint8_t *s = blk + 4;
        int off_qs = type == GGML_TYPE_Q4_K ? 16 : 48;
        for (int e = 0; e < 256; e++) {
            int c = e / 64, l = e % 32, i = e / 32, scale, min;
            if (i < 4) {
                scale = s[i] & 63;
                min = s[i + 4] & 63;
            } else {
                scale = (s[i + 4] & 0xF) | ((s[i - 4] >> 6) << 4);
                min = (s[i + 4] >> 4) | ((s[i] >> 6) << 4);
            }
            int byte = blk[off_qs + 32 * c + l];
            int q = (e % 64 < 32) ? (byte & 0xF) : (byte >> 4);
            if (type == GGML_TYPE_Q5_K)
                q += 16 * ((blk[16 + e % 32] >> (e / 32)) & 1);
            out[e] = half(blk) * scale * q - half(blk + 2) * min;
        }
        break;
    }
    case GGML_TYPE_Q6_K:
        for (int e = 0; e < 256; e++) {
            int h = e / 128, r = e % 128, k = r / 32, l = r % 32;
            int b = blk[64 * h + 32 * (k & 1) + l];
            int lo4 = k < 2 ? (b & 0xF) : (b >> 4);
            int hi2 = (blk[128 + 32 * h + l] >> (2 * k)) & 3;
            out[e] = half(blk + 208) * (int8_t)blk[192 + e / 16] * ((lo4 | (hi2 << 4)) - 32);
        }
        break;
    default:
        MM_ASSERT(!"type without expectations");
    }
}

/* Two blocks of a type with hand-placed scales; everything else patterned. */
static void build_block(uint32_t type, int which, uint8_t *blk, size_t size)
{
    uint16_t d = which ? D1 : D0, dmin = which ? DMIN1 : DMIN0;
    fill_pattern(blk, size, (unsigned)(type * 7 + which));
    switch (type) {
    case GGML_TYPE_Q4_0: case GGML_TYPE_Q5_0: case GGML_TYPE_Q8_0:
        put_u16(blk, d);
        break;
    case GGML_TYPE_Q4_1: case GGML_TYPE_Q5_1:
        put_u16(blk, d);
        put_u16(blk + 2, which ? 0xBE00 : 0x4100);   /* m = -1.5 / 2.5 */
        break;
    case GGML_TYPE_Q2_K:
        put_u16(blk + 80, d);
        put_u16(blk + 82, dmin);
        break;
    case GGML_TYPE_Q3_K:
        put_u16(blk + 108, d);
        break;
    case GGML_TYPE_Q4_K: case GGML_TYPE_Q5_K:
        put_u16(blk, d);
        put_u16(blk + 2, dmin);
        break;
    case GGML_TYPE_Q6_K:
        put_u16(blk + 208, d);
        break;
    default:
        break;
    }
}

static void check_type(uint32_t type, uint32_t block_size, uint32_t type_size)
{
    const engine_quant_traits *scalar = engine_quant_get_scalar(type);
    const engine_quant_traits *best = engine_quant_get(type);
    CHECK(scalar != NULL && best != NULL);
    if (!scalar || !best)
        return;
    CHECK_INT(scalar->block_size, block_size);
    CHECK_INT(scalar->type_size, type_size);
    CHECK_INT(engine_row_size(type, 2 * block_size), 2 * type_size);

    uint8_t row[2 * MAX_BLOCK];
    double want[2 * 256];
    float got[2 * 256], got_best[2 * 256];
    for (int b = 0; b < 2; b++) {
        build_block(type, b, row + b * type_size, type_size);
        expect_block(type, row + b * type_size, want + b * block_size);
    }
    scalar->dequantize_row(row, got, 2 * block_size);
    best->dequantize_row(row, got_best, 2 * block_size);
    int bad = 0, bad_best = 0;
    for (uint32_t e = 0; e < 2 * block_size; e++) {
        /* one rounding at most (the final add of d*sc*q and the min), so
         * the float result is the correctly rounded exact value */
        if (got[e] != (float)want[e]) {
            if (bad++ < 3)
                printf("%s element %u: got %.9g, expected %.9g\n", scalar->name, e,
                       (double)got[e], want[e]);
        }
        if (got_best[e] != got[e]) bad_best++;
    }
    printf("%s: %u elements checked\n", scalar->name, 2 * block_size);
    CHECK_INT(bad, 0);
    CHECK_INT(bad_best, 0);
}

static void test_worked_q4_0(void)
{
    const uint8_t blk[18] = { 0x00, 0x34, 0x80, 0x91, 0xa2, 0xb3, 0xc4, 0xd5, 0xe6, 0xf7,
                              0x08, 0x19, 0x2a, 0x3b, 0x4c, 0x5d, 0x6e, 0x7f };
    const float want[32] = {
        -2.0f, -1.75f, -1.5f, -1.25f, -1.0f, -0.75f, -0.5f, -0.25f,
        0.0f, 0.25f, 0.5f, 0.75f, 1.0f, 1.25f, 1.5f, 1.75f,
        0.0f, 0.25f, 0.5f, 0.75f, 1.0f, 1.25f, 1.5f, 1.75f,
        -2.0f, -1.75f, -1.5f, -1.25f, -1.0f, -0.75f, -0.5f, -0.25f };
    float got[32];
    engine_dequantize_row_q4_0(blk, got, 32);
    CHECK(memcmp(got, want, sizeof want) == 0);
    engine_quant_get(GGML_TYPE_Q4_0)->dequantize_row(blk, got, 32);
    CHECK(memcmp(got, want, sizeof want) == 0);
    /* quantizing those values gives the same bytes back: d = max/-8 with
     * max = -2 is 0.25 and each value sits exactly on its level */
    uint8_t back[18];
    engine_quantize_row_q4_0(want, back, 32);
    CHECK(memcmp(back, blk, sizeof blk) == 0);
}

static void test_worked_q4_k(void)
{
    uint8_t blk[144] = { 0x00, 0x34, 0x00, 0x30, 0x41, 0x82, 0xc3, 0xc4,
                         0x40, 0x41, 0x82, 0xc3, 0x01, 0x41, 0x01, 0x0f };
    for (int n = 0; n < 128; n++)
        blk[16 + n] = (uint8_t)((n & 15) | (((3 * n + 5) & 15) << 4));
    float got[256];
    engine_dequantize_row_q4_k(blk, got, 256);
    const struct { int e; float v; } table[] = {
        { 0, 0.0f }, { 1, 0.25f }, { 32, 2.375f }, { 64, -0.25f }, { 95, 11.0f },
        { 128, -2.0f }, { 160, 38.75f }, { 192, -4.0f }, { 224, 72.75f }, { 255, 25.5f },
    };
    for (size_t i = 0; i < MM_ARRAY_LEN(table); i++)
        CHECK_NEAR(got[table[i].e], table[i].v, 0.0);
}

static void test_float_types(void)
{
    const float vals[6] = { 1.0f, -2.5f, 0x1p-24f, 65504.0f, -0.0f, 3.140625f };
    const uint8_t f16[12] = { 0x00, 0x3C, 0x00, 0xC1, 0x01, 0x00, 0xFF, 0x7B, 0x00, 0x80, 0x48, 0x42 };
    const uint8_t bf16[12] = { 0x80, 0x3F, 0x20, 0xC0, 0x80, 0x33, 0x80, 0x47, 0x00, 0x80, 0x49, 0x40 };
    float got[6];
    engine_quant_get_scalar(GGML_TYPE_F16)->dequantize_row(f16, got, 6);
    CHECK(memcmp(got, vals, sizeof vals) == 0);
    engine_quant_get(GGML_TYPE_F16)->dequantize_row(f16, got, 6);
    CHECK(memcmp(got, vals, sizeof vals) == 0);
    /* bf16 of 65504 is 0x4780 = 65536 (7 mantissa bits); of 2^-24 exact */
    const float bf_vals[6] = { 1.0f, -2.5f, 0x1p-24f, 65536.0f, -0.0f, 3.140625f };
    engine_quant_get(GGML_TYPE_BF16)->dequantize_row(bf16, got, 6);
    CHECK(memcmp(got, bf_vals, sizeof bf_vals) == 0);
    engine_quant_get(GGML_TYPE_F32)->dequantize_row(vals, got, 6);
    CHECK(memcmp(got, vals, sizeof vals) == 0);
    /* and the quantizers write exactly those bytes */
    uint8_t out[12];
    engine_quantize_row_f16(vals, out, 6);
    CHECK(memcmp(out, f16, sizeof f16) == 0);
    engine_quantize_row_bf16(bf_vals, out, 6);
    CHECK(memcmp(out, bf16, sizeof bf16) == 0);
    /* a long F16 row exercises the 8-wide path and its tail */
    uint16_t row[37];
    float want[37], got_row[37];
    for (int i = 0; i < 37; i++) {
        row[i] = (uint16_t)(0x3C00 + 97 * i);
        want[i] = (float)ldexp(1024.0 + ((0x3C00 + 97 * i) & 1023), ((0x3C00 + 97 * i) >> 10) - 25);
    }
    engine_quant_get(GGML_TYPE_F16)->dequantize_row(row, got_row, 37);
    CHECK(memcmp(got_row, want, sizeof want) == 0);
}

static void test_table(void)
{
    CHECK(engine_quant_get(4) == NULL);            /* removed Q4_2 */
    CHECK(engine_quant_get(GGML_TYPE_COUNT) == NULL);
    CHECK(engine_quant_get(16) == NULL);           /* IQ2_XXS: not supported */
    CHECK_INT(engine_row_size(GGML_TYPE_Q4_K, 255), 0);
    CHECK_INT(engine_row_size(GGML_TYPE_Q4_K, 4096), 16 * 144);
    CHECK_INT(engine_row_size(GGML_TYPE_F16, 7), 14);
    CHECK_INT(engine_row_size(99, 32), 0);
    CHECK_INT(engine_quant_get(GGML_TYPE_Q4_1)->vec_dot_type, GGML_TYPE_Q8_1);
    CHECK_INT(engine_quant_get(GGML_TYPE_Q5_0)->vec_dot_type, GGML_TYPE_Q8_0);
    CHECK_INT(engine_quant_get(GGML_TYPE_Q3_K)->vec_dot_type, GGML_TYPE_Q8_K);
    CHECK_INT(engine_quant_get(GGML_TYPE_BF16)->vec_dot_type, GGML_TYPE_F32);
    CHECK_STR(engine_quant_get(GGML_TYPE_Q6_K)->name, "Q6_K");
    engine_quant_force_scalar(true);
    CHECK_STR(engine_quant_isa(), "scalar");
    CHECK(engine_quant_get(GGML_TYPE_Q4_K) == engine_quant_get_scalar(GGML_TYPE_Q4_K));
    engine_quant_force_scalar(false);
    printf("kernels in use: %s\n", engine_quant_isa());
}

int main(void)
{
    check_type(GGML_TYPE_Q4_0, 32, 18);
    check_type(GGML_TYPE_Q4_1, 32, 20);
    check_type(GGML_TYPE_Q5_0, 32, 22);
    check_type(GGML_TYPE_Q5_1, 32, 24);
    check_type(GGML_TYPE_Q8_0, 32, 34);
    check_type(GGML_TYPE_Q2_K, 256, 84);
    check_type(GGML_TYPE_Q3_K, 256, 110);
    check_type(GGML_TYPE_Q4_K, 256, 144);
    check_type(GGML_TYPE_Q5_K, 256, 176);
    check_type(GGML_TYPE_Q6_K, 256, 210);
    test_worked_q4_0();
    test_worked_q4_k();
    test_float_types();
    test_table();
    return mmtest_finish();
}

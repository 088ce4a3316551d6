/* test-gemm.c - the register-blocked matmul tiles (traits->gemm) against the
 * type's single-token vec_dot, which they must match bit for bit for every
 * (row, token) pair, and against the portable scalar vec_dot within the
 * float-order tolerance. Shapes cover every tile edge (row and token counts
 * that are not multiples of the tile; every token count 1..9 of a batched
 * decode step; Q4_0 groups of eight rows with a short last one, rows
 * widened in more than one chunk), lengths with and without tails, an odd
 * number of 32-element blocks (the Q8_0 kernel sums blocks in pairs), a row
 * longer than one activation summary (Q4_0/Q8_0: 512 blocks), rows and
 * activations at odd addresses and strides, a non-dense output, and enough
 * rows and tokens for the F32 tile's L1 blocks (several blocks, a
 * partial one, many token groups per block) and for the F16/BF16 walk over
 * all rows per token group, whose prefetch of the rows after the call runs
 * past the buffer's end here. Q4_0's integer sums are held exact at the
 * extremes of its ranges. */
#include "engine/engine.h"
#include "support/test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x243F6A8885A308D3ULL;
static float rng_f(void)
{
    return mmtest_rng_f(&rng);
}

static const uint32_t types[] = {
    GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q4_0, GGML_TYPE_Q4_1,
    GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K,
    GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K,
};

static int n_checked;

/* rows x toks of length n; weights and activations start 1 byte off any
 * alignment, rows are padded by 3 bytes, outputs have stride rows + 5. */
static void check_shape(uint32_t type, int64_t n, int64_t rows, int64_t toks)
{
    const engine_quant_traits *wt = engine_quant_get(type);
    if (!wt || !wt->gemm || n % wt->block_size != 0)
        return;
    const engine_quant_traits *at = engine_quant_get(wt->vec_dot_type);
    const engine_quant_traits *ws = engine_quant_get_scalar(type);
    size_t wrow = engine_row_size(type, n) + 3;
    size_t arow = engine_row_size(wt->vec_dot_type, n) + 36;
    size_t ostride = (size_t)rows + 5;
    float *src = malloc((size_t)n * sizeof *src);
    uint8_t *wbuf = malloc(wrow * (size_t)rows + 1);
    uint8_t *abuf = malloc(arow * (size_t)toks + 1);
    float *out = malloc(ostride * (size_t)toks * sizeof *out);
    CHECK(src && wbuf && abuf && out);
    if (!src || !wbuf || !abuf || !out)
        goto done;
    uint8_t *w = wbuf + 1, *act = abuf + 1;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < n; i++)
            src[i] = rng_f() * (float)(r % 3 + 1);
        wt->quantize_row(src, w + r * wrow, n);
    }
    for (int64_t t = 0; t < toks; t++) {
        for (int64_t i = 0; i < n; i++)
            src[i] = rng_f() * (float)(t % 4 + 1);
        at->quantize_row(src, act + t * arow, n);
    }
    for (size_t i = 0; i < ostride * (size_t)toks; i++)
        out[i] = -12345.0f;
    wt->gemm(n, w, wrow, rows, act, arow, toks, out, ostride);
    int bad = 0;
    for (int64_t t = 0; t < toks; t++) {
        for (int64_t r = 0; r < rows; r++) {
            float got = out[(size_t)t * ostride + (size_t)r];
            float want = wt->vec_dot(n, w + r * wrow, act + t * arow);
            float ref = ws->vec_dot(n, w + r * wrow, act + t * arow);
            if (memcmp(&got, &want, sizeof got) != 0 || !isfinite(got) ||
                fabsf(got - ref) > 1e-3f * (1.0f + fabsf(ref)))
                bad++;
        }
        for (size_t r = (size_t)rows; r < ostride; r++)   /* the gap is left alone */
            if (out[(size_t)t * ostride + r] != -12345.0f)
                bad++;
    }
    CHECK_INT(bad, 0);
    n_checked++;
done:
    free(src);
    free(wbuf);
    free(abuf);
    free(out);
}

/* The activation quantizer the tiles' inputs come from: whatever kernel
 * engine_quant_get hands out must write the reference quantizer's bytes,
 * ties (x * 127 / amax exactly k + 0.5, which roundf sends away from zero)
 * and zero blocks included. */
static void check_q8_0_quantizer(void)
{
    const engine_quant_traits *q = engine_quant_get(GGML_TYPE_Q8_0);
    enum { N = 32 * 64 };
    float *src = malloc(N * sizeof *src);
    uint8_t *got = malloc(engine_row_size(GGML_TYPE_Q8_0, N));
    uint8_t *want = malloc(engine_row_size(GGML_TYPE_Q8_0, N));
    CHECK(src && got && want);
    if (!src || !got || !want)
        goto done;
    for (int i = 0; i < N; i++) {
        int blk = i / 32, j = i % 32;
        if (blk % 4 == 0)            /* amax 127: scale 1, every odd j a tie */
            src[i] = j == 0 ? 127.0f : (float)((j * 7) % 120 - 60) + (j % 2 ? 0.5f : 0.0f);
        else if (blk % 4 == 1)
            src[i] = 0.0f;
        else
            src[i] = rng_f() * (float)(blk + 1) * 1e-3f;
    }
    static const float hand[8] = { 127.0f, 2.5f, -2.5f, 0.5f, -0.5f, 1.4999999f, 126.5f, -0.0f };
    static const int8_t hand_q[8] = { 127, 3, -3, 1, -1, 1, 127, 0 };
    memcpy(src, hand, sizeof hand);
    q->quantize_row(src, got, N);
    engine_quant_get_scalar(GGML_TYPE_Q8_0)->quantize_row(src, want, N);
    CHECK(memcmp(got, want, engine_row_size(GGML_TYPE_Q8_0, N)) == 0);
    const engine_block_q8_0 *b0 = (const engine_block_q8_0 *)(const void *)got;
    CHECK_INT(b0->d, 0x3C00);        /* 1.0 in f16 */
    for (int j = 0; j < 8; j++)
        CHECK_INT(b0->qs[j], hand_q[j]);
done:
    free(src);
    free(got);
    free(want);
}

/* Q4_0 against hand-computed dots at the ends of its ranges, where an
 * int16 partial sum would saturate if the kernel added too many products
 * before widening: nibbles 15 and 0 (weights 7 and -8) against activations
 * 127 and -128, every block alike, scales 0.5 and 2 (all exact in float).
 * 9 rows x 6 tokens: a short last group of rows, two passes of tokens and
 * widened rows. */
static void check_q4_0_extremes(void)
{
    enum { NB = 3, N = NB * 32, ROWS = 9, TOKS = 6 };
    const engine_quant_traits *wt = engine_quant_get(GGML_TYPE_Q4_0);
    engine_block_q4_0 w[ROWS][NB];
    engine_block_q8_0 a[TOKS][NB];
    float out[TOKS * ROWS];
    for (int r = 0; r < ROWS; r++)
        for (int b = 0; b < NB; b++) {
            w[r][b].d = 0x3800;                          /* 0.5 */
            memset(w[r][b].qs, r % 2 ? 0x00 : 0xFF, sizeof w[r][b].qs);
        }
    for (int t = 0; t < TOKS; t++)
        for (int b = 0; b < NB; b++) {
            a[t][b].d = 0x4000;                          /* 2.0 */
            memset(a[t][b].qs, t % 2 ? 0x80 : 0x7F, sizeof a[t][b].qs);   /* -128, 127 */
        }
    wt->gemm(N, w, sizeof w[0], ROWS, a, sizeof a[0], TOKS, out, ROWS);
    int bad = 0;
    for (int t = 0; t < TOKS; t++)
        for (int r = 0; r < ROWS; r++) {
            /* 32 equal products per block, NB blocks, scale 0.5 * 2 = 1 */
            float want = (float)(NB * 32 * (r % 2 ? -8 : 7) * (t % 2 ? -128 : 127));
            if (out[t * ROWS + r] != want)
                bad++;
        }
    CHECK_INT(bad, 0);
    CHECK(out[1 * ROWS + 1] == 98304.0f);   /* -8 x -128 x 96 */
}

int main(void)
{
    check_q4_0_extremes();
    check_q8_0_quantizer();
    static const int64_t lens[] = { 32, 96, 136, 256, 288, 300, 1030, 1056, 2816 + 8 };
    static const int64_t shapes[][2] = { { 1, 1 }, { 1, 7 }, { 4, 1 }, { 6, 1 }, { 7, 1 },
                                         { 13, 1 }, { 3, 2 }, { 5, 3 }, { 9, 4 }, { 4, 5 },
                                         { 2, 6 }, { 3, 8 }, { 8, 12 }, { 13, 9 }, { 50, 9 },
                                         { 3, 17 }, { 30, 40 } };
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++)
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
                check_shape(types[t], lens[l], shapes[s][0], shapes[s][1]);
    /* 515 blocks: more than one activation summary, and an odd count; with
     * 13 rows the widened Q4_0 rows take two chunks (one group of eight each) */
    static const int64_t long_shapes[][2] = { { 3, 1 }, { 2, 5 }, { 5, 11 }, { 13, 6 } };
    for (size_t s = 0; s < sizeof long_shapes / sizeof long_shapes[0]; s++) {
        check_shape(GGML_TYPE_Q4_0, 32 * 515, long_shapes[s][0], long_shapes[s][1]);
        check_shape(GGML_TYPE_Q8_0, 32 * 515, long_shapes[s][0], long_shapes[s][1]);
    }
    if (strcmp(engine_quant_isa(), "avx2") == 0)
        CHECK(n_checked > 0);          /* the AVX2 table has gemm kernels */
    return mmtest_finish();
}

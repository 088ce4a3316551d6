/* test-quantize.c - quantize -> dequantize round trips of every type on
 * random data: relative RMSE under a stated bound per type, a per-element
 * error bound for the round-to-nearest formats, and the edge cases (zeros,
 * constants, outliers, tiny values) that must not produce NaN. */
#include "engine/engine.h"
#include "support/test.h"

#include <math.h>
#include <stdlib.h>

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static double rng_uniform(void)          /* (0, 1) */
{
    return ((double)(mmtest_rng_u64(&rng) >> 11) + 0.5) / 9007199254740992.0;
}

static float rng_gauss(void)
{
    return (float)(sqrt(-2.0 * log(rng_uniform())) * cos(6.283185307179586 * rng_uniform()));
}

/* sqrt(sum (x - y)^2 / sum x^2) */
static double rel_rmse(const float *x, const float *y, int64_t n)
{
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < n; i++) {
        num += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
        den += (double)x[i] * x[i];
    }
    return den > 0.0 ? sqrt(num / den) : sqrt(num);
}

/* Bounds on the relative RMSE for Gaussian rows (worst of 8 rows of
 * 4096). Sanity of the figures: a b-bit grid over a 32-block of Gaussians
 * (amax ~ 2.1 sigma) has step amax/2^(b-1) and error step/sqrt(12), about
 * 0.076 for Q4_0 and 0.0048 for Q8_0; 2-/3-bit optimal (Lloyd-Max) scalar
 * quantizers reach 0.34/0.19 per element, which the K-quants' per-16 fitted
 * scales beat. Measured on x86-64 with this data in the comments; the
 * bounds leave ~15% headroom, so a wrong rounding or a badly chosen scale
 * fails while compiler differences do not. */
static const struct {
    uint32_t type;
    double   bound;
} bounds[] = {
    { GGML_TYPE_F32,  0.0 },
    { GGML_TYPE_F16,  3.0e-4 },   /* 0.00021; 2^-11 relative at most */
    { GGML_TYPE_BF16, 2.5e-3 },   /* 0.00168; 2^-8 at most */
    { GGML_TYPE_Q8_0, 0.0064 },   /* 0.00555 */
    { GGML_TYPE_Q8_1, 0.0064 },   /* 0.00555, same quants as Q8_0 */
    { GGML_TYPE_Q8_K, 0.0084 },   /* 0.00728, one scale per 256 */
    { GGML_TYPE_Q6_K, 0.0210 },   /* 0.01826 */
    { GGML_TYPE_Q5_1, 0.0445 },   /* 0.03865 */
    { GGML_TYPE_Q5_0, 0.0505 },   /* 0.04394 */
    { GGML_TYPE_Q5_K, 0.0423 },   /* 0.03677 */
    { GGML_TYPE_Q4_1, 0.0920 },   /* 0.07988 */
    { GGML_TYPE_Q4_0, 0.1020 },   /* 0.08864 */
    { GGML_TYPE_Q4_K, 0.0840 },   /* 0.07305 */
    { GGML_TYPE_Q3_K, 0.1780 },   /* 0.15483 */
    { GGML_TYPE_Q2_K, 0.3490 },   /* 0.30329 */
};

#define ROW 4096
#define ROWS 8

static void test_roundtrip_gauss(void)
{
    float *x = malloc(sizeof(float) * ROW * ROWS);
    float *y = malloc(sizeof(float) * ROW);
    uint8_t *q = malloc(ROW * 4);
    MM_ASSERT(x && y && q);
    for (int i = 0; i < ROW * ROWS; i++)
        x[i] = rng_gauss() * 0.02f;                  /* weight-like magnitudes */
    for (size_t t = 0; t < MM_ARRAY_LEN(bounds); t++) {
        const engine_quant_traits *tr = engine_quant_get(bounds[t].type);
        CHECK(tr != NULL);
        if (!tr)
            continue;
        double worst = 0.0;
        for (int r = 0; r < ROWS; r++) {
            memset(q, 0xA5, ROW * 4);
            tr->quantize_row(x + r * ROW, q, ROW);
            tr->dequantize_row(q, y, ROW);
            double e = rel_rmse(x + r * ROW, y, ROW);
            if (e > worst || isnan(e))
                worst = isnan(e) ? INFINITY : e;
        }
        printf("%-5s relative RMSE %.5f (bound %.5f)\n", tr->name, worst, bounds[t].bound);
        CHECK(worst <= bounds[t].bound);
    }
    free(x);
    free(y);
    free(q);
}

/* Round-to-nearest formats: each element is within half a step of its
 * level, plus what storing d (and m) in f16 moves the levels, plus one step
 * at the clamped end of the symmetric formats (the extreme maps to -2^(b-1)
 * while the opposite end stops at 2^(b-1)-1). */
static void test_elementwise_32(void)
{
    static const struct { uint32_t type; double levels; bool symmetric; } fmt[] = {
        { GGML_TYPE_Q4_0, 8.0, true }, { GGML_TYPE_Q5_0, 16.0, true },
        { GGML_TYPE_Q8_0, 127.0, false }, { GGML_TYPE_Q4_1, 15.0, false },
        { GGML_TYPE_Q5_1, 31.0, false },
    };
    float x[256], y[256];
    uint8_t q[256 * 2];
    for (size_t f = 0; f < MM_ARRAY_LEN(fmt); f++) {
        const engine_quant_traits *tr = engine_quant_get(fmt[f].type);
        int bad = 0;
        for (int trial = 0; trial < 200; trial++) {
            float scale = (float)pow(10.0, -4.0 + 6.0 * rng_uniform());
            for (int i = 0; i < 256; i++)
                x[i] = rng_gauss() * scale + (trial % 3 == 0 ? scale : 0.0f);
            tr->quantize_row(x, q, 256);
            tr->dequantize_row(q, y, 256);
            for (int b = 0; b < 8; b++) {
                double lo = x[32 * b], hi = x[32 * b];
                for (int i = 1; i < 32; i++) {
                    lo = fmin(lo, x[32 * b + i]);
                    hi = fmax(hi, x[32 * b + i]);
                }
                double amax = fmax(fabs(lo), fabs(hi));
                double step = fmt[f].symmetric || fmt[f].type == GGML_TYPE_Q8_0
                            ? amax / fmt[f].levels : (hi - lo) / fmt[f].levels;
                /* d and m are f16: relative 2^-11, or 2^-25 absolute
                 * when subnormal; the d error is multiplied by |q| */
                double d_err = fmax(step * 0x1p-11, 0x1p-25);
                double m_err = fmt[f].symmetric || fmt[f].type == GGML_TYPE_Q8_0
                             ? 0.0 : fmax(fabs(lo) * 0x1p-11, 0x1p-25);
                double allowed = step * (fmt[f].symmetric ? 1.0 : 0.5)
                               + fmt[f].levels * d_err + m_err + 1e-12 * amax;
                for (int i = 0; i < 32; i++)
                    if (fabs((double)x[32 * b + i] - y[32 * b + i]) > allowed) bad++;
            }
        }
        printf("%-5s element-wise bound: %d violations\n", tr->name, bad);
        CHECK_INT(bad, 0);
    }
}

static bool all_finite(const float *y, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(y[i])) return false;
    return true;
}

static void test_edge_cases(void)
{
    static const uint32_t types[] = {
        GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0,
        GGML_TYPE_Q8_1, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K,
        GGML_TYPE_Q6_K, GGML_TYPE_Q8_K,
    };
    float x[512], y[512];
    uint8_t q[512 * 2];
    for (size_t t = 0; t < MM_ARRAY_LEN(types); t++) {
        const engine_quant_traits *tr = engine_quant_get(types[t]);
        /* zeros come back as zeros */
        memset(x, 0, sizeof x);
        tr->quantize_row(x, q, 512);
        tr->dequantize_row(q, y, 512);
        bool zeros = true;
        for (int i = 0; i < 512; i++)
            if (y[i] != 0.0f) zeros = false;
        CHECK(zeros);
        /* a constant row stays close to the constant */
        for (int i = 0; i < 512; i++)
            x[i] = 0.75f;
        tr->quantize_row(x, q, 512);
        tr->dequantize_row(q, y, 512);
        CHECK(all_finite(y, 512));
        CHECK(rel_rmse(x, y, 512) < 0.02);
        /* one huge outlier per block must not produce NaN or inf */
        for (int i = 0; i < 512; i++)
            x[i] = (i % 97 == 5) ? 3000.0f : rng_gauss();
        tr->quantize_row(x, q, 512);
        tr->dequantize_row(q, y, 512);
        CHECK(all_finite(y, 512));
        CHECK(fabsf(y[5] - 3000.0f) < 3000.0f * 0.1f);
        /* small values whose block scales are f16 subnormals (< 6.1e-5)
         * still come back roughly right; far below that the formats
         * themselves give up (as ggml's do), so that is not tested */
        for (int i = 0; i < 512; i++)
            x[i] = rng_gauss() * 1e-3f;
        tr->quantize_row(x, q, 512);
        tr->dequantize_row(q, y, 512);
        CHECK(all_finite(y, 512));
        double e = rel_rmse(x, y, 512);
        if (e >= 0.5)
            printf("%s small values: relative RMSE %.3f\n", tr->name, e);
        CHECK(e < 0.5);
    }
}

/* Q8_K details the dot products rely on: bsums are the sums of 16 quants,
 * and the extreme value maps to exactly -127 (so d may be negative). */
static void test_q8_k_layout(void)
{
    float x[256];
    for (int i = 0; i < 256; i++)
        x[i] = rng_gauss();
    x[77] = 10.0f;
    engine_block_q8_k b;
    engine_quantize_row_q8_k(x, &b, 256);
    CHECK_INT(b.qs[77], -127);
    CHECK(b.d < 0.0f);
    CHECK_NEAR(b.d, -10.0 / 127.0, 1e-7);
    int bad = 0;
    for (int g = 0; g < 16; g++) {
        int s = 0;
        for (int l = 0; l < 16; l++)
            s += b.qs[16 * g + l];
        if (s != b.bsums[g]) bad++;
    }
    CHECK_INT(bad, 0);
    /* Q8_1: s is d times the sum of the quants, stored as f16 */
    engine_block_q8_1 b1;
    engine_quantize_row_q8_1(x, &b1, 32);
    int sum = 0;
    for (int l = 0; l < 32; l++)
        sum += b1.qs[l];
    CHECK_NEAR(engine_f16_to_f32(b1.s), sum * (double)engine_f16_to_f32(b1.d),
               fabs(sum * (double)engine_f16_to_f32(b1.d)) * 0x1p-10 + 1e-6);
}

int main(void)
{
    test_roundtrip_gauss();
    test_elementwise_32();
    test_edge_cases();
    test_q8_k_layout();
    return mmtest_finish();
}

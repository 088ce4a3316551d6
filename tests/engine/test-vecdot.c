/* test-vecdot.c - every weight type's dot product against a naive
 * reference (dequantize both rows to f32, multiply-add in double), and the
 * AVX2 kernels against the scalar ones on many random rows, with weights
 * both from the quantizers and as raw random block bytes. */
#include "engine/engine.h"
#include "support/test.h"

#include <math.h>
#include <stdlib.h>

static uint64_t rng = 0x243F6A8885A308D3ULL;
static uint64_t rng_u64(void)
{
    return mmtest_rng_u64(&rng);
}

static float rng_gauss(void)
{
    double u1 = ((double)(rng_u64() >> 11) + 0.5) / 9007199254740992.0;
    double u2 = ((double)(rng_u64() >> 11) + 0.5) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static const uint32_t weight_types[] = {
    GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q4_0, GGML_TYPE_Q4_1,
    GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K,
    GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K,
};

#define MAX_N 8192

typedef struct rows {
    float   *w, *a;          /* f32 sources */
    uint8_t *wq, *aq;        /* quantized */
    float   *wd, *ad;        /* dequantized */
} rows;

/* Overwrite the f16 scale fields of random block bytes with finite values
 * of a plausible size, so raw random blocks make sense as weights. */
static void sane_scales(uint32_t type, uint8_t *row, int64_t n)
{
    const engine_quant_traits *t = engine_quant_get_scalar(type);
    for (int64_t b = 0; b < n / t->block_size; b++) {
        uint8_t *blk = row + b * t->type_size;
        uint16_t d = engine_f32_to_f16(rng_gauss() * 0.01f);
        uint16_t m = engine_f32_to_f16(fabsf(rng_gauss()) * 0.01f);
        switch (type) {
        case GGML_TYPE_Q4_0: case GGML_TYPE_Q5_0: case GGML_TYPE_Q8_0:
            memcpy(blk, &d, 2);
            break;
        case GGML_TYPE_Q4_1: case GGML_TYPE_Q5_1: case GGML_TYPE_Q4_K: case GGML_TYPE_Q5_K:
            memcpy(blk, &d, 2);
            memcpy(blk + 2, &m, 2);
            break;
        case GGML_TYPE_Q2_K:
            memcpy(blk + 80, &d, 2);
            memcpy(blk + 82, &m, 2);
            break;
        case GGML_TYPE_Q3_K:
            memcpy(blk + 108, &d, 2);
            break;
        case GGML_TYPE_Q6_K:
            memcpy(blk + 208, &d, 2);
            break;
        default:
            break;
        }
    }
}

/* Fill r for weight type wt and n elements; raw = random block bytes. */
static void make_rows(rows *r, uint32_t wt, int64_t n, bool raw)
{
    const engine_quant_traits *t = engine_quant_get_scalar(wt);
    const engine_quant_traits *at = engine_quant_get_scalar(t->vec_dot_type);
    for (int64_t i = 0; i < n; i++) {
        r->w[i] = rng_gauss() * 0.05f;
        r->a[i] = rng_gauss() * (i % 61 == 0 ? 8.0f : 1.0f);   /* some outliers */
    }
    if (raw && t->block_size > 1) {
        size_t bytes = engine_row_size(wt, n);
        for (size_t i = 0; i < bytes; i++)
            r->wq[i] = (uint8_t)rng_u64();
        sane_scales(wt, r->wq, n);
    } else {
        t->quantize_row(r->w, r->wq, n);
    }
    at->quantize_row(r->a, r->aq, n);
    t->dequantize_row(r->wq, r->wd, n);
    at->dequantize_row(r->aq, r->ad, n);
}

/* The exact value of the Q4_1/Q5_1 min term moves by the f16 rounding of
 * the activation's s = d * sum(q); the reference sees d * q exactly. */
static double min_term_slack(uint32_t wt, const rows *r, int64_t n)
{
    if (wt != GGML_TYPE_Q4_1 && wt != GGML_TYPE_Q5_1)
        return 0.0;
    double slack = 0.0;
    size_t wsize = engine_quant_get_scalar(wt)->type_size;
    for (int64_t b = 0; b < n / ENGINE_QK; b++) {
        uint16_t m;
        memcpy(&m, r->wq + b * wsize + 2, 2);
        const engine_block_q8_1 *ab = (const engine_block_q8_1 *)r->aq + b;
        double s = fabs((double)engine_f16_to_f32(ab->s));
        slack += fabs((double)engine_f16_to_f32(m)) * (s * 0x1p-10 + 0x1p-24);
    }
    return slack;
}

static void test_against_reference(rows *r)
{
    static const int64_t sizes_32[] = { 32, 96, 256, 4096, 8192 };
    static const int64_t sizes_k[] = { 256, 768, 4096 };
    static const int64_t sizes_1[] = { 1, 7, 33, 4095 };
    for (size_t t = 0; t < MM_ARRAY_LEN(weight_types); t++) {
        uint32_t wt = weight_types[t];
        const engine_quant_traits *tr = engine_quant_get_scalar(wt);
        const engine_quant_traits *best = engine_quant_get(wt);
        const int64_t *sizes = tr->block_size == 1 ? sizes_1 : tr->block_size == 32 ? sizes_32 : sizes_k;
        size_t n_sizes = tr->block_size == 1 ? MM_ARRAY_LEN(sizes_1)
                       : tr->block_size == 32 ? MM_ARRAY_LEN(sizes_32) : MM_ARRAY_LEN(sizes_k);
        int bad = 0, trials = 0;
        double worst = 0.0;
        for (size_t s = 0; s < n_sizes; s++) {
            for (int trial = 0; trial < 12; trial++, trials++) {
                int64_t n = sizes[s];
                make_rows(r, wt, n, trial % 2 == 1);
                double ref = 0.0, sabs = 0.0;
                for (int64_t i = 0; i < n; i++) {
                    ref += (double)r->wd[i] * (double)r->ad[i];
                    sabs += fabs((double)r->wd[i] * (double)r->ad[i]);
                }
                /* float accumulation over n/block terms: 1e-5 of the sum
                 * of |products| is ~100x the rounding actually seen and
                 * ~100x smaller than any layout or pairing mistake */
                double tol = 1e-5 * sabs + min_term_slack(wt, r, n) + 1e-30;
                float got = tr->vec_dot(n, r->wq, r->aq);
                float got_best = best->vec_dot(n, r->wq, r->aq);
                double err = fmax(fabs(got - ref), fabs(got_best - ref));
                if (sabs > 0.0 && err / sabs > worst)
                    worst = err / sabs;
                if (!(err <= tol)) {
                    if (bad++ < 3)
                        printf("%s n=%lld: scalar %.9g, %s %.9g, reference %.9g (tol %.3g)\n",
                               tr->name, (long long)n, (double)got, engine_quant_isa(),
                               (double)got_best, ref, tol);
                }
            }
        }
        printf("%-5s x %-4s: %d rows vs reference, worst error %.2e of sum|w*a|\n",
               tr->name, engine_quant_get_scalar(tr->vec_dot_type)->name, trials, worst);
        CHECK_INT(bad, 0);
    }
}

/* SIMD kernels against the scalar ones: the integer block sums are exact in
 * both, only the order of the float additions differs. */
static void test_simd_matches_scalar(rows *r)
{
    if (strcmp(engine_quant_isa(), "scalar") == 0) {
        printf("note: no SIMD kernels on this CPU; SIMD-vs-scalar check not run\n");
        return;
    }
    int compared = 0;
    for (size_t t = 0; t < MM_ARRAY_LEN(weight_types); t++) {
        uint32_t wt = weight_types[t];
        const engine_quant_traits *scalar = engine_quant_get_scalar(wt);
        const engine_quant_traits *best = engine_quant_get(wt);
        if (best->vec_dot == scalar->vec_dot && best->dequantize_row == scalar->dequantize_row)
            continue;
        compared++;
        int bad = 0, bad_dq = 0;
        double worst = 0.0;
        for (int trial = 0; trial < 300; trial++) {
            int64_t n = scalar->block_size == 1 ? 1 + (int64_t)(rng_u64() % MAX_N)
                      : scalar->block_size * (1 + (int64_t)(rng_u64() % (MAX_N / scalar->block_size)));
            make_rows(r, wt, n, trial % 2 == 0);
            double sabs = 0.0;
            for (int64_t i = 0; i < n; i++)
                sabs += fabs((double)r->wd[i] * (double)r->ad[i]);
            float a = scalar->vec_dot(n, r->wq, r->aq);
            float b = best->vec_dot(n, r->wq, r->aq);
            double err = fabs((double)a - (double)b);
            if (sabs > 0.0 && err / sabs > worst)
                worst = err / sabs;
            if (!(err <= 2e-6 * sabs + 1e-30)) {
                if (bad++ < 3)
                    printf("%s n=%lld: scalar %.9g vs simd %.9g\n", scalar->name,
                           (long long)n, (double)a, (double)b);
            }
            best->dequantize_row(r->wq, r->ad, n);      /* r->wd holds the scalar result */
            if (memcmp(r->ad, r->wd, (size_t)n * sizeof(float)) != 0)
                bad_dq++;
        }
        printf("%-5s simd vs scalar: 300 rows, worst difference %.2e of sum|w*a|\n",
               scalar->name, worst);
        CHECK_INT(bad, 0);
        CHECK_INT(bad_dq, 0);
    }
    CHECK(compared >= 5);
    /* forcing the scalar path really switches the table */
    engine_quant_force_scalar(true);
    CHECK(engine_quant_get(GGML_TYPE_Q4_K)->vec_dot == engine_vec_dot_q4_k_q8_k);
    engine_quant_force_scalar(false);
    CHECK(engine_quant_get(GGML_TYPE_Q4_K)->vec_dot != engine_vec_dot_q4_k_q8_k);
}

/* GGUF allows tensors at odd addresses (alignment 1): every kernel must
 * give the same result for rows at any offset. Run under UBSan, this also
 * proves no misaligned access is made. */
static void test_unaligned(rows *r)
{
    uint8_t *wbuf = malloc(MAX_N * 4 + 8), *abuf = malloc(MAX_N * 4 + 8);
    float *out = malloc(MAX_N * sizeof(float));
    MM_ASSERT(wbuf && abuf && out);
    int bad = 0;
    for (size_t t = 0; t < MM_ARRAY_LEN(weight_types); t++) {
        uint32_t wt = weight_types[t];
        const engine_quant_traits *tr = engine_quant_get(wt);
        const engine_quant_traits *at = engine_quant_get(tr->vec_dot_type);
        int64_t n = tr->block_size == 1 ? 515 : 512;   /* 515: SIMD tails too */
        make_rows(r, wt, n, false);
        float want = tr->vec_dot(n, r->wq, r->aq);
        for (int off = 1; off < 4; off++) {
            memcpy(wbuf + off, r->wq, engine_row_size(wt, n));
            memcpy(abuf + 4 - off, r->aq, engine_row_size(at->type, n));
            if (tr->vec_dot(n, wbuf + off, abuf + 4 - off) != want)
                bad++;
            tr->dequantize_row(wbuf + off, out, n);
            if (memcmp(out, r->wd, (size_t)n * sizeof(float)) != 0)
                bad++;
            at->quantize_row(r->a, abuf + off, n);
            if (memcmp(abuf + off, r->aq, engine_row_size(at->type, n)) != 0)
                bad++;
        }
    }
    CHECK_INT(bad, 0);
    free(wbuf);
    free(abuf);
    free(out);
}

/* A hand-checkable case: Q8_0 weights and activations of known integers. */
static void test_small_known(void)
{
    engine_block_q8_0 w[2], a[2];
    int64_t want = 0;
    for (int b = 0; b < 2; b++) {
        w[b].d = engine_f32_to_f16(0.5f);
        a[b].d = engine_f32_to_f16(0.25f);
        for (int j = 0; j < 32; j++) {
            w[b].qs[j] = (int8_t)(j - 16 + b);
            a[b].qs[j] = (int8_t)(3 - j % 7);
            want += (j - 16 + b) * (3 - j % 7);
        }
    }
    /* 0.5 * 0.25 = 1/8 per unit */
    CHECK_NEAR(engine_vec_dot_q8_0_q8_0(64, w, a), want / 8.0, 0.0);
    CHECK_NEAR(engine_quant_get(GGML_TYPE_Q8_0)->vec_dot(64, w, a), want / 8.0, 0.0);
}

int main(void)
{
    rows r = {
        .w = malloc(MAX_N * sizeof(float)), .a = malloc(MAX_N * sizeof(float)),
        .wq = malloc(MAX_N * 4), .aq = malloc(MAX_N * 4),
        .wd = malloc(MAX_N * sizeof(float)), .ad = malloc(MAX_N * sizeof(float)),
    };
    MM_ASSERT(r.w && r.a && r.wq && r.aq && r.wd && r.ad);
    test_small_known();
    test_against_reference(&r);
    test_simd_matches_scalar(&r);
    test_unaligned(&r);
    free(r.w); free(r.a); free(r.wq); free(r.aq); free(r.wd); free(r.ad);
    return mmtest_finish();
}

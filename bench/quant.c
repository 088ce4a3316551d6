/* quant.c - benchmark of the quantization kernels: dequantize and vec_dot
 * throughput per weight type, scalar against the SIMD path, over a weight
 * matrix larger than the caches (as in token-by-token decoding). Prints
 * figures only; it is never part of the pass/fail suite.
 * Usage: bench-quant [matrix MiB (default 64)] */
#include "engine/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define K 4096                 /* row length: a typical n_embd */
#define SEED_ROWS 16           /* rows actually quantized; the rest are copies */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 88172645463325252ULL;
static float rng_gauss(void)
{
    /* sum of uniforms: Gaussian enough for a benchmark */
    float s = 0.0f;
    for (int i = 0; i < 4; i++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        s += (float)(rng >> 40) / 16777216.0f;
    }
    return (s - 2.0f) * 1.7f;
}

static volatile float sink;    /* keeps results alive */

typedef struct timing {
    double dq_gbs, dot_gbs, dot_gelem;
} timing;

/* Passes over the whole matrix until min_s has passed; returns the fastest
 * pass in seconds (the machine may be shared: the minimum is the figure
 * least disturbed by other work). */
static double time_dot(const engine_quant_traits *t, const uint8_t *w, size_t row_bytes,
                       int64_t rows, const void *aq, double min_s)
{
    double start = now_s(), best = 1e30;
    float acc = 0.0f;
    do {
        double t0 = now_s();
        for (int64_t r = 0; r < rows; r++)
            acc += t->vec_dot(K, w + (size_t)r * row_bytes, aq);
        double dt = now_s() - t0;
        if (dt < best)
            best = dt;
    } while (now_s() - start < min_s);
    sink = acc;
    return best;
}

static double time_dequant(const engine_quant_traits *t, const uint8_t *w, size_t row_bytes,
                           int64_t rows, float *out, double min_s)
{
    double start = now_s(), best = 1e30;
    do {
        double t0 = now_s();
        for (int64_t r = 0; r < rows; r++)
            t->dequantize_row(w + (size_t)r * row_bytes, out, K);
        double dt = now_s() - t0;
        if (dt < best)
            best = dt;
        sink = out[(size_t)rows % K];
    } while (now_s() - start < min_s);
    return best;
}

int main(int argc, char **argv)
{
    static const uint32_t types[] = {
        GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0,
        GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K,
        GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K,
    };
    int64_t mib = 64;
    if (argc > 1 && mm_parse_i64(argv[1], 1, 4096, &mib) != 0) {
        fprintf(stderr, "usage: %s [matrix MiB, 1..4096]\n", argv[0]);
        return 2;
    }
    const double min_s = 0.4;
    size_t budget = (size_t)mib << 20;
    uint8_t *w = malloc(budget);
    float *src = malloc(sizeof(float) * K * SEED_ROWS);
    float *act = malloc(sizeof(float) * K);
    float *out = malloc(sizeof(float) * K);
    uint8_t *aq = malloc((size_t)K * 4);
    if (!w || !src || !act || !out || !aq) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (int i = 0; i < K * SEED_ROWS; i++)
        src[i] = rng_gauss() * 0.02f;
    for (int i = 0; i < K; i++)
        act[i] = rng_gauss();

    engine_quant_force_scalar(false);
    printf("quantization kernels: K=%d, weight matrix ~%lld MiB per type, SIMD path: %s\n",
           K, (long long)mib, engine_quant_isa());
    printf("GB/s counts quantized weight bytes read; Gelem/s weight elements.\n\n");
    printf("%-5s %7s | %-21s | %-21s | %-21s\n", "type", "bits/w",
           "dequantize GB/s", "vec_dot GB/s", "vec_dot Gelem/s");
    printf("%-5s %7s | %6s %6s %7s | %6s %6s %7s | %6s %6s %7s\n", "", "",
           "scalar", "simd", "ratio", "scalar", "simd", "ratio", "scalar", "simd", "ratio");

    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const engine_quant_traits *scalar = engine_quant_get_scalar(types[ti]);
        const engine_quant_traits *best = engine_quant_get(types[ti]);
        const engine_quant_traits *at = engine_quant_get_scalar(scalar->vec_dot_type);
        size_t row_bytes = engine_row_size(types[ti], K);
        int64_t rows = (int64_t)(budget / row_bytes);
        for (int r = 0; r < SEED_ROWS && r < rows; r++)
            scalar->quantize_row(src + (size_t)r * K, w + (size_t)r * row_bytes, K);
        for (int64_t r = SEED_ROWS; r < rows; r++)
            memcpy(w + (size_t)r * row_bytes, w + (size_t)(r % SEED_ROWS) * row_bytes, row_bytes);
        at->quantize_row(act, aq, K);

        double bytes = (double)row_bytes * (double)rows, elems = (double)K * (double)rows;
        timing s, b;
        double t_dq_s = time_dequant(scalar, w, row_bytes, rows, out, min_s);
        double t_dq_b = time_dequant(best, w, row_bytes, rows, out, min_s);
        double t_dot_s = time_dot(scalar, w, row_bytes, rows, aq, min_s);
        double t_dot_b = time_dot(best, w, row_bytes, rows, aq, min_s);
        s.dq_gbs = bytes / t_dq_s * 1e-9;
        b.dq_gbs = bytes / t_dq_b * 1e-9;
        s.dot_gbs = bytes / t_dot_s * 1e-9;
        b.dot_gbs = bytes / t_dot_b * 1e-9;
        s.dot_gelem = elems / t_dot_s * 1e-9;
        b.dot_gelem = elems / t_dot_b * 1e-9;
        printf("%-5s %7.3f | %6.2f %6.2f %6.2fx | %6.2f %6.2f %6.2fx | %6.2f %6.2f %6.2fx\n",
               scalar->name, 8.0 * (double)scalar->type_size / scalar->block_size,
               s.dq_gbs, b.dq_gbs, b.dq_gbs / s.dq_gbs,
               s.dot_gbs, b.dot_gbs, b.dot_gbs / s.dot_gbs,
               s.dot_gelem, b.dot_gelem, b.dot_gelem / s.dot_gelem);
        fflush(stdout);
    }
    printf("\nratio 1.00x: that type has no SIMD kernel for the operation yet.\n");
    free(w);
    free(src);
    free(act);
    free(out);
    free(aq);
    return 0;
}

/* test-vecdot-x4.c - the 4-token kernels (vec_dot_x4) against four calls of
 * the same type's single-token vec_dot: every result must be bit-identical,
 * since batched and token-by-token prompts promise identical logits. Rows
 * come from the quantizers on random data, with row lengths that exercise
 * tails, and activation rows at an odd stride. */
#include "engine/engine.h"
#include "support/test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
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

static void check_type(uint32_t type, int64_t n)
{
    const engine_quant_traits *wt = engine_quant_get(type);
    if (!wt || !wt->vec_dot_x4 || n % wt->block_size != 0)
        return;
    const engine_quant_traits *at = engine_quant_get(wt->vec_dot_type);
    size_t wrow = engine_row_size(type, n);
    size_t arow = engine_row_size(wt->vec_dot_type, n);
    size_t stride = arow + 36;            /* not a multiple of any block */
    float *src = malloc((size_t)n * sizeof *src);
    uint8_t *w = malloc(wrow);
    uint8_t *act = calloc(4, stride);
    CHECK(src && w && act);
    if (!src || !w || !act)
        goto done;
    for (int rep = 0; rep < 8; rep++) {
        for (int64_t i = 0; i < n; i++)
            src[i] = rng_f() * (rep + 1);
        wt->quantize_row(src, w, n);
        for (int t = 0; t < 4; t++) {
            for (int64_t i = 0; i < n; i++)
                src[i] = rng_f() * (t + 1);
            at->quantize_row(src, act + t * stride, n);
        }
        float got[4];
        wt->vec_dot_x4(n, w, act, stride, got);
        for (int t = 0; t < 4; t++) {
            float want = wt->vec_dot(n, w, act + t * stride);
            CHECK(memcmp(&got[t], &want, sizeof want) == 0);
            CHECK(isfinite(got[t]));
        }
    }
    n_checked++;
done:
    free(src);
    free(w);
    free(act);
}

int main(void)
{
    static const int64_t lens[] = { 32, 256, 1024, 1056, 2816, 4096 + 8 };
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++)
            check_type(types[t], lens[l]);
    if (strcmp(engine_quant_isa(), "avx2") == 0)
        CHECK(n_checked > 0);          /* the AVX2 table has x4 kernels */
    return mmtest_finish();
}

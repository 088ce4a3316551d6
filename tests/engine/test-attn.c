/* test-attn.c - the blocked attention kernels (engine_attn_f16 and its AVX2
 * version) against a naive two-pass softmax in double over the same F16
 * cells, and each row computed inside a multi-token item against the same
 * row computed alone (what decoding does), which must agree to the bit.
 * Shapes cover head sizes with and without a 32-float tail, GQA groups,
 * prompts that start inside and at the edges of a 32-cell block, strides
 * that are not the head size, and cells past the last position holding NaN
 * (they must never be read). Also the other per-row steps of the forward
 * pass: the SiLU gate against silu in double, and the KV cache's f32 -> f16
 * row conversion (F16C) against the scalar rounding, byte for byte. */
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

#define NAN_F16 0x7E00u

typedef struct shape {
    uint32_t hd, group, n_tok, p0;
    float    q_scale;   /* larger: peakier softmax, the running max moves more */
} shape;

/* Naive: row (t, j) attends cells 0 .. p0 + t; two passes in double. */
static void naive(const shape *sh, const float *q, size_t q_stride, const uint16_t *k,
                  const uint16_t *v, size_t kv_stride, double *out)
{
    uint32_t hd = sh->hd;
    uint32_t n_all = sh->p0 + sh->n_tok;
    double *sc = malloc(n_all * sizeof *sc);
    if (!sc)
        return;
    for (uint32_t t = 0; t < sh->n_tok; t++)
        for (uint32_t j = 0; j < sh->group; j++) {
            const float *qr = q + t * q_stride + (size_t)j * hd;
            double *o = out + ((size_t)t * sh->group + j) * hd;
            uint32_t n = sh->p0 + t + 1;
            double mx = -INFINITY, sum = 0;
            for (uint32_t s = 0; s < n; s++) {
                double d = 0;
                for (uint32_t e = 0; e < hd; e++)
                    d += (double)qr[e] * engine_f16_to_f32(k[s * kv_stride + e]);
                sc[s] = d / sqrt((double)hd);
                mx = sc[s] > mx ? sc[s] : mx;
            }
            for (uint32_t s = 0; s < n; s++) {
                sc[s] = exp(sc[s] - mx);
                sum += sc[s];
            }
            for (uint32_t e = 0; e < hd; e++) {
                double acc = 0;
                for (uint32_t s = 0; s < n; s++)
                    acc += sc[s] * engine_f16_to_f32(v[s * kv_stride + e]);
                o[e] = acc / sum;
            }
        }
    free(sc);
}

static void run_kernel(engine_attn_fn fn, const shape *sh, const float *q, size_t q_stride,
                       float *out, const uint32_t *pos, uint32_t n_tok, const uint16_t *k,
                       const uint16_t *v, size_t kv_stride, float *scratch)
{
    engine_attn_args a = {
        .q = q, .out = out, .q_stride = q_stride, .n_tok = n_tok, .n_group = sh->group,
        .pos = pos, .k = k, .v = v, .kv_stride = kv_stride, .head_dim = sh->hd,
        .scale = 1.0f / sqrtf((float)sh->hd), .scratch = scratch,
    };
    fn(&a);
}

static void check_kernel(engine_attn_fn fn, const char *name, const shape *sh)
{
    uint32_t hd = sh->hd, rows = sh->n_tok * sh->group;
    size_t q_stride = (size_t)sh->group * hd + 5;          /* not the row size */
    size_t kv_stride = (size_t)hd * 3 + 8;                 /* one head of several, padded */
    uint32_t n_cells = sh->p0 + sh->n_tok + 40;            /* NaN cells past the last position */
    float *q = malloc(q_stride * sh->n_tok * sizeof *q);
    float *out = malloc(q_stride * sh->n_tok * sizeof *out);
    float *alone = malloc(q_stride * sizeof *alone);
    uint16_t *k = malloc((size_t)n_cells * kv_stride * sizeof *k);
    uint16_t *v = malloc((size_t)n_cells * kv_stride * sizeof *v);
    uint32_t *pos = malloc(sh->n_tok * sizeof *pos);
    double *ref = malloc((size_t)rows * hd * sizeof *ref);
    float *scratch = malloc(engine_attn_scratch_floats(rows, hd) * sizeof *scratch);
    CHECK(q && out && alone && k && v && pos && ref && scratch);
    if (!q || !out || !alone || !k || !v || !pos || !ref || !scratch)
        goto done;
    for (size_t i = 0; i < (size_t)n_cells * kv_stride; i++) {
        uint32_t cell = (uint32_t)(i / kv_stride);
        bool live = cell < sh->p0 + sh->n_tok;
        k[i] = live ? engine_f32_to_f16(rng_f()) : NAN_F16;
        v[i] = live ? engine_f32_to_f16(rng_f()) : NAN_F16;
    }
    for (size_t i = 0; i < q_stride * sh->n_tok; i++) {
        q[i] = rng_f() * sh->q_scale;
        out[i] = NAN;                                      /* must be fully overwritten */
    }
    for (uint32_t t = 0; t < sh->n_tok; t++)
        pos[t] = sh->p0 + t;
    naive(sh, q, q_stride, k, v, kv_stride, ref);
    run_kernel(fn, sh, q, q_stride, out, pos, sh->n_tok, k, v, kv_stride, scratch);
    double worst = 0;
    for (uint32_t t = 0; t < sh->n_tok; t++)
        for (uint32_t e = 0; e < sh->group * hd; e++) {
            double d = fabs((double)out[t * q_stride + e] - ref[(size_t)t * sh->group * hd + e]);
            worst = d > worst || d != d ? d : worst;
        }
    /* outputs are averages of values in [-1, 1]: f32 sums of <= 100 terms */
    if (!(worst <= 2e-5))
        fprintf(stderr, "%s hd %u group %u tok %u p0 %u: max |diff| %g\n", name, hd, sh->group,
                sh->n_tok, sh->p0, worst);
    CHECK(worst <= 2e-5);
    /* each token alone, as a decode step would give it */
    bool same = true;
    for (uint32_t t = 0; t < sh->n_tok; t++) {
        for (size_t i = 0; i < q_stride; i++)
            alone[i] = NAN;
        run_kernel(fn, sh, q + t * q_stride, q_stride, alone, pos + t, 1, k, v, kv_stride,
                   scratch);
        if (memcmp(alone, out + t * q_stride, (size_t)sh->group * hd * sizeof *alone) != 0)
            same = false;
    }
    if (!same)
        fprintf(stderr, "%s hd %u group %u tok %u p0 %u: a row alone differs\n", name, hd,
                sh->group, sh->n_tok, sh->p0);
    CHECK(same);
done:
    free(q);
    free(out);
    free(alone);
    free(k);
    free(v);
    free(pos);
    free(ref);
    free(scratch);
}

static void check_silu(engine_silu_mul_fn fn, const char *name)
{
    enum { N = 203 };                         /* 25 vectors and a tail */
    float g[N], u[N], want[N];
    for (int i = 0; i < N; i++) {
        g[i] = rng_f() * (i < 8 ? 100.0f : 12.0f);   /* first lanes: the exp clamps */
        u[i] = rng_f() * 3.0f;
        want[i] = (float)((double)g[i] / (1.0 + exp(-(double)g[i])) * u[i]);
    }
    g[0] = -100.0f;                           /* silu(-100) = -3.7e-42: zero is fine */
    want[0] = (float)(-100.0 / (1.0 + exp(100.0)) * u[0]);
    fn(g, u, N);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        double d = fabs((double)g[i] - want[i]) / (fabs(want[i]) + 1e-6);
        worst = d > worst || d != d ? d : worst;
    }
    if (!(worst <= 1e-5))
        fprintf(stderr, "%s silu: max relative diff %g\n", name, worst);
    CHECK(worst <= 1e-5);
}

static void check_f16_rows(void)
{
    enum { N = 77 };
    float src[N];
    uint16_t want[N], got[N + 1];
    for (int i = 0; i < N; i++)
        src[i] = rng_f() * (i % 3 == 0 ? 70000.0f : i % 3 == 1 ? 1e-5f : 2.0f);
    src[5] = 0x1.0p-24f * 1.5f;               /* a tie between two subnormals */
    src[6] = 65520.0f;                        /* rounds to inf */
    engine_quantize_row_f16(src, want, N);
    const engine_quant_traits *f16 = engine_quant_get(GGML_TYPE_F16);
    f16->quantize_row(src, (uint8_t *)got + 1, N);     /* any address, as cache cells */
    CHECK(memcmp((uint8_t *)got + 1, want, sizeof want) == 0);
    for (int i = 0; i < N; i++)
        CHECK_INT(want[i], engine_f32_to_f16(src[i]));
}

int main(void)
{
    check_silu(engine_silu_mul, "scalar");
    if (engine_silu_mul_get() != engine_silu_mul)
        check_silu(engine_silu_mul_get(), "simd");
    check_f16_rows();
    static const shape shapes[] = {
        { 64, 2, 8, 0, 1.0f },  { 64, 2, 16, 33, 4.0f }, { 64, 1, 1, 0, 1.0f },
        { 64, 1, 20, 70, 8.0f }, { 48, 1, 16, 31, 2.0f }, { 48, 4, 4, 32, 1.0f },
        { 8, 2, 5, 3, 1.0f },   { 72, 2, 7, 40, 3.0f },  { 80, 1, 9, 0, 1.0f },
        { 96, 3, 5, 61, 2.0f }, { 128, 16, 1, 90, 4.0f }, { 128, 2, 8, 5, 1.0f },
        { 36, 2, 6, 30, 2.0f },   /* not a multiple of 8: the scalar kernel everywhere */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const shape *sh = &shapes[i];
        check_kernel(engine_attn_f16, "scalar", sh);
        engine_attn_fn best = engine_attn_get(sh->hd);
        if (sh->hd % 8 != 0)
            CHECK(best == engine_attn_f16);
        if (best != engine_attn_f16)
            check_kernel(best, "simd", sh);
    }
    engine_quant_force_scalar(true);
    CHECK(engine_attn_get(64) == engine_attn_f16);
    engine_quant_force_scalar(false);
    return mmtest_finish();
}

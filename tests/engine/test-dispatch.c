/* test-dispatch.c - the kernel table's run-time choice: many threads racing
 * on the very first engine_quant_get all get working kernels for the right
 * type, and once settled every caller gets the same (best) entry. */
#include "engine/engine.h"
#include "support/test.h"

#include <math.h>
#include <pthread.h>

#define THREADS 8

static pthread_barrier_t start_line;

typedef struct result {
    const engine_quant_traits *got;
    float dot;
} result;

static engine_block_q4_k weight;
static engine_block_q8_k act;

static void *racer(void *arg)
{
    result *r = arg;
    pthread_barrier_wait(&start_line);
    r->got = engine_quant_get(GGML_TYPE_Q4_K);
    r->dot = r->got ? r->got->vec_dot(ENGINE_QK_K, &weight, &act) : 0.0f;
    return NULL;
}

int main(void)
{
    float w[ENGINE_QK_K], a[ENGINE_QK_K];
    for (int i = 0; i < ENGINE_QK_K; i++) {
        w[i] = (float)((i * 37) % 101 - 50) / 100.0f;
        a[i] = (float)((i * 53) % 97 - 48) / 10.0f;
    }
    /* the quantizers are table-independent functions: no first call yet */
    engine_quantize_row_q4_k(w, &weight, ENGINE_QK_K);
    engine_quantize_row_q8_k(a, &act, ENGINE_QK_K);
    float want = engine_vec_dot_q4_k_q8_k(ENGINE_QK_K, &weight, &act);

    pthread_t tid[THREADS];
    result res[THREADS];
    CHECK_INT(pthread_barrier_init(&start_line, NULL, THREADS), 0);
    for (int t = 0; t < THREADS; t++)
        CHECK_INT(pthread_create(&tid[t], NULL, racer, &res[t]), 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(tid[t], NULL);
    pthread_barrier_destroy(&start_line);

    const engine_quant_traits *settled = engine_quant_get(GGML_TYPE_Q4_K);
    CHECK(settled != NULL);
    for (int t = 0; t < THREADS; t++) {
        CHECK(res[t].got != NULL);
        if (!res[t].got)
            continue;
        /* a racer may have been handed the scalar entry while the SIMD
         * table was being built: both are correct */
        CHECK(res[t].got == settled || res[t].got == engine_quant_get_scalar(GGML_TYPE_Q4_K));
        CHECK_STR(res[t].got->name, "Q4_K");
        CHECK_NEAR(res[t].dot, want, 1e-5 * (fabsf(want) + 1.0f));
    }
    /* settled: every later call returns the same entry */
    for (int i = 0; i < 100; i++)
        CHECK(engine_quant_get(GGML_TYPE_Q4_K) == settled);
    printf("kernels: %s\n", engine_quant_isa());
    return mmtest_finish();
}

/* test-conformance.c - the quantization kernels against GGUF files written
 * by llama.cpp (../shared/models/mini): each quantized file's tensors,
 * dequantized here, match mini-f32's within the type's expected error, and
 * quantizing mini-f32's tensors here reproduces llama.cpp's blocks byte for
 * byte (the files were made from the f32 model without an importance
 * matrix, so llama.cpp used its reference quantizers). Skips without the data. */
// labels: conformance
#include "engine/engine.h"
#include "gguf/gguf.h"
#include "support/test.h"

#include <math.h>
#include <stdlib.h>

static const char *const files[] = {
    "mini-f16.gguf", "mini-bf16.gguf", "mini-q8_0.gguf", "mini-q6_k.gguf",
    "mini-q5_k_m.gguf", "mini-q5_1.gguf", "mini-q5_0.gguf", "mini-q4_k_m.gguf",
    "mini-q4_1.gguf", "mini-q4_0.gguf", "mini-q3_k_m.gguf", "mini-q2_k.gguf",
};

static const char *const tensors[] = {
    "blk.0.attn_q.weight", "blk.0.ffn_down.weight", "blk.3.attn_v.weight",
    "token_embd.weight", "output.weight",
};

/* Relative RMSE bounds per tensor type: the Gaussian bounds of
 * test-quantize.c, which these trained-like weights also meet (measured:
 * Q2_K 0.297, Q3_K 0.151, Q4_0 0.086, Q4_1 0.078, Q4_K 0.072, Q5_0 0.043,
 * Q5_1 0.038, Q5_K 0.036, Q6_K 0.018, Q8_0 0.0054, BF16 0.0017, F16 0.0002). */
static double bound_for(uint32_t type)
{
    switch (type) {
    case GGML_TYPE_F16:  return 3.0e-4;
    case GGML_TYPE_BF16: return 2.5e-3;
    case GGML_TYPE_Q8_0: return 0.0064;
    case GGML_TYPE_Q6_K: return 0.0210;
    case GGML_TYPE_Q5_1: return 0.0445;
    case GGML_TYPE_Q5_0: return 0.0505;
    case GGML_TYPE_Q5_K: return 0.0423;
    case GGML_TYPE_Q4_1: return 0.0920;
    case GGML_TYPE_Q4_0: return 0.1020;
    case GGML_TYPE_Q4_K: return 0.0840;
    case GGML_TYPE_Q3_K: return 0.1780;
    case GGML_TYPE_Q2_K: return 0.3490;
    default:             return 0.0;
    }
}

static void check_tensor(const char *file, const gguf_tensor *qt, const gguf_tensor *ft)
{
    const engine_quant_traits *tr = engine_quant_get(qt->type);
    CHECK(tr != NULL);
    CHECK(ft->type == GGML_TYPE_F32);
    CHECK(qt->ne[0] == ft->ne[0] && qt->n_elements == ft->n_elements);
    if (!tr || ft->type != GGML_TYPE_F32 || qt->n_elements != ft->n_elements)
        return;
    int64_t k = (int64_t)qt->ne[0], rows = (int64_t)(qt->n_elements / qt->ne[0]);
    size_t row_bytes = engine_row_size(qt->type, k);
    CHECK_INT(row_bytes * (size_t)rows, qt->nbytes);
    float *y = malloc(sizeof(float) * (size_t)k);
    uint8_t *requant = malloc(row_bytes);
    MM_ASSERT(y && requant);
    const float *x = ft->data;
    double num = 0.0, den = 0.0;
    int64_t same_rows = 0;
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *qrow = (const uint8_t *)qt->data + (size_t)r * row_bytes;
        tr->dequantize_row(qrow, y, k);
        for (int64_t i = 0; i < k; i++) {
            double e = (double)x[r * k + i] - y[i];
            num += e * e;
            den += (double)x[r * k + i] * x[r * k + i];
        }
        tr->quantize_row(x + r * k, requant, k);
        if (memcmp(requant, qrow, row_bytes) == 0)
            same_rows++;
    }
    double rmse = sqrt(num / den);
    printf("%-17s %-22s %-4s relative RMSE %.5f (bound %.4f), requantized rows identical %lld/%lld\n",
           file, qt->name, tr->name, rmse, bound_for(qt->type), (long long)same_rows,
           (long long)rows);
    CHECK(rmse <= bound_for(qt->type));
    CHECK_INT(same_rows, rows);
    free(y);
    free(requant);
}

int main(void)
{
    char *f32_path = mmtest_shared_path("models/mini/mini-f32.gguf");
    if (!f32_path)
        mmtest_skip("../shared/models/mini/mini-f32.gguf is absent");
    mm_error err = { 0 };
    gguf_file *ref = NULL;
    CHECK_INT(gguf_open(f32_path, &ref, &err), 0);
    free(f32_path);
    if (!ref)
        return mmtest_finish();
    int files_seen = 0;
    for (size_t fi = 0; fi < MM_ARRAY_LEN(files); fi++) {
        char rel[128];
        snprintf(rel, sizeof rel, "models/mini/%s", files[fi]);
        char *path = mmtest_shared_path(rel);
        if (!path) {
            printf("note: %s absent, not checked\n", rel);
            continue;
        }
        gguf_file *f = NULL;
        CHECK_INT(gguf_open(path, &f, &err), 0);
        free(path);
        if (!f)
            continue;
        files_seen++;
        for (size_t ti = 0; ti < MM_ARRAY_LEN(tensors); ti++) {
            const gguf_tensor *qt = gguf_find_tensor(f, tensors[ti]);
            const gguf_tensor *ft = gguf_find_tensor(ref, tensors[ti]);
            CHECK(qt != NULL && ft != NULL);
            if (qt && ft)
                check_tensor(files[fi], qt, ft);
        }
        gguf_close(f);
    }
    gguf_close(ref);
    CHECK(files_seen > 0);
    return mmtest_finish();
}

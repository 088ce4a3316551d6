// labels: unit model
/* test-forward.c - the engine's forward pass against the naive reference in
 * tests/reference/ on synthesized models (GQA and MHA, tied and untied
 * output, qwen2 biases, neox and normal RoPE, every weight type), plus the
 * properties the engine promises: identical results for 1 and N threads,
 * for batched and token-by-token prompts and after a KV rewind, and for
 * each route a pass takes (decode width or prompt, SiLU in or after the
 * gate/up matmul). */
#include "engine/engine.h"
#include "reference/reference.h"
#include "support/synth.h"
#include "support/test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *tmpdir;

/* ---- synthesis helpers ---- */

typedef struct type_choice {
    uint32_t matrix_type;   /* every 2-D tensor, token_embd included */
} type_choice;

static uint32_t pick_type(const char *name, uint32_t n_dims, const uint64_t *ne, void *user)
{
    const type_choice *tc = user;
    return n_dims == 2 ? tc->matrix_type : GGML_TYPE_F32;
}

/* Attention only discriminates positions (and so catches RoPE or mask
 * mistakes) when scores are O(1): hence a larger weight scale than the
 * synthesizer's default. */
static void base_params(mmtest_synth_params *p)
{
    mmtest_synth_default_params(p);
    p->weight_scale = 0.25f;
    p->seed = 7;
}

/* The shape of the quantized-type tests, with pick choosing each tensor's
 * type: K-quant rows are 256 elements, so every matrix input size is a
 * multiple of 256. */
static void quant_params(mmtest_synth_params *p, mmtest_synth_type_fn pick, void *user)
{
    base_params(p);
    p->n_embd = 256;
    p->n_ff = 512;
    p->n_head = 4;
    p->n_head_kv = 2;
    p->weight_scale = 0.12f;
    p->tensor_type = pick;
    p->convert = mmtest_synth_quantize;
    p->user = user;
}

static char *write_model(const mmtest_synth_params *p, const char *file)
{
    char *path = mm_asprintf("%s/%s", tmpdir, file);
    CHECK_INT(mmtest_synth_model(p, path), 0);
    return path;
}

/* qwen2vl: a qwen2 model relabelled, its hyper-parameters under the
 * qwen2vl. prefix (the engine reads <arch>.* keys). */
static char *write_qwen2vl(const mmtest_synth_params *p, const char *file)
{
    gguf_writer *w = gguf_writer_new();
    mm_error err = { 0 };
    CHECK_INT(mmtest_synth_fill_writer(p, w, &err), 0);
    gguf_writer_set_str(w, "general.architecture", "qwen2vl");
    gguf_writer_set_u32(w, "qwen2vl.context_length", p->n_ctx);
    gguf_writer_set_u32(w, "qwen2vl.embedding_length", p->n_embd);
    gguf_writer_set_u32(w, "qwen2vl.block_count", p->n_layer);
    gguf_writer_set_u32(w, "qwen2vl.feed_forward_length", p->n_ff);
    gguf_writer_set_u32(w, "qwen2vl.attention.head_count", p->n_head);
    gguf_writer_set_u32(w, "qwen2vl.attention.head_count_kv", p->n_head_kv);
    gguf_writer_set_f32(w, "qwen2vl.attention.layer_norm_rms_epsilon", p->rms_eps);
    gguf_writer_set_f32(w, "qwen2vl.rope.freq_base", p->rope_freq_base);
    int32_t sections[4] = { 8, 4, 4, 0 };
    gguf_writer_set_arr(w, "qwen2vl.rope.dimension_sections", GGUF_TYPE_INT32, sections, 4);
    char *path = mm_asprintf("%s/%s", tmpdir, file);
    CHECK_INT(gguf_writer_write(w, path, &err), 0);
    gguf_writer_free(w);
    return path;
}

/* ---- comparison ---- */

/* max |a - b| over the vocabulary, relative to max |b| (b = reference). */
static double rel_err(const float *a, const float *b, uint32_t n)
{
    double worst = 0, scale = 1e-6;
    for (uint32_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > worst)
            worst = d;
        if (fabs(b[i]) > scale)
            scale = fabs(b[i]);
    }
    return worst / scale;
}

#define N_PROMPT 7
#define N_DECODE 4

static const int32_t prompt[N_PROMPT] = { 1, 300, 17, 42, 259, 311, 5 };

/* Prompt as one batch (all logits kept), then N_DECODE greedy steps; every
 * position's logits are compared with the reference's for the same prefix.
 * Returns the worst relative error seen. */
static double compare_with_reference(const char *path, int n_threads)
{
    engine_model *model = NULL;
    engine_ctx *ctx = NULL;
    mm_error err = { 0 };
    char msg[256] = "";
    double worst = 0;
    CHECK_INT(engine_model_load(path, &model, &err), 0);
    ref_model *ref = ref_model_load(path, msg, sizeof msg);
    if (!ref)
        fprintf(stderr, "%s\n", msg);
    CHECK(ref != NULL);
    if (!model || !ref)
        goto done;
    engine_ctx_params cp;
    engine_ctx_default_params(&cp);
    cp.n_ctx = 64;
    cp.n_threads = n_threads;
    cp.all_logits = true;
    CHECK_INT(engine_ctx_new(model, &cp, &ctx, &err), 0);
    uint32_t nv = model->hp.n_vocab;
    CHECK_INT(ref_model_n_vocab(ref), nv);
    int32_t seq[N_PROMPT + N_DECODE];
    memcpy(seq, prompt, sizeof prompt);
    float *ref_logits = malloc((size_t)(N_PROMPT + N_DECODE) * nv * sizeof(float));
    CHECK_INT(engine_eval(ctx, seq, N_PROMPT, &err), 0);
    CHECK_INT(ref_forward(ref, seq, N_PROMPT, ref_logits), 0);
    for (uint32_t i = 0; i < N_PROMPT; i++) {
        double e = rel_err(engine_ctx_logits(ctx, i), ref_logits + (size_t)i * nv, nv);
        worst = e > worst ? e : worst;
    }
    for (uint32_t step = 0; step < N_DECODE; step++) {
        uint32_t len = N_PROMPT + step;
        /* continue with the reference's argmax so both see the same sequence */
        const float *last = ref_logits + (size_t)(len - 1) * nv;
        int32_t best = 0;
        for (uint32_t t = 1; t < nv; t++)
            if (last[t] > last[best])
                best = (int32_t)t;
        seq[len] = best;
        CHECK_INT(engine_eval(ctx, seq + len, 1, &err), 0);
        CHECK_INT(ref_forward(ref, seq, len + 1, ref_logits), 0);
        double e = rel_err(engine_ctx_logits(ctx, 0), ref_logits + (size_t)len * nv, nv);
        worst = e > worst ? e : worst;
    }
    CHECK_INT(engine_ctx_pos(ctx), N_PROMPT + N_DECODE);
    free(ref_logits);
done:
    engine_ctx_free(ctx);
    ref_model_free(ref);
    engine_model_free(model);
    return worst;
}

/* ---- architectures and shapes (F32 weights) ---- */

/* F32 weights: the engine differs from the reference only by the F16 KV
 * cache (relative rounding 2^-11 per element), f32 sums and f32 RoPE
 * angles; 1% of the largest logit leaves a wide margin over that while a
 * wrong RoPE mode, GQA mapping or missing bias gives errors of order 1. */
#define TOL_F32 1e-2

static void test_shapes(void)
{
    mmtest_synth_params p;
    struct { const char *what; const char *arch; uint32_t n_head_kv; bool tied; int bias; } cases[] = {
        { "llama GQA untied", "llama", 2, false, -1 },
        { "llama MHA tied", "llama", 4, true, -1 },
        { "llama with q/k/v biases", "llama", 2, false, 1 },
        { "qwen2 GQA tied (biases, neox)", "qwen2", 2, true, -1 },
        { "qwen2 MHA untied", "qwen2", 4, false, -1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        base_params(&p);
        p.arch = cases[i].arch;
        p.n_head_kv = cases[i].n_head_kv;
        p.tied_output = cases[i].tied;
        p.qkv_bias = cases[i].bias;
        if (strcmp(p.arch, "qwen2") == 0) {
            p.rms_eps = 1e-6f;
            p.rope_freq_base = 1000000.0f;
        }
        char file[64];
        snprintf(file, sizeof file, "shape%zu.gguf", i);
        char *path = write_model(&p, file);
        double e = compare_with_reference(path, 2);
        printf("%-32s rel err %.2e\n", cases[i].what, e);
        if (!(e <= TOL_F32))
            mmtest_fail(__FILE__, __LINE__, "%s: error %g > %g", cases[i].what, e, TOL_F32);
        free(path);
    }
    base_params(&p);
    p.arch = "qwen2";
    char *path = write_qwen2vl(&p, "qwen2vl.gguf");
    double e = compare_with_reference(path, 1);
    printf("%-32s rel err %.2e\n", "qwen2vl text path", e);
    CHECK(e <= TOL_F32);
    free(path);
}

/* ---- every weight type ---- */

typedef struct type_case {
    uint32_t type;
    double   tol;
} type_case;

/* Tolerances: quantized weights are dequantized identically on both sides,
 * so what remains is the activation rounding of the engine's fast path
 * (Q8_0 per 32 or Q8_K per 256 values: steps of max/127, i.e. up to 0.4%
 * per element, summed over two layers and the output matmul), plus the KV
 * rounding. A rounding step flipped by a tiny upstream difference changes
 * an activation by a whole step, so the effect compounds through the
 * layers: measured worst cases are 2-3.4% for the 32-element formats and
 * up to 4.8% for the K-quants (Q8_K rounds per 256 elements, coarser). The
 * bounds leave margin for other CPUs; a wrong block layout, RoPE mode or
 * head mapping gives errors of order 1. */
static const type_case type_cases[] = {
    { GGML_TYPE_F32,  1e-2 },
    { GGML_TYPE_F16,  1e-2 },
    { GGML_TYPE_BF16, 1e-2 },
    { GGML_TYPE_Q8_0, 6e-2 },
    { GGML_TYPE_Q4_0, 6e-2 },
    { GGML_TYPE_Q4_1, 6e-2 },
    { GGML_TYPE_Q5_0, 6e-2 },
    { GGML_TYPE_Q5_1, 6e-2 },
    { GGML_TYPE_Q2_K, 1e-1 },
    { GGML_TYPE_Q3_K, 1e-1 },
    { GGML_TYPE_Q4_K, 1e-1 },
    { GGML_TYPE_Q5_K, 1e-1 },
    { GGML_TYPE_Q6_K, 1e-1 },
};

static void test_types(void)
{
    for (size_t i = 0; i < sizeof type_cases / sizeof type_cases[0]; i++) {
        mmtest_synth_params p;
        type_choice tc = { type_cases[i].type };
        quant_params(&p, pick_type, &tc);
        char file[64];
        snprintf(file, sizeof file, "type-%s.gguf", ggml_type_name(tc.matrix_type));
        char *path = write_model(&p, file);
        double e = compare_with_reference(path, 2);
        printf("%-6s rel err %.2e (tolerance %.0e)\n", ggml_type_name(tc.matrix_type), e,
               type_cases[i].tol);
        if (!(e <= type_cases[i].tol))
            mmtest_fail(__FILE__, __LINE__, "%s: error %g > %g", ggml_type_name(tc.matrix_type),
                        e, type_cases[i].tol);
        free(path);
    }
}

/* ---- determinism ---- */

#define N_GEN 12

/* Greedy-generate N_GEN tokens; the prompt goes in one call or one token
 * per call. Logits of every step are appended to trace (N_GEN * n_vocab). */
static void generate(const engine_model *model, int n_threads, bool batched, int32_t *out,
                     float *trace)
{
    engine_ctx_params cp;
    engine_ctx *ctx = NULL;
    mm_error err = { 0 };
    engine_ctx_default_params(&cp);
    cp.n_ctx = 64;
    cp.n_threads = n_threads;
    CHECK_INT(engine_ctx_new(model, &cp, &ctx, &err), 0);
    if (!ctx)
        return;
    if (batched) {
        CHECK_INT(engine_eval(ctx, prompt, N_PROMPT, &err), 0);
    } else {
        for (int i = 0; i < N_PROMPT; i++)
            CHECK_INT(engine_eval(ctx, prompt + i, 1, &err), 0);
    }
    uint32_t nv = model->hp.n_vocab;
    for (int s = 0; s < N_GEN; s++) {
        const float *lg = engine_ctx_logits(ctx, s == 0 && batched ? N_PROMPT - 1 : 0);
        memcpy(trace + (size_t)s * nv, lg, nv * sizeof(float));
        int32_t best = 0;
        for (uint32_t t = 1; t < nv; t++)
            if (lg[t] > lg[best])
                best = (int32_t)t;
        out[s] = best;
        CHECK_INT(engine_eval(ctx, &out[s], 1, &err), 0);
    }
    engine_ctx_free(ctx);
}

static void test_determinism(uint32_t type, double tol)
{
    mmtest_synth_params p;
    type_choice tc = { type };
    base_params(&p);
    p.n_embd = 256;
    p.n_ff = 512;
    p.tensor_type = pick_type;
    p.convert = mmtest_synth_quantize;
    p.user = &tc;
    char file[64];
    snprintf(file, sizeof file, "det-%s.gguf", ggml_type_name(type));
    char *path = write_model(&p, file);
    engine_model *model = NULL;
    mm_error err = { 0 };
    CHECK_INT(engine_model_load(path, &model, &err), 0);
    if (!model) {
        free(path);
        return;
    }
    size_t n = (size_t)N_GEN * model->hp.n_vocab;
    float *t1 = calloc(n, sizeof(float)), *t3 = calloc(n, sizeof(float)),
          *tb = calloc(n, sizeof(float));
    int32_t g1[N_GEN], g3[N_GEN], gb[N_GEN];
    generate(model, 1, true, g1, t1);
    generate(model, 3, true, g3, t3);
    generate(model, 2, false, gb, tb);
    CHECK(memcmp(g1, g3, sizeof g1) == 0);
    CHECK(memcmp(g1, gb, sizeof g1) == 0);
    /* not only the argmax: every logit bit-identical */
    CHECK(memcmp(t1, t3, n * sizeof(float)) == 0);
    CHECK(memcmp(t1, tb, n * sizeof(float)) == 0);

    /* The portable kernels: the same tokens, and logits within the type's
     * reference tolerance. Not tighter: the kernels agree to ~1e-6, but a
     * difference that flips one activation's Q8 rounding moves it by a whole
     * step, and that compounds through the layers (measured 1.6% for Q4_0,
     * 3.3% for Q4_K, 4e-5 for F16, which has no activation rounding). */
    engine_quant_force_scalar(true);
    int32_t gs[N_GEN];
    float *ts = calloc(n, sizeof(float));
    generate(model, 2, true, gs, ts);
    engine_quant_force_scalar(false);
    double worst = 0;
    for (int s = 0; s < N_GEN; s++) {
        double e = rel_err(ts + (size_t)s * model->hp.n_vocab, t1 + (size_t)s * model->hp.n_vocab,
                           model->hp.n_vocab);
        worst = e > worst ? e : worst;
    }
    printf("%s: scalar vs %s rel err %.2e\n", ggml_type_name(type), engine_quant_isa(), worst);
    CHECK(memcmp(gs, g1, sizeof gs) == 0);
    CHECK(worst <= tol);
    free(ts);
    free(t1);
    free(t3);
    free(tb);
    engine_model_free(model);
    free(path);
}

/* ---- decode-width passes and the SiLU pair ----
 * A pass of at most 8 rows quantizes its activations and applies RoPE on
 * the calling thread, a longer one on the pool, and the SiLU gate runs in
 * the gate/up matmul's items when both weights take one activation format
 * (otherwise after it): every route must give the same bits. */

#define N_LONG 21   /* > 8 rows: the pool's route */

/* The last logits of toks evaluated in calls of chunk tokens (2 threads;
 * the engine cuts a call into passes of n_batch rows, 0: its default),
 * then those of one more token, which attends to every cached row of the
 * last layer (the prompt's rows there only went as far as the KV store). */
static void eval_chunked(const engine_model *m, const int32_t *toks, uint32_t chunk,
                         uint32_t n_batch, float *logits)
{
    engine_ctx_params cp;
    engine_ctx *ctx = NULL;
    engine_ctx_default_params(&cp);
    cp.n_ctx = 64;
    cp.n_batch = n_batch;
    cp.n_threads = 2;
    CHECK_INT(engine_ctx_new(m, &cp, &ctx, NULL), 0);
    if (!ctx)
        return;
    /* The cache first holds another prompt's rows, so that a cell a route
     * forgets to write shows (a fresh cache may be the memory of the
     * previous route's, with the very values it should have). */
    int32_t other[N_LONG];
    for (int i = 0; i < N_LONG; i++)
        other[i] = toks[N_LONG - 1 - i];
    for (int i = 0; i < N_LONG; i++)   /* one by one: every row goes through every layer */
        CHECK_INT(engine_eval(ctx, other + i, 1, NULL), 0);
    engine_ctx_truncate(ctx, 0);
    for (uint32_t done = 0; done < N_LONG; done += chunk) {
        uint32_t n = N_LONG - done < chunk ? N_LONG - done : chunk;
        CHECK_INT(engine_eval(ctx, toks + done, n, NULL), 0);
    }
    memcpy(logits, engine_ctx_logits(ctx, (N_LONG - 1) % chunk), m->hp.n_vocab * sizeof(float));
    CHECK_INT(engine_eval(ctx, toks, 1, NULL), 0);
    memcpy(logits + m->hp.n_vocab, engine_ctx_logits(ctx, 0), m->hp.n_vocab * sizeof(float));
    engine_ctx_free(ctx);
}

typedef struct ffn_types {
    uint32_t gate, up, other;
} ffn_types;

static uint32_t pick_ffn(const char *name, uint32_t n_dims, const uint64_t *ne, void *user)
{
    const ffn_types *ft = user;
    (void)ne;
    if (n_dims != 2)
        return GGML_TYPE_F32;
    if (strstr(name, "ffn_gate"))
        return ft->gate;
    if (strstr(name, "ffn_up"))
        return ft->up;
    return ft->other;
}

static void test_pass_routes(void)
{
    /* gate and up in one format (fused, rows of different widths), in two
     * formats (SiLU after the matmuls), and one type throughout */
    static const ffn_types cases[] = {
        { GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0 },
        { GGML_TYPE_Q4_0, GGML_TYPE_Q4_K, GGML_TYPE_Q8_0 },
        { GGML_TYPE_Q4_K, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K },
    };
    int32_t toks[N_LONG];
    for (int i = 0; i < N_LONG; i++)
        toks[i] = (int32_t)((7 + 37 * i) % 300);   /* n_vocab 320 */
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        mmtest_synth_params p;
        quant_params(&p, pick_ffn, (void *)&cases[k]);
        char file[64];
        snprintf(file, sizeof file, "routes-%zu.gguf", k);
        char *path = write_model(&p, file);
        /* against the reference: a wrong gate (or none) is an error of order 1 */
        double e = compare_with_reference(path, 2);
        printf("gate %s up %s: rel err %.2e\n", ggml_type_name(cases[k].gate),
               ggml_type_name(cases[k].up), e);
        CHECK(e <= 1e-1);
        engine_model *m = NULL;
        CHECK_INT(engine_model_load(path, &m, NULL), 0);
        if (m) {
            size_t nv = m->hp.n_vocab;
            float *whole = calloc(2 * nv, sizeof(float)), *by8 = calloc(2 * nv, sizeof(float)),
                  *by1 = calloc(2 * nv, sizeof(float)), *by10 = calloc(2 * nv, sizeof(float));
            eval_chunked(m, toks, N_LONG, 0, whole);   /* pool route */
            eval_chunked(m, toks, 8, 0, by8);          /* caller route, 8 rows */
            eval_chunked(m, toks, 1, 0, by1);
            /* one call in passes of 10, 10 and 1 rows: passes without logits */
            eval_chunked(m, toks, N_LONG, 10, by10);
            CHECK(memcmp(whole, by8, 2 * nv * sizeof(float)) == 0);
            CHECK(memcmp(whole, by1, 2 * nv * sizeof(float)) == 0);
            CHECK(memcmp(whole, by10, 2 * nv * sizeof(float)) == 0);
            free(by10);
            free(whole);
            free(by8);
            free(by1);
        }
        engine_model_free(m);
        free(path);
    }
}

/* Rewinding the cache and re-evaluating gives the very same logits. */
static void test_rewind(void)
{
    mmtest_synth_params p;
    base_params(&p);
    char *path = write_model(&p, "rewind.gguf");
    engine_model *model = NULL;
    engine_ctx *a = NULL, *b = NULL;
    mm_error err = { 0 };
    CHECK_INT(engine_model_load(path, &model, &err), 0);
    engine_ctx_params cp;
    engine_ctx_default_params(&cp);
    cp.n_ctx = 32;
    CHECK_INT(engine_ctx_new(model, &cp, &a, &err), 0);
    CHECK_INT(engine_ctx_new(model, &cp, &b, &err), 0);   /* two contexts, one model */
    uint32_t nv = model->hp.n_vocab;
    float *want = malloc(nv * sizeof(float));
    CHECK_INT(engine_eval(a, prompt, N_PROMPT, &err), 0);
    memcpy(want, engine_ctx_logits(a, N_PROMPT - 1), nv * sizeof(float));
    CHECK(engine_ctx_logits(a, 0) == NULL);   /* only the last row without all_logits */
    engine_ctx_truncate(a, 3);
    CHECK_INT(engine_ctx_pos(a), 3);
    /* a different continuation first, then rewind again and redo the original */
    int32_t other[2] = { 100, 101 };
    CHECK_INT(engine_eval(a, other, 2, &err), 0);
    engine_ctx_truncate(a, 3);
    CHECK_INT(engine_eval(a, prompt + 3, N_PROMPT - 3, &err), 0);
    CHECK(memcmp(want, engine_ctx_logits(a, N_PROMPT - 4), nv * sizeof(float)) == 0);
    CHECK_INT(engine_eval(b, prompt, N_PROMPT, &err), 0);
    CHECK(memcmp(want, engine_ctx_logits(b, N_PROMPT - 1), nv * sizeof(float)) == 0);

    /* bad input evaluates nothing */
    int32_t bad = (int32_t)nv;
    CHECK_INT(engine_eval(b, &bad, 1, &err), MM_EINVAL);
    CHECK_CONTAINS(err.message, "outside the vocabulary");
    CHECK_INT(engine_ctx_pos(b), N_PROMPT);
    int32_t many[32] = { 0 };
    CHECK_INT(engine_eval(b, many, 32 - N_PROMPT + 1, &err), MM_ELIMIT);
    CHECK_CONTAINS(err.message, "context full");
    CHECK_INT(engine_ctx_pos(b), N_PROMPT);
    CHECK_INT(engine_eval(b, many, 32 - N_PROMPT, &err), 0);
    CHECK_INT(engine_ctx_pos(b), 32);
    free(want);
    engine_ctx_free(a);
    engine_ctx_free(b);
    engine_model_free(model);
    free(path);
}

int main(void)
{
    tmpdir = mmtest_tmpdir();
    test_shapes();
    test_types();
    test_determinism(GGML_TYPE_Q4_0, 6e-2);
    test_determinism(GGML_TYPE_Q4_K, 1e-1);
    test_determinism(GGML_TYPE_F16, 1e-3);
    test_rewind();
    test_pass_routes();
    mmtest_rmtree(tmpdir);
    free(tmpdir);
    return mmtest_finish();
}

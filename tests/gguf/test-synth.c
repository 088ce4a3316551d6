/* test-synth.c - the model synthesizer: synthesized llama and qwen2 models
 * read back with the facts, tensor names and ne-order shapes of the
 * reference tables (written out here by hand), deterministic weights of the
 * documented scale, the byte-fallback vocabulary, and the type hooks. */
// labels: unit model
#include "gguf/gguf.h"
#include "support/synth.h"
#include "support/test.h"

#include <math.h>
#include <stdlib.h>

typedef struct shape {
    const char *name;
    uint32_t    n_dims;
    uint64_t    ne0, ne1;
} shape;

static gguf_file *open_synth(const mmtest_synth_params *p, void **buf)
{
    size_t size = 0;
    mm_error err = { 0 };
    gguf_file *f = NULL;
    if (mmtest_synth_model_buffer(p, buf, &size, &err) != 0 ||
        gguf_open_buffer(*buf, size, &f, &err) != 0) {
        mmtest_fail(__FILE__, __LINE__, "synthesize/open: %s", err.message);
        return NULL;
    }
    return f;
}

static void check_shapes(const gguf_file *f, const shape *want, size_t n)
{
    CHECK_INT(gguf_tensor_count(f), n);
    for (size_t i = 0; i < n; i++) {
        const gguf_tensor *t = gguf_find_tensor(f, want[i].name);
        if (!t) {
            mmtest_fail(__FILE__, __LINE__, "tensor %s missing", want[i].name);
            continue;
        }
        CHECK_INT(t->n_dims, want[i].n_dims);
        CHECK_INT(t->ne[0], want[i].ne0);
        CHECK_INT(t->ne[1], want[i].ne1);
    }
}

static void test_llama_defaults(void)
{
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    p.name = "synth-llama";
    void *buf = NULL;
    gguf_file *f = open_synth(&p, &buf);
    if (!f) {
        free(buf);
        return;
    }
    mm_model_facts mf;
    gguf_model_facts(f, &mf);
    CHECK_STR(mf.architecture, "llama");
    CHECK_STR(mf.name, "synth-llama");
    CHECK_INT(mf.embedding_length, 64);
    CHECK_INT(mf.block_count, 2);
    CHECK_INT(mf.head_count, 4);
    CHECK_INT(mf.head_count_kv, 2);
    CHECK_INT(mf.context_length, 256);
    CHECK_INT(mf.vocab_size, 320);
    CHECK_INT(mf.file_type, 0);
    CHECK_STR(mf.file_type_name, "F32");
    CHECK(!mf.has_chat_template);
    /* 64-dim, 4 heads of 16, kv_dim 32, ff 128, 320 tokens, untied, no bias. */
    const uint64_t per_layer = 64 + 64 * 64 + 2 * 64 * 32 + 64 * 64 + 64 + 3 * 64 * 128;
    CHECK_INT(mf.n_params, 2 * 64 * 320 + 64 + 2 * per_layer);
    static const shape want[] = {
        { "token_embd.weight", 2, 64, 320 }, { "output_norm.weight", 1, 64, 1 },
        { "output.weight", 2, 64, 320 },
        { "blk.0.attn_norm.weight", 1, 64, 1 }, { "blk.0.attn_q.weight", 2, 64, 64 },
        { "blk.0.attn_k.weight", 2, 64, 32 }, { "blk.0.attn_v.weight", 2, 64, 32 },
        { "blk.0.attn_output.weight", 2, 64, 64 }, { "blk.0.ffn_norm.weight", 1, 64, 1 },
        { "blk.0.ffn_gate.weight", 2, 64, 128 }, { "blk.0.ffn_up.weight", 2, 64, 128 },
        { "blk.0.ffn_down.weight", 2, 128, 64 },
        { "blk.1.attn_norm.weight", 1, 64, 1 }, { "blk.1.attn_q.weight", 2, 64, 64 },
        { "blk.1.attn_k.weight", 2, 64, 32 }, { "blk.1.attn_v.weight", 2, 64, 32 },
        { "blk.1.attn_output.weight", 2, 64, 64 }, { "blk.1.ffn_norm.weight", 1, 64, 1 },
        { "blk.1.ffn_gate.weight", 2, 64, 128 }, { "blk.1.ffn_up.weight", 2, 64, 128 },
        { "blk.1.ffn_down.weight", 2, 128, 64 },
    };
    check_shapes(f, want, MM_ARRAY_LEN(want));
    float v;
    uint32_t u;
    bool b;
    CHECK(gguf_get_f32(f, "llama.rope.freq_base", &v) == 0 && v == 10000.0f);
    CHECK(gguf_get_f32(f, "llama.attention.layer_norm_rms_epsilon", &v) == 0 && v == 1e-5f);
    CHECK(gguf_get_u32(f, "llama.rope.dimension_count", &u) == 0 && u == 16);
    CHECK(gguf_get_u32(f, "llama.feed_forward_length", &u) == 0 && u == 128);
    CHECK(gguf_get_u32(f, "tokenizer.ggml.bos_token_id", &u) == 0 && u == 1);
    CHECK(gguf_get_u32(f, "tokenizer.ggml.eos_token_id", &u) == 0 && u == 2);
    CHECK(gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &b) == 0 && b);

    /* Weights: uniform in [-0.02, 0.02] (mean 0, sd 0.02/sqrt(3)); norms near 1. */
    const gguf_tensor *emb = gguf_find_tensor(f, "token_embd.weight");
    double sum = 0, sq = 0, lo = 1, hi = -1;
    for (uint64_t i = 0; emb && i < emb->n_elements; i++) {
        float x;
        memcpy(&x, (const uint8_t *)emb->data + 4 * i, 4);
        sum += x;
        sq += (double)x * x;
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
    }
    double n = emb ? (double)emb->n_elements : 1;
    CHECK(lo >= -0.02 && hi <= 0.02 && lo < -0.019 && hi > 0.019);
    CHECK_NEAR(sum / n, 0.0, 0.001);
    CHECK_NEAR(sqrt(sq / n), 0.02 / sqrt(3.0), 0.0005);
    const gguf_tensor *norm = gguf_find_tensor(f, "blk.1.ffn_norm.weight");
    for (uint64_t i = 0; norm && i < norm->n_elements; i++) {
        float x;
        memcpy(&x, (const uint8_t *)norm->data + 4 * i, 4);
        CHECK(x >= 0.98f && x <= 1.02f);
    }
    /* The file holds exactly mmtest_synth_values. */
    float *expect = malloc(64 * 128 * sizeof *expect);
    mmtest_synth_values(&p, "blk.0.ffn_up.weight", expect, 64 * 128);
    const gguf_tensor *up = gguf_find_tensor(f, "blk.0.ffn_up.weight");
    CHECK(up && memcmp(up->data, expect, 64 * 128 * sizeof *expect) == 0);
    free(expect);

    /* Vocabulary: 3 specials, 256 byte tokens, then distinct pieces. */
    gguf_arr tokens, types, scores;
    CHECK_INT(gguf_get_arr(f, "tokenizer.ggml.tokens", &tokens), 0);
    CHECK_INT(gguf_get_arr(f, "tokenizer.ggml.token_type", &types), 0);
    CHECK_INT(gguf_get_arr(f, "tokenizer.ggml.scores", &scores), 0);
    CHECK(tokens.count == 320 && types.count == 320 && scores.count == 320);
    CHECK(types.type == GGUF_TYPE_INT32 && scores.type == GGUF_TYPE_FLOAT32);
    static const struct { uint32_t id; const char *text; int32_t type; } known[] = {
        { 0, "<unk>", 2 }, { 1, "<s>", 3 }, { 2, "</s>", 3 }, { 3, "<0x00>", 6 },
        { 3 + 0x41, "<0x41>", 6 }, { 258, "<0xFF>", 6 }, { 259, "\xe2\x96\x81", 1 },
        { 260, "a", 1 }, { 285, "z", 1 }, { 286, "\xe2\x96\x81" "a", 1 }, { 312, "aa", 1 },
        { 313, "ab", 1 },
    };
    for (size_t i = 0; i < MM_ARRAY_LEN(known); i++) {
        gguf_str s = { 0 };
        int32_t t = -1;
        CHECK_INT(gguf_arr_str(&tokens, known[i].id, &s), 0);
        if (s.len != strlen(known[i].text) || memcmp(s.ptr, known[i].text, s.len) != 0)
            mmtest_fail(__FILE__, __LINE__, "token %u is \"%.*s\", expected \"%s\"", known[i].id,
                        (int)s.len, s.ptr, known[i].text);
        memcpy(&t, (const uint8_t *)types.data + 4 * known[i].id, 4);
        CHECK_INT(t, known[i].type);
    }
    for (uint32_t a = 0; a < tokens.count; a++) {
        gguf_str sa, sb;
        gguf_arr_str(&tokens, a, &sa);
        for (uint32_t c = a + 1; c < tokens.count; c++) {
            gguf_arr_str(&tokens, c, &sb);
            if (sa.len == sb.len && memcmp(sa.ptr, sb.ptr, sa.len) == 0)
                mmtest_fail(__FILE__, __LINE__, "tokens %u and %u are both \"%.*s\"", a, c,
                            (int)sa.len, sa.ptr);
        }
    }
    float s300;
    memcpy(&s300, (const uint8_t *)scores.data + 4 * 300, 4);
    CHECK(s300 == -41.0f);
    gguf_close(f);
    free(buf);

    /* Same seed, same bytes; another seed, other weights. */
    void *a = NULL, *c = NULL;
    size_t sa = 0, sc = 0;
    CHECK_INT(mmtest_synth_model_buffer(&p, &a, &sa, NULL), 0);
    CHECK_INT(mmtest_synth_model_buffer(&p, &c, &sc, NULL), 0);
    CHECK(sa == sc && memcmp(a, c, sa) == 0);
    free(c);
    p.seed = 2;
    CHECK_INT(mmtest_synth_model_buffer(&p, &c, &sc, NULL), 0);
    CHECK(sa == sc && memcmp(a, c, sa) != 0);
    free(a);
    free(c);
}

static void test_qwen2_tied(void)
{
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    p.arch = "qwen2";
    p.n_embd = 32;
    p.n_layer = 1;
    p.n_head = 4;
    p.n_head_kv = 1;
    p.n_ff = 48;
    p.n_vocab = 300;
    p.n_ctx = 4096;
    p.rope_freq_base = 1e6f;
    p.rms_eps = 1e-6f;
    p.tied_output = true;
    p.chat_template = "{% for m in messages %}{{ m.content }}{% endfor %}";
    p.gguf_version = 2;
    p.alignment = 64;
    void *buf = NULL;
    gguf_file *f = open_synth(&p, &buf);
    if (!f) {
        free(buf);
        return;
    }
    mm_model_facts mf;
    gguf_model_facts(f, &mf);
    CHECK_STR(mf.architecture, "qwen2");
    CHECK_STR(mf.name, "");
    CHECK_INT(mf.context_length, 4096);
    CHECK_INT(mf.head_count_kv, 1);
    CHECK_INT(mf.vocab_size, 300);
    CHECK(mf.has_chat_template);
    CHECK_INT(gguf_version(f), 2);
    CHECK_INT(gguf_alignment(f), 64);
    float v;
    CHECK(gguf_get_f32(f, "qwen2.rope.freq_base", &v) == 0 && v == 1e6f);
    CHECK(gguf_get_f32(f, "qwen2.attention.layer_norm_rms_epsilon", &v) == 0 && v == 1e-6f);
    /* kv_dim = 8 * 1; q/k/v biases; no output.weight. */
    static const shape want[] = {
        { "token_embd.weight", 2, 32, 300 }, { "output_norm.weight", 1, 32, 1 },
        { "blk.0.attn_norm.weight", 1, 32, 1 }, { "blk.0.attn_q.weight", 2, 32, 32 },
        { "blk.0.attn_k.weight", 2, 32, 8 }, { "blk.0.attn_v.weight", 2, 32, 8 },
        { "blk.0.attn_q.bias", 1, 32, 1 }, { "blk.0.attn_k.bias", 1, 8, 1 },
        { "blk.0.attn_v.bias", 1, 8, 1 }, { "blk.0.attn_output.weight", 2, 32, 32 },
        { "blk.0.ffn_norm.weight", 1, 32, 1 }, { "blk.0.ffn_gate.weight", 2, 32, 48 },
        { "blk.0.ffn_up.weight", 2, 32, 48 }, { "blk.0.ffn_down.weight", 2, 48, 32 },
    };
    check_shapes(f, want, MM_ARRAY_LEN(want));
    CHECK(gguf_find_tensor(f, "output.weight") == NULL);
    gguf_close(f);
    free(buf);
}

/* Hooks: 2-D weights as BF16 (the top half of each F32, a conversion simple
 * enough to do here independently). */
static uint32_t pick_bf16(const char *name, uint32_t n_dims, const uint64_t *ne, void *user)
{
    (void)name; (void)ne;
    ++*(int *)user;
    return n_dims == 2 ? GGML_TYPE_BF16 : GGML_TYPE_F32;
}

static int to_bf16(uint32_t type, const float *src, uint64_t ne0, uint64_t n_rows, void *dst,
                   void *user)
{
    (void)user;
    if (type != GGML_TYPE_BF16)
        return MM_EUNSUPPORTED;
    uint8_t *out = dst;
    for (uint64_t i = 0; i < ne0 * n_rows; i++) {
        uint32_t bits;
        memcpy(&bits, &src[i], 4);
        uint16_t half = (uint16_t)(bits >> 16);
        memcpy(out + 2 * i, &half, 2);
    }
    return 0;
}

static uint32_t pick_q4_k(const char *name, uint32_t n_dims, const uint64_t *ne, void *user)
{
    (void)name; (void)ne; (void)user;
    return n_dims == 2 ? GGML_TYPE_Q4_K : GGML_TYPE_F32;
}

static void test_hooks(void)
{
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    int calls = 0;
    p.tensor_type = pick_bf16;
    p.convert = to_bf16;
    p.user = &calls;
    void *buf = NULL;
    gguf_file *f = open_synth(&p, &buf);
    if (!f) {
        free(buf);
        return;
    }
    CHECK_INT(calls, 21);   /* every tensor asked once */
    mm_model_facts mf;
    gguf_model_facts(f, &mf);
    CHECK_INT(mf.file_type, -1);            /* not all F32 and none given */
    CHECK_STR(mf.file_type_name, "BF16");   /* named after the matrices */
    const gguf_tensor *q = gguf_find_tensor(f, "blk.1.attn_q.weight");
    const gguf_tensor *norm = gguf_find_tensor(f, "blk.1.attn_norm.weight");
    CHECK(q && q->type == GGML_TYPE_BF16 && q->nbytes == 64 * 64 * 2);
    CHECK(norm && norm->type == GGML_TYPE_F32);
    float expect[64 * 64];
    mmtest_synth_values(&p, "blk.1.attn_q.weight", expect, 64 * 64);
    int far = 0;
    for (size_t i = 0; q && i < 64 * 64; i++) {
        uint16_t half;
        memcpy(&half, (const uint8_t *)q->data + 2 * i, 2);
        uint32_t bits = (uint32_t)half << 16;
        float x;
        memcpy(&x, &bits, 4);
        if (fabsf(x - expect[i]) > fabsf(expect[i]) / 128.0f)
            far++;
    }
    CHECK_INT(far, 0);
    gguf_close(f);
    free(buf);

    /* Errors name the problem. */
    mm_error err = { 0 };
    size_t size;
    p.convert = NULL;
    CHECK_INT(mmtest_synth_model_buffer(&p, &buf, &size, &err), MM_EINVAL);
    CHECK_CONTAINS(err.message, "tensor token_embd.weight: type BF16 needs a convert hook");
    p.tensor_type = pick_q4_k;
    p.convert = to_bf16;
    CHECK_INT(mmtest_synth_model_buffer(&p, &buf, &size, &err), MM_EINVAL);
    CHECK_CONTAINS(err.message, "ne[0] = 64 is not a multiple of the Q4_K block size 256");
    mmtest_synth_default_params(&p);
    p.n_vocab = 100;
    CHECK_INT(mmtest_synth_model_buffer(&p, &buf, &size, &err), MM_EINVAL);
    CHECK_CONTAINS(err.message, "n_vocab 100 is outside 259");
    mmtest_synth_default_params(&p);
    p.n_head = 3;
    CHECK_INT(mmtest_synth_model_buffer(&p, &buf, &size, &err), MM_EINVAL);
    mmtest_synth_default_params(&p);
    p.arch = "gpt2";
    CHECK_INT(mmtest_synth_model_buffer(&p, &buf, &size, &err), MM_EINVAL);
}

static void test_file(void)
{
    char *dir = mmtest_tmpdir();
    char path[4096];
    snprintf(path, sizeof path, "%s/synth.gguf", dir);
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    CHECK_INT(mmtest_synth_model(&p, path), 0);
    gguf_file *f = NULL;
    CHECK_INT(gguf_open(path, &f, NULL), 0);
    CHECK(f && gguf_tensor_count(f) == 21);
    gguf_close(f);
    /* A test can extend the model before writing it. */
    gguf_writer *w = gguf_writer_new();
    CHECK_INT(mmtest_synth_fill_writer(&p, w, NULL), 0);
    gguf_writer_set_str(w, "general.name", "extended");
    const float freqs[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };
    gguf_writer_add_tensor(w, "rope_freqs.weight", GGML_TYPE_F32, 1, (const uint64_t[]){ 8 },
                           freqs, sizeof freqs);
    CHECK_INT(gguf_writer_write(w, path, NULL), 0);
    gguf_writer_free(w);
    CHECK_INT(gguf_open(path, &f, NULL), 0);
    CHECK(f && gguf_find_tensor(f, "rope_freqs.weight") != NULL);
    gguf_close(f);
    mmtest_rmtree(dir);
    free(dir);
}

int main(void)
{
    test_llama_defaults();
    test_qwen2_tied();
    test_hooks();
    test_file();
    return mmtest_finish();
}

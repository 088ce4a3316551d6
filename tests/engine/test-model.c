// labels: unit model
/* test-model.c - model loading: hyper-parameters read from synthesized files
 * (values chosen by the test), the errors for unsupported architectures,
 * missing tensors, wrong shapes and types, and the memory estimate checked
 * against sizes counted by hand. */
#include "engine/engine.h"
#include "support/synth.h"
#include "support/test.h"

#include <stdlib.h>
#include <string.h>

static char *tmpdir;

/* Write p's model with extra keys applied by edit (may be NULL). */
static char *write_edited(const mmtest_synth_params *p, const char *file,
                          void (*edit)(gguf_writer *w))
{
    gguf_writer *w = gguf_writer_new();
    mm_error err = { 0 };
    CHECK_INT(mmtest_synth_fill_writer(p, w, &err), 0);
    if (edit)
        edit(w);
    char *path = mm_asprintf("%s/%s", tmpdir, file);
    CHECK_INT(gguf_writer_write(w, path, &err), 0);
    gguf_writer_free(w);
    return path;
}

static int load(const char *path, engine_model **m, mm_error *err)
{
    memset(err, 0, sizeof *err);
    return engine_model_load(path, m, err);
}

static void edit_scaling(gguf_writer *w)
{
    gguf_writer_set_f32(w, "llama.rope.scaling.factor", 4.0f);
    gguf_writer_set_u32(w, "llama.attention.key_length", 16);
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    gguf_writer_set_u32(w, "tokenizer.ggml.eot_token_id", 7);
    gguf_writer_set_u32(w, "tokenizer.ggml.eom_token_id", 2);   /* duplicate: listed once */
    /* a vocabulary with a chat end marker at id 9 */
    const char *vocab[12] = { "<unk>", "<s>", "</s>", "a", "b", "c", "d", "e", "f",
                              "<|im_end|>", "<|im_start|>", "g" };
    const char *all[320];
    for (int i = 0; i < 320; i++)
        all[i] = i < 12 ? vocab[i] : "z";
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", all, 320);
}

static void test_hparams(void)
{
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);   /* n_embd 64, 2 layers, 4/2 heads, n_ff 128, vocab 320 */
    p.rope_freq_base = 500000.0f;
    p.rms_eps = 1e-6f;
    p.tied_output = true;
    char *path = write_edited(&p, "hp.gguf", edit_scaling);
    engine_model *m = NULL;
    mm_error err;
    CHECK_INT(load(path, &m, &err), 0);
    if (m) {
        const engine_hparams *hp = &m->hp;
        CHECK_STR(hp->arch, "llama");
        CHECK_INT(hp->n_vocab, 320);
        CHECK_INT(hp->n_embd, 64);
        CHECK_INT(hp->n_layer, 2);
        CHECK_INT(hp->n_head, 4);
        CHECK_INT(hp->n_head_kv, 2);
        CHECK_INT(hp->head_dim, 16);
        CHECK_INT(hp->n_rot, 16);
        CHECK_INT(hp->kv_dim, 32);
        CHECK_INT(hp->n_ff, 128);
        CHECK_INT(hp->n_ctx_train, 256);
        CHECK(hp->rms_eps == 1e-6f);
        CHECK(hp->rope_freq_base == 500000.0f);
        CHECK(hp->rope_freq_scale == 0.25f);
        CHECK_INT(hp->rope_mode, ENGINE_ROPE_NORMAL);
        CHECK(m->tied_output);
        CHECK(m->output == m->tok_embd);
        CHECK_INT(hp->eos_id, 2);
        CHECK_INT(hp->eot_id, 7);
        CHECK_INT(m->n_eog, 3);
        CHECK(engine_model_is_eog(m, 2));
        CHECK(engine_model_is_eog(m, 7));
        CHECK(engine_model_is_eog(m, 9));
        CHECK(!engine_model_is_eog(m, 10));
        CHECK(!engine_model_is_eog(m, 1));
        CHECK(m->layers[1].bq == NULL);

        /* memory: weights are every tensor's bytes (all F32 here), counted
         * from the file; KV = 2 (K,V) x 2 layers x 256 cells x 32 x 2 bytes */
        gguf_file *f = NULL;
        CHECK_INT(gguf_open(path, &f, &err), 0);
        uint64_t bytes = 0;
        for (size_t i = 0; f && i < gguf_tensor_count(f); i++)
            bytes += gguf_tensor_at(f, i)->nbytes;
        gguf_close(f);
        engine_ctx_params cp;
        engine_ctx_default_params(&cp);
        engine_mem_estimate est;
        engine_mem_estimate_get(m, &cp, &est);
        CHECK_INT(est.weights, bytes);
        CHECK_INT(est.kv_cache, 2 * 2 * 256 * 32 * 2);
        CHECK(est.scratch > 0);
        CHECK_INT(est.total, est.weights + est.kv_cache + est.scratch);
        cp.n_ctx = 100;
        engine_mem_estimate_get(m, &cp, &est);
        CHECK_INT(est.kv_cache, 2 * 2 * 100 * 32 * 2);
    }
    engine_model_free(m);
    free(path);

    mmtest_synth_default_params(&p);
    p.arch = "qwen2";
    path = write_edited(&p, "qwen.gguf", NULL);
    CHECK_INT(load(path, &m, &err), 0);
    if (m) {
        CHECK_INT(m->hp.rope_mode, ENGINE_ROPE_NEOX);
        CHECK(m->layers[0].bq != NULL && m->layers[0].bk != NULL && m->layers[0].bv != NULL);
        CHECK(!m->tied_output);
    }
    engine_model_free(m);
    free(path);
}

static void edit_arch(gguf_writer *w) { gguf_writer_set_str(w, "general.architecture", "mamba"); }
static void edit_ff(gguf_writer *w) { gguf_writer_set_u32(w, "llama.feed_forward_length", 160); }
static void edit_yarn(gguf_writer *w) { gguf_writer_set_str(w, "llama.rope.scaling.type", "yarn"); }
static void edit_kv(gguf_writer *w) { gguf_writer_set_u32(w, "llama.attention.head_count_kv", 3); }

static uint32_t q8_1_matrices(const char *name, uint32_t n_dims, const uint64_t *ne, void *user)
{
    return n_dims == 2 && strstr(name, "ffn_up") ? GGML_TYPE_Q8_1 : GGML_TYPE_F32;
}

static uint32_t f16_norms(const char *name, uint32_t n_dims, const uint64_t *ne, void *user)
{
    return strcmp(name, "output_norm.weight") == 0 ? GGML_TYPE_F16 : GGML_TYPE_F32;
}

static void expect_error(const mmtest_synth_params *p, void (*edit)(gguf_writer *w), int code,
                         const char *message)
{
    char *path = write_edited(p, "bad.gguf", edit);
    engine_model *m = NULL;
    mm_error err;
    CHECK_INT(load(path, &m, &err), code);
    CHECK(m == NULL);
    CHECK_CONTAINS(err.message, message);
    free(path);
}

static void test_errors(void)
{
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    expect_error(&p, edit_arch, MM_EUNSUPPORTED,
                 "architecture mamba is not supported by the built-in engine "
                 "(supported: llama, qwen2, qwen2vl)");
    expect_error(&p, edit_ff, MM_EFORMAT,
                 "tensor blk.0.ffn_gate.weight has shape [64, 128, 1, 1], expected [64, 160]");
    expect_error(&p, edit_yarn, MM_EUNSUPPORTED, "rope scaling type 'yarn' is not supported");
    expect_error(&p, edit_kv, MM_EFORMAT, "head_count_kv 3 does not divide head_count 4");

    p.arch = "qwen2";
    p.qkv_bias = 0;
    expect_error(&p, NULL, MM_EFORMAT, "missing tensor blk.0.attn_q.bias");

    mmtest_synth_default_params(&p);
    p.tensor_type = q8_1_matrices;
    p.convert = mmtest_synth_quantize;
    expect_error(&p, NULL, MM_EUNSUPPORTED,
                 "tensor blk.0.ffn_up.weight has type Q8_1 which the built-in engine cannot "
                 "compute with");
    p.tensor_type = f16_norms;
    expect_error(&p, NULL, MM_EUNSUPPORTED, "tensor output_norm.weight has type F16");

    mmtest_synth_default_params(&p);
    engine_model *m = NULL;
    mm_error err;
    CHECK_INT(load("/nonexistent/x.gguf", &m, &err), MM_ENOTFOUND);
    CHECK(m == NULL);
    engine_model_free(NULL);
    engine_ctx_free(NULL);
}

int main(void)
{
    tmpdir = mmtest_tmpdir();
    test_hparams();
    test_errors();
    mmtest_rmtree(tmpdir);
    free(tmpdir);
    return mmtest_finish();
}

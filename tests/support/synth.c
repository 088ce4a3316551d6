/* synth.c - the model synthesizer of synth.h: writes small llama/qwen2 GGUF
 * models with deterministic weights and a byte-fallback vocabulary through
 * the project's GGUF writer. */
#include "support/synth.h"
#include "engine/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPM_SPACE "\xe2\x96\x81"   /* U+2581, SentencePiece's space */

void mmtest_synth_default_params(mmtest_synth_params *p)
{
    memset(p, 0, sizeof *p);
    p->arch = "llama";
    p->n_embd = 64;
    p->n_layer = 2;
    p->n_head = 4;
    p->n_head_kv = 2;
    p->n_ff = 128;
    p->n_vocab = 320;
    p->n_ctx = 256;
    p->rope_freq_base = 10000.0f;
    p->rms_eps = 1e-5f;
    p->qkv_bias = -1;
    p->seed = 1;
    p->weight_scale = 0.02f;
    p->file_type = -1;
    p->gguf_version = 3;
    p->alignment = 32;
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void mmtest_synth_values(const mmtest_synth_params *p, const char *name, float *out, uint64_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *c = name; *c; c++)
        h = (h ^ (uint8_t)*c) * 1099511628211ull;
    uint64_t state = p->seed ^ h;
    float offset = mm_str_has_suffix(name, "_norm.weight") ? 1.0f : 0.0f;
    for (uint64_t i = 0; i < n; i++) {
        float u = (float)(splitmix64(&state) >> 40) / 16777216.0f;
        out[i] = offset + p->weight_scale * (2.0f * u - 1.0f);
    }
}

bool mmtest_synth_token(uint32_t id, char *buf, size_t size, float *score, int32_t *type)
{
    static const char *const specials[] = { "<unk>", "<s>", "</s>" };
    if (size < 1)
        return false;
    *score = 0.0f;
    if (id < 3) {
        *type = id == 0 ? 2 : 3;
        return (size_t)snprintf(buf, size, "%s", specials[id]) < size;
    }
    if (id < MMTEST_SYNTH_MIN_VOCAB) {
        *type = 6;
        return (size_t)snprintf(buf, size, "<0x%02X>", id - 3) < size;
    }
    *type = 1;
    *score = -(float)(id - MMTEST_SYNTH_MIN_VOCAB);
    uint64_t k = id - MMTEST_SYNTH_MIN_VOCAB;
    if (k == 0)
        return (size_t)snprintf(buf, size, "%s", SPM_SPACE) < size;
    k--;
    /* Groups by length L: the 26^L letter strings, then the same with a space mark. */
    uint64_t group = 26;
    unsigned len = 1;
    while (k >= 2 * group) {
        k -= 2 * group;
        group *= 26;
        len++;
    }
    bool spaced = k >= group;
    if (spaced)
        k -= group;
    size_t at = 0;
    if (spaced) {
        if (size < 4)
            return false;
        memcpy(buf, SPM_SPACE, 3);
        at = 3;
    }
    if (at + len + 1 > size)
        return false;
    for (unsigned i = len; i-- > 0;) {
        buf[at + i] = (char)('a' + k % 26);
        k /= 26;
    }
    buf[at + len] = '\0';
    return true;
}

static int check_params(const mmtest_synth_params *p, mm_error *err)
{
    if (!p->arch || (strcmp(p->arch, "llama") != 0 && strcmp(p->arch, "qwen2") != 0))
        return mm_error_set(err, MM_EINVAL, "synth: arch must be llama or qwen2");
    if (!p->n_embd || !p->n_layer || !p->n_head || !p->n_head_kv || !p->n_ff || !p->n_ctx ||
        p->n_embd % p->n_head || p->n_head % p->n_head_kv || (p->n_embd / p->n_head) % 2)
        return mm_error_set(err, MM_EINVAL, "synth: shape %u/%u/%u/%u/%u is inconsistent (n_embd a "
                            "multiple of n_head, n_head of n_head_kv, even head size)",
                            p->n_embd, p->n_layer, p->n_head, p->n_head_kv, p->n_ff);
    if (p->n_vocab < MMTEST_SYNTH_MIN_VOCAB || p->n_vocab > (1u << 20))
        return mm_error_set(err, MM_EINVAL, "synth: n_vocab %u is outside %u..%u", p->n_vocab,
                            MMTEST_SYNTH_MIN_VOCAB, 1u << 20);
    return 0;
}

static int add_tokenizer(const mmtest_synth_params *p, gguf_writer *w, mm_error *err)
{
    int rc = 0;
    char **texts = calloc(p->n_vocab, sizeof *texts);
    float *scores = calloc(p->n_vocab, sizeof *scores);
    int32_t *types = calloc(p->n_vocab, sizeof *types);
    if (!texts || !scores || !types) {
        rc = mm_error_set(err, MM_ENOMEM, "synth: out of memory");
        goto fail;
    }
    for (uint32_t id = 0; id < p->n_vocab; id++) {
        char text[64];
        if (!mmtest_synth_token(id, text, sizeof text, &scores[id], &types[id]) ||
            !(texts[id] = mm_strdup(text))) {
            rc = mm_error_set(err, MM_ENOMEM, "synth: cannot make token %u", id);
            goto fail;
        }
    }
    gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)texts, p->n_vocab);
    gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, p->n_vocab);
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, p->n_vocab);
    gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false);
    if (p->chat_template)
        gguf_writer_set_str(w, "tokenizer.chat_template", p->chat_template);
fail:
    for (uint32_t id = 0; texts && id < p->n_vocab; id++)
        free(texts[id]);
    free(texts);
    free(scores);
    free(types);
    return rc;
}

/* One tensor: F32 values from mmtest_synth_values, converted when the type
 * hook asks for another type. *all_f32 is cleared for a non-F32 tensor. */
static int add_tensor(const mmtest_synth_params *p, gguf_writer *w, const char *name,
                      uint32_t n_dims, uint64_t ne0, uint64_t ne1, bool *all_f32, mm_error *err)
{
    const uint64_t ne[2] = { ne0, ne1 };
    uint64_t n = ne0 * (n_dims > 1 ? ne1 : 1);
    uint32_t type = p->tensor_type ? p->tensor_type(name, n_dims, ne, p->user) : GGML_TYPE_F32;
    const ggml_type_traits *tt = ggml_type_get_traits(type);
    if (!tt)
        return mm_error_set(err, MM_EINVAL, "synth: tensor %s: %s has no known layout", name,
                            ggml_type_name(type));
    if (ne0 % tt->block_size)
        return mm_error_set(err, MM_EINVAL, "synth: tensor %s: ne[0] = %llu is not a multiple of "
                            "the %s block size %u", name, (unsigned long long)ne0, tt->name,
                            tt->block_size);
    if (type != GGML_TYPE_F32 && !p->convert)
        return mm_error_set(err, MM_EINVAL, "synth: tensor %s: type %s needs a convert hook",
                            name, tt->name);
    size_t nbytes = (size_t)(ne0 / tt->block_size * tt->type_size * (n / ne0));
    float *values = malloc((size_t)n * sizeof *values);
    void *bytes = type == GGML_TYPE_F32 ? values : malloc(nbytes ? nbytes : 1);
    int rc = 0;
    if (!values || !bytes) {
        rc = mm_error_set(err, MM_ENOMEM, "synth: out of memory for tensor %s", name);
        goto done;
    }
    mmtest_synth_values(p, name, values, n);
    if (type != GGML_TYPE_F32) {
        *all_f32 = false;
        rc = p->convert(type, values, ne0, n / ne0, bytes, p->user);
        if (rc) {
            rc = mm_error_set(err, rc, "synth: tensor %s: converting to %s failed (%s)", name,
                              tt->name, mm_strerror(rc));
            goto done;
        }
    }
    gguf_writer_add_tensor(w, name, type, n_dims, ne, bytes, nbytes);
done:
    if (bytes != values)
        free(bytes);
    free(values);
    return rc;
}

int mmtest_synth_fill_writer(const mmtest_synth_params *p, gguf_writer *w, mm_error *err)
{
    int rc = check_params(p, err);
    if (rc)
        return rc;
    const char *arch = p->arch;
    const uint32_t head_dim = p->n_embd / p->n_head, kv_dim = head_dim * p->n_head_kv;
    const bool bias = p->qkv_bias < 0 ? strcmp(arch, "qwen2") == 0 : p->qkv_bias > 0;
    char key[128];
    gguf_writer_set_version(w, p->gguf_version);
    gguf_writer_set_alignment(w, p->alignment);
    gguf_writer_set_str(w, "general.architecture", arch);
    if (p->name)
        gguf_writer_set_str(w, "general.name", p->name);
    gguf_writer_set_u32(w, "general.quantization_version", 2);
#define ARCH_KEY(suffix) (snprintf(key, sizeof key, "%s." suffix, arch), key)
    gguf_writer_set_u32(w, ARCH_KEY("context_length"), p->n_ctx);
    gguf_writer_set_u32(w, ARCH_KEY("embedding_length"), p->n_embd);
    gguf_writer_set_u32(w, ARCH_KEY("block_count"), p->n_layer);
    gguf_writer_set_u32(w, ARCH_KEY("feed_forward_length"), p->n_ff);
    gguf_writer_set_u32(w, ARCH_KEY("attention.head_count"), p->n_head);
    gguf_writer_set_u32(w, ARCH_KEY("attention.head_count_kv"), p->n_head_kv);
    gguf_writer_set_u32(w, ARCH_KEY("rope.dimension_count"), head_dim);
    gguf_writer_set_f32(w, ARCH_KEY("rope.freq_base"), p->rope_freq_base);
    gguf_writer_set_f32(w, ARCH_KEY("attention.layer_norm_rms_epsilon"), p->rms_eps);
#undef ARCH_KEY
    if ((rc = add_tokenizer(p, w, err)) != 0)
        return rc;

    bool all_f32 = true;
    char name[GGUF_MAX_NAME];
#define TENSOR(dims, ne0, ne1, ...) do { \
        snprintf(name, sizeof name, __VA_ARGS__); \
        if ((rc = add_tensor(p, w, name, dims, ne0, ne1, &all_f32, err)) != 0) \
            return rc; \
    } while (0)
    TENSOR(2, p->n_embd, p->n_vocab, "token_embd.weight");
    TENSOR(1, p->n_embd, 1, "output_norm.weight");
    if (!p->tied_output)
        TENSOR(2, p->n_embd, p->n_vocab, "output.weight");
    for (uint32_t l = 0; l < p->n_layer; l++) {
        TENSOR(1, p->n_embd, 1, "blk.%u.attn_norm.weight", l);
        TENSOR(2, p->n_embd, p->n_embd, "blk.%u.attn_q.weight", l);
        TENSOR(2, p->n_embd, kv_dim, "blk.%u.attn_k.weight", l);
        TENSOR(2, p->n_embd, kv_dim, "blk.%u.attn_v.weight", l);
        if (bias) {
            TENSOR(1, p->n_embd, 1, "blk.%u.attn_q.bias", l);
            TENSOR(1, kv_dim, 1, "blk.%u.attn_k.bias", l);
            TENSOR(1, kv_dim, 1, "blk.%u.attn_v.bias", l);
        }
        TENSOR(2, p->n_embd, p->n_embd, "blk.%u.attn_output.weight", l);
        TENSOR(1, p->n_embd, 1, "blk.%u.ffn_norm.weight", l);
        TENSOR(2, p->n_embd, p->n_ff, "blk.%u.ffn_gate.weight", l);
        TENSOR(2, p->n_embd, p->n_ff, "blk.%u.ffn_up.weight", l);
        TENSOR(2, p->n_ff, p->n_embd, "blk.%u.ffn_down.weight", l);
    }
#undef TENSOR
    if (p->file_type >= 0)
        gguf_writer_set_u32(w, "general.file_type", (uint32_t)p->file_type);
    else if (all_f32)
        gguf_writer_set_u32(w, "general.file_type", 0);
    return 0;
}

int mmtest_synth_model_buffer(const mmtest_synth_params *p, void **out, size_t *size, mm_error *err)
{
    *out = NULL;
    *size = 0;
    gguf_writer *w = gguf_writer_new();
    if (!w)
        return mm_error_set(err, MM_ENOMEM, "synth: out of memory");
    int rc = mmtest_synth_fill_writer(p, w, err);
    if (rc == 0)
        rc = gguf_writer_to_buffer(w, out, size, err);
    gguf_writer_free(w);
    return rc;
}

int mmtest_synth_model_err(const mmtest_synth_params *p, const char *path, mm_error *err)
{
    mm_error local = { 0 };
    gguf_writer *w = gguf_writer_new();
    int rc = w ? mmtest_synth_fill_writer(p, w, &local)
               : mm_error_set(&local, MM_ENOMEM, "synth: out of memory");
    if (rc == 0)
        rc = gguf_writer_write(w, path, &local);
    gguf_writer_free(w);
    if (rc) {
        fprintf(stderr, "mmtest_synth_model: %s\n", local.message);
        if (err)
            *err = local;
    }
    return rc;
}

int mmtest_synth_model(const mmtest_synth_params *p, const char *path)
{
    return mmtest_synth_model_err(p, path, NULL);
}

static int quantize_rows(const engine_quant_traits *tr, uint32_t type, const float *src,
                         uint64_t ne0, uint64_t n_rows, void *dst)
{
    size_t row = engine_row_size(type, (int64_t)ne0);
    if (!tr || !tr->quantize_row || row == 0)
        return MM_EINVAL;
    for (uint64_t r = 0; r < n_rows; r++)
        tr->quantize_row(src + r * ne0, (uint8_t *)dst + r * row, (int64_t)ne0);
    return 0;
}

int mmtest_synth_quantize(uint32_t type, const float *src, uint64_t ne0, uint64_t n_rows,
                          void *dst, void *user)
{
    (void)user;
    return quantize_rows(engine_quant_get_scalar(type), type, src, ne0, n_rows, dst);
}

/* ---- the benchmark models ---- */

typedef struct bench_type {
    const char *name;
    uint32_t    matrix;   /* 2-D tensors */
    uint32_t    output;   /* output.weight */
    bool        small;    /* the 24M shape instead of the 254M one */
} bench_type;

static const bench_type bench_types[] = {
    { "F16", GGML_TYPE_F16, GGML_TYPE_F16, false },
    { "Q8_0", GGML_TYPE_Q8_0, GGML_TYPE_Q8_0, false },
    { "Q4_0", GGML_TYPE_Q4_0, GGML_TYPE_Q6_K, false },
    { "Q4_K", GGML_TYPE_Q4_K, GGML_TYPE_Q6_K, false },
    { "F32", GGML_TYPE_F32, GGML_TYPE_F32, true },
};

static uint32_t bench_pick(const char *name, uint32_t n_dims, const uint64_t *ne, void *user)
{
    (void)ne;
    const bench_type *bt = user;
    if (n_dims != 2)
        return GGML_TYPE_F32;
    return strcmp(name, "output.weight") == 0 ? bt->output : bt->matrix;
}

static int bench_convert(uint32_t type, const float *src, uint64_t ne0, uint64_t n_rows,
                         void *dst, void *user)
{
    (void)user;
    return quantize_rows(engine_quant_get(type), type, src, ne0, n_rows, dst);
}

int mmtest_synth_bench_model(const char *type, const char *path)
{
    const bench_type *bt = NULL;
    for (size_t i = 0; i < sizeof bench_types / sizeof bench_types[0]; i++)
        if (strcmp(type, bench_types[i].name) == 0)
            bt = &bench_types[i];
    if (!bt) {
        fprintf(stderr, "mmtest_synth_bench_model: no benchmark model of type '%s'\n", type);
        return MM_EINVAL;
    }
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    p.n_embd = 1024;
    p.n_layer = 16;
    p.n_head = 16;
    p.n_head_kv = 8;
    p.n_ff = 2816;
    p.n_vocab = 32000;
    p.n_ctx = 4096;
    if (bt->small) {        /* stories15M's shape, untied: 24M params */
        p.n_embd = 288;
        p.n_layer = 6;
        p.n_head = 6;
        p.n_head_kv = 6;
        p.n_ff = 768;
        p.n_ctx = 256;
    }
    p.tensor_type = bench_pick;
    p.convert = bench_convert;
    p.user = (void *)bt;
    return mmtest_synth_model(&p, path);
}

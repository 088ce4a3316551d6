/* model.c - load a llama-family model from a GGUF file: hyper-parameters from
 * the metadata, every tensor the forward pass needs looked up, shape- and
 * type-checked once, so that evaluation never has to validate anything. */
#include "engine/engine.h"

#include "core/core.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds that keep the scratch-size arithmetic far from overflow. */
#define MODEL_MAX_DIM   (1u << 20)
#define MODEL_MAX_LAYER 1024u

static int arch_key(const engine_model *m, const char *suffix, char *key, size_t size)
{
    int n = snprintf(key, size, "%s.%s", m->hp.arch, suffix);
    return n > 0 && (size_t)n < size ? 0 : MM_EINTERNAL;
}

/* A u32 hyper-parameter; per-layer arrays must hold one value for all
 * layers (this engine has no per-layer head counts). */
static int get_hp_u32(const engine_model *m, const char *suffix, bool required,
                      uint32_t dflt, uint32_t *out, mm_error *err)
{
    char key[96];
    arch_key(m, suffix, key, sizeof key);
    int rc = gguf_get_u32(m->file, key, out);
    if (rc == 0)
        return 0;
    if (rc == MM_ENOTFOUND) {
        if (required)
            return mm_error_set(err, MM_EFORMAT, "missing metadata key %s", key);
        *out = dflt;
        return 0;
    }
    gguf_arr arr;
    if (gguf_get_arr(m->file, key, &arr) == 0 && arr.count > 0 &&
        (arr.type == GGUF_TYPE_UINT32 || arr.type == GGUF_TYPE_INT32)) {
        uint32_t first, v;
        memcpy(&first, arr.data, 4);
        for (uint64_t i = 1; i < arr.count; i++) {
            memcpy(&v, (const uint8_t *)arr.data + 4 * i, 4);
            if (v != first)
                return mm_error_set(err, MM_EUNSUPPORTED,
                                    "%s differs between layers, which the built-in engine "
                                    "does not support", key);
        }
        *out = first;
        return 0;
    }
    return mm_error_set(err, MM_EFORMAT, "metadata key %s is not an unsigned integer", key);
}

static int get_hp_f32(const engine_model *m, const char *suffix, bool required,
                      float dflt, float *out, mm_error *err)
{
    char key[96];
    arch_key(m, suffix, key, sizeof key);
    int rc = gguf_get_f32(m->file, key, out);
    if (rc == MM_ENOTFOUND && !required) {
        *out = dflt;
        return 0;
    }
    if (rc == MM_ENOTFOUND)
        return mm_error_set(err, MM_EFORMAT, "missing metadata key %s", key);
    if (rc != 0)
        return mm_error_set(err, MM_EFORMAT, "metadata key %s is not a float", key);
    return 0;
}

static int32_t get_token_id(const engine_model *m, const char *key, int32_t dflt)
{
    uint32_t v;
    if (gguf_get_u32(m->file, key, &v) != 0)
        return dflt;
    return v < m->hp.n_vocab ? (int32_t)v : -1;
}

static int read_hparams(engine_model *m, mm_error *err)
{
    engine_hparams *hp = &m->hp;
    gguf_str arch;
    if (gguf_get_str(m->file, "general.architecture", &arch) != 0)
        return mm_error_set(err, MM_EFORMAT, "missing metadata key general.architecture");
    if (arch.len >= sizeof hp->arch)
        return mm_error_set(err, MM_EUNSUPPORTED,
                            "architecture %.40s... is not supported by the built-in engine "
                            "(supported: llama, qwen2, qwen2vl)", arch.ptr);
    memcpy(hp->arch, arch.ptr, arch.len);
    hp->arch[arch.len] = '\0';
    if (strcmp(hp->arch, "llama") == 0)
        hp->rope_mode = ENGINE_ROPE_NORMAL;
    else if (strcmp(hp->arch, "qwen2") == 0 || strcmp(hp->arch, "qwen2vl") == 0)
        hp->rope_mode = ENGINE_ROPE_NEOX;  /* qwen2vl's M-RoPE is neox for text tokens */
    else
        return mm_error_set(err, MM_EUNSUPPORTED,
                            "architecture %s is not supported by the built-in engine "
                            "(supported: llama, qwen2, qwen2vl)", hp->arch);

    int rc;
    if ((rc = get_hp_u32(m, "context_length", true, 0, &hp->n_ctx_train, err)) ||
        (rc = get_hp_u32(m, "embedding_length", true, 0, &hp->n_embd, err)) ||
        (rc = get_hp_u32(m, "block_count", true, 0, &hp->n_layer, err)) ||
        (rc = get_hp_u32(m, "feed_forward_length", true, 0, &hp->n_ff, err)) ||
        (rc = get_hp_u32(m, "attention.head_count", true, 0, &hp->n_head, err)))
        return rc;
    if (hp->n_head == 0 || hp->n_embd == 0 || hp->n_layer == 0 || hp->n_ff == 0 ||
        hp->n_embd > MODEL_MAX_DIM || hp->n_ff > MODEL_MAX_DIM || hp->n_head > MODEL_MAX_DIM ||
        hp->n_layer > MODEL_MAX_LAYER)
        return mm_error_set(err, MM_EFORMAT,
                            "implausible hyper-parameters: n_embd %" PRIu32 ", n_layer %" PRIu32
                            ", n_head %" PRIu32 ", n_ff %" PRIu32,
                            hp->n_embd, hp->n_layer, hp->n_head, hp->n_ff);
    if ((rc = get_hp_u32(m, "attention.head_count_kv", false, hp->n_head, &hp->n_head_kv, err)) ||
        (rc = get_hp_u32(m, "attention.key_length", false, hp->n_embd / hp->n_head,
                         &hp->head_dim, err)))
        return rc;
    uint32_t head_dim_v;
    if ((rc = get_hp_u32(m, "attention.value_length", false, hp->head_dim, &head_dim_v, err)) ||
        (rc = get_hp_u32(m, "rope.dimension_count", false, hp->head_dim, &hp->n_rot, err)))
        return rc;
    if (hp->n_head_kv == 0 || hp->n_head % hp->n_head_kv != 0)
        return mm_error_set(err, MM_EFORMAT,
                            "attention.head_count_kv %" PRIu32 " does not divide head_count %"
                            PRIu32, hp->n_head_kv, hp->n_head);
    if (hp->head_dim == 0 || hp->head_dim > MODEL_MAX_DIM || head_dim_v != hp->head_dim)
        return mm_error_set(err, MM_EUNSUPPORTED,
                            "key length %" PRIu32 " and value length %" PRIu32
                            " must be equal and non-zero for the built-in engine",
                            hp->head_dim, head_dim_v);
    if (hp->n_rot == 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2 != 0)
        return mm_error_set(err, MM_EFORMAT,
                            "rope.dimension_count %" PRIu32 " must be even and at most the head "
                            "size %" PRIu32, hp->n_rot, hp->head_dim);
    hp->q_dim = hp->n_head * hp->head_dim;
    hp->kv_dim = hp->n_head_kv * hp->head_dim;
    if (hp->q_dim > MODEL_MAX_DIM)
        return mm_error_set(err, MM_EFORMAT, "head_count x key_length is implausibly large");

    if ((rc = get_hp_f32(m, "attention.layer_norm_rms_epsilon", true, 0, &hp->rms_eps, err)) ||
        (rc = get_hp_f32(m, "rope.freq_base", false, 10000.0f, &hp->rope_freq_base, err)))
        return rc;
    if (!(hp->rms_eps > 0) || !(hp->rope_freq_base > 0))
        return mm_error_set(err, MM_EFORMAT, "rms epsilon and rope.freq_base must be positive");

    char key[96];
    gguf_str scaling = { "linear", 6 };
    arch_key(m, "rope.scaling.type", key, sizeof key);
    gguf_get_str(m->file, key, &scaling);
    float factor = 0;
    if ((rc = get_hp_f32(m, "rope.scaling.factor", false, 0, &factor, err)))
        return rc;
    if (factor == 0 && (rc = get_hp_f32(m, "rope.scale_linear", false, 0, &factor, err)))
        return rc;
    hp->rope_freq_scale = 1.0f;
    bool is_linear = scaling.len == 6 && memcmp(scaling.ptr, "linear", 6) == 0;
    bool is_none = scaling.len == 4 && memcmp(scaling.ptr, "none", 4) == 0;
    if (!is_linear && !is_none)
        return mm_error_set(err, MM_EUNSUPPORTED,
                            "rope scaling type '%.*s' is not supported by the built-in engine "
                            "(supported: none, linear)", (int)(scaling.len > 32 ? 32 : scaling.len),
                            scaling.ptr);
    if (is_linear && factor > 0)
        hp->rope_freq_scale = 1.0f / factor;
    return 0;
}

/* Looks up name; checks dims (ne[0], ne[1]; ne1 0 = 1-D) and type. A
 * matrix needs kernels whose block sizes divide its rows; 1-D tensors must
 * be F32. */
static int find_tensor(engine_model *m, const char *name, bool required, uint64_t ne0,
                       uint64_t ne1, const gguf_tensor **out, mm_error *err)
{
    const gguf_tensor *t = gguf_find_tensor(m->file, name);
    *out = NULL;
    if (!t) {
        if (required)
            return mm_error_set(err, MM_EFORMAT, "missing tensor %s", name);
        return 0;
    }
    bool is_matrix = ne1 != 0;
    uint64_t want1 = is_matrix ? ne1 : 1;
    if (t->ne[0] != ne0 || t->ne[1] != want1 || t->ne[2] != 1 || t->ne[3] != 1)
        return mm_error_set(err, MM_EFORMAT,
                            "tensor %s has shape [%" PRIu64 ", %" PRIu64 ", %" PRIu64 ", %" PRIu64
                            "], expected [%" PRIu64 ", %" PRIu64 "]",
                            name, t->ne[0], t->ne[1], t->ne[2], t->ne[3], ne0, want1);
    if (!is_matrix) {
        if (t->type != GGML_TYPE_F32)
            return mm_error_set(err, MM_EUNSUPPORTED,
                                "tensor %s has type %s; the built-in engine needs F32 for "
                                "vectors (norms, biases)", name, ggml_type_name(t->type));
    } else {
        const engine_quant_traits *wt = engine_quant_get(t->type);
        const engine_quant_traits *at = wt && wt->vec_dot ? engine_quant_get(wt->vec_dot_type) : NULL;
        if (!at)
            return mm_error_set(err, MM_EUNSUPPORTED,
                                "tensor %s has type %s which the built-in engine cannot compute "
                                "with", name, ggml_type_name(t->type));
        if (ne0 % wt->block_size != 0 || ne0 % at->block_size != 0)
            return mm_error_set(err, MM_EUNSUPPORTED,
                                "tensor %s: rows of %" PRIu64 " elements are not a multiple of "
                                "the %s block size", name, ne0, ggml_type_name(t->type));
    }
    *out = t;
    m->weight_bytes += t->nbytes;
    m->n_params += t->n_elements;
    return 0;
}

static void add_eog(engine_model *m, int32_t id)
{
    if (id < 0 || m->n_eog == ENGINE_MAX_EOG || engine_model_is_eog(m, id))
        return;
    m->eog[m->n_eog++] = id;
}

/* llama.cpp also ends generation on these texts, whatever the ids say
 * (chat models often mark only one of them as eos). */
static void find_eog_tokens(engine_model *m)
{
    static const char *const texts[] = { "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                         "<|endoftext|>", "<EOT>" };
    add_eog(m, m->hp.eos_id);
    add_eog(m, m->hp.eot_id);
    add_eog(m, get_token_id(m, "tokenizer.ggml.eom_token_id", -1));
    gguf_arr tokens;
    if (gguf_get_arr(m->file, "tokenizer.ggml.tokens", &tokens) != 0 ||
        tokens.type != GGUF_TYPE_STRING)
        return;
    uint64_t n = tokens.count < m->hp.n_vocab ? tokens.count : m->hp.n_vocab;
    for (uint64_t i = 0; i < n; i++) {
        gguf_str s;
        if (gguf_arr_str(&tokens, i, &s) != 0 || s.len < 5 || s.len > 13 || s.ptr[0] != '<')
            continue;
        for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++)
            if (s.len == strlen(texts[k]) && memcmp(s.ptr, texts[k], s.len) == 0)
                add_eog(m, (int32_t)i);
    }
}

bool engine_model_is_eog(const engine_model *m, int32_t token)
{
    for (uint32_t i = 0; i < m->n_eog; i++)
        if (m->eog[i] == token)
            return true;
    return false;
}

static int load_layer(engine_model *m, uint32_t il, mm_error *err)
{
    const engine_hparams *hp = &m->hp;
    engine_layer *l = &m->layers[il];
    bool qwen = hp->rope_mode == ENGINE_ROPE_NEOX;
    char name[GGUF_MAX_NAME + 16];
    int rc = 0;
#define T(field, base, req, ne0, ne1) do { \
        snprintf(name, sizeof name, "blk.%" PRIu32 ".%s", il, base); \
        if ((rc = find_tensor(m, name, req, ne0, ne1, &l->field, err))) return rc; \
    } while (0)
    T(attn_norm, "attn_norm.weight", true, hp->n_embd, 0);
    T(wq, "attn_q.weight", true, hp->n_embd, hp->q_dim);
    T(wk, "attn_k.weight", true, hp->n_embd, hp->kv_dim);
    T(wv, "attn_v.weight", true, hp->n_embd, hp->kv_dim);
    T(wo, "attn_output.weight", true, hp->q_dim, hp->n_embd);
    T(bq, "attn_q.bias", qwen, hp->q_dim, 0);
    T(bk, "attn_k.bias", qwen, hp->kv_dim, 0);
    T(bv, "attn_v.bias", qwen, hp->kv_dim, 0);
    T(bo, "attn_output.bias", false, hp->n_embd, 0);
    T(ffn_norm, "ffn_norm.weight", true, hp->n_embd, 0);
    T(w_gate, "ffn_gate.weight", true, hp->n_embd, hp->n_ff);
    T(w_up, "ffn_up.weight", true, hp->n_embd, hp->n_ff);
    T(w_down, "ffn_down.weight", true, hp->n_ff, hp->n_embd);
#undef T
    return 0;
}

static int load_tensors(engine_model *m, mm_error *err)
{
    engine_hparams *hp = &m->hp;
    const gguf_tensor *embd = gguf_find_tensor(m->file, "token_embd.weight");
    if (!embd)
        return mm_error_set(err, MM_EFORMAT, "missing tensor token_embd.weight");
    if (embd->ne[1] == 0 || embd->ne[1] > INT32_MAX)
        return mm_error_set(err, MM_EFORMAT, "token_embd.weight has an implausible vocabulary");
    hp->n_vocab = (uint32_t)embd->ne[1];
    int rc;
    if ((rc = find_tensor(m, "token_embd.weight", true, hp->n_embd, hp->n_vocab, &m->tok_embd, err)) ||
        (rc = find_tensor(m, "output_norm.weight", true, hp->n_embd, 0, &m->output_norm, err)) ||
        (rc = find_tensor(m, "output.weight", false, hp->n_embd, hp->n_vocab, &m->output, err)) ||
        (rc = find_tensor(m, "rope_freqs.weight", false, hp->n_rot / 2, 0, &m->rope_freqs, err)))
        return rc;
    if (!m->output) {
        m->output = m->tok_embd;
        m->tied_output = true;
    }
    m->layers = calloc(hp->n_layer, sizeof *m->layers);
    if (!m->layers)
        return mm_error_set(err, MM_ENOMEM, "out of memory loading the model");
    for (uint32_t il = 0; il < hp->n_layer; il++)
        if ((rc = load_layer(m, il, err)))
            return rc;
    hp->bos_id = get_token_id(m, "tokenizer.ggml.bos_token_id", -1);
    hp->eos_id = get_token_id(m, "tokenizer.ggml.eos_token_id", -1);
    hp->eot_id = get_token_id(m, "tokenizer.ggml.eot_token_id", -1);
    find_eog_tokens(m);
    return 0;
}

int engine_model_load_file(gguf_file *file, engine_model **out, mm_error *err)
{
    *out = NULL;
    engine_model *m = calloc(1, sizeof *m);
    if (!m)
        return mm_error_set(err, MM_ENOMEM, "out of memory loading the model");
    m->file = file;
    int rc = read_hparams(m, err);
    if (rc == 0)
        rc = load_tensors(m, err);
    if (rc != 0) {
        engine_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int engine_model_load(const char *path, engine_model **out, mm_error *err)
{
    gguf_file *file = NULL;
    *out = NULL;
    int rc = gguf_open(path, &file, err);
    if (rc != 0)
        return rc;
    rc = engine_model_load_file(file, out, err);
    if (rc != 0) {
        gguf_close(file);
        return mm_error_prefix(err, "%s", path);
    }
    (*out)->owns_file = true;
    return 0;
}

void engine_model_free(engine_model *m)
{
    if (!m)
        return;
    if (m->owns_file)
        gguf_close(m->file);
    free(m->layers);
    free(m);
}

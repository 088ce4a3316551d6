/* factory-engine.c - the instance factory over the built-in engine: a load
 * maps the GGUF once (engine_model) with its vocabulary, each instance is
 * an engine context with its own KV cache and thread pool, and generate
 * runs tokenize -> prompt eval -> sample/eval loop -> streaming detokenize,
 * handing each decoded piece to the request's callback as it appears.
 * Chat messages are first rendered with the model's chat template, or the
 * config.yaml `models:` entry's chat_template override when it has one. */
#include "runtime/runtime.h"
#include "engine/engine.h"
#include "text/text.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define GEN_DEFAULT_TOKENS 128u
#define GEN_OUTPUT_MAX     (1u << 20)   /* bytes of generated text */
#define GEN_CHAT_MAX       (4u << 20)   /* bytes of a rendered chat prompt */

typedef struct eng_model {
    engine_model *model;
    text_vocab   *vocab;
    char         *tmpl_override;  /* config.yaml chat_template, copied; NULL: the file's */
    char         *tmpl_where;     /* "config.yaml:N" of the override */
} eng_model;

typedef struct eng_inst {
    eng_model  *m;          /* borrowed */
    engine_ctx *ctx;
    int32_t    *ids;        /* n_ctx token ids, allocated once */
    uint32_t    n_ctx;
} eng_inst;

/* From the catalog's GGUF facts, before anything is mapped: the file (the
 * weights are mapped and read) plus, per instance, the F16 KV cache the
 * context allocates (K and V, every layer, min(context, RT_ESTIMATE_CTX)
 * cells of kv_dim) and the f32 logits. */
static int eng_estimate(void *user, const mm_model_info *m, int instances, uint64_t *bytes,
                        mm_error *err)
{
    (void)user;
    (void)err;
    uint64_t total = m->size_bytes;
    if (m->has_facts) {
        const mm_model_facts *f = &m->facts;
        uint64_t ctx = f->context_length && f->context_length < RT_ESTIMATE_CTX
                           ? f->context_length : RT_ESTIMATE_CTX;
        uint64_t kv_dim = f->embedding_length;
        if (f->head_count && f->head_count_kv)
            kv_dim = (uint64_t)f->embedding_length * f->head_count_kv / f->head_count;
        uint64_t kv = 2ull * f->block_count * ctx * kv_dim * 2ull;
        uint64_t logits = (uint64_t)f->vocab_size * 4ull;
        total += (uint64_t)instances * (kv + logits);
    }
    *bytes = total;
    return 0;
}

static void eng_unload(void *user, void *model);

static int eng_load(void *user, const mm_model_info *info, void **out, mm_error *err)
{
    const mm_config *cfg = user;
    *out = NULL;
    if (info->format != MM_FORMAT_GGUF)
        return mm_error_set(err, MM_EUNSUPPORTED,
                            "'%s' is a %s model; the built-in engine runs GGUF files only",
                            info->key, mm_format_name(info->format));
    if (info->n_paths == 0)
        return mm_error_set(err, MM_ENOTFOUND, "'%s' has no file on disk", info->key);
    eng_model *m = calloc(1, sizeof *m);
    if (!m)
        return mm_error_set(err, MM_ENOMEM, "out of memory loading '%s'", info->key);
    const mm_model_override *o = mm_config_model_override(cfg, info->key);
    int rc = 0;
    if (o && o->chat_template) {
        m->tmpl_override = mm_strdup(o->chat_template);
        m->tmpl_where = mm_strdup(o->chat_template_where);
        if (!m->tmpl_override || (o->chat_template_where && !m->tmpl_where))
            rc = mm_error_set(err, MM_ENOMEM, "out of memory loading '%s'", info->key);
    }
    if (rc == 0)
        rc = engine_model_load(info->paths[0], &m->model, err);
    if (rc == 0)
        rc = text_vocab_load(m->model->file, &m->vocab, err);
    if (rc != 0) {
        eng_unload(NULL, m);
        return rc;
    }
    *out = m;
    return 0;
}

static void eng_unload(void *user, void *model)
{
    (void)user;
    eng_model *m = model;
    if (!m)
        return;
    text_vocab_free(m->vocab);
    engine_model_free(m->model);
    free(m->tmpl_override);
    free(m->tmpl_where);
    free(m);
}

static int eng_instance_new(void *user, void *model, void **out, mm_error *err)
{
    const mm_config *cfg = user;
    eng_model *m = model;
    eng_inst *inst = calloc(1, sizeof *inst);
    if (!inst)
        return mm_error_set(err, MM_ENOMEM, "out of memory creating an instance");
    engine_ctx_params p;
    engine_ctx_default_params(&p);
    /* The instances of a pool run at once: they share the cores. */
    int pool = cfg && cfg->pool_size > 0 ? cfg->pool_size : 1;
    int threads = cfg && cfg->threads > 0 ? cfg->threads : 1;
    p.n_threads = threads / pool > 0 ? threads / pool : 1;
    int rc = engine_ctx_new(m->model, &p, &inst->ctx, err);
    if (rc != 0) {
        free(inst);
        return rc;
    }
    inst->m = m;
    inst->n_ctx = engine_ctx_size(inst->ctx);
    inst->ids = calloc(inst->n_ctx ? inst->n_ctx : 1, sizeof *inst->ids);
    if (!inst->ids) {
        engine_ctx_free(inst->ctx);
        free(inst);
        return mm_error_set(err, MM_ENOMEM, "out of memory creating an instance");
    }
    *out = inst;
    return 0;
}

static void eng_instance_free(void *user, void *instance)
{
    (void)user;
    eng_inst *inst = instance;
    if (!inst)
        return;
    engine_ctx_free(inst->ctx);
    free(inst->ids);
    free(inst);
}

/* A seed for a request without one: different per call. */
static uint64_t fresh_seed(void)
{
    static atomic_uint_fast64_t counter;
    return (uint64_t)mm_wall_ms() * 6364136223846793005ull + atomic_fetch_add(&counter, 1);
}

/* Hand out's new bytes (from *sent on) to req->on_piece; true when it
 * asks to stop. */
static bool emit_new(const mm_gen_request *req, const mm_buf *out, size_t *sent)
{
    if (!req->on_piece || out->len == *sent)
        return false;
    size_t from = *sent;
    *sent = out->len;
    return req->on_piece(out->data + from, out->len - from, req->piece_user) != 0;
}

/* The messages as the template's JSON array, rendered with the model's
 * chat template (the override, else the file's, else ChatML) and a
 * generation prompt. */
static int render_chat(const eng_model *m, const mm_gen_request *req, mm_buf *out,
                       mm_error *err)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < req->n_messages; i++) {
        const mm_gen_message *msg = &req->messages[i];
        cJSON *o = cJSON_CreateObject();
        bool ok = o && cJSON_AddStringToObject(o, "role", msg->role ? msg->role : "user") &&
                  cJSON_AddStringToObject(o, "content", msg->content ? msg->content : "");
        if (!ok || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            cJSON_Delete(arr);
            arr = NULL;
        }
    }
    if (!arr)
        return mm_error_set(err, MM_ENOMEM, "out of memory rendering the chat messages");
    int rc = text_chat_render_with(m->model->file, m->tmpl_override, m->tmpl_where, m->vocab,
                                   arr, true, out, NULL, err);
    cJSON_Delete(arr);
    if (rc == 0 && out->failed)
        rc = mm_error_set(err, MM_ELIMIT, "the rendered chat exceeds %u bytes", GEN_CHAT_MAX);
    return rc;
}

static bool starts_with_bos(const text_vocab *v, const char *text, size_t len)
{
    int32_t bos = text_vocab_bos(v);
    size_t blen = 0;
    const char *btext = bos == TEXT_TOKEN_NULL ? NULL : text_vocab_token_text(v, bos, &blen);
    return btext && blen > 0 && len >= blen && memcmp(text, btext, blen) == 0;
}

static int eng_generate(void *user, void *instance, const mm_gen_request *req, char **text,
                        mm_gen_result *res, mm_error *err)
{
    (void)user;
    eng_inst *inst = instance;
    const text_vocab *vocab = inst->m->vocab;
    *text = NULL;
    int64_t t_start = mm_now_ms();
    mm_buf chat;
    mm_buf_init(&chat, GEN_CHAT_MAX);
    const char *prompt = req->prompt;
    bool add_special = true, parse_special = false;
    if (!prompt) {
        int crc = render_chat(inst->m, req, &chat, err);
        if (crc != 0) {
            mm_buf_free(&chat);
            return crc;
        }
        prompt = chat.data ? chat.data : "";
        /* as llama.cpp: the template's own BOS is not doubled, and the
         * template's special tokens (<|im_start|>) are tokens, not text */
        parse_special = true;
        add_special = !starts_with_bos(vocab, prompt, chat.len);
    }
    size_t n_prompt = 0;
    int rc = text_tokenize(vocab, prompt, strlen(prompt), add_special, parse_special, inst->ids,
                           inst->n_ctx, &n_prompt, err);
    mm_buf_free(&chat);
    if (rc != 0)
        return rc == MM_ELIMIT ? mm_error_set(err, MM_ELIMIT, "the prompt does not fit the "
                                              "context of %u tokens", inst->n_ctx) : rc;
    if (n_prompt == 0)
        return mm_error_set(err, MM_EINVAL, "the prompt is empty");
    uint32_t room = inst->n_ctx - (uint32_t)n_prompt;
    uint32_t max_new = req->max_tokens > 0 ? (uint32_t)req->max_tokens : GEN_DEFAULT_TOKENS;
    if (max_new > room)
        max_new = room;

    engine_sampler_params sp;
    engine_sampler_default_params(&sp);
    sp.temperature = (float)req->temperature;
    sp.top_k = req->top_k;
    sp.top_p = req->top_p > 0 && req->top_p < 1 ? (float)req->top_p : 1.0f;
    sp.min_p = req->min_p > 0 && req->min_p < 1 ? (float)req->min_p : 0.0f;
    sp.repeat_penalty = req->repeat_penalty > 0 ? (float)req->repeat_penalty : 1.0f;
    sp.presence_penalty = (float)req->presence_penalty;
    sp.frequency_penalty = (float)req->frequency_penalty;
    sp.seed = req->has_seed ? req->seed : fresh_seed();
    engine_sampler *sampler = NULL;
    rc = engine_sampler_new(&sp, inst->m->model->hp.n_vocab, &sampler, err);
    if (rc != 0)
        return rc;
    mm_buf out;
    mm_buf_init(&out, GEN_OUTPUT_MAX);
    text_decoder dec;
    text_decoder_init(&dec, vocab, false, false);

    engine_ctx_truncate(inst->ctx, 0);   /* every request starts from an empty cache */
    for (size_t i = 0; i < n_prompt; i++)
        engine_sampler_accept(sampler, inst->ids[i]);
    rc = engine_eval(inst->ctx, inst->ids, (uint32_t)n_prompt, err);
    uint32_t last = (uint32_t)n_prompt - 1;   /* logits are the last token's of the call */
    const char *finish = "length";
    size_t sent = 0;
    uint32_t produced = 0;
    int64_t t_first = 0;
    for (; rc == 0 && produced < max_new; produced++) {
        if (req->cancel && atomic_load(req->cancel)) {
            finish = "cancelled";
            break;
        }
        int32_t tok = engine_sampler_sample(sampler, engine_ctx_logits(inst->ctx, last));
        last = 0;
        if (produced == 0)
            t_first = mm_now_ms();
        if (text_vocab_is_eog(vocab, tok)) {
            finish = "stop";
            break;
        }
        engine_sampler_accept(sampler, tok);
        rc = text_decoder_push(&dec, tok, &out, err);
        if (rc == 0 && emit_new(req, &out, &sent)) {
            produced++;
            finish = "cancelled";   /* the manager tells a stop string from a hang-up */
            break;
        }
        if (rc == 0 && produced + 1 < max_new)
            rc = engine_eval(inst->ctx, &tok, 1, err);
    }
    if (rc == 0 && strcmp(finish, "cancelled") != 0) {
        rc = text_decoder_flush(&dec, &out, err);
        if (rc == 0)
            emit_new(req, &out, &sent);
    }
    engine_sampler_free(sampler);
    if (rc == 0 && out.failed)
        rc = mm_error_set(err, MM_ELIMIT, "the answer exceeds %u bytes", GEN_OUTPUT_MAX);
    if (rc != 0) {
        mm_buf_free(&out);
        return rc;
    }
    int64_t t_end = mm_now_ms();
    mm_strlcpy(res->finish_reason, finish, sizeof res->finish_reason);
    res->prompt_tokens = (int64_t)n_prompt;
    res->completion_tokens = produced;
    res->ms_to_first_token = t_first ? (double)(t_first - t_start) : 0;
    if (t_first && t_end > t_first)
        res->tokens_per_s = (double)produced * 1000.0 / (double)(t_end - t_first);
    *text = mm_buf_take(&out);
    return *text ? 0 : mm_error_set(err, MM_ENOMEM, "out of memory");
}

static const rt_factory engine_factory = {
    .user = NULL,
    .estimate = eng_estimate,
    .load = eng_load,
    .unload = eng_unload,
    .instance_new = eng_instance_new,
    .instance_free = eng_instance_free,
    .generate = eng_generate,
};

const rt_factory *rt_factory_engine(void)
{
    return &engine_factory;
}

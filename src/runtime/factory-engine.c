/* factory-engine.c - the instance factory over the built-in engine: a load
 * maps the GGUF once (engine_model) with its vocabulary and starts the
 * model's shared engine worker (batch.c), each instance is one of its slots
 * (a KV cache), and generate runs tokenize -> job on the worker (prompt
 * eval, then sampling decoded in batches with the other slots) ->
 * streaming detokenize on the request's thread, handing each decoded piece
 * to the request's callback as it appears. Chat messages are first
 * rendered with the model's chat template, or the config.yaml `models:`
 * entry's chat_template override when it has one. */
#include "runtime/runtime.h"
#include "engine/engine.h"
#include "text/text.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define GEN_DEFAULT_TOKENS 128u
#define GEN_OUTPUT_MAX     (1u << 20)   /* bytes of generated text */
#define GEN_CHAT_MAX       (4u << 20)   /* bytes of a rendered chat prompt */

#define GEN_SLOTS_NO_CONFIG 2      /* slots of a model loaded without a config (tests) */

typedef struct eng_model {
    engine_model *model;
    text_vocab   *vocab;
    rt_batch     *batch;    /* the shared worker; its slots are the instances */
    char         *tmpl_override;  /* config.yaml chat_template, copied; NULL: the file's */
    char         *tmpl_where;     /* "config.yaml:N" of the override */
} eng_model;

typedef struct eng_inst {
    eng_model  *m;          /* borrowed */
    uint32_t    slot;
    int32_t    *ids;        /* n_ctx token ids, allocated once */
    uint32_t    n_ctx;
    uint32_t    n_used;     /* requests served: none yet means nothing to reuse */
    mm_buf      key;        /* the last request's prompt or messages (affinity) */
} eng_inst;

#define GEN_KEY_MAX (1u << 20)  /* bytes of a request remembered for affinity */

/* From the catalog's GGUF facts, before anything is mapped: the file (the
 * weights are mapped and read) plus, per instance, the F16 KV cache the
 * context allocates (K and V, every layer, min(context, RT_ESTIMATE_CTX)
 * cells of kv_dim) and two rows of f32 logits (the step's and the last
 * prompt's kept copy), plus the RT_SAVED_PREFIXES saved
 * prefixes of at most RT_SAVED_TOKENS cells. */
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
        /* the step's logits and the slot's kept copy (batch.c) */
        uint64_t logits = 2ull * f->vocab_size * 4ull;
        total += (uint64_t)instances * (kv + logits);
        /* the saved prompt prefixes beside the slots (batch.c) */
        uint64_t saved = ctx < RT_SAVED_TOKENS ? ctx : RT_SAVED_TOKENS;
        total += RT_SAVED_PREFIXES * 2ull * f->block_count * saved * kv_dim * 2ull;
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
    if (rc == 0) {
        /* One worker drives every slot: it gets all the threads. */
        int slots = cfg && cfg->pool_size > 0 ? cfg->pool_size : GEN_SLOTS_NO_CONFIG;
        if (slots > RT_POOL_MAX)
            slots = RT_POOL_MAX;
        int threads = cfg && cfg->threads > 0 ? cfg->threads : 1;
        rc = rt_batch_new(m->model, (uint32_t)slots, threads, false, &m->batch, err);
    }
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
    rt_batch_free(m->batch);
    text_vocab_free(m->vocab);
    engine_model_free(m->model);
    free(m->tmpl_override);
    free(m->tmpl_where);
    free(m);
}

static int eng_instance_new(void *user, void *model, void **out, mm_error *err)
{
    (void)user;
    eng_model *m = model;
    eng_inst *inst = calloc(1, sizeof *inst);
    if (!inst)
        return mm_error_set(err, MM_ENOMEM, "out of memory creating an instance");
    int rc = rt_batch_claim(m->batch, &inst->slot, err);
    if (rc != 0) {
        free(inst);
        return rc;
    }
    inst->m = m;
    inst->n_ctx = rt_batch_context(m->batch);
    inst->ids = calloc(inst->n_ctx ? inst->n_ctx : 1, sizeof *inst->ids);
    mm_buf_init(&inst->key, GEN_KEY_MAX);
    if (!inst->ids) {
        rt_batch_release(m->batch, inst->slot);
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
    rt_batch_release(inst->m->batch, inst->slot);
    free(inst->ids);
    mm_buf_free(&inst->key);
    free(inst);
}

/* ---- prefix reuse ----
 * A slot remembers the tokens in its KV cache; a request evaluates its
 * prompt only from the first token that differs (batch.c). Which free instance a
 * request gets is decided before tokenizing, on the request's text: the
 * prompt, or the messages' roles and contents with separators. */

typedef struct key_walk {
    const char *stored;
    size_t      len, pos;
    bool        differs;
} key_walk;

/* Advance over the bytes of s that match the stored key. */
static void key_match(key_walk *w, const char *s, size_t n)
{
    size_t i = 0;
    while (!w->differs && i < n && w->pos < w->len && w->stored[w->pos] == s[i]) {
        w->pos++;
        i++;
    }
    if (i < n)
        w->differs = true;
}

/* Feed req's key text to match (a walk) or to buf (remember it). */
static void key_feed(const mm_gen_request *req, key_walk *walk, mm_buf *buf)
{
    static const char sep_role = '\x1f', sep_msg = '\x1e';
    const char *parts[3];
    size_t lens[3];
    size_t n_msg = req->prompt ? 1 : req->n_messages;
    for (size_t i = 0; i < n_msg; i++) {
        size_t n_parts = 0;
        if (req->prompt) {
            parts[n_parts] = "P";
            lens[n_parts++] = 1;
            parts[n_parts] = req->prompt;
            lens[n_parts++] = strlen(req->prompt);
        } else {
            const mm_gen_message *msg = &req->messages[i];
            const char *role = msg->role ? msg->role : "user";
            const char *content = msg->content ? msg->content : "";
            parts[n_parts] = role;
            lens[n_parts++] = strlen(role);
            parts[n_parts] = &sep_role;
            lens[n_parts++] = 1;
            parts[n_parts] = content;
            lens[n_parts++] = strlen(content);
        }
        for (size_t p = 0; p < n_parts; p++) {
            if (walk)
                key_match(walk, parts[p], lens[p]);
            else
                mm_buf_append(buf, parts[p], lens[p]);
        }
        if (!req->prompt) {
            if (walk)
                key_match(walk, &sep_msg, 1);
            else
                mm_buf_append(buf, &sep_msg, 1);
        }
        if (walk && walk->differs)
            return;
    }
}

/* Bytes of req's text that the instance's last request shares with it. */
static uint64_t eng_affinity(void *user, void *instance, const mm_gen_request *req)
{
    (void)user;
    const eng_inst *inst = instance;
    if (inst->n_used == 0 || inst->key.len == 0)
        return 0;
    key_walk w = { inst->key.data, inst->key.len, 0, false };
    key_feed(req, &w, NULL);
    return w.pos;
}

static void remember_key(eng_inst *inst, const mm_gen_request *req)
{
    mm_buf_free(&inst->key);
    mm_buf_init(&inst->key, GEN_KEY_MAX);
    key_feed(req, NULL, &inst->key);
    if (inst->key.failed) {   /* over the cap: no affinity rather than a wrong one */
        mm_buf_free(&inst->key);
        mm_buf_init(&inst->key, GEN_KEY_MAX);
    }
}

static bool vocab_is_eog(const void *user, int32_t token)
{
    return text_vocab_is_eog(user, token);
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
    int64_t t_start = mm_now_us();   /* us: a kept-logits first token takes well under 1 ms */
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

    remember_key(inst, req);
    inst->n_used++;
    for (size_t i = 0; i < n_prompt; i++)
        engine_sampler_accept(sampler, inst->ids[i]);
    rt_batch *batch = inst->m->batch;
    rt_batch_job job = { inst->ids, (uint32_t)n_prompt, max_new, sampler, req->cancel,
                         vocab_is_eog, vocab };
    rt_batch_start(batch, inst->slot, &job);
    const char *finish = "length";
    size_t sent = 0;
    uint32_t produced = 0;
    int64_t t_first = 0;
    for (;;) {
        int32_t tok = 0;
        const char *ended = NULL;
        int nrc = rt_batch_next(batch, inst->slot, &tok, &ended, err);
        if (nrc < 0) {
            rc = nrc;
            break;
        }
        if (produced == 0 && (nrc == 1 || strcmp(ended, "stop") == 0))
            t_first = mm_now_us();
        if (nrc == 0) {
            finish = ended;
            break;
        }
        produced++;
        rc = text_decoder_push(&dec, tok, &out, err);
        if (rc != 0)
            break;
        if (emit_new(req, &out, &sent)) {
            finish = "cancelled";   /* the manager tells a stop string from a hang-up */
            break;
        }
        /* The batch worker may have run ahead of us: tokens it made after
         * the cancel was raised are not the caller's. */
        if (req->cancel && atomic_load(req->cancel)) {
            finish = "cancelled";
            break;
        }
    }
    uint32_t reused = rt_batch_reused(batch, inst->slot);
    rt_batch_end(batch, inst->slot);   /* stops the job if it still runs */
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
    int64_t t_end = mm_now_us();
    mm_strlcpy(res->finish_reason, finish, sizeof res->finish_reason);
    res->prompt_tokens = (int64_t)n_prompt;
    res->cached_tokens = reused;
    res->completion_tokens = produced;
    res->ms_to_first_token = t_first ? (double)(t_first - t_start) / 1000.0 : 0;
    if (t_first && t_end > t_first)
        res->tokens_per_s = (double)produced * 1e6 / (double)(t_end - t_first);
    *text = mm_buf_take(&out);
    return *text ? 0 : mm_error_set(err, MM_ENOMEM, "out of memory");
}

bool rt_factory_runs_gguf(const mm_model_info *m)
{
    return m->format == MM_FORMAT_GGUF;
}

static const rt_factory engine_factory = {
    .user = NULL,
    .estimate = eng_estimate,
    .load = eng_load,
    .unload = eng_unload,
    .instance_new = eng_instance_new,
    .instance_free = eng_instance_free,
    .generate = eng_generate,
    .affinity = eng_affinity,
    .runs = rt_factory_runs_gguf,
};

const rt_factory *rt_factory_engine(void)
{
    return &engine_factory;
}

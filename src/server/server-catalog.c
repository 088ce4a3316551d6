/* server-catalog.c - the plain catalog service: models from the catalog,
 * health and generation from the model manager (the runtime) when one is
 * given (without one, generation is answered honestly as not available).
 * The routing service (server-route.c) builds on it. Also the public
 * mm_server_* wrappers, which serve the routing service. */
#include "server/server.h"
#include "runtime/runtime.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct catalog_svc {
    const mm_catalog *cat;   /* borrowed */
    mm_manager       *mgr;   /* borrowed, or NULL: health from the catalog only */
} catalog_svc;

void server_model_fill(const mm_model_info *info, bool stat_file, server_model *out)
{
    memset(out, 0, sizeof *out);
    mm_strlcpy(out->id, info->key, sizeof out->id);
    mm_strlcpy(out->format, mm_format_name(info->format), sizeof out->format);
    out->size = info->size_bytes;
    struct stat st;
    if (stat_file && info->n_paths && stat(info->paths[0], &st) == 0)
        out->created = (int64_t)st.st_mtime;
    if (info->has_facts) {
        mm_strlcpy(out->family, info->facts.architecture, sizeof out->family);
        mm_strlcpy(out->quant, info->facts.file_type_name, sizeof out->quant);
        out->n_params = info->facts.n_params;
        out->context_length = info->facts.context_length;
    }
}

void server_models_mark_loaded(mm_manager *mgr, server_model *models, size_t n)
{
    mm_model_health *rows = NULL;
    size_t n_rows = 0;
    if (!mgr || !n || mm_manager_list(mgr, &rows, &n_rows, NULL) != 0)
        return;
    for (size_t i = 0; i < n; i++)
        for (size_t r = 0; r < n_rows; r++)
            if (strcmp(rows[r].key, models[i].id) == 0)
                models[i].loaded = rows[r].loaded;
    free(rows);
}

int server_model_from_info(const mm_model_info *info, const char *name, bool stat_file,
                           server_model *out, mm_error *err)
{
    if (!info)
        return mm_error_set(err, MM_ENOTFOUND, "The model `%.128s` does not exist: see "
                            "GET /v1/models for the models this server has", name);
    if (info->state != MM_MODEL_AVAILABLE)
        return mm_error_set(err, MM_ENOTFOUND, "the model `%.128s` is in the catalog but %s",
                            info->key, info->state == MM_MODEL_NOT_DOWNLOADED
                            ? "not downloaded yet ('modelmgr pull' fetches it)"
                            : "its files are unreadable ('modelmgr show' says why)");
    server_model_fill(info, stat_file, out);
    return 0;
}

static int cat_list(void *ctx, server_model *out, size_t max, size_t *n_out)
{
    catalog_svc *c = ctx;
    size_t n = 0;
    for (size_t i = 0; i < mm_catalog_count(c->cat) && n < max; i++) {
        const mm_model_info *info = mm_catalog_at(c->cat, i);
        if (info->state == MM_MODEL_AVAILABLE)
            server_model_fill(info, true, &out[n++]);
    }
    *n_out = n;
    server_models_mark_loaded(c->mgr, out, n);
    return 0;
}

static int cat_lookup(catalog_svc *c, const char *name, bool stat_file, server_model *out,
                      mm_error *err)
{
    const mm_model_info *info;
    if (!name) {
        bool fallback = false;
        info = mm_catalog_default(c->cat, &fallback);
        if (!info)
            return mm_error_set(err, MM_ENOTFOUND, "the request names no model and there is "
                                "no default model: name one from GET /v1/models");
    } else {
        info = mm_catalog_find(c->cat, name);
    }
    return server_model_from_info(info, name, stat_file, out, err);
}

static int cat_find(void *ctx, const char *name, server_model *out, mm_error *err)
{
    return cat_lookup(ctx, name, true, out, err);
}

static int cat_resolve(void *ctx, const char *name, server_model *out, mm_error *err)
{
    return cat_lookup(ctx, name, false, out, err);
}

/* The runtime's own report: per model status and counters, the response
 * cache and the memory budget. */
static bool manager_health(mm_manager *mgr, cJSON *services)
{
    mm_health h;
    if (mm_manager_health(mgr, &h, NULL) != 0)
        return false;
    cJSON *models = cJSON_AddObjectToObject(services, "models");
    cJSON_AddStringToObject(models, "status", mm_health_status_name(h.status));
    cJSON_AddStringToObject(models, "default_model", h.default_model);
    cJSON *each = cJSON_AddObjectToObject(models, "models");
    for (size_t i = 0; i < h.n_models && i < SERVER_MODELS_MAX; i++) {
        const mm_model_health *r = &h.models[i];
        cJSON *m = cJSON_AddObjectToObject(each, r->key);
        cJSON_AddStringToObject(m, "status", mm_health_status_name(r->status));
        cJSON_AddStringToObject(m, "kind", r->kind);
        cJSON_AddBoolToObject(m, "loaded", r->loaded);
        cJSON_AddNumberToObject(m, "instances", r->instances);
        cJSON_AddNumberToObject(m, "busy", r->busy);
        cJSON_AddNumberToObject(m, "queued", r->queued);
        cJSON_AddNumberToObject(m, "requests", (double)r->requests);
        cJSON_AddNumberToObject(m, "failures", (double)r->failures);
        cJSON_AddNumberToObject(m, "last_used_s", (double)r->last_used_s);
        cJSON_AddNumberToObject(m, "bytes", (double)r->bytes);
        if (r->last_error[0])
            cJSON_AddStringToObject(m, "last_error", r->last_error);
    }
    cJSON *cache = cJSON_AddObjectToObject(services, "cache");
    cJSON_AddStringToObject(cache, "status", "ok");
    cJSON_AddNumberToObject(cache, "entries", (double)h.cache_entries);
    cJSON_AddNumberToObject(cache, "capacity", (double)h.cache_capacity);
    cJSON_AddNumberToObject(cache, "hits", (double)h.cache_hits);
    cJSON_AddNumberToObject(cache, "misses", (double)h.cache_misses);
    cJSON_AddNumberToObject(cache, "evictions", (double)h.cache_evictions);
    cJSON *memory = cJSON_AddObjectToObject(services, "memory");
    cJSON_AddStringToObject(memory, "status", "ok");
    cJSON_AddNumberToObject(memory, "budget_bytes", (double)h.memory_budget);
    cJSON_AddNumberToObject(memory, "used_bytes", (double)h.memory_used);
    cJSON_AddStringToObject(memory, "device", h.device);
    mm_health_clear(&h);
    return true;
}

static void cat_health(void *ctx, cJSON *services)
{
    catalog_svc *c = ctx;
    cJSON *engine = cJSON_AddObjectToObject(services, "engine");
    cJSON_AddStringToObject(engine, "status", c->mgr ? "ok" : "unavailable");
    cJSON_AddStringToObject(engine, "detail", c->mgr ? "the built-in CPU engine, through the "
                            "model manager" : SERVER_NO_ENGINE_MSG);
    if (c->mgr && manager_health(c->mgr, services))
        return;
    cJSON *models = cJSON_AddObjectToObject(services, "models");
    cJSON_AddStringToObject(models, "status", "ok");
    cJSON *each = cJSON_AddObjectToObject(models, "models");
    size_t available = 0;
    for (size_t i = 0; i < mm_catalog_count(c->cat) && i < SERVER_MODELS_MAX; i++) {
        const mm_model_info *info = mm_catalog_at(c->cat, i);
        cJSON *m = cJSON_AddObjectToObject(each, info->key);
        cJSON_AddStringToObject(m, "state", mm_model_state_name(info->state));
        cJSON_AddBoolToObject(m, "loaded", false);
        available += info->state == MM_MODEL_AVAILABLE;
    }
    cJSON_AddNumberToObject(models, "available", (double)available);
}

/* The server's piece callback behind the manager's. */
typedef struct piece_relay {
    server_piece_fn on_piece;
    void           *user;
} piece_relay;

static int relay_piece(const char *text, size_t len, void *user)
{
    piece_relay *r = user;
    return r->on_piece(r->user, text, len);
}

/* Generation by the model manager: the validated request becomes an
 * mm_gen_request (chat messages as messages; an Ollama `system` with a
 * prompt becomes a system and a user message), pieces and cancel pass
 * straight through, and the result's finish reason and counts come back. */
static int cat_generate(void *ctx, const char *model, const server_request *rq,
                        server_piece_fn on_piece, void *user, const atomic_bool *cancel,
                        server_gen_result *res, mm_error *err)
{
    catalog_svc *c = ctx;
    memset(res, 0, sizeof *res);
    if (!c->mgr)
        return mm_error_set(err, MM_EUNSUPPORTED, "%s", SERVER_NO_ENGINE_MSG);
    size_t n_msgs = rq->n_messages + (rq->system && rq->prompt ? 2 : 0);
    mm_gen_message *msgs = n_msgs ? calloc(n_msgs, sizeof *msgs) : NULL;
    if (n_msgs && !msgs)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    size_t n = 0;
    if (rq->system && rq->prompt) {
        msgs[n++] = (mm_gen_message){ "system", rq->system };
        msgs[n++] = (mm_gen_message){ "user", rq->prompt };
    }
    for (size_t i = 0; i < rq->n_messages; i++)
        msgs[n++] = (mm_gen_message){ server_role_name(rq->messages[i].role),
                                      rq->messages[i].content };
    const char *stops[SERVER_STOP_MAX];
    for (size_t i = 0; i < rq->n_stop && i < SERVER_STOP_MAX; i++)
        stops[i] = rq->stop[i];
    piece_relay relay = { on_piece, user };
    int64_t max_tokens = rq->max_tokens < 0 ? SERVER_TOKENS_MAX : rq->max_tokens;
    mm_gen_request req = {
        .model = model,
        .prompt = n ? NULL : rq->prompt,
        .messages = n ? msgs : NULL,
        .n_messages = n,
        .temperature = rq->temperature,
        .top_p = rq->top_p,
        .max_tokens = (int)(max_tokens < INT32_MAX ? max_tokens : INT32_MAX),
        .has_seed = rq->has_seed,
        .seed = (uint64_t)rq->seed,
        .presence_penalty = rq->presence_penalty,
        .frequency_penalty = rq->frequency_penalty,
        .stop = rq->n_stop ? stops : NULL,
        .n_stop = rq->n_stop < SERVER_STOP_MAX ? rq->n_stop : SERVER_STOP_MAX,
        .on_piece = on_piece ? relay_piece : NULL,
        .piece_user = &relay,
        .cancel = cancel,
    };
    if (rq->api == SERVER_API_OLLAMA_GENERATE || rq->api == SERVER_API_OLLAMA_CHAT) {
        /* Ollama: each request sets how long its model stays loaded
         * (absent: back to the configured idle timeout). */
        mm_error kerr = { 0 };
        if (rt_manager_keep_alive(c->mgr, model, rq->has_keep_alive, rq->keep_alive_ms,
                                  &kerr) != 0)
            MM_LOG_DEBUG("keep_alive not applied: %s", kerr.message);
    }
    mm_gen_result out;
    int rc = mm_manager_generate(c->mgr, &req, &out, err);
    free(msgs);
    if (rc != 0) {
        mm_gen_result_clear(&out);
        return rc;
    }
    if (out.fell_back)
        MM_LOG_WARN("request for '%s' answered by '%s': %s", model, out.model, out.note);
    res->prompt_tokens = out.prompt_tokens;
    res->completion_tokens = out.completion_tokens;
    res->finish = strcmp(out.finish_reason, "length") == 0 ? SERVER_FINISH_LENGTH
                                                           : SERVER_FINISH_STOP;
    res->prompt_ns = (int64_t)(out.ms_to_first_token * 1e6);
    if (out.tokens_per_s > 0)
        res->eval_ns = (int64_t)((double)out.completion_tokens / out.tokens_per_s * 1e9);
    bool cancelled = strcmp(out.finish_reason, "cancelled") == 0;
    mm_gen_result_clear(&out);
    if (cancelled)
        return mm_error_set(err, MM_ECANCELED, "the generation was cancelled");
    return 0;
}

int server_catalog_service_new(const mm_catalog *cat, mm_manager *mgr,
                               server_service *out, mm_error *err)
{
    memset(out, 0, sizeof *out);
    catalog_svc *c = calloc(1, sizeof *c);
    if (!c)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    c->cat = cat;
    c->mgr = mgr;
    out->ctx = c;
    out->list_models = cat_list;
    out->find_model = cat_find;
    out->resolve_model = cat_resolve;
    out->health = cat_health;
    out->generate = cat_generate;
    return 0;
}

void server_catalog_service_free(server_service *svc)
{
    if (!svc)
        return;
    free(svc->ctx);
    memset(svc, 0, sizeof *svc);
}

/* ---- public API ---- */

struct mm_server {
    server        *srv;
    server_service svc;
};

int mm_server_start(const mm_config *cfg, const mm_catalog *cat, mm_manager *mgr,
                    mm_server **out, mm_error *err)
{
    *out = NULL;
    mm_server *s = calloc(1, sizeof *s);
    if (!s)
        return mm_error_set(err, MM_ENOMEM, "out of memory starting the server");
    int rc = server_route_service_new(cfg, cat, mgr, &s->svc, err);
    if (rc != 0)
        goto fail;
    server_options opts = {
        .host = cfg->host, .port = cfg->port, .api_key = cfg->api_key,
        .max_body = (size_t)cfg->max_body,
        .admin = { .cfg = cfg, .cat = cat, .mgr = mgr },
    };
    rc = server_start(&opts, &s->svc, &s->srv, err);
    if (rc != 0)
        goto fail;
    *out = s;
    return 0;
fail:
    server_route_service_free(&s->svc);
    free(s);
    return rc;
}

const char *mm_server_url(const mm_server *srv)
{
    return server_url(srv->srv);
}

void mm_server_stop(mm_server *srv, int grace_ms)
{
    if (!srv)
        return;
    server_stop(srv->srv, grace_ms);
    server_route_service_free(&srv->svc);
    free(srv);
}

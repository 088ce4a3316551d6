/* manager-health.c - what the manager tells the outside: generation through
 * the response cache and the stop-string filter, the per-model rows of list and health, and the
 * overall status derived from them. */
#include "runtime/runtime.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *mm_health_status_name(mm_health_status status)
{
    switch (status) {
    case MM_HEALTH_HEALTHY:     return "healthy";
    case MM_HEALTH_DEGRADED:    return "degraded";
    case MM_HEALTH_UNAVAILABLE: return "unavailable";
    }
    return "unknown";
}

void mm_gen_result_clear(mm_gen_result *result)
{
    if (!result)
        return;
    free(result->text);
    memset(result, 0, sizeof *result);
}

#define GEN_TEXT_MAX (1u << 20)   /* bytes of one answer, as the engine's */

/* A cached answer is stored as "<finish>\n<prompt tokens>\n<completion
 * tokens>\n<text>", so a replay reports what the generation did. */
static char *cache_encode(const mm_gen_result *r)
{
    return mm_asprintf("%s\n%" PRId64 "\n%" PRId64 "\n%s", r->finish_reason, r->prompt_tokens,
                       r->completion_tokens, r->text ? r->text : "");
}

/* Fill result from a stored answer and replay it through on_piece; false
 * when the entry is not in the stored form (then it is a miss). */
static bool cache_decode(char *stored, const mm_gen_request *req, mm_gen_result *result)
{
    char *nl1 = strchr(stored, '\n');
    char *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
    char *nl3 = nl2 ? strchr(nl2 + 1, '\n') : NULL;
    if (!nl3 || (size_t)(nl1 - stored) >= sizeof result->finish_reason)
        return false;
    *nl1 = *nl2 = *nl3 = '\0';
    int64_t p = 0, c = 0;
    if (mm_parse_i64(nl1 + 1, 0, INT64_MAX, &p) != 0 ||
        mm_parse_i64(nl2 + 1, 0, INT64_MAX, &c) != 0)
        return false;
    char *text = mm_strdup(nl3 + 1);
    if (!text)
        return false;
    mm_strlcpy(result->finish_reason, stored, sizeof result->finish_reason);
    result->prompt_tokens = p;
    result->completion_tokens = c;
    result->text = text;
    result->cached = true;
    if (req->on_piece && text[0])
        req->on_piece(text, strlen(text), req->piece_user);
    return true;
}

/* A cache hit for (model, req) when req may be cached, filled into result;
 * false otherwise. */
static bool cache_lookup(mm_manager *mgr, const char *model, const mm_gen_request *req,
                         mm_gen_result *result)
{
    if (!rt_cache_cacheable(req))
        return false;
    char *key = rt_cache_key(model, req);
    char *stored = key ? rt_cache_get(mgr->cache, key) : NULL;
    free(key);
    bool hit = stored && cache_decode(stored, req, result);
    free(stored);
    return hit;
}

static void count_cached_request(mm_manager *mgr, const char *model)
{
    pthread_mutex_lock(&mgr->lock);
    rt_model *m = mgr_find(mgr, model);
    if (m) {
        m->requests++;
        m->last_used_wall_s = mm_wall_ms() / 1000;
    }
    pthread_mutex_unlock(&mgr->lock);
}

static int check_stops(const mm_gen_request *req, mm_error *err)
{
    if (req->n_stop > MM_GEN_STOP_MAX)
        return mm_error_set(err, MM_EINVAL, "%zu stop strings; at most %d are allowed",
                            req->n_stop, MM_GEN_STOP_MAX);
    for (size_t i = 0; i < req->n_stop && req->stop; i++)
        if (req->stop[i] && strlen(req->stop[i]) > MM_GEN_STOP_LEN)
            return mm_error_set(err, MM_EINVAL, "stop string %zu is longer than %d bytes",
                                i + 1, MM_GEN_STOP_LEN);
    return 0;
}

static int filter_piece(const char *text, size_t len, void *user)
{
    return rt_stop_filter_push(user, text, len);
}

/* Run the factory on the lease with req's pieces going through the
 * stop-string filter; fills result's text, finish reason and counts. */
static int run_factory(mm_manager *mgr, void *inst, const mm_gen_request *req,
                       mm_gen_result *result, mm_error *err)
{
    rt_stop_filter f;
    rt_stop_filter_init(&f, req, GEN_TEXT_MAX);
    mm_gen_request mine = *req;
    mine.on_piece = filter_piece;
    mine.piece_user = &f;
    char *raw = NULL;
    int rc = mgr->factory.generate(mgr->factory.user, inst, &mine, &raw, result, err);
    if (rc == 0) {
        /* What the factory did not stream goes through the filter now. */
        size_t raw_len = raw ? strlen(raw) : 0;
        if (f.raw_seen < raw_len)
            rt_stop_filter_push(&f, raw + f.raw_seen, raw_len - f.raw_seen);
        rt_stop_filter_finish(&f);
        if (f.text.failed)
            rc = mm_error_set(err, MM_ELIMIT, "the answer exceeds %u bytes", GEN_TEXT_MAX);
    }
    free(raw);
    if (rc == 0) {
        if (f.stopped)
            mm_strlcpy(result->finish_reason, "stop", sizeof result->finish_reason);
        else if (f.halted || (req->cancel && atomic_load(req->cancel)))
            mm_strlcpy(result->finish_reason, "cancelled", sizeof result->finish_reason);
        else if (!result->finish_reason[0])
            mm_strlcpy(result->finish_reason, "stop", sizeof result->finish_reason);
        result->text = mm_buf_take(&f.text);
        if (!result->text)
            rc = mm_error_set(err, MM_ENOMEM, "out of memory");
    }
    rt_stop_filter_free(&f);
    return rc;
}

int mm_manager_generate(mm_manager *mgr, const mm_gen_request *req, mm_gen_result *result,
                        mm_error *err)
{
    memset(result, 0, sizeof *result);
    if (!mgr || !req)
        return mm_error_set(err, MM_EINVAL, "mm_manager_generate: no manager or request");
    if (!req->prompt && req->n_messages == 0)
        return mm_error_set(err, MM_EINVAL, "the request has neither a prompt nor messages");
    int rc = check_stops(req, err);
    if (rc != 0)
        return rc;
    const char *wanted = req->model && req->model[0] ? req->model : mgr->default_key;

    /* A hit for a model that exists needs no instance and no load. */
    pthread_mutex_lock(&mgr->lock);
    bool known = mgr_find(mgr, wanted) != NULL;
    pthread_mutex_unlock(&mgr->lock);
    if (known && cache_lookup(mgr, wanted, req, result)) {
        mm_strlcpy(result->model, wanted, sizeof result->model);
        count_cached_request(mgr, wanted);
        return 0;
    }

    mgr_lease lease;
    rc = mgr_acquire_for(mgr, req->model, req, &lease, err);
    if (rc != 0)
        return rc;
    mm_strlcpy(result->model, lease.key, sizeof result->model);
    result->fell_back = lease.fell_back;
    mm_strlcpy(result->note, lease.note, sizeof result->note);
    if (lease.fell_back && cache_lookup(mgr, lease.key, req, result)) {
        mgr_release(mgr, &lease, false, NULL);
        return 0;
    }
    mm_error gen_err = { 0 };
    rc = run_factory(mgr, lease.inst, req, result, &gen_err);
    mgr_release(mgr, &lease, rc != 0, &gen_err);
    if (rc != 0) {
        if (err)
            *err = gen_err;
        return rc;
    }
    if (rt_cache_cacheable(req) && strcmp(result->finish_reason, "cancelled") != 0) {
        char *key = rt_cache_key(result->model, req);
        char *stored = key ? cache_encode(result) : NULL;
        if (stored)
            rt_cache_put(mgr->cache, key, stored);
        free(stored);
        free(key);
    }
    return 0;
}

/* A model the factory cannot run (the built-in engine: a safetensors or
 * .bin model) is listed, but cannot serve here. */
static bool runnable(const mm_manager *mgr, const rt_model *m)
{
    return !mgr->factory.runs || mgr->factory.runs(m->info);
}

static mm_health_status model_status(const mm_manager *mgr, const rt_model *m)
{
    if (m->info->state != MM_MODEL_AVAILABLE || m->load_failed || !runnable(mgr, m))
        return MM_HEALTH_UNAVAILABLE;
    return m->last_failed ? MM_HEALTH_DEGRADED : MM_HEALTH_HEALTHY;
}

static void fill_row(const mm_manager *mgr, const rt_model *m, mm_model_health *row)
{
    memset(row, 0, sizeof *row);
    mm_strlcpy(row->key, m->key, sizeof row->key);
    mm_strlcpy(row->kind, "llm", sizeof row->kind);
    row->status = model_status(mgr, m);
    row->loaded = m->state == RT_LOADED;
    char down_why[MM_ERROR_MSG_MAX] = "";
    if (row->status == MM_HEALTH_HEALTHY && row->loaded && mgr->factory.down &&
        mgr->factory.down(mgr->factory.user, m->handle, down_why, sizeof down_why))
        row->status = MM_HEALTH_DEGRADED;
    if (m->pool) {
        rt_pool_stats ps;
        rt_pool_stats_get(m->pool, &ps);
        row->instances = ps.created;
        row->busy = ps.busy;
        row->queued = ps.queued;
    }
    row->last_used_s = m->last_used_wall_s;
    row->bytes = m->state == RT_LOADED ? m->bytes : 0;
    row->requests = m->requests;
    row->failures = m->failures;
    if (m->info->n_paths)
        mm_strlcpy(row->path, m->info->paths[0], sizeof row->path);
    if (down_why[0])
        mm_strlcpy(row->last_error, down_why, sizeof row->last_error);
    else if (m->last_error[0] && row->status != MM_HEALTH_HEALTHY)
        mm_strlcpy(row->last_error, m->last_error, sizeof row->last_error);
    else if (m->info->state == MM_MODEL_NOT_DOWNLOADED)
        snprintf(row->last_error, sizeof row->last_error, "not downloaded%s%s%s",
                 m->info->source == MM_SOURCE_HF ? " ('modelmgr pull' downloads it)" : "",
                 m->info->error ? ": " : "", m->info->error ? m->info->error : "");
    else if (m->info->state != MM_MODEL_AVAILABLE)
        snprintf(row->last_error, sizeof row->last_error, "%s%s%s",
                 mm_model_state_name(m->info->state), m->info->error ? ": " : "",
                 m->info->error ? m->info->error : "");
    else if (!runnable(mgr, m))
        snprintf(row->last_error, sizeof row->last_error, "a %s model: the built-in engine runs "
                 "GGUF files only; serve it from an OpenAI-compatible server (remotes:) or "
                 "pull a GGUF build of it", mm_format_name(m->info->format));
}

static void fill_speech(const mm_manager *mgr, mm_model_health *row)
{
    memset(row, 0, sizeof *row);
    mm_strlcpy(row->key, "speech", sizeof row->key);
    mm_strlcpy(row->kind, "speech", sizeof row->kind);
    row->status = mgr->vosk.path ? MM_HEALTH_HEALTHY : MM_HEALTH_UNAVAILABLE;
    if (mgr->vosk.path)
        mm_strlcpy(row->path, mgr->vosk.path, sizeof row->path);
    if (mgr->vosk.error)
        mm_strlcpy(row->last_error, mgr->vosk.error, sizeof row->last_error);
}

int mm_manager_list(mm_manager *mgr, mm_model_health **rows, size_t *n_rows, mm_error *err)
{
    *rows = NULL;
    *n_rows = 0;
    pthread_mutex_lock(&mgr->lock);
    size_t n = mgr->n_models + (mgr->vosk_listed ? 1 : 0);
    mm_model_health *out = calloc(n ? n : 1, sizeof *out);
    if (!out) {
        pthread_mutex_unlock(&mgr->lock);
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < mgr->n_models; i++)
        fill_row(mgr, mgr->models[i], &out[i]);
    if (mgr->vosk_listed)
        fill_speech(mgr, &out[mgr->n_models]);
    pthread_mutex_unlock(&mgr->lock);
    *rows = out;
    *n_rows = n;
    return 0;
}

int mm_manager_health(mm_manager *mgr, mm_health *out, mm_error *err)
{
    memset(out, 0, sizeof *out);
    int rc = mm_manager_list(mgr, &out->models, &out->n_models, err);
    if (rc != 0)
        return rc;
    size_t healthy = 0, usable = 0;
    for (size_t i = 0; i < out->n_models; i++) {
        if (out->models[i].status == MM_HEALTH_HEALTHY)
            healthy++;
        if (out->models[i].status != MM_HEALTH_UNAVAILABLE)
            usable++;
    }
    if (out->n_models > 0 && healthy == out->n_models)
        out->status = MM_HEALTH_HEALTHY;
    else if (usable > 0)
        out->status = MM_HEALTH_DEGRADED;
    else
        out->status = MM_HEALTH_UNAVAILABLE;
    pthread_mutex_lock(&mgr->lock);
    mm_strlcpy(out->default_model, mgr->default_key, sizeof out->default_model);
    mm_strlcpy(out->device, mgr->device, sizeof out->device);
    mm_strlcpy(out->device_note, mgr->device_note, sizeof out->device_note);
    out->memory_budget = mgr->budget;
    out->memory_used = mgr->used;
    pthread_mutex_unlock(&mgr->lock);
    rt_cache_stats cs;
    rt_cache_stats_get(mgr->cache, &cs);
    out->cache_hits = cs.hits;
    out->cache_misses = cs.misses;
    out->cache_evictions = cs.evictions;
    out->cache_entries = cs.entries;
    out->cache_capacity = cs.capacity;
    return 0;
}

void mm_health_clear(mm_health *health)
{
    if (!health)
        return;
    free(health->models);
    memset(health, 0, sizeof *health);
}

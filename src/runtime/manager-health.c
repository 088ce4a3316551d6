/* manager-health.c - what the manager tells the outside: generation through
 * the response cache, the per-model rows of list and health, and the
 * overall status derived from them. */
#include "runtime/runtime.h"

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

/* A cache hit for (key, req) when req may be cached; NULL otherwise. */
static char *cache_lookup(mm_manager *mgr, const char *model, const mm_gen_request *req)
{
    if (!rt_cache_cacheable(req))
        return NULL;
    char *key = rt_cache_key(model, req);
    char *text = key ? rt_cache_get(mgr->cache, key) : NULL;
    free(key);
    return text;
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

int mm_manager_generate(mm_manager *mgr, const mm_gen_request *req, mm_gen_result *result,
                        mm_error *err)
{
    memset(result, 0, sizeof *result);
    if (!mgr || !req)
        return mm_error_set(err, MM_EINVAL, "mm_manager_generate: no manager or request");
    if (!req->prompt && req->n_messages == 0)
        return mm_error_set(err, MM_EINVAL, "the request has neither a prompt nor messages");
    const char *wanted = req->model && req->model[0] ? req->model : mgr->default_key;

    /* A hit for a model that exists needs no instance and no load. */
    pthread_mutex_lock(&mgr->lock);
    bool known = mgr_find(mgr, wanted) != NULL;
    pthread_mutex_unlock(&mgr->lock);
    char *hit = known ? cache_lookup(mgr, wanted, req) : NULL;
    if (hit) {
        result->text = hit;
        result->cached = true;
        mm_strlcpy(result->model, wanted, sizeof result->model);
        count_cached_request(mgr, wanted);
        return 0;
    }

    mgr_lease lease;
    int rc = mgr_acquire(mgr, req->model, &lease, err);
    if (rc != 0)
        return rc;
    mm_strlcpy(result->model, lease.key, sizeof result->model);
    result->fell_back = lease.fell_back;
    mm_strlcpy(result->note, lease.note, sizeof result->note);
    if (lease.fell_back && (hit = cache_lookup(mgr, lease.key, req)) != NULL) {
        mgr_release(mgr, &lease, false, NULL);
        result->text = hit;
        result->cached = true;
        return 0;
    }
    char *text = NULL;
    mm_error gen_err = { 0 };
    rc = mgr->factory.generate(mgr->factory.user, lease.inst, req, &text, &gen_err);
    mgr_release(mgr, &lease, rc != 0, &gen_err);
    if (rc != 0) {
        if (err)
            *err = gen_err;
        return rc;
    }
    if (rt_cache_cacheable(req)) {
        char *key = rt_cache_key(result->model, req);
        if (key)
            rt_cache_put(mgr->cache, key, text);
        free(key);
    }
    result->text = text;
    return 0;
}

static mm_health_status model_status(const rt_model *m)
{
    if (m->info->state != MM_MODEL_AVAILABLE || m->load_failed)
        return MM_HEALTH_UNAVAILABLE;
    return m->last_failed ? MM_HEALTH_DEGRADED : MM_HEALTH_HEALTHY;
}

static void fill_row(const rt_model *m, mm_model_health *row)
{
    memset(row, 0, sizeof *row);
    mm_strlcpy(row->key, m->key, sizeof row->key);
    mm_strlcpy(row->kind, "llm", sizeof row->kind);
    row->status = model_status(m);
    row->loaded = m->state == RT_LOADED;
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
    if (m->last_error[0] && row->status != MM_HEALTH_HEALTHY)
        mm_strlcpy(row->last_error, m->last_error, sizeof row->last_error);
    else if (m->info->state == MM_MODEL_NOT_DOWNLOADED)
        snprintf(row->last_error, sizeof row->last_error, "not downloaded%s%s%s",
                 m->info->source == MM_SOURCE_HF ? " ('modelmgr pull' downloads it)" : "",
                 m->info->error ? ": " : "", m->info->error ? m->info->error : "");
    else if (m->info->state != MM_MODEL_AVAILABLE)
        snprintf(row->last_error, sizeof row->last_error, "%s%s%s",
                 mm_model_state_name(m->info->state), m->info->error ? ": " : "",
                 m->info->error ? m->info->error : "");
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
        fill_row(mgr->models[i], &out[i]);
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

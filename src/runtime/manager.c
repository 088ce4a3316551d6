/* manager.c - the model manager: one record per catalog model, loaded
 * lazily (or at start for `preload`), kept within the memory budget by
 * unloading least-recently-used idle models, unloaded after idle_timeout by
 * a reaper thread, and retried after a back-off when a load fails.
 *
 * DESIGN: one mutex guards every record. Slow work (a model load, instance
 * creation, generation) runs outside it: a loading record is marked
 * RT_LOADING with its bytes already reserved, and callers that want the
 * same model wait on `changed` with a deadline. A record's `in_use` counts
 * requests holding or waiting for one of its instances; only records with
 * in_use 0 are ever unloaded. */
#include "runtime/runtime.h"
#include "hub/hub.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOAD_WAIT_MS (10 * 60 * 1000)   /* the longest wait for another thread's load */

int64_t mgr_now(const mm_manager *mgr)
{
    return mgr->clock ? mgr->clock(mgr->clock_user) : mm_now_ms();
}

static void format_bytes(uint64_t bytes, char *out, size_t size)
{
    if (bytes >= (1ull << 30))
        snprintf(out, size, "%.1f GiB", (double)bytes / (double)(1ull << 30));
    else
        snprintf(out, size, "%.1f MiB", (double)bytes / (double)(1ull << 20));
}

rt_model *mgr_find(mm_manager *mgr, const char *key)
{
    for (size_t i = 0; key && i < mgr->n_models; i++)
        if (strcmp(mgr->models[i]->key, key) == 0)
            return mgr->models[i];
    return NULL;
}

static void timed_wait(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(cond, lock, &ts);
}

/* What health reports of a model may have changed. Lock held, so the
 * number never moves backwards relative to the records it describes. */
static void health_changed(mm_manager *mgr)
{
    atomic_fetch_add(&mgr->health_version, 1);
}

uint64_t rt_manager_health_version(mm_manager *mgr)
{
    /* both only grow, so their sum moves whenever either does */
    uint64_t factory = mgr->factory.changes ? mgr->factory.changes(mgr->factory.user) : 0;
    return atomic_load(&mgr->health_version) + factory;
}

/* Free a loaded model's pool and handle. Lock held; the model is idle. */
static void unload_locked(mm_manager *mgr, rt_model *m, const char *why)
{
    MM_ASSERT(m->state == RT_LOADED && m->in_use == 0);
    rt_pool_free(m->pool);
    mgr->factory.unload(mgr->factory.user, m->handle);
    m->pool = NULL;
    m->handle = NULL;
    mgr->used -= m->bytes;
    m->bytes = 0;
    m->state = RT_UNLOADED;
    health_changed(mgr);
    MM_LOG_INFO("unloaded model '%s' (%s)", m->key, why);
}

static void record_failure(mm_manager *mgr, rt_model *m, const mm_error *err)
{
    health_changed(mgr);
    m->failures++;
    m->last_failed = true;
    mm_strlcpy(m->last_error, err && err->message[0] ? err->message : "unknown error",
               sizeof m->last_error);
}

/* Make room for `need` bytes by unloading idle models, least recently used
 * first. Lock held. Returns true when the model fits. */
/* Bytes the budget could offer after unloading every idle model. Lock held. */
static uint64_t available_bytes(const mm_manager *mgr)
{
    uint64_t idle = 0;
    for (size_t i = 0; i < mgr->n_models; i++)
        if (mgr->models[i]->state == RT_LOADED && mgr->models[i]->in_use == 0)
            idle += mgr->models[i]->bytes;
    uint64_t pinned = mgr->used - idle;
    return pinned < mgr->budget ? mgr->budget - pinned : 0;
}

static bool make_room(mm_manager *mgr, uint64_t need)
{
    /* Evict nothing for a model that cannot fit even then. */
    if (need > available_bytes(mgr))
        return false;
    while (mgr->used + need > mgr->budget) {
        rt_model *victim = NULL;
        for (size_t i = 0; i < mgr->n_models; i++) {
            rt_model *m = mgr->models[i];
            if (m->state == RT_LOADED && m->in_use == 0 &&
                (!victim || m->last_used_ms < victim->last_used_ms))
                victim = m;
        }
        if (!victim)
            return false;
        unload_locked(mgr, victim, "making room within the memory budget");
    }
    return true;
}

static int budget_error(mm_manager *mgr, rt_model *m, uint64_t need, mm_error *err)
{
    char need_s[32], avail_s[32], budget_s[32];
    uint64_t avail = available_bytes(mgr);
    format_bytes(need, need_s, sizeof need_s);
    format_bytes(avail, avail_s, sizeof avail_s);
    format_bytes(mgr->budget, budget_s, sizeof budget_s);
    return mm_error_set(err, MM_ELIMIT,
                        "model '%s' needs %s (%" PRIu64 " bytes) but only %s (%" PRIu64
                        " bytes) of the %s memory budget is available (models in use "
                        "hold the rest); use a smaller quantization (e.g. Q4_K_M) or a "
                        "shorter context, lower pool_size, or raise memory_budget "
                        "(MODEL_MEMORY_BUDGET)",
                        m->key, need_s, need, avail_s, avail, budget_s);
}

/* Load m (lock held on entry and exit; dropped while loading). */
static int load_locked(mm_manager *mgr, rt_model *m, mm_error *err)
{
    int64_t waited_from = mm_now_ms();
    while (m->state == RT_LOADING) {
        if (mm_now_ms() - waited_from > LOAD_WAIT_MS)
            return mm_error_set(err, MM_ETIMEDOUT, "model '%s' is still loading after %d "
                                "minutes; retry later", m->key, LOAD_WAIT_MS / 60000);
        timed_wait(&mgr->changed, &mgr->lock, 1000);
    }
    if (m->state == RT_LOADED)
        return 0;
    if (m->info->state != MM_MODEL_AVAILABLE) {
        const char *what = m->info->state == MM_MODEL_NOT_DOWNLOADED
                               ? "is not downloaded ('modelmgr pull' downloads it)"
                               : "is unreadable";
        int rc = mm_error_set(err, MM_ENOTFOUND, "model '%s' %s%s%s", m->key, what,
                              m->info->error ? ": " : "", m->info->error ? m->info->error : "");
        if (strcmp(m->last_error, err ? err->message : "") != 0)
            health_changed(mgr);   /* the row's last_error */
        mm_strlcpy(m->last_error, err ? err->message : "", sizeof m->last_error);
        return rc;
    }
    int64_t now = mgr_now(mgr);
    if (m->load_failed && now < m->retry_at_ms)
        return mm_error_set(err, m->load_rc ? m->load_rc : MM_EIO,
                            "model '%s' failed to load; next retry in %" PRId64 " s: %s",
                            m->key, (m->retry_at_ms - now + 999) / 1000, m->last_error);
    uint64_t need = 0;
    int rc = mgr->factory.estimate(mgr->factory.user, m->info, mgr->pool_size, &need, err);
    if (rc != 0)
        goto failed;
    if (!make_room(mgr, need)) {
        rc = budget_error(mgr, m, need, err);
        record_failure(mgr, m, err);
        MM_LOG_WARN("%s", err ? err->message : "model over the memory budget");
        return rc;
    }
    mgr->used += need;
    m->bytes = need;
    m->state = RT_LOADING;
    pthread_mutex_unlock(&mgr->lock);

    void *handle = NULL;
    rt_pool *pool = NULL;
    int64_t started = mm_now_ms();
    /* A blob renamed into the cache before it was on disk is checked first
     * (re-hashed when the machine restarted since; hub-unsynced.c). */
    for (size_t i = 0; rc == 0 && i < m->info->n_paths; i++)
        rc = hub_unsynced_check_file(m->info->paths[i], err);
    if (rc == 0)
        rc = mgr->factory.load(mgr->factory.user, m->info, &handle, err);
    if (rc == 0) {
        rc = rt_pool_new(&mgr->factory, handle, mgr->pool_size, mgr->queue_size, m->key,
                         &pool, err);
        if (rc != 0)
            mgr->factory.unload(mgr->factory.user, handle);
    }
    pthread_mutex_lock(&mgr->lock);
    if (rc != 0) {
        mgr->used -= need;
        m->bytes = 0;
        m->state = RT_UNLOADED;
        pthread_cond_broadcast(&mgr->changed);
        goto failed;
    }
    m->handle = handle;
    m->pool = pool;
    m->state = RT_LOADED;
    m->load_failed = false;
    m->backoff_ms = 0;
    m->last_used_ms = mgr_now(mgr);
    health_changed(mgr);
    pthread_cond_broadcast(&mgr->changed);
    MM_LOG_INFO("loaded model '%s' (%" PRIu64 " bytes estimated, %d instance%s at most, "
                "%" PRId64 " ms)", m->key, need, mgr->pool_size,
                mgr->pool_size == 1 ? "" : "s", mm_now_ms() - started);
    return 0;

failed:
    record_failure(mgr, m, err);
    m->load_failed = true;
    m->load_rc = rc;
    m->backoff_ms = m->backoff_ms ? m->backoff_ms * 2 : mgr->backoff_min_ms;
    if (m->backoff_ms > RT_BACKOFF_MAX_MS)
        m->backoff_ms = RT_BACKOFF_MAX_MS;
    m->retry_at_ms = mgr_now(mgr) + m->backoff_ms;
    MM_LOG_ERROR("cannot load model '%s' (%s): %s; retrying in %" PRId64 " s at the earliest",
                 m->key, m->info->n_paths ? m->info->paths[0] : "no file",
                 m->last_error, m->backoff_ms / 1000);
    return rc;
}

/* Take an instance of m: load it if needed, then wait in its pool's queue.
 * Lock held on entry and exit. */
static int acquire_locked(mm_manager *mgr, rt_model *m, const mm_gen_request *req, void **inst,
                          mm_error *err)
{
    int rc = load_locked(mgr, m, err);
    if (rc != 0)
        return rc;
    m->in_use++;
    m->requests++;
    rt_pool *pool = m->pool;
    pthread_mutex_unlock(&mgr->lock);
    rc = rt_pool_acquire_for(pool, mgr->queue_timeout_ms, req, inst, err);
    pthread_mutex_lock(&mgr->lock);
    if (rc != 0) {
        m->in_use--;
        m->last_used_ms = mgr_now(mgr);
        record_failure(mgr, m, err);
    } else {
        /* A request got through: the model is serving again. Only this
         * clears degraded; a request that started earlier and ends later
         * says nothing about a refusal in between. */
        if (m->last_failed)
            health_changed(mgr);
        m->last_failed = false;
    }
    return rc;
}

static int acquire(mm_manager *mgr, const char *name, bool no_fallback,
                   const mm_gen_request *req, mgr_lease *lease, mm_error *err);

int mgr_acquire(mm_manager *mgr, const char *name, bool no_fallback, mgr_lease *lease,
                mm_error *err)
{
    return acquire(mgr, name, no_fallback, NULL, lease, err);
}

int mgr_acquire_for(mm_manager *mgr, const char *name, const mm_gen_request *req,
                    mgr_lease *lease, mm_error *err)
{
    return acquire(mgr, name, req && req->no_fallback, req, lease, err);
}

static int acquire(mm_manager *mgr, const char *name, bool no_fallback,
                   const mm_gen_request *req, mgr_lease *lease, mm_error *err)
{
    memset(lease, 0, sizeof *lease);
    pthread_mutex_lock(&mgr->lock);
    const char *def = mgr->default_key;
    bool named = name && name[0];
    rt_model *m = named ? mgr_find(mgr, name) : mgr_find(mgr, def);
    int rc;
    mm_error first = { 0 };
    if (!m) {
        if (named)
            mm_error_set(&first, MM_ENOTFOUND, "no model '%s' in the catalog", name);
        else
            mm_error_set(&first, MM_ENOTFOUND, "no model is available (see 'modelmgr list')");
        rc = MM_ENOTFOUND;
    } else {
        rc = acquire_locked(mgr, m, req, &lease->inst, &first);
    }
    /* Busy is a capacity answer, not a broken model: no fallback. */
    if (rc != 0 && rc != MM_EBUSY && named && !no_fallback && def &&
        (!m || strcmp(m->key, def) != 0)) {
        rt_model *d = mgr_find(mgr, def);
        if (d) {
            mm_error second = { 0 };
            int rc2 = acquire_locked(mgr, d, req, &lease->inst, &second);
            if (rc2 == 0) {
                lease->fell_back = true;
                snprintf(lease->note, sizeof lease->note, "%.380s; using the default model '%s'",
                         first.message, d->key);
                MM_LOG_WARN("%s", lease->note);
                m = d;
                rc = 0;
            } else {
                char why[MM_ERROR_MSG_MAX];
                mm_strlcpy(why, first.message, sizeof why);
                mm_error_set(&first, rc2, "%.200s; the default model '%s' failed too: %.200s",
                             why, d->key, second.message);
                rc = rc2 == MM_EBUSY ? MM_EBUSY : rc;
            }
        }
    }
    if (rc == 0) {
        lease->model = m;
        mm_strlcpy(lease->key, m->key, sizeof lease->key);
    } else if (err) {
        *err = first;
        err->code = rc;
    }
    pthread_mutex_unlock(&mgr->lock);
    return rc;
}

void mgr_release(mm_manager *mgr, mgr_lease *lease, bool failed, const mm_error *why)
{
    rt_model *m = lease->model;
    if (!m)
        return;
    rt_pool_release(m->pool, lease->inst);
    pthread_mutex_lock(&mgr->lock);
    m->in_use--;
    m->last_used_ms = mgr_now(mgr);
    m->last_used_wall_s = mm_wall_ms() / 1000;
    if (failed)
        record_failure(mgr, m, why);
    if (m->keep_alive_set && m->keep_alive_ms == 0 && m->in_use == 0 && m->state == RT_LOADED)
        unload_locked(mgr, m, "keep_alive 0");
    pthread_mutex_unlock(&mgr->lock);
    lease->model = NULL;
    lease->inst = NULL;
}

/* The idle time after which m is unloaded; <= 0: never for idleness. */
static int64_t idle_limit(const mm_manager *mgr, const rt_model *m)
{
    return m->keep_alive_set ? m->keep_alive_ms : mgr->idle_timeout_ms;
}

int rt_manager_reap(mm_manager *mgr)
{
    int n = 0;
    pthread_mutex_lock(&mgr->lock);
    int64_t now = mgr_now(mgr);
    for (size_t i = 0; i < mgr->n_models; i++) {
        rt_model *m = mgr->models[i];
        int64_t limit = idle_limit(mgr, m);
        bool unused_now = m->keep_alive_set && m->keep_alive_ms == 0;
        if (m->state == RT_LOADED && m->in_use == 0 &&
            (unused_now || (limit > 0 && now - m->last_used_ms >= limit))) {
            unload_locked(mgr, m, m->keep_alive_set ? "keep_alive elapsed" : "idle timeout");
            n++;
        }
    }
    pthread_mutex_unlock(&mgr->lock);
    return n;
}

/* Wake often enough that a model outlives its timeout (the configured one
 * or a keep_alive) by at most a quarter of it, at least once a minute. Lock
 * held. */
static int64_t reap_period(const mm_manager *mgr)
{
    int64_t shortest = mgr->idle_timeout_ms > 0 ? mgr->idle_timeout_ms : INT64_MAX;
    for (size_t i = 0; i < mgr->n_models; i++) {
        int64_t limit = idle_limit(mgr, mgr->models[i]);
        if (limit > 0 && limit < shortest)
            shortest = limit;
    }
    int64_t period = shortest == INT64_MAX ? 60000 : shortest / 4;
    return period < 1000 ? 1000 : period > 60000 ? 60000 : period;
}

static void *reaper_main(void *arg)
{
    mm_manager *mgr = arg;
    pthread_mutex_lock(&mgr->lock);
    while (!mgr->stopping) {
        timed_wait(&mgr->reaper_cond, &mgr->lock, reap_period(mgr));
        if (mgr->stopping)
            break;
        pthread_mutex_unlock(&mgr->lock);
        rt_manager_reap(mgr);
        pthread_mutex_lock(&mgr->lock);
    }
    pthread_mutex_unlock(&mgr->lock);
    return NULL;
}

int rt_manager_keep_alive(mm_manager *mgr, const char *name, bool set, int64_t ms, mm_error *err)
{
    pthread_mutex_lock(&mgr->lock);
    rt_model *m = mgr_find(mgr, name);
    int rc = 0;
    if (!m) {
        rc = mm_error_set(err, MM_ENOTFOUND, "no model '%s' in the catalog (see 'modelmgr list')",
                          name ? name : "(null)");
    } else {
        m->keep_alive_set = set;
        m->keep_alive_ms = set ? ms : 0;
        /* A shorter limit than the reaper's period: wake it to re-plan. */
        pthread_cond_signal(&mgr->reaper_cond);
    }
    pthread_mutex_unlock(&mgr->lock);
    return rc;
}

int mm_manager_load(mm_manager *mgr, const char *name, mm_error *err)
{
    pthread_mutex_lock(&mgr->lock);
    rt_model *m = mgr_find(mgr, name);
    int rc;
    if (!m) {
        rc = mm_error_set(err, MM_ENOTFOUND, "no model '%s' in the catalog (see 'modelmgr list')",
                          name ? name : "(null)");
    } else {
        /* An explicit load is a deliberate retry: it ignores the back-off. */
        m->retry_at_ms = 0;
        rc = load_locked(mgr, m, err);
        if (rc == 0) {
            if (m->last_failed)
                health_changed(mgr);
            m->last_failed = false;
            m->last_used_ms = mgr_now(mgr);
        }
    }
    pthread_mutex_unlock(&mgr->lock);
    return rc;
}

int mm_manager_unload(mm_manager *mgr, const char *name, mm_error *err)
{
    pthread_mutex_lock(&mgr->lock);
    rt_model *m = mgr_find(mgr, name);
    int rc = 0;
    if (!m)
        rc = mm_error_set(err, MM_ENOTFOUND, "no model '%s' in the catalog (see 'modelmgr list')",
                          name ? name : "(null)");
    else if (m->state == RT_LOADING || m->in_use > 0)
        rc = mm_error_set(err, MM_EBUSY, "model '%s' is %s; retry when its requests are done",
                          m->key, m->state == RT_LOADING ? "loading" : "serving requests");
    else if (m->state == RT_LOADED)
        unload_locked(mgr, m, "unload requested");
    pthread_mutex_unlock(&mgr->lock);
    return rc;
}

/* Take cat's models into the manager (lock held, or not yet shared). The
 * manager keeps cat until close. New keys get a record; a known key that is
 * idle and unloaded takes the new record, so a download shows up. */
static int merge_catalog(mm_manager *mgr, mm_catalog *cat, mm_error *err)
{
    if (mgr->n_cats >= RT_CATALOGS_MAX) {
        mm_catalog_close(cat);
        return mm_error_set(err, MM_ELIMIT, "the catalog was refreshed %d times; restart "
                            "to refresh it again", RT_CATALOGS_MAX);
    }
    mgr->cats[mgr->n_cats++] = cat;
    health_changed(mgr);   /* records may take new infos (a download) or be added */
    size_t n = mm_catalog_count(cat);
    for (size_t i = 0; i < n; i++) {
        const mm_model_info *info = mm_catalog_at(cat, i);
        rt_model *m = mgr_find(mgr, info->key);
        if (m) {
            if (m->state == RT_UNLOADED && m->in_use == 0) {
                m->info = info;
                m->key = info->key;
            }
            continue;
        }
        if (mgr->n_models >= RT_MODELS_MAX) {
            MM_LOG_WARN("the catalog has more than %u models; '%s' and later ones are not "
                        "managed", RT_MODELS_MAX, info->key);
            break;
        }
        if (mgr->n_models == mgr->cap_models) {
            size_t cap = mgr->cap_models ? mgr->cap_models * 2 : 16;
            rt_model **grown = realloc(mgr->models, cap * sizeof *grown);
            if (!grown)
                return mm_error_set(err, MM_ENOMEM, "out of memory");
            mgr->models = grown;
            mgr->cap_models = cap;
        }
        m = calloc(1, sizeof *m);
        if (!m)
            return mm_error_set(err, MM_ENOMEM, "out of memory");
        m->info = info;
        m->key = info->key;
        mgr->models[mgr->n_models++] = m;
    }
    bool fallback = false;
    const mm_model_info *def = mm_catalog_default(cat, &fallback);
    if (def) {
        if (fallback && strcmp(mgr->default_key, def->key) != 0)
            MM_LOG_WARN("the configured default model '%s' is not in the catalog; using '%s'",
                        mgr->cfg->default_model ? mgr->cfg->default_model : "", def->key);
        mm_strlcpy(mgr->default_key, def->key, sizeof mgr->default_key);
    }
    return 0;
}

int rt_manager_refresh(mm_manager *mgr, mm_error *err)
{
    mm_catalog *cat = NULL;
    int rc = mm_catalog_open(mgr->cfg, &cat, err);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&mgr->lock);
    rc = merge_catalog(mgr, cat, err);
    pthread_mutex_unlock(&mgr->lock);
    return rc;
}

const mm_catalog *rt_manager_catalog(mm_manager *mgr, size_t *generation)
{
    pthread_mutex_lock(&mgr->lock);
    const mm_catalog *cat = mgr->n_cats ? mgr->cats[mgr->n_cats - 1] : NULL;
    *generation = mgr->n_cats;
    pthread_mutex_unlock(&mgr->lock);
    return cat;
}

static void log_no_models(const mm_config *cfg)
{
    MM_LOG_ERROR("No models available at all!");
    MM_LOG_ERROR("  1. list models in %s, one a line (e.g. "
                 "Qwen/Qwen2.5-0.5B-Instruct-GGUF@main:qwen2.5-0.5b-instruct-q4_k_m.gguf), "
                 "then run 'modelmgr pull'", cfg->models_file ? cfg->models_file : "models.txt");
    MM_LOG_ERROR("  2. put a .gguf file in %s", cfg->models_dir ? cfg->models_dir : "./models");
    MM_LOG_ERROR("  3. unset SKIP_MODEL_DOWNLOADS (and HF_HUB_OFFLINE) so the minimal models "
                 "are downloaded at start-up");
}

static size_t count_available(const mm_manager *mgr)
{
    size_t n = 0;
    for (size_t i = 0; i < mgr->n_models; i++)
        if (mgr->models[i]->info->state == MM_MODEL_AVAILABLE)
            n++;
    return n;
}

int rt_manager_open(const mm_config *cfg, const rt_options *opts, mm_manager **out,
                    mm_error *err)
{
    *out = NULL;
    rt_options none = { .queue_timeout_ms = -1 };
    if (!opts)
        opts = &none;
    mm_manager *mgr = calloc(1, sizeof *mgr);
    if (!mgr)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    pthread_mutex_init(&mgr->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&mgr->changed, &attr);
    pthread_cond_init(&mgr->reaper_cond, &attr);
    pthread_condattr_destroy(&attr);
    mgr->cfg = cfg;
    if (opts->factory) {
        mgr->factory = *opts->factory;
    } else {
        mgr->factory = *rt_factory_engine();
        mgr->factory.user = (void *)cfg;
    }
    mgr->clock = opts->clock;
    mgr->clock_user = opts->clock_user;
    mgr->pool_size = cfg->pool_size >= 1 && cfg->pool_size <= RT_POOL_MAX ? cfg->pool_size : 1;
    mgr->queue_size = cfg->queue_size >= 0 ? cfg->queue_size : 0;
    mgr->queue_timeout_ms = opts->queue_timeout_ms >= 0 ? opts->queue_timeout_ms
                                                        : cfg->queue_timeout_s * 1000;
    mgr->backoff_min_ms = opts->backoff_min_ms > 0 ? opts->backoff_min_ms : RT_BACKOFF_MIN_MS;
    mgr->idle_timeout_ms = cfg->idle_timeout_s * 1000;
    mgr->budget = cfg->memory_budget;
    static const char *const devices[] = { "auto", "cpu", "gpu" };
    rt_device_select(cfg->device >= 0 && cfg->device < 3 ? devices[cfg->device] : "auto",
                     mgr->device, sizeof mgr->device, mgr->device_note, sizeof mgr->device_note);
    if (mgr->device_note[0])
        MM_LOG_WARN("%s", mgr->device_note);

    mm_catalog *cat = NULL;
    int rc = mm_catalog_open(cfg, &cat, err);
    if (rc != 0)
        goto fail;
    rc = merge_catalog(mgr, cat, err);
    if (rc != 0)
        goto fail;
    rc = rt_cache_new(cfg->cache_size > 0 ? (size_t)cfg->cache_size : 0, cfg->cache_ttl_s,
                      opts->clock, opts->clock_user, &mgr->cache, err);
    if (rc != 0)
        goto fail;

    rt_vosk_resolve(cfg, opts->vosk_default, &mgr->vosk);
    mgr->vosk_listed = mgr->vosk.path || mgr->vosk.how;
    if (mgr->vosk.path)
        MM_LOG_INFO("speech model: %s (from %s)", mgr->vosk.path, mgr->vosk.how);
    else if (mgr->vosk.how)
        MM_LOG_WARN("%s", mgr->vosk.error);

    if (count_available(mgr) == 0)
        log_no_models(cfg);

    for (size_t i = 0; i < cfg->n_preload; i++) {
        mm_error perr = { 0 };
        if (mm_manager_load(mgr, cfg->preload[i], &perr) != 0)
            MM_LOG_WARN("preload of '%s' failed: %s", cfg->preload[i], perr.message);
    }

    /* Always: a keep_alive can ask for idle unloading even when
     * idle_timeout is 0. */
    if (!opts->no_reaper) {
        if (pthread_create(&mgr->reaper, NULL, reaper_main, mgr) == 0)
            mgr->reaper_running = true;
        else
            MM_LOG_WARN("cannot start the idle reaper thread (%s); idle models stay loaded",
                        strerror(errno));
    }
    *out = mgr;
    return 0;
fail:
    mm_manager_close(mgr);
    return rc;
}

int mm_manager_open(const mm_config *cfg, mm_manager **out, mm_error *err)
{
    return rt_manager_open(cfg, NULL, out, err);
}

void mm_manager_close(mm_manager *mgr)
{
    if (!mgr)
        return;
    pthread_mutex_lock(&mgr->lock);
    mgr->stopping = true;
    pthread_cond_signal(&mgr->reaper_cond);
    pthread_mutex_unlock(&mgr->lock);
    if (mgr->reaper_running)
        pthread_join(mgr->reaper, NULL);
    rt_downloads_stop(mgr);
    for (size_t i = 0; i < mgr->n_models; i++) {
        if (mgr->models[i]->state == RT_LOADED)
            unload_locked(mgr, mgr->models[i], "manager closed");
        free(mgr->models[i]);
    }
    free(mgr->models);
    rt_cache_free(mgr->cache);
    rt_vosk_clear(&mgr->vosk);
    for (size_t i = 0; i < mgr->n_cats; i++)
        mm_catalog_close(mgr->cats[i]);
    pthread_cond_destroy(&mgr->changed);
    pthread_cond_destroy(&mgr->reaper_cond);
    pthread_mutex_destroy(&mgr->lock);
    free(mgr);
}

/* server-route.c - the service `modelmgr serve` runs on: every generation
 * goes through the router (docs/ROUTER.md), whose local models run on the
 * built-in engine and whose remotes are OpenAI-compatible servers. The
 * router follows the manager's catalog: a model downloaded after start is
 * served without a restart. */
#include "server/server.h"
#include "router/router.h"
#include "runtime/runtime.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One router over one catalog. Requests hold a reference, so a rebuild
 * after a catalog refresh never pulls a router from under a request. */
typedef struct route_set {
    mm_router        *r;
    const mm_catalog *cat;     /* borrowed (the manager's or the caller's) */
    size_t            generation;
    int               refs;    /* guarded by route_svc.lock */
} route_set;

/* What the manager's health last told a router (feed_local_health). */
typedef struct health_feed {
    const route_set *set;        /* the router fed, with its generation */
    size_t           generation;
    uint64_t         version;    /* rt_manager_health_version before the list */
    uint64_t         epoch;      /* route_svc.epoch then */
    bool             clean;      /* every local model up, no request queued */
} health_feed;

typedef struct route_svc {
    const mm_config  *cfg;     /* borrowed */
    const mm_catalog *cat;     /* borrowed: used when there is no manager */
    mm_manager       *mgr;     /* borrowed, or NULL */
    backend          *local;   /* the built-in engine's backend, or NULL */
    pthread_mutex_t   lock;    /* guards cur, running, epoch, feed */
    route_set        *cur;
    unsigned          running; /* generations in rs_generate now */
    uint64_t          epoch;   /* bumped when a generation fails or the manager
                                  changes otherwise (server_service.changed) */
    health_feed       feed;
    server_service    fallback; /* list/find/health of the catalog service */
} route_svc;

static void set_free(route_set *s)
{
    if (!s)
        return;
    mm_router_close(s->r);
    free(s);
}

/* A router over cat with the built-in engine behind every local model. */
static int set_new(route_svc *c, const mm_catalog *cat, size_t generation, route_set **out,
                   mm_error *err)
{
    *out = NULL;
    route_set *s = calloc(1, sizeof *s);
    if (!s)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    int rc = mm_router_open(c->cfg, cat, &s->r, err);
    if (rc != 0) {
        free(s);
        return rc;
    }
    for (size_t i = 0; i < s->r->n_profiles; i++) {
        router_profile *p = &s->r->profiles[i];
        if (p->remote)
            continue;
        /* The engine formats a chat with ChatML when a model has no
         * template, so every text model serves chat here. */
        if (p->caps & ROUTER_CAP_COMPLETION)
            p->caps |= ROUTER_CAP_CHAT;
        if (c->local)
            p->backend = c->local;
    }
    s->cat = cat;
    s->generation = generation;
    s->refs = 1;   /* the service's own */
    *out = s;
    return 0;
}

static void set_put(route_svc *c, route_set *s)
{
    pthread_mutex_lock(&c->lock);
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&c->lock);
    if (last)
        set_free(s);
}

/* The current router, rebuilt first when the manager's catalog changed.
 * A failed rebuild keeps the old one (logged). Release with set_put. */
static route_set *set_get(route_svc *c)
{
    const mm_catalog *cat = c->cat;
    size_t generation = 0;
    if (c->mgr) {
        const mm_catalog *now = rt_manager_catalog(c->mgr, &generation);
        if (now)
            cat = now;
    }
    pthread_mutex_lock(&c->lock);
    route_set *old = NULL;
    if (c->cur->generation != generation) {
        route_set *fresh = NULL;
        mm_error err = { 0 };
        if (set_new(c, cat, generation, &fresh, &err) == 0) {
            old = c->cur;
            c->cur = fresh;
            MM_LOG_INFO("the catalog changed: the router now has %zu candidates",
                        fresh->r->n_profiles);
        } else {
            MM_LOG_WARN("cannot rebuild the router after a catalog change: %s", err.message);
            c->cur->generation = generation;   /* no retry per request */
        }
    }
    route_set *s = c->cur;
    s->refs++;
    bool drop_old = old && --old->refs == 0;
    pthread_mutex_unlock(&c->lock);
    if (drop_old)
        set_free(old);
    return s;
}

/* ---- models ---- */

static void fill_remote(const router_profile *p, server_model *out)
{
    memset(out, 0, sizeof *out);
    mm_strlcpy(out->id, p->name, sizeof out->id);
    mm_strlcpy(out->format, "remote", sizeof out->format);
    out->context_length = p->context_length;
}

/* The first remote profile named name, or NULL. */
static const router_profile *find_remote(const mm_router *r, const char *name)
{
    for (size_t i = 0; i < r->n_profiles; i++)
        if (r->profiles[i].remote && strcmp(r->profiles[i].name, name) == 0)
            return &r->profiles[i];
    return NULL;
}

static int rs_list(void *ctx, server_model *out, size_t max, size_t *n_out)
{
    route_svc *c = ctx;
    route_set *s = set_get(c);
    size_t n = 0;
    for (size_t i = 0; i < mm_catalog_count(s->cat) && n < max; i++) {
        const mm_model_info *info = mm_catalog_at(s->cat, i);
        if (info->state == MM_MODEL_AVAILABLE)
            server_model_fill(info, true, &out[n++]);
    }
    size_t n_local = n;
    for (size_t i = 0; i < s->r->n_profiles && n < max; i++) {
        const router_profile *p = &s->r->profiles[i];
        bool seen = false;
        for (size_t k = 0; k < n && !seen; k++)
            seen = strcmp(out[k].id, p->name) == 0;
        if (p->remote && !seen)
            fill_remote(p, &out[n++]);
    }
    set_put(c, s);
    *n_out = n;
    server_models_mark_loaded(c->mgr, out, n_local);
    return 0;
}

static int rs_lookup(route_svc *c, const char *name, bool stat_file, server_model *out,
                     mm_error *err)
{
    if (!name || strcmp(name, "auto") == 0) {
        memset(out, 0, sizeof *out);
        mm_strlcpy(out->id, "auto", sizeof out->id);
        mm_strlcpy(out->format, "router", sizeof out->format);
        return 0;
    }
    route_set *s = set_get(c);
    int rc = 0;
    const mm_model_info *info = mm_catalog_find(s->cat, name);
    const router_profile *remote = info ? NULL : find_remote(s->r, name);
    if (remote)
        fill_remote(remote, out);
    else
        rc = server_model_from_info(info, name, stat_file, out, err);
    set_put(c, s);
    return rc;
}

static int rs_find(void *ctx, const char *name, server_model *out, mm_error *err)
{
    return rs_lookup(ctx, name, true, out, err);
}

static int rs_resolve(void *ctx, const char *name, server_model *out, mm_error *err)
{
    return rs_lookup(ctx, name, false, out, err);
}

/* ---- health ---- */

/* What the server knows about the Hub without contacting it: where it is,
 * whether downloads may run, and when the last update check succeeded
 * (<models_dir>/.last_model_check), and whether the Hub answered the last
 * time this process talked to it. Nothing is probed here: a health request
 * must stay cheap. */
static void add_time(cJSON *o, const char *name, int64_t unix_s)
{
    char when[32];
    time_t t = (time_t)unix_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON_AddStringToObject(o, name, when);
}

static void hub_health(const mm_config *cfg, mm_manager *mgr, cJSON *services)
{
    cJSON *hub = cJSON_AddObjectToObject(services, "hub");
    cJSON_AddStringToObject(hub, "status", "ok");
    cJSON_AddStringToObject(hub, "endpoint", cfg->hf_endpoint ? cfg->hf_endpoint : "");
    cJSON_AddBoolToObject(hub, "offline", cfg->offline);
    cJSON_AddBoolToObject(hub, "downloads", !cfg->offline && !cfg->skip_downloads);
    cJSON_AddNumberToObject(hub, "update_interval_s", (double)cfg->update_interval_s);
    int64_t last = 0;
    bool due = false;
    rt_stamp_state st = rt_stamp_read(cfg->models_dir, cfg->update_interval_s,
                                      (int64_t)time(NULL), &last, &due);
    if (st == RT_STAMP_FRESH || st == RT_STAMP_STALE)
        add_time(hub, "last_update_check", last);
    else
        cJSON_AddNullToObject(hub, "last_update_check");
    cJSON_AddBoolToObject(hub, "update_check_due", due && cfg->update_interval_s > 0);
    /* Reachability as the last contact found it (downloads, update checks,
     * pull jobs); null until this process has talked to the Hub. */
    int64_t when_ms = 0;
    bool reachable = false;
    char why[256];
    if (mgr && rt_hub_contact_get(mgr, &when_ms, &reachable, why, sizeof why)) {
        cJSON_AddBoolToObject(hub, "reachable", reachable);
        add_time(hub, "last_contact", when_ms / 1000);
        if (why[0])
            cJSON_AddStringToObject(hub, "last_error", why);
    } else {
        cJSON_AddNullToObject(hub, "reachable");
        cJSON_AddNullToObject(hub, "last_contact");
    }
}

static void rs_health(void *ctx, cJSON *services)
{
    route_svc *c = ctx;
    if (c->fallback.health)
        c->fallback.health(c->fallback.ctx, services);
    if (c->cfg && !cJSON_GetObjectItemCaseSensitive(services, "hub"))
        hub_health(c->cfg, c->mgr, services);
    route_set *s = set_get(c);
    cJSON *router = cJSON_AddObjectToObject(services, "router");
    cJSON_AddStringToObject(router, "status", "ok");
    cJSON_AddStringToObject(router, "strategy", router_strategy_name(s->r->policy.strategy));
    cJSON *remotes = cJSON_AddObjectToObject(router, "remotes");
    mm_remote_health h;
    for (size_t i = 0; mm_router_remote_health(s->r, i, &h) == 0; i++) {
        cJSON *o = cJSON_AddObjectToObject(remotes, h.name);
        cJSON_AddStringToObject(o, "state", h.state == MM_REMOTE_HEALTHY ? "healthy"
                                : h.state == MM_REMOTE_UNAVAILABLE ? "unavailable" : "unknown");
        if (h.error[0])
            cJSON_AddStringToObject(o, "error", h.error);
    }
    cJSON *each = cJSON_AddArrayToObject(router, "deployments");
    for (size_t i = 0; i < s->r->n_profiles; i++) {
        const router_profile *p = &s->r->profiles[i];
        if (!p->remote && !p->backend)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", p->name);
        cJSON_AddStringToObject(o, "deployment", p->deployment);
        int hv = atomic_load(&p->live.health);
        cJSON_AddStringToObject(o, "health", hv == ROUTER_HEALTH_DOWN ? "down"
                                : hv == ROUTER_HEALTH_DEGRADED ? "degraded" : "up");
        cJSON_AddStringToObject(o, "breaker", router_breaker_state_name(
                                    (router_breaker_state)atomic_load(&p->breaker.state)));
        cJSON_AddNumberToObject(o, "in_flight", atomic_load(&p->live.in_flight));
        cJSON_AddNumberToObject(o, "requests", (double)atomic_load(&p->live.started));
        cJSON_AddItemToArray(each, o);
    }
    set_put(c, s);
}

/* The manager's health of each local model as the router's live figures:
 * an unavailable model (its load failed) is not picked, a degraded one
 * last; queued requests count as load.
 *
 * mm_manager_list builds a row for every model of the catalog, so a
 * generation reuses the last feed of its router when that feed found every
 * local model up with nothing queued and nothing since could have changed
 * that: the manager's health version is the same (no load ended, nothing
 * was unloaded, no request or load failed or recovered, wherever it ran),
 * no generation of this service failed, no other one is running (so none
 * is queued), and the manager was not changed through the admin API.
 * Otherwise (and for POST /api/route) it lists afresh, as every request did
 * before. */
static void feed_local_health(route_svc *c, route_set *s, bool may_reuse)
{
    if (!c->mgr)
        return;
    uint64_t version = rt_manager_health_version(c->mgr);
    pthread_mutex_lock(&c->lock);
    const health_feed *last = &c->feed;
    bool reuse = may_reuse && last->clean && last->set == s &&
                 last->generation == s->generation && last->epoch == c->epoch &&
                 c->running == 1 && last->version == version;
    uint64_t epoch = c->epoch;
    pthread_mutex_unlock(&c->lock);
    if (reuse)
        return;
    mm_model_health *rows = NULL;
    size_t n_rows = 0;
    if (mm_manager_list(c->mgr, &rows, &n_rows, NULL) != 0)
        return;
    bool clean = true;
    for (size_t i = 0; i < n_rows; i++) {
        router_profile *p = router_find(s->r, rows[i].key, "local");
        if (!p)
            continue;
        int h = rows[i].status == MM_HEALTH_UNAVAILABLE ? ROUTER_HEALTH_DOWN
                : rows[i].status == MM_HEALTH_DEGRADED ? ROUTER_HEALTH_DEGRADED
                : ROUTER_HEALTH_UP;
        atomic_store(&p->live.health, h);
        atomic_store(&p->live.queue_len, rows[i].queued);
        clean = clean && h == ROUTER_HEALTH_UP && rows[i].queued == 0;
    }
    free(rows);
    pthread_mutex_lock(&c->lock);
    c->feed = (health_feed){ s, s->generation, version, epoch, clean };
    pthread_mutex_unlock(&c->lock);
}

/* server_service.changed: what a feed saw may be out of date. */
static void rs_changed(void *ctx)
{
    route_svc *c = ctx;
    pthread_mutex_lock(&c->lock);
    c->epoch++;
    pthread_mutex_unlock(&c->lock);
}

/* ---- generation ---- */

/* A validated request in the router's two shapes. Owns msgs and text. */
typedef struct routed {
    backend_message *msgs;
    size_t           n_msgs;
    mm_buf           text;      /* what the complexity signals read */
    router_request   rq;
    backend_request  req;
    const char      *stops[SERVER_STOP_MAX];
} routed;

static int routed_init(routed *o, const server_request *rq, mm_error *err)
{
    memset(o, 0, sizeof *o);
    mm_buf_init(&o->text, ROUTER_SCAN_MAX);
    size_t n = rq->n_messages + (rq->system && rq->prompt ? 2 : 0);
    if (n && !(o->msgs = calloc(n, sizeof *o->msgs)))
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    if (rq->system && rq->prompt) {
        o->msgs[o->n_msgs++] = (backend_message){ "system", rq->system };
        o->msgs[o->n_msgs++] = (backend_message){ "user", rq->prompt };
    }
    for (size_t i = 0; i < rq->n_messages; i++)
        o->msgs[o->n_msgs++] = (backend_message){ server_role_name(rq->messages[i].role),
                                                  rq->messages[i].content };
    /* The signals read at most ROUTER_SCAN_MAX bytes: the rest is cut. */
    for (size_t i = 0; i < o->n_msgs; i++) {
        mm_buf_append(&o->text, o->msgs[i].content, strlen(o->msgs[i].content));
        mm_buf_append(&o->text, "\n", 1);
    }
    if (!o->n_msgs && rq->prompt)
        mm_buf_append(&o->text, rq->prompt, strlen(rq->prompt));
    bool chat = rq->api == SERVER_API_CHAT || rq->api == SERVER_API_OLLAMA_CHAT ||
                o->n_msgs > 0;
    /* No max_tokens: the router assumes its default for the context check,
     * and each backend runs to a stop (the engine to the context end). */
    int64_t max_tokens = rq->max_tokens < 0 ? 0 : rq->max_tokens;
    o->rq = (router_request){
        .text = o->text.data ? o->text.data : "",
        .text_len = o->text.len,
        .max_tokens = max_tokens,
        .n_messages = (int)(o->n_msgs < 1 ? 1 : o->n_msgs),
        .caps = chat ? ROUTER_CAP_CHAT : ROUTER_CAP_COMPLETION,
    };
    for (size_t i = 0; i < rq->n_stop && i < SERVER_STOP_MAX; i++)
        o->stops[i] = rq->stop[i];
    o->req = (backend_request){
        .messages = o->n_msgs ? o->msgs : NULL,
        .n_messages = o->n_msgs,
        .prompt = o->n_msgs ? NULL : rq->prompt,
        .max_tokens = max_tokens,
        .temperature = rq->temperature,
        .stream = rq->stream,
        .top_p = rq->top_p,
        .stop = rq->n_stop ? o->stops : NULL,
        .n_stop = rq->n_stop < SERVER_STOP_MAX ? rq->n_stop : SERVER_STOP_MAX,
        .has_seed = rq->has_seed,
        .seed = rq->seed,
        .presence_penalty = rq->presence_penalty,
        .frequency_penalty = rq->frequency_penalty,
    };
    return 0;
}

static void routed_clear(routed *o)
{
    free(o->msgs);
    mm_buf_free(&o->text);
}

/* The policy of one request: the router's strategy or the one asked for;
 * a named model is served by that model first ("fixed"), then its chain. */
static int request_policy(const mm_router *r, const char *model, const char *strategy,
                          router_policy *out, mm_error *err)
{
    *out = r->policy;
    if (strategy && strategy[0]) {
        router_strategy st;
        if (router_strategy_parse(strategy, &st) != 0)
            return mm_error_set(err, MM_EINVAL, "unknown routing strategy '%.40s' (header "
                                SERVER_STRATEGY_HEADER "): use one of "
                                ROUTER_STRATEGY_CHOICES, strategy);
        out->strategy = st;
    }
    if (model && strcmp(model, "auto") != 0) {
        out->strategy = ROUTER_STRATEGY_FIXED;
        out->fixed_model = model;
    }
    return 0;
}

/* "name@deployment failed: reason; name@deployment" of the attempts so
 * far, on one header line (control bytes become spaces). */
static void format_tried(const mm_router *r, const router_outcome *o, size_t upto, char *out,
                         size_t size)
{
    mm_buf b;
    mm_buf_init(&b, size - 1);
    for (size_t i = 0; i < upto && i < o->n_tried; i++) {
        const router_attempt *at = &o->tried[i];
        const router_profile *p = &r->profiles[at->profile];
        mm_buf_printf(&b, "%s%s@%s", i ? "; " : "", p->name, p->deployment);
        if (at->code != 0 || at->reason[0])
            mm_buf_printf(&b, " failed: %s", at->reason[0] ? at->reason : mm_strerror(at->code));
    }
    mm_strlcpy(out, b.data ? b.data : "", size);
    mm_buf_free(&b);
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
}

/* The server's callback behind the router's: before the first piece, say
 * who answers (the attempt running now) and who failed before it. */
typedef struct piece_relay {
    server_piece_fn    on_piece;
    void              *user;
    const mm_router   *r;
    router_outcome    *outcome;
    server_gen_result *res;
    bool               named;
} piece_relay;

static void name_answerer(piece_relay *pr, size_t attempt)
{
    const router_profile *p = &pr->r->profiles[pr->outcome->tried[attempt].profile];
    mm_strlcpy(pr->res->model, p->name, sizeof pr->res->model);
    /* Others failed first: they, then the one answering. Else no list. */
    if (attempt > 0)
        format_tried(pr->r, pr->outcome, attempt + 1, pr->res->tried, sizeof pr->res->tried);
    pr->named = true;
}

static int relay_piece(const char *piece, size_t len, void *user)
{
    piece_relay *pr = user;
    /* router_run records an attempt before it runs it, on this thread. */
    if (!pr->named && pr->outcome->n_tried)
        name_answerer(pr, pr->outcome->n_tried - 1);
    return pr->on_piece(pr->user, piece, len);
}

/* router_generate, except for a named model that cannot be picked now:
 * where a pick alone would refuse the request, its fallbacks answer. With
 * its circuit open it still heads the chain (router_run records it as
 * skipped, "circuit open"); with its remote down it is left out. */
static int route_run(mm_router *r, const routed *o, const router_policy *policy,
                     piece_relay *pr, bool stream, const atomic_bool *cancel,
                     backend_result *br, router_outcome *outcome, mm_error *err)
{
    memset(br, 0, sizeof *br);
    memset(outcome, 0, sizeof *outcome);
    router_features f;
    router_features_compute(&o->rq, &f);
    int64_t now = mm_now_ms();
    size_t chosen = 0, chain[ROUTER_CHAIN_MAX];
    mm_error pick_err = { 0 };
    int rc = router_pick(policy, &r->state, &f, r->profiles, r->n_profiles, now, &chosen, NULL,
                         &pick_err);
    bool drop_first = false;
    for (size_t i = 0; rc != 0 && policy->strategy == ROUTER_STRATEGY_FIXED &&
                       i < r->n_profiles; i++) {
        router_eval ev;
        router_evaluate(policy, &f, &r->profiles[i], now, &ev);
        if (ev.excluded == ROUTER_EX_BREAKER || ev.excluded == ROUTER_EX_HEALTH) {
            chosen = i;
            drop_first = ev.excluded == ROUTER_EX_HEALTH;
            rc = 0;
        }
    }
    size_t len = rc != 0 ? 0 : router_chain_build(policy, &f, r->profiles, r->n_profiles, chosen,
                                                  r->default_fallbacks, r->n_default_fallbacks,
                                                  r->default_model, now, chain,
                                                  ROUTER_CHAIN_MAX);
    if (drop_first && len > 0) {
        memmove(chain, chain + 1, (len - 1) * sizeof chain[0]);
        len--;
    }
    if (rc == 0 && len == 0)
        return mm_error_set(err, MM_EBUSY, "model '%.128s' is unavailable (its remote is "
                            "down) and no fallback fits the request; retry later",
                            policy->fixed_model);
    if (rc != 0) {
        if (err)
            *err = pick_err;
        return rc;
    }
    return router_run(r->profiles, r->n_profiles, chain, len, &r->retry, NULL, &o->req,
                      stream ? relay_piece : NULL, pr, cancel, br, outcome, err);
}

/* A generation of rs_generate ends; failed: it or an attempt failed, so
 * the manager's health may have changed. */
static void generation_done(route_svc *c, bool failed)
{
    pthread_mutex_lock(&c->lock);
    c->running--;
    if (failed)
        c->epoch++;
    pthread_mutex_unlock(&c->lock);
}

static int rs_generate(void *ctx, const char *model, const server_request *rq,
                       server_piece_fn on_piece, void *user, const atomic_bool *cancel,
                       server_gen_result *res, mm_error *err)
{
    route_svc *c = ctx;
    memset(res, 0, sizeof *res);
    route_set *s = set_get(c);
    if (!c->local && !s->r->n_remotes) {
        set_put(c, s);
        return mm_error_set(err, MM_EUNSUPPORTED, "%s", SERVER_NO_ENGINE_MSG);
    }
    routed o;
    router_policy policy;
    int rc = routed_init(&o, rq, err);
    if (rc == 0)
        rc = request_policy(s->r, model, rq->strategy, &policy, err);
    if (rc != 0) {
        routed_clear(&o);
        set_put(c, s);
        return rc;
    }
    if (c->mgr && model &&
        (rq->api == SERVER_API_OLLAMA_GENERATE || rq->api == SERVER_API_OLLAMA_CHAT)) {
        /* Ollama: each request sets how long its model stays loaded
         * (absent: back to the configured idle timeout). */
        mm_error kerr = { 0 };
        if (rt_manager_keep_alive(c->mgr, model, rq->has_keep_alive, rq->keep_alive_ms,
                                  &kerr) != 0)
            MM_LOG_DEBUG("keep_alive not applied: %s", kerr.message);
    }
    pthread_mutex_lock(&c->lock);
    c->running++;
    pthread_mutex_unlock(&c->lock);
    feed_local_health(c, s, true);
    router_outcome *outcome = calloc(1, sizeof *outcome);
    if (!outcome) {
        generation_done(c, true);
        routed_clear(&o);
        set_put(c, s);
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    }
    piece_relay pr = { on_piece, user, s->r, outcome, res, false };
    backend_result br;
    rc = route_run(s->r, &o, &policy, &pr, rq->stream, cancel, &br, outcome, err);
    if (rc == 0) {
        if (!pr.named)
            name_answerer(&pr, outcome->n_tried - 1);
        if (!rq->stream && br.text_len && on_piece(user, br.text, br.text_len) != 0)
            rc = mm_error_set(err, MM_ECANCELED, "the generation was cancelled");
        res->prompt_tokens = br.prompt_tokens;
        res->completion_tokens = br.completion_tokens;
        res->finish = strcmp(br.finish_reason, "length") == 0 ? SERVER_FINISH_LENGTH
                                                              : SERVER_FINISH_STOP;
        res->prompt_ns = (int64_t)(br.ttft_ms * 1e6);
        res->eval_ns = (int64_t)((br.total_ms - br.ttft_ms) * 1e6);
        if (outcome->n_tried > 1)
            MM_LOG_WARN("request for '%s' answered by '%s' after: %s", model, res->model,
                        res->tried);
    } else {
        if (!pr.named)
            format_tried(s->r, outcome, outcome->n_tried, res->tried, sizeof res->tried);
        /* Models were tried and failed: the fault is upstream (502), not a
         * model the client named wrongly (404) or a refused key (401). */
        if (outcome->n_tried && (rc == MM_ENOTFOUND || rc == MM_EAUTH)) {
            rc = MM_ENET;
            if (err)
                err->code = rc;
        }
    }
    generation_done(c, rc != 0 || outcome->n_tried > 1);
    backend_result_free(&br);
    free(outcome);
    routed_clear(&o);
    set_put(c, s);
    /* No model could be picked at all: the HTTP layer says 503, not 404,
     * when models exist but none may be sent to now. */
    return rc;
}

/* ---- POST /api/route ---- */

static int rs_route(void *ctx, const server_request *rq, const char *strategy, char **json_out,
                    mm_error *err)
{
    route_svc *c = ctx;
    *json_out = NULL;
    route_set *s = set_get(c);
    routed o;
    int rc = routed_init(&o, rq, err);
    if (rc == 0) {
        feed_local_health(c, s, false);
        char caps[64];
        router_caps_format(o.rq.caps, caps, sizeof caps);
        bool named = rq->model && strcmp(rq->model, "auto") != 0;
        mm_route_request req = {
            .prompt = o.rq.text,
            .max_tokens = o.rq.max_tokens,
            .n_messages = o.rq.n_messages,
            .capabilities = caps,
            .strategy = named ? "fixed" : strategy,
            .model = named ? rq->model : NULL,
        };
        rc = mm_router_explain(s->r, &req, true, json_out, err);
    }
    routed_clear(&o);
    set_put(c, s);
    return rc;
}

/* ---- the service ---- */

int server_route_service_new(const mm_config *cfg, const mm_catalog *cat, mm_manager *mgr,
                             server_service *out, mm_error *err)
{
    memset(out, 0, sizeof *out);
    route_svc *c = calloc(1, sizeof *c);
    if (!c)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    c->cfg = cfg;
    c->cat = cat;
    c->mgr = mgr;
    pthread_mutex_init(&c->lock, NULL);
    int rc = server_catalog_service_new(cat, mgr, &c->fallback, err);
    if (rc == 0 && mgr)
        rc = rt_backend_local_open(mgr, &c->local, err);
    size_t generation = 0;
    const mm_catalog *now = mgr ? rt_manager_catalog(mgr, &generation) : NULL;
    if (rc == 0)
        rc = set_new(c, now ? now : cat, generation, &c->cur, err);
    if (rc != 0) {
        out->ctx = c;
        server_route_service_free(out);
        return rc;
    }
    out->ctx = c;
    out->list_models = rs_list;
    out->find_model = rs_find;
    out->resolve_model = rs_resolve;
    out->health = rs_health;
    out->generate = rs_generate;
    out->route = rs_route;
    out->changed = rs_changed;
    return 0;
}

void server_route_service_probe(server_service *svc)
{
    route_svc *c = svc->ctx;
    route_set *s = set_get(c);
    router_probe_all(s->r);
    set_put(c, s);
}

void server_route_service_free(server_service *svc)
{
    if (!svc || !svc->ctx)
        return;
    route_svc *c = svc->ctx;
    if (c->cur)
        set_put(c, c->cur);
    backend_close(c->local);
    server_catalog_service_free(&c->fallback);
    pthread_mutex_destroy(&c->lock);
    free(c);
    memset(svc, 0, sizeof *svc);
}

/* router.c - mm_router: builds one profile per catalog model and per model
 * of each configured remote, applies the `models:` overrides, and opens a
 * backend per remote. The candidates then live for the router's lifetime;
 * only their live figures and breakers change. */
#include "router/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GGUF architectures that produce embeddings, not text. */
static const char *const embedding_archs[] = {
    "bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "t5encoder", NULL
};

static const char *keep(mm_router *r, const char *s, mm_error *err)
{
    if (r->n_owned == r->cap_owned) {
        size_t cap = r->cap_owned ? 2 * r->cap_owned : 32;
        char **grown = realloc(r->owned, cap * sizeof *grown);
        if (!grown)
            goto oom;
        r->owned = grown;
        r->cap_owned = cap;
    }
    char *copy = mm_strdup(s);
    if (!copy)
        goto oom;
    r->owned[r->n_owned++] = copy;
    return copy;
oom:
    mm_error_set(err, MM_ENOMEM, "out of memory building the router");
    return NULL;
}

int router_caps_parse_list(const char *list, unsigned *caps, mm_error *err)
{
    *caps = 0;
    if (!list || !*list) {
        *caps = ROUTER_CAP_CHAT;
        return 0;
    }
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char name[32];
        while (len && (*p == ' '))
            p++, len--;
        while (len && p[len - 1] == ' ')
            len--;
        unsigned bit;
        if (len == 0 || len >= sizeof name) {
            bit = 0;
        } else {
            memcpy(name, p, len);
            name[len] = '\0';
            if (router_cap_parse(name, &bit) != 0)
                bit = 0;
        }
        if (!bit)
            return mm_error_set(err, MM_EINVAL, "unknown capability '%.*s' (expected chat, "
                                "completion, embeddings, tools, json or vision)",
                                (int)(len < 40 ? len : 40), p);
        *caps |= bit;
        p = comma ? comma + 1 : p + strlen(p);
    }
    return 0;
}

int router_request_policy(const mm_router *r, const mm_route_request *req, router_policy *out,
                          mm_error *err)
{
    *out = r->policy;
    if (req && req->strategy && router_strategy_parse(req->strategy, &out->strategy) != 0)
        return mm_error_set(err, MM_EINVAL, "unknown strategy '%.40s' (expected one of %s)",
                            req->strategy, ROUTER_STRATEGY_CHOICES);
    if (req && req->model)
        out->fixed_model = req->model;
    return 0;
}

static const char *unavailable_reason(const mm_model_info *m)
{
    if (m->state == MM_MODEL_NOT_DOWNLOADED)
        return "not downloaded ('modelmgr pull' fetches it)";
    if (m->state == MM_MODEL_INVALID)
        return "unreadable (see 'modelmgr show')";
    if (m->format != MM_FORMAT_GGUF)
        return "not GGUF (the built-in engine runs GGUF models)";
    return NULL;
}

static unsigned caps_from_facts(const mm_model_info *m)
{
    if (!m->has_facts)
        return ROUTER_CAP_CHAT | ROUTER_CAP_COMPLETION;
    for (size_t i = 0; embedding_archs[i]; i++)
        if (strcmp(m->facts.architecture, embedding_archs[i]) == 0)
            return ROUTER_CAP_EMBEDDINGS;
    return ROUTER_CAP_COMPLETION | (m->facts.has_chat_template ? ROUTER_CAP_CHAT : 0);
}

static void init_profile(const mm_config *cfg, router_profile *p, const char *name,
                         const char *deployment)
{
    router_profile_init(p, name, deployment, cfg->router_allowed_fails,
                        cfg->router_fail_window_s * 1000, cfg->router_cooldown_s * 1000);
}

static int add_catalog(mm_router *r, const mm_config *cfg, const mm_catalog *cat, mm_error *err)
{
    for (size_t i = 0; cat && i < mm_catalog_count(cat); i++) {
        const mm_model_info *m = mm_catalog_at(cat, i);
        router_profile *p = &r->profiles[r->n_profiles];
        /* The catalog outlives the router (documented): borrow its key. */
        init_profile(cfg, p, m->key, "local");
        r->n_profiles++;
        p->caps = caps_from_facts(m);
        p->excluded = unavailable_reason(m);
        if (m->has_facts) {
            p->quality_tier = router_tier_from_params(m->facts.n_params);
            if (m->facts.context_length)
                p->context_length = m->facts.context_length;
        }
    }
    return 0;
}

static int add_remotes(mm_router *r, const mm_config *cfg, mm_error *err)
{
    for (size_t i = 0; i < cfg->n_remotes; i++) {
        const mm_remote *rm = &cfg->remotes[i];
        const char *deployment = keep(r, rm->name, err);
        if (!deployment)
            return MM_ENOMEM;
        const char *key = rm->api_key_env ? getenv(rm->api_key_env) : NULL;
        if (rm->api_key_env && (!key || !*key)) {
            MM_LOG_WARN("remote '%s' (%s): environment variable %s is not set; requests go "
                        "without an API key", rm->name, rm->where ? rm->where : "config.yaml",
                        rm->api_key_env);
            key = NULL;
        }
        backend_openai_config bc = {
            .name = rm->name, .base_url = rm->base_url, .api_key = key,
            .connect_timeout_ms = rm->connect_timeout_s * 1000,
            .first_byte_timeout_ms = (rm->first_byte_timeout_s ? rm->first_byte_timeout_s
                                                                : rm->timeout_s) * 1000,
            .total_timeout_ms = rm->timeout_s * 1000,
        };
        int rc = backend_openai_open(&bc, &r->backends[r->n_backends], err);
        if (rc != 0) {
            mm_error_prefix(err, "remote '%s' (%s)", rm->name, rm->where ? rm->where : "config.yaml");
            return rc;
        }
        backend *b = r->backends[r->n_backends++];
        router_remote *state = &r->remotes[i];
        state->name = deployment;
        state->b = b;
        int64_t interval_s = rm->probe_interval_s >= 0 ? rm->probe_interval_s
                                                       : cfg->router_probe_interval_s;
        state->interval_ms = interval_s > 0 ? interval_s * 1000 : 0;
        int64_t connect_ms = rm->connect_timeout_s * 1000;
        state->timeout_ms = connect_ms > 0 && connect_ms < ROUTER_PROBE_TIMEOUT_MS
                                ? connect_ms : ROUTER_PROBE_TIMEOUT_MS;
        for (size_t k = 0; k < rm->n_models; k++) {
            if (r->n_profiles == ROUTER_PROFILES_MAX)
                return mm_error_set(err, MM_ELIMIT, "more than %d candidate models",
                                    ROUTER_PROFILES_MAX);
            const char *name = keep(r, rm->models[k], err);
            if (!name)
                return MM_ENOMEM;
            router_profile *p = &r->profiles[r->n_profiles++];
            init_profile(cfg, p, name, deployment);
            p->remote = true;
            p->caps = ROUTER_CAP_CHAT | ROUTER_CAP_COMPLETION;
            p->quality_tier = ROUTER_REMOTE_TIER_DEFAULT;
            p->context_length = ROUTER_REMOTE_CONTEXT_DEFAULT;
            p->cost_in_per_m = rm->cost_in;
            p->cost_out_per_m = rm->cost_out;
            p->weight = rm->weight > 0 ? rm->weight : 1.0;
            p->backend = b;
            p->remote_state = state;
        }
    }
    return 0;
}

static int apply_override(mm_router *r, const mm_model_override *o, mm_error *err)
{
    unsigned caps = 0;
    for (size_t i = 0; i < o->n_capabilities; i++) {
        unsigned bit;
        if (router_cap_parse(o->capabilities[i], &bit) != 0)
            return mm_error_set(err, MM_ECONFIG, "%s: models: '%s': unknown capability '%.40s' "
                                "(expected chat, completion, embeddings, tools, json or vision)",
                                o->where, o->name, o->capabilities[i]);
        caps |= bit;
    }
    if (o->n_fallbacks > ROUTER_FALLBACKS_MAX)
        return mm_error_set(err, MM_ECONFIG, "%s: models: '%s': %zu fallbacks, at most %d",
                            o->where, o->name, o->n_fallbacks, ROUTER_FALLBACKS_MAX);
    size_t matched = 0;
    for (size_t i = 0; i < r->n_profiles; i++) {
        router_profile *p = &r->profiles[i];
        if (strcmp(p->name, o->name) != 0)
            continue;
        matched++;
        if (o->n_capabilities)
            p->caps = caps;
        if (o->quality_tier)
            p->quality_tier = o->quality_tier;
        if (o->context_length)
            p->context_length = (uint32_t)(o->context_length > UINT32_MAX ? UINT32_MAX
                                                                          : o->context_length);
        if (o->cost_in >= 0)
            p->cost_in_per_m = o->cost_in;
        if (o->cost_out >= 0)
            p->cost_out_per_m = o->cost_out;
        if (o->weight > 0)
            p->weight = o->weight;
        for (size_t k = 0; k < o->n_fallbacks; k++)
            p->fallbacks[k] = o->fallbacks[k];   /* borrowed from the config copy */
        if (o->n_fallbacks)
            p->n_fallbacks = o->n_fallbacks;
    }
    if (!matched)
        MM_LOG_WARN("%s: models: '%s' matches no catalog model and no remote's model (ignored)",
                    o->where, o->name);
    return 0;
}

/* The probe thread waits on a CLOCK_MONOTONIC condition, so a wall-clock
 * jump neither stalls nor hurries the probes. */
static int init_probe_sync(mm_router *r)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return MM_ENOMEM;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&r->probe_cond, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0)
        return MM_ENOMEM;
    pthread_mutex_init(&r->probe_lock, NULL);
    r->probe_sync_ready = true;
    return 0;
}

int mm_router_open(const mm_config *cfg, const mm_catalog *cat, mm_router **out, mm_error *err)
{
    *out = NULL;
    int rc = MM_ENOMEM;
    mm_router *r = calloc(1, sizeof *r);
    if (!r)
        goto fail;
    size_t n = cat ? mm_catalog_count(cat) : 0;
    for (size_t i = 0; i < cfg->n_remotes; i++)
        n += cfg->remotes[i].n_models;
    if (n > ROUTER_PROFILES_MAX) {
        rc = mm_error_set(err, MM_ELIMIT, "%zu candidate models, at most %d", n,
                          ROUTER_PROFILES_MAX);
        goto fail;
    }
    r->profiles = calloc(n ? n : 1, sizeof *r->profiles);
    r->backends = calloc(cfg->n_remotes ? cfg->n_remotes : 1, sizeof *r->backends);
    r->remotes = calloc(cfg->n_remotes ? cfg->n_remotes : 1, sizeof *r->remotes);
    if (!r->profiles || !r->backends || !r->remotes)
        goto fail;
    for (; r->n_remotes < cfg->n_remotes; r->n_remotes++)
        pthread_mutex_init(&r->remotes[r->n_remotes].lock, NULL);
    if (init_probe_sync(r) != 0)
        goto fail;
    if ((rc = add_catalog(r, cfg, cat, err)) != 0 || (rc = add_remotes(r, cfg, err)) != 0)
        goto fail;
    for (size_t i = 0; i < cfg->n_model_overrides; i++)
        if ((rc = apply_override(r, &cfg->model_overrides[i], err)) != 0)
            goto fail;
    /* Fallback names and the default model are borrowed from cfg, which the
     * caller keeps while the router lives; copy them so it need not. */
    r->default_fallbacks = calloc(cfg->n_router_default_fallbacks + 1, sizeof(char *));
    if (!r->default_fallbacks)
        goto fail;
    for (size_t i = 0; i < cfg->n_router_default_fallbacks; i++)
        if (!(r->default_fallbacks[i] = keep(r, cfg->router_default_fallbacks[i], err)))
            goto fail;
    r->n_default_fallbacks = cfg->n_router_default_fallbacks;
    for (size_t i = 0; i < r->n_profiles; i++)
        for (size_t k = 0; k < r->profiles[i].n_fallbacks; k++)
            if (!(r->profiles[i].fallbacks[k] = keep(r, r->profiles[i].fallbacks[k], err)))
                goto fail;
    if (cfg->default_model && !(r->default_model = keep(r, cfg->default_model, err)))
        goto fail;
    r->policy.strategy = (router_strategy)cfg->router_strategy;
    r->policy.complexity_threshold = cfg->router_complexity_threshold;
    r->policy.quality_floor = cfg->router_quality_floor;
    r->policy.fixed_model = r->default_model;
    r->retry.retries = cfg->router_retries;
    r->retry.backoff_base_ms = cfg->router_backoff_ms;
    r->retry.backoff_max_ms = 30 * cfg->router_backoff_ms;
    if ((rc = router_probe_start(r, err)) != 0)
        goto fail;
    *out = r;
    return 0;
fail:
    if (rc == MM_ENOMEM && (!err || err->code != MM_ENOMEM))
        mm_error_set(err, MM_ENOMEM, "out of memory building the router");
    mm_router_close(r);
    return rc;
}

void mm_router_close(mm_router *r)
{
    if (!r)
        return;
    if (r->probe_sync_ready) {
        router_probe_stop(r);
        pthread_cond_destroy(&r->probe_cond);
        pthread_mutex_destroy(&r->probe_lock);
    }
    for (size_t i = 0; i < r->n_remotes; i++)
        pthread_mutex_destroy(&r->remotes[i].lock);
    free(r->remotes);
    for (size_t i = 0; i < r->n_profiles; i++)
        router_profile_destroy(&r->profiles[i]);
    free(r->profiles);
    for (size_t i = 0; i < r->n_backends; i++)
        backend_close(r->backends[i]);
    free(r->backends);
    for (size_t i = 0; i < r->n_owned; i++)
        free(r->owned[i]);
    free(r->owned);
    free(r->default_fallbacks);
    free(r);
}

router_profile *router_find(mm_router *r, const char *name, const char *deployment)
{
    for (size_t i = 0; r && name && deployment && i < r->n_profiles; i++)
        if (strcmp(r->profiles[i].name, name) == 0 &&
            strcmp(r->profiles[i].deployment, deployment) == 0)
            return &r->profiles[i];
    return NULL;
}

int router_attach_backend(mm_router *r, const char *name, const char *deployment, backend *b)
{
    router_profile *p = router_find(r, name, deployment);
    if (!p)
        return MM_ENOTFOUND;
    p->backend = b;
    return 0;
}

int router_generate(mm_router *r, const router_request *rq, const router_policy *policy,
                    const router_clock *clock, const backend_request *req,
                    backend_token_fn on_token, void *user, const atomic_bool *cancel,
                    backend_result *res, router_outcome *outcome, mm_error *err)
{
    memset(res, 0, sizeof *res);
    memset(outcome, 0, sizeof *outcome);
    if (!clock)
        clock = &router_clock_system;
    if (!policy)
        policy = &r->policy;
    router_features f;
    router_features_compute(rq, &f);
    int64_t now = clock->now_ms(clock->user);
    size_t chosen, chain[ROUTER_CHAIN_MAX];
    int rc = router_pick(policy, &r->state, &f, r->profiles, r->n_profiles, now, &chosen, NULL,
                         err);
    if (rc != 0)
        return rc;
    size_t len = router_chain_build(policy, &f, r->profiles, r->n_profiles, chosen,
                                    r->default_fallbacks, r->n_default_fallbacks,
                                    r->default_model, now, chain, ROUTER_CHAIN_MAX);
    return router_run(r->profiles, r->n_profiles, chain, len, &r->retry, clock, req, on_token,
                      user, cancel, res, outcome, err);
}

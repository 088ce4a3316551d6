/* router-explain.c - mm_router_explain: runs a routing decision and writes
 * down everything that went into it (features, signals, every candidate's
 * figures or exclusion, the choice, the fallback chain) as text or JSON, for
 * `modelmgr route` and for anyone asking "why did it pick that model?". */
#include "router/router.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPLAIN_TEXT_MAX (1024 * 1024)

typedef struct decision {
    router_features f;
    router_policy   policy;
    router_eval    *evals;     /* n_profiles */
    int             rc;
    mm_error        pick_err;
    size_t          chosen;
    size_t          chain[ROUTER_CHAIN_MAX];
    size_t          chain_len;
    mm_remote_health *remotes;  /* n_remotes, a snapshot of the probes */
} decision;

static const char *remote_state_name(mm_remote_state s)
{
    switch (s) {
    case MM_REMOTE_HEALTHY:     return "healthy";
    case MM_REMOTE_UNAVAILABLE: return "unavailable";
    case MM_REMOTE_UNKNOWN:     break;
    }
    return "unknown";
}

/* "never", "probes off" or "4.2 s ago". */
static const char *probe_age(const mm_remote_health *h, char *out, size_t size)
{
    if (h->probe_interval_ms <= 0 && h->last_probe_age_ms < 0)
        snprintf(out, size, "probes off");
    else if (h->last_probe_age_ms < 0)
        snprintf(out, size, "never");
    else
        snprintf(out, size, "%.1f s ago", (double)h->last_probe_age_ms / 1000.0);
    return out;
}

static void text_remotes(mm_buf *b, const mm_router *r, const decision *d)
{
    if (r->n_remotes == 0)
        return;
    char age[48], every[32];
    mm_buf_printf(b, "\nremotes:\n  %-12s %-11s %-8s %-12s %9s  %s\n", "NAME", "HEALTH", "EVERY",
                  "LAST PROBE", "LATENCY", "ERROR");
    for (size_t i = 0; i < r->n_remotes; i++) {
        const mm_remote_health *h = &d->remotes[i];
        if (h->probe_interval_ms > 0)
            snprintf(every, sizeof every, "%llds", (long long)(h->probe_interval_ms / 1000));
        else
            snprintf(every, sizeof every, "off");
        mm_buf_printf(b, "  %-12s %-11s %-8s %-12s %7.0fms  %s\n", h->name,
                      remote_state_name(h->state), every, probe_age(h, age, sizeof age),
                      h->latency_ms, h->error[0] ? h->error : "-");
    }
}

static const char *mode_text(const decision *d, char *out, size_t size)
{
    const router_policy *p = &d->policy;
    switch (p->strategy) {
    case ROUTER_STRATEGY_AUTO:
        if (d->f.complexity < p->complexity_threshold)
            snprintf(out, size, "auto: complexity %.3f < %.2f, so the cheapest capable model "
                     "with quality tier >= %d", d->f.complexity, p->complexity_threshold,
                     p->quality_floor);
        else
            snprintf(out, size, "auto: complexity %.3f >= %.2f, so the best capable model",
                     d->f.complexity, p->complexity_threshold);
        break;
    case ROUTER_STRATEGY_COST:
        snprintf(out, size, "cost: the lowest expected cost");
        break;
    case ROUTER_STRATEGY_LATENCY:
        snprintf(out, size, "latency: the lowest expected time to the last token");
        break;
    case ROUTER_STRATEGY_LEAST_BUSY:
        snprintf(out, size, "least-busy: the fewest requests in flight and queued per weight");
        break;
    case ROUTER_STRATEGY_ROUND_ROBIN:
        snprintf(out, size, "round-robin: each eligible model in turn");
        break;
    case ROUTER_STRATEGY_FIXED:
        snprintf(out, size, "fixed: the model '%s'", p->fixed_model ? p->fixed_model : "");
        break;
    }
    return out;
}

static void text_features(mm_buf *b, const decision *d, size_t text_len)
{
    char caps[96];
    router_caps_format(d->f.caps, caps, sizeof caps);
    mm_buf_printf(b, "request:\n");
    if (d->f.tokens_estimated)
        mm_buf_printf(b, "  prompt tokens:   %lld (estimated from %zu bytes)\n",
                      (long long)d->f.prompt_tokens, text_len);
    else
        mm_buf_printf(b, "  prompt tokens:   %lld\n", (long long)d->f.prompt_tokens);
    mm_buf_printf(b, "  max tokens:      %lld\n", (long long)d->f.max_tokens);
    mm_buf_printf(b, "  needed context:  %lld\n", (long long)d->f.needed_context);
    mm_buf_printf(b, "  capabilities:    %s\n", caps);
    mm_buf_printf(b, "  complexity:      %.3f\n", d->f.complexity);
    mm_buf_printf(b, "    %-10s %6s %7s %13s\n", "signal", "value", "weight", "contribution");
    for (size_t i = 0; i < d->f.n_signals; i++)
        mm_buf_printf(b, "    %-10s %6.3f %7.2f %13.3f\n", router_signals[i].name,
                      d->f.signal_value[i], router_signals[i].weight,
                      d->f.signal_value[i] * router_signals[i].weight);
}

static void text_candidates(mm_buf *b, const mm_router *r, const decision *d)
{
    mm_buf_printf(b, "\ncandidates:\n  %-24s %-12s %4s %8s %10s %10s %6s  %s\n", "MODEL",
                  "DEPLOYMENT", "TIER", "CONTEXT", "COST", "LATENCY", "LOAD", "STATUS");
    for (size_t i = 0; i < r->n_profiles; i++) {
        const router_profile *p = &r->profiles[i];
        const router_eval *e = &d->evals[i];
        char status[192];
        router_exclusion_format(e, p, &d->f, status, sizeof status);
        if (e->excluded == ROUTER_OK_CANDIDATE && d->rc == 0 && i == d->chosen)
            mm_strlcpy(status, "CHOSEN", sizeof status);
        else if (e->excluded == ROUTER_OK_CANDIDATE && d->policy.strategy == ROUTER_STRATEGY_AUTO &&
                 !e->meets_floor)
            mm_strlcpy(status, "eligible (below the quality floor)", sizeof status);
        if (e->excluded != ROUTER_OK_CANDIDATE && e->excluded != ROUTER_EX_NOT_NAMED) {
            char excluded[sizeof status + 16];
            snprintf(excluded, sizeof excluded, "excluded: %s", status);
            mm_strlcpy(status, excluded, sizeof status);
        }
        mm_buf_printf(b, "  %-24s %-12s %4d %8u %10.6f %8.0fms %6.2f  %s\n", p->name,
                      p->deployment, p->quality_tier, p->context_length, e->cost, e->latency_ms,
                      e->load, status);
    }
}

static char *explain_text(const mm_router *r, const decision *d, size_t text_len)
{
    mm_buf b;
    char mode[256];
    mm_buf_init(&b, EXPLAIN_TEXT_MAX);
    text_features(&b, d, text_len);
    mm_buf_printf(&b, "\nstrategy: %s\n", mode_text(d, mode, sizeof mode));
    text_candidates(&b, r, d);
    text_remotes(&b, r, d);
    if (d->rc != 0) {
        mm_buf_printf(&b, "\nchoice: none: %s\n", d->pick_err.message);
    } else {
        const router_profile *c = &r->profiles[d->chosen];
        mm_buf_printf(&b, "\nchoice: %s (%s)\nfallback chain:", c->name, c->deployment);
        for (size_t k = 0; k < d->chain_len; k++)
            mm_buf_printf(&b, "%s %s (%s)", k ? " ->" : "", r->profiles[d->chain[k]].name,
                          r->profiles[d->chain[k]].deployment);
        mm_buf_puts(&b, "\n");
    }
    return b.failed ? (mm_buf_free(&b), NULL) : mm_buf_take(&b);
}

static cJSON *json_profile_ref(const router_profile *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", p->name);
    cJSON_AddStringToObject(o, "deployment", p->deployment);
    return o;
}

static char *explain_json(const mm_router *r, const decision *d)
{
    char caps[96], mode[256], status[192];
    cJSON *root = cJSON_CreateObject();
    cJSON *feat = cJSON_AddObjectToObject(root, "features");
    cJSON_AddNumberToObject(feat, "prompt_tokens", (double)d->f.prompt_tokens);
    cJSON_AddBoolToObject(feat, "tokens_estimated", d->f.tokens_estimated);
    cJSON_AddNumberToObject(feat, "max_tokens", (double)d->f.max_tokens);
    cJSON_AddNumberToObject(feat, "needed_context", (double)d->f.needed_context);
    router_caps_format(d->f.caps, caps, sizeof caps);
    cJSON_AddStringToObject(feat, "capabilities", caps);
    cJSON_AddNumberToObject(feat, "messages", d->f.n_messages);
    cJSON_AddNumberToObject(feat, "complexity", d->f.complexity);
    cJSON *signals = cJSON_AddArrayToObject(feat, "signals");
    for (size_t i = 0; i < d->f.n_signals; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "name", router_signals[i].name);
        cJSON_AddNumberToObject(s, "value", d->f.signal_value[i]);
        cJSON_AddNumberToObject(s, "weight", router_signals[i].weight);
        cJSON_AddNumberToObject(s, "contribution", d->f.signal_value[i] * router_signals[i].weight);
        cJSON_AddItemToArray(signals, s);
    }
    cJSON *strat = cJSON_AddObjectToObject(root, "strategy");
    cJSON_AddStringToObject(strat, "name", router_strategy_name(d->policy.strategy));
    cJSON_AddNumberToObject(strat, "complexity_threshold", d->policy.complexity_threshold);
    cJSON_AddNumberToObject(strat, "quality_floor", d->policy.quality_floor);
    cJSON_AddStringToObject(strat, "why", mode_text(d, mode, sizeof mode));
    cJSON *cands = cJSON_AddArrayToObject(root, "candidates");
    for (size_t i = 0; i < r->n_profiles; i++) {
        const router_profile *p = &r->profiles[i];
        const router_eval *e = &d->evals[i];
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "model", p->name);
        cJSON_AddStringToObject(c, "deployment", p->deployment);
        cJSON_AddBoolToObject(c, "remote", p->remote);
        if (p->remote_state) {
            size_t k = (size_t)(p->remote_state - r->remotes);
            cJSON_AddStringToObject(c, "health", remote_state_name(d->remotes[k].state));
        } else {
            cJSON_AddNullToObject(c, "health");
        }
        router_caps_format(p->caps, caps, sizeof caps);
        cJSON_AddStringToObject(c, "capabilities", caps);
        cJSON_AddNumberToObject(c, "quality_tier", p->quality_tier);
        cJSON_AddNumberToObject(c, "context_length", p->context_length);
        cJSON_AddNumberToObject(c, "cost", e->cost);
        cJSON_AddNumberToObject(c, "latency_ms", e->latency_ms);
        cJSON_AddNumberToObject(c, "load", e->load);
        cJSON_AddBoolToObject(c, "meets_quality_floor", e->meets_floor);
        cJSON_AddStringToObject(c, "circuit", router_breaker_state_name(
            (router_breaker_state)atomic_load(&p->breaker.state)));
        cJSON_AddBoolToObject(c, "eligible", e->excluded == ROUTER_OK_CANDIDATE);
        if (e->excluded == ROUTER_OK_CANDIDATE) {
            cJSON_AddNullToObject(c, "excluded");
        } else {
            router_exclusion_format(e, p, &d->f, status, sizeof status);
            cJSON_AddStringToObject(c, "excluded", status);
        }
        cJSON_AddBoolToObject(c, "chosen", d->rc == 0 && i == d->chosen);
        cJSON_AddItemToArray(cands, c);
    }
    if (d->rc == 0) {
        cJSON_AddItemToObject(root, "choice", json_profile_ref(&r->profiles[d->chosen]));
        cJSON_AddNullToObject(root, "error");
    } else {
        cJSON_AddNullToObject(root, "choice");
        cJSON_AddStringToObject(root, "error", d->pick_err.message);
    }
    cJSON *remotes = cJSON_AddArrayToObject(root, "remotes");
    for (size_t i = 0; i < r->n_remotes; i++) {
        const mm_remote_health *h = &d->remotes[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", h->name);
        cJSON_AddStringToObject(o, "health", remote_state_name(h->state));
        cJSON_AddNumberToObject(o, "probe_interval_s", (double)h->probe_interval_ms / 1000.0);
        if (h->last_probe_age_ms < 0) {
            cJSON_AddNullToObject(o, "last_probe_ms_ago");
            cJSON_AddNullToObject(o, "latency_ms");
            cJSON_AddNullToObject(o, "http_status");
        } else {
            cJSON_AddNumberToObject(o, "last_probe_ms_ago", (double)h->last_probe_age_ms);
            cJSON_AddNumberToObject(o, "latency_ms", h->latency_ms);
            cJSON_AddNumberToObject(o, "http_status", h->http_status);
        }
        if (h->error[0])
            cJSON_AddStringToObject(o, "error", h->error);
        else
            cJSON_AddNullToObject(o, "error");
        cJSON_AddItemToArray(remotes, o);
    }
    cJSON *chain = cJSON_AddArrayToObject(root, "fallback_chain");
    for (size_t k = 0; k < d->chain_len; k++)
        cJSON_AddItemToArray(chain, json_profile_ref(&r->profiles[d->chain[k]]));
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

int mm_router_explain(mm_router *r, const mm_route_request *req, bool json, char **out,
                      mm_error *err)
{
    *out = NULL;
    decision d;
    memset(&d, 0, sizeof d);
    int rc = router_request_policy(r, req, &d.policy, err);
    unsigned caps = 0;
    if (rc == 0)
        rc = router_caps_parse_list(req->capabilities, &caps, err);
    if (rc != 0)
        return rc;
    const char *text = req->prompt ? req->prompt : "";
    router_request rq = { .text = text, .text_len = strlen(text),
                          .prompt_tokens = req->prompt_tokens, .max_tokens = req->max_tokens,
                          .n_messages = req->n_messages > 0 ? req->n_messages : 1, .caps = caps };
    router_features_compute(&rq, &d.f);
    d.evals = calloc(r->n_profiles ? r->n_profiles : 1, sizeof *d.evals);
    d.remotes = calloc(r->n_remotes ? r->n_remotes : 1, sizeof *d.remotes);
    if (!d.evals || !d.remotes) {
        free(d.evals);
        free(d.remotes);
        return mm_error_set(err, MM_ENOMEM, "out of memory explaining a route");
    }
    for (size_t i = 0; i < r->n_remotes; i++)
        mm_router_remote_health(r, i, &d.remotes[i]);
    int64_t now = mm_now_ms();
    d.rc = router_pick(&d.policy, &r->state, &d.f, r->profiles, r->n_profiles, now, &d.chosen,
                       d.evals, &d.pick_err);
    if (d.rc == 0)
        d.chain_len = router_chain_build(&d.policy, &d.f, r->profiles, r->n_profiles, d.chosen,
                                         r->default_fallbacks, r->n_default_fallbacks,
                                         r->default_model, now, d.chain, ROUTER_CHAIN_MAX);
    *out = json ? explain_json(r, &d) : explain_text(r, &d, rq.text_len);
    free(d.evals);
    free(d.remotes);
    if (!*out)
        return mm_error_set(err, MM_ENOMEM, "out of memory explaining a route");
    if (d.rc != 0) {
        if (err)
            *err = d.pick_err;
        return d.rc;
    }
    return 0;
}

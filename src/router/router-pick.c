/* router-pick.c - the strategies: evaluate each profile against a request's
 * features (exclusions first, then cost, expected latency and load) and
 * choose one. A pick allocates nothing and takes no lock; it reads the live
 * figures and breaker states through atomics. */
#include "router/router.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Priors for a model with no latency samples yet. */
#define PRIOR_TTFT_MS       500.0
#define PRIOR_TOKENS_PER_S  20.0

static const char *const strategy_names[ROUTER_N_STRATEGIES] = {
    "auto", "cost", "latency", "least-busy", "round-robin", "fixed"
};

const char *router_strategy_name(router_strategy s)
{
    return (unsigned)s < ROUTER_N_STRATEGIES ? strategy_names[s] : "?";
}

int router_strategy_parse(const char *name, router_strategy *out)
{
    for (int i = 0; name && i < ROUTER_N_STRATEGIES; i++)
        if (strcmp(strategy_names[i], name) == 0) {
            *out = (router_strategy)i;
            return 0;
        }
    return MM_EINVAL;
}

void router_evaluate(const router_policy *policy, const router_features *f,
                     const router_profile *p, int64_t now_ms, router_eval *out)
{
    memset(out, 0, sizeof *out);
    double weight = p->weight > 0.0 ? p->weight : 1.0;
    int in_flight = atomic_load(&p->live.in_flight);
    int queued = atomic_load(&p->live.queue_len);
    double ttft = atomic_load(&p->live.ttft_ms);
    double tps = atomic_load(&p->live.tokens_per_s);
    out->load = (double)(in_flight + queued) / weight;
    out->started = (double)atomic_load(&p->live.started) / weight;
    out->cost = ((double)f->prompt_tokens * p->cost_in_per_m +
                 (double)f->max_tokens * p->cost_out_per_m) / 1e6;
    out->latency_ms = (ttft > 0.0 ? ttft : PRIOR_TTFT_MS) +
                      1000.0 * (double)f->max_tokens / (tps > 0.0 ? tps : PRIOR_TOKENS_PER_S);
    out->meets_floor = p->quality_tier >= policy->quality_floor;
    out->missing_caps = f->caps & ~p->caps;

    if (policy->strategy == ROUTER_STRATEGY_FIXED &&
        (!policy->fixed_model || strcmp(policy->fixed_model, p->name) != 0))
        out->excluded = ROUTER_EX_NOT_NAMED;
    else if (p->excluded)
        out->excluded = ROUTER_EX_UNAVAILABLE;
    else if (out->missing_caps)
        out->excluded = ROUTER_EX_CAPABILITY;
    else if ((int64_t)p->context_length < f->needed_context)
        out->excluded = ROUTER_EX_CONTEXT;
    else if (atomic_load(&p->live.health) == ROUTER_HEALTH_DOWN)
        out->excluded = ROUTER_EX_HEALTH;
    else if (!router_breaker_available(&p->breaker, now_ms))
        out->excluded = ROUTER_EX_BREAKER;
}

void router_exclusion_format(const router_eval *e, const router_profile *p,
                             const router_features *f, char *out, size_t out_size)
{
    char caps[96];
    switch (e->excluded) {
    case ROUTER_OK_CANDIDATE:
        snprintf(out, out_size, "eligible");
        break;
    case ROUTER_EX_UNAVAILABLE:
        snprintf(out, out_size, "%s", p->excluded);
        break;
    case ROUTER_EX_CAPABILITY:
        router_caps_format(e->missing_caps, caps, sizeof caps);
        snprintf(out, out_size, "missing capability %s", caps);
        break;
    case ROUTER_EX_CONTEXT:
        snprintf(out, out_size, "context %u < %lld tokens needed", p->context_length,
                 (long long)f->needed_context);
        break;
    case ROUTER_EX_HEALTH:
        router_health_format(p, out, out_size);
        break;
    case ROUTER_EX_BREAKER:
        snprintf(out, out_size, "circuit open (cooling down)");
        break;
    case ROUTER_EX_NOT_NAMED:
        snprintf(out, out_size, "not the named model");
        break;
    }
}

/* -1, 0, 1 with a relative tolerance: figures computed the same way for two
 * equal profiles must tie so that the next key decides. */
static int cmp_double(double a, double b)
{
    double scale = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    if (fabs(a - b) <= 1e-9 * (scale > 1.0 ? scale : 1.0))
        return 0;
    return a < b ? -1 : 1;
}

static int health_rank(const router_profile *p)
{
    return atomic_load(&p->live.health) == ROUTER_HEALTH_DEGRADED;
}

/* Negative when a is the better pick than b under strategy s (cheap: the
 * auto strategy's low-complexity mode), before the final tie-break. */
static int compare_keys(router_strategy s, bool cheap, const router_profile *pa, const router_eval *a,
                   const router_profile *pb, const router_eval *b)
{
    int c;
    if ((c = health_rank(pa) - health_rank(pb)) != 0)
        return c;
    switch (s) {
    case ROUTER_STRATEGY_AUTO:
        if (cheap) {
            if ((c = cmp_double(a->cost, b->cost)) != 0)
                return c;
        } else if ((c = pb->quality_tier - pa->quality_tier) != 0) {
            return c;
        }
        if ((c = cmp_double(a->load, b->load)) != 0)
            return c;
        if ((c = cmp_double(a->latency_ms, b->latency_ms)) != 0)
            return c;
        return cmp_double(a->cost, b->cost);
    case ROUTER_STRATEGY_COST:
        if ((c = cmp_double(a->cost, b->cost)) != 0)
            return c;
        if ((c = cmp_double(a->load, b->load)) != 0)
            return c;
        return cmp_double(a->latency_ms, b->latency_ms);
    case ROUTER_STRATEGY_LATENCY:
        if ((c = cmp_double(a->latency_ms, b->latency_ms)) != 0)
            return c;
        if ((c = cmp_double(a->load, b->load)) != 0)
            return c;
        return cmp_double(a->cost, b->cost);
    case ROUTER_STRATEGY_FIXED:
        /* The deployments of one model: spread by load, then by requests
         * sent, so that equal deployments share even sequential traffic. */
        if ((c = cmp_double(a->load, b->load)) != 0)
            return c;
        if ((c = cmp_double(a->started, b->started)) != 0)
            return c;
        if ((c = cmp_double(a->latency_ms, b->latency_ms)) != 0)
            return c;
        return cmp_double(a->cost, b->cost);
    case ROUTER_STRATEGY_LEAST_BUSY:
    case ROUTER_STRATEGY_ROUND_ROBIN:
        if ((c = cmp_double(a->load, b->load)) != 0)
            return c;
        if ((c = cmp_double(a->latency_ms, b->latency_ms)) != 0)
            return c;
        return cmp_double(a->cost, b->cost);
    }
    return 0;
}

static int compare(router_strategy s, bool cheap, const router_profile *pa, const router_eval *a,
                   const router_profile *pb, const router_eval *b)
{
    int c = compare_keys(s, cheap, pa, a, pb, b);
    return c ? c : cmp_double(a->started, b->started);
}

/* What a pick works over. evals is the caller's array (filled first) or
 * NULL, in which case each candidate is evaluated where it is looked at:
 * a pick never allocates, so there is no array of its own to fill. */
typedef struct pick_ctx {
    const router_policy   *policy;
    const router_features *f;
    router_profile        *profiles;
    const router_eval     *evals;
    size_t                 n;
    int64_t                now_ms;
} pick_ctx;

static const router_eval *eval_of(const pick_ctx *c, size_t i, router_eval *tmp)
{
    if (c->evals)
        return &c->evals[i];
    router_evaluate(c->policy, c->f, &c->profiles[i], c->now_ms, tmp);
    return tmp;
}

/* Best eligible profile; with need_floor only those meeting the floor.
 * Returns n when there is none. */
static size_t best_of(const pick_ctx *c, bool cheap, bool need_floor)
{
    size_t best = c->n;
    router_eval best_eval = { 0 }, tmp;
    for (size_t i = 0; i < c->n; i++) {
        const router_eval *e = eval_of(c, i, &tmp);
        if (e->excluded != ROUTER_OK_CANDIDATE || (need_floor && !e->meets_floor))
            continue;
        if (best == c->n || compare(c->policy->strategy, cheap, &c->profiles[i], e,
                                    &c->profiles[best], &best_eval) < 0) {
            best = i;
            best_eval = *e;
        }
    }
    return best;
}

/* Say which requirement no model meets. Looks only at profiles that a
 * policy could name (not ROUTER_EX_NOT_NAMED). */
static int explain_none(const pick_ctx *c, mm_error *err)
{
    const router_policy *policy = c->policy;
    const router_features *f = c->f;
    const router_profile *profiles = c->profiles;
    size_t named = 0, available = 0, fits = 0, unreachable = c->n;
    unsigned have_caps = 0;
    uint32_t largest = 0;
    router_eval tmp;
    for (size_t i = 0; i < c->n; i++) {
        const router_eval *e = eval_of(c, i, &tmp);
        if (e->excluded == ROUTER_EX_NOT_NAMED)
            continue;
        named++;
        if (e->excluded == ROUTER_EX_UNAVAILABLE)
            continue;
        available++;
        have_caps |= profiles[i].caps;
        if (profiles[i].context_length > largest)
            largest = profiles[i].context_length;
        if (e->excluded != ROUTER_EX_CAPABILITY && e->excluded != ROUTER_EX_CONTEXT)
            fits++;
        if (e->excluded == ROUTER_EX_HEALTH && profiles[i].remote_state && unreachable == c->n)
            unreachable = i;
    }
    if (c->n == 0)
        return mm_error_set(err, MM_ENOTFOUND, "no models to route to: the catalog is empty "
                            "and no remotes are configured");
    if (named == 0)
        return mm_error_set(err, MM_ENOTFOUND, "no model named '%s' (see 'modelmgr list')",
                            policy->fixed_model ? policy->fixed_model : "");
    if (available == 0)
        return mm_error_set(err, MM_ENOTFOUND, "no model is available: %s",
                            profiles[0].excluded ? profiles[0].excluded : "none is on disk");
    unsigned missing = f->caps & ~have_caps;
    if (missing) {
        char caps[96];
        router_caps_format(missing, caps, sizeof caps);
        return mm_error_set(err, MM_ENOTFOUND, "no model supports %s (required by the request)",
                            caps);
    }
    if ((int64_t)largest < f->needed_context)
        return mm_error_set(err, MM_ENOTFOUND, "no model has a context window of %lld tokens "
                            "(prompt %lld + max_tokens %lld; the largest is %u)",
                            (long long)f->needed_context, (long long)f->prompt_tokens,
                            (long long)f->max_tokens, largest);
    if (fits == 0) {
        char caps[96];
        router_caps_format(f->caps, caps, sizeof caps);
        return mm_error_set(err, MM_ENOTFOUND, "no single model has both the capabilities "
                            "'%s' and a context window of %lld tokens", caps,
                            (long long)f->needed_context);
    }
    if (unreachable < c->n) {
        char why[320];
        router_health_format(&profiles[unreachable], why, sizeof why);
        return mm_error_set(err, MM_EBUSY, "every model that fits the request is unavailable "
                            "(circuit open or health down; %s); retry later", why);
    }
    return mm_error_set(err, MM_EBUSY, "every model that fits the request is unavailable "
                        "(circuit open or health down); retry after the cooldown");
}

/* fixed: the named model cannot hold the request; try its fallbacks in order
 * (the context-window fallback). Returns n when none fits. */
static size_t context_fallback(const pick_ctx *c)
{
    router_policy open_policy = *c->policy;
    open_policy.strategy = ROUTER_STRATEGY_LEAST_BUSY;
    const router_profile *named = NULL;
    router_eval tmp;
    for (size_t i = 0; i < c->n && !named; i++)
        if (eval_of(c, i, &tmp)->excluded == ROUTER_EX_CONTEXT)
            named = &c->profiles[i];
    if (!named)
        return c->n;
    for (size_t k = 0; k < named->n_fallbacks; k++) {
        size_t best = c->n;
        router_eval best_eval = { 0 };
        for (size_t i = 0; i < c->n; i++) {
            if (strcmp(c->profiles[i].name, named->fallbacks[k]) != 0)
                continue;
            /* Its eval says "not named"; judge it as a candidate of its own. */
            router_eval e;
            router_evaluate(&open_policy, c->f, &c->profiles[i], c->now_ms, &e);
            if (e.excluded != ROUTER_OK_CANDIDATE)
                continue;
            if (best == c->n || cmp_double(e.load, best_eval.load) < 0) {
                best = i;
                best_eval = e;
            }
        }
        if (best != c->n)
            return best;
    }
    return c->n;
}

int router_pick(const router_policy *policy, router_state *state, const router_features *f,
                router_profile *profiles, size_t n, int64_t now_ms, size_t *chosen,
                router_eval *evals, mm_error *err)
{
    for (size_t i = 0; evals && i < n; i++)
        router_evaluate(policy, f, &profiles[i], now_ms, &evals[i]);
    pick_ctx c = { policy, f, profiles, evals, n, now_ms };
    router_eval tmp;

    size_t pick = n;
    switch (policy->strategy) {
    case ROUTER_STRATEGY_AUTO:
        if (f->complexity < policy->complexity_threshold)
            pick = best_of(&c, true, true);
        if (pick == n)
            pick = best_of(&c, false, false);
        break;
    case ROUTER_STRATEGY_ROUND_ROBIN: {
        size_t eligible = 0;
        for (size_t i = 0; i < n; i++)
            eligible += eval_of(&c, i, &tmp)->excluded == ROUTER_OK_CANDIDATE;
        if (eligible == 0)
            break;
        size_t k = (size_t)(atomic_fetch_add(&state->rr_next, 1) % eligible);
        for (size_t i = 0; i < n; i++)
            if (eval_of(&c, i, &tmp)->excluded == ROUTER_OK_CANDIDATE && k-- == 0) {
                pick = i;
                break;
            }
        if (pick == n)   /* live figures changed between the two passes */
            pick = best_of(&c, false, false);
        break;
    }
    case ROUTER_STRATEGY_FIXED:
        pick = best_of(&c, false, false);
        if (pick == n)
            pick = context_fallback(&c);
        break;
    default:
        pick = best_of(&c, false, false);
        break;
    }
    if (pick == n)
        return explain_none(&c, err);
    *chosen = pick;
    return 0;
}

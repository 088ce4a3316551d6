/* router-chain.c - the fallback chain of a pick: the chosen profile, then the
 * model's own fallbacks, the configured default fallbacks and the default
 * model, each resolved to its best deployment that can hold the request. */
#include "router/router.h"

#include <string.h>

static bool in_chain(const size_t *chain, size_t len, size_t index)
{
    for (size_t i = 0; i < len; i++)
        if (chain[i] == index)
            return true;
    return false;
}

/* The least-loaded deployment of name that fits f and is not yet in the
 * chain; n when none. */
static size_t best_deployment(const router_features *f, router_profile *profiles, size_t n,
                              const char *name, int64_t now_ms, const size_t *chain, size_t len)
{
    router_policy any = { .strategy = ROUTER_STRATEGY_LEAST_BUSY };
    size_t best = n;
    double best_load = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(profiles[i].name, name) != 0 || in_chain(chain, len, i))
            continue;
        router_eval e;
        router_evaluate(&any, f, &profiles[i], now_ms, &e);
        if (e.excluded != ROUTER_OK_CANDIDATE)
            continue;
        if (best == n || e.load < best_load) {
            best = i;
            best_load = e.load;
        }
    }
    return best;
}

size_t router_chain_build(const router_policy *policy, const router_features *f,
                          router_profile *profiles, size_t n, size_t chosen,
                          const char *const *default_fallbacks, size_t n_default_fallbacks,
                          const char *default_model, int64_t now_ms,
                          size_t *out, size_t max)
{
    size_t len = 0;
    if (max == 0 || chosen >= n)
        return 0;
    out[len++] = chosen;
    const router_profile *first = &profiles[chosen];

    /* Names in order; a name may have several deployments, and once the
     * chosen one failed its sibling deployments are the cheapest retry. */
    const char *names[1 + ROUTER_FALLBACKS_MAX + ROUTER_CHAIN_MAX + 1];
    size_t n_names = 0;
    names[n_names++] = first->name;
    for (size_t i = 0; i < first->n_fallbacks; i++)
        names[n_names++] = first->fallbacks[i];
    for (size_t i = 0; i < n_default_fallbacks && i < ROUTER_CHAIN_MAX; i++)
        names[n_names++] = default_fallbacks[i];
    if (default_model)
        names[n_names++] = default_model;

    for (size_t k = 0; k < n_names && len < max; k++) {
        if (!names[k])
            continue;
        size_t next;
        while (len < max &&
               (next = best_deployment(f, profiles, n, names[k], now_ms, out, len)) != n)
            out[len++] = next;
    }
    (void)policy;
    return len;
}

/* router-profile.c - model profiles, their live figures and the per-deployment
 * circuit breaker. The breaker's state is an atomic so that a pick can read
 * it without taking the lock that guards the failure window. */
#include "router/router.h"

#include <string.h>

int router_tier_from_params(uint64_t n_params)
{
    if (n_params == 0 || n_params < 1500000000ull)
        return 1;
    if (n_params < 4000000000ull)
        return 2;
    if (n_params < 10000000000ull)
        return 3;
    if (n_params < 40000000000ull)
        return 4;
    return 5;
}

void router_live_observe(router_live *live, double ttft_ms, double tokens_per_s)
{
    /* Two writers may interleave; an EWMA that loses one sample is fine. */
    double old_ttft = atomic_load(&live->ttft_ms);
    double old_tps = atomic_load(&live->tokens_per_s);
    /* 0 means "no sample yet"; a real 0 ms (a cached answer) is kept as
     * a microsecond so that it is not mistaken for that. */
    if (ttft_ms >= 0.0) {
        double sample = ttft_ms > 0.001 ? ttft_ms : 0.001;
        atomic_store(&live->ttft_ms, old_ttft > 0.0
                     ? old_ttft + ROUTER_EWMA_ALPHA * (sample - old_ttft) : sample);
    }
    if (tokens_per_s > 0.0)
        atomic_store(&live->tokens_per_s, old_tps > 0.0
                     ? old_tps + ROUTER_EWMA_ALPHA * (tokens_per_s - old_tps) : tokens_per_s);
}

const char *router_breaker_state_name(router_breaker_state s)
{
    switch (s) {
    case ROUTER_BREAKER_CLOSED:    return "closed";
    case ROUTER_BREAKER_OPEN:      return "open";
    case ROUTER_BREAKER_HALF_OPEN: return "half-open";
    }
    return "?";
}

void router_breaker_init(router_breaker *b, int allowed_fails, int64_t window_ms,
                         int64_t cooldown_ms)
{
    memset(b, 0, sizeof *b);
    pthread_mutex_init(&b->lock, NULL);
    if (allowed_fails < 1)
        allowed_fails = 1;
    if (allowed_fails > ROUTER_BREAKER_FAILS_MAX)
        allowed_fails = ROUTER_BREAKER_FAILS_MAX;
    b->allowed_fails = allowed_fails;
    b->window_ms = window_ms > 0 ? window_ms : 1;
    b->cooldown_ms = cooldown_ms > 0 ? cooldown_ms : 0;
    atomic_store(&b->state, ROUTER_BREAKER_CLOSED);
}

void router_breaker_destroy(router_breaker *b)
{
    pthread_mutex_destroy(&b->lock);
}

bool router_breaker_available(const router_breaker *b, int64_t now_ms)
{
    int state = atomic_load(&b->state);
    if (state == ROUTER_BREAKER_CLOSED)
        return true;
    if (state == ROUTER_BREAKER_OPEN)
        return now_ms - atomic_load(&b->opened_ms) >= b->cooldown_ms;
    return false;   /* half-open: its one probe is already out */
}

bool router_breaker_acquire(router_breaker *b, int64_t now_ms)
{
    bool ok = false;
    pthread_mutex_lock(&b->lock);
    int state = atomic_load(&b->state);
    if (state == ROUTER_BREAKER_CLOSED) {
        ok = true;
    } else if (state == ROUTER_BREAKER_OPEN &&
               now_ms - atomic_load(&b->opened_ms) >= b->cooldown_ms) {
        atomic_store(&b->state, ROUTER_BREAKER_HALF_OPEN);
        b->probe_out = true;
        ok = true;
    }
    pthread_mutex_unlock(&b->lock);
    return ok;
}

static void breaker_open(router_breaker *b, int64_t now_ms)
{
    atomic_store(&b->opened_ms, now_ms);
    atomic_store(&b->state, ROUTER_BREAKER_OPEN);
    b->n_fails = 0;
    b->fail_head = 0;
    b->probe_out = false;
}

void router_breaker_record(router_breaker *b, bool ok, int64_t now_ms)
{
    pthread_mutex_lock(&b->lock);
    int state = atomic_load(&b->state);
    if (state == ROUTER_BREAKER_HALF_OPEN) {
        if (ok) {
            b->n_fails = 0;
            b->fail_head = 0;
            b->probe_out = false;
            atomic_store(&b->state, ROUTER_BREAKER_CLOSED);
        } else {
            breaker_open(b, now_ms);
        }
    } else if (state == ROUTER_BREAKER_CLOSED && !ok) {
        b->fail_ms[b->fail_head] = now_ms;
        b->fail_head = (b->fail_head + 1) % ROUTER_BREAKER_FAILS_MAX;
        if (b->n_fails < ROUTER_BREAKER_FAILS_MAX)
            b->n_fails++;
        int recent = 0;
        for (int i = 0; i < b->n_fails; i++)
            recent += now_ms - b->fail_ms[i] < b->window_ms;
        if (recent >= b->allowed_fails)
            breaker_open(b, now_ms);
    }
    /* A success while closed, or any outcome while open (a request that was
     * sent before it opened), changes nothing. */
    pthread_mutex_unlock(&b->lock);
}

void router_breaker_release(router_breaker *b)
{
    pthread_mutex_lock(&b->lock);
    if (atomic_load(&b->state) == ROUTER_BREAKER_HALF_OPEN) {
        /* opened_ms is unchanged, so the cooldown is still over. */
        b->probe_out = false;
        atomic_store(&b->state, ROUTER_BREAKER_OPEN);
    }
    pthread_mutex_unlock(&b->lock);
}

void router_profile_init(router_profile *p, const char *name, const char *deployment,
                         int allowed_fails, int64_t window_ms, int64_t cooldown_ms)
{
    memset(p, 0, sizeof *p);
    p->name = name;
    p->deployment = deployment;
    p->quality_tier = ROUTER_TIER_MIN;
    p->context_length = ROUTER_CONTEXT_UNKNOWN;
    p->weight = 1.0;
    atomic_store(&p->live.health, ROUTER_HEALTH_UP);
    router_breaker_init(&p->breaker, allowed_fails, window_ms, cooldown_ms);
}

void router_profile_destroy(router_profile *p)
{
    if (p)
        router_breaker_destroy(&p->breaker);
}

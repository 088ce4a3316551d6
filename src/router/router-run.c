/* router-run.c - sends one request down its fallback chain: retries with
 * exponential back-off and jitter on the same deployment, then the next one;
 * keeps the breakers, in-flight counts and latency EWMAs up to date and
 * records what was tried and why it failed. */
#include "router/router.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int64_t system_now(void *user)
{
    return mm_now_ms();
}

static void system_sleep(void *user, int64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

const router_clock router_clock_system = { system_now, system_sleep, NULL };

static uint64_t next_random(uint64_t *seed)
{
    /* xorshift64*: a retry's jitter needs spread, not cryptographic quality. */
    uint64_t x = *seed ? *seed : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *seed = x;
    return x * 0x2545F4914F6CDD1Dull;
}

int64_t router_backoff_ms(const router_retry *retry, int attempt, uint64_t *seed)
{
    int64_t delay = retry->backoff_base_ms > 0 ? retry->backoff_base_ms : 0;
    for (int i = 1; i < attempt && delay < retry->backoff_max_ms; i++)
        delay *= 2;
    if (retry->backoff_max_ms > 0 && delay > retry->backoff_max_ms)
        delay = retry->backoff_max_ms;
    double factor = 0.5 + 0.5 * (double)(next_random(seed) >> 11) / (double)(1ull << 53);
    return (int64_t)((double)delay * factor);
}

/* Counts what reached the client, so a failure after that is not retried. */
typedef struct relay {
    backend_token_fn on_token;
    void  *user;
    size_t delivered;
} relay;

static int relay_token(const char *piece, size_t len, void *user)
{
    relay *r = user;
    r->delivered++;
    return r->on_token ? r->on_token(piece, len, r->user) : 0;
}

static bool cancelled(const atomic_bool *cancel)
{
    return cancel && atomic_load(cancel);
}

/* Tries on one profile; returns 0, or the last error (message in err). */
static int try_profile(router_profile *p, router_attempt *at, const router_retry *retry,
                       const router_clock *clock, uint64_t *seed, const backend_request *req,
                       relay *rl, const atomic_bool *cancel, backend_result *res, mm_error *err)
{
    backend *b = p->backend;
    backend_request mine = *req;
    mine.model = p->name;
    int rc = MM_EINTERNAL;
    for (int attempt = 0; attempt <= retry->retries; attempt++) {
        if (attempt > 0)
            clock->sleep_ms(clock->user, router_backoff_ms(retry, attempt, seed));
        if (cancelled(cancel))
            return mm_error_set(err, MM_ECANCELED, "the request was cancelled");
        int64_t now = clock->now_ms(clock->user);
        if (!router_breaker_acquire(&p->breaker, now)) {
            if (at->tries == 0)
                snprintf(at->reason, sizeof at->reason, "circuit open (cooling down)");
            return mm_error_set(err, MM_EBUSY, "%s: circuit open", p->name);
        }
        at->tries++;
        atomic_fetch_add(&p->live.started, 1);
        atomic_fetch_add(&p->live.in_flight, 1);
        mm_error one = { 0 };
        backend_result_free(res);
        rc = b->ops->generate(b, &mine, rl->on_token || req->stream ? relay_token : NULL, rl,
                              cancel, res, &one);
        atomic_fetch_sub(&p->live.in_flight, 1);
        now = clock->now_ms(clock->user);
        if (rc == 0) {
            router_breaker_record(&p->breaker, true, now);
            double gen_ms = res->total_ms - res->ttft_ms;
            double tps = gen_ms > 0.0 && res->completion_tokens > 0
                         ? (double)res->completion_tokens * 1000.0 / gen_ms : 0.0;
            router_live_observe(&p->live, res->ttft_ms, tps);
            at->code = 0;
            at->reason[0] = '\0';
            return 0;
        }
        /* A cancel or a bad request says nothing about the deployment. */
        if (rc != MM_ECANCELED && rc != MM_EINVAL)
            router_breaker_record(&p->breaker, false, now);
        else
            router_breaker_release(&p->breaker);
        at->code = rc;
        mm_strlcpy(at->reason, one.message[0] ? one.message : mm_strerror(rc),
                   sizeof at->reason);
        mm_redact_secrets(at->reason);
        mm_error_set(err, rc, "%s", at->reason);
        MM_LOG_WARN("router: %s (%s) failed, try %d: %s", p->name, p->deployment, at->tries,
                    at->reason);
        if (rl->delivered > 0 || !backend_retryable(b, rc))
            return rc;
    }
    return rc;
}

int router_run(router_profile *profiles, size_t n, const size_t *chain, size_t chain_len,
               const router_retry *retry, const router_clock *clock,
               const backend_request *req, backend_token_fn on_token, void *user,
               const atomic_bool *cancel, backend_result *res, router_outcome *outcome,
               mm_error *err)
{
    memset(outcome, 0, sizeof *outcome);
    memset(res, 0, sizeof *res);
    if (!clock)
        clock = &router_clock_system;
    uint64_t seed = retry->jitter_seed ? retry->jitter_seed
                                       : (uint64_t)clock->now_ms(clock->user) | 1;
    relay rl = { on_token, user, 0 };
    int rc = mm_error_set(err, MM_ENOTFOUND, "no model to send the request to");
    for (size_t k = 0; k < chain_len && k < ROUTER_CHAIN_MAX; k++) {
        if (chain[k] >= n)
            continue;
        router_profile *p = &profiles[chain[k]];
        router_attempt *at = &outcome->tried[outcome->n_tried++];
        at->profile = chain[k];
        if (!p->backend) {
            at->code = MM_EUNSUPPORTED;
            snprintf(at->reason, sizeof at->reason, "no backend can run it");
            rc = mm_error_set(err, MM_EUNSUPPORTED, "%s: no backend can run it", p->name);
            continue;
        }
        rc = try_profile(p, at, retry, clock, &seed, req, &rl, cancel, res, err);
        if (rc == 0) {
            outcome->answered = true;
            outcome->answered_by = chain[k];
            res->pieces_delivered = rl.delivered;
            return 0;
        }
        if (!at->code)
            at->code = rc;
        if (rl.delivered > 0 || !backend_error_fallback(rc))
            break;
    }
    backend_result_free(res);
    if (outcome->n_tried > 1 && rc != MM_ECANCELED)
        mm_error_prefix(err, "all %zu models in the fallback chain failed; last", outcome->n_tried);
    return rc;
}

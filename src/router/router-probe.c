/* router-probe.c - periodic health probes of the configured remotes: one
 * thread per router asks each remote for its model list (backend_openai_probe)
 * every probe_interval and publishes healthy/unavailable, which picks honour
 * through the profiles' health. Probes never touch the circuit breakers: a
 * breaker only closes after a real request in its half-open state. */
#include "router/router.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The longest single wait of the thread; it re-reads the schedule after. */
#define PROBE_WAIT_MAX_MS (3600 * 1000)

static void publish(mm_router *r, router_remote *rm, int state)
{
    int health = state == MM_REMOTE_UNAVAILABLE ? ROUTER_HEALTH_DOWN : ROUTER_HEALTH_UP;
    for (size_t i = 0; i < r->n_profiles; i++)
        if (r->profiles[i].remote_state == rm)
            atomic_store(&r->profiles[i].live.health, health);
}

int router_probe_remote(mm_router *r, router_remote *rm, const atomic_bool *cancel)
{
    backend_probe_result res;
    mm_error err = { 0 };
    int rc = backend_openai_probe(rm->b, rm->timeout_ms, cancel, &res, &err);
    if (rc == MM_ECANCELED)
        return rc;   /* says nothing about the remote */
    int state = rc == 0 ? MM_REMOTE_HEALTHY : MM_REMOTE_UNAVAILABLE;
    pthread_mutex_lock(&rm->lock);
    int was = rm->state;
    rm->state = state;
    mm_strlcpy(rm->error, rc == 0 ? "" : err.message, sizeof rm->error);
    rm->last_probe_ms = mm_now_ms();
    rm->latency_ms = res.latency_ms;
    rm->http_status = res.http_status;
    pthread_mutex_unlock(&rm->lock);
    publish(r, rm, state);
    MM_LOG_DEBUG("probe of remote '%s': %s (GET %s, HTTP %d, %.0f ms)", rm->name,
                 rc == 0 ? "healthy" : "unavailable", res.path, res.http_status, res.latency_ms);
    if (state != was && state == MM_REMOTE_UNAVAILABLE)
        MM_LOG_WARN("remote '%s' is unreachable: %s", rm->name, err.message);
    else if (state != was && was == MM_REMOTE_UNAVAILABLE)
        MM_LOG_INFO("remote '%s' is reachable again (GET %s: HTTP %d in %.0f ms)", rm->name,
                    res.path, res.http_status, res.latency_ms);
    return rc;
}

void router_probe_all(mm_router *r)
{
    for (size_t i = 0; i < r->n_remotes; i++)
        if (r->remotes[i].b)
            router_probe_remote(r, &r->remotes[i], &r->probe_stop);
}

void mm_router_probe(mm_router *r)
{
    if (r)
        router_probe_all(r);
}

static void deadline(int64_t wait_ms, struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(wait_ms / 1000);
    ts->tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *probe_main(void *arg)
{
    mm_router *r = arg;
    while (!atomic_load(&r->probe_stop)) {
        int64_t now = mm_now_ms(), next = now + PROBE_WAIT_MAX_MS;
        for (size_t i = 0; i < r->n_remotes && !atomic_load(&r->probe_stop); i++) {
            router_remote *rm = &r->remotes[i];
            if (!rm->b || rm->interval_ms <= 0)
                continue;
            if (rm->next_ms <= now) {
                router_probe_remote(r, rm, &r->probe_stop);
                now = mm_now_ms();
                rm->next_ms = now + rm->interval_ms;
            }
            if (rm->next_ms < next)
                next = rm->next_ms;
        }
        pthread_mutex_lock(&r->probe_lock);
        if (!atomic_load(&r->probe_stop) && next > now) {
            struct timespec ts;
            deadline(next - now, &ts);
            pthread_cond_timedwait(&r->probe_cond, &r->probe_lock, &ts);
        }
        pthread_mutex_unlock(&r->probe_lock);
    }
    return NULL;
}

int router_probe_start(mm_router *r, mm_error *err)
{
    if (r->probe_running || !r->probe_sync_ready)
        return 0;
    bool any = false;
    int64_t now = mm_now_ms();
    for (size_t i = 0; i < r->n_remotes; i++) {
        r->remotes[i].next_ms = now + r->remotes[i].interval_ms;
        any = any || (r->remotes[i].b && r->remotes[i].interval_ms > 0);
    }
    if (!any)
        return 0;
    atomic_store(&r->probe_stop, false);
    int rc = pthread_create(&r->probe_thread, NULL, probe_main, r);
    if (rc != 0)
        return mm_error_set(err, rc == EAGAIN ? MM_ENOMEM : MM_EIO,
                            "cannot start the thread that probes remotes: %s", strerror(rc));
    r->probe_running = true;
    return 0;
}

void router_probe_stop(mm_router *r)
{
    if (!r->probe_running)
        return;
    pthread_mutex_lock(&r->probe_lock);
    atomic_store(&r->probe_stop, true);
    pthread_cond_broadcast(&r->probe_cond);
    pthread_mutex_unlock(&r->probe_lock);
    pthread_join(r->probe_thread, NULL);
    r->probe_running = false;
    atomic_store(&r->probe_stop, false);
}

int router_probe_set_interval_ms(mm_router *r, int64_t interval_ms, mm_error *err)
{
    router_probe_stop(r);
    for (size_t i = 0; i < r->n_remotes; i++)
        r->remotes[i].interval_ms = interval_ms > 0 ? interval_ms : 0;
    return router_probe_start(r, err);
}

void router_health_format(const router_profile *p, char *out, size_t out_size)
{
    router_remote *rm = p->remote_state;
    if (!rm) {
        snprintf(out, out_size, "health: down");
        return;
    }
    pthread_mutex_lock(&rm->lock);
    if (rm->state == MM_REMOTE_UNAVAILABLE)
        snprintf(out, out_size, "remote %s is unreachable: %s", rm->name, rm->error);
    else
        snprintf(out, out_size, "health: down");
    pthread_mutex_unlock(&rm->lock);
}

int mm_router_remote_health(mm_router *r, size_t i, mm_remote_health *out)
{
    memset(out, 0, sizeof *out);
    if (!r || i >= r->n_remotes)
        return MM_ENOTFOUND;
    router_remote *rm = &r->remotes[i];
    mm_strlcpy(out->name, rm->name, sizeof out->name);
    out->probe_interval_ms = rm->b ? rm->interval_ms : 0;
    pthread_mutex_lock(&rm->lock);
    out->state = (mm_remote_state)rm->state;
    out->last_probe_age_ms = rm->last_probe_ms ? mm_now_ms() - rm->last_probe_ms : -1;
    out->latency_ms = rm->latency_ms;
    out->http_status = rm->http_status;
    mm_strlcpy(out->error, rm->error, sizeof out->error);
    pthread_mutex_unlock(&rm->lock);
    return 0;
}

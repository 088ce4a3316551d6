/* server-metrics.c - request counters, a duration histogram and token
 * totals, rendered as Prometheus text for GET /metrics. Label sets are
 * bounded: routes are fixed, models come only from the service's own ids,
 * and series past the caps are counted under model="other". */
#include "server/server.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERIES_MAX  512
#define ROUTES_MAX  32
#define MODELS_MAX  128
#define LABEL_MAX   128

static const double buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
                                  30, 60, 120, 300 };
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

typedef struct series {
    char     route[32];
    char     model[LABEL_MAX];
    int      status;
    uint64_t count;
} series;

typedef struct histogram {
    char     route[32];
    uint64_t counts[N_BUCKETS];   /* cumulative at render time, per bucket here */
    uint64_t total;
    double   sum;
} histogram;

typedef struct tokens {
    char     model[LABEL_MAX];
    uint64_t in, out, generations;
} tokens;

struct server_metrics {
    pthread_mutex_t mu;
    series    series[SERIES_MAX];
    size_t    n_series;
    histogram hist[ROUTES_MAX];
    size_t    n_hist;
    tokens    tok[MODELS_MAX];
    size_t    n_tok;
};

server_metrics *server_metrics_new(void)
{
    server_metrics *m = calloc(1, sizeof *m);
    if (m)
        pthread_mutex_init(&m->mu, NULL);
    return m;
}

void server_metrics_free(server_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static series *find_series(server_metrics *m, const char *route, const char *model, int status)
{
    for (size_t i = 0; i < m->n_series; i++)
        if (m->series[i].status == status && strcmp(m->series[i].route, route) == 0 &&
            strcmp(m->series[i].model, model) == 0)
            return &m->series[i];
    if (m->n_series == SERIES_MAX)
        return strcmp(model, "other") != 0 ? find_series(m, route, "other", status) : NULL;
    series *s = &m->series[m->n_series++];
    mm_strlcpy(s->route, route, sizeof s->route);
    mm_strlcpy(s->model, model, sizeof s->model);
    s->status = status;
    return s;
}

void server_metrics_record(server_metrics *m, const char *route, const char *model, int status,
                           double seconds)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    /* Reserve the last slots for the "other" overflow series. */
    const char *label = m->n_series < SERIES_MAX - 16 ? model : "other";
    series *s = find_series(m, route, label, status);
    if (s)
        s->count++;
    histogram *h = NULL;
    for (size_t i = 0; i < m->n_hist && !h; i++)
        if (strcmp(m->hist[i].route, route) == 0)
            h = &m->hist[i];
    if (!h && m->n_hist < ROUTES_MAX) {
        h = &m->hist[m->n_hist++];
        mm_strlcpy(h->route, route, sizeof h->route);
    }
    if (h) {
        for (size_t b = 0; b < N_BUCKETS; b++)
            if (seconds <= buckets[b]) {
                h->counts[b]++;
                break;
            }
        h->total++;
        h->sum += seconds;
    }
    pthread_mutex_unlock(&m->mu);
}

void server_metrics_tokens(server_metrics *m, const char *model, int64_t tokens_in,
                           int64_t tokens_out)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    tokens *t = NULL;
    for (size_t i = 0; i < m->n_tok && !t; i++)
        if (strcmp(m->tok[i].model, model) == 0)
            t = &m->tok[i];
    if (!t && m->n_tok < MODELS_MAX) {
        t = &m->tok[m->n_tok++];
        mm_strlcpy(t->model, model, sizeof t->model);
    }
    if (t) {
        t->in += tokens_in > 0 ? (uint64_t)tokens_in : 0;
        t->out += tokens_out > 0 ? (uint64_t)tokens_out : 0;
        t->generations++;
    }
    pthread_mutex_unlock(&m->mu);
}

/* A label value with \, " and newlines escaped as the text format wants. */
static void label(mm_buf *out, const char *value)
{
    for (const char *p = value; *p; p++) {
        if (*p == '\\' || *p == '"')
            mm_buf_printf(out, "\\%c", *p);
        else if (*p == '\n')
            mm_buf_puts(out, "\\n");
        else
            mm_buf_append(out, p, 1);
    }
}

void server_metrics_render(server_metrics *m, unsigned inflight, int64_t uptime_s, mm_buf *out)
{
    pthread_mutex_lock(&m->mu);
    mm_buf_puts(out, "# HELP modelmgr_http_requests_total HTTP requests answered, by route, "
                     "model and status.\n# TYPE modelmgr_http_requests_total counter\n");
    for (size_t i = 0; i < m->n_series; i++) {
        const series *s = &m->series[i];
        mm_buf_printf(out, "modelmgr_http_requests_total{route=\"%s\",model=\"", s->route);
        label(out, s->model);
        mm_buf_printf(out, "\",status=\"%d\"} %llu\n", s->status, (unsigned long long)s->count);
    }
    mm_buf_puts(out, "# HELP modelmgr_http_request_duration_seconds Time from a request's "
                     "first byte to the end of its answer.\n"
                     "# TYPE modelmgr_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < m->n_hist; i++) {
        const histogram *h = &m->hist[i];
        uint64_t cumulative = 0;
        for (size_t b = 0; b < N_BUCKETS; b++) {
            cumulative += h->counts[b];
            mm_buf_printf(out, "modelmgr_http_request_duration_seconds_bucket{route=\"%s\","
                          "le=\"%g\"} %llu\n", h->route, buckets[b],
                          (unsigned long long)cumulative);
        }
        mm_buf_printf(out, "modelmgr_http_request_duration_seconds_bucket{route=\"%s\","
                      "le=\"+Inf\"} %llu\n", h->route, (unsigned long long)h->total);
        mm_buf_printf(out, "modelmgr_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
                      h->route, h->sum);
        mm_buf_printf(out, "modelmgr_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                      h->route, (unsigned long long)h->total);
    }
    static const struct { const char *name, *help; int which; } tok_metrics[] = {
        { "modelmgr_prompt_tokens_total", "Prompt tokens of finished generations.", 0 },
        { "modelmgr_completion_tokens_total", "Tokens generated by finished generations.", 1 },
        { "modelmgr_generations_total", "Generations that finished successfully.", 2 },
    };
    for (size_t k = 0; k < MM_ARRAY_LEN(tok_metrics); k++) {
        mm_buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n", tok_metrics[k].name,
                      tok_metrics[k].help, tok_metrics[k].name);
        for (size_t i = 0; i < m->n_tok; i++) {
            const tokens *t = &m->tok[i];
            uint64_t v = tok_metrics[k].which == 0 ? t->in
                       : tok_metrics[k].which == 1 ? t->out : t->generations;
            mm_buf_printf(out, "%s{model=\"", tok_metrics[k].name);
            label(out, t->model);
            mm_buf_printf(out, "\"} %llu\n", (unsigned long long)v);
        }
    }
    pthread_mutex_unlock(&m->mu);
    mm_buf_printf(out, "# HELP modelmgr_generations_in_flight Generations running now.\n"
                  "# TYPE modelmgr_generations_in_flight gauge\n"
                  "modelmgr_generations_in_flight %u\n", inflight);
    mm_buf_printf(out, "# HELP modelmgr_uptime_seconds Seconds since the server started.\n"
                  "# TYPE modelmgr_uptime_seconds gauge\nmodelmgr_uptime_seconds %lld\n",
                  (long long)uptime_s);
}

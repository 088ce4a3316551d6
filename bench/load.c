/* load.c - load and soak of `modelmgr serve` on a synthesized model: N
 * keep-alive clients send a mix of generated chat requests (a new prompt
 * each: the engine runs) and cached ones (a greedy request repeated) for a
 * bounded count, or for M minutes in soak mode. Reports requests/s, p50/p99
 * per kind, answers by status and the server's RSS before and after.
 * Exits 1 when a request fails other than by the documented 429/503
 * back-pressure, or (soak) when RSS grew past the bound; 2 on bad usage.
 *   bench-load [--clients N] [--requests N | --soak MINUTES]
 *              [--generated-percent P] [--max-tokens N] [--max-rss-growth-mib M] */
#include "core/core.h"
#include "support/loadgen.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KIND_CACHED    0
#define KIND_GENERATED 1
#define WARMUP_REQUESTS 200

typedef struct mix {
    int64_t generated_percent;
    int64_t max_tokens;
    uint64_t seq_offset;      /* so the main run's prompts differ from the warm-up's */
    pid_t   server_pid;
    uint64_t rss_peak;
    int64_t last_report_s;
} mix;

static void make_request(void *user, uint64_t seq, loadgen_req *out)
{
    const mix *m = user;
    seq += m->seq_offset;
    out->method = "POST";
    out->path = "/v1/chat/completions";
    /* Spread the generated ones evenly through the sequence. */
    bool generated = (int64_t)((seq * 37) % 100) < m->generated_percent;
    if (generated) {
        out->kind = KIND_GENERATED;
        snprintf(out->body, sizeof out->body,
                 "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":"
                 "\"load request %llu\"}],\"temperature\":0,\"max_tokens\":%lld}",
                 (unsigned long long)seq, (long long)m->max_tokens);
    } else {
        out->kind = KIND_CACHED;
        snprintf(out->body, sizeof out->body,
                 "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":"
                 "\"the cached question\"}],\"temperature\":0,\"max_tokens\":%lld}",
                 (long long)m->max_tokens);
    }
}

static void on_tick(void *user, uint64_t done, double elapsed_s)
{
    mix *m = user;
    uint64_t rss = loadgen_rss(m->server_pid);
    if (rss > m->rss_peak)
        m->rss_peak = rss;
    if ((int64_t)elapsed_s - m->last_report_s >= 10) {
        m->last_report_s = (int64_t)elapsed_s;
        printf("  %6.0f s: %llu requests, server RSS %.1f MiB\n", elapsed_s,
               (unsigned long long)done, (double)rss / 1048576.0);
        fflush(stdout);
    }
}

static void print_kind(const char *name, const loadgen_stats *s, double elapsed_s)
{
    if (!s->requests)
        return;
    printf("%-10s %9llu %9.1f %9.3f %9.3f %9.3f\n", name, (unsigned long long)s->requests,
           (double)s->requests / elapsed_s, s->p50_ms, s->p99_ms, s->max_ms);
}

static int usage(void)
{
    fprintf(stderr, "usage: bench-load [--clients N] [--requests N | --soak MINUTES] "
                    "[--generated-percent P] [--max-tokens N] [--max-rss-growth-mib M]\n");
    return 2;
}

int main(int argc, char **argv)
{
    int64_t clients = 8, requests = 2000, soak_min = 0, rss_bound_mib = 32;
    mix m = { .generated_percent = 10, .max_tokens = 8 };
    for (int i = 1; i < argc; i++) {
        static const struct { const char *flag; int64_t lo, hi; } flags[] = {
            { "--clients", 1, 1024 }, { "--requests", 1, 100000000 }, { "--soak", 1, 1440 },
            { "--generated-percent", 0, 100 }, { "--max-tokens", 1, 4096 },
            { "--max-rss-growth-mib", 1, 1 << 20 },
        };
        int64_t *dest[] = { &clients, &requests, &soak_min, &m.generated_percent,
                            &m.max_tokens, &rss_bound_mib };
        size_t k = 0;
        for (; k < MM_ARRAY_LEN(flags); k++)
            if (strcmp(argv[i], flags[k].flag) == 0)
                break;
        if (k == MM_ARRAY_LEN(flags) || i + 1 >= argc ||
            mm_parse_i64(argv[i + 1], flags[k].lo, flags[k].hi, dest[k]) != 0) {
            if (k < MM_ARRAY_LEN(flags))
                fprintf(stderr, "bench-load: %s takes a number from %lld to %lld\n",
                        flags[k].flag, (long long)flags[k].lo, (long long)flags[k].hi);
            return usage();
        }
        i++;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char machine[512];
    loadgen_machine(machine, sizeof machine);
    printf("bench/load: %lld clients, %lld%% generated (max_tokens %lld), %s\nmachine: %s\n",
           (long long)clients, (long long)m.generated_percent, (long long)m.max_tokens,
           soak_min ? "soak" : "bounded count", machine);

    loadgen_server srv;
    if (loadgen_server_start(&srv, 0, NULL) != 0) {
        curl_global_cleanup();
        return 1;
    }
    m.server_pid = srv.pid;
    uint64_t rss_start = loadgen_rss(srv.pid);
    /* Load the model and fill the cache before measuring RSS growth. */
    loadgen_options warm = { .base_url = srv.url, .clients = (unsigned)clients,
                             .max_requests = WARMUP_REQUESTS, .make = make_request, .user = &m };
    loadgen_result r;
    int rc = loadgen_run(&warm, &r);
    uint64_t rss_before = loadgen_rss(srv.pid);
    m.rss_peak = rss_before;
    m.seq_offset = WARMUP_REQUESTS;
    if (rc == 0) {
        loadgen_options o = { .base_url = srv.url, .clients = (unsigned)clients,
                              .make = make_request, .user = &m, .tick = on_tick };
        if (soak_min) {
            o.seconds = (double)soak_min * 60.0;
            printf("soak: %lld min, RSS growth bound %lld MiB\n", (long long)soak_min,
                   (long long)rss_bound_mib);
        } else {
            o.max_requests = (uint64_t)requests;
        }
        fflush(stdout);
        rc = loadgen_run(&o, &r);
    }
    uint64_t rss_after = loadgen_rss(srv.pid);
    int stop_status = loadgen_server_stop(&srv);
    curl_global_cleanup();
    if (rc != 0)
        return 1;

    printf("\n%-10s %9s %9s %9s %9s %9s\n", "requests", "count", "req/s", "p50 ms", "p99 ms",
           "max ms");
    print_kind("all", &r.all, r.elapsed_s);
    print_kind("cached", &r.by_kind[KIND_CACHED], r.elapsed_s);
    print_kind("generated", &r.by_kind[KIND_GENERATED], r.elapsed_s);
    printf("elapsed %.1f s; answers by status: ", r.elapsed_s);
    loadgen_print_statuses(&r);
    double growth_mib = ((double)rss_after - (double)rss_before) / 1048576.0;
    printf("server RSS: %.1f MiB at start, %.1f MiB after warm-up, %.1f MiB at the end "
           "(%+.1f MiB), peak %.1f MiB\n", (double)rss_start / 1048576.0,
           (double)rss_before / 1048576.0, (double)rss_after / 1048576.0, growth_mib,
           (double)m.rss_peak / 1048576.0);
    printf("server exit status after SIGTERM: %d\n", stop_status);

    uint64_t failed = r.other_status;
    for (int s = 0; s < LOADGEN_STATUSES; s++)
        if (s != 200 && s != 429 && s != 503)
            failed += r.by_status[s];
    int exit_code = 0;
    if (failed) {
        printf("FAIL: %llu request(s) failed other than by 429/503 back-pressure\n",
               (unsigned long long)failed);
        exit_code = 1;
    }
    if (soak_min && growth_mib > (double)rss_bound_mib) {
        printf("FAIL: server RSS grew %.1f MiB, more than the bound of %lld MiB\n", growth_mib,
               (long long)rss_bound_mib);
        exit_code = 1;
    }
    if (stop_status != 0) {
        printf("FAIL: the server did not exit 0 on SIGTERM\n");
        exit_code = 1;
    }
    if (!exit_code)
        printf("PASS\n");
    return exit_code;
}

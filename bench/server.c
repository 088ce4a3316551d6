/* server.c - benchmark of the HTTP server: requests/s and latency
 * percentiles of GET /api/health and of a cached chat answer (a greedy
 * request repeated, served from the response cache) with 1, 4 and 16
 * concurrent clients on keep-alive connections, against `modelmgr serve`
 * on a synthesized model, with the server's CPU time per request (user +
 * system, all its threads, from /proc: steadier than latency on a shared
 * machine). Prints figures; never fails.
 *   bench-server [--seconds S] [--clients 1,4,16] [--only health|chat] */
#include "core/core.h"
#include "support/httpc.h"
#include "support/loadgen.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLIENT_LEVELS_MAX 8
#define CHAT_BODY "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":" \
                  "\"What is a cache?\"}],\"temperature\":0,\"max_tokens\":16}"

static void make_health(void *user, uint64_t seq, loadgen_req *out)
{
    out->method = "GET";
    out->path = "/api/health";
}

static void make_cached_chat(void *user, uint64_t seq, loadgen_req *out)
{
    out->method = "POST";
    out->path = "/v1/chat/completions";
    mm_strlcpy(out->body, CHAT_BODY, sizeof out->body);
}

/* The response cache's hit counter from detailed health, -1 unknown. */
static double cache_hits(const char *base)
{
    char url[512];
    snprintf(url, sizeof url, "%s/api/health/detailed", base);
    httpc_result r;
    double hits = -1;
    if (httpc_request("GET", url, NULL, NULL, &r) == 200) {
        cJSON *root = cJSON_Parse(r.body);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "services"),
                                             "cache"), "hits");
        if (cJSON_IsNumber(c))
            hits = c->valuedouble;
        cJSON_Delete(root);
    }
    httpc_result_free(&r);
    return hits;
}

/* CPU seconds (user + system, every thread, exited ones too) pid has
 * used, from /proc/PID/stat; -1 unknown. */
static double cpu_seconds(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    /* Fields after the command's closing parenthesis: state is field 3,
     * utime 14 and stime 15. */
    const char *p = strrchr(line, ')');
    unsigned long long utime = 0, stime = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                     &utime, &stime) != 2)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    return hz > 0 ? (double)(utime + stime) / (double)hz : -1;
}

static void row(const char *what, unsigned clients, const loadgen_result *r, double cpu_s)
{
    uint64_t ok = r->by_status[200];
    printf("%-22s %7u %9llu %10.0f %8.3f %8.3f %8.3f %8llu", what, clients,
           (unsigned long long)r->all.requests, (double)r->all.requests / r->elapsed_s,
           r->all.p50_ms, r->all.p90_ms, r->all.p99_ms,
           (unsigned long long)(r->all.requests - ok));
    if (cpu_s >= 0 && r->all.requests)
        printf(" %10.1f\n", cpu_s * 1e6 / (double)r->all.requests);
    else
        printf(" %10s\n", "-");
}

/* Run one row of make's requests and print it with the server's CPU time. */
static int run_row(const char *what, const loadgen_server *srv, unsigned clients,
                   double seconds, loadgen_make_fn make, loadgen_result *r)
{
    loadgen_options o = { .base_url = srv->url, .clients = clients, .seconds = seconds,
                          .make = make };
    double cpu_before = cpu_seconds(srv->pid);
    if (loadgen_run(&o, r) != 0)
        return -1;
    double cpu_after = cpu_seconds(srv->pid);
    row(what, clients, r, cpu_before >= 0 && cpu_after >= 0 ? cpu_after - cpu_before : -1);
    return 0;
}

int main(int argc, char **argv)
{
    double seconds = 3;
    unsigned levels[CLIENT_LEVELS_MAX] = { 1, 4, 16 };
    size_t n_levels = 3;
    bool health_rows = true, chat_rows = true;
    for (int i = 1; i < argc; i++) {
        int64_t v = 0;
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc &&
            mm_parse_i64(argv[i + 1], 1, 3600, &v) == 0) {
            seconds = (double)v;
            i++;
        } else if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc) {
            n_levels = 0;
            for (const char *p = argv[++i]; *p && n_levels < CLIENT_LEVELS_MAX;) {
                char num[16];
                size_t len = strcspn(p, ",");
                snprintf(num, sizeof num, "%.*s", (int)(len < 15 ? len : 15), p);
                if (mm_parse_i64(num, 1, 1024, &v) != 0) {
                    fprintf(stderr, "bench-server: --clients takes numbers 1-1024 "
                                    "separated by commas (got '%s')\n", num);
                    return 2;
                }
                levels[n_levels++] = (unsigned)v;
                p += len;
                if (*p == ',')
                    p++;
            }
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc &&
                   (strcmp(argv[i + 1], "health") == 0 || strcmp(argv[i + 1], "chat") == 0)) {
            health_rows = strcmp(argv[++i], "health") == 0;
            chat_rows = !health_rows;
        } else {
            fprintf(stderr, "usage: bench-server [--seconds S] [--clients 1,4,16] "
                            "[--only health|chat]\n");
            return 2;
        }
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char machine[512];
    loadgen_machine(machine, sizeof machine);
    printf("bench/server: modelmgr serve on a synthesized model, loopback, keep-alive clients, "
           "%.0f s per row\nmachine: %s\n", seconds, machine);

    loadgen_server srv;
    if (loadgen_server_start(&srv, 0, NULL) != 0) {
        curl_global_cleanup();
        return 1;
    }
    /* The first answer is generated; every later one comes from the cache. */
    char url[512];
    snprintf(url, sizeof url, "%s/v1/chat/completions", srv.url);
    static const char *const hdr[] = { "Content-Type: application/json", NULL };
    httpc_result first;
    long status = httpc_request("POST", url, CHAT_BODY, hdr, &first);
    httpc_result_free(&first);
    if (status != 200)
        fprintf(stderr, "bench-server: the first chat request answered %ld\n", status);

    printf("\n%-22s %7s %9s %10s %8s %8s %8s %8s %10s\n", "request", "clients", "requests",
           "req/s", "p50 ms", "p90 ms", "p99 ms", "non-200", "srv us/req");
    for (size_t i = 0; health_rows && i < n_levels; i++) {
        loadgen_result r;
        run_row("GET /api/health", &srv, levels[i], seconds, make_health, &r);
    }
    for (size_t i = 0; chat_rows && i < n_levels; i++) {
        double hits_before = cache_hits(srv.url);
        loadgen_result r;
        if (run_row("POST chat (cached)", &srv, levels[i], seconds, make_cached_chat, &r) == 0) {
            double hits = cache_hits(srv.url) - hits_before;
            if (hits_before >= 0 && hits != (double)r.by_status[200])
                printf("  note: %.0f cache hits for %llu answers: not all were cached\n", hits,
                       (unsigned long long)r.by_status[200]);
        }
    }
    printf("\nserver RSS at the end: %.1f MiB\n", (double)loadgen_rss(srv.pid) / 1048576.0);
    loadgen_server_stop(&srv);
    curl_global_cleanup();
    return 0;
}

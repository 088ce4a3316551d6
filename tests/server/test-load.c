/* test-load.c - a short load on `modelmgr serve` (the short part of
 * bench/load): 8 keep-alive clients send 400 chat requests, a quarter of
 * them generated and the rest one cached greedy request, plus health
 * probes; every request is answered 200 (or the documented 429/503
 * back-pressure), every cached answer is the same text, and the server
 * still exits 0 on SIGTERM. No timing is asserted. */
// labels: integration model
#include "support/httpc.h"
#include "support/loadgen.h"
#include "support/test.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUESTS 400

static const char cached_body[] =
    "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"same question\"}],"
    "\"temperature\":0,\"max_tokens\":6}";

static void make(void *user, uint64_t seq, loadgen_req *out)
{
    out->method = "POST";
    out->path = "/v1/chat/completions";
    if (seq % 10 == 9) {
        out->method = "GET";
        out->path = "/api/health";
        out->kind = 2;
    } else if (seq % 4 == 0) {
        out->kind = 1;
        snprintf(out->body, sizeof out->body,
                 "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":"
                 "\"question %llu\"}],\"temperature\":0,\"max_tokens\":6}",
                 (unsigned long long)seq);
    } else {
        snprintf(out->body, sizeof out->body, "%s", cached_body);
    }
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    loadgen_server srv;
    CHECK_INT(loadgen_server_start(&srv, 0, NULL), 0);
    if (srv.pid <= 0) {
        curl_global_cleanup();
        return mmtest_finish();
    }
    char url[512];
    snprintf(url, sizeof url, "%s/v1/chat/completions", srv.url);
    static const char *const hdr[] = { "Content-Type: application/json", NULL };
    httpc_result first;
    CHECK_INT(httpc_request("POST", url, cached_body, hdr, &first), 200);

    loadgen_options o = { .base_url = srv.url, .clients = 8, .max_requests = REQUESTS,
                          .make = make };
    loadgen_result r;
    CHECK_INT(loadgen_run(&o, &r), 0);
    CHECK_INT(r.all.requests, REQUESTS);
    CHECK_INT(r.by_kind[2].requests, REQUESTS / 10);
    CHECK_INT(r.by_status[200] + r.by_status[429] + r.by_status[503], REQUESTS);
    CHECK_INT(r.by_status[0], 0);
    CHECK(r.all.p50_ms <= r.all.p99_ms && r.all.p99_ms <= r.all.max_ms);

    /* The cache still answers the same text after the load. */
    httpc_result again;
    CHECK_INT(httpc_request("POST", url, cached_body, hdr, &again), 200);
    const char *a = strstr(first.body, "\"content\":");
    const char *b = strstr(again.body, "\"content\":");
    CHECK(a && b);
    if (a && b)
        CHECK_INT(strcspn(a, "}") == strcspn(b, "}") && strncmp(a, b, strcspn(a, "}")) == 0, 1);
    httpc_result_free(&first);
    httpc_result_free(&again);

    CHECK(loadgen_rss(srv.pid) > 0);
    CHECK_INT(loadgen_server_stop(&srv), 0);
    curl_global_cleanup();
    return mmtest_finish();
}

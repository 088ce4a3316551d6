/* test-server-engine.c - the server on the real model manager in-process
 * (a synthesized GGUF with a long context): a client that hangs up, while
 * waiting for a whole answer or mid-stream, cancels its generation. The
 * proof is the response cache: a greedy answer that ran to its end is
 * cached, a cancelled one is not. */
// labels: integration
#define _GNU_SOURCE   /* memmem */
#include "server/server.h"
#include "support/httpc.h"
#include "support/synth.h"
#include "support/test.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char *tmp;

static bool wait_for_inflight(server *srv, unsigned want)
{
    for (int i = 0; i < 3000; i++) {
        if (server_inflight(srv) == want)
            return true;
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
    }
    return false;
}

/* Send a raw POST of body to path; returns the socket. */
static int raw_post(server *srv, const char *path, const char *body)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET,
                                .sin_port = htons((uint16_t)server_port(srv)) };
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    CHECK_INT(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    char req[1024];
    int len = snprintf(req, sizeof req, "POST %s HTTP/1.1\r\nHost: t\r\n"
                       "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                       path, strlen(body), body);
    CHECK_INT(send(fd, req, (size_t)len, 0), len);
    return fd;
}

static size_t cache_entries(mm_manager *mgr)
{
    mm_health h;
    if (mm_manager_health(mgr, &h, NULL) != 0)
        return 999;
    size_t n = h.cache_entries;
    mm_health_clear(&h);
    return n;
}

static mm_config *make_config(void)
{
    return mmtest_config(tmp, NULL);
}

int main(void)
{
    tmp = mmtest_tmpdir();
    char *dir = mm_path_join(tmp, "models");
    mm_mkdirs(dir, NULL);
    char *path = mm_path_join(dir, "long.gguf");
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    p.n_ctx = 4096;          /* thousands of tokens: far longer than a hang-up takes */
    p.n_embd = 128;
    CHECK_INT(mmtest_synth_model(&p, path), 0);
    mm_config *cfg = make_config();
    mm_catalog *cat = NULL;
    mm_manager *mgr = NULL;
    mm_error err = { 0 };
    CHECK_INT(mm_catalog_open(cfg, &cat, &err), 0);
    CHECK_INT(mm_manager_open(cfg, &mgr, &err), 0);
    server_service svc;
    CHECK_INT(server_catalog_service_new(cat, mgr, &svc, &err), 0);
    server_options opts = { .host = "127.0.0.1", .port = 0 };
    server *srv = NULL;
    CHECK_INT(server_start(&opts, &svc, &srv, &err), 0);
    if (!srv)
        return mmtest_finish();

    /* A short greedy answer runs to its end and is cached: the counter
     * below can see a finished generation. */
    char url[512];
    snprintf(url, sizeof url, "%s/v1/completions", server_url(srv));
    const char *hdr[] = { "Content-Type: application/json", NULL };
    httpc_result r;
    httpc_request("POST", url, "{\"model\":\"long\",\"prompt\":\"a\",\"max_tokens\":2,"
                  "\"temperature\":0}", hdr, &r);
    CHECK_INT(r.status, 200);
    httpc_result_free(&r);
    CHECK_INT(cache_entries(mgr), 1);

    /* Whole answer: hang up while it is generating. */
    int fd = raw_post(srv, "/v1/completions", "{\"model\":\"long\",\"prompt\":\"hello\","
                      "\"max_tokens\":4000,\"temperature\":0}");
    CHECK(wait_for_inflight(srv, 1));
    close(fd);
    CHECK(wait_for_inflight(srv, 0));
    CHECK_INT(cache_entries(mgr), 1);   /* cancelled: not cached */

    /* Streamed: read the first bytes of the stream, then hang up. */
    fd = raw_post(srv, "/v1/completions", "{\"model\":\"long\",\"prompt\":\"hello there\","
                  "\"max_tokens\":4000,\"temperature\":0,\"stream\":true}");
    char buf[4096];
    ssize_t n = 0;
    while (n <= 0 || !memmem(buf, (size_t)n, "data: ", 6)) {
        n = recv(fd, buf, sizeof buf - 1, 0);
        if (n <= 0)
            break;
    }
    CHECK(n > 0);
    close(fd);
    CHECK(wait_for_inflight(srv, 0));
    CHECK_INT(cache_entries(mgr), 1);

    server_stop(srv, 1000);
    server_catalog_service_free(&svc);
    mm_manager_close(mgr);
    mm_catalog_close(cat);
    mm_config_free(cfg);
    free(path);
    free(dir);
    mmtest_rmtree(tmp);
    free(tmp);
    return mmtest_finish();
}

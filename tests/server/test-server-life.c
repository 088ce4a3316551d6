/* test-server-life.c - the server under concurrency and over its lifetime:
 * many clients at once, a client that disconnects mid-stream (its
 * generation sees the cancel flag), the in-flight limit (429), and a
 * graceful stop that lets a running request finish, or cancels it once the
 * grace period is over. No timing is asserted, only outcomes. */
// labels: integration
#include "server-fixture.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static fakesvc fake;

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Poll cond-like values for up to 20 s. */
static bool wait_for_inflight(server *srv, unsigned want)
{
    for (int i = 0; i < 2000; i++) {
        if (server_inflight(srv) == want)
            return true;
        sleep_ms(10);
    }
    return false;
}

typedef struct client_job {
    server     *srv;
    const char *path;
    const char *body;
    httpc_result result;
    atomic_int  ok;
} client_job;

static void *client_thread(void *arg)
{
    client_job *job = arg;
    httpc_request("POST", fx_url(job->srv, job->path), job->body, fx_json_headers, &job->result);
    return NULL;
}

/* fx_url uses a static buffer: threads build their own. */
static void *concurrent_worker(void *arg)
{
    client_job *job = arg;
    char url[512];
    snprintf(url, sizeof url, "%s/v1/chat/completions", server_url(job->srv));
    for (int i = 0; i < 4; i++) {
        bool stream = i % 2;
        const char *body = stream
            ? "{\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
            : "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
        httpc_result r;
        httpc_request("POST", url, body, fx_json_headers, &r);
        bool good = r.status == 200 &&
                    (stream ? strstr(r.body, "data: [DONE]\n\n") != NULL
                            : strstr(r.body, "\"content\":\"tok0 tok1 tok2 tok3 tok4 \"") != NULL);
        if (good)
            atomic_fetch_add(&job->ok, 1);
        httpc_result_free(&r);
    }
    return NULL;
}

static void test_concurrent(void)
{
    server *srv = fx_start(&fake, NULL);
    enum { N = 8 };
    client_job jobs[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].srv = srv;
        pthread_create(&th[i], NULL, concurrent_worker, &jobs[i]);
    }
    int ok = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ok += atomic_load(&jobs[i].ok);
    }
    CHECK_INT(ok, N * 4);
    /* A stream's slot is released when MHD lets go of the answer, which may
     * be just after the client has read its end. */
    CHECK(wait_for_inflight(srv, 0));
    server_stop(srv, 1000);
}

/* Send a raw HTTP request for body to srv; returns the socket. */
static int raw_post(server *srv, const char *body)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)server_port(srv)) };
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    CHECK_INT(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    char req[1024];
    int len = snprintf(req, sizeof req, "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n"
                       "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                       strlen(body), body);
    CHECK_INT(send(fd, req, (size_t)len, 0), len);
    return fd;
}

/* A client waiting for a whole (non-streamed) answer hangs up: its
 * generation is cancelled too. */
static void test_disconnect_whole(void)
{
    server *srv = fx_start(&fake, NULL);
    int before = atomic_load(&fake.cancels_seen);
    int fd = raw_post(srv, "{\"model\":\"slow-model\","
                           "\"messages\":[{\"role\":\"user\",\"content\":\"go\"}]}");
    CHECK(wait_for_inflight(srv, 1));
    close(fd);
    CHECK(wait_for_inflight(srv, 0));
    CHECK_INT(atomic_load(&fake.cancels_seen), before + 1);
    server_stop(srv, 1000);
}

static void test_disconnect_cancels(void)
{
    server *srv = fx_start(&fake, NULL);
    int before = atomic_load(&fake.cancels_seen);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)server_port(srv)) };
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    CHECK_INT(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    const char *body = "{\"model\":\"slow-model\",\"stream\":true,"
                       "\"messages\":[{\"role\":\"user\",\"content\":\"go\"}]}";
    char req[1024];
    int len = snprintf(req, sizeof req, "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n"
                       "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                       strlen(body), body);
    CHECK_INT(send(fd, req, (size_t)len, 0), len);
    /* Read until a few content chunks have arrived, then hang up. */
    char buf[4096];
    size_t got = 0;
    int chunks = 0;
    while (chunks < 3) {
        ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
        if (n <= 0)
            break;
        buf[n] = '\0';
        got += (size_t)n;
        for (char *p = buf; (p = strstr(p, "\"content\":\"s \"")); p++)
            chunks++;
    }
    CHECK(chunks >= 3);
    CHECK_INT(server_inflight(srv), 1);
    close(fd);
    /* The next writes fail; the generation must observe its cancel flag. */
    CHECK(wait_for_inflight(srv, 0));
    CHECK_INT(atomic_load(&fake.cancels_seen), before + 1);
    server_stop(srv, 1000);
}

static void test_inflight_limit(void)
{
    server_options opts = { .host = "127.0.0.1", .max_inflight = 1 };
    server *srv = fx_start(&fake, &opts);
    client_job slow = { .srv = srv, .path = "/v1/chat/completions",
        .body = "{\"model\":\"slow-model\",\"max_tokens\":40,\"stream\":true,"
                "\"messages\":[{\"role\":\"user\",\"content\":\"go\"}]}" };
    char url[512];
    snprintf(url, sizeof url, "%s/v1/chat/completions", server_url(srv));
    pthread_t th;
    pthread_create(&th, NULL, client_thread, &slow);
    CHECK(wait_for_inflight(srv, 1));
    httpc_result r;
    httpc_request("POST", url, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
                  fx_json_headers, &r);
    fx_check_openai_error(&r, 429, "rate_limit_error", "rate_limit_exceeded", "too many");
    char ra[32] = "";
    CHECK_INT(httpc_header(&r, "retry-after", ra, sizeof ra), 0);
    CHECK_STR(ra, "1");
    httpc_result_free(&r);
    pthread_join(th, NULL);
    CHECK_INT(slow.result.status, 200);
    CHECK(mm_str_has_suffix(slow.result.body, "data: [DONE]\n\n"));
    httpc_result_free(&slow.result);
    server_stop(srv, 1000);
}

static void test_graceful_stop(void)
{
    /* A request in flight when the stop begins finishes whole. */
    server *srv = fx_start(&fake, NULL);
    char base[256];
    snprintf(base, sizeof base, "%s", server_url(srv));
    client_job job = { .srv = srv, .path = "/v1/chat/completions",
        .body = "{\"model\":\"slow-model\",\"max_tokens\":25,\"stream\":true,"
                "\"messages\":[{\"role\":\"user\",\"content\":\"go\"}]}" };
    pthread_t th;
    pthread_create(&th, NULL, client_thread, &job);
    CHECK(wait_for_inflight(srv, 1));
    server_stop(srv, 20000);
    pthread_join(th, NULL);
    CHECK_INT(job.result.status, 200);
    char **ev = NULL;
    int n = fx_sse_events(job.result.body, &ev);
    CHECK_INT(n, 1 + 25 + 1 + 1);      /* role, 25 pieces, finish, [DONE] */
    if (n > 0)
        CHECK_STR(ev[n - 1], "[DONE]");
    fx_free_list(ev, n);
    httpc_result_free(&job.result);
    /* Nothing listens any more. */
    httpc_result r;
    char url[300];
    snprintf(url, sizeof url, "%s/api/health", base);
    CHECK_INT(httpc_request("GET", url, NULL, NULL, &r), 0);
    httpc_result_free(&r);

    /* Past the grace period the running generation is cancelled. */
    srv = fx_start(&fake, NULL);
    int before = atomic_load(&fake.cancels_seen);
    client_job endless = { .srv = srv, .path = "/v1/chat/completions",
        .body = "{\"model\":\"slow-model\",\"stream\":true,"
                "\"messages\":[{\"role\":\"user\",\"content\":\"go\"}]}" };
    pthread_create(&th, NULL, client_thread, &endless);
    CHECK(wait_for_inflight(srv, 1));
    server_stop(srv, 100);
    pthread_join(th, NULL);
    CHECK_INT(atomic_load(&fake.cancels_seen), before + 1);
    CHECK(strstr(endless.result.body ? endless.result.body : "", "[DONE]") == NULL);
    httpc_result_free(&endless.result);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fakesvc_init(&fake);
    test_concurrent();
    test_disconnect_cancels();
    test_disconnect_whole();
    test_inflight_limit();
    test_graceful_stop();
    fakesvc_destroy(&fake);
    curl_global_cleanup();
    return mmtest_finish();
}

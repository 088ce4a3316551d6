/* test-server-answers.c - the OpenAI answers the server writes without cJSON
 * trees are exactly what cJSON prints for the same document (each body and
 * SSE event is parsed and printed again by cJSON and must come out the
 * same), with the text echoed back through quotes, control bytes and UTF-8;
 * and the hang-up watcher: of two whole answers generating at once, only
 * the one whose client hangs up is cancelled. */
// labels: integration
#include "server-fixture.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The text the service echoes: every byte class JSON escapes. */
#define TRICKY "say \"hi\" \\ back\n\ttab \x01\x1f caf\xc3\xa9 \xe2\x82\xac </x>"
#define TRICKY_JSON "say \\\"hi\\\" \\\\ back\\n\\ttab \\u0001\\u001f caf\xc3\xa9 \xe2\x82\xac </x>"

static atomic_int cancels;

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int echo_list(void *ctx, server_model *out, size_t max, size_t *n_out)
{
    (void)ctx;
    *n_out = 0;
    if (max) {
        memset(out, 0, sizeof *out);
        mm_strlcpy(out->id, "echo", sizeof out->id);
        *n_out = 1;
    }
    return 0;
}

static int echo_find(void *ctx, const char *name, server_model *out, mm_error *err)
{
    (void)ctx;
    if (name && strcmp(name, "echo") != 0 && strcmp(name, "slow") != 0)
        return mm_error_set(err, MM_ENOTFOUND, "no model %s", name);
    memset(out, 0, sizeof *out);
    mm_strlcpy(out->id, name ? name : "echo", sizeof out->id);
    return 0;
}

/* "echo": the prompt (or the last message) back in pieces of 5 bytes.
 * "slow": a piece "." every 10 ms, max_tokens of them (-1: until
 * cancelled, at most 20 s). */
static int echo_generate(void *ctx, const char *model, const server_request *rq,
                         server_piece_fn on_piece, void *user, const atomic_bool *cancel,
                         server_gen_result *res, mm_error *err)
{
    (void)ctx;
    memset(res, 0, sizeof *res);
    if (strcmp(model, "slow") == 0) {
        int64_t n = rq->max_tokens < 0 ? 2000 : rq->max_tokens;
        for (int64_t i = 0; i < n; i++) {
            if (atomic_load(cancel)) {
                atomic_fetch_add(&cancels, 1);
                return mm_error_set(err, MM_ECANCELED, "cancelled");
            }
            sleep_ms(10);
            if (on_piece(user, ".", 1) != 0)
                return mm_error_set(err, MM_ECANCELED, "cancelled");
            res->completion_tokens++;
        }
        return 0;
    }
    const char *text = rq->prompt ? rq->prompt
                       : rq->n_messages ? rq->messages[rq->n_messages - 1].content : "";
    size_t len = strlen(text);
    res->prompt_tokens = (int64_t)len;
    for (size_t at = 0; at < len; at += 5) {
        size_t n = len - at < 5 ? len - at : 5;
        if (on_piece(user, text + at, n) != 0)
            return mm_error_set(err, MM_ECANCELED, "cancelled");
        res->completion_tokens++;
    }
    res->finish = SERVER_FINISH_LENGTH;
    return 0;
}

static server *start(void)
{
    static server_service svc = {
        .list_models = echo_list, .find_model = echo_find, .generate = echo_generate,
    };
    server_options opts = { .host = "127.0.0.1", .port = 0 };
    server *srv = NULL;
    mm_error err = { 0 };
    if (server_start(&opts, &svc, &srv, &err) != 0) {
        fprintf(stderr, "server_start: %s\n", err.message);
        abort();
    }
    return srv;
}

/* json must be cJSON's own unformatted print of its document. */
static void check_canonical(const char *json)
{
    cJSON *doc = cJSON_Parse(json);
    char *again = doc ? cJSON_PrintUnformatted(doc) : NULL;
    CHECK_STR(json, again);
    free(again);
    cJSON_Delete(doc);
}

static void test_whole(server *srv)
{
    httpc_result r;
    fx_post(srv, "/v1/chat/completions", "{\"model\":\"echo\",\"messages\":[{\"role\":\"user\","
            "\"content\":\"" TRICKY_JSON "\"}]}", &r);
    CHECK_INT(r.status, 200);
    check_canonical(r.body);
    CHECK_CONTAINS(r.body, "\"object\":\"chat.completion\"");
    CHECK_CONTAINS(r.body, "\"message\":{\"role\":\"assistant\",\"content\":\"" TRICKY_JSON
                   "\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"length\"}]");
    cJSON *root = cJSON_Parse(r.body);
    const cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "choices"), 0);
    CHECK_STR(fx_str(cJSON_GetObjectItem(choice, "message"), "content"), TRICKY);
    const cJSON *usage = cJSON_GetObjectItem(root, "usage");
    CHECK_INT(fx_num(usage, "prompt_tokens"), strlen(TRICKY));
    CHECK_INT(fx_num(usage, "total_tokens"),
              strlen(TRICKY) + (strlen(TRICKY) + 4) / 5);
    cJSON_Delete(root);
    httpc_result_free(&r);

    fx_post(srv, "/v1/completions", "{\"model\":\"echo\",\"prompt\":\"" TRICKY_JSON "\"}", &r);
    CHECK_INT(r.status, 200);
    check_canonical(r.body);
    CHECK_CONTAINS(r.body, "\"object\":\"text_completion\"");
    CHECK_CONTAINS(r.body, "\"choices\":[{\"index\":0,\"text\":\"" TRICKY_JSON "\"");
    httpc_result_free(&r);
}

static void test_streams(server *srv)
{
    const char *bodies[] = {
        "{\"model\":\"echo\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
        "\"messages\":[{\"role\":\"user\",\"content\":\"" TRICKY_JSON "\"}]}",
        "{\"model\":\"echo\",\"stream\":true,\"prompt\":\"" TRICKY_JSON "\"}",
    };
    const char *paths[] = { "/v1/chat/completions", "/v1/completions" };
    for (size_t k = 0; k < 2; k++) {
        httpc_result r;
        fx_post(srv, paths[k], bodies[k], &r);
        CHECK_INT(r.status, 200);
        char **ev = NULL;
        int n = fx_sse_events(r.body, &ev);
        CHECK(n > 3);
        mm_buf text;
        mm_buf_init(&text, 4096);
        for (int i = 0; i < n - 1; i++) {
            check_canonical(ev[i]);
            cJSON *o = cJSON_Parse(ev[i]);
            const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "choices"), 0);
            const char *piece = k == 0 ? fx_str(cJSON_GetObjectItem(c, "delta"), "content")
                                       : fx_str(c, "text");
            if (piece)
                mm_buf_puts(&text, piece);
            cJSON_Delete(o);
        }
        CHECK_STR(text.data, TRICKY);
        if (n > 0)
            CHECK_STR(ev[n - 1], "[DONE]");
        if (k == 0 && n > 2) {   /* the usage chunk: no choices */
            CHECK_CONTAINS(ev[n - 2], "\"choices\":[],\"usage\":{\"prompt_tokens\":");
            CHECK_CONTAINS(ev[1], "\"delta\":{\"content\":\"say \\\"\"}");
            CHECK_CONTAINS(ev[0], "\"delta\":{\"role\":\"assistant\",\"content\":\"\"}");
        }
        mm_buf_free(&text);
        fx_free_list(ev, n);
        httpc_result_free(&r);
    }
}

typedef struct client {
    server      *srv;
    httpc_result r;
} client;

static void *slow_client(void *arg)
{
    client *c = arg;
    char url[512];
    snprintf(url, sizeof url, "%s/v1/chat/completions", server_url(c->srv));
    httpc_request("POST", url, "{\"model\":\"slow\",\"max_tokens\":60,\"messages\":"
                  "[{\"role\":\"user\",\"content\":\"x\"}]}", fx_json_headers, &c->r);
    return NULL;
}

static bool wait_inflight(server *srv, unsigned want)
{
    for (int i = 0; i < 2000 && server_inflight(srv) != want; i++)
        sleep_ms(10);
    return server_inflight(srv) == want;
}

static void test_watcher(server *srv)
{
    /* A runs until cancelled; B for 60 pieces (about 0.6 s). */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET,
                                .sin_port = htons((uint16_t)server_port(srv)) };
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    CHECK_INT(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    const char *body = "{\"model\":\"slow\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
    char req[512];
    int len = snprintf(req, sizeof req, "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n"
                       "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                       strlen(body), body);
    CHECK_INT(send(fd, req, (size_t)len, 0), len);
    CHECK(wait_inflight(srv, 1));
    client b = { .srv = srv };
    pthread_t th;
    pthread_create(&th, NULL, slow_client, &b);
    CHECK(wait_inflight(srv, 2));
    int before = atomic_load(&cancels);
    close(fd);
    CHECK(wait_inflight(srv, 1));   /* A is gone, B goes on */
    CHECK_INT(atomic_load(&cancels), before + 1);
    pthread_join(th, NULL);
    CHECK_INT(b.r.status, 200);
    CHECK_CONTAINS(b.r.body, "\"completion_tokens\":60");
    httpc_result_free(&b.r);
    CHECK_INT(atomic_load(&cancels), before + 1);

    /* The watcher fell asleep meanwhile; a later hang-up is still seen. */
    sleep_ms(1200);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_INT(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    CHECK_INT(send(fd, req, (size_t)len, 0), len);
    CHECK(wait_inflight(srv, 1));
    close(fd);
    CHECK(wait_inflight(srv, 0));
    CHECK_INT(atomic_load(&cancels), before + 2);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    server *srv = start();
    test_whole(srv);
    test_streams(srv);
    test_watcher(srv);
    server_stop(srv, 1000);
    curl_global_cleanup();
    return mmtest_finish();
}

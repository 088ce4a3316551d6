// labels: integration
/* test-openai.c - the remote backend against the mock OpenAI server: whole
 * and streamed answers (pieces in order, [DONE], SSE lines split across
 * reads down to one byte), the request it sends, connection reuse, remote
 * errors mapped to codes and messages, dropped connections, the first-byte
 * timeout, cancel, and the API key kept out of errors and logs. Plus the SSE
 * parser on hand-made input. */
#include "backends/backends.h"
#include "support/mockoai.h"
#include "support/test.h"

#include <stdlib.h>

#define KEY "sk-test-SECRETkey0123456789"

static mockoai *mock;
static backend *remote;
static char logged[65536];

static void capture_log(mm_log_level level, const char *line, void *user)
{
    size_t len = strlen(logged);
    snprintf(logged + len, sizeof logged - len, "%s\n", line);
}

typedef struct pieces {
    char  items[64][64];
    int   n;
    int   stop_after;     /* > 0: return nonzero at this piece */
    atomic_bool *cancel;  /* set at the first piece, when not NULL */
} pieces;

static int on_piece(const char *piece, size_t len, void *user)
{
    pieces *p = user;
    if (p->n < 64)
        snprintf(p->items[p->n++], sizeof p->items[0], "%.*s", (int)len, piece);
    if (p->cancel)
        atomic_store(p->cancel, true);
    return p->stop_after && p->n >= p->stop_after;
}

static int chat(const char *model, bool stream, pieces *got, backend_result *res, mm_error *err)
{
    backend_message msgs[] = { { "system", "be brief" }, { "user", "say \"hi\"" } };
    backend_request req = { .model = model, .messages = msgs, .n_messages = 2, .max_tokens = 16,
                            .temperature = -1, .stream = stream };
    memset(err, 0, sizeof *err);
    return remote->ops->generate(remote, &req, got ? on_piece : NULL, got, NULL, res, err);
}

static void test_whole_answer(void)
{
    mockoai_push(mock, &(mockoai_reply){ .mode = MOCKOAI_ANSWER, .text = "Hello \"there\"" });
    backend_result res;
    mm_error err;
    CHECK_INT(chat("m1", false, NULL, &res, &err), 0);
    CHECK_STR(res.text, "Hello \"there\"");
    CHECK_INT(res.text_len, 13);
    CHECK_INT(res.http_status, 200);
    CHECK_INT(res.prompt_tokens, 3);
    CHECK_INT(res.completion_tokens, 2);
    CHECK_STR(res.finish_reason, "stop");
    backend_result_free(&res);

    mockoai_request r = mockoai_request_get(mock, mockoai_request_count(mock) - 1);
    CHECK_STR(r.path, "/v1/chat/completions");
    CHECK_STR(r.authorization, "Bearer " KEY);
    CHECK_STR(r.body, "{\"model\":\"m1\",\"messages\":[{\"role\":\"system\",\"content\":"
              "\"be brief\"},{\"role\":\"user\",\"content\":\"say \\\"hi\\\"\"}],"
              "\"max_tokens\":16,\"stream\":false}");
    mockoai_request_free(&r);

    /* A completion goes to /v1/completions with a prompt. */
    backend_request req = { .model = "m2", .prompt = "once upon", .temperature = 0.5 };
    CHECK_INT(remote->ops->generate(remote, &req, NULL, NULL, NULL, &res, &err), 0);
    CHECK_STR(res.text, "ok");   /* the mock's default answer */
    backend_result_free(&res);
    r = mockoai_request_get(mock, mockoai_request_count(mock) - 1);
    CHECK_STR(r.path, "/v1/completions");
    CHECK_STR(r.body, "{\"model\":\"m2\",\"prompt\":\"once upon\",\"temperature\":0.5,"
              "\"stream\":false}");
    mockoai_request_free(&r);
}

static void test_reuse(void)
{
    /* Consecutive requests from one thread come from one client port. */
    backend_result res;
    mm_error err;
    size_t first = mockoai_request_count(mock);
    for (int i = 0; i < 3; i++) {
        CHECK_INT(chat("m1", false, NULL, &res, &err), 0);
        backend_result_free(&res);
    }
    mockoai_request a = mockoai_request_get(mock, first);
    mockoai_request c = mockoai_request_get(mock, first + 2);
    CHECK(a.client_port != 0);
    CHECK_INT(c.client_port, a.client_port);
    mockoai_request_free(&a);
    mockoai_request_free(&c);
}

static void test_stream(size_t chunk_bytes)
{
    mockoai_push(mock, &(mockoai_reply){ .mode = MOCKOAI_STREAM, .text = "He|llo| w\\\"or|ld",
                                         .chunk_bytes = chunk_bytes });
    pieces got = { .n = 0 };
    backend_result res;
    mm_error err;
    CHECK_INT(chat("m1", true, &got, &res, &err), 0);
    CHECK_INT(got.n, 4);
    CHECK_STR(got.items[0], "He");
    CHECK_STR(got.items[1], "llo");
    CHECK_STR(got.items[2], " w\\\"or");
    CHECK_STR(got.items[3], "ld");
    CHECK_STR(res.text, "Hello w\\\"orld");
    CHECK_INT(res.pieces_delivered, 4);
    CHECK_STR(res.finish_reason, "stop");
    backend_result_free(&res);
    mockoai_request r = mockoai_request_get(mock, mockoai_request_count(mock) - 1);
    CHECK_CONTAINS(r.body, "\"stream\":true");
    mockoai_request_free(&r);
}

static void expect_error(const mockoai_reply *reply, int code, const char *needle, bool stream)
{
    mockoai_push(mock, reply);
    pieces got = { .n = 0 };
    backend_result res;
    mm_error err;
    CHECK_INT(chat("m1", stream, &got, &res, &err), code);
    CHECK_CONTAINS(err.message, needle);
    CHECK(res.text == NULL);
    CHECK(strstr(err.message, KEY) == NULL);
}

static void test_errors(void)
{
    expect_error(&(mockoai_reply){ .mode = MOCKOAI_STATUS, .status = 429,
                                   .text = "{\"error\":{\"message\":\"slow down\"}}" },
                 MM_EBUSY, "remote 'cloud' is rate-limiting (HTTP 429): slow down", false);
    expect_error(&(mockoai_reply){ .mode = MOCKOAI_STATUS, .status = 500,
                                   .text = "{\"error\":{\"message\":\"boom\"}}" },
                 MM_EIO, "remote 'cloud' failed (HTTP 500): boom", false);
    expect_error(&(mockoai_reply){ .mode = MOCKOAI_STATUS, .status = 503, .text = "overloaded\n" },
                 MM_EIO, "remote 'cloud' failed (HTTP 503): overloaded", true);
    expect_error(&(mockoai_reply){ .mode = MOCKOAI_STATUS, .status = 400,
                                   .text = "{\"error\":{\"message\":\"max_tokens too big\"}}" },
                 MM_EINVAL, "remote 'cloud' rejected the request (HTTP 400): max_tokens too big",
                 false);
    expect_error(&(mockoai_reply){ .mode = MOCKOAI_STATUS, .status = 404, .text = "" },
                 MM_ENOTFOUND, "remote 'cloud' does not serve model 'm1' or the URL is wrong "
                 "(HTTP 404)", false);
    /* The server quotes the key back: the error shows it redacted. */
    expect_error(&(mockoai_reply){ .mode = MOCKOAI_STATUS, .status = 401,
                                   .text = "{\"error\":{\"message\":\"bad key " KEY "\"}}" },
                 MM_EAUTH, "remote 'cloud' refused the request (HTTP 401): check the API key "
                 "in its api_key_env: bad key sk-***6789", false);
    expect_error(&(mockoai_reply){ .mode = MOCKOAI_DROP }, MM_ENET, "remote 'cloud'", false);
    expect_error(&(mockoai_reply){ .mode = MOCKOAI_STREAM, .text = "a|b", .no_done = true },
                 MM_ENET, "remote 'cloud': the stream ended before [DONE]", true);
    expect_error(&(mockoai_reply){ .mode = MOCKOAI_STREAM, .text = "a|b|c|d", .drop_after = 60 },
                 MM_ENET, "remote 'cloud'", true);
    expect_error(&(mockoai_reply){ .mode = MOCKOAI_ANSWER, .delay_ms = 1500 },
                 MM_ETIMEDOUT, "first-byte timeout", false);

    /* The caller stops after two pieces. */
    mockoai_push(mock, &(mockoai_reply){ .mode = MOCKOAI_STREAM, .text = "a|b|c|d" });
    pieces got = { .n = 0, .stop_after = 2 };
    backend_result res;
    mm_error err;
    CHECK_INT(chat("m1", true, &got, &res, &err), MM_ECANCELED);
    CHECK_INT(got.n, 2);
    CHECK_INT(res.pieces_delivered, 2);

    /* The cancel flag, raised while the stream runs (pieces 300 ms apart). */
    mockoai_push(mock, &(mockoai_reply){ .mode = MOCKOAI_STREAM, .text = "a|b|c|d|e|f",
                                         .chunk_bytes = 40, .chunk_delay_ms = 300 });
    atomic_bool cancel = false;
    pieces slow = { .n = 0, .cancel = &cancel };
    backend_message msg = { "user", "x" };
    backend_request req = { .model = "m1", .messages = &msg, .n_messages = 1,
                            .temperature = -1, .stream = true };
    CHECK_INT(remote->ops->generate(remote, &req, on_piece, &slow, &cancel, &res, &err),
              MM_ECANCELED);
    CHECK_CONTAINS(err.message, "remote 'cloud': the request was cancelled");
    CHECK(slow.n >= 1 && slow.n < 6);
}

static void test_refused(void)
{
    /* A server that is gone: its port no longer listens. */
    mockoai *gone = mockoai_start();
    char url[64];
    snprintf(url, sizeof url, "%s", mockoai_url(gone));
    mockoai_stop(gone);
    backend_openai_config cfg = { .name = "gone", .base_url = url, .connect_timeout_ms = 2000 };
    backend *b = NULL;
    mm_error err = { 0 };
    CHECK_INT(backend_openai_open(&cfg, &b, &err), 0);
    backend_request req = { .model = "m", .prompt = "x", .temperature = -1 };
    backend_result res;
    CHECK_INT(b->ops->generate(b, &req, NULL, NULL, NULL, &res, &err), MM_ENET);
    CHECK_CONTAINS(err.message, "cannot connect to remote 'gone' at http://127.0.0.1:");
    backend_close(b);

    cfg.base_url = "ftp://x";
    CHECK_INT(backend_openai_open(&cfg, &b, &err), MM_EINVAL);
    CHECK_STR(err.message, "remote 'gone': base_url must start with http:// or https://");
}

typedef struct sse_seen {
    char items[16][64];
    int  n;
} sse_seen;

static int on_sse(const char *data, size_t len, void *user)
{
    sse_seen *s = user;
    if (s->n < 16)
        snprintf(s->items[s->n++], sizeof s->items[0], "%.*s", (int)len, data);
    return 0;
}

static void test_sse_parser(void)
{
    const char *stream = ": comment\n\nevent: x\ndata: one\r\n\r\ndata:two\ndata: three\n\n"
                         "id: 4\ndata: [DONE]\n\ndata: tail";
    size_t len = strlen(stream);
    /* Every split point, and one byte at a time, give the same events. */
    for (size_t split = 0; split <= len; split++) {
        sse_seen seen = { .n = 0 };
        backend_sse p;
        backend_sse_init(&p, 1024, on_sse, &seen);
        if (split == len) {
            for (size_t i = 0; i < len; i++)
                CHECK_INT(backend_sse_feed(&p, stream + i, 1), 0);
        } else {
            CHECK_INT(backend_sse_feed(&p, stream, split), 0);
            CHECK_INT(backend_sse_feed(&p, stream + split, len - split), 0);
        }
        CHECK_INT(seen.n, 3);
        CHECK_INT(backend_sse_finish(&p), 0);
        CHECK_INT(seen.n, 4);
        CHECK_STR(seen.items[0], "one");
        CHECK_STR(seen.items[1], "two\nthree");
        CHECK_STR(seen.items[2], "[DONE]");
        CHECK_STR(seen.items[3], "tail");
        backend_sse_free(&p);
    }
    /* A line over the bound is refused, not grown without limit. */
    backend_sse p;
    sse_seen seen = { .n = 0 };
    backend_sse_init(&p, 16, on_sse, &seen);
    CHECK_INT(backend_sse_feed(&p, "data: 0123456789abcdefghij", 26), MM_ELIMIT);
    backend_sse_free(&p);
}

/* Probes: a slow answer is a timeout, cancel stops a probe, and only
 * remote backends can be probed. */
static void test_probe(void)
{
    backend_probe_result pr;
    mm_error err = { 0 };
    size_t before = mockoai_request_count(mock);
    CHECK_INT(backend_openai_probe(remote, 1000, NULL, &pr, &err), 0);
    CHECK_INT(pr.http_status, 200);
    CHECK_STR(pr.path, "models");
    mockoai_request q = mockoai_request_get(mock, before);
    CHECK_STR(q.path, "/v1/models");
    CHECK_STR(q.authorization, "Bearer " KEY);
    mockoai_request_free(&q);

    mockoai_reply slow = { .mode = MOCKOAI_ANSWER, .text = "late", .delay_ms = 1500 };
    mockoai_push(mock, &slow);
    char expect[300];
    snprintf(expect, sizeof expect, "no answer to GET %s/models within 200 ms",
             mockoai_url(mock));
    CHECK_INT(backend_openai_probe(remote, 200, NULL, &pr, &err), MM_ETIMEDOUT);
    CHECK_STR(err.message, expect);
    CHECK_INT(pr.http_status, 0);

    atomic_bool cancel = true;
    CHECK_INT(backend_openai_probe(remote, 1000, &cancel, &pr, &err), MM_ECANCELED);

    backend not_remote = { .ops = &(backend_ops){ .kind = "test" }, .name = "x" };
    CHECK_INT(backend_openai_probe(&not_remote, 1000, NULL, &pr, &err), MM_EINVAL);
}

int main(void)
{
    mm_log_set_callback(capture_log, NULL);
    mm_log_set_level(MM_LOG_LEVEL_DEBUG);
    mock = mockoai_start();
    backend_openai_config cfg = { .name = "cloud", .base_url = mockoai_url(mock), .api_key = KEY,
                                  .connect_timeout_ms = 2000, .first_byte_timeout_ms = 500,
                                  .total_timeout_ms = 10000 };
    mm_error err = { 0 };
    CHECK_INT(backend_openai_open(&cfg, &remote, &err), 0);
    if (!remote)
        return mmtest_finish();
    test_whole_answer();
    test_reuse();
    test_stream(0);
    test_stream(7);
    test_stream(1);
    test_errors();
    test_refused();
    test_probe();
    test_sse_parser();
    backend_close(remote);
    mockoai_stop(mock);
    mm_log_set_callback(NULL, NULL);
    /* Debug logging saw every request; never the key. */
    CHECK_CONTAINS(logged, "remote 'cloud': POST");
    CHECK(strstr(logged, KEY) == NULL);
    CHECK(strstr(logged, "SECRETkey") == NULL);
    return mmtest_finish();
}

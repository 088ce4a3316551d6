/* test-server-openai.c - the OpenAI-compatible API over HTTP against the
 * fake service: whole and streamed chat and completions (SSE framing, the
 * role / content / finish / usage chunk order, [DONE]), the model list, and
 * every error status and shape. Expected texts follow fakesvc.h's rules. */
// labels: integration
#include "server-fixture.h"

static fakesvc fake;
static server *srv;

static cJSON *post_json(const char *path, const char *body, long want_status)
{
    httpc_result r;
    fx_post(srv, path, body, &r);
    CHECK_INT(r.status, want_status);
    char ct[128] = "", rid[128] = "";
    httpc_header(&r, "content-type", ct, sizeof ct);
    CHECK_STR(ct, "application/json");
    CHECK_INT(httpc_header(&r, "x-request-id", rid, sizeof rid), 0);
    cJSON *root = cJSON_Parse(r.body);
    CHECK(root != NULL);
    httpc_result_free(&r);
    return root;
}

static void test_models(void)
{
    httpc_result r;
    fx_get(srv, "/v1/models", &r);
    CHECK_INT(r.status, 200);
    cJSON *root = cJSON_Parse(r.body);
    CHECK_STR(fx_str(root, "object"), "list");
    cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    CHECK_INT(cJSON_GetArraySize(data), 6);
    CHECK_STR(fx_str(cJSON_GetArrayItem(data, 0), "id"), "fake-model");
    CHECK_STR(fx_str(cJSON_GetArrayItem(data, 5), "id"), "fail-model");
    CHECK_STR(fx_str(cJSON_GetArrayItem(data, 1), "object"), "model");
    CHECK_NEAR(fx_num(cJSON_GetArrayItem(data, 1), "created"), 1700000001, 0);
    cJSON_Delete(root);
    httpc_result_free(&r);

    fx_get(srv, "/v1/models/other-model", &r);
    CHECK_INT(r.status, 200);
    CHECK_CONTAINS(r.body, "\"id\":\"other-model\"");
    httpc_result_free(&r);
    fx_get(srv, "/models/fake-model", &r);      /* base URL without /v1 */
    CHECK_INT(r.status, 200);
    httpc_result_free(&r);
    fx_get(srv, "/v1/models/no-such", &r);
    fx_check_openai_error(&r, 404, "invalid_request_error", "model_not_found", "no-such");
    httpc_result_free(&r);
}

static void test_chat_whole(void)
{
    cJSON *root = post_json("/v1/chat/completions",
        "{\"model\":\"fake-model\",\"messages\":[{\"role\":\"system\",\"content\":\"ab\"},"
        "{\"role\":\"user\",\"content\":\"hello\"}],\"temperature\":0.3,\"seed\":99}", 200);
    CHECK_STR(fx_str(root, "object"), "chat.completion");
    CHECK(mm_str_has_prefix(fx_str(root, "id"), "chatcmpl-"));
    CHECK_STR(fx_str(root, "model"), "fake-model");
    CHECK(fx_num(root, "created") > 1700000000);
    cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "choices"), 0);
    cJSON *msg = cJSON_GetObjectItem(choice, "message");
    CHECK_STR(fx_str(msg, "role"), "assistant");
    CHECK_STR(fx_str(msg, "content"), "tok0 tok1 tok2 tok3 tok4 ");
    CHECK_STR(fx_str(choice, "finish_reason"), "stop");
    cJSON *usage = cJSON_GetObjectItem(root, "usage");
    CHECK_NEAR(fx_num(usage, "prompt_tokens"), 7, 0);      /* "ab" + "hello" */
    CHECK_NEAR(fx_num(usage, "completion_tokens"), 5, 0);
    CHECK_NEAR(fx_num(usage, "total_tokens"), 12, 0);
    cJSON_Delete(root);
    char model[64];
    server_request last = fakesvc_last(&fake, model, sizeof model);
    CHECK_STR(model, "fake-model");
    CHECK_NEAR(last.temperature, 0.3, 1e-12);
    CHECK(last.has_seed);
    CHECK_INT(last.seed, 99);

    /* max_tokens caps the answer: finish_reason length. No model: the default. */
    root = post_json("/v1/chat/completions",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":2}", 200);
    choice = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "choices"), 0);
    CHECK_STR(fx_str(cJSON_GetObjectItem(choice, "message"), "content"), "tok0 tok1 ");
    CHECK_STR(fx_str(choice, "finish_reason"), "length");
    CHECK_STR(fx_str(root, "model"), "fake-model");
    CHECK_NEAR(fx_num(cJSON_GetObjectItem(root, "usage"), "completion_tokens"), 2, 0);
    cJSON_Delete(root);

    root = post_json("/chat/completions",
        "{\"model\":\"other-model\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"stop\":\"tok3\"}", 200);
    choice = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "choices"), 0);
    CHECK_STR(fx_str(cJSON_GetObjectItem(choice, "message"), "content"), "tok0 tok1 tok2 ");
    CHECK_STR(fx_str(choice, "finish_reason"), "stop");
    CHECK_STR(fx_str(root, "model"), "other-model");
    cJSON_Delete(root);
}

/* The stream's events: role chunk, 5 content chunks, finish chunk, [usage
 * chunk,] [DONE]; one id throughout. */
static void check_chat_stream(bool include_usage)
{
    char body[256];
    snprintf(body, sizeof body, "{\"model\":\"fake-model\",\"stream\":true,%s"
             "\"messages\":[{\"role\":\"user\",\"content\":\"hey\"}]}",
             include_usage ? "\"stream_options\":{\"include_usage\":true}," : "");
    httpc_result r;
    fx_post(srv, "/v1/chat/completions", body, &r);
    CHECK_INT(r.status, 200);
    char ct[128] = "";
    httpc_header(&r, "content-type", ct, sizeof ct);
    CHECK_STR(ct, "text/event-stream");
    CHECK(httpc_header(&r, "content-length", ct, sizeof ct) != 0);
    char **ev = NULL;
    int n = fx_sse_events(r.body, &ev);
    int want = 1 + 5 + 1 + (include_usage ? 1 : 0) + 1;
    CHECK_INT(n, want);
    if (n == want) {
        CHECK_STR(ev[n - 1], "[DONE]");
        char id[64] = "";
        mm_buf text;
        mm_buf_init(&text, 4096);
        for (int i = 0; i < n - 1; i++) {
            cJSON *c = cJSON_Parse(ev[i]);
            CHECK_STR(fx_str(c, "object"), "chat.completion.chunk");
            CHECK_STR(fx_str(c, "model"), "fake-model");
            if (i == 0)
                mm_strlcpy(id, fx_str(c, "id") ? fx_str(c, "id") : "", sizeof id);
            CHECK_STR(fx_str(c, "id"), id);
            cJSON *usage = cJSON_GetObjectItem(c, "usage");
            cJSON *choices = cJSON_GetObjectItem(c, "choices");
            cJSON *ch = cJSON_GetArrayItem(choices, 0);
            cJSON *delta = cJSON_GetObjectItem(ch, "delta");
            if (i == 0) {
                CHECK_STR(fx_str(delta, "role"), "assistant");
                CHECK_STR(fx_str(delta, "content"), "");
            } else if (i <= 5) {
                mm_buf_puts(&text, fx_str(delta, "content") ? fx_str(delta, "content") : "?");
                CHECK(cJSON_IsNull(cJSON_GetObjectItem(ch, "finish_reason")));
            } else if (i == 6) {
                CHECK(cJSON_IsObject(delta) && delta->child == NULL);
                CHECK_STR(fx_str(ch, "finish_reason"), "stop");
            } else {
                CHECK_INT(cJSON_GetArraySize(choices), 0);
                CHECK_NEAR(fx_num(usage, "prompt_tokens"), 3, 0);
                CHECK_NEAR(fx_num(usage, "completion_tokens"), 5, 0);
                CHECK_NEAR(fx_num(usage, "total_tokens"), 8, 0);
            }
            if (i <= 6) {
                if (include_usage)
                    CHECK(cJSON_IsNull(usage));
                else
                    CHECK(usage == NULL);
            }
            cJSON_Delete(c);
        }
        CHECK_STR(text.data, "tok0 tok1 tok2 tok3 tok4 ");
        mm_buf_free(&text);
    }
    fx_free_list(ev, n);
    httpc_result_free(&r);
}

static void test_completions(void)
{
    cJSON *root = post_json("/v1/completions",
                            "{\"model\":\"fake-model\",\"prompt\":\"abc\",\"max_tokens\":3}", 200);
    CHECK_STR(fx_str(root, "object"), "text_completion");
    CHECK(mm_str_has_prefix(fx_str(root, "id"), "cmpl-"));
    cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "choices"), 0);
    CHECK_STR(fx_str(choice, "text"), "tok0 tok1 tok2 ");
    CHECK_STR(fx_str(choice, "finish_reason"), "length");
    CHECK_NEAR(fx_num(cJSON_GetObjectItem(root, "usage"), "prompt_tokens"), 3, 0);
    cJSON_Delete(root);

    httpc_result r;
    fx_post(srv, "/v1/completions", "{\"prompt\":\"abc\",\"stream\":true,\"max_tokens\":2,"
            "\"stream_options\":{\"include_usage\":true}}", &r);
    CHECK_INT(r.status, 200);
    char **ev = NULL;
    int n = fx_sse_events(r.body, &ev);
    CHECK_INT(n, 2 + 1 + 1 + 1);   /* 2 texts, finish, usage, [DONE] */
    if (n == 5) {
        cJSON *c0 = cJSON_Parse(ev[0]), *c2 = cJSON_Parse(ev[2]), *c3 = cJSON_Parse(ev[3]);
        CHECK_STR(fx_str(c0, "object"), "text_completion");
        CHECK_STR(fx_str(cJSON_GetArrayItem(cJSON_GetObjectItem(c0, "choices"), 0), "text"),
                  "tok0 ");
        CHECK_STR(fx_str(cJSON_GetArrayItem(cJSON_GetObjectItem(c2, "choices"), 0),
                         "finish_reason"), "length");
        CHECK_NEAR(fx_num(cJSON_GetObjectItem(c3, "usage"), "completion_tokens"), 2, 0);
        CHECK_STR(ev[4], "[DONE]");
        cJSON_Delete(c0);
        cJSON_Delete(c2);
        cJSON_Delete(c3);
    }
    fx_free_list(ev, n);
    httpc_result_free(&r);
}

static void test_errors(void)
{
    httpc_result r;
    fx_post(srv, "/v1/chat/completions", "{\"messages\": [", &r);
    fx_check_openai_error(&r, 400, "invalid_request_error", NULL, "not valid JSON");
    httpc_result_free(&r);
    fx_post(srv, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
            "\"n\":3}", &r);
    fx_check_openai_error(&r, 400, "invalid_request_error", NULL, "'n' must be 1");
    CHECK_CONTAINS(r.body, "\"param\":\"n\"");
    httpc_result_free(&r);
    fx_post(srv, "/v1/chat/completions", "{\"model\":\"gpt-9\",\"messages\":[{\"role\":\"user\","
            "\"content\":\"x\"}]}", &r);
    fx_check_openai_error(&r, 404, "invalid_request_error", "model_not_found", "gpt-9");
    httpc_result_free(&r);
    fx_post(srv, "/v1/foo", "{}", &r);
    fx_check_openai_error(&r, 404, "invalid_request_error", NULL, "Invalid URL (POST /v1/foo)");
    httpc_result_free(&r);
    fx_post(srv, "/v1/embeddings", "{\"input\":\"x\"}", &r);
    fx_check_openai_error(&r, 501, "not_supported_error", "not_implemented", "embeddings");
    httpc_result_free(&r);
    fx_get(srv, "/v1/chat/completions", &r);
    fx_check_openai_error(&r, 405, "invalid_request_error", "method_not_allowed", "use POST");
    httpc_result_free(&r);

    const char *msgs = "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]";
    char body[256];
    snprintf(body, sizeof body, "{\"model\":\"busy-model\",%s}", msgs);
    fx_post(srv, "/v1/chat/completions", body, &r);
    fx_check_openai_error(&r, 503, "service_unavailable_error", "server_is_overloaded", "fake-busy");
    char hv[64] = "";
    CHECK_INT(httpc_header(&r, "retry-after", hv, sizeof hv), 0);
    CHECK_STR(hv, "1");
    httpc_result_free(&r);
    for (int stream = 0; stream < 2; stream++) {
        snprintf(body, sizeof body, "{\"model\":\"nogen-model\",\"stream\":%s,%s}",
                 stream ? "true" : "false", msgs);
        fx_post(srv, "/v1/chat/completions", body, &r);
        fx_check_openai_error(&r, 501, "not_supported_error", "not_implemented",
                              "the built-in engine is not wired to the server");
        CHECK_INT(httpc_header(&r, "x-should-retry", hv, sizeof hv), 0);
        CHECK_STR(hv, "false");
        httpc_result_free(&r);
    }
    snprintf(body, sizeof body, "{\"model\":\"fail-model\",%s}", msgs);
    fx_post(srv, "/v1/chat/completions", body, &r);
    fx_check_openai_error(&r, 500, "server_error", NULL, "fake failure");
    httpc_result_free(&r);
    /* Failing after output began: status stays 200, an in-band error event. */
    snprintf(body, sizeof body, "{\"model\":\"fail-model\",\"stream\":true,%s}", msgs);
    fx_post(srv, "/v1/chat/completions", body, &r);
    CHECK_INT(r.status, 200);
    char **ev = NULL;
    int n = fx_sse_events(r.body, &ev);
    CHECK_INT(n, 4);     /* role, tok0, tok1, error */
    if (n == 4) {
        cJSON *e = cJSON_Parse(ev[3]);
        CHECK_STR(fx_str(cJSON_GetObjectItem(e, "error"), "message"), "fake failure");
        cJSON_Delete(e);
    }
    CHECK(strstr(r.body, "[DONE]") == NULL);
    fx_free_list(ev, n);
    httpc_result_free(&r);

    /* Headers beyond the bound. */
    char *big = malloc(SERVER_HEADERS_MAX + 64);
    memcpy(big, "X-Big: ", 7);
    memset(big + 7, 'a', SERVER_HEADERS_MAX);
    big[7 + SERVER_HEADERS_MAX] = '\0';
    const char *hdrs[] = { big, NULL };
    httpc_request("GET", fx_url(srv, "/v1/models"), NULL, hdrs, &r);
    fx_check_openai_error(&r, 431, "invalid_request_error", "headers_too_large", "headers");
    httpc_result_free(&r);
    free(big);
}

static void test_body_limit(void)
{
    server_options opts = { .host = "127.0.0.1", .max_body = 4096 };
    server *small = fx_start(&fake, &opts);
    char *body = malloc(6000);
    snprintf(body, 6000, "{\"messages\":[{\"role\":\"user\",\"content\":\"");
    size_t len = strlen(body);
    memset(body + len, 'x', 5000);
    snprintf(body + len + 5000, 100, "\"}]}");
    httpc_result r;
    httpc_request("POST", fx_url(small, "/v1/chat/completions"), body, fx_json_headers, &r);
    fx_check_openai_error(&r, 413, "invalid_request_error", "request_too_large", "4096 bytes");
    httpc_result_free(&r);
    /* Just under the limit is served. */
    body[len + 3000] = '\0';
    snprintf(body + len + 3000, 100, "\"}]}");
    httpc_request("POST", fx_url(small, "/v1/chat/completions"), body, fx_json_headers, &r);
    CHECK_INT(r.status, 200);
    httpc_result_free(&r);
    free(body);
    server_stop(small, 1000);
}

static void test_auth(void)
{
    server_options opts = { .host = "127.0.0.1", .api_key = "sk-test-secret-1234" };
    server *locked = fx_start(&fake, &opts);
    httpc_result r;
    httpc_request("GET", fx_url(locked, "/api/health"), NULL, NULL, &r);
    CHECK_INT(r.status, 200);
    httpc_result_free(&r);
    static const char *const paths[] = { "/v1/models", "/api/health/detailed", "/metrics" };
    for (size_t i = 0; i < MM_ARRAY_LEN(paths); i++) {
        httpc_request("GET", fx_url(locked, paths[i]), NULL, NULL, &r);
        fx_check_openai_error(&r, 401, "invalid_request_error", "invalid_api_key", "API key");
        httpc_result_free(&r);
    }
    const char *wrong[] = { "Authorization: Bearer sk-test-secret-1235", NULL };
    httpc_request("GET", fx_url(locked, "/v1/models"), NULL, wrong, &r);
    CHECK_INT(r.status, 401);
    httpc_result_free(&r);
    const char *prefix[] = { "Authorization: Bearer sk-test-secret-123", NULL };
    httpc_request("GET", fx_url(locked, "/v1/models"), NULL, prefix, &r);
    CHECK_INT(r.status, 401);
    httpc_result_free(&r);
    const char *right[] = { "Authorization: Bearer sk-test-secret-1234", NULL };
    httpc_request("GET", fx_url(locked, "/v1/models"), NULL, right, &r);
    CHECK_INT(r.status, 200);
    httpc_result_free(&r);
    httpc_request("GET", fx_url(locked, "/api/tags"), NULL, NULL, &r);
    fx_check_ollama_error(&r, 401, "API key");
    CHECK(strstr(r.body, "sk-test") == NULL);
    httpc_result_free(&r);
    server_stop(locked, 1000);
}

static char warned[1024];

static void capture_log(mm_log_level level, const char *line, void *user)
{
    if (level == MM_LOG_LEVEL_WARN)
        mm_strlcpy(warned, line, sizeof warned);
}

/* A server on every interface without a key says so. */
static void test_open_bind_warning(void)
{
    mm_log_set_callback(capture_log, NULL);
    server_options opts = { .host = "0.0.0.0" };
    server *open_srv = fx_start(&fake, &opts);
    mm_log_set_callback(NULL, NULL);
    CHECK_CONTAINS(warned, "listening on 0.0.0.0 without an api_key");
    server_stop(open_srv, 100);
    warned[0] = '\0';
    mm_log_set_callback(capture_log, NULL);
    opts.api_key = "sk-some-key-5678";
    open_srv = fx_start(&fake, &opts);
    mm_log_set_callback(NULL, NULL);
    CHECK_STR(warned, "");
    server_stop(open_srv, 100);
}

static void test_health_and_metrics(void)
{
    httpc_result r;
    fx_get(srv, "/api/health", &r);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "{\"status\":\"ok\"}");
    httpc_result_free(&r);
    fx_get(srv, "/api/health/detailed", &r);
    CHECK_INT(r.status, 200);
    cJSON *root = cJSON_Parse(r.body);
    CHECK_STR(fx_str(root, "status"), "ok");
    CHECK_STR(fx_str(root, "version"), mm_version());
    CHECK(fx_num(root, "uptime_s") >= 0);
    cJSON *services = cJSON_GetObjectItem(root, "services");
    CHECK_STR(fx_str(cJSON_GetObjectItem(services, "cache"), "status"), "ok");
    CHECK_STR(fx_str(cJSON_GetObjectItem(services, "hub"), "status"), "not_reported");
    CHECK_STR(fx_str(cJSON_GetObjectItem(services, "router"), "status"), "not_reported");
    CHECK_STR(fx_str(cJSON_GetObjectItem(services, "memory"), "status"), "not_reported");
    cJSON_Delete(root);
    httpc_result_free(&r);

    fx_get(srv, "/metrics", &r);
    CHECK_INT(r.status, 200);
    char ct[128] = "";
    httpc_header(&r, "content-type", ct, sizeof ct);
    CHECK(mm_str_has_prefix(ct, "text/plain; version=0.0.4"));
    /* Counted by hand from the requests above: fake-model chat 200s are the
     * whole chat, the two streams and the stop-less default (3 + 2 = ... see
     * main); checked as exact lines. */
    CHECK_CONTAINS(r.body, "modelmgr_http_requests_total{route=\"chat\",model=\"fake-model\","
                           "status=\"200\"} 4\n");
    CHECK_CONTAINS(r.body, "modelmgr_http_requests_total{route=\"chat\",model=\"busy-model\","
                           "status=\"503\"} 1\n");
    CHECK_CONTAINS(r.body, "modelmgr_http_requests_total{route=\"unknown\",model=\"\","
                           "status=\"404\"} 1\n");
    CHECK_CONTAINS(r.body, "# TYPE modelmgr_http_request_duration_seconds histogram");
    CHECK_CONTAINS(r.body, "modelmgr_http_request_duration_seconds_count{route=\"completions\"} 2\n");
    /* fake-model generations: chat 7/5, chat 1/2, chat 3/5 x2 streams, completions 3/3 and
     * 3/2: prompt 7+1+3+3+3+3 = 20, completion 5+2+5+5+3+2 = 22. */
    CHECK_CONTAINS(r.body, "modelmgr_prompt_tokens_total{model=\"fake-model\"} 20\n");
    CHECK_CONTAINS(r.body, "modelmgr_completion_tokens_total{model=\"fake-model\"} 22\n");
    httpc_result_free(&r);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fakesvc_init(&fake);
    srv = fx_start(&fake, NULL);
    test_models();
    test_chat_whole();          /* fake-model: 2 chats (other-model: 1) */
    check_chat_stream(true);    /* fake-model: 3 */
    check_chat_stream(false);   /* fake-model: 4 */
    test_completions();
    test_errors();
    test_health_and_metrics();
    test_body_limit();
    test_auth();
    test_open_bind_warning();
    server_stop(srv, 1000);
    fakesvc_destroy(&fake);
    curl_global_cleanup();
    return mmtest_finish();
}

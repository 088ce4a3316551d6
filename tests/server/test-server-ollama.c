/* test-server-ollama.c - Ollama's native API on the same port against the
 * fake service: probes, /api/tags, /api/ps, /api/show, /api/generate and
 * /api/chat as NDJSON streams (the default) and as single objects, options,
 * and {"error": "..."} answers. */
// labels: integration
#include "server-fixture.h"

static fakesvc fake;
static server *srv;

static void test_probes(void)
{
    httpc_result r;
    fx_get(srv, "/", &r);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "Ollama is running");
    httpc_result_free(&r);
    httpc_request("HEAD", fx_url(srv, "/"), NULL, NULL, &r);
    CHECK_INT(r.status, 200);
    httpc_result_free(&r);
    fx_get(srv, "/api/version", &r);
    CHECK_INT(r.status, 200);
    cJSON *root = cJSON_Parse(r.body);
    CHECK_STR(fx_str(root, "version"), mm_version());
    cJSON_Delete(root);
    httpc_result_free(&r);
}

static void test_listings(void)
{
    httpc_result r;
    fx_get(srv, "/api/tags", &r);
    CHECK_INT(r.status, 200);
    cJSON *root = cJSON_Parse(r.body);
    cJSON *models = cJSON_GetObjectItem(root, "models");
    CHECK_INT(cJSON_GetArraySize(models), 6);
    cJSON *m = cJSON_GetArrayItem(models, 1);
    CHECK_STR(fx_str(m, "name"), "other-model:latest");
    CHECK_STR(fx_str(m, "model"), "other-model:latest");
    CHECK_NEAR(fx_num(m, "size"), 2000, 0);
    CHECK_STR(fx_str(m, "modified_at"), "2023-11-14T22:13:21Z");   /* 1700000001 */
    cJSON *d = cJSON_GetObjectItem(m, "details");
    CHECK_STR(fx_str(d, "format"), "gguf");
    CHECK_STR(fx_str(d, "family"), "llama");
    CHECK_STR(fx_str(d, "parameter_size"), "3.2B");
    CHECK_STR(fx_str(d, "quantization_level"), "Q8_0");
    cJSON_Delete(root);
    httpc_result_free(&r);

    fx_get(srv, "/api/ps", &r);      /* only the fake's loaded model */
    CHECK_INT(r.status, 200);
    root = cJSON_Parse(r.body);
    models = cJSON_GetObjectItem(root, "models");
    CHECK_INT(cJSON_GetArraySize(models), 1);
    CHECK_STR(fx_str(cJSON_GetArrayItem(models, 0), "name"), "fake-model:latest");
    cJSON_Delete(root);
    httpc_result_free(&r);

    static const char *const shows[] = { "{\"model\":\"fake-model\"}", "{\"name\":\"fake-model\"}",
                                         "{\"model\":\"fake-model:latest\"}" };
    for (size_t i = 0; i < MM_ARRAY_LEN(shows); i++) {
        fx_post(srv, "/api/show", shows[i], &r);
        CHECK_INT(r.status, 200);
        root = cJSON_Parse(r.body);
        cJSON *info = cJSON_GetObjectItem(root, "model_info");
        CHECK_STR(fx_str(info, "general.architecture"), "llama");
        CHECK_NEAR(fx_num(info, "llama.context_length"), 4096, 0);
        CHECK_NEAR(fx_num(info, "general.parameter_count"), 3200000000.0, 0);
        CHECK_STR(fx_str(cJSON_GetObjectItem(root, "details"), "family"), "llama");
        cJSON_Delete(root);
        httpc_result_free(&r);
    }
    fx_post(srv, "/api/show", "{\"model\":\"nope\"}", &r);
    fx_check_ollama_error(&r, 404, "model 'nope' not found");
    httpc_result_free(&r);
    fx_post(srv, "/api/show", "{}", &r);
    fx_check_ollama_error(&r, 400, "model is required");
    httpc_result_free(&r);
}

static void test_generate(void)
{
    httpc_result r;
    fx_post(srv, "/api/generate", "{\"model\":\"fake-model\",\"prompt\":\"why\"}", &r);
    CHECK_INT(r.status, 200);
    char ct[128] = "";
    httpc_header(&r, "content-type", ct, sizeof ct);
    CHECK_STR(ct, "application/x-ndjson");
    char **lines = NULL;
    int n = fx_ndjson_lines(r.body, &lines);
    CHECK_INT(n, 6);                 /* five pieces, then done */
    mm_buf text;
    mm_buf_init(&text, 4096);
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_Parse(lines[i]);
        CHECK(o != NULL);
        CHECK_STR(fx_str(o, "model"), "fake-model");
        CHECK(fx_str(o, "created_at") != NULL);
        bool done = cJSON_IsTrue(cJSON_GetObjectItem(o, "done"));
        CHECK(done == (i == n - 1));
        mm_buf_puts(&text, fx_str(o, "response") ? fx_str(o, "response") : "?");
        if (done) {
            CHECK_STR(fx_str(o, "done_reason"), "stop");
            CHECK_NEAR(fx_num(o, "prompt_eval_count"), 3, 0);
            CHECK_NEAR(fx_num(o, "eval_count"), 5, 0);
            CHECK(fx_num(o, "total_duration") > 0);
        }
        cJSON_Delete(o);
    }
    CHECK_STR(text.data, "tok0 tok1 tok2 tok3 tok4 ");
    mm_buf_free(&text);
    fx_free_list(lines, n);
    httpc_result_free(&r);

    /* stream:false with options: one object holding the whole answer. */
    fx_post(srv, "/api/generate", "{\"model\":\"fake-model:latest\",\"prompt\":\"why\","
            "\"stream\":false,\"options\":{\"num_predict\":2,\"temperature\":0.2,\"seed\":5}}", &r);
    CHECK_INT(r.status, 200);
    httpc_header(&r, "content-type", ct, sizeof ct);
    CHECK_STR(ct, "application/json");
    cJSON *o = cJSON_Parse(r.body);
    CHECK_STR(fx_str(o, "response"), "tok0 tok1 ");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(o, "done")));
    CHECK_STR(fx_str(o, "done_reason"), "length");
    CHECK_NEAR(fx_num(o, "eval_count"), 2, 0);
    cJSON_Delete(o);
    httpc_result_free(&r);
    char model[64];
    server_request last = fakesvc_last(&fake, model, sizeof model);
    CHECK_NEAR(last.temperature, 0.2, 1e-12);
    CHECK(last.has_seed);
    CHECK_INT(last.seed, 5);
    CHECK_INT(last.max_tokens, 2);

    /* An empty prompt only loads the model. */
    fx_post(srv, "/api/generate", "{\"model\":\"fake-model\",\"stream\":false}", &r);
    CHECK_INT(r.status, 200);
    o = cJSON_Parse(r.body);
    CHECK_STR(fx_str(o, "response"), "");
    CHECK_STR(fx_str(o, "done_reason"), "load");
    cJSON_Delete(o);
    httpc_result_free(&r);
}

static void test_chat(void)
{
    httpc_result r;
    fx_post(srv, "/api/chat", "{\"model\":\"other-model\",\"messages\":[{\"role\":\"user\","
            "\"content\":\"hi\"}],\"options\":{\"stop\":[\"tok2\"]}}", &r);
    CHECK_INT(r.status, 200);
    char **lines = NULL;
    int n = fx_ndjson_lines(r.body, &lines);
    CHECK_INT(n, 3);                 /* tok0, tok1, done */
    mm_buf text;
    mm_buf_init(&text, 4096);
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_Parse(lines[i]);
        cJSON *msg = cJSON_GetObjectItem(o, "message");
        CHECK_STR(fx_str(msg, "role"), "assistant");
        mm_buf_puts(&text, fx_str(msg, "content") ? fx_str(msg, "content") : "?");
        CHECK(cJSON_GetObjectItem(o, "response") == NULL);
        if (i == n - 1)
            CHECK_STR(fx_str(o, "done_reason"), "stop");
        cJSON_Delete(o);
    }
    CHECK_STR(text.data, "tok0 tok1 ");
    mm_buf_free(&text);
    fx_free_list(lines, n);
    httpc_result_free(&r);

    fx_post(srv, "/api/chat", "{\"model\":\"fake-model\",\"stream\":false,\"messages\":"
            "[{\"role\":\"user\",\"content\":\"hi\"}]}", &r);
    CHECK_INT(r.status, 200);
    cJSON *o = cJSON_Parse(r.body);
    CHECK_STR(fx_str(cJSON_GetObjectItem(o, "message"), "content"), "tok0 tok1 tok2 tok3 tok4 ");
    CHECK_NEAR(fx_num(o, "prompt_eval_count"), 2, 0);
    cJSON_Delete(o);
    httpc_result_free(&r);
}

static void test_errors(void)
{
    httpc_result r;
    fx_post(srv, "/api/chat", "{\"model\":\"ghost\",\"messages\":[]}", &r);
    fx_check_ollama_error(&r, 404, "ghost");
    httpc_result_free(&r);
    fx_post(srv, "/api/generate", "{\"model\":", &r);
    fx_check_ollama_error(&r, 400, "not valid JSON");
    httpc_result_free(&r);
    fx_post(srv, "/api/generate", "{\"prompt\":\"x\"}", &r);
    fx_check_ollama_error(&r, 400, "model is required");
    httpc_result_free(&r);
    fx_post(srv, "/api/generate", "{\"model\":\"fake-model\",\"options\":{\"seed\":\"x\"}}", &r);
    fx_check_ollama_error(&r, 400, "options.seed");
    httpc_result_free(&r);
    fx_post(srv, "/api/embed", "{\"model\":\"fake-model\",\"input\":\"x\"}", &r);
    fx_check_ollama_error(&r, 501, "embeddings are not available");
    httpc_result_free(&r);
    fx_post(srv, "/api/tags", "{}", &r);
    fx_check_ollama_error(&r, 405, "not allowed");
    httpc_result_free(&r);
    fx_post(srv, "/api/generate", "{\"model\":\"nogen-model\",\"prompt\":\"x\"}", &r);
    fx_check_ollama_error(&r, 501, "the built-in engine is not wired to the server");
    httpc_result_free(&r);
    /* A failure after output began: a final {"error"} line. */
    fx_post(srv, "/api/generate", "{\"model\":\"fail-model\",\"prompt\":\"x\"}", &r);
    CHECK_INT(r.status, 200);
    char **lines = NULL;
    int n = fx_ndjson_lines(r.body, &lines);
    CHECK_INT(n, 3);
    if (n == 3)
        CHECK_STR(lines[2], "{\"error\":\"fake failure\"}");
    fx_free_list(lines, n);
    httpc_result_free(&r);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fakesvc_init(&fake);
    srv = fx_start(&fake, NULL);
    test_probes();
    test_listings();
    test_generate();
    test_chat();
    test_errors();
    server_stop(srv, 1000);
    fakesvc_destroy(&fake);
    curl_global_cleanup();
    return mmtest_finish();
}

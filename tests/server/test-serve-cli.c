/* test-serve-cli.c - `modelmgr serve` end to end: it prints the URL it
 * listens on, lists the catalog's models over both APIs, reports the model
 * manager's health, generates through the real engine (/v1/completions
 * whole and streamed, Ollama /api/generate) the same text as an in-process
 * mm_manager_generate over the same model, refuses a second server on the
 * same port, and exits 0 on SIGTERM. */
// labels: integration
#include "support/httpc.h"
#include "support/serve.h"
#include "support/synth.h"
#include "support/test.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *tmp;

/* Start `modelmgr serve ARGS...`; its stdout and stderr go to files. */
/* Wait up to 20 s for the "listening on URL" line; copies the URL. */
/* mm_manager_generate over the same files serve uses: greedy, n tokens. */
static bool local_generate(const char *prompt, int n, mm_gen_result *out)
{
    char dir[4200], file[4200], cache[4200], home[4200], cfg_path[4200];
    snprintf(dir, sizeof dir, "models_dir=%s/models", tmp);
    snprintf(file, sizeof file, "models_file=%s/models.txt", tmp);
    snprintf(cache, sizeof cache, "hf_cache=%s/hub", tmp);
    snprintf(home, sizeof home, "HOME=%s", tmp);
    snprintf(cfg_path, sizeof cfg_path, "%s/local.yaml", tmp);
    mmtest_write_file(cfg_path, "# empty\n");
    const char *env[] = { home, NULL };
    const char *flags[] = { dir, file, cache, "vosk_model_path=", NULL };
    mm_config_sources src = { .config_path = cfg_path, .env = env, .flags = flags };
    mm_config *cfg = NULL;
    mm_manager *mgr = NULL;
    mm_error err = { 0 };
    bool ok = mm_config_load(&src, &cfg, &err) == 0 && mm_manager_open(cfg, &mgr, &err) == 0;
    mm_gen_request req = { .model = "tiny", .prompt = prompt, .max_tokens = n };
    ok = ok && mm_manager_generate(mgr, &req, out, &err) == 0;
    if (!ok)
        fprintf(stderr, "local generate: %s\n", err.message);
    mm_manager_close(mgr);
    mm_config_free(cfg);
    return ok;
}

/* The completion text of every SSE event of body, joined (caller frees);
 * NULL when the framing is wrong. */
static char *sse_join(const char *body)
{
    mm_buf out;
    mm_buf_init(&out, 1 << 20);
    mm_buf_puts(&out, "");
    const char *p = body ? body : "";
    while (*p) {
        const char *end = strstr(p, "\n\n");
        if (!end || strncmp(p, "data: ", 6) != 0) {
            mm_buf_free(&out);
            return NULL;
        }
        char *payload = mm_strndup(p + 6, (size_t)(end - p - 6));
        cJSON *ev = payload ? cJSON_Parse(payload) : NULL;
        cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItem(ev, "choices"), 0);
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(choice, "text"));
        if (t)
            mm_buf_puts(&out, t);
        cJSON_Delete(ev);
        free(payload);
        p = end + 2;
    }
    return mm_buf_take(&out);
}

int main(void)
{
    if (!getenv("MODELMGR_BIN"))
        mmtest_skip("MODELMGR_BIN is not set");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    tmp = mmtest_tmpdir();
    char path[4200], out_path[4200], err_path[4200], url[256] = "", full[512];
    snprintf(path, sizeof path, "%s/models/tiny.gguf", tmp);
    mmtest_write_file(path, "");
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    CHECK_INT(mmtest_synth_model(&p, path), 0);
    snprintf(out_path, sizeof out_path, "%s/out.txt", tmp);
    snprintf(err_path, sizeof err_path, "%s/err.txt", tmp);
    /* A fresh update-check stamp (so no check runs): health reports it. */
    time_t stamp_s = time(NULL) - 60;
    char stamp[32], stamp_iso[64];
    snprintf(stamp, sizeof stamp, "%lld\n", (long long)stamp_s);
    snprintf(path, sizeof path, "%s/models/.last_model_check", tmp);
    mmtest_write_file(path, stamp);
    struct tm stamp_tm;
    gmtime_r(&stamp_s, &stamp_tm);
    strftime(stamp_iso, sizeof stamp_iso, "\"last_update_check\":\"%Y-%m-%dT%H:%M:%SZ\"",
             &stamp_tm);

    const char *args[] = { "--port", "0", "--grace", "5", NULL };
    pid_t pid = mmtest_serve_spawn(tmp, args, NULL, out_path, err_path);
    CHECK(mmtest_serve_url(out_path, url, sizeof url));
    CHECK(mm_str_has_prefix(url, "http://127.0.0.1:"));

    httpc_result r;
    snprintf(full, sizeof full, "%s/v1/models", url);
    httpc_request("GET", full, NULL, NULL, &r);
    CHECK_INT(r.status, 200);
    CHECK_CONTAINS(r.body, "\"id\":\"tiny\"");
    httpc_result_free(&r);
    snprintf(full, sizeof full, "%s/api/tags", url);
    httpc_request("GET", full, NULL, NULL, &r);
    CHECK_CONTAINS(r.body, "\"name\":\"tiny:latest\"");
    CHECK_CONTAINS(r.body, "\"family\":\"llama\"");
    httpc_result_free(&r);

    snprintf(full, sizeof full, "%s/api/health/detailed", url);
    httpc_request("GET", full, NULL, NULL, &r);
    CHECK_CONTAINS(r.body, "\"engine\":{\"status\":\"ok\"");
    /* From the model manager: the model is known and healthy, not loaded;
     * the response cache and the memory budget are reported. */
    CHECK_CONTAINS(r.body, "\"tiny\":{\"status\":\"healthy\",\"kind\":\"llm\",\"loaded\":false");
    CHECK_CONTAINS(r.body, "\"cache\":{\"status\":\"ok\",\"entries\":0,\"capacity\":1000");
    CHECK_CONTAINS(r.body, "\"memory\":{\"status\":\"ok\"");
    CHECK_CONTAINS(r.body, "\"hub\":{\"status\":\"ok\",\"endpoint\":\"");
    CHECK_CONTAINS(r.body, stamp_iso);
    CHECK_CONTAINS(r.body, "\"update_check_due\":false");
    httpc_result_free(&r);

    /* The expected answer: the model manager in this process, greedy. */
    mm_gen_result want = { 0 };
    CHECK(local_generate("hello world", 8, &want));
    const char *want_text = want.text ? want.text : "";
    CHECK(want_text[0] != '\0');

    const char *hdr[] = { "Content-Type: application/json", NULL };
    snprintf(full, sizeof full, "%s/v1/completions", url);
    httpc_request("POST", full, "{\"model\":\"tiny\",\"prompt\":\"hello world\",\"max_tokens\":8,"
                  "\"temperature\":0}", hdr, &r);
    CHECK_INT(r.status, 200);
    cJSON *root = cJSON_Parse(r.body);
    cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "choices"), 0);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(choice, "text")), want_text);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(choice, "finish_reason")),
              want.finish_reason);
    cJSON *usage = cJSON_GetObjectItem(root, "usage");
    CHECK_INT((int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(usage, "prompt_tokens")),
              want.prompt_tokens);
    CHECK_INT((int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(usage, "completion_tokens")),
              want.completion_tokens);
    cJSON_Delete(root);
    httpc_result_free(&r);

    /* Streamed (no_cache so the engine runs again): the pieces concatenate
     * to the same text and the stream ends with [DONE]. */
    httpc_request("POST", full, "{\"model\":\"tiny\",\"prompt\":\"hello world\",\"max_tokens\":8,"
                  "\"temperature\":0,\"stream\":true}", hdr, &r);
    CHECK_INT(r.status, 200);
    char *joined = sse_join(r.body);
    CHECK_STR(joined ? joined : "(bad framing)", want_text);
    free(joined);
    CHECK(r.body && strstr(r.body, "data: [DONE]\n\n") != NULL);
    httpc_result_free(&r);

    /* Ollama: "auto"-free naming with the tag, options as Ollama sends them. */
    snprintf(full, sizeof full, "%s/api/generate", url);
    httpc_request("POST", full, "{\"model\":\"tiny:latest\",\"prompt\":\"hello world\","
                  "\"stream\":false,\"options\":{\"temperature\":0,\"num_predict\":8}}", hdr, &r);
    CHECK_INT(r.status, 200);
    root = cJSON_Parse(r.body);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(root, "response")), want_text);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(root, "done")));
    CHECK_INT((int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(root, "eval_count")),
              want.completion_tokens);
    cJSON_Delete(root);
    httpc_result_free(&r);

    /* Ollama streamed: NDJSON lines whose responses join to the text, the
     * last one done. */
    httpc_request("POST", full, "{\"model\":\"tiny\",\"prompt\":\"hello world\","
                  "\"options\":{\"temperature\":0,\"num_predict\":8}}", hdr, &r);
    CHECK_INT(r.status, 200);
    mm_buf joined_nd;
    mm_buf_init(&joined_nd, 1 << 20);
    mm_buf_puts(&joined_nd, "");
    bool last_done = false;
    for (const char *line = r.body ? r.body : ""; *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char *one = mm_strndup(line, len);
        cJSON *o = one ? cJSON_Parse(one) : NULL;
        const char *piece = cJSON_GetStringValue(cJSON_GetObjectItem(o, "response"));
        if (piece)
            mm_buf_puts(&joined_nd, piece);
        last_done = cJSON_IsTrue(cJSON_GetObjectItem(o, "done"));
        cJSON_Delete(o);
        free(one);
        line += len + (nl ? 1 : 0);
    }
    CHECK_STR(joined_nd.data, want_text);
    CHECK(last_done);
    mm_buf_free(&joined_nd);
    httpc_result_free(&r);

    /* An unknown model is the server's 404, not a fallback. */
    snprintf(full, sizeof full, "%s/v1/completions", url);
    httpc_request("POST", full, "{\"model\":\"nope\",\"prompt\":\"x\"}", hdr, &r);
    CHECK_INT(r.status, 404);
    httpc_result_free(&r);

    /* Chat: the messages go through the chat template to the engine; the
     * answer has the shape of a chat completion with real counts. */
    snprintf(full, sizeof full, "%s/v1/chat/completions", url);
    httpc_request("POST", full, "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\","
                  "\"content\":\"hi\"}],\"max_tokens\":4,\"temperature\":0}", hdr, &r);
    CHECK_INT(r.status, 200);
    root = cJSON_Parse(r.body);
    choice = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "choices"), 0);
    CHECK(cJSON_IsString(cJSON_GetObjectItem(cJSON_GetObjectItem(choice, "message"), "content")));
    usage = cJSON_GetObjectItem(root, "usage");
    CHECK((int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(usage, "prompt_tokens")) > 2);
    CHECK((int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(usage, "completion_tokens")) <= 4);
    cJSON_Delete(root);
    httpc_result_free(&r);
    mm_gen_result_clear(&want);

    /* A second server on the same port fails with a clear message. */
    const char *port = strrchr(url, ':') + 1;
    const char *args2[] = { "--port", port, NULL };
    char out2[4300], err2[4300];
    snprintf(out2, sizeof out2, "%s/out2.txt", tmp);
    snprintf(err2, sizeof err2, "%s/err2.txt", tmp);
    pid_t pid2 = mmtest_serve_spawn(tmp, args2, NULL, out2, err2);
    CHECK_INT(mmtest_serve_wait(pid2), 1);
    char *text = NULL;
    mm_error err;
    mm_file_read(err2, 1 << 16, &text, NULL, &err);
    CHECK_CONTAINS(text, "cannot listen on 127.0.0.1 port");
    free(text);

    kill(pid, SIGTERM);
    CHECK_INT(mmtest_serve_wait(pid), 0);
    text = NULL;
    mm_file_read(err_path, 1 << 16, &text, NULL, &err);
    CHECK_CONTAINS(text, "SIGTERM received");
    CHECK_CONTAINS(text, "modelmgr: stopped");
    CHECK_CONTAINS(text, "http POST /v1/completions 200");
    CHECK(strstr(text, "hi\"") == NULL);     /* no prompt text in the log */
    free(text);

    mmtest_rmtree(tmp);
    free(tmp);
    curl_global_cleanup();
    return mmtest_finish();
}

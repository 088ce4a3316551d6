/* test-serve-route.c - the serving path through the router, in-process: a
 * real model manager with synthesized models (one of them truncated) and
 * two mock OpenAI servers as remotes. Proves: remote models are listed and
 * served (whole and streamed), two deployments of one model share the load
 * evenly, a remote that hangs, drops the connection or answers garbage ends
 * in an answer from the next model with X-Modelmgr-Tried saying why, the
 * circuit opens after allowed_fails failures (health shows it) and closes
 * after a good half-open try, a failed health probe takes a remote out
 * until a good one, a strategy header changes the pick, a local model that
 * cannot load falls back and shows unavailable, an unreadable one leaves the
 * others serving, a model written after start serves once the catalog
 * refreshes (a stream in flight keeps its router), and POST /api/route
 * explains a route or refuses bad input in OpenAI's error shape. */
// labels: integration
#include "runtime/runtime.h"
#include "server/server.h"
#include "support/httpc.h"
#include "support/mockoai.h"
#include "support/routed.h"
#include "support/synth.h"
#include "support/test.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char *tmp;
static server *srv;

static mm_config *load_config(mockoai *east, mockoai *west)
{
    char yaml[4096], path[1200], models[1100], file[1100], cache[1100], home[1100];
    snprintf(yaml, sizeof yaml,
             "default_model: small\n"
             "router:\n"
             "  retries: 0\n"
             "  allowed_fails: 3\n"
             "  cooldown: 1\n"
             "  probe_interval: 0\n"
             "models:\n"
             "  - name: solo\n"
             "    fallbacks: [small]\n"
             "remotes:\n"
             "  - name: east\n"
             "    base_url: %s\n"
             "    models: [gpt-x, solo]\n"
             "    first_byte_timeout: 1\n"
             "    cost_in: 1\n"
             "    cost_out: 2\n"
             "  - name: west\n"
             "    base_url: %s\n"
             "    models: [gpt-x]\n"
             "    cost_in: 1\n"
             "    cost_out: 2\n",
             mockoai_url(east), mockoai_url(west));
    snprintf(path, sizeof path, "%s/config.yaml", tmp);
    mmtest_write_file(path, yaml);
    snprintf(models, sizeof models, "models_dir=%s/models", tmp);
    snprintf(file, sizeof file, "models_file=%s/models.txt", tmp);
    snprintf(cache, sizeof cache, "hf_cache=%s/hub", tmp);
    snprintf(home, sizeof home, "HOME=%s", tmp);
    const char *env[] = { home, NULL };
    const char *flags[] = { models, file, cache, "threads=1", "pool_size=1",
                            "vosk_model_path=", "skip_downloads=true", NULL };
    mm_config_sources src = { .config_path = path, .env = env, .flags = flags };
    mm_config *cfg = NULL;
    mm_error err = { 0 };
    if (mm_config_load(&src, &cfg, &err) != 0)
        fprintf(stderr, "config: %s\n", err.message);
    return cfg;
}

static void write_model(const char *name, int n_ctx)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/models/%s.gguf", tmp, name);
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    p.n_ctx = n_ctx;
    CHECK_INT(mmtest_synth_model(&p, path), 0);
}

/* POST body to path with optional extra header; r filled (free it). */
static long post(const char *path, const char *body, const char *header, httpc_result *r)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", server_url(srv), path);
    const char *hdr[] = { "Content-Type: application/json", header, NULL };
    return httpc_request("POST", url, body, hdr, r);
}

static long get(const char *path, httpc_result *r)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", server_url(srv), path);
    return httpc_request("GET", url, NULL, NULL, r);
}

/* The answer's "model" field. */
static void answer_model(const httpc_result *r, char *out, size_t size)
{
    out[0] = '\0';
    cJSON *root = cJSON_Parse(r->body ? r->body : "");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (cJSON_IsString(m))
        mm_strlcpy(out, m->valuestring, size);
    cJSON_Delete(root);
}

static void chat(const char *model, httpc_result *r)
{
    char body[512];
    snprintf(body, sizeof body, "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\","
             "\"content\":\"hi\"}],\"max_tokens\":2,\"temperature\":0}", model);
    post("/v1/chat/completions", body, NULL, r);
}

/* The breaker state of model@deployment in the detailed health. */
static void breaker_of(const char *model, const char *deployment, char *out, size_t size)
{
    out[0] = '\0';
    httpc_result r;
    get("/api/health/detailed", &r);
    cJSON *root = cJSON_Parse(r.body ? r.body : "");
    const cJSON *deps = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(root, "services"), "router"), "deployments");
    const cJSON *d;
    cJSON_ArrayForEach(d, deps) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(d, "model");
        const cJSON *dep = cJSON_GetObjectItemCaseSensitive(d, "deployment");
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(d, "breaker");
        if (cJSON_IsString(m) && cJSON_IsString(dep) && cJSON_IsString(b) &&
            strcmp(m->valuestring, model) == 0 && strcmp(dep->valuestring, deployment) == 0)
            mm_strlcpy(out, b->valuestring, size);
    }
    cJSON_Delete(root);
    httpc_result_free(&r);
}

/* One remote failure for model solo on east, answered by the local model
 * small through solo's fallbacks, the tried-list naming the failure. */
static void check_fallback(mockoai *east, const mockoai_reply *reply, const char *why)
{
    mockoai_push(east, reply);
    httpc_result r;
    chat("solo", &r);
    char model[128], tried[1024] = "";
    answer_model(&r, model, sizeof model);
    CHECK_INT(r.status, 200);
    CHECK_STR(model, "small");
    CHECK_INT(httpc_header(&r, "x-modelmgr-tried", tried, sizeof tried), 0);
    CHECK_CONTAINS(tried, "solo@east failed");
    CHECK_CONTAINS(tried, why);
    CHECK_CONTAINS(tried, "; small@local");
    httpc_result_free(&r);
}

static void test_listing_and_remotes(mockoai *east, mockoai *west)
{
    httpc_result r;
    CHECK_INT(get("/v1/models", &r), 200);
    CHECK_CONTAINS(r.body, "\"small\"");
    CHECK_CONTAINS(r.body, "\"gpt-x\"");
    CHECK_CONTAINS(r.body, "\"solo\"");
    httpc_result_free(&r);
    CHECK_INT(get("/api/tags", &r), 200);
    CHECK_CONTAINS(r.body, "\"gpt-x:latest\"");
    httpc_result_free(&r);

    /* Two deployments of gpt-x: four requests, two each. */
    size_t e0 = mockoai_request_count(east), w0 = mockoai_request_count(west);
    for (int i = 0; i < 4; i++) {
        chat("gpt-x", &r);
        char model[128];
        answer_model(&r, model, sizeof model);
        CHECK_INT(r.status, 200);
        CHECK_STR(model, "gpt-x");
        httpc_result_free(&r);
    }
    CHECK_INT(mockoai_request_count(east) - e0, 2);
    CHECK_INT(mockoai_request_count(west) - w0, 2);

    /* Streamed through the remote: its pieces arrive, named as solo. */
    mockoai_reply st = { .mode = MOCKOAI_STREAM, .text = "He|llo| wor|ld" };
    mockoai_push(east, &st);
    post("/v1/chat/completions", "{\"model\":\"solo\",\"stream\":true,\"messages\":"
         "[{\"role\":\"user\",\"content\":\"hi\"}]}", NULL, &r);
    CHECK_INT(r.status, 200);
    CHECK_CONTAINS(r.body, "\"content\":\"llo\"");
    CHECK_CONTAINS(r.body, "\"model\":\"solo\"");
    CHECK_CONTAINS(r.body, "data: [DONE]");
    httpc_result_free(&r);
}

static void test_faults(mockoai *east)
{
    char state[32];
    breaker_of("solo", "east", state, sizeof state);
    CHECK_STR(state, "closed");
    /* Hangs past the first-byte timeout (1 s). */
    mockoai_reply hang = { .mode = MOCKOAI_ANSWER, .text = "late", .delay_ms = 2500 };
    check_fallback(east, &hang, "timeout");
    /* Drops the connection. */
    mockoai_reply drop = { .mode = MOCKOAI_DROP };
    check_fallback(east, &drop, "solo@east failed: ");
    /* A 200 whose body is not an answer. */
    mockoai_reply garbage = { .mode = MOCKOAI_STATUS, .status = 200, .text = "<html>nope" };
    check_fallback(east, &garbage, "solo@east failed: ");

    /* Three failures (allowed_fails): the circuit is open, health shows it
     * and east is not even asked; small answers. */
    breaker_of("solo", "east", state, sizeof state);
    CHECK_STR(state, "open");
    size_t before = mockoai_request_count(east);
    httpc_result r;
    chat("solo", &r);
    char model[128], tried[1024] = "";
    answer_model(&r, model, sizeof model);
    CHECK_INT(r.status, 200);
    CHECK_STR(model, "small");
    httpc_header(&r, "x-modelmgr-tried", tried, sizeof tried);
    CHECK_CONTAINS(tried, "circuit open");
    CHECK_INT(mockoai_request_count(east), before);
    httpc_result_free(&r);

    /* After the cooldown (1 s) one request probes; it succeeds and closes
     * the circuit. */
    struct timespec ts = { 1, 200 * 1000000L };
    nanosleep(&ts, NULL);
    mockoai_reply good = { .mode = MOCKOAI_ANSWER, .text = "back again" };
    mockoai_push(east, &good);
    chat("solo", &r);
    answer_model(&r, model, sizeof model);
    CHECK_INT(r.status, 200);
    CHECK_STR(model, "solo");
    CHECK_CONTAINS(r.body, "back again");
    CHECK(httpc_header(&r, "x-modelmgr-tried", tried, sizeof tried) != 0);
    httpc_result_free(&r);
    breaker_of("solo", "east", state, sizeof state);
    CHECK_STR(state, "closed");
}

/* A health probe that fails takes solo@east out (its fallback answers)
 * until a probe succeeds again. */
static void test_probe_health(server_service *svc, mockoai *east)
{
    mockoai_reply down = { .mode = MOCKOAI_STATUS, .status = 503,
                           .text = "{\"error\":{\"message\":\"maintenance\"}}" };
    mockoai_push(east, &down);
    server_route_service_probe(svc);
    httpc_result r;
    CHECK_INT(get("/api/health/detailed", &r), 200);
    CHECK_CONTAINS(r.body, "\"east\":{\"state\":\"unavailable\"");
    httpc_result_free(&r);
    size_t before = mockoai_request_count(east);
    chat("solo", &r);
    char model[128];
    answer_model(&r, model, sizeof model);
    CHECK_INT(r.status, 200);
    CHECK_STR(model, "small");
    CHECK_INT(mockoai_request_count(east), before);   /* not even asked */
    httpc_result_free(&r);

    server_route_service_probe(svc);                    /* unscripted: 200 */
    CHECK_INT(get("/api/health/detailed", &r), 200);
    CHECK_CONTAINS(r.body, "\"east\":{\"state\":\"healthy\"");
    httpc_result_free(&r);
    chat("solo", &r);
    answer_model(&r, model, sizeof model);
    CHECK_INT(r.status, 200);
    CHECK_STR(model, "solo");
    httpc_result_free(&r);
}

/* Rename the architecture in the file ("llama" -> "llamx", the GGUF
 * string with its 8-byte length): the catalog still reads it, the engine
 * refuses to load it. */
static void write_unloadable(const char *name)
{
    write_model(name, 256);
    char path[1200];
    snprintf(path, sizeof path, "%s/models/%s.gguf", tmp, name);
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    if (!f)
        return;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    static const char needle[] = "\x05\0\0\0\0\0\0\0llama";
    bool patched = false;
    for (size_t i = 0; i + sizeof needle - 1 <= n && !patched; i++) {
        if (memcmp(buf + i, needle, sizeof needle - 1) == 0) {
            fseek(f, (long)(i + sizeof needle - 2), SEEK_SET);
            fputc('x', f);
            patched = true;
        }
    }
    CHECK(patched);
    fclose(f);
}

static void test_unloadable_local(void)
{
    /* Asked by name, it fails to load; its chain (the default model)
     * answers, and health shows it unavailable. */
    httpc_result r;
    chat("odd", &r);
    char model[128], tried[1024] = "";
    answer_model(&r, model, sizeof model);
    CHECK_INT(r.status, 200);
    CHECK_STR(model, "small");
    httpc_header(&r, "x-modelmgr-tried", tried, sizeof tried);
    CHECK_CONTAINS(tried, "odd@local failed: ");
    CHECK_CONTAINS(tried, "not supported");
    CHECK_CONTAINS(tried, "; small@local");
    httpc_result_free(&r);
    CHECK_INT(get("/api/health/detailed", &r), 200);
    cJSON *root = cJSON_Parse(r.body);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
                root, "services"), "models"), "models"), "odd"), "status");
    CHECK(cJSON_IsString(st) && strcmp(st->valuestring, "unavailable") == 0);
    cJSON_Delete(root);
    httpc_result_free(&r);
    /* Now the router knows it is down: the next request goes straight to
     * the fallback without trying it. */
    chat("odd", &r);
    answer_model(&r, model, sizeof model);
    CHECK_INT(r.status, 200);
    CHECK_STR(model, "small");
    httpc_result_free(&r);
}

static void test_broken_local(void)
{
    /* The truncated model is unreadable: asked by name it is refused with
     * the reason, it is not listed, and health shows it unavailable. */
    httpc_result r;
    chat("broken", &r);
    char model[128], tried[1024] = "";
    CHECK_INT(r.status, 404);
    CHECK_CONTAINS(r.body, "its files are unreadable");
    httpc_result_free(&r);
    CHECK_INT(get("/v1/models", &r), 200);
    CHECK(strstr(r.body, "\"broken\"") == NULL);
    httpc_result_free(&r);
    CHECK_INT(get("/api/health/detailed", &r), 200);
    cJSON *root = cJSON_Parse(r.body);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
                root, "services"), "models"), "models"), "broken"), "status");
    CHECK(cJSON_IsString(b) && strcmp(b->valuestring, "unavailable") == 0);
    cJSON_Delete(root);
    httpc_result_free(&r);
    /* The good local model keeps serving, asked by name. */
    chat("small", &r);
    answer_model(&r, model, sizeof model);
    CHECK_INT(r.status, 200);
    CHECK_STR(model, "small");
    CHECK(httpc_header(&r, "x-modelmgr-tried", tried, sizeof tried) != 0);
    httpc_result_free(&r);
}

static void test_auto_and_route(void)
{
    /* No model: the router decides, and the answer names a real model. */
    httpc_result r;
    post("/v1/completions", "{\"prompt\":\"hello\",\"max_tokens\":2,\"temperature\":0}",
         NULL, &r);
    char model[128];
    answer_model(&r, model, sizeof model);
    CHECK_INT(r.status, 200);
    CHECK(model[0] && strcmp(model, "auto") != 0);
    httpc_result_free(&r);
    /* A strategy per request: cost picks the free local model. */
    post("/v1/completions", "{\"prompt\":\"hello\",\"max_tokens\":2,\"temperature\":0}",
         "X-Modelmgr-Strategy: cost", &r);
    answer_model(&r, model, sizeof model);
    CHECK_INT(r.status, 200);
    CHECK_STR(model, "small");
    httpc_result_free(&r);
    /* A bad strategy header. */
    post("/v1/completions", "{\"prompt\":\"hello\",\"max_tokens\":2}",
         "X-Modelmgr-Strategy: fastest", &r);
    CHECK_INT(r.status, 400);
    CHECK_CONTAINS(r.body, "unknown routing strategy 'fastest'");
    httpc_result_free(&r);

    /* /api/route explains; cost picks the free local model. */
    CHECK_INT(post("/api/route", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                   "\"strategy\":\"cost\"}", NULL, &r), 200);
    cJSON *root = cJSON_Parse(r.body);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "strategy"), "name");
    CHECK(cJSON_IsString(name) && strcmp(name->valuestring, "cost") == 0);
    CHECK(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, "candidates")));
    CHECK(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "choice")));
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "choice")))
        fprintf(stderr, "  %s\n", r.body);
    cJSON_Delete(root);
    httpc_result_free(&r);
    /* Bad input: OpenAI's error shape, not Ollama's. */
    CHECK_INT(post("/api/route", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                   "\"strategy\":\"fastest\"}", NULL, &r), 400);
    CHECK_CONTAINS(r.body, "\"type\":\"invalid_request_error\"");
    CHECK_CONTAINS(r.body, "\"param\":\"strategy\"");
    httpc_result_free(&r);
    CHECK_INT(post("/api/route", "{\"messages\":", NULL, &r), 400);
    CHECK_CONTAINS(r.body, "\"error\":{");
    httpc_result_free(&r);
    CHECK_INT(post("/api/route", "{\"messages\":[]}", NULL, &r), 400);
    CHECK_CONTAINS(r.body, "\"param\":\"messages\"");
    httpc_result_free(&r);
}

static void *slow_stream(void *arg)
{
    httpc_result *r = arg;
    post("/v1/chat/completions", "{\"model\":\"solo\",\"stream\":true,\"messages\":"
         "[{\"role\":\"user\",\"content\":\"hi\"}]}", NULL, r);
    return NULL;
}

/* A model written after start serves once the catalog refreshes; a stream
 * in flight across the router's rebuild finishes on its old router. */
static void test_refresh(mm_manager *mgr, mockoai *east)
{
    httpc_result r;
    chat("later", &r);
    CHECK_INT(r.status, 404);
    httpc_result_free(&r);

    mockoai_reply st = { .mode = MOCKOAI_STREAM, .text = "one|two|three|four",
                         .chunk_delay_ms = 200 };
    mockoai_push(east, &st);
    httpc_result slow;
    pthread_t t;
    CHECK_INT(pthread_create(&t, NULL, slow_stream, &slow), 0);
    struct timespec ts = { 0, 250 * 1000000L };
    nanosleep(&ts, NULL);
    write_model("later", 256);
    mm_error err = { 0 };
    CHECK_INT(rt_manager_refresh(mgr, &err), 0);
    chat("later", &r);
    pthread_join(t, NULL);
    CHECK_INT(slow.status, 200);
    CHECK_CONTAINS(slow.body, "\"content\":\"four\"");
    CHECK_CONTAINS(slow.body, "data: [DONE]");
    httpc_result_free(&slow);
    char model[128];
    answer_model(&r, model, sizeof model);
    CHECK_INT(r.status, 200);
    CHECK_STR(model, "later");
    httpc_result_free(&r);
    CHECK_INT(get("/v1/models", &r), 200);
    CHECK_CONTAINS(r.body, "\"later\"");
    httpc_result_free(&r);
}

int main(void)
{
    tmp = mmtest_tmpdir();
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/models", tmp);
    mm_mkdirs(dir, NULL);
    write_model("small", 256);
    write_model("broken", 256);
    write_unloadable("odd");
    /* Cut the broken model's tensor data short: the header still reads. */
    char path[1200];
    snprintf(path, sizeof path, "%s/broken.gguf", dir);
    struct stat st;
    CHECK_INT(stat(path, &st), 0);
    CHECK_INT(truncate(path, st.st_size - st.st_size / 3), 0);

    mockoai *east = mockoai_start(), *west = mockoai_start();
    mm_config *cfg = load_config(east, west);
    CHECK(cfg != NULL);
    if (!cfg)
        return mmtest_finish();
    mmtest_routed stack;
    if (mmtest_routed_start(cfg, &stack) != 0) {
        mmtest_routed_stop(&stack);
        return mmtest_finish();
    }
    srv = stack.srv;
    test_listing_and_remotes(east, west);
    test_faults(east);
    test_probe_health(&stack.svc, east);
    test_broken_local();
    test_unloadable_local();
    test_auto_and_route();
    test_refresh(stack.mgr, east);

    mmtest_routed_stop(&stack);
    mm_config_free(cfg);
    mockoai_stop(east);
    mockoai_stop(west);
    return mmtest_finish();
}

/* test-server-admin.c - the admin API and Ollama's /api/pull on the real
 * manager, a synthesized model and the mock hub: the catalog listing, pull
 * jobs to completion with progress (audited, and the catalog refreshed so
 * the model is listed), the pinning refusal with the CLI's exact message, a
 * failed job's error, load/unload seen in /api/ps and health, Ollama's NDJSON
 * pull lines, keep_alive, bad bodies, and the API key on every admin route. */
// labels: integration
#include "server/server.h"
#include "support/mockhub.h"
#include "support/synth.h"
#include "server-fixture.h"

#include <time.h>

#define REPO     "org/tiny-GGUF"
#define Q4_FILE  "tiny-Q4_K_M.gguf"
#define Q8_FILE  "tiny-Q8_0.gguf"
#define Q4_SIZE  300000
#define Q8_SIZE  200000
/* The CLI's message for a pull without a pinned revision (hub-download.c),
 * written out by hand. */
#define PIN_MAIN "Revision must be explicitly pinned: pass a commit hash or tag (got 'main')"

static char *tmp;
static mockhub *hub;
static server *srv;

static void nap_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static cJSON *get_json(const char *path, long want)
{
    httpc_result r;
    CHECK_INT(fx_get(srv, path, &r), want);
    cJSON *j = cJSON_Parse(r.body ? r.body : "");
    CHECK(j != NULL);
    httpc_result_free(&r);
    return j;
}

/* The model row named like key (or with repo) in GET /api/models; a copy. */
static cJSON *find_model(const char *name, const char *repo)
{
    cJSON *root = get_json("/api/models", 200);
    cJSON *found = NULL, *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(root, "data")) {
        if ((name && fx_str(m, "name") && strcmp(fx_str(m, "name"), name) == 0) ||
            (repo && fx_str(m, "repo") && strcmp(fx_str(m, "repo"), repo) == 0)) {
            found = cJSON_Duplicate(m, true);
            break;
        }
    }
    cJSON_Delete(root);
    return found;
}

/* Poll GET /api/jobs/{id} until it is done or failed (bounded); the last
 * state seen. *partial: a running state with 0 < bytes_done < bytes_total
 * was seen. */
static cJSON *wait_job(const char *id, bool *partial)
{
    char path[128];
    snprintf(path, sizeof path, "/api/jobs/%s", id);
    for (int i = 0; i < 3000; i++) {
        cJSON *j = get_json(path, 200);
        const char *state = fx_str(j, "state");
        double done = fx_num(j, "bytes_done"), total = fx_num(j, "bytes_total");
        if (partial && state && strcmp(state, "running") == 0 && done > 0 && done < total)
            *partial = true;
        if (!state || strcmp(state, "done") == 0 || strcmp(state, "failed") == 0)
            return j;
        cJSON_Delete(j);
        nap_ms(10);
    }
    CHECK(!"the job did not finish in 30 s");
    return NULL;
}

static char *submit(const char *body, long want)
{
    httpc_result r;
    CHECK_INT(fx_post(srv, "/api/models/pull", body, &r), want);
    cJSON *j = cJSON_Parse(r.body ? r.body : "");
    char *id = NULL;
    if (want == 202 && fx_str(j, "id")) {
        id = strdup(fx_str(j, "id"));
        CHECK_STR(fx_str(j, "state"), "queued");
    }
    cJSON_Delete(j);
    httpc_result_free(&r);
    return id;
}

static void test_catalog_listing(void)
{
    cJSON *m = find_model("local", NULL);
    CHECK(m != NULL);
    if (!m)
        return;
    CHECK_STR(fx_str(m, "state"), "available");
    CHECK_STR(fx_str(m, "format"), "gguf");
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(m, "loaded")));
    CHECK(fx_num(m, "size") > 0);
    CHECK(fx_num(m, "context_length") > 0);
    cJSON_Delete(m);
    CHECK(find_model(NULL, REPO) == NULL);   /* not pulled yet */
}

static void test_pinning(void)
{
    httpc_result r;
    CHECK_INT(fx_post(srv, "/api/models/pull", "{\"repo\":\"" REPO ":Q4_K_M\"}", &r), 400);
    fx_check_openai_error(&r, 400, "invalid_request_error", "revision_not_pinned", PIN_MAIN);
    httpc_result_free(&r);
    CHECK_INT(fx_post(srv, "/api/models/pull", "{\"repo\":\"" REPO "\",\"revision\":\"main\"}",
                      &r), 400);
    fx_check_openai_error(&r, 400, "invalid_request_error", "revision_not_pinned", PIN_MAIN);
    httpc_result_free(&r);
    CHECK_INT(fx_post(srv, "/api/models/pull", "{\"repo\":\"" REPO "\",\"revision\":\"latest\"}",
                      &r), 400);
    fx_check_openai_error(&r, 400, "invalid_request_error", "revision_not_pinned",
                          "Revision must be explicitly pinned: pass a commit hash or tag "
                          "(got 'latest')");
    httpc_result_free(&r);
    /* A branch other than main: the hub says it is not a tag. */
    CHECK_INT(fx_post(srv, "/api/models/pull", "{\"repo\":\"" REPO "\",\"revision\":\"dev\"}",
                      &r), 400);
    fx_check_openai_error(&r, 400, "invalid_request_error", "revision_not_pinned",
                          "Revision must be explicitly pinned");
    httpc_result_free(&r);
    CHECK_INT(mockhub_count(hub, "GET", "/resolve/"), 0);   /* nothing downloaded */
}

static void test_pull_job(void)
{
    /* A pause mid-file makes the running state with partial bytes visible. */
    mockhub_fault pause = { .where = MOCKHUB_AT_CDN, .pause_after = Q4_SIZE / 3,
                            .pause_ms = 800, .times = 1 };
    mockhub_fault_add(hub, &pause);
    char *id = submit("{\"repo\":\"" REPO ":Q4_K_M\",\"revision\":\"v1\"}", 202);
    CHECK(id != NULL);
    if (!id)
        return;
    bool partial = false;
    cJSON *j = wait_job(id, &partial);
    mockhub_faults_clear(hub);
    CHECK_STR(fx_str(j, "state"), "done");
    CHECK(partial);
    CHECK_NEAR(fx_num(j, "bytes_done"), Q4_SIZE, 0);
    CHECK_NEAR(fx_num(j, "bytes_total"), Q4_SIZE, 0);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "error")));
    mockhub_file_info fi;
    CHECK_INT(mockhub_file_info_get(hub, REPO, "v1", Q4_FILE, &fi), 0);
    cJSON *f0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "files"), 0);
    CHECK_STR(fx_str(f0, "name"), Q4_FILE);
    CHECK_STR(fx_str(f0, "sha256"), fi.sha256);
    cJSON_Delete(j);

    /* Listed, audited, and in the catalog now (the manager refreshed it). */
    cJSON *all = get_json("/api/jobs", 200);
    bool listed = false;
    cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(all, "data"))
        listed = listed || (fx_str(e, "id") && strcmp(fx_str(e, "id"), id) == 0);
    CHECK(listed);
    cJSON_Delete(all);
    char audit[1200];
    snprintf(audit, sizeof audit, "%s/models/audit.jsonl", tmp);
    char *text = NULL;
    size_t text_len = 0;
    CHECK_INT(mm_file_read(audit, 1 << 20, &text, &text_len, NULL), 0);
    if (text)
        CHECK_CONTAINS(text, Q4_FILE);
    free(text);
    cJSON *m = find_model(NULL, REPO);
    CHECK(m != NULL);
    cJSON_Delete(m);
    free(id);
}

/* include patterns pick files of a whole-repo pull: only README.md here. */
static void test_patterns(void)
{
    char *id = submit("{\"repo\":\"" REPO "\",\"revision\":\"v1\",\"include\":[\"*.md\"],"
                      "\"exclude\":\"*.gguf\"}", 202);
    CHECK(id != NULL);
    if (!id)
        return;
    cJSON *j = wait_job(id, NULL);
    CHECK_STR(fx_str(j, "state"), "done");
    cJSON *files = cJSON_GetObjectItem(j, "files");
    CHECK_INT(cJSON_GetArraySize(files), 1);
    CHECK_STR(fx_str(cJSON_GetArrayItem(files, 0), "name"), "README.md");
    CHECK_NEAR(fx_num(j, "bytes_total"), 100, 0);
    cJSON_Delete(j);
    free(id);
}

static void test_failed_job(void)
{
    char *id = submit("{\"repo\":\"org/missing\",\"revision\":"
                      "\"0123456789abcdef0123456789abcdef01234567\"}", 202);
    CHECK(id != NULL);
    if (!id)
        return;
    cJSON *j = wait_job(id, NULL);
    CHECK_STR(fx_str(j, "state"), "failed");
    const char *why = fx_str(j, "error");
    CHECK(why && strstr(why, "org/missing"));
    cJSON_Delete(j);
    free(id);
    httpc_result r;
    CHECK_INT(fx_get(srv, "/api/jobs/job-nope", &r), 404);
    fx_check_openai_error(&r, 404, "invalid_request_error", "job_not_found", "no job 'job-nope'");
    httpc_result_free(&r);
}

static bool ps_has(const char *name)
{
    cJSON *ps = get_json("/api/ps", 200);
    bool found = false;
    cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(ps, "models"))
        found = found || (fx_str(m, "model") && strncmp(fx_str(m, "model"), name,
                                                          strlen(name)) == 0);
    cJSON_Delete(ps);
    return found;
}

static bool health_loaded(const char *name)
{
    cJSON *h = get_json("/api/health/detailed", 200);
    cJSON *m = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(
        cJSON_GetObjectItem(h, "services"), "models"), "models"), name);
    bool loaded = cJSON_IsTrue(cJSON_GetObjectItem(m, "loaded"));
    cJSON_Delete(h);
    return loaded;
}

static void test_load_unload(void)
{
    httpc_result r;
    CHECK_INT(fx_post(srv, "/api/models/local/load", "", &r), 200);
    cJSON *j = cJSON_Parse(r.body);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "loaded")));
    cJSON_Delete(j);
    httpc_result_free(&r);
    CHECK(ps_has("local"));
    CHECK(health_loaded("local"));
    cJSON *m = find_model("local", NULL);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(m, "loaded")));
    cJSON_Delete(m);

    CHECK_INT(fx_post(srv, "/api/models/local/unload", "", &r), 200);
    j = cJSON_Parse(r.body);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(j, "loaded")));
    cJSON_Delete(j);
    httpc_result_free(&r);
    CHECK(!ps_has("local"));
    CHECK(!health_loaded("local"));

    CHECK_INT(fx_post(srv, "/api/models/nosuch/load", "", &r), 404);
    fx_check_openai_error(&r, 404, "invalid_request_error", "model_not_found", "nosuch");
    httpc_result_free(&r);
    CHECK_INT(fx_post(srv, "/api/models/local/explode", "", &r), 404);
    fx_check_openai_error(&r, 404, "invalid_request_error", NULL, "/load");
    httpc_result_free(&r);
    CHECK_INT(fx_get(srv, "/api/models/local/load", &r), 405);   /* OpenAI shape too */
    fx_check_openai_error(&r, 405, "invalid_request_error", "method_not_allowed", "POST");
    httpc_result_free(&r);
}

/* The NDJSON lines of a streamed Ollama pull of the Q8_0 file. */
static void test_ollama_pull(void)
{
    httpc_result r;
    CHECK_INT(fx_post(srv, "/api/pull", "{\"model\":\"" REPO ":Q8_0@v1\"}", &r), 200);
    char ct[128] = "";
    httpc_header(&r, "content-type", ct, sizeof ct);
    CHECK_STR(ct, "application/x-ndjson");
    char **lines = NULL;
    int n = fx_ndjson_lines(r.body ? r.body : "", &lines);
    CHECK(n >= 5);
    mockhub_file_info fi;
    CHECK_INT(mockhub_file_info_get(hub, REPO, "v1", Q8_FILE, &fi), 0);
    char digest[80], status[40];
    snprintf(digest, sizeof digest, "sha256:%s", fi.sha256);
    snprintf(status, sizeof status, "pulling %.12s", fi.sha256);
    bool saw_digest = false, saw_verify = false;
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_Parse(lines[i]);
        CHECK(o != NULL);
        const char *st = fx_str(o, "status");
        CHECK(st != NULL);
        if (i == 0)
            CHECK_STR(st, "pulling manifest");
        if (i == n - 1)
            CHECK_STR(st, "success");
        if (fx_str(o, "digest") && strcmp(fx_str(o, "digest"), digest) == 0) {
            saw_digest = true;
            CHECK_STR(st, status);
            CHECK_NEAR(fx_num(o, "total"), Q8_SIZE, 0);
            CHECK_NEAR(fx_num(o, "completed"), Q8_SIZE, 0);
        }
        saw_verify = saw_verify || (st && strcmp(st, "verifying sha256 digest") == 0);
        cJSON_Delete(o);
    }
    CHECK(saw_digest);
    CHECK(saw_verify);
    fx_free_list(lines, n);
    httpc_result_free(&r);

    /* stream:false with the revision as a body field; cached: one object. */
    CHECK_INT(fx_post(srv, "/api/pull", "{\"model\":\"" REPO ":Q4_K_M\",\"revision\":\"v1\","
                      "\"stream\":false}", &r), 200);
    CHECK_STR(r.body, "{\"status\":\"success\"}");
    httpc_result_free(&r);

    /* Unpinned: Ollama's error shape with the CLI's message, nothing queued. */
    CHECK_INT(fx_post(srv, "/api/pull", "{\"model\":\"" REPO ":latest\"}", &r), 400);
    fx_check_ollama_error(&r, 400, PIN_MAIN);
    CHECK_STR(r.body, "{\"error\":\"" PIN_MAIN "\"}");
    httpc_result_free(&r);
    CHECK_INT(fx_post(srv, "/api/pull", "{\"model\":\"" REPO "@v1\",\"revision\":\"v2\"}", &r),
              400);
    fx_check_ollama_error(&r, 400, "give one");
    httpc_result_free(&r);
    CHECK_INT(fx_post(srv, "/api/pull", "{}", &r), 400);
    fx_check_ollama_error(&r, 400, "'model' is required");
    httpc_result_free(&r);
    /* A failing pull streams its error as {"error": ...}. */
    CHECK_INT(fx_post(srv, "/api/pull", "{\"model\":\"org/missing@"
                      "0123456789abcdef0123456789abcdef01234567\"}", &r), 200);
    n = fx_ndjson_lines(r.body ? r.body : "", &lines);
    CHECK(n >= 2);
    if (n >= 2) {
        cJSON *o = cJSON_Parse(lines[n - 1]);
        CHECK(fx_str(o, "error") && strstr(fx_str(o, "error"), "org/missing"));
        cJSON_Delete(o);
    }
    fx_free_list(lines, n);
    httpc_result_free(&r);
}

static void test_keep_alive(void)
{
    httpc_result r;
    /* 1h: the model stays loaded after the answer. */
    CHECK_INT(fx_post(srv, "/api/generate", "{\"model\":\"local\",\"prompt\":\"hi\",\"stream\":"
                      "false,\"keep_alive\":\"1h\",\"options\":{\"num_predict\":2}}", &r), 200);
    httpc_result_free(&r);
    CHECK(ps_has("local"));
    /* 0: unloaded right after the answer. */
    CHECK_INT(fx_post(srv, "/api/chat", "{\"model\":\"local\",\"messages\":[{\"role\":\"user\","
                      "\"content\":\"hi\"}],\"stream\":false,\"keep_alive\":0,"
                      "\"options\":{\"num_predict\":2}}", &r), 200);
    httpc_result_free(&r);
    CHECK(!ps_has("local"));
    CHECK(!health_loaded("local"));
    /* An empty prompt with keep_alive 0 is Ollama's unload request. */
    CHECK_INT(fx_post(srv, "/api/generate", "{\"model\":\"local\",\"keep_alive\":-1}", &r), 200);
    httpc_result_free(&r);
    CHECK_INT(fx_post(srv, "/api/generate", "{\"model\":\"local\",\"stream\":false,"
                      "\"keep_alive\":\"0s\"}", &r), 200);
    cJSON *j = cJSON_Parse(r.body);
    CHECK_STR(fx_str(j, "done_reason"), "unload");
    cJSON_Delete(j);
    httpc_result_free(&r);
    CHECK(!ps_has("local"));
    CHECK_INT(fx_post(srv, "/api/generate", "{\"model\":\"local\",\"prompt\":\"hi\","
                      "\"keep_alive\":\"5 minutes\"}", &r), 400);
    fx_check_ollama_error(&r, 400, "'keep_alive' must be a duration");
    httpc_result_free(&r);
}

static void test_bad_bodies(void)
{
    static const struct { const char *body; const char *param_or_text; } cases[] = {
        { "not json", "JSON object" },
        { "[1]", "JSON object" },
        { "{\"revision\":\"v1\"}", "'repo' is required" },
        { "{\"repo\":5,\"revision\":\"v1\"}", "'repo' must be a non-empty string" },
        { "{\"repo\":\"noslash\",\"revision\":\"v1\"}", "is not a repository id" },
        { "{\"repo\":\"" REPO ":Q4_K_M\",\"filename\":\"a.gguf\",\"revision\":\"v1\"}",
          "not both" },
        { "{\"repo\":\"" REPO "\",\"filename\":\"a.gguf\",\"include\":\"*.gguf\","
          "\"revision\":\"v1\"}", "whole-repo pull" },
        { "{\"repo\":\"" REPO "\",\"include\":[1],\"revision\":\"v1\"}", "patterns must be" },
    };
    for (size_t i = 0; i < MM_ARRAY_LEN(cases); i++) {
        httpc_result r;
        CHECK_INT(fx_post(srv, "/api/models/pull", cases[i].body, &r), 400);
        fx_check_openai_error(&r, 400, "invalid_request_error", NULL, cases[i].param_or_text);
        httpc_result_free(&r);
    }
}

/* With an API key, every admin route wants it; /api/health does not. */
static void test_auth(const mm_config *cfg, mm_catalog *cat, mm_manager *mgr,
                      server_service *svc)
{
    server_options opts = { .host = "127.0.0.1", .port = 0, .api_key = "k3y-admin",
                            .admin = { .cfg = cfg, .cat = cat, .mgr = mgr } };
    server *keyed = NULL;
    CHECK_INT(server_start(&opts, svc, &keyed, NULL), 0);
    if (!keyed)
        return;
    static const char *const routes[][2] = {
        { "GET", "/api/models" }, { "POST", "/api/models/pull" }, { "GET", "/api/jobs" },
        { "GET", "/api/jobs/x" }, { "POST", "/api/models/local/load" },
        { "POST", "/api/models/local/unload" }, { "POST", "/api/pull" },
    };
    char url[512];
    for (size_t i = 0; i < MM_ARRAY_LEN(routes); i++) {
        snprintf(url, sizeof url, "%s%s", server_url(keyed), routes[i][1]);
        httpc_result r;
        CHECK_INT(httpc_request(routes[i][0], url, "{}", fx_json_headers, &r), 401);
        httpc_result_free(&r);
    }
    static const char *const auth[] = { "Authorization: Bearer k3y-admin", NULL };
    snprintf(url, sizeof url, "%s/api/models", server_url(keyed));
    httpc_result r;
    CHECK_INT(httpc_request("GET", url, NULL, auth, &r), 200);
    httpc_result_free(&r);
    server_stop(keyed, 1000);

    /* Without an admin context (no configuration) the admin API says so. */
    server_options bare = { .host = "127.0.0.1", .port = 0 };
    server *plain = NULL;
    CHECK_INT(server_start(&bare, svc, &plain, NULL), 0);
    if (!plain)
        return;
    snprintf(url, sizeof url, "%s/api/models", server_url(plain));
    CHECK_INT(httpc_request("GET", url, NULL, NULL, &r), 501);
    fx_check_openai_error(&r, 501, "not_supported_error", "not_implemented", "admin API");
    httpc_result_free(&r);
    snprintf(url, sizeof url, "%s/api/pull", server_url(plain));
    CHECK_INT(httpc_request("POST", url, "{}", fx_json_headers, &r), 501);
    fx_check_ollama_error(&r, 501, "pulling is not available");
    httpc_result_free(&r);
    server_stop(plain, 1000);
}

/* The job table is bounded: with every slot queued or running, a pull is a
 * 503. The hub answers this repo slowly, so the jobs stay busy; stopping
 * the server fails the queued ones and waits only for the two running. */
static void test_job_limit(void)
{
    mockhub_fault slow = { .where = MOCKHUB_AT_HUB, .path_contains = "org/slow",
                           .delay_ms = 1500 };
    mockhub_fault_add(hub, &slow);
    const char *body = "{\"repo\":\"org/slow\",\"revision\":"
                       "\"0123456789abcdef0123456789abcdef01234567\"}";
    /* Finished jobs give their slots up: fill every slot with a slow one. */
    for (int i = 0; i < SERVER_JOBS_MAX; i++)
        free(submit(body, 202));
    httpc_result r;
    CHECK_INT(fx_post(srv, "/api/models/pull", body, &r), 503);
    fx_check_openai_error(&r, 503, "service_unavailable_error", "too_many_jobs",
                          "pull jobs are queued or running already");
    httpc_result_free(&r);
    cJSON *all = get_json("/api/jobs", 200);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(all, "data")), SERVER_JOBS_MAX);
    cJSON_Delete(all);
}

/* A model over the memory budget: the load is a 507 with the budget message. */
static void test_over_budget(void)
{
    char *dir2 = mmtest_tmpdir();
    char *models = mm_path_join(dir2, "models");
    mm_mkdirs(models, NULL);
    char *big = mm_path_join(models, "big.gguf");
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    p.n_embd = 256;          /* about 5 MiB of F32 weights: over a 1 MiB budget */
    p.n_ff = 512;
    CHECK_INT(mmtest_synth_model(&p, big), 0);
    const char *flags[] = { "memory_budget=1M", NULL };
    mm_config *cfg = mmtest_config(dir2, flags);
    mm_catalog *cat = NULL;
    mm_manager *mgr = NULL;
    server_service svc = { 0 };
    server *small = NULL;
    if (cfg && mm_catalog_open(cfg, &cat, NULL) == 0 && mm_manager_open(cfg, &mgr, NULL) == 0 &&
        server_catalog_service_new(cat, mgr, &svc, NULL) == 0) {
        server_options opts = { .host = "127.0.0.1", .port = 0,
                                .admin = { .cfg = cfg, .cat = cat, .mgr = mgr } };
        CHECK_INT(server_start(&opts, &svc, &small, NULL), 0);
    }
    CHECK(small != NULL);
    if (small) {
        char url[512];
        snprintf(url, sizeof url, "%s/api/models/big/load", server_url(small));
        httpc_result r;
        CHECK_INT(httpc_request("POST", url, "", NULL, &r), 507);
        fx_check_openai_error(&r, 507, "insufficient_storage_error", "memory_budget_exceeded",
                              "memory budget");
        httpc_result_free(&r);
        server_stop(small, 1000);
    }
    server_catalog_service_free(&svc);
    mm_manager_close(mgr);
    mm_catalog_close(cat);
    mm_config_free(cfg);
    free(big);
    free(models);
    mmtest_rmtree(dir2);
    free(dir2);
}

int main(void)
{
    tmp = mmtest_tmpdir();
    mockhub_options ho = { 0 };
    if (mockhub_start(&ho, &hub) != 0) {
        CHECK(!"mockhub_start");
        return mmtest_finish();
    }
    mockhub_repo_add(hub, REPO, MOCKHUB_PUBLIC);
    mockhub_file_add(hub, REPO, Q4_FILE, Q4_SIZE, 1, true);
    mockhub_file_add(hub, REPO, Q8_FILE, Q8_SIZE, 2, true);
    mockhub_file_add(hub, REPO, "README.md", 100, 3, false);
    mockhub_tag_add(hub, REPO, "v1", "main");
    mockhub_branch_add(hub, REPO, "dev", "main");

    char *dir = mm_path_join(tmp, "models");
    mm_mkdirs(dir, NULL);
    char *path = mm_path_join(dir, "local.gguf");
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    CHECK_INT(mmtest_synth_model(&p, path), 0);
    char ep[600];
    snprintf(ep, sizeof ep, "hf_endpoint=%s", mockhub_url(hub));
    const char *flags[] = { ep, "hf_token=", NULL };
    mm_config *cfg = mmtest_config(tmp, flags);
    mm_catalog *cat = NULL;
    mm_manager *mgr = NULL;
    server_service svc = { 0 };
    mm_error err = { 0 };
    CHECK(cfg != NULL);
    if (!cfg || mm_catalog_open(cfg, &cat, &err) != 0 || mm_manager_open(cfg, &mgr, &err) != 0 ||
        server_catalog_service_new(cat, mgr, &svc, &err) != 0) {
        CHECK(!"setup failed");
        fprintf(stderr, "setup: %s\n", err.message);
        return mmtest_finish();
    }
    server_options opts = { .host = "127.0.0.1", .port = 0,
                            .admin = { .cfg = cfg, .cat = cat, .mgr = mgr } };
    CHECK_INT(server_start(&opts, &svc, &srv, &err), 0);
    if (srv) {
        test_catalog_listing();
        test_pinning();
        test_pull_job();
        test_patterns();
        test_failed_job();
        test_load_unload();
        test_ollama_pull();
        test_keep_alive();
        test_bad_bodies();
        test_auth(cfg, cat, mgr, &svc);
        test_over_budget();
        test_job_limit();
        server_stop(srv, 1000);
    }
    server_catalog_service_free(&svc);
    mm_manager_close(mgr);
    mm_catalog_close(cat);
    mm_config_free(cfg);
    mockhub_stop(hub);
    free(path);
    free(dir);
    mmtest_rmtree(tmp);
    free(tmp);
    return mmtest_finish();
}

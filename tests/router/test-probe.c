// labels: integration
/* test-probe.c - health probes of remotes against the mock OpenAI server: a
 * failing or unreachable remote is unavailable after one probe and excluded
 * from picks with the reason, healthy again once the mock recovers; a 404 on
 * /v1/models falls back to /health; the key goes as a Bearer header and never
 * into logs or errors; the probe thread runs on its own and stops promptly
 * when the router closes, also in the middle of a probe. */
#include "config/config.h"
#include "router/router.h"
#include "support/mockoai.h"
#include "support/test.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <time.h>

#define KEY "sk-probe-SECRETKEY-1234567890"

static char *tmp;
static char logged[65536];
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void capture_log(mm_log_level level, const char *line, void *user)
{
    (void)level, (void)user;
    pthread_mutex_lock(&log_lock);
    size_t len = strlen(logged);
    snprintf(logged + len, sizeof logged - len, "%s\n", line);
    pthread_mutex_unlock(&log_lock);
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* A router over one remote "cloud" at url serving gpt-x (not probed but by
 * the test), then the remotes in extra (YAML), if any. */
static mm_router *open_router(const char *url, const char *extra, mm_config **cfg_out)
{
    char yaml[4096], path[1200];
    snprintf(yaml, sizeof yaml,
             "router:\n"
             "  probe_interval: 7\n"
             "remotes:\n"
             "  - name: cloud\n"
             "    base_url: %s\n"
             "    api_key_env: MOCK_PROBE_KEY\n"
             "    models: [gpt-x]\n"
             "    probe_interval: 0\n"
             "%s",
             url, extra ? extra : "");
    snprintf(path, sizeof path, "%s/config.yaml", tmp);
    mmtest_write_file(path, yaml);
    const char *env[] = { "HOME=/nonexistent", NULL };
    mm_config_sources src = { .config_path = path, .env = env };
    mm_error err = { 0 };
    mm_config *cfg = NULL;
    CHECK_INT(mm_config_load(&src, &cfg, &err), 0);
    if (!cfg) {
        fprintf(stderr, "  %s\n", err.message);
        return NULL;
    }
    mm_router *r = NULL;
    CHECK_INT(mm_router_open(cfg, NULL, &r, &err), 0);
    if (!r)
        fprintf(stderr, "  %s\n", err.message);
    *cfg_out = cfg;
    return r;
}

static mm_remote_state state_of(mm_router *r)
{
    mm_remote_health h;
    CHECK_INT(mm_router_remote_health(r, 0, &h), 0);
    return h.state;
}

/* The JSON candidate gpt-x (cloud) and the remotes entry of cloud. */
static void check_json(mm_router *r, const char *health, const char *excluded)
{
    mm_route_request req = { .prompt = "hello" };
    char *text = NULL;
    mm_error err = { 0 };
    mm_router_explain(r, &req, true, &text, &err);
    cJSON *root = cJSON_Parse(text);
    CHECK(root != NULL);
    cJSON *cand = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "candidates"), 0);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cand, "health")), health);
    if (excluded)
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cand, "excluded")), excluded);
    else
        CHECK(cJSON_IsNull(cJSON_GetObjectItem(cand, "excluded")));
    cJSON *rem = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "remotes"), 0);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(rem, "name")), "cloud");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(rem, "health")), health);
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(rem, "last_probe_ms_ago")));
    cJSON_Delete(root);
    free(text);
}

static void test_down_and_recover(void)
{
    mockoai *m = mockoai_start();
    mm_config *cfg = NULL;
    mm_router *r = open_router(mockoai_url(m), NULL, &cfg);
    if (!r)
        goto out;
    mm_remote_health h;
    CHECK_INT(mm_router_remote_health(r, 0, &h), 0);
    CHECK_STR(h.name, "cloud");
    CHECK_INT(h.state, MM_REMOTE_UNKNOWN);
    CHECK_INT(h.last_probe_age_ms, -1);
    CHECK_INT(h.probe_interval_ms, 0);   /* the remote's 0 beats router.probe_interval */
    CHECK_INT(mm_router_remote_health(r, 1, &h), MM_ENOTFOUND);

    mockoai_reply fail = { .mode = MOCKOAI_STATUS, .status = 503,
                           .text = "{\"error\":{\"message\":\"overloaded\"}}" };
    mockoai_push(m, &fail);
    router_probe_all(r);
    CHECK_INT(mockoai_request_count(m), 1);
    CHECK_INT(mm_router_remote_health(r, 0, &h), 0);
    CHECK_INT(h.state, MM_REMOTE_UNAVAILABLE);
    CHECK_INT(h.http_status, 503);
    CHECK(h.last_probe_age_ms >= 0);
    char expect_err[512], expect_reason[700];
    snprintf(expect_err, sizeof expect_err, "GET %s/models answered HTTP 503", mockoai_url(m));
    CHECK_STR(h.error, expect_err);
    snprintf(expect_reason, sizeof expect_reason, "remote cloud is unreachable: %s", expect_err);

    /* Excluded from picks, with the reason, in the error and the explanation. */
    mm_route_request req = { .prompt = "hello" };
    char *text = NULL;
    mm_error err = { 0 };
    CHECK_INT(mm_router_explain(r, &req, false, &text, &err), MM_EBUSY);
    CHECK_CONTAINS(err.message, expect_reason);
    CHECK_CONTAINS(text, expect_reason);
    CHECK_CONTAINS(text, "remotes:");
    CHECK_CONTAINS(text, "unavailable");
    free(text);
    check_json(r, "unavailable", expect_reason);

    /* The mock answers again (nothing scripted: 200): healthy, picked. */
    router_probe_all(r);
    CHECK_INT(state_of(r), MM_REMOTE_HEALTHY);
    CHECK_INT(mm_router_remote_health(r, 0, &h), 0);
    CHECK_STR(h.error, "");
    CHECK_INT(h.http_status, 200);
    CHECK_INT(mm_router_explain(r, &req, false, &text, &err), 0);
    CHECK_CONTAINS(text, "choice: gpt-x (cloud)");
    CHECK_CONTAINS(text, "healthy");
    free(text);
    check_json(r, "healthy", NULL);

    /* Every probe asked for the model list with the key as a Bearer token. */
    CHECK_INT(mockoai_request_count(m), 2);
    for (size_t i = 0; i < 2; i++) {
        mockoai_request q = mockoai_request_get(m, i);
        CHECK_STR(q.path, "/v1/models");
        CHECK_STR(q.authorization, "Bearer " KEY);
        mockoai_request_free(&q);
    }

    /* A refused key: unavailable, and the server's echo of it goes nowhere. */
    mockoai_reply denied = { .mode = MOCKOAI_STATUS, .status = 401,
                             .text = "{\"error\":{\"message\":\"bad key " KEY "\"}}" };
    mockoai_push(m, &denied);
    router_probe_all(r);
    CHECK_INT(mm_router_remote_health(r, 0, &h), 0);
    CHECK_INT(h.state, MM_REMOTE_UNAVAILABLE);
    CHECK_CONTAINS(h.error, "answered HTTP 401: check the API key");
    CHECK(strstr(h.error, KEY) == NULL);
out:
    mm_router_close(r);
    mm_config_free(cfg);
    mockoai_stop(m);
}

static void test_health_fallback(void)
{
    mockoai *m = mockoai_start();
    mm_config *cfg = NULL;
    mm_router *r = open_router(mockoai_url(m), NULL, &cfg);
    if (!r)
        goto out;
    mockoai_reply missing = { .mode = MOCKOAI_STATUS, .status = 404,
                              .text = "{\"error\":{\"message\":\"no such route\"}}" };
    mockoai_push(m, &missing);
    router_probe_all(r);
    CHECK_INT(state_of(r), MM_REMOTE_HEALTHY);
    CHECK_INT(mockoai_request_count(m), 2);
    mockoai_request q = mockoai_request_get(m, 0);
    CHECK_STR(q.path, "/v1/models");
    mockoai_request_free(&q);
    q = mockoai_request_get(m, 1);
    CHECK_STR(q.path, "/health");     /* beside /v1, as llama-server has it */
    CHECK_STR(q.authorization, "Bearer " KEY);
    mockoai_request_free(&q);

    /* 404 on both: unavailable, naming the /health URL. */
    mockoai_push(m, &missing);
    mockoai_push(m, &missing);
    router_probe_all(r);
    mm_remote_health h;
    CHECK_INT(mm_router_remote_health(r, 0, &h), 0);
    CHECK_INT(h.state, MM_REMOTE_UNAVAILABLE);
    CHECK_CONTAINS(h.error, "/health answered HTTP 404");
out:
    mm_router_close(r);
    mm_config_free(cfg);
    mockoai_stop(m);
}

static void test_refused(void)
{
    /* A port where nothing listens any more. */
    mockoai *gone = mockoai_start();
    char url[128];
    mm_strlcpy(url, mockoai_url(gone), sizeof url);
    mockoai_stop(gone);
    mm_config *cfg = NULL;
    mm_router *r = open_router(url, NULL, &cfg);
    if (!r)
        goto out;
    router_probe_all(r);
    mm_remote_health h;
    CHECK_INT(mm_router_remote_health(r, 0, &h), 0);
    CHECK_INT(h.state, MM_REMOTE_UNAVAILABLE);
    CHECK_INT(h.http_status, 0);
    char expect[300];
    snprintf(expect, sizeof expect, "GET %s/models: ", url);
    CHECK_CONTAINS(h.error, expect);
out:
    mm_router_close(r);
    mm_config_free(cfg);
}

/* Wait (bounded) until the remote is in state want. */
static bool wait_state(mm_router *r, mm_remote_state want)
{
    for (int i = 0; i < 4000; i++) {
        if (state_of(r) == want)
            return true;
        sleep_ms(5);
    }
    return false;
}

static void test_thread(void)
{
    mockoai *m = mockoai_start();
    mm_config *cfg = NULL;
    mm_router *r = open_router(mockoai_url(m),
                               "  - name: other\n"
                               "    base_url: http://127.0.0.1:9/v1\n"
                               "    models: [gpt-y]\n",
                               &cfg);
    if (!r)
        goto out;
    mm_remote_health h;
    CHECK_INT(mm_router_remote_health(r, 1, &h), 0);
    CHECK_INT(h.probe_interval_ms, 7000);   /* router.probe_interval */
    mm_error err = { 0 };
    /* Both remotes are probed from here on (other is refused at once);
     * only cloud is watched. */
    mockoai_reply fail = { .mode = MOCKOAI_STATUS, .status = 500, .text = "down" };
    for (int i = 0; i < 32; i++)
        mockoai_push(m, &fail);
    CHECK_INT(router_probe_set_interval_ms(r, 20, &err), 0);
    CHECK(wait_state(r, MM_REMOTE_UNAVAILABLE));
    CHECK(wait_state(r, MM_REMOTE_HEALTHY));   /* the 32 failures are used up */

    /* A long interval: close must wake the waiting thread, not sleep it out
     * (a hang here is the test's timeout). */
    CHECK_INT(router_probe_set_interval_ms(r, 3600 * 1000, &err), 0);
    mm_router_close(r);
    mm_config_free(cfg);
    cfg = NULL;

    /* Closing in the middle of a slow probe cancels it. */
    r = open_router(mockoai_url(m), NULL, &cfg);
    if (!r)
        goto out;
    size_t before = mockoai_request_count(m);
    mockoai_reply slow = { .mode = MOCKOAI_ANSWER, .text = "late", .delay_ms = 1500 };
    mockoai_push(m, &slow);
    CHECK_INT(router_probe_set_interval_ms(r, 10, &err), 0);
    for (int i = 0; i < 2000 && mockoai_request_count(m) == before; i++)
        sleep_ms(5);
    CHECK(mockoai_request_count(m) > before);
out:
    mm_router_close(r);
    mm_config_free(cfg);
    mockoai_stop(m);
}

int main(void)
{
    tmp = mmtest_tmpdir();
    setenv("MOCK_PROBE_KEY", KEY, 1);
    mm_log_set_callback(capture_log, NULL);
    mm_log_set_level(MM_LOG_LEVEL_DEBUG);
    test_down_and_recover();
    test_health_fallback();
    test_refused();
    test_thread();
    mm_log_set_callback(NULL, NULL);
    CHECK_CONTAINS(logged, "remote 'cloud' is unreachable: GET ");
    CHECK_CONTAINS(logged, "remote 'cloud' is reachable again");
    CHECK(strstr(logged, KEY) == NULL);
    mmtest_rmtree(tmp);
    free(tmp);
    return mmtest_finish();
}

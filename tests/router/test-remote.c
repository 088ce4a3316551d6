// labels: integration
/* test-remote.c - the router over real remote backends (two mock OpenAI
 * servers configured in config.yaml): even load over two deployments of one
 * model, fallback from a failing deployment with the tried-list, the API key
 * taken from the variable api_key_env names and kept out of logs, and
 * mm_router_explain's JSON for configured remotes and `models:` overrides. */
#include "config/config.h"
#include "router/router.h"
#include "support/mockoai.h"
#include "support/test.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdlib.h>

#define KEY "sk-remote-TESTKEY-9876543210"

static char *tmp;
static char logged[65536];

static void capture_log(mm_log_level level, const char *line, void *user)
{
    size_t len = strlen(logged);
    snprintf(logged + len, sizeof logged - len, "%s\n", line);
}

static int64_t fake_now(void *user)
{
    return *(int64_t *)user;
}

static void fake_sleep(void *user, int64_t ms)
{
    *(int64_t *)user += ms;
}

static mm_router *open_router(mockoai *a, mockoai *b, mm_config **cfg_out)
{
    char yaml[4096], path[1200];
    snprintf(yaml, sizeof yaml,
             "default_model: gpt-x\n"
             "router:\n"
             "  strategy: least-busy\n"
             "  retries: 1\n"
             "  allowed_fails: 5\n"
             "models:\n"
             "  - name: gpt-x\n"
             "    capabilities: [chat, tools]\n"
             "    context_length: 32000\n"
             "    quality_tier: 4\n"
             "remotes:\n"
             "  - name: east\n"
             "    base_url: %s\n"
             "    api_key_env: MOCK_REMOTE_KEY\n"
             "    models: [gpt-x]\n"
             "  - name: west\n"
             "    base_url: %s\n"
             "    api_key_env: MOCK_REMOTE_KEY\n"
             "    models: [gpt-x, tiny]\n"
             "    timeout: 5\n"
             "    cost_in: 0.5\n"
             "    cost_out: 1.5\n",
             mockoai_url(a), mockoai_url(b));
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
    *cfg_out = cfg;
    return r;
}

static size_t find_profile(mm_router *r, const char *name, const char *deployment)
{
    for (size_t i = 0; i < r->n_profiles; i++)
        if (strcmp(r->profiles[i].name, name) == 0 &&
            strcmp(r->profiles[i].deployment, deployment) == 0)
            return i;
    return r->n_profiles;
}

static int route_and_run(mm_router *r, int64_t *clock_ms, router_outcome *out, mm_error *err)
{
    router_request rq = { .text = "hello", .text_len = 5, .caps = ROUTER_CAP_CHAT };
    backend_message msg = { "user", "hello" };
    backend_request req = { .messages = &msg, .n_messages = 1, .temperature = -1 };
    router_clock clock = { fake_now, fake_sleep, clock_ms };
    backend_result res;
    int rc = router_generate(r, &rq, NULL, &clock, &req, NULL, NULL, NULL, &res, out, err);
    backend_result_free(&res);
    return rc;
}

typedef struct worker {
    mm_router *r;
    int        ok;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 5; i++) {
        router_request rq = { .text = "hi", .text_len = 2, .caps = ROUTER_CAP_CHAT };
        backend_message msg = { "user", "hi" };
        backend_request req = { .messages = &msg, .n_messages = 1, .temperature = -1 };
        backend_result res;
        router_outcome out;
        mm_error err = { 0 };
        if (router_generate(w->r, &rq, NULL, NULL, &req, NULL, NULL, NULL, &res, &out, &err) == 0 &&
            res.text && strcmp(res.text, "slow") == 0)
            w->ok++;
        backend_result_free(&res);
    }
    return NULL;
}

/* Four threads at once over the two deployments of gpt-x: every request is
 * answered, both deployments take a share, and the in-flight counts return
 * to zero. */
static void test_concurrent(void)
{
    mockoai *a = mockoai_start(), *b = mockoai_start();
    mm_config *cfg = NULL;
    mm_router *r = open_router(a, b, &cfg);
    if (!r)
        goto out;
    r->policy.strategy = ROUTER_STRATEGY_FIXED;
    r->policy.fixed_model = "gpt-x";
    mockoai_reply slow = { .mode = MOCKOAI_ANSWER, .text = "slow", .delay_ms = 30 };
    for (int i = 0; i < 20; i++) {
        mockoai_push(a, &slow);
        mockoai_push(b, &slow);
    }
    pthread_t threads[4];
    worker workers[4];
    for (int i = 0; i < 4; i++) {
        workers[i] = (worker){ r, 0 };
        pthread_create(&threads[i], NULL, work, &workers[i]);
    }
    int ok = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        ok += workers[i].ok;
    }
    CHECK_INT(ok, 20);
    CHECK_INT(mockoai_request_count(a) + mockoai_request_count(b), 20);
    CHECK(mockoai_request_count(a) >= 1);
    CHECK(mockoai_request_count(b) >= 1);
    for (size_t i = 0; i < r->n_profiles; i++)
        CHECK_INT(atomic_load(&r->profiles[i].live.in_flight), 0);
out:
    mm_router_close(r);
    mm_config_free(cfg);
    mockoai_stop(a);
    mockoai_stop(b);
}

static void test_balance_and_fallback(void)
{
    mockoai *a = mockoai_start(), *b = mockoai_start();
    mm_config *cfg = NULL;
    mm_router *r = open_router(a, b, &cfg);
    if (!r) {
        mockoai_stop(a);
        mockoai_stop(b);
        mm_config_free(cfg);
        return;
    }
    /* gpt-x on east and west, tiny on west. */
    CHECK_INT(r->n_profiles, 3);
    size_t east = find_profile(r, "gpt-x", "east"), west = find_profile(r, "gpt-x", "west");
    CHECK(east < r->n_profiles && west < r->n_profiles);
    if (east >= r->n_profiles || west >= r->n_profiles)
        goto out;
    CHECK_INT(r->profiles[east].context_length, 32000);
    CHECK_INT(r->profiles[east].quality_tier, 4);
    CHECK_INT(r->profiles[east].caps, ROUTER_CAP_CHAT | ROUTER_CAP_TOOLS);
    CHECK_NEAR(r->profiles[west].cost_out_per_m, 1.5, 1e-12);
    CHECK_INT(r->profiles[find_profile(r, "tiny", "west")].context_length,
              ROUTER_REMOTE_CONTEXT_DEFAULT);

    /* Route by name: the fixed strategy spreads a model's deployments by
     * load, then by requests sent (sequential requests: never in flight). */
    r->policy.strategy = ROUTER_STRATEGY_FIXED;
    r->policy.fixed_model = "gpt-x";
    int64_t now = 1000;
    router_outcome out;
    mm_error err = { 0 };
    for (int i = 0; i < 10; i++)
        CHECK_INT(route_and_run(r, &now, &out, &err), 0);
    CHECK_INT(mockoai_request_count(a), 5);
    CHECK_INT(mockoai_request_count(b), 5);
    mockoai_request req = mockoai_request_get(a, 0);
    CHECK_STR(req.authorization, "Bearer " KEY);
    CHECK_CONTAINS(req.body, "\"model\":\"gpt-x\"");
    mockoai_request_free(&req);

    /* east fails twice with 500 (one retry); west answers. */
    size_t before_a = mockoai_request_count(a), before_b = mockoai_request_count(b);
    mockoai_reply fail = { .mode = MOCKOAI_STATUS, .status = 500,
                           .text = "{\"error\":{\"message\":\"east is down\"}}" };
    mockoai_push(a, &fail);
    mockoai_push(a, &fail);
    /* Make east the first pick: west has served more. */
    atomic_store(&r->profiles[west].live.started, 100);
    CHECK_INT(route_and_run(r, &now, &out, &err), 0);
    CHECK(out.answered);
    CHECK_INT(out.answered_by, west);
    CHECK_INT(out.n_tried, 2);
    CHECK_INT(out.tried[0].profile, east);
    CHECK_INT(out.tried[0].tries, 2);
    CHECK_INT(out.tried[0].code, MM_EIO);
    CHECK_STR(out.tried[0].reason, "remote 'east' failed (HTTP 500): east is down");
    CHECK_INT(mockoai_request_count(a), before_a + 2);
    CHECK_INT(mockoai_request_count(b), before_b + 1);
out:
    mm_router_close(r);
    mm_config_free(cfg);
    mockoai_stop(a);
    mockoai_stop(b);
}

static void test_explain(void)
{
    mockoai *a = mockoai_start(), *b = mockoai_start();
    mm_config *cfg = NULL;
    mm_router *r = open_router(a, b, &cfg);
    if (!r)
        goto out;
    char *text = NULL;
    mm_error err = { 0 };
    mm_route_request req = { .prompt = "call the weather tool", .capabilities = "chat,tools",
                             .strategy = "cost" };
    CHECK_INT(mm_router_explain(r, &req, true, &text, &err), 0);
    cJSON *root = cJSON_Parse(text);
    CHECK(root != NULL);
    cJSON *cands = cJSON_GetObjectItem(root, "candidates");
    CHECK_INT(cJSON_GetArraySize(cands), 3);
    /* tiny lacks tools; of the two gpt-x, east is free (west costs). */
    cJSON *choice = cJSON_GetObjectItem(root, "choice");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(choice, "model")), "gpt-x");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(choice, "deployment")), "east");
    cJSON *c;
    cJSON_ArrayForEach(c, cands) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(c, "model"));
        if (name && strcmp(name, "tiny") == 0)
            CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(c, "excluded")),
                      "missing capability tools");
    }
    cJSON *chain = cJSON_GetObjectItem(root, "fallback_chain");
    CHECK_INT(cJSON_GetArraySize(chain), 2);   /* east, then its sibling west */
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(chain, 1),
                                                       "deployment")), "west");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "strategy"),
                                                       "name")), "cost");
    cJSON_Delete(root);
    free(text);

    req.capabilities = "chat,vision";
    CHECK_INT(mm_router_explain(r, &req, false, &text, &err), MM_ENOTFOUND);
    CHECK_STR(err.message, "no model supports vision (required by the request)");
    CHECK_CONTAINS(text, "choice: none: no model supports vision (required by the request)");
    free(text);

    req.capabilities = "chat,telepathy";
    CHECK_INT(mm_router_explain(r, &req, false, &text, &err), MM_EINVAL);
    CHECK(text == NULL);
    CHECK_STR(err.message, "unknown capability 'telepathy' (expected chat, completion, "
              "embeddings, tools, json or vision)");
    req.capabilities = NULL;
    req.strategy = "fastest";
    CHECK_INT(mm_router_explain(r, &req, false, &text, &err), MM_EINVAL);
    CHECK_STR(err.message, "unknown strategy 'fastest' (expected one of "
              "auto|cost|latency|least-busy|round-robin|fixed)");
out:
    mm_router_close(r);
    mm_config_free(cfg);
    mockoai_stop(a);
    mockoai_stop(b);
}

int main(void)
{
    tmp = mmtest_tmpdir();
    setenv("MOCK_REMOTE_KEY", KEY, 1);
    mm_log_set_callback(capture_log, NULL);
    mm_log_set_level(MM_LOG_LEVEL_DEBUG);
    test_balance_and_fallback();
    test_explain();
    test_concurrent();
    mm_log_set_callback(NULL, NULL);
    CHECK_CONTAINS(logged, "router: gpt-x (east) failed, try 1: remote 'east' failed (HTTP 500)");
    CHECK(strstr(logged, KEY) == NULL);
    mmtest_rmtree(tmp);
    free(tmp);
    return mmtest_finish();
}

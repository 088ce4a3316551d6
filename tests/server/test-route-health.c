/* test-route-health.c - the router's view of the manager's health is exact:
 * the manager's health version stays put while requests merely use a
 * model and moves on an unload, a failed load and a recovery; a model that
 * becomes unavailable outside the server (its load fails through the
 * manager directly, as a worker found dead would) is skipped by the very
 * next routed request, and one that recovers is picked again by the next
 * one. No sleeps: nothing here may wait for a time window to pass. */
// labels: integration
#include "runtime/runtime.h"
#include "server/server.h"
#include "support/httpc.h"
#include "support/routed.h"
#include "support/synth.h"
#include "support/test.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *tmp;
static server *srv;

static void write_model(const char *name)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/models/%s.gguf", tmp, name);
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    CHECK_INT(mmtest_synth_model(&p, path), 0);
}

/* A two-token chat naming model; *answerer gets the answer's "model" and
 * *tried the X-Modelmgr-Tried header ("" when absent). Returns the status. */
static long chat(const char *model, char *answerer, size_t a_size, char *tried, size_t t_size)
{
    char url[512], body[512];
    snprintf(url, sizeof url, "%s/v1/chat/completions", server_url(srv));
    snprintf(body, sizeof body, "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\","
             "\"content\":\"hi\"}],\"max_tokens\":2,\"temperature\":0}", model);
    const char *hdr[] = { "Content-Type: application/json", NULL };
    httpc_result r;
    long status = httpc_request("POST", url, body, hdr, &r);
    answerer[0] = tried[0] = '\0';
    cJSON *root = cJSON_Parse(r.body ? r.body : "");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (cJSON_IsString(m))
        mm_strlcpy(answerer, m->valuestring, a_size);
    cJSON_Delete(root);
    if (httpc_header(&r, "x-modelmgr-tried", tried, t_size) != 0)
        tried[0] = '\0';
    httpc_result_free(&r);
    return status;
}

static void test_version(mm_manager *mgr, const char *good_copy, const char *path)
{
    char answerer[128], tried[1024];
    mm_error err = { 0 };

    /* Serving from a loaded, healthy model changes nothing health shows. */
    CHECK_INT(chat("alpha", answerer, sizeof answerer, tried, sizeof tried), 200);
    CHECK_STR(answerer, "alpha");
    uint64_t v0 = rt_manager_health_version(mgr);
    CHECK_INT(chat("alpha", answerer, sizeof answerer, tried, sizeof tried), 200);
    CHECK_STR(answerer, "alpha");
    CHECK_STR(tried, "");
    CHECK(rt_manager_health_version(mgr) == v0);

    /* alpha's file goes away and a load through the manager (not the
     * server) fails: alpha is unavailable. */
    CHECK_INT(mm_manager_unload(mgr, "alpha", &err), 0);
    uint64_t v1 = rt_manager_health_version(mgr);
    CHECK(v1 != v0);
    CHECK_INT(rename(path, good_copy), 0);
    CHECK(mm_manager_load(mgr, "alpha", &err) != 0);
    uint64_t v2 = rt_manager_health_version(mgr);
    CHECK(v2 != v1);
    /* The very next request knows: alpha is not even tried, its fallback
     * (the default model) answers. */
    CHECK_INT(chat("alpha", answerer, sizeof answerer, tried, sizeof tried), 200);
    CHECK_STR(answerer, "beta");
    CHECK(strstr(tried, "alpha@local") == NULL);

    /* The file is back and loads: the very next request is alpha's. */
    CHECK_INT(rename(good_copy, path), 0);
    CHECK_INT(mm_manager_load(mgr, "alpha", &err), 0);
    CHECK(rt_manager_health_version(mgr) != v2);
    CHECK_INT(chat("alpha", answerer, sizeof answerer, tried, sizeof tried), 200);
    CHECK_STR(answerer, "alpha");
    CHECK_STR(tried, "");
}

int main(void)
{
    tmp = mmtest_tmpdir();
    char dir[1100], path[1200], good_copy[1200];
    snprintf(dir, sizeof dir, "%s/models", tmp);
    mm_mkdirs(dir, NULL);
    write_model("alpha");
    write_model("beta");
    snprintf(path, sizeof path, "%s/alpha.gguf", dir);
    snprintf(good_copy, sizeof good_copy, "%s/alpha.kept", tmp);
    /* No response cache: every request reaches a model. */
    const char *extra[] = { "default_model=beta", "skip_downloads=true", "cache_size=0", NULL };
    mm_config *cfg = mmtest_config(tmp, extra);
    CHECK(cfg != NULL);
    if (!cfg)
        return mmtest_finish();
    mmtest_routed stack;
    if (mmtest_routed_start(cfg, &stack) == 0) {
        srv = stack.srv;
        test_version(stack.mgr, good_copy, path);
    }
    mmtest_routed_stop(&stack);
    mm_config_free(cfg);
    mmtest_rmtree(tmp);
    free(tmp);
    return mmtest_finish();
}

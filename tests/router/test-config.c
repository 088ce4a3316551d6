/* test-config.c - the router's configuration: router.* keys, the `models:`
 * and `remotes:` sections of config.yaml, and their errors (file:line, a key
 * pasted where a variable name belongs is never echoed). */
#include "config/config.h"
#include "router/router.h"
#include "support/test.h"

#include <stdlib.h>

static char *tmp;

static int load_yaml(const char *yaml, mm_config **cfg, mm_error *err, char *path, size_t size)
{
    snprintf(path, size, "%s/config.yaml", tmp);
    mmtest_write_file(path, yaml);
    const char *env[] = { "HOME=/nonexistent", NULL };
    mm_config_sources src = { .config_path = path, .env = env };
    return mm_config_load(&src, cfg, err);
}

static void test_sections(void)
{
    char path[1200], where[1300];
    mm_config *cfg = NULL;
    mm_error err = { 0 };
    int rc = load_yaml(
        "router:\n"                                   /* 1 */
        "  strategy: least-busy\n"
        "  complexity_threshold: 0.3\n"
        "  default_fallbacks: [small, mid]\n"
        "models:\n"                                   /* 5 */
        "  - name: small\n"
        "    capabilities: [chat, completion]\n"
        "    quality_tier: 2\n"
        "    fallbacks: [mid]\n"
        "  - name: gpt-x\n"                           /* 10 */
        "    cost_in: 2.5\n"
        "    cost_out: 10\n"
        "    context_length: 128000\n"
        "remotes:\n"
        "  - name: cloud\n"                           /* 15 */
        "    base_url: http://127.0.0.1:9/v1\n"
        "    api_key_env: CLOUD_KEY\n"
        "    models: [gpt-x, gpt-y]\n"
        "    weight: 2\n"
        "    timeout: 30\n"                           /* 20 */
        "    first_byte_timeout: 7\n"
        "    probe_interval: 0\n"
        "  - name: lan\n"
        "    base_url: https://lan.example/v1\n"
        "    models: gpt-x\n",
        &cfg, &err, path, sizeof path);
    CHECK_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "  %s\n", err.message);
        return;
    }
    CHECK_INT(cfg->router_strategy, ROUTER_STRATEGY_LEAST_BUSY);
    CHECK_NEAR(cfg->router_complexity_threshold, 0.3, 1e-12);
    CHECK_INT(cfg->n_router_default_fallbacks, 2);
    CHECK_INT(cfg->router_retries, 2);   /* default */
    CHECK_INT(cfg->n_model_overrides, 2);
    CHECK_STR(cfg->model_overrides[0].name, "small");
    CHECK_INT(cfg->model_overrides[0].n_capabilities, 2);
    CHECK_INT(cfg->model_overrides[0].quality_tier, 2);
    CHECK_STR(cfg->model_overrides[0].fallbacks[0], "mid");
    CHECK(cfg->model_overrides[0].cost_in < 0);     /* unset */
    snprintf(where, sizeof where, "%s:6", path);
    CHECK_STR(cfg->model_overrides[0].where, where);
    CHECK_NEAR(cfg->model_overrides[1].cost_in, 2.5, 1e-12);
    CHECK_NEAR(cfg->model_overrides[1].cost_out, 10.0, 1e-12);
    CHECK_INT(cfg->model_overrides[1].context_length, 128000);
    CHECK_INT(cfg->n_remotes, 2);
    CHECK_STR(cfg->remotes[0].name, "cloud");
    CHECK_STR(cfg->remotes[0].api_key_env, "CLOUD_KEY");
    CHECK_INT(cfg->remotes[0].n_models, 2);
    CHECK_NEAR(cfg->remotes[0].weight, 2.0, 1e-12);
    CHECK_INT(cfg->remotes[0].timeout_s, 30);
    CHECK_INT(cfg->remotes[0].connect_timeout_s, 10);  /* default */
    CHECK_INT(cfg->remotes[0].first_byte_timeout_s, 7);
    CHECK_INT(cfg->remotes[1].first_byte_timeout_s, 0);
    CHECK_INT(cfg->remotes[0].probe_interval_s, 0);
    CHECK_INT(cfg->remotes[1].probe_interval_s, -1);   /* unset: router.probe_interval */
    CHECK_INT(cfg->router_probe_interval_s, 30);       /* default */
    CHECK_INT(cfg->remotes[1].n_models, 1);            /* one name, not a list */
    CHECK(cfg->remotes[1].api_key_env == NULL);
    CHECK_NEAR(cfg->remotes[1].weight, 1.0, 1e-12);
    mm_config_free(cfg);
}

static void expect_error(const char *yaml, const char *message_tail)
{
    char path[1200], expect[2000];
    mm_config *cfg = NULL;
    mm_error err = { 0 };
    CHECK_INT(load_yaml(yaml, &cfg, &err, path, sizeof path), MM_ECONFIG);
    CHECK(cfg == NULL);
    snprintf(expect, sizeof expect, "%s%s", path, message_tail);
    CHECK_STR(err.message, expect);
}

static void test_errors(void)
{
    expect_error("remotes:\n  - name: x\n    base_url: ftp://h\n    models: [m]\n",
                 ":3: remotes: base_url: expected an http:// or https:// URL");
    expect_error("remotes:\n  - name: x\n    base_url: http://h\n",
                 ":2: remotes: an entry without 'models:' (a remote needs name, base_url and models)");
    expect_error("remotes:\n  - name: x\n    base_url: http://h\n    models: [m]\n"
                 "    api_key_env: sk-liveSECRET0123456789\n",
                 ":5: remotes: api_key_env: expected the NAME of an environment variable holding "
                 "the key (A-Z, 0-9, _), not the key itself");
    expect_error("models:\n  - quality_tier: 3\n",
                 ":2: models: an entry without 'name:' (the catalog key or remote model it configures)");
    expect_error("models:\n  - name: m\n    quality_tier: 9\n",
                 ":3: models: quality_tier: expected an integer from 1 to 5");
    expect_error("models:\n  - name: m\n    cost_in: cheap\n",
                 ":3: models: cost_in: expected a number from 0 to 1e+06");
    expect_error("models: 3\n",
                 ":1: models: expected a list of mappings (each item starting with '- name: ...')");

    /* Errors whose path is not only at the front. */
    char path[1200];
    mm_config *cfg = NULL;
    mm_error err = { 0 };
    load_yaml("router:\n  complexity_threshold: 1.5\n", &cfg, &err, path, sizeof path);
    char expect[2600];
    snprintf(expect, sizeof expect, "router.complexity_threshold: 1.5 (%s:2): expected a number "
             "from 0 to 1", path);
    CHECK_STR(err.message, expect);
    load_yaml("remotes:\n  - name: a\n    base_url: http://h\n    models: [m]\n"
              "  - name: a\n    base_url: http://i\n    models: [m]\n", &cfg, &err, path, sizeof path);
    snprintf(expect, sizeof expect, "%s:5: remotes: duplicate name 'a' (first at %s:2)", path, path);
    CHECK_STR(err.message, expect);
}

static void test_strategy_names_agree(void)
{
    /* The config's enum and the router's strategies must list the same
     * names in the same order: the config stores an index. */
    const cfg_key *k = config_key_find("router.strategy");
    CHECK(k != NULL);
    if (k)
        CHECK_STR(k->choices, ROUTER_STRATEGY_CHOICES);
    char joined[128] = "";
    for (int i = 0; i < ROUTER_N_STRATEGIES; i++) {
        size_t len = strlen(joined);
        snprintf(joined + len, sizeof joined - len, "%s%s", i ? "|" : "",
                 router_strategy_name((router_strategy)i));
    }
    CHECK_STR(joined, ROUTER_STRATEGY_CHOICES);
}

int main(void)
{
    tmp = mmtest_tmpdir();
    test_sections();
    test_errors();
    test_strategy_names_agree();
    mmtest_rmtree(tmp);
    free(tmp);
    return mmtest_finish();
}

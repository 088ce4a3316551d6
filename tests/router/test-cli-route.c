// labels: unit integration
/* test-cli-route.c - `modelmgr route` as a user runs it: a synthesized local
 * model (tier 1, free, 4096 tokens) and a configured remote (tier 4 by a
 * `models:` override, paid): a simple prompt goes local, a complex one to
 * the remote, a long one past the local context to the remote with the
 * exclusion shown; --json parses; bad options and unmet requirements give
 * the documented messages and exit statuses. */
#include "support/synth.h"
#include "support/test.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

static char *tmp;
static char env_dir[4200], env_file[4200], env_cache[4200], env_xdg[4200], config_path[4200];

static int run(const char *const *args, char **out, char **err)
{
    const char *argv[16];
    size_t n = 0;
    argv[n++] = "route";
    argv[n++] = "--config";
    argv[n++] = config_path;
    for (size_t i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    const char *env[] = { env_dir, env_file, env_cache, env_xdg, "MODELMGR_LOG_LEVEL=warn",
                          "DEFAULT_MODEL=local-chat", NULL };
    return mmtest_run_cli(argv, env, out, err);
}

static void setup(void)
{
    tmp = mmtest_tmpdir();
    snprintf(env_dir, sizeof env_dir, "MODELS_DIR=%s/models", tmp);
    snprintf(env_file, sizeof env_file, "MODELS_FILE=%s/models.txt", tmp);
    snprintf(env_cache, sizeof env_cache, "HF_HUB_CACHE=%s/cache", tmp);
    snprintf(env_xdg, sizeof env_xdg, "XDG_CONFIG_HOME=%s/xdg", tmp);
    snprintf(config_path, sizeof config_path, "%s/config.yaml", tmp);
    mmtest_write_file(config_path,
                      "models:\n"
                      "  - name: big-remote\n"
                      "    quality_tier: 4\n"
                      "    context_length: 128000\n"
                      "    capabilities: [chat, completion, tools]\n"
                      "remotes:\n"
                      "  - name: cloud\n"
                      "    base_url: http://127.0.0.1:9/v1\n"
                      "    models: [big-remote]\n"
                      "    cost_in: 3\n"
                      "    cost_out: 15\n");
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    p.n_ctx = 4096;
    p.chat_template = "{% for m in messages %}{{ m.content }}{% endfor %}";
    char path[4300];
    snprintf(path, sizeof path, "%s/models/local-chat.gguf", tmp);
    mmtest_write_file(path, "");
    CHECK_INT(mmtest_synth_model(&p, path), 0);
}

static void test_text(void)
{
    char *out = NULL, *err = NULL;
    const char *simple[] = { "What is the capital of France?", NULL };
    CHECK_INT(run(simple, &out, &err), 0);
    CHECK_CONTAINS(out, "  prompt tokens:   8 (estimated from 30 bytes)\n");
    CHECK_CONTAINS(out, "strategy: auto: complexity 0.001 < 0.50, so the cheapest capable model "
                        "with quality tier >= 1\n");
    CHECK_CONTAINS(out, "choice: local-chat (local)\n");
    CHECK_CONTAINS(out, "fallback chain: local-chat (local)\n");
    /* Both candidates are listed; the remote with its cost for this request:
     * 8 * 3/M + 256 * 15/M = 0.003864. */
    CHECK_CONTAINS(out, "big-remote");
    CHECK_CONTAINS(out, "0.003864");
    CHECK_STR(err, "");
    free(out);
    free(err);

    const char *hard[] = { "Explain step by step why this C code crashes, then compare two "
                           "fixes. Which is faster? Which is safer?\n```c\nint main(void) "
                           "{\n  char *p = 0; return *p;\n}\n```", "--messages", "6", NULL };
    CHECK_INT(run(hard, &out, &err), 0);
    CHECK_CONTAINS(out, "so the best capable model\n");
    CHECK_CONTAINS(out, "choice: big-remote (cloud)\n");
    free(out);
    free(err);

    /* 6000 prompt tokens: past the local 4096. */
    const char *longer[] = { "hi", "--prompt-tokens", "6000", NULL };
    CHECK_INT(run(longer, &out, &err), 0);
    CHECK_CONTAINS(out, "excluded: context 4096 < 6256 tokens needed");
    CHECK_CONTAINS(out, "choice: big-remote (cloud)\n");
    free(out);
    free(err);

    const char *vision[] = { "describe this", "--capabilities", "chat,vision", NULL };
    CHECK_INT(run(vision, &out, &err), 1);
    CHECK_CONTAINS(out, "choice: none: no model supports vision (required by the request)\n");
    CHECK_STR(err, "modelmgr: no model supports vision (required by the request)\n");
    free(out);
    free(err);
}

static void test_json(void)
{
    char *out = NULL, *err = NULL;
    const char *args[] = { "hi", "--json", "--strategy", "fixed", "--model", "big-remote", NULL };
    CHECK_INT(run(args, &out, &err), 0);
    cJSON *root = cJSON_Parse(out);
    CHECK(root != NULL);
    cJSON *choice = cJSON_GetObjectItem(root, "choice");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(choice, "model")), "big-remote");
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(root, "candidates")), 2);
    cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "candidates")) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(c, "model"));
        if (name && strcmp(name, "local-chat") == 0) {
            CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(c, "context_length")), 4096);
            CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(c, "capabilities")),
                      "chat,completion");
            CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(c, "excluded")),
                      "not the named model");
        }
    }
    /* Six signals, each with value * weight = contribution. */
    cJSON *signals = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "features"), "signals");
    CHECK_INT(cJSON_GetArraySize(signals), 6);
    cJSON_Delete(root);
    free(out);
    free(err);
}

static void test_usage_errors(void)
{
    char *out = NULL, *err = NULL;
    const char *bad_strategy[] = { "hi", "--strategy", "fastest", NULL };
    CHECK_INT(run(bad_strategy, &out, &err), 2);
    CHECK_STR(err, "modelmgr: unknown strategy 'fastest' (expected one of "
                   "auto|cost|latency|least-busy|round-robin|fixed)\n");
    free(out);
    free(err);
    const char *bad_tokens[] = { "hi", "--max-tokens", "lots", NULL };
    CHECK_INT(run(bad_tokens, &out, &err), 2);
    CHECK_STR(err, "modelmgr: --max-tokens lots: expected an integer from 1 to 100000000\n");
    free(out);
    free(err);
    const char *none[] = { NULL };
    CHECK_INT(run(none, &out, &err), 2);
    free(out);
    free(err);
}

/* Without --probe the remote is unknown and picked as usual; with it the
 * probe finds nothing listening on port 9 and the remote is excluded. */
static void test_probe(void)
{
    char *out = NULL, *err = NULL;
    const char *plain[] = { "--strategy", "fixed", "--model", "big-remote", "hi", NULL };
    CHECK_INT(run(plain, &out, &err), 0);
    CHECK_CONTAINS(out, "  cloud        unknown ");
    CHECK_CONTAINS(out, "choice: big-remote (cloud)\n");
    free(out);
    free(err);
    const char *probed[] = { "--probe", "--strategy", "fixed", "--model", "big-remote", "hi",
                             NULL };
    CHECK_INT(run(probed, &out, &err), 1);
    CHECK_CONTAINS(out, "  cloud        unavailable ");
    CHECK_CONTAINS(out, "excluded: remote cloud is unreachable: GET http://127.0.0.1:9/v1/models");
    CHECK_CONTAINS(err, "remote 'cloud' is unreachable");
    free(out);
    free(err);
}

int main(void)
{
    setup();
    test_text();
    test_probe();
    test_json();
    test_usage_errors();
    mmtest_rmtree(tmp);
    free(tmp);
    return mmtest_finish();
}

/* test-cli-health.c - `modelmgr health` run as a user would, over the real
 * GGUF factory: a synthesized model loads (--load) with a hand-computed
 * memory estimate, a broken file and a model not downloaded show as
 * unavailable, --json parses, --device gpu explains the CPU fallback, and
 * an empty setup exits 1 after "No models available at all!". */
// labels: model integration
#include "core/core.h"
#include "support/synth.h"
#include "support/test.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <sys/stat.h>

static char *tmp;
static char env_dir[4200], env_file[4200], env_cache[4200], env_xdg[4200], env_home[4200];

static char *at(const char *rel)
{
    return mm_path_join(tmp, rel);
}

static int run(const char *const *argv, const char *models_dir, char **out, char **err)
{
    char *dir = at(models_dir), *file = at("models.txt"), *cache = at("cache"), *xdg = at("xdg");
    snprintf(env_dir, sizeof env_dir, "MODELS_DIR=%s", dir);
    snprintf(env_file, sizeof env_file, "MODELS_FILE=%s", file);
    snprintf(env_cache, sizeof env_cache, "HF_HUB_CACHE=%s", cache);
    snprintf(env_xdg, sizeof env_xdg, "XDG_CONFIG_HOME=%s", xdg);
    snprintf(env_home, sizeof env_home, "HF_HOME=%s", xdg);
    const char *env[] = { env_dir, env_file, env_cache, env_xdg, env_home,
                          "DEFAULT_MODEL=synth-llama", "MODEL_MEMORY_BUDGET=1G",
                          "VOSK_MODEL_PATH=", NULL };
    int status = mmtest_run_cli(argv, env, out, err);
    free(dir);
    free(file);
    free(cache);
    free(xdg);
    return status;
}

static cJSON *model_of(cJSON *root, const char *key)
{
    cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(root, "models")) {
        cJSON *k = cJSON_GetObjectItem(m, "key");
        if (cJSON_IsString(k) && strcmp(k->valuestring, key) == 0)
            return m;
    }
    return NULL;
}

static void test_health(void)
{
    mmtest_synth_params params;
    mmtest_synth_default_params(&params);
    char *dir = at("models");
    CHECK_INT(mm_mkdirs(dir, NULL), 0);
    free(dir);
    char *model = at("models/synth-llama.gguf");
    CHECK_INT(mmtest_synth_model(&params, model), 0);
    struct stat st;
    CHECK_INT(stat(model, &st), 0);
    char *bad = at("models/bad.gguf");
    mmtest_write_file(bad, "GGUF but not really");
    char *list = at("models.txt");
    mmtest_write_file(list, "Qwen/Qwen2.5-0.5B-Instruct-GGUF@main:q4.gguf\n");

    char *out = NULL, *err = NULL;
    const char *json_argv[] = { "health", "--json", "--load", NULL };
    CHECK_INT(run(json_argv, "models", &out, &err), 0);
    cJSON *root = cJSON_Parse(out ? out : "");
    CHECK(root != NULL);
    if (root) {
        CHECK_STR(cJSON_GetObjectItem(root, "status")->valuestring, "degraded");
        CHECK_STR(cJSON_GetObjectItem(root, "default_model")->valuestring, "synth-llama");
        CHECK_STR(cJSON_GetObjectItem(root, "device")->valuestring, "cpu");
        CHECK_INT(cJSON_GetObjectItem(root, "memory_budget")->valuedouble, 1073741824.0);
        cJSON *m = model_of(root, "synth-llama");
        CHECK(m != NULL);
        if (m) {
            CHECK_STR(cJSON_GetObjectItem(m, "status")->valuestring, "healthy");
            CHECK(cJSON_IsTrue(cJSON_GetObjectItem(m, "loaded")));
            CHECK(cJSON_IsNull(cJSON_GetObjectItem(m, "last_error")));
            /* The file, plus one instance's f16 KV cache and two rows of f32
             * logits (the step's, the last prompt's kept copy) for the
             * synthesizer's defaults: 2 (K,V) x 2 layers x 256 ctx x 32
             * (64 embd x 2 kv heads / 4 heads) x 2 bytes = 65536, and
             * 2 x 320 vocab x 4 bytes = 2560; plus 2 saved prefixes of
             * min(256 ctx, 1024) cells: 2 x 65536. */
            CHECK_INT(cJSON_GetObjectItem(m, "bytes")->valuedouble,
                      (double)st.st_size + 65536.0 + 2560.0 + 131072.0);
            CHECK_INT(cJSON_GetObjectItem(root, "memory_used")->valuedouble,
                      (double)st.st_size + 65536.0 + 2560.0 + 131072.0);
        }
        m = model_of(root, "bad");
        CHECK(m != NULL);
        if (m) {
            CHECK_STR(cJSON_GetObjectItem(m, "status")->valuestring, "unavailable");
            CHECK_CONTAINS(cJSON_GetObjectItem(m, "last_error")->valuestring, "bad.gguf");
        }
        m = model_of(root, "q4");
        CHECK(m != NULL);
        if (m)
            CHECK_CONTAINS(cJSON_GetObjectItem(m, "last_error")->valuestring,
                           "not downloaded ('modelmgr pull' downloads it)");
    }
    cJSON_Delete(root);
    free(out);
    free(err);

    const char *table_argv[] = { "health", "--device", "gpu", NULL };
    CHECK_INT(run(table_argv, "models", &out, &err), 0);
    CHECK_CONTAINS(out, "status:         degraded");
    CHECK_CONTAINS(out, "device:         cpu - a GPU was requested (device=gpu) but this "
                        "build has no GPU backend; running on the CPU");
    CHECK_CONTAINS(out, "MODEL ");
    CHECK_CONTAINS(out, "synth-llama ");
    CHECK_CONTAINS(out, "never");
    free(out);
    free(err);
    free(model);
    free(bad);
    free(list);
}

static void test_no_models(void)
{
    char *out = NULL, *err = NULL;
    char *list = at("models.txt");
    remove(list);
    const char *argv[] = { "health", NULL };
    CHECK_INT(run(argv, "empty-models", &out, &err), 1);
    CHECK_CONTAINS(out, "status:         unavailable");
    CHECK_CONTAINS(out, "no models (see 'modelmgr list')");
    CHECK_CONTAINS(err, "No models available at all!");
    CHECK_CONTAINS(err, "put a .gguf file in");
    CHECK_CONTAINS(err, "unset SKIP_MODEL_DOWNLOADS");
    free(out);
    free(err);
    free(list);
}

/* A safetensors repo in the HF cache is listed, but the built-in engine
 * cannot run it: unavailable with why, and never the default model while a
 * GGUF model exists (it comes first in the catalog here: "a-st" < "synth"). */
static void test_not_runnable(void)
{
    const char *commit = "cccccccccccccccccccccccccccccccccccccccc";
    char rel[512];
    snprintf(rel, sizeof rel, "cache/models--org--a-st/snapshots/%s/model.safetensors", commit);
    char *st = at(rel);
    char *parent = mm_strdup(st);
    *strrchr(parent, '/') = '\0';
    CHECK_INT(mm_mkdirs(parent, NULL), 0);
    mmtest_write_file(st, "0123456789");
    char *config = mm_path_join(parent, "config.json");
    mmtest_write_file(config, "{\"architectures\": [\"Qwen2ForCausalLM\"], \"model_type\": \"qwen2\"}");
    free(config);
    char *ref = at("cache/models--org--a-st/refs");
    CHECK_INT(mm_mkdirs(ref, NULL), 0);
    char *ref_main = mm_path_join(ref, "main");
    mmtest_write_file(ref_main, commit);
    char *list = at("models.txt");
    remove(list);
    char *out = NULL, *err = NULL;
    const char *argv[] = { "health", "--json", NULL };
    run(argv, "models", &out, &err);
    cJSON *root = cJSON_Parse(out ? out : "");
    cJSON *m = model_of(root, "a-st");
    CHECK(m != NULL);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(m, "status")), "unavailable");
    CHECK_CONTAINS(cJSON_GetStringValue(cJSON_GetObjectItem(m, "last_error")),
                   "a safetensors model: the built-in engine runs GGUF files only");
    CHECK(model_of(root, "synth-llama") != NULL);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(root, "default_model")), "synth-llama");
    cJSON_Delete(root);
    free(out);
    free(err);
    /* listed with its format and, from config.json, its architecture */
    const char *show[] = { "show", "a-st", NULL };
    CHECK_INT(run(show, "models", &out, &err), 0);
    CHECK_CONTAINS(out, "format:          safetensors");
    CHECK_CONTAINS(out, "architecture:    qwen2");
    CHECK_CONTAINS(out, "the built-in engine cannot run them");
    free(out);
    free(err);
    free(list);
    char *repo = at("cache/models--org--a-st");
    mmtest_rmtree(repo);   /* the next test wants no model at all */
    free(repo);
    free(ref_main);
    free(ref);
    free(parent);
    free(st);
}

int main(void)
{
    tmp = mmtest_tmpdir();
    test_health();
    test_not_runnable();
    test_no_models();
    mmtest_rmtree(tmp);
    free(tmp);
    return mmtest_finish();
}

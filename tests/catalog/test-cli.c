/* test-cli.c - `modelmgr list` and `modelmgr show` run as a user would:
 * the aligned table, the default-model line both ways, --json that parses,
 * show's metadata summary, an unknown key, a malformed models.txt and an
 * empty catalog. */
// labels: unit integration
#include "catalog/gguf-bytes.h"
#include "support/synth.h"
#include "support/test.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

static char *tmp;
static char env_dir[4200], env_file[4200], env_cache[4200], env_xdg[4200], env_home[4200];
static char env_default[256];

static char *at(const char *rel)
{
    return mm_path_join(tmp, rel);
}

/* Run modelmgr with the test tree as its configuration. */
static int run(const char *const *argv, const char *default_model, const char *models_file,
               char **out, char **err)
{
    char *file = at(models_file);
    char *dir = at("models"), *cache = at("cache"), *xdg = at("xdg");
    snprintf(env_dir, sizeof env_dir, "MODELS_DIR=%s", dir);
    snprintf(env_file, sizeof env_file, "MODELS_FILE=%s", file);
    snprintf(env_cache, sizeof env_cache, "HF_HUB_CACHE=%s", cache);
    snprintf(env_xdg, sizeof env_xdg, "XDG_CONFIG_HOME=%s", xdg);
    snprintf(env_home, sizeof env_home, "HF_HOME=%s", xdg);
    snprintf(env_default, sizeof env_default, "DEFAULT_MODEL=%s", default_model);
    const char *env[] = { env_dir, env_file, env_cache, env_xdg, env_home, env_default,
                          "MODELMGR_LOG_LEVEL=warn", NULL };
    int status = mmtest_run_cli(argv, env, out, err);
    free(file);
    free(dir);
    free(cache);
    free(xdg);
    return status;
}

static const char *line_starting(const char *text, const char *prefix)
{
    for (const char *p = text; p && *p; ) {
        if (strncmp(p, prefix, strlen(prefix)) == 0)
            return p;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return NULL;
}

static void test_list_table(void)
{
    char *out = NULL, *err = NULL;
    const char *argv[] = { "list", NULL };
    CHECK_INT(run(argv, "gpt4all-lora", "models.txt", &out, &err), 0);
    CHECK_STR(err, "");
    const char *header = line_starting(out, "KEY ");
    CHECK(header != NULL);
    if (header) {
        CHECK_CONTAINS(header, "SOURCE");
        CHECK_CONTAINS(header, "PATH OR REPO");
        /* Columns line up: each row has its state where the header has STATE. */
        size_t state_col = (size_t)(strstr(header, "STATE") - header);
        const char *rich = line_starting(out, "rich ");
        const char *missing = line_starting(out, "tinyllama.q4_k_m ");
        const char *weights = line_starting(out, "weights ");
        CHECK(rich && missing && weights);
        if (rich && missing && weights) {
            CHECK(strncmp(rich + state_col, "available ", 10) == 0);
            CHECK(strncmp(missing + state_col, "not downloaded ", 15) == 0);
            CHECK(strncmp(weights + state_col, "available ", 10) == 0);
            CHECK(rich[state_col - 1] == ' ');
            size_t quant_col = (size_t)(strstr(header, "QUANT") - header);
            CHECK(strncmp(rich + quant_col, "Q4_K_M ", 7) == 0);
            /* 1536 bytes is 1.5 KiB. */
            size_t size_col = (size_t)(strstr(header, "SIZE") - header);
            CHECK(strncmp(weights + size_col, "1.5 KiB ", 8) == 0);
            CHECK_CONTAINS(missing, "TheBloke/TinyLlama-GGUF@main:tinyllama.Q4_K_M.gguf\n");
        }
    }
    CHECK_CONTAINS(out, "invalid models:\n  corrupt: ");
    CHECK_CONTAINS(out, "\ndefault model: corrupt-free (configured default 'gpt4all-lora' not "
                        "found; using the first available model)\n");
    free(out);
    free(err);

    CHECK_INT(run(argv, "rich", "models.txt", &out, &err), 0);
    CHECK_CONTAINS(out, "\ndefault model: rich (configured)\n");
    free(out);
    free(err);

    CHECK_INT(run(argv, "tinyllama.q4_k_m", "models.txt", &out, &err), 0);
    CHECK_CONTAINS(out, "\ndefault model: corrupt-free (configured default 'tinyllama.q4_k_m' is "
                        "not downloaded; using the first available model)\n");
    free(out);
    free(err);
}

static void test_list_json(void)
{
    char *out = NULL, *err = NULL;
    const char *argv[] = { "list", "--json", NULL };
    CHECK_INT(run(argv, "gpt4all-lora", "models.txt", &out, &err), 0);
    cJSON *root = cJSON_Parse(out);
    CHECK(root != NULL);
    cJSON *models = cJSON_GetObjectItemCaseSensitive(root, "models");
    CHECK(cJSON_IsArray(models));
    CHECK_INT(cJSON_GetArraySize(models), 5);
    const char *keys[] = { "corrupt", "corrupt-free", "rich", "tinyllama.q4_k_m", "weights" };
    for (int i = 0; i < 5 && i < cJSON_GetArraySize(models); i++) {
        cJSON *m = cJSON_GetArrayItem(models, i);
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "key")), keys[i]);
    }
    cJSON *rich = cJSON_GetArrayItem(models, 2);
    cJSON *facts = cJSON_GetObjectItemCaseSensitive(rich, "facts");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(facts, "architecture")),
              "llama");
    CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(facts, "context_length")),
              2048);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rich, "state")), "available");
    cJSON *missing = cJSON_GetArrayItem(models, 3);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(missing, "state")),
              "not downloaded");
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(missing, "facts")));
    cJSON *def = cJSON_GetObjectItemCaseSensitive(root, "default");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(def, "key")), "corrupt-free");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(def, "configured")),
              "gpt4all-lora");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(def, "fallback")));
    cJSON_Delete(root);
    free(out);
    free(err);
}

static void test_show(void)
{
    char *out = NULL, *err = NULL;
    const char *argv[] = { "show", "rich", NULL };
    CHECK_INT(run(argv, "gpt4all-lora", "models.txt", &out, &err), 0);
    CHECK_CONTAINS(out, "key:             rich\n");
    CHECK_CONTAINS(out, "state:           available\n");
    CHECK_CONTAINS(out, "origin:          models.txt:3\n");
    CHECK_CONTAINS(out, "  name:          Tiny Test\n");
    CHECK_CONTAINS(out, "  architecture:  llama\n");
    CHECK_CONTAINS(out, "  parameters:    8 (8)\n");
    CHECK_CONTAINS(out, "  context:       2048\n");
    CHECK_CONTAINS(out, "  embedding:     64\n");
    CHECK_CONTAINS(out, "  layers:        2\n");
    CHECK_CONTAINS(out, "  heads:         4\n");
    CHECK_CONTAINS(out, "  kv heads:      2\n");
    CHECK_CONTAINS(out, "  quantization:  Q4_K_M (file type 15)\n");
    CHECK_CONTAINS(out, "  chat template: yes\n");
    CHECK_CONTAINS(out, "/models/nested/rich.gguf\n");
    free(out);
    free(err);

    const char *missing[] = { "show", "tinyllama.q4_k_m", NULL };
    CHECK_INT(run(missing, "gpt4all-lora", "models.txt", &out, &err), 0);
    CHECK_CONTAINS(out, "state:           not downloaded\n");
    CHECK_CONTAINS(out, "repo:            TheBloke/TinyLlama-GGUF\n");
    CHECK_CONTAINS(out, "metadata: not available until the model is on disk");
    free(out);
    free(err);

    const char *json[] = { "show", "--json", "weights", NULL };
    CHECK_INT(run(json, "gpt4all-lora", "models.txt", &out, &err), 0);
    cJSON *root = cJSON_Parse(out);
    CHECK(root != NULL);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "format")), "bin");
    CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(root, "size_bytes")), 1536);
    cJSON_Delete(root);
    free(out);
    free(err);

    const char *unknown[] = { "show", "nope", NULL };
    CHECK_INT(run(unknown, "gpt4all-lora", "models.txt", &out, &err), 1);
    CHECK_STR(err, "modelmgr: no model 'nope' in the catalog (see 'modelmgr list')\n");
    CHECK_STR(out, "");
    free(out);
    free(err);

    const char *no_key[] = { "show", NULL };
    CHECK_INT(run(no_key, "gpt4all-lora", "models.txt", &out, &err), 2);
    free(out);
    free(err);
}

static void test_errors_and_empty(void)
{
    char *out = NULL, *err = NULL;
    const char *list[] = { "list", NULL };
    CHECK_INT(run(list, "gpt4all-lora", "bad-models.txt", &out, &err), 2);
    CHECK_CONTAINS(err, "modelmgr: ");
    CHECK_CONTAINS(err, "bad-models.txt:2: '@' without a revision");
    free(out);
    free(err);
    const char *show[] = { "show", "rich", NULL };
    CHECK_INT(run(show, "gpt4all-lora", "bad-models.txt", &out, &err), 2);
    CHECK_CONTAINS(err, "bad-models.txt:2: ");
    free(out);
    free(err);

    /* Nothing anywhere: a message with the ways out, still success. */
    char *saved = tmp;
    tmp = mmtest_tmpdir();
    CHECK_INT(run(list, "gpt4all-lora", "models.txt", &out, &err), 0);
    CHECK_CONTAINS(out, "no models found");
    CHECK_CONTAINS(out, "/models.txt");
    CHECK_CONTAINS(out, "put a .gguf file in ");
    free(out);
    free(err);
    const char *json[] = { "list", "--json", NULL };
    CHECK_INT(run(json, "gpt4all-lora", "models.txt", &out, &err), 0);
    cJSON *root = cJSON_Parse(out);
    CHECK(root && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "models")) == 0);
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "default"), "key")));
    cJSON_Delete(root);
    free(out);
    free(err);

    /* A file name with an escape sequence is shown with '?' instead. */
    char *p = at("models/evil\x1b[31m.gguf");
    gguf_bytes_minimal(p, "llama");
    free(p);
    CHECK_INT(run(list, "gpt4all-lora", "models.txt", &out, &err), 0);
    CHECK(out && strchr(out, 0x1b) == NULL);
    CHECK_CONTAINS(out, "/models/evil?[31m.gguf\n");
    CHECK_CONTAINS(out, "\nevil--31m ");
    free(out);
    free(err);
    mmtest_rmtree(tmp);
    free(tmp);
    tmp = saved;
}

/* A model from the project's synthesizer, with the default llama shapes:
 * n_embd 64, 2 layers, 4 heads, 2 kv heads (head size 16, so k/v are
 * 64 x 32), n_ff 128, vocab 320, context 256, untied output. Parameters,
 * counted by hand: token_embd 64*320 = 20480; per layer two norms 2*64,
 * q and o 2*64*64, k and v 2*64*32, gate/up/down 3*64*128 = 36992, times
 * 2 layers = 73984; output_norm 64; output 64*320 = 20480. 115008 in all. */
static void test_show_synth(void)
{
    char *saved = tmp;
    tmp = mmtest_tmpdir();
    mmtest_synth_params params;
    mmtest_synth_default_params(&params);
    params.name = "Synth Llama";
    params.chat_template = "{% for m in messages %}{{ m.content }}{% endfor %}";
    char *p = at("models/synth-llama.gguf");
    char *dir = at("models");
    mm_mkdirs(dir, NULL);
    free(dir);
    CHECK_INT(mmtest_synth_model(&params, p), 0);
    free(p);

    char *out = NULL, *err = NULL;
    const char *argv[] = { "show", "synth-llama", NULL };
    CHECK_INT(run(argv, "synth-llama", "models.txt", &out, &err), 0);
    CHECK_CONTAINS(out, "  name:          Synth Llama\n");
    CHECK_CONTAINS(out, "  parameters:    115.01K (115008)\n");
    CHECK_CONTAINS(out, "  context:       256\n");
    CHECK_CONTAINS(out, "  embedding:     64\n");
    CHECK_CONTAINS(out, "  layers:        2\n");
    CHECK_CONTAINS(out, "  heads:         4\n");
    CHECK_CONTAINS(out, "  kv heads:      2\n");
    CHECK_CONTAINS(out, "  vocab:         320\n");
    CHECK_CONTAINS(out, "  quantization:  F32 (file type 0)\n");
    CHECK_CONTAINS(out, "  chat template: yes\n");
    free(out);
    free(err);
    const char *list[] = { "list", NULL };
    CHECK_INT(run(list, "synth-llama", "models.txt", &out, &err), 0);
    CHECK_CONTAINS(out, "\ndefault model: synth-llama (configured)\n");
    free(out);
    free(err);
    mmtest_rmtree(tmp);
    free(tmp);
    tmp = saved;
}

int main(void)
{
    tmp = mmtest_tmpdir();
    char *p = at("models/nested/rich.gguf");
    gguf_bytes_rich(p);
    free(p);
    p = at("models/corrupt.gguf");
    mmtest_write_file(p, "GGUF and garbage");
    free(p);
    p = at("models/corrupt-free.gguf");
    gguf_bytes_minimal(p, "llama");
    free(p);
    char weights[1537];
    memset(weights, 'w', 1536);
    weights[1536] = '\0';
    p = at("models/weights.bin");
    mmtest_write_file(p, weights);
    free(p);
    p = at("models.txt");
    mmtest_write_file(p, "# test catalog\n"
                         "TheBloke/TinyLlama-GGUF@main:tinyllama.Q4_K_M.gguf  # not downloaded\n"
                         "rich = local:nested/rich.gguf\n");
    free(p);
    p = at("bad-models.txt");
    mmtest_write_file(p, "ok/model\nbroken/model@\n");
    free(p);

    test_list_table();
    test_list_json();
    test_show();
    test_errors_and_empty();
    test_show_synth();
    mmtest_rmtree(tmp);
    free(tmp);
    return mmtest_finish();
}

/* test-cli-config.c - `modelmgr config` and the shared option parser, run
 * as a user would: origins in the table, the HF token never printed, JSON
 * that parses, exit statuses and exact error messages. */
#include "support/test.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

static char *tmp;
static char home_env[1100], xdg_env[1100], hf_home_env[1100];

#define TOKEN "hf_SuperSecretCliToken5678"

/* The child inherits this process's environment: unset (glibc putenv with
 * no '=') every variable that could change the answers, then add extra. */
static int run(const char *const *argv, const char *const *extra, char **out, char **err)
{
    static const char *const unset[] = {
        "MODELMGR_CONFIG", "MODELS_DIR", "MODELS_FILE", "DEFAULT_MODEL", "HF_TOKEN",
        "HF_ENDPOINT", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "SKIP_MODEL_DOWNLOADS",
        "MINIMAL_MODELS", "MODEL_UPDATE_INTERVAL", "MODEL_CACHE_SIZE", "MODEL_CACHE_TTL",
        "MODEL_POOL_SIZE", "MODEL_IDLE_TIMEOUT", "MODEL_MEMORY_BUDGET", "MODELMGR_THREADS",
        "MODELMGR_HOST", "MODELMGR_PORT", "MODELMGR_API_KEY", "MODELMGR_LOG_LEVEL",
        "VOSK_MODEL_PATH", "XDG_CACHE_HOME",
    };
    const char *env[64];
    size_t n = 0;
    for (size_t i = 0; i < sizeof unset / sizeof unset[0]; i++)
        env[n++] = unset[i];
    env[n++] = home_env;
    env[n++] = xdg_env;
    env[n++] = hf_home_env;
    for (size_t i = 0; extra && extra[i] && n < 63; i++)
        env[n++] = extra[i];
    env[n] = NULL;
    return mmtest_run_cli(argv, env, out, err);
}

/* The table row for key: the line starting with "key ". */
static char *row_of(const char *table, const char *key, char *line, size_t size)
{
    size_t klen = strlen(key);
    for (const char *p = table; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == ' ') {
            snprintf(line, size, "%.*s", (int)len, p);
            return line;
        }
        p = nl ? nl + 1 : NULL;
    }
    snprintf(line, size, "(no row for %s)", key);
    return line;
}

static void test_table(void)
{
    char cfg_path[1200], arg_config[1300], line[512];
    snprintf(cfg_path, sizeof cfg_path, "%s/conf/config.yaml", tmp);
    mmtest_write_file(cfg_path, "# modelmgr\nport: 9001\nunknown_thing: 1\n");
    snprintf(arg_config, sizeof arg_config, "--config=%s", cfg_path);
    const char *argv[] = { "config", arg_config, "--threads", "3", "--offline", NULL };
    const char *extra[] = { "MODEL_POOL_SIZE=2", "HF_TOKEN=" TOKEN, NULL };
    char *out = NULL, *err = NULL;
    CHECK_INT(run(argv, extra, &out, &err), 0);

    char expect[1400];
    snprintf(expect, sizeof expect, "config file: %s\n", cfg_path);
    CHECK_CONTAINS(out, expect);
    CHECK_CONTAINS(out, "KEY");
    CHECK_CONTAINS(out, "ORIGIN");
    /* Each row: key, value, origin, separated by aligned spaces. */
    snprintf(expect, sizeof expect, " 9001 ");
    CHECK_CONTAINS(row_of(out, "port", line, sizeof line), expect);
    snprintf(expect, sizeof expect, "%s:2", cfg_path);
    CHECK_CONTAINS(row_of(out, "port", line, sizeof line), expect);
    CHECK_CONTAINS(row_of(out, "pool_size", line, sizeof line), " 2 ");
    CHECK_CONTAINS(row_of(out, "pool_size", line, sizeof line), "MODEL_POOL_SIZE");
    CHECK_CONTAINS(row_of(out, "threads", line, sizeof line), " 3 ");
    CHECK_CONTAINS(row_of(out, "threads", line, sizeof line), "--threads");
    CHECK_CONTAINS(row_of(out, "offline", line, sizeof line), " true ");
    CHECK_CONTAINS(row_of(out, "offline", line, sizeof line), "--offline");
    CHECK_CONTAINS(row_of(out, "host", line, sizeof line), "127.0.0.1");
    CHECK_CONTAINS(row_of(out, "host", line, sizeof line), "default");
    CHECK_CONTAINS(row_of(out, "api_key", line, sizeof line), "(unset)");
    CHECK_CONTAINS(row_of(out, "hf_token", line, sizeof line), "hf_***5678");
    CHECK_CONTAINS(row_of(out, "hf_token", line, sizeof line), "HF_TOKEN");
    /* The VALUE column starts at the same place on every row. */
    const char *header = strstr(out, "KEY");
    const char *value_col = header ? strstr(header, "VALUE") : NULL;
    size_t col = header && value_col ? (size_t)(value_col - header) : 0;
    CHECK(col > 0);
    row_of(out, "log_level", line, sizeof line);
    CHECK(strlen(line) > col && line[col - 1] == ' ' && strncmp(line + col, "info", 4) == 0);
    /* The token appears nowhere, and the unknown key is a warning. */
    CHECK(strstr(out, TOKEN) == NULL);
    CHECK(strstr(err, TOKEN) == NULL);
    snprintf(expect, sizeof expect, "modelmgr: warn: %s:3: unknown configuration key "
             "'unknown_thing' (ignored; see 'modelmgr config')\n", cfg_path);
    CHECK_STR(err, expect);
    free(out);
    free(err);
}

/* log_level applies to the warnings of the load itself. */
static void test_log_level(void)
{
    char cfg_path[1200], arg_config[1300];
    snprintf(cfg_path, sizeof cfg_path, "%s/conf/unknown.yaml", tmp);
    mmtest_write_file(cfg_path, "mystery: 1\n");
    snprintf(arg_config, sizeof arg_config, "--config=%s", cfg_path);
    char *out = NULL, *err = NULL;
    const char *argv_flag[] = { "config", arg_config, "--log-level", "error", NULL };
    CHECK_INT(run(argv_flag, NULL, &out, &err), 0);
    CHECK_STR(err, "");
    CHECK_CONTAINS(out, "--log-level");
    free(out);
    free(err);
    const char *argv[] = { "config", arg_config, NULL };
    const char *quiet[] = { "MODELMGR_LOG_LEVEL=error", NULL };
    CHECK_INT(run(argv, quiet, &out, &err), 0);
    CHECK_STR(err, "");
    free(out);
    free(err);
    CHECK_INT(run(argv, NULL, &out, &err), 0);
    CHECK_CONTAINS(err, "unknown configuration key 'mystery'");
    free(out);
    free(err);
}

static void test_json(void)
{
    const char *argv[] = { "config", "--json", "--memory-budget=2G", "--minimal-models", "a/b,c/d", NULL };
    const char *extra[] = { "HF_TOKEN=" TOKEN, "MODELMGR_API_KEY=sk-anotherSecretKey4321", NULL };
    char *out = NULL, *err = NULL;
    CHECK_INT(run(argv, extra, &out, &err), 0);
    CHECK_STR(err, "");
    CHECK(strstr(out, TOKEN) == NULL);
    CHECK(strstr(out, "sk-anotherSecretKey4321") == NULL);
    cJSON *root = cJSON_Parse(out);
    CHECK(root != NULL);
    cJSON *keys = cJSON_GetObjectItem(root, "keys");
    CHECK(cJSON_IsArray(keys));
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(root, "config_file")));
    int seen = 0;
    cJSON *k;
    cJSON_ArrayForEach(k, keys) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(k, "key"));
        cJSON *value = cJSON_GetObjectItem(k, "value");
        const char *origin = cJSON_GetStringValue(cJSON_GetObjectItem(k, "origin"));
        const char *where = cJSON_GetStringValue(cJSON_GetObjectItem(k, "where"));
        if (!name || !origin || !where || !value) {
            CHECK(!"a key object lacks key/value/origin/where");
            continue;
        }
        if (strcmp(name, "hf_token") == 0) {
            seen++;
            CHECK_STR(cJSON_GetStringValue(value), "hf_***5678");
            CHECK_STR(origin, "env");
            CHECK(cJSON_IsTrue(cJSON_GetObjectItem(k, "secret")));
        } else if (strcmp(name, "api_key") == 0) {
            seen++;
            CHECK_STR(cJSON_GetStringValue(value), "sk-***4321");
        } else if (strcmp(name, "memory_budget") == 0) {
            seen++;
            CHECK(cJSON_IsNumber(value));
            CHECK_NEAR(cJSON_GetNumberValue(value), 2147483648.0, 0.5);
            CHECK_STR(origin, "flag");
            CHECK_STR(where, "--memory-budget");
        } else if (strcmp(name, "minimal_models") == 0) {
            seen++;
            CHECK_INT(cJSON_GetArraySize(value), 2);
            CHECK_STR(cJSON_GetStringValue(cJSON_GetArrayItem(value, 1)), "c/d");
        } else if (strcmp(name, "offline") == 0) {
            seen++;
            CHECK(cJSON_IsFalse(value));
            CHECK_STR(origin, "default");
        } else if (strcmp(name, "vosk_model_path") == 0) {
            seen++;
            CHECK(cJSON_IsNull(value));
        }
    }
    CHECK_INT(seen, 6);
    /* 21 + 10 router.* + preload, queue_size, queue_timeout, device + download_parallel,
     * download_fsync + max_body + auto_update */
    CHECK_INT(cJSON_GetArraySize(keys), 39);
    cJSON_Delete(root);
    free(out);
    free(err);
}

static void test_errors(void)
{
    char *out = NULL, *err = NULL;
    const char *argv[] = { "config", NULL };
    const char *bad_env[] = { "MODEL_POOL_SIZE=abc", NULL };
    CHECK_INT(run(argv, bad_env, &out, &err), 2);
    CHECK_STR(err, "modelmgr: MODEL_POOL_SIZE=abc (environment): expected an integer from 1 to 16\n");
    CHECK_STR(out, "");
    free(out);
    free(err);

    const char *argv_flag[] = { "config", "--pool-size=abc", NULL };
    CHECK_INT(run(argv_flag, NULL, &out, &err), 2);
    CHECK_STR(err, "modelmgr: --pool-size=abc (command line): expected an integer from 1 to 16\n");
    free(out);
    free(err);

    const char *argv_missing[] = { "config", "--pool-size", NULL };
    CHECK_INT(run(argv_missing, NULL, &out, &err), 2);
    CHECK_STR(err, "modelmgr: option --pool-size needs a value\n");
    free(out);
    free(err);

    const char *argv_unknown[] = { "config", "--poolsize=2", NULL };
    CHECK_INT(run(argv_unknown, NULL, &out, &err), 2);
    CHECK_STR(err, "modelmgr: unknown option '--poolsize=2' for 'config' "
                   "(see 'modelmgr config --help')\n");
    free(out);
    free(err);

    const char *argv_json_value[] = { "config", "--json=yes", NULL };
    CHECK_INT(run(argv_json_value, NULL, &out, &err), 2);
    CHECK_STR(err, "modelmgr: option --json takes no value\n");
    free(out);
    free(err);

    const char *argv_extra[] = { "config", "surplus", NULL };
    CHECK_INT(run(argv_extra, NULL, &out, &err), 2);
    CHECK_STR(err, "modelmgr: 'config' takes no arguments (see 'modelmgr config --help')\n");
    free(out);
    free(err);

    char missing[1200], arg[1300], expect[1500];
    snprintf(missing, sizeof missing, "%s/nope.yaml", tmp);
    snprintf(arg, sizeof arg, "--config=%s", missing);
    const char *argv_cfg[] = { "config", arg, NULL };
    CHECK_INT(run(argv_cfg, NULL, &out, &err), 2);
    snprintf(expect, sizeof expect, "modelmgr: config file %s (given with --config) does not "
             "exist or is not a regular file\n", missing);
    CHECK_STR(err, expect);
    free(out);
    free(err);

    /* A secret that is a bad value is still not echoed. */
    char long_token[6000];
    snprintf(long_token, sizeof long_token, "--hf-token=hf_");
    memset(long_token + 14, 'Z', 5000);
    long_token[5014] = '\0';
    const char *argv_secret[] = { "config", long_token, NULL };
    CHECK_INT(run(argv_secret, NULL, &out, &err), 2);
    CHECK_STR(err, "modelmgr: --hf-token=<redacted> (command line): expected text of at "
                   "most 4096 characters\n");
    free(out);
    free(err);
}

static void test_help(void)
{
    char *out = NULL, *err = NULL;
    /* --help works even when the configuration is broken. */
    const char *argv[] = { "config", "--help", NULL };
    const char *bad_env[] = { "MODEL_POOL_SIZE=abc", NULL };
    CHECK_INT(run(argv, bad_env, &out, &err), 0);
    CHECK_CONTAINS(out, "usage: modelmgr config [--json]");
    CHECK_CONTAINS(out, "--json");
    CHECK_CONTAINS(out, "--pool-size N");
    CHECK_CONTAINS(out, "MODEL_POOL_SIZE: instances per loaded model");
    CHECK_CONTAINS(out, "--config PATH");
    free(out);
    free(err);

    const char *argv_top[] = { "--help", NULL };
    CHECK_INT(run(argv_top, NULL, &out, &err), 0);
    CHECK_CONTAINS(out, "config ");
    free(out);
    free(err);
}

int main(void)
{
    tmp = mmtest_tmpdir();
    snprintf(home_env, sizeof home_env, "HOME=%s/home", tmp);
    snprintf(xdg_env, sizeof xdg_env, "XDG_CONFIG_HOME=%s/xdg", tmp);
    snprintf(hf_home_env, sizeof hf_home_env, "HF_HOME=%s/hf", tmp);
    test_table();
    test_json();
    test_log_level();
    test_errors();
    test_help();
    mmtest_rmtree(tmp);
    free(tmp);
    return mmtest_finish();
}

/* test-config.c - the layered configuration: defaults < config.yaml <
 * environment < flags with origins, every error message, warnings for
 * unknown keys, the HF token and cache fallbacks, byte sizes and the
 * physical core count. Expected values are written out by hand here. */
#include "config/config.h"
#include "support/test.h"

#include <stdlib.h>
#include <unistd.h>

static char *tmp;          /* this test's scratch directory */
static char home[1024];    /* $HOME inside tmp */

static char warnings[8192];
static void capture_warnings(mm_log_level level, const char *line, void *user)
{
    (void)user;
    if (level == MM_LOG_LEVEL_WARN) {
        size_t used = strlen(warnings);
        snprintf(warnings + used, sizeof warnings - used, "%s\n", line);
    }
}

/* Write name inside tmp with content; returns the path (static buffer per call site). */
static const char *write_tmp(char *path, size_t size, const char *name, const char *content)
{
    snprintf(path, size, "%s/%s", tmp, name);
    mmtest_write_file(path, content);
    return path;
}

static int load(const char *path, const char *const *env, const char *const *flags,
                mm_config **cfg, mm_error *err)
{
    /* Never the real environment: tests must not depend on the machine. */
    static const char *const no_env[] = { NULL };
    mm_config_sources src = { path, env ? env : no_env, flags };
    mm_error_clear(err);
    return mm_config_load(&src, cfg, err);
}

static const mm_config_item *item_of(const mm_config *cfg, const char *key, mm_config_item *item)
{
    for (size_t i = 0; i < mm_config_key_count(); i++) {
        mm_config_item_get(cfg, i, item);
        if (strcmp(item->key, key) == 0)
            return item;
    }
    mmtest_fail(__FILE__, __LINE__, "no key %s", key);
    memset(item, 0, sizeof *item);
    item->key = item->where;
    return item;
}

static void test_defaults(void)
{
    char hf[1100];
    const char *env[] = { hf, NULL };
    snprintf(hf, sizeof hf, "HOME=%s", home);
    mm_config *cfg = NULL;
    mm_error err = { 0 };
    CHECK_INT(load(NULL, env, NULL, &cfg, &err), 0);
    if (!cfg)
        return;
    CHECK_STR(cfg->models_dir, "./models");
    CHECK_STR(cfg->models_file, "models.txt");
    CHECK_STR(cfg->default_model, "gpt4all-lora");
    CHECK(cfg->hf_token == NULL);
    CHECK_STR(cfg->hf_endpoint, "https://huggingface.co");
    char expect[1200];
    snprintf(expect, sizeof expect, "%s/.cache/huggingface/hub", home);
    CHECK_STR(cfg->hf_cache, expect);
    CHECK(!cfg->offline);
    CHECK(!cfg->skip_downloads);
    CHECK_INT(cfg->n_minimal_models, 2);
    if (cfg->n_minimal_models == 2) {
        CHECK_STR(cfg->minimal_models[0], "deepseek-ai/Janus-Pro-1B");
        CHECK_STR(cfg->minimal_models[1], "unsloth/Qwen2.5-Omni-3B-GGUF");
    }
    CHECK_INT(cfg->update_interval_s, 86400);
    CHECK_INT(cfg->cache_size, 1000);
    CHECK_INT(cfg->cache_ttl_s, 600);
    CHECK_INT(cfg->pool_size, 1);
    CHECK_INT(cfg->idle_timeout_s, 300);
    /* 75% of RAM, computed here from sysconf independently. */
    uint64_t ram = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
    CHECK_INT(cfg->memory_budget, ram / 4 * 3);
    CHECK(cfg->threads >= 1 && cfg->threads <= sysconf(_SC_NPROCESSORS_ONLN));
    CHECK_STR(cfg->host, "127.0.0.1");
    CHECK_INT(cfg->port, 8000);
    CHECK(cfg->api_key == NULL);
    CHECK_INT(cfg->log_level, MM_LOG_LEVEL_INFO);
    CHECK(cfg->vosk_model_path == NULL);
    CHECK(mm_config_file(cfg) == NULL);
    for (size_t i = 0; i < mm_config_key_count(); i++) {
        mm_config_item item;
        CHECK_INT(mm_config_item_get(cfg, i, &item), 0);
        CHECK_INT(item.origin, MM_ORIGIN_DEFAULT);
        CHECK_STR(item.where, "default");
    }
    mm_config_item item;
    CHECK_INT(mm_config_item_get(cfg, mm_config_key_count(), &item), MM_EINVAL);
    CHECK_STR(item_of(cfg, "minimal_models", &item)->value,
              "deepseek-ai/Janus-Pro-1B,unsloth/Qwen2.5-Omni-3B-GGUF");
    CHECK(!item_of(cfg, "api_key", &item)->is_set);
    CHECK_STR(item_of(cfg, "log_level", &item)->value, "info");
    mm_config_free(cfg);
    mm_config_free(NULL);
}

/* One hand-written row per key: a value for each layer and what each must
 * read back as. The count check below makes a new key add a row here. */
typedef struct layer_case {
    const char *key, *env, *flag;
    const char *file_v, *env_v, *flag_v;   /* as written in each source */
    const char *file_x, *env_x, *flag_x;   /* expected item.value */
} layer_case;

static const layer_case cases[] = {
    { "models_dir", "MODELS_DIR", "--models-dir", "/f/models", "/e/models", "/c/models",
      "/f/models", "/e/models", "/c/models" },
    { "models_file", "MODELS_FILE", "--models-file", "f.txt", "e.txt", "c.txt", "f.txt", "e.txt", "c.txt" },
    { "default_model", "DEFAULT_MODEL", "--default-model", "fm", "em", "cm", "fm", "em", "cm" },
    { "hf_token", "HF_TOKEN", "--hf-token", "hf_fileTOKEN0000aaaa", "hf_envTOKEN0000bbbb",
      "hf_flagTOKEN0000cccc", "hf_***aaaa", "hf_***bbbb", "hf_***cccc" },
    { "hf_endpoint", "HF_ENDPOINT", "--hf-endpoint", "http://f", "http://e", "http://c",
      "http://f", "http://e", "http://c" },
    { "hf_cache", "HF_HUB_CACHE", "--hf-cache", "/f/hub", "/e/hub", "/c/hub", "/f/hub", "/e/hub", "/c/hub" },
    { "offline", "HF_HUB_OFFLINE", "--offline", "yes", "0", "on", "true", "false", "true" },
    { "skip_downloads", "SKIP_MODEL_DOWNLOADS", "--skip-downloads", "true", "off", "1",
      "true", "false", "true" },
    { "download_parallel", "MODELMGR_DOWNLOAD_PARALLEL", "--download-parallel", "1", "8", "64",
      "1", "8", "64" },
    { "download_fsync", "MODELMGR_DOWNLOAD_FSYNC", "--download-fsync", "yes", "0", "on",
      "true", "false", "true" },
    { "minimal_models", "MINIMAL_MODELS", "--minimal-models", "a/b, c/d", "e/f", "g/h,,i/j",
      "a/b,c/d", "e/f", "g/h,i/j" },
    { "update_interval", "MODEL_UPDATE_INTERVAL", "--update-interval", "60", "0", "3600",
      "60", "0", "3600" },
    { "auto_update", "MODEL_AUTO_UPDATE", "--auto-update", "true", "no", "1",
      "true", "false", "true" },
    { "cache_size", "MODEL_CACHE_SIZE", "--cache-size", "5", "6", "7", "5", "6", "7" },
    { "cache_ttl", "MODEL_CACHE_TTL", "--cache-ttl", "10", "20", "30", "10", "20", "30" },
    { "pool_size", "MODEL_POOL_SIZE", "--pool-size", "2", "3", "16", "2", "3", "16" },
    { "idle_timeout", "MODEL_IDLE_TIMEOUT", "--idle-timeout", "1", "2", "0", "1", "2", "0" },
    { "memory_budget", "MODEL_MEMORY_BUDGET", "--memory-budget", "512M", "2G", "1048576",
      "536870912", "2147483648", "1048576" },
    { "threads", "MODELMGR_THREADS", "--threads", "3", "5", "7", "3", "5", "7" },
    { "host", "MODELMGR_HOST", "--host", "0.0.0.0", "::1", "10.0.0.1", "0.0.0.0", "::1", "10.0.0.1" },
    { "port", "MODELMGR_PORT", "--port", "8001", "65535", "0", "8001", "65535", "0" },
    { "api_key", "MODELMGR_API_KEY", "--api-key", "sk-fileKEY000011112222", "sk-envKEY0000333344445555",
      "sk-flagKEY00006666", "sk-***2222", "sk-***5555", "sk-***6666" },
    { "max_body", "MODELMGR_MAX_BODY", "--max-body", "64K", "2M", "1024",
      "65536", "2097152", "1024" },
    { "log_level", "MODELMGR_LOG_LEVEL", "--log-level", "debug", "WARN", "error",
      "debug", "warn", "error" },
    { "vosk_model_path", "VOSK_MODEL_PATH", "--vosk-model-path", "/f/vosk", "/e/vosk", "/c/vosk",
      "/f/vosk", "/e/vosk", "/c/vosk" },
    { "router.strategy", "MODELMGR_ROUTER_STRATEGY", "--router-strategy", "cost", "least-busy",
      "fixed", "cost", "least-busy", "fixed" },
    { "router.complexity_threshold", "MODELMGR_ROUTER_COMPLEXITY_THRESHOLD",
      "--router-complexity-threshold", "0.25", "1", ".75", "0.25", "1", "0.75" },
    { "router.quality_floor", "MODELMGR_ROUTER_QUALITY_FLOOR", "--router-quality-floor",
      "2", "5", "1", "2", "5", "1" },
    { "router.retries", "MODELMGR_ROUTER_RETRIES", "--router-retries", "0", "10", "3",
      "0", "10", "3" },
    { "router.backoff_ms", "MODELMGR_ROUTER_BACKOFF_MS", "--router-backoff-ms", "50", "0", "60000",
      "50", "0", "60000" },
    { "router.default_fallbacks", "MODELMGR_ROUTER_DEFAULT_FALLBACKS", "--router-default-fallbacks",
      "a, b", "c", "d,e", "a,b", "c", "d,e" },
    { "router.allowed_fails", "MODELMGR_ROUTER_ALLOWED_FAILS", "--router-allowed-fails",
      "1", "32", "5", "1", "32", "5" },
    { "router.fail_window", "MODELMGR_ROUTER_FAIL_WINDOW", "--router-fail-window",
      "10", "86400", "1", "10", "86400", "1" },
    { "router.cooldown", "MODELMGR_ROUTER_COOLDOWN", "--router-cooldown",
      "5", "60", "1", "5", "60", "1" },
    { "router.probe_interval", "MODELMGR_ROUTER_PROBE_INTERVAL", "--router-probe-interval",
      "0", "86400", "15", "0", "86400", "15" },
    { "preload", "MODEL_PRELOAD", "--preload", "a, b", "c", "d,e", "a,b", "c", "d,e" },
    { "queue_size", "MODEL_QUEUE_SIZE", "--queue-size", "1", "0", "4096", "1", "0", "4096" },
    { "queue_timeout", "MODEL_QUEUE_TIMEOUT", "--queue-timeout", "5", "0", "3600", "5", "0", "3600" },
    { "device", "MODELMGR_DEVICE", "--device", "cpu", "GPU", "auto", "cpu", "gpu", "auto" },
};

static void check_layer(const layer_case *c, int layers, const char *yaml_path)
{
    char env_entry[256], flag_entry[256], home_entry[1100];
    snprintf(home_entry, sizeof home_entry, "HOME=%s", home);
    snprintf(env_entry, sizeof env_entry, "%s=%s", c->env, c->env_v);
    snprintf(flag_entry, sizeof flag_entry, "%s=%s", c->key, c->flag_v);
    const char *env[] = { home_entry, layers >= 2 ? env_entry : NULL, NULL };
    const char *flags[] = { layers >= 3 ? flag_entry : NULL, NULL };
    mm_config *cfg = NULL;
    mm_error err = { 0 };
    int rc = load(yaml_path, env, flags, &cfg, &err);
    CHECK_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "  %s (%d layers): %s\n", c->key, layers, err.message);
        return;
    }
    mm_config_item item;
    item_of(cfg, c->key, &item);
    const char *expect = layers == 1 ? c->file_x : layers == 2 ? c->env_x : c->flag_x;
    CHECK_STR(item.value, expect);
    CHECK_INT(item.origin, layers == 1 ? MM_ORIGIN_FILE : layers == 2 ? MM_ORIGIN_ENV : MM_ORIGIN_FLAG);
    CHECK_INT(mm_config_origin(cfg, c->key), item.origin);
    char where[1200];
    if (layers == 1)
        snprintf(where, sizeof where, "%s:2", yaml_path);
    CHECK_STR(item.where, layers == 1 ? where : layers == 2 ? c->env : c->flag);
    CHECK_STR(item.env, c->env);
    CHECK_STR(item.flag, c->flag);
    mm_config_free(cfg);
}

static void test_precedence(void)
{
    CHECK_INT(MM_ARRAY_LEN(cases), mm_config_key_count());
    for (size_t i = 0; i < MM_ARRAY_LEN(cases); i++) {
        const layer_case *c = &cases[i];
        char yaml[512], path[1100];
        /* The key sits on line 2, after a comment. */
        snprintf(yaml, sizeof yaml, "# test\n%s: \"%s\"\n", c->key, c->file_v);
        write_tmp(path, sizeof path, "layers.yaml", yaml);
        for (int layers = 1; layers <= 3; layers++)
            check_layer(c, layers, path);
    }
    /* Typed fields, not only their text. */
    char path[1100];
    write_tmp(path, sizeof path, "typed.yaml",
              "pool_size: 4\nidle_timeout: 9\nlog_level: debug\noffline: on\n"
              "minimal_models:\n  - x/y\n  - z/w\n");
    const char *env[] = { "MODEL_CACHE_TTL=77", NULL };
    const char *flags[] = { "threads=3", "port=0", "threads=5", NULL };
    mm_config *cfg = NULL;
    mm_error err = { 0 };
    CHECK_INT(load(path, env, flags, &cfg, &err), 0);
    if (cfg) {
        CHECK_INT(cfg->pool_size, 4);
        CHECK_INT(cfg->idle_timeout_s, 9);
        CHECK_INT(cfg->log_level, MM_LOG_LEVEL_DEBUG);
        CHECK(cfg->offline);
        CHECK_INT(cfg->n_minimal_models, 2);
        CHECK_STR(cfg->minimal_models[1], "z/w");
        CHECK_INT(cfg->cache_ttl_s, 77);
        CHECK_INT(cfg->threads, 5);   /* the last flag wins */
        CHECK_INT(cfg->port, 0);
        CHECK_STR(mm_config_file(cfg), path);
        mm_config_item item;
        char where[1200];
        snprintf(where, sizeof where, "%s:5", path);
        CHECK_STR(item_of(cfg, "minimal_models", &item)->where, where);
        CHECK_STR(item_of(cfg, "host", &item)->where, "default");
        mm_config_free(cfg);
    }
}

/* Loads that must fail: the exact message, and the code. */
static void expect_error(const char *path, const char *const *env, const char *const *flags,
                         int code, const char *message)
{
    mm_config *cfg = (mm_config *)1;
    mm_error err = { 0 };
    CHECK_INT(load(path, env, flags, &cfg, &err), code);
    CHECK_INT(err.code, code);
    CHECK(cfg == NULL);
    CHECK_STR(err.message, message);
}

static void test_errors(void)
{
    const char *env_int[] = { "MODEL_POOL_SIZE=abc", NULL };
    expect_error(NULL, env_int, NULL, MM_ECONFIG,
                 "MODEL_POOL_SIZE=abc (environment): expected an integer from 1 to 16");
    const char *env_range[] = { "MODEL_POOL_SIZE=17", NULL };
    expect_error(NULL, env_range, NULL, MM_ECONFIG,
                 "MODEL_POOL_SIZE=17 (environment): expected an integer from 1 to 16");
    const char *flag_int[] = { "pool_size=abc", NULL };
    expect_error(NULL, NULL, flag_int, MM_ECONFIG,
                 "--pool-size=abc (command line): expected an integer from 1 to 16");
    const char *flag_zero[] = { "pool_size=0", NULL };
    expect_error(NULL, NULL, flag_zero, MM_ECONFIG,
                 "--pool-size=0 (command line): expected an integer from 1 to 16");
    const char *flag_port[] = { "port=65536", NULL };
    expect_error(NULL, NULL, flag_port, MM_ECONFIG,
                 "--port=65536 (command line): expected an integer from 0 to 65535");

    char path[1100], msg[2600];
    write_tmp(path, sizeof path, "bad-int.yaml", "models_dir: /m\nport: 8000\npool_size: abc\n");
    snprintf(msg, sizeof msg, "pool_size: abc (%s:3): expected an integer from 1 to 16", path);
    expect_error(path, NULL, NULL, MM_ECONFIG, msg);

    const char *env_bool[] = { "HF_HUB_OFFLINE=maybe", NULL };
    expect_error(NULL, env_bool, NULL, MM_ECONFIG,
                 "HF_HUB_OFFLINE=maybe (environment): expected a boolean: 1/0, true/false, yes/no or on/off");
    write_tmp(path, sizeof path, "bad-bool.yaml", "skip_downloads: 2\n");
    snprintf(msg, sizeof msg, "skip_downloads: 2 (%s:1): expected a boolean: 1/0, true/false, "
             "yes/no or on/off", path);
    expect_error(path, NULL, NULL, MM_ECONFIG, msg);

    const char *env_size[] = { "MODEL_MEMORY_BUDGET=12X", NULL };
    expect_error(NULL, env_size, NULL, MM_ECONFIG,
                 "MODEL_MEMORY_BUDGET=12X (environment): expected a byte size of at least 1048576 "
                 "bytes, e.g. 1073741824, 512M or 8G (K/M/G/T = 1024^n)");
    const char *flag_small[] = { "memory_budget=100K", NULL };
    expect_error(NULL, NULL, flag_small, MM_ECONFIG,
                 "--memory-budget=100K (command line): expected a byte size of at least 1048576 "
                 "bytes, e.g. 1073741824, 512M or 8G (K/M/G/T = 1024^n)");

    const char *env_level[] = { "MODELMGR_LOG_LEVEL=loud", NULL };
    expect_error(NULL, env_level, NULL, MM_ECONFIG,
                 "MODELMGR_LOG_LEVEL=loud (environment): expected one of error|warn|info|debug");

    const char *env_empty_host[] = { "MODELMGR_HOST=", NULL };   /* empty = unset: fine */
    mm_config *cfg = NULL;
    mm_error err = { 0 };
    CHECK_INT(load(NULL, env_empty_host, NULL, &cfg, &err), 0);
    CHECK_STR(cfg ? cfg->host : NULL, "127.0.0.1");
    mm_config_free(cfg);
    const char *env_newline[] = { "MODELMGR_PORT=80\n80", NULL };
    expect_error(NULL, env_newline, NULL, MM_ECONFIG,
                 "MODELMGR_PORT=80?80 (environment): expected an integer from 0 to 65535");
    char long_value[200];
    memset(long_value, 0, sizeof long_value);
    memcpy(long_value, "MODELMGR_PORT=", 14);
    memset(long_value + 14, '9', 100);
    const char *env_long[] = { long_value, NULL };
    char long_msg[400];
    snprintf(long_msg, sizeof long_msg, "MODELMGR_PORT=%.80s... (environment): expected an "
             "integer from 0 to 65535", long_value + 14);
    expect_error(NULL, env_long, NULL, MM_ECONFIG, long_msg);
    const char *flag_empty_host[] = { "host=", NULL };
    expect_error(NULL, NULL, flag_empty_host, MM_ECONFIG,
                 "--host= (command line): expected non-empty text of at most 4096 characters");

    /* Malformed YAML names the line where the parser noticed. */
    write_tmp(path, sizeof path, "malformed.yaml", "port: 8000\nhost: a\n  pool_size: 2\n");
    snprintf(msg, sizeof msg, "%s:3: malformed YAML: mapping values are not allowed "
             "in this context", path);
    expect_error(path, NULL, NULL, MM_EFORMAT, msg);
    write_tmp(path, sizeof path, "unclosed.yaml", "port: 8000\nhost: \"abc\n");
    mm_error_clear(&err);
    cfg = NULL;
    CHECK_INT(load(path, NULL, NULL, &cfg, &err), MM_EFORMAT);
    snprintf(msg, sizeof msg, "%s:3: malformed YAML", path);
    CHECK_CONTAINS(err.message, msg);

    /* Not a mapping, two documents, a duplicate key. */
    write_tmp(path, sizeof path, "list.yaml", "\n- port\n- host\n");
    snprintf(msg, sizeof msg, "%s:2: expected a mapping of 'key: value' lines", path);
    expect_error(path, NULL, NULL, MM_EFORMAT, msg);
    write_tmp(path, sizeof path, "two.yaml", "port: 1\n---\nport: 2\n");
    snprintf(msg, sizeof msg, "%s:3: only one YAML document is allowed", path);
    expect_error(path, NULL, NULL, MM_EFORMAT, msg);
    write_tmp(path, sizeof path, "dup.yaml", "port: 1\nhost: h\nport: 2\n");
    snprintf(msg, sizeof msg, "%s:3: duplicate key 'port' (first set at %s:1)", path, path);
    expect_error(path, NULL, NULL, MM_ECONFIG, msg);

    /* A list or mapping where one value belongs. */
    write_tmp(path, sizeof path, "shape.yaml", "port:\n  - 1\n  - 2\n");
    snprintf(msg, sizeof msg, "port: a list (%s:1): expected an integer from 0 to 65535", path);
    expect_error(path, NULL, NULL, MM_ECONFIG, msg);
    write_tmp(path, sizeof path, "shape2.yaml", "\nhost: {a: 1}\n");
    snprintf(msg, sizeof msg, "host: a mapping (%s:2): expected non-empty text of at most "
             "4096 characters", path);
    expect_error(path, NULL, NULL, MM_ECONFIG, msg);
    write_tmp(path, sizeof path, "shape3.yaml", "minimal_models:\n  - a\n  - [b, c]\n");
    snprintf(msg, sizeof msg, "minimal_models: a nested list (%s:3): expected a list of names", path);
    expect_error(path, NULL, NULL, MM_ECONFIG, msg);

    /* An explicitly named file must exist; MODELMGR_CONFIG counts as explicit. */
    snprintf(path, sizeof path, "%s/absent.yaml", tmp);
    snprintf(msg, sizeof msg, "config file %s (given with --config) does not exist or is not "
             "a regular file", path);
    expect_error(path, NULL, NULL, MM_ENOTFOUND, msg);
    char env_cfg[1200];
    snprintf(env_cfg, sizeof env_cfg, "MODELMGR_CONFIG=%s", path);
    const char *env_missing[] = { env_cfg, NULL };
    snprintf(msg, sizeof msg, "config file %s (named by MODELMGR_CONFIG) does not exist or is "
             "not a regular file", path);
    expect_error(NULL, env_missing, NULL, MM_ENOTFOUND, msg);

    const char *flag_unknown[] = { "pool=2", NULL };
    expect_error(NULL, NULL, flag_unknown, MM_EINVAL, "unknown configuration key 'pool'");
}

/* A secret never appears in an error, even when it is the bad value. */
static void test_secret_errors(void)
{
    char token[5000 + 16];
    memcpy(token, "HF_TOKEN=hf_", 12);
    memset(token + 12, 'Q', 5000);
    token[12 + 5000] = '\0';
    const char *env[] = { token, NULL };
    expect_error(NULL, env, NULL, MM_ECONFIG,
                 "HF_TOKEN=<redacted> (environment): expected text of at most 4096 characters");

    char path[1100], msg[2600];
    write_tmp(path, sizeof path, "secret-shape.yaml", "api_key:\n  - sk-listedSECRET12345\n");
    mm_config *cfg = NULL;
    mm_error err = { 0 };
    CHECK_INT(load(path, NULL, NULL, &cfg, &err), MM_ECONFIG);
    snprintf(msg, sizeof msg, "api_key: a list (%s:1): expected text of at most 4096 characters", path);
    CHECK_STR(err.message, msg);
    CHECK(strstr(err.message, "listedSECRET") == NULL);
}

static void test_unknown_key_warning(void)
{
    char path[1100], expect[4000];
    write_tmp(path, sizeof path, "unknown.yaml",
              "port: 8000\n\npool_sise: 2\nrouting:\n  strategy: fast\nhost: ~\nMODELS_DIR: /x\n");
    warnings[0] = '\0';
    mm_log_set_callback(capture_warnings, NULL);
    mm_config *cfg = NULL;
    mm_error err = { 0 };
    CHECK_INT(load(path, NULL, NULL, &cfg, &err), 0);
    mm_log_set_callback(NULL, NULL);
    snprintf(expect, sizeof expect,
             "%s:3: unknown configuration key 'pool_sise' (ignored; did you mean 'pool_size'?)\n"
             "%s:4: unknown configuration key 'routing' (ignored; see 'modelmgr config')\n"
             "%s:7: unknown configuration key 'MODELS_DIR' (ignored; did you mean 'models_dir'?)\n",
             path, path, path);
    CHECK_STR(warnings, expect);
    if (cfg) {
        CHECK_INT(cfg->pool_size, 1);
        CHECK_STR(cfg->host, "127.0.0.1");      /* a null value sets nothing */
        CHECK_INT(mm_config_origin(cfg, "host"), MM_ORIGIN_DEFAULT);
        CHECK_INT(mm_config_origin(cfg, "port"), MM_ORIGIN_FILE);
        CHECK_INT(mm_config_origin(cfg, "no_such_key"), MM_ORIGIN_DEFAULT);
    }
    mm_config_free(cfg);

    /* Empty and comment-only files set nothing and are not errors. */
    write_tmp(path, sizeof path, "empty.yaml", "# nothing yet\n");
    CHECK_INT(load(path, NULL, NULL, &cfg, &err), 0);
    CHECK_INT(mm_config_origin(cfg, "port"), MM_ORIGIN_DEFAULT);
    mm_config_free(cfg);
}

static void test_hf_token(void)
{
    char hf_home[1100], hf_env[1200], home_env[1100], token_path[1200], msg[64];
    snprintf(hf_home, sizeof hf_home, "%s/hfhome", tmp);
    snprintf(hf_env, sizeof hf_env, "HF_HOME=%s", hf_home);
    snprintf(home_env, sizeof home_env, "HOME=%s", home);
    snprintf(token_path, sizeof token_path, "%s/token", hf_home);
    mmtest_write_file(token_path, "hf_fromTheTokenFile0042\n");

    mm_config *cfg = NULL;
    mm_error err = { 0 };
    mm_config_item item;
    const char *env_file[] = { hf_env, home_env, NULL };
    CHECK_INT(load(NULL, env_file, NULL, &cfg, &err), 0);
    CHECK_STR(cfg ? cfg->hf_token : NULL, "hf_fromTheTokenFile0042");
    CHECK_INT(item_of(cfg, "hf_token", &item)->origin, MM_ORIGIN_FILE);
    CHECK_STR(item.where, token_path);
    CHECK_STR(item.value, "hf_***0042");
    /* Registered with the logger as soon as it was read. */
    snprintf(msg, sizeof msg, "t=%s", "hf_fromTheTokenFile0042");
    mm_error_set(&err, MM_EAUTH, "%s", msg);
    CHECK_STR(err.message, "t=hf_***0042");
    mm_config_free(cfg);

    const char *env_both[] = { hf_env, home_env, "HF_TOKEN=hf_fromTheEnvironment0099", NULL };
    CHECK_INT(load(NULL, env_both, NULL, &cfg, &err), 0);
    CHECK_STR(cfg ? cfg->hf_token : NULL, "hf_fromTheEnvironment0099");
    CHECK_INT(item_of(cfg, "hf_token", &item)->origin, MM_ORIGIN_ENV);
    CHECK_STR(item.where, "HF_TOKEN");
    CHECK_STR(item.value, "hf_***0099");
    mm_config_free(cfg);

    /* Without HF_HOME the token file is $HOME/.cache/huggingface/token. */
    char home_token[1200];
    snprintf(home_token, sizeof home_token, "%s/.cache/huggingface/token", home);
    mmtest_write_file(home_token, "  hf_inTheHomeCache7777  \n");
    const char *env_home[] = { home_env, NULL };
    CHECK_INT(load(NULL, env_home, NULL, &cfg, &err), 0);
    CHECK_STR(cfg ? cfg->hf_token : NULL, "hf_inTheHomeCache7777");
    CHECK_STR(item_of(cfg, "hf_token", &item)->where, home_token);
    mm_config_free(cfg);
    remove(home_token);

    /* An empty value in config.yaml switches the token file off. */
    char path[1100];
    write_tmp(path, sizeof path, "notoken.yaml", "hf_token: \"\"\n");
    CHECK_INT(load(path, env_file, NULL, &cfg, &err), 0);
    CHECK(cfg && cfg->hf_token == NULL);
    CHECK_INT(mm_config_origin(cfg, "hf_token"), MM_ORIGIN_FILE);
    mm_config_free(cfg);
}

static void test_hf_cache(void)
{
    char home_env[1100], expect[1200];
    snprintf(home_env, sizeof home_env, "HOME=%s", home);
    mm_config *cfg = NULL;
    mm_error err = { 0 };
    mm_config_item item;

    const char *env_cache[] = { "HF_HUB_CACHE=/x/hub-cache", "HF_HOME=/y/hf", home_env, NULL };
    CHECK_INT(load(NULL, env_cache, NULL, &cfg, &err), 0);
    CHECK_STR(cfg ? cfg->hf_cache : NULL, "/x/hub-cache");
    CHECK_STR(item_of(cfg, "hf_cache", &item)->where, "HF_HUB_CACHE");
    mm_config_free(cfg);

    const char *env_home[] = { "HF_HOME=/y/hf", home_env, NULL };
    CHECK_INT(load(NULL, env_home, NULL, &cfg, &err), 0);
    CHECK_STR(cfg ? cfg->hf_cache : NULL, "/y/hf/hub");
    CHECK_INT(item_of(cfg, "hf_cache", &item)->origin, MM_ORIGIN_ENV);
    CHECK_STR(item.where, "HF_HOME");
    mm_config_free(cfg);

    const char *env_xdg[] = { "XDG_CACHE_HOME=/z/cache", home_env, NULL };
    CHECK_INT(load(NULL, env_xdg, NULL, &cfg, &err), 0);
    CHECK_STR(cfg ? cfg->hf_cache : NULL, "/z/cache/huggingface/hub");
    mm_config_free(cfg);

    const char *env_plain[] = { home_env, NULL };
    CHECK_INT(load(NULL, env_plain, NULL, &cfg, &err), 0);
    snprintf(expect, sizeof expect, "%s/.cache/huggingface/hub", home);
    CHECK_STR(cfg ? cfg->hf_cache : NULL, expect);
    CHECK_INT(item_of(cfg, "hf_cache", &item)->origin, MM_ORIGIN_DEFAULT);
    mm_config_free(cfg);

    /* config.yaml beats the HF_HOME fallback; ~ expands from the injected HOME. */
    char path[1100];
    write_tmp(path, sizeof path, "cache.yaml", "hf_cache: ~/my-hub\nmodels_dir: \"~\"\n");
    CHECK_INT(load(path, env_home, NULL, &cfg, &err), 0);
    snprintf(expect, sizeof expect, "%s/my-hub", home);
    CHECK_STR(cfg ? cfg->hf_cache : NULL, expect);
    CHECK_STR(cfg ? cfg->models_dir : NULL, home);
    mm_config_free(cfg);

    const char *env_none[] = { NULL };
    CHECK_INT(load(NULL, env_none, NULL, &cfg, &err), 0);
    CHECK(cfg && cfg->hf_cache == NULL);
    mm_config_free(cfg);
}

static void test_memory_sizes(void)
{
    static const struct { const char *text; uint64_t bytes; } sizes[] = {
        { "1048576", 1048576ull },
        { "512M", 512ull * 1024 * 1024 },
        { "8G", 8ull * 1024 * 1024 * 1024 },
        { "1.5G", 1610612736ull },
        { "2GiB", 2147483648ull },
        { "800MB", 838860800ull },
        { "1T", 1099511627776ull },
        { "4096k", 4194304ull },
    };
    for (size_t i = 0; i < MM_ARRAY_LEN(sizes); i++) {
        char entry[64];
        snprintf(entry, sizeof entry, "MODEL_MEMORY_BUDGET=%s", sizes[i].text);
        const char *env[] = { entry, NULL };
        mm_config *cfg = NULL;
        mm_error err = { 0 };
        CHECK_INT(load(NULL, env, NULL, &cfg, &err), 0);
        CHECK_INT(cfg ? cfg->memory_budget : 0, sizes[i].bytes);
        mm_config_free(cfg);
    }
    static const char *bad[] = { "-1G", "G", "1Q", "1.5.5G", "" };
    for (size_t i = 0; i < MM_ARRAY_LEN(bad); i++) {
        char entry[64];
        snprintf(entry, sizeof entry, "memory_budget=%s", bad[i]);
        const char *flags[] = { entry, NULL };
        mm_config *cfg = NULL;
        mm_error err = { 0 };
        CHECK_INT(load(NULL, NULL, flags, &cfg, &err), MM_ECONFIG);
        mm_config_free(cfg);
    }
}

/* Implicit locations: ./config.yaml, then $XDG_CONFIG_HOME/modelmgr/config.yaml. */
static void test_discovery(void)
{
    char cwd[4096], dir[1100], path[1200], xdg_env[1200], xdg_file[1300];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    snprintf(dir, sizeof dir, "%s/work", tmp);
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    mmtest_write_file(path, "port: 1111\n");
    snprintf(xdg_env, sizeof xdg_env, "XDG_CONFIG_HOME=%s/xdg", tmp);
    snprintf(xdg_file, sizeof xdg_file, "%s/xdg/modelmgr/config.yaml", tmp);
    mmtest_write_file(xdg_file, "port: 2222\n");
    const char *env[] = { xdg_env, NULL };
    mm_config *cfg = NULL;
    mm_error err = { 0 };
    mm_config_item item;

    CHECK_INT(chdir(dir), 0);
    CHECK_INT(load(NULL, env, NULL, &cfg, &err), 0);
    CHECK_INT(cfg ? cfg->port : 0, 1111);
    CHECK_STR(item_of(cfg, "port", &item)->where, "config.yaml:1");
    mm_config_free(cfg);
    remove(path);

    CHECK_INT(load(NULL, env, NULL, &cfg, &err), 0);
    CHECK_INT(cfg ? cfg->port : 0, 2222);
    CHECK_STR(mm_config_file(cfg), xdg_file);
    mm_config_free(cfg);

    /* MODELMGR_CONFIG beats both; --config beats MODELMGR_CONFIG. */
    char named[1200], named_env[1300], flag_file[1200];
    write_tmp(named, sizeof named, "named.yaml", "port: 3333\n");
    write_tmp(flag_file, sizeof flag_file, "flag.yaml", "port: 4444\n");
    snprintf(named_env, sizeof named_env, "MODELMGR_CONFIG=%s", named);
    const char *env2[] = { xdg_env, named_env, NULL };
    CHECK_INT(load(NULL, env2, NULL, &cfg, &err), 0);
    CHECK_INT(cfg ? cfg->port : 0, 3333);
    mm_config_free(cfg);
    CHECK_INT(load(flag_file, env2, NULL, &cfg, &err), 0);
    CHECK_INT(cfg ? cfg->port : 0, 4444);
    mm_config_free(cfg);
    CHECK_INT(chdir(cwd), 0);
}

/* Fake /sys and /proc/cpuinfo trees; the answers are counted by hand. */
static void test_physical_cores(void)
{
    char sys[1100], path[1300];
    snprintf(sys, sizeof sys, "%s/sys-cpu", tmp);
    /* Two packages; package 0 has cores 0,1 with two threads each, package 1
     * has core 0 with one thread; cpu5 is offline (no topology): 3 cores. */
    static const struct { int cpu, package, core; } topo[] = {
        { 0, 0, 0 }, { 1, 0, 1 }, { 2, 0, 0 }, { 3, 0, 1 }, { 4, 1, 0 },
    };
    for (size_t i = 0; i < MM_ARRAY_LEN(topo); i++) {
        char value[16];
        snprintf(path, sizeof path, "%s/cpu%d/topology/core_id", sys, topo[i].cpu);
        snprintf(value, sizeof value, "%d\n", topo[i].core);
        mmtest_write_file(path, value);
        snprintf(path, sizeof path, "%s/cpu%d/topology/physical_package_id", sys, topo[i].cpu);
        snprintf(value, sizeof value, "%d\n", topo[i].package);
        mmtest_write_file(path, value);
    }
    snprintf(path, sizeof path, "%s/cpu5/online", sys);
    mmtest_write_file(path, "0\n");
    snprintf(path, sizeof path, "%s/cpufreq/x", sys);   /* not a cpuN directory */
    mmtest_write_file(path, "1\n");
    CHECK_INT(config_count_physical_cores(sys, NULL), 3);

    char cpuinfo[1200], nosys[1200];
    snprintf(cpuinfo, sizeof cpuinfo, "%s/cpuinfo", tmp);
    mmtest_write_file(cpuinfo,
        "processor\t: 0\nphysical id\t: 0\ncore id\t\t: 0\n\n"
        "processor\t: 1\nphysical id\t: 0\ncore id\t\t: 0\n\n"
        "processor\t: 2\nphysical id\t: 0\ncore id\t\t: 3\n\n"
        "processor\t: 3\nphysical id\t: 1\ncore id\t\t: 3\n");
    snprintf(nosys, sizeof nosys, "%s/no-such-sys", tmp);
    CHECK_INT(config_count_physical_cores(nosys, cpuinfo), 3);
    mmtest_write_file(cpuinfo, "processor\t: 0\nmodel name\t: ARM\n\nprocessor\t: 1\n");
    CHECK_INT(config_count_physical_cores(nosys, cpuinfo), 0);
}

/* docs/CONFIGURATION.md names every key, variable and flag. */
static void test_docs_cover_keys(void)
{
    const char *src = getenv("MM_SOURCE_DIR");
    if (!src) {
        printf("note: MM_SOURCE_DIR unset, docs check skipped\n");
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/docs/CONFIGURATION.md", src);
    char *doc = NULL;
    mm_error err = { 0 };
    CHECK_INT(mm_file_read(path, 1 << 20, &doc, NULL, &err), 0);
    if (!doc)
        return;
    for (size_t i = 0; i < mm_config_key_count(); i++) {
        mm_config_item item;
        mm_config_item_get(NULL, i, &item);
        char row[512];
        snprintf(row, sizeof row, "| `%s` | `%s` | `%s` |", item.key, item.env, item.flag);
        CHECK_CONTAINS(doc, row);
    }
    /* And the other way: every row of the key table names a key the code has. */
    int rows = 0;
    for (const char *line = strstr(doc, "\n| `"); line; line = strstr(line + 1, "\n| `")) {
        const char *key = line + 4, *end = strchr(key, '`');
        if (!end || (size_t)(end - key) >= 128)
            continue;
        char name[128];
        memcpy(name, key, (size_t)(end - key));
        name[end - key] = '\0';
        bool known = false;
        for (size_t i = 0; i < mm_config_key_count() && !known; i++) {
            mm_config_item item;
            mm_config_item_get(NULL, i, &item);
            known = strcmp(item.key, name) == 0;
        }
        mmtest_checks++;
        if (!known)
            mmtest_fail(__FILE__, __LINE__, "docs/CONFIGURATION.md lists '%s', which the code "
                        "does not know", name);
        rows++;
    }
    CHECK_INT(rows, (long long)mm_config_key_count());
    free(doc);
}

int main(void)
{
    tmp = mmtest_tmpdir();
    snprintf(home, sizeof home, "%s/home", tmp);
    test_defaults();
    test_precedence();
    test_errors();
    test_secret_errors();
    test_unknown_key_warning();
    test_hf_token();
    test_hf_cache();
    test_memory_sizes();
    test_discovery();
    test_physical_cores();
    test_docs_cover_keys();
    mmtest_rmtree(tmp);
    free(tmp);
    return mmtest_finish();
}

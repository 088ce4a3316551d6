/* config-keys.c - THE table of configuration keys: yaml key, environment
 * variable, long flag, type, default, bounds, secrecy and help. Everything
 * else (loading, `modelmgr config`, --help, the docs check) reads this table;
 * a new scalar key is one row here plus one field in struct mm_config. */
#include "config/config.h"

#include <string.h>

#define DAY_S   86400
#define MONTH_S (30 * DAY_S)

const cfg_key config_keys[] = {
    { .key = "models_dir", .env = "MODELS_DIR", .flag = "--models-dir",
      .type = CFG_PATH, CFG_FIELD(models_dir), .def = "./models",
      .help = "directory scanned for model files" },
    { .key = "models_file", .env = "MODELS_FILE", .flag = "--models-file",
      .type = CFG_PATH, CFG_FIELD(models_file), .def = "models.txt",
      .help = "the models.txt catalog file" },
    { .key = "default_model", .env = "DEFAULT_MODEL", .flag = "--default-model",
      .type = CFG_STRING, CFG_FIELD(default_model), .def = "gpt4all-lora",
      .help = "model used when a request names none" },
    { .key = "hf_token", .env = "HF_TOKEN", .flag = "--hf-token",
      .type = CFG_STRING, CFG_FIELD(hf_token), .compute = config_default_hf_token,
      .secret = true,
      .help = "Hugging Face access token (else read from $HF_HOME/token)" },
    { .key = "hf_endpoint", .env = "HF_ENDPOINT", .flag = "--hf-endpoint",
      .type = CFG_STRING, CFG_FIELD(hf_endpoint), .def = "https://huggingface.co",
      .help = "base URL of the Hugging Face Hub" },
    { .key = "hf_cache", .env = "HF_HUB_CACHE", .flag = "--hf-cache",
      .type = CFG_PATH, CFG_FIELD(hf_cache), .compute = config_default_hf_cache,
      .help = "Hugging Face cache (else $HF_HOME/hub, else ~/.cache/huggingface/hub)" },
    { .key = "offline", .env = "HF_HUB_OFFLINE", .flag = "--offline",
      .type = CFG_BOOL, CFG_FIELD(offline), .def = "false",
      .help = "never contact the Hub; use only what is on disk" },
    { .key = "skip_downloads", .env = "SKIP_MODEL_DOWNLOADS", .flag = "--skip-downloads",
      .type = CFG_BOOL, CFG_FIELD(skip_downloads), .def = "false",
      .help = "do not download missing models at start-up" },
    { .key = "download_parallel", .env = "MODELMGR_DOWNLOAD_PARALLEL",
      .flag = "--download-parallel", .type = CFG_INT, CFG_FIELD(download_parallel), .def = "4",
      .min = 1, .max = 64,
      .help = "concurrent Range requests for one large file (1: a single stream)" },
    { .key = "download_fsync", .env = "MODELMGR_DOWNLOAD_FSYNC", .flag = "--download-fsync",
      .type = CFG_BOOL, CFG_FIELD(download_fsync), .def = "false",
      .help = "wait for each downloaded file to be on disk before it is used" },
    { .key = "minimal_models", .env = "MINIMAL_MODELS", .flag = "--minimal-models",
      .type = CFG_LIST, CFG_LIST_FIELD(minimal_models, n_minimal_models),
      .def = "deepseek-ai/Janus-Pro-1B,unsloth/Qwen2.5-Omni-3B-GGUF",
      .help = "models always kept available (comma list)" },
    { .key = "update_interval", .env = "MODEL_UPDATE_INTERVAL", .flag = "--update-interval",
      .type = CFG_INT, CFG_FIELD(update_interval_s), .def = "86400", .min = 0, .max = 365 * DAY_S,
      .help = "seconds between model update checks (0: never)" },
    { .key = "auto_update", .env = "MODEL_AUTO_UPDATE", .flag = "--auto-update",
      .type = CFG_BOOL, CFG_FIELD(auto_update), .def = "false",
      .help = "the periodic update check pulls moved branches (else it only reports them)" },
    { .key = "cache_size", .env = "MODEL_CACHE_SIZE", .flag = "--cache-size",
      .type = CFG_INT, CFG_FIELD(cache_size), .def = "1000", .min = 0, .max = 10000000,
      .help = "response cache entries (0: no cache)" },
    { .key = "cache_ttl", .env = "MODEL_CACHE_TTL", .flag = "--cache-ttl",
      .type = CFG_INT, CFG_FIELD(cache_ttl_s), .def = "600", .min = 0, .max = MONTH_S,
      .help = "seconds a cached response stays valid" },
    { .key = "pool_size", .env = "MODEL_POOL_SIZE", .flag = "--pool-size",
      .type = CFG_INT, CFG_FIELD(pool_size), .def = "1", .min = 1, .max = 16,
      .help = "instances per loaded model (1-3 recommended)" },
    { .key = "idle_timeout", .env = "MODEL_IDLE_TIMEOUT", .flag = "--idle-timeout",
      .type = CFG_INT, CFG_FIELD(idle_timeout_s), .def = "300", .min = 0, .max = MONTH_S,
      .help = "seconds before an idle model is unloaded (0: never)" },
    { .key = "memory_budget", .env = "MODEL_MEMORY_BUDGET", .flag = "--memory-budget",
      .type = CFG_SIZE, CFG_FIELD(memory_budget), .compute = config_default_memory,
      .min = 1024 * 1024,
      .help = "memory for loaded models, bytes or K/M/G (default 75% of RAM)" },
    { .key = "threads", .env = "MODELMGR_THREADS", .flag = "--threads",
      .type = CFG_INT, CFG_FIELD(threads), .compute = config_default_threads,
      .min = 1, .max = 1024,
      .help = "inference threads (default: physical cores)" },
    { .key = "host", .env = "MODELMGR_HOST", .flag = "--host",
      .type = CFG_STRING, CFG_FIELD(host), .def = "127.0.0.1",
      .help = "address the server listens on" },
    { .key = "port", .env = "MODELMGR_PORT", .flag = "--port",
      .type = CFG_INT, CFG_FIELD(port), .def = "8000", .min = 0, .max = 65535,
      .help = "TCP port the server listens on (0: any free port)" },
    { .key = "api_key", .env = "MODELMGR_API_KEY", .flag = "--api-key",
      .type = CFG_STRING, CFG_FIELD(api_key), .secret = true,
      .help = "key clients must send to the server (unset: no key)" },
    { .key = "max_body", .env = "MODELMGR_MAX_BODY", .flag = "--max-body",
      .type = CFG_SIZE, CFG_FIELD(max_body), .def = "1M", .min = 1024,
      .help = "largest request body the server accepts, bytes or K/M/G" },
    { .key = "log_level", .env = "MODELMGR_LOG_LEVEL", .flag = "--log-level",
      .type = CFG_ENUM, CFG_FIELD(log_level), .def = "info",
      .choices = "error|warn|info|debug",
      .help = "least severe log lines shown" },
    { .key = "vosk_model_path", .env = "VOSK_MODEL_PATH", .flag = "--vosk-model-path",
      .type = CFG_PATH, CFG_FIELD(vosk_model_path),
      .help = "Vosk speech model directory (unset: no speech input)" },
    { .key = "router.strategy", .env = "MODELMGR_ROUTER_STRATEGY", .flag = "--router-strategy",
      .type = CFG_ENUM, CFG_FIELD(router_strategy), .def = "auto",
      .choices = "auto|cost|latency|least-busy|round-robin|fixed",
      .help = "how the router picks a model for a request" },
    { .key = "router.complexity_threshold", .env = "MODELMGR_ROUTER_COMPLEXITY_THRESHOLD",
      .flag = "--router-complexity-threshold",
      .type = CFG_FLOAT, CFG_FIELD(router_complexity_threshold), .def = "0.5",
      .fmin = 0.0, .fmax = 1.0,
      .help = "auto: requests less complex than this go to the cheapest capable model" },
    { .key = "router.quality_floor", .env = "MODELMGR_ROUTER_QUALITY_FLOOR",
      .flag = "--router-quality-floor",
      .type = CFG_INT, CFG_FIELD(router_quality_floor), .def = "1", .min = 1, .max = 5,
      .help = "auto: least quality tier (1-5) of a cheap pick" },
    { .key = "router.retries", .env = "MODELMGR_ROUTER_RETRIES", .flag = "--router-retries",
      .type = CFG_INT, CFG_FIELD(router_retries), .def = "2", .min = 0, .max = 10,
      .help = "retries on the same model after an error, before the next in the chain" },
    { .key = "router.backoff_ms", .env = "MODELMGR_ROUTER_BACKOFF_MS", .flag = "--router-backoff-ms",
      .type = CFG_INT, CFG_FIELD(router_backoff_ms), .def = "200", .min = 0, .max = 60000,
      .help = "first retry delay in milliseconds; doubles per retry, with jitter" },
    { .key = "router.default_fallbacks", .env = "MODELMGR_ROUTER_DEFAULT_FALLBACKS",
      .flag = "--router-default-fallbacks",
      .type = CFG_LIST, CFG_LIST_FIELD(router_default_fallbacks, n_router_default_fallbacks),
      .help = "models tried after a model's own fallbacks (comma list)" },
    { .key = "router.allowed_fails", .env = "MODELMGR_ROUTER_ALLOWED_FAILS",
      .flag = "--router-allowed-fails",
      .type = CFG_INT, CFG_FIELD(router_allowed_fails), .def = "3", .min = 1, .max = 32,
      .help = "failures within router.fail_window that open a model's circuit" },
    { .key = "router.fail_window", .env = "MODELMGR_ROUTER_FAIL_WINDOW",
      .flag = "--router-fail-window",
      .type = CFG_INT, CFG_FIELD(router_fail_window_s), .def = "60", .min = 1, .max = DAY_S,
      .help = "seconds over which failures are counted" },
    { .key = "router.cooldown", .env = "MODELMGR_ROUTER_COOLDOWN", .flag = "--router-cooldown",
      .type = CFG_INT, CFG_FIELD(router_cooldown_s), .def = "30", .min = 1, .max = DAY_S,
      .help = "seconds an open circuit skips the model before one probe request" },
    { .key = "router.probe_interval", .env = "MODELMGR_ROUTER_PROBE_INTERVAL",
      .flag = "--router-probe-interval",
      .type = CFG_INT, CFG_FIELD(router_probe_interval_s), .def = "30", .min = 0, .max = DAY_S,
      .help = "seconds between health probes of each remote (0: no probes)" },
    { .key = "preload", .env = "MODEL_PRELOAD", .flag = "--preload",
      .type = CFG_LIST, CFG_LIST_FIELD(preload, n_preload),
      .help = "models loaded at start-up instead of on first use (comma list)" },
    { .key = "queue_size", .env = "MODEL_QUEUE_SIZE", .flag = "--queue-size",
      .type = CFG_INT, CFG_FIELD(queue_size), .def = "16", .min = 0, .max = 4096,
      .help = "requests that may wait for a busy model's instance (0: none wait)" },
    { .key = "queue_timeout", .env = "MODEL_QUEUE_TIMEOUT", .flag = "--queue-timeout",
      .type = CFG_INT, CFG_FIELD(queue_timeout_s), .def = "30", .min = 0, .max = 3600,
      .help = "seconds a request waits for an instance before it is refused as busy" },
    { .key = "device", .env = "MODELMGR_DEVICE", .flag = "--device",
      .type = CFG_ENUM, CFG_FIELD(device), .def = "auto", .choices = "auto|cpu|gpu",
      .help = "where models run (this build: cpu only; gpu falls back with a note)" },
};

const size_t config_n_keys = MM_ARRAY_LEN(config_keys);

const cfg_key *config_key_find(const char *key)
{
    for (size_t i = 0; key && i < config_n_keys; i++)
        if (strcmp(config_keys[i].key, key) == 0)
            return &config_keys[i];
    return NULL;
}

bool config_key_is_section(const char *section)
{
    size_t len = strlen(section);
    for (size_t i = 0; i < config_n_keys; i++)
        if (strncmp(config_keys[i].key, section, len) == 0 && config_keys[i].key[len] == '.')
            return true;
    return false;
}

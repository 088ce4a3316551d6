/* modelmgr.h - the public API of libmodelmgr: configuration, model catalog,
 * logging and errors. Every public name starts with mm_. Unless a function
 * says otherwise it is thread-safe for distinct objects only. */
#ifndef MODELMGR_H
#define MODELMGR_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version ------------------------------------------------------------ */

/* The library version, "MAJOR.MINOR.PATCH". Static string. */
const char *mm_version(void);

/* ---- Errors ------------------------------------------------------------- */

/* Fallible functions return 0 or one of these negative codes, and fill an
 * optional mm_error with a message a user can act on. */
enum {
    MM_OK          = 0,
    MM_EINVAL      = -1,  /* bad argument or input value */
    MM_ENOMEM      = -2,  /* allocation failed */
    MM_EIO         = -3,  /* read/write/filesystem error */
    MM_EFORMAT     = -4,  /* malformed file or document */
    MM_ENOTFOUND   = -5,  /* no such model, file, key or repo */
    MM_ECONFIG     = -6,  /* invalid configuration value */
    MM_EPINNING    = -7,  /* revision not pinned for a manual download */
    MM_EUNSUPPORTED= -8,  /* valid input the program cannot handle (yet) */
    MM_ENET        = -9,  /* network failure */
    MM_EAUTH       = -10, /* authentication or authorisation refused */
    MM_EBUSY       = -11, /* all capacity in use; retry later */
    MM_ETIMEDOUT   = -12, /* a deadline passed */
    MM_ECANCELED   = -13, /* the caller cancelled */
    MM_EINTEGRITY  = -14, /* checksum mismatch */
    MM_EEXIST      = -15, /* already exists (duplicate key, ...) */
    MM_ELIMIT      = -16, /* an input exceeded a documented bound */
    MM_EINTERNAL   = -17  /* a bug: please report it */
};

#define MM_ERROR_MSG_MAX 512

typedef struct mm_error {
    int  code;                      /* one of the MM_E* codes, 0 when unset */
    char message[MM_ERROR_MSG_MAX]; /* what failed and what to do; NUL-terminated */
} mm_error;

/* Short constant name of an error code ("EFORMAT"...). Never NULL. */
const char *mm_strerror(int code);

/* ---- Logging ------------------------------------------------------------ */

typedef enum mm_log_level {
    MM_LOG_LEVEL_ERROR = 0,
    MM_LOG_LEVEL_WARN  = 1,
    MM_LOG_LEVEL_INFO  = 2,
    MM_LOG_LEVEL_DEBUG = 3
} mm_log_level;

/* Receives each log line, already formatted and with secrets redacted. */
typedef void (*mm_log_fn)(mm_log_level level, const char *line, void *user);

/* Route log lines to fn (NULL restores the default: stderr). Thread-safe. */
void mm_log_set_callback(mm_log_fn fn, void *user);
/* Lines above this level are dropped before formatting. Thread-safe. */
void mm_log_set_level(mm_log_level level);
mm_log_level mm_log_get_level(void);
/* Parse "error|warn|info|debug"; returns 0 or MM_EINVAL. */
int mm_log_level_parse(const char *text, mm_log_level *out);
const char *mm_log_level_name(mm_log_level level);
/* Register a secret (a token, an API key) that the logger must never print:
 * every occurrence in a log line is replaced by its redacted form. The string
 * is copied. Thread-safe. Returns 0 or MM_ENOMEM / MM_ELIMIT. */
int mm_log_add_secret(const char *secret);
/* Writes the redacted form of a secret ("hf_***abcd": a known prefix, three
 * stars, the last four characters; "***" for short secrets) into out. */
void mm_redact(const char *secret, char *out, size_t out_size);

/* ---- Configuration ------------------------------------------------------ */

/* Where a configuration value came from. */
typedef enum mm_origin {
    MM_ORIGIN_DEFAULT = 0,
    MM_ORIGIN_FILE,      /* config.yaml (file:line recorded), or the HF token file */
    MM_ORIGIN_ENV,       /* an environment variable */
    MM_ORIGIN_FLAG       /* a command-line flag */
} mm_origin;

/* A `models:` entry of config.yaml: overrides of what the router derives
 * from a model's GGUF facts. Unset numbers are 0 (cost: negative). */
typedef struct mm_model_override {
    char    *name;              /* catalog key or a remote's model name */
    char   **capabilities;      /* chat, completion, embeddings, tools, json, vision */
    size_t   n_capabilities;    /* 0: derived from the model */
    int      quality_tier;      /* 1-5; 0: from the parameter count */
    int64_t  context_length;    /* tokens; 0: from the model */
    double   cost_in;           /* per million input tokens; < 0: unset */
    double   cost_out;          /* per million output tokens; < 0: unset */
    double   weight;            /* load-balancing weight; 0: 1 */
    char   **fallbacks;         /* model names tried when this one fails */
    size_t   n_fallbacks;
    char    *where;             /* "config.yaml:12" */
    char    *chat_template;     /* Jinja chat template used instead of the GGUF's (inline,
                                   or the text of chat_template_file); NULL: none */
    char    *chat_template_file;/* the file it was read from; NULL when inline */
    char    *chat_template_where;/* "config.yaml:14", its line */
} mm_model_override;

/* A `remotes:` entry: an OpenAI-compatible server. The API key itself is
 * never in the configuration, only the name of the variable holding it. */
typedef struct mm_remote {
    char    *name;              /* deployment name, unique */
    char    *base_url;          /* "http://host:port/v1" */
    char    *api_key_env;       /* environment variable with the key, or NULL */
    char   **models;            /* model names it serves (at least one) */
    size_t   n_models;
    double   cost_in;           /* per million tokens, for every model; default 0 */
    double   cost_out;
    double   weight;            /* default 1 */
    int64_t  timeout_s;         /* whole request; default 120 */
    int64_t  connect_timeout_s; /* default 10 */
    int64_t  first_byte_timeout_s; /* until the answer starts; 0 (default): timeout_s */
    int64_t  probe_interval_s;  /* seconds between health probes; 0: none;
                                   -1 (default): router.probe_interval */
    char    *where;             /* "config.yaml:20" */
} mm_remote;

/* The effective configuration: built once, immutable afterwards, safe to read
 * from any thread. Strings are owned by the config; NULL means unset. */
typedef struct mm_config {
    char     *models_dir;        /* MODELS_DIR, default "./models" */
    char     *models_file;       /* MODELS_FILE, default "models.txt" */
    char     *default_model;     /* DEFAULT_MODEL, default "gpt4all-lora" */
    char     *hf_token;          /* HF_TOKEN, else $HF_HOME/token; secret */
    char     *hf_endpoint;       /* HF_ENDPOINT, default https://huggingface.co */
    char     *hf_cache;          /* HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub */
    bool      offline;           /* HF_HUB_OFFLINE */
    bool      skip_downloads;    /* SKIP_MODEL_DOWNLOADS */
    int       download_parallel; /* MODELMGR_DOWNLOAD_PARALLEL, Range requests per file, default 4 */
    bool      download_fsync;    /* MODELMGR_DOWNLOAD_FSYNC: fsync each blob before it is used */
    char    **minimal_models;    /* MINIMAL_MODELS, comma list */
    size_t    n_minimal_models;
    int64_t   update_interval_s; /* MODEL_UPDATE_INTERVAL, default 86400 */
    bool      auto_update;       /* MODEL_AUTO_UPDATE: the update check applies, default false */
    int64_t   cache_size;        /* MODEL_CACHE_SIZE, entries, default 1000 */
    int64_t   cache_ttl_s;       /* MODEL_CACHE_TTL, default 600 */
    int       pool_size;         /* MODEL_POOL_SIZE, default 1 */
    int64_t   idle_timeout_s;    /* MODEL_IDLE_TIMEOUT, default 300 */
    uint64_t  memory_budget;     /* MODEL_MEMORY_BUDGET, bytes, default 75% of RAM */
    int       threads;           /* MODELMGR_THREADS, default: physical cores */
    char     *host;              /* MODELMGR_HOST, default 127.0.0.1 */
    int       port;              /* MODELMGR_PORT, default 8000 */
    char     *api_key;           /* MODELMGR_API_KEY; secret */
    uint64_t  max_body;          /* MODELMGR_MAX_BODY, bytes, default 1 MiB */
    mm_log_level log_level;      /* MODELMGR_LOG_LEVEL, default info */
    char     *vosk_model_path;   /* VOSK_MODEL_PATH */
    int       router_strategy;   /* router.strategy: index into
                                    auto|cost|latency|least-busy|round-robin|fixed */
    double    router_complexity_threshold; /* router.complexity_threshold, default 0.5 */
    int       router_quality_floor;        /* router.quality_floor, tier 1-5, default 1 */
    int       router_retries;              /* router.retries, default 2 */
    int64_t   router_backoff_ms;           /* router.backoff_ms, first retry delay, default 200 */
    char    **router_default_fallbacks;    /* router.default_fallbacks */
    size_t    n_router_default_fallbacks;
    int       router_allowed_fails;        /* router.allowed_fails, default 3 */
    int64_t   router_fail_window_s;        /* router.fail_window, default 60 */
    int64_t   router_cooldown_s;           /* router.cooldown, default 30 */
    int64_t   router_probe_interval_s;     /* router.probe_interval, default 30; 0: none */
    mm_model_override *model_overrides;    /* config.yaml `models:` (file only) */
    size_t    n_model_overrides;
    mm_remote *remotes;                    /* config.yaml `remotes:` (file only) */
    size_t    n_remotes;
    char    **preload;           /* MODEL_PRELOAD, comma list of models loaded at start */
    size_t    n_preload;
    int       queue_size;        /* MODEL_QUEUE_SIZE, waiters per model, default 16 */
    int64_t   queue_timeout_s;   /* MODEL_QUEUE_TIMEOUT, default 30 */
    int       device;            /* MODELMGR_DEVICE: index into auto|cpu|gpu */
    struct mm_config_meta *meta; /* origins and file positions; internal */
} mm_config;

/* Inputs to mm_config_load, all optional (NULL = the process's own). */
typedef struct mm_config_sources {
    const char *config_path;        /* --config; else MODELMGR_CONFIG, ./config.yaml,
                                       $XDG_CONFIG_HOME/modelmgr/config.yaml (XDG
                                       unset: ~/.config/modelmgr/config.yaml). A file
                                       named here or by MODELMGR_CONFIG must exist;
                                       the implicit locations are optional. */
    const char *const *env;         /* NULL-terminated "NAME=value" array; NULL: environ.
                                       HOME, XDG_*, HF_HOME are read from it too. */
    const char *const *flags;       /* NULL-terminated "key=value" array from the
                                       command line (key as in config.yaml) */
} mm_config_sources;

/* Build the configuration: defaults < config.yaml < environment < flags.
 * Computed fallbacks (the HF token file, $HF_HOME/hub, physical cores, 75% of
 * RAM) apply only to keys that no layer set. An empty environment variable
 * counts as unset. Secrets (hf_token, api_key) are registered with
 * mm_log_add_secret as they are read.
 * On success *out is owned by the caller (free with mm_config_free). On a bad
 * value returns MM_ECONFIG with a message naming key, value, origin and what
 * is allowed, e.g. "MODEL_POOL_SIZE=abc (environment): expected an integer
 * from 1 to 16" (secret values show as <redacted>); malformed YAML is
 * MM_EFORMAT naming file:line; a missing named file is MM_ENOTFOUND; an
 * unknown "key" in flags is MM_EINVAL. *out is then NULL. Unknown yaml keys
 * are logged as warnings naming file:line. Thread-safe (reads the process
 * environment only when src->env is NULL). */
int mm_config_load(const mm_config_sources *src, mm_config **out, mm_error *err);
/* Frees cfg and everything it owns; NULL is a no-op. */
void mm_config_free(mm_config *cfg);

/* One row of the effective configuration, for `modelmgr config`. */
typedef struct mm_config_item {
    const char *key;      /* config.yaml key, e.g. "pool_size" */
    const char *env;      /* environment variable, e.g. "MODEL_POOL_SIZE"; NULL if none */
    const char *flag;     /* long flag, e.g. "--pool-size" */
    const char *help;     /* one line */
    const char *type;     /* "string", "path", "bool", "int", "size" (bytes),
                             "enum", "list" (value is comma-joined) */
    mm_origin   origin;
    char        value[512];  /* effective value as text, secrets redacted */
    char        where[512];  /* "config.yaml:12", "MODEL_POOL_SIZE", "--pool-size",
                                "default", or a file path (the HF token file) */
    bool        secret;
    bool        is_set;      /* false for an unset optional key (value is "") */
} mm_config_item;

/* Number of configuration keys (constant). */
size_t mm_config_key_count(void);
/* Fill item for key index i (0 <= i < mm_config_key_count()). With cfg NULL
 * only the description (key, env, flag, help, type, secret) is filled, which
 * is what option parsers and --help need. Static strings; returns 0 or
 * MM_EINVAL. */
int mm_config_item_get(const mm_config *cfg, size_t i, mm_config_item *item);
/* Origin of a key by its config.yaml name; MM_ORIGIN_DEFAULT for unknown keys. */
mm_origin mm_config_origin(const mm_config *cfg, const char *key);
/* The config.yaml that was read, or NULL when none. Borrowed from cfg. */
const char *mm_config_file(const mm_config *cfg);
/* The `models:` entry of config.yaml named name, or NULL (also for NULL
 * arguments). Borrowed from cfg. */
const mm_model_override *mm_config_model_override(const mm_config *cfg, const char *name);
/* "default", "file", "env" or "flag". Static string. */
const char *mm_origin_name(mm_origin origin);

/* ---- Model facts (from GGUF metadata) ----------------------------------- */

typedef struct mm_model_facts {
    char     architecture[32];  /* general.architecture, "" if absent */
    char     name[128];         /* general.name, "" if absent */
    uint64_t n_params;          /* parameter count from tensor shapes */
    uint32_t context_length;
    uint32_t embedding_length;
    uint32_t block_count;
    uint32_t head_count;
    uint32_t head_count_kv;
    uint32_t vocab_size;
    int32_t  file_type;         /* general.file_type, -1 if absent */
    char     file_type_name[16];/* "Q4_K_M", "F16", ... or "" */
    bool     has_chat_template;
    uint64_t file_size;         /* bytes on disk, all split parts together */
} mm_model_facts;

/* ---- Catalog ------------------------------------------------------------ */

typedef enum mm_source {
    MM_SOURCE_HF = 0,     /* a Hugging Face repo */
    MM_SOURCE_LOCAL,      /* a file on disk */
    MM_SOURCE_REMOTE      /* a model served by a remote endpoint */
} mm_source;

typedef enum mm_format {
    MM_FORMAT_UNKNOWN = 0,
    MM_FORMAT_GGUF,
    MM_FORMAT_BIN,
    MM_FORMAT_SAFETENSORS
} mm_format;

typedef enum mm_model_state {
    MM_MODEL_AVAILABLE = 0,   /* on disk and readable */
    MM_MODEL_NOT_DOWNLOADED,  /* listed in models.txt, not on disk */
    MM_MODEL_INVALID          /* on disk but unreadable; see error */
} mm_model_state;

#define MM_MODEL_MAX_PATHS 64

/* One model the catalog knows. All strings are owned by the catalog. */
typedef struct mm_model_info {
    const char    *key;        /* unique catalog key, e.g. "qwen2.5-0.5b-instruct" */
    mm_source      source;
    const char    *repo;       /* "org/name" for HF models, else NULL */
    const char    *revision;   /* requested revision, or NULL */
    const char    *commit;     /* resolved commit (HF cache snapshot), or NULL */
    const char    *repo_path;  /* file inside the repo (models.txt ...:path), or NULL */
    const char   **paths;      /* files on disk (split parts in order) */
    size_t         n_paths;
    mm_format      format;
    uint64_t       size_bytes; /* all paths together */
    bool           has_facts;  /* facts filled (a readable GGUF) */
    mm_model_facts facts;
    mm_model_state state;
    const char    *origin;     /* "models.txt:3", "models_dir", "hf_cache" */
    const char    *error;      /* why the model is invalid (for a missing local:
                                  file: where it was looked for), or NULL */
} mm_model_info;

typedef struct mm_catalog mm_catalog;

/* Build the catalog from cfg: models.txt, a scan of models_dir and the HF
 * cache. A missing models.txt is not an error; a malformed one is MM_EFORMAT
 * with "models.txt:LINE: ...". Caller owns *out (mm_catalog_close). */
int  mm_catalog_open(const mm_config *cfg, mm_catalog **out, mm_error *err);
void mm_catalog_close(mm_catalog *cat);
size_t mm_catalog_count(const mm_catalog *cat);
/* Borrowed until mm_catalog_close. NULL when i is out of range. */
const mm_model_info *mm_catalog_at(const mm_catalog *cat, size_t i);
/* Exact key lookup; NULL when absent. Borrowed. */
const mm_model_info *mm_catalog_find(const mm_catalog *cat, const char *key);
/* The default model: the configured default_model when the catalog has it,
 * else the first available GGUF model, else the first available model
 * (*is_fallback set true in both), else NULL. */
const mm_model_info *mm_catalog_default(const mm_catalog *cat, bool *is_fallback);

const char *mm_source_name(mm_source source);
const char *mm_format_name(mm_format format);
const char *mm_model_state_name(mm_model_state state);

/* ---- Pulling models from the Hugging Face Hub --------------------------- */

/* What to pull. Strings are borrowed for the call. */
typedef struct mm_pull_request {
    const char *repo;        /* "org/name", or "org/name:QUANT" for a GGUF quant (Q4_K_M...);
                                a path (no '/', or starting with '/', ./, ../, ~/) is a local
                                file or folder, linked (or copied) into models_dir */
    const char *file;        /* one file in the repo; NULL: the quant's files, else every file */
    const char *revision;    /* a commit or tag; a branch, "main", "latest" or none only
                                when automated (MM_EPINNING otherwise) */
    bool        automated;   /* a scheduled pull, allowed to follow a branch */
    const char *models_dir;  /* audit.jsonl goes here; NULL: no audit log */
    const char *lock_path;   /* models.lock (beside models.txt: mm_lock_path); NULL: not written */
    bool        locked;      /* reproduce lock_path exactly: every model in it (repo NULL)
                                or the one repo named, each recorded file at the recorded
                                commit, size and sha256 checked against the lock; file and
                                revision must be NULL; the lock is read, never written */
    /* A whole-repo pull (no file, no quant tag): only the files matching one
     * include pattern (NULL: all) and no exclude pattern; NULL-terminated
     * huggingface_hub allow/ignore patterns. */
    const char *const *include;
    const char *const *exclude;
    bool        copy;        /* a local path: copy it into models_dir instead of linking */
} mm_pull_request;

/* One file a pull produced. */
typedef struct mm_pull_file {
    char     repo[256];        /* "org/name" */
    char     repo_path[1024];  /* the file's path inside the repo */
    char     path[4096];       /* where it is on disk (HF cache snapshot link) */
    char     commit[41];       /* the commit the revision resolved to */
    uint64_t size;
    char     sha256[65];
    bool     downloaded;       /* false: it was already in the cache (or linked) */
    bool     local;            /* a local path: repo_path is the source, path the entry */
    char     link[4096];       /* the readable <models_dir> entry made for it, or "" */
} mm_pull_file;

/* Progress of a file being downloaded; called from the downloading thread
 * (a whole-repo pull fetches several files at once: calls may come from
 * different threads, but never two at the same time). */
typedef void (*mm_pull_progress_fn)(const char *repo_path, uint64_t bytes_done,
                                    uint64_t bytes_total, double bytes_per_s, void *user);

/* Download what rq names into the Hugging Face cache, verified (sha256 for
 * LFS files, git SHA-1 otherwise), resuming partial downloads and retrying
 * transient failures; files already cached cost no download. cfg supplies
 * hf_endpoint, hf_token, hf_cache and offline (NULL: the environment, as
 * huggingface_hub reads it). Each file is recorded in <models_dir>/audit.jsonl
 * and, when every file succeeded, in rq->lock_path. With rq->locked, a file
 * whose size or sha256 differs from the lock is MM_EINTEGRITY ("models.lock
 * says <sha> for <repo>/<file> at <commit>, the Hub served <sha>"). Each pulled
 * .gguf (a whole repo: its snapshot folder) gets a symlink in models_dir
 * under its own name (mm_pull_file.link) unless that name is taken. Fills up to
 * max_files entries of files and sets *n_files. Returns 0 or a negative
 * MM_E* code with err filled. Thread-safe. */
int mm_pull(const mm_config *cfg, const mm_pull_request *rq, mm_pull_progress_fn progress,
            void *progress_user, mm_pull_file *files, size_t max_files, size_t *n_files,
            mm_error *err);

/* The models.lock of a configuration: the directory of models_file (where
 * models.txt is) + "/models.lock". Caller frees; NULL on OOM. */
char *mm_lock_path(const mm_config *cfg);

/* ---- Verifying and removing pulled models ------------------------------- */

typedef enum mm_verify_state {
    MM_VERIFY_OK = 0,
    MM_VERIFY_MISMATCH,       /* size or sha256 differ from the lock */
    MM_VERIFY_MISSING         /* no snapshot link, or a link to no blob */
} mm_verify_state;

/* One locked file, re-hashed. */
typedef struct mm_verify_file {
    char     repo[256];
    char     repo_path[1024];  /* the file's path inside the repo */
    char     commit[41];
    char     path[4096];       /* snapshots/<commit>/<repo_path> in the HF cache */
    mm_verify_state state;
    uint64_t expected_size;
    uint64_t actual_size;      /* 0 when missing */
    char     expected_sha256[65];
    char     actual_sha256[65];/* "" when missing */
} mm_verify_file;

/* Re-hash every file models.lock (lock_path) records, for every model or
 * the one repo named (NULL: all), in cfg's HF cache; no network. Each file
 * is appended to <models_dir>/audit.jsonl (action "verify", result "ok",
 * "mismatch" or "missing") when models_dir is not NULL. *files (caller
 * frees, *n_files entries) is filled whenever 0 is returned, problems or
 * not: the return says whether verification could run (MM_ENOTFOUND: no
 * lock file or the repo is not in it; MM_EFORMAT: malformed lock). */
int mm_verify(const mm_config *cfg, const char *lock_path, const char *models_dir,
              const char *repo, mm_verify_file **files, size_t *n_files, mm_error *err);
const char *mm_verify_state_name(mm_verify_state state);   /* "ok", "mismatch", "missing" */

/* What mm_remove took away. */
typedef struct mm_remove_report {
    char     commits[16][41];  /* the removed snapshots (the first 16) */
    size_t   n_snapshots;
    size_t   n_links;          /* snapshot links and files removed */
    size_t   n_blobs;          /* blobs no remaining snapshot referenced */
    uint64_t blob_bytes;       /* their size */
    size_t   n_refs;           /* refs that pointed at a removed snapshot */
    bool     lock_entry;       /* the repo's models.lock entry was removed */
    size_t   n_entries;        /* <models_dir> links into the removed snapshots */
} mm_remove_report;

/* Remove repo from cfg's HF cache: every snapshot, or only revision's (a
 * commit, or a ref name resolved through refs/), then the blobs no remaining
 * snapshot links to, the refs that pointed at a removed snapshot, and the
 * repo's entry in lock_path (NULL: none) when it pinned a removed commit.
 * Outside the repo's cache folder only models_dir's links that now lead
 * into a removed snapshot are removed (report->n_entries); symlinks are
 * removed, never followed; a repo folder that is itself a symlink is
 * refused (MM_EINVAL). Audited as action "delete" in <models_dir>/audit.jsonl when
 * models_dir is not NULL. MM_ENOTFOUND when the repo or revision is not in
 * the cache. */
int mm_remove(const mm_config *cfg, const char *repo, const char *revision,
              const char *lock_path, const char *models_dir, mm_remove_report *report,
              mm_error *err);

/* ---- Update checks ------------------------------------------------------ */

typedef enum mm_update_state {
    MM_UPDATE_CURRENT = 0,    /* the branch is still at the locked commit */
    MM_UPDATE_AVAILABLE,      /* the branch moved; not applied */
    MM_UPDATE_APPLIED,        /* the branch moved; its files were pulled, the lock rewritten */
    MM_UPDATE_PINNED,         /* locked to a commit or tag: never updated */
    MM_UPDATE_ERROR           /* the check or the update failed: message says why */
} mm_update_state;

/* One models.lock entry, checked. */
typedef struct mm_update_row {
    char            repo[256];
    char            revision[257]; /* the branch followed ("main" when none was asked), or the pin */
    char            current[41];   /* the commit models.lock records */
    char            available[41]; /* the branch's commit on the Hub; "" when unknown */
    mm_update_state state;
    size_t          n_files;       /* files pulled (MM_UPDATE_APPLIED) */
    char            message[MM_ERROR_MSG_MAX]; /* MM_UPDATE_ERROR: what failed; else "" */
} mm_update_row;

/* For every model in lock_path (or the one repo named), ask the Hub's refs
 * API whether the branch it follows has moved past the recorded commit; a
 * model pinned to a commit or tag is never updated. With apply, each moved
 * model's recorded files are pulled at the new commit (automated downloads,
 * audited as action "update" in <models_dir>/audit.jsonl when models_dir is
 * not NULL) and its lock entry is rewritten. *rows (caller frees, *n_rows)
 * is filled whenever 0 is returned, even when some rows are errors.
 * MM_ENOTFOUND: no lock file, or repo not in it; MM_EFORMAT: malformed
 * lock; MM_EINVAL: cfg is offline. */
int mm_update_check(const mm_config *cfg, const char *lock_path, const char *models_dir,
                    const char *repo, bool apply, mm_update_row **rows, size_t *n_rows,
                    mm_error *err);
const char *mm_update_state_name(mm_update_state state); /* "current", "available", ... */

/* ---- The audit log ------------------------------------------------------ */

/* One audit.jsonl record; absent fields are "" (bytes 0). Borrowed for the
 * callback only. */
typedef struct mm_audit_entry {
    size_t      line;          /* 1-based line number in the file */
    const char *time;          /* RFC 3339 UTC */
    const char *user;
    const char *host;
    const char *action;        /* "pull", "verify", "delete", "update" */
    const char *repo;
    const char *revision;
    const char *commit;
    const char *file;
    uint64_t    bytes;
    const char *sha256;
    const char *result;
    const char *error;
    int64_t     duration_ms;
    const char *json;          /* the line as written */
} mm_audit_entry;

/* Which records mm_audit_read passes on; NULL fields: no condition. */
typedef struct mm_audit_filter {
    const char *since;         /* "YYYY-MM-DD" or an RFC 3339 time: records at or after */
    const char *repo;          /* exactly this repo */
    bool        failed;        /* only results other than downloaded/cached/ok/deleted/
                                  linked/copied */
} mm_audit_filter;

typedef void (*mm_audit_fn)(const mm_audit_entry *entry, void *user);
/* A line that is not a JSON object with a "time" and "action": it is skipped. */
typedef void (*mm_audit_bad_fn)(size_t line, const char *why, void *user);

/* Read <models_dir>/audit.jsonl in order, calling fn for each record the
 * filter keeps and bad (may be NULL) for each malformed line, which never
 * stops the reading. A missing log is not an error (no calls). Lines over
 * 64 KiB count as malformed. Returns 0, or MM_EINVAL for a bad since,
 * MM_EIO when the file cannot be read. */
int mm_audit_read(const char *models_dir, const mm_audit_filter *filter, mm_audit_fn fn,
                  mm_audit_bad_fn bad, void *user, mm_error *err);

/* ---- Router ------------------------------------------------------------- */

/* Picks a model for each request from the catalog's models and the models of
 * configured remotes (see docs/ROUTER.md). */
typedef struct mm_router mm_router;

/* Build the candidates from cat (borrowed: it must outlive the router) and
 * cfg (router.*, models:, remotes:). A bad models:/remotes: entry (unknown
 * capability, too many fallbacks) is MM_ECONFIG naming config.yaml:line.
 * API keys are read from the environment variables that remotes name and
 * registered with mm_log_add_secret. Caller owns *out (mm_router_close). */
int  mm_router_open(const mm_config *cfg, const mm_catalog *cat, mm_router **out, mm_error *err);
void mm_router_close(mm_router *r);   /* NULL is a no-op */

/* A request to route. Borrowed strings; NULL/0 fields take defaults. */
typedef struct mm_route_request {
    const char *prompt;          /* the prompt or the conversation's text */
    int64_t     prompt_tokens;   /* > 0: known token count; 0: estimated from bytes */
    int64_t     max_tokens;      /* 0: 256 */
    int         n_messages;      /* conversation depth; 0: 1 */
    const char *capabilities;    /* comma list: chat, completion, embeddings, tools,
                                    json, vision; NULL: "chat" */
    const char *strategy;        /* overrides router.strategy; NULL: the configured one */
    const char *model;           /* the model for strategy "fixed" (default: default_model) */
} mm_route_request;

/* Route req and describe the decision: the request's features and
 * complexity signals, every candidate with its figures or why it was
 * excluded, the choice and the fallback chain; as text, or JSON when json is
 * true. *out (caller frees) is filled even when no model qualifies; then
 * the return is MM_ENOTFOUND or MM_EBUSY and err says which requirement no
 * model meets. A bad strategy or capability name is MM_EINVAL.
 * Thread-safe for one router. */
/* Health of a remote as its periodic probes found it (docs/ROUTER.md). */
typedef enum mm_remote_state {
    MM_REMOTE_UNKNOWN = 0,      /* not probed yet (or probes are off): picked as usual */
    MM_REMOTE_HEALTHY,
    MM_REMOTE_UNAVAILABLE       /* the last probe failed: its models are not picked */
} mm_remote_state;

typedef struct mm_remote_health {
    char            name[64];        /* the remote's name (cut to fit) */
    mm_remote_state state;
    int64_t         probe_interval_ms; /* 0: not probed */
    int64_t         last_probe_age_ms; /* since the last probe ended; -1: never */
    double          latency_ms;      /* of the last probe */
    int             http_status;     /* of the last probe; 0: no answer */
    char            error[256];      /* why the last probe failed, or "" */
} mm_remote_health;

/* Health of the i-th configured remote (config order). 0, or MM_ENOTFOUND
 * when i >= the number of remotes. Thread-safe. */
int mm_router_remote_health(mm_router *r, size_t i, mm_remote_health *out);
/* Probe every remote once now, in config order (blocking: each probe is
 * bounded by the remote's timeout, at most 5 s), so that health and the
 * next explanation show what the probes found. Thread-safe. */
void mm_router_probe(mm_router *r);

int mm_router_explain(mm_router *r, const mm_route_request *req, bool json, char **out,
                      mm_error *err);

/* ---- Model manager (runtime) -------------------------------------------- */

/* Health of one model, or of the whole manager. */
typedef enum mm_health_status {
    MM_HEALTH_HEALTHY = 0,   /* usable, last load/request succeeded */
    MM_HEALTH_DEGRADED,      /* usable, but its last load or request failed
                                (busy, over budget, generation error) */
    MM_HEALTH_UNAVAILABLE    /* cannot serve: not on disk, or its load failed
                                and the retry back-off has not passed */
} mm_health_status;

/* "healthy", "degraded", "unavailable". Static string. */
const char *mm_health_status_name(mm_health_status status);

/* One row of mm_manager_list / mm_manager_health. */
typedef struct mm_model_health {
    char     key[128];            /* catalog key ("speech" for the Vosk model) */
    char     kind[8];             /* "llm" or "speech" */
    mm_health_status status;
    bool     loaded;
    int      instances;           /* instances created */
    int      busy;                /* instances serving a request now */
    int      queued;              /* requests waiting for an instance */
    int64_t  last_used_s;         /* Unix seconds of the last use; 0: never */
    uint64_t bytes;               /* estimated bytes held (0 when not loaded) */
    uint64_t requests;            /* requests served or attempted */
    uint64_t failures;            /* loads and requests that failed */
    char     path[512];           /* the file or directory, "" when not on disk */
    char     last_error[MM_ERROR_MSG_MAX]; /* "" when none */
} mm_model_health;

/* The manager's health: the overall status and one row per model. */
typedef struct mm_health {
    mm_health_status status;      /* healthy when every model is; unavailable
                                     when none can serve; else degraded */
    mm_model_health *models;      /* n_models rows; owned (mm_health_clear) */
    size_t   n_models;
    char     default_model[128];  /* the model a request naming none gets; "" none */
    char     device[16];          /* "cpu" */
    char     device_note[256];    /* why, when a GPU was asked for; else "" */
    uint64_t memory_budget;       /* bytes */
    uint64_t memory_used;         /* estimated bytes of the loaded models */
    uint64_t cache_hits, cache_misses, cache_evictions;
    size_t   cache_entries, cache_capacity;
} mm_health;

/* A generation request. Strings are borrowed for the call. */
#define MM_GEN_STOP_MAX 4         /* stop strings per request */
#define MM_GEN_STOP_LEN 256       /* bytes of one stop string */
/* Receives one piece of generated text; nonzero stops the generation. */
typedef int (*mm_gen_piece_fn)(const char *text, size_t len, void *user);

typedef struct mm_gen_message {
    const char *role;             /* "system", "user", "assistant" */
    const char *content;
} mm_gen_message;

typedef struct mm_gen_request {
    const char *model;            /* catalog key; NULL or "": the default model */
    const char *prompt;           /* plain completion prompt, or NULL */
    const mm_gen_message *messages; /* chat messages, or NULL */
    size_t   n_messages;
    double   temperature;         /* 0: greedy (deterministic) */
    double   top_p;               /* 0 or 1: off */
    int      top_k;               /* 0: off */
    int      max_tokens;          /* 0: the engine's default */
    bool     has_seed;            /* seed below is fixed: output is repeatable */
    uint64_t seed;
    bool     no_cache;            /* bypass the response cache */
    /* Added later; zero leaves each off, so older initializers still work. */
    double   min_p;               /* 0: off */
    double   repeat_penalty;      /* 0 or 1: off */
    double   presence_penalty;    /* 0: off */
    double   frequency_penalty;   /* 0: off */
    /* Stop strings: the output ends before the first one found (it and what
     * follows are neither returned nor streamed). At most MM_GEN_STOP_MAX,
     * each at most MM_GEN_STOP_LEN bytes; "" entries are ignored. */
    const char *const *stop;
    size_t   n_stop;
    /* Called on the generating thread with each piece of text (complete
     * UTF-8, stop strings already cut) as it is produced; a cached answer
     * is replayed as one piece. Nonzero stops the generation
     * (finish_reason "cancelled"). NULL: no streaming. */
    mm_gen_piece_fn on_piece;
    void    *piece_user;
    /* Generation stops soon after *cancel becomes true (finish_reason
     * "cancelled"). NULL: never. */
    const atomic_bool *cancel;
    /* Serve req->model or fail: no falling back to the default model (the
     * router's fallback chain decides instead). false: today's fallback. */
    bool     no_fallback;
} mm_gen_request;

typedef struct mm_gen_result {
    char *text;                   /* owned (mm_gen_result_clear) */
    char  model[128];             /* the model that answered */
    bool  fell_back;              /* the requested model was not usable */
    char  note[MM_ERROR_MSG_MAX]; /* why it fell back; "" otherwise */
    bool  cached;                 /* served from the response cache */
    /* "stop" (end of sequence or a stop string), "length" (max_tokens or
     * the context end) or "cancelled" (cancel flag or on_piece). */
    char  finish_reason[16];
    int64_t prompt_tokens;        /* the prompt's tokens, BOS included */
    int64_t completion_tokens;    /* tokens generated (end of sequence not counted) */
    double  ms_to_first_token;    /* request start to first sampled token; 0 cached */
    double  tokens_per_s;         /* completion tokens over the generation time; 0 unknown */
    int64_t cached_tokens;        /* prompt tokens reused from an instance's KV cache */
} mm_gen_result;

typedef struct mm_manager mm_manager;

/* Open the model manager over cfg (borrowed until mm_manager_close): builds
 * the catalog, loads the models named in cfg->preload, resolves the Vosk
 * model and starts the idle reaper (downloads and the update check start
 * with mm_manager_start_downloads). A missing or broken model never makes it fail: it is
 * logged and shows as unavailable. With no model at all it logs "No models
 * available at all!" and the ways out. Fails only on a malformed models.txt
 * (MM_EFORMAT) or OOM. Caller owns *out. */
int  mm_manager_open(const mm_config *cfg, mm_manager **out, mm_error *err);
/* Stops the reaper and joins the download thread (see
 * mm_manager_start_downloads); every request must have returned first.
 * NULL is a no-op. */
void mm_manager_close(mm_manager *mgr);

/* Generate with req->model (lazily loaded), falling back to the default
 * model when that one is unknown or cannot load, unless req->no_fallback
 * (result->fell_back and
 * result->note say so). Deterministic requests (temperature 0 or a fixed
 * seed) are served from the response cache when possible. MM_EBUSY when
 * every instance stays busy past queue_timeout ("... busy ...; retry in a
 * few seconds"); MM_ELIMIT when the model does not fit the memory budget;
 * MM_EINVAL for more than MM_GEN_STOP_MAX stop strings or a longer one.
 * A cancelled generation returns 0 with the text so far and finish_reason
 * "cancelled" (it is not cached). Fill result with mm_gen_result_clear
 * before reuse. Thread-safe. */
int  mm_manager_generate(mm_manager *mgr, const mm_gen_request *req,
                         mm_gen_result *result, mm_error *err);
void mm_gen_result_clear(mm_gen_result *result);

/* Load name now (no fallback); 0 when it is loaded. MM_ENOTFOUND for an
 * unknown name, MM_ELIMIT over budget, the load error otherwise. Thread-safe. */
int  mm_manager_load(mm_manager *mgr, const char *name, mm_error *err);
/* Unload name; MM_EBUSY while a request uses it. Unloading a model that is
 * not loaded is not an error. Thread-safe. */
int  mm_manager_unload(mm_manager *mgr, const char *name, mm_error *err);

/* Start the start-up downloads in a background thread (a server calls this
 * after mm_manager_open; `modelmgr health` does not): unless skip_downloads
 * or offline, each minimal_models entry not on disk is pulled as an
 * automated download, and when update_interval has passed since the time in
 * <models_dir>/.last_model_check the models in models.lock are checked for a
 * moved branch (mm_update_check): logged, and pulled only when auto_update
 * is on (the stamp is rewritten when all succeed). Failures are logged,
 * never fatal; downloaded models join the manager's catalog. Returns 0
 * (also when there is nothing to do), MM_EEXIST when already started.
 * mm_manager_close waits for the file being downloaded. Thread-safe. */
int  mm_manager_start_downloads(mm_manager *mgr, mm_error *err);
/* Wait up to timeout_ms for them; true when they are over (or never ran). */
bool mm_manager_wait_downloads(mm_manager *mgr, int64_t timeout_ms);

/* One row per model the manager knows (catalog models, then the speech
 * model when there is one). Caller owns *rows (free with free()). Thread-safe. */
int  mm_manager_list(mm_manager *mgr, mm_model_health **rows, size_t *n_rows, mm_error *err);
/* Fill out (caller clears it with mm_health_clear). Thread-safe. */
int  mm_manager_health(mm_manager *mgr, mm_health *out, mm_error *err);
void mm_health_clear(mm_health *health);

/* ---- HTTP server ----------------------------------------------------------- */

typedef struct mm_server mm_server;

/* Serve the OpenAI- and Ollama-compatible HTTP API (docs/API.md) on
 * cfg->host:cfg->port (port 0: any free port), requiring cfg->api_key when
 * set and bounding bodies by cfg->max_body. Every generation goes through
 * the router (docs/ROUTER.md): the local models of mgr's current catalog
 * (cat when mgr is NULL; then local models cannot generate: 501) and the
 * models of cfg's remotes. cfg, cat and mgr are borrowed until
 * mm_server_stop. Returns 0 with *out owned by the caller (mm_server_stop),
 * or MM_EIO when the address cannot be bound, MM_EINVAL, MM_ENOMEM, or
 * MM_ECONFIG for a bad models:/remotes: entry. */
int mm_server_start(const mm_config *cfg, const mm_catalog *cat, mm_manager *mgr,
                    mm_server **out, mm_error *err);
/* "http://HOST:PORT" with the port actually bound. Borrowed from srv. */
const char *mm_server_url(const mm_server *srv);
/* Stop accepting, let requests in progress finish for up to grace_ms, cancel
 * what still runs, and free srv. NULL is a no-op. */
void mm_server_stop(mm_server *srv, int grace_ms);

#ifdef __cplusplus
}
#endif
#endif /* MODELMGR_H */

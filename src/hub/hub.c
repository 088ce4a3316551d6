/* hub.c - the Hub client's front: options resolved from the caller and the
 * environment (endpoint, token, cache, offline), input validation, and the
 * hub handle's lifetime. The download flow is hub-download.c. */
#include "hub/hub.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPO_MAX 200
#define FILENAME_MAX_LEN 1024

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void hub_options_init(hub_options *o)
{
    memset(o, 0, sizeof *o);
    o->use_env = true;
    o->connect_timeout_ms = 10000;
    o->request_timeout_ms = 10000;
    o->stall_timeout_ms = 10000;
    o->max_retries = 3;
    o->backoff_initial_ms = 1000;
    o->backoff_max_ms = 8000;
    o->retry_after_max_ms = 60000;
    o->lock_timeout_ms = 600000;
    o->parallel_files = 4;
    o->parallel_parts = 4;
    o->part_min_bytes = 8u << 20;
    o->unsynced_min_bytes = HUB_UNSYNCED_MIN_BYTES;
}

const char *hub_status_name(hub_status status)
{
    switch (status) {
    case HUB_STATUS_DOWNLOADED: return "downloaded";
    case HUB_STATUS_CACHED:     return "cached";
    default:                    return "error";
    }
}

const char *hub_cache_dir(const hub *h) { return h->cache_dir; }
const char *hub_endpoint(const hub *h) { return h->endpoint; }

bool hub_is_commit(const char *rev)
{
    if (!rev || strlen(rev) != 40)
        return false;
    for (const char *p = rev; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.';
}

bool hub_valid_repo(const char *repo)
{
    if (!repo || !*repo || strlen(repo) > REPO_MAX)
        return false;
    int slashes = 0;
    const char *seg = repo;
    for (const char *p = repo;; p++) {
        if (*p == '/' || *p == '\0') {
            size_t len = (size_t)(p - seg);
            if (len == 0 || (len <= 2 && seg[0] == '.' && (len == 1 || seg[1] == '.')))
                return false;
            if (*p == '\0')
                break;
            if (++slashes > 1)
                return false;
            seg = p + 1;
        } else if (!name_char(*p)) {
            return false;
        }
    }
    return true;
}

bool hub_valid_filename(const char *filename)
{
    if (!filename || !*filename || strlen(filename) > FILENAME_MAX_LEN || filename[0] == '/')
        return false;
    const char *seg = filename;
    for (const char *p = filename;; p++) {
        if ((unsigned char)*p < 0x20 && *p != '\0')
            return false;
        if (*p == '/' || *p == '\0') {
            size_t len = (size_t)(p - seg);
            if (len == 0 || (len == 1 && seg[0] == '.') ||
                (len == 2 && seg[0] == '.' && seg[1] == '.'))
                return false;
            if (*p == '\0')
                return true;
            seg = p + 1;
        }
    }
}

/* ---- options ---- */

static const char *env(const hub_options *o, const char *name)
{
    const char *v = o->use_env ? getenv(name) : NULL;
    return v && *v ? v : NULL;
}

static char *hf_home(const hub_options *o)
{
    const char *home = env(o, "HF_HOME");
    if (home)
        return mm_strdup(home);
    const char *xdg = env(o, "XDG_CACHE_HOME");
    if (xdg)
        return mm_path_join(xdg, "huggingface");
    const char *user = getenv("HOME");
    return mm_asprintf("%s/.cache/huggingface", user && *user ? user : ".");
}

/* A copy of text trimmed, or NULL when it is blank. */
static char *trimmed(const char *text, bool *oom)
{
    char *copy = mm_strdup(text);
    if (!copy) {
        *oom = true;
        return NULL;
    }
    mm_str_trim(copy);
    if (*copy)
        return copy;
    free(copy);
    return NULL;
}

/* The first non-blank of: the option, $HF_TOKEN, $HUGGING_FACE_HUB_TOKEN,
 * the token file. An explicit "" option means "no token". */
static int resolve_token(const hub_options *o, char **out, mm_error *err)
{
    *out = NULL;
    bool oom = false;
    char *tok = NULL;
    if (o->token) {
        tok = trimmed(o->token, &oom);
    } else if (o->use_env) {
        const char *vars[] = { "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN" };
        for (size_t i = 0; i < MM_ARRAY_LEN(vars) && !tok && !oom; i++)
            if (env(o, vars[i]))
                tok = trimmed(env(o, vars[i]), &oom);
        if (!tok && !oom) {
            char *home = env(o, "HF_TOKEN_PATH") ? NULL : hf_home(o);
            char *path = home ? mm_path_join(home, "token") : mm_strdup(env(o, "HF_TOKEN_PATH"));
            free(home);
            char *text = NULL;
            mm_error ferr;
            int rc = path ? mm_file_read(path, 4096, &text, NULL, &ferr) : MM_ENOMEM;
            if (rc != 0 && rc != MM_ENOTFOUND) {
                mm_error_set(err, rc, "cannot read the token file %s: %s", path ? path : "",
                             ferr.message);
                free(path);
                return rc;
            }
            free(path);
            if (text)
                tok = trimmed(text, &oom);
            free(text);
        }
    }
    if (oom)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    for (const char *p = tok; p && *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
            free(tok);
            return mm_error_set(err, MM_ECONFIG, "the Hugging Face token contains whitespace "
                                "or control characters: check HF_TOKEN or the token file");
        }
    *out = tok;
    return 0;
}

int hub_open(const hub_options *opts, hub **out, mm_error *err)
{
    *out = NULL;
    pthread_once(&curl_once, curl_init_once);
    hub_options o;
    if (opts)
        o = *opts;
    else
        hub_options_init(&o);
    int rc;
    hub *h = calloc(1, sizeof *h);
    if (!h)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    if (o.max_retries < 0 || o.max_retries > 20 || o.connect_timeout_ms <= 0 ||
        o.request_timeout_ms <= 0 || o.stall_timeout_ms <= 0 || o.backoff_initial_ms < 0 ||
        o.backoff_max_ms < o.backoff_initial_ms || o.retry_after_max_ms < 0 ||
        o.lock_timeout_ms < 0 || o.parallel_files < 1 || o.parallel_files > 64 ||
        o.parallel_parts < 1 || o.parallel_parts > 64 || o.part_min_bytes < 1) {
        rc = mm_error_set(err, MM_EINVAL, "hub options out of range: retries 0..20, positive "
                          "timeouts, backoff_max_ms >= backoff_initial_ms, parallel_files 1..64, "
                          "parallel_parts 1..64, part_min_bytes >= 1");
        goto fail;
    }
    const char *ep = o.endpoint ? o.endpoint : env(&o, "HF_ENDPOINT");
    h->endpoint = mm_strdup(ep ? ep : HUB_DEFAULT_ENDPOINT);
    if (!h->endpoint) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory");
        goto fail;
    }
    size_t n = strlen(h->endpoint);
    while (n > 0 && h->endpoint[n - 1] == '/')
        h->endpoint[--n] = '\0';
    if (!mm_str_has_prefix(h->endpoint, "http://") && !mm_str_has_prefix(h->endpoint, "https://")) {
        rc = mm_error_set(err, MM_ECONFIG, "HF_ENDPOINT '%s' must start with https:// or http://",
                          h->endpoint);
        goto fail;
    }
    if ((rc = resolve_token(&o, &h->token, err)) != 0)
        goto fail;
    if (h->token)
        mm_log_add_secret(h->token);
    if (o.cache_dir) {
        h->cache_dir = mm_strdup(o.cache_dir);
    } else if (env(&o, "HF_HUB_CACHE")) {
        h->cache_dir = mm_strdup(env(&o, "HF_HUB_CACHE"));
    } else {
        char *home = hf_home(&o);
        h->cache_dir = home ? mm_path_join(home, "hub") : NULL;
        free(home);
    }
    if (!h->cache_dir) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory");
        goto fail;
    }
    h->offline = o.offline;
    const char *off = env(&o, "HF_HUB_OFFLINE");
    bool off_env = false;
    if (off && mm_parse_bool(off, &off_env) != 0) {
        rc = mm_error_set(err, MM_ECONFIG, "HF_HUB_OFFLINE='%s' is not a boolean (use 1 or 0)", off);
        goto fail;
    }
    h->offline |= off_env;
    /* huggingface_hub's timeout variables, in seconds, where the caller kept the default. */
    struct { const char *name; int64_t *ms; } timeouts[] = {
        { "HF_HUB_ETAG_TIMEOUT", &o.request_timeout_ms },
        { "HF_HUB_DOWNLOAD_TIMEOUT", &o.stall_timeout_ms },
    };
    for (size_t i = 0; i < MM_ARRAY_LEN(timeouts); i++) {
        const char *v = env(&o, timeouts[i].name);
        int64_t secs;
        if (!v || *timeouts[i].ms != 10000)
            continue;
        if (mm_parse_i64(v, 1, 86400, &secs) != 0) {
            rc = mm_error_set(err, MM_ECONFIG, "%s='%s' is not a number of seconds (1..86400)",
                              timeouts[i].name, v);
            goto fail;
        }
        *timeouts[i].ms = secs * 1000;
    }
    o.endpoint = o.token = o.cache_dir = NULL;   /* not kept: copies live in h */
    h->opts = o;
    h->progress_mu = malloc(sizeof *h->progress_mu);
    if (!h->progress_mu) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory");
        goto fail;
    }
    pthread_mutex_init(h->progress_mu, NULL);
    h->owns_progress_mu = true;
    /* curl_version() fills a static buffer (not thread-safe); the info struct is constant. */
    snprintf(h->user_agent, sizeof h->user_agent, "modelmgr/%s; libcurl/%s", mm_version(),
             curl_version_info(CURLVERSION_NOW)->version);
    *out = h;
    return 0;
fail:
    hub_close(h);
    return rc;
}

void hub_close(hub *h)
{
    if (!h)
        return;
    if (h->owns_progress_mu && h->progress_mu) {
        pthread_mutex_destroy(h->progress_mu);
        free(h->progress_mu);
    }
    free(h->endpoint);
    free(h->token);
    free(h->cache_dir);
    free(h);
}

int hub_clone(const hub *h, hub **out, mm_error *err)
{
    hub_options o = h->opts;
    o.use_env = false;
    o.endpoint = h->endpoint;
    o.token = h->token ? h->token : "";
    o.cache_dir = h->cache_dir;
    o.offline = h->offline;
    int rc = hub_open(&o, out, err);
    if (rc == 0) {
        /* Progress calls from every clone go through the original's lock. */
        pthread_mutex_destroy((*out)->progress_mu);
        free((*out)->progress_mu);
        (*out)->progress_mu = h->progress_mu;
        (*out)->owns_progress_mu = false;
    }
    return rc;
}


void hub_options_from_config(hub_options *o, const mm_config *cfg)
{
    o->endpoint = cfg->hf_endpoint;
    o->token = cfg->hf_token;
    /* Set empty on purpose: the config already chose "no token". */
    if (!o->token && mm_config_origin(cfg, "hf_token") != MM_ORIGIN_DEFAULT)
        o->token = "";
    o->cache_dir = cfg->hf_cache;
    o->offline = cfg->offline;
    if (cfg->download_parallel > 0)
        o->parallel_parts = cfg->download_parallel;
    o->sync_downloads = cfg->download_fsync;
}

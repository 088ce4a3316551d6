/* server-admin.c - the admin API: GET /api/models (the catalog with each
 * model's state and whether it is loaded), POST /api/models/pull (a pull job,
 * pinned as `modelmgr pull` requires), GET /api/jobs[/{id}] and
 * POST /api/models/{name}/load|unload. Errors come in OpenAI's shape. */
#include "server/server.h"
#include "hub/hub.h"
#include "runtime/runtime.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADMIN_NOT_WIRED "the admin API is not available: this server runs without a " \
    "configuration (start it with 'modelmgr serve')"

static int reply_error(server_call *call, int status, const char *type, const char *code,
                       const char *param, const char *message)
{
    server_fault f;
    server_fault_set(&f, status, type, code, param, "%s", message);
    return server_reply_fault(call, &f);
}

static int not_wired(server_call *call)
{
    return reply_error(call, 501, "not_supported_error", "not_implemented", NULL,
                       ADMIN_NOT_WIRED);
}

/* ---- GET /api/models ---- */

/* The catalog's models: the manager's current catalog (refreshed after
 * downloads) when there is a manager, else the server's. The records live
 * until the manager / catalog closes. Caller frees *out. */
static int current_models(const server_admin_ctx *a, const mm_model_info ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap;
    if (a->mgr) {
        pthread_mutex_lock(&a->mgr->lock);
        cap = a->mgr->n_models;
        const mm_model_info **v = calloc(cap ? cap : 1, sizeof *v);
        for (size_t i = 0; v && i < cap; i++)
            v[i] = a->mgr->models[i]->info;
        pthread_mutex_unlock(&a->mgr->lock);
        if (!v)
            return MM_ENOMEM;
        *out = v;
        *n = cap;
        return 0;
    }
    cap = a->cat ? mm_catalog_count(a->cat) : 0;
    const mm_model_info **v = calloc(cap ? cap : 1, sizeof *v);
    if (!v)
        return MM_ENOMEM;
    for (size_t i = 0; i < cap; i++)
        v[i] = mm_catalog_at(a->cat, i);
    *out = v;
    *n = cap;
    return 0;
}

static void add_str_or_null(cJSON *o, const char *name, const char *value)
{
    if (value && value[0])
        cJSON_AddStringToObject(o, name, value);
    else
        cJSON_AddNullToObject(o, name);
}

static cJSON *model_json(const mm_model_info *info, const mm_model_health *row)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "name", info->key);
    cJSON_AddStringToObject(m, "state", mm_model_state_name(info->state));
    cJSON_AddStringToObject(m, "source", mm_source_name(info->source));
    add_str_or_null(m, "repo", info->repo);
    add_str_or_null(m, "revision", info->revision);
    add_str_or_null(m, "commit", info->commit);
    add_str_or_null(m, "file", info->repo_path);
    cJSON_AddStringToObject(m, "format", mm_format_name(info->format));
    cJSON_AddNumberToObject(m, "size", (double)info->size_bytes);
    add_str_or_null(m, "quant", info->has_facts ? info->facts.file_type_name : NULL);
    add_str_or_null(m, "family", info->has_facts ? info->facts.architecture : NULL);
    if (info->has_facts && info->facts.context_length)
        cJSON_AddNumberToObject(m, "context_length", info->facts.context_length);
    else
        cJSON_AddNullToObject(m, "context_length");
    add_str_or_null(m, "origin", info->origin);
    add_str_or_null(m, "error", info->error);
    cJSON_AddBoolToObject(m, "loaded", row && row->loaded);
    cJSON_AddNumberToObject(m, "instances", row ? row->instances : 0);
    if (row && row->last_used_s)
        cJSON_AddNumberToObject(m, "last_used", (double)row->last_used_s);
    else
        cJSON_AddNullToObject(m, "last_used");
    return m;
}

int server_h_admin_models(server_call *call)
{
    const server_admin_ctx *a = server_get_admin(call->srv);
    if (!a->cfg)
        return not_wired(call);
    const mm_model_info **infos = NULL;
    size_t n = 0;
    mm_model_health *rows = NULL;
    size_t n_rows = 0;
    if (current_models(a, &infos, &n) != 0)
        return reply_error(call, 500, "server_error", NULL, NULL, "out of memory");
    if (a->mgr && mm_manager_list(a->mgr, &rows, &n_rows, NULL) != 0)
        n_rows = 0;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    for (size_t i = 0; i < n && i < SERVER_MODELS_MAX; i++) {
        const mm_model_health *row = NULL;
        for (size_t r = 0; r < n_rows && !row; r++)
            if (strcmp(rows[r].key, infos[i]->key) == 0)
                row = &rows[r];
        cJSON_AddItemToArray(data, model_json(infos[i], row));
    }
    free(rows);
    free(infos);
    return server_reply_json(call, 200, root);
}

/* ---- POST /api/models/pull ---- */

/* A string member into out (bounded); 1 set, 0 absent, -1 fault. */
static int get_str(const cJSON *root, const char *name, char *out, size_t size, server_fault *f)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v) || !v->valuestring[0])
        return server_fault_set(f, 400, "invalid_request_error", NULL, name,
                                "'%s' must be a non-empty string", name);
    if (mm_strlcpy(out, v->valuestring, size) >= size)
        return server_fault_set(f, 400, "invalid_request_error", NULL, name,
                                "'%s' is longer than %zu bytes", name, size - 1);
    return 1;
}

/* include / exclude: a string or an array of strings. */
static int get_patterns(const cJSON *root, const char *name,
                        char (*out)[SERVER_PATTERN_LEN_MAX], size_t *n, server_fault *f)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    *n = 0;
    if (!v || cJSON_IsNull(v))
        return 0;
    const cJSON *one = cJSON_IsString(v) ? v : NULL;
    if (!one && !cJSON_IsArray(v))
        return server_fault_set(f, 400, "invalid_request_error", NULL, name,
                                "'%s' must be a pattern or an array of patterns", name);
    int count = one ? 1 : cJSON_GetArraySize(v);
    if (count > SERVER_PATTERNS_MAX)
        return server_fault_set(f, 400, "invalid_request_error", NULL, name,
                                "'%s' has more than %d patterns", name, SERVER_PATTERNS_MAX);
    for (int i = 0; i < count; i++) {
        const cJSON *p = one ? one : cJSON_GetArrayItem(v, i);
        if (!cJSON_IsString(p) || !p->valuestring[0] ||
            strlen(p->valuestring) >= SERVER_PATTERN_LEN_MAX)
            return server_fault_set(f, 400, "invalid_request_error", NULL, name,
                                    "'%s' patterns must be non-empty strings of at most %d "
                                    "bytes", name, SERVER_PATTERN_LEN_MAX - 1);
        mm_strlcpy(out[(*n)++], p->valuestring, SERVER_PATTERN_LEN_MAX);
    }
    return 1;
}

/* The checks `modelmgr pull` makes before downloading: a valid repo, a
 * quant tag or a file but not both, and a pinned revision (a commit or a
 * tag; none, "main", "latest" or a branch is refused with the CLI's exact
 * message). Only a refusal is answered here; a hub that cannot be asked
 * leaves the verdict to the job. */
int server_admin_check_pull(const mm_config *cfg, server_pull_spec *sp, server_fault *f)
{
    char repo[256];
    mm_strlcpy(repo, sp->repo, sizeof repo);
    char *colon = strchr(repo, ':');
    if (colon)
        *colon = '\0';
    if (!strchr(repo, '/') || !hub_valid_repo(repo))
        return server_fault_set(f, 400, "invalid_request_error", NULL, "repo",
                                "'%s' is not a repository id: use org/name (or "
                                "org/name:QUANT)", sp->repo);
    if (colon && (!colon[1] || sp->filename[0]))
        return server_fault_set(f, 400, "invalid_request_error", NULL, "repo",
                                "'%s': give either a quant tag (org/name:Q4_K_M) or a "
                                "filename, not both and not an empty tag", sp->repo);
    if ((sp->n_include || sp->n_exclude) && (colon || sp->filename[0]))
        return server_fault_set(f, 400, "invalid_request_error", NULL, "include",
                                "include/exclude patterns select files of a whole-repo pull: "
                                "leave out filename and the quant tag");
    if (sp->filename[0] && !hub_valid_filename(sp->filename))
        return server_fault_set(f, 400, "invalid_request_error", NULL, "filename",
                                "'%s' is not a file path inside a repository", sp->filename);
    const char *given = sp->revision[0] ? sp->revision : "main";
    if (strcmp(given, "main") == 0 || strcmp(given, "latest") == 0)
        /* Refused without asking the hub (the hub's own wording). */
        return server_fault_set(f, 400, "invalid_request_error", "revision_not_pinned",
                                "revision", "Revision must be explicitly pinned: pass a "
                                "commit hash or tag (got '%s')", given);
    hub *h = NULL;
    mm_error err = { 0 };
    if (hub_open_config(cfg, &h, &err) != 0)
        return 0;   /* the job's pull reports what is wrong */
    const char *rev_out = NULL;
    int rc = hub_pin_revision(h, repo, sp->revision[0] ? sp->revision : NULL, false, &rev_out,
                              &err);
    hub_close(h);
    if (rc == MM_EPINNING || rc == MM_EINVAL || rc == MM_ELIMIT)
        return server_fault_set(f, 400, "invalid_request_error", "revision_not_pinned",
                                "revision", "%s", err.message);
    return 0;
}

static int reply_accepted(server_call *call, const char *id)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", id);
    cJSON_AddStringToObject(root, "state", "queued");
    char url[64];
    snprintf(url, sizeof url, "/api/jobs/%s", id);
    cJSON_AddStringToObject(root, "url", url);
    return server_reply_json(call, 202, root);
}

int server_h_admin_pull(server_call *call)
{
    const server_admin_ctx *a = server_get_admin(call->srv);
    server_jobs *jobs = server_get_jobs(call->srv);
    if (!a->cfg || !jobs)
        return not_wired(call);
    server_fault f;
    cJSON *root = call->body_len ? cJSON_ParseWithLength(call->body, call->body_len) : NULL;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return reply_error(call, 400, "invalid_request_error", NULL, NULL,
                           "request body must be a JSON object such as {\"repo\": "
                           "\"org/name\", \"revision\": \"<commit or tag>\"}");
    }
    server_pull_spec *sp = calloc(1, sizeof *sp);
    if (!sp) {
        cJSON_Delete(root);
        return reply_error(call, 500, "server_error", NULL, NULL, "out of memory");
    }
    int r = get_str(root, "repo", sp->repo, sizeof sp->repo, &f);
    if (r == 0)
        r = server_fault_set(&f, 400, "invalid_request_error", NULL, "repo",
                             "'repo' is required: the repository id (org/name)");
    if (r > 0 && get_str(root, "revision", sp->revision, sizeof sp->revision, &f) >= 0 &&
        get_str(root, "filename", sp->filename, sizeof sp->filename, &f) >= 0 &&
        get_patterns(root, "include", sp->include, &sp->n_include, &f) >= 0 &&
        get_patterns(root, "exclude", sp->exclude, &sp->n_exclude, &f) >= 0 &&
        server_admin_check_pull(a->cfg, sp, &f) == 0)
        r = 1;
    else
        r = -1;
    cJSON_Delete(root);
    int reply;
    if (r < 0) {
        reply = server_reply_fault(call, &f);
    } else {
        char id[40];
        mm_error err = { 0 };
        if (server_jobs_submit(jobs, sp, id, &err) != 0)
            reply = reply_error(call, 503, "service_unavailable_error", "too_many_jobs", NULL,
                                err.message);
        else
            reply = reply_accepted(call, id);
    }
    free(sp);
    return reply;
}

/* ---- GET /api/jobs, /api/jobs/{id} ---- */

int server_h_admin_jobs(server_call *call)
{
    server_jobs *jobs = server_get_jobs(call->srv);
    if (!jobs)
        return not_wired(call);
    server_job_info *all = calloc(SERVER_JOBS_MAX, sizeof *all);
    if (!all)
        return reply_error(call, 500, "server_error", NULL, NULL, "out of memory");
    size_t n = server_jobs_list(jobs, all, SERVER_JOBS_MAX);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(data, server_job_json(&all[i]));
    free(all);
    return server_reply_json(call, 200, root);
}

int server_h_admin_job(server_call *call)
{
    server_jobs *jobs = server_get_jobs(call->srv);
    if (!jobs)
        return not_wired(call);
    const char *id = call->url + strlen("/api/jobs/");
    server_job_info *info = calloc(1, sizeof *info);
    if (!info)
        return reply_error(call, 500, "server_error", NULL, NULL, "out of memory");
    int reply;
    if (strlen(id) >= sizeof info->id || server_jobs_get(jobs, id, 0, 0, info) != 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "no job '%.64s': finished jobs are kept for %d s "
                 "(GET /api/jobs lists them)", id, SERVER_JOB_KEEP_S);
        reply = reply_error(call, 404, "invalid_request_error", "job_not_found", NULL, msg);
    } else {
        reply = server_reply_json(call, 200, server_job_json(info));
    }
    free(info);
    return reply;
}

/* ---- POST /api/models/{name}/load and /unload ---- */

static int load_fault(server_call *call, int rc, const char *message)
{
    switch (rc) {
    case MM_ENOTFOUND:
        return reply_error(call, 404, "invalid_request_error", "model_not_found", NULL, message);
    case MM_EBUSY:
        return reply_error(call, 409, "invalid_request_error", "model_busy", NULL, message);
    case MM_ELIMIT:
        return reply_error(call, 507, "insufficient_storage_error", "memory_budget_exceeded",
                           NULL, message);
    default:
        return reply_error(call, 500, "server_error", "model_load_failed", NULL, message);
    }
}

int server_h_admin_model_action(server_call *call)
{
    const server_admin_ctx *a = server_get_admin(call->srv);
    const char *name = call->url + strlen("/api/models/");
    const char *slash = strrchr(name, '/');
    bool load = slash && strcmp(slash, "/load") == 0;
    bool unload = slash && strcmp(slash, "/unload") == 0;
    char key[SERVER_MODEL_NAME_MAX];
    size_t len = slash ? (size_t)(slash - name) : 0;
    if ((!load && !unload) || len == 0 || len >= sizeof key) {
        char msg[300];
        snprintf(msg, sizeof msg, "Invalid URL (POST %.200s): use POST /api/models/{name}/load "
                 "or /api/models/{name}/unload", call->url);
        return reply_error(call, 404, "invalid_request_error", NULL, NULL, msg);
    }
    memcpy(key, name, len);
    key[len] = '\0';
    mm_strlcpy(call->model, key, sizeof call->model);
    if (!a->mgr)
        return reply_error(call, 501, "not_supported_error", "not_implemented", NULL,
                           "loading models needs the model manager, which this server runs "
                           "without");
    mm_error err = { 0 };
    int rc = load ? mm_manager_load(a->mgr, key, &err) : mm_manager_unload(a->mgr, key, &err);
    const server_service *svc = server_svc(call);
    if (svc->changed)
        svc->changed(svc->ctx);
    if (rc != 0)
        return load_fault(call, rc, err.message);
    mm_model_health *rows = NULL;
    size_t n = 0;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", key);
    bool loaded = load;
    int instances = 0;
    if (mm_manager_list(a->mgr, &rows, &n, NULL) == 0)
        for (size_t i = 0; i < n; i++)
            if (strcmp(rows[i].key, key) == 0) {
                loaded = rows[i].loaded;
                instances = rows[i].instances;
            }
    free(rows);
    cJSON_AddBoolToObject(root, "loaded", loaded);
    cJSON_AddNumberToObject(root, "instances", instances);
    return server_reply_json(call, 200, root);
}

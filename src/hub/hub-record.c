/* hub-record.c - what a pull leaves behind besides the files: models.lock
 * (the pinned commit, sizes and sha256 of every pulled file, merged and
 * written atomically) and the append-only audit log audit.jsonl. */
#include "hub/hub.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define LOCKFILE_MAX (16u << 20)
#define AUDIT_LINE_MAX 8192

static cJSON *file_json(const hub_result *r)
{
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "path", r->filename);
    cJSON_AddNumberToObject(f, "size", (double)r->size);
    cJSON_AddStringToObject(f, "sha256", r->sha256);
    return f;
}

static cJSON *find_by(cJSON *array, const char *key, const char *value)
{
    cJSON *e;
    cJSON_ArrayForEach(e, array) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, key);
        if (cJSON_IsString(v) && strcmp(v->valuestring, value) == 0)
            return e;
    }
    return NULL;
}

/* Load lock_path, or an empty document when it does not exist. */
static int lock_load(const char *lock_path, cJSON **doc, mm_error *err)
{
    char *text = NULL;
    size_t len = 0;
    mm_error rerr;
    int rc = mm_file_read(lock_path, LOCKFILE_MAX, &text, &len, &rerr);
    if (rc == MM_ENOTFOUND) {
        *doc = cJSON_CreateObject();
        cJSON_AddNumberToObject(*doc, "version", 1);
        cJSON_AddArrayToObject(*doc, "models");
        return *doc ? 0 : mm_error_set(err, MM_ENOMEM, "out of memory");
    }
    if (rc)
        return mm_error_set(err, rc, "%s", rerr.message);
    *doc = cJSON_ParseWithLength(text, len);
    free(text);
    cJSON *models = cJSON_GetObjectItemCaseSensitive(*doc, "models");
    if (!cJSON_IsArray(models)) {
        cJSON_Delete(*doc);
        *doc = NULL;
        return mm_error_set(err, MM_EFORMAT, "%s is malformed (no \"models\" array): fix it or "
                            "move it away; it was left unchanged", lock_path);
    }
    return 0;
}

int hub_lock_update(const char *lock_path, const char *repo, const char *revision,
                    const hub_result *files, size_t n_files, mm_error *err)
{
    if (n_files == 0)
        return 0;
    char *dir = mm_strdup(lock_path);
    if (!dir)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    int rc = mm_mkdirs(dirname(dir), err);
    int dfd = rc ? -1 : open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cJSON *doc = NULL;
    char *text = NULL;
    if (rc)
        goto out;
    /* Two pulls at once must not lose each other's entries. */
    if (dfd < 0 || flock(dfd, LOCK_EX) != 0) {
        rc = mm_error_set(err, MM_EIO, "cannot lock %s: %s", dir, strerror(errno));
        goto out;
    }
    if ((rc = lock_load(lock_path, &doc, err)) != 0)
        goto out;
    cJSON *models = cJSON_GetObjectItemCaseSensitive(doc, "models");
    cJSON *entry = find_by(models, "repo", repo);
    const cJSON *commit = entry ? cJSON_GetObjectItemCaseSensitive(entry, "commit") : NULL;
    if (entry && !(cJSON_IsString(commit) && strcmp(commit->valuestring, files[0].commit) == 0)) {
        cJSON_DetachItemViaPointer(models, entry);
        cJSON_Delete(entry);
        entry = NULL;
    }
    if (!entry) {
        entry = cJSON_CreateObject();
        cJSON_AddStringToObject(entry, "repo", repo);
        cJSON_AddStringToObject(entry, "revision", revision ? revision : "");
        cJSON_AddStringToObject(entry, "commit", files[0].commit);
        cJSON_AddArrayToObject(entry, "files");
        cJSON_AddItemToArray(models, entry);
    } else {
        cJSON_ReplaceItemInObjectCaseSensitive(entry, "revision",
                                               cJSON_CreateString(revision ? revision : ""));
    }
    cJSON *list = cJSON_GetObjectItemCaseSensitive(entry, "files");
    if (!cJSON_IsArray(list)) {
        cJSON_DeleteItemFromObjectCaseSensitive(entry, "files");
        list = cJSON_AddArrayToObject(entry, "files");
    }
    for (size_t i = 0; i < n_files; i++) {
        cJSON *old = find_by(list, "path", files[i].filename);
        if (old)
            cJSON_ReplaceItemViaPointer(list, old, file_json(&files[i]));
        else
            cJSON_AddItemToArray(list, file_json(&files[i]));
    }
    text = cJSON_Print(doc);
    if (!text) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory");
        goto out;
    }
    mm_buf b;
    mm_buf_init(&b, LOCKFILE_MAX);
    mm_buf_printf(&b, "%s\n", text);
    rc = b.failed ? mm_error_set(err, MM_ELIMIT, "%s would exceed %u bytes", lock_path, LOCKFILE_MAX)
                  : mm_file_write_atomic(lock_path, b.data, b.len, err);
    mm_buf_free(&b);
out:
    if (dfd >= 0)
        close(dfd);   /* releases the lock */
    free(text);
    cJSON_Delete(doc);
    free(dir);
    return rc;
}

static void add_str(cJSON *o, const char *key, const char *value)
{
    if (value && *value)
        cJSON_AddStringToObject(o, key, value);
    else
        cJSON_AddNullToObject(o, key);
}

int hub_audit_append(const char *models_dir, const hub_audit_record *rec, mm_error *err)
{
    int rc = mm_mkdirs(models_dir, err);
    if (rc)
        return rc;
    char when[40], host[256] = "";
    mm_time_rfc3339(mm_wall_ms() / 1000, when, sizeof when);
    gethostname(host, sizeof host - 1);
    const char *user = getenv("USER");
    struct passwd *pw = getpwuid(geteuid());
    if (pw && pw->pw_name)
        user = pw->pw_name;
    cJSON *o = cJSON_CreateObject();
    add_str(o, "time", when);
    add_str(o, "user", user);
    add_str(o, "host", host);
    add_str(o, "action", rec->action);
    add_str(o, "repo", rec->repo);
    add_str(o, "revision", rec->revision);
    add_str(o, "commit", rec->commit);
    add_str(o, "file", rec->file);
    cJSON_AddNumberToObject(o, "bytes", (double)rec->bytes);
    add_str(o, "sha256", rec->sha256);
    add_str(o, "result", rec->result);
    add_str(o, "error", rec->error);
    cJSON_AddNumberToObject(o, "duration_ms", (double)rec->duration_ms);
    char line[AUDIT_LINE_MAX];
    bool fits = cJSON_PrintPreallocated(o, line, sizeof line - 2, 0);
    cJSON_Delete(o);
    if (!fits)
        return mm_error_set(err, MM_ELIMIT, "audit record over %d bytes", AUDIT_LINE_MAX);
    mm_redact_secrets(line);
    size_t len = strlen(line);
    line[len++] = '\n';
    char *path = mm_path_join(models_dir, "audit.jsonl");
    if (!path)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    /* One write of the whole line: O_APPEND places it atomically at the end. */
    ssize_t n = fd >= 0 ? write(fd, line, len) : -1;
    if (fd < 0 || n != (ssize_t)len)
        rc = mm_error_set(err, MM_EIO, "cannot append to %s: %s", path,
                          n >= 0 ? "short write" : strerror(errno));
    if (fd >= 0)
        close(fd);
    free(path);
    return rc;
}

void hub_audit_note(const char *models_dir, const hub_audit_record *rec)
{
    if (!models_dir)
        return;
    mm_error err;
    if (hub_audit_append(models_dir, rec, &err) != 0)
        MM_LOG_WARN("audit log: %s", err.message);
}

void hub_audit_download(const char *models_dir, const char *action, const char *repo,
                        const char *revision, const hub_result *r, const char *file,
                        const char *error)
{
    hub_audit_record rec = {
        .action = action, .repo = repo, .revision = revision,
        .commit = r ? r->commit : NULL, .file = file ? file : r ? r->filename : NULL,
        .bytes = r ? r->size : 0, .sha256 = r ? r->sha256 : NULL,
        .result = r ? hub_status_name(r->status) : "error",
        .error = error, .duration_ms = r ? r->duration_ms : 0,
    };
    hub_audit_note(models_dir, &rec);
}

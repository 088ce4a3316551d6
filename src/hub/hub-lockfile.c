/* hub-lockfile.c - models.lock read back: parsed and validated into plain
 * structs for `pull --locked`, `verify` and `update` (with the models one
 * repo selects), an entry removed for `rm`, and where the lock lives
 * (beside models.txt). Writing is hub-record.c's. */
#include "hub/hub.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define LOCKFILE_MAX (16u << 20)
#define LOCK_MODELS_MAX 4096
#define LOCK_FILES_MAX 65536

char *mm_lock_path(const mm_config *cfg)
{
    const char *models_file = cfg && cfg->models_file ? cfg->models_file : "models.txt";
    char *copy = mm_strdup(models_file);
    char *path = copy ? mm_path_join(dirname(copy), "models.lock") : NULL;
    free(copy);
    return path;
}

static bool is_hex(const char *s, size_t len)
{
    if (strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static const char *str_item(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int parse_file(const char *lock_path, const char *repo, size_t index, const cJSON *f,
                      hub_lock_entry *out, mm_error *err)
{
    const char *path = str_item(f, "path");
    const char *sha = str_item(f, "sha256");
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(f, "size");
    if (!hub_valid_filename(path))
        return mm_error_set(err, MM_EFORMAT, "%s: %s file %zu: missing or unsafe \"path\"",
                            lock_path, repo, index + 1);
    if (!sha || !is_hex(sha, 64))
        return mm_error_set(err, MM_EFORMAT, "%s: %s/%s: \"sha256\" is not 64 lowercase hex "
                            "digits", lock_path, repo, path);
    if (!cJSON_IsNumber(size) || !mm_double_to_count(size->valuedouble, MM_COUNT_MAX, &out->size))
        return mm_error_set(err, MM_EFORMAT, "%s: %s/%s: \"size\" is not a byte count",
                            lock_path, repo, path);
    out->path = mm_strdup(path);
    if (!out->path)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    mm_strlcpy(out->sha256, sha, sizeof out->sha256);
    return 0;
}

static int parse_model(const char *lock_path, size_t index, const cJSON *m, hub_lock_model *out,
                       mm_error *err)
{
    const char *repo = str_item(m, "repo");
    const char *rev = str_item(m, "revision");
    const char *commit = str_item(m, "commit");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(m, "files");
    if (!hub_valid_repo(repo))
        return mm_error_set(err, MM_EFORMAT, "%s: model %zu: missing or invalid \"repo\"",
                            lock_path, index + 1);
    if (!commit || !hub_is_commit(commit))
        return mm_error_set(err, MM_EFORMAT, "%s: %s: \"commit\" is not a 40-hex commit",
                            lock_path, repo);
    int n = cJSON_GetArraySize(files);
    if (!cJSON_IsArray(files) || n > LOCK_FILES_MAX)
        return mm_error_set(err, MM_EFORMAT, "%s: %s: \"files\" is not an array of at most %d "
                            "files", lock_path, repo, LOCK_FILES_MAX);
    out->repo = mm_strdup(repo);
    out->revision = mm_strdup(rev ? rev : "");
    out->files = calloc((size_t)n + 1, sizeof *out->files);
    if (!out->repo || !out->revision || !out->files)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    mm_strlcpy(out->commit, commit, sizeof out->commit);
    const cJSON *f;
    cJSON_ArrayForEach(f, files) {
        int rc = parse_file(lock_path, repo, out->n_files, f, &out->files[out->n_files], err);
        if (rc)
            return rc;
        out->n_files++;
    }
    return 0;
}

int hub_lock_read(const char *lock_path, hub_lock **out, mm_error *err)
{
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    mm_error rerr;
    int rc = mm_file_read(lock_path, LOCKFILE_MAX, &text, &len, &rerr);
    if (rc == MM_ENOTFOUND)
        return mm_error_set(err, rc, "%s does not exist: pull a model with a pinned revision "
                            "first", lock_path);
    if (rc)
        return mm_error_set(err, rc, "%s", rerr.message);
    cJSON *doc = cJSON_ParseWithLength(text, len);
    free(text);
    hub_lock *lock = calloc(1, sizeof *lock);
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(doc, "models");
    int n = cJSON_GetArraySize(models);
    if (!lock) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory");
        goto fail;
    }
    if (!cJSON_IsArray(models) || n > LOCK_MODELS_MAX) {
        rc = mm_error_set(err, MM_EFORMAT, "%s is malformed (no \"models\" array of at most %d "
                          "models): fix it or move it away", lock_path, LOCK_MODELS_MAX);
        goto fail;
    }
    lock->models = calloc((size_t)n + 1, sizeof *lock->models);
    if (!lock->models) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory");
        goto fail;
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, models) {
        /* Counted before parsing so hub_lock_free sees a half-filled model. */
        hub_lock_model *dst = &lock->models[lock->n_models++];
        if ((rc = parse_model(lock_path, lock->n_models - 1, m, dst, err)) != 0)
            goto fail;
    }
    cJSON_Delete(doc);
    *out = lock;
    return 0;
fail:
    cJSON_Delete(doc);
    hub_lock_free(lock);
    return rc;
}

bool hub_lock_selects(const hub_lock_model *m, const char *repo)
{
    return !repo || strcmp(m->repo, repo) == 0;
}

int hub_lock_select(const char *what, const char *lock_path, const char *repo,
                    const char *remedy, hub_lock **out, size_t *n_models, size_t *n_files,
                    mm_error *err)
{
    *out = NULL;
    *n_models = *n_files = 0;
    if (!lock_path)
        return mm_error_set(err, MM_EINVAL, "%s: no models.lock path given", what);
    hub_lock *lock = NULL;
    int rc = hub_lock_read(lock_path, &lock, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < lock->n_models; i++)
        if (hub_lock_selects(&lock->models[i], repo)) {
            (*n_models)++;
            *n_files += lock->models[i].n_files;
        }
    if (repo && *n_models == 0) {
        hub_lock_free(lock);
        return mm_error_set(err, MM_ENOTFOUND, "%s is not in %s: %s", repo, lock_path, remedy);
    }
    *out = lock;
    return 0;
}

void hub_lock_free(hub_lock *lock)
{
    if (!lock)
        return;
    for (size_t i = 0; i < lock->n_models; i++) {
        hub_lock_model *m = &lock->models[i];
        for (size_t j = 0; m->files && j < m->n_files; j++)
            free(m->files[j].path);
        free(m->files);
        free(m->repo);
        free(m->revision);
    }
    free(lock->models);
    free(lock);
}

int hub_lock_dir_acquire(const char *path, int *dfd, mm_error *err)
{
    *dfd = -1;
    char *dir = mm_strdup(path);
    if (!dir)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    int rc = mm_mkdirs(dirname(dir), err);
    if (rc == 0) {
        *dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (*dfd < 0 || flock(*dfd, LOCK_EX) != 0) {
            rc = mm_error_set(err, MM_EIO, "cannot lock %s: %s", dir, strerror(errno));
            hub_lock_dir_release(*dfd);
            *dfd = -1;
        }
    }
    free(dir);
    return rc;
}

void hub_lock_dir_release(int dfd)
{
    if (dfd >= 0)
        close(dfd);   /* releases the flock */
}

int hub_lock_remove(const char *lock_path, const char *repo, const char *commit,
                    bool *removed, mm_error *err)
{
    *removed = false;
    int dfd = -1;
    char *text = NULL, *out = NULL;
    size_t len = 0;
    cJSON *doc = NULL;
    mm_error rerr;
    if (access(lock_path, F_OK) != 0 && errno == ENOENT)
        return 0;   /* nothing to edit, and no folder to create for the lock */
    int rc = hub_lock_dir_acquire(lock_path, &dfd, err);
    if (rc)
        return rc;
    rc = mm_file_read(lock_path, LOCKFILE_MAX, &text, &len, &rerr);
    if (rc == MM_ENOTFOUND) {
        rc = 0;
        goto out;
    }
    if (rc) {
        rc = mm_error_set(err, rc, "%s", rerr.message);
        goto out;
    }
    doc = cJSON_ParseWithLength(text, len);
    cJSON *models = cJSON_GetObjectItemCaseSensitive(doc, "models");
    if (!cJSON_IsArray(models)) {
        rc = mm_error_set(err, MM_EFORMAT, "%s is malformed (no \"models\" array): fix it or "
                          "move it away; it was left unchanged", lock_path);
        goto out;
    }
    cJSON *m = models->child;
    while (m) {
        cJSON *next = m->next;
        const char *r = str_item(m, "repo");
        const char *c = str_item(m, "commit");
        if (r && strcmp(r, repo) == 0 && (!commit || (c && strcmp(c, commit) == 0))) {
            cJSON_Delete(cJSON_DetachItemViaPointer(models, m));
            *removed = true;
        }
        m = next;
    }
    if (!*removed)
        goto out;
    out = cJSON_Print(doc);
    char *nl = out ? mm_asprintf("%s\n", out) : NULL;
    rc = nl ? mm_file_write_atomic(lock_path, nl, strlen(nl), err)
            : mm_error_set(err, MM_ENOMEM, "out of memory");
    free(nl);
out:
    hub_lock_dir_release(dfd);
    cJSON_Delete(doc);
    free(out);
    free(text);
    return rc;
}

/* hub-verify.c - mm_verify: every file models.lock records is re-hashed in
 * the HF cache (no network) and compared with the lock's size and sha256,
 * each result going to the audit log as action "verify". */
#include "hub/hub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int hub_open_config(const mm_config *cfg, hub **out, mm_error *err)
{
    hub_options o;
    hub_options_init(&o);
    if (cfg)
        hub_options_from_config(&o, cfg);
    return hub_open(&o, out, err);
}

const char *mm_verify_state_name(mm_verify_state state)
{
    switch (state) {
    case MM_VERIFY_OK:       return "ok";
    case MM_VERIFY_MISMATCH: return "mismatch";
    case MM_VERIFY_MISSING:  return "missing";
    }
    return "unknown";
}

static void audit(const char *models_dir, const hub_lock_model *m, const mm_verify_file *v,
                  int64_t duration_ms)
{
    if (!models_dir)
        return;
    char why[sizeof v->path + 256] = "";
    if (v->state == MM_VERIFY_MISSING)
        snprintf(why, sizeof why, "%s is missing", v->path);
    else if (v->state == MM_VERIFY_MISMATCH)
        snprintf(why, sizeof why, "expected %llu bytes, sha256 %s; found %llu bytes, sha256 %s",
                 (unsigned long long)v->expected_size, v->expected_sha256,
                 (unsigned long long)v->actual_size, v->actual_sha256);
    hub_audit_record rec = {
        .action = "verify", .repo = m->repo, .revision = m->revision, .commit = m->commit,
        .file = v->repo_path, .bytes = v->actual_size, .sha256 = v->actual_sha256,
        .result = mm_verify_state_name(v->state), .error = why[0] ? why : NULL,
        .duration_ms = duration_ms,
    };
    hub_audit_note(models_dir, &rec);
}

/* Hash one file; a read error other than "not there" is the caller's error. */
static int verify_one(const hub *h, const hub_lock_model *m, const hub_lock_entry *f,
                      mm_verify_file *v, mm_error *err)
{
    memset(v, 0, sizeof *v);
    mm_strlcpy(v->repo, m->repo, sizeof v->repo);
    mm_strlcpy(v->repo_path, f->path, sizeof v->repo_path);
    mm_strlcpy(v->commit, m->commit, sizeof v->commit);
    mm_strlcpy(v->expected_sha256, f->sha256, sizeof v->expected_sha256);
    v->expected_size = f->size;
    char *dir = hub_cache_repo_dir(h, m->repo);
    char *path = dir ? mm_asprintf("%s/snapshots/%s/%s", dir, m->commit, f->path) : NULL;
    free(dir);
    if (!path)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    mm_strlcpy(v->path, path, sizeof v->path);
    struct stat st;
    int rc = 0;
    /* A dangling link (its blob deleted) is as missing as no link. */
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        v->state = MM_VERIFY_MISSING;
        goto out;
    }
    char sha1[41];
    mm_error herr;
    if (hub_hash_file(path, v->actual_sha256, sha1, &herr) != 0) {
        rc = mm_error_set(err, herr.code ? herr.code : MM_EIO, "%s", herr.message);
        goto out;
    }
    v->actual_size = (uint64_t)st.st_size;
    v->state = v->actual_size == f->size && strcmp(v->actual_sha256, f->sha256) == 0
                   ? MM_VERIFY_OK : MM_VERIFY_MISMATCH;
out:
    free(path);
    return rc;
}

int mm_verify(const mm_config *cfg, const char *lock_path, const char *models_dir,
              const char *repo, mm_verify_file **files, size_t *n_files, mm_error *err)
{
    mm_error local = { 0 };
    if (!err)
        err = &local;
    *files = NULL;
    *n_files = 0;
    hub_lock *lock = NULL;
    hub *h = NULL;
    mm_verify_file *out = NULL;
    size_t models = 0, total = 0;
    int rc = hub_lock_select("verify", lock_path, repo, "only locked models can be verified",
                             &lock, &models, &total, err);
    if (rc)
        goto fail;
    if ((rc = hub_open_config(cfg, &h, err)) != 0)
        goto fail;
    out = calloc(total + 1, sizeof *out);
    if (!out) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory");
        goto fail;
    }
    size_t n = 0;
    for (size_t i = 0; i < lock->n_models; i++) {
        const hub_lock_model *m = &lock->models[i];
        if (!hub_lock_selects(m, repo))
            continue;
        for (size_t j = 0; j < m->n_files; j++) {
            int64_t t0 = mm_now_ms();
            if ((rc = verify_one(h, m, &m->files[j], &out[n], err)) != 0)
                goto fail;
            audit(models_dir, m, &out[n], mm_now_ms() - t0);
            n++;
        }
    }
    hub_close(h);
    hub_lock_free(lock);
    *files = out;
    *n_files = n;
    return 0;
fail:
    free(out);
    hub_close(h);
    hub_lock_free(lock);
    return rc;
}

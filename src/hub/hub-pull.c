/* hub-pull.c - mm_pull, the public face of the Hub client: turns
 * "org/name[:QUANT] [FILE] at REVISION" into verified files in the cache,
 * then writes the audit log and models.lock next to the models. */
#include "hub/hub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct progress_bridge {
    mm_pull_progress_fn fn;
    void *user;
} progress_bridge;

static void bridge(const hub_progress *p, void *user)
{
    progress_bridge *b = user;
    b->fn(p->filename, p->bytes_done, p->bytes_total, p->bytes_per_s, b->user);
}

static void audit(const mm_pull_request *rq, const char *revision, const hub_result *r,
                  const char *file, const char *error)
{
    if (!rq->models_dir)
        return;
    hub_audit_record rec = {
        .action = "pull", .repo = rq->repo, .revision = revision,
        .commit = r ? r->commit : NULL, .file = r ? r->filename : file,
        .bytes = r ? r->size : 0, .sha256 = r ? r->sha256 : NULL,
        .result = r ? hub_status_name(r->status) : "error",
        .error = error, .duration_ms = r ? r->duration_ms : 0,
    };
    mm_error aerr;
    if (hub_audit_append(rq->models_dir, &rec, &aerr) != 0)
        MM_LOG_WARN("audit log: %s", aerr.message);
}

/* The quant's files at a pinned revision: list, pick, download each. */
static int pull_quant(hub *h, const char *repo, const char *quant, const mm_pull_request *rq,
                      hub_result **out, size_t *n_out, mm_error *err)
{
    const char *rev = NULL;
    hub_listing *l = NULL;
    const char **paths = NULL;
    size_t n = 0;
    int rc = hub_pin_revision(h, repo, rq->revision, rq->automated, &rev, err);
    if (!rc)
        rc = hub_list_files(h, repo, rev, &l, err);
    if (!rc)
        rc = hub_pick_quant(l, quant, &paths, &n, err);
    if (!rc && !hub_is_commit(rev))
        rc = hub_cache_write_ref(h, repo, rev, l->commit, err);
    hub_result *res = rc ? NULL : calloc(n, sizeof *res);
    if (!rc && !res)
        rc = mm_error_set(err, MM_ENOMEM, "out of memory");
    size_t done = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        /* Pinned to the listed commit, so the parts cannot come from two commits. */
        rc = hub_download_file(h, repo, paths[i], l->commit, true, &res[i], err);
        done = i + 1;
    }
    *out = res;
    *n_out = done;
    free(paths);
    hub_listing_free(l);
    return rc;
}

int mm_pull(const mm_config *cfg, const mm_pull_request *rq, mm_pull_progress_fn progress,
            void *progress_user, mm_pull_file *files, size_t max_files, size_t *n_files,
            mm_error *err)
{
    mm_error local = { 0 };
    if (!err)
        err = &local;
    *n_files = 0;
    if (!rq || !rq->repo)
        return mm_error_set(err, MM_EINVAL, "pull: no repository given");
    char repo[256];
    if (mm_strlcpy(repo, rq->repo, sizeof repo) >= sizeof repo)
        return mm_error_set(err, MM_ELIMIT, "repository id is longer than %zu characters",
                            sizeof repo - 1);
    char *colon = strchr(repo, ':');
    const char *quant = NULL;
    if (colon) {
        *colon = '\0';
        quant = colon + 1;
        if (!*quant || rq->file)
            return mm_error_set(err, MM_EINVAL, "'%s': give either a quant tag (org/name:Q4_K_M) "
                                "or a file, not both and not an empty tag", rq->repo);
    }
    hub_options o;
    hub_options_init(&o);
    progress_bridge pb = { progress, progress_user };
    if (progress) {
        o.progress = bridge;
        o.progress_user = &pb;
    }
    if (cfg) {
        o.endpoint = cfg->hf_endpoint;
        o.token = cfg->hf_token;
        o.cache_dir = cfg->hf_cache;
        o.offline = cfg->offline;
        if (cfg->download_parallel > 0)
            o.parallel_parts = cfg->download_parallel;
    }
    hub *h = NULL;
    hub_result *res = NULL;
    size_t n = 0;
    int rc = hub_open(&o, &h, err);
    if (rc)
        return rc;
    if (rq->file) {
        res = calloc(1, sizeof *res);
        if (!res) {
            rc = mm_error_set(err, MM_ENOMEM, "out of memory");
            goto out;
        }
        rc = hub_download_file(h, repo, rq->file, rq->revision, rq->automated, res, err);
        n = 1;
    } else if (quant) {
        rc = pull_quant(h, repo, quant, rq, &res, &n, err);
    } else {
        rc = hub_download_snapshot(h, repo, rq->revision, rq->automated, NULL, NULL, &res, &n, err);
    }
    for (size_t i = 0; i < n; i++)
        audit(rq, rq->revision, &res[i], NULL, res[i].status == HUB_STATUS_ERROR ? res[i].message : NULL);
    if (rc && n == 0)
        audit(rq, rq->revision, NULL, rq->file ? rq->file : quant, err->message);
    if (rc == 0 && rq->models_dir && n > 0) {
        char *lock = mm_path_join(rq->models_dir, "models.lock");
        rc = lock ? hub_lock_update(lock, repo, rq->revision ? rq->revision : "", res, n, err)
                  : mm_error_set(err, MM_ENOMEM, "out of memory");
        free(lock);
    }
    for (size_t i = 0; i < n && *n_files < max_files; i++) {
        if (res[i].status == HUB_STATUS_ERROR)
            continue;
        mm_pull_file *f = &files[(*n_files)++];
        mm_strlcpy(f->repo_path, res[i].filename, sizeof f->repo_path);
        mm_strlcpy(f->path, res[i].path, sizeof f->path);
        mm_strlcpy(f->commit, res[i].commit, sizeof f->commit);
        mm_strlcpy(f->sha256, res[i].sha256, sizeof f->sha256);
        f->size = res[i].size;
        f->downloaded = res[i].status == HUB_STATUS_DOWNLOADED;
    }
    if (rc == 0 && n > max_files)
        rc = mm_error_set(err, MM_ELIMIT, "pulled %zu files; only %zu could be reported", n,
                          max_files);
out:
    free(res);
    hub_close(h);
    return rc;
}

/* hub-pull.c - mm_pull, the public face of the Hub client: turns
 * "org/name[:QUANT] [FILE] at REVISION" into verified files in the cache,
 * then writes the audit log and models.lock; or, --locked, reproduces exactly
 * what models.lock records. */
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

static void audit(const mm_pull_request *rq, const char *repo, const char *revision,
                  const hub_result *r, const char *file, const char *error)
{
    hub_audit_download(rq->models_dir, "pull", repo, revision, r, r ? NULL : file, error);
}

/* One locked file: fetched at the recorded commit, then held to the lock. */
static int pull_locked_file(hub *h, const mm_pull_request *rq, const hub_lock_model *m,
                            const hub_lock_entry *f, hub_result *res, mm_error *err)
{
    int rc = hub_download_file(h, m->repo, f->path, m->commit, false, res, err);
    if (rc == 0 && res->status == HUB_STATUS_CACHED) {
        /* A cached LFS file is named by its sha256 and not re-read by the
         * download; --locked promises the bytes themselves match. */
        char sha256[65], sha1[41];
        if ((rc = hub_hash_file(res->path, sha256, sha1, err)) == 0 &&
            strcmp(sha256, f->sha256) != 0) {
            rc = mm_error_set(err, MM_EINTEGRITY, "models.lock says %s for %s/%s at %s, the "
                              "cached copy %s holds %s: remove it with 'modelmgr rm %s "
                              "--revision %s' and pull again", f->sha256, m->repo, f->path,
                              m->commit, res->path, sha256, m->repo, m->commit);
            res->status = HUB_STATUS_ERROR;
            mm_strlcpy(res->message, err->message, sizeof res->message);
        }
    }
    if (rc == 0 && (strcmp(res->sha256, f->sha256) != 0 || res->size != f->size)) {
        if (strcmp(res->sha256, f->sha256) != 0)
            rc = mm_error_set(err, MM_EINTEGRITY, "models.lock says %s for %s/%s at %s, the Hub "
                              "served %s", f->sha256, m->repo, f->path, m->commit, res->sha256);
        else
            rc = mm_error_set(err, MM_EINTEGRITY, "models.lock says %llu bytes for %s/%s at %s, "
                              "the Hub served %llu", (unsigned long long)f->size, m->repo,
                              f->path, m->commit, (unsigned long long)res->size);
        res->status = HUB_STATUS_ERROR;
        mm_strlcpy(res->message, err->message, sizeof res->message);
    }
    audit(rq, m->repo, m->commit, res, NULL, rc ? err->message : NULL);
    return rc;
}

/* Every file of the lock (or of its entry for repo), at the recorded commits.
 * *repos_out[i] (borrowed from *lock_out) names the repo of result i. */
static int pull_locked(hub *h, const char *repo, const mm_pull_request *rq, hub_lock **lock_out,
                       const char ***repos_out, hub_result **out, size_t *n_out, mm_error *err)
{
    *out = NULL;
    *n_out = 0;
    *repos_out = NULL;
    if (!rq->lock_path)
        return mm_error_set(err, MM_EINVAL, "pull --locked: no models.lock path given");
    if (rq->file || rq->revision)
        return mm_error_set(err, MM_EINVAL, "pull --locked takes the files and commits from "
                            "models.lock: give no FILE and no --revision");
    int rc = hub_lock_read(rq->lock_path, lock_out, err);
    if (rc)
        return rc;
    const hub_lock *lock = *lock_out;
    size_t total = 0, models = 0;
    for (size_t i = 0; i < lock->n_models; i++)
        if (!repo || strcmp(lock->models[i].repo, repo) == 0) {
            total += lock->models[i].n_files;
            models++;
        }
    if (repo && models == 0)
        return mm_error_set(err, MM_ENOTFOUND, "%s is not in %s: pull it with a pinned revision "
                            "first", repo, rq->lock_path);
    hub_result *res = calloc(total + 1, sizeof *res);
    const char **repos = calloc(total + 1, sizeof *repos);
    if (!res || !repos) {
        free(res);
        free(repos);
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    }
    size_t done = 0;
    for (size_t i = 0; rc == 0 && i < lock->n_models; i++) {
        const hub_lock_model *m = &lock->models[i];
        if (repo && strcmp(m->repo, repo) != 0)
            continue;
        for (size_t j = 0; rc == 0 && j < m->n_files; j++) {
            repos[done] = m->repo;
            rc = pull_locked_file(h, rq, m, &m->files[j], &res[done], err);
            done++;
        }
    }
    *out = res;
    *n_out = done;
    *repos_out = repos;
    return rc;
}

/* What llama.cpp and Ollama take from a GGUF repo named without a quant
 * tag: Q4_K_M, else Q8_0, else the first .gguf (never every quant). false
 * when the repo has no .gguf at all (it is then pulled whole). */
static bool pick_default(const hub_listing *l, const char ***paths, size_t *n)
{
    static const char *const preferred[] = { "Q4_K_M", "Q8_0" };
    for (size_t i = 0; i < MM_ARRAY_LEN(preferred); i++) {
        mm_error ignored = { 0 };
        if (hub_pick_quant(l, preferred[i], paths, n, &ignored) == 0)
            return true;
    }
    for (size_t i = 0; i < l->n_files; i++) {
        const char *path = l->files[i].path;
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        if (mm_str_has_suffix(path, ".gguf") && !strstr(base, "mmproj")) {
            *paths = malloc(sizeof **paths);
            if (!*paths)
                return false;
            (*paths)[0] = path;
            *n = 1;
            return true;
        }
    }
    return false;
}

/* The quant's files at a pinned revision: list, pick, download each. A NULL
 * quant picks as pick_default does; *no_gguf then says the repo has no
 * .gguf (nothing was downloaded). */
static int pull_quant(hub *h, const char *repo, const char *quant, const mm_pull_request *rq,
                      hub_result **out, size_t *n_out, bool *no_gguf, mm_error *err)
{
    const char *rev = NULL;
    hub_listing *l = NULL;
    const char **paths = NULL;
    size_t n = 0;
    *out = NULL;
    *n_out = 0;
    int rc = hub_pin_revision(h, repo, rq->revision, rq->automated, &rev, err);
    if (!rc)
        rc = hub_list_files(h, repo, rev, &l, err);
    if (!rc && quant) {
        rc = hub_pick_quant(l, quant, &paths, &n, err);
    } else if (!rc && !pick_default(l, &paths, &n)) {
        if (no_gguf)
            *no_gguf = true;
        hub_listing_free(l);
        return mm_error_set(err, MM_ENOTFOUND, "%s has no .gguf file", repo);
    }
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
    if (!rq || (!rq->repo && !rq->locked))
        return mm_error_set(err, MM_EINVAL, "pull: no repository given");
    if (rq->repo && hub_is_local_path(rq->repo)) {
        if (max_files == 0)
            return mm_error_set(err, MM_ELIMIT, "pulled 1 file; only 0 could be reported");
        int rc = hub_pull_local(rq, &files[0], err);
        *n_files = rc == 0;
        return rc;
    }
    char repo[256];
    if (mm_strlcpy(repo, rq->repo ? rq->repo : "", sizeof repo) >= sizeof repo)
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
    if (cfg)
        hub_options_from_config(&o, cfg);
    hub *h = NULL;
    hub_result *res = NULL;
    hub_lock *lock = NULL;
    const char **repos = NULL;
    char (*links)[4096] = NULL;
    size_t n = 0;
    bool picked = false;   /* an automated pull took one quant of a GGUF repo */
    if (rq->locked && quant)
        return mm_error_set(err, MM_EINVAL, "pull --locked: '%s': the lock names the files; "
                            "give the repo without a quant tag", rq->repo);
    int rc = hub_open(&o, &h, err);
    if (rc)
        return rc;
    if (rq->locked) {
        rc = pull_locked(h, rq->repo ? repo : NULL, rq, &lock, &repos, &res, &n, err);
        goto report;
    }
    if (rq->file) {
        res = calloc(1, sizeof *res);
        if (!res) {
            rc = mm_error_set(err, MM_ENOMEM, "out of memory");
            goto out;
        }
        rc = hub_download_file(h, repo, rq->file, rq->revision, rq->automated, res, err);
        n = 1;
    } else if (quant) {
        rc = pull_quant(h, repo, quant, rq, &res, &n, NULL, err);
    } else if (rq->automated && !rq->include && !rq->exclude) {
        /* First-run and scheduled pulls of a GGUF repo take one quant. */
        bool no_gguf = false;
        rc = pull_quant(h, repo, NULL, rq, &res, &n, &no_gguf, err);
        picked = !no_gguf;
        if (no_gguf) {
            memset(err, 0, sizeof *err);
            rc = hub_download_snapshot(h, repo, rq->revision, rq->automated, NULL, NULL,
                                       &res, &n, err);
        }
    } else {
        rc = hub_download_snapshot(h, repo, rq->revision, rq->automated, rq->include, rq->exclude,
                                   &res, &n, err);
    }
    for (size_t i = 0; i < n; i++)
        audit(rq, repo, rq->revision, &res[i], NULL,
              res[i].status == HUB_STATUS_ERROR ? res[i].message : NULL);
    if (rc && n == 0)
        audit(rq, repo, rq->revision, NULL, rq->file ? rq->file : quant, err->message);
    if (rc == 0 && rq->lock_path && n > 0)
        rc = hub_lock_update(rq->lock_path, repo, rq->revision ? rq->revision : "", res, n, err);
    if (rc == 0 && n > 0) {
        links = calloc(n, sizeof *links);
        if (links)
            hub_models_link_results(h, rq->models_dir, repo, res, n,
                                    !rq->file && !quant && !picked, links);
    }
report:
    for (size_t i = 0; i < n && *n_files < max_files; i++) {
        if (res[i].status == HUB_STATUS_ERROR)
            continue;
        mm_pull_file *f = &files[(*n_files)++];
        mm_strlcpy(f->repo, repos ? repos[i] : repo, sizeof f->repo);
        mm_strlcpy(f->repo_path, res[i].filename, sizeof f->repo_path);
        mm_strlcpy(f->path, res[i].path, sizeof f->path);
        mm_strlcpy(f->commit, res[i].commit, sizeof f->commit);
        mm_strlcpy(f->sha256, res[i].sha256, sizeof f->sha256);
        f->size = res[i].size;
        f->downloaded = res[i].status == HUB_STATUS_DOWNLOADED;
        f->local = false;
        mm_strlcpy(f->link, links ? links[i] : "", sizeof f->link);
    }
    if (rc == 0 && n > max_files)
        rc = mm_error_set(err, MM_ELIMIT, "pulled %zu files; only %zu could be reported", n,
                          max_files);
out:
    free(links);
    free(res);
    free(repos);
    hub_lock_free(lock);
    hub_close(h);
    return rc;
}

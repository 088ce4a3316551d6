/* hub-update.c - mm_update_check: does the branch a models.lock entry follows
 * still point at the recorded commit? One refs API call per model answers it;
 * with apply, the recorded files are pulled at the branch's new commit and
 * the lock entry rewritten. Pinned entries (a commit or a tag) never move. */
#include "hub/hub.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UPDATE_REFS_BODY_MAX (4u << 20)

const char *mm_update_state_name(mm_update_state state)
{
    switch (state) {
    case MM_UPDATE_CURRENT:   return "current";
    case MM_UPDATE_AVAILABLE: return "available";
    case MM_UPDATE_APPLIED:   return "applied";
    case MM_UPDATE_PINNED:    return "pinned";
    case MM_UPDATE_ERROR:     return "error";
    }
    return "unknown";
}

/* Look name up in repo's refs (the refs API): *is_tag and commit on 0. */
static int ref_lookup(hub *h, const char *repo, const char *name, bool *is_tag,
                      char commit[41], mm_error *err)
{
    char *url = mm_asprintf("%s/api/models/%s/refs", h->endpoint, repo);
    if (!url)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    hub_http_request rq = { .method = "GET", .url = url, .range_from = -1,
                            .timeout_ms = h->opts.request_timeout_ms,
                            .body_max = UPDATE_REFS_BODY_MAX };
    hub_http_response rs;
    hub_http_response_init(&rs);
    cJSON *doc = NULL;
    int rc = hub_http_retry(h, &rq, &rs);
    if (rc != 0 || rs.status != 200) {
        rc = hub_http_error(h, &rs, repo, name, NULL, err);
        goto out;
    }
    doc = cJSON_ParseWithLength(rs.body.data, rs.body.len);
    rc = hub_refs_lookup(doc, repo, name, is_tag, commit, err);
out:
    cJSON_Delete(doc);
    hub_http_response_free(&rs);
    free(url);
    return rc;
}

int hub_refs_lookup(const cJSON *refs, const char *repo, const char *name, bool *is_tag,
                    char commit[41], mm_error *err)
{
    const char *kinds[2] = { "branches", "tags" };
    for (int k = 0; k < 2; k++) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(refs, kinds[k]);
        if (!cJSON_IsArray(list))
            return mm_error_set(err, MM_EFORMAT, "the Hub's refs list for %s is malformed", repo);
        const cJSON *e;
        cJSON_ArrayForEach(e, list) {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "name");
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "targetCommit");
            if (!cJSON_IsString(n) || strcmp(n->valuestring, name) != 0)
                continue;
            if (!cJSON_IsString(t) || !hub_is_commit(t->valuestring))
                return mm_error_set(err, MM_EFORMAT, "the Hub's refs list for %s gives '%s' no "
                                    "commit", repo, name);
            memcpy(commit, t->valuestring, 41);
            *is_tag = k == 1;
            return 0;
        }
    }
    return mm_error_set(err, MM_ENOTFOUND, "'%s' is no longer a branch or tag of %s: pull the "
                        "model again with a revision that exists", name, repo);
}

/* Pull m's files at commit (the branch's new head), then rewrite its lock
 * entry. A file missing from the new commit fails the update: the lock
 * keeps the old entry, whose files are all still in the cache. */
static int apply_update(hub *h, const char *lock_path, const char *models_dir,
                        const hub_lock_model *m, const char *branch, const char *commit,
                        size_t *n_files, mm_error *err)
{
    *n_files = 0;
    hub_result *res = calloc(m->n_files + 1, sizeof *res);
    if (!res)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < m->n_files; i++) {
        rc = hub_download_file(h, m->repo, m->files[i].path, commit, true, &res[i], err);
        hub_audit_download(models_dir, "update", m->repo, m->revision, &res[i],
                           m->files[i].path, rc ? err->message : NULL);
    }
    if (rc == 0)
        rc = hub_cache_write_ref(h, m->repo, branch, commit, err);
    if (rc == 0 && lock_path)
        rc = hub_lock_update(lock_path, m->repo, m->revision, res, m->n_files, err);
    if (rc == 0)   /* the .gguf links follow the new commit */
        hub_models_link_results(h, models_dir, m->repo, res, m->n_files, false, NULL);
    if (rc == 0)
        *n_files = m->n_files;
    free(res);
    return rc;
}

static void check_one(hub *h, const char *lock_path, const char *models_dir,
                      const hub_lock_model *m, bool apply, mm_update_row *row)
{
    mm_strlcpy(row->repo, m->repo, sizeof row->repo);
    mm_strlcpy(row->current, m->commit, sizeof row->current);
    const char *branch = m->revision && *m->revision && strcmp(m->revision, "latest") != 0
                         ? m->revision : "main";
    mm_strlcpy(row->revision, branch, sizeof row->revision);
    if (hub_is_commit(branch)) {
        row->state = MM_UPDATE_PINNED;
        return;
    }
    mm_error err = { 0 };
    bool is_tag = false;
    char head[41] = "";
    int rc = ref_lookup(h, m->repo, branch, &is_tag, head, &err);
    if (rc == 0 && is_tag) {
        row->state = MM_UPDATE_PINNED;
        return;
    }
    if (rc == 0) {
        mm_strlcpy(row->available, head, sizeof row->available);
        if (strcmp(head, m->commit) == 0) {
            row->state = MM_UPDATE_CURRENT;
            return;
        }
        row->state = MM_UPDATE_AVAILABLE;
        if (!apply)
            return;
        rc = apply_update(h, lock_path, models_dir, m, branch, head, &row->n_files, &err);
        if (rc == 0) {
            row->state = MM_UPDATE_APPLIED;
            return;
        }
    } else if (apply) {
        hub_audit_download(models_dir, "update", m->repo, m->revision, NULL, NULL, err.message);
    }
    row->state = MM_UPDATE_ERROR;
    mm_strlcpy(row->message, err.message, sizeof row->message);
}

int mm_update_check(const mm_config *cfg, const char *lock_path, const char *models_dir,
                    const char *repo, bool apply, mm_update_row **rows, size_t *n_rows,
                    mm_error *err)
{
    mm_error local = { 0 };
    if (!err)
        err = &local;
    *rows = NULL;
    *n_rows = 0;
    hub_lock *lock = NULL;
    hub *h = NULL;
    mm_update_row *out = NULL;
    size_t total = 0, files = 0;
    int rc = hub_lock_select("update check", lock_path, repo, "pull it first", &lock, &total,
                             &files, err);
    if (rc)
        goto fail;
    if ((rc = hub_open_config(cfg, &h, err)) != 0)
        goto fail;
    if (h->offline) {
        rc = mm_error_set(err, MM_EINVAL, "the update check needs the Hub, and HF_HUB_OFFLINE "
                          "(offline) is set: unset it to check for updates");
        goto fail;
    }
    out = calloc(total + 1, sizeof *out);
    if (!out) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory");
        goto fail;
    }
    size_t n = 0;
    for (size_t i = 0; i < lock->n_models; i++)
        if (hub_lock_selects(&lock->models[i], repo))
            check_one(h, lock_path, models_dir, &lock->models[i], apply, &out[n++]);
    *rows = out;
    *n_rows = n;
    hub_close(h);
    hub_lock_free(lock);
    return 0;
fail:
    free(out);
    hub_close(h);
    hub_lock_free(lock);
    return rc;
}

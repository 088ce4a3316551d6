/* test-hub-update.c - the update check against the mock hub: a model that
 * follows main is reported when main moves (and nothing is downloaded),
 * --apply pulls the new commit and rewrites models.lock and the audit log,
 * a model pinned to a tag or a commit is never updated, and `modelmgr
 * update` prints one line per model. */
// labels: integration
#include "hub-fixture.h"

#include <cjson/cJSON.h>

static char ep_flag[256];

static mm_config *config(const fixture *fx)
{
    snprintf(ep_flag, sizeof ep_flag, "hf_endpoint=%s", mockhub_url(fx->mh));
    const char *extra[] = { ep_flag, "hf_token=", NULL };
    return mmtest_config(fx->tmp, extra);
}

static int pull(const mm_config *cfg, const char *lock, const char *repo, const char *file,
                const char *rev, bool automated)
{
    mm_pull_request rq = { .repo = repo, .file = file, .revision = rev, .automated = automated,
                           .models_dir = cfg->models_dir, .lock_path = lock };
    mm_pull_file files[4];
    size_t n = 0;
    mm_error err = { 0 };
    int rc = mm_pull(cfg, &rq, NULL, NULL, files, 4, &n, &err);
    if (rc)
        fprintf(stderr, "pull %s: %s\n", repo, err.message);
    return rc;
}

static const mm_update_row *row_of(const mm_update_row *rows, size_t n, const char *repo)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].repo, repo) == 0)
            return &rows[i];
    return NULL;
}

static void lock_commit(const char *lock_path, const char *repo, char out[41], char sha[65])
{
    hub_lock *lock = NULL;
    out[0] = sha[0] = '\0';
    CHECK_INT(hub_lock_read(lock_path, &lock, NULL), 0);
    for (size_t i = 0; lock && i < lock->n_models; i++)
        if (strcmp(lock->models[i].repo, repo) == 0) {
            mm_strlcpy(out, lock->models[i].commit, 41);
            if (lock->models[i].n_files > 0)
                mm_strlcpy(sha, lock->models[i].files[0].sha256, 65);
        }
    hub_lock_free(lock);
}

static void test_library(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    mm_config *cfg = config(&fx);
    char lock[4200];
    snprintf(lock, sizeof lock, "%s/models.lock", fx.tmp);
    mockhub_repo_add(fx.mh, "org/pinned", MOCKHUB_PUBLIC);
    mockhub_file_add(fx.mh, "org/pinned", "p.gguf", 700, 21, true);
    mockhub_tag_add(fx.mh, "org/pinned", "v1", "main");
    char pinned_commit[41];
    mockhub_ref_commit(fx.mh, "org/pinned", "main", pinned_commit);
    mockhub_repo_add(fx.mh, "org/bycommit", MOCKHUB_PUBLIC);
    mockhub_file_add(fx.mh, "org/bycommit", "c.gguf", 600, 22, true);
    char by_commit[41];
    mockhub_ref_commit(fx.mh, "org/bycommit", "main", by_commit);

    CHECK_INT(pull(cfg, lock, FX_REPO, FX_LFS, NULL, true), 0);   /* follows main */
    CHECK_INT(pull(cfg, lock, "org/pinned", "p.gguf", "v1", false), 0);
    CHECK_INT(pull(cfg, lock, "org/bycommit", "c.gguf", by_commit, false), 0);

    /* Nothing moved yet. */
    mm_update_row *rows = NULL;
    size_t n = 0;
    mm_error err = { 0 };
    CHECK_INT(mm_update_check(cfg, lock, cfg->models_dir, NULL, false, &rows, &n, &err), 0);
    CHECK_INT(n, 3);
    const mm_update_row *r = row_of(rows, n, FX_REPO);
    CHECK(r && r->state == MM_UPDATE_CURRENT);
    CHECK_STR(r ? r->revision : "", "main");
    CHECK_STR(r ? r->current : "", fx.commit);
    free(rows);

    /* main and the pinned repo's main move; the tag v1 and the commit do not. */
    mockhub_commit(fx.mh, FX_REPO, "main");
    mockhub_file_add(fx.mh, FX_REPO, FX_LFS, 3000, 99, true);
    mockhub_commit(fx.mh, "org/pinned", "main");
    mockhub_file_add(fx.mh, "org/pinned", "p.gguf", 800, 23, true);
    mockhub_commit(fx.mh, "org/bycommit", "main");
    mockhub_file_add(fx.mh, "org/bycommit", "c.gguf", 900, 24, true);
    char new_main[41];
    mockhub_ref_commit(fx.mh, FX_REPO, "main", new_main);
    CHECK(strcmp(new_main, fx.commit) != 0);

    mockhub_log_clear(fx.mh);
    CHECK_INT(mm_update_check(cfg, lock, cfg->models_dir, NULL, false, &rows, &n, &err), 0);
    CHECK_INT(n, 3);
    r = row_of(rows, n, FX_REPO);
    CHECK(r && r->state == MM_UPDATE_AVAILABLE);
    CHECK_STR(r ? r->available : "", new_main);
    CHECK_STR(r ? r->current : "", fx.commit);
    r = row_of(rows, n, "org/pinned");
    CHECK(r && r->state == MM_UPDATE_PINNED);
    CHECK_STR(r ? r->revision : "", "v1");
    r = row_of(rows, n, "org/bycommit");
    CHECK(r && r->state == MM_UPDATE_PINNED);
    free(rows);
    CHECK_INT(mockhub_count(fx.mh, "GET", "/blob/"), 0);   /* a check downloads nothing */
    CHECK_INT(mockhub_count(fx.mh, "HEAD", NULL), 0);
    char commit[41], sha[65];
    lock_commit(lock, FX_REPO, commit, sha);
    CHECK_STR(commit, fx.commit);

    /* Apply: the moved model is pulled at the new commit, the lock follows;
     * the pinned ones keep their commit. */
    CHECK_INT(mm_update_check(cfg, lock, cfg->models_dir, NULL, true, &rows, &n, &err), 0);
    r = row_of(rows, n, FX_REPO);
    CHECK(r && r->state == MM_UPDATE_APPLIED);
    CHECK_INT(r ? r->n_files : 0, 1);
    CHECK(row_of(rows, n, "org/pinned") && row_of(rows, n, "org/pinned")->state == MM_UPDATE_PINNED);
    free(rows);
    mockhub_file_info info;
    mockhub_file_info_get(fx.mh, FX_REPO, "main", FX_LFS, &info);
    lock_commit(lock, FX_REPO, commit, sha);
    CHECK_STR(commit, new_main);
    CHECK_STR(sha, info.sha256);
    lock_commit(lock, "org/pinned", commit, sha);
    CHECK_STR(commit, pinned_commit);
    lock_commit(lock, "org/bycommit", commit, sha);
    CHECK_STR(commit, by_commit);
    char path[8400];
    snprintf(path, sizeof path, "%s/models--org--model/snapshots/%s/%s", fx.cache, new_main, FX_LFS);
    CHECK(fx_content_is(path, 99, 3000));
    /* refs/main follows, so an offline resolution of main finds the new files. */
    snprintf(path, sizeof path, "%s/models--org--model/refs/main", fx.cache);
    char *text = NULL;
    CHECK_INT(mm_file_read(path, 100, &text, NULL, NULL), 0);
    CHECK(text && strncmp(text, new_main, 40) == 0);
    free(text);
    snprintf(path, sizeof path, "%s/audit.jsonl", cfg->models_dir);
    CHECK_INT(mm_file_read(path, 1 << 20, &text, NULL, NULL), 0);
    CHECK_CONTAINS(text, "\"action\":\"update\"");
    CHECK_CONTAINS(text, new_main);
    free(text);

    /* Applied: now current. */
    CHECK_INT(mm_update_check(cfg, lock, cfg->models_dir, FX_REPO, false, &rows, &n, &err), 0);
    CHECK_INT(n, 1);
    CHECK_INT(rows[0].state, MM_UPDATE_CURRENT);
    free(rows);

    /* A repo the lock does not record is MM_ENOTFOUND. */
    CHECK_INT(mm_update_check(cfg, lock, cfg->models_dir, "org/none", false, &rows, &n, &err),
              MM_ENOTFOUND);
    CHECK_CONTAINS(err.message, "org/none is not in");
    mm_config_free(cfg);
    fx_stop(&fx);
}

static void test_cli(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    char *out = NULL, *err = NULL;
    const char *none[] = { "update", NULL };
    CHECK_INT(fx_cli(&fx, none, &out, &err), 0);
    CHECK_CONTAINS(out, "no models.lock at ");
    free(out);
    free(err);

    const char *follow[] = { "pull", FX_REPO, FX_SMALL, "--automated", "--quiet", NULL };
    CHECK_INT(fx_cli(&fx, follow, &out, &err), 0);
    free(out);
    free(err);
    mockhub_commit(fx.mh, FX_REPO, "main");
    mockhub_file_add(fx.mh, FX_REPO, FX_SMALL, 310, 77, false);
    char new_main[41], line[512];
    mockhub_ref_commit(fx.mh, FX_REPO, "main", new_main);

    CHECK_INT(fx_cli(&fx, none, &out, &err), 0);
    snprintf(line, sizeof line, "org/model (main): update available %s -> %s (apply with "
             "'modelmgr update --apply')\n", fx.commit, new_main);
    CHECK_CONTAINS(out, line);
    free(out);
    free(err);

    const char *json[] = { "update", "--json", NULL };
    CHECK_INT(fx_cli(&fx, json, &out, &err), 0);
    cJSON *doc = cJSON_Parse(out ? out : "");
    CHECK_INT(cJSON_GetArraySize(doc), 1);
    const cJSON *o = cJSON_GetArrayItem(doc, 0);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "state")), "available");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "available")), new_main);
    cJSON_Delete(doc);
    free(out);
    free(err);

    const char *apply[] = { "update", "--apply", NULL };
    CHECK_INT(fx_cli(&fx, apply, &out, &err), 0);
    snprintf(line, sizeof line, "org/model (main): updated %s -> %s (1 file)\n", fx.commit,
             new_main);
    CHECK_CONTAINS(out, line);
    free(out);
    free(err);
    CHECK_INT(fx_cli(&fx, none, &out, &err), 0);
    snprintf(line, sizeof line, "org/model (main): up to date at %s\n", new_main);
    CHECK_CONTAINS(out, line);
    free(out);
    free(err);

    const char *audit[] = { "audit", NULL };
    CHECK_INT(fx_cli(&fx, audit, &out, &err), 0);
    CHECK_CONTAINS(out, "update");
    free(out);
    free(err);
    fx_stop(&fx);
}

int main(void)
{
    test_library();
    test_cli();
    return mmtest_finish();
}

/* test-hub-rm.c - `modelmgr rm` end to end against the mock hub: one
 * revision's links, refs and lock entry go while a blob shared with another
 * revision stays until that one goes too; symlinks planted in the cache are
 * removed, never followed; a repo folder that is a symlink is refused. */
// labels: integration
#include "hub-fixture.h"

#include <cjson/cJSON.h>

#define V2_LFS_SIZE 1536
#define V2_LFS_SEED 42

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* The commits models.lock records for repo, joined by ',' ("" when none). */
static void lock_commits(const char *lock_path, const char *repo, char *out, size_t size)
{
    out[0] = '\0';
    char *text = NULL;
    if (mm_file_read(lock_path, 1 << 20, &text, NULL, NULL) != 0)
        return;
    cJSON *doc = cJSON_Parse(text);
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(doc, "models")) {
        if (strcmp(cJSON_GetObjectItem(m, "repo")->valuestring, repo) == 0) {
            size_t len = strlen(out);
            snprintf(out + len, size - len, "%s%s", len ? "," : "",
                     cJSON_GetObjectItem(m, "commit")->valuestring);
        }
    }
    cJSON_Delete(doc);
    free(text);
}

int main(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    /* Commit B (tag v2) copies commit A (tag v1.0) and changes model.gguf:
     * config.json and weights.bin share their blobs across the two. */
    char commit_b[41];
    CHECK_INT(mockhub_commit(fx.mh, FX_REPO, "main"), 0);
    CHECK_INT(mockhub_file_add(fx.mh, FX_REPO, FX_LFS, V2_LFS_SIZE, V2_LFS_SEED, true), 0);
    CHECK_INT(mockhub_tag_add(fx.mh, FX_REPO, "v2", "main"), 0);
    CHECK_INT(mockhub_ref_commit(fx.mh, FX_REPO, "v2", commit_b), 0);
    CHECK(strcmp(commit_b, fx.commit) != 0);
    mockhub_file_info lfs_a, lfs_b, small;
    mockhub_file_info_get(fx.mh, FX_REPO, fx.commit, FX_LFS, &lfs_a);
    mockhub_file_info_get(fx.mh, FX_REPO, commit_b, FX_LFS, &lfs_b);
    mockhub_file_info_get(fx.mh, FX_REPO, commit_b, FX_SMALL, &small);

    char *out = NULL, *err = NULL;
    const char *pull_a[] = { "pull", FX_REPO, "--revision", "v1.0", "--quiet", NULL };
    const char *pull_b[] = { "pull", FX_REPO, "--revision", "v2", "--quiet", NULL };
    CHECK_INT(fx_cli(&fx, pull_a, &out, &err), 0);
    free(out);
    free(err);
    CHECK_INT(fx_cli(&fx, pull_b, &out, &err), 0);
    free(out);
    free(err);

    char repo_dir[4200], blobs[4300], snaps[4300], refs[4300], lock[4300], path[8800];
    snprintf(repo_dir, sizeof repo_dir, "%s/models--org--model", fx.cache);
    snprintf(blobs, sizeof blobs, "%s/blobs", repo_dir);
    snprintf(snaps, sizeof snaps, "%s/snapshots", repo_dir);
    snprintf(refs, sizeof refs, "%s/refs", repo_dir);
    snprintf(lock, sizeof lock, "%s/conf/models.lock", fx.tmp);
    CHECK_INT(fx_count_entries(blobs, NULL), 4);
    CHECK_INT(fx_count_entries(snaps, NULL), 2);
    char commits[200];
    lock_commits(lock, FX_REPO, commits, sizeof commits);
    CHECK_STR(commits, commit_b);   /* the v2 pull replaced the v1.0 entry */

    /* Remove v2: its three links, its own blob (1536 bytes = 1.5 KiB), the
     * ref v2, <models_dir>/model (the whole-repo link the v2 pull pointed at
     * its snapshot) and the lock entry that pinned it; A's files stay intact. */
    const char *rm_b[] = { "rm", FX_REPO, "--revision", "v2", NULL };
    CHECK_INT(fx_cli(&fx, rm_b, &out, &err), 0);
    CHECK_CONTAINS(out, "removed org/model at v2: 1 snapshot (3 links), 1 blob (1.5 KiB), 1 ref, "
                        "1 models_dir entry, and its models.lock entry\n");
    free(out);
    free(err);
    CHECK_INT(fx_count_entries(snaps, NULL), 1);
    CHECK_INT(fx_count_entries(blobs, NULL), 3);
    snprintf(path, sizeof path, "%s/%s", blobs, lfs_b.sha256);
    CHECK(!fx_exists(path));
    snprintf(path, sizeof path, "%s/%s", blobs, small.git_sha1);
    CHECK(fx_exists(path));   /* shared with A */
    snprintf(path, sizeof path, "%s/v2", refs);
    CHECK(!fx_exists(path));
    snprintf(path, sizeof path, "%s/v1.0", refs);
    CHECK(fx_exists(path));
    snprintf(path, sizeof path, "%s/%s/%s", snaps, fx.commit, FX_LFS);
    CHECK(fx_content_is(path, FX_LFS_SEED, FX_LFS_SIZE));
    snprintf(path, sizeof path, "%s/%s/%s", snaps, fx.commit, FX_NESTED);
    CHECK(fx_content_is(path, FX_NESTED_SEED, FX_NESTED_SIZE));
    lock_commits(lock, FX_REPO, commits, sizeof commits);
    CHECK_STR(commits, "");

    /* Gone is gone; a traversal in the revision is refused. */
    CHECK_INT(fx_cli(&fx, rm_b, &out, &err), 1);
    CHECK_CONTAINS(err, "revision 'v2' of org/model is not in the cache ");
    free(out);
    free(err);
    const char *rm_bad[] = { "rm", FX_REPO, "--revision", "../../etc", NULL };
    CHECK_INT(fx_cli(&fx, rm_bad, &out, &err), 2);
    CHECK_CONTAINS(err, "'../../etc' is not a commit hash or a ref name");
    free(out);
    free(err);

    /* Planted symlinks pointing out of the cache: a snapshot link, a "blob"
     * and a whole snapshot folder. Removing the repo removes the links and
     * leaves their targets alone. */
    char outside[4300], secret[4400];
    snprintf(outside, sizeof outside, "%s/outside", fx.tmp);
    snprintf(secret, sizeof secret, "%s/secret.bin", outside);
    mmtest_write_file(secret, "keep me");
    snprintf(path, sizeof path, "%s/%s/evil", snaps, fx.commit);
    CHECK_INT(symlink(secret, path), 0);
    snprintf(path, sizeof path, "%s/evil-blob", blobs);
    CHECK_INT(symlink(secret, path), 0);
    snprintf(path, sizeof path, "%s/0123456789012345678901234567890123456789", snaps);
    CHECK_INT(symlink(outside, path), 0);
    const char *rm_all[] = { "rm", FX_REPO, NULL };
    CHECK_INT(fx_cli(&fx, rm_all, &out, &err), 0);
    CHECK_CONTAINS(out, "removed org/model: 2 snapshots (5 links), 4 blobs (");
    free(out);
    free(err);
    CHECK(!fx_exists(repo_dir));
    CHECK(fx_exists(secret));
    CHECK_INT(fx_count_entries(outside, NULL), 1);

    /* A repo folder that is itself a symlink is refused outright. */
    char evil_repo[4300];
    snprintf(evil_repo, sizeof evil_repo, "%s/models--org--evil", fx.cache);
    CHECK_INT(symlink(outside, evil_repo), 0);
    const char *rm_evil[] = { "rm", "org/evil", NULL };
    CHECK_INT(fx_cli(&fx, rm_evil, &out, &err), 2);
    CHECK_CONTAINS(err, "refusing to remove ");
    CHECK_CONTAINS(err, "it is a symlink or not a folder");
    free(out);
    free(err);
    CHECK(fx_exists(secret));
    CHECK(fx_exists(evil_repo));

    const char *rm_missing[] = { "rm", "org/absent", NULL };
    CHECK_INT(fx_cli(&fx, rm_missing, &out, &err), 1);
    CHECK_CONTAINS(err, "org/absent is not in the cache ");
    free(out);
    free(err);

    /* Every rm is audited as action delete, failures included. */
    snprintf(path, sizeof path, "%s/models/audit.jsonl", fx.tmp);
    char *log = NULL;
    CHECK_INT(mm_file_read(path, 1 << 20, &log, NULL, NULL), 0);
    CHECK_INT(count(log, "\"action\":\"delete\""), 6);
    CHECK_INT(count(log, "\"result\":\"deleted\""), 2);
    char want[200];
    snprintf(want, sizeof want, "\"revision\":\"v2\",\"commit\":\"%s\"", commit_b);
    CHECK_CONTAINS(log, want);
    free(log);
    fx_stop(&fx);
    return mmtest_finish();
}

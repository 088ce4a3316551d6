/* test-hub-download.c - the Hub client against the mock hub on the happy
 * paths: revision pinning, small and LFS files in huggingface_hub's cache
 * layout, cached answers without network, offline resolution, redirects,
 * moving branches, and the token kept away from the CDN and the logs. */
// labels: integration
#include "hub-fixture.h"

#include <pthread.h>

#define PIN_MSG(rev) "Revision must be explicitly pinned: pass a commit hash or tag (got '" rev "')"

static char log_text[1 << 16];
static size_t log_len;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static void capture(mm_log_level level, const char *line, void *user)
{
    (void)level; (void)user;
    pthread_mutex_lock(&log_mu);
    int n = snprintf(log_text + log_len, sizeof log_text - log_len, "%s\n", line);
    if (n > 0 && (size_t)n < sizeof log_text - log_len)
        log_len += (size_t)n;
    pthread_mutex_unlock(&log_mu);
}

static void test_pinning(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    hub *h = fx_hub(&fx, NULL, false);
    hub_result res;
    mm_error err = { 0 };

    /* Refusals that need no network at all. */
    const char *no_network[] = { "main", NULL, "", "latest" };
    const char *got[] = { PIN_MSG("main"), PIN_MSG("main"), PIN_MSG("main"), PIN_MSG("latest") };
    for (size_t i = 0; i < 4; i++) {
        CHECK_INT(hub_download_file(h, FX_REPO, FX_SMALL, no_network[i], false, &res, &err),
                  MM_EPINNING);
        CHECK_STR(err.message, got[i]);
        CHECK_INT(res.status, HUB_STATUS_ERROR);
        CHECK_STR(res.message, got[i]);
    }
    CHECK_INT(mockhub_request_count(fx.mh), 0);

    /* A branch other than main is found out through the refs API. */
    CHECK_INT(hub_download_file(h, FX_REPO, FX_SMALL, "dev", false, &res, &err), MM_EPINNING);
    CHECK_STR(err.message, PIN_MSG("dev"));
    CHECK_INT(mockhub_count(fx.mh, "GET", "/api/models/org/model/refs"), 1);
    CHECK_INT(mockhub_count(fx.mh, "HEAD", NULL), 0);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_SMALL, "nope", false, &res, &err), MM_ENOTFOUND);
    CHECK_CONTAINS(err.message, "revision 'nope' not found");

    /* Pinned revisions work manually. */
    CHECK_INT(hub_download_file(h, FX_REPO, FX_SMALL, "v1.0", false, &res, &err), 0);
    CHECK_INT(res.status, HUB_STATUS_DOWNLOADED);
    CHECK_STR(res.commit, fx.commit);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_SMALL, fx.commit, false, &res, &err), 0);
    CHECK_INT(res.status, HUB_STATUS_CACHED);
    CHECK_STR(res.commit, fx.commit);

    /* Automated downloads may follow main; latest and none mean main. */
    const char *automated[] = { "main", "latest", NULL, "dev" };
    for (size_t i = 0; i < 4; i++) {
        CHECK_INT(hub_download_file(h, FX_REPO, FX_SMALL, automated[i], true, &res, &err), 0);
        CHECK_STR(res.commit, fx.commit);
        CHECK_INT(res.status, HUB_STATUS_CACHED);
    }
    /* A resolve URL never carries "latest": it means main. */
    CHECK_INT(mockhub_count(fx.mh, "HEAD", "/resolve/latest/"), 0);
    hub_close(h);
    fx_stop(&fx);
}

static void check_link(const fixture *fx, const char *file, const char *target)
{
    char path[8192], link[4096];
    snprintf(path, sizeof path, "%s/models--org--model/snapshots/%s/%s", fx->cache, fx->commit, file);
    ssize_t n = readlink(path, link, sizeof link - 1);
    CHECK(n > 0);
    link[n > 0 ? n : 0] = '\0';
    CHECK_STR(link, target);
}

static void test_layout(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    hub *h = fx_hub(&fx, NULL, false);
    hub_result res;
    mm_error err = { 0 };
    mockhub_file_info small, lfs, nested;
    mockhub_file_info_get(fx.mh, FX_REPO, "main", FX_SMALL, &small);
    mockhub_file_info_get(fx.mh, FX_REPO, "main", FX_LFS, &lfs);
    mockhub_file_info_get(fx.mh, FX_REPO, "main", FX_NESTED, &nested);

    CHECK_INT(hub_download_file(h, FX_REPO, FX_SMALL, "main", true, &res, &err), 0);
    CHECK_INT(res.status, HUB_STATUS_DOWNLOADED);
    CHECK_INT(res.size, FX_SMALL_SIZE);
    CHECK_STR(res.etag, small.git_sha1);
    CHECK_STR(res.sha256, small.sha256);
    CHECK(fx_content_is(res.path, FX_SMALL_SEED, FX_SMALL_SIZE));

    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, "main", true, &res, &err), 0);
    CHECK_INT(res.status, HUB_STATUS_DOWNLOADED);
    CHECK_INT(res.size, FX_LFS_SIZE);
    CHECK_STR(res.sha256, lfs.sha256);
    CHECK(fx_content_is(res.path, FX_LFS_SEED, FX_LFS_SIZE));
    CHECK_CONTAINS(res.message, "downloaded org/model/model.gguf (200000 bytes)");

    CHECK_INT(hub_download_file(h, FX_REPO, FX_NESTED, fx.commit, false, &res, &err), 0);
    CHECK(fx_content_is(res.path, FX_NESTED_SEED, FX_NESTED_SIZE));

    /* An empty git file: its blob name is git's well-known empty-blob id. */
    mockhub_file_add(fx.mh, FX_REPO, "empty.txt", 0, 5, false);
    CHECK_INT(hub_download_file(h, FX_REPO, "empty.txt", fx.commit, false, &res, &err), 0);
    CHECK_STR(res.etag, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    CHECK_STR(res.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK_INT(res.size, 0);

    /* The layout huggingface_hub reads: relative links into blobs/, refs/main. */
    char want[256], path[8192];
    snprintf(want, sizeof want, "../../blobs/%s", small.git_sha1);
    check_link(&fx, FX_SMALL, want);
    snprintf(want, sizeof want, "../../blobs/%s", lfs.sha256);
    check_link(&fx, FX_LFS, want);
    snprintf(want, sizeof want, "../../../../blobs/%s", nested.sha256);
    check_link(&fx, FX_NESTED, want);
    snprintf(path, sizeof path, "%s/models--org--model/blobs/%s", fx.cache, lfs.sha256);
    struct stat st;
    CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == FX_LFS_SIZE);
    snprintf(path, sizeof path, "%s/models--org--model/blobs", fx.cache);
    CHECK_INT(fx_count_entries(path, NULL), 4);
    CHECK_INT(fx_count_entries(path, ".incomplete"), 0);
    snprintf(path, sizeof path, "%s/models--org--model/refs/main", fx.cache);
    char *ref = NULL;
    size_t ref_len = 0;
    CHECK_INT(mm_file_read(path, 100, &ref, &ref_len, NULL), 0);
    CHECK_INT(ref_len, 40);
    CHECK_STR(ref, fx.commit);
    free(ref);
    snprintf(path, sizeof path, "%s/.locks/models--org--model", fx.cache);
    CHECK_INT(fx_count_entries(path, ".lock"), 4);

    /* Second time: a commit needs no network at all; a branch only a HEAD. */
    size_t before = mockhub_request_count(fx.mh);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, fx.commit, false, &res, &err), 0);
    CHECK_INT(res.status, HUB_STATUS_CACHED);
    CHECK_STR(res.sha256, lfs.sha256);
    CHECK_INT(res.size, FX_LFS_SIZE);
    CHECK_INT(mockhub_request_count(fx.mh), before);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_SMALL, "main", true, &res, &err), 0);
    CHECK_INT(res.status, HUB_STATUS_CACHED);
    CHECK_STR(res.sha256, small.sha256);
    CHECK_INT(mockhub_count(fx.mh, "GET", NULL), 3);   /* the first downloads only (empty: none) */
    hub_close(h);
    fx_stop(&fx);
}

static void test_offline(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    hub *h = fx_hub(&fx, NULL, false);
    hub_result res;
    mm_error err = { 0 };
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, "main", true, &res, &err), 0);
    hub_close(h);

    h = fx_hub(&fx, NULL, true);
    size_t before = mockhub_request_count(fx.mh);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, "main", true, &res, &err), 0);
    CHECK_INT(res.status, HUB_STATUS_CACHED);
    CHECK_STR(res.commit, fx.commit);
    CHECK(fx_content_is(res.path, FX_LFS_SEED, FX_LFS_SIZE));
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, fx.commit, false, &res, &err), 0);
    CHECK_INT(res.status, HUB_STATUS_CACHED);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_SMALL, fx.commit, false, &res, &err), MM_ENOTFOUND);
    CHECK_CONTAINS(err.message, "is not in the local cache");
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, "dev", true, &res, &err), MM_ENOTFOUND);
    CHECK_CONTAINS(err.message, "no refs/dev");
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, "v1.0", false, &res, &err), MM_EPINNING);
    CHECK_INT(mockhub_request_count(fx.mh), before);
    hub_close(h);

    /* HF_HUB_OFFLINE in the environment does the same. */
    hub_options o;
    fx_opts(&fx, &o);
    o.use_env = true;
    setenv("HF_HUB_OFFLINE", "1", 1);
    CHECK_INT(hub_open(&o, &h, &err), 0);
    unsetenv("HF_HUB_OFFLINE");
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, "main", true, &res, &err), 0);
    CHECK_INT(res.status, HUB_STATUS_CACHED);
    CHECK_INT(mockhub_request_count(fx.mh), before);
    hub_close(h);
    fx_stop(&fx);
}

static void test_token_and_cdn(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    mockhub_repo_add(fx.mh, "org/private", MOCKHUB_PRIVATE);
    mockhub_file_add(fx.mh, "org/private", "weights.gguf", 70000, 9, true);
    log_len = 0;
    log_text[0] = '\0';
    mm_log_set_level(MM_LOG_LEVEL_DEBUG);
    mm_log_set_callback(capture, NULL);
    hub *h = fx_hub(&fx, FX_TOKEN, false);
    hub_result res;
    mm_error err = { 0 };
    CHECK_INT(hub_download_file(h, "org/private", "weights.gguf", "main", true, &res, &err), 0);
    CHECK(fx_content_is(res.path, 9, 70000));
    CHECK_INT(hub_download_file(h, FX_REPO, FX_SMALL, "main", true, &res, &err), 0);
    /* The token went to the hub, never to the CDN. */
    mockhub_request rq;
    size_t hub_auth = 0, cdn = 0;
    for (size_t i = 0; mockhub_request_get(fx.mh, i, &rq) == 0; i++) {
        if (rq.cdn)
            cdn++;
        else
            hub_auth += rq.had_auth;
    }
    CHECK_INT(cdn, 1);
    CHECK_INT(mockhub_cdn_auth_seen(fx.mh), 0);
    CHECK(hub_auth >= 2);
    hub_close(h);
    mm_log_set_callback(NULL, NULL);
    mm_log_set_level(MM_LOG_LEVEL_INFO);
    CHECK(log_len > 0);
    CHECK(strstr(log_text, FX_TOKEN) == NULL);
    CHECK(strstr(res.message, FX_TOKEN) == NULL);
    fx_stop(&fx);
}

static void test_moving_branch_and_redirects(void)
{
    mockhub_options mo = { .small_via_resolve_cache = true };
    fixture fx;
    fx_start(&fx, &mo);
    mockhub_repo_rename(fx.mh, "org/old-name", FX_REPO);
    hub *h = fx_hub(&fx, NULL, false);
    hub_result res;
    mm_error err = { 0 };

    /* Small files through /api/resolve-cache (a relative 307). */
    CHECK_INT(hub_download_file(h, FX_REPO, FX_SMALL, "main", true, &res, &err), 0);
    CHECK(fx_content_is(res.path, FX_SMALL_SEED, FX_SMALL_SIZE));
    CHECK(mockhub_count(fx.mh, "GET", "/api/resolve-cache/models/org/model/") == 1);

    /* A renamed repo answers a relative 307 to the new name. */
    CHECK_INT(hub_download_file(h, "org/old-name", FX_LFS, fx.commit, false, &res, &err), 0);
    CHECK(fx_content_is(res.path, FX_LFS_SEED, FX_LFS_SIZE));
    CHECK_CONTAINS(res.path, "models--org--old-name/snapshots/");

    /* main moves: the next automated call follows it and refs/main changes. */
    CHECK_INT(mockhub_commit(fx.mh, FX_REPO, "main"), 0);
    CHECK_INT(mockhub_file_add(fx.mh, FX_REPO, FX_SMALL, 123, 77, false), 0);
    char moved[41];
    mockhub_ref_commit(fx.mh, FX_REPO, "main", moved);
    CHECK(strcmp(moved, fx.commit) != 0);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_SMALL, "main", true, &res, &err), 0);
    CHECK_INT(res.status, HUB_STATUS_DOWNLOADED);
    CHECK_STR(res.commit, moved);
    CHECK(fx_content_is(res.path, 77, 123));
    char path[8192];
    snprintf(path, sizeof path, "%s/models--org--model/refs/main", fx.cache);
    char *ref = NULL;
    CHECK_INT(mm_file_read(path, 100, &ref, NULL, NULL), 0);
    CHECK_STR(ref, moved);
    free(ref);
    /* The old snapshot still holds the old file. */
    CHECK_INT(hub_download_file(h, FX_REPO, FX_SMALL, fx.commit, false, &res, &err), 0);
    CHECK_INT(res.status, HUB_STATUS_CACHED);
    CHECK(fx_content_is(res.path, FX_SMALL_SEED, FX_SMALL_SIZE));
    hub_close(h);
    fx_stop(&fx);
}

typedef struct seen_progress {
    int      calls;
    uint64_t done, total, went_back;
    char     file[64];
} seen_progress;

static void on_progress(const hub_progress *p, void *user)
{
    seen_progress *s = user;
    if (p->bytes_done < s->done)
        s->went_back++;
    s->calls++;
    s->done = p->bytes_done;
    s->total = p->bytes_total;
    snprintf(s->file, sizeof s->file, "%s", p->filename);
}

static void test_progress(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    hub_options o;
    fx_opts(&fx, &o);
    seen_progress seen = { 0 };
    o.progress = on_progress;
    o.progress_user = &seen;
    hub *h = NULL;
    mm_error err = { 0 };
    CHECK_INT(hub_open(&o, &h, &err), 0);
    hub_result res;
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, fx.commit, false, &res, &err), 0);
    CHECK(seen.calls >= 1);
    CHECK_INT(seen.done, FX_LFS_SIZE);
    CHECK_INT(seen.total, FX_LFS_SIZE);
    CHECK_INT(seen.went_back, 0);
    CHECK_STR(seen.file, FX_LFS);
    hub_close(h);
    fx_stop(&fx);
}

static void test_weak_etag_and_bad_input(void)
{
    mockhub_options mo = { .weak_etag = true };
    fixture fx;
    fx_start(&fx, &mo);
    hub *h = fx_hub(&fx, NULL, false);
    hub_result res;
    mm_error err = { 0 };
    CHECK_INT(hub_download_file(h, FX_REPO, FX_SMALL, "main", true, &res, &err), 0);
    CHECK(fx_content_is(res.path, FX_SMALL_SEED, FX_SMALL_SIZE));
    CHECK_INT(hub_download_file(h, "org/../x", FX_SMALL, "main", true, &res, &err), MM_EINVAL);
    CHECK_INT(hub_download_file(h, "a/b/c", FX_SMALL, "main", true, &res, &err), MM_EINVAL);
    CHECK_INT(hub_download_file(h, FX_REPO, "../etc/passwd", "main", true, &res, &err), MM_EINVAL);
    CHECK_INT(hub_download_file(h, FX_REPO, "a//b", "main", true, &res, &err), MM_EINVAL);
    CHECK_INT(hub_download_file(h, FX_REPO, "/abs", "main", true, &res, &err), MM_EINVAL);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_SMALL, "../../x", true, &res, &err), MM_EINVAL);
    CHECK_CONTAINS(err.message, "is not a revision");
    CHECK_INT(res.status, HUB_STATUS_ERROR);
    hub_close(h);
    fx_stop(&fx);
}

int main(void)
{
    test_pinning();
    test_layout();
    test_offline();
    test_token_and_cdn();
    test_moving_branch_and_redirects();
    test_progress();
    test_weak_etag_and_bad_input();
    return mmtest_finish();
}

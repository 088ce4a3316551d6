/* test-hub-faults.c - the Hub client against a misbehaving mock hub: dropped
 * connections resumed with Range (the mock's counters prove no byte was
 * fetched twice), Range ignored, corrupt bytes, 429 / 5xx / stalls retried,
 * 401 / 403 / 404 not retried and explained, and two concurrent downloaders
 * of one file sharing one blob. */
// labels: integration
#include "hub-fixture.h"

#include <pthread.h>
#include <sys/wait.h>

static char lfs_path[128];   /* "/blob/<sha256>" of FX_LFS, for fault matching */

static void lfs_blob_path(fixture *fx)
{
    mockhub_file_info info;
    mockhub_file_info_get(fx->mh, FX_REPO, "main", FX_LFS, &info);
    snprintf(lfs_path, sizeof lfs_path, "/blob/%s", info.sha256);
}

static void test_resume_after_drop(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    lfs_blob_path(&fx);
    hub *h = fx_hub(&fx, NULL, false);
    hub_result res;
    mm_error err = { 0 };
    mockhub_fault drop = { .where = MOCKHUB_AT_CDN, .method = "GET", .drop_after = 70000, .times = 1 };
    mockhub_fault_add(fx.mh, &drop);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, fx.commit, false, &res, &err), 0);
    CHECK_INT(res.status, HUB_STATUS_DOWNLOADED);
    CHECK(fx_content_is(res.path, FX_LFS_SEED, FX_LFS_SIZE));
    CHECK_INT(mockhub_count(fx.mh, "GET", lfs_path), 2);
    CHECK_INT(mockhub_bytes_sent(fx.mh, lfs_path), FX_LFS_SIZE);   /* nothing sent twice */
    mockhub_request rq;
    int seen = 0;
    for (size_t i = 0; mockhub_request_get(fx.mh, i, &rq) == 0; i++) {
        if (!rq.cdn)
            continue;
        CHECK_INT(rq.range_start, seen == 0 ? -1 : 70000);
        CHECK_INT(rq.bytes_sent, seen == 0 ? 70000 : FX_LFS_SIZE - 70000);
        seen++;
    }
    CHECK_INT(seen, 2);
    hub_close(h);
    fx_stop(&fx);
}

static void test_resume_across_runs(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    lfs_blob_path(&fx);
    hub_options o;
    fx_opts(&fx, &o);
    o.max_retries = 1;
    hub *h = NULL;
    mm_error err = { 0 };
    CHECK_INT(hub_open(&o, &h, &err), 0);
    hub_result res;
    mockhub_fault drop = { .where = MOCKHUB_AT_CDN, .method = "GET", .drop_after = 50000, .times = 1 };
    mockhub_fault down = { .where = MOCKHUB_AT_CDN, .method = "GET", .status = 503 };
    mockhub_fault_add(fx.mh, &drop);
    mockhub_fault_add(fx.mh, &down);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, fx.commit, false, &res, &err), MM_ENET);
    CHECK_INT(res.status, HUB_STATUS_ERROR);
    CHECK_CONTAINS(err.message, "HTTP 503");
    char path[8192];
    mockhub_file_info info;
    mockhub_file_info_get(fx.mh, FX_REPO, "main", FX_LFS, &info);
    snprintf(path, sizeof path, "%s/models--org--model/blobs/%s.incomplete", fx.cache, info.sha256);
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size == 50000);
    snprintf(path, sizeof path, "%s/models--org--model/snapshots/%s/%s", fx.cache, fx.commit, FX_LFS);
    CHECK(!fx_exists(path));
    hub_close(h);

    /* The next run continues at byte 50000. */
    mockhub_faults_clear(fx.mh);
    mockhub_log_clear(fx.mh);
    CHECK_INT(hub_open(&o, &h, &err), 0);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, fx.commit, false, &res, &err), 0);
    CHECK_INT(res.status, HUB_STATUS_DOWNLOADED);
    CHECK_STR(res.sha256, info.sha256);
    CHECK(fx_content_is(res.path, FX_LFS_SEED, FX_LFS_SIZE));
    CHECK_INT(mockhub_count(fx.mh, "GET", lfs_path), 1);
    CHECK_INT(mockhub_bytes_sent(fx.mh, lfs_path), FX_LFS_SIZE - 50000);
    mockhub_request rq;
    for (size_t i = 0; mockhub_request_get(fx.mh, i, &rq) == 0; i++)
        if (rq.cdn)
            CHECK_INT(rq.range_start, 50000);
    hub_close(h);
    fx_stop(&fx);
}

static void test_range_ignored(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    lfs_blob_path(&fx);
    hub *h = fx_hub(&fx, NULL, false);
    hub_result res;
    mm_error err = { 0 };
    mockhub_fault drop = { .where = MOCKHUB_AT_CDN, .method = "GET", .drop_after = 60000, .times = 1 };
    mockhub_fault full = { .where = MOCKHUB_AT_CDN, .method = "GET", .ignore_range = true, .times = 1 };
    mockhub_fault_add(fx.mh, &drop);
    mockhub_fault_add(fx.mh, &full);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, fx.commit, false, &res, &err), 0);
    CHECK(fx_content_is(res.path, FX_LFS_SEED, FX_LFS_SIZE));
    CHECK_INT(mockhub_count(fx.mh, "GET", lfs_path), 2);
    CHECK_INT(mockhub_bytes_sent(fx.mh, lfs_path), 60000 + FX_LFS_SIZE);
    mockhub_request rq;
    for (size_t i = 0; mockhub_request_get(fx.mh, i, &rq) == 0; i++)
        if (rq.cdn && rq.range_start >= 0)
            CHECK_INT(rq.status, 200);   /* the Range was answered with the whole file */
    hub_close(h);
    fx_stop(&fx);
}

static void test_corruption(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    lfs_blob_path(&fx);
    hub *h = fx_hub(&fx, NULL, false);
    hub_result res;
    mm_error err = { 0 };
    mockhub_file_info lfs, small;
    mockhub_file_info_get(fx.mh, FX_REPO, "main", FX_LFS, &lfs);
    mockhub_file_info_get(fx.mh, FX_REPO, "main", FX_SMALL, &small);

    /* Once: discarded and fetched again. */
    mockhub_fault once = { .where = MOCKHUB_AT_CDN, .method = "GET", .corrupt = true, .times = 1 };
    mockhub_fault_add(fx.mh, &once);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, fx.commit, false, &res, &err), 0);
    CHECK(fx_content_is(res.path, FX_LFS_SEED, FX_LFS_SIZE));
    CHECK_INT(mockhub_count(fx.mh, "GET", lfs_path), 2);

    /* Always: an error naming both hashes, and nothing visible. */
    mockhub_faults_clear(fx.mh);
    mockhub_fault always = { .where = MOCKHUB_AT_HUB, .method = "GET", .corrupt = true };
    mockhub_fault_add(fx.mh, &always);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_SMALL, fx.commit, false, &res, &err), MM_EINTEGRITY);
    CHECK_CONTAINS(err.message, small.git_sha1);
    CHECK_CONTAINS(err.message, "expected git-sha1");
    CHECK_CONTAINS(err.message, ", got ");
    CHECK_INT(res.status, HUB_STATUS_ERROR);
    CHECK_INT(mockhub_count(fx.mh, "GET", "/resolve/"), 2);   /* one retry */
    char path[8192];
    snprintf(path, sizeof path, "%s/models--org--model/snapshots/%s/%s", fx.cache, fx.commit, FX_SMALL);
    CHECK(!fx_exists(path));
    snprintf(path, sizeof path, "%s/models--org--model/blobs", fx.cache);
    CHECK_INT(fx_count_entries(path, small.git_sha1), 0);
    hub_close(h);

    /* An LFS file corrupted every time names both SHA-256 values. */
    fixture fx2;
    fx_start(&fx2, NULL);
    h = fx_hub(&fx2, NULL, false);
    mockhub_fault cdn = { .where = MOCKHUB_AT_CDN, .method = "GET", .corrupt = true };
    mockhub_fault_add(fx2.mh, &cdn);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, "main", true, &res, &err), MM_EINTEGRITY);
    CHECK_CONTAINS(err.message, lfs.sha256);
    CHECK_CONTAINS(err.message, "expected sha256");
    snprintf(path, sizeof path, "%s/models--org--model/blobs", fx2.cache);
    CHECK_INT(fx_count_entries(path, NULL), 0);
    snprintf(path, sizeof path, "%s/models--org--model/.unsynced", fx2.cache);
    CHECK_INT(fx_count_entries(path, NULL), 0);   /* no marker outlives its download */
    snprintf(path, sizeof path, "%s/models--org--model/snapshots/%s/%s", fx2.cache, fx2.commit, FX_LFS);
    CHECK(!fx_exists(path));
    hub_close(h);
    fx_stop(&fx2);

    /* A size the body does not match is refused too. */
    fixture fx3;
    fx_start(&fx3, NULL);
    h = fx_hub(&fx3, NULL, false);
    mockhub_fault size = { .where = MOCKHUB_AT_HUB, .method = "HEAD", .wrong_size = true };
    mockhub_fault_add(fx3.mh, &size);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, "main", true, &res, &err), MM_EINTEGRITY);
    CHECK_CONTAINS(err.message, "announced 200001 bytes");
    hub_close(h);
    fx_stop(&fx3);
    fx_stop(&fx);
}

static void test_retries(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    lfs_blob_path(&fx);
    hub *h = fx_hub(&fx, NULL, false);
    hub_result res;
    mm_error err = { 0 };

    /* 429 with Retry-After, then 503 twice, then success. */
    mockhub_fault limited = { .where = MOCKHUB_AT_HUB, .method = "HEAD", .status = 429,
                              .retry_after_s = 0, .ratelimit = "\"resolvers\";r=0;t=0", .times = 1 };
    mockhub_fault busy = { .where = MOCKHUB_AT_HUB, .method = "HEAD", .status = 503, .times = 2 };
    mockhub_fault_add(fx.mh, &limited);
    mockhub_fault_add(fx.mh, &busy);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_SMALL, "main", true, &res, &err), 0);
    CHECK_INT(mockhub_count(fx.mh, "HEAD", "/resolve/main/config.json"), 4);

    mockhub_faults_clear(fx.mh);
    mockhub_fault ra = { .where = MOCKHUB_AT_HUB, .method = "HEAD", .status = 429,
                         .retry_after_s = 1, .times = 1 };
    mockhub_fault_add(fx.mh, &ra);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_NESTED, "main", true, &res, &err), 0);
    CHECK_INT(mockhub_count(fx.mh, "HEAD", "/resolve/main/sub/dir/weights.bin"), 2);

    /* 5xx and 408 on the CDN GET are retried from where they were. */
    mockhub_fault gw = { .where = MOCKHUB_AT_CDN, .status = 502, .times = 1 };
    mockhub_fault to = { .where = MOCKHUB_AT_CDN, .status = 408, .times = 1 };
    mockhub_fault_add(fx.mh, &gw);
    mockhub_fault_add(fx.mh, &to);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, "main", true, &res, &err), 0);
    CHECK(fx_content_is(res.path, FX_LFS_SEED, FX_LFS_SIZE));
    CHECK_INT(mockhub_count(fx.mh, "GET", lfs_path), 3);
    hub_close(h);

    /* A HEAD that stalls past the request timeout is retried. */
    hub_options o;
    fx_opts(&fx, &o);
    o.request_timeout_ms = 300;
    CHECK_INT(hub_open(&o, &h, &err), 0);
    mockhub_fault stall = { .where = MOCKHUB_AT_HUB, .method = "HEAD", .delay_ms = 1000, .times = 1 };
    mockhub_fault_add(fx.mh, &stall);
    mockhub_log_clear(fx.mh);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_SMALL, "dev", true, &res, &err), 0);
    CHECK_INT(mockhub_count(fx.mh, "HEAD", "/resolve/dev/config.json"), 2);
    hub_close(h);

    /* A GET that delivers nothing past the stall timeout is retried. */
    fx_opts(&fx, &o);
    o.stall_timeout_ms = 200;
    CHECK_INT(hub_open(&o, &h, &err), 0);
    mockhub_fault slow = { .where = MOCKHUB_AT_CDN, .method = "GET", .delay_ms = 1200, .times = 1 };
    mockhub_fault_add(fx.mh, &slow);
    mockhub_file_add(fx.mh, FX_REPO, "late.bin", 4000, 21, true);
    mockhub_log_clear(fx.mh);
    CHECK_INT(hub_download_file(h, FX_REPO, "late.bin", "main", true, &res, &err), 0);
    CHECK(fx_content_is(res.path, 21, 4000));
    CHECK_INT(mockhub_count(fx.mh, "GET", NULL), 2);
    hub_close(h);

    /* Retries run out: the error says so; a cached file still answers. */
    h = fx_hub(&fx, NULL, false);
    mockhub_faults_clear(fx.mh);
    mockhub_log_clear(fx.mh);
    mockhub_fault down = { .where = MOCKHUB_AT_HUB, .status = 500 };
    mockhub_fault_add(fx.mh, &down);
    CHECK_INT(hub_download_file(h, FX_REPO, "absent.bin", "main", true, &res, &err), MM_ENET);
    CHECK_CONTAINS(err.message, "HTTP 500 4 times");
    CHECK_INT(mockhub_count(fx.mh, "HEAD", NULL), 4);   /* max_retries 3 */
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, "main", true, &res, &err), 0);
    CHECK_INT(res.status, HUB_STATUS_CACHED);
    CHECK_STR(res.commit, fx.commit);
    mockhub_faults_clear(fx.mh);
    mockhub_fault limit = { .where = MOCKHUB_AT_HUB, .status = 429 };
    mockhub_fault_add(fx.mh, &limit);
    CHECK_INT(hub_download_file(h, FX_REPO, "absent.bin", "main", true, &res, &err), MM_EBUSY);
    CHECK_CONTAINS(err.message, "rate-limiting");
    hub_close(h);
    fx_stop(&fx);
}

/* One request each, and the message a user can act on. */
static void expect_refusal(fixture *fx, const char *token, const char *repo, const char *file,
                           const char *rev, int code, const char *text)
{
    hub *h = fx_hub(fx, token, false);
    hub_result res;
    mm_error err = { 0 };
    mockhub_log_clear(fx->mh);
    CHECK_INT(hub_download_file(h, repo, file, rev, true, &res, &err), code);
    CHECK_CONTAINS(err.message, text);
    CHECK_INT(mockhub_request_count(fx->mh), 1);
    CHECK(strstr(err.message, FX_TOKEN) == NULL);
    CHECK(strstr(err.message, "hf_wrongTOKEN0000111122") == NULL);
    hub_close(h);
}

static void test_auth_and_not_found(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    mockhub_repo_add(fx.mh, "org/private", MOCKHUB_PRIVATE);
    mockhub_file_add(fx.mh, "org/private", "a.bin", 10, 1, false);
    mockhub_repo_add(fx.mh, "org/gated", MOCKHUB_GATED);
    mockhub_file_add(fx.mh, "org/gated", "a.bin", 10, 1, false);
    mockhub_repo_add(fx.mh, "org/disabled", MOCKHUB_DISABLED);

    expect_refusal(&fx, NULL, "org/private", "a.bin", "main", MM_ENOTFOUND,
                   "repository org/private not found");
    expect_refusal(&fx, NULL, "org/private", "a.bin", "main", MM_ENOTFOUND, "set HF_TOKEN");
    expect_refusal(&fx, FX_UNAPPROVED, "org/private", "a.bin", "main", MM_ENOTFOUND,
                   "(or this token has no access to it)");
    expect_refusal(&fx, NULL, "org/gated", "a.bin", "main", MM_EAUTH,
                   "org/gated is a gated repository: request access at the repo page");
    expect_refusal(&fx, NULL, "org/gated", "a.bin", "main", MM_EAUTH, "and set HF_TOKEN");
    expect_refusal(&fx, FX_UNAPPROVED, "org/gated", "a.bin", "main", MM_EAUTH,
                   "has not been granted to this token: request access at the repo page");
    expect_refusal(&fx, "hf_wrongTOKEN0000111122", FX_REPO, FX_SMALL, "main", MM_EAUTH,
                   "the Hub rejected the token hf_***1122 (invalid credentials");
    expect_refusal(&fx, NULL, "org/disabled", "a.bin", "main", MM_EAUTH,
                   "Access to this resource is disabled.");
    expect_refusal(&fx, FX_TOKEN, "org/missing", "a.bin", "main", MM_ENOTFOUND,
                   "repository org/missing not found");
    expect_refusal(&fx, NULL, FX_REPO, FX_SMALL, "nope", MM_ENOTFOUND,
                   "revision 'nope' not found in org/model");
    expect_refusal(&fx, NULL, FX_REPO, "absent.bin", "main", MM_ENOTFOUND,
                   "file 'absent.bin' not found in org/model at revision 'main'");
    char path[8192];
    snprintf(path, sizeof path, "%s/models--org--model/.no_exist/%s/absent.bin", fx.cache, fx.commit);
    CHECK(fx_exists(path));

    /* The approved token gets through. */
    hub *h = fx_hub(&fx, FX_TOKEN, false);
    hub_result res;
    mm_error err = { 0 };
    CHECK_INT(hub_download_file(h, "org/gated", "a.bin", "main", true, &res, &err), 0);
    CHECK(fx_content_is(res.path, 1, 10));
    hub_close(h);
    fx_stop(&fx);
}

/* The cache cannot take the file: a clear I/O error, nothing half-made. */
static void test_io_failure(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    char path[8192];
    snprintf(path, sizeof path, "%s/models--org--model/blobs", fx.cache);
    mmtest_write_file(path, "not a directory");
    hub *h = fx_hub(&fx, NULL, false);
    hub_result res;
    mm_error err = { 0 };
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, fx.commit, false, &res, &err), MM_EIO);
    CHECK_CONTAINS(err.message, "blobs");
    CHECK_INT(res.status, HUB_STATUS_ERROR);
    snprintf(path, sizeof path, "%s/models--org--model/snapshots/%s/%s", fx.cache, fx.commit, FX_LFS);
    CHECK(!fx_exists(path));
    CHECK_INT(mockhub_count(fx.mh, "GET", NULL), 0);
    hub_close(h);
    fx_stop(&fx);
}

typedef struct racer {
    fixture   *fx;
    int        rc;
    hub_result res;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    hub *h = fx_hub(r->fx, NULL, false);
    mm_error err = { 0 };
    r->rc = hub_download_file(h, FX_REPO, FX_LFS, r->fx->commit, false, &r->res, &err);
    hub_close(h);
    return NULL;
}

static void test_concurrent(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    lfs_blob_path(&fx);
    /* A slow CDN so that both downloaders overlap. */
    mockhub_fault slow = { .where = MOCKHUB_AT_CDN, .delay_ms = 300 };
    mockhub_fault_add(fx.mh, &slow);
    racer a = { .fx = &fx }, b = { .fx = &fx };
    pthread_t ta, tb;
    pthread_create(&ta, NULL, race, &a);
    pthread_create(&tb, NULL, race, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK_INT(a.rc, 0);
    CHECK_INT(b.rc, 0);
    CHECK_INT(a.res.status + b.res.status, HUB_STATUS_DOWNLOADED + HUB_STATUS_CACHED);
    CHECK_INT(mockhub_count(fx.mh, "GET", lfs_path), 1);
    CHECK(fx_content_is(a.res.path, FX_LFS_SEED, FX_LFS_SIZE));
    CHECK_STR(a.res.path, b.res.path);
    char path[8192];
    snprintf(path, sizeof path, "%s/models--org--model/blobs", fx.cache);
    CHECK_INT(fx_count_entries(path, NULL), 1);
    fx_stop(&fx);
}

/* The same with two processes: flock works between them as between threads. */
static void test_concurrent_processes(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    lfs_blob_path(&fx);
    mockhub_fault slow = { .where = MOCKHUB_AT_CDN, .delay_ms = 300 };
    mockhub_fault_add(fx.mh, &slow);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        racer child = { .fx = &fx };
        race(&child);
        _exit(child.rc == 0 && child.res.status != HUB_STATUS_ERROR ? 0 : 1);
    }
    racer parent = { .fx = &fx };
    race(&parent);
    int status = -1;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_INT(parent.rc, 0);
    CHECK_INT(mockhub_count(fx.mh, "GET", lfs_path), 1);
    CHECK(fx_content_is(parent.res.path, FX_LFS_SEED, FX_LFS_SIZE));
    char path[8192];
    snprintf(path, sizeof path, "%s/models--org--model/blobs", fx.cache);
    CHECK_INT(fx_count_entries(path, NULL), 1);
    fx_stop(&fx);
}

int main(void)
{
    test_resume_after_drop();
    test_resume_across_runs();
    test_range_ignored();
    test_corruption();
    test_retries();
    test_auth_and_not_found();
    test_io_failure();
    test_concurrent();
    test_concurrent_processes();
    return mmtest_finish();
}

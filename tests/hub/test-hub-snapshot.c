/* test-hub-snapshot.c - listing a repository through the paged tree API,
 * allow/ignore patterns, snapshot downloads and quant-tag selection
 * (split sets in order, mmproj excluded, ambiguity refused). */
// labels: integration
#include "hub-fixture.h"

static void test_patterns(void)
{
    CHECK(hub_pattern_match("*.gguf", "model.gguf"));
    CHECK(hub_pattern_match("*.gguf", "sub/model.gguf"));   /* '*' crosses '/' as in Python */
    CHECK(!hub_pattern_match("*.gguf", "model.bin"));
    CHECK(hub_pattern_match("sub/", "sub/dir/x.bin"));
    CHECK(!hub_pattern_match("sub/", "subway/x.bin"));
    CHECK(hub_pattern_match("config.json", "config.json"));
    CHECK(hub_pattern_match("*Q4_K_M*", "m-Q4_K_M.gguf"));
}

static void test_listing_and_snapshot(void)
{
    mockhub_options mo = { .tree_page_size = 2 };
    fixture fx;
    fx_start(&fx, &mo);
    mockhub_file_add(fx.mh, FX_REPO, "model-Q8_0.gguf", 3000, 11, true);
    hub *h = fx_hub(&fx, NULL, false);
    mm_error err = { 0 };
    hub_listing *l = NULL;
    CHECK_INT(hub_list_files(h, FX_REPO, "v1.0", &l, &err), 0);
    CHECK_STR(l->commit, fx.commit);
    CHECK_INT(l->n_files, 4);
    int seen_nested = 0;
    for (size_t i = 0; i < l->n_files; i++)
        if (strcmp(l->files[i].path, FX_NESTED) == 0) {
            seen_nested++;
            CHECK(l->files[i].lfs);
            CHECK_INT(l->files[i].size, FX_NESTED_SIZE);
        }
    CHECK_INT(seen_nested, 1);
    /* 4 files + 2 directories, 2 a page: 3 pages. */
    CHECK_INT(mockhub_count(fx.mh, "GET", "/api/models/org/model/tree/"), 3);
    hub_listing_free(l);

    /* Manual snapshot: pinning applies; patterns select. */
    hub_result *res = NULL;
    size_t n = 0;
    const char *inc[] = { "*.gguf", "sub/", NULL };
    const char *exc[] = { "*Q8_0*", NULL };
    CHECK_INT(hub_download_snapshot(h, FX_REPO, "main", false, inc, exc, &res, &n, &err), MM_EPINNING);
    free(res);
    CHECK_INT(hub_download_snapshot(h, FX_REPO, "v1.0", false, inc, exc, &res, &n, &err), 0);
    CHECK_INT(n, 2);
    for (size_t i = 0; i < n; i++) {
        CHECK_INT(res[i].status, HUB_STATUS_DOWNLOADED);
        CHECK_STR(res[i].commit, fx.commit);
    }
    free(res);
    char path[8192];
    snprintf(path, sizeof path, "%s/models--org--model/snapshots/%s/%s", fx.cache, fx.commit, FX_LFS);
    CHECK(fx_content_is(path, FX_LFS_SEED, FX_LFS_SIZE));
    snprintf(path, sizeof path, "%s/models--org--model/snapshots/%s/%s", fx.cache, fx.commit, FX_NESTED);
    CHECK(fx_content_is(path, FX_NESTED_SEED, FX_NESTED_SIZE));
    snprintf(path, sizeof path, "%s/models--org--model/snapshots/%s/model-Q8_0.gguf", fx.cache, fx.commit);
    CHECK(!fx_exists(path));
    snprintf(path, sizeof path, "%s/models--org--model/refs/v1.0", fx.cache);
    CHECK(fx_exists(path));

    /* Everything, automated from main. */
    CHECK_INT(hub_download_snapshot(h, FX_REPO, NULL, true, NULL, NULL, &res, &n, &err), 0);
    CHECK_INT(n, 4);
    int cached = 0;
    for (size_t i = 0; i < n; i++)
        cached += res[i].status == HUB_STATUS_CACHED;
    CHECK_INT(cached, 2);
    free(res);
    CHECK_INT(hub_list_files(h, "org/absent", "main", &l, &err), MM_ENOTFOUND);
    CHECK(l == NULL);
    hub_close(h);

    /* Offline, or with the Hub down, the cache lists what it holds. */
    h = fx_hub(&fx, NULL, true);
    size_t before = mockhub_request_count(fx.mh);
    CHECK_INT(hub_list_files(h, FX_REPO, "v1.0", &l, &err), 0);
    CHECK_STR(l->commit, fx.commit);
    CHECK_INT(l->n_files, 4);
    for (size_t i = 0; i < l->n_files; i++)
        CHECK(l->files[i].lfs == (strcmp(l->files[i].path, FX_SMALL) != 0));
    hub_listing_free(l);
    CHECK_INT(hub_download_snapshot(h, FX_REPO, fx.commit, false, inc, NULL, &res, &n, &err), 0);
    CHECK_INT(n, 3);
    free(res);
    CHECK_INT(hub_list_files(h, FX_REPO, "nope", &l, &err), MM_ENOTFOUND);
    CHECK_CONTAINS(err.message, "no refs/nope");
    CHECK_INT(mockhub_request_count(fx.mh), before);
    hub_close(h);
    h = fx_hub(&fx, NULL, false);
    mockhub_fault down = { .where = MOCKHUB_AT_HUB, .status = 503 };
    mockhub_fault_add(fx.mh, &down);
    CHECK_INT(hub_list_files(h, FX_REPO, "main", &l, &err), 0);
    CHECK_INT(l->n_files, 4);
    hub_listing_free(l);
    hub_close(h);
    fx_stop(&fx);
}

static void expect_quant(hub *h, const char *repo, const char *quant, int rc,
                         const char *first, size_t n_expected)
{
    hub_listing *l = NULL;
    mm_error err = { 0 };
    CHECK_INT(hub_list_files(h, repo, "main", &l, &err), 0);
    const char **paths = NULL;
    size_t n = 0;
    CHECK_INT(hub_pick_quant(l, quant, &paths, &n, &err), rc);
    if (rc == 0) {
        CHECK_INT(n, n_expected);
        CHECK_STR(paths[0], first);
    } else {
        CHECK_CONTAINS(err.message, first);
    }
    free(paths);
    hub_listing_free(l);
}

static void test_quant(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    mockhub_repo_add(fx.mh, "org/gguf", MOCKHUB_PUBLIC);
    mockhub_file_add(fx.mh, "org/gguf", "m-Q4_K_M.gguf", 100, 1, true);
    mockhub_file_add(fx.mh, "org/gguf", "m-Q4_K_M_L.gguf", 100, 2, true);
    mockhub_file_add(fx.mh, "org/gguf", "mmproj-Q5_K_M.gguf", 100, 3, true);
    mockhub_file_add(fx.mh, "org/gguf", "big/m-Q5_K_M-00002-of-00002.gguf", 100, 4, true);
    mockhub_file_add(fx.mh, "org/gguf", "big/m-Q5_K_M-00001-of-00002.gguf", 100, 5, true);
    mockhub_file_add(fx.mh, "org/gguf", "m-Q6_K-00001-of-00003.gguf", 100, 6, true);
    mockhub_file_add(fx.mh, "org/gguf", "m-Q6_K-00002-of-00003.gguf", 100, 7, true);
    mockhub_file_add(fx.mh, "org/gguf", "a-Q8_0.gguf", 100, 8, true);
    mockhub_file_add(fx.mh, "org/gguf", "b-Q8_0.gguf", 100, 9, true);
    hub *h = fx_hub(&fx, NULL, false);
    expect_quant(h, "org/gguf", "Q4_K_M", 0, "m-Q4_K_M.gguf", 1);
    expect_quant(h, "org/gguf", "q4_k_m_l", 0, "m-Q4_K_M_L.gguf", 1);
    expect_quant(h, "org/gguf", "Q5_K_M", 0, "big/m-Q5_K_M-00001-of-00002.gguf", 2);
    expect_quant(h, "org/gguf", "Q6_K", MM_EFORMAT, "part 3 of 3 is missing", 0);
    expect_quant(h, "org/gguf", "Q8_0", MM_EINVAL, "matches more than one model", 0);
    expect_quant(h, "org/gguf", "Q4", MM_ENOTFOUND, "no .gguf file for quant 'Q4'", 0);
    hub_close(h);
    fx_stop(&fx);
}

/* One bad file: the snapshot fails with that file's error, the others that
 * ran are reported, and nothing corrupt becomes visible. */
static void test_snapshot_failure(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    mockhub_file_info lfs;
    mockhub_file_info_get(fx.mh, FX_REPO, "main", FX_LFS, &lfs);
    char blob[128];
    snprintf(blob, sizeof blob, "/blob/%s", lfs.sha256);
    mockhub_fault bad = { .where = MOCKHUB_AT_CDN, .path_contains = blob, .corrupt = true };
    mockhub_fault_add(fx.mh, &bad);
    for (int parallel = 1; parallel <= 4; parallel += 3) {
        hub_options o;
        fx_opts(&fx, &o);
        o.parallel_files = parallel;
        hub *h = NULL;
        mm_error err = { 0 };
        CHECK_INT(hub_open(&o, &h, &err), 0);
        hub_result *res = NULL;
        size_t n = 0;
        CHECK_INT(hub_download_snapshot(h, FX_REPO, fx.commit, false, NULL, NULL, &res, &n, &err),
                  MM_EINTEGRITY);
        CHECK_CONTAINS(err.message, lfs.sha256);
        CHECK(n >= 1 && n <= 3);
        int failed = 0;
        for (size_t i = 0; i < n; i++)
            failed += res[i].status == HUB_STATUS_ERROR;
        CHECK_INT(failed, 1);
        free(res);
        hub_close(h);
    }
    char path[8192];
    snprintf(path, sizeof path, "%s/models--org--model/snapshots/%s/%s", fx.cache, fx.commit, FX_LFS);
    CHECK(!fx_exists(path));
    fx_stop(&fx);
}

int main(void)
{
    test_patterns();
    test_listing_and_snapshot();
    test_quant();
    test_snapshot_failure();
    return mmtest_finish();
}

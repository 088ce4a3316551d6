/* test-downloads.c - the manager's start-up downloads against the mock hub:
 * minimal models not on disk are pulled in the background as automated
 * downloads and join the manager's list, a failing one is logged and not
 * fatal, the update stamp is written only when every pull succeeded,
 * a fresh stamp with the models on disk means no request at all, and
 * skip_downloads / offline keep the manager off the network. */
// labels: integration
#include "runtime/runtime.h"
#include "support/mockhub.h"
#include "support/test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static char *tmp;
static mockhub *hub;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char logged[16384];

static void capture(mm_log_level level, const char *line, void *user)
{
    (void)level;
    (void)user;
    pthread_mutex_lock(&log_lock);
    size_t len = strlen(logged);
    snprintf(logged + len, sizeof logged - len, "%s\n", line);
    pthread_mutex_unlock(&log_lock);
}

static mm_config *make_config(const char *minimal, const char *extra)
{
    char dir[1100], file[1100], cache[1100], home[1100], ep[1100], min[1100], cfg_path[1100];
    snprintf(dir, sizeof dir, "models_dir=%s/models", tmp);
    snprintf(file, sizeof file, "models_file=%s/models.txt", tmp);
    snprintf(cache, sizeof cache, "hf_cache=%s/hub", tmp);
    snprintf(home, sizeof home, "HOME=%s", tmp);
    snprintf(ep, sizeof ep, "hf_endpoint=%s", mockhub_url(hub));
    snprintf(min, sizeof min, "minimal_models=%s", minimal);
    snprintf(cfg_path, sizeof cfg_path, "%s/empty.yaml", tmp);
    mmtest_write_file(cfg_path, "# empty\n");
    const char *env[] = { home, NULL };
    const char *flags[] = { dir, file, cache, ep, min, "hf_token=", extra, NULL };
    mm_config_sources src = { .config_path = cfg_path, .env = env, .flags = flags };
    mm_config *cfg = NULL;
    mm_error err = { 0 };
    if (mm_config_load(&src, &cfg, &err) != 0)
        fprintf(stderr, "config: %s\n", err.message);
    return cfg;
}

static bool has_row(mm_manager *mgr, const char *key)
{
    mm_model_health *rows = NULL;
    size_t n = 0;
    bool found = false;
    if (mm_manager_list(mgr, &rows, &n, NULL) == 0)
        for (size_t i = 0; i < n; i++)
            found = found || (strcmp(rows[i].key, key) == 0 && rows[i].path[0]);
    free(rows);
    return found;
}

static rt_stamp_state stamp_state(void)
{
    char *dir = mm_path_join(tmp, "models");
    int64_t last;
    bool due;
    rt_stamp_state st = rt_stamp_read(dir, 86400, mm_wall_ms() / 1000, &last, &due);
    free(dir);
    return st;
}

static void test_download_and_failure(void)
{
    mm_config *cfg = make_config("org/tiny-GGUF,org/missing", NULL);
    mm_manager *mgr = NULL;
    CHECK_INT(mm_manager_open(cfg, &mgr, NULL), 0);
    if (!mgr)
        return;
    CHECK(!has_row(mgr, "tiny"));
    logged[0] = '\0';
    mm_log_set_callback(capture, NULL);
    CHECK_INT(mm_manager_start_downloads(mgr, NULL), 0);
    mm_error err = { 0 };
    CHECK_INT(mm_manager_start_downloads(mgr, &err), MM_EEXIST);
    CHECK(mm_manager_wait_downloads(mgr, 120000));
    mm_log_set_callback(NULL, NULL);
    CHECK(has_row(mgr, "tiny"));   /* the refreshed catalog has the download */
    CHECK_CONTAINS(logged, "start-up download of 'org/missing' failed; carrying on without it");
    CHECK(mockhub_bytes_sent(hub, "") >= 4096);   /* the file's bytes came over the wire */
    mm_manager_close(mgr);
    mm_config_free(cfg);
    /* One pull failed: no stamp, so the next start checks again. */
    CHECK_INT(stamp_state(), RT_STAMP_MISSING);
}

static void test_stamp_written_then_quiet(void)
{
    mm_config *cfg = make_config("org/tiny-GGUF", NULL);
    mm_manager *mgr = NULL;
    CHECK_INT(mm_manager_open(cfg, &mgr, NULL), 0);
    CHECK_INT(mm_manager_start_downloads(mgr, NULL), 0);
    CHECK(mm_manager_wait_downloads(mgr, 120000));
    mm_manager_close(mgr);
    CHECK_INT(stamp_state(), RT_STAMP_FRESH);

    /* Fresh stamp, but the file is not a GGUF the catalog accepts, so it is
     * not "on disk" as a usable model: it is pulled again, from the cache. */
    mockhub_log_clear(hub);
    CHECK_INT(mm_manager_open(cfg, &mgr, NULL), 0);
    CHECK_INT(mm_manager_start_downloads(mgr, NULL), 0);
    CHECK(mm_manager_wait_downloads(mgr, 120000));
    CHECK_INT(mockhub_bytes_sent(hub, ""), 0);   /* cached: no file bytes again */
    mm_manager_close(mgr);
    mm_config_free(cfg);
}

static void test_off_switches(void)
{
    const char *offs[] = { "skip_downloads=true", "offline=true" };
    for (size_t i = 0; i < MM_ARRAY_LEN(offs); i++) {
        mm_config *cfg = make_config("org/other-GGUF", offs[i]);
        mockhub_log_clear(hub);
        mm_manager *mgr = NULL;
        CHECK_INT(mm_manager_open(cfg, &mgr, NULL), 0);
        CHECK_INT(mm_manager_start_downloads(mgr, NULL), 0);
        CHECK(mm_manager_wait_downloads(mgr, 1000));
        CHECK_INT(mockhub_request_count(hub), 0);
        mm_manager_close(mgr);
        mm_config_free(cfg);
    }
}

int main(void)
{
    tmp = mmtest_tmpdir();
    mockhub_options mo = { 0 };
    if (mockhub_start(&mo, &hub) != 0)
        mmtest_skip("cannot start the mock hub on 127.0.0.1");
    CHECK_INT(mockhub_repo_add(hub, "org/tiny-GGUF", MOCKHUB_PUBLIC), 0);
    CHECK_INT(mockhub_file_add(hub, "org/tiny-GGUF", "tiny.gguf", 4096, 7, true), 0);
    CHECK_INT(mockhub_repo_add(hub, "org/other-GGUF", MOCKHUB_PUBLIC), 0);
    test_download_and_failure();
    test_stamp_written_then_quiet();
    test_off_switches();
    mockhub_stop(hub);
    mmtest_rmtree(tmp);
    free(tmp);
    return mmtest_finish();
}

/* test-downloads.c - the manager's start-up downloads against the mock hub:
 * minimal models not on disk are pulled in the background as automated
 * downloads and join the manager's list, a failing one is logged and not
 * fatal, the update stamp is written only when every pull succeeded,
 * a fresh stamp with the models on disk means no request at all, a due
 * update check reports a moved branch of a models.lock entry (and pulls it
 * only with auto_update), and skip_downloads / offline keep the manager off
 * the network. */
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
    {   /* the Hub answered every contact (org/missing's with a 404) */
        int64_t when = 0;
        bool reachable = false;
        char why[256];
        CHECK(rt_hub_contact_get(mgr, &when, &reachable, why, sizeof why));
        CHECK(reachable && when > 0);
    }
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

/* Whether models.lock mentions commit (the repos' commits all differ). */
static bool lock_has(const char *commit)
{
    char *lock = mm_path_join(tmp, "models.lock");
    char *text = NULL;
    CHECK_INT(mm_file_read(lock, 1 << 20, &text, NULL, NULL), 0);
    bool has = text && strstr(text, commit);
    free(text);
    free(lock);
    return has;
}

/* Start a manager, run its downloads to the end with the log captured. */
static void run_downloads(mm_config *cfg)
{
    mm_manager *mgr = NULL;
    logged[0] = '\0';
    CHECK_INT(mm_manager_open(cfg, &mgr, NULL), 0);
    mm_log_set_callback(capture, NULL);
    CHECK_INT(mm_manager_start_downloads(mgr, NULL), 0);
    CHECK(mm_manager_wait_downloads(mgr, 120000));
    mm_log_set_callback(NULL, NULL);
    mm_manager_close(mgr);
}

static void test_update_check(void)
{
    /* org/follow is in models.lock following main (an automated pull), not
     * a minimal model: only the update check looks at it. */
    mm_config *cfg = make_config("org/tiny-GGUF", NULL);
    char *lock = mm_path_join(tmp, "models.lock");
    mm_pull_request rq = { .repo = "org/follow", .file = "f.bin", .automated = true,
                           .models_dir = cfg->models_dir, .lock_path = lock };
    mm_pull_file files[2];
    size_t n = 0;
    CHECK_INT(mm_pull(cfg, &rq, NULL, NULL, files, 2, &n, NULL), 0);
    free(lock);
    char old[41], head[41];
    mockhub_ref_commit(hub, "org/follow", "main", old);
    mockhub_commit(hub, "org/follow", "main");
    mockhub_file_add(hub, "org/follow", "f.bin", 600, 32, true);
    mockhub_ref_commit(hub, "org/follow", "main", head);
    mockhub_file_info info;
    mockhub_file_info_get(hub, "org/follow", "main", "f.bin", &info);
    char blob[128];
    snprintf(blob, sizeof blob, "/blob/%s", info.sha256);
    char *dir = mm_path_join(tmp, "models");

    /* Fresh stamp: no check. */
    CHECK_INT(rt_stamp_write(dir, mm_wall_ms() / 1000, NULL), 0);
    mockhub_log_clear(hub);
    run_downloads(cfg);
    CHECK_INT(mockhub_count(hub, NULL, "org/follow"), 0);
    CHECK(!strstr(logged, "update available"));

    /* Due: the move is reported, nothing is pulled, the stamp is renewed. */
    CHECK_INT(rt_stamp_write(dir, 1000, NULL), 0);
    run_downloads(cfg);
    char line[256];
    snprintf(line, sizeof line, "update available for org/follow (main): %s -> %s; run "
             "'modelmgr update --apply' or set auto_update", old, head);
    CHECK_CONTAINS(logged, line);
    CHECK_INT(mockhub_count(hub, "GET", blob), 0);
    CHECK(lock_has(old) && !lock_has(head));
    CHECK_INT(stamp_state(), RT_STAMP_FRESH);
    mm_config_free(cfg);

    /* Due with auto_update: pulled, the lock follows. */
    cfg = make_config("org/tiny-GGUF", "auto_update=true");
    CHECK_INT(rt_stamp_write(dir, 1000, NULL), 0);
    run_downloads(cfg);
    snprintf(line, sizeof line, "updated org/follow (main): %s -> %s (1 file)", old, head);
    CHECK_CONTAINS(logged, line);
    CHECK_INT(mockhub_count(hub, "GET", blob), 1);
    CHECK(!lock_has(old) && lock_has(head));
    CHECK_INT(stamp_state(), RT_STAMP_FRESH);
    mm_config_free(cfg);
    free(dir);
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
        int64_t when = 0;
        bool reachable = true;
        char why[256];
        CHECK(!rt_hub_contact_get(mgr, &when, &reachable, why, sizeof why));   /* no contact */
        mm_manager_close(mgr);
        mm_config_free(cfg);
    }
}

/* A Hub that does not answer: the contact is recorded as unreachable. */
static void test_unreachable(void)
{
    mm_config *cfg = make_config("org/other-GGUF", "hf_endpoint=http://127.0.0.1:1");
    mm_manager *mgr = NULL;
    CHECK_INT(mm_manager_open(cfg, &mgr, NULL), 0);
    if (!mgr) {
        mm_config_free(cfg);
        return;
    }
    CHECK_INT(mm_manager_start_downloads(mgr, NULL), 0);
    CHECK(mm_manager_wait_downloads(mgr, 120000));
    int64_t when = 0;
    bool reachable = true;
    char why[256];
    CHECK(rt_hub_contact_get(mgr, &when, &reachable, why, sizeof why));
    CHECK(!reachable && when > 0 && why[0]);
    mm_manager_close(mgr);
    mm_config_free(cfg);
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
    CHECK_INT(mockhub_repo_add(hub, "org/follow", MOCKHUB_PUBLIC), 0);
    CHECK_INT(mockhub_file_add(hub, "org/follow", "f.bin", 500, 31, true), 0);
    test_update_check();
    test_off_switches();
    test_unreachable();
    mockhub_stop(hub);
    mmtest_rmtree(tmp);
    free(tmp);
    return mmtest_finish();
}

/* test-hub-unsynced.c - blobs renamed into the cache before they are on
 * disk: the durable marker a download leaves, and what a later run does with
 * it after a simulated power loss (a marker of another boot): an intact blob
 * is accepted, a corrupt one is removed and fetched again (online) or
 * refused with a clear error (offline, or through a models_dir link as the
 * loader checks it). download_fsync (sync_downloads) leaves no marker.
 * Small files are fsynced instead of marked. Threads racing on one marked
 * blob hash it once and all succeed. */
// labels: integration
#include "hub-fixture.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#define OTHER_BOOT "modelmgr-unsynced 1 00000000-0000-0000-0000-000000000000\n"
#define CORRUPT_MSG "was not completely on disk when the machine stopped"

static hub *open_hub(const fixture *fx, bool offline, bool sync, uint64_t part_min)
{
    hub_options o;
    fx_opts(fx, &o);
    o.offline = offline;
    o.sync_downloads = sync;
    o.unsynced_min_bytes = 0;   /* the fixture's files are small: mark them as large ones */
    if (part_min)
        o.part_min_bytes = part_min;
    hub *h = NULL;
    mm_error err = { 0 };
    CHECK_INT(hub_open(&o, &h, &err), 0);
    return h;
}

static void blob_paths(const fixture *fx, const char *sha, char *blob, char *marker, size_t size)
{
    snprintf(blob, size, "%s/models--org--model/blobs/%s", fx->cache, sha);
    snprintf(marker, size, "%s/models--org--model/.unsynced/%s", fx->cache, sha);
}

static void write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK_INT((int)write(fd, text, strlen(text)), (int)strlen(text));
    close(fd);
}

/* What a power loss may leave of unwritten pages: zeros in the middle. */
static void corrupt(const char *path)
{
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0);
    char zeros[4096] = { 0 };
    CHECK_INT((int)pwrite(fd, zeros, sizeof zeros, 65536), (int)sizeof zeros);
    close(fd);
}

/* The marker names this boot, read here from the kernel on its own. */
static void check_marker_this_boot(const char *marker)
{
    char *text = NULL, id[64] = "";
    CHECK_INT(mm_file_read(marker, 256, &text, NULL, NULL), 0);
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY);
    if (fd >= 0) {
        ssize_t n = read(fd, id, sizeof id - 1);
        close(fd);
        id[n > 0 ? n : 0] = '\0';
    }
    char want[128];
    snprintf(want, sizeof want, "modelmgr-unsynced 1 %s", id[0] ? id : "unknown\n");
    CHECK_STR(text ? text : "", want);
    free(text);
}

static void test_marker_and_settle(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    mockhub_file_info lfs;
    CHECK_INT(mockhub_file_info_get(fx.mh, FX_REPO, "main", FX_LFS, &lfs), 0);
    char blob[8192], marker[8192], dir[8192];
    blob_paths(&fx, lfs.sha256, blob, marker, sizeof blob);
    hub *h = open_hub(&fx, false, false, 0);
    hub_result res;
    mm_error err = { 0 };
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, fx.commit, false, &res, &err), 0);
    CHECK_INT(res.status, HUB_STATUS_DOWNLOADED);
    CHECK(fx_content_is(blob, FX_LFS_SEED, FX_LFS_SIZE));
    check_marker_this_boot(marker);
    /* Nothing but the blob in blobs/, where huggingface_hub looks. */
    snprintf(dir, sizeof dir, "%s/models--org--model/blobs", fx.cache);
    CHECK_INT(fx_count_entries(dir, NULL), 1);

    /* Same boot, just written: trusted as is, the marker stays. */
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, fx.commit, false, &res, &err), 0);
    CHECK_INT(res.status, HUB_STATUS_CACHED);
    CHECK(fx_exists(marker));
    CHECK_INT(hub_unsynced_check(blob, &err), 0);
    CHECK(fx_exists(marker));

    /* Written two minutes ago: fsynced and the marker goes. */
    struct timespec old[2] = { { .tv_sec = time(NULL) - 120 }, { .tv_sec = time(NULL) - 120 } };
    CHECK_INT(utimensat(AT_FDCWD, blob, old, 0), 0);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, fx.commit, false, &res, &err), 0);
    CHECK_INT(res.status, HUB_STATUS_CACHED);
    CHECK(!fx_exists(marker));
    CHECK(fx_content_is(blob, FX_LFS_SEED, FX_LFS_SIZE));
    hub_close(h);
    fx_stop(&fx);
}

/* A marker of another boot: the machine stopped after the rename. */
static void test_restart_intact_and_corrupt(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    mockhub_file_info lfs;
    CHECK_INT(mockhub_file_info_get(fx.mh, FX_REPO, "main", FX_LFS, &lfs), 0);
    char blob[8192], marker[8192];
    blob_paths(&fx, lfs.sha256, blob, marker, sizeof blob);
    hub *h = open_hub(&fx, false, false, 0);
    hub_result res;
    mm_error err = { 0 };
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, fx.commit, false, &res, &err), 0);
    size_t gets = mockhub_count(fx.mh, "GET", lfs.sha256);
    CHECK(gets >= 1);

    /* Intact: hashed again, accepted, the marker goes; no network. */
    write_text(marker, OTHER_BOOT);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, fx.commit, false, &res, &err), 0);
    CHECK_INT(res.status, HUB_STATUS_CACHED);
    CHECK(!fx_exists(marker));
    CHECK_INT(mockhub_count(fx.mh, "GET", lfs.sha256), gets);

    /* Corrupt: removed and fetched again, intact. */
    write_text(marker, OTHER_BOOT);
    corrupt(blob);
    CHECK(!fx_content_is(blob, FX_LFS_SEED, FX_LFS_SIZE));
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, fx.commit, false, &res, &err), 0);
    CHECK_INT(res.status, HUB_STATUS_DOWNLOADED);
    CHECK_STR(res.sha256, lfs.sha256);
    CHECK(fx_content_is(blob, FX_LFS_SEED, FX_LFS_SIZE));
    CHECK_INT(mockhub_count(fx.mh, "GET", lfs.sha256), gets + 1);
    check_marker_this_boot(marker);   /* the new download's own */

    /* The same through a non-commit revision (HEAD, then the blob check). */
    write_text(marker, OTHER_BOOT);
    corrupt(blob);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, "v1.0", false, &res, &err), 0);
    CHECK_INT(res.status, HUB_STATUS_DOWNLOADED);
    CHECK(fx_content_is(blob, FX_LFS_SEED, FX_LFS_SIZE));
    hub_close(h);

    /* Offline: nothing to fetch it from; a clear refusal, the blob gone. */
    write_text(marker, OTHER_BOOT);
    corrupt(blob);
    h = open_hub(&fx, true, false, 0);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, fx.commit, false, &res, &err),
              MM_EINTEGRITY);
    CHECK_CONTAINS(err.message, blob);
    CHECK_CONTAINS(err.message, CORRUPT_MSG);
    CHECK_CONTAINS(err.message, lfs.sha256);
    CHECK_CONTAINS(err.message, "it was removed: pull the model again");
    CHECK(!fx_exists(blob));
    CHECK(!fx_exists(marker));
    /* ...and then it is simply not there. */
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, fx.commit, false, &res, &err), MM_ENOTFOUND);
    hub_close(h);
    fx_stop(&fx);
}

/* The loader's check: a models_dir link to the snapshot link to the blob. */
static void test_check_through_links(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    mockhub_file_info lfs;
    CHECK_INT(mockhub_file_info_get(fx.mh, FX_REPO, "main", FX_LFS, &lfs), 0);
    char blob[8192], marker[8192], link[8192];
    blob_paths(&fx, lfs.sha256, blob, marker, sizeof blob);
    hub *h = open_hub(&fx, false, false, 0);
    hub_result res;
    mm_error err = { 0 };
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, fx.commit, false, &res, &err), 0);
    hub_close(h);
    snprintf(link, sizeof link, "%s/model.gguf", fx.tmp);
    CHECK_INT(symlink(res.path, link), 0);

    CHECK_INT(hub_unsynced_check_file(link, &err), 0);     /* this boot */
    write_text(marker, OTHER_BOOT);
    CHECK_INT(hub_unsynced_check_file(link, &err), 0);     /* intact */
    CHECK(!fx_exists(marker));
    write_text(marker, OTHER_BOOT);
    corrupt(blob);
    CHECK_INT(hub_unsynced_check_file(link, &err), MM_EINTEGRITY);
    CHECK_CONTAINS(err.message, CORRUPT_MSG);
    CHECK(!fx_exists(blob));
    /* A dangling link is the caller's "not found", not ours. */
    CHECK_INT(hub_unsynced_check_file(link, &err), 0);

    /* A marker that is not ours to read (garbage) counts as another boot. */
    CHECK_INT(hub_download_file(h = open_hub(&fx, false, false, 0), FX_REPO, FX_LFS, fx.commit,
                                false, &res, &err), 0);
    hub_close(h);
    write_text(marker, "garbage");
    CHECK_INT(hub_unsynced_check_file(link, &err), 0);
    CHECK(!fx_exists(marker));
    fx_stop(&fx);
}

/* Parallel parts leave the marker too; download_fsync leaves none. */
static void test_parts_and_sync_option(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    mockhub_file_info lfs;
    CHECK_INT(mockhub_file_info_get(fx.mh, FX_REPO, "main", FX_LFS, &lfs), 0);
    char blob[8192], marker[8192], dir[8192];
    blob_paths(&fx, lfs.sha256, blob, marker, sizeof blob);
    hub *h = open_hub(&fx, false, false, 32768);   /* 200000 bytes: 4 workers on parts */
    hub_result res;
    mm_error err = { 0 };
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, fx.commit, false, &res, &err), 0);
    CHECK_INT(res.status, HUB_STATUS_DOWNLOADED);
    CHECK(mockhub_count(fx.mh, "GET", lfs.sha256) >= 2);   /* Range parts, not one stream */
    CHECK(fx_content_is(blob, FX_LFS_SEED, FX_LFS_SIZE));
    check_marker_this_boot(marker);
    hub_close(h);

    /* download_fsync: fsynced before the rename, so nothing to mark; a
     * marker left by an earlier run goes. */
    fixture fx2;
    fx_start(&fx2, NULL);
    blob_paths(&fx2, lfs.sha256, blob, marker, sizeof blob);
    snprintf(dir, sizeof dir, "%s/models--org--model/.unsynced", fx2.cache);
    CHECK_INT(mm_mkdirs(dir, &err), 0);
    write_text(marker, OTHER_BOOT);
    h = open_hub(&fx2, false, true, 0);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, fx2.commit, false, &res, &err), 0);
    CHECK_INT(res.status, HUB_STATUS_DOWNLOADED);
    CHECK(fx_content_is(blob, FX_LFS_SEED, FX_LFS_SIZE));
    CHECK(!fx_exists(marker));
    hub_close(h);
    h = open_hub(&fx2, false, true, 32768);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_NESTED, fx2.commit, false, &res, &err), 0);
    CHECK_INT(fx_count_entries(dir, NULL), 0);
    hub_close(h);
    fx_stop(&fx2);
    fx_stop(&fx);
}

/* Under unsynced_min_bytes a blob is fsynced before the rename, unmarked. */
static void test_small_files_unmarked(void)
{
    hub_options o;
    hub_options_init(&o);
    CHECK(o.unsynced_min_bytes == 16u * 1024 * 1024);   /* the documented 16 MiB */
    CHECK(!o.sync_downloads);

    fixture fx;
    fx_start(&fx, NULL);
    mockhub_file_info lfs, small;
    CHECK_INT(mockhub_file_info_get(fx.mh, FX_REPO, "main", FX_LFS, &lfs), 0);
    CHECK_INT(mockhub_file_info_get(fx.mh, FX_REPO, "main", FX_SMALL, &small), 0);
    char blob[8192], marker[8192], dir[8192];
    snprintf(dir, sizeof dir, "%s/models--org--model/.unsynced", fx.cache);
    hub_result res;
    mm_error err = { 0 };

    /* The threshold between the two files: the 200000-byte one is marked,
     * the 300-byte one is not. */
    fx_opts(&fx, &o);
    o.unsynced_min_bytes = 100000;
    hub *h = NULL;
    CHECK_INT(hub_open(&o, &h, &err), 0);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_SMALL, fx.commit, false, &res, &err), 0);
    CHECK_INT(res.status, HUB_STATUS_DOWNLOADED);
    CHECK_INT(fx_count_entries(dir, NULL), 0);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, fx.commit, false, &res, &err), 0);
    CHECK_INT(res.status, HUB_STATUS_DOWNLOADED);
    blob_paths(&fx, lfs.sha256, blob, marker, sizeof blob);
    check_marker_this_boot(marker);
    CHECK_INT(fx_count_entries(dir, NULL), 1);
    hub_close(h);
    fx_stop(&fx);

    /* The default (16 MiB): neither is marked, and a marker an earlier run
     * left for the blob goes once the new copy is fsynced. */
    fx_start(&fx, NULL);
    snprintf(dir, sizeof dir, "%s/models--org--model/.unsynced", fx.cache);
    blob_paths(&fx, lfs.sha256, blob, marker, sizeof blob);
    CHECK_INT(mm_mkdirs(dir, &err), 0);
    write_text(marker, OTHER_BOOT);
    fx_opts(&fx, &o);
    CHECK_INT(hub_open(&o, &h, &err), 0);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_LFS, fx.commit, false, &res, &err), 0);
    CHECK_INT(res.status, HUB_STATUS_DOWNLOADED);
    CHECK(fx_content_is(blob, FX_LFS_SEED, FX_LFS_SIZE));
    CHECK(!fx_exists(marker));
    CHECK_INT(hub_download_file(h, FX_REPO, FX_SMALL, fx.commit, false, &res, &err), 0);
    CHECK_INT(fx_count_entries(dir, NULL), 0);
    hub_close(h);
    fx_stop(&fx);
}

/* ---- several checkers meet one marked blob after a restart ---- */

#define RACERS 4
#define RACE_BYTES (24u << 20)   /* long enough to hash that the racers overlap */

typedef struct race {
    pthread_barrier_t go;
    const char *blob;
    int rc[RACERS];
    char msg[RACERS][512];
} race;

static pthread_mutex_t rehash_mu = PTHREAD_MUTEX_INITIALIZER;
static int rehash_logs;

static void count_rehash(mm_log_level level, const char *line, void *user)
{
    (void)level;
    (void)user;
    if (strstr(line, "hashing it again")) {
        pthread_mutex_lock(&rehash_mu);
        rehash_logs++;
        pthread_mutex_unlock(&rehash_mu);
    }
}

typedef struct racer {
    race *r;
    int i;
} racer;

static void *run_racer(void *arg)
{
    racer *me = arg;
    mm_error err = { 0 };
    pthread_barrier_wait(&me->r->go);
    me->r->rc[me->i] = hub_unsynced_check(me->r->blob, &err);
    snprintf(me->r->msg[me->i], sizeof me->r->msg[me->i], "%s", err.message);
    return NULL;
}

/* A blob of RACE_BYTES named by its SHA-256 as sha256sum (coreutils) computes it. */
static void make_named_blob(const char *tmp, char *blob, char *marker, size_t size)
{
    char dir[4200], path[4300], cmd[4400], sha[65] = "";
    snprintf(dir, sizeof dir, "%s/models--org--race/blobs", tmp);
    mm_error err = { 0 };
    CHECK_INT(mm_mkdirs(dir, &err), 0);
    snprintf(dir, sizeof dir, "%s/models--org--race/.unsynced", tmp);
    CHECK_INT(mm_mkdirs(dir, &err), 0);
    snprintf(path, sizeof path, "%s/race.bin", tmp);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    uint64_t rng = 42;
    for (size_t i = 0; f && i < RACE_BYTES / 8; i++) {
        uint64_t v = mmtest_rng_u64(&rng);
        fwrite(&v, 8, 1, f);
    }
    if (f)
        fclose(f);
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", path);
    FILE *p = popen(cmd, "r");
    if (!p || fscanf(p, "%64s", sha) != 1 || strlen(sha) != 64)
        mmtest_skip("sha256sum is not available");
    pclose(p);
    snprintf(blob, size, "%s/models--org--race/blobs/%s", tmp, sha);
    snprintf(marker, size, "%s/models--org--race/.unsynced/%s", tmp, sha);
    CHECK_INT(rename(path, blob), 0);
}

static void run_race(race *r)
{
    pthread_t t[RACERS];
    racer who[RACERS];
    CHECK_INT(pthread_barrier_init(&r->go, NULL, RACERS), 0);
    for (int i = 0; i < RACERS; i++) {
        who[i] = (racer){ .r = r, .i = i };
        CHECK_INT(pthread_create(&t[i], NULL, run_racer, &who[i]), 0);
    }
    for (int i = 0; i < RACERS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&r->go);
}

static void test_concurrent_check(void)
{
    char *tmp = mmtest_tmpdir();
    char blob[8192], marker[8192];
    make_named_blob(tmp, blob, marker, sizeof blob);
    mm_log_level was = mm_log_get_level();
    mm_log_set_level(MM_LOG_LEVEL_INFO);
    mm_log_set_callback(count_rehash, NULL);

    /* Intact: every racer succeeds, one hash, the blob stays, the marker goes. */
    race r = { .blob = blob };
    write_text(marker, OTHER_BOOT);
    run_race(&r);
    for (int i = 0; i < RACERS; i++) {
        if (r.rc[i] != 0)
            fprintf(stderr, "racer %d: %s\n", i, r.msg[i]);
        CHECK_INT(r.rc[i], 0);
    }
    CHECK_INT(rehash_logs, 1);
    CHECK(fx_exists(blob));
    CHECK(!fx_exists(marker));

    /* Corrupt: one racer reports it (and removes it); the others find the
     * marker gone after waiting, and no read error. */
    rehash_logs = 0;
    r = (race){ .blob = blob };
    write_text(marker, OTHER_BOOT);
    corrupt(blob);
    run_race(&r);
    int integrity = 0;
    for (int i = 0; i < RACERS; i++) {
        integrity += r.rc[i] == MM_EINTEGRITY;
        if (r.rc[i] == MM_EINTEGRITY)
            CHECK_CONTAINS(r.msg[i], CORRUPT_MSG);
        else
            CHECK_INT(r.rc[i], 0);
    }
    CHECK_INT(integrity, 1);
    CHECK_INT(rehash_logs, 1);
    CHECK(!fx_exists(blob));
    CHECK(!fx_exists(marker));

    mm_log_set_callback(NULL, NULL);
    mm_log_set_level(was);
    mmtest_rmtree(tmp);
    free(tmp);
}

int main(void)
{
    mm_log_set_level(MM_LOG_LEVEL_ERROR);
    test_marker_and_settle();
    test_restart_intact_and_corrupt();
    test_check_through_links();
    test_parts_and_sync_option();
    test_small_files_unmarked();
    test_concurrent_check();
    return mmtest_finish();
}

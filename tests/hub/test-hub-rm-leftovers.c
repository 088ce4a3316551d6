/* test-hub-rm-leftovers.c - `modelmgr rm` of a whole repo also removes what
 * a killed download left (its partial file and .unsynced/ marker), so the
 * repo folder goes; a download still running (its lock held) keeps its
 * partial file and marker, and the folder stays for it. */
// labels: integration
#include "hub-fixture.h"

#include <unistd.h>

int main(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    mockhub_file_info lfs;
    CHECK_INT(mockhub_file_info_get(fx.mh, FX_REPO, "main", FX_LFS, &lfs), 0);

    /* A download cut mid-transfer (the connection drops, then the CDN
     * answers 503 and there are no retries): its partial file is kept to
     * resume, and with it its marker (the file is marked as a large one
     * would be), as a killed process leaves them. */
    hub_options o;
    fx_opts(&fx, &o);
    o.unsynced_min_bytes = 0;
    o.max_retries = 0;
    hub *h = NULL;
    mm_error err = { 0 };
    CHECK_INT(hub_open(&o, &h, &err), 0);
    CHECK_INT(hub_download_file(h, FX_REPO, FX_SMALL, fx.commit, false, &(hub_result){ 0 }, &err),
              0);
    mockhub_fault cut = { .where = MOCKHUB_AT_CDN, .method = "GET", .drop_after = 50000,
                          .times = 1 };
    mockhub_fault down = { .where = MOCKHUB_AT_CDN, .method = "GET", .status = 503 };
    CHECK_INT(mockhub_fault_add(fx.mh, &cut), 0);
    CHECK_INT(mockhub_fault_add(fx.mh, &down), 0);
    hub_result res;
    CHECK(hub_download_file(h, FX_REPO, FX_LFS, fx.commit, false, &res, &err) != 0);
    mockhub_faults_clear(fx.mh);

    char repo_dir[4200], partial[4400], marker[4400], running[4400], running_marker[4400];
    snprintf(repo_dir, sizeof repo_dir, "%s/models--org--model", fx.cache);
    snprintf(partial, sizeof partial, "%s/blobs/%s.incomplete", repo_dir, lfs.sha256);
    snprintf(marker, sizeof marker, "%s/.unsynced/%s", repo_dir, lfs.sha256);
    CHECK(fx_exists(partial));
    CHECK(fx_exists(marker));

    /* A second download "running": this process holds its lock. */
    const char *other = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    snprintf(running, sizeof running, "%s/blobs/%s.incomplete", repo_dir, other);
    snprintf(running_marker, sizeof running_marker, "%s/.unsynced/%s", repo_dir, other);
    mmtest_write_file(running, "partial bytes");
    mmtest_write_file(running_marker, "modelmgr-unsynced 1 unknown\n");
    int lock = -1;
    CHECK_INT(hub_cache_lock(h, FX_REPO, other, &lock, &err), 0);

    char *out = NULL, *errs = NULL;
    const char *rm_all[] = { "rm", FX_REPO, NULL };
    CHECK_INT(fx_cli(&fx, rm_all, &out, &errs), 0);
    CHECK_CONTAINS(out, "removed org/model: 1 snapshot (1 link), ");
    CHECK_CONTAINS(out, "1 blob (300 B)");   /* config.json; partial files are no blobs */
    free(out);
    free(errs);
    CHECK(!fx_exists(partial));
    CHECK(!fx_exists(marker));
    CHECK(fx_exists(running));          /* the running download's own */
    CHECK(fx_exists(running_marker));
    CHECK(fx_exists(repo_dir));         /* kept for it */

    /* Once it has stopped (killed too), rm takes the rest and the folder. */
    hub_cache_unlock(lock);
    CHECK_INT(fx_cli(&fx, rm_all, &out, &errs), 0);
    free(out);
    free(errs);
    CHECK(!fx_exists(running));
    CHECK(!fx_exists(running_marker));
    CHECK(!fx_exists(repo_dir));

    hub_close(h);
    fx_stop(&fx);
    return mmtest_finish();
}

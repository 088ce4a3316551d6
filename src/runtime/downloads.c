/* downloads.c - the manager's start-up network work, in one background
 * thread: first-run downloads of minimal_models that are not on disk, and,
 * when the update-check stamp says one is due, an update check of every
 * model in models.lock (mm_update_check) that only reports branches that
 * moved, or pulls them when auto_update is on. Nothing here is ever fatal:
 * failures are logged and the manager carries on. */
#include "runtime/runtime.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DL_FILES_MAX 256   /* files reported per pull */

/* Whether the catalog already has entry ("org/name" or "org/name:QUANT")
 * on disk. */
static bool on_disk(mm_manager *mgr, const char *entry)
{
    size_t len = strcspn(entry, ":");
    bool found = false;
    pthread_mutex_lock(&mgr->lock);
    for (size_t i = 0; i < mgr->n_models && !found; i++) {
        const mm_model_info *info = mgr->models[i]->info;
        found = info->repo && strlen(info->repo) == len &&
                strncasecmp(info->repo, entry, len) == 0 && info->state == MM_MODEL_AVAILABLE;
    }
    pthread_mutex_unlock(&mgr->lock);
    return found;
}

static bool stopping(mm_manager *mgr)
{
    pthread_mutex_lock(&mgr->lock);
    bool stop = mgr->stopping;
    pthread_mutex_unlock(&mgr->lock);
    return stop;
}

/* The due update check: each models.lock entry's branch compared with the
 * Hub, logged; pulled only with auto_update. Returns the number of failures
 * (a failure keeps the stamp old so the next start checks again). */
void rt_hub_contact_note(mm_manager *mgr, int rc, const mm_error *err)
{
    if (!mgr)
        return;
    pthread_mutex_lock(&mgr->lock);
    mgr->hub_contact_ms = mm_wall_ms();
    mgr->hub_reachable = rc != MM_ENET && rc != MM_ETIMEDOUT;
    mm_strlcpy(mgr->hub_error, rc != 0 && err ? err->message : "", sizeof mgr->hub_error);
    pthread_mutex_unlock(&mgr->lock);
}

bool rt_hub_contact_get(mm_manager *mgr, int64_t *when_ms, bool *reachable, char *error,
                        size_t error_size)
{
    pthread_mutex_lock(&mgr->lock);
    bool known = mgr->hub_contact_ms != 0;
    *when_ms = mgr->hub_contact_ms;
    *reachable = mgr->hub_reachable;
    mm_strlcpy(error, mgr->hub_error, error_size);
    pthread_mutex_unlock(&mgr->lock);
    return known;
}

static size_t update_check(mm_manager *mgr, const mm_config *cfg, size_t *applied)
{
    char *lock_path = mm_lock_path(cfg);
    mm_update_row *rows = NULL;
    size_t n = 0, failed = 0;
    mm_error err = { 0 };
    int rc = lock_path ? mm_update_check(cfg, lock_path, cfg->models_dir, NULL, cfg->auto_update,
                                         &rows, &n, &err)
                       : mm_error_set(&err, MM_ENOMEM, "out of memory");
    if (rc != MM_ENOTFOUND)
        rt_hub_contact_note(mgr, rc, &err);
    if (rc == MM_ENOTFOUND) {
        MM_LOG_INFO("update check: no models.lock at %s, nothing to check", lock_path);
    } else if (rc != 0) {
        MM_LOG_WARN("update check failed: %s", err.message);
        failed++;
    }
    for (size_t i = 0; i < n; i++) {
        const mm_update_row *r = &rows[i];
        if (r->state == MM_UPDATE_AVAILABLE)
            MM_LOG_WARN("update available for %s (%s): %s -> %s; run 'modelmgr update --apply' "
                        "or set auto_update", r->repo, r->revision, r->current, r->available);
        else if (r->state == MM_UPDATE_APPLIED)
            MM_LOG_INFO("updated %s (%s): %s -> %s (%zu file%s)", r->repo, r->revision,
                        r->current, r->available, r->n_files, r->n_files == 1 ? "" : "s");
        else if (r->state == MM_UPDATE_ERROR)
            MM_LOG_WARN("update check of %s failed: %s", r->repo, r->message);
        failed += r->state == MM_UPDATE_ERROR;
        *applied += r->state == MM_UPDATE_APPLIED;
    }
    free(rows);
    free(lock_path);
    return failed;
}

static void *download_main(void *arg)
{
    mm_manager *mgr = arg;
    const mm_config *cfg = mgr->cfg;
    int64_t now_s = mm_wall_ms() / 1000, last_s;
    bool due = false;
    rt_stamp_read(cfg->models_dir, cfg->update_interval_s, now_s, &last_s, &due);
    mm_pull_file *files = calloc(DL_FILES_MAX, sizeof *files);
    size_t pulled = 0, failed = 0;
    for (size_t i = 0; files && i < cfg->n_minimal_models && !stopping(mgr); i++) {
        const char *entry = cfg->minimal_models[i];
        if (on_disk(mgr, entry))
            continue;
        char *lock_path = mm_lock_path(cfg);   /* NULL on OOM: the pull just skips the lock */
        mm_pull_request rq = { .repo = entry, .automated = true, .models_dir = cfg->models_dir,
                               .lock_path = lock_path };
        size_t n = 0;
        mm_error err = { 0 };
        MM_LOG_INFO("downloading '%s' (automated download)", entry);
        int rc = mm_pull(cfg, &rq, NULL, NULL, files, DL_FILES_MAX, &n, &err);
        free(lock_path);
        rt_hub_contact_note(mgr, rc, &err);
        if (rc != 0) {
            failed++;
            MM_LOG_WARN("start-up download of '%s' failed; carrying on without it: %s",
                        entry, err.message);
            continue;
        }
        size_t fresh = 0;
        for (size_t f = 0; f < n; f++)
            fresh += files[f].downloaded;
        pulled++;
        MM_LOG_INFO("'%s': %zu file%s, %zu downloaded", entry, n, n == 1 ? "" : "s", fresh);
    }
    if (!files)
        MM_LOG_WARN("start-up downloads skipped: out of memory");
    free(files);
    if (due && files && !stopping(mgr)) {
        size_t applied = 0;
        failed += update_check(mgr, cfg, &applied);
        pulled += applied;
    }
    if (due && failed == 0 && files && !stopping(mgr)) {
        mm_error err = { 0 };
        if (rt_stamp_write(cfg->models_dir, now_s, &err) != 0)
            MM_LOG_WARN("%s", err.message);
    }
    if (pulled) {
        mm_error err = { 0 };
        if (rt_manager_refresh(mgr, &err) != 0)
            MM_LOG_WARN("cannot refresh the catalog after downloads: %s", err.message);
    }
    pthread_mutex_lock(&mgr->lock);
    mgr->downloads_done = true;
    pthread_cond_broadcast(&mgr->changed);
    pthread_mutex_unlock(&mgr->lock);
    return NULL;
}

int rt_downloads_start(mm_manager *mgr, mm_error *err)
{
    const mm_config *cfg = mgr->cfg;
    pthread_mutex_lock(&mgr->lock);
    bool started = mgr->downloader_running;
    pthread_mutex_unlock(&mgr->lock);
    if (started)
        return mm_error_set(err, MM_EEXIST, "start-up downloads were already started");
    if (cfg->skip_downloads || cfg->offline || cfg->n_minimal_models == 0) {
        MM_LOG_INFO("start-up downloads off (%s)", cfg->skip_downloads ? "SKIP_MODEL_DOWNLOADS"
                    : cfg->offline ? "HF_HUB_OFFLINE" : "no minimal_models");
        pthread_mutex_lock(&mgr->lock);
        mgr->downloads_done = true;
        pthread_mutex_unlock(&mgr->lock);
        return 0;
    }
    pthread_mutex_lock(&mgr->lock);
    mgr->downloads_done = false;
    int rc = pthread_create(&mgr->downloader, NULL, download_main, mgr);
    if (rc == 0)
        mgr->downloader_running = true;
    else
        mgr->downloads_done = true;
    pthread_mutex_unlock(&mgr->lock);
    if (rc != 0)
        return mm_error_set(err, MM_ENOMEM, "cannot start the download thread (%s)", strerror(rc));
    return 0;
}

bool rt_downloads_wait(mm_manager *mgr, int64_t timeout_ms)
{
    int64_t deadline = mm_now_ms() + timeout_ms;
    pthread_mutex_lock(&mgr->lock);
    while (mgr->downloader_running && !mgr->downloads_done) {
        int64_t left = deadline - mm_now_ms();
        if (left <= 0)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = (int64_t)ts.tv_nsec + (left % 1000) * 1000000;
        ts.tv_sec += (time_t)(left / 1000 + ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&mgr->changed, &mgr->lock, &ts);
    }
    bool done = !mgr->downloader_running || mgr->downloads_done;
    pthread_mutex_unlock(&mgr->lock);
    return done;
}

void rt_downloads_stop(mm_manager *mgr)
{
    if (mgr->downloader_running) {
        pthread_join(mgr->downloader, NULL);
        mgr->downloader_running = false;
    }
}

int mm_manager_start_downloads(mm_manager *mgr, mm_error *err)
{
    return rt_downloads_start(mgr, err);
}

bool mm_manager_wait_downloads(mm_manager *mgr, int64_t timeout_ms)
{
    return rt_downloads_wait(mgr, timeout_ms);
}

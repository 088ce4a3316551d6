/* stamp.c - the update-check stamp: <models_dir>/.last_model_check holds the
 * Unix time of the last model update check, so the check runs at most once
 * per update_interval across restarts. Written atomically. */
#include "runtime/runtime.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define STAMP_MAX_BYTES 64

rt_stamp_state rt_stamp_read(const char *models_dir, int64_t interval_s, int64_t now_s,
                             int64_t *last_s, bool *due)
{
    *last_s = 0;
    *due = false;
    char *path = mm_path_join(models_dir, RT_STAMP_NAME);
    char *text = NULL;
    mm_error err = { 0 };
    rt_stamp_state state;
    int rc = path ? mm_file_read(path, STAMP_MAX_BYTES, &text, NULL, &err) : MM_ENOMEM;
    if (rc == MM_ENOTFOUND || (rc != 0 && err.code == MM_ENOTFOUND)) {
        state = RT_STAMP_MISSING;
    } else if (rc != 0) {
        /* Unreadable or oversized: treat like garbage, the rewrite repairs it. */
        state = RT_STAMP_CORRUPT;
    } else {
        int64_t stored;
        /* A stamp from the future (clock set back, copied file) would stop
         * checks for as long; it counts as corrupt. */
        if (mm_parse_i64(mm_str_trim(text), 0, INT64_MAX / 2, &stored) != 0 || stored > now_s) {
            state = RT_STAMP_CORRUPT;
        } else {
            *last_s = stored;
            state = now_s - stored >= interval_s ? RT_STAMP_STALE : RT_STAMP_FRESH;
        }
    }
    if (state != RT_STAMP_FRESH)
        *due = true;
    if (interval_s <= 0)
        *due = false;
    if (state == RT_STAMP_CORRUPT)
        MM_LOG_WARN("update check stamp %s is not a Unix time; it will be rewritten",
                    path ? path : RT_STAMP_NAME);
    free(text);
    free(path);
    return state;
}

int rt_stamp_write(const char *models_dir, int64_t now_s, mm_error *err)
{
    int rc = mm_mkdirs(models_dir, err);
    if (rc != 0)
        return rc;
    char *path = mm_path_join(models_dir, RT_STAMP_NAME);
    if (!path)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    char text[32];
    int len = snprintf(text, sizeof text, "%" PRId64 "\n", now_s);
    rc = mm_file_write_atomic(path, text, (size_t)len, err);
    if (rc != 0)
        mm_error_prefix(err, "cannot write the update check stamp %s", path);
    free(path);
    return rc;
}

int rt_update_maybe_run(const char *models_dir, int64_t interval_s, int64_t now_s,
                        int (*check)(void *user, mm_error *err), void *user,
                        bool *ran, mm_error *err)
{
    *ran = false;
    int64_t last_s;
    bool due;
    rt_stamp_read(models_dir, interval_s, now_s, &last_s, &due);
    if (!due)
        return 0;
    *ran = true;
    int rc = check(user, err);
    if (rc != 0)
        return rc;   /* no stamp: the next start tries again */
    return rt_stamp_write(models_dir, now_s, err);
}

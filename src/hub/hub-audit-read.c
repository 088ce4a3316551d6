/* hub-audit-read.c - mm_audit_read: audit.jsonl read back line by line with
 * a bounded buffer, filtered by time, repo and failure; a malformed line is
 * reported with its number and skipped, never fatal. */
#include "hub/hub.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUDIT_READ_LINE_MAX (64u << 10)

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ": the shapes the log's own RFC 3339
 * UTC times compare with as plain strings. */
static bool valid_since(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    size_t len = strlen(s);
    if (len != 10 && len != sizeof shape - 1)
        return false;
    for (size_t i = 0; i < len; i++) {
        bool digit = s[i] >= '0' && s[i] <= '9';
        if (shape[i] == 'd' ? !digit : s[i] != shape[i])
            return false;
    }
    return true;
}

static const char *str_or_empty(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double num_or_zero(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) && v->valuedouble >= 0 ? v->valuedouble : 0;
}

static bool is_failure(const char *result)
{
    static const char *const fine[] = { "downloaded", "cached", "ok", "deleted", "linked",
                                        "copied" };
    for (size_t i = 0; i < MM_ARRAY_LEN(fine); i++)
        if (strcmp(result, fine[i]) == 0)
            return false;
    return true;
}

/* One line: parsed, filtered, passed on; or reported as malformed. */
static void read_line(char *line, size_t number, const mm_audit_filter *f, mm_audit_fn fn,
                      mm_audit_bad_fn bad, void *user)
{
    cJSON *o = cJSON_Parse(line);
    const cJSON *time = cJSON_GetObjectItemCaseSensitive(o, "time");
    const cJSON *action = cJSON_GetObjectItemCaseSensitive(o, "action");
    if (!cJSON_IsObject(o) || !cJSON_IsString(time) || !cJSON_IsString(action)) {
        if (bad)
            bad(number, o ? "not an audit record (no \"time\" and \"action\")"
                          : "not valid JSON", user);
        cJSON_Delete(o);
        return;
    }
    mm_audit_entry e = {
        .line = number, .time = time->valuestring, .user = str_or_empty(o, "user"),
        .host = str_or_empty(o, "host"), .action = action->valuestring,
        .repo = str_or_empty(o, "repo"), .revision = str_or_empty(o, "revision"),
        .commit = str_or_empty(o, "commit"), .file = str_or_empty(o, "file"),
        .bytes = (uint64_t)num_or_zero(o, "bytes"), .sha256 = str_or_empty(o, "sha256"),
        .result = str_or_empty(o, "result"), .error = str_or_empty(o, "error"),
        .duration_ms = (int64_t)num_or_zero(o, "duration_ms"), .json = line,
    };
    bool keep = (!f->since || strcmp(e.time, f->since) >= 0) &&
                (!f->repo || strcmp(e.repo, f->repo) == 0) &&
                (!f->failed || is_failure(e.result));
    if (keep)
        fn(&e, user);
    cJSON_Delete(o);
}

int mm_audit_read(const char *models_dir, const mm_audit_filter *filter, mm_audit_fn fn,
                  mm_audit_bad_fn bad, void *user, mm_error *err)
{
    mm_audit_filter none = { 0 };
    const mm_audit_filter *f = filter ? filter : &none;
    if (f->since && !valid_since(f->since))
        return mm_error_set(err, MM_EINVAL, "--since '%s': expected a date YYYY-MM-DD or a UTC "
                            "time YYYY-MM-DDTHH:MM:SSZ", f->since);
    if (!models_dir || !fn)
        return mm_error_set(err, MM_EINVAL, "audit: no models_dir or callback given");
    char *path = mm_path_join(models_dir, "audit.jsonl");
    char *line = malloc(AUDIT_READ_LINE_MAX);
    FILE *fp = NULL;
    int rc = 0;
    if (!path || !line) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory");
        goto out;
    }
    if (!(fp = fopen(path, "re"))) {
        if (errno != ENOENT)
            rc = mm_error_set(err, MM_EIO, "cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    size_t number = 0;
    bool overlong = false;   /* in the middle of a line that did not fit */
    while (fgets(line, AUDIT_READ_LINE_MAX, fp)) {
        size_t len = strlen(line);
        bool complete = len > 0 && line[len - 1] == '\n';
        if (overlong) {
            overlong = !complete;
            continue;
        }
        number++;
        if (!complete && !feof(fp)) {
            overlong = true;
            if (bad)
                bad(number, "longer than 64 KiB", user);
            continue;
        }
        if (complete)
            line[len - 1] = '\0';
        if (mm_str_trim(line)[0] == '\0')
            continue;
        read_line(line, number, f, fn, bad, user);
    }
    if (ferror(fp))
        rc = mm_error_set(err, MM_EIO, "cannot read %s: %s", path, strerror(errno));
out:
    if (fp)
        fclose(fp);
    free(line);
    free(path);
    return rc;
}

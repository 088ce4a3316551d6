/* hub-download.c - hub_download_file: revision pinning (a tag is told from a
 * branch with the refs API), metadata from a HEAD on the resolve URL with
 * relative redirects followed, then cache, per-blob lock, verified fetch and
 * snapshot link. Offline, and when the Hub is unreachable, the cache answers. */
#include "hub/hub.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REVISION_MAX 256
#define REDIRECTS_MAX 5
#define REFS_BODY_MAX (4u << 20)

/* What a HEAD on the resolve URL tells. */
typedef struct file_meta {
    char     commit[41];
    char     etag[65];
    uint64_t size;
    char    *url;          /* where to GET the bytes; caller frees */
} file_meta;

static bool is_hex(const char *s, size_t len)
{
    if (strlen(s) != len)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

static int pin_error(mm_error *err, const char *rev)
{
    return mm_error_set(err, MM_EPINNING,
                        "Revision must be explicitly pinned: pass a commit hash or tag (got '%s')",
                        rev);
}

/* Is rev a tag (0), a branch (MM_EPINNING) or unknown (MM_ENOTFOUND)? */
static int check_tag(hub *h, const char *repo, const char *rev, mm_error *err)
{
    char *url = mm_asprintf("%s/api/models/%s/refs", h->endpoint, repo);
    if (!url)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    hub_http_request rq = { .method = "GET", .url = url, .range_from = -1,
                            .timeout_ms = h->opts.request_timeout_ms,
                            .body_max = REFS_BODY_MAX };
    hub_http_response rs;
    hub_http_response_init(&rs);
    int rc = hub_http_retry(h, &rq, &rs);
    cJSON *doc = NULL;
    if (rc != 0 || rs.status != 200) {
        rc = hub_http_error(h, &rs, repo, rev, NULL, err);
        goto out;
    }
    doc = cJSON_ParseWithLength(rs.body.data, rs.body.len);
    rc = hub_refs_tag_check(doc, repo, rev, err);
out:
    cJSON_Delete(doc);
    hub_http_response_free(&rs);
    free(url);
    return rc;
}

int hub_refs_tag_check(const cJSON *refs, const char *repo, const char *rev, mm_error *err)
{
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(refs, "tags");
    const cJSON *branches = cJSON_GetObjectItemCaseSensitive(refs, "branches");
    if (!cJSON_IsArray(tags) || !cJSON_IsArray(branches))
        return mm_error_set(err, MM_EFORMAT, "the Hub's refs list for %s is malformed", repo);
    const cJSON *e;
    cJSON_ArrayForEach(e, tags) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
        if (cJSON_IsString(name) && strcmp(name->valuestring, rev) == 0)
            return 0;
    }
    cJSON_ArrayForEach(e, branches) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
        if (cJSON_IsString(name) && strcmp(name->valuestring, rev) == 0)
            return pin_error(err, rev);
    }
    return mm_error_set(err, MM_ENOTFOUND, "revision '%s' not found in %s: it is neither a tag "
                        "nor a branch; pass a commit hash or tag that exists", rev, repo);
}

/* "W/\"abc\"" -> "abc". */
static void clean_etag(const char *raw, char *out, size_t size)
{
    if (strncmp(raw, "W/", 2) == 0)
        raw += 2;
    size_t len = strlen(raw);
    if (len >= 2 && raw[0] == '"' && raw[len - 1] == '"') {
        raw++;
        len -= 2;
    }
    if (len >= size)
        len = size - 1;
    memcpy(out, raw, len);
    out[len] = '\0';
}

/* scheme://host[:port] of url, caller frees. */
static char *origin_of(const char *url)
{
    const char *host = strstr(url, "://");
    size_t len = host ? (size_t)(host + 3 - url) + strcspn(host + 3, "/?#") : strlen(url);
    return mm_strndup(url, len);
}

static int read_meta(const hub *h, const hub_http_response *rs, const char *repo,
                     file_meta *m, mm_error *err)
{
    char etag[160];
    clean_etag(rs->linked_etag[0] ? rs->linked_etag : rs->etag, etag, sizeof etag);
    const char *size = rs->linked_size[0] ? rs->linked_size : rs->content_length;
    int64_t n = 0;
    if (!hub_is_commit(rs->repo_commit))
        return mm_error_set(err, MM_EFORMAT, "the Hub at %s sent no valid X-Repo-Commit for %s: "
                            "is HF_ENDPOINT a Hugging Face Hub?", h->endpoint, repo);
    if (!is_hex(etag, 40) && !is_hex(etag, 64))
        return mm_error_set(err, MM_EFORMAT, "the Hub sent an ETag for %s that is neither a git "
                            "SHA-1 nor a SHA-256 ('%s'); the file cannot be verified", repo, etag);
    if (mm_parse_i64(size, 0, INT64_MAX, &n) != 0)
        return mm_error_set(err, MM_EFORMAT, "the Hub sent no valid size for %s ('%s')", repo, size);
    memcpy(m->commit, rs->repo_commit, 41);
    mm_strlcpy(m->etag, etag, sizeof m->etag);
    m->size = (uint64_t)n;
    return 0;
}

/* HEAD the resolve URL: relative redirects are followed, an absolute one
 * (the CDN) ends the walk and carries the metadata. *transient tells a
 * network / rate-limit failure (the cache may answer) from a definite one. */
static int head_meta(hub *h, const char *repo, const char *rev, const char *filename,
                     file_meta *m, bool *transient, mm_error *err)
{
    *transient = false;
    int rc;
    hub_http_response rs;
    hub_http_response_init(&rs);
    char *erev = hub_url_encode(rev, false);
    char *epath = hub_url_encode(filename, true);
    char *origin = origin_of(h->endpoint);
    char *url = erev && epath ? mm_asprintf("%s/%s/resolve/%s/%s", h->endpoint, repo, erev, epath)
                              : NULL;
    if (!url || !origin) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory");
        goto out;
    }
    for (int hop = 0;; hop++) {
        hub_http_request rq = { .method = "HEAD", .url = url, .range_from = -1,
                                .timeout_ms = h->opts.request_timeout_ms, .body_max = 4096 };
        rc = hub_http_retry(h, &rq, &rs);
        if (rc != 0 || hub_http_retryable_status(rs.status)) {
            *transient = rc == 0 || rc == MM_ENET || rc == MM_ETIMEDOUT;
            rc = hub_http_error(h, &rs, repo, rev, filename, err);
            goto out;
        }
        bool redirect = rs.status >= 300 && rs.status < 400 && rs.location[0];
        bool relative = redirect && rs.location[0] == '/' && rs.location[1] != '/';
        if (relative) {
            if (hop == REDIRECTS_MAX) {
                rc = mm_error_set(err, MM_ENET, "too many redirects resolving %s/%s", repo, filename);
                goto out;
            }
            /* A renamed repo or /api/resolve-cache: same host, new path, no query. */
            char *next = mm_asprintf("%s%.*s", origin, (int)strcspn(rs.location, "?#"),
                                     rs.location);
            free(url);
            url = next;
            if (!url) {
                rc = mm_error_set(err, MM_ENOMEM, "out of memory");
                goto out;
            }
            MM_LOG_DEBUG("hub: %s/%s redirected to %s", repo, filename, url);
            continue;
        }
        if (!redirect && (rs.status < 200 || rs.status >= 300)) {
            rc = hub_http_error(h, &rs, repo, rev, filename, err);
            if (rs.status == 404 && strcmp(rs.error_code, "EntryNotFound") == 0 &&
                hub_is_commit(rs.repo_commit))
                hub_cache_mark_missing(h, repo, rs.repo_commit, filename);
            goto out;
        }
        if ((rc = read_meta(h, &rs, repo, m, err)) != 0)
            goto out;
        m->url = mm_strdup(redirect ? rs.location : url);
        if (!m->url)
            rc = mm_error_set(err, MM_ENOMEM, "out of memory");
        goto out;
    }
out:
    hub_http_response_free(&rs);
    free(url);
    free(origin);
    free(epath);
    free(erev);
    return rc;
}

/* Fill res for a file found at snapshot path. */
static int fill_from_cache(const char *path, const char *commit, hub_result *res, mm_error *err)
{
    char target[4096];
    int rc = hub_unsynced_check_file(path, err);
    if (rc)
        return rc;
    ssize_t n = readlink(path, target, sizeof target - 1);
    struct stat st;
    if (stat(path, &st) != 0)
        return mm_error_set(err, MM_EIO, "cannot stat %s: %s", path, strerror(errno));
    res->etag[0] = '\0';
    if (n > 0) {
        target[n] = '\0';
        const char *base = strrchr(target, '/');
        mm_strlcpy(res->etag, base ? base + 1 : target, sizeof res->etag);
    }
    res->size = (uint64_t)st.st_size;
    if (is_hex(res->etag, 64)) {
        mm_strlcpy(res->sha256, res->etag, sizeof res->sha256);
    } else {
        char sha1[41];
        rc = hub_hash_file(path, res->sha256, sha1, err);
        if (rc)
            return rc;
    }
    mm_strlcpy(res->path, path, sizeof res->path);
    mm_strlcpy(res->commit, commit, sizeof res->commit);
    res->status = HUB_STATUS_CACHED;
    return 0;
}

/* The cache alone: a commit, or a ref recorded by an earlier online run. */
static int from_cache(hub *h, const char *repo, const char *rev, const char *filename,
                      hub_result *res, mm_error *err)
{
    char commit[41];
    if (hub_is_commit(rev))
        memcpy(commit, rev, 41);
    else if (hub_cache_read_ref(h, repo, rev, commit) != 0)
        return mm_error_set(err, MM_ENOTFOUND, "%s at revision '%s' is not in the local cache "
                            "%s (no refs/%s): connect once to download it", repo, rev,
                            h->cache_dir, rev);
    char *path = hub_cache_snapshot(h, repo, commit, filename);
    if (!path)
        return mm_error_set(err, MM_ENOTFOUND, "%s/%s at revision '%s' (commit %s) is not in the "
                            "local cache %s: connect once to download it", repo, filename, rev,
                            commit, h->cache_dir);
    int rc = fill_from_cache(path, commit, res, err);
    free(path);
    return rc;
}

/* With the blob lock held: fetch unless another process already did. */
static int fetch_locked(hub *h, const char *repo, const char *filename, const file_meta *m,
                        const char *blob, hub_result *res, mm_error *err)
{
    struct stat st;
    if (stat(blob, &st) == 0)
        return 0;
    char *dir = mm_strdup(blob);
    int rc = dir ? mm_mkdirs(dirname(dir), err) : mm_error_set(err, MM_ENOMEM, "out of memory");
    free(dir);
    if (rc)
        return rc;
    hub_fetch f = { .repo = repo, .filename = filename, .url = m->url, .etag = m->etag,
                    .size = m->size, .blob_path = blob };
    rc = hub_fetch_blob(h, &f, res->sha256, err);
    if (rc == MM_EINTEGRITY) {
        MM_LOG_WARN("hub: %s; discarded, downloading once more", err ? err->message : filename);
        rc = hub_fetch_blob(h, &f, res->sha256, err);
    }
    if (rc == 0)
        res->status = HUB_STATUS_DOWNLOADED;
    return rc;
}

int hub_pin_revision(hub *h, const char *repo, const char *revision, bool automated,
                     const char **rev_out, mm_error *err)
{
    const char *rev = revision && *revision ? revision : "main";
    *rev_out = rev;
    if (strlen(rev) > REVISION_MAX)
        return mm_error_set(err, MM_ELIMIT, "revision is longer than %d characters", REVISION_MAX);
    /* The revision names a file under refs/: the same rules as a path. */
    if (!hub_valid_filename(rev) || strchr(rev, '\\'))
        return mm_error_set(err, MM_EINVAL, "'%s' is not a revision: use a commit hash, tag or "
                            "branch name", rev);
    if (strcmp(rev, "latest") == 0) {
        if (!automated)
            return pin_error(err, rev);
        *rev_out = "main";
        return 0;
    }
    if (automated || hub_is_commit(rev))
        return 0;
    if (strcmp(rev, "main") == 0)
        return pin_error(err, rev);
    if (h->offline)
        return mm_error_set(err, MM_EPINNING, "Revision must be explicitly pinned: pass a "
                            "commit hash or tag (got '%s'); offline, a tag cannot be told "
                            "from a branch, so pass the commit hash", rev);
    return check_tag(h, repo, rev, err);
}

static int download(hub *h, const char *repo, const char *filename, const char *revision,
                    bool automated, hub_result *res, mm_error *err)
{
    if (!hub_valid_repo(repo))
        return mm_error_set(err, MM_EINVAL, "'%s' is not a repository id: use org/name",
                            repo ? repo : "");
    if (!hub_valid_filename(filename))
        return mm_error_set(err, MM_EINVAL, "'%s' is not a file path inside a repository",
                            filename ? filename : "");
    const char *rev = NULL;
    int rc = hub_pin_revision(h, repo, revision, automated, &rev, err);
    if (rc)
        return rc;
    if (h->offline)
        return from_cache(h, repo, rev, filename, res, err);
    if (hub_is_commit(rev)) {
        /* A commit never changes: a snapshot that has the file needs no network. */
        char *path = hub_cache_snapshot(h, repo, rev, filename);
        if (path) {
            rc = fill_from_cache(path, rev, res, err);
            free(path);
            if (rc != MM_EINTEGRITY)
                return rc;
            MM_LOG_WARN("hub: %s", err->message);   /* the blob is gone: fetch it */
            mm_error_clear(err);
        }
    }
    file_meta m = { .url = NULL };
    bool transient = false;
    if ((rc = head_meta(h, repo, rev, filename, &m, &transient, err)) != 0) {
        /* A model already here stays usable while the Hub is unreachable. */
        if (transient && from_cache(h, repo, rev, filename, res, NULL) == 0) {
            MM_LOG_WARN("hub: %s; using the cached %s/%s at %s", err ? err->message : "the Hub "
                        "is unreachable", repo, filename, res->commit);
            mm_error_clear(err);
            return 0;
        }
        return rc;
    }
    char *dir = hub_cache_repo_dir(h, repo);
    char *blob = dir ? mm_asprintf("%s/blobs/%s", dir, m.etag) : NULL;
    int lock = -1;
    if (!blob) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory");
        goto out;
    }
    if (!hub_is_commit(rev) && (rc = hub_cache_write_ref(h, repo, rev, m.commit, err)) != 0)
        goto out;
    res->status = HUB_STATUS_CACHED;
    if ((rc = hub_unsynced_check(blob, err)) == MM_EINTEGRITY) {
        MM_LOG_WARN("hub: %s", err->message);   /* the blob is gone: fetch it */
        mm_error_clear(err);
    } else if (rc != 0) {
        goto out;
    }
    struct stat st;
    if (stat(blob, &st) != 0) {
        if ((rc = hub_cache_lock(h, repo, m.etag, &lock, err)) != 0 ||
            (rc = fetch_locked(h, repo, filename, &m, blob, res, err)) != 0)
            goto out;
    }
    if ((rc = hub_cache_link(h, repo, m.commit, filename, m.etag, err)) != 0)
        goto out;
    char *path = mm_asprintf("%s/snapshots/%s/%s", dir, m.commit, filename);
    if (!path) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory");
        goto out;
    }
    if (res->status == HUB_STATUS_CACHED) {
        rc = fill_from_cache(path, m.commit, res, err);
    } else {
        mm_strlcpy(res->path, path, sizeof res->path);
        mm_strlcpy(res->commit, m.commit, sizeof res->commit);
        mm_strlcpy(res->etag, m.etag, sizeof res->etag);
        res->size = m.size;
    }
    free(path);
out:
    hub_cache_unlock(lock);
    free(blob);
    free(dir);
    free(m.url);
    return rc;
}

int hub_download_file(hub *h, const char *repo, const char *filename, const char *revision,
                      bool automated, hub_result *res, mm_error *err)
{
    mm_error local = { 0 };
    mm_error *e = err ? err : &local;
    int64_t t0 = mm_now_ms();
    memset(res, 0, sizeof *res);
    mm_strlcpy(res->filename, filename ? filename : "", sizeof res->filename);
    int rc = download(h, repo, filename, revision, automated, res, e);
    res->duration_ms = mm_now_ms() - t0;
    if (rc) {
        res->status = HUB_STATUS_ERROR;
        mm_strlcpy(res->message, e->message, sizeof res->message);
        MM_LOG_DEBUG("hub: %s/%s: %s", repo ? repo : "", filename ? filename : "", e->message);
        return rc;
    }
    snprintf(res->message, sizeof res->message, "%s %s/%s (%llu bytes) at commit %s",
             res->status == HUB_STATUS_DOWNLOADED ? "downloaded" : "cached", repo, filename,
             (unsigned long long)res->size, res->commit);
    MM_LOG_INFO("hub: %s", res->message);
    return 0;
}

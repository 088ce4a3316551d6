/* hub-snapshot.c - whole-repository work: listing files through the tree
 * API (all pages, following Link: rel="next"), allow/ignore patterns as
 * huggingface_hub applies them, picking the .gguf files of a quant tag
 * (split sets kept together), and snapshot downloads built on
 * hub_download_file. */
#include "hub/hub.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define API_BODY_MAX (16u << 20)
#define LIST_MAX_FILES 100000
#define LIST_MAX_PAGES 1000
#define LIST_MAX_DEPTH 32

void hub_listing_free(hub_listing *listing)
{
    if (!listing)
        return;
    for (size_t i = 0; i < listing->n_files; i++)
        free(listing->files[i].path);
    free(listing->files);
    free(listing);
}

/* GET url (retries included) and parse the JSON body; *next gets the Link
 * rel="next" URL when asked for. */
static int api_get(hub *h, const char *url, const char *repo, const char *rev,
                   cJSON **doc, char **next, mm_error *err)
{
    *doc = NULL;
    if (next)
        *next = NULL;
    hub_http_request rq = { .method = "GET", .url = url, .range_from = -1,
                            .timeout_ms = h->opts.request_timeout_ms, .body_max = API_BODY_MAX };
    hub_http_response rs;
    hub_http_response_init(&rs);
    int rc = hub_http_retry(h, &rq, &rs);
    if (rc != 0 || rs.status != 200) {
        rc = hub_http_error(h, &rs, repo, rev, NULL, err);
        goto out;
    }
    *doc = cJSON_ParseWithLength(rs.body.data, rs.body.len);
    if (!*doc) {
        rc = mm_error_set(err, MM_EFORMAT, "the Hub's answer for %s is not JSON", repo);
        goto out;
    }
    if (next)
        rc = hub_next_page(rs.link, h->endpoint, repo, next, err);
out:
    if (rc) {
        cJSON_Delete(*doc);
        *doc = NULL;
    }
    hub_http_response_free(&rs);
    return rc;
}

int hub_next_page(const char *link, const char *endpoint, const char *repo, char **next,
                  mm_error *err)
{
    *next = NULL;
    const char *lt = strchr(link, '<');
    const char *gt = lt ? strchr(lt, '>') : NULL;
    if (!gt || !strstr(gt, "rel=\"next\""))
        return 0;
    *next = mm_strndup(lt + 1, (size_t)(gt - lt - 1));
    if (!*next)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    /* Pages must come from the Hub itself: the token goes there. */
    if (!hub_same_origin(*next, endpoint)) {
        free(*next);
        *next = NULL;
        return mm_error_set(err, MM_EFORMAT, "the Hub's next page for %s is on another host", repo);
    }
    return 0;
}

static int resolve_commit(hub *h, const char *repo, const char *rev, char commit[41], mm_error *err)
{
    if (hub_is_commit(rev)) {
        memcpy(commit, rev, 41);
        return 0;
    }
    char *erev = hub_url_encode(rev, false);
    char *url = erev ? mm_asprintf("%s/api/models/%s/revision/%s", h->endpoint, repo, erev) : NULL;
    free(erev);
    if (!url)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    cJSON *doc = NULL;
    int rc = api_get(h, url, repo, rev, &doc, NULL, err);
    free(url);
    if (rc)
        return rc;
    rc = hub_revision_commit(doc, repo, commit, err);
    cJSON_Delete(doc);
    return rc;
}

int hub_revision_commit(const cJSON *info, const char *repo, char commit[41], mm_error *err)
{
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(info, "sha");
    if (!cJSON_IsString(sha) || !hub_is_commit(sha->valuestring))
        return mm_error_set(err, MM_EFORMAT, "the Hub's repo info for %s has no commit sha", repo);
    memcpy(commit, sha->valuestring, 41);
    return 0;
}

static int add_entry(hub_listing *l, size_t *cap, const char *path, uint64_t size, bool lfs,
                     mm_error *err)
{
    if (l->n_files == LIST_MAX_FILES)
        return mm_error_set(err, MM_ELIMIT, "more than %d files", LIST_MAX_FILES);
    if (l->n_files == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        hub_entry *grown = realloc(l->files, ncap * sizeof *grown);
        if (!grown)
            return mm_error_set(err, MM_ENOMEM, "out of memory");
        l->files = grown;
        *cap = ncap;
    }
    hub_entry *f = &l->files[l->n_files];
    f->path = mm_strdup(path);
    if (!f->path)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    f->size = size;
    f->lfs = lfs;
    l->n_files++;
    return 0;
}

int hub_listing_add_page(hub_listing *l, const cJSON *page, size_t *cap, const char *repo,
                         mm_error *err)
{
    if (!cJSON_IsArray(page))
        return mm_error_set(err, MM_EFORMAT, "the Hub's file list for %s is not an array", repo);
    const cJSON *e;
    cJSON_ArrayForEach(e, page) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(e, "path");
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(e, "size");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "file") != 0)
            continue;
        uint64_t bytes = 0;
        if (!cJSON_IsString(path) || !hub_valid_filename(path->valuestring) ||
            !cJSON_IsNumber(size) || !mm_double_to_count(size->valuedouble, MM_COUNT_MAX, &bytes))
            return mm_error_set(err, MM_EFORMAT, "the Hub's file list for %s has a bad entry", repo);
        int rc = add_entry(l, cap, path->valuestring, bytes,
                           cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(e, "lfs")), err);
        if (rc)
            return rc;
    }
    return 0;
}

/* Files under snapshots/<commit>/rel, recursively. */
static int walk_snapshot(const char *root, const char *rel, int depth, hub_listing *l,
                         size_t *cap, mm_error *err)
{
    if (depth > LIST_MAX_DEPTH)
        return mm_error_set(err, MM_ELIMIT, "%s: folders nested deeper than %d", root,
                            LIST_MAX_DEPTH);
    char *dir = *rel ? mm_asprintf("%s/%s", root, rel) : mm_strdup(root);
    DIR *d = dir ? opendir(dir) : NULL;
    int rc = 0;
    if (!d) {
        rc = dir ? mm_error_set(err, MM_EIO, "cannot read %s", dir)
                 : mm_error_set(err, MM_ENOMEM, "out of memory");
        free(dir);
        return rc;
    }
    struct dirent *e;
    while (!rc && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *sub = *rel ? mm_asprintf("%s/%s", rel, e->d_name) : mm_strdup(e->d_name);
        char *full = sub ? mm_asprintf("%s/%s", root, sub) : NULL;
        struct stat st;
        if (!full) {
            rc = mm_error_set(err, MM_ENOMEM, "out of memory");
        } else if (stat(full, &st) != 0) {
            /* A dangling link: the blob is gone, the file is not usable. */
        } else if (S_ISDIR(st.st_mode)) {
            rc = walk_snapshot(root, sub, depth + 1, l, cap, err);
        } else if (S_ISREG(st.st_mode)) {
            char target[4096];
            ssize_t n = readlink(full, target, sizeof target - 1);
            target[n > 0 ? n : 0] = '\0';
            const char *base = strrchr(target, '/');
            bool lfs = n > 0 && strlen(base ? base + 1 : target) == 64;
            rc = add_entry(l, cap, sub, (uint64_t)st.st_size, lfs, err);
        }
        free(full);
        free(sub);
    }
    closedir(d);
    free(dir);
    return rc;
}

/* The listing the cache alone can give: what an earlier run downloaded. */
static int list_cached(hub *h, const char *repo, const char *rev, hub_listing *l, mm_error *err)
{
    if (hub_is_commit(rev))
        memcpy(l->commit, rev, 41);
    else if (hub_cache_read_ref(h, repo, rev, l->commit) != 0)
        return mm_error_set(err, MM_ENOTFOUND, "%s at revision '%s' is not in the local cache %s "
                            "(no refs/%s): connect once to download it", repo, rev,
                            h->cache_dir, rev);
    char *dir = hub_cache_repo_dir(h, repo);
    char *root = dir ? mm_asprintf("%s/snapshots/%s", dir, l->commit) : NULL;
    free(dir);
    if (!root)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    size_t cap = 0;
    struct stat st;
    int rc = stat(root, &st) == 0 && S_ISDIR(st.st_mode)
                 ? walk_snapshot(root, "", 0, l, &cap, err)
                 : mm_error_set(err, MM_ENOTFOUND, "%s at commit %s is not in the local cache %s: "
                                "connect once to download it", repo, l->commit, h->cache_dir);
    free(root);
    return rc;
}

static int list_online(hub *h, const char *repo, const char *rev, hub_listing *l, mm_error *err)
{
    int rc = resolve_commit(h, repo, rev, l->commit, err);
    char *url = rc ? NULL : mm_asprintf("%s/api/models/%s/tree/%s?recursive=true",
                                        h->endpoint, repo, l->commit);
    if (!rc && !url)
        rc = mm_error_set(err, MM_ENOMEM, "out of memory");
    size_t cap = 0;
    for (int page = 0; !rc && url; page++) {
        if (page == LIST_MAX_PAGES) {
            rc = mm_error_set(err, MM_ELIMIT, "%s: more than %d pages of files", repo, page);
            break;
        }
        cJSON *doc = NULL;
        char *next = NULL;
        rc = api_get(h, url, repo, rev, &doc, &next, err);
        if (!rc)
            rc = hub_listing_add_page(l, doc, &cap, repo, err);
        cJSON_Delete(doc);
        free(url);
        url = next;
    }
    free(url);
    return rc;
}

int hub_list_files(hub *h, const char *repo, const char *revision, hub_listing **out,
                   mm_error *err)
{
    *out = NULL;
    if (!hub_valid_repo(repo))
        return mm_error_set(err, MM_EINVAL, "'%s' is not a repository id: use org/name", repo);
    const char *rev = revision && *revision ? revision : "main";
    if (!hub_valid_filename(rev))
        return mm_error_set(err, MM_EINVAL, "'%s' is not a revision", rev);
    hub_listing *l = calloc(1, sizeof *l);
    if (!l)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    int rc = h->offline ? list_cached(h, repo, rev, l, err) : list_online(h, repo, rev, l, err);
    if (rc == MM_ENET || rc == MM_ETIMEDOUT || rc == MM_EBUSY) {
        /* The Hub is unreachable or rate-limiting: what is cached still counts. */
        hub_listing *cached = calloc(1, sizeof *cached);
        if (cached && list_cached(h, repo, rev, cached, NULL) == 0 && cached->n_files > 0) {
            MM_LOG_WARN("hub: %s; listing %s from the cache (commit %s)",
                        err ? err->message : "the Hub is unreachable", repo, cached->commit);
            mm_error_clear(err);
            hub_listing_free(l);
            l = cached;
            rc = 0;
        } else {
            hub_listing_free(cached);
        }
    }
    if (rc) {
        hub_listing_free(l);
        return rc;
    }
    *out = l;
    return 0;
}

bool hub_pattern_match(const char *pattern, const char *path)
{
    size_t len = strlen(pattern);
    if (len && pattern[len - 1] == '/') {
        char *all = mm_asprintf("%s*", pattern);
        bool hit = all && fnmatch(all, path, 0) == 0;
        free(all);
        return hit;
    }
    return fnmatch(pattern, path, 0) == 0;
}

/* ---- quant tags ---- */

static bool word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* Does the file name contain quant as a whole word (case-insensitive)? */
static bool has_quant(const char *name, const char *quant)
{
    size_t q = strlen(quant);
    for (const char *p = name; *p; p++)
        if (strncasecmp(p, quant, q) == 0 && (p == name || !word_char(p[-1])) &&
            !word_char(p[q]))
            return true;
    return false;
}

static int digits_value(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* "x-00002-of-00003.gguf": part 2 of 3, prefix length of "x". */
static bool split_part(const char *path, int *part, int *count, size_t *prefix_len)
{
    size_t len = strlen(path);
    const char *tail = "-00000-of-00000.gguf";
    size_t tl = strlen(tail);
    if (len <= tl)
        return false;
    const char *s = path + len - tl;
    for (size_t i = 0; i < tl; i++)
        if (tail[i] == '0' ? !isdigit((unsigned char)s[i]) : s[i] != tail[i])
            return false;
    *part = digits_value(s + 1, 5);
    *count = digits_value(s + 10, 5);
    *prefix_len = len - tl;
    return *part >= 1 && *part <= *count;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

int hub_pick_quant(const hub_listing *listing, const char *quant, const char ***paths,
                   size_t *n_paths, mm_error *err)
{
    *paths = NULL;
    *n_paths = 0;
    const char **picked = calloc(listing->n_files ? listing->n_files : 1, sizeof *picked);
    if (!picked)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    /* The first matching file fixes the set: itself, or its split siblings. */
    const char *first = NULL;
    size_t first_prefix = 0;
    int first_count = 0;
    int rc = 0;
    mm_buf others;
    mm_buf_init(&others, 1024);
    for (size_t i = 0; i < listing->n_files; i++) {
        const char *path = listing->files[i].path;
        const char *base = base_name(path);
        if (!mm_str_has_suffix(path, ".gguf") || strncasecmp(base, "mmproj", 6) == 0 ||
            !has_quant(base, quant))
            continue;
        int part = 0, count = 0;
        size_t prefix = 0;
        bool split = split_part(path, &part, &count, &prefix);
        if (split && (size_t)count > listing->n_files) {
            rc = mm_error_set(err, MM_EFORMAT, "split model %s is incomplete: the repo lists "
                              "fewer than its %d parts", path, count);
            goto out;
        }
        if (!first) {
            first = path;
            first_prefix = split ? prefix : 0;
            first_count = split ? count : 0;
        }
        bool same_set = first_count > 0 && split && count == first_count &&
                        prefix == first_prefix && strncmp(path, first, prefix) == 0;
        if (path != first && !same_set) {
            mm_buf_printf(&others, "%s%s", others.len ? ", " : "", path);
            continue;
        }
        if (first_count == 0) {
            picked[0] = path;
        } else if (picked[part - 1]) {
            rc = mm_error_set(err, MM_EFORMAT, "%s lists part %d of %s twice", listing->commit,
                              part, path);
            goto out;
        } else {
            picked[part - 1] = path;
        }
    }
    if (!first) {
        rc = mm_error_set(err, MM_ENOTFOUND, "no .gguf file for quant '%s' at commit %s: check "
                          "the tag (Q4_K_M, Q8_0, ...) against the repo's files", quant,
                          listing->commit);
        goto out;
    }
    if (others.len) {
        rc = mm_error_set(err, MM_EINVAL, "quant '%s' matches more than one model (%s and %s): "
                          "name the file", quant, first, others.data);
        goto out;
    }
    size_t n = first_count ? (size_t)first_count : 1;
    for (size_t i = 0; i < n; i++)
        if (!picked[i]) {
            rc = mm_error_set(err, MM_EFORMAT, "split model %s is incomplete: part %zu of %zu "
                              "is missing from the repo", first, i + 1, n);
            goto out;
        }
    *paths = picked;
    *n_paths = n;
    picked = NULL;
out:
    mm_buf_free(&others);
    free(picked);
    return rc;
}

static bool selected(const char *path, const char *const *include, const char *const *exclude)
{
    bool in = !include || !include[0];
    for (size_t i = 0; include && include[i] && !in; i++)
        in = hub_pattern_match(include[i], path);
    for (size_t i = 0; exclude && exclude[i] && in; i++)
        in = !hub_pattern_match(exclude[i], path);
    return in;
}

/* Shared by the workers of one snapshot download; mu guards next and failed. */
typedef struct snap_job {
    hub            *h;
    const char     *repo;
    const char     *commit;
    const char    **paths;
    size_t          n;
    hub_result     *res;
    int            *rcs;
    size_t          next;
    bool            failed;
    pthread_mutex_t mu;
} snap_job;

static void *snap_worker(void *arg)
{
    snap_job *job = arg;
    hub *mine = NULL;
    mm_error err;
    int open_rc = hub_clone(job->h, &mine, &err);
    for (;;) {
        pthread_mutex_lock(&job->mu);
        size_t i = job->next;
        bool stop = job->failed || i == job->n;
        if (!stop)
            job->next++;
        if (!stop && open_rc)
            job->failed = true;
        pthread_mutex_unlock(&job->mu);
        if (stop)
            break;
        if (open_rc) {
            job->rcs[i] = open_rc;
            mm_strlcpy(job->res[i].filename, job->paths[i], sizeof job->res[i].filename);
            mm_strlcpy(job->res[i].message, err.message, sizeof job->res[i].message);
            break;
        }
        /* The commit is pinned by now, whatever the caller asked for. */
        job->rcs[i] = hub_download_file(mine, job->repo, job->paths[i], job->commit, true,
                                        &job->res[i], &err);
        if (job->rcs[i]) {
            pthread_mutex_lock(&job->mu);
            job->failed = true;
            pthread_mutex_unlock(&job->mu);
        }
    }
    hub_close(mine);
    return NULL;
}

static int run_snapshot(hub *h, const char *repo, const hub_listing *l, const char **paths,
                        size_t n, hub_result *res, size_t *started, mm_error *err)
{
    int *rcs = calloc(n ? n : 1, sizeof *rcs);
    if (!rcs)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    snap_job job = { .h = h, .repo = repo, .commit = l->commit, .paths = paths, .n = n,
                     .res = res, .rcs = rcs };
    pthread_mutex_init(&job.mu, NULL);
    size_t workers = (size_t)h->opts.parallel_files < n ? (size_t)h->opts.parallel_files : n;
    pthread_t tids[64];
    size_t running = 0;
    for (; running < workers; running++)
        if (pthread_create(&tids[running], NULL, snap_worker, &job) != 0)
            break;
    if (running == 0 && n > 0)
        snap_worker(&job);   /* no thread could start: do the work here */
    for (size_t i = 0; i < running; i++)
        pthread_join(tids[i], NULL);
    pthread_mutex_destroy(&job.mu);
    int rc = 0;
    for (size_t i = 0; i < job.next && !rc; i++)
        if (rcs[i])
            rc = mm_error_set(err, rcs[i], "%s", res[i].message);
    *started = job.next;
    free(rcs);
    return rc;
}

int hub_download_snapshot(hub *h, const char *repo, const char *revision, bool automated,
                          const char *const *include, const char *const *exclude,
                          hub_result **results, size_t *n_results, mm_error *err)
{
    *results = NULL;
    *n_results = 0;
    if (!hub_valid_repo(repo))
        return mm_error_set(err, MM_EINVAL, "'%s' is not a repository id: use org/name",
                            repo ? repo : "");
    const char *rev = NULL;
    hub_listing *l = NULL;
    int rc = hub_pin_revision(h, repo, revision, automated, &rev, err);
    if (!rc)
        rc = hub_list_files(h, repo, rev, &l, err);
    if (rc)
        return rc;
    if (!hub_is_commit(rev) && (rc = hub_cache_write_ref(h, repo, rev, l->commit, err)) != 0)
        goto out;
    hub_result *res = calloc(l->n_files ? l->n_files : 1, sizeof *res);
    const char **paths = calloc(l->n_files ? l->n_files : 1, sizeof *paths);
    if (!res || !paths) {
        free(res);
        free(paths);
        rc = mm_error_set(err, MM_ENOMEM, "out of memory");
        goto out;
    }
    size_t n = 0, started = 0;
    for (size_t i = 0; i < l->n_files; i++)
        if (selected(l->files[i].path, include, exclude))
            paths[n++] = l->files[i].path;
    rc = run_snapshot(h, repo, l, paths, n, res, &started, err);
    free(paths);
    *results = res;
    *n_results = started;
out:
    hub_listing_free(l);
    return rc;
}

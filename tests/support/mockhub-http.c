/* mockhub-http.c - the HTTP side of the mock hub: a hub daemon answering the
 * resolve URLs and the refs / revision / tree APIs with the real Hub's
 * headers and error table, and a CDN daemon serving LFS blobs with Range.
 * Paths arrive raw (no unescaping by MHD) so encoded revisions are checked. */
#include "support/mockhub-int.h"

#include "core/core.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

typedef struct req {
    mockhub *hub;
    struct MHD_Connection *conn;
    bool cdn;
    bool head;
    const char *method;
    const char *path;      /* raw */
    int  log_idx;
    bool faulted;
    mockhub_fault fault;   /* zero when no fault applies */
    char ratelimit[128];
} req;

typedef struct body_ctx {
    mockhub *hub;
    int      log_idx;
    const uint8_t *data;   /* the slice to send */
    size_t   len;
    int64_t  drop_after;   /* > 0: close after this many bytes */
    int64_t  corrupt_at;   /* index in the slice to flip, or -1 */
    int64_t  pause_after;  /* > 0: sleep pause_ms once this many bytes are out */
    int64_t  pause_ms;
} body_ctx;

static ssize_t body_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    body_ctx *b = cls;
    if (pos >= b->len)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = b->len - (size_t)pos;
    if (n > max)
        n = max;
    if (b->drop_after > 0) {
        if ((int64_t)pos >= b->drop_after)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if ((int64_t)(pos + n) > b->drop_after)
            n = (size_t)(b->drop_after - (int64_t)pos);
    }
    if (b->pause_after > 0) {
        if ((int64_t)pos >= b->pause_after) {
            struct timespec ts = { b->pause_ms / 1000, (b->pause_ms % 1000) * 1000000L };
            nanosleep(&ts, NULL);
            b->pause_after = 0;
        } else if ((int64_t)(pos + n) > b->pause_after) {
            n = (size_t)(b->pause_after - (int64_t)pos);
        }
    }
    memcpy(buf, b->data + pos, n);
    if (b->corrupt_at >= (int64_t)pos && b->corrupt_at < (int64_t)(pos + n))
        buf[b->corrupt_at - (int64_t)pos] ^= 0x5a;
    mh_log_update(b->hub, b->log_idx, 0, -1, (int64_t)n, false);
    return (ssize_t)n;
}

static enum MHD_Result queue(req *r, int status, struct MHD_Response *resp)
{
    if (!resp)
        return MHD_NO;
    mh_log_update(r->hub, r->log_idx, status, -1, 0, r->faulted);
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static struct MHD_Response *empty_response(void)
{
    return MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result reply_error(req *r, int status, const char *code,
                                   const char *message, const char *commit)
{
    char body[512];
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddStringToObject(obj, "error", message);
    if (!cJSON_PrintPreallocated(obj, body, sizeof body, 0))
        snprintf(body, sizeof body, "{}");
    cJSON_Delete(obj);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (code)
        MHD_add_response_header(resp, "X-Error-Code", code);
    MHD_add_response_header(resp, "X-Error-Message", message);
    if (commit)
        MHD_add_response_header(resp, "X-Repo-Commit", commit);
    return queue(r, status, resp);
}

static enum MHD_Result reply_json(req *r, cJSON *obj, const char *link)
{
    char *text = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    if (!text)
        return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (link)
        MHD_add_response_header(resp, "Link", link);
    return queue(r, 200, resp);
}

static enum MHD_Result reply_redirect(req *r, int status, const char *location,
                                      const char *commit)
{
    struct MHD_Response *resp = empty_response();
    MHD_add_response_header(resp, "Location", location);
    if (commit)
        MHD_add_response_header(resp, "X-Repo-Commit", commit);
    return queue(r, status, resp);
}

/* Content with Range support and the content faults. extra_* are optional
 * headers (ETag, X-Repo-Commit). */
static enum MHD_Result reply_content(req *r, const uint8_t *data, size_t size,
                                     const char *etag, const char *commit)
{
    const char *range = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Range");
    size_t start = 0, end = size;   /* [start, end) */
    bool partial = false;
    unsigned long long asked = 0;
    if (range && sscanf(range, "bytes=%llu-", &asked) == 1)
        mh_log_update(r->hub, r->log_idx, 0, (int64_t)asked, 0, false);
    unsigned long long asked_end = 0;
    if (range && sscanf(range, "bytes=%llu-%llu", &asked, &asked_end) == 2)
        mh_log_range_end(r->hub, r->log_idx, (int64_t)asked_end);
    if (range && !r->fault.ignore_range) {
        unsigned long long a = 0, b = 0;
        int n = sscanf(range, "bytes=%llu-%llu", &a, &b);
        if (n < 1 || a >= size || (n == 2 && b < a)) {
            struct MHD_Response *resp = empty_response();
            char cr[64];
            snprintf(cr, sizeof cr, "bytes */%zu", size);
            MHD_add_response_header(resp, "Content-Range", cr);
            return queue(r, 416, resp);
        }
        start = (size_t)a;
        if (n == 2 && b + 1 < size)
            end = (size_t)b + 1;
        partial = true;
    }
    if (r->fault.wrong_size && r->head)
        end++;   /* only a HEAD can claim a length the body would not have */
    struct MHD_Response *resp;
    if (r->head) {
        resp = MHD_create_response_from_callback(end - start, 4096, body_read, NULL, NULL);
    } else {
        body_ctx *b = calloc(1, sizeof *b);
        if (!b)
            return MHD_NO;
        b->hub = r->hub;
        b->log_idx = r->log_idx;
        b->data = data + start;
        b->len = end - start;
        b->drop_after = r->fault.drop_after;
        b->corrupt_at = r->fault.corrupt ? (int64_t)(b->len / 2) : -1;
        b->pause_after = r->fault.pause_after;
        b->pause_ms = r->fault.pause_ms;
        size_t block = r->hub->opts.content_block ? r->hub->opts.content_block : 4096;
        resp = MHD_create_response_from_callback(b->len, block, body_read, b, free);
    }
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    if (etag)
        MHD_add_response_header(resp, "ETag", etag);
    if (commit)
        MHD_add_response_header(resp, "X-Repo-Commit", commit);
    if (partial) {
        char cr[96];
        snprintf(cr, sizeof cr, "bytes %zu-%zu/%zu", start, end - 1, size);
        MHD_add_response_header(resp, "Content-Range", cr);
    }
    return queue(r, partial ? 206 : 200, resp);
}

static int client_port(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr || ci->client_addr->sa_family != AF_INET)
        return 0;
    return ntohs(((const struct sockaddr_in *)ci->client_addr)->sin_port);
}

/* ---- paths ---- */

static int unhex(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Split a raw path into percent-decoded segments; false on a bad escape. */
static bool split_path(const char *raw, char segs[][256], int *n_segs)
{
    int n = 0;
    const char *p = raw;
    while (*p == '/')
        p++;
    while (*p && n < MAX_SEGS) {
        size_t len = 0;
        while (*p && *p != '/') {
            char ch = *p++;
            if (ch == '%') {
                int hi = unhex(p[0]), lo = hi >= 0 ? unhex(p[1]) : -1;
                if (lo < 0)
                    return false;
                ch = (char)(hi * 16 + lo);
                p += 2;
            }
            if (len + 1 >= 256)
                return false;
            segs[n][len++] = ch;
        }
        segs[n][len] = '\0';
        n++;
        if (*p == '/')
            p++;
    }
    *n_segs = n;
    return *p == '\0';
}

static void join_segs(char segs[][256], int from, int to, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = from; i < to; i++)
        used += (size_t)snprintf(out + used, used < size ? size - used : 0, "%s%s",
                                 i > from ? "/" : "", segs[i]);
}

/* ---- access: the Hub's error table ---- */

typedef struct denial {
    int  status;
    const char *code;
    char message[800];
} denial;

static bool denied(mockhub *hub, mrepo *repo, const char *repo_name,
                   const char *auth, bool file, denial *d)
{
    const char *tok = NULL;
    if (auth)
        tok = strncasecmp(auth, "Bearer ", 7) == 0 ? auth + 7 : "";
    bool full = tok && hub->token[0] && strcmp(tok, hub->token) == 0;
    bool unapproved = tok && hub->unapproved[0] && strcmp(tok, hub->unapproved) == 0;
    d->code = NULL;
    if (tok && !full && !unapproved) {
        d->status = 401;
        snprintf(d->message, sizeof d->message, "Invalid credentials in Authorization header");
        return true;
    }
    if (!repo || (repo->access == MOCKHUB_PRIVATE && !full)) {
        d->status = tok ? 404 : 401;
        d->code = "RepoNotFound";
        snprintf(d->message, sizeof d->message, "Repository not found");
        return true;
    }
    if (repo->access == MOCKHUB_DISABLED) {
        d->status = 403;
        snprintf(d->message, sizeof d->message, "Access to this resource is disabled.");
        return true;
    }
    if (repo->access == MOCKHUB_GATED && file && !full) {
        d->status = tok ? 403 : 401;
        d->code = "GatedRepo";
        if (tok)
            snprintf(d->message, sizeof d->message, "Access to model %s is restricted and "
                     "you are not in the authorized list.", repo_name);
        else
            snprintf(d->message, sizeof d->message, "Access to model %s is restricted. You "
                     "must have access to it and be authenticated to access it.", repo_name);
        return true;
    }
    return false;
}

/* ---- hub routes (called with hub->lock held; they unlock before replying) ---- */

static enum MHD_Result route_resolve(req *r, mrepo *repo, const char *rev,
                                     const char *path, bool via_cache)
{
    mockhub *hub = r->hub;
    mcommit *c = mh_commit_find(repo, rev);
    if (!c) {
        pthread_mutex_unlock(&hub->lock);
        return reply_error(r, 404, "RevisionNotFound", "Invalid rev id", NULL);
    }
    char commit[41];
    memcpy(commit, c->sha, sizeof commit);
    mfile *f = mh_file_find(c, path);
    if (!f) {
        pthread_mutex_unlock(&hub->lock);
        return reply_error(r, 404, "EntryNotFound", "Entry not found", commit);
    }
    mfile file = *f;   /* data stays alive until stop (graveyard) */
    bool weak = hub->opts.small_via_resolve_cache ? false : hub->opts.weak_etag;
    pthread_mutex_unlock(&hub->lock);

    if (file.lfs) {
        char loc[256], size[32], etag[80], ptr[80];
        snprintf(loc, sizeof loc, "%s/blob/%s?X-Amz-Signature=mock", hub->cdn_url, file.sha256);
        snprintf(size, sizeof size, "%zu", file.size + (r->fault.wrong_size ? 1 : 0));
        snprintf(etag, sizeof etag, "\"%s\"", file.sha256);
        snprintf(ptr, sizeof ptr, "\"%s\"", file.ptr_sha1);
        struct MHD_Response *resp = empty_response();
        MHD_add_response_header(resp, "Location", loc);
        MHD_add_response_header(resp, "X-Repo-Commit", commit);
        MHD_add_response_header(resp, "X-Linked-Etag", etag);
        MHD_add_response_header(resp, "X-Linked-Size", size);
        MHD_add_response_header(resp, "ETag", ptr);
        return queue(r, 302, resp);
    }
    if (hub->opts.small_via_resolve_cache && !via_cache) {
        char loc[600];
        snprintf(loc, sizeof loc, "/api/resolve-cache/models/%s/%s/%s?etag=%%22%s%%22",
                 repo->name, commit, path, file.git_sha1);
        return reply_redirect(r, 307, loc, commit);
    }
    char etag[64];
    snprintf(etag, sizeof etag, "%s\"%s\"", weak ? "W/" : "", file.git_sha1);
    return reply_content(r, file.data, file.size, etag, commit);
}

static enum MHD_Result route_refs(req *r, mrepo *repo)
{
    cJSON *obj = cJSON_CreateObject();
    cJSON *branches = cJSON_AddArrayToObject(obj, "branches");
    cJSON *tags = cJSON_AddArrayToObject(obj, "tags");
    cJSON_AddArrayToObject(obj, "converts");
    for (int i = 0; i < repo->n_refs; i++) {
        mref *ref = &repo->refs[i];
        cJSON *e = cJSON_CreateObject();
        char full[160];
        snprintf(full, sizeof full, "refs/%s/%s", ref->tag ? "tags" : "heads", ref->name);
        cJSON_AddStringToObject(e, "name", ref->name);
        cJSON_AddStringToObject(e, "ref", full);
        cJSON_AddStringToObject(e, "targetCommit", repo->commits[ref->commit]->sha);
        cJSON_AddItemToArray(ref->tag ? tags : branches, e);
    }
    pthread_mutex_unlock(&r->hub->lock);
    return reply_json(r, obj, NULL);
}

static void add_lfs(cJSON *e, const mfile *f, bool tree)
{
    if (!f->lfs)
        return;
    cJSON *lfs = cJSON_AddObjectToObject(e, "lfs");
    cJSON_AddStringToObject(lfs, tree ? "oid" : "sha256", f->sha256);
    cJSON_AddNumberToObject(lfs, "size", (double)f->size);
    cJSON_AddNumberToObject(lfs, "pointerSize", (double)f->ptr_size);
}

static enum MHD_Result route_revision(req *r, mrepo *repo, const char *rev)
{
    mcommit *c = mh_commit_find(repo, rev);
    if (!c) {
        pthread_mutex_unlock(&r->hub->lock);
        return reply_error(r, 404, "RevisionNotFound", "Invalid rev id", NULL);
    }
    const char *blobs = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "blobs");
    bool with_blobs = blobs && strcasecmp(blobs, "true") == 0;
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddStringToObject(obj, "id", repo->name);
    cJSON_AddStringToObject(obj, "sha", c->sha);
    cJSON_AddBoolToObject(obj, "private", repo->access == MOCKHUB_PRIVATE);
    cJSON_AddBoolToObject(obj, "gated", repo->access == MOCKHUB_GATED);
    cJSON *sib = cJSON_AddArrayToObject(obj, "siblings");
    for (size_t i = 0; i < c->n_files; i++) {
        mfile *f = &c->files[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "rfilename", f->path);
        if (with_blobs) {
            cJSON_AddNumberToObject(e, "size", (double)f->size);
            cJSON_AddStringToObject(e, "blobId", f->lfs ? f->ptr_sha1 : f->git_sha1);
            add_lfs(e, f, false);
        }
        cJSON_AddItemToArray(sib, e);
    }
    pthread_mutex_unlock(&r->hub->lock);
    return reply_json(r, obj, NULL);
}

/* Tree listing: directories and files under prefix, paged by ?cursor=N. */
static enum MHD_Result route_tree(req *r, mrepo *repo, const char *rev, const char *prefix)
{
    mockhub *hub = r->hub;
    mcommit *c = mh_commit_find(repo, rev);
    if (!c) {
        pthread_mutex_unlock(&hub->lock);
        return reply_error(r, 404, "RevisionNotFound", "Invalid rev id", NULL);
    }
    const char *rec = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "recursive");
    bool recursive = rec && strcasecmp(rec, "true") == 0;
    const char *cur = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "cursor");
    int64_t cursor64 = 0;
    if (cur && mm_parse_i64(cur, 0, 1000000, &cursor64) != 0) {
        pthread_mutex_unlock(&hub->lock);
        return reply_error(r, 400, NULL, "Bad cursor", NULL);
    }
    long cursor = (long)cursor64;
    int page = hub->opts.tree_page_size > 0 ? hub->opts.tree_page_size : 1000;

    cJSON *all = cJSON_CreateArray();
    size_t plen = strlen(prefix);
    for (size_t i = 0; i < c->n_files; i++) {
        const mfile *f = &c->files[i];
        if (plen && (strncmp(f->path, prefix, plen) != 0 || f->path[plen] != '/'))
            continue;
        const char *rest = f->path + (plen ? plen + 1 : 0);
        /* Each directory on the way, once, before the file. */
        for (const char *slash = strchr(rest, '/'); slash; slash = strchr(slash + 1, '/')) {
            char dir[256];
            snprintf(dir, sizeof dir, "%.*s", (int)(slash - f->path), f->path);
            bool seen = false;
            cJSON *it;
            cJSON_ArrayForEach(it, all)
                seen |= strcmp(cJSON_GetObjectItem(it, "path")->valuestring, dir) == 0;
            if (!seen) {
                cJSON *d = cJSON_CreateObject();
                cJSON_AddStringToObject(d, "type", "directory");
                cJSON_AddStringToObject(d, "oid", "0000000000000000000000000000000000000000");
                cJSON_AddNumberToObject(d, "size", 0);
                cJSON_AddStringToObject(d, "path", dir);
                cJSON_AddItemToArray(all, d);
            }
            if (!recursive)
                break;
        }
        if (!recursive && strchr(rest, '/'))
            continue;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "type", "file");
        cJSON_AddStringToObject(e, "oid", f->lfs ? f->ptr_sha1 : f->git_sha1);
        cJSON_AddNumberToObject(e, "size", (double)f->size);
        cJSON_AddStringToObject(e, "path", f->path);
        add_lfs(e, f, true);
        cJSON_AddItemToArray(all, e);
    }
    pthread_mutex_unlock(&hub->lock);

    cJSON *out = cJSON_CreateArray();
    int total = cJSON_GetArraySize(all);
    for (long i = cursor; i < total && i < cursor + page; i++)
        cJSON_AddItemToArray(out, cJSON_Duplicate(cJSON_GetArrayItem(all, (int)i), 1));
    cJSON_Delete(all);
    char link[700];
    bool more = cursor + page < total;
    if (more)
        snprintf(link, sizeof link, "<%s%s?recursive=%s&cursor=%ld>; rel=\"next\"",
                 hub->url, r->path, recursive ? "true" : "false", cursor + page);
    return reply_json(r, out, more ? link : NULL);
}

static enum MHD_Result route_hub(req *r, const char *auth)
{
    char (*segs)[256] = calloc(MAX_SEGS, 256);
    if (!segs)
        return MHD_NO;
    enum MHD_Result ret;
    int n = 0;
    if (!split_path(r->path, segs, &n)) {
        ret = reply_error(r, 400, NULL, "Bad path", NULL);
        goto out;
    }
    /* Where the repo name sits and what follows it. */
    int repo_at = -1, kind = 0;   /* 1 resolve, 2 refs, 3 revision, 4 tree, 5 resolve-cache */
    if (n >= 5 && strcmp(segs[0], "api") == 0 && strcmp(segs[1], "models") == 0) {
        repo_at = 2;
        if (strcmp(segs[4], "refs") == 0) kind = 2;
        else if (strcmp(segs[4], "revision") == 0 && n >= 6) kind = 3;
        else if (strcmp(segs[4], "tree") == 0 && n >= 6) kind = 4;
    } else if (n >= 7 && strcmp(segs[0], "api") == 0 &&
               strcmp(segs[1], "resolve-cache") == 0 && strcmp(segs[2], "models") == 0) {
        repo_at = 3;
        kind = 5;
    } else if (n >= 5 && strcmp(segs[2], "resolve") == 0) {
        repo_at = 0;
        kind = 1;
    }
    if (!kind) {
        ret = reply_error(r, 404, NULL, "Not found", NULL);
        goto out;
    }
    char name[520];
    snprintf(name, sizeof name, "%s/%s", segs[repo_at], segs[repo_at + 1]);
    pthread_mutex_lock(&r->hub->lock);
    mrepo *repo = mh_repo_find(r->hub, name);
    if (repo && repo->renamed_to[0]) {
        /* Same raw path with the new name: a relative redirect. */
        char raw_old[530], loc[1600];
        snprintf(raw_old, sizeof raw_old, "/%s/", name);
        const char *at = strstr(r->path, raw_old);
        snprintf(loc, sizeof loc, "%.*s/%s/%s", at ? (int)(at - r->path) : 0, r->path,
                 repo->renamed_to, at ? at + strlen(raw_old) : "");
        pthread_mutex_unlock(&r->hub->lock);
        ret = reply_redirect(r, 307, loc, NULL);
        goto out;
    }
    denial d;
    if (denied(r->hub, repo, name, auth, kind == 1 || kind == 5, &d)) {
        pthread_mutex_unlock(&r->hub->lock);
        ret = reply_error(r, d.status, d.code, d.message, NULL);
        goto out;
    }
    char rest[1024];
    switch (kind) {
    case 1:
        join_segs(segs, 4, n, rest, sizeof rest);
        ret = route_resolve(r, repo, segs[3], rest, false);
        break;
    case 2:
        ret = route_refs(r, repo);
        break;
    case 3:
        ret = route_revision(r, repo, segs[5]);
        break;
    case 4:
        join_segs(segs, 6, n, rest, sizeof rest);
        ret = route_tree(r, repo, segs[5], rest);
        break;
    default:
        join_segs(segs, 6, n, rest, sizeof rest);
        ret = route_resolve(r, repo, segs[5], rest, true);
        break;
    }
out:
    free(segs);
    return ret;
}

static enum MHD_Result route_cdn(req *r, bool had_auth)
{
    if (had_auth)
        return reply_error(r, 400, NULL, "Authorization must not be sent to the CDN", NULL);
    const char *sha = strncmp(r->path, "/blob/", 6) == 0 ? r->path + 6 : NULL;
    mfile file = { 0 };
    bool found = false;
    mockhub *hub = r->hub;
    pthread_mutex_lock(&hub->lock);
    for (int i = 0; i < hub->n_repos && !found && sha; i++)
        for (int j = 0; j < hub->repos[i].n_commits && !found; j++) {
            mcommit *c = hub->repos[i].commits[j];
            for (size_t k = 0; k < c->n_files && !found; k++)
                if (c->files[k].lfs && strcmp(c->files[k].sha256, sha) == 0) {
                    file = c->files[k];
                    found = true;
                }
        }
    pthread_mutex_unlock(&hub->lock);
    if (!found)
        return reply_error(r, 404, NULL, "NoSuchKey", NULL);
    char etag[40];
    snprintf(etag, sizeof etag, "\"cdn-%.16s\"", file.sha256);
    return reply_content(r, file.data, file.size, etag, NULL);
}

/* ---- daemons ---- */

static enum MHD_Result handle(mockhub *hub, bool cdn, struct MHD_Connection *conn,
                              const char *url, const char *method, size_t *upload_size,
                              void **con_cls)
{
    /* The first call brings the headers only. An answer queued then makes
     * MHD close the connection (a body might follow), so it waits for the
     * call that ends the request: connections stay open between requests,
     * as on the real Hub and CDN. Request bodies are ignored. */
    static int headers_seen;
    if (!*con_cls) {
        *con_cls = &headers_seen;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    req r = { .hub = hub, .conn = conn, .cdn = cdn, .method = method, .path = url };
    r.head = strcmp(method, "HEAD") == 0;
    r.log_idx = mh_log_begin(hub, cdn, method, url, auth != NULL, client_port(conn));
    if (mh_fault_take(hub, cdn, method, url, &r.fault, r.ratelimit, sizeof r.ratelimit)) {
        if (r.fault.delay_ms > 0) {
            struct timespec ts = { r.fault.delay_ms / 1000, (r.fault.delay_ms % 1000) * 1000000L };
            nanosleep(&ts, NULL);
        }
        r.faulted = true;
        if (r.fault.status) {
            struct MHD_Response *resp = MHD_create_response_from_buffer(
                2, (void *)"{}", MHD_RESPMEM_PERSISTENT);
            char ra[32];
            if (r.fault.retry_after_s > 0) {
                snprintf(ra, sizeof ra, "%d", r.fault.retry_after_s);
                MHD_add_response_header(resp, "Retry-After", ra);
            }
            if (r.ratelimit[0])
                MHD_add_response_header(resp, "RateLimit", r.ratelimit);
            return queue(&r, r.fault.status, resp);
        }
    }
    if (strcmp(method, "GET") != 0 && !r.head)
        return reply_error(&r, 405, NULL, "Method not allowed", NULL);
    return cdn ? route_cdn(&r, auth != NULL) : route_hub(&r, auth);
}

static enum MHD_Result handle_hub(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version; (void)upload;
    return handle(cls, false, conn, url, method, upload_size, con_cls);
}

static enum MHD_Result handle_cdn(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version; (void)upload;
    return handle(cls, true, conn, url, method, upload_size, con_cls);
}

/* Keep paths raw: the routes decode segment by segment, as the Hub does. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls; (void)c;
    return strlen(s);
}

static struct MHD_Daemon *daemon_start(mockhub *hub, MHD_AccessHandlerCallback fn,
                                       char *url, size_t url_size)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL,
        fn, hub, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (!d)
        return NULL;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (!info || !info->port) {
        MHD_stop_daemon(d);
        return NULL;
    }
    snprintf(url, url_size, "http://127.0.0.1:%u", (unsigned)info->port);
    return d;
}

int mockhub_start(const mockhub_options *opts, mockhub **out)
{
    *out = NULL;
    mockhub *hub = calloc(1, sizeof *hub);
    if (!hub)
        return -1;
    if (opts)
        hub->opts = *opts;
    snprintf(hub->token, sizeof hub->token, "%s", opts && opts->token ? opts->token : "");
    snprintf(hub->unapproved, sizeof hub->unapproved, "%s",
             opts && opts->unapproved_token ? opts->unapproved_token : "");
    hub->opts.token = hub->opts.unapproved_token = NULL;   /* not borrowed past start */
    pthread_mutex_init(&hub->lock, NULL);
    hub->cdnd = daemon_start(hub, handle_cdn, hub->cdn_url, sizeof hub->cdn_url);
    hub->hubd = daemon_start(hub, handle_hub, hub->url, sizeof hub->url);
    if (!hub->cdnd || !hub->hubd) {
        mockhub_stop(hub);
        return -1;
    }
    *out = hub;
    return 0;
}

void mockhub_stop(mockhub *hub)
{
    if (!hub)
        return;
    if (hub->hubd)
        MHD_stop_daemon(hub->hubd);
    if (hub->cdnd)
        MHD_stop_daemon(hub->cdnd);
    for (int i = 0; i < hub->n_repos; i++)
        for (int j = 0; j < hub->repos[i].n_commits; j++) {
            mcommit *c = hub->repos[i].commits[j];
            for (size_t k = 0; k < c->n_files; k++)
                free(c->files[k].data);
            free(c);
        }
    while (hub->graveyard) {
        retired *next = hub->graveyard->next;
        free(hub->graveyard->data);
        free(hub->graveyard);
        hub->graveyard = next;
    }
    pthread_mutex_destroy(&hub->lock);
    free(hub);
}

const char *mockhub_url(const mockhub *hub)
{
    return hub->url;
}

const char *mockhub_cdn_url(const mockhub *hub)
{
    return hub->cdn_url;
}

/* mockhub.c - the state of the fake Hugging Face Hub: repositories held in
 * memory with deterministic content and their hashes, injectable faults and
 * the request log. One mutex (hub->lock) guards all of it; the HTTP side is
 * mockhub-http.c. */
#include "support/mockhub-int.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- content and hashes ---- */

void mockhub_content(uint32_t seed, uint8_t *out, size_t size)
{
    uint32_t x = seed * 2654435761u + 0x9e3779b9u;
    for (size_t i = 0; i < size; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out[i] = (uint8_t)(x >> 24);
    }
}

static void hex(const unsigned char *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static void hash_file(mfile *f)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(f->data, f->size, md, &len, EVP_sha256(), NULL);
    hex(md, len, f->sha256);
    char head[64];
    int hl = snprintf(head, sizeof head, "blob %zu", f->size) + 1; /* with the NUL */
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha1(), NULL);
    EVP_DigestUpdate(ctx, head, (size_t)hl);
    EVP_DigestUpdate(ctx, f->data, f->size);
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    hex(md, len, f->git_sha1);

    /* What git stores for an LFS file: the pointer text, hashed as a blob. */
    char ptr[256], blob[300];
    int pl = snprintf(ptr, sizeof ptr, "version https://git-lfs.github.com/spec/v1\n"
                      "oid sha256:%s\nsize %zu\n", f->sha256, f->size);
    int bl = snprintf(blob, sizeof blob, "blob %d", pl) + 1;
    memcpy(blob + bl, ptr, (size_t)pl);
    EVP_Digest(blob, (size_t)(bl + pl), md, &len, EVP_sha1(), NULL);
    hex(md, len, f->ptr_sha1);
    f->ptr_size = (size_t)pl;
}

/* ---- repository model (callers hold the lock) ---- */

mrepo *mh_repo_find(mockhub *hub, const char *name)
{
    for (int i = 0; i < hub->n_repos; i++)
        if (strcmp(hub->repos[i].name, name) == 0)
            return &hub->repos[i];
    return NULL;
}

mref *mh_ref_find(mrepo *r, const char *name)
{
    for (int i = 0; i < r->n_refs; i++)
        if (strcmp(r->refs[i].name, name) == 0)
            return &r->refs[i];
    return NULL;
}

/* A commit by branch, tag or full sha; NULL when the revision is unknown. */
mcommit *mh_commit_find(mrepo *r, const char *rev)
{
    mref *ref = mh_ref_find(r, rev);
    if (ref)
        return r->commits[ref->commit];
    for (int i = 0; i < r->n_commits; i++)
        if (strcmp(r->commits[i]->sha, rev) == 0)
            return r->commits[i];
    return NULL;
}

mfile *mh_file_find(mcommit *c, const char *path)
{
    for (size_t i = 0; i < c->n_files; i++)
        if (strcmp(c->files[i].path, path) == 0)
            return &c->files[i];
    return NULL;
}

static int commit_new(mrepo *r, const mcommit *from)
{
    if (r->n_commits == MAX_COMMITS)
        return -1;
    mcommit *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    if (from) {
        c->n_files = from->n_files;
        for (size_t i = 0; i < from->n_files; i++) {
            c->files[i] = from->files[i];
            c->files[i].data = malloc(from->files[i].size ? from->files[i].size : 1);
            if (!c->files[i].data) {
                c->n_files = i;
                return -1;
            }
            memcpy(c->files[i].data, from->files[i].data, from->files[i].size);
        }
    }
    char seed[256];
    int n = snprintf(seed, sizeof seed, "%s\n%d", r->name, r->n_commits);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(seed, (size_t)n, md, &len, EVP_sha1(), NULL);
    hex(md, len, c->sha);
    r->commits[r->n_commits] = c;
    return r->n_commits++;
}

static int ref_set(mrepo *r, const char *name, int commit, bool tag)
{
    mref *ref = mh_ref_find(r, name);
    if (!ref) {
        if (r->n_refs == MAX_REFS)
            return -1;
        ref = &r->refs[r->n_refs++];
        snprintf(ref->name, sizeof ref->name, "%s", name);
    }
    ref->commit = commit;
    ref->tag = tag;
    return 0;
}

int mockhub_repo_add(mockhub *hub, const char *repo, mockhub_access access)
{
    int rc = -1;
    pthread_mutex_lock(&hub->lock);
    if (hub->n_repos == MAX_REPOS || mh_repo_find(hub, repo))
        goto out;
    mrepo *r = &hub->repos[hub->n_repos];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", repo);
    r->access = access;
    int c = commit_new(r, NULL);
    if (c < 0 || ref_set(r, "main", c, false) != 0)
        goto out;
    hub->n_repos++;
    rc = 0;
out:
    pthread_mutex_unlock(&hub->lock);
    return rc;
}

int mockhub_repo_rename(mockhub *hub, const char *old_name, const char *repo)
{
    int rc = -1;
    pthread_mutex_lock(&hub->lock);
    if (hub->n_repos < MAX_REPOS && !mh_repo_find(hub, old_name) && mh_repo_find(hub, repo)) {
        mrepo *r = &hub->repos[hub->n_repos++];
        memset(r, 0, sizeof *r);
        snprintf(r->name, sizeof r->name, "%s", old_name);
        snprintf(r->renamed_to, sizeof r->renamed_to, "%s", repo);
        rc = 0;
    }
    pthread_mutex_unlock(&hub->lock);
    return rc;
}

int mockhub_file_add(mockhub *hub, const char *repo, const char *path,
                     size_t size, uint32_t seed, bool lfs)
{
    int rc = -1;
    pthread_mutex_lock(&hub->lock);
    mrepo *r = mh_repo_find(hub, repo);
    mcommit *c = r ? mh_commit_find(r, "main") : NULL;
    if (!c)
        goto out;
    mfile *f = mh_file_find(c, path);
    if (!f) {
        if (c->n_files == MAX_FILES)
            goto out;
        f = &c->files[c->n_files++];
        memset(f, 0, sizeof *f);
        snprintf(f->path, sizeof f->path, "%s", path);
    } else {
        retired *old = malloc(sizeof *old);
        if (!old)
            goto out;
        old->data = f->data;
        old->next = hub->graveyard;
        hub->graveyard = old;
    }
    f->data = malloc(size ? size : 1);
    if (!f->data)
        goto out;
    mockhub_content(seed, f->data, size);
    f->size = size;
    f->lfs = lfs;
    hash_file(f);
    rc = 0;
out:
    pthread_mutex_unlock(&hub->lock);
    return rc;
}

int mockhub_commit(mockhub *hub, const char *repo, const char *branch)
{
    int rc = -1;
    pthread_mutex_lock(&hub->lock);
    mrepo *r = mh_repo_find(hub, repo);
    mref *ref = r ? mh_ref_find(r, branch) : NULL;
    if (ref && !ref->tag) {
        int c = commit_new(r, r->commits[ref->commit]);
        if (c >= 0)
            rc = ref_set(r, branch, c, false);
    }
    pthread_mutex_unlock(&hub->lock);
    return rc;
}

static int add_ref(mockhub *hub, const char *repo, const char *name, const char *from, bool tag)
{
    int rc = -1;
    pthread_mutex_lock(&hub->lock);
    mrepo *r = mh_repo_find(hub, repo);
    mref *src = r ? mh_ref_find(r, from) : NULL;
    if (src && !mh_ref_find(r, name))
        rc = ref_set(r, name, src->commit, tag);
    pthread_mutex_unlock(&hub->lock);
    return rc;
}

int mockhub_branch_add(mockhub *hub, const char *repo, const char *name, const char *from)
{
    return add_ref(hub, repo, name, from, false);
}

int mockhub_tag_add(mockhub *hub, const char *repo, const char *name, const char *from)
{
    return add_ref(hub, repo, name, from, true);
}

int mockhub_ref_commit(mockhub *hub, const char *repo, const char *ref, char out[41])
{
    int rc = -1;
    pthread_mutex_lock(&hub->lock);
    mrepo *r = mh_repo_find(hub, repo);
    mcommit *c = r ? mh_commit_find(r, ref) : NULL;
    if (c) {
        memcpy(out, c->sha, 41);
        rc = 0;
    }
    pthread_mutex_unlock(&hub->lock);
    return rc;
}

int mockhub_file_info_get(mockhub *hub, const char *repo, const char *ref,
                          const char *path, mockhub_file_info *out)
{
    int rc = -1;
    pthread_mutex_lock(&hub->lock);
    mrepo *r = mh_repo_find(hub, repo);
    mcommit *c = r ? mh_commit_find(r, ref) : NULL;
    mfile *f = c ? mh_file_find(c, path) : NULL;
    if (f) {
        out->size = f->size;
        out->lfs = f->lfs;
        memcpy(out->sha256, f->sha256, sizeof out->sha256);
        memcpy(out->git_sha1, f->git_sha1, sizeof out->git_sha1);
        rc = 0;
    }
    pthread_mutex_unlock(&hub->lock);
    return rc;
}

/* ---- faults ---- */

int mockhub_fault_add(mockhub *hub, const mockhub_fault *fault)
{
    int rc = -1;
    pthread_mutex_lock(&hub->lock);
    if (hub->n_faults < MAX_FAULTS) {
        int i = hub->n_faults++;
        hub->faults[i] = *fault;
        snprintf(hub->fault_method[i], sizeof hub->fault_method[i], "%s",
                 fault->method ? fault->method : "");
        snprintf(hub->fault_path[i], sizeof hub->fault_path[i], "%s",
                 fault->path_contains ? fault->path_contains : "");
        snprintf(hub->fault_ratelimit[i], sizeof hub->fault_ratelimit[i], "%s",
                 fault->ratelimit ? fault->ratelimit : "");
        hub->fault_used[i] = 0;
        rc = 0;
    }
    pthread_mutex_unlock(&hub->lock);
    return rc;
}

void mockhub_faults_clear(mockhub *hub)
{
    pthread_mutex_lock(&hub->lock);
    hub->n_faults = 0;
    pthread_mutex_unlock(&hub->lock);
}

/* The first matching fault with uses left, consumed; false when none. */
bool mh_fault_take(mockhub *hub, bool cdn, const char *method, const char *path,
                       mockhub_fault *out, char *ratelimit, size_t rl_size)
{
    bool found = false;
    pthread_mutex_lock(&hub->lock);
    for (int i = 0; i < hub->n_faults && !found; i++) {
        mockhub_fault *f = &hub->faults[i];
        if (f->where == MOCKHUB_AT_HUB && cdn)
            continue;
        if (f->where == MOCKHUB_AT_CDN && !cdn)
            continue;
        if (hub->fault_method[i][0] && strcmp(hub->fault_method[i], method) != 0)
            continue;
        if (hub->fault_path[i][0] && !strstr(path, hub->fault_path[i]))
            continue;
        if (f->times > 0 && hub->fault_used[i] >= f->times)
            continue;
        hub->fault_used[i]++;
        *out = *f;
        snprintf(ratelimit, rl_size, "%s", hub->fault_ratelimit[i]);
        found = true;
    }
    pthread_mutex_unlock(&hub->lock);
    return found;
}

/* ---- request log ---- */

int mh_log_begin(mockhub *hub, bool cdn, const char *method, const char *path,
                     bool had_auth, int client_port)
{
    int idx = -1;
    pthread_mutex_lock(&hub->lock);
    if (hub->n_log < MAX_LOG) {
        mockhub_request *r = &hub->log[hub->n_log];
        idx = hub->log_gen * MAX_LOG + (int)hub->n_log++;
        memset(r, 0, sizeof *r);
        snprintf(r->method, sizeof r->method, "%s", method);
        snprintf(r->path, sizeof r->path, "%s", path);
        r->cdn = cdn;
        r->had_auth = had_auth;
        r->client_port = client_port;
        r->range_start = -1;
        r->range_end = -1;
    }
    if (cdn && had_auth)
        hub->cdn_auth_seen++;
    pthread_mutex_unlock(&hub->lock);
    return idx;
}

void mh_log_range_end(mockhub *hub, int idx, int64_t range_end)
{
    if (idx < 0)
        return;
    pthread_mutex_lock(&hub->lock);
    if (idx / MAX_LOG == hub->log_gen && (size_t)(idx % MAX_LOG) < hub->n_log)
        hub->log[idx % MAX_LOG].range_end = range_end;
    pthread_mutex_unlock(&hub->lock);
}

void mh_log_update(mockhub *hub, int idx, int status, int64_t range_start,
                       int64_t bytes, bool faulted)
{
    if (idx < 0)
        return;
    pthread_mutex_lock(&hub->lock);
    if (idx / MAX_LOG != hub->log_gen || (size_t)(idx % MAX_LOG) >= hub->n_log) {
        pthread_mutex_unlock(&hub->lock);
        return;
    }
    mockhub_request *r = &hub->log[idx % MAX_LOG];
    if (status)
        r->status = status;
    if (range_start >= 0)
        r->range_start = range_start;
    r->bytes_sent += bytes;
    r->faulted |= faulted;
    pthread_mutex_unlock(&hub->lock);
}

size_t mockhub_request_count(mockhub *hub)
{
    pthread_mutex_lock(&hub->lock);
    size_t n = hub->n_log;
    pthread_mutex_unlock(&hub->lock);
    return n;
}

int mockhub_request_get(mockhub *hub, size_t i, mockhub_request *out)
{
    int rc = -1;
    pthread_mutex_lock(&hub->lock);
    if (i < hub->n_log) {
        *out = hub->log[i];
        rc = 0;
    }
    pthread_mutex_unlock(&hub->lock);
    return rc;
}

int mockhub_cdn_auth_seen(mockhub *hub)
{
    pthread_mutex_lock(&hub->lock);
    int n = hub->cdn_auth_seen;
    pthread_mutex_unlock(&hub->lock);
    return n;
}

int64_t mockhub_bytes_sent(mockhub *hub, const char *path_contains)
{
    int64_t total = 0;
    pthread_mutex_lock(&hub->lock);
    for (size_t i = 0; i < hub->n_log; i++)
        if (strcmp(hub->log[i].method, "GET") == 0 &&
            (!path_contains || strstr(hub->log[i].path, path_contains)))
            total += hub->log[i].bytes_sent;
    pthread_mutex_unlock(&hub->lock);
    return total;
}

size_t mockhub_count(mockhub *hub, const char *method, const char *path_contains)
{
    size_t n = 0;
    pthread_mutex_lock(&hub->lock);
    for (size_t i = 0; i < hub->n_log; i++)
        if ((!method || strcmp(hub->log[i].method, method) == 0) &&
            (!path_contains || strstr(hub->log[i].path, path_contains)))
            n++;
    pthread_mutex_unlock(&hub->lock);
    return n;
}

void mockhub_log_clear(mockhub *hub)
{
    pthread_mutex_lock(&hub->lock);
    hub->n_log = 0;
    hub->log_gen++;
    pthread_mutex_unlock(&hub->lock);
}


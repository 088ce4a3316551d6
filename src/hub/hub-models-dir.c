/* hub-models-dir.c - the readable side of models_dir: a link per pulled model
 * (<models_dir>/<file>.gguf -> its snapshot file, <models_dir>/<name> -> a
 * whole snapshot), local paths linked or copied in, and the links a removal
 * left dangling taken away. The HF cache stays the one copy of the bytes. */
#include "hub/hub.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_DEPTH_MAX 16
#define COPY_CHUNK (1 << 16)

char *hub_absolute_path(const char *path)
{
    if (!path)
        return NULL;
    if (path[0] == '/')
        return mm_strdup(path);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return NULL;
    const char *rel = strncmp(path, "./", 2) == 0 ? path + 2 : path;
    return mm_path_join(cwd, rel);
}

static bool has_prefix_dir(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

int hub_models_link(const char *models_dir, const char *name, const char *target,
                    const char *owner, char *link_out, size_t link_size, mm_error *err)
{
    if (link_out && link_size)
        link_out[0] = '\0';
    if (!hub_valid_filename(name) || strchr(name, '/') || name[0] == '.')
        return mm_error_set(err, MM_EINVAL, "'%s' cannot name an entry of models_dir", name);
    int rc = mm_mkdirs(models_dir, err);
    if (rc)
        return rc;
    char *dest = mm_path_join(models_dir, name);
    char *tmp = mm_asprintf("%s/.%s.link-%ld", models_dir, name, (long)getpid());
    if (!dest || !tmp) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory");
        goto out;
    }
    struct stat st;
    if (lstat(dest, &st) == 0) {
        char old[PATH_MAX];
        ssize_t len = S_ISLNK(st.st_mode) ? readlink(dest, old, sizeof old - 1) : -1;
        if (len < 0) {
            rc = mm_error_set(err, MM_EEXIST, "%s already exists and is not a link: rename it "
                              "to have it linked", dest);
            goto out;
        }
        old[len] = '\0';
        struct stat tst;
        bool dangling = stat(dest, &tst) != 0;
        if (strcmp(old, target) == 0)
            goto done;
        if (!dangling && (!owner || !has_prefix_dir(old, owner))) {
            rc = mm_error_set(err, MM_EEXIST, "%s already links to %s: remove it to have it "
                              "point at %s", dest, old, target);
            goto out;
        }
    }
    unlink(tmp);
    if (symlink(target, tmp) != 0 || rename(tmp, dest) != 0) {
        rc = mm_error_set(err, MM_EIO, "cannot link %s -> %s: %s", dest, target, strerror(errno));
        unlink(tmp);
        goto out;
    }
done:
    if (link_out)
        mm_strlcpy(link_out, dest, link_size);
out:
    free(dest);
    free(tmp);
    return rc;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

void hub_models_link_results(hub *h, const char *models_dir, const char *repo,
                             const hub_result *res, size_t n, bool whole_repo,
                             char (*links)[4096])
{
    if (!models_dir || n == 0)
        return;
    char *repo_dir = hub_cache_repo_dir(h, repo);
    char *owner = hub_absolute_path(repo_dir);
    mm_error err = { 0 };
    if (!owner)
        goto out;
    if (whole_repo) {
        char *target = mm_asprintf("%s/snapshots/%s", owner, res[0].commit);
        const char *name = strchr(repo, '/') ? strchr(repo, '/') + 1 : repo;
        if (target && hub_models_link(models_dir, name, target, owner,
                                      links ? links[0] : NULL, 4096, &err) != 0)
            MM_LOG_WARN("no models_dir entry for %s: %s", repo, err.message);
        for (size_t i = 1; links && i < n; i++)
            mm_strlcpy(links[i], links[0], 4096);
        free(target);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(res[i].filename);
        if (res[i].status == HUB_STATUS_ERROR || len < 5 ||
            strcasecmp(res[i].filename + len - 5, ".gguf") != 0)
            continue;
        char *target = hub_absolute_path(res[i].path);
        mm_error_clear(&err);
        if (target && hub_models_link(models_dir, base_name(res[i].filename), target, owner,
                                      links ? links[i] : NULL, 4096, &err) != 0)
            MM_LOG_WARN("no models_dir entry for %s/%s: %s", repo, res[i].filename,
                        err.message);
        free(target);
    }
out:
    free(owner);
    free(repo_dir);
}

size_t hub_models_unlink_dangling(const char *models_dir, const char *repo_dir)
{
    char *owner = hub_absolute_path(repo_dir);
    DIR *d = models_dir && owner ? opendir(models_dir) : NULL;
    size_t removed = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *path = mm_path_join(models_dir, de->d_name);
        char target[PATH_MAX];
        struct stat st;
        ssize_t len = path && lstat(path, &st) == 0 && S_ISLNK(st.st_mode)
                      ? readlink(path, target, sizeof target - 1) : -1;
        if (len >= 0) {
            target[len] = '\0';
            /* Only links into this repo's cache folder that lead nowhere now:
             * a link to a revision that was kept still works and stays. */
            if (has_prefix_dir(target, owner) && stat(path, &st) != 0 && unlink(path) == 0)
                removed++;
        }
        free(path);
    }
    if (d)
        closedir(d);
    free(owner);
    return removed;
}

/* ---- local paths ---- */

static int copy_file(const char *from, const char *to, mm_error *err)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = in >= 0 ? open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
    int rc = 0;
    char *buf = malloc(COPY_CHUNK);
    if (in < 0 || out < 0 || !buf) {
        rc = mm_error_set(err, buf ? MM_EIO : MM_ENOMEM, "cannot copy %s to %s: %s", from, to,
                          strerror(errno));
        goto out;
    }
    for (;;) {
        ssize_t n = read(in, buf, COPY_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = mm_error_set(err, MM_EIO, "cannot read %s: %s", from, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = mm_error_set(err, MM_EIO, "cannot write %s: %s", to, strerror(errno));
                goto out;
            }
            off += w;
        }
    }
    if (fsync(out) != 0)
        rc = mm_error_set(err, MM_EIO, "cannot write %s: %s", to, strerror(errno));
out:
    free(buf);
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) != 0 && rc == 0)
        rc = mm_error_set(err, MM_EIO, "cannot write %s: %s", to, strerror(errno));
    return rc;
}

/* Regular files and folders only: a link inside the source is not followed
 * out of it. */
static int copy_tree(const char *from, const char *to, int depth, uint64_t *bytes, mm_error *err)
{
    struct stat st;
    if (lstat(from, &st) != 0)
        return mm_error_set(err, MM_EIO, "cannot read %s: %s", from, strerror(errno));
    if (S_ISREG(st.st_mode)) {
        *bytes += (uint64_t)st.st_size;
        return copy_file(from, to, err);
    }
    if (!S_ISDIR(st.st_mode)) {
        MM_LOG_WARN("not copying %s: not a regular file or folder", from);
        return 0;
    }
    if (depth > COPY_DEPTH_MAX)
        return mm_error_set(err, MM_ELIMIT, "%s is nested deeper than %d folders", from,
                            COPY_DEPTH_MAX);
    if (mkdir(to, 0755) != 0 && errno != EEXIST)
        return mm_error_set(err, MM_EIO, "cannot create %s: %s", to, strerror(errno));
    DIR *d = opendir(from);
    if (!d)
        return mm_error_set(err, MM_EIO, "cannot read %s: %s", from, strerror(errno));
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *a = mm_path_join(from, de->d_name), *b = mm_path_join(to, de->d_name);
        rc = a && b ? copy_tree(a, b, depth + 1, bytes, err)
                    : mm_error_set(err, MM_ENOMEM, "out of memory");
        free(a);
        free(b);
    }
    closedir(d);
    return rc;
}

static int remove_tree(const char *path, int depth)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    if (!S_ISDIR(st.st_mode) || depth > COPY_DEPTH_MAX + 1)
        return unlink(path);
    DIR *d = opendir(path);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *p = mm_path_join(path, de->d_name);
        if (p)
            remove_tree(p, depth + 1);
        free(p);
    }
    if (d)
        closedir(d);
    return rmdir(path);
}

bool hub_is_local_path(const char *repo)
{
    /* ".name/x" is a valid repo id, so only "./" and "../" mark a path. */
    return repo && (!strchr(repo, '/') || repo[0] == '/' || strncmp(repo, "./", 2) == 0 ||
                    strncmp(repo, "../", 3) == 0 || strncmp(repo, "~/", 2) == 0);
}

/* "~/x" -> $HOME/x; anything else as it is, made absolute. */
static char *expand(const char *path)
{
    if (path[0] == '~' && (path[1] == '/' || path[1] == '\0')) {
        const char *home = getenv("HOME");
        return home ? mm_asprintf("%s%s", home, path + 1) : NULL;
    }
    return hub_absolute_path(path);
}

static void audit_local(const mm_pull_request *rq, const char *src, const mm_pull_file *f,
                        const char *result, const char *error, int64_t t0)
{
    hub_audit_record rec = {
        .action = "pull", .repo = src, .file = f ? f->path : NULL,
        .bytes = f ? f->size : 0, .sha256 = f && f->sha256[0] ? f->sha256 : NULL,
        .result = result, .error = error, .duration_ms = mm_now_ms() - t0,
    };
    hub_audit_note(rq->models_dir, &rec);
}

int hub_pull_local(const mm_pull_request *rq, mm_pull_file *out, mm_error *err)
{
    int64_t t0 = mm_now_ms();
    memset(out, 0, sizeof *out);
    if (!rq->models_dir)
        return mm_error_set(err, MM_EINVAL, "pulling a local path needs a models_dir to put "
                            "it in");
    if (!*rq->repo)
        return mm_error_set(err, MM_EINVAL, "pull: empty repository or path");
    if (rq->file || rq->revision || rq->locked)
        return mm_error_set(err, MM_EINVAL, "'%s' is a local path: give no FILE, --revision "
                            "or --locked (a Hub repo is org/name)", rq->repo);
    char *src = expand(rq->repo);
    char *dest = NULL, *tmp = NULL;
    const char *result = rq->copy ? "copied" : "linked";
    int rc = 0;
    struct stat st;
    if (!src) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory");
        goto fail;
    }
    /* A trailing '/' would leave the entry without a name. */
    for (size_t len = strlen(src); len > 1 && src[len - 1] == '/'; len--)
        src[len - 1] = '\0';
    if (stat(src, &st) != 0) {
        rc = mm_error_set(err, MM_ENOTFOUND, "'%s' is not a Hub repo (org/name) and no such "
                          "file or folder exists (%s): check the path", rq->repo, src);
        goto fail;
    }
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
        rc = mm_error_set(err, MM_EINVAL, "%s is not a regular file or a folder", src);
        goto fail;
    }
    const char *name = base_name(src);
    if ((rc = mm_mkdirs(rq->models_dir, err)) != 0)
        goto fail;
    char *abs_models = hub_absolute_path(rq->models_dir);
    bool inside = abs_models && has_prefix_dir(src, abs_models) &&
                  strchr(src + strlen(abs_models) + 1, '/') == NULL;
    free(abs_models);
    if (inside) {
        rc = mm_error_set(err, MM_EEXIST, "%s is already in models_dir: 'modelmgr list' "
                          "shows it", src);
        goto fail;
    }
    mm_strlcpy(out->repo_path, src, sizeof out->repo_path);
    out->local = true;
    out->size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
    if (S_ISREG(st.st_mode)) {
        char sha1[41];
        if ((rc = hub_hash_file(src, out->sha256, sha1, err)) != 0)
            goto fail;
    }
    if (!rq->copy) {
        if ((rc = hub_models_link(rq->models_dir, name, src, NULL, out->link, sizeof out->link,
                                  err)) != 0)
            goto fail;
        mm_strlcpy(out->path, out->link, sizeof out->path);
        audit_local(rq, src, out, result, NULL, t0);
        free(src);
        return 0;
    }
    dest = mm_path_join(rq->models_dir, name);
    tmp = mm_asprintf("%s/.%s.copy-%ld", rq->models_dir, name, (long)getpid());
    if (!dest || !tmp) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory");
        goto fail;
    }
    struct stat dst;
    if (lstat(dest, &dst) == 0) {
        rc = mm_error_set(err, MM_EEXIST, "%s already exists: remove it first to copy %s "
                          "there", dest, src);
        goto fail;
    }
    uint64_t bytes = 0;
    remove_tree(tmp, 0);
    if ((rc = copy_tree(src, tmp, 0, &bytes, err)) != 0 || rename(tmp, dest) != 0) {
        if (rc == 0)
            rc = mm_error_set(err, MM_EIO, "cannot rename %s to %s: %s", tmp, dest,
                              strerror(errno));
        remove_tree(tmp, 0);
        goto fail;
    }
    out->size = bytes;
    out->downloaded = true;
    mm_strlcpy(out->path, dest, sizeof out->path);
    mm_strlcpy(out->link, dest, sizeof out->link);
    audit_local(rq, src, out, result, NULL, t0);
    free(dest);
    free(tmp);
    free(src);
    return 0;
fail:
    audit_local(rq, src ? src : rq->repo, NULL, "error", err->message, t0);
    free(dest);
    free(tmp);
    free(src);
    return rc;
}

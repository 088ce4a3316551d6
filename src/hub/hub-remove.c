/* hub-remove.c - mm_remove: takes a repo (or one revision of it) out of the
 * HF cache: its snapshot links, the blobs no remaining snapshot links to,
 * the refs that pointed at it and its models.lock entry (a whole repo: also
 * what killed downloads left). Everything works
 * through directory descriptors opened with O_NOFOLLOW below the repo
 * folder, so a symlink planted in the cache is removed, never followed. */
#include "hub/hub.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define TREE_DEPTH_MAX 64
#define BLOB_REFS_MAX (1u << 20)
#define COMMITS_MAX 4096

typedef struct name_set {
    char  **names;
    size_t  n;
    size_t  cap;
} name_set;

static bool set_has(const name_set *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return true;
    return false;
}

static int set_add(name_set *s, const char *name, size_t max)
{
    if (set_has(s, name))
        return 0;
    if (s->n >= max)
        return MM_ELIMIT;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **grown = realloc(s->names, cap * sizeof *grown);
        if (!grown)
            return MM_ENOMEM;
        s->names = grown;
        s->cap = cap;
    }
    if (!(s->names[s->n] = mm_strdup(name)))
        return MM_ENOMEM;
    s->n++;
    return 0;
}

static void set_free(name_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->names[i]);
    free(s->names);
}

static bool dot_entry(const char *name)
{
    return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

/* Open parent/name as a directory without following a symlink; -1 with
 * errno ENOENT when absent, ELOOP/ENOTDIR when it is not a real directory. */
static int open_dir_at(int parent, const char *name)
{
    return openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* Remove parent/name and, for a real directory, everything below it.
 * *n_files counts the non-directories removed. */
static int remove_tree(int parent, const char *name, int depth, size_t *n_files, mm_error *err)
{
    struct stat st;
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : mm_error_set(err, MM_EIO, "cannot stat %s: %s", name,
                                                  strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(parent, name, 0) != 0)
            return mm_error_set(err, MM_EIO, "cannot remove %s: %s", name, strerror(errno));
        (*n_files)++;
        return 0;
    }
    if (depth > TREE_DEPTH_MAX)
        return mm_error_set(err, MM_ELIMIT, "%s is nested more than %d levels deep", name,
                            TREE_DEPTH_MAX);
    int fd = open_dir_at(parent, name);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return mm_error_set(err, MM_EIO, "cannot open %s: %s", name, strerror(errno));
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL)
        if (!dot_entry(e->d_name))
            rc = remove_tree(dirfd(d), e->d_name, depth + 1, n_files, err);
    closedir(d);
    if (rc == 0 && unlinkat(parent, name, AT_REMOVEDIR) != 0)
        rc = mm_error_set(err, MM_EIO, "cannot remove %s: %s", name, strerror(errno));
    return rc;
}

/* The blob a snapshot link names: "../../blobs/<name>" with one "../" per
 * level; anything else (absolute, elsewhere) references no blob. */
static const char *link_blob(const char *target)
{
    while (strncmp(target, "../", 3) == 0)
        target += 3;
    if (strncmp(target, "blobs/", 6) != 0)
        return NULL;
    target += 6;
    return *target && !strchr(target, '/') && !dot_entry(target) ? target : NULL;
}

/* Collect the blobs the links below dir reference. */
static int collect_refs(int dir, int depth, name_set *used, mm_error *err)
{
    if (depth > TREE_DEPTH_MAX)
        return mm_error_set(err, MM_ELIMIT, "a snapshot is nested more than %d levels deep",
                            TREE_DEPTH_MAX);
    int fd = dup(dir);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return mm_error_set(err, MM_EIO, "cannot read a snapshot folder: %s", strerror(errno));
    }
    rewinddir(d);
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        struct stat st;
        if (dot_entry(e->d_name) || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            int sub = open_dir_at(dirfd(d), e->d_name);
            if (sub < 0)
                continue;
            rc = collect_refs(sub, depth + 1, used, err);
            close(sub);
        } else if (S_ISLNK(st.st_mode)) {
            char target[4096];
            ssize_t n = readlinkat(dirfd(d), e->d_name, target, sizeof target - 1);
            if (n <= 0)
                continue;
            target[n] = '\0';
            const char *blob = link_blob(target);
            int arc = blob ? set_add(used, blob, BLOB_REFS_MAX) : 0;
            if (arc)
                rc = mm_error_set(err, arc, "too many blob references in the snapshots");
        }
    }
    closedir(d);
    return rc;
}

/* Names of the entries of dir (at most max). */
static int list_dir(int dir, name_set *out, size_t max, mm_error *err)
{
    int fd = dup(dir);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return mm_error_set(err, MM_EIO, "cannot read a cache folder: %s", strerror(errno));
    }
    rewinddir(d);
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL)
        if (!dot_entry(e->d_name) && (rc = set_add(out, e->d_name, max)) != 0)
            rc = mm_error_set(err, rc, "too many entries in a cache folder");
    closedir(d);
    return rc;
}

/* The commit a ref file holds, when it is a regular file holding one. */
static bool read_ref(int dir, const char *name, char commit[41])
{
    int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return false;
    char text[64];
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n < 0)
        return false;
    text[n] = '\0';
    mm_str_trim(text);
    if (!hub_is_commit(text))
        return false;
    memcpy(commit, text, 41);
    return true;
}

/* Remove the refs below dir that point at a removed commit (all: any ref). */
static int prune_refs(int dir, int depth, const name_set *removed, bool all, size_t *n_refs,
                      mm_error *err)
{
    name_set names = { 0 };
    int rc = depth > TREE_DEPTH_MAX
                 ? mm_error_set(err, MM_ELIMIT, "refs/ is nested more than %d levels deep",
                                TREE_DEPTH_MAX)
                 : list_dir(dir, &names, COMMITS_MAX, err);
    for (size_t i = 0; rc == 0 && i < names.n; i++) {
        const char *name = names.names[i];
        struct stat st;
        if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            int sub = open_dir_at(dir, name);
            if (sub < 0)
                continue;
            rc = prune_refs(sub, depth + 1, removed, all, n_refs, err);
            close(sub);
            if (rc == 0)
                unlinkat(dir, name, AT_REMOVEDIR);   /* only when now empty */
            continue;
        }
        char commit[41];
        bool stale = all || (S_ISREG(st.st_mode) && read_ref(dir, name, commit) &&
                             set_has(removed, commit));
        if (!stale)
            continue;
        if (unlinkat(dir, name, 0) != 0)
            rc = mm_error_set(err, MM_EIO, "cannot remove ref %s: %s", name, strerror(errno));
        else
            (*n_refs)++;
    }
    set_free(&names);
    return rc;
}

/* Remove the blobs no remaining snapshot links to. A download in progress
 * (*.incomplete) is left alone. */
static int prune_blobs(int repo_fd, mm_remove_report *rep, mm_error *err)
{
    name_set used = { 0 }, blobs = { 0 };
    int rc = 0;
    int snaps = open_dir_at(repo_fd, "snapshots");
    if (snaps >= 0) {
        rc = collect_refs(snaps, 0, &used, err);
        close(snaps);
    }
    int bdir = rc ? -1 : open_dir_at(repo_fd, "blobs");
    if (bdir >= 0)
        rc = list_dir(bdir, &blobs, BLOB_REFS_MAX, err);
    for (size_t i = 0; rc == 0 && bdir >= 0 && i < blobs.n; i++) {
        const char *name = blobs.names[i];
        struct stat st;
        if (set_has(&used, name) || mm_str_has_suffix(name, ".incomplete") ||
            fstatat(bdir, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || S_ISDIR(st.st_mode))
            continue;
        if (unlinkat(bdir, name, 0) != 0) {
            rc = mm_error_set(err, MM_EIO, "cannot remove blob %s: %s", name, strerror(errno));
            break;
        }
        char marker[600];   /* its hub-unsynced.c marker, if any, goes with it */
        if (snprintf(marker, sizeof marker, HUB_UNSYNCED_DIR "/%s", name) < (int)sizeof marker)
            unlinkat(repo_fd, marker, 0);
        rep->n_blobs++;
        rep->blob_bytes += S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
    }
    if (bdir >= 0)
        close(bdir);
    set_free(&used);
    set_free(&blobs);
    return rc;
}

/* Whether a download of etag holds its lock (hub_cache_lock) now; if not,
 * *fd holds it for the caller (close to release; -1 when no lock file). */
static bool download_running(const hub *h, const char *folder, const char *etag, int *fd)
{
    *fd = -1;
    char *path = mm_asprintf("%s/.locks/%s/%s.lock", h->cache_dir, folder, etag);
    if (!path)
        return true;   /* cannot tell: leave its files alone */
    int lfd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    free(path);
    if (lfd < 0)
        return errno != ENOENT;
    if (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
        close(lfd);
        return true;
    }
    *fd = lfd;
    return false;
}

/* Add to etags each name in dir (the repo's .unsynced/) or, with suffix
 * matching, each <etag>.incomplete[.parts] of blobs/ as its etag. */
static int collect_leftovers(int dir, bool partials, name_set *etags, mm_error *err)
{
    name_set names = { 0 };
    int rc = list_dir(dir, &names, BLOB_REFS_MAX, err);
    for (size_t i = 0; rc == 0 && i < names.n; i++) {
        char etag[256];
        mm_strlcpy(etag, names.names[i], sizeof etag);
        char *dot = partials ? strstr(etag, ".incomplete") : NULL;
        if (partials && (!dot || (strcmp(dot, ".incomplete") && strcmp(dot, ".incomplete.parts"))))
            continue;
        if (dot)
            *dot = '\0';
        if (etag[0] && (rc = set_add(etags, etag, BLOB_REFS_MAX)) != 0)
            rc = mm_error_set(err, rc, "out of memory");
    }
    set_free(&names);
    return rc;
}

/* A whole-repo rm also takes what killed downloads left: their partial
 * files and .unsynced/ markers (which would keep the repo folder). A
 * download still running (its lock held) keeps its own. */
static int prune_leftovers(const hub *h, int repo_fd, const char *folder, mm_error *err)
{
    name_set etags = { 0 };
    int rc = 0;
    int udir = open_dir_at(repo_fd, HUB_UNSYNCED_DIR);
    int bdir = open_dir_at(repo_fd, "blobs");
    if (udir >= 0)
        rc = collect_leftovers(udir, false, &etags, err);
    if (rc == 0 && bdir >= 0)
        rc = collect_leftovers(bdir, true, &etags, err);
    for (size_t i = 0; rc == 0 && i < etags.n; i++) {
        const char *etag = etags.names[i];
        int lock = -1;
        if (download_running(h, folder, etag, &lock)) {
            MM_LOG_INFO("hub: a download of %s/blobs/%s is running: its partial file stays",
                        folder, etag);
            continue;
        }
        char name[300];
        if (bdir >= 0 && snprintf(name, sizeof name, "%s.incomplete.parts", etag) < (int)sizeof name)
            unlinkat(bdir, name, 0);
        if (bdir >= 0 && snprintf(name, sizeof name, "%s.incomplete", etag) < (int)sizeof name)
            unlinkat(bdir, name, 0);
        if (udir >= 0)
            unlinkat(udir, etag, 0);
        if (lock >= 0)
            close(lock);
    }
    if (udir >= 0)
        close(udir);
    if (bdir >= 0)
        close(bdir);
    set_free(&etags);
    return rc;
}

/* The snapshots to remove: revision's commit (a commit, or a ref resolved
 * through refs/), or every snapshot. */
static int pick_commits(const hub *h, int repo_fd, const char *repo, const char *revision,
                        name_set *commits, mm_error *err)
{
    if (!revision) {
        int snaps = open_dir_at(repo_fd, "snapshots");
        int rc = snaps >= 0 ? list_dir(snaps, commits, COMMITS_MAX, err) : 0;
        if (snaps >= 0)
            close(snaps);
        return rc;
    }
    char commit[41];
    if (hub_is_commit(revision))
        mm_strlcpy(commit, revision, sizeof commit);
    else if (!hub_valid_filename(revision))
        return mm_error_set(err, MM_EINVAL, "'%s' is not a commit hash or a ref name", revision);
    else if (hub_cache_read_ref(h, repo, revision, commit) != 0)
        return mm_error_set(err, MM_ENOTFOUND, "revision '%s' of %s is not in the cache %s "
                            "(no refs/%s): pass the commit hash", revision, repo,
                            hub_cache_dir(h), revision);
    struct stat st;
    int snaps = open_dir_at(repo_fd, "snapshots");
    bool there = snaps >= 0 && fstatat(snaps, commit, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (snaps >= 0)
        close(snaps);
    if (!there)
        return mm_error_set(err, MM_ENOTFOUND, "%s has no snapshot %s in the cache %s", repo,
                            commit, hub_cache_dir(h));
    int rc = set_add(commits, commit, 1);
    return rc ? mm_error_set(err, rc, "out of memory") : 0;
}

static int remove_snapshots(int repo_fd, const name_set *commits, mm_remove_report *rep,
                            mm_error *err)
{
    int snaps = open_dir_at(repo_fd, "snapshots");
    int missing = open_dir_at(repo_fd, ".no_exist");
    int rc = 0;
    for (size_t i = 0; rc == 0 && snaps >= 0 && i < commits->n; i++) {
        rc = remove_tree(snaps, commits->names[i], 0, &rep->n_links, err);
        if (rc == 0 && missing >= 0) {
            size_t ignored = 0;
            rc = remove_tree(missing, commits->names[i], 0, &ignored, err);
        }
        if (rc == 0 && rep->n_snapshots < MM_ARRAY_LEN(rep->commits))
            mm_strlcpy(rep->commits[rep->n_snapshots], commits->names[i], 41);
        rep->n_snapshots += rc == 0;
    }
    if (snaps >= 0)
        close(snaps);
    if (missing >= 0)
        close(missing);
    return rc;
}

static void audit(const char *models_dir, const char *repo, const char *revision,
                  const mm_remove_report *rep, const char *error, int64_t duration_ms)
{
    hub_audit_record rec = {
        .action = "delete", .repo = repo, .revision = revision,
        .commit = rep->n_snapshots == 1 ? rep->commits[0] : NULL,
        .bytes = rep->blob_bytes, .result = error ? "error" : "deleted", .error = error,
        .duration_ms = duration_ms,
    };
    hub_audit_note(models_dir, &rec);
}

int mm_remove(const mm_config *cfg, const char *repo, const char *revision,
              const char *lock_path, const char *models_dir, mm_remove_report *report,
              mm_error *err)
{
    mm_error local = { 0 };
    if (!err)
        err = &local;
    memset(report, 0, sizeof *report);
    if (!hub_valid_repo(repo))
        return mm_error_set(err, MM_EINVAL, "'%s' is not a repository id (org/name)",
                            repo ? repo : "");
    int64_t t0 = mm_now_ms();
    hub *h = NULL;
    char *dir = NULL;
    int repo_fd = -1;
    name_set commits = { 0 };
    int rc = hub_open_config(cfg, &h, err);
    if (rc)
        return rc;
    if (!(dir = hub_cache_repo_dir(h, repo))) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory");
        goto out;
    }
    struct stat st;
    if (lstat(dir, &st) != 0) {
        rc = mm_error_set(err, MM_ENOTFOUND, "%s is not in the cache %s", repo, h->cache_dir);
        goto audit;
    }
    if (!S_ISDIR(st.st_mode) || (repo_fd = open_dir_at(AT_FDCWD, dir)) < 0) {
        rc = mm_error_set(err, MM_EINVAL, "refusing to remove %s: it is a symlink or not a "
                          "folder, so its files may live outside the cache; remove it by hand",
                          dir);
        goto audit;
    }
    if ((rc = pick_commits(h, repo_fd, repo, revision, &commits, err)) != 0 ||
        (rc = remove_snapshots(repo_fd, &commits, report, err)) != 0)
        goto audit;
    int refs = open_dir_at(repo_fd, "refs");
    if (refs >= 0) {
        rc = prune_refs(refs, 0, &commits, revision == NULL, &report->n_refs, err);
        close(refs);
    }
    if (rc == 0)
        rc = prune_blobs(repo_fd, report, err);
    if (rc == 0 && !revision)
        rc = prune_leftovers(h, repo_fd, strrchr(dir, '/') + 1, err);
    if (rc == 0 && !revision) {
        /* Only empty folders go; anything unexpected left there stays. */
        const char *sub[] = { "snapshots", "refs", "blobs", ".no_exist", HUB_UNSYNCED_DIR };
        for (size_t i = 0; i < MM_ARRAY_LEN(sub); i++)
            unlinkat(repo_fd, sub[i], AT_REMOVEDIR);
        rmdir(dir);
    }
    if (rc == 0 && lock_path && (revision == NULL || commits.n == 1))
        rc = hub_lock_remove(lock_path, repo, revision ? commits.names[0] : NULL,
                             &report->lock_entry, err);
    if (rc == 0 && models_dir)
        report->n_entries = hub_models_unlink_dangling(models_dir, dir);
audit:
    audit(models_dir, repo, revision, report, rc ? err->message : NULL, mm_now_ms() - t0);
out:
    if (repo_fd >= 0)
        close(repo_fd);
    set_free(&commits);
    free(dir);
    hub_close(h);
    return rc;
}

/* hub-cache.c - the on-disk cache shared with huggingface_hub and llama.cpp:
 * models--org--name/{blobs,snapshots,refs}, relative snapshot symlinks,
 * refs written atomically only when they change, and per-blob flock locks
 * under .locks/ so concurrent downloaders produce one copy. */
#include "hub/hub.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_uint temp_counter;

/* "org/name" -> "models--org--name". */
static char *repo_folder(const char *repo)
{
    mm_buf b;
    mm_buf_init(&b, 1024);
    mm_buf_puts(&b, "models--");
    for (const char *p = repo; *p; p++) {
        if (*p == '/')
            mm_buf_puts(&b, "--");
        else
            mm_buf_append(&b, p, 1);
    }
    if (b.failed) {
        mm_buf_free(&b);
        return NULL;
    }
    return mm_buf_take(&b);
}

char *hub_cache_repo_dir(const hub *h, const char *repo)
{
    char *folder = repo_folder(repo);
    char *dir = folder ? mm_path_join(h->cache_dir, folder) : NULL;
    free(folder);
    return dir;
}

static int mkdirs_parent(const char *path, mm_error *err)
{
    char *copy = mm_strdup(path);
    if (!copy)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    int rc = mm_mkdirs(dirname(copy), err);
    free(copy);
    return rc;
}

/* A unique temporary name beside path: concurrent writers never share one. */
static char *temp_beside(const char *path)
{
    return mm_asprintf("%s.tmp.%ld.%u", path, (long)getpid(),
                       atomic_fetch_add(&temp_counter, 1));
}

int hub_cache_read_ref(const hub *h, const char *repo, const char *ref, char commit[41])
{
    char *dir = hub_cache_repo_dir(h, repo);
    char *path = dir ? mm_asprintf("%s/refs/%s", dir, ref) : NULL;
    char *text = NULL;
    int rc = MM_ENOTFOUND;
    if (path && mm_file_read(path, 256, &text, NULL, NULL) == 0) {
        mm_str_trim(text);
        if (hub_is_commit(text)) {
            memcpy(commit, text, 41);
            rc = 0;
        }
    }
    free(text);
    free(path);
    free(dir);
    return rc;
}

int hub_cache_write_ref(const hub *h, const char *repo, const char *ref,
                        const char *commit, mm_error *err)
{
    char current[41];
    if (hub_cache_read_ref(h, repo, ref, current) == 0 && strcmp(current, commit) == 0)
        return 0;
    int rc = 0, fd = -1;
    char *dir = hub_cache_repo_dir(h, repo);
    char *path = dir ? mm_asprintf("%s/refs/%s", dir, ref) : NULL;
    char *tmp = path ? temp_beside(path) : NULL;
    if (!tmp) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = mkdirs_parent(path, err)) != 0)
        goto fail;
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, commit, 40) != 40 || fsync(fd) != 0 || close(fd) != 0) {
        rc = mm_error_set(err, MM_EIO, "cannot write %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        rc = mm_error_set(err, MM_EIO, "cannot rename %s: %s", tmp, strerror(errno));
        unlink(tmp);
    }
fail:
    free(tmp);
    free(path);
    free(dir);
    return rc;
}

char *hub_cache_snapshot(const hub *h, const char *repo, const char *commit,
                         const char *filename)
{
    char *dir = hub_cache_repo_dir(h, repo);
    char *path = dir ? mm_asprintf("%s/snapshots/%s/%s", dir, commit, filename) : NULL;
    free(dir);
    struct stat st;
    if (path && stat(path, &st) == 0 && S_ISREG(st.st_mode))
        return path;
    free(path);
    return NULL;
}

int hub_cache_link(const hub *h, const char *repo, const char *commit,
                   const char *filename, const char *etag, mm_error *err)
{
    int rc = 0;
    char *dir = hub_cache_repo_dir(h, repo);
    char *path = dir ? mm_asprintf("%s/snapshots/%s/%s", dir, commit, filename) : NULL;
    char *tmp = path ? temp_beside(path) : NULL;
    mm_buf target;
    mm_buf_init(&target, 8192);
    /* snapshots/<commit>/ is two levels below the repo folder, plus one per
     * directory in filename. */
    mm_buf_puts(&target, "../../");
    for (const char *p = filename; *p; p++)
        if (*p == '/')
            mm_buf_puts(&target, "../");
    mm_buf_printf(&target, "blobs/%s", etag);
    if (!tmp || target.failed) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory");
        goto out;
    }
    char existing[8192];
    ssize_t n = readlink(path, existing, sizeof existing - 1);
    if (n >= 0) {
        existing[n] = '\0';
        if (strcmp(existing, target.data) == 0)
            goto out;
    }
    if ((rc = mkdirs_parent(path, err)) != 0)
        goto out;
    /* Readers see the old link or the new one, never none. */
    if (symlink(target.data, tmp) != 0 || rename(tmp, path) != 0) {
        rc = mm_error_set(err, MM_EIO, "cannot link %s: %s", path, strerror(errno));
        unlink(tmp);
    }
out:
    mm_buf_free(&target);
    free(tmp);
    free(path);
    free(dir);
    return rc;
}

int hub_cache_lock(const hub *h, const char *repo, const char *etag, int *fd, mm_error *err)
{
    *fd = -1;
    int rc = 0;
    char *partial = NULL, *parts = NULL;
    char *folder = repo_folder(repo);
    char *path = folder ? mm_asprintf("%s/.locks/%s/%s.lock", h->cache_dir, folder, etag) : NULL;
    if (!path) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = mkdirs_parent(path, err)) != 0)
        goto out;
    int lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lfd < 0) {
        rc = mm_error_set(err, MM_EIO, "cannot open lock %s: %s", path, strerror(errno));
        goto out;
    }
    /* The holder's partial file: while it grows, the wait is not a hang. */
    char *dir = hub_cache_repo_dir(h, repo);
    partial = dir ? mm_asprintf("%s/blobs/%s.incomplete", dir, etag) : NULL;
    free(dir);
    parts = partial ? mm_asprintf("%s.parts", partial) : NULL;
    struct timespec parts_seen = { 0, 0 };
    off_t seen = -1;
    int64_t deadline = mm_now_ms() + h->opts.lock_timeout_ms;
    bool waited = false;
    while (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
        int why = errno;
        if (why != EWOULDBLOCK && why != EINTR) {
            rc = mm_error_set(err, MM_EIO, "cannot lock %s: %s", path, strerror(why));
            close(lfd);
            goto out;
        }
        struct stat st;
        if (partial && stat(partial, &st) == 0 && st.st_size != seen) {
            seen = st.st_size;
            deadline = mm_now_ms() + h->opts.lock_timeout_ms;
        }
        /* A parallel download's file has its full size at once; its parts
         * state is rewritten every second while bytes arrive. */
        if (parts && stat(parts, &st) == 0 &&
            (st.st_mtim.tv_sec != parts_seen.tv_sec || st.st_mtim.tv_nsec != parts_seen.tv_nsec)) {
            parts_seen = st.st_mtim;
            deadline = mm_now_ms() + h->opts.lock_timeout_ms;
        }
        if (mm_now_ms() > deadline) {
            rc = mm_error_set(err, MM_ETIMEDOUT, "another process has held %s for %lld s "
                              "without downloading anything: wait for it to finish, or stop it",
                              path, (long long)(h->opts.lock_timeout_ms / 1000));
            close(lfd);
            goto out;
        }
        if (!waited)
            MM_LOG_INFO("hub: waiting for another download of %s (%s)", repo, etag);
        waited = true;
        hub_sleep_ms(20);
    }
    *fd = lfd;
out:
    free(parts);
    free(partial);
    free(path);
    free(folder);
    return rc;
}

void hub_cache_unlock(int fd)
{
    if (fd < 0)
        return;
    flock(fd, LOCK_UN);
    close(fd);
}

void hub_cache_mark_missing(const hub *h, const char *repo, const char *commit,
                            const char *filename)
{
    char *dir = hub_cache_repo_dir(h, repo);
    char *path = dir ? mm_asprintf("%s/.no_exist/%s/%s", dir, commit, filename) : NULL;
    if (path && mkdirs_parent(path, NULL) == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0)
            close(fd);
    }
    free(path);
    free(dir);
}

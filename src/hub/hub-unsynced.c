/* hub-unsynced.c - blobs made visible before they are known to be on disk.
 * A download renames a verified blob into blobs/ without waiting for fsync
 * (as curl and huggingface_hub do), so a durable marker (the repo folder's
 * .unsynced/<blob name>, out of blobs/ where huggingface_hub looks),
 * written and fsynced before the first byte, says "this blob may not have
 * survived a power loss". A marker of this boot is harmless: the page cache
 * still holds what was verified. A marker of another boot means the machine
 * stopped in between, so the blob is hashed again before anyone uses it. */
#define _GNU_SOURCE
#include "hub/hub.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"
#define BOOT_ID_MAX 64
#define MARKER_MAX 256
#define MARKER_MAGIC "modelmgr-unsynced 1 "

/* The kernel's id of this boot; "" when unknown (then every marker counts
 * as another boot's: a re-hash, never a wrong trust). */
static void boot_id(char out[BOOT_ID_MAX])
{
    out[0] = '\0';
    int fd = open(BOOT_ID_PATH, O_RDONLY | O_CLOEXEC);   /* a /proc file: no size to stat */
    if (fd < 0)
        return;
    ssize_t n = read(fd, out, BOOT_ID_MAX - 1);
    close(fd);
    if (n <= 0)
        n = 0;
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
        n--;
    out[n] = '\0';
    if (memchr(out, '\n', (size_t)n))
        out[0] = '\0';
}

char *hub_unsynced_path(const char *blob_path)
{
    const char *name = strrchr(blob_path, '/');
    if (!name)
        return mm_asprintf("%s.unsynced", blob_path);
    size_t dir_len = (size_t)(name - blob_path);
    if (dir_len >= 6 && memcmp(name - 6, "/blobs", 6) == 0)
        return mm_asprintf("%.*s/" HUB_UNSYNCED_DIR "%s", (int)(dir_len - 6), blob_path, name);
    return mm_asprintf("%s.unsynced", blob_path);
}

static int fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return MM_EIO;
    int rc = fsync(fd) == 0 ? 0 : MM_EIO;
    close(fd);
    return rc;
}

/* The marker's folder and its parent (which may have just got it). */
static int fsync_dirs_of(const char *path)
{
    char *copy = mm_strdup(path);
    if (!copy)
        return MM_ENOMEM;
    char *dir = dirname(copy);
    int rc = fsync_dir(dir);
    if (rc == 0)
        rc = fsync_dir(dirname(dir));
    free(copy);
    return rc;
}

int hub_unsynced_mark(const char *blob_path, mm_error *err)
{
    char id[BOOT_ID_MAX], text[MARKER_MAX];
    boot_id(id);
    int len = snprintf(text, sizeof text, MARKER_MAGIC "%s\n", id[0] ? id : "unknown");
    char *path = hub_unsynced_path(blob_path);
    if (!path)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    char *dir = mm_strdup(path);
    if (!dir || mm_mkdirs(dirname(dir), err) != 0) {
        int rc = dir ? MM_EIO : mm_error_set(err, MM_ENOMEM, "out of memory");
        free(dir);
        free(path);
        return rc;
    }
    free(dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool ok = fd >= 0 && write(fd, text, (size_t)len) == (ssize_t)len && fsync(fd) == 0;
    int saved = errno;
    if (fd >= 0 && close(fd) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    /* The marker's name must be durable before the blob's can be. */
    if (ok && fsync_dirs_of(path) != 0) {
        ok = false;
        saved = errno;
    }
    int rc = ok ? 0 : mm_error_set(err, MM_EIO, "cannot write %s: %s", path, strerror(saved));
    free(path);
    return rc;
}

void hub_unsynced_clear(const char *blob_path)
{
    char *path = hub_unsynced_path(blob_path);
    if (path)
        unlink(path);
    free(path);
}

/* fsync the blob, then drop its marker (a lost unlink only costs a re-hash). */
static int settle(const char *blob_path, mm_error *err)
{
    int fd = open(blob_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int rc = mm_error_set(err, MM_EIO, "cannot sync %s: %s", blob_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return rc;
    }
    close(fd);
    hub_unsynced_clear(blob_path);
    return 0;
}

/* Hash the blob against its name (the etag: a SHA-256 or a git SHA-1). */
static int rehash(const char *blob_path, mm_error *err)
{
    const char *name = strrchr(blob_path, '/');
    name = name ? name + 1 : blob_path;
    size_t n = strlen(name);
    if (n != 64 && n != 40)
        return mm_error_set(err, MM_EINTEGRITY, "%s may not have been written completely "
                            "before the machine stopped, and its name is no digest to check it "
                            "with: delete it and pull the model again", blob_path);
    char sha256[65], sha1[41];
    int rc = hub_hash_file(blob_path, sha256, sha1, err);
    if (rc != 0)
        return rc;
    const char *got = n == 64 ? sha256 : sha1;
    if (strcmp(got, name) == 0)
        return 0;
    unlink(blob_path);
    hub_unsynced_clear(blob_path);
    return mm_error_set(err, MM_EINTEGRITY, "%s was not completely on disk when the machine "
                        "stopped (expected %s %s, got %s); it was removed: pull the model again",
                        blob_path, n == 64 ? "sha256" : "git-sha1", name, got);
}

/* Re-hash under an exclusive flock on the marker: two processes (or threads)
 * that meet the same marker after a restart hash it once; the one that
 * waited finds the marker gone (the blob checked, or removed) and proceeds. */
static int rehash_locked(const char *blob_path, const char *marker, mm_error *err)
{
    int fd = open(marker, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;   /* gone since the caller looked: someone else checked it */
    int rc = 0;
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            rc = mm_error_set(err, MM_EIO, "cannot lock %s: %s", marker, strerror(errno));
            goto out;
        }
    }
    struct stat held, now;
    if (fstat(fd, &held) != 0 || stat(marker, &now) != 0 || held.st_ino != now.st_ino ||
        held.st_dev != now.st_dev || stat(blob_path, &now) != 0)
        goto out;   /* settled, removed, or a new download's marker by now */
    MM_LOG_INFO("hub: %s was renamed into the cache before a restart of the machine and "
                "may not be complete on disk; hashing it again", blob_path);
    if ((rc = rehash(blob_path, err)) == 0)
        rc = settle(blob_path, err);
out:
    close(fd);   /* after the unlink: a waiter then sees the marker gone */
    return rc;
}

int hub_unsynced_check(const char *blob_path, mm_error *err)
{
    char *path = hub_unsynced_path(blob_path);
    if (!path)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    char *text = NULL;
    size_t len = 0;
    int rc = 0;
    struct stat bs;
    if (stat(path, &bs) != 0 || stat(blob_path, &bs) != 0)
        goto out;   /* no marker, or no blob yet (a download in progress owns the marker) */
    char id[BOOT_ID_MAX];
    boot_id(id);
    bool same_boot = false;
    if (mm_file_read(path, MARKER_MAX, &text, &len, NULL) == 0 &&
        strncmp(text, MARKER_MAGIC, strlen(MARKER_MAGIC)) == 0 && id[0]) {
        const char *theirs = text + strlen(MARKER_MAGIC);
        size_t n = strlen(id);
        same_boot = strncmp(theirs, id, n) == 0 && theirs[n] == '\n';
    }
    if (!same_boot) {
        rc = rehash_locked(blob_path, path, err);
        goto out;
    }
    /* This boot: the page cache holds the verified bytes. Once the kernel
     * has had time to write them back, an fsync is cheap: settle then. */
    time_t now = time(NULL);   /* the last write dirtied the last pages: age from it */
    if (now - bs.st_mtime >= HUB_UNSYNCED_SETTLE_S || now < bs.st_mtime)
        rc = settle(blob_path, err);
out:
    free(text);
    free(path);
    return rc;
}

int hub_unsynced_check_file(const char *path, mm_error *err)
{
    char *real = realpath(path, NULL);
    if (!real)
        return 0;   /* not there: the caller's own open reports it */
    char *marker = hub_unsynced_path(real);
    struct stat st;
    int rc = 0;
    if (marker && stat(marker, &st) == 0)
        rc = hub_unsynced_check(real, err);
    free(marker);
    free(real);
    return rc;
}

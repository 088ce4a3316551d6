/* file.c - whole-file reads with a size cap, atomic writes (temp + fsync +
 * rename), mkdir -p, and clocks. */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int mm_file_read(const char *path, size_t max_bytes, char **out, size_t *len, mm_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mm_error_set(err, errno == ENOENT ? MM_ENOTFOUND : MM_EIO,
                            "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return mm_error_set(err, MM_EIO, "%s is not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_bytes) {
        close(fd);
        return mm_error_set(err, MM_ELIMIT, "%s is %lld bytes, over the limit of %zu",
                            path, (long long)st.st_size, max_bytes);
    }
    char *data = malloc((size_t)st.st_size + 1);
    if (!data) {
        close(fd);
        return mm_error_set(err, MM_ENOMEM, "out of memory reading %s", path);
    }
    size_t done = 0;
    while (done < (size_t)st.st_size) {
        ssize_t n = read(fd, data + done, (size_t)st.st_size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    close(fd);
    data[done] = '\0';
    *out = data;
    if (len)
        *len = done;
    return 0;
}

static int fsync_dir_of(const char *path)
{
    char *copy = mm_strdup(path);
    if (!copy)
        return MM_ENOMEM;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0)
        return MM_EIO;
    fsync(fd);
    close(fd);
    return 0;
}

int mm_file_write_atomic(const char *path, const void *data, size_t len, mm_error *err)
{
    char *tmp = mm_asprintf("%s.tmp.%ld", path, (long)getpid());
    if (!tmp)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int rc = mm_error_set(err, MM_EIO, "cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto fail;
        p += n;
        left -= (size_t)n;
    }
    if (fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail;
    free(tmp);
    fsync_dir_of(path);
    return 0;
fail:;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    return mm_error_set(err, MM_EIO, "cannot write %s: %s", path, strerror(saved));
}

int mm_mkdirs(const char *path, mm_error *err)
{
    char *copy = mm_strdup(path);
    if (!copy)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    for (char *p = copy + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(copy, 0755) != 0 && errno != EEXIST) {
                int rc = mm_error_set(err, MM_EIO, "cannot create directory %s: %s",
                                      copy, strerror(errno));
                free(copy);
                return rc;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    free(copy);
    return 0;
}

int64_t mm_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mm_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t mm_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void mm_time_rfc3339(int64_t unix_s, char *out, size_t out_size)
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, out_size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* test.c - implementation of the test harness in test.h. */
#define _XOPEN_SOURCE 700
#include "support/test.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int mmtest_failures;
int mmtest_checks;

void mmtest_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    mmtest_failures++;
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int mmtest_finish(void)
{
    printf("%d checks, %d failures\n", mmtest_checks, mmtest_failures);
    return mmtest_failures ? 1 : 0;
}

void mmtest_skip(const char *fmt, ...)
{
    va_list ap;
    printf("SKIP: ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    exit(MMTEST_SKIP);
}

char *mmtest_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/mmtest.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpl)) {
        fprintf(stderr, "mkdtemp failed: %s\n", strerror(errno));
        abort();
    }
    return strdup(tmpl);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    remove(path);
    return 0;
}

void mmtest_rmtree(const char *path)
{
    if (path)
        nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void mmtest_write_file(const char *path, const char *content)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(dir, 0755);
            *p = '/';
        }
    }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(content, 1, strlen(content), f) != strlen(content)) {
        fprintf(stderr, "cannot write %s\n", path);
        abort();
    }
    fclose(f);
}

char *mmtest_shared_path(const char *rel)
{
    const char *shared = getenv("MM_SHARED_DIR");
    if (!shared)
        return NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", shared, rel);
    if (access(path, R_OK) != 0)
        return NULL;
    return strdup(path);
}

/* Drain both pipes together so a chatty child never blocks on a full pipe. */
static void read_both(int fd_out, int fd_err, char **out, char **err_out)
{
    char *bufs[2] = { NULL, NULL };
    size_t lens[2] = { 0, 0 };
    struct pollfd pfd[2] = { { fd_out, POLLIN, 0 }, { fd_err, POLLIN, 0 } };
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(pfd, 2, -1) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++) {
            if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char chunk[4096];
            ssize_t n = read(pfd[i].fd, chunk, sizeof chunk);
            if (n <= 0) {
                close(pfd[i].fd);
                pfd[i].fd = -1;
                open_fds--;
                continue;
            }
            bufs[i] = realloc(bufs[i], lens[i] + (size_t)n + 1);
            memcpy(bufs[i] + lens[i], chunk, (size_t)n);
            lens[i] += (size_t)n;
            bufs[i][lens[i]] = '\0';
        }
    }
    for (int i = 0; i < 2; i++)
        if (!bufs[i])
            bufs[i] = calloc(1, 1);
    if (out) *out = bufs[0]; else free(bufs[0]);
    if (err_out) *err_out = bufs[1]; else free(bufs[1]);
}

int mmtest_run_cli(const char *const *argv, const char *const *env,
                   char **out, char **err_out)
{
    const char *bin = getenv("MODELMGR_BIN");
    if (!bin)
        bin = "./modelmgr";
    int po[2], pe[2];
    if (pipe(po) != 0 || pipe(pe) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]); close(po[1]); close(pe[0]); close(pe[1]);
        for (size_t i = 0; env && env[i]; i++)
            putenv((char *)env[i]);
        size_t argc = 0;
        while (argv[argc])
            argc++;
        char **args = calloc(argc + 2, sizeof *args);
        args[0] = (char *)bin;
        for (size_t i = 0; i < argc; i++)
            args[i + 1] = (char *)argv[i];
        execv(bin, args);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    read_both(po[0], pe[0], out, err_out);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

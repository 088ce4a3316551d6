/* test-worker-ready.c - `modelmgr worker --ready-fd FD`, the readiness signal
 * the worker factory waits on instead of polling the socket: the byte comes
 * once, only after the socket accepts connections; a worker that cannot
 * load closes the descriptor without writing; a bad descriptor number is a
 * usage error that names the flag. */
// labels: integration
#include "core/core.h"
#include "support/synth.h"
#include "support/test.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* Start `modelmgr worker MODEL --socket SOCK --ready-fd 3 ARGS...` with the
 * write end of a pipe as its descriptor 3; *ready_r is the read end. */
static pid_t start_worker(const char *model, const char *sock, const char *const *args,
                          int *ready_r)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        if (fds[1] != 3) {
            dup2(fds[1], 3);
            close(fds[1]);
        }
        if (fds[0] != 3)
            close(fds[0]);
        const char *argv[32] = { getenv("MODELMGR_BIN"), "worker", model, "--socket", sock,
                                 "--ready-fd", "3" };
        size_t n = 7;
        for (size_t i = 0; args[i] && n + 1 < sizeof argv / sizeof argv[0]; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    *ready_r = fds[0];
    return pid;
}

/* Read what the worker writes until EOF or 60 s; the bytes read, -1 on a
 * timeout. */
static int read_ready(int fd, char *buf, int size)
{
    int got = 0;
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 60000) <= 0)
            return -1;
        ssize_t n = read(fd, buf + got, (size_t)(size - got));
        if (n <= 0)
            return got;
        got += (int)n;
        if (got == size)
            return got;
    }
}

static bool can_connect(const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

int main(void)
{
    if (!getenv("MODELMGR_BIN"))
        mmtest_skip("MODELMGR_BIN is not set");
    signal(SIGPIPE, SIG_IGN);
    char *tmp = mmtest_tmpdir();
    setenv("HOME", tmp, 1);
    char path[4400], sock[4200];
    snprintf(path, sizeof path, "%s/models/tiny.gguf", tmp);
    mmtest_write_file(path, "");
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    CHECK_INT(mmtest_synth_model(&p, path), 0);
    /* a model that cannot load: not a GGUF file */
    snprintf(path, sizeof path, "%s/models/broken.gguf", tmp);
    mmtest_write_file(path, "this is not a gguf file");
    snprintf(path, sizeof path, "%s/empty.yaml", tmp);
    mmtest_write_file(path, "");
    mmtest_cli_args cli;
    mmtest_cli_args_init(&cli, tmp);
    const char *const *args = cli.argv;

    /* 1. Ready: one byte, and the socket already accepts. */
    snprintf(sock, sizeof sock, "%s/w.sock", tmp);
    int ready = -1;
    pid_t pid = start_worker("tiny", sock, args, &ready);
    CHECK(pid > 0);
    if (pid > 0) {
        char buf[8];
        int n = read_ready(ready, buf, 1);
        CHECK_INT(n, 1);
        CHECK(n == 1 && buf[0] == 'R');
        CHECK(can_connect(sock));
        /* written once: then EOF, the worker has closed its end */
        CHECK_INT(read_ready(ready, buf, (int)sizeof buf), 0);
        close(ready);
        kill(pid, SIGTERM);
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }

    /* 2. A model that does not load: EOF without the byte, exit 1, and the
     * reason in the socket's .err file for the factory to report. */
    snprintf(sock, sizeof sock, "%s/b.sock", tmp);
    pid = start_worker("broken", sock, args, &ready);
    CHECK(pid > 0);
    if (pid > 0) {
        char buf[8];
        CHECK_INT(read_ready(ready, buf, (int)sizeof buf), 0);
        close(ready);
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
        snprintf(path, sizeof path, "%s.err", sock);
        char *why = NULL;
        size_t why_len = 0;
        CHECK_INT(mm_file_read(path, 4096, &why, &why_len, NULL), 0);
        CHECK(why_len > 0);
        free(why);
        CHECK(!can_connect(sock));
    }

    /* 3. A descriptor number below 3 (stdin/out/err) is refused. */
    const char *bad[] = { "worker", "tiny", "--socket", sock, "--ready-fd", "1", NULL };
    char *err_text = NULL;
    CHECK_INT(mmtest_run_cli(bad, NULL, NULL, &err_text), 2);
    CHECK_CONTAINS(err_text, "--ready-fd takes a descriptor number of 3 or more (got '1')");
    free(err_text);

    mmtest_rmtree(tmp);
    free(tmp);
    return mmtest_finish();
}

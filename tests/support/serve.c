/* serve.c - `modelmgr serve` as a child process for the tests (serve.h). */
#include "support/serve.h"
#include "core/core.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SERVE_WAIT_STEPS 600      /* x 50 ms: 30 s */

static void set_under(const char *name, const char *dir, const char *rel)
{
    char path[4200];
    snprintf(path, sizeof path, "%s%s", dir, rel);
    setenv(name, path, 1);
}

pid_t mmtest_serve_spawn(const char *dir, const char *const *args, const char *const *env,
                         const char *out_path, const char *err_path)
{
    const char *bin = getenv("MODELMGR_BIN");
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || e < 0)
        _exit(126);
    dup2(o, 1);
    dup2(e, 2);
    set_under("MODELS_DIR", dir, "/models");
    set_under("HF_HUB_CACHE", dir, "/hub");
    set_under("MODELS_FILE", dir, "/models.txt");
    setenv("HOME", dir, 1);
    setenv("XDG_CONFIG_HOME", dir, 1);
    for (size_t i = 0; env && env[i]; i++) {
        const char *eq = strchr(env[i], '=');
        if (!eq)
            continue;
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(eq - env[i]), env[i]);
        setenv(name, eq + 1, 1);
    }
    char *argv[16] = { (char *)(bin ? bin : "./modelmgr"), "serve" };
    size_t n = 2;
    for (size_t i = 0; args && args[i] && n < 15; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    execv(argv[0], argv);
    _exit(127);
}

bool mmtest_serve_url(const char *out_path, char *url, size_t size)
{
    for (int i = 0; i < SERVE_WAIT_STEPS; i++) {
        char *text = NULL;
        mm_error err;
        if (mm_file_read(out_path, 1 << 20, &text, NULL, &err) == 0) {
            const char *p = strstr(text, "listening on ");
            if (p && strchr(p, '\n')) {
                p += strlen("listening on ");
                snprintf(url, size, "%.*s", (int)strcspn(p, " \n"), p);
                free(text);
                return true;
            }
            free(text);
        }
        usleep(50000);
    }
    return false;
}

int mmtest_serve_wait(pid_t pid)
{
    int status = 0;
    for (int i = 0; i < SERVE_WAIT_STEPS; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

/* serve.h - `modelmgr serve` as a child process for the end-to-end server
 * tests: started on a scratch directory, its URL read from what it prints,
 * and its exit waited for with a bound. */
#ifndef MM_TEST_SERVE_H
#define MM_TEST_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Start `$MODELMGR_BIN serve ARGS...` (args NULL-terminated, at most 13)
 * with stdout and stderr in out_path and err_path, and an environment
 * isolated in dir: MODELS_DIR=dir/models, HF_HUB_CACHE=dir/hub,
 * MODELS_FILE=dir/models.txt, HOME and XDG_CONFIG_HOME=dir; then each
 * "NAME=value" of env (NULL-terminated, may be NULL). The pid, or -1. */
pid_t mmtest_serve_spawn(const char *dir, const char *const *args, const char *const *env,
                         const char *out_path, const char *err_path);
/* Wait up to 30 s for the "listening on URL" line in out_path; copies URL. */
bool mmtest_serve_url(const char *out_path, char *url, size_t size);
/* Wait up to 30 s for pid to exit: its exit status, or -1 when it was
 * killed by a signal or had to be killed (SIGKILL) at the end. */
int mmtest_serve_wait(pid_t pid);

#endif /* MM_TEST_SERVE_H */

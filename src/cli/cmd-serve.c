/* cmd-serve.c - `modelmgr serve`: the OpenAI- and Ollama-compatible HTTP API
 * on the configured host and port until SIGINT or SIGTERM, then a graceful
 * stop that lets requests in progress finish. */
#include "cli/cli.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cli_option serve_options[] = {
    { "grace", "SECONDS", "on SIGINT/SIGTERM, wait this long for requests in progress "
                          "(default 10)" },
    { "no-isolate", NULL, "run the models in the server's own process, not one worker "
                          "process each" },
    { "worker-deadline", "SECONDS", "kill a model's worker that sends no token for this "
                                    "long during a request (default 120)" },
    { NULL, NULL, NULL }
};

static const cli_spec serve_spec = {
    .usage = "modelmgr serve [--host ADDR] [--port N] [--api-key KEY] [--grace SECONDS]\n"
             "                      [--no-isolate] [--worker-deadline SECONDS] [options]",
    .description = "Serve the OpenAI-compatible API (/v1/chat/completions, /v1/completions,\n"
                   "/v1/models), Ollama's API (/api/tags, /api/chat, ...), /api/health and\n"
                   "/metrics on one port. Every request goes through the router: the\n"
                   "catalog's models (built-in engine, each loaded model in its own worker\n"
                   "process; --no-isolate: in this process) and the models of `remotes:`,\n"
                   "with fallback chains. See docs/API.md and docs/ROUTER.md.",
    .options = serve_options,
    .min_args = 0,
    .max_args = 0,
};

/* Whole decimal seconds from 0 to 3600. */
static bool parse_seconds(const char *text, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < 0 || v > 3600)
        return false;
    *out = v;
    return true;
}

/* The arguments a worker needs to build the same configuration (and so the
 * same catalog): --config and every configuration flag but the secrets,
 * which a worker does not use and which must not show in its command line.
 * The environment is inherited. Caller frees the array and its strings. */
static char **worker_args(const cli_args *args)
{
    char **out = calloc(args->n_flags + 2, sizeof *out);
    size_t n = 0;
    if (out && args->config_path)
        out[n++] = mm_asprintf("--config=%s", args->config_path);
    for (size_t i = 0; out && i < args->n_flags; i++) {
        size_t klen = strcspn(args->flags[i], "=");
        for (size_t k = 0; k < mm_config_key_count(); k++) {
            mm_config_item item;
            if (mm_config_item_get(NULL, k, &item) != 0 || item.secret ||
                strlen(item.key) != klen || strncmp(item.key, args->flags[i], klen) != 0)
                continue;
            out[n++] = mm_asprintf("%s=%s", item.flag, args->flags[i] + klen + 1);
            break;
        }
    }
    return out;
}

static void free_args(char **list)
{
    for (size_t i = 0; list && list[i]; i++)
        free(list[i]);
    free(list);
}

/* The model manager: over worker processes unless --no-isolate. */
static int open_manager(const cli_args *args, int64_t deadline_s, rt_factory *workers,
                        mm_manager **mgr, mm_error *err)
{
    if (cli_has(args, "no-isolate"))
        return mm_manager_open(args->cfg, mgr, err);
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return mm_error_set(err, MM_EIO, "cannot find this program's path to start model "
                            "workers (/proc/self/exe); use --no-isolate");
    exe[len] = '\0';
    char **extra = worker_args(args);
    if (!extra)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    rt_worker_options wo = { .exe = exe, .args = (const char *const *)extra, .cfg = args->cfg,
                             .hang_ms = deadline_s * 1000 };
    int rc = rt_factory_worker_new(&wo, workers, err);
    free_args(extra);
    if (rc != 0)
        return rc;
    rt_options ro = { .factory = workers, .queue_timeout_ms = -1 };
    rc = rt_manager_open(args->cfg, &ro, mgr, err);
    if (rc != 0)
        rt_factory_worker_free(workers);
    return rc;
}

int cmd_serve(int argc, char **argv)
{
    cli_args args;
    int status = cli_parse(&serve_spec, argc, argv, &args);
    if (status != CLI_RUN)
        return status;
    int64_t grace_s = 10;
    const char *grace = cli_value(&args, "grace");
    if (grace && !parse_seconds(grace, &grace_s)) {
        cli_error("--grace %s: expected a number of seconds from 0 to 3600", grace);
        cli_args_free(&args);
        return CLI_USAGE;
    }
    int64_t deadline_s = RT_WORKER_HANG_MS / 1000;
    const char *deadline = cli_value(&args, "worker-deadline");
    if (deadline && (!parse_seconds(deadline, &deadline_s) || deadline_s == 0)) {
        cli_error("--worker-deadline %s: expected a number of seconds from 1 to 3600", deadline);
        cli_args_free(&args);
        return CLI_USAGE;
    }
    mm_catalog *cat = NULL;
    status = cli_catalog_open(args.cfg, &cat);
    if (status != CLI_OK) {
        cli_args_free(&args);
        return status;
    }
    /* Block the stop signals before any server thread exists, so that only
     * sigwait below receives them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    mm_server *srv = NULL;
    mm_manager *mgr = NULL;
    mm_error err = { 0 };
    rt_factory workers = { 0 };
    if (open_manager(&args, deadline_s, &workers, &mgr, &err) != 0) {
        cli_error("%s", err.message);
        mm_catalog_close(cat);
        cli_args_free(&args);
        return CLI_USAGE;
    }
    if (mm_server_start(args.cfg, cat, mgr, &srv, &err) != 0) {
        cli_error("%s", err.message);
        mm_manager_close(mgr);
        rt_factory_worker_free(&workers);
        mm_catalog_close(cat);
        cli_args_free(&args);
        return err.code == MM_EIO ? CLI_FAIL : CLI_USAGE;
    }
    /* Missing minimal models and the update check download in the
     * background; a failure is logged and the server keeps serving. */
    if (mm_manager_start_downloads(mgr, &err) != 0)
        fprintf(stderr, "modelmgr: warning: background downloads did not start: %s\n",
                err.message);
    printf("modelmgr %s listening on %s (OpenAI API at %s/v1, Ollama API at %s/api)\n",
           mm_version(), mm_server_url(srv), mm_server_url(srv), mm_server_url(srv));
    fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "modelmgr: %s received: finishing requests in progress (up to %lld s)\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM", (long long)grace_s);
    mm_server_stop(srv, (int)(grace_s * 1000));
    fprintf(stderr, "modelmgr: stopped\n");
    mm_manager_close(mgr);
    rt_factory_worker_free(&workers);
    mm_catalog_close(cat);
    cli_args_free(&args);
    return CLI_OK;
}

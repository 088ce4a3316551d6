/* cmd-serve.c - `modelmgr serve`: the OpenAI- and Ollama-compatible HTTP API
 * on the configured host and port until SIGINT or SIGTERM, then a graceful
 * stop that lets requests in progress finish. */
#include "cli/cli.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static const cli_option serve_options[] = {
    { "grace", "SECONDS", "on SIGINT/SIGTERM, wait this long for requests in progress "
                          "(default 10)" },
    { NULL, NULL, NULL }
};

static const cli_spec serve_spec = {
    .usage = "modelmgr serve [--host ADDR] [--port N] [--api-key KEY] [--grace SECONDS] [options]",
    .description = "Serve the OpenAI-compatible API (/v1/chat/completions, /v1/completions,\n"
                   "/v1/models), Ollama's API (/api/tags, /api/chat, ...), /api/health and\n"
                   "/metrics on one port. Every request goes through the router: the\n"
                   "catalog's models (built-in engine) and the models of `remotes:`,\n"
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
    if (mm_manager_open(args.cfg, &mgr, &err) != 0) {
        cli_error("%s", err.message);
        mm_catalog_close(cat);
        cli_args_free(&args);
        return CLI_USAGE;
    }
    if (mm_server_start(args.cfg, cat, mgr, &srv, &err) != 0) {
        cli_error("%s", err.message);
        mm_manager_close(mgr);
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
    mm_catalog_close(cat);
    cli_args_free(&args);
    return CLI_OK;
}

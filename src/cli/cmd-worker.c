/* cmd-worker.c - `modelmgr worker MODEL --socket PATH`: what `serve` runs
 * for each loaded model so that a crash, a hang or a memory blow-up of one
 * model cannot take the server down. It loads MODEL in-process and serves
 * the OpenAI-compatible API on the Unix socket until its parent dies, its
 * socket is removed, or SIGTERM. Two test hooks (environment, honoured only
 * here) make it crash or hang mid-request; docs/RELIABILITY.md has them. */
#include "cli/cli.h"
#include "runtime/runtime.h"
#include "server/server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const cli_option worker_options[] = {
    { "socket", "PATH", "the Unix socket to serve on (created here, mode 0600)" },
    { "ready-fd", "FD", "write one byte to this inherited descriptor once the socket serves" },
    { NULL, NULL, NULL }
};

static const cli_spec worker_spec = {
    .usage = "modelmgr worker MODEL --socket PATH [options]",
    .description = "Serve one model's generations on a Unix socket in its own process.\n"
                   "'modelmgr serve' starts one per loaded model (see docs/RUNTIME.md);\n"
                   "it is not meant to be run by hand.",
    .options = worker_options,
    .min_args = 1,
    .max_args = 1,
};

/* ---- test hooks: a factory around the engine's that misbehaves on cue ---- */

typedef struct hook_factory {
    const rt_factory *engine;
    const char       *crash_on;   /* MODELMGR_WORKER_CRASH_ON, or NULL */
    const char       *hang_on;    /* MODELMGR_WORKER_HANG_ON, or NULL */
} hook_factory;

typedef struct hook_call {
    const mm_gen_request *req;
    bool crash, hang;
    int  pieces;
} hook_call;

static bool request_mentions(const mm_gen_request *req, const char *text)
{
    if (!text || !text[0])
        return false;
    if (req->prompt && strstr(req->prompt, text))
        return true;
    for (size_t i = 0; i < req->n_messages; i++)
        if (req->messages[i].content && strstr(req->messages[i].content, text))
            return true;
    return false;
}

/* The first piece goes out, then the process dies or stops answering:
 * the failure lands in the middle of a request. */
static int hook_piece(const char *text, size_t len, void *user)
{
    hook_call *c = user;
    int rc = c->req->on_piece ? c->req->on_piece(text, len, c->req->piece_user) : 0;
    if (++c->pieces >= 2) {
        if (c->crash)
            abort();
        while (c->hang) {
            struct timespec ts = { 1, 0 };
            nanosleep(&ts, NULL);
        }
    }
    return rc;
}

static int hook_estimate(void *user, const mm_model_info *m, int n, uint64_t *bytes, mm_error *err)
{
    const hook_factory *h = user;
    return h->engine->estimate(h->engine->user, m, n, bytes, err);
}

static int hook_load(void *user, const mm_model_info *m, void **model, mm_error *err)
{
    const hook_factory *h = user;
    return h->engine->load(h->engine->user, m, model, err);
}

static void hook_unload(void *user, void *model)
{
    const hook_factory *h = user;
    h->engine->unload(h->engine->user, model);
}

static int hook_instance_new(void *user, void *model, void **inst, mm_error *err)
{
    const hook_factory *h = user;
    return h->engine->instance_new(h->engine->user, model, inst, err);
}

static void hook_instance_free(void *user, void *inst)
{
    const hook_factory *h = user;
    h->engine->instance_free(h->engine->user, inst);
}

static int hook_generate(void *user, void *inst, const mm_gen_request *req, char **text,
                         mm_gen_result *res, mm_error *err)
{
    const hook_factory *h = user;
    hook_call c = { .req = req, .crash = request_mentions(req, h->crash_on),
                    .hang = request_mentions(req, h->hang_on) };
    mm_gen_request mine = *req;
    if (c.crash || c.hang) {
        mine.on_piece = hook_piece;
        mine.piece_user = &c;
    }
    return h->engine->generate(h->engine->user, inst, &mine, text, res, err);
}

/* ---- the command ---------------------------------------------------------- */

/* The worker shares the server's stderr: its lines say whose they are. */
static void worker_log(mm_log_level level, const char *line, void *user)
{
    fprintf(stderr, "modelmgr worker '%s' (pid %d): %s: %s\n", (const char *)user,
            (int)getpid(), mm_log_level_name(level), line);
}

/* The worker serves MODEL only, as long as its parent wants it: the
 * parent's back-off and idle unloads decide, not the worker's. */
static int narrow_config(mm_config *cfg, const char *model)
{
    char *def = mm_strdup(model);
    if (!def)
        return -1;
    free(cfg->default_model);
    cfg->default_model = def;
    cfg->idle_timeout_s = 0;
    cfg->skip_downloads = true;
    cfg->cache_size = 0;   /* the server's cache answers repeats */
    return 0;
}

static void write_error_file(const char *socket_path, const char *message)
{
    char *path = mm_asprintf("%s.err", socket_path);
    mm_error ignored = { 0 };
    if (path)
        mm_file_write_atomic(path, message, strlen(message), &ignored);
    free(path);
}

int cmd_worker(int argc, char **argv)
{
    cli_args args;
    int status = cli_parse(&worker_spec, argc, argv, &args);
    if (status != CLI_RUN)
        return status;
    const char *model = args.args[0];
    const char *sock = cli_value(&args, "socket");
    if (!sock || !sock[0]) {
        cli_error("worker: --socket PATH is required");
        cli_args_free(&args);
        return CLI_USAGE;
    }
    /* The parent's readiness signal: it need not poll the socket. */
    int64_t ready_fd = -1;
    const char *ready = cli_value(&args, "ready-fd");
    if (ready && mm_parse_i64(ready, 3, 1 << 20, &ready_fd) != 0) {
        cli_error("worker: --ready-fd takes a descriptor number of 3 or more (got '%s')", ready);
        cli_args_free(&args);
        return CLI_USAGE;
    }
    pid_t parent = getppid();
    mm_log_set_callback(worker_log, (void *)model);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    hook_factory hooks = { .engine = rt_factory_engine(),
                           .crash_on = getenv("MODELMGR_WORKER_CRASH_ON"),
                           .hang_on = getenv("MODELMGR_WORKER_HANG_ON") };
    rt_factory engine = *rt_factory_engine();
    engine.user = args.cfg;
    hooks.engine = &engine;
    rt_factory hooked = { .user = &hooks, .estimate = hook_estimate, .load = hook_load,
                          .unload = hook_unload, .instance_new = hook_instance_new,
                          .instance_free = hook_instance_free, .generate = hook_generate };
    bool use_hooks = (hooks.crash_on && hooks.crash_on[0]) || (hooks.hang_on && hooks.hang_on[0]);

    mm_error err = { 0 };
    mm_manager *mgr = NULL;
    mm_catalog *cat = NULL;
    server_service svc = { 0 };
    server *srv = NULL;
    int rc = narrow_config(args.cfg, model);
    if (rc != 0) {
        mm_error_set(&err, MM_ENOMEM, "out of memory");
        goto fail;
    }
    char **preload = args.cfg->preload;
    size_t n_preload = args.cfg->n_preload;
    args.cfg->preload = NULL;
    args.cfg->n_preload = 0;
    rt_options opts = { .factory = use_hooks ? &hooked : &engine, .queue_timeout_ms = -1 };
    rc = rt_manager_open(args.cfg, &opts, &mgr, &err);
    args.cfg->preload = preload;
    args.cfg->n_preload = n_preload;
    if (rc == 0)
        rc = mm_manager_load(mgr, model, &err);
    if (rc == 0)
        rc = mm_catalog_open(args.cfg, &cat, &err);
    if (rc == 0)
        rc = server_catalog_service_new(cat, mgr, &svc, &err);
    if (rc == 0) {
        server_options so = { .unix_path = sock, .max_inflight = 64 };
        rc = server_start(&so, &svc, &srv, &err);
    }
    if (rc != 0)
        goto fail;
    if (ready_fd >= 0) {
        ssize_t n = write((int)ready_fd, "R", 1);   /* a parent that left learns nothing */
        (void)n;
        close((int)ready_fd);
    }
    /* Until SIGTERM, the parent's death (PR_SET_PDEATHSIG covers most of
     * it; the re-parenting check the rest) or the removal of the socket. */
    for (;;) {
        struct timespec tick = { 1, 0 };
        if (sigtimedwait(&stop, NULL, &tick) > 0)
            break;
        struct stat st;
        if (getppid() != parent || stat(sock, &st) != 0)
            break;
    }
    server_stop(srv, 2000);
    unlink(sock);
    server_catalog_service_free(&svc);
    mm_catalog_close(cat);
    mm_manager_close(mgr);
    mm_log_set_callback(NULL, NULL);
    cli_args_free(&args);
    return CLI_OK;
fail:
    MM_LOG_ERROR("cannot serve: %s", err.message);
    write_error_file(sock, err.message);
    server_catalog_service_free(&svc);
    mm_catalog_close(cat);
    mm_manager_close(mgr);
    mm_log_set_callback(NULL, NULL);
    cli_args_free(&args);
    return CLI_FAIL;
}

/* test-worker-factory.c - the worker factory under the model manager, with
 * the real `modelmgr worker`: a generation through a worker process equals
 * the in-process engine's (text, finish reason, counts, streamed pieces;
 * a stop string cuts and counts as in-process), a cancel in the middle of
 * a stream delivers no piece past it, the worker keeps serving after a
 * stop or a cancel, a worker over its memory limit is killed and the load
 * fails saying so, a worker killed while idle shows in health (degraded,
 * the health version moves) until its restart serves, and every child
 * process is reaped (no zombie left). */
// labels: integration
#include "runtime/runtime.h"
#include "support/synth.h"
#include "support/test.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int collect(const char *text, size_t len, void *user)
{
    mm_buf_append(user, text, len);
    return 0;
}

/* Generate greedily on mgr: n tokens of prompt, with one optional stop
 * string; pieces are collected in streamed. */
static int gen(mm_manager *mgr, const char *prompt, const char *stop, mm_buf *streamed,
               mm_gen_result *out, mm_error *err)
{
    const char *stops[1] = { stop };
    mm_gen_request req = { .model = "tiny", .prompt = prompt, .max_tokens = 8,
                           .no_cache = true, .stop = stop ? stops : NULL,
                           .n_stop = stop ? 1 : 0, .on_piece = collect,
                           .piece_user = streamed };
    return mm_manager_generate(mgr, &req, out, err);
}

/* Raises *flag on piece cancel_at. On the piece before it, it waits a
 * moment, so that the worker runs ahead and the pieces after the cancel
 * are already in the client's buffer when the flag goes up. */
typedef struct cancel_at {
    mm_buf       text;
    int          pieces, cancel_at;
    atomic_bool *flag;
} cancel_at;

static int cancel_piece(const char *text, size_t len, void *user)
{
    cancel_at *c = user;
    mm_buf_append(&c->text, text, len);
    if (++c->pieces == c->cancel_at - 1) {
        struct timespec ts = { 0, 100 * 1000000L };
        nanosleep(&ts, NULL);
    }
    if (c->pieces == c->cancel_at)
        atomic_store(c->flag, true);
    return 0;
}

/* A long greedy generation cancelled by the caller on its second piece:
 * exactly two pieces arrive, the answer is what they say, a prefix of
 * the uncancelled answer full. */
static void check_cancel(mm_manager *mgr, const char *full)
{
    atomic_bool flag = false;
    cancel_at c = { .cancel_at = 2, .flag = &flag };
    mm_buf_init(&c.text, 1 << 20);
    mm_gen_request req = { .model = "tiny", .prompt = "hello world", .max_tokens = 200,
                           .no_cache = true, .on_piece = cancel_piece, .piece_user = &c,
                           .cancel = &flag };
    mm_gen_result res = { 0 };
    mm_error err = { 0 };
    CHECK_INT(mm_manager_generate(mgr, &req, &res, &err), 0);
    CHECK_STR(res.finish_reason, "cancelled");
    CHECK_INT(c.pieces, 2);
    CHECK_STR(res.text ? res.text : "", c.text.data ? c.text.data : "");
    CHECK(res.text && strlen(res.text) < strlen(full) &&
          strncmp(full, res.text, strlen(res.text)) == 0);
    CHECK(res.completion_tokens < 200);
    mm_gen_result_clear(&res);
    mm_buf_free(&c.text);
}

/* The pid of this process's one child process (the worker), or 0. */
static pid_t only_child(void)
{
    pid_t found = 0;
    int n = 0;
    DIR *d = opendir("/proc");
    for (struct dirent *e; d && (e = readdir(d)); ) {
        char path[300], text[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *fp = e->d_name[0] >= '1' && e->d_name[0] <= '9' ? fopen(path, "r") : NULL;
        if (!fp)
            continue;
        const char *close = fgets(text, sizeof text, fp) ? strrchr(text, ')') : NULL;
        fclose(fp);
        char state;
        int ppid = 0;
        if (close && sscanf(close + 1, " %c %d", &state, &ppid) == 2 && ppid == (int)getpid()) {
            found = (pid_t)strtol(e->d_name, NULL, 10);
            n++;
        }
    }
    if (d)
        closedir(d);
    return n == 1 ? found : 0;
}

/* tiny's health row; false when it is not listed. */
static bool tiny_row(mm_manager *mgr, mm_model_health *out)
{
    mm_model_health *rows = NULL;
    size_t n = 0;
    bool got = false;
    if (mm_manager_list(mgr, &rows, &n, NULL) == 0)
        for (size_t i = 0; i < n; i++)
            if (strcmp(rows[i].key, "tiny") == 0) {
                *out = rows[i];
                got = true;
            }
    free(rows);
    return got;
}

/* Polls tiny's health row until its status is want; false after ~30 s. */
static bool wait_status(mm_manager *mgr, mm_health_status want, mm_model_health *row)
{
    for (int i = 0; i < 300; i++) {
        if (tiny_row(mgr, row) && row->status == want)
            return true;
        struct timespec ts = { 0, 100 * 1000000L };
        nanosleep(&ts, NULL);
    }
    return false;
}

/* The loaded model's worker killed while idle: health turns degraded with
 * why and the health version moves (the router re-reads health on that),
 * and both again once the supervisor's restart serves. */
static void check_idle_death(mm_manager *mgr)
{
    pid_t child = only_child();
    CHECK(child > 0);
    if (child <= 0)
        return;
    mm_model_health row;
    CHECK(tiny_row(mgr, &row) && row.status == MM_HEALTH_HEALTHY && row.loaded);
    uint64_t before = rt_manager_health_version(mgr);
    kill(child, SIGKILL);
    CHECK(wait_status(mgr, MM_HEALTH_DEGRADED, &row));
    CHECK_CONTAINS(row.last_error, "the worker of model 'tiny' exited with signal 9");
    uint64_t dead = rt_manager_health_version(mgr);
    CHECK(dead > before);
    CHECK(wait_status(mgr, MM_HEALTH_HEALTHY, &row));
    CHECK_STR(row.last_error, "");
    CHECK(rt_manager_health_version(mgr) > dead);
}

static int open_workers(const mm_config *cfg, const char *const *args, uint64_t rss_limit,
                        rt_factory *f, mm_manager **mgr, mm_error *err)
{
    rt_worker_options wo = { .exe = getenv("MODELMGR_BIN"), .args = args, .cfg = cfg,
                             .rss_limit = rss_limit, .backoff_min_ms = 200 };
    int rc = rt_factory_worker_new(&wo, f, err);
    if (rc != 0)
        return rc;
    rt_options ro = { .factory = f, .queue_timeout_ms = -1, .no_reaper = true };
    rc = rt_manager_open(cfg, &ro, mgr, err);
    if (rc != 0)
        rt_factory_worker_free(f);
    return rc;
}

int main(void)
{
    if (!getenv("MODELMGR_BIN"))
        mmtest_skip("MODELMGR_BIN is not set");
    char *tmp = mmtest_tmpdir();
    setenv("HOME", tmp, 1);
    char path[4200];
    snprintf(path, sizeof path, "%s/models/tiny.gguf", tmp);
    mmtest_write_file(path, "");
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    CHECK_INT(mmtest_synth_model(&p, path), 0);
    const char *extra[] = { "cache_size=0", NULL };
    mm_config *cfg = mmtest_config(tmp, extra);
    CHECK(cfg != NULL);
    if (!cfg)
        return mmtest_finish();
    /* What the worker needs to see the same catalog (mmtest_config's). */
    mmtest_cli_args cli;
    mmtest_cli_args_init(&cli, tmp);
    const char *const *args = cli.argv;

    /* The reference: the engine in this process. */
    mm_manager *local = NULL;
    mm_error err = { 0 };
    CHECK_INT(mm_manager_open(cfg, &local, &err), 0);
    mm_buf want_stream, got_stream, stop_stream;
    mm_buf_init(&want_stream, 1 << 20);
    mm_buf_init(&got_stream, 1 << 20);
    mm_buf_init(&stop_stream, 1 << 20);
    mm_gen_result want = { 0 }, want_stop = { 0 }, got = { 0 }, got_stop = { 0 }, again = { 0 };
    mm_gen_result want_long = { 0 };
    CHECK_INT(gen(local, "hello world", NULL, &want_stream, &want, &err), 0);
    const char *wt = want.text ? want.text : "";
    CHECK(strlen(wt) >= 4);
    /* A stop string from the middle of the answer. */
    char stop[3] = { wt[2], wt[3], 0 };
    mm_buf ignored;
    mm_buf_init(&ignored, 1 << 20);
    CHECK_INT(gen(local, "hello world", stop, &ignored, &want_stop, &err), 0);
    mm_buf_free(&ignored);
    /* The answer a cancelled long generation must be a prefix of. */
    mm_gen_request long_req = { .model = "tiny", .prompt = "hello world", .max_tokens = 200,
                                .no_cache = true };
    CHECK_INT(mm_manager_generate(local, &long_req, &want_long, &err), 0);
    CHECK(want_long.text && strlen(want_long.text) > 0);
    mm_manager_close(local);

    rt_factory workers;
    mm_manager *mgr = NULL;
    CHECK_INT(open_workers(cfg, args, 0, &workers, &mgr, &err), 0);
    if (mgr) {
        CHECK_INT(gen(mgr, "hello world", NULL, &got_stream, &got, &err), 0);
        CHECK_STR(got.text, wt);
        CHECK_STR(got.finish_reason, want.finish_reason);
        CHECK_INT(got.prompt_tokens, want.prompt_tokens);
        CHECK_INT(got.completion_tokens, want.completion_tokens);
        CHECK_STR(got_stream.data, want_stream.data);

        CHECK_INT(gen(mgr, "hello world", stop, &stop_stream, &got_stop, &err), 0);
        CHECK_STR(got_stop.text, want_stop.text);
        CHECK_STR(got_stop.finish_reason, "stop");
        CHECK_STR(stop_stream.data ? stop_stream.data : "", want_stop.text);
        /* The tokens up to the stop are counted, as in-process; none past it. */
        CHECK_INT(got_stop.prompt_tokens, want_stop.prompt_tokens);
        CHECK_INT(got_stop.completion_tokens, want_stop.completion_tokens);
        check_cancel(mgr, want_long.text ? want_long.text : "");
        /* Neither the stop nor the cancel hurt the worker. */
        mm_buf_init(&ignored, 1 << 20);
        CHECK_INT(gen(mgr, "hello world", NULL, &ignored, &again, &err), 0);
        CHECK_STR(again.text, wt);
        CHECK_INT(again.completion_tokens, want.completion_tokens);
        mm_buf_free(&ignored);
        check_idle_death(mgr);
    }
    mm_manager_close(mgr);
    rt_factory_worker_free(&workers);

    /* A 1 MiB resident limit: no process stays under it. */
    mgr = NULL;
    CHECK_INT(open_workers(cfg, args, 1u << 20, &workers, &mgr, &err), 0);
    if (mgr) {
        mm_error lerr = { 0 };
        CHECK(mm_manager_load(mgr, "tiny", &lerr) != 0);
        CHECK_CONTAINS(lerr.message, "the worker of model 'tiny' was killed: it holds ");
        CHECK_CONTAINS(lerr.message, "MiB of memory, over its limit of 1 MiB while loading it");
    }
    mm_manager_close(mgr);
    rt_factory_worker_free(&workers);

    /* Every worker process was waited for. */
    errno = 0;
    CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);

    mm_gen_result_clear(&want);
    mm_gen_result_clear(&want_stop);
    mm_gen_result_clear(&got);
    mm_gen_result_clear(&got_stop);
    mm_gen_result_clear(&again);
    mm_gen_result_clear(&want_long);
    mm_buf_free(&want_stream);
    mm_buf_free(&got_stream);
    mm_buf_free(&stop_stream);
    mm_config_free(cfg);
    mmtest_rmtree(tmp);
    free(tmp);
    return mmtest_finish();
}

/* test-serve-isolate.c - crash isolation end to end: `modelmgr serve` with
 * two synthesized models, each in its own worker process. The worker of
 * one is made to crash in the middle of a request (MODELMGR_WORKER_CRASH_ON)
 * and later to hang (MODELMGR_WORKER_HANG_ON): the request fails with the
 * reason instead of hanging, the other model answers throughout, health
 * shows the crashed model degraded with the reason, the worker is restarted
 * and answers again, the dead process was reaped (no zombie), a worker
 * killed while idle shows in health (degraded, then healthy after its
 * restart) without a request meeting it, SIGTERM stops
 * every worker, and `--no-isolate` serves in-process. */
// labels: integration
#include "support/httpc.h"
#include "support/serve.h"
#include "support/synth.h"
#include "support/test.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *tmp;
/* Downloads off; the worker's test hooks: a prompt with CRASH-ME aborts
 * the worker, one with HANG-ME hangs it. */
static const char *const isolate_env[] = { "SKIP_MODEL_DOWNLOADS=1",
                                           "MODELMGR_WORKER_CRASH_ON=CRASH-ME",
                                           "MODELMGR_WORKER_HANG_ON=HANG-ME", NULL };

static char *read_text(const char *path)
{
    char *text = NULL;
    mm_error err;
    if (mm_file_read(path, 1 << 22, &text, NULL, &err) != 0)
        return NULL;
    return text;
}

/* POST a completion for model with prompt; returns the status, body in r. */
static long complete(const char *url, const char *model, const char *prompt, httpc_result *r)
{
    char full[512], body[512];
    snprintf(full, sizeof full, "%s/v1/completions", url);
    snprintf(body, sizeof body, "{\"model\":\"%s\",\"prompt\":\"%s\",\"max_tokens\":6,"
             "\"temperature\":0}", model, prompt);
    const char *hdr[] = { "Content-Type: application/json", NULL };
    return httpc_request("POST", full, body, hdr, r);
}

/* The pids of the worker processes serve's log says it started for model,
 * in order; returns how many. */
static size_t worker_pids(const char *err_path, const char *model, int *pids, size_t max)
{
    char *text = read_text(err_path);
    char needle[160];
    snprintf(needle, sizeof needle, "model '%s': worker process ", model);
    size_t n = 0;
    for (const char *p = text; p && n < max && (p = strstr(p, needle)); ) {
        p += strlen(needle);
        int pid = 0;
        if (sscanf(p, "%d started", &pid) == 1 && strncmp(p + strcspn(p, " "), " started", 8) == 0)
            pids[n++] = pid;
    }
    free(text);
    return n;
}

/* Whether pid is a live process or an unreaped zombie whose parent is parent. */
static bool process_left(int pid, pid_t parent)
{
    char path[64], text[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return false;
    bool got = fgets(text, sizeof text, fp) != NULL;
    fclose(fp);
    const char *close = got ? strrchr(text, ')') : NULL;
    char state = 0;
    int ppid = 0;
    if (!close || sscanf(close + 1, " %c %d", &state, &ppid) != 2)
        return false;
    return ppid == (int)parent;
}

/* Polls /api/health/detailed until its body holds want (and also, when
 * not NULL, also); false after about 30 s. No timing is asserted. */
static bool poll_health(const char *url, const char *want, const char *also)
{
    char full[512];
    snprintf(full, sizeof full, "%s/api/health/detailed", url);
    for (int i = 0; i < 120; i++) {
        httpc_result r;
        httpc_request("GET", full, NULL, NULL, &r);
        bool ok = r.body && strstr(r.body, want) && (!also || strstr(r.body, also));
        httpc_result_free(&r);
        if (ok)
            return true;
        usleep(250000);
    }
    return false;
}

static void check_isolated(void)
{
    char out_path[4200], err_path[4200], url[256] = "", full[512];
    snprintf(out_path, sizeof out_path, "%s/out.txt", tmp);
    snprintf(err_path, sizeof err_path, "%s/err.txt", tmp);
    /* A circuit opened by the requests that meet tiny's worker while it
     * restarts closes again a second later, so the poll below sees the
     * restarted worker soon (the router's default cooldown is 30 s). */
    const char *args[] = { "--port", "0", "--grace", "5", "--worker-deadline", "3",
                           "--router-cooldown", "1", NULL };
    pid_t pid = mmtest_serve_spawn(tmp, args, isolate_env, out_path, err_path);
    CHECK(mmtest_serve_url(out_path, url, sizeof url));

    httpc_result r;
    CHECK_INT(complete(url, "other", "hello", &r), 200);
    httpc_result_free(&r);
    CHECK_INT(complete(url, "tiny", "hello", &r), 200);
    httpc_result_free(&r);
    /* Sampling options travel to the worker as the client sent them (a
     * negative seed included) and the token counts come back (greedy on
     * "hello world" runs 8 tokens without an end in test-serve-cli). */
    char full0[512];
    snprintf(full0, sizeof full0, "%s/v1/completions", url);
    const char *hdr[] = { "Content-Type: application/json", NULL };
    httpc_request("POST", full0, "{\"model\":\"tiny\",\"prompt\":\"seeded\",\"max_tokens\":3,"
                  "\"temperature\":0.8,\"seed\":-1,\"top_p\":0.9,\"presence_penalty\":0.5,"
                  "\"stream\":true}", hdr, &r);
    CHECK_INT(r.status, 200);
    CHECK_CONTAINS(r.body, "data: [DONE]");
    httpc_result_free(&r);
    httpc_request("POST", full0, "{\"model\":\"tiny\",\"prompt\":\"hello world\",\"max_tokens\":3,"
                  "\"temperature\":0}", hdr, &r);
    cJSON *root = cJSON_Parse(r.body);
    cJSON *usage = cJSON_GetObjectItem(root, "usage");
    CHECK((int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(usage, "prompt_tokens")) >= 2);
    CHECK_INT((int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(usage, "completion_tokens")), 3);
    cJSON_Delete(root);
    httpc_result_free(&r);
    int pids[16];
    CHECK_INT(worker_pids(err_path, "tiny", pids, 16), 1);
    CHECK_INT(worker_pids(err_path, "other", pids, 16), 1);

    /* A worker that cannot load its model (the file went bad after the
     * server read the catalog): the load fails with the worker's own
     * error (the request itself may fall back to the default model). */
    char broken[4200];
    snprintf(broken, sizeof broken, "%s/models/broken.gguf", tmp);
    mmtest_write_file(broken, "not a GGUF file any more");
    complete(url, "broken", "hello", &r);
    httpc_result_free(&r);
    snprintf(full, sizeof full, "%s/api/health/detailed", url);
    httpc_request("GET", full, NULL, NULL, &r);
    CHECK_CONTAINS(r.body, "\"broken\":{\"status\":\"unavailable\"");
    CHECK_CONTAINS(r.body, "the worker of model 'broken' exited with status 1 while loading it: ");
    httpc_result_free(&r);

    /* The crash: an error naming the signal, not a hang and not a 200. */
    long status = complete(url, "tiny", "CRASH-ME now", &r);
    CHECK(status >= 500);
    CHECK_CONTAINS(r.body, "the worker of model 'tiny' exited with signal 6");
    CHECK_CONTAINS(r.body, "restarting in 5 s");
    httpc_result_free(&r);

    /* The other model answers while tiny's worker is down. */
    CHECK_INT(complete(url, "other", "still there", &r), 200);
    httpc_result_free(&r);

    snprintf(full, sizeof full, "%s/api/health/detailed", url);
    httpc_request("GET", full, NULL, NULL, &r);
    CHECK_CONTAINS(r.body, "\"tiny\":{\"status\":\"degraded\"");
    CHECK_CONTAINS(r.body, "exited with signal 6");
    CHECK_CONTAINS(r.body, "\"other\":{\"status\":\"healthy\"");
    httpc_result_free(&r);

    /* After the back-off the worker is back: poll (no timing asserted). */
    bool back = false;
    for (int i = 0; i < 120 && !back; i++) {
        back = complete(url, "tiny", "hello again", &r) == 200;
        httpc_result_free(&r);
        if (!back)
            usleep(250000);
    }
    CHECK(back);
    size_t n = worker_pids(err_path, "tiny", pids, 16);
    CHECK_INT(n, 2);
    /* The crashed process was reaped: no zombie child of the server. */
    CHECK(n >= 1 && !process_left(pids[0], pid));

    /* A hang past the 3 s deadline is killed; the request fails with why. */
    status = complete(url, "tiny", "HANG-ME please", &r);
    CHECK(status >= 500);
    CHECK_CONTAINS(r.body, "was killed: no token for 3 s");
    httpc_result_free(&r);
    CHECK_INT(complete(url, "other", "after the hang", &r), 200);
    httpc_result_free(&r);

    /* A worker that dies while idle: health says so before any request
     * meets it, then shows the restarted worker healthy again. */
    int other_pids[16];
    size_t n_other = worker_pids(err_path, "other", other_pids, 16);
    CHECK_INT(n_other, 1);
    if (n_other == 1)
        kill(other_pids[0], SIGKILL);
    CHECK(poll_health(url, "\"other\":{\"status\":\"degraded\"",
                      "the worker of model 'other' exited with signal 9 (Killed); restarting in"));
    CHECK(poll_health(url, "\"other\":{\"status\":\"healthy\"", NULL));
    CHECK_INT(worker_pids(err_path, "other", other_pids, 16), 2);
    CHECK_INT(complete(url, "other", "after the restart", &r), 200);
    httpc_result_free(&r);

    kill(pid, SIGTERM);
    CHECK_INT(mmtest_serve_wait(pid), 0);
    /* The workers stopped cleanly (under the sanitizers: no report). */
    char *log = read_text(err_path);
    CHECK(log && !strstr(log, "when stopped") && !strstr(log, "did not stop within"));
    CHECK(log && !strstr(log, "Sanitizer") && !strstr(log, "runtime error"));
    free(log);
    /* Every worker was stopped with the server (none was left running). */
    int all[16];
    size_t n_all = worker_pids(err_path, "tiny", all, 16);
    n_all += worker_pids(err_path, "other", all + n_all, 16 - n_all);
    for (size_t i = 0; i < n_all; i++) {
        bool gone = false;
        for (int t = 0; t < 100 && !gone; t++) {
            gone = kill(all[i], 0) != 0 && errno == ESRCH;
            if (!gone)
                usleep(50000);
        }
        CHECK(gone);
    }
}

static void check_no_isolate(void)
{
    char out_path[4200], err_path[4200], url[256] = "";
    snprintf(out_path, sizeof out_path, "%s/out2.txt", tmp);
    snprintf(err_path, sizeof err_path, "%s/err2.txt", tmp);
    const char *args[] = { "--port", "0", "--no-isolate", NULL };
    pid_t pid = mmtest_serve_spawn(tmp, args, isolate_env, out_path, err_path);
    CHECK(mmtest_serve_url(out_path, url, sizeof url));
    httpc_result r;
    CHECK_INT(complete(url, "tiny", "hello", &r), 200);
    httpc_result_free(&r);
    kill(pid, SIGTERM);
    CHECK_INT(mmtest_serve_wait(pid), 0);
    int pids[4];
    CHECK_INT(worker_pids(err_path, "tiny", pids, 4), 0);
}

int main(void)
{
    if (!getenv("MODELMGR_BIN"))
        mmtest_skip("MODELMGR_BIN is not set");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    tmp = mmtest_tmpdir();
    const char *names[] = { "tiny", "other", "broken" };
    for (size_t i = 0; i < 3; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/models/%s.gguf", tmp, names[i]);
        mmtest_write_file(path, "");
        mmtest_synth_params p;
        mmtest_synth_default_params(&p);
        CHECK_INT(mmtest_synth_model(&p, path), 0);
    }
    check_isolated();
    check_no_isolate();
    curl_global_cleanup();
    if (!getenv("KEEPTMP"))
        mmtest_rmtree(tmp);
    free(tmp);
    return mmtest_finish();
}

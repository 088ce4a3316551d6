/* test-secrets-e2e.c - a full run with secrets set, then a search of
 * everything it produced: every command's output and errors (log level
 * debug), every HTTP answer of `modelmgr serve` (including /metrics, health
 * and a refused wrong key) and every file written under the run's
 * directory (audit log, lock file, cache). Neither the Hugging Face token,
 * a wrong token, the server's API key nor a client's wrong key may appear
 * anywhere (issue: secrets never appear in logs, errors, metrics or the
 * audit log). */
// labels: integration
#define _GNU_SOURCE
#include "support/httpc.h"
#include "support/mockhub.h"
#include "support/serve.h"
#include "support/synth.h"
#include "support/test.h"

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TOKEN      "hf_e2eSecretTOKEN1234abcd"
#define WRONG      "hf_wrongSecretTOKEN9876zyxw"
#define API_KEY    "sk-e2eServerKEY5678efgh"
#define CLIENT_BAD "sk-clientWrongKEY4321ijkl"

static const char *const secrets[] = { TOKEN, WRONG, API_KEY, CLIENT_BAD };

static char *tmp;
static mm_buf seen;        /* every output and answer, for the search */
static size_t n_files;     /* files searched under tmp */

static void keep(const char *what, const char *text)
{
    mm_buf_printf(&seen, "\n--- %s ---\n%s", what, text ? text : "");
}

static void check_clean(const char *what, const char *data, size_t len)
{
    for (size_t i = 0; i < MM_ARRAY_LEN(secrets); i++)
        if (len && memmem(data, len, secrets[i], strlen(secrets[i])))
            mmtest_fail(__FILE__, __LINE__, "%s contains the secret %.6s...", what, secrets[i]);
}

static int search_file(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    if (type != FTW_F || st->st_size > (64 << 20))
        return 0;
    /* the config file is where the user put the key; it is theirs */
    if (strstr(path, "/secret-config.yaml"))
        return 0;
    char *data = NULL;
    size_t len = 0;
    mm_error err;
    if (mm_file_read(path, 64u << 20, &data, &len, &err) == 0) {
        check_clean(path, data, len);
        n_files++;
    }
    free(data);
    return 0;
}

static int cli(const char *token, const char *const *args, const char *label)
{
    char ep[256], cache[4200], home[4200], models[4200], list[4200], tok[128], cfg[4200];
    snprintf(ep, sizeof ep, "HF_ENDPOINT=%s", getenv("MMTEST_HUB"));
    snprintf(cache, sizeof cache, "HF_HUB_CACHE=%s/hub", tmp);
    snprintf(home, sizeof home, "HF_HOME=%s/hfhome", tmp);
    snprintf(models, sizeof models, "MODELS_DIR=%s/models", tmp);
    snprintf(list, sizeof list, "MODELS_FILE=%s/models.txt", tmp);
    snprintf(tok, sizeof tok, "HF_TOKEN=%s", token);
    snprintf(cfg, sizeof cfg, "MODELMGR_CONFIG=%s/secret-config.yaml", tmp);
    const char *env[] = { ep, cache, home, models, list, tok, cfg, "MODELMGR_LOG_LEVEL=debug",
                          "NO_PROXY=127.0.0.1", "HF_HUB_OFFLINE=0", "SKIP_MODEL_DOWNLOADS=1",
                          NULL };
    char *out = NULL, *err = NULL;
    int rc = mmtest_run_cli(args, env, &out, &err);
    char what[256];
    snprintf(what, sizeof what, "%s: stdout", label);
    keep(what, out);
    snprintf(what, sizeof what, "%s: stderr", label);
    keep(what, err);
    free(out);
    free(err);
    return rc;
}

static long ask(const char *method, const char *url, const char *path, const char *key,
                const char *body)
{
    char full[512], auth[256];
    snprintf(full, sizeof full, "%s%s", url, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key ? key : "");
    const char *headers[] = { auth, "Content-Type: application/json", NULL };
    httpc_result r;
    long status = httpc_request(method, full, body, key ? headers : headers + 1, &r);
    char what[600];
    snprintf(what, sizeof what, "%s %s (%ld): headers", method, path, status);
    keep(what, r.headers);
    snprintf(what, sizeof what, "%s %s (%ld): body", method, path, status);
    keep(what, r.body);
    httpc_result_free(&r);
    return status;
}

static void serve_session(void)
{
    char out_path[4200], err_path[4200], url[256];
    snprintf(out_path, sizeof out_path, "%s/serve.out", tmp);
    snprintf(err_path, sizeof err_path, "%s/serve.err", tmp);
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "MODELMGR_CONFIG=%s/secret-config.yaml", tmp);
    const char *env[] = { cfg, "HF_TOKEN=" TOKEN, "MODELMGR_LOG_LEVEL=debug",
                          "SKIP_MODEL_DOWNLOADS=1", NULL };
    const char *args[] = { "--port", "0", "--api-key", API_KEY, NULL };
    pid_t pid = mmtest_serve_spawn(tmp, args, env, out_path, err_path);
    CHECK(pid > 0);
    if (!mmtest_serve_url(out_path, url, sizeof url)) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        CHECK(!"serve printed no URL");
        return;
    }
    CHECK_INT((int)ask("GET", url, "/api/health", NULL, NULL), 200);
    CHECK_INT((int)ask("GET", url, "/v1/models", NULL, NULL), 401);
    CHECK_INT((int)ask("GET", url, "/v1/models", CLIENT_BAD, NULL), 401);
    CHECK_INT((int)ask("GET", url, "/v1/models", API_KEY, NULL), 200);
    CHECK_INT((int)ask("POST", url, "/v1/chat/completions", API_KEY,
                       "{\"model\":\"tiny\",\"max_tokens\":4,\"temperature\":0,"
                       "\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}"), 200);
    CHECK_INT((int)ask("POST", url, "/v1/chat/completions", CLIENT_BAD,
                       "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"), 401);
    CHECK_INT((int)ask("GET", url, "/api/health/detailed", API_KEY, NULL), 200);
    CHECK_INT((int)ask("GET", url, "/metrics", API_KEY, NULL), 200);
    CHECK_INT((int)ask("GET", url, "/api/tags", API_KEY, NULL), 200);
    kill(pid, SIGTERM);
    CHECK_INT(mmtest_serve_wait(pid), 0);
}

int main(void)
{
    tmp = mmtest_tmpdir();
    mm_buf_init(&seen, 64u << 20);
    mockhub_options mo = { .token = TOKEN };
    mockhub *mh = NULL;
    CHECK_INT(mockhub_start(&mo, &mh), 0);
    setenv("MMTEST_HUB", mockhub_url(mh), 1);
    CHECK_INT(mockhub_repo_add(mh, "org/gated", MOCKHUB_GATED), 0);
    CHECK_INT(mockhub_file_add(mh, "org/gated", "w.gguf", 50000, 7, true), 0);
    CHECK_INT(mockhub_file_add(mh, "org/gated", "config.json", 300, 8, false), 0);
    CHECK_INT(mockhub_tag_add(mh, "org/gated", "v1", "main"), 0);

    char path[4200];
    snprintf(path, sizeof path, "%s/models", tmp);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/models/tiny.gguf", tmp);
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    CHECK_INT(mmtest_synth_model(&p, path), 0);
    snprintf(path, sizeof path, "%s/models.txt", tmp);
    mmtest_write_file(path, "org/gated\nlocal:tiny.gguf\n");
    /* The user's own file may hold the key: it is the one place allowed. */
    snprintf(path, sizeof path, "%s/secret-config.yaml", tmp);
    mmtest_write_file(path, "hf_token: " TOKEN "\n");

    const char *pull[] = { "pull", "org/gated", "--revision", "v1", NULL };
    CHECK_INT(cli(TOKEN, pull, "pull"), 0);
    const char *pull_file[] = { "pull", "org/gated", "w.gguf", "--revision", "v1", NULL };
    CHECK(cli(WRONG, pull_file, "pull with a wrong token") != 0);
    const char *cmds[][4] = {
        { "config", NULL }, { "config", "--json", NULL }, { "list", "--json", NULL },
        { "health", "--json", NULL }, { "verify", NULL }, { "audit", NULL },
        { "audit", "--failed", NULL }, { "show", "tiny", NULL },
        { "route", "hello", "--json", NULL },
    };
    for (size_t i = 0; i < MM_ARRAY_LEN(cmds); i++)
        cli(TOKEN, cmds[i], cmds[i][0]);

    serve_session();
    mockhub_stop(mh);

    /* Something was said, or the search below proves nothing. */
    CHECK_CONTAINS(seen.data, "org/gated");
    CHECK_CONTAINS(seen.data, "hf_***abcd");            /* config shows the token redacted */
    CHECK_CONTAINS(seen.data, "tiny");
    check_clean("outputs and answers", seen.data, seen.len);
    nftw(tmp, search_file, 16, FTW_PHYS);
    CHECK(n_files >= 5);                                 /* audit, lock, blobs, serve logs */
    snprintf(path, sizeof path, "%s/models/audit.jsonl", tmp);
    CHECK(access(path, R_OK) == 0);

    mm_buf_free(&seen);
    mmtest_rmtree(tmp);
    free(tmp);
    return mmtest_finish();
}

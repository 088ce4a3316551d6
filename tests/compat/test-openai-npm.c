/* test-openai-npm.c - the official `openai` npm package (the client people
 * actually use) against the server on a synthesized model, through
 * openai-sdk.js: chat and completions whole and streamed, models, errors as
 * the SDK's APIError classes. Skips (77) when node or the package is absent:
 * install it with `npm install --prefix tests/compat/.npm openai`. */
// labels: integration model
#include "server/server.h"
#include "support/httpc.h"
#include "support/synth.h"
#include "support/test.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NODE_TIMEOUT_S 120
#define API_KEY "sk-compat-test"

static char *tmp;

static char *find_in_path(const char *name)
{
    const char *path = getenv("PATH");
    for (const char *d = path; d && *d;) {
        size_t len = strcspn(d, ":");
        char full[PATH_MAX];
        snprintf(full, sizeof full, "%.*s/%s", (int)len, d, name);
        if (len && access(full, X_OK) == 0)
            return strdup(full);
        d += len;
        if (*d == ':')
            d++;
    }
    return NULL;
}

/* The package's directory: $MM_OPENAI_MODULE, else tests/compat/.npm. */
static char *find_module(void)
{
    const char *given = getenv("MM_OPENAI_MODULE");
    char path[PATH_MAX];
    if (given && given[0])
        snprintf(path, sizeof path, "%s", given);
    else
        snprintf(path, sizeof path, "%s/tests/compat/.npm/node_modules/openai",
                 getenv("MM_SOURCE_DIR") ? getenv("MM_SOURCE_DIR") : "..");
    char pkg[PATH_MAX + 16];
    snprintf(pkg, sizeof pkg, "%s/package.json", path);
    return access(pkg, R_OK) == 0 ? strdup(path) : NULL;
}

/* Run node script with the environment the script reads; its output goes
 * to out_path. Returns the exit status, -1 on a timeout or crash. */
static int run_node(const char *node, const char *script, const char *module, const char *url,
                    const char *out_path)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0)
            _exit(126);
        dup2(o, 1);
        dup2(o, 2);
        setenv("MM_OPENAI_MODULE", module, 1);
        setenv("MM_BASE_URL", url, 1);
        setenv("MM_API_KEY", API_KEY, 1);
        setenv("MM_MODEL", "tiny", 1);
        /* The SDK must not pick up a real endpoint or key from outside. */
        unsetenv("OPENAI_BASE_URL");
        unsetenv("OPENAI_API_KEY");
        execl(node, node, script, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    for (int waited_ms = 0;; waited_ms += 100) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            break;
        if (waited_ms >= NODE_TIMEOUT_S * 1000) {
            fprintf(stderr, "node ran past %d s: killed\n", NODE_TIMEOUT_S);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        struct timespec ts = { 0, 100 * 1000000L };
        nanosleep(&ts, NULL);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The greedy chat answer the script asks for, fetched without the SDK. */
static char *plain_chat(server *srv)
{
    char url[512];
    snprintf(url, sizeof url, "%s/v1/chat/completions", server_url(srv));
    static const char *const hdr[] = { "Content-Type: application/json",
                                       "Authorization: Bearer " API_KEY, NULL };
    httpc_result r;
    httpc_request("POST", url, "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\","
                  "\"content\":\"Say hello\"}],\"temperature\":0,\"max_tokens\":8}", hdr, &r);
    CHECK_INT(r.status, 200);
    cJSON *root = cJSON_Parse(r.body);
    const cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "choices"), 0);
    const char *content = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(choice, "message"), "content"));
    char *out = content ? strdup(content) : NULL;
    cJSON_Delete(root);
    httpc_result_free(&r);
    return out;
}

/* The value of one sample line of /metrics, -1 when absent. */
static long long metric(server *srv, const char *sample)
{
    char url[512];
    snprintf(url, sizeof url, "%s/metrics", server_url(srv));
    static const char *const hdr[] = { "Authorization: Bearer " API_KEY, NULL };
    httpc_result r;
    long long value = -1;
    if (httpc_request("GET", url, NULL, hdr, &r) == 200) {
        const char *at = strstr(r.body, sample);
        if (at && at[strlen(sample)] == ' ')
            value = strtoll(at + strlen(sample) + 1, NULL, 10);
    }
    httpc_result_free(&r);
    return value;
}

int main(void)
{
    char *node = find_in_path("node");
    char *module = find_module();
    if (!node || !module) {
        free(node);
        free(module);
        mmtest_skip("%s: install Node.js and the package with `npm install --prefix "
                    "tests/compat/.npm openai` (or set MM_OPENAI_MODULE to its directory)",
                    !node ? "node is not installed" : "the openai npm package is not installed");
    }
    const char *src = getenv("MM_SOURCE_DIR") ? getenv("MM_SOURCE_DIR") : "..";
    char script[PATH_MAX];
    snprintf(script, sizeof script, "%s/tests/compat/openai-sdk.js", src);

    tmp = mmtest_tmpdir();
    char *dir = mm_path_join(tmp, "models");
    mm_mkdirs(dir, NULL);
    char *path = mm_path_join(dir, "tiny.gguf");
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    CHECK_INT(mmtest_synth_model(&p, path), 0);

    mm_config *cfg = mmtest_config(tmp, NULL);
    mm_catalog *cat = NULL;
    mm_manager *mgr = NULL;
    server_service svc = { 0 };
    server *srv = NULL;
    mm_error err = { 0 };
    CHECK(cfg != NULL);
    CHECK_INT(mm_catalog_open(cfg, &cat, &err), 0);
    CHECK_INT(mm_manager_open(cfg, &mgr, &err), 0);
    CHECK_INT(server_catalog_service_new(cat, mgr, &svc, &err), 0);
    server_options opts = { .host = "127.0.0.1", .port = 0, .api_key = API_KEY };
    CHECK_INT(server_start(&opts, &svc, &srv, &err), 0);
    if (srv) {
        char out_path[PATH_MAX];
        snprintf(out_path, sizeof out_path, "%s/node.log", tmp);
        int rc = run_node(node, script, module, server_url(srv), out_path);
        char *log = NULL;
        mm_error rerr;
        mm_file_read(out_path, 1 << 20, &log, NULL, &rerr);
        printf("%s", log ? log : "(no output)\n");
        CHECK_INT(rc, 0);
        CHECK_CONTAINS(log, "openai sdk checks: 10 ok");
        CHECK(log && strstr(log, "not ok") == NULL);

        /* The SDK's answer is the server's answer. */
        char *expected = plain_chat(srv);
        cJSON *quoted = cJSON_CreateString(expected ? expected : "");
        char *line = cJSON_PrintUnformatted(quoted);
        char want[1024];
        snprintf(want, sizeof want, "chat answer: %s\n", line ? line : "");
        CHECK_CONTAINS(log, want);
        free(line);
        cJSON_Delete(quoted);
        free(expected);
        free(log);

        /* The 501 carries x-should-retry: false, so the SDK sent it once
         * although it was allowed two retries. */
        CHECK_INT(metric(srv, "modelmgr_http_requests_total{route=\"embeddings\","
                              "model=\"\",status=\"501\"}"), 1);
    }
    server_stop(srv, 1000);
    if (svc.ctx)
        server_catalog_service_free(&svc);
    mm_manager_close(mgr);
    mm_catalog_close(cat);
    mm_config_free(cfg);
    free(path);
    free(dir);
    free(node);
    free(module);
    mmtest_rmtree(tmp);
    free(tmp);
    return mmtest_finish();
}

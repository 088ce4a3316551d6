/* test-status-page.c - GET / on a server over a synthesized model: browsers
 * get the status page (with its CSP), other clients Ollama's text; then, in
 * headless Chromium, the page renders the models table and its chat box gets
 * the same answer as a plain request, and a screenshot is saved as an
 * artifact. The browser part skips (77) when Chromium is absent. */
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHROME_TIMEOUT_S 120
/* The question is markup: the page must show it as text. */
#define ASK_QUERY "?ask=%3Cb%3Ehello%3C%2Fb%3E&temperature=0&max_tokens=8&model=tiny"
#define ASK_BODY "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\"," \
                 "\"content\":\"<b>hello</b>\"}],\"temperature\":0,\"max_tokens\":8}"

static char *tmp;

typedef struct stack {
    mm_config     *cfg;
    mm_catalog    *cat;
    mm_manager    *mgr;
    server_service svc;
    server        *srv;
} stack;

static bool stack_start(stack *s, const char *api_key)
{
    memset(s, 0, sizeof *s);
    mm_error err = { 0 };
    s->cfg = mmtest_config(tmp, NULL);
    if (!s->cfg || mm_catalog_open(s->cfg, &s->cat, &err) != 0 ||
        mm_manager_open(s->cfg, &s->mgr, &err) != 0 ||
        server_catalog_service_new(s->cat, s->mgr, &s->svc, &err) != 0) {
        fprintf(stderr, "stack: %s\n", err.message);
        return false;
    }
    server_options opts = { .host = "127.0.0.1", .port = 0, .api_key = api_key };
    if (server_start(&opts, &s->svc, &s->srv, &err) != 0) {
        fprintf(stderr, "server_start: %s\n", err.message);
        return false;
    }
    return true;
}

static void stack_stop(stack *s)
{
    server_stop(s->srv, 1000);
    if (s->svc.ctx)
        server_catalog_service_free(&s->svc);
    mm_manager_close(s->mgr);
    mm_catalog_close(s->cat);
    mm_config_free(s->cfg);
}

static long get(stack *s, const char *path, const char *const *headers, httpc_result *r)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", server_url(s->srv), path);
    return httpc_request("GET", url, NULL, headers, r);
}

/* The HTTP side of GET /, without a browser. */
static void check_root_http(stack *s)
{
    static const char *const html[] = { "Accept: text/html,application/xhtml+xml,*/*;q=0.8",
                                        NULL };
    httpc_result r;
    char value[512] = "";
    CHECK_INT(get(s, "/", html, &r), 200);
    httpc_header(&r, "content-type", value, sizeof value);
    CHECK_STR(value, "text/html; charset=utf-8");
    value[0] = '\0';
    httpc_header(&r, "content-security-policy", value, sizeof value);
    CHECK_CONTAINS(value, "default-src 'none'");
    CHECK_CONTAINS(value, "connect-src 'self'");
    CHECK_CONTAINS(r.body, "<title>modelmgr</title>");
    /* Self-contained and never parsing data as markup. */
    CHECK(strstr(r.body, "innerHTML") == NULL);
    CHECK(strstr(r.body, "outerHTML") == NULL);
    CHECK(strstr(r.body, "insertAdjacentHTML") == NULL);
    CHECK(strstr(r.body, "document.write") == NULL);
    CHECK(strstr(r.body, "src=\"http") == NULL);
    CHECK(strstr(r.body, "href=\"http") == NULL);
    httpc_result_free(&r);

    /* Ollama clients probe / without asking for HTML. */
    CHECK_INT(get(s, "/", NULL, &r), 200);
    CHECK_STR(r.body, "Ollama is running");
    httpc_result_free(&r);
    static const char *const any[] = { "Accept: */*", NULL };
    CHECK_INT(get(s, "/", any, &r), 200);
    CHECK_STR(r.body, "Ollama is running");
    httpc_result_free(&r);

    /* The page reads last use from detailed health. */
    CHECK_INT(get(s, "/api/health/detailed", NULL, &r), 200);
    cJSON *root = cJSON_Parse(r.body);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(root, "services"), "models"), "models"),
        "tiny");
    CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(m, "last_used_s")));
    cJSON_Delete(root);
    httpc_result_free(&r);
}

/* With api_key: the page itself is public (it holds no data), Ollama's
 * text and every data endpoint are not. */
static void check_root_auth(stack *s)
{
    static const char *const html[] = { "Accept: text/html", NULL };
    static const char *const key[] = { "Authorization: Bearer sk-page-test", NULL };
    httpc_result r;
    CHECK_INT(get(s, "/", html, &r), 200);
    CHECK_CONTAINS(r.body, "<title>modelmgr</title>");
    httpc_result_free(&r);
    CHECK_INT(get(s, "/", NULL, &r), 401);
    cJSON *root = cJSON_Parse(r.body);
    CHECK_CONTAINS(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "error")),
                   "missing or invalid API key");
    cJSON_Delete(root);
    httpc_result_free(&r);
    CHECK_INT(get(s, "/", key, &r), 200);
    CHECK_STR(r.body, "Ollama is running");
    httpc_result_free(&r);
    CHECK_INT(get(s, "/api/health/detailed", NULL, &r), 401);
    httpc_result_free(&r);
}

static char *find_chromium(void)
{
    const char *given = getenv("MM_CHROMIUM");
    if (given && given[0])
        return access(given, X_OK) == 0 ? strdup(given) : NULL;
    static const char *const names[] = { "chromium", "chromium-browser", "google-chrome" };
    const char *path = getenv("PATH");
    char *found = NULL;
    for (const char *d = path; d && *d && !found;) {
        size_t len = strcspn(d, ":");
        for (size_t i = 0; i < MM_ARRAY_LEN(names) && !found; i++) {
            char full[PATH_MAX];
            snprintf(full, sizeof full, "%.*s/%s", (int)len, d, names[i]);
            if (len && access(full, X_OK) == 0)
                found = strdup(full);
        }
        d += len;
        if (*d == ':')
            d++;
    }
    return found;
}

/* Run chromium headless with extra (NULL-terminated) on url; stdout to
 * out_path. Kills its whole process group past the timeout. Returns the
 * exit status or -1. */
static int run_chromium(const char *bin, const char *const *extra, const char *url,
                        const char *out_path)
{
    char profile[PATH_MAX], log_path[PATH_MAX];
    snprintf(profile, sizeof profile, "--user-data-dir=%s/chrome-profile", tmp);
    snprintf(log_path, sizeof log_path, "%s/chrome-stderr.log", tmp);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setpgid(0, 0);
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (o < 0 || e < 0)
            _exit(126);
        dup2(o, 1);
        dup2(e, 2);
        setenv("HOME", tmp, 1);
        const char *argv[24] = { bin, "--headless", "--no-sandbox", "--disable-gpu",
                                 "--disable-dev-shm-usage", "--no-first-run",
                                 "--disable-extensions", "--mute-audio", profile };
        size_t n = 9;
        for (size_t i = 0; extra[i] && n < 22; i++)
            argv[n++] = extra[i];
        argv[n++] = url;
        argv[n] = NULL;
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    setpgid(pid, pid);
    int status = 0;
    for (int waited_ms = 0;; waited_ms += 100) {
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid)
            break;
        if (waited_ms >= CHROME_TIMEOUT_S * 1000) {
            fprintf(stderr, "chromium ran past %d s: killed\n", CHROME_TIMEOUT_S);
            kill(-pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        struct timespec ts = { 0, 100 * 1000000L };
        nanosleep(&ts, NULL);
    }
    kill(-pid, SIGKILL);   /* helpers it may have left behind */
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Undo the HTML serialization of a text node (&amp; &lt; &gt; &nbsp;). */
static char *html_text(const char *s, size_t len)
{
    static const struct { const char *ent, *text; } ents[] = {
        { "&amp;", "&" }, { "&lt;", "<" }, { "&gt;", ">" }, { "&nbsp;", "\xc2\xa0" },
        { "&quot;", "\"" },
    };
    char *out = malloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t k = 0;
        for (; k < MM_ARRAY_LEN(ents); k++) {
            size_t el = strlen(ents[k].ent);
            if (i + el <= len && memcmp(s + i, ents[k].ent, el) == 0) {
                size_t tl = strlen(ents[k].text);
                memcpy(out + n, ents[k].text, tl);
                n += tl;
                i += el;
                break;
            }
        }
        if (k == MM_ARRAY_LEN(ents))
            out[n++] = s[i++];
    }
    out[n] = '\0';
    return out;
}

/* The answer of ASK_BODY as a plain non-streamed request gives it. */
static char *plain_answer(stack *s)
{
    char url[512];
    snprintf(url, sizeof url, "%s/v1/chat/completions", server_url(s->srv));
    static const char *const hdr[] = { "Content-Type: application/json", NULL };
    httpc_result r;
    char *answer = NULL;
    if (httpc_request("POST", url, ASK_BODY, hdr, &r) == 200) {
        cJSON *root = cJSON_Parse(r.body);
        const cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "choices"), 0);
        const char *content = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(choice, "message"), "content"));
        if (content)
            answer = strdup(content);
        cJSON_Delete(root);
    }
    CHECK_INT(r.status, 200);
    httpc_result_free(&r);
    return answer;
}

static char *read_all(const char *path)
{
    char *text = NULL;
    mm_error err;
    if (mm_file_read(path, 16 * 1024 * 1024, &text, NULL, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return NULL;
    }
    return text;
}

static void check_page_in_browser(stack *s, const char *chrome)
{
    char url[600], dom_path[PATH_MAX];
    snprintf(url, sizeof url, "%s/%s", server_url(s->srv), ASK_QUERY);
    snprintf(dom_path, sizeof dom_path, "%s/dom.html", tmp);
    /* Virtual time runs the page's polls and the streamed answer quickly. */
    static const char *const dump[] = { "--virtual-time-budget=20000", "--dump-dom", NULL };
    CHECK_INT(run_chromium(chrome, dump, url, dom_path), 0);
    char *dom = read_all(dom_path);
    CHECK(dom != NULL);
    if (!dom)
        return;
    CHECK_CONTAINS(dom, "<td class=\"model-name\">tiny</td>");
    CHECK_CONTAINS(dom, "<option value=\"tiny\">tiny</option>");
    CHECK_CONTAINS(dom, "class=\"msg user\">&lt;b&gt;hello&lt;/b&gt;</div>");
    CHECK(strstr(dom, "<b>hello</b>") == NULL);
    CHECK_CONTAINS(dom, "data-ask=\"done\"");
    const char *open = strstr(dom, "<pre id=\"ask-result\" hidden=\"\">");
    CHECK(open != NULL);
    if (open) {
        open += strlen("<pre id=\"ask-result\" hidden=\"\">");
        const char *close = strstr(open, "</pre>");
        char *json = close ? html_text(open, (size_t)(close - open)) : NULL;
        cJSON *root = json ? cJSON_Parse(json) : NULL;
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "state")), "done");
        const char *answer = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "answer"));
        char *expected = plain_answer(s);
        CHECK_STR(answer, expected);
        printf("chat box answer: %s\n", json ? json : "(none)");
        free(expected);
        cJSON_Delete(root);
        free(json);
    }
    free(dom);

    /* The artifact: a picture of the page after its first polls. */
    char shot[PATH_MAX + 64], flag[PATH_MAX + 96], cwd[PATH_MAX];
    mkdir("test-artifacts", 0755);
    if (!getcwd(cwd, sizeof cwd))
        snprintf(cwd, sizeof cwd, ".");
    snprintf(shot, sizeof shot, "%s/test-artifacts/status-page.png", cwd);
    unlink(shot);
    snprintf(flag, sizeof flag, "--screenshot=%s", shot);
    snprintf(url, sizeof url, "%s/?ask=hello&temperature=0&max_tokens=8", server_url(s->srv));
    const char *const pic[] = { "--virtual-time-budget=20000", "--window-size=1280,900",
                                "--hide-scrollbars", flag, NULL };
    char out_path[PATH_MAX];
    snprintf(out_path, sizeof out_path, "%s/screenshot.log", tmp);
    CHECK_INT(run_chromium(chrome, pic, url, out_path), 0);
    char *png = read_all(shot);
    CHECK(png && memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0);
    free(png);
    printf("status page screenshot: %s\n", shot);
}

/* With api_key and no key pasted yet, the page says so and shows no data. */
static void check_locked_page(stack *s, const char *chrome)
{
    char url[600], dom_path[PATH_MAX];
    snprintf(url, sizeof url, "%s/", server_url(s->srv));
    snprintf(dom_path, sizeof dom_path, "%s/dom-locked.html", tmp);
    static const char *const dump[] = { "--virtual-time-budget=5000", "--dump-dom", NULL };
    CHECK_INT(run_chromium(chrome, dump, url, dom_path), 0);
    char *dom = read_all(dom_path);
    CHECK_CONTAINS(dom, "key needed");
    CHECK_CONTAINS(dom, "this server needs an API key");
    CHECK(dom && strstr(dom, "<td class=\"model-name\">") == NULL);
    free(dom);
}

int main(void)
{
    tmp = mmtest_tmpdir();
    char *dir = mm_path_join(tmp, "models");
    mm_mkdirs(dir, NULL);
    char *path = mm_path_join(dir, "tiny.gguf");
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    CHECK_INT(mmtest_synth_model(&p, path), 0);
    char *chrome = find_chromium();

    stack s;
    CHECK(stack_start(&s, NULL));
    if (s.srv) {
        check_root_http(&s);
        if (chrome)
            check_page_in_browser(&s, chrome);
    }
    stack_stop(&s);

    CHECK(stack_start(&s, "sk-page-test"));
    if (s.srv) {
        check_root_auth(&s);
        if (chrome)
            check_locked_page(&s, chrome);
    }
    stack_stop(&s);

    free(path);
    free(dir);
    mmtest_rmtree(tmp);
    free(tmp);
    if (!chrome && mmtest_failures == 0) {
        mmtest_finish();
        mmtest_skip("chromium is not installed: the status page was checked over HTTP only "
                    "(install Debian's chromium, or set MM_CHROMIUM to a Chrome binary)");
    }
    free(chrome);
    return mmtest_finish();
}

/* test-examples.c - runs every ```console block of README.md and the docs/ files:
 * each "$ command" through /bin/sh (modelmgr on PATH is the built binary) in
 * a scratch directory per document that holds a synthesized stories260K.gguf,
 * with HF_ENDPOINT pointing at a mock hub; checks the exit status and that
 * the expected lines appear in order (within stdout and within stderr). The conventions are in
 * docs/ARCHITECTURE.md ("Examples in these documents"). */
// labels: integration
#include "docs-util.h"
#include "support/mockhub.h"
#include "support/synth.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CMD_OUTPUT_MAX (1u << 20)
#define CMD_TIMEOUT_S 60
#define SKIP_MARKER "*Not run by the doc test:"

/* The token the mock hub accepts, and one it knows but has not approved for
 * gated repos; the documents show what modelmgr does with each. */
#define DOCS_TOKEN "hf_docsExampleToken0000abcd"
#define DOCS_UNAPPROVED "hf_docsUnapprovedToken00wxyz"

static mockhub *hub;
static char bin_dir[4200];
static char fixture_model[4200];
static int blocks_run, blocks_skipped, commands_run;

/* Run cmd with /bin/sh in dir. Returns the exit status (-1 on a signal);
 * *out and *err (caller frees) are what it wrote to stdout and stderr. */
static int run_shell(const char *dir, const char *cmd, char **out, char **err)
{
    char err_path[8192];
    snprintf(err_path, sizeof err_path, "%s/.stderr", dir);
    int fds[2];
    if (pipe(fds) != 0)
        abort();
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        /* stderr to a file: it cannot block, so one pipe needs no poll. */
        int efd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (efd < 0)
            _exit(126);
        dup2(fds[1], 1);
        dup2(efd, 2);
        close(efd);
        close(fds[0]);
        close(fds[1]);
        if (chdir(dir) != 0)
            _exit(126);
        static char path[8192], home[8192], endpoint[256];
        snprintf(path, sizeof path, "PATH=%s:/usr/local/bin:/usr/bin:/bin", bin_dir);
        snprintf(home, sizeof home, "HOME=%s/home", dir);
        snprintf(endpoint, sizeof endpoint, "HF_ENDPOINT=%s", mockhub_url(hub));
        const char *asan = getenv("ASAN_OPTIONS"), *ubsan = getenv("UBSAN_OPTIONS");
        static char asan_env[512], ubsan_env[512];
        snprintf(asan_env, sizeof asan_env, "ASAN_OPTIONS=%s", asan ? asan : "");
        snprintf(ubsan_env, sizeof ubsan_env, "UBSAN_OPTIONS=%s", ubsan ? ubsan : "");
        char *const env[] = { path, home, endpoint, "LC_ALL=C", "NO_PROXY=127.0.0.1",
                              "no_proxy=127.0.0.1", asan_env, ubsan_env, NULL };
        alarm(CMD_TIMEOUT_S);
        execle("/bin/sh", "sh", "-c", cmd, (char *)NULL, env);
        _exit(127);
    }
    close(fds[1]);
    mm_buf b;
    mm_buf_init(&b, CMD_OUTPUT_MAX);
    char chunk[4096];
    for (;;) {
        ssize_t got = read(fds[0], chunk, sizeof chunk);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        mm_buf_append(&b, chunk, (size_t)got);
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    *out = mm_buf_take(&b);
    *err = NULL;
    if (mm_file_read(err_path, CMD_OUTPUT_MAX, err, NULL, NULL) != 0)
        *err = mm_strdup("");
    unlink(err_path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The status a command line promises with a trailing "# exit N"; else 0. */
static int expected_status(const char *cmd)
{
    const char *nl = strchr(cmd, '\n');
    size_t first = nl ? (size_t)(nl - cmd) : strlen(cmd);
    for (const char *p = cmd; p && p < cmd + first; p = strstr(p + 1, "# exit ")) {
        if (strncmp(p, "# exit ", 7) == 0 && p[7] >= '0' && p[7] <= '9')
            return (int)strtol(p + 7, NULL, 10);
    }
    return 0;
}

/* The next line at or after *at in lines that matches pat; moves *at past it. */
static bool find_line(char **lines, size_t n, size_t *at, const char *pat)
{
    char text[4096];
    for (size_t i = *at; i < n; i++) {
        docs_squeeze(lines[i], text, sizeof text);
        if (docs_glob(pat, text)) {
            *at = i + 1;
            return true;
        }
    }
    return false;
}

/* Check one command: its status, and each expected line (squeezed, with
 * "..." wildcards) matches a line of stdout or of stderr, in order within
 * each stream (how the two interleave depends on buffering). */
static void check_command(const char *doc, int line, const char *dir, const char *cmd,
                          char **expect, size_t n_expect)
{
    char *out = NULL, *err = NULL;
    int status = run_shell(dir, cmd, &out, &err);
    int want = expected_status(cmd);
    commands_run++;
    mmtest_checks++;
    if (status != want)
        mmtest_fail(doc, line, "'%s' exited %d, expected %d; output:\n%s%s", cmd, status, want,
                    out, err);
    char **got_out = NULL, **got_err = NULL;
    size_t n_out = docs_lines(out, &got_out), n_err = docs_lines(err, &got_err);
    size_t at_out = 0, at_err = 0;
    char pat[4096];
    for (size_t e = 0; e < n_expect; e++) {
        docs_squeeze(expect[e], pat, sizeof pat);
        if (strcmp(pat, "...") == 0 || !*pat)
            continue;
        mmtest_checks++;
        if (find_line(got_out, n_out, &at_out, pat) || find_line(got_err, n_err, &at_err, pat))
            continue;
        mmtest_fail(doc, line, "'%s': expected line not found (in order): \"%s\"", cmd,
                    expect[e]);
        fprintf(stderr, "  stdout was:\n");
        for (size_t k = 0; k < n_out; k++)
            fprintf(stderr, "  | %s\n", got_out[k]);
        fprintf(stderr, "  stderr was:\n");
        for (size_t k = 0; k < n_err; k++)
            fprintf(stderr, "  | %s\n", got_err[k]);
        break;
    }
    free(got_out);
    free(got_err);
    free(out);
    free(err);
}

/* Run the console blocks of one document in order in its own directory. */
static void run_document(const char *src, const char *rel, const char *root)
{
    char *text = docs_read(src, rel);
    if (!text)
        return;
    char dir[4400], cmd[16384];
    snprintf(dir, sizeof dir, "%s/%s", root, rel);
    for (char *p = dir + strlen(root) + 1; *p; p++)
        if (*p == '/')
            *p = '_';
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/home' && cp '%s' '%s/stories260K.gguf'", dir,
             fixture_model, dir);
    if (system(cmd) != 0)
        abort();
    char **lines = NULL;
    size_t n = docs_lines(text, &lines);
    const char *prev = "";
    for (size_t i = 0; i < n; i++) {
        if (strcmp(lines[i], "```console") != 0) {
            if (lines[i][0])
                prev = lines[i];
            continue;
        }
        int block_line = (int)i + 1;
        bool skip = strncmp(prev, SKIP_MARKER, strlen(SKIP_MARKER)) == 0;
        if (skip) {
            /* An opt-out must say why. */
            mmtest_checks++;
            if (strlen(prev) < strlen(SKIP_MARKER) + 8)
                mmtest_fail(rel, block_line, "skip marker without a reason: %s", prev);
            blocks_skipped++;
        } else {
            blocks_run++;
        }
        size_t j = i + 1;
        while (j < n && strncmp(lines[j], "```", 3) != 0)
            j++;
        /* Commands with their continuation lines, then their expected lines. */
        for (size_t k = i + 1; !skip && k < j;) {
            if (strncmp(lines[k], "$ ", 2) != 0) {
                mmtest_fail(rel, (int)k + 1, "console block line outside a command: %s",
                            lines[k]);
                k++;
                continue;
            }
            int cmd_line = (int)k + 1;
            size_t used = (size_t)snprintf(cmd, sizeof cmd, "%s", lines[k] + 2);
            k++;
            while (k < j && (strncmp(lines[k], "> ", 2) == 0 || strcmp(lines[k], ">") == 0) &&
                   used < sizeof cmd) {
                const char *cont = lines[k][1] ? lines[k] + 2 : "";
                used += (size_t)snprintf(cmd + used, sizeof cmd - used, "\n%s", cont);
                k++;
            }
            size_t first_expect = k;
            while (k < j && strncmp(lines[k], "$ ", 2) != 0)
                k++;
            check_command(rel, cmd_line, dir, cmd, lines + first_expect, k - first_expect);
        }
        i = j;
        prev = "";
    }
    free(lines);
    free(text);
}

static void start_hub(void)
{
    mockhub_options opts = { .token = DOCS_TOKEN, .unapproved_token = DOCS_UNAPPROVED };
    if (mockhub_start(&opts, &hub) != 0)
        mmtest_skip("cannot start the mock hub on 127.0.0.1");
    /* demo/tiny-GGUF: main, tag v1.0 and branch dev at one commit.
     * demo/gated-GGUF needs an approved token. */
    if (mockhub_repo_add(hub, "demo/tiny-GGUF", MOCKHUB_PUBLIC) != 0 ||
        mockhub_file_add(hub, "demo/tiny-GGUF", "tiny-Q8_0.gguf", 4096, 7, true) != 0 ||
        mockhub_file_add(hub, "demo/tiny-GGUF", "README.md", 120, 8, false) != 0 ||
        mockhub_tag_add(hub, "demo/tiny-GGUF", "v1.0", "main") != 0 ||
        mockhub_branch_add(hub, "demo/tiny-GGUF", "dev", "main") != 0 ||
        mockhub_repo_add(hub, "demo/gated-GGUF", MOCKHUB_GATED) != 0 ||
        mockhub_file_add(hub, "demo/gated-GGUF", "gated-Q4_K_M.gguf", 2048, 9, true) != 0 ||
        mockhub_tag_add(hub, "demo/gated-GGUF", "v1.0", "main") != 0 ||
        mockhub_repo_add(hub, "demo/corrupt-GGUF", MOCKHUB_PUBLIC) != 0 ||
        mockhub_file_add(hub, "demo/corrupt-GGUF", "corrupt-Q8_0.gguf", 4096, 10, true) != 0 ||
        mockhub_tag_add(hub, "demo/corrupt-GGUF", "v1.0", "main") != 0)
        mmtest_skip("mock hub set-up failed");
    /* Every transfer of the corrupt repo's file has one byte flipped. */
    mockhub_file_info info;
    if (mockhub_file_info_get(hub, "demo/corrupt-GGUF", "main", "corrupt-Q8_0.gguf", &info) != 0)
        mmtest_skip("mock hub set-up failed");
    mockhub_fault corrupt = { .where = MOCKHUB_AT_CDN, .method = "GET",
                              .path_contains = info.sha256, .corrupt = true };
    mockhub_fault_add(hub, &corrupt);
}

int main(void)
{
    const char *src = docs_source_dir();
    const char *bin = getenv("MODELMGR_BIN");
    if (!bin || access(bin, X_OK) != 0)
        mmtest_skip("MODELMGR_BIN is unset or not executable");
    char *root = mmtest_tmpdir();
    /* modelmgr on PATH is the binary under test. */
    snprintf(bin_dir, sizeof bin_dir, "%s/bin", root);
    mkdir(bin_dir, 0755);
    char link[4400], abs_bin[4096];
    snprintf(link, sizeof link, "%s/modelmgr", bin_dir);
    if (!realpath(bin, abs_bin) || symlink(abs_bin, link) != 0)
        abort();
    /* A stand-in with the shapes of llama2.c's stories260K (F32). */
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    p.name = "stories260K";
    p.n_embd = 64;
    p.n_layer = 5;
    p.n_head = 8;
    p.n_head_kv = 4;
    p.n_ff = 172;
    p.n_vocab = 512;
    p.n_ctx = 512;
    snprintf(fixture_model, sizeof fixture_model, "%s/stories260K.gguf", root);
    if (mmtest_synth_model(&p, fixture_model) != 0)
        abort();
    start_hub();
    char **docs = docs_list(src);
    for (char **d = docs; *d; d++)
        run_document(src, *d, root);
    docs_list_free(docs);
    printf("%d console blocks run (%d commands), %d opted out\n", blocks_run, commands_run,
           blocks_skipped);
    CHECK(blocks_run >= 5);
    mockhub_stop(hub);
    mmtest_rmtree(root);
    free(root);
    return mmtest_finish();
}

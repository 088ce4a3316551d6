/* test-hub-faults-pull.c - download faults through mm_pull and the CLI, each
 * ending in a verified file or a clean error with its audit entry and no
 * half-made file in the snapshot: connections dropped at 10/50/99% (resumed
 * with Range; the mock's byte counters prove nothing was fetched twice), a
 * full disk (RLIMIT_FSIZE in a child: clean error, partial kept, a later run
 * completes), `modelmgr pull` killed with SIGKILL mid-download then rerun,
 * and two `modelmgr pull` processes pulling one file at once. */
// labels: integration
#include "hub-fixture.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

static char ep_flag[256];
static char blob_url[128];      /* "/blob/<sha256>" of FX_LFS */
static char blob_sha[65];

static mm_config *config(const fixture *fx)
{
    snprintf(ep_flag, sizeof ep_flag, "hf_endpoint=%s", mockhub_url(fx->mh));
    const char *extra[] = { ep_flag, "hf_token=", NULL };
    return mmtest_config(fx->tmp, extra);
}

static void start(fixture *fx)
{
    fx_start(fx, NULL);
    mockhub_file_info info;
    mockhub_file_info_get(fx->mh, FX_REPO, "main", FX_LFS, &info);
    mm_strlcpy(blob_sha, info.sha256, sizeof blob_sha);
    snprintf(blob_url, sizeof blob_url, "/blob/%s", info.sha256);
}

static int pull(const fixture *fx, const mm_config *cfg, mm_error *err)
{
    mm_pull_request rq = { .repo = FX_REPO, .file = FX_LFS, .revision = fx->commit,
                           .models_dir = cfg->models_dir };
    mm_pull_file files[2];
    size_t n = 0;
    return mm_pull(cfg, &rq, NULL, NULL, files, 2, &n, err);
}

static void path_of(const fixture *fx, const char *what, char *out, size_t size)
{
    if (strcmp(what, "partial") == 0)
        snprintf(out, size, "%s/models--org--model/blobs/%s.incomplete", fx->cache, blob_sha);
    else if (strcmp(what, "snapshot") == 0)
        snprintf(out, size, "%s/models--org--model/snapshots/%s/%s", fx->cache, fx->commit, FX_LFS);
    else
        snprintf(out, size, "%s/models--org--model/blobs", fx->cache);
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* The audit records of a models_dir, as a parsed array of objects. */
static cJSON *audit_of(const char *models_dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/audit.jsonl", models_dir);
    char *text = NULL;
    cJSON *all = cJSON_CreateArray();
    if (mm_file_read(path, 1 << 20, &text, NULL, NULL) != 0)
        return all;
    for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        cJSON *o = cJSON_Parse(line);
        if (o)
            cJSON_AddItemToArray(all, o);
    }
    free(text);
    return all;
}

static const char *field(const cJSON *rec, const char *name)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(rec, name));
    return v ? v : "";
}

/* The one CDN GET after the drop asked for the rest, and only the rest. */
static void test_drop_at(int percent)
{
    fixture fx;
    start(&fx);
    mm_config *cfg = config(&fx);
    int64_t at = (int64_t)FX_LFS_SIZE * percent / 100;
    mockhub_fault drop = { .where = MOCKHUB_AT_CDN, .method = "GET", .drop_after = at, .times = 1 };
    mockhub_fault_add(fx.mh, &drop);
    mm_error err = { 0 };
    CHECK_INT(pull(&fx, cfg, &err), 0);
    char path[8400];
    path_of(&fx, "snapshot", path, sizeof path);
    CHECK(fx_content_is(path, FX_LFS_SEED, FX_LFS_SIZE));
    CHECK_INT(mockhub_count(fx.mh, "GET", blob_url), 2);
    CHECK_INT(mockhub_bytes_sent(fx.mh, blob_url), FX_LFS_SIZE);   /* nothing twice */
    mockhub_request rq;
    int gets = 0;
    for (size_t i = 0; mockhub_request_get(fx.mh, i, &rq) == 0; i++)
        if (rq.cdn && strcmp(rq.method, "GET") == 0) {
            CHECK_INT(rq.range_start, gets == 0 ? -1 : at);
            CHECK_INT(rq.bytes_sent, gets == 0 ? at : FX_LFS_SIZE - at);
            gets++;
        }
    path_of(&fx, "partial", path, sizeof path);
    CHECK(!fx_exists(path));
    cJSON *audit = audit_of(cfg->models_dir);
    CHECK_INT(cJSON_GetArraySize(audit), 1);
    const cJSON *rec = cJSON_GetArrayItem(audit, 0);
    CHECK_STR(field(rec, "result"), "downloaded");
    CHECK_STR(field(rec, "sha256"), blob_sha);
    CHECK_STR(field(rec, "commit"), fx.commit);
    CHECK_INT(cJSON_GetObjectItem(rec, "bytes") ? cJSON_GetObjectItem(rec, "bytes")->valueint : 0,
              FX_LFS_SIZE);
    cJSON_Delete(audit);
    mm_config_free(cfg);
    fx_stop(&fx);
}

/* A file-size limit makes write() fail with EFBIG, as a full disk fails it
 * with ENOSPC: the same path through the client, no root or tmpfs needed. */
static void test_disk_full(void)
{
    fixture fx;
    start(&fx);
    mm_config *cfg = config(&fx);
    const int64_t limit = 60000;
    char msg_path[4200];
    snprintf(msg_path, sizeof msg_path, "%s/child-error.txt", fx.tmp);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = { .rlim_cur = (rlim_t)limit, .rlim_max = (rlim_t)limit };
        mm_error err = { 0 };
        int rc = setrlimit(RLIMIT_FSIZE, &rl) == 0 ? pull(&fx, cfg, &err) : 99;
        int fd = open(msg_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            ssize_t w = write(fd, err.message, strlen(err.message));
            (void)w;
            close(fd);
        }
        _exit(rc == MM_EIO ? 0 : 1);
    }
    int status = -1;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *msg = NULL;
    CHECK_INT(mm_file_read(msg_path, 4096, &msg, NULL, NULL), 0);
    CHECK_CONTAINS(msg, "not enough disk space for model.gguf (200000 bytes) at ");
    CHECK_CONTAINS(msg, "; free some space and pull again (the download resumes)");
    free(msg);
    char path[8400];
    path_of(&fx, "partial", path, sizeof path);
    CHECK_INT(file_size(path), limit);      /* kept, exactly what fitted */
    path_of(&fx, "snapshot", path, sizeof path);
    CHECK(!fx_exists(path));
    cJSON *audit = audit_of(cfg->models_dir);
    CHECK_INT(cJSON_GetArraySize(audit), 1);
    CHECK_STR(field(cJSON_GetArrayItem(audit, 0), "result"), "error");
    CHECK_CONTAINS(field(cJSON_GetArrayItem(audit, 0), "error"), "not enough disk space");
    cJSON_Delete(audit);

    /* Space again: the next run continues at the limit. */
    mockhub_log_clear(fx.mh);
    mm_error err = { 0 };
    CHECK_INT(pull(&fx, cfg, &err), 0);
    CHECK(fx_content_is(path, FX_LFS_SEED, FX_LFS_SIZE));
    CHECK_INT(mockhub_bytes_sent(fx.mh, blob_url), FX_LFS_SIZE - limit);
    audit = audit_of(cfg->models_dir);
    CHECK_INT(cJSON_GetArraySize(audit), 2);
    CHECK_STR(field(cJSON_GetArrayItem(audit, 1), "result"), "downloaded");
    CHECK_STR(field(cJSON_GetArrayItem(audit, 1), "sha256"), blob_sha);
    cJSON_Delete(audit);
    mm_config_free(cfg);
    fx_stop(&fx);
}

/* `modelmgr pull` in the background, stdout and stderr to files in tmp. */
static pid_t spawn_pull(const fixture *fx, const char *tag)
{
    static char ep[128], cache[4200], home[4200], models[4200], list[4200];
    snprintf(ep, sizeof ep, "HF_ENDPOINT=%s", mockhub_url(fx->mh));
    snprintf(cache, sizeof cache, "HF_HUB_CACHE=%s", fx->cache);
    snprintf(home, sizeof home, "HF_HOME=%s/home", fx->tmp);
    snprintf(models, sizeof models, "MODELS_DIR=%s/models", fx->tmp);
    snprintf(list, sizeof list, "MODELS_FILE=%s/conf/models.txt", fx->tmp);
    char out[4200];
    snprintf(out, sizeof out, "%s/%s.out", fx->tmp, tag);
    const char *bin = getenv("MODELMGR_BIN") ? getenv("MODELMGR_BIN") : "./modelmgr";
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
        char *env[] = { ep, cache, home, models, list, "HF_TOKEN=", "HUGGING_FACE_HUB_TOKEN=",
                        "HF_HUB_OFFLINE=0", "NO_PROXY=127.0.0.1", NULL };
        for (size_t i = 0; env[i]; i++)
            putenv(env[i]);
        char *args[] = { (char *)bin, "pull", FX_REPO, FX_LFS, "--revision", "v1.0", "--quiet",
                         NULL };
        execv(bin, args);
        _exit(127);
    }
    return pid;
}

static char *read_out(const fixture *fx, const char *tag)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.out", fx->tmp, tag);
    char *text = NULL;
    mm_file_read(path, 1 << 20, &text, NULL, NULL);
    return text;
}

static void test_killed_then_resumed(void)
{
    fixture fx;
    start(&fx);
    const int64_t at = 80000;
    /* The CDN stops for a while after `at` bytes: the moment to kill. */
    mockhub_fault pause = { .where = MOCKHUB_AT_CDN, .method = "GET", .pause_after = at,
                            .pause_ms = 1500, .times = 1 };
    mockhub_fault_add(fx.mh, &pause);
    pid_t pid = spawn_pull(&fx, "killed");
    CHECK(pid > 0);
    char partial[8400];
    path_of(&fx, "partial", partial, sizeof partial);
    for (int i = 0; i < 1000 && file_size(partial) < at; i++) {
        struct timespec ts = { 0, 10 * 1000000 };
        nanosleep(&ts, NULL);
    }
    CHECK_INT(file_size(partial), at);
    kill(pid, SIGKILL);
    int status = -1;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    char path[8400];
    path_of(&fx, "snapshot", path, sizeof path);
    CHECK(!fx_exists(path));
    CHECK_INT(file_size(partial), at);

    mockhub_log_clear(fx.mh);
    char *out = NULL, *err = NULL;
    const char *again[] = { "pull", FX_REPO, FX_LFS, "--revision", "v1.0", "--quiet", NULL };
    CHECK_INT(fx_cli(&fx, again, &out, &err), 0);
    CHECK_CONTAINS(out, "downloaded org/model/model.gguf (200000 bytes");
    free(out);
    free(err);
    CHECK(fx_content_is(path, FX_LFS_SEED, FX_LFS_SIZE));
    CHECK_INT(mockhub_bytes_sent(fx.mh, blob_url), FX_LFS_SIZE - at);
    mockhub_request rq;
    for (size_t i = 0; mockhub_request_get(fx.mh, i, &rq) == 0; i++)
        if (rq.cdn)
            CHECK_INT(rq.range_start, at);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/models", fx.tmp);
    cJSON *audit = audit_of(dir);
    CHECK_INT(cJSON_GetArraySize(audit), 1);   /* the killed run wrote none */
    CHECK_STR(field(cJSON_GetArrayItem(audit, 0), "result"), "downloaded");
    cJSON_Delete(audit);
    fx_stop(&fx);
}

static void test_two_processes(void)
{
    fixture fx;
    start(&fx);
    mockhub_fault slow = { .where = MOCKHUB_AT_CDN, .delay_ms = 300 };
    mockhub_fault_add(fx.mh, &slow);
    pid_t a = spawn_pull(&fx, "a"), b = spawn_pull(&fx, "b");
    int sa = -1, sb = -1;
    CHECK(a > 0 && waitpid(a, &sa, 0) == a);
    CHECK(b > 0 && waitpid(b, &sb, 0) == b);
    CHECK(WIFEXITED(sa) && WEXITSTATUS(sa) == 0);
    CHECK(WIFEXITED(sb) && WEXITSTATUS(sb) == 0);
    char *oa = read_out(&fx, "a"), *ob = read_out(&fx, "b");
    int downloaded = (oa && strstr(oa, "downloaded org/model/model.gguf")) +
                     (ob && strstr(ob, "downloaded org/model/model.gguf"));
    int cached = (oa && strstr(oa, "cached org/model/model.gguf")) +
                 (ob && strstr(ob, "cached org/model/model.gguf"));
    CHECK_INT(downloaded, 1);
    CHECK_INT(cached, 1);
    free(oa);
    free(ob);
    CHECK_INT(mockhub_count(fx.mh, "GET", blob_url), 1);
    char path[8400];
    path_of(&fx, "blobs", path, sizeof path);
    CHECK_INT(fx_count_entries(path, NULL), 1);
    path_of(&fx, "snapshot", path, sizeof path);
    CHECK(fx_content_is(path, FX_LFS_SEED, FX_LFS_SIZE));
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/models", fx.tmp);
    cJSON *audit = audit_of(dir);
    CHECK_INT(cJSON_GetArraySize(audit), 2);
    const char *r0 = field(cJSON_GetArrayItem(audit, 0), "result");
    const char *r1 = field(cJSON_GetArrayItem(audit, 1), "result");
    CHECK((strcmp(r0, "downloaded") == 0 && strcmp(r1, "cached") == 0) ||
          (strcmp(r0, "cached") == 0 && strcmp(r1, "downloaded") == 0));
    cJSON_Delete(audit);
    fx_stop(&fx);
}

int main(void)
{
    const int percents[] = { 10, 50, 99 };
    for (size_t i = 0; i < MM_ARRAY_LEN(percents); i++)
        test_drop_at(percents[i]);
    test_disk_full();
    test_killed_then_resumed();
    test_two_processes();
    return mmtest_finish();
}

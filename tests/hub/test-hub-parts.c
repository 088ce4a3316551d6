/* test-hub-parts.c - a large file fetched as concurrent Range requests: it
 * assembles exactly over one kept-alive connection per worker, a dropped
 * part resumes alone (the mock's request log proves no byte range was
 * served twice), a killed process resumes every
 * part from its saved state, a full disk fails cleanly before any GET,
 * corruption in one part is caught, a server ignoring Range gets a single
 * stream, parallel_parts 1 is one stream, two clients share one download,
 * `modelmgr pull` honours download_parallel, and the part at the hashed
 * prefix is hashed from its receive buffer while the rest is read back,
 * and bytes arriving in odd-sized pieces reach the file as whole 16 KiB
 * blocks aligned in it. */
// labels: integration
#include "hub-fixture.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define BIG "big.gguf"
#define BIG_SIZE 1000000
#define BIG_SEED 7
#define PART_MIN 65536     /* 1000000 bytes: 16 parts of 65536, the last 16960 */
#define PART_SIZE 65536
#define N_PARTS 16

static char big_blob[128];       /* "/blob/<sha256>" of BIG */
static char big_sha[65];

static void big_start_with(fixture *fx, const mockhub_options *mo)
{
    fx_start(fx, mo);
    CHECK_INT(mockhub_file_add(fx->mh, FX_REPO, BIG, BIG_SIZE, BIG_SEED, true), 0);
    CHECK_INT(mockhub_ref_commit(fx->mh, FX_REPO, "main", fx->commit), 0);
    mockhub_file_info info;
    CHECK_INT(mockhub_file_info_get(fx->mh, FX_REPO, "main", BIG, &info), 0);
    memcpy(big_sha, info.sha256, sizeof big_sha);
    snprintf(big_blob, sizeof big_blob, "/blob/%s", info.sha256);
}

static void big_start(fixture *fx)
{
    big_start_with(fx, NULL);
}

static hub *big_hub(const fixture *fx, int parallel)
{
    hub_options o;
    fx_opts(fx, &o);
    o.parallel_parts = parallel;
    o.part_min_bytes = PART_MIN;
    o.token = FX_TOKEN;   /* must reach the hub only, never the CDN */
    hub *h = NULL;
    mm_error err = { 0 };
    if (hub_open(&o, &h, &err) != 0) {
        fprintf(stderr, "hub_open: %s\n", err.message);
        abort();
    }
    return h;
}

static void blob_file(const fixture *fx, const char *suffix, char *out, size_t size)
{
    snprintf(out, size, "%s/models--org--model/blobs/%s%s", fx->cache, big_sha, suffix);
}

typedef struct span {
    int64_t from, to;   /* [from, to) served */
} span;

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->from < y->from ? -1 : x->from > y->from;
}

/* The byte ranges the CDN served for BIG, sorted; the count is returned. */
static size_t served(fixture *fx, span *out, size_t max)
{
    size_t n = 0;
    mockhub_request rq;
    for (size_t i = 0; mockhub_request_get(fx->mh, i, &rq) == 0; i++) {
        if (!rq.cdn || strcmp(rq.method, "GET") != 0 || !strstr(rq.path, big_blob) || n == max)
            continue;
        int64_t from = rq.range_start < 0 || rq.status == 200 ? 0 : rq.range_start;
        out[n++] = (span){ from, from + rq.bytes_sent };
    }
    qsort(out, n, sizeof *out, span_cmp);
    return n;
}

/* No byte served twice, and the spans cover [from, BIG_SIZE) exactly. */
static bool disjoint_cover(const span *s, size_t n, int64_t from)
{
    int64_t at = from;
    for (size_t i = 0; i < n; i++) {
        if (s[i].from == s[i].to)
            continue;
        if (s[i].from != at)
            return false;
        at = s[i].to;
    }
    return at == BIG_SIZE;
}

static void test_plan(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    hub *h = big_hub(&fx, 4);
    CHECK_INT(hub_parts_plan(h, 0), 1);
    CHECK_INT(hub_parts_plan(h, 2 * PART_MIN - 1), 1);     /* small: one stream */
    CHECK_INT(hub_parts_plan(h, 2 * PART_MIN), 2);
    CHECK_INT(hub_parts_plan(h, 3 * PART_MIN + 5), 3);
    CHECK_INT(hub_parts_plan(h, 100 * PART_MIN), 4);
    hub_close(h);
    h = big_hub(&fx, 1);
    CHECK_INT(hub_parts_plan(h, 100 * PART_MIN), 1);
    hub_close(h);
    hub_options o;
    fx_opts(&fx, &o);
    o.parallel_parts = 65;
    mm_error err = { 0 };
    CHECK_INT(hub_open(&o, &h, &err), MM_EINVAL);
    CHECK_CONTAINS(err.message, "parallel_parts 1..64");
    fx_stop(&fx);
}

static void test_assembles(void)
{
    fixture fx;
    big_start(&fx);
    hub *h = big_hub(&fx, 4);
    hub_result res;
    mm_error err = { 0 };
    CHECK_INT(hub_download_file(h, FX_REPO, BIG, fx.commit, false, &res, &err), 0);
    CHECK_INT(res.status, HUB_STATUS_DOWNLOADED);
    CHECK_STR(res.sha256, big_sha);
    CHECK(fx_content_is(res.path, BIG_SEED, BIG_SIZE));
    CHECK_INT(mockhub_count(fx.mh, "GET", big_blob), N_PARTS);
    CHECK_INT(mockhub_cdn_auth_seen(fx.mh), 0);
    /* Sixteen closed ranges of 64 KiB (the last one shorter), 206 each,
     * together the file once. */
    mockhub_request rq;
    int seen = 0, ports[N_PARTS], n_ports = 0;
    for (size_t i = 0; mockhub_request_get(fx.mh, i, &rq) == 0; i++) {
        if (!rq.cdn)
            continue;
        CHECK_INT(rq.status, 206);
        CHECK_INT(rq.range_start % PART_SIZE, 0);
        CHECK_INT(rq.range_end, rq.range_start == 983040 ? 999999 : rq.range_start + 65535);
        seen++;
        CHECK(rq.client_port > 0);
        bool known = false;
        for (int k = 0; k < n_ports; k++)
            known = known || ports[k] == rq.client_port;
        if (!known && n_ports < N_PARTS)
            ports[n_ports++] = rq.client_port;
    }
    CHECK_INT(seen, N_PARTS);
    /* Each of the 4 workers keeps its connection from part to part: 16
     * requests on at most 4 connections (16 without keep-alive). */
    CHECK(n_ports >= 1 && n_ports <= 4);
    span s[64];
    size_t n = served(&fx, s, 64);
    CHECK(disjoint_cover(s, n, 0));
    char path[8192];
    blob_file(&fx, ".incomplete", path, sizeof path);
    CHECK(!fx_exists(path));
    blob_file(&fx, ".incomplete.parts", path, sizeof path);
    CHECK(!fx_exists(path));
    hub_close(h);
    fx_stop(&fx);
}

static void test_drop_resumes_one_part(void)
{
    fixture fx;
    big_start(&fx);
    hub *h = big_hub(&fx, 4);
    hub_result res;
    mm_error err = { 0 };
    mockhub_fault drop = { .where = MOCKHUB_AT_CDN, .method = "GET", .drop_after = 30000,
                           .times = 1 };
    mockhub_fault_add(fx.mh, &drop);
    CHECK_INT(hub_download_file(h, FX_REPO, BIG, fx.commit, false, &res, &err), 0);
    CHECK(fx_content_is(res.path, BIG_SEED, BIG_SIZE));
    CHECK_INT(mockhub_count(fx.mh, "GET", big_blob), N_PARTS + 1);    /* + 1 resume */
    CHECK_INT(mockhub_bytes_sent(fx.mh, big_blob), BIG_SIZE);
    span s[64];
    size_t n = served(&fx, s, 64);
    CHECK_INT(n, N_PARTS + 1);
    CHECK(disjoint_cover(s, n, 0));
    /* The resume asked for the rest of one part, 30000 bytes in. */
    int resumed = 0;
    mockhub_request rq;
    for (size_t i = 0; mockhub_request_get(fx.mh, i, &rq) == 0; i++)
        if (rq.cdn && rq.range_start % PART_SIZE == 30000)
            resumed++;
    CHECK_INT(resumed, 1);
    hub_close(h);
    fx_stop(&fx);
}

/* Sum of the done column of a parts state file; -1 when unreadable. */
static int64_t state_done(const char *path, int *parts_with_bytes)
{
    char *text = NULL;
    size_t len = 0;
    if (mm_file_read(path, 8192, &text, &len, NULL) != 0)
        return -1;
    int64_t sum = 0;
    *parts_with_bytes = 0;
    const char *p = strchr(text, '\n');
    unsigned long long a, b, d;
    int used = 0;
    while (p && sscanf(p, " %llu %llu %llu%n", &a, &b, &d, &used) == 3) {
        sum += (int64_t)d;
        *parts_with_bytes += d > 0;
        p += used;
    }
    free(text);
    return sum;
}

static void test_killed_process_resumes(void)
{
    fixture fx;
    big_start(&fx);
    /* Every part stalls for a while after 40000 bytes: long enough to save state. */
    mockhub_fault slow = { .where = MOCKHUB_AT_CDN, .method = "GET", .pause_after = 40000,
                           .pause_ms = 2500 };
    mockhub_fault_add(fx.mh, &slow);
    char state[8192], partial[8192];
    blob_file(&fx, ".incomplete.parts", state, sizeof state);
    blob_file(&fx, ".incomplete", partial, sizeof partial);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        hub *h = big_hub(&fx, 4);
        hub_result res;
        hub_download_file(h, FX_REPO, BIG, fx.commit, false, &res, NULL);
        _exit(0);
    }
    CHECK(pid > 0);
    int with_bytes = 0;
    int64_t done = -1;
    /* The four workers' first parts pause at 40000 bytes for 2.5 s, and the
     * state is saved every second: wait (up to 8 s) until a save shows all
     * four there. */
    for (int i = 0; i < 800 && done < 4 * 40000; i++) {
        hub_sleep_ms(10);
        done = state_done(state, &with_bytes);
    }
    CHECK_INT(with_bytes, 4);
    kill(pid, SIGKILL);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status));
    done = state_done(state, &with_bytes);   /* what the killed run left */
    CHECK_INT(done, 4 * 40000);
    struct stat st;
    CHECK(stat(partial, &st) == 0 && st.st_size == BIG_SIZE);   /* pre-allocated */

    mockhub_faults_clear(fx.mh);
    mockhub_log_clear(fx.mh);
    hub *h = big_hub(&fx, 4);
    hub_result res;
    mm_error err = { 0 };
    CHECK_INT(hub_download_file(h, FX_REPO, BIG, fx.commit, false, &res, &err), 0);
    CHECK_STR(res.sha256, big_sha);
    CHECK(fx_content_is(res.path, BIG_SEED, BIG_SIZE));
    /* Every part continued where the state said; no saved byte came again. */
    CHECK_INT(mockhub_count(fx.mh, "GET", big_blob), N_PARTS);
    CHECK_INT(mockhub_bytes_sent(fx.mh, big_blob), BIG_SIZE - done);
    mockhub_request rq;
    int continued = 0;
    for (size_t i = 0; mockhub_request_get(fx.mh, i, &rq) == 0; i++)
        if (rq.cdn) {
            int64_t in_part = rq.range_start % PART_SIZE;
            CHECK(in_part == 0 || in_part == 40000);
            continued += in_part == 40000;
        }
    CHECK_INT(continued, 4);
    CHECK(!fx_exists(state));
    hub_close(h);
    fx_stop(&fx);
}

/* A file-size limit below the blob stands in for a full disk: the
 * allocation fails before any byte is fetched, the error says what to do,
 * and the next run (with room) completes. */
static void test_no_space(void)
{
    fixture fx;
    big_start(&fx);
    char state[8192];
    blob_file(&fx, ".incomplete.parts", state, sizeof state);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit lim = { BIG_SIZE / 2, BIG_SIZE / 2 };
        signal(SIGXFSZ, SIG_IGN);
        if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
            _exit(3);
        hub *h = big_hub(&fx, 4);
        hub_result res;
        mm_error err = { 0 };
        int rc = hub_download_file(h, FX_REPO, BIG, fx.commit, false, &res, &err);
        bool ok = rc == MM_EIO && strstr(err.message, "not enough disk space for big.gguf") &&
                  strstr(err.message, "the download resumes");
        if (!ok)
            fprintf(stderr, "child: rc %d: %s\n", rc, err.message);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(fx_exists(state));
    CHECK_INT(mockhub_count(fx.mh, "GET", big_blob), 0);
    hub *h = big_hub(&fx, 4);
    hub_result res;
    mm_error err = { 0 };
    CHECK_INT(hub_download_file(h, FX_REPO, BIG, fx.commit, false, &res, &err), 0);
    CHECK(fx_content_is(res.path, BIG_SEED, BIG_SIZE));
    CHECK(!fx_exists(state));
    hub_close(h);
    fx_stop(&fx);
}

static void test_corrupt_part(void)
{
    fixture fx;
    big_start(&fx);
    hub *h = big_hub(&fx, 4);
    hub_result res;
    mm_error err = { 0 };
    /* One corrupt part: caught by the hash, downloaded once more. */
    mockhub_fault bad = { .where = MOCKHUB_AT_CDN, .method = "GET", .corrupt = true, .times = 1 };
    mockhub_fault_add(fx.mh, &bad);
    CHECK_INT(hub_download_file(h, FX_REPO, BIG, fx.commit, false, &res, &err), 0);
    CHECK(fx_content_is(res.path, BIG_SEED, BIG_SIZE));
    CHECK_INT(mockhub_count(fx.mh, "GET", big_blob), 2 * N_PARTS);
    hub_close(h);
    fx_stop(&fx);

    /* Corrupt every time: MM_EINTEGRITY, and nothing half-done is kept. */
    big_start(&fx);
    h = big_hub(&fx, 4);
    mockhub_fault always = { .where = MOCKHUB_AT_CDN, .method = "GET", .corrupt = true,
                             .path_contains = big_blob, .times = 0 };
    mockhub_fault_add(fx.mh, &always);
    CHECK_INT(hub_download_file(h, FX_REPO, BIG, fx.commit, false, &res, &err), MM_EINTEGRITY);
    CHECK_CONTAINS(err.message, "big.gguf from org/model is corrupt: expected sha256 ");
    char path[8192];
    blob_file(&fx, ".incomplete", path, sizeof path);
    CHECK(!fx_exists(path));
    blob_file(&fx, ".incomplete.parts", path, sizeof path);
    CHECK(!fx_exists(path));
    blob_file(&fx, "", path, sizeof path);
    CHECK(!fx_exists(path));
    hub_close(h);
    fx_stop(&fx);
}

static void test_range_ignored_falls_back(void)
{
    fixture fx;
    big_start(&fx);
    hub *h = big_hub(&fx, 4);
    hub_result res;
    mm_error err = { 0 };
    mockhub_fault full = { .where = MOCKHUB_AT_CDN, .method = "GET", .ignore_range = true };
    mockhub_fault_add(fx.mh, &full);
    CHECK_INT(hub_download_file(h, FX_REPO, BIG, fx.commit, false, &res, &err), 0);
    CHECK_STR(res.sha256, big_sha);
    CHECK(fx_content_is(res.path, BIG_SEED, BIG_SIZE));
    /* The last request is the single stream: no Range, the whole file. */
    size_t n = mockhub_request_count(fx.mh);
    mockhub_request rq;
    CHECK_INT(mockhub_request_get(fx.mh, n - 1, &rq), 0);
    CHECK(rq.cdn);
    CHECK_INT(rq.range_start, -1);
    CHECK_INT(rq.status, 200);
    CHECK_INT(rq.bytes_sent, BIG_SIZE);
    char path[8192];
    blob_file(&fx, ".incomplete.parts", path, sizeof path);
    CHECK(!fx_exists(path));
    hub_close(h);
    fx_stop(&fx);
}

static void test_parallel_one(void)
{
    fixture fx;
    big_start(&fx);
    hub *h = big_hub(&fx, 1);
    hub_result res;
    mm_error err = { 0 };
    CHECK_INT(hub_download_file(h, FX_REPO, BIG, fx.commit, false, &res, &err), 0);
    CHECK(fx_content_is(res.path, BIG_SEED, BIG_SIZE));
    CHECK_INT(mockhub_count(fx.mh, "GET", big_blob), 1);
    mockhub_request rq;
    for (size_t i = 0; mockhub_request_get(fx.mh, i, &rq) == 0; i++)
        if (rq.cdn) {
            CHECK_INT(rq.range_start, -1);
            CHECK_INT(rq.range_end, -1);
            CHECK_INT(rq.status, 200);
            CHECK_INT(rq.bytes_sent, BIG_SIZE);
        }
    hub_close(h);
    fx_stop(&fx);
}

typedef struct racer {
    fixture   *fx;
    hub_result res;
    int        rc;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    hub *h = big_hub(r->fx, 4);
    r->rc = hub_download_file(h, FX_REPO, BIG, r->fx->commit, false, &r->res, NULL);
    hub_close(h);
    return NULL;
}

/* Two clients of one blob: the per-blob lock lets one download (in parts)
 * while the other waits, and both end with the same verified file. */
static void test_two_clients(void)
{
    fixture fx;
    big_start(&fx);
    racer a = { .fx = &fx }, b = { .fx = &fx };
    pthread_t ta, tb;
    CHECK_INT(pthread_create(&ta, NULL, race, &a), 0);
    CHECK_INT(pthread_create(&tb, NULL, race, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK_INT(a.rc, 0);
    CHECK_INT(b.rc, 0);
    CHECK_STR(a.res.sha256, big_sha);
    CHECK_STR(b.res.sha256, big_sha);
    CHECK(fx_content_is(a.res.path, BIG_SEED, BIG_SIZE));
    CHECK_INT(mockhub_count(fx.mh, "GET", big_blob), N_PARTS);   /* fetched once */
    char dir[8192];
    snprintf(dir, sizeof dir, "%s/models--org--model/blobs", fx.cache);
    CHECK_INT(fx_count_entries(dir, big_sha), 1);
    fx_stop(&fx);
}

/* `modelmgr pull` wires download_parallel through: 17 MiB is three parts of
 * the default 8 MiB (8 + 8 + 1) by default, and one stream with 1. */
static void test_cli_setting(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    const size_t size = 17u << 20;
    CHECK_INT(mockhub_file_add(fx.mh, FX_REPO, "large.gguf", size, 9, true), 0);
    mockhub_file_info info;
    CHECK_INT(mockhub_file_info_get(fx.mh, FX_REPO, "main", "large.gguf", &info), 0);
    char blob[128];
    snprintf(blob, sizeof blob, "/blob/%s", info.sha256);
    for (int round = 0; round < 2; round++) {
        static char ep[128], cache[4200], home[4200], models[4200];
        snprintf(ep, sizeof ep, "HF_ENDPOINT=%s", mockhub_url(fx.mh));
        snprintf(cache, sizeof cache, "HF_HUB_CACHE=%s/cache%d", fx.tmp, round);
        snprintf(home, sizeof home, "HF_HOME=%s/home", fx.tmp);
        snprintf(models, sizeof models, "MODELS_DIR=%s/models", fx.tmp);
        const char *env[] = { ep, cache, home, models, "HF_TOKEN=", "HUGGING_FACE_HUB_TOKEN=",
                              "HF_HUB_OFFLINE=0", "NO_PROXY=127.0.0.1",
                              round == 0 ? "MODELMGR_DOWNLOAD_PARALLEL=4" : "MODELMGR_DOWNLOAD_PARALLEL=3",
                              NULL };
        const char *with_env[] = { "pull", FX_REPO, "large.gguf", "--revision", "v1.0",
                                   "--quiet", NULL };
        const char *with_flag[] = { "pull", FX_REPO, "large.gguf", "--revision", "v1.0",
                                    "--quiet", "--download-parallel", "1", NULL };
        mockhub_log_clear(fx.mh);
        char *out = NULL, *err = NULL;
        CHECK_INT(mmtest_run_cli(round == 0 ? with_env : with_flag, env, &out, &err), 0);
        CHECK_CONTAINS(out, "downloaded org/model/large.gguf (17825792 bytes, sha256 ");
        CHECK_CONTAINS(out, info.sha256);
        CHECK_INT(mockhub_count(fx.mh, "GET", blob), round == 0 ? 3 : 1);
        mockhub_request rq;
        for (size_t i = 0; mockhub_request_get(fx.mh, i, &rq) == 0; i++)
            if (rq.cdn)
                CHECK_INT(rq.range_end, round == 1 ? -1 : rq.range_start == 16777216
                                                              ? (int64_t)size - 1
                                                              : rq.range_start + 8388607);
        free(out);
        free(err);
    }
    fx_stop(&fx);
}

/* hub-parts.c's closing debug line: "... N bytes hashed in place, M read back". */
static void keep_hash_line(mm_log_level level, const char *line, void *user)
{
    (void)level;
    if (strstr(line, "hashed in place"))
        snprintf(user, 512, "%s", line);
}

/* BIG downloaded with `parallel` parts at debug level, its content and
 * digest checked; line gets the downloader's "hashed in place" line. */
static void download_logged(fixture *fx, int parallel, char line[512])
{
    line[0] = '\0';
    mm_log_level level = mm_log_get_level();
    mm_log_set_callback(keep_hash_line, line);
    mm_log_set_level(MM_LOG_LEVEL_DEBUG);
    hub *h = big_hub(fx, parallel);
    hub_result res;
    mm_error err = { 0 };
    CHECK_INT(hub_download_file(h, FX_REPO, BIG, fx->commit, false, &res, &err), 0);
    mm_log_set_level(level);
    mm_log_set_callback(NULL, NULL);
    CHECK_STR(res.sha256, big_sha);
    CHECK(fx_content_is(res.path, BIG_SEED, BIG_SIZE));
    hub_close(h);
}

/* Every part pauses after 40000 bytes: the read-back catches up with the
 * part at the prefix meanwhile, so its worker hashes the rest of it from
 * its buffer. Every byte is hashed once (in place or read back) and the
 * digest is the file's. */
static void test_hashed_in_place(void)
{
    fixture fx;
    big_start(&fx);
    mockhub_fault pause = { .where = MOCKHUB_AT_CDN, .method = "GET", .pause_after = 40000,
                            .pause_ms = 100 };
    mockhub_fault_add(fx.mh, &pause);
    char line[512];
    download_logged(&fx, 2, line);
    const char *at = strstr(line, "; ");
    unsigned long long in_place = 0, read_back = 0;
    CHECK(at && sscanf(at, "; %llu bytes hashed in place, %llu read back", &in_place,
                       &read_back) == 2);
    CHECK(in_place > 0);
    CHECK_INT(in_place + read_back, BIG_SIZE);
    fx_stop(&fx);
}

/* The mock sends the body in 1000-byte pieces, so libcurl hands over
 * pieces of any size at any offset. The file must still be written in
 * blocks that start on 16 KiB boundaries: one write per 16 KiB of each part
 * (4 per 64 KiB part, 2 for the last part's 16960 bytes: 62), plus one for
 * each block written early because its transfer paused (a loaded machine
 * can pause a loopback transfer), and a misaligned start only after such
 * an early write. */
static void test_writes_aligned(void)
{
    fixture fx;
    mockhub_options mo = { .token = FX_TOKEN, .unapproved_token = FX_UNAPPROVED,
                           .content_block = 1000 };
    big_start_with(&fx, &mo);
    char line[512];
    download_logged(&fx, 4, line);
    const char *at = strstr(line, "read back; ");
    unsigned long long writes = 0, off = 0, early = 0;
    unsigned kib = 0;
    CHECK(at && sscanf(at, "read back; %llu writes, %llu off a %u KiB boundary, %llu early",
                       &writes, &off, &kib, &early) == 4);
    CHECK_INT(kib, 16);
    CHECK_INT(writes, 62 + early);   /* an early write splits its block in two */
    CHECK(off <= early);
    fx_stop(&fx);
}

int main(void)
{
    test_plan();
    test_assembles();
    test_drop_resumes_one_part();
    test_killed_process_resumes();
    test_no_space();
    test_corrupt_part();
    test_range_ignored_falls_back();
    test_parallel_one();
    test_two_clients();
    test_cli_setting();
    test_hashed_in_place();
    test_writes_aligned();
    return mmtest_finish();
}

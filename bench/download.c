/* download.c - benchmark: a large file from the mock hub on loopback, fetched
 * by modelmgr (download_parallel N and 1, verification included; N also
 * with download_fsync) against `curl -o` of the same CDN URL (and `curl -o
 * && sync`), and the SHA-256 speed of hub_hasher against `sha256sum`.
 * Targets: both ratios >= 1.0. Prints figures; never fails a build.
 * Usage: bench-download [MiB [parts [part_MiB]]] (default 1024 4 8); needs
 * ~2x MiB in /tmp. BENCH_DOWNLOAD_QUICK=1 runs only curl -o and modelmgr
 * N and 1 (for A/B runs); each modelmgr child's threads are named
 * mm-dl-N[s] for `perf report --sort comm`. */
#include "support/loadgen.h"
#include "hub/hub.h"
#include "support/mockhub.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 3

/* The contenders, measured in turn within each round so that a change in
 * the machine's load hits them alike. */
enum { CURL, CURL_SYNC, MM_N, MM_N_SYNC, MM_1, N_WAYS };

/* One timed run: wall seconds, CPU seconds of the downloading process
 * (curl's, or modelmgr's in a child without the mock), CPU seconds of the
 * mock server meanwhile, and for modelmgr its own account of the time after
 * the last byte (hub's debug line: hash tail, fsync). */
typedef struct sample {
    double wall_s, cpu_s, server_cpu_s;
    char   detail[200];
} sample;

static char tmp_dir[] = "/tmp/mm-bench-dl-XXXXXX";

static double cpu_of(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int run(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "bench-download: '%s' failed (%d)\n", cmd, rc);
    return rc;
}

/* Keeps hub's timing line ("...: last byte after ..."), shows warnings. */
static void on_log(mm_log_level level, const char *line, void *user)
{
    const char *timing = strstr(line, "last byte after");
    if (timing)
        snprintf(user, sizeof ((sample *)0)->detail, "%s", timing);
    else if (level <= MM_LOG_LEVEL_WARN)
        fprintf(stderr, "%s\n", line);
}

/* The download itself, in a forked child so that its CPU time is its own
 * (the mock's threads stay in the parent). Writes a sample and the blob
 * path to fd; exits. */
static void child_download(int fd, const char *endpoint, int parallel, uint64_t part_bytes,
                           bool sync, const char *commit)
{
    char cache[512], name[16];
    snprintf(cache, sizeof cache, "%s/hub", tmp_dir);
    /* Named after its line (threads inherit it), for `perf report --sort comm`. */
    snprintf(name, sizeof name, "mm-dl-%d%s", parallel, sync ? "s" : "");
    prctl(PR_SET_NAME, name, 0, 0, 0);
    sample s = { 0 };
    mm_log_set_level(MM_LOG_LEVEL_DEBUG);
    mm_log_set_callback(on_log, s.detail);
    hub_options o;
    hub_options_init(&o);
    o.use_env = false;
    o.endpoint = endpoint;
    o.token = "";
    o.cache_dir = cache;
    o.parallel_parts = parallel;
    o.part_min_bytes = part_bytes;
    o.sync_downloads = sync;
    hub *h = NULL;
    mm_error err = { 0 };
    hub_result res;
    char path[4096] = "";
    double cpu0 = cpu_of(RUSAGE_SELF);
    int64_t t0 = mm_now_ms();
    int rc = hub_open(&o, &h, &err);
    if (rc == 0)
        rc = hub_download_file(h, "bench/big", "big.gguf", commit, false, &res, &err);
    int64_t t1 = mm_now_ms();
    hub_close(h);
    if (rc != 0) {
        fprintf(stderr, "download: %s\n", err.message);
        s.wall_s = -1;
    } else {
        s.wall_s = (double)(t1 - t0) / 1000.0;
        snprintf(path, sizeof path, "%s", res.path);
    }
    s.cpu_s = cpu_of(RUSAGE_SELF) - cpu0;
    if (write(fd, &s, sizeof s) != (ssize_t)sizeof s || write(fd, path, sizeof path) < 0)
        _exit(1);
    _exit(0);
}

/* modelmgr into a fresh cache. Unless keep, the cache goes at once (as
 * curl's file does): a blob left dirty in the page cache would be written
 * back while the next line is timed. */
static sample time_modelmgr(mockhub *mh, int parallel, uint64_t part_bytes, bool sync,
                            bool keep, const char *commit, char *blob_out, size_t blob_size)
{
    sample s = { .wall_s = -1 };
    char cmd[600], path[4096];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/hub'", tmp_dir);
    run(cmd);
    int fds[2];
    if (pipe(fds) != 0)
        return s;
    double server0 = cpu_of(RUSAGE_SELF);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        child_download(fds[1], mockhub_url(mh), parallel, part_bytes, sync, commit);
    }
    close(fds[1]);
    if (pid < 0 || read(fds[0], &s, sizeof s) != (ssize_t)sizeof s ||
        read(fds[0], path, sizeof path) != (ssize_t)sizeof path)
        s.wall_s = -1;
    close(fds[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    s.server_cpu_s = cpu_of(RUSAGE_SELF) - server0;
    if (s.wall_s > 0 && keep)
        snprintf(blob_out, blob_size, "%s", path);
    if (!keep)
        run(cmd);
    return s;
}

/* curl -o, and with sync_file: then `sync FILE` (fsync), as modelmgr with
 * download_fsync makes a blob durable before it renames it into the cache. */
static sample time_curl(const char *url, const char *out, bool sync_file)
{
    sample s = { .wall_s = -1 };
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "curl -s -f -o '%s' '%s'%s%s%s", out, url,
             sync_file ? " && sync '" : "", sync_file ? out : "", sync_file ? "'" : "");
    unlink(out);
    double cpu0 = cpu_of(RUSAGE_CHILDREN), server0 = cpu_of(RUSAGE_SELF);
    int64_t t0 = mm_now_ms();
    if (run(cmd) == 0)
        s.wall_s = (double)(mm_now_ms() - t0) / 1000.0;
    s.cpu_s = cpu_of(RUSAGE_CHILDREN) - cpu0;
    s.server_cpu_s = cpu_of(RUSAGE_SELF) - server0;
    unlink(out);
    return s;
}

/* hub_hasher (SHA-256 only, as for an LFS file) over path, 1 MiB reads. */
static double time_hasher(const char *path, char hex[65])
{
    double best = -1;
    uint8_t *buf = malloc(1u << 20);
    for (int r = 0; buf && r < ROUNDS; r++) {
        hub_hasher *hs = NULL;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || hub_hasher_new_sha256(&hs) != 0) {
            if (fd >= 0)
                close(fd);
            break;
        }
        int64_t t0 = mm_now_ms();
        ssize_t n;
        while ((n = read(fd, buf, 1u << 20)) > 0)
            hub_hasher_update(hs, buf, (size_t)n);
        char sha1[41];
        hub_hasher_final(hs, hex, sha1);
        double secs = (double)(mm_now_ms() - t0) / 1000.0;
        hub_hasher_free(hs);
        close(fd);
        if (best < 0 || secs < best)
            best = secs;
    }
    free(buf);
    return best;
}

static double time_sha256sum(const char *path)
{
    double best = -1;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sha256sum '%s' >/dev/null", path);
    for (int r = 0; r < ROUNDS; r++) {
        int64_t t0 = mm_now_ms();
        if (run(cmd) != 0)
            return -1;
        double secs = (double)(mm_now_ms() - t0) / 1000.0;
        if (best < 0 || secs < best)
            best = secs;
    }
    return best;
}

static void print_load(const char *when)
{
    double avg[3] = { -1, -1, -1 };
    getloadavg(avg, 3);
    printf("load average %s: %.2f %.2f %.2f\n", when, avg[0], avg[1], avg[2]);
}

/* The round with the best wall time; NULL when every round failed. */
static const sample *best_of(const sample *runs)
{
    const sample *best = NULL;
    for (int r = 0; r < ROUNDS; r++)
        if (runs[r].wall_s > 0 && (!best || runs[r].wall_s < best->wall_s))
            best = &runs[r];
    return best;
}

int main(int argc, char **argv)
{
    int64_t mib = 1024, parts = 4, part_mib = 8;
    if ((argc > 1 && mm_parse_i64(argv[1], 1, 16384, &mib) != 0) ||
        (argc > 2 && mm_parse_i64(argv[2], 1, 64, &parts) != 0) ||
        (argc > 3 && mm_parse_i64(argv[3], 1, 4096, &part_mib) != 0)) {
        fprintf(stderr, "usage: bench-download [MiB 1..16384 [parts 1..64 [part_MiB 1..4096]]]\n");
        return 2;
    }
    size_t size = (size_t)mib << 20;
    /* BENCH_DOWNLOAD_QUICK: only curl -o and modelmgr (N and 1), for A/B runs. */
    bool quick = getenv("BENCH_DOWNLOAD_QUICK") != NULL;
    setvbuf(stdout, NULL, _IOLBF, 0);   /* figures appear as they are measured */
    setenv("NO_PROXY", "127.0.0.1,localhost", 1);
    setenv("no_proxy", "127.0.0.1,localhost", 1);
    mm_log_set_level(MM_LOG_LEVEL_WARN);
    if (!mkdtemp(tmp_dir)) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    char cpu[320];
    loadgen_machine(cpu, sizeof cpu);
    printf("machine: %s\n", cpu);
    print_load("at start");

    /* The mock serves from its in-memory copy in 1 MiB callbacks; building
     * the file is timed apart. */
    mockhub_options mo = { .content_block = 1u << 20 };
    mockhub *mh = NULL;
    int64_t t0 = mm_now_ms();
    char commit[41];
    mockhub_file_info info;
    if (mockhub_start(&mo, &mh) != 0 || mockhub_repo_add(mh, "bench/big", MOCKHUB_PUBLIC) != 0 ||
        mockhub_file_add(mh, "bench/big", "big.gguf", size, 42, true) != 0 ||
        mockhub_ref_commit(mh, "bench/big", "main", commit) != 0 ||
        mockhub_file_info_get(mh, "bench/big", "main", "big.gguf", &info) != 0) {
        fprintf(stderr, "mock hub set-up failed\n");
        mockhub_stop(mh);
        return 1;
    }
    printf("file: %lld MiB, generated by the mock in %.1f s (not timed below)\n",
           (long long)mib, (double)(mm_now_ms() - t0) / 1000.0);

    char url[256], out[600], blob[4096] = "", cmd[700];
    snprintf(url, sizeof url, "%s/blob/%s", mockhub_cdn_url(mh), info.sha256);
    snprintf(out, sizeof out, "%s/curl.bin", tmp_dir);
    double gib = (double)size / (1u << 30);
    char mm_n_name[48], mm_sync_name[48];
    snprintf(mm_n_name, sizeof mm_n_name, "modelmgr parallel=%lld", (long long)parts);
    snprintf(mm_sync_name, sizeof mm_sync_name, "modelmgr parallel=%lld fsync", (long long)parts);
    const char *names[N_WAYS] = { "curl -o", "curl -o && sync FILE", mm_n_name, mm_sync_name,
                                  "modelmgr parallel=1" };
    sample runs[N_WAYS][ROUNDS];
    uint64_t part_bytes = (uint64_t)part_mib << 20;
    printf("download, loopback, %d rounds, each round runs every line in turn "
           "(parts of >= %lld MiB):\n", ROUNDS, (long long)part_mib);
    for (int r = 0; r < ROUNDS; r++) {
        runs[CURL][r] = time_curl(url, out, false);
        runs[CURL_SYNC][r] = quick ? (sample){ .wall_s = -1 } : time_curl(url, out, true);
        bool last = r == ROUNDS - 1;   /* its blob is the hashing test's file */
        runs[MM_N][r] = time_modelmgr(mh, (int)parts, part_bytes, false, false, commit, blob,
                                      sizeof blob);
        runs[MM_N_SYNC][r] = quick ? (sample){ .wall_s = -1 }
                                   : time_modelmgr(mh, (int)parts, part_bytes, true, false,
                                                   commit, blob, sizeof blob);
        runs[MM_1][r] = time_modelmgr(mh, 1, part_bytes, false, last, commit, blob,
                                      sizeof blob);
        printf("  round %d: curl %.2f s, curl+sync %.2f s, modelmgr(%lld) %.2f s, "
               "modelmgr(%lld, fsync) %.2f s, modelmgr(1) %.2f s; cpu: curl %.2f s, "
               "modelmgr(%lld) %.2f s, modelmgr(1) %.2f s\n", r + 1, runs[CURL][r].wall_s,
               runs[CURL_SYNC][r].wall_s, (long long)parts, runs[MM_N][r].wall_s,
               (long long)parts, runs[MM_N_SYNC][r].wall_s, runs[MM_1][r].wall_s,
               runs[CURL][r].cpu_s, (long long)parts, runs[MM_N][r].cpu_s, runs[MM_1][r].cpu_s);
    }
    printf("  %-26s %8s %10s %9s %11s\n", "best round of each", "wall", "rate", "cpu",
           "server cpu");
    for (int w = 0; w < N_WAYS; w++) {
        const sample *b = best_of(runs[w]);
        if (!b) {
            printf("  %-26s %s\n", names[w], quick ? "skipped" : "failed");
            continue;
        }
        printf("  %-26s %6.2f s %5.2f GiB/s %7.2f s %9.2f s%s%s\n", names[w], b->wall_s,
               gib / b->wall_s, b->cpu_s, b->server_cpu_s, b->detail[0] ? "  " : "",
               b->detail);
    }
    const sample *curl = best_of(runs[CURL]), *curl_sync = best_of(runs[CURL_SYNC]);
    const sample *mm_n = best_of(runs[MM_N]), *mm_sync = best_of(runs[MM_N_SYNC]);
    if (curl && mm_n)
        printf("  ratio modelmgr(%lld)/curl   %6.2fx  (target >= 1.0)\n", (long long)parts,
               curl->wall_s / mm_n->wall_s);
    if (curl_sync && mm_sync)
        printf("  ratio modelmgr(%lld, fsync)/(curl+sync) %4.2fx  (both durable on disk)\n",
               (long long)parts, curl_sync->wall_s / mm_sync->wall_s);
    print_load("after the downloads");

    if (!quick) {
        char hex[65] = "";
        double sum_s = blob[0] ? time_sha256sum(blob) : -1;   /* also warms the page cache */
        double hs_s = blob[0] ? time_hasher(blob, hex) : -1;
        printf("sha256 of the downloaded file (page cache warm, best of %d):\n", ROUNDS);
        printf("  sha256sum                %6.2f s  %6.2f GB/s\n", sum_s,
               (double)size / 1e9 / sum_s);
        printf("  hub_hasher (OpenSSL EVP) %6.2f s  %6.2f GB/s  %s\n", hs_s,
               (double)size / 1e9 / hs_s,
               strcmp(hex, info.sha256) == 0 ? "digest ok" : "DIGEST WRONG");
        if (sum_s > 0 && hs_s > 0)
            printf("  ratio hub_hasher/sha256sum %4.2fx  (target >= 1.0)\n", sum_s / hs_s);
    }
    print_load("at the end");

    mockhub_stop(mh);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    run(cmd);
    return 0;
}

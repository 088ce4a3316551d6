/* download.c - benchmark: a large file from the mock hub on loopback, fetched
 * by modelmgr (download_parallel 4 and 1, verification included) against
 * `curl -o` of the same CDN URL, and the SHA-256 speed of hub_hasher against
 * `sha256sum`. Targets: both ratios >= 1.0. Prints figures; never fails a
 * build. Usage: bench-download [MiB] (default 1024); needs ~2x that in /tmp. */
#include "support/loadgen.h"
#include "hub/hub.h"
#include "support/mockhub.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ROUNDS 3

static char tmp_dir[] = "/tmp/mm-bench-dl-XXXXXX";

static int run(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "bench-download: '%s' failed (%d)\n", cmd, rc);
    return rc;
}

/* Best of ROUNDS modelmgr downloads into a fresh cache; seconds, or -1. */
static double time_modelmgr(mockhub *mh, int parallel, const char *commit, char *blob_out,
                            size_t blob_size)
{
    double best = -1;
    for (int r = 0; r < ROUNDS; r++) {
        char cache[512], cmd[600];
        snprintf(cache, sizeof cache, "%s/hub", tmp_dir);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache);
        run(cmd);
        hub_options o;
        hub_options_init(&o);
        o.use_env = false;
        o.endpoint = mockhub_url(mh);
        o.token = "";
        o.cache_dir = cache;
        o.parallel_parts = parallel;
        hub *h = NULL;
        mm_error err = { 0 };
        hub_result res;
        if (hub_open(&o, &h, &err) != 0) {
            fprintf(stderr, "hub_open: %s\n", err.message);
            return -1;
        }
        int64_t t0 = mm_now_ms();
        int rc = hub_download_file(h, "bench/big", "big.gguf", commit, false, &res, &err);
        double secs = (double)(mm_now_ms() - t0) / 1000.0;
        hub_close(h);
        if (rc != 0) {
            fprintf(stderr, "download: %s\n", err.message);
            return -1;
        }
        if (best < 0 || secs < best)
            best = secs;
        snprintf(blob_out, blob_size, "%s", res.path);
    }
    return best;
}

/* curl -o, and with sync_file: then `sync FILE` (fsync), as modelmgr
 * makes a blob durable before it renames it into the cache. */
static double time_curl(const char *url, const char *out, bool sync_file)
{
    double best = -1;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "curl -s -f -o '%s' '%s'%s%s%s", out, url,
             sync_file ? " && sync '" : "", sync_file ? out : "", sync_file ? "'" : "");
    for (int r = 0; r < ROUNDS; r++) {
        unlink(out);
        int64_t t0 = mm_now_ms();
        if (run(cmd) != 0)
            return -1;
        double secs = (double)(mm_now_ms() - t0) / 1000.0;
        if (best < 0 || secs < best)
            best = secs;
    }
    unlink(out);
    return best;
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

int main(int argc, char **argv)
{
    int64_t mib = 1024;
    if (argc > 1 && mm_parse_i64(argv[1], 1, 16384, &mib) != 0) {
        fprintf(stderr, "usage: bench-download [MiB, 1..16384]\n");
        return 2;
    }
    size_t size = (size_t)mib << 20;
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

    /* The mock serves from its in-memory copy in 1 MiB callbacks, so it is
     * not the bottleneck; building the file is timed apart. */
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
    double curl_s = time_curl(url, out, false);
    double curl_sync_s = time_curl(url, out, true);
    double mm1_s = time_modelmgr(mh, 1, commit, blob, sizeof blob);
    double mm4_s = time_modelmgr(mh, 4, commit, blob, sizeof blob);
    printf("download (best of %d, loopback):\n", ROUNDS);
    printf("  curl -o                  %6.2f s  %6.2f GiB/s\n", curl_s, gib / curl_s);
    printf("  curl -o && sync FILE     %6.2f s  %6.2f GiB/s\n", curl_sync_s,
           gib / curl_sync_s);
    printf("  modelmgr parallel=1      %6.2f s  %6.2f GiB/s  (sha256 verified)\n", mm1_s,
           gib / mm1_s);
    printf("  modelmgr parallel=4      %6.2f s  %6.2f GiB/s  (sha256 verified)\n", mm4_s,
           gib / mm4_s);
    if (curl_s > 0 && mm4_s > 0)
        printf("  ratio modelmgr(4)/curl   %6.2fx  (target >= 1.0)\n", curl_s / mm4_s);
    if (curl_sync_s > 0 && mm4_s > 0)
        printf("  ratio modelmgr(4)/(curl+sync) %4.2fx  (both durable on disk)\n",
               curl_sync_s / mm4_s);

    char hex[65] = "";
    double sum_s = blob[0] ? time_sha256sum(blob) : -1;   /* also warms the page cache */
    double hs_s = blob[0] ? time_hasher(blob, hex) : -1;
    printf("sha256 of the downloaded file (page cache warm, best of %d):\n", ROUNDS);
    printf("  sha256sum                %6.2f s  %6.2f GB/s\n", sum_s, (double)size / 1e9 / sum_s);
    printf("  hub_hasher (OpenSSL EVP) %6.2f s  %6.2f GB/s  %s\n", hs_s,
           (double)size / 1e9 / hs_s, strcmp(hex, info.sha256) == 0 ? "digest ok" : "DIGEST WRONG");
    if (sum_s > 0 && hs_s > 0)
        printf("  ratio hub_hasher/sha256sum %4.2fx  (target >= 1.0)\n", sum_s / hs_s);

    mockhub_stop(mh);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    run(cmd);
    return 0;
}

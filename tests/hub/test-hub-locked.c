/* test-hub-locked.c - `modelmgr pull --locked` and `modelmgr verify` end to
 * end against the mock hub: the locked set is reproduced into an empty
 * cache; a lock/Hub sha256 disagreement and a corrupted cached blob fail
 * with both hashes; verify reports ok / mismatch / missing with its exit
 * status and audit entries; plain progress lines when stderr is no TTY. */
// labels: integration
#include "hub-fixture.h"

#include <fcntl.h>
#include <openssl/sha.h>

/* Independent expectation: SHA-256 of a file's bytes through OpenSSL's
 * one-shot SHA256, not the hub's streaming hasher. */
static void sha256_of(const char *path, char hex[65])
{
    char *data = NULL;
    size_t len = 0;
    hex[0] = '\0';
    if (mm_file_read(path, 1 << 24, &data, &len, NULL) != 0)
        return;
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)data, len, md);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    free(data);
}

static void flip_byte(const char *path, long offset)
{
    int fd = open(path, O_RDWR);
    unsigned char b = 0;
    CHECK(fd >= 0 && pread(fd, &b, 1, offset) == 1);
    b ^= 0x01;
    CHECK(fd >= 0 && pwrite(fd, &b, 1, offset) == 1);
    if (fd >= 0)
        close(fd);
}

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static char *read_text(const char *path)
{
    char *text = NULL;
    mm_file_read(path, 1 << 20, &text, NULL, NULL);
    return text;
}

int main(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    char *out = NULL, *err = NULL, path[8800], audit[4400];
    snprintf(audit, sizeof audit, "%s/models/audit.jsonl", fx.tmp);
    mockhub_file_info lfs;
    mockhub_file_info_get(fx.mh, FX_REPO, "main", FX_LFS, &lfs);

    /* No lock yet: both commands say where they looked. */
    const char *locked[] = { "pull", "--locked", NULL };
    CHECK_INT(fx_cli(&fx, locked, &out, &err), 1);
    CHECK_CONTAINS(err, "/conf/models.lock does not exist: pull a model with a pinned revision "
                        "first");
    free(out);
    free(err);

    /* A whole-repo pull, stderr not a TTY: one line at the start and one at
     * the end of each downloaded file. */
    const char *pull[] = { "pull", FX_REPO, "--revision", "v1.0", NULL };
    CHECK_INT(fx_cli(&fx, pull, &out, &err), 0);
    CHECK_CONTAINS(err, "model.gguf: downloading 200000 bytes\n");
    CHECK_CONTAINS(err, "model.gguf: 200000 bytes in ");
    CHECK_INT(count(err, "model.gguf: "), 2);
    CHECK(err && !strchr(err, '\r') && !strstr(err, "\033["));
    free(out);
    free(err);

    /* --locked into an empty cache reproduces every locked file. */
    mmtest_rmtree(fx.cache);
    CHECK_INT(fx_cli(&fx, locked, &out, &err), 0);
    CHECK_CONTAINS(out, "downloaded org/model/model.gguf (200000 bytes");
    CHECK_CONTAINS(out, "downloaded org/model/config.json (300 bytes");
    CHECK_CONTAINS(out, "downloaded org/model/sub/dir/weights.bin (5000 bytes");
    CHECK_CONTAINS(out, "3 files match ");
    free(out);
    free(err);
    char snap[4400];
    snprintf(snap, sizeof snap, "%s/models--org--model/snapshots/%s", fx.cache, fx.commit);
    snprintf(path, sizeof path, "%s/%s", snap, FX_LFS);
    CHECK(fx_content_is(path, FX_LFS_SEED, FX_LFS_SIZE));
    snprintf(path, sizeof path, "%s/%s", snap, FX_NESTED);
    CHECK(fx_content_is(path, FX_NESTED_SEED, FX_NESTED_SIZE));

    /* verify: all fine. */
    const char *verify[] = { "verify", NULL };
    CHECK_INT(fx_cli(&fx, verify, &out, &err), 0);
    CHECK_CONTAINS(out, "ok        org/model/model.gguf at ");
    CHECK_CONTAINS(out, "3 files checked against ");
    CHECK_CONTAINS(out, ": 3 ok, 0 mismatched, 0 missing\n");
    free(out);
    free(err);
    char *log = read_text(audit);
    CHECK_INT(count(log, "\"action\":\"verify\""), 3);
    CHECK_INT(count(log, "\"result\":\"ok\""), 3);
    free(log);

    /* A flipped byte in the blob: mismatch with both hashes, exit 1. */
    char blob[4400], flipped[65];
    snprintf(blob, sizeof blob, "%s/models--org--model/blobs/%s", fx.cache, lfs.sha256);
    flip_byte(blob, 1000);
    sha256_of(blob, flipped);
    CHECK(strcmp(flipped, lfs.sha256) != 0);
    const char *verify_one[] = { "verify", FX_REPO, NULL };
    CHECK_INT(fx_cli(&fx, verify_one, &out, &err), 1);
    char want[9000];
    snprintf(want, sizeof want, "mismatch  org/model/model.gguf at %s: models.lock says 200000 "
             "bytes, sha256 %s; the cache holds 200000 bytes, sha256 %s\n", fx.commit,
             lfs.sha256, flipped);
    CHECK_CONTAINS(out, want);
    CHECK_CONTAINS(out, ": 2 ok, 1 mismatched, 0 missing\n");
    free(out);
    free(err);

    /* --locked does not trust a cached blob's name: the bytes are re-hashed. */
    CHECK_INT(fx_cli(&fx, locked, &out, &err), 1);
    snprintf(want, sizeof want, "models.lock says %s for org/model/model.gguf at %s, the cached "
             "copy ", lfs.sha256, fx.commit);
    CHECK_CONTAINS(err, want);
    CHECK_CONTAINS(err, flipped);
    free(out);
    free(err);

    /* A missing snapshot link: missing, exit 1. */
    snprintf(path, sizeof path, "%s/%s", snap, FX_SMALL);
    CHECK_INT(unlink(path), 0);
    CHECK_INT(fx_cli(&fx, verify, &out, &err), 1);
    snprintf(want, sizeof want, "missing   org/model/config.json at %s: %s\n", fx.commit, path);
    CHECK_CONTAINS(out, want);
    CHECK_CONTAINS(out, ": 1 ok, 1 mismatched, 1 missing\n");
    free(out);
    free(err);
    log = read_text(audit);
    CHECK_INT(count(log, "\"action\":\"verify\""), 9);
    CHECK_INT(count(log, "\"result\":\"mismatch\""), 2);
    CHECK_INT(count(log, "\"result\":\"missing\""), 1);
    CHECK_CONTAINS(log, "config.json is missing");
    free(log);

    /* MODEL may be a catalog key from models.txt. */
    char list[4400];
    snprintf(list, sizeof list, "%s/conf/models.txt", fx.tmp);
    mmtest_write_file(list, "fx-model = org/model\n");
    const char *verify_key[] = { "verify", "fx-model", NULL };
    CHECK_INT(fx_cli(&fx, verify_key, &out, &err), 1);
    CHECK_CONTAINS(out, "missing   org/model/config.json at ");
    CHECK_CONTAINS(out, ": 1 ok, 1 mismatched, 1 missing\n");
    free(out);
    free(err);
    const char *verify_unknown[] = { "verify", "no-such-key", NULL };
    CHECK_INT(fx_cli(&fx, verify_unknown, &out, &err), 2);
    CHECK_CONTAINS(err, "'no-such-key' is neither a repo (org/name) nor a catalog key");
    free(out);
    free(err);

    /* A repo that is not locked. */
    const char *verify_other[] = { "verify", "org/other", NULL };
    CHECK_INT(fx_cli(&fx, verify_other, &out, &err), 1);
    CHECK_CONTAINS(err, "org/other is not in ");
    free(out);
    free(err);

    /* The Hub now serves other bytes at the locked commit: --locked into an
     * empty cache names both hashes. */
    CHECK_INT(mockhub_file_add(fx.mh, FX_REPO, FX_LFS, FX_LFS_SIZE, 99, true), 0);
    mockhub_file_info changed;
    mockhub_file_info_get(fx.mh, FX_REPO, fx.commit, FX_LFS, &changed);
    CHECK(strcmp(changed.sha256, lfs.sha256) != 0);
    mmtest_rmtree(fx.cache);
    CHECK_INT(fx_cli(&fx, locked, &out, &err), 1);
    snprintf(want, sizeof want, "modelmgr: models.lock says %s for org/model/model.gguf at %s, "
             "the Hub served %s\n", lfs.sha256, fx.commit, changed.sha256);
    CHECK_CONTAINS(err, want);
    free(out);
    free(err);
    log = read_text(audit);
    CHECK_CONTAINS(log, "the Hub served");
    free(log);

    const char *bad[] = { "pull", "--locked", FX_REPO, FX_LFS, NULL };
    CHECK_INT(fx_cli(&fx, bad, &out, &err), 2);
    CHECK_CONTAINS(err, "give no FILE and no --revision");
    free(out);
    free(err);
    fx_stop(&fx);
    return mmtest_finish();
}

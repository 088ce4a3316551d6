/* hub-hash.c - the two digests a Hub download is checked against, computed
 * in one pass: SHA-256 (the LFS oid) and git's blob SHA-1 ("blob <len>\0"
 * followed by the content), both through OpenSSL's EVP interface. */
#include "hub/hub.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct hub_hasher {
    EVP_MD_CTX *sha256;
    EVP_MD_CTX *sha1;
    uint64_t    total_size;
};

static void to_hex(const unsigned char *md, unsigned len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < len; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[2 * len] = '\0';
}

int hub_hasher_reset(hub_hasher *hs)
{
    char head[40];
    int n = snprintf(head, sizeof head, "blob %llu", (unsigned long long)hs->total_size);
    if (EVP_DigestInit_ex(hs->sha256, EVP_sha256(), NULL) != 1)
        return MM_EINTERNAL;
    if (!hs->sha1)
        return 0;
    if (EVP_DigestInit_ex(hs->sha1, EVP_sha1(), NULL) != 1 ||
        EVP_DigestUpdate(hs->sha1, head, (size_t)n + 1) != 1)   /* the NUL is hashed */
        return MM_EINTERNAL;
    return 0;
}

int hub_hasher_new(uint64_t total_size, hub_hasher **out)
{
    *out = NULL;
    hub_hasher *hs = calloc(1, sizeof *hs);
    if (!hs)
        return MM_ENOMEM;
    hs->total_size = total_size;
    hs->sha256 = EVP_MD_CTX_new();
    hs->sha1 = EVP_MD_CTX_new();
    if (!hs->sha256 || !hs->sha1 || hub_hasher_reset(hs) != 0) {
        hub_hasher_free(hs);
        return MM_ENOMEM;
    }
    *out = hs;
    return 0;
}

int hub_hasher_new_sha256(hub_hasher **out)
{
    *out = NULL;
    hub_hasher *hs = calloc(1, sizeof *hs);
    if (!hs)
        return MM_ENOMEM;
    hs->sha256 = EVP_MD_CTX_new();
    if (!hs->sha256 || hub_hasher_reset(hs) != 0) {
        hub_hasher_free(hs);
        return MM_ENOMEM;
    }
    *out = hs;
    return 0;
}

void hub_hasher_free(hub_hasher *hs)
{
    if (!hs)
        return;
    EVP_MD_CTX_free(hs->sha256);
    EVP_MD_CTX_free(hs->sha1);
    free(hs);
}

int hub_hasher_update(hub_hasher *hs, const void *data, size_t len)
{
    if (EVP_DigestUpdate(hs->sha256, data, len) != 1 ||
        (hs->sha1 && EVP_DigestUpdate(hs->sha1, data, len) != 1))
        return MM_EINTERNAL;
    return 0;
}

int hub_hasher_final(hub_hasher *hs, char sha256[65], char git_sha1[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (EVP_DigestFinal_ex(hs->sha256, md, &len) != 1)
        return MM_EINTERNAL;
    to_hex(md, len, sha256);
    git_sha1[0] = '\0';
    if (!hs->sha1)
        return 0;
    if (EVP_DigestFinal_ex(hs->sha1, md, &len) != 1)
        return MM_EINTERNAL;
    to_hex(md, len, git_sha1);
    return 0;
}

int hub_hash_file(const char *path, char sha256[65], char git_sha1[41], mm_error *err)
{
    hub_hasher *hs = NULL;
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = mm_error_set(err, MM_EIO, "cannot read %s: %s", path, strerror(errno));
        goto fail;
    }
    if ((rc = hub_hasher_new((uint64_t)st.st_size, &hs)) != 0) {
        mm_error_set(err, rc, "cannot start hashing %s", path);
        goto fail;
    }
    char buf[1 << 16];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = mm_error_set(err, MM_EIO, "cannot read %s: %s", path, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        hub_hasher_update(hs, buf, (size_t)n);
    }
    rc = hub_hasher_final(hs, sha256, git_sha1);
    if (rc)
        mm_error_set(err, rc, "hashing %s failed", path);
fail:
    if (fd >= 0)
        close(fd);
    hub_hasher_free(hs);
    return rc;
}

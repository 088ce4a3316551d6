/* hub-hash.c - the two digests a Hub download is checked against, computed
 * in one pass: SHA-256 (the LFS oid) and git's blob SHA-1 ("blob <len>\0"
 * followed by the content), both through OpenSSL's EVP interface; and the
 * cursor that hashes a file's prefix while parallel writers fill it. */
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

void hub_hash_cursor_init(hub_hash_cursor *c, hub_hasher *hs, uint64_t at)
{
    pthread_mutex_init(&c->mu, NULL);
    c->hs = hs;
    c->at = at;
    c->in_place = 0;
    c->read_back = 0;
}

void hub_hash_cursor_destroy(hub_hash_cursor *c)
{
    pthread_mutex_destroy(&c->mu);
}

uint64_t hub_hash_cursor_at(const hub_hash_cursor *c)
{
    return __atomic_load_n(&c->at, __ATOMIC_ACQUIRE);
}

bool hub_hash_cursor_offer(hub_hash_cursor *c, uint64_t at, const void *data, size_t len)
{
    /* A busy hasher means a reader is catching up: it will read these bytes
     * back, and the prefix can never be at `at` again. So no waiting. */
    if (hub_hash_cursor_at(c) != at || pthread_mutex_trylock(&c->mu) != 0)
        return false;
    bool hashed = __atomic_load_n(&c->at, __ATOMIC_RELAXED) == at;
    if (hashed) {
        hub_hasher_update(c->hs, data, len);
        c->in_place += len;
        __atomic_store_n(&c->at, at + len, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&c->mu);
    return hashed;
}

int hub_hash_cursor_read(hub_hash_cursor *c, int fd, uint64_t upto, uint8_t *buf,
                         size_t buf_size)
{
    int rc = 0;
    if (hub_hash_cursor_at(c) >= upto)
        return 0;   /* nothing to read: leave the hasher to the writers */
    pthread_mutex_lock(&c->mu);
    uint64_t at = __atomic_load_n(&c->at, __ATOMIC_RELAXED);
    while (at < upto) {
        size_t want = upto - at < buf_size ? (size_t)(upto - at) : buf_size;
        ssize_t n = pread(fd, buf, want, (off_t)at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;   /* the file is shorter than its parts say */
            rc = MM_EIO;
            break;
        }
        hub_hasher_update(c->hs, buf, (size_t)n);
        c->read_back += (uint64_t)n;
        at += (uint64_t)n;
        /* Published per piece: writers that pace themselves on the prefix go on sooner. */
        __atomic_store_n(&c->at, at, __ATOMIC_RELEASE);
    }
    int saved = errno;
    pthread_mutex_unlock(&c->mu);
    errno = saved;
    return rc;
}

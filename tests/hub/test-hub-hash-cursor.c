/* test-hub-hash-cursor.c - the digest over a file's written prefix
 * (hub_hash_cursor): bytes offered at the prefix are hashed from the
 * offered buffer, bytes offered ahead of it or while the hasher is busy are
 * read back, a part that starts exactly where a read-back ended is hashed
 * in place, a corrupted byte in an offered buffer fails the digest, and
 * writers racing a reader still give every byte once, in order. The
 * expected digests come from `sha256sum` over the same file. */
#include "hub/hub.h"
#include "support/test.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define SIZE ((1u << 20) + 123)   /* not a multiple of any chunk below */
#define READ_BUF 4096             /* small, so a read-back takes many pieces */

static uint8_t *content;          /* SIZE bytes, also in the file at path */
static char path[4096];
static char expected[65];         /* sha256sum of the file */
static int fd = -1;

static void make_content(void)
{
    content = malloc(SIZE);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < SIZE; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        content[i] = (uint8_t)(x >> 32);
    }
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(content, 1, SIZE, f) == SIZE);
    if (f)
        fclose(f);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", path);
    FILE *p = popen(cmd, "r");
    if (!p || fscanf(p, "%64s", expected) != 1)
        mmtest_skip("sha256sum is not available for the reference digests");
    pclose(p);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
}

typedef struct run {
    hub_hasher     *hs;
    hub_hash_cursor c;
    uint8_t         buf[READ_BUF];
} run;

static void run_start(run *r, uint64_t at)
{
    CHECK_INT(hub_hasher_new_sha256(&r->hs), 0);
    hub_hash_cursor_init(&r->c, r->hs, at);
}

/* Finish: the digest in hex; the run is over. */
static void run_end(run *r, char out[65])
{
    char sha1[41];
    CHECK_INT(hub_hasher_final(r->hs, out, sha1), 0);
    hub_hash_cursor_destroy(&r->c);
    hub_hasher_free(r->hs);
}

static bool offer(run *r, uint64_t from, uint64_t to)
{
    return hub_hash_cursor_offer(&r->c, from, content + from, (size_t)(to - from));
}

static void test_read_back_only(void)
{
    run r;
    run_start(&r, 0);
    CHECK_INT(hub_hash_cursor_read(&r.c, fd, 100000, r.buf, sizeof r.buf), 0);
    CHECK_INT(hub_hash_cursor_at(&r.c), 100000);
    CHECK_INT(hub_hash_cursor_read(&r.c, fd, 50000, r.buf, sizeof r.buf), 0);   /* behind: no-op */
    CHECK_INT(hub_hash_cursor_read(&r.c, fd, SIZE, r.buf, sizeof r.buf), 0);
    CHECK_INT(r.c.read_back, SIZE);
    CHECK_INT(r.c.in_place, 0);
    char got[65];
    run_end(&r, got);
    CHECK_STR(got, expected);
}

/* Parts of a download in the order that a real one takes: the first part
 * at the prefix hashed from its buffers; the second part written ahead of
 * the prefix (refused), read back once the first is done; the rest of the
 * second part, which starts exactly where the read-back ended, in place;
 * a third part that finished before the prefix reached it, read back. */
static void test_offers_and_read_back(void)
{
    run r;
    run_start(&r, 0);
    uint64_t p1 = 300000, p2 = 700000;
    CHECK(offer(&r, 0, 65536));
    CHECK(offer(&r, 65536, 200000));
    CHECK(!offer(&r, p1, p1 + 50000));           /* ahead of the prefix */
    CHECK(!offer(&r, p2, SIZE));                 /* the third part, all ahead */
    CHECK_INT(hub_hash_cursor_at(&r.c), 200000);
    CHECK(offer(&r, 200000, p1));                /* the first part ends */
    CHECK(!offer(&r, 200000, p1));               /* never twice */
    CHECK_INT(hub_hash_cursor_read(&r.c, fd, p1 + 50000, r.buf, sizeof r.buf), 0);
    CHECK(offer(&r, p1 + 50000, p2));            /* exactly at the prefix again */
    CHECK_INT(hub_hash_cursor_read(&r.c, fd, SIZE, r.buf, sizeof r.buf), 0);
    CHECK_INT(r.c.in_place, p1 + (p2 - p1 - 50000));
    CHECK_INT(r.c.read_back, 50000 + (SIZE - p2));
    char got[65];
    run_end(&r, got);
    CHECK_STR(got, expected);
}

/* A resumed download: the cursor starts at 0 while the parts already hold
 * bytes; they are read back, then the writers' new bytes land in place. */
static void test_resume_mid_file(void)
{
    run r;
    run_start(&r, 0);
    CHECK(!offer(&r, 400000, 450000));   /* the saved bytes end at 400000 */
    CHECK_INT(hub_hash_cursor_read(&r.c, fd, 450000, r.buf, sizeof r.buf), 0);
    CHECK(offer(&r, 450000, SIZE));
    CHECK_INT(r.c.read_back, 450000);
    char got[65];
    run_end(&r, got);
    CHECK_STR(got, expected);
}

/* A reader holding the hasher: the offer is refused rather than waited
 * for, and the bytes are read back. */
static void test_busy_hasher_refuses(void)
{
    run r;
    run_start(&r, 0);
    pthread_mutex_lock(&r.c.mu);
    CHECK(!offer(&r, 0, 1000));
    pthread_mutex_unlock(&r.c.mu);
    CHECK_INT(hub_hash_cursor_at(&r.c), 0);
    CHECK_INT(hub_hash_cursor_read(&r.c, fd, SIZE, r.buf, sizeof r.buf), 0);
    char got[65];
    run_end(&r, got);
    CHECK_STR(got, expected);
}

/* One byte flipped in a buffer hashed in place (as a corrupt transfer puts
 * it in the buffer and the file alike): the digest is not the file's. */
static void test_corrupt_offer_fails(void)
{
    run r;
    run_start(&r, 0);
    uint8_t *bad = malloc(200000);
    memcpy(bad, content, 200000);
    bad[123456] ^= 0x5a;
    CHECK(hub_hash_cursor_offer(&r.c, 0, bad, 200000));
    CHECK_INT(hub_hash_cursor_read(&r.c, fd, SIZE, r.buf, sizeof r.buf), 0);
    char got[65];
    run_end(&r, got);
    CHECK(strlen(got) == 64 && strcmp(got, expected) != 0);
    free(bad);
}

static void test_short_file_is_eio(void)
{
    run r;
    run_start(&r, 0);
    errno = 0;
    CHECK_INT(hub_hash_cursor_read(&r.c, fd, SIZE + 10, r.buf, sizeof r.buf), MM_EIO);
    CHECK_INT(errno, EIO);
    CHECK_INT(hub_hash_cursor_at(&r.c), SIZE);   /* what was there is hashed */
    char got[65];
    run_end(&r, got);
}

/* Writers offering their parts' pieces in turn while a reader catches up,
 * as hub-parts.c runs them: every byte once, in file order. */
#define WRITERS 4
#define PIECE 3000

typedef struct writer {
    run     *r;
    uint64_t from, to;      /* its part */
    uint64_t published;     /* atomic: bytes of the part "on disk" */
} writer;

static void *writer_main(void *arg)
{
    writer *w = arg;
    for (uint64_t at = w->from; at < w->to;) {
        uint64_t end = at + PIECE < w->to ? at + PIECE : w->to;
        __atomic_store_n(&w->published, end - w->from, __ATOMIC_RELEASE);
        offer(w->r, at, end);
        at = end;
        if ((at / PIECE) % 7 == 0)
            sched_yield();
    }
    return NULL;
}

static void test_racing_writers(void)
{
    for (int round = 0; round < 20; round++) {
        run r;
        run_start(&r, 0);
        writer w[WRITERS];
        pthread_t t[WRITERS];
        uint64_t step = SIZE / WRITERS + 1;
        for (int i = 0; i < WRITERS; i++) {
            w[i] = (writer){ .r = &r, .from = (uint64_t)i * step,
                             .to = (uint64_t)(i + 1) * step < SIZE ? (uint64_t)(i + 1) * step
                                                                   : SIZE };
            CHECK_INT(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
        }
        for (;;) {
            uint64_t upto = 0;   /* the contiguous published prefix */
            for (int i = 0; i < WRITERS; i++) {
                uint64_t d = __atomic_load_n(&w[i].published, __ATOMIC_ACQUIRE);
                upto = w[i].from + d;
                if (w[i].from + d < w[i].to)
                    break;
            }
            CHECK_INT(hub_hash_cursor_read(&r.c, fd, upto, r.buf, sizeof r.buf), 0);
            if (hub_hash_cursor_at(&r.c) == SIZE)
                break;
            sched_yield();
        }
        for (int i = 0; i < WRITERS; i++)
            pthread_join(t[i], NULL);
        CHECK_INT(r.c.in_place + r.c.read_back, SIZE);
        char got[65];
        run_end(&r, got);
        CHECK_STR(got, expected);
    }
}

int main(void)
{
    char *dir = mmtest_tmpdir();
    snprintf(path, sizeof path, "%s/blob", dir);
    make_content();
    test_read_back_only();
    test_offers_and_read_back();
    test_resume_mid_file();
    test_busy_hasher_refuses();
    test_corrupt_offer_fails();
    test_short_file_is_eio();
    test_racing_writers();
    close(fd);
    free(content);
    mmtest_rmtree(dir);
    free(dir);
    return mmtest_finish();
}

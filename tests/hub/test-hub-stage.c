/* test-hub-stage.c - bytes gathered into 16 KiB blocks aligned in the file
 * (hub_stage_put / hub_stage_flush) against a writer that records every
 * write into memory: whatever the piece sizes, the bytes arrive in order
 * and complete, every write starts on a 16 KiB boundary and ends on one or
 * at the region's end, a region that starts off a boundary first fills up
 * to the next one, an early flush is the only source of a misaligned start,
 * a failing write keeps the bytes held for the next try, and without a
 * buffer each piece is written as it comes. The expected write lists are
 * worked out by hand in the comments. */
#include "hub/hub.h"
#include "support/test.h"

#include <stdlib.h>
#include <string.h>

#define BLOCK HUB_STAGE_BLOCK
#define MAX_WRITES 4096

typedef struct recorder {
    uint8_t *file;                 /* the region's bytes as written */
    uint64_t base;                 /* file offset of file[0] */
    uint64_t at;                   /* end of the written bytes (file offset) */
    uint64_t starts[MAX_WRITES], lens[MAX_WRITES];
    int      n;
    int      fail_next;            /* the next write fails (then succeeds again) */
} recorder;

static int record(const uint8_t *data, size_t len, void *user)
{
    recorder *r = user;
    if (r->fail_next) {
        r->fail_next = 0;
        return MM_EIO;
    }
    if (r->n < MAX_WRITES) {
        r->starts[r->n] = r->at;
        r->lens[r->n] = len;
    }
    r->n++;
    memcpy(r->file + (r->at - r->base), data, len);
    r->at += len;
    return 0;
}

static uint8_t *pattern(size_t len, uint32_t seed)
{
    uint8_t *p = malloc(len);
    uint32_t x = seed;
    for (size_t i = 0; p && i < len; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (uint8_t)(x >> 16);
    }
    return p;
}

/* A recorder of the region [base, base + len). */
static recorder *recorder_new(uint64_t base, size_t len)
{
    recorder *r = calloc(1, sizeof *r);
    r->file = calloc(1, len);
    r->base = r->at = base;
    return r;
}

static void recorder_free(recorder *r)
{
    free(r->file);
    free(r);
}

/* Exactly n writes, write i of lens[i] bytes at starts[i]. */
static void check_writes(const recorder *r, const uint64_t *starts, const uint64_t *lens, int n)
{
    CHECK_INT(r->n, n);
    for (int i = 0; i < n && i < r->n; i++) {
        CHECK_INT(r->starts[i], starts[i]);
        CHECK_INT(r->lens[i], lens[i]);
    }
}

/* Feed [base, end) in pieces of the given sizes (cycled). */
static void feed(hub_stage *s, recorder *r, const uint8_t *src, uint64_t base, uint64_t end,
                 const size_t *sizes, int n_sizes)
{
    uint64_t pos = base;
    for (int i = 0; pos < end; i++) {
        size_t len = sizes[i % n_sizes];
        if (len > end - pos)
            len = (size_t)(end - pos);
        CHECK_INT(hub_stage_put(s, r->at, end, src + (pos - base), len, record, r), 0);
        pos += len;
    }
}

/* 100000 bytes from offset 0 in 1000-byte and 16355-byte pieces: six
 * whole blocks (0..98304) and the 1696-byte tail, seven writes, all aligned. */
static void test_odd_pieces(void)
{
    const uint64_t size = 100000;
    const size_t sizes[][2] = { { 1000, 1000 }, { 16355, 16355 }, { 1, 40000 } };
    for (size_t k = 0; k < 3; k++) {
        uint8_t *src = pattern(size, 7 + (uint32_t)k);
        recorder *r = recorder_new(0, size);
        hub_stage s = { .buf = malloc(BLOCK) };
        feed(&s, r, src, 0, size, sizes[k], 2);
        CHECK_INT(s.len, 0);           /* the tail ends at the region's end: written */
        CHECK_INT(r->at, size);
        CHECK(memcmp(r->file, src, size) == 0);
        CHECK_INT(r->n, 7);
        for (int i = 0; i < r->n && i < 7; i++) {
            CHECK_INT(r->starts[i], (uint64_t)i * BLOCK);
            CHECK_INT(r->lens[i], i < 6 ? BLOCK : 1696);
        }
        free(s.buf);
        recorder_free(r);
        free(src);
    }
}

/* A region [20000, 70000) (a part that does not start on a boundary) in
 * 5000-byte pieces: 20000..32768 first (12768 bytes), then 32768..49152,
 * 49152..65536, and the tail 65536..70000 (4464 bytes). */
static void test_unaligned_region(void)
{
    const uint64_t base = 20000, end = 70000;
    uint8_t *src = pattern(end - base, 3);
    recorder *r = recorder_new(base, end - base);
    hub_stage s = { .buf = malloc(BLOCK) };
    const size_t five[] = { 5000 };
    feed(&s, r, src, base, end, five, 1);
    CHECK(memcmp(r->file, src, end - base) == 0);
    const uint64_t starts[] = { 20000, 32768, 49152, 65536 };
    const uint64_t lens[] = { 12768, 16384, 16384, 4464 };
    check_writes(r, starts, lens, 4);
    free(s.buf);
    recorder_free(r);
    free(src);
}

/* An early flush after 20000 bytes (a pause) writes 16384 + 3616; the next
 * write starts at 20000 and only fills up to 32768 (12768 bytes); after it
 * the writes are aligned again. Flushing nothing writes nothing. */
static void test_early_flush(void)
{
    const uint64_t size = 50000;
    uint8_t *src = pattern(size, 11);
    recorder *r = recorder_new(0, size);
    hub_stage s = { .buf = malloc(BLOCK) };
    CHECK_INT(hub_stage_flush(&s, record, r), 0);
    CHECK_INT(r->n, 0);
    CHECK_INT(hub_stage_put(&s, r->at, size, src, 20000, record, r), 0);
    CHECK_INT(r->n, 1);
    CHECK_INT(s.len, 3616);
    CHECK_INT(hub_stage_flush(&s, record, r), 0);
    CHECK_INT(s.len, 0);
    CHECK_INT(r->at, 20000);
    CHECK_INT(hub_stage_put(&s, r->at, size, src + 20000, 30000, record, r), 0);
    CHECK(memcmp(r->file, src, size) == 0);
    const uint64_t starts[] = { 0, 16384, 20000, 32768, 49152 };
    const uint64_t lens[] = { 16384, 3616, 12768, 16384, 848 };
    check_writes(r, starts, lens, 5);
    free(s.buf);
    recorder_free(r);
    free(src);
}

/* A write that fails leaves the block held and the error returned; the
 * next flush writes it. */
static void test_failed_write_keeps_bytes(void)
{
    const uint64_t size = 40000;
    uint8_t *src = pattern(size, 5);
    recorder *r = recorder_new(0, size);
    hub_stage s = { .buf = malloc(BLOCK) };
    CHECK_INT(hub_stage_put(&s, r->at, size, src, 10000, record, r), 0);
    r->fail_next = 1;
    CHECK_INT(hub_stage_put(&s, r->at, size, src + 10000, 10000, record, r), MM_EIO);
    CHECK_INT(s.len, BLOCK);           /* the whole block, still held */
    CHECK_INT(r->at, 0);
    /* A caller that goes on anyway gets an error, not a loop. */
    CHECK_INT(hub_stage_put(&s, r->at, size, src + BLOCK, 1, record, r), MM_EIO);
    CHECK_INT(hub_stage_flush(&s, record, r), 0);
    CHECK_INT(r->at, BLOCK);
    CHECK(memcmp(r->file, src, BLOCK) == 0);
    free(s.buf);
    recorder_free(r);
    free(src);
}

/* No buffer (its allocation failed): each piece is written as it comes. */
static void test_no_buffer(void)
{
    const uint64_t size = 30000;
    uint8_t *src = pattern(size, 9);
    recorder *r = recorder_new(0, size);
    hub_stage s = { .buf = NULL };
    const size_t sizes[] = { 7000 };
    feed(&s, r, src, 0, size, sizes, 1);
    CHECK(memcmp(r->file, src, size) == 0);
    CHECK_INT(r->n, 5);                /* 7000 x 4 + 2000 */
    CHECK_INT(r->starts[1], 7000);
    CHECK_INT(hub_stage_flush(&s, record, r), 0);
    CHECK_INT(r->n, 5);
    recorder_free(r);
    free(src);
}

int main(void)
{
    CHECK_INT(BLOCK, 16384);
    test_odd_pieces();
    test_unaligned_region();
    test_early_flush();
    test_failed_write_keeps_bytes();
    test_no_buffer();
    return mmtest_finish();
}

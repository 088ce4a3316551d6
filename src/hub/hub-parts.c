/* hub-parts.c - a large blob fetched as several concurrent Range requests.
 *
 * DESIGN: <blob>.incomplete is allocated to its full size up front, so a
 * full disk fails at once and not after an hour. The file is cut into
 * parts (at least part_min_bytes, at most PARTS_MAX of them); parallel_parts
 * worker threads, each on one kept-alive connection, take the parts in file
 * order, GET bytes=[start+done, end) and pwrite() them in place, gathered
 * into blocks aligned in the file (hub-stage.c; written early when the body
 * pauses, and whenever a transfer ends); only the worker on a part writes
 * its `done` counter (release store after the write). With sync_downloads it also
 * starts the writeback of what it wrote every HUB_WRITEBACK_CHUNK, so the
 * fsync before the rename has little left; without, the disk is left to
 * the kernel as curl leaves it (the blob is marked unsynced). Because
 * parts finish roughly in order, the file's contiguous prefix is hashed as
 * it completes (hub_hash_cursor), so the verification runs during the
 * transfer: the worker of the part at the prefix hashes what it writes
 * from its buffer, and the calling thread reads back (pread) what
 * was written ahead of the prefix by the others; a worker too far ahead of the
 * hashed prefix waits for it (pace), which keeps the hash from
 * being left to the end where the CPU is scarce. The calling thread also
 * reports progress and, every second and at the end, writes every part's
 * progress to <blob>.incomplete.parts (by rename: a killed process leaves
 * the old state or the new one). A later run reads that state and asks each
 * part only for its missing tail. A server that answers a Range with 200 is
 * left to the single stream. */
#include "hub/hub.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PARTS_MAX 256
#define WORKERS_MAX 64
#define PART_MAX_ROUNDS 1000          /* as FETCH_MAX_ROUNDS in hub-fetch.c */
#define STATE_MAX_BYTES 16384         /* header + 256 lines of three numbers */
#define STATE_SAVE_MS 1000
#define HASH_CHUNK (1u << 20)          /* read back and hashed at once */
#define HASH_WINDOW (8u << 20)         /* read back between two looks at the clock */
#define HASH_LAG_MIN (16u << 20)       /* unverified bytes allowed beyond the parts in flight */
#define HASH_NAP_MS 1                  /* the hasher's wait for the prefix: ~0.6 MiB at full speed */

typedef struct parts_job parts_job;

typedef struct part {
    parts_job *job;
    int        index;
    uint64_t   start, end;   /* [start, end) of the file */
    uint64_t   done;         /* bytes of the part on disk; atomic, written by its worker */
    hub_stage  stage;        /* bytes received after `done`; its worker's buffer */
    bool       started;      /* this response's first byte seen */
    uint64_t   flushed;      /* bytes of the part whose writeback was started; its worker's */
    int        rc;           /* the transfer's result */
    mm_error   err;
    char       why[256];     /* a sink failure, for the message */
} part;

struct parts_job {
    hub            *h;
    const hub_fetch *f;
    int             fd;
    part            parts[PARTS_MAX];
    int             n;
    int             stop;       /* atomic: every part ends its transfer */
    int             no_range;   /* atomic: the server ignored a Range */
    int             next;       /* atomic: the next part a worker takes */
    int             finished;   /* atomic: workers that ended */
    hub_hash_cursor hash;       /* the digest over the file's written prefix */
    pthread_mutex_t write_mu;   /* one pwrite at a time (see part_write) */
    uint64_t        writes;     /* pwrites, and those starting off a HUB_STAGE_BLOCK */
    uint64_t        writes_off; /* boundary; under write_mu (for the debug line) */
    uint64_t        early;      /* atomic: stages written before they were whole */
    uint64_t        lag_max;    /* a worker this far past `hashed` waits */
    pthread_t       workers[WORKERS_MAX];
    int64_t         t0_ms, ended_ms, hashed_ms;   /* start, last byte, digest (timing log) */
};

int hub_parts_plan(const hub *h, uint64_t size)
{
    uint64_t min = h->opts.part_min_bytes ? h->opts.part_min_bytes : 1;
    uint64_t n = size / min;
    if (n > (uint64_t)h->opts.parallel_parts)
        n = (uint64_t)h->opts.parallel_parts;
    return n < 2 ? 1 : (int)n;
}

static char *state_path(const hub_fetch *f)
{
    return mm_asprintf("%s.incomplete.parts", f->blob_path);
}

bool hub_parts_pending(const hub_fetch *f)
{
    char *path = state_path(f);
    struct stat st;
    bool there = path && stat(path, &st) == 0;
    free(path);
    return there;
}

static uint64_t part_done(const part *p)
{
    return __atomic_load_n(&p->done, __ATOMIC_ACQUIRE);
}

static bool stopping(const parts_job *j)
{
    return __atomic_load_n(&j->stop, __ATOMIC_ACQUIRE) != 0;
}

/* "modelmgr-parts 1 <size> <n>\n" then "<start> <end> <done>\n" per part. */
/* Replace the state file by rename, without fsync: a killed process leaves
 * the old state or the new one, which is all a resume needs. After a power
 * loss the state may be stale or gone, as the unsynced bytes it describes
 * may be: a stale state loses bytes, a wrong one fails the hash, and the
 * download starts over. An fsync here, each second, would stall the thread
 * that hashes behind the journal commit that the download's writeback
 * keeps busy. */
static int state_write(const char *path, const char *text, size_t len, mm_error *err)
{
    char *tmp = mm_asprintf("%s.tmp.%ld", path, (long)getpid());
    if (!tmp)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto fail;
    for (size_t done = 0; done < len;) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto fail;
        done += (size_t)n;
    }
    int closed = close(fd);
    fd = -1;
    if (closed != 0 || rename(tmp, path) != 0)
        goto fail;
    free(tmp);
    return 0;
fail:;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    return mm_error_set(err, MM_EIO, "cannot write %s: %s", path, strerror(saved));
}

static int state_save(const parts_job *j, const char *path, mm_error *err)
{
    char text[STATE_MAX_BYTES];
    int len = snprintf(text, sizeof text, "modelmgr-parts 1 %llu %d\n",
                       (unsigned long long)j->f->size, j->n);
    for (int i = 0; i < j->n && len > 0 && (size_t)len < sizeof text; i++) {
        const part *p = &j->parts[i];
        int n = snprintf(text + len, sizeof text - (size_t)len, "%llu %llu %llu\n",
                         (unsigned long long)p->start, (unsigned long long)p->end,
                         (unsigned long long)part_done(p));
        len = n < 0 ? -1 : len + n;
    }
    if (len < 0 || (size_t)len >= sizeof text)   /* cannot happen with PARTS_MAX lines */
        return mm_error_set(err, MM_EINTERNAL, "the parts state does not fit");
    return state_write(path, text, (size_t)len, err);
}

/* 0 when the state fits f; anything odd is a reason to start over. */
static int state_load(parts_job *j, const char *path)
{
    char *text = NULL;
    size_t len = 0;
    if (mm_file_read(path, STATE_MAX_BYTES, &text, &len, NULL) != 0)
        return -1;
    int rc = -1;
    unsigned long long size = 0;
    int n = 0, used = 0;
    if (sscanf(text, "modelmgr-parts 1 %llu %d\n%n", &size, &n, &used) != 2 || used == 0 ||
        size != j->f->size || n < 1 || n > PARTS_MAX)
        goto out;
    const char *p = text + used;
    uint64_t expect = 0;
    for (int i = 0; i < n; i++) {
        unsigned long long a, b, d;
        if (sscanf(p, "%llu %llu %llu\n%n", &a, &b, &d, &used) != 3 || used == 0 ||
            a != expect || b <= a || b > size || d > b - a)
            goto out;
        j->parts[i] = (part){ .job = j, .index = i, .start = a, .end = b, .done = d,
                              .flushed = d };
        expect = b;
        p += used;
    }
    if (expect != size || *p != '\0')
        goto out;
    j->n = n;
    rc = 0;
out:
    free(text);
    return rc;
}

/* Parts of at least part_min_bytes, page-aligned, at most PARTS_MAX. */
static void layout(parts_job *j)
{
    uint64_t size = j->f->size, min = j->h->opts.part_min_bytes;
    uint64_t step = (size + PARTS_MAX - 1) / PARTS_MAX;
    if (step < min)
        step = min;
    step = (step + 4095) / 4096 * 4096;
    int n = (int)((size + step - 1) / step);
    for (int i = 0; i < n; i++)
        j->parts[i] = (part){ .job = j, .index = i, .start = (uint64_t)i * step,
                              .end = i == n - 1 ? size : (uint64_t)(i + 1) * step };
    j->n = n;
}

/* Bound what is downloaded but not yet hashed: a part far past the hashed
 * prefix waits for the hash to catch up. Where the CPU is scarce, the hash
 * then keeps pace with the transfer instead of being left alone at the end;
 * where it is plentiful nothing waits. The part at the prefix never waits
 * for long (the hash reaches it), and each wait is cut well short of the
 * stall timeout, which it would otherwise trip. */
static void pace(const parts_job *j, uint64_t at)
{
    int64_t until = mm_now_ms() + j->h->opts.stall_timeout_ms / 4;
    while (at > hub_hash_cursor_at(&j->hash) + j->lag_max && !stopping(j) &&
           mm_now_ms() < until)
        hub_sleep_ms(1);
}

/* Write len bytes at the part's end of written bytes, then publish them:
 * `done` (release, after the write), writeback, and the hash when they
 * start where the hashed prefix ends (the part at the prefix, once the
 * reader has caught up with it): from data, not read back. A hub_stage_writer. */
static int part_write(const uint8_t *data, size_t len, void *user)
{
    part *p = user;
    parts_job *j = p->job;
    uint64_t done = p->done;   /* only this thread writes it */
    uint64_t at = p->start + done;
    /* The file system takes the inode's lock for each buffered write to the
     * file, so writers never overlapped; but its waiters spin while the
     * holder runs, which burnt up to 5% of the download's CPU on 2 cores. Here
     * they sleep instead, and the spinning core hashes or receives. */
    int rc = 0;
    pthread_mutex_lock(&j->write_mu);
    j->writes++;
    j->writes_off += at % HUB_STAGE_BLOCK != 0;
    for (size_t put = 0; put < len;) {
        ssize_t n = pwrite(j->fd, data + put, len - put, (off_t)(at + put));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(p->why, sizeof p->why, "cannot write: %s", strerror(errno));
            rc = MM_EIO;
            break;
        }
        put += (size_t)n;
    }
    pthread_mutex_unlock(&j->write_mu);
    if (rc != 0)
        return rc;
    done += len;
    __atomic_store_n(&p->done, done, __ATOMIC_RELEASE);
    /* Here, not in the hashing thread: sync_file_range can wait for the
     * disk's queue, which may slow this part's transfer (the disk is the
     * bottleneck then) but must not hold up the hash. */
    if (j->h->opts.sync_downloads &&
        (done - p->flushed >= HUB_WRITEBACK_CHUNK || done == p->end - p->start)) {
        hub_writeback_start(j->fd, p->start + p->flushed, done - p->flushed);
        p->flushed = done;
    }
    hub_hash_cursor_offer(&j->hash, at, data, len);
    return 0;
}

/* Write what is staged (if anything) before its block is whole. */
static int part_flush(part *p)
{
    if (p->stage.len == 0)
        return 0;
    __atomic_add_fetch(&p->job->early, 1, __ATOMIC_RELAXED);
    return hub_stage_flush(&p->stage, part_write, p);
}

static int part_sink(const void *data, size_t len, hub_http_response *rs, void *user)
{
    part *p = user;
    parts_job *j = p->job;
    if (stopping(j))
        return MM_ECANCELED;
    uint64_t have = p->done + p->stage.len;   /* only this thread writes them */
    if (!p->started) {
        p->started = true;
        unsigned long long from = 0;
        if (rs->status != 206) {
            __atomic_store_n(&j->no_range, 1, __ATOMIC_RELEASE);
            return MM_EUNSUPPORTED;
        }
        if (sscanf(rs->content_range, "bytes %llu-", &from) != 1 || from != p->start + have) {
            snprintf(p->why, sizeof p->why, "the server answered Range %llu- with "
                     "Content-Range '%s'", (unsigned long long)(p->start + have),
                     rs->content_range);
            return MM_EFORMAT;
        }
    }
    if (have + len > p->end - p->start) {
        snprintf(p->why, sizeof p->why, "the server sent more than the %llu bytes of part %d",
                 (unsigned long long)(p->end - p->start), p->index);
        return MM_EINTEGRITY;
    }
    pace(j, p->start + have + len);
    return hub_stage_put(&p->stage, p->start + p->done, p->end, data, len, part_write, p);
}

/* The body paused: what is staged goes to disk, where a resume finds it. */
static int part_quiet(void *user)
{
    return part_flush(user);
}

/* Waits ms, or less when another part failed. */
static void nap(const parts_job *j, int64_t ms)
{
    for (int64_t end = mm_now_ms() + ms; !stopping(j) && mm_now_ms() < end;)
        hub_sleep_ms(ms < 20 ? ms : 20);
}

/* One part's transfer: the retry policy of hub-fetch.c's transfer(), per part.
 * conn (may be NULL) is the worker's kept connection. */
static int part_transfer(part *p, hub_http_conn *conn)
{
    parts_job *j = p->job;
    hub *h = j->h;
    const hub_fetch *f = j->f;
    uint64_t len = p->end - p->start;
    int failures = 0;
    for (int round = 0; p->done < len; round++) {
        if (stopping(j))
            return MM_ECANCELED;
        if (round == PART_MAX_ROUNDS)
            return mm_error_set(&p->err, MM_ENET, "%s: gave up after %d interrupted transfers "
                                "of part %d", f->filename, round, p->index);
        uint64_t before = p->done;
        hub_http_request rq = {
            .method = "GET", .url = f->url, .range_from = (int64_t)(p->start + p->done),
            .range_len = (int64_t)(len - p->done), .stall_ms = h->opts.stall_timeout_ms,
            .body_max = 4096, .sink = part_sink, .sink_user = p, .quiet = part_quiet,
            .conn = conn,
        };
        hub_http_response rs;
        hub_http_response_init(&rs);
        p->started = false;
        p->why[0] = '\0';
        int rc = hub_http_perform(h, &rq, &rs);
        /* Staged bytes are good bytes, whatever ended the transfer. */
        int flushed = part_flush(p);
        if (flushed != 0)
            rc = flushed;
        bool ok_status = rs.status >= 200 && rs.status < 300;
        if (rc == 0 && rs.status == 200) {
            __atomic_store_n(&j->no_range, 1, __ATOMIC_RELEASE);
            rc = MM_EUNSUPPORTED;
        }
        if (rc == 0 && ok_status && p->done == len) {
            hub_http_response_free(&rs);
            break;
        }
        if (rc == MM_EUNSUPPORTED || rc == MM_ECANCELED) {
            hub_http_response_free(&rs);
            return rc;
        }
        if (rc == 0 && ok_status) {
            rc = mm_error_set(&p->err, MM_EINTEGRITY, "%s: the server ended part %d (bytes "
                              "%llu-%llu) after %llu bytes", f->filename, p->index,
                              (unsigned long long)p->start, (unsigned long long)(p->end - 1),
                              (unsigned long long)p->done);
            hub_http_response_free(&rs);
            return rc;
        }
        if (rc != 0 && rc != MM_ENET && rc != MM_ETIMEDOUT) {
            rc = mm_error_set(&p->err, rc, "%s: %s", f->filename,
                              p->why[0] ? p->why : rs.transport_error);
            hub_http_response_free(&rs);
            return rc;
        }
        bool transient = rc != 0 || hub_http_retryable_status(rs.status);
        if (!transient || (p->done == before && failures >= h->opts.max_retries)) {
            rc = rc ? mm_error_set(&p->err, rc, "downloading %s failed after %d retries: %s",
                                   f->filename, failures, rs.transport_error)
                    : hub_http_error(h, &rs, f->repo, NULL, f->filename, &p->err);
            hub_http_response_free(&rs);
            return rc;
        }
        int64_t wait = 0;
        if (p->done == before) {
            wait = hub_http_backoff_ms(h, failures, &rs);
            failures++;
        }
        MM_LOG_WARN("hub: GET %s part %d: %s at byte %llu of %llu-%llu; resuming in %lld ms",
                    f->filename, p->index, rc ? rs.transport_error : "retryable HTTP status",
                    (unsigned long long)(p->start + p->done), (unsigned long long)p->start,
                    (unsigned long long)(p->end - 1), (long long)wait);
        hub_http_response_free(&rs);
        nap(j, wait);
    }
    return 0;
}

/* Take parts in file order until none is left or another worker failed,
 * on one kept connection (without one, each request opens its own). */
static void *worker_main(void *arg)
{
    parts_job *j = arg;
    hub_http_conn *conn = NULL;
    if (hub_http_conn_new(&conn) != 0)
        conn = NULL;
    uint8_t *stage = malloc(HUB_STAGE_BLOCK);   /* NULL: pieces are written as they come */
    for (;;) {
        int i = __atomic_fetch_add(&j->next, 1, __ATOMIC_ACQ_REL);
        if (i >= j->n)
            break;
        part *p = &j->parts[i];
        if (p->done == p->end - p->start)
            continue;
        p->stage = (hub_stage){ .buf = stage };
        p->rc = part_transfer(p, conn);
        p->stage.buf = NULL;
        if (p->rc != 0) {
            __atomic_store_n(&j->stop, 1, __ATOMIC_RELEASE);
            break;
        }
    }
    free(stage);
    hub_http_conn_free(conn);
    __atomic_add_fetch(&j->finished, 1, __ATOMIC_ACQ_REL);
    return NULL;
}

/* End of the contiguous prefix of the file that is on disk. */
static uint64_t prefix_end(const parts_job *j)
{
    for (int i = 0; i < j->n; i++) {
        uint64_t d = part_done(&j->parts[i]);
        if (d < j->parts[i].end - j->parts[i].start)
            return j->parts[i].start + d;
    }
    return j->f->size;
}

static uint64_t total_done(const parts_job *j)
{
    uint64_t sum = 0;
    for (int i = 0; i < j->n; i++)
        sum += part_done(&j->parts[i]);
    return sum;
}

static void report(const parts_job *j, int64_t t0, uint64_t at_start)
{
    hub *h = j->h;
    if (!h->opts.progress)
        return;
    double secs = (double)(mm_now_ms() - t0) / 1000.0;
    uint64_t done = total_done(j);
    hub_progress p = {
        .repo = j->f->repo, .filename = j->f->filename, .bytes_done = done,
        .bytes_total = j->f->size,
        .bytes_per_s = secs > 0 ? (double)(done - at_start) / secs : 0,
    };
    pthread_mutex_lock(h->progress_mu);
    h->opts.progress(&p, h->opts.progress_user);
    pthread_mutex_unlock(h->progress_mu);
}

/* Allocate the whole file: a full disk is an error now, with the state kept. */
static int reserve(parts_job *j, const char *tmp, mm_error *err)
{
    int e = posix_fallocate(j->fd, 0, (off_t)j->f->size);
    if (e == 0)
        return 0;
    if (e == ENOSPC || e == EFBIG || e == EDQUOT)
        return mm_error_set(err, MM_EIO, "not enough disk space for %s (%llu bytes) at %s: %s; "
                            "free some space and pull again (the download resumes)",
                            j->f->filename, (unsigned long long)j->f->size, tmp, strerror(e));
    /* A file system without fallocate: a sparse file of the right size. */
    if (ftruncate(j->fd, (off_t)j->f->size) != 0)
        return mm_error_set(err, MM_EIO, "cannot size %s: %s", tmp, strerror(errno));
    return 0;
}

/* Run the parts, hashing the prefix as it completes; 0 when all finished. */
static int run_parts(parts_job *j, int n_workers, const char *state, mm_error *err)
{
    int rc = 0, started = 0;
    uint8_t *buf = malloc(HASH_CHUNK);
    if (!buf)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    j->lag_max = HASH_LAG_MIN + (uint64_t)n_workers * (j->parts[0].end - j->parts[0].start);
    for (; started < n_workers; started++)
        if (pthread_create(&j->workers[started], NULL, worker_main, j) != 0) {
            __atomic_store_n(&j->stop, 1, __ATOMIC_RELEASE);
            rc = mm_error_set(err, MM_ENOMEM, "cannot start a download thread");
            break;
        }
    int64_t t0 = mm_now_ms(), last_save = t0, last_report = t0;
    uint64_t at_start = total_done(j), hashed = 0;
    j->t0_ms = t0;
    for (;;) {
        bool all_ended = __atomic_load_n(&j->finished, __ATOMIC_ACQUIRE) == started;
        if (all_ended && !j->ended_ms)
            j->ended_ms = mm_now_ms();
        /* Read back what no worker hashed in place: bytes written while
         * the prefix was still behind them. pread, not mmap: as cheap per
         * byte here, without the mmap lock that every window took. */
        hashed = hub_hash_cursor_at(&j->hash);
        uint64_t upto = prefix_end(j);
        if (upto - hashed > HASH_WINDOW && !all_ended)
            upto = hashed + HASH_WINDOW;   /* keep saving state while hashing */
        if (!stopping(j) && hub_hash_cursor_read(&j->hash, j->fd, upto, buf, HASH_CHUNK) != 0 &&
            rc == 0) {
            rc = mm_error_set(err, MM_EIO, "cannot read back %s: %s", j->f->filename,
                              strerror(errno));
            __atomic_store_n(&j->stop, 1, __ATOMIC_RELEASE);
        }
        hashed = hub_hash_cursor_at(&j->hash);
        int64_t now = mm_now_ms();
        if (now - last_save >= STATE_SAVE_MS) {
            state_save(j, state, NULL);   /* best effort: a stale state costs only bytes */
            last_save = now;
        }
        if (now - last_report >= 100) {
            report(j, t0, at_start);
            last_report = now;
        }
        if (all_ended && (hashed == j->f->size || stopping(j) || rc != 0))
            break;
        /* Nap only when the prefix has not moved past what was just hashed
         * (or the workers are stopping): comparing with the prefix seen
         * before the read made the hasher nap after every batch, about 40%
         * of its time, while the workers that pace on it napped as well and
         * a third of the two cores stood idle (PERFORMANCE.md, Downloads,
         * fifth round). */
        if (!all_ended && (stopping(j) || prefix_end(j) <= hashed))
            hub_sleep_ms(HASH_NAP_MS);
    }
    j->hashed_ms = mm_now_ms();
    for (int i = 0; i < started; i++)
        pthread_join(j->workers[i], NULL);
    report(j, t0, at_start);
    free(buf);
    return rc;
}

/* The first real failure of a part (a part cancelled because another failed
 * says nothing). */
static int part_failure(parts_job *j, mm_error *err)
{
    int canceled = 0;
    for (int i = 0; i < j->n; i++) {
        part *p = &j->parts[i];
        if (p->rc == MM_ECANCELED) {
            canceled = p->rc;
        } else if (p->rc != 0 && p->rc != MM_EUNSUPPORTED) {
            if (err)
                *err = p->err;
            return p->rc;
        }
    }
    if (canceled)
        return mm_error_set(err, MM_ECANCELED, "%s: the download was stopped", j->f->filename);
    return 0;
}

int hub_fetch_parts(hub *h, const hub_fetch *f, int n_workers, char sha256[65], mm_error *err)
{
    parts_job *j = calloc(1, sizeof *j);
    if (j) {
        j->fd = -1;
        pthread_mutex_init(&j->write_mu, NULL);
    }
    char *tmp = mm_asprintf("%s.incomplete", f->blob_path);
    char *state = state_path(f);
    hub_hasher *hs = NULL;
    bool keep = false;
    int rc = 0;
    if (!j || !tmp || !state) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory");
        goto fail;
    }
    j->f = f;
    j->h = h;
    j->fd = open(tmp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    struct stat sb;
    if (j->fd < 0 || fstat(j->fd, &sb) != 0) {
        rc = mm_error_set(err, MM_EIO, "cannot open %s: %s", tmp, strerror(errno));
        goto fail;
    }
    if ((uint64_t)sb.st_size == f->size && state_load(j, state) == 0) {
        uint64_t have = total_done(j);
        MM_LOG_INFO("hub: resuming %s in %d parts at %llu of %llu bytes", f->filename, j->n,
                    (unsigned long long)have, (unsigned long long)f->size);
    } else {
        if (sb.st_size != 0 && ftruncate(j->fd, 0) != 0) {
            rc = mm_error_set(err, MM_EIO, "cannot truncate %s: %s", tmp, strerror(errno));
            goto fail;
        }
        layout(j);
        if ((rc = state_save(j, state, err)) != 0)
            goto fail;
    }
    if ((rc = reserve(j, tmp, err)) != 0) {
        keep = true;
        goto fail;
    }
    bool lfs = strlen(f->etag) == 64;
    rc = lfs ? hub_hasher_new_sha256(&hs) : hub_hasher_new(f->size, &hs);
    if (rc != 0) {
        mm_error_set(err, rc, "cannot start hashing");
        goto fail;
    }
    if (n_workers > j->n)
        n_workers = j->n;
    hub_hash_cursor_init(&j->hash, hs, 0);
    rc = run_parts(j, n_workers < 1 ? 1 : n_workers > WORKERS_MAX ? WORKERS_MAX : n_workers,
                   state, err);
    if (__atomic_load_n(&j->no_range, __ATOMIC_ACQUIRE)) {
        rc = mm_error_set(err, MM_EUNSUPPORTED, "%s: the server ignored a Range request",
                          f->filename);
        goto fail;
    }
    if (rc == 0)
        rc = part_failure(j, err);
    if (rc != 0) {
        /* Intact bytes (and the record of which they are) are worth keeping. */
        keep = rc == MM_ENET || rc == MM_ETIMEDOUT || rc == MM_ECANCELED;
        if (keep)
            state_save(j, state, NULL);
        goto fail;
    }
    char got256[65], got1[41];
    hub_hasher_final(hs, got256, got1);
    const char *got = lfs ? got256 : got1;
    if (strcmp(got, f->etag) != 0) {
        rc = mm_error_set(err, MM_EINTEGRITY, "%s from %s is corrupt: expected %s %s, got %s",
                          f->filename, f->repo, lfs ? "sha256" : "git-sha1", f->etag, got);
        goto fail;
    }
    int64_t sync_from = mm_now_ms();
    if ((rc = hub_blob_store(h, j->fd, tmp, f->blob_path, f->size, err)) != 0)
        goto fail;
    MM_LOG_DEBUG("hub: %s: %d parts: last byte after %.2f s, then hash %.2f s, %s %.2f s; "
                 "%llu bytes hashed in place, %llu read back; %llu writes, %llu off a %u KiB "
                 "boundary, %llu early", f->filename, j->n,
                 (double)(j->ended_ms - j->t0_ms) / 1000.0,
                 (double)(j->hashed_ms - j->ended_ms) / 1000.0,
                 hub_blob_synced(h, f->size) ? "fsync" : "rename",
                 (double)(mm_now_ms() - sync_from) / 1000.0,
                 (unsigned long long)j->hash.in_place, (unsigned long long)j->hash.read_back,
                 (unsigned long long)j->writes, (unsigned long long)j->writes_off,
                 HUB_STAGE_BLOCK >> 10, (unsigned long long)j->early);
    unlink(state);
    memcpy(sha256, got256, 65);
fail:
    if (j && j->fd >= 0)
        close(j->fd);
    if (rc != 0 && !keep && tmp && state) {
        unlink(state);
        unlink(tmp);
    }
    hub_hasher_free(hs);
    free(state);
    free(tmp);
    if (j && j->hash.hs)
        hub_hash_cursor_destroy(&j->hash);
    if (j)
        pthread_mutex_destroy(&j->write_mu);
    free(j);
    return rc;
}

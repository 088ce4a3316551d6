/* hub-fetch.c - fetch one blob: bytes go to <blob>.incomplete (kept across
 * runs and continued with Range) in blocks aligned in the file (hub-stage.c;
 * held bytes are written when the body pauses and whenever a transfer
 * ends), are hashed while they arrive, and the
 * file is renamed into blobs/ only after its size and hash match the etag;
 * fsynced first with sync_downloads or when small, else marked unsynced
 * (hub-unsynced.c). */
#define _GNU_SOURCE   /* sync_file_range */
#include "hub/hub.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A transfer that keeps making progress is resumed indefinitely, but not
 * forever: this bounds a server that drops every connection after a byte. */
#define FETCH_MAX_ROUNDS 1000

typedef struct fetch_state {
    hub        *h;
    const hub_fetch *f;
    int         fd;
    uint64_t    have;          /* bytes in the .incomplete file */
    hub_stage   stage;         /* bytes received after `have` (hub-stage.c) */
    uint64_t    flushed;       /* bytes whose writeback was started */
    hub_hasher *hs;
    bool        started;       /* this response's first byte seen */
    int64_t     t0_ms;
    uint64_t    run_bytes;     /* bytes received in this run */
    int64_t     last_report_ms;
    int         disk_errno;    /* ENOSPC / EFBIG / EDQUOT from a write: keep the partial */
    char        why[256];      /* a sink failure, for the message */
} fetch_state;

static void report(fetch_state *st, bool final)
{
    if (!st->h->opts.progress)
        return;
    int64_t now = mm_now_ms();
    if (!final && now - st->last_report_ms < 100)
        return;
    st->last_report_ms = now;
    double secs = (double)(now - st->t0_ms) / 1000.0;
    hub_progress p = {
        .repo = st->f->repo, .filename = st->f->filename,
        /* received: the staged bytes are hashed and written before anything
         * reads `have` (a pause, the transfer's end) */
        .bytes_done = st->have + st->stage.len, .bytes_total = st->f->size,
        .bytes_per_s = secs > 0 ? (double)st->run_bytes / secs : 0,
    };
    pthread_mutex_lock(st->h->progress_mu);
    st->h->opts.progress(&p, st->h->opts.progress_user);
    pthread_mutex_unlock(st->h->progress_mu);
}

void hub_writeback_start(int fd, uint64_t offset, uint64_t len)
{
#ifdef SYNC_FILE_RANGE_WRITE
    sync_file_range(fd, (off_t)offset, (off_t)len, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd;
    (void)offset;
    (void)len;
#endif
}

bool hub_blob_synced(const hub *h, uint64_t size)
{
    return h->opts.sync_downloads || size < h->opts.unsynced_min_bytes;
}

int hub_blob_store(hub *h, int fd, const char *tmp, const char *blob_path, uint64_t size,
                   mm_error *err)
{
    bool synced = hub_blob_synced(h, size);
    if ((synced && fsync(fd) != 0) || rename(tmp, blob_path) != 0)
        return mm_error_set(err, MM_EIO, "cannot store %s: %s", blob_path, strerror(errno));
    if (synced)
        hub_unsynced_clear(blob_path);   /* an earlier unsynced run's, now moot */
    return 0;
}

static int restart(fetch_state *st)
{
    if (ftruncate(st->fd, 0) != 0 || lseek(st->fd, 0, SEEK_SET) != 0)
        return MM_EIO;
    st->have = 0;
    st->flushed = 0;
    st->stage.len = 0;
    return hub_hasher_reset(st->hs);
}

/* Append len bytes to the file (a hub_stage_writer). */
static int append(const uint8_t *data, size_t len, void *user)
{
    fetch_state *st = user;
    for (size_t put = 0; put < len;) {
        ssize_t n = write(st->fd, data + put, len - put);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            if (errno == ENOSPC || errno == EFBIG || errno == EDQUOT)
                st->disk_errno = errno;
            snprintf(st->why, sizeof st->why, "cannot write: %s", strerror(errno));
            return MM_EIO;
        }
        /* What was written is a valid prefix (a short write included). */
        put += (size_t)n;
        st->have += (uint64_t)n;
    }
    if (st->h->opts.sync_downloads && st->have - st->flushed >= HUB_WRITEBACK_CHUNK) {
        hub_writeback_start(st->fd, st->flushed, st->have - st->flushed);
        st->flushed = st->have;
    }
    return 0;
}

/* The body paused: what is staged goes to disk, where a resume finds it. */
static int quiet(void *user)
{
    fetch_state *st = user;
    return hub_stage_flush(&st->stage, append, st);
}

static int sink(const void *data, size_t len, hub_http_response *rs, void *user)
{
    fetch_state *st = user;
    if (!st->started) {
        st->started = true;
        if (rs->status == 206) {
            unsigned long long from = 0;
            if (sscanf(rs->content_range, "bytes %llu-", &from) != 1 || from != st->have) {
                snprintf(st->why, sizeof st->why, "the server answered Range %llu- with "
                         "Content-Range '%s'", (unsigned long long)st->have, rs->content_range);
                return MM_EFORMAT;
            }
        } else if (st->have > 0) {
            MM_LOG_INFO("hub: %s: the server ignored Range and sent the whole file; "
                        "starting over", st->f->filename);
            if (restart(st) != 0) {
                snprintf(st->why, sizeof st->why, "cannot truncate: %s", strerror(errno));
                return MM_EIO;
            }
        }
    }
    if (st->have + st->stage.len + len > st->f->size) {
        snprintf(st->why, sizeof st->why, "the server sent more than the %llu bytes announced",
                 (unsigned long long)st->f->size);
        return MM_EINTEGRITY;
    }
    int rc = hub_stage_put(&st->stage, st->have, st->f->size, data, len, append, st);
    if (rc != 0)
        return rc;
    hub_hasher_update(st->hs, data, len);   /* in order: the stream is the file's order */
    st->run_bytes += len;
    report(st, false);
    return 0;
}

/* Hash what an earlier run left, so the final digest covers the whole file. */
static int hash_prefix(fetch_state *st)
{
    char buf[1 << 16];
    uint64_t done = 0;
    while (done < st->have) {
        size_t want = st->have - done < sizeof buf ? (size_t)(st->have - done) : sizeof buf;
        ssize_t n = pread(st->fd, buf, want, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return MM_EIO;
        hub_hasher_update(st->hs, buf, (size_t)n);
        done += (uint64_t)n;
    }
    return lseek(st->fd, (off_t)st->have, SEEK_SET) < 0 ? MM_EIO : 0;
}

/* One pass over the network until the file is complete or a failure ends it. */
static int transfer(fetch_state *st, mm_error *err)
{
    hub *h = st->h;
    const hub_fetch *f = st->f;
    int failures = 0;
    for (int round = 0; st->have < f->size; round++) {
        if (round == FETCH_MAX_ROUNDS)
            return mm_error_set(err, MM_ENET, "%s: gave up after %d interrupted transfers",
                                f->filename, round);
        uint64_t before = st->have;
        hub_http_request rq = {
            .method = "GET", .url = f->url, .range_from = st->have > 0 ? (int64_t)st->have : -1,
            .stall_ms = h->opts.stall_timeout_ms, .body_max = 4096,
            .sink = sink, .sink_user = st, .quiet = quiet,
        };
        hub_http_response rs;
        hub_http_response_init(&rs);
        st->started = false;
        st->why[0] = '\0';
        int rc = hub_http_perform(h, &rq, &rs);
        /* Staged bytes are good bytes, whatever ended the transfer. */
        int flushed = hub_stage_flush(&st->stage, append, st);
        if (flushed != 0)
            rc = flushed;
        bool ok_status = rs.status >= 200 && rs.status < 300;
        if (rc == 0 && ok_status && st->have == f->size) {
            hub_http_response_free(&rs);
            break;
        }
        if (rc == 0 && ok_status) {
            rc = mm_error_set(err, MM_EINTEGRITY, "%s: the Hub announced %llu bytes but the "
                              "transfer ended after %llu", f->filename,
                              (unsigned long long)f->size, (unsigned long long)st->have);
            hub_http_response_free(&rs);
            return rc;
        }
        if (rc != 0 && st->disk_errno) {
            /* What was written is a valid prefix (a short write included):
             * the next run continues from it. */
            rc = mm_error_set(err, MM_EIO, "not enough disk space for %s (%llu bytes) at "
                              "%s.incomplete: %s; free some space and pull again (the download "
                              "resumes)", f->filename, (unsigned long long)f->size, f->blob_path,
                              strerror(st->disk_errno));
            hub_http_response_free(&rs);
            return rc;
        }
        if (rc != 0 && rc != MM_ENET && rc != MM_ETIMEDOUT) {
            rc = mm_error_set(err, rc, "%s: %s", f->filename,
                              st->why[0] ? st->why : rs.transport_error);
            hub_http_response_free(&rs);
            return rc;
        }
        bool transient = rc != 0 || hub_http_retryable_status(rs.status);
        if (rc == 0 && rs.status == 416 && st->have > 0) {
            /* Our partial file is not a prefix the server recognises. */
            transient = restart(st) == 0;
        }
        if (!transient || (st->have == before && failures >= h->opts.max_retries)) {
            rc = rc ? mm_error_set(err, rc, "downloading %s failed after %d retries: %s",
                                   f->filename, failures, rs.transport_error)
                    : hub_http_error(h, &rs, f->repo, NULL, f->filename, err);
            hub_http_response_free(&rs);
            return rc;
        }
        int64_t wait = 0;
        if (st->have == before) {
            wait = hub_http_backoff_ms(h, failures, &rs);
            failures++;
        }
        MM_LOG_WARN("hub: GET %s: %s at byte %llu of %llu; %s in %lld ms", f->filename,
                    rc ? rs.transport_error : "retryable HTTP status",
                    (unsigned long long)st->have, (unsigned long long)f->size,
                    st->have > 0 ? "resuming" : "retrying", (long long)wait);
        hub_http_response_free(&rs);
        hub_sleep_ms(wait);
    }
    return 0;
}

/* A partial file from a single-stream run is continued as one stream; a
 * parallel run's state is continued in parts, whatever the options say now. */
static bool use_parts(hub *h, const hub_fetch *f, const char *tmp, int *n_parts)
{
    *n_parts = hub_parts_plan(h, f->size);
    if (hub_parts_pending(f))
        return true;
    struct stat sb;
    return *n_parts > 1 && (stat(tmp, &sb) != 0 || sb.st_size == 0);
}

int hub_fetch_blob(hub *h, const hub_fetch *f, char sha256[65], mm_error *err)
{
    fetch_state st = { .h = h, .f = f, .fd = -1, .t0_ms = mm_now_ms() };
    int rc = 0;
    bool keep_partial = false;
    char *tmp = mm_asprintf("%s.incomplete", f->blob_path);
    if (!tmp)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    /* Durable before the first byte, while the disk has nothing else to do:
     * the blob may then appear without waiting for its own fsync. */
    if (!hub_blob_synced(h, f->size) && (rc = hub_unsynced_mark(f->blob_path, err)) != 0) {
        free(tmp);
        return rc;
    }
    int n_parts = 1;
    if (use_parts(h, f, tmp, &n_parts)) {
        rc = hub_fetch_parts(h, f, n_parts, sha256, err);
        if (rc != MM_EUNSUPPORTED) {
            struct stat kept;
            if (rc != 0 && stat(tmp, &kept) != 0)
                hub_unsynced_clear(f->blob_path);   /* nothing left that it speaks for */
            free(tmp);
            return rc;
        }
        MM_LOG_INFO("hub: %s: the server does not honour Range requests; downloading it "
                    "as one stream", f->filename);
        mm_error_clear(err);
        rc = 0;
    }
    st.fd = open(tmp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    struct stat sb;
    if (st.fd < 0 || fstat(st.fd, &sb) != 0) {
        rc = mm_error_set(err, MM_EIO, "cannot open %s: %s", tmp, strerror(errno));
        goto fail;
    }
    bool lfs = strlen(f->etag) == 64;
    rc = lfs ? hub_hasher_new_sha256(&st.hs) : hub_hasher_new(f->size, &st.hs);
    if (rc != 0) {
        mm_error_set(err, rc, "cannot start hashing");
        goto fail;
    }
    st.have = (uint64_t)sb.st_size;
    st.flushed = st.have;
    st.stage.buf = malloc(HUB_STAGE_BLOCK);   /* NULL: pieces are written as they come */
    if (st.have > f->size && restart(&st) != 0) {
        rc = mm_error_set(err, MM_EIO, "cannot truncate %s: %s", tmp, strerror(errno));
        goto fail;
    }
    if (st.have > 0) {
        MM_LOG_INFO("hub: resuming %s at byte %llu of %llu", f->filename,
                    (unsigned long long)st.have, (unsigned long long)f->size);
        if (hash_prefix(&st) != 0) {
            rc = mm_error_set(err, MM_EIO, "cannot read %s: %s", tmp, strerror(errno));
            goto fail;
        }
    }
    if ((rc = transfer(&st, err)) != 0) {
        /* Bytes that arrived intact are worth keeping for the next run. */
        keep_partial = rc == MM_ENET || rc == MM_ETIMEDOUT || st.disk_errno != 0;
        goto fail;
    }
    report(&st, true);
    char got256[65], got1[41];
    hub_hasher_final(st.hs, got256, got1);
    const char *got = lfs ? got256 : got1;
    if (strcmp(got, f->etag) != 0) {
        rc = mm_error_set(err, MM_EINTEGRITY, "%s from %s is corrupt: expected %s %s, got %s",
                          f->filename, f->repo, lfs ? "sha256" : "git-sha1", f->etag, got);
        goto fail;
    }
    int64_t sync_from = mm_now_ms();
    if ((rc = hub_blob_store(h, st.fd, tmp, f->blob_path, f->size, err)) != 0)
        goto fail;
    MM_LOG_DEBUG("hub: %s: one stream: last byte after %.2f s, then hash 0.00 s, %s %.2f s",
                 f->filename, (double)(sync_from - st.t0_ms) / 1000.0,
                 hub_blob_synced(h, f->size) ? "fsync" : "rename",
                 (double)(mm_now_ms() - sync_from) / 1000.0);
    memcpy(sha256, got256, 65);
    close(st.fd);
    hub_hasher_free(st.hs);
    free(st.stage.buf);
    free(tmp);
    return 0;
fail:
    if (st.fd >= 0)
        close(st.fd);
    if (!keep_partial) {
        unlink(tmp);
        hub_unsynced_clear(f->blob_path);
    }
    hub_hasher_free(st.hs);
    free(st.stage.buf);
    free(tmp);
    return rc;
}

/* hub.h - the Hugging Face Hub client: pinned, verified, resumable downloads
 * into the cache layout huggingface_hub uses (models--org--name/blobs,
 * snapshots, refs), with retries, per-blob locks and offline resolution.
 * The only place besides future backends/ that uses libcurl and libcrypto. */
#ifndef MM_HUB_H
#define MM_HUB_H

#include "core/core.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define HUB_DEFAULT_ENDPOINT "https://huggingface.co"

typedef struct hub hub;

/* Progress of one file; called from the downloading thread (a snapshot
 * download runs several: calls may come from different threads, never two
 * at once), at most every 100 ms per file and once at its end. The strings
 * are borrowed for the call. */
typedef struct hub_progress {
    const char *repo;
    const char *filename;
    uint64_t    bytes_done;     /* including bytes resumed from an earlier run */
    uint64_t    bytes_total;
    double      bytes_per_s;    /* over this run's transfer */
} hub_progress;
typedef void (*hub_progress_fn)(const hub_progress *progress, void *user);

/* Fill with hub_options_init, then change what you need. Strings are copied
 * by hub_open. */
typedef struct hub_options {
    const char *endpoint;       /* NULL: $HF_ENDPOINT, else HUB_DEFAULT_ENDPOINT */
    const char *token;          /* NULL: $HF_TOKEN, $HUGGING_FACE_HUB_TOKEN, the file
                                   $HF_TOKEN_PATH or $HF_HOME/token; "" = none; secret */
    const char *cache_dir;      /* NULL: $HF_HUB_CACHE, $HF_HOME/hub,
                                   $XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub */
    bool        use_env;        /* consult the environment for NULL values (default true) */
    bool        offline;        /* no network; also set by HF_HUB_OFFLINE=1 when use_env */
    int64_t     connect_timeout_ms;   /* 10000 */
    int64_t     request_timeout_ms;   /* one HEAD or API call, whole; 10000, or
                                         $HF_HUB_ETAG_TIMEOUT seconds when left at that */
    int64_t     stall_timeout_ms;     /* GET: no byte for this long ends the attempt; 10000,
                                         or $HF_HUB_DOWNLOAD_TIMEOUT seconds likewise */
    int         max_retries;          /* retries after the first try; default 3 */
    int64_t     backoff_initial_ms;   /* 1000, doubled per retry, plus up to 25% jitter */
    int64_t     backoff_max_ms;       /* 8000 */
    int64_t     retry_after_max_ms;   /* bound on a server's Retry-After wait; 60000 */
    int64_t     lock_timeout_ms;      /* wait for another process's download while its
                                         partial file does not grow; 600000 */
    int         parallel_files;       /* files fetched at once by a snapshot download; 4 */
    int         parallel_parts;       /* concurrent Range requests for one large file
                                         (1..64; 1 = a single stream); 4 */
    uint64_t    part_min_bytes;       /* smallest part (one Range request): files under
                                         2x this are one stream; 8 MiB */
    bool        sync_downloads;       /* fsync each blob before it enters blobs/ (slower:
                                         waits for the disk); default false: a durable
                                         <blob>.unsynced marker instead (hub-unsynced.c) */
    uint64_t    unsynced_min_bytes;   /* without sync_downloads, blobs under this size are
                                         fsynced before the rename too (one small fsync,
                                         no marker); HUB_UNSYNCED_MIN_BYTES; 0: mark all */
    hub_progress_fn progress;         /* optional */
    void       *progress_user;
} hub_options;

void hub_options_init(hub_options *opts);

/* Resolve the options (environment included) and check them. Registers the
 * token with mm_log_add_secret. Caller owns *out (hub_close). Thread-safe;
 * one hub may be used by one thread at a time. */
int  hub_open(const hub_options *opts, hub **out, mm_error *err);
void hub_close(hub *h);
/* A second handle with the same endpoint, token, cache and options, for
 * another thread. Caller owns *out. */
int  hub_clone(const hub *h, hub **out, mm_error *err);
/* Borrowed until hub_close. */
const char *hub_cache_dir(const hub *h);
const char *hub_endpoint(const hub *h);

typedef enum hub_status {
    HUB_STATUS_ERROR = 0,
    HUB_STATUS_DOWNLOADED,
    HUB_STATUS_CACHED
} hub_status;

const char *hub_status_name(hub_status status);

typedef struct hub_result {
    hub_status status;
    char       path[4096];     /* snapshots/<commit>/<filename> (a relative symlink) */
    char       filename[1024]; /* the file's path inside the repo */
    char       commit[41];     /* the commit the revision resolved to */
    char       etag[65];       /* blob name: git SHA-1 or LFS SHA-256 */
    uint64_t   size;
    char       sha256[65];     /* SHA-256 of the content */
    char       message[MM_ERROR_MSG_MAX];
    int64_t    duration_ms;
} hub_result;

/* Download repo/filename at revision into the cache, or find it there.
 * A manual download (automated false) needs a pinned revision: a 40-hex
 * commit or a tag; "main", a branch, "latest" or none is MM_EPINNING.
 * Automated downloads may use any revision; NULL and "latest" mean "main".
 * Fills res in every case (status, message); returns 0 or a negative
 * MM_E* code with err filled. */
int hub_download_file(hub *h, const char *repo, const char *filename,
                      const char *revision, bool automated, hub_result *res,
                      mm_error *err);

/* The pinning rule of hub_download_file on its own: 0 when revision may be
 * used (*rev_out: the revision to resolve, "main" for NULL/"latest"), else
 * MM_EPINNING / MM_ENOTFOUND / MM_EINVAL. May ask the refs API. */
int hub_pin_revision(hub *h, const char *repo, const char *revision, bool automated,
                     const char **rev_out, mm_error *err);

/* ---- listing, snapshots, quant tags (hub-snapshot.c) ---- */

typedef struct hub_entry {
    char    *path;
    uint64_t size;
    bool     lfs;
} hub_entry;

typedef struct hub_listing {
    char       commit[41];
    hub_entry *files;
    size_t     n_files;
} hub_listing;

/* Every file of repo at revision (the tree API, all pages). The revision is
 * resolved to a commit first (repo-info API) unless it is one. Caller owns
 * *out (hub_listing_free). */
int  hub_list_files(hub *h, const char *repo, const char *revision, hub_listing **out,
                    mm_error *err);
void hub_listing_free(hub_listing *listing);
/* Add the files of one page of the tree API (a JSON array; folders are
 * skipped) to l, whose files array has room for *cap entries (grown as
 * needed). A path that hub_valid_filename refuses (absolute, "..", empty
 * segments, control bytes), a negative or missing size, or more than the
 * listing bound is MM_EFORMAT / MM_ELIMIT naming repo; entries added before
 * stay in l. Pure: no I/O (the fuzz-hub harness drives it). */
struct cJSON;
int  hub_listing_add_page(hub_listing *l, const struct cJSON *page, size_t *cap,
                          const char *repo, mm_error *err);
/* The next page of a tree listing, from a Link header's value: the URL in
 * the first <...> when rel="next" follows it, into *next (caller frees);
 * *next NULL and 0 when there is none. A URL on another origin than
 * endpoint is MM_EFORMAT (the token would go there). Pure (fuzz-hub). */
int  hub_next_page(const char *link, const char *endpoint, const char *repo, char **next,
                   mm_error *err);

/* The Hub's other JSON answers, taken apart without I/O (the fuzz-hub
 * harness drives them); a NULL document (a body that is not JSON) is
 * MM_EFORMAT naming repo, like any other malformed one. */
/* The repo-info answer (/api/models/{repo}/revision/{rev}): its "sha",
 * 40 lowercase hex digits, copied into commit. (hub-snapshot.c) */
int  hub_revision_commit(const struct cJSON *info, const char *repo, char commit[41],
                         mm_error *err);
/* The refs answer (/api/models/{repo}/refs) as pinning reads it: rev is a
 * tag (0), a branch (MM_EPINNING) or neither (MM_ENOTFOUND); a tag wins
 * over a branch of the same name. (hub-download.c) */
int  hub_refs_tag_check(const struct cJSON *refs, const char *repo, const char *rev,
                        mm_error *err);
/* The refs answer as the update check reads it: name looked up among the
 * branches, then the tags; on 0, *is_tag and commit (its "targetCommit",
 * 40 lowercase hex digits); MM_ENOTFOUND when it is neither, MM_EFORMAT
 * when the matching entry has no valid commit. (hub-update.c) */
int  hub_refs_lookup(const struct cJSON *refs, const char *repo, const char *name,
                     bool *is_tag, char commit[41], mm_error *err);

/* huggingface_hub's allow/ignore patterns: fnmatch, '*' crosses '/', and a
 * pattern ending in '/' matches everything under that folder. */
bool hub_pattern_match(const char *pattern, const char *path);

/* The .gguf files of a quant tag ("Q4_K_M", case-insensitive, a whole word
 * of the file name; mmproj files excluded): one file, or every part of one
 * split set in order. *paths (borrowed from listing) is caller-freed. */
int hub_pick_quant(const hub_listing *listing, const char *quant, const char ***paths,
                   size_t *n_paths, mm_error *err);

/* Download the files of repo at revision that match include (NULL: all)
 * and no exclude pattern, parallel_files at a time, under the same pinning
 * rule as hub_download_file. *results (n entries, in listing order, one per
 * file started) is caller-freed; on an error no new file is started, the
 * first failure is returned and the files already fetched stay cached. */
int hub_download_snapshot(hub *h, const char *repo, const char *revision, bool automated,
                          const char *const *include, const char *const *exclude,
                          hub_result **results, size_t *n_results, mm_error *err);

/* ---- models.lock and the audit log (hub-record.c) ---- */

/* Record in lock_path (models.lock, JSON) that repo at requested revision
 * resolved to the files' commit, with each file's path, size and sha256.
 * Merges with what is there (same repo and commit: files added or updated;
 * another commit: the entry is replaced); written atomically under a lock
 * on the directory. A malformed models.lock is MM_EFORMAT and left alone. */
int hub_lock_update(const char *lock_path, const char *repo, const char *revision,
                    const hub_result *files, size_t n_files, mm_error *err);

typedef struct hub_audit_record {
    const char *action;        /* "pull", "verify", "delete", "update" */
    const char *repo;
    const char *revision;      /* as requested; NULL: none */
    const char *commit;        /* resolved; NULL/"" when unknown */
    const char *file;
    uint64_t    bytes;
    const char *sha256;
    const char *result;        /* "downloaded", "cached", "error"; verify: "ok",
                                  "mismatch", "missing"; delete: "deleted" */
    const char *error;         /* message, or NULL */
    int64_t     duration_ms;
} hub_audit_record;

/* Append one JSON line (with time in RFC 3339 UTC, user and host) to
 * <models_dir>/audit.jsonl with a single O_APPEND write, so concurrent
 * writers never interleave. Registered secrets are redacted. */
int hub_audit_append(const char *models_dir, const hub_audit_record *rec, mm_error *err);
/* hub_audit_append where the operation goes on whatever the log says:
 * nothing without models_dir, a warning when the append fails. */
void hub_audit_note(const char *models_dir, const hub_audit_record *rec);
/* The record of one file fetched for action ("pull", "update"): r's
 * commit, size, sha256, status and time, or (r NULL) a failure before any
 * download, result "error". file names the file, or NULL for r's filename.
 * Written as hub_audit_note does. */
void hub_audit_download(const char *models_dir, const char *action, const char *repo,
                        const char *revision, const hub_result *r, const char *file,
                        const char *error);

/* ---- reading and editing models.lock (hub-lockfile.c) ---- */

typedef struct hub_lock_entry {
    char    *path;             /* the file's path inside the repo */
    uint64_t size;
    char     sha256[65];
} hub_lock_entry;

typedef struct hub_lock_model {
    char           *repo;
    char           *revision;  /* as requested ("" when none) */
    char            commit[41];
    hub_lock_entry *files;
    size_t          n_files;
} hub_lock_model;

typedef struct hub_lock {
    hub_lock_model *models;
    size_t          n_models;
} hub_lock;

/* Parse and validate lock_path (every repo, commit, path, size and sha256
 * well-formed). MM_ENOTFOUND when it does not exist, MM_EFORMAT naming the
 * first bad entry. Caller owns *out (hub_lock_free). */
int  hub_lock_read(const char *lock_path, hub_lock **out, mm_error *err);
void hub_lock_free(hub_lock *lock);
/* Whether repo selects m: every model when repo is NULL. */
bool hub_lock_selects(const hub_lock_model *m, const char *repo);
/* What the operations over models.lock (verify, update) start with:
 * lock_path read (hub_lock_read) and the models repo selects counted in
 * *n_models, their files in *n_files. A repo that is not there is
 * MM_ENOTFOUND, "<repo> is not in <lock_path>: <remedy>"; no lock_path is
 * MM_EINVAL naming what (the operation). Caller owns *out (hub_lock_free). */
int  hub_lock_select(const char *what, const char *lock_path, const char *repo,
                     const char *remedy, hub_lock **out, size_t *n_models, size_t *n_files,
                     mm_error *err);
/* Remove repo's entry from lock_path when its commit is commit (NULL: any),
 * atomically under the same directory lock as hub_lock_update. *removed says
 * whether there was one. A missing lock file is no error. */
int  hub_lock_remove(const char *lock_path, const char *repo, const char *commit,
                     bool *removed, mm_error *err);
/* Exclusive flock on the directory of path (models.lock's writers serialize
 * on it). *dfd for hub_lock_dir_release. */
int  hub_lock_dir_acquire(const char *path, int *dfd, mm_error *err);
void hub_lock_dir_release(int dfd);

/* Fill o's endpoint, token, cache, offline, download_parallel and download_fsync from cfg.
 * cfg has already resolved the token (HF_TOKEN, else the token file); a
 * token set empty on purpose (hf_token: "" in config.yaml) stays "no token"
 * instead of falling back to the environment. */
void hub_options_from_config(hub_options *o, const mm_config *cfg);
/* A hub from cfg's hf_endpoint, hf_token, hf_cache and offline (NULL: the
 * environment); hub-verify.c. Caller owns *out (hub_close). */
int  hub_open_config(const mm_config *cfg, hub **out, mm_error *err);

/* ---- the readable side of models_dir (hub-models-dir.c) ---- */

/* path made absolute against the working directory (no symlinks resolved).
 * Caller frees; NULL on OOM or an unknown working directory. */
char *hub_absolute_path(const char *path);
/* Make <models_dir>/<name> a symlink to target (absolute), atomically. An
 * entry that is not a symlink is never touched (MM_EEXIST); a symlink is
 * replaced when it is dangling or points under owner (NULL: never), so one
 * repo's link never takes another's name. link_out (optional) gets the
 * entry's path. */
int  hub_models_link(const char *models_dir, const char *name, const char *target,
                     const char *owner, char *link_out, size_t link_size, mm_error *err);
/* After a pull of repo: <models_dir>/<file>.gguf for each .gguf result, or,
 * whole_repo, <models_dir>/<name> for the snapshot folder. A link that
 * cannot be made is logged, never an error. links (n entries, optional)
 * receive the entries' paths. */
void hub_models_link_results(hub *h, const char *models_dir, const char *repo,
                             const hub_result *res, size_t n, bool whole_repo,
                             char (*links)[4096]);
/* Remove the top-level symlinks of models_dir that point under repo_dir and
 * lead nowhere any more; returns how many. */
size_t hub_models_unlink_dangling(const char *models_dir, const char *repo_dir);
/* A pull "repo" that names a local path: no '/', or starting with '/',
 * "./", "../" or "~/". */
bool hub_is_local_path(const char *repo);
/* rq->repo as a local file or folder: checked to exist, symlinked (or, with
 * rq->copy, copied atomically) into rq->models_dir under its base name, and
 * audited. out describes it (local true). */
int  hub_pull_local(const mm_pull_request *rq, mm_pull_file *out, mm_error *err);

/* ---- internals shared by the hub files ---- */

struct hub {
    char       *endpoint;      /* no trailing '/' */
    char       *token;         /* NULL: anonymous */
    char       *cache_dir;
    bool        offline;
    hub_options opts;          /* timeouts, retries, progress; strings not kept */
    pthread_mutex_t *progress_mu;  /* serializes progress calls across clones; shared */
    bool        owns_progress_mu;
    char        user_agent[128];
};

/* 40 lowercase hex digits. */
bool hub_is_commit(const char *rev);
/* "org/name" (or a legacy single "name"): safe characters, bounded. */
bool hub_valid_repo(const char *repo);
/* A relative path without "..", "." or empty segments, bounded. */
bool hub_valid_filename(const char *filename);

/* hub-hash.c: streaming SHA-256 and git blob SHA-1. */
typedef struct hub_hasher hub_hasher;
/* A hasher for content of total_size bytes (the git header needs it). */
int  hub_hasher_new(uint64_t total_size, hub_hasher **out);
/* SHA-256 only (an LFS file's etag is its SHA-256): half the work; the
 * git_sha1 that hub_hasher_final writes is "". */
int  hub_hasher_new_sha256(hub_hasher **out);
void hub_hasher_free(hub_hasher *hs);
int  hub_hasher_reset(hub_hasher *hs);
int  hub_hasher_update(hub_hasher *hs, const void *data, size_t len);
/* Hex digests; the hasher cannot be updated afterwards. */
int  hub_hasher_final(hub_hasher *hs, char sha256[65], char git_sha1[41]);
/* Both digests of a whole file. */
int  hub_hash_file(const char *path, char sha256[65], char git_sha1[41], mm_error *err);

/* A digest that advances over the prefix of a file being written, fed from
 * two sides: a writer offers the bytes it has just written when they start
 * where the hashed prefix ends (hashed from its buffer, still in the CPU's
 * cache), and a reader catches up from the file what nobody offered. Every
 * byte is hashed once, in file order. Thread-safe; init/destroy are not. */
typedef struct hub_hash_cursor {
    pthread_mutex_t mu;         /* held by whichever thread hashes */
    hub_hasher     *hs;         /* borrowed for the cursor's life */
    uint64_t        at;         /* atomic: end of the hashed prefix */
    uint64_t        in_place;   /* bytes hashed from offered buffers (under mu) */
    uint64_t        read_back;  /* bytes hashed from the file (under mu) */
} hub_hash_cursor;
void hub_hash_cursor_init(hub_hash_cursor *c, hub_hasher *hs, uint64_t at);
void hub_hash_cursor_destroy(hub_hash_cursor *c);
/* End of the hashed prefix. */
uint64_t hub_hash_cursor_at(const hub_hash_cursor *c);
/* Hash [at, at + len) from data when at is the end of the hashed prefix
 * and no other thread is hashing; true when it did. The bytes must already
 * be in the file (a reader may hash them from there at any time). */
bool hub_hash_cursor_offer(hub_hash_cursor *c, uint64_t at, const void *data, size_t len);
/* Hash the file's bytes [prefix end, upto) with pread through buf (buf_size
 * bytes); MM_EIO with errno set when the file cannot be read. */
int  hub_hash_cursor_read(hub_hash_cursor *c, int fd, uint64_t upto, uint8_t *buf,
                          size_t buf_size);

/* hub-http.c: one HTTP exchange over libcurl, and the retry policy. */
typedef struct hub_http_response {
    long   status;              /* 0 when no response arrived */
    int    transport_code;      /* 0, or MM_ENET / MM_ETIMEDOUT */
    char   transport_error[256];
    char   location[2048];
    char   repo_commit[64];
    char   etag[160];
    char   linked_etag[160];
    char   linked_size[32];
    char   content_length[32];
    char   content_range[96];
    char   error_code[64];
    char   error_message[256];
    char   retry_after[32];
    char   ratelimit[128];
    char   link[2048];
    mm_buf body;                /* captured body (API calls, error bodies) */
} hub_http_response;

/* Take one response header line (len bytes, "Name: value\r\n", or a status
 * line "HTTP/..." that starts a new response) into rs: the fields above are
 * filled, cut to their size, always NUL-terminated. Pure (fuzz-hub). */
void hub_http_header_line(hub_http_response *rs, const char *buf, size_t len);
/* The wait a response asks for, in seconds: RateLimit's "t=N", else
 * Retry-After's N (0..86400); -1 when it asks none. Pure. */
int64_t hub_http_server_wait_s(const hub_http_response *rs);

/* Receives body bytes of a GET; returns 0 or a negative MM_E* to abort. */
typedef int (*hub_http_sink)(const void *data, size_t len, hub_http_response *rs, void *user);
/* Called on the transfer's thread when a body has had no byte for
 * HUB_HTTP_QUIET_MS (once per pause), with the sink's user: a sink that
 * holds bytes back writes them now, so a stalled or killed transfer keeps
 * them. Returns 0 or a negative MM_E*, which ends the transfer as a sink's. */
typedef int (*hub_http_quiet)(void *user);
#define HUB_HTTP_QUIET_MS 50

/* A connection kept open across the requests of one thread (HTTP keep-alive),
 * so a worker taking part after part does not connect for each. Caller owns
 * (hub_http_conn_free); used by one thread at a time. */
typedef struct hub_http_conn hub_http_conn;
int  hub_http_conn_new(hub_http_conn **out);   /* 0 or MM_ENOMEM */
void hub_http_conn_free(hub_http_conn *conn);

typedef struct hub_http_request {
    const char *method;         /* "HEAD" or "GET" */
    const char *url;
    int64_t     range_from;     /* >= 0: Range: bytes=N- */
    int64_t     range_len;      /* > 0 with range_from: bytes=N-(N+len-1) */
    int64_t     timeout_ms;     /* whole request; 0: none */
    int64_t     stall_ms;       /* no byte for this long aborts; 0: none */
    size_t      body_max;       /* cap on captured body */
    hub_http_sink sink;         /* 2xx GET bodies go here when set */
    void       *sink_user;
    hub_http_quiet quiet;       /* optional, with sink */
    hub_http_conn *conn;        /* borrowed; NULL: a new connection for this request */
} hub_http_request;

void hub_http_response_init(hub_http_response *rs);
void hub_http_response_free(hub_http_response *rs);
/* Perform one exchange. Authorization goes only to the endpoint's origin.
 * Returns 0 when a response arrived (any status), MM_ENET / MM_ETIMEDOUT on
 * a transport failure (rs->transport_*), or the sink's error. */
int hub_http_perform(hub *h, const hub_http_request *rq, hub_http_response *rs);
/* True for statuses worth retrying: 408, 429, 500, 502, 503, 504. */
bool hub_http_retryable_status(long status);
/* The wait before retry number attempt (0-based), honouring Retry-After /
 * RateLimit in rs (NULL: none), bounded by the options. */
int64_t hub_http_backoff_ms(const hub *h, int attempt, const hub_http_response *rs);
void hub_sleep_ms(int64_t ms);
/* Same scheme, host and port. */
bool hub_same_origin(const char *url_a, const char *url_b);
/* Percent-encode text (keep_slash: '/' stays) into a new string. */
char *hub_url_encode(const char *text, bool keep_slash);
/* A request with retries on transport errors and retryable statuses. */
int hub_http_retry(hub *h, const hub_http_request *rq, hub_http_response *rs);
/* The server's explanation of a failed call: X-Error-Message, else the
 * JSON body's "error" string, cut to fit size (NUL-terminated); "" when
 * neither. Pure (fuzz-hub). */
void hub_http_server_message(const hub_http_response *rs, char *out, size_t size);
/* Turn an error response into err: gated, bad token, repo / revision / file
 * not found, disabled, rate limit, server error. Returns the MM_E* code. */
int hub_http_error(const hub *h, const hub_http_response *rs, const char *repo,
                   const char *revision, const char *filename, mm_error *err);

/* hub-cache.c: the huggingface_hub cache layout. Paths are caller-freed. */
char *hub_cache_repo_dir(const hub *h, const char *repo);        /* .../models--org--name */
int   hub_cache_read_ref(const hub *h, const char *repo, const char *ref, char commit[41]);
int   hub_cache_write_ref(const hub *h, const char *repo, const char *ref,
                          const char *commit, mm_error *err);
/* snapshots/<commit>/<filename> when it resolves to a regular file, else NULL. */
char *hub_cache_snapshot(const hub *h, const char *repo, const char *commit,
                         const char *filename);
/* Point snapshots/<commit>/<filename> at ../../blobs/<etag> (relative). */
int   hub_cache_link(const hub *h, const char *repo, const char *commit,
                     const char *filename, const char *etag, mm_error *err);
/* Exclusive lock on .locks/models--org--name/<etag>.lock; *fd for unlock. */
int   hub_cache_lock(const hub *h, const char *repo, const char *etag, int *fd, mm_error *err);
void  hub_cache_unlock(int fd);
/* Record that filename is absent from commit (.no_exist/<commit>/<filename>). */
void  hub_cache_mark_missing(const hub *h, const char *repo, const char *commit,
                             const char *filename);

/* hub-fetch.c: download one blob (resume, hash, verify, rename into place). */
typedef struct hub_fetch {
    const char *repo;
    const char *filename;
    const char *url;           /* where the bytes are (resolve URL or CDN) */
    const char *etag;          /* 40-hex git SHA-1 or 64-hex SHA-256 */
    uint64_t    size;
    const char *blob_path;     /* final path; <blob_path>.incomplete while working */
} hub_fetch;
/* On success the blob exists at blob_path, verified; sha256 filled. A hash
 * mismatch is MM_EINTEGRITY (the partial file is removed). Large files go
 * through hub_fetch_parts when the options allow. */
int hub_fetch_blob(hub *h, const hub_fetch *f, char sha256[65], mm_error *err);
/* Start writing [offset, offset+len) of fd back to the disk without waiting
 * (sync_file_range), so the fsync before the rename finds little left and
 * the disk works while the network does. Best effort: fsync reports errors.
 * Only with sync_downloads: otherwise the kernel writes back in its time. */
void hub_writeback_start(int fd, uint64_t offset, uint64_t len);
/* A download starts writeback each time this many more bytes arrived. */
#define HUB_WRITEBACK_CHUNK (8u << 20)

/* Received bytes gathered into blocks that end on HUB_STAGE_BLOCK
 * boundaries of the file before they are written (hub-stage.c says why).
 * The held bytes follow the file's written ones. */
#define HUB_STAGE_BLOCK (16u << 10)
typedef struct hub_stage {
    uint8_t *buf;   /* HUB_STAGE_BLOCK bytes; NULL: pieces are written as they come */
    size_t   len;   /* bytes held */
} hub_stage;
/* Writes len bytes at the end of the file's written bytes and advances that
 * end by len; 0 or a negative MM_E*. */
typedef int (*hub_stage_writer)(const uint8_t *data, size_t len, void *user);
/* Take data, whose first byte goes at file offset at + s->len (at: the end
 * of the written bytes), writing every block that becomes whole (a block
 * ends at the next HUB_STAGE_BLOCK boundary or at end, the region's end). */
int hub_stage_put(hub_stage *s, uint64_t at, uint64_t end, const uint8_t *data, size_t len,
                  hub_stage_writer write, void *user);
/* Write what is held (if anything) before its block is whole. */
int hub_stage_flush(hub_stage *s, hub_stage_writer write, void *user);

/* Whether a blob of size is fsynced before its rename (sync_downloads, or
 * under unsynced_min_bytes); else it is marked first (hub_unsynced_mark). */
bool hub_blob_synced(const hub *h, uint64_t size);
/* Put the verified tmp (open as fd, size bytes) in place at blob_path:
 * fsynced first when hub_blob_synced; else the caller marked it. */
int hub_blob_store(hub *h, int fd, const char *tmp, const char *blob_path, uint64_t size,
                   mm_error *err);

/* hub-unsynced.c: without sync_downloads a verified blob is renamed into
 * blobs/ before it is known to be on disk; a marker (the boot id, fsynced
 * with its folder before the download's first byte) records that. Its
 * path: <repo dir>/.unsynced/<name> for <repo dir>/blobs/<name>, else
 * <blob>.unsynced. Caller frees. */
#define HUB_UNSYNCED_DIR ".unsynced"
/* Below this a blob's own fsync is cheaper than the marker's three (file,
 * .unsynced/, repo folder), so small files are fsynced and never marked. */
#define HUB_UNSYNCED_MIN_BYTES (16u << 20)
char *hub_unsynced_path(const char *blob_path);
/* Write the blob's marker durably (file and folders fsynced). */
int  hub_unsynced_mark(const char *blob_path, mm_error *err);
/* Remove the blob's marker (after an fsync of the blob, or with the blob). */
void hub_unsynced_clear(const char *blob_path);
/* Before a blob is trusted: 0 when it has no marker or is not there, or the
 * marker is of this boot (the page cache holds the verified bytes; once
 * the blob is HUB_UNSYNCED_SETTLE_S old it is fsynced and the marker goes).
 * A marker of another boot: the blob is hashed against its name; intact,
 * it is fsynced and the marker goes (0); corrupt, blob and marker are
 * removed and MM_EINTEGRITY says to pull again. The re-hash holds an
 * flock on the marker: a concurrent checker waits, finds the marker gone
 * and returns 0 (the blob then checked, or absent: the caller's stat). */
int  hub_unsynced_check(const char *blob_path, mm_error *err);
/* hub_unsynced_check for the blob that path (a snapshot or models_dir
 * link, or the blob) resolves to; 0 when path does not resolve. */
int  hub_unsynced_check_file(const char *path, mm_error *err);
/* The kernel writes dirty pages back after 30 s (dirty_expire_centisecs):
 * by this age an fsync finds little left to wait for. */
#define HUB_UNSYNCED_SETTLE_S 60

/* hub-parts.c: one blob fetched as several concurrent Range requests into a
 * pre-allocated <blob>.incomplete, each part's progress kept in
 * <blob>.incomplete.parts so a later run resumes every part. */
/* How many concurrent requests hub_fetch_blob would use for a file of size
 * bytes (1: a single stream). */
int  hub_parts_plan(const hub *h, uint64_t size);
/* True when an earlier parallel run left a parts state for f. */
bool hub_parts_pending(const hub_fetch *f);
/* Fetch f with n_workers concurrent requests over parts of at least
 * part_min_bytes (or as the parts state says), verify, rename into
 * place. MM_EUNSUPPORTED: the server ignored Range; the partial files are
 * gone and the caller fetches a single stream. A transient failure (MM_ENET,
 * MM_ETIMEDOUT) or a full disk keeps the partial file and its state. */
int  hub_fetch_parts(hub *h, const hub_fetch *f, int n_workers, char sha256[65], mm_error *err);

#endif /* MM_HUB_H */

/* runtime.h - internals of the model manager: the instance factory the
 * engine plugs into, the per-model instance pool, the response cache, the
 * update-check stamp, Vosk model resolution and device selection. Only the
 * runtime sources and its tests include it. */
#ifndef MM_RUNTIME_H
#define MM_RUNTIME_H

#include "core/core.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds on what the runtime accepts. */
#define RT_MODELS_MAX        1024          /* models the manager tracks */
#define RT_CATALOGS_MAX      32            /* catalog refreshes per manager */
#define RT_POOL_MAX          16            /* instances per model (config max) */
#define RT_CACHE_KEY_MAX     (1u << 20)    /* canonical request bytes */
#define RT_CACHE_VALUE_MAX   (4u << 20)    /* a cached response's bytes */
#define RT_ESTIMATE_CTX      4096u         /* context assumed by the memory estimate */
#define RT_SAVED_PREFIXES    2             /* prompt prefixes a model keeps beside its slots */
#define RT_SAVED_TOKENS      1024u         /* tokens of one saved prefix at most */
#define RT_BACKOFF_MIN_MS    5000          /* first retry after a failed load */
#define RT_BACKOFF_MAX_MS    300000        /* back-off ceiling */
#define RT_STAMP_NAME        ".last_model_check"
#define RT_VOSK_DEFAULT      "./models/vosk/vosk-model-small-en-us-0.15"

/* A clock in milliseconds; tests inject one to drive TTLs and idle timeouts. */
typedef int64_t (*rt_clock_fn)(void *user);

/* ---- instance factory ----------------------------------------------------
 *
 * What the runtime needs from an inference engine: load a model once into a
 * shared read-only handle, make and free instances (each with its own KV
 * cache) over it, estimate the bytes a loaded model with n instances holds,
 * and generate. Every function may be called from any thread; load/unload
 * and instance_new/instance_free for one model are never concurrent with
 * each other, generate runs on one instance from one thread at a time. */
typedef struct rt_factory {
    void *user;
    /* Bytes a model plus `instances` instances will hold once loaded. */
    int  (*estimate)(void *user, const mm_model_info *m, int instances,
                     uint64_t *bytes, mm_error *err);
    /* Load m; *model is the shared handle, freed by unload. */
    int  (*load)(void *user, const mm_model_info *m, void **model, mm_error *err);
    void (*unload)(void *user, void *model);
    int  (*instance_new)(void *user, void *model, void **inst, mm_error *err);
    void (*instance_free)(void *user, void *inst);
    /* Generate for req on inst; *text is owned by the caller (free()).
     * Sets res's finish_reason, token counts and timings when it knows
     * them. May call req->on_piece with each piece (the manager passes its
     * stop-string filter there; what was not streamed it feeds from *text
     * afterwards) and should poll req->cancel between tokens. Stop strings
     * are the manager's business, not the factory's (the worker factory
     * passes them on to its worker, a manager itself, so that it stops
     * there and counts as in-process). */
    int  (*generate)(void *user, void *inst, const struct mm_gen_request *req,
                     char **text, struct mm_gen_result *res, mm_error *err);
    /* Optional (NULL: every free instance is as good as another). How well
     * inst suits req: larger is better, e.g. the bytes of req's prompt that
     * the instance's cached state already covers. Called under the pool's
     * lock on free instances only, so it must be quick and must not block. */
    uint64_t (*affinity)(void *user, void *inst, const struct mm_gen_request *req);
    /* Optional (NULL: every model). Can this factory run m at all (its
     * format)? A model it cannot run is listed but unavailable in health,
     * with why. */
    bool     (*runs)(const mm_model_info *m);
    /* Optional (NULL: never). Whether the loaded model's backing process is
     * down right now (it ended and waits for, or is in, its restart), with
     * why; health shows such a model degraded even when no request met it.
     * Called under the manager's lock: quick, and never back into it. */
    bool     (*down)(void *user, void *model, char *why, size_t why_size);
    /* Optional, with down: a count that grows whenever down may answer
     * differently; it is part of rt_manager_health_version. */
    uint64_t (*changes)(void *user);
} rt_factory;

/* The built-in engine's rule for rt_factory.runs: GGUF files only. */
bool rt_factory_runs_gguf(const mm_model_info *m);

/* The factory mm_manager_open uses (factory-engine.c): the built-in
 * engine. user must be the manager's mm_config (threads and pool_size
 * decide each instance's threads). The estimate is the file size plus an
 * f16 KV cache of min(context, RT_ESTIMATE_CTX) tokens and f32 logits per
 * instance; generate takes a prompt, or chat messages which it renders
 * with the model's chat template (ChatML when it has none). */
const rt_factory *rt_factory_engine(void);

/* ---- shared engine worker (batch.c) ---------------------------------------
 *
 * The engine factory's model: one engine context with a KV cache per slot
 * (the pool's instances are slots) and one thread that drives it. Each
 * step evaluates at most one chunk of the oldest waiting prompt, then
 * advances every generating slot by one token in one pass over the weights
 * (continuous batching). A slot remembers the tokens in its cache, and a
 * job evaluates its prompt only from the first token that differs; a
 * cached prefix a job would overwrite (when it loses at least 64 tokens)
 * is first copied into one of RT_SAVED_PREFIXES saved prefixes (least
 * recently used replaced), which later jobs can resume from. Output
 * per slot is identical to running alone: the engine's results do not
 * depend on which sequences share a step. */
struct engine_model;
struct engine_sampler;
typedef struct rt_batch rt_batch;

typedef struct rt_batch_job {
    const int32_t *prompt;           /* borrowed until rt_batch_end */
    uint32_t       n_prompt;         /* >= 1; fits the context with max_new */
    uint32_t       max_new;          /* tokens to generate at most */
    struct engine_sampler *sampler;  /* the worker samples and accepts with it until the end */
    const atomic_bool *cancel;       /* checked before each token; NULL: never */
    bool         (*is_eog)(const void *user, int32_t token);   /* ends the generation */
    const void    *eog_user;
} rt_batch_job;

typedef struct rt_batch_stats {
    uint64_t steps;      /* decode steps */
    uint64_t rows;       /* tokens decoded by them (rows / steps = mean batch) */
    uint32_t max_rows;   /* the largest step */
    uint64_t saves;      /* prefixes copied out before a job overwrote them */
    uint64_t restores;   /* saved prefixes copied back into a slot */
} rt_batch_stats;

/* model is borrowed until rt_batch_free; n_slots 1..RT_POOL_MAX KV caches of
 * min(context, 4096) cells; n_threads for the engine's pool. manual (tests):
 * no worker thread, the caller drives it with rt_batch_step, and
 * rt_batch_next answers MM_EBUSY instead of waiting. Caller owns *out. */
int  rt_batch_new(const struct engine_model *model, uint32_t n_slots, int n_threads,
                  bool manual, rt_batch **out, mm_error *err);
/* Manual mode: one worker iteration on the caller's thread (at most one
 * prompt chunk, then one decode step over every generating slot). False
 * when there was nothing to do. */
bool rt_batch_step(rt_batch *b);
/* Stops the worker; every slot must be idle. NULL is a no-op. */
void rt_batch_free(rt_batch *b);
uint32_t rt_batch_context(const rt_batch *b);   /* cells per slot */
/* Take a free slot (its cache counts as empty) / give it back (idle).
 * MM_EBUSY when all are taken. Thread-safe. */
int  rt_batch_claim(rt_batch *b, uint32_t *slot, mm_error *err);
void rt_batch_release(rt_batch *b, uint32_t slot);
/* Start a job on an idle claimed slot. The caller then takes tokens with
 * rt_batch_next and must call rt_batch_end. One thread per slot;
 * thread-safe across slots. */
void rt_batch_start(rt_batch *b, uint32_t slot, const rt_batch_job *job);
/* The prompt tokens the job did not evaluate (its slot's cached prefix, or
 * a saved one): known once the first token or the end has come; 0 before. */
uint32_t rt_batch_reused(rt_batch *b, uint32_t slot);
/* 1 and *token: the next generated token; 0: the job ended, *finish is
 * "stop" (end of generation), "length" or "cancelled" (cancel flag or
 * rt_batch_end); negative: the engine failed (err says why). Waits. */
int  rt_batch_next(rt_batch *b, uint32_t slot, int32_t *token, const char **finish,
                   mm_error *err);
/* End the job (stopping it if it still runs) and make the slot idle. */
void rt_batch_end(rt_batch *b, uint32_t slot);
void rt_batch_stats_get(rt_batch *b, rt_batch_stats *out);
/* ---- worker processes (factory-worker.c) ---------------------------------
 *
 * Crash isolation: a factory whose load starts `EXE worker KEY --socket
 * PATH ARGS...` (the same binary), which opens the model in its own process
 * and serves the OpenAI-compatible API on a Unix socket in a private 0700
 * directory; generate streams the request there with the OpenAI backend
 * client. A supervisor thread (which also forks, so that the worker's
 * PR_SET_PDEATHSIG follows a thread that lives as long as the factory)
 * reaps exits, kills a worker that sends no token for hang_ms while a
 * request is in flight or whose resident memory passes its limit, and
 * restarts a worker that ended with exponential back-off. The request in
 * flight fails with the reason, which the manager records: health shows the
 * model degraded with it. */
#define RT_WORKER_HANG_MS      120000      /* default: no token for this long kills */
#define RT_WORKER_START_MS     120000      /* a worker must open its socket within this */
#define RT_WORKER_RSS_FACTOR   2.0         /* resident limit: estimate x factor + slack */
#define RT_WORKER_RSS_SLACK    (512ull << 20)
#define RT_WORKER_ARGS_MAX     300         /* more than the CLI accepts (256 flags + --config) */

typedef struct rt_worker_options {
    const char *exe;                 /* the modelmgr binary (/proc/self/exe) */
    const char *const *args;         /* more arguments for `worker` (configuration
                                        flags), NULL-terminated; NULL: none */
    const mm_config *cfg;            /* borrowed: pool_size and threads for the estimate */
    int64_t hang_ms;                 /* 0: RT_WORKER_HANG_MS */
    int64_t start_ms;                /* 0: RT_WORKER_START_MS */
    double  rss_factor;              /* 0: RT_WORKER_RSS_FACTOR; < 0: no memory limit */
    uint64_t rss_limit;              /* bytes; nonzero replaces estimate x factor + slack */
    int64_t backoff_min_ms;          /* 0: RT_BACKOFF_MIN_MS */
} rt_worker_options;

/* Fill *out with the worker factory over o (strings copied) and start its
 * supervisor. Free with rt_factory_worker_free after the manager using it
 * is closed. */
int  rt_factory_worker_new(const rt_worker_options *o, rt_factory *out, mm_error *err);
/* Stop the supervisor, kill and reap any worker left, remove the private
 * directory. A factory that was never made (user NULL) is a no-op. */
void rt_factory_worker_free(rt_factory *f);

/* ---- stop-string filter (stopfilter.c) ------------------------------------
 *
 * Sits between a factory's pieces and req->on_piece: holds back text that
 * may still become a stop string, ends the output before the first one
 * found (also across pieces) and collects what it passed on in `text`. */
typedef struct rt_stop_filter {
    const char     *stop[MM_GEN_STOP_MAX]; /* the non-empty ones, borrowed */
    size_t          n_stop;
    mm_gen_piece_fn on_piece;             /* the caller's, or NULL */
    void           *user;
    mm_buf          hold;                 /* received, not passed on yet */
    mm_buf          text;                 /* passed on: the answer */
    size_t          raw_seen;             /* bytes received */
    bool            stopped;              /* a stop string was found */
    bool            halted;               /* on_piece asked to stop */
} rt_stop_filter;

/* req is borrowed until rt_stop_filter_free; max_bytes caps the answer. */
void rt_stop_filter_init(rt_stop_filter *f, const struct mm_gen_request *req, size_t max_bytes);
/* Take n more bytes; nonzero when generation should stop (stop string
 * found, or on_piece asked). */
int  rt_stop_filter_push(rt_stop_filter *f, const char *s, size_t n);
/* The generation is over: pass on what was held back (unless stopped). */
void rt_stop_filter_finish(rt_stop_filter *f);
void rt_stop_filter_free(rt_stop_filter *f);

/* ---- instance pool -------------------------------------------------------
 *
 * Up to `size` instances over one loaded model. An acquire takes a free
 * instance (rt_pool_acquire_for: the best suited one), else creates one if
 * fewer than `size` exist, else waits in a
 * FIFO queue of at most `queue_max` waiters for at most timeout_ms; a
 * release hands the instance straight to the oldest waiter. */
typedef struct rt_pool rt_pool;

/* Caller owns *out (rt_pool_free). model is borrowed until rt_pool_free. */
int  rt_pool_new(const rt_factory *f, void *model, int size, int queue_max,
                 const char *label, rt_pool **out, mm_error *err);
/* Frees every instance; the pool must have none in use. NULL is a no-op. */
void rt_pool_free(rt_pool *pool);
/* Take an instance. MM_EBUSY when the queue is full or timeout_ms passes
 * (the message says "busy" and when to retry); an instance_new failure is
 * returned as is. Thread-safe. */
int  rt_pool_acquire(rt_pool *pool, int64_t timeout_ms, void **inst, mm_error *err);
/* The same, but among free instances take the one the factory's affinity
 * scores highest for req (the least recently used on ties; req NULL or no
 * affinity: the first free). When no free instance shares anything with
 * req (score 0) and fewer than `size` exist, a new one is made instead, so
 * each instance keeps its cached prefix for the requests that share it. */
int  rt_pool_acquire_for(rt_pool *pool, int64_t timeout_ms, const struct mm_gen_request *req,
                         void **inst, mm_error *err);
/* Give inst back (to the oldest waiter, if any). Thread-safe. */
void rt_pool_release(rt_pool *pool, void *inst);

typedef struct rt_pool_stats {
    int created;   /* instances that exist */
    int busy;      /* instances handed out */
    int queued;    /* callers waiting */
    int max_busy;  /* the most ever busy at once */
    uint64_t rejected;  /* acquires that ended in MM_EBUSY */
} rt_pool_stats;

void rt_pool_stats_get(rt_pool *pool, rt_pool_stats *out);

/* ---- response cache ------------------------------------------------------ */

typedef struct rt_cache rt_cache;

typedef struct rt_cache_stats {
    uint64_t hits, misses, evictions, expirations, inserts;
    size_t   entries, capacity;
} rt_cache_stats;

/* capacity 0 makes a cache that stores nothing. clock NULL: mm_now_ms.
 * Caller owns *out (rt_cache_free). */
int  rt_cache_new(size_t capacity, int64_t ttl_s, rt_clock_fn clock, void *clock_user,
                  rt_cache **out, mm_error *err);
void rt_cache_free(rt_cache *cache);
/* Whether req may be cached: temperature 0, or a fixed seed. */
bool rt_cache_cacheable(const struct mm_gen_request *req);
/* The canonical key of (model, req): every field that changes the output,
 * length-prefixed so no two requests share a key. Caller frees; NULL when
 * the request is over RT_CACHE_KEY_MAX or on OOM. */
char *rt_cache_key(const char *model, const struct mm_gen_request *req);
/* A copy of the cached text (caller frees), or NULL on a miss. Expired
 * entries are dropped and count as a miss. Thread-safe. */
char *rt_cache_get(rt_cache *cache, const char *key);
/* Store a copy; evicts the least recently used entry when full. Thread-safe. */
int  rt_cache_put(rt_cache *cache, const char *key, const char *text);
void rt_cache_stats_get(rt_cache *cache, rt_cache_stats *out);

/* ---- update-check stamp -------------------------------------------------- */

typedef enum rt_stamp_state {
    RT_STAMP_MISSING = 0,
    RT_STAMP_FRESH,
    RT_STAMP_STALE,
    RT_STAMP_CORRUPT
} rt_stamp_state;

/* Read <models_dir>/.last_model_check and say whether interval_s has passed
 * since it (now_s: Unix seconds). A missing, stale or corrupt stamp (not one
 * decimal Unix time, or one in the future) means the check is due; interval 0
 * means never. *last_s is the stored time (0 when none). */
rt_stamp_state rt_stamp_read(const char *models_dir, int64_t interval_s, int64_t now_s,
                             int64_t *last_s, bool *due);
/* Write now_s to the stamp atomically (creating models_dir). */
int rt_stamp_write(const char *models_dir, int64_t now_s, mm_error *err);
/* If due, run check(user) and, when it succeeds, write the stamp.
 * *ran says whether check ran. Returns check's result or a stamp error. */
int rt_update_maybe_run(const char *models_dir, int64_t interval_s, int64_t now_s,
                        int (*check)(void *user, mm_error *err), void *user,
                        bool *ran, mm_error *err);

/* ---- Vosk speech model --------------------------------------------------- */

/* Where the Vosk model was found and how. */
typedef struct rt_vosk {
    char *path;        /* the model directory, or NULL when none was found */
    const char *how;   /* static: "VOSK_MODEL_PATH", "config.yaml", "--vosk-model-path",
                          "models_dir", "default" */
    char *error;       /* "Vosk model not found: ..." when none, else NULL */
} rt_vosk;

/* Resolve the speech model: the configured vosk_model_path (its origin says
 * whether the environment, config.yaml or a flag set it), else the first
 * valid vosk-model-* directory in models_dir, else RT_VOSK_DEFAULT. A
 * configured path that is not a valid model is an error (no fallback past
 * an explicit choice). Returns 0 when found, MM_ENOTFOUND otherwise; out
 * is filled either way (rt_vosk_clear). default_path NULL: RT_VOSK_DEFAULT. */
int  rt_vosk_resolve(const mm_config *cfg, const char *default_path, rt_vosk *out);
void rt_vosk_clear(rt_vosk *v);
/* Whether dir holds a Vosk model: am/final.mdl with conf/ and graph/, or the
 * flat small-model layout (final.mdl and mfcc.conf in dir). why says what is
 * missing. */
bool rt_vosk_valid(const char *dir, char *why, size_t why_size);

/* ---- device -------------------------------------------------------------- */

/* Decide the device for `requested` ("auto", "cpu" or "gpu"): this build has
 * only the CPU engine, so the answer is "cpu"; note explains why when a GPU
 * was asked for (empty otherwise). */
void rt_device_select(const char *requested, char *device, size_t device_size,
                      char *note, size_t note_size);

/* ---- manager internals for tests ---------------------------------------- */

typedef struct rt_options {
    const rt_factory *factory;   /* NULL: rt_factory_engine() over the config */
    rt_clock_fn clock;           /* monotonic ms; NULL: mm_now_ms */
    void *clock_user;
    bool  no_reaper;             /* tests call rt_manager_reap themselves */
    int64_t queue_timeout_ms;    /* <0: from the config */
    int64_t backoff_min_ms;      /* 0: RT_BACKOFF_MIN_MS */
    const char *vosk_default;    /* NULL: RT_VOSK_DEFAULT */
} rt_options;

typedef enum rt_load_state {
    RT_UNLOADED = 0,
    RT_LOADING,          /* a thread is loading it outside the lock */
    RT_LOADED
} rt_load_state;

/* The manager's record of one catalog model. Guarded by mm_manager.lock. */
typedef struct rt_model {
    const char          *key;        /* borrowed from the catalog */
    const mm_model_info *info;       /* borrowed from the catalog */
    rt_load_state state;
    void     *handle;                /* the factory's shared model */
    rt_pool  *pool;
    uint64_t  bytes;                 /* reserved in the budget while loading/loaded */
    int       in_use;                /* requests holding or waiting for an instance */
    int64_t   last_used_ms;          /* manager clock */
    int64_t   last_used_wall_s;      /* Unix seconds, for health; 0: never */
    bool      load_failed;           /* the last load failed: unavailable */
    int       load_rc;
    int64_t   backoff_ms;            /* doubles per failed load, up to RT_BACKOFF_MAX_MS */
    int64_t   retry_at_ms;           /* no automatic load before this */
    bool      last_failed;           /* the last load or request failed: degraded */
    char      last_error[MM_ERROR_MSG_MAX];
    uint64_t  requests, failures;
    bool      keep_alive_set;        /* keep_alive_ms overrides the idle timeout */
    int64_t   keep_alive_ms;         /* >0 idle that long, 0 unload when unused, <0 never */
} rt_model;

struct mm_manager {
    pthread_mutex_t lock;
    pthread_cond_t  changed;         /* a load finished (CLOCK_MONOTONIC) */
    pthread_cond_t  reaper_cond;     /* wakes the reaper to stop */
    const mm_config *cfg;            /* borrowed */
    /* Every catalog built (the first at open, one per refresh): records
     * borrow from them, so they live until close. */
    mm_catalog     *cats[RT_CATALOGS_MAX];
    size_t          n_cats;
    rt_factory      factory;
    rt_model      **models;          /* each record allocated once: leases point at it */
    size_t          n_models, cap_models;
    char            default_key[128];
    int             pool_size, queue_size;
    int64_t         queue_timeout_ms, backoff_min_ms, idle_timeout_ms;
    uint64_t        budget, used;
    rt_cache       *cache;
    rt_clock_fn     clock;
    void           *clock_user;
    char            device[16], device_note[256];
    rt_vosk         vosk;
    bool            vosk_listed;     /* configured or found: shown as "speech" */
    pthread_t       reaper;
    bool            reaper_running, stopping;
    pthread_t       downloader;      /* first-run downloads (downloads.c) */
    bool            downloader_running, downloads_done;
    /* The last time this process talked to the Hub (rt_hub_contact_note):
     * what health reports as the Hub's reachability. */
    int64_t         hub_contact_ms;  /* mm_wall_ms; 0: no contact yet */
    bool            hub_reachable;
    char            hub_error[256];
    /* rt_manager_health_version: written under lock, read without it */
    _Atomic uint64_t health_version;
};

/* Record the outcome of a Hub operation (a pull, an update check): the Hub
 * answered unless rc is a network failure or a timeout (a refusal such as
 * 404 or 401 is an answer); err says why when rc != 0. Thread-safe. */
void rt_hub_contact_note(struct mm_manager *mgr, int rc, const mm_error *err);
/* The last contact: false when there was none; else its time (mm_wall_ms),
 * whether the Hub answered, and the error ("" when it succeeded). */
bool rt_hub_contact_get(struct mm_manager *mgr, int64_t *when_ms, bool *reachable,
                        char *error, size_t error_size);

/* A taken instance. */
typedef struct mgr_lease {
    rt_model *model;                 /* NULL when nothing is held */
    void     *inst;
    char      key[128];
    bool      fell_back;
    char      note[MM_ERROR_MSG_MAX];
} mgr_lease;

int64_t   mgr_now(const struct mm_manager *mgr);
rt_model *mgr_find(struct mm_manager *mgr, const char *key);   /* lock held */
/* Take an instance of name (falling back to the default model when name is
 * unknown or cannot load, unless no_fallback). Thread-safe. */
int  mgr_acquire(struct mm_manager *mgr, const char *name, bool no_fallback, mgr_lease *lease,
                 mm_error *err);
/* The same, preferring the free instance best suited to req (prefix reuse);
 * req->no_fallback decides the fallback. */
int  mgr_acquire_for(struct mm_manager *mgr, const char *name, const struct mm_gen_request *req,
                     mgr_lease *lease, mm_error *err);
/* Give it back; failed records why as the model's last error. */
void mgr_release(struct mm_manager *mgr, mgr_lease *lease, bool failed, const mm_error *why);

/* How long name stays loaded after its last request (Ollama keep_alive):
 * ms > 0 that long, 0 unloaded as soon as no request uses it, < 0 never
 * unloaded for idleness; set false goes back to the configured
 * idle_timeout. MM_ENOTFOUND for a name the manager does not know.
 * Thread-safe. */
int  rt_manager_keep_alive(struct mm_manager *mgr, const char *name, bool set, int64_t ms,
                           mm_error *err);
/* The built-in engine as a router backend (backend-local.c): kind
 * "builtin", one object for every local model (each request names its
 * model), generating through mgr (borrowed: it must outlive the backend)
 * with no fallback to the default model, so the router's chain decides.
 * max_tokens 0 means until a stop or the context end.
 * The manager's codes pass through, and read as the router needs them:
 * MM_EBUSY (every instance busy) is retried on the same model; an unknown
 * model (MM_ENOTFOUND) or one that cannot load (MM_EFORMAT,
 * MM_EUNSUPPORTED, ...) moves to the next model at once (a retry would
 * meet the manager's load back-off); MM_EINVAL, MM_ELIMIT and MM_ECANCELED
 * stop the chain (the request itself is at fault).
 * Caller owns *out (backend_close). */
struct backend;
int  rt_backend_local_open(struct mm_manager *mgr, struct backend **out, mm_error *err);

/* Rebuild the catalog and merge it: new models are added, and models that
 * are not loaded take their new record (a model that was downloaded becomes
 * available). Thread-safe. */
int  rt_manager_refresh(struct mm_manager *mgr, mm_error *err);

/* A number that changes whenever a model's row in mm_manager_list may
 * change its status, loaded flag or last_error: a load that ends (loaded
 * or failed), an unload, a failed request (a worker found dead fails the
 * request it was serving), the first request or load that succeeds after a
 * failure (recovery), a catalog merge. Requests that only use a model
 * (requests, busy, queued, last_used) leave it alone, so equal numbers mean
 * a status list taken at the first is still right, less those counters.
 * Read before listing: a change during the list then shows as a new number.
 * Lock-free; thread-safe. */
uint64_t rt_manager_health_version(struct mm_manager *mgr);

/* The manager's newest catalog (borrowed until mm_manager_close: every
 * catalog lives that long) and *generation, the count of catalogs built so
 * far, which grows by one with each refresh that found something new.
 * Thread-safe. */
const mm_catalog *rt_manager_catalog(struct mm_manager *mgr, size_t *generation);

/* Start-up downloads (downloads.c), started by mm_manager_start_downloads:
 * in one background thread, each minimal_models entry is pulled as an
 * automated download when the catalog does not have it on disk; when the
 * update check is due (the stamp), mm_update_check runs over models.lock,
 * logging moved branches and pulling them only with auto_update. Failures
 * are logged, never fatal; the catalog is refreshed afterwards. */
int  rt_downloads_start(struct mm_manager *mgr, mm_error *err);
/* Wait up to timeout_ms for the downloads to end; true when they have (or
 * none ran). */
bool rt_downloads_wait(struct mm_manager *mgr, int64_t timeout_ms);
/* Join the download thread (close: the current file finishes first; the
 * hub's stall and retry limits bound that). */
void rt_downloads_stop(struct mm_manager *mgr);

struct mm_manager;
int  rt_manager_open(const mm_config *cfg, const rt_options *opts,
                     struct mm_manager **out, mm_error *err);
/* Unload every idle model whose last use is idle_timeout old at the
 * manager's clock. Returns how many were unloaded. */
int  rt_manager_reap(struct mm_manager *mgr);

#endif /* MM_RUNTIME_H */

/* router.h - internal interface of the router: request features (a cheap
 * complexity score and the capabilities a request needs), model profiles with
 * live figures, the strategies that pick one profile, circuit breakers and the
 * fallback chain. The router sees its candidates only through router_profile,
 * so the runtime and the backends fill that struct and nothing here includes
 * them. */
#ifndef MM_ROUTER_INTERNAL_H
#define MM_ROUTER_INTERNAL_H

#include "backends/backends.h"
#include "core/core.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- capabilities ---- */

enum {
    ROUTER_CAP_CHAT       = 1u << 0,
    ROUTER_CAP_COMPLETION = 1u << 1,
    ROUTER_CAP_EMBEDDINGS = 1u << 2,
    ROUTER_CAP_TOOLS      = 1u << 3,
    ROUTER_CAP_JSON       = 1u << 4,
    ROUTER_CAP_VISION     = 1u << 5
};
#define ROUTER_N_CAPS 6

/* "chat", "completion", ... for bit i (0 <= i < ROUTER_N_CAPS). Static. */
const char *router_cap_name(unsigned bit_index);
/* Parse one capability name into *bit; 0 or MM_EINVAL. */
int router_cap_parse(const char *name, unsigned *bit);
/* "chat,tools" into out (empty string for none). */
void router_caps_format(unsigned caps, char *out, size_t out_size);

/* ---- request features (router-features.c, signals in router-signals.c) ---- */

/* Bytes of prompt text the signals look at: a longer prompt is "long"
 * anyway (the length signal uses the whole token count), and the cost of a
 * decision must not grow with the request. The scanners get a lowercased
 * copy of this many bytes on the stack. */
#define ROUTER_SCAN_MAX   (16 * 1024)
/* max_tokens assumed when a request gives none. */
#define ROUTER_DEFAULT_MAX_TOKENS 256
#define ROUTER_MAX_SIGNALS 8

/* What the router needs to know about one request. Borrowed strings. */
typedef struct router_request {
    const char *text;          /* the prompt, or the messages' text concatenated */
    size_t      text_len;
    int64_t     prompt_tokens; /* > 0: a known token count; 0: estimate from bytes */
    int64_t     max_tokens;    /* 0: ROUTER_DEFAULT_MAX_TOKENS */
    int         n_messages;    /* conversation depth; 0 or 1 for a plain prompt */
    unsigned    caps;          /* ROUTER_CAP_* the request needs */
} router_request;

typedef struct router_features {
    int64_t  prompt_tokens;
    bool     tokens_estimated;     /* prompt_tokens came from the byte estimate */
    int64_t  max_tokens;
    int64_t  needed_context;       /* prompt_tokens + max_tokens */
    unsigned caps;
    int      n_messages;
    double   complexity;           /* in [0, 1]: sum of weight * signal value */
    size_t   n_signals;
    double   signal_value[ROUTER_MAX_SIGNALS];  /* each in [0, 1], table order */
} router_features;

/* One complexity signal: a scanner returning a value in [0, 1]. text is the
 * first ROUTER_SCAN_MAX bytes of the prompt, ASCII-lowercased; word_hits is
 * how often the signal's words occur in it (router_signals_count). */
typedef struct router_signal {
    const char *name;         /* "code" */
    double      weight;       /* the weights of the table sum to 1 */
    const char *description;  /* one line for docs and `modelmgr route` */
    const char *const *words; /* lowercase words counted for it (NULL-ended), or NULL */
    double    (*measure)(const char *text, size_t len, const router_request *req,
                         int64_t prompt_tokens, size_t word_hits);
} router_signal;

/* THE table of complexity signals (router-signals.c). */
extern const router_signal router_signals[];
extern const size_t router_n_signals;
/* Non-overlapping occurrences of each signal's words in (lowercased) text,
 * in one pass: hits[i] for router_signals[i], ROUTER_MAX_SIGNALS entries. */
void router_signals_count(const char *text, size_t len, size_t *hits);

/* Bytes-to-tokens estimate: ceil(bytes / 4), at least 1 for non-empty text. */
int64_t router_estimate_tokens(size_t bytes);
/* Fill out from req. Allocates nothing; reads at most ROUTER_SCAN_MAX bytes
 * of text. Thread-safe. */
void router_features_compute(const router_request *req, router_features *out);

/* ---- profiles and live figures (router-profile.c) ---- */

typedef enum router_health {
    ROUTER_HEALTH_UP = 0,
    ROUTER_HEALTH_DEGRADED,     /* answers, slowly or with errors: picked last */
    ROUTER_HEALTH_DOWN          /* never picked */
} router_health;

/* Figures the runtime or backend updates while requests run; atomics so a
 * pick reads them without a lock. Latency figures are EWMAs; 0 = no sample. */
typedef struct router_live {
    atomic_int   in_flight;
    atomic_int   queue_len;
    atomic_int   health;             /* router_health */
    _Atomic double ttft_ms;          /* time to first token */
    _Atomic double tokens_per_s;
    atomic_llong started;            /* requests sent so far: the last tie-break, so
                                        equal deployments share even sequential load */
} router_live;

#define ROUTER_EWMA_ALPHA 0.2
/* Fold one finished request into the EWMAs (a first sample is taken as is). */
void router_live_observe(router_live *live, double ttft_ms, double tokens_per_s);

/* Circuit breaker of one deployment: closed (normal) -> open after
 * allowed_fails failures within window_ms -> after cooldown_ms one probe
 * (half-open) -> closed on success, open again on failure. */
typedef enum router_breaker_state {
    ROUTER_BREAKER_CLOSED = 0,
    ROUTER_BREAKER_OPEN,
    ROUTER_BREAKER_HALF_OPEN
} router_breaker_state;

#define ROUTER_BREAKER_FAILS_MAX 32

typedef struct router_breaker {
    pthread_mutex_t lock;             /* guards everything below but `state` */
    atomic_int      state;            /* router_breaker_state; read by picks unlocked */
    _Atomic int64_t opened_ms;        /* when it last opened */
    int64_t         fail_ms[ROUTER_BREAKER_FAILS_MAX]; /* ring of failure times */
    int             n_fails;
    int             fail_head;
    bool            probe_out;        /* half-open: the probe is in flight */
    int             allowed_fails;    /* 1..ROUTER_BREAKER_FAILS_MAX */
    int64_t         window_ms;
    int64_t         cooldown_ms;
} router_breaker;

void router_breaker_init(router_breaker *b, int allowed_fails, int64_t window_ms,
                         int64_t cooldown_ms);
void router_breaker_destroy(router_breaker *b);
/* May a pick consider this deployment at now_ms? Lock-free: true when closed,
 * or open with the cooldown over (a probe may go). */
bool router_breaker_available(const router_breaker *b, int64_t now_ms);
/* Ask to send a request at now_ms: true when closed, or when this call takes
 * the single half-open probe slot. Thread-safe. */
bool router_breaker_acquire(router_breaker *b, int64_t now_ms);
/* Report the outcome of a request sent after router_breaker_acquire. */
void router_breaker_record(router_breaker *b, bool ok, int64_t now_ms);
/* A request sent after router_breaker_acquire ended without saying anything
 * about the deployment (a bad request, a cancel): a half-open probe slot is
 * given back so that the next request probes instead. */
void router_breaker_release(router_breaker *b);
const char *router_breaker_state_name(router_breaker_state s);

#define ROUTER_FALLBACKS_MAX 8

struct router_remote;

/* One candidate: a model name served by one deployment ("local" for the
 * built-in engine, else a remote's name). Strings are borrowed for the
 * profile's lifetime. Several profiles may share a name: the deployments of
 * one model, balanced by weight and load. */
typedef struct router_profile {
    const char  *name;
    const char  *deployment;
    bool         remote;
    unsigned     caps;                /* ROUTER_CAP_* */
    int          quality_tier;        /* 1 (small) .. 5 (frontier) */
    uint32_t     context_length;      /* tokens */
    double       cost_in_per_m;       /* per million input tokens; 0 for local */
    double       cost_out_per_m;
    double       weight;              /* > 0; load balancing among deployments */
    const char  *fallbacks[ROUTER_FALLBACKS_MAX];
    size_t       n_fallbacks;
    const char  *excluded;            /* a static reason it can never be picked
                                         (model not downloaded...), or NULL */
    router_live    live;
    router_breaker breaker;
    void          *backend;           /* opaque to the router: the caller's handle */
    struct router_remote *remote_state; /* the probed remote serving it, or NULL */
} router_profile;

#define ROUTER_TIER_MIN 1
#define ROUTER_TIER_MAX 5
/* Quality tier from a parameter count: < 1.5B: 1, < 4B: 2, < 10B: 3,
 * < 40B: 4, else 5; unknown (0): 1. */
int router_tier_from_params(uint64_t n_params);
/* Default for context_length when the model does not say. */
#define ROUTER_CONTEXT_UNKNOWN 2048

/* Zero p, set the defaults (weight 1, tier 1, health up) and init its breaker. */
void router_profile_init(router_profile *p, const char *name, const char *deployment,
                         int allowed_fails, int64_t window_ms, int64_t cooldown_ms);
void router_profile_destroy(router_profile *p);

/* ---- strategies (router-pick.c) ---- */

typedef enum router_strategy {
    ROUTER_STRATEGY_AUTO = 0,
    ROUTER_STRATEGY_COST,
    ROUTER_STRATEGY_LATENCY,
    ROUTER_STRATEGY_LEAST_BUSY,
    ROUTER_STRATEGY_ROUND_ROBIN,
    ROUTER_STRATEGY_FIXED
} router_strategy;
#define ROUTER_N_STRATEGIES 6
/* The names in config order: "auto|cost|latency|least-busy|round-robin|fixed". */
#define ROUTER_STRATEGY_CHOICES "auto|cost|latency|least-busy|round-robin|fixed"

const char *router_strategy_name(router_strategy s);
int router_strategy_parse(const char *name, router_strategy *out);

/* Why a candidate was left out, or ROUTER_OK_CANDIDATE. */
typedef enum router_exclusion {
    ROUTER_OK_CANDIDATE = 0,
    ROUTER_EX_UNAVAILABLE,    /* profile->excluded says why */
    ROUTER_EX_CAPABILITY,     /* lacks a required capability */
    ROUTER_EX_CONTEXT,        /* context window smaller than needed */
    ROUTER_EX_HEALTH,         /* health down */
    ROUTER_EX_BREAKER,        /* circuit open, cooldown not over */
    ROUTER_EX_NOT_NAMED       /* fixed strategy: another model was named */
} router_exclusion;

/* One candidate's evaluation, for explanations (`modelmgr route`). */
typedef struct router_eval {
    router_exclusion excluded;
    unsigned missing_caps;      /* ROUTER_EX_CAPABILITY */
    double   cost;              /* expected cost of this request */
    double   latency_ms;        /* expected time to the last token */
    double   load;              /* (in_flight + queue_len) / weight */
    double   started;           /* requests sent so far / weight */
    bool     meets_floor;       /* quality tier >= the auto floor */
} router_eval;

typedef struct router_policy {
    router_strategy strategy;
    double  complexity_threshold;  /* auto: below -> cheap, at/above -> best */
    int     quality_floor;         /* auto: least tier of a "cheap" pick */
    const char *fixed_model;       /* fixed: the model name (borrowed) */
} router_policy;

/* Shared, mutable state of one router for strategies that keep some. */
typedef struct router_state {
    atomic_uint_fast64_t rr_next;   /* round-robin position */
} router_state;

/* Pick one profile for f under policy. Allocates nothing, takes no lock.
 * On success sets *chosen to an index into profiles and returns 0; evals
 * (n entries, may be NULL) receives each candidate's figures. When nothing
 * qualifies returns MM_ENOTFOUND (MM_EBUSY when only circuits/health stand
 * in the way) with a message naming the requirement no model meets. */
int router_pick(const router_policy *policy, router_state *state, const router_features *f,
                router_profile *profiles, size_t n, int64_t now_ms, size_t *chosen,
                router_eval *evals, mm_error *err);
/* Evaluate one profile against f (exclusion, cost, latency, load). */
void router_evaluate(const router_policy *policy, const router_features *f,
                     const router_profile *p, int64_t now_ms, router_eval *out);
/* "missing capability tools", "context 4096 < 9000 needed", ... */
void router_exclusion_format(const router_eval *e, const router_profile *p,
                             const router_features *f, char *out, size_t out_size);

/* ---- fallback chain (router-chain.c) ---- */

#define ROUTER_CHAIN_MAX 16

/* The ordered list of profiles to try: the chosen one, then for each name in
 * its fallbacks, then in default_fallbacks, then default_model, the best
 * available deployment of that name that fits f (context and capabilities).
 * No profile appears twice. Writes up to max indexes; returns the count. */
size_t router_chain_build(const router_policy *policy, const router_features *f,
                          router_profile *profiles, size_t n, size_t chosen,
                          const char *const *default_fallbacks, size_t n_default_fallbacks,
                          const char *default_model, int64_t now_ms,
                          size_t *out, size_t max);

/* ---- running a request down the chain (router-run.c) ---- */

/* Time, injectable so tests can drive back-offs and breakers. */
typedef struct router_clock {
    int64_t (*now_ms)(void *user);
    void    (*sleep_ms)(void *user, int64_t ms);   /* must return early on cancel */
    void     *user;
} router_clock;

/* The real clock: mm_now_ms and nanosleep. */
extern const router_clock router_clock_system;

typedef struct router_retry {
    int     retries;          /* extra tries per deployment (router.retries) */
    int64_t backoff_base_ms;  /* first delay; doubles each retry */
    int64_t backoff_max_ms;
    uint64_t jitter_seed;     /* 0: seeded from the clock */
} router_retry;

/* Delay before retry number attempt (1-based): base * 2^(attempt-1), capped
 * at max, then scaled by a factor in [0.5, 1] so that many clients that
 * failed together do not retry together. *seed is advanced. */
int64_t router_backoff_ms(const router_retry *retry, int attempt, uint64_t *seed);

/* One deployment tried for a request. */
typedef struct router_attempt {
    size_t profile;           /* index into the profiles */
    int    tries;             /* requests sent (0: skipped) */
    int    code;              /* 0 when it answered, else the last MM_E* */
    char   reason[192];       /* the last error, or why it was skipped */
} router_attempt;

typedef struct router_outcome {
    bool           answered;
    size_t         answered_by;          /* profile index when answered */
    router_attempt tried[ROUTER_CHAIN_MAX];
    size_t         n_tried;
} router_outcome;

/* Send req down chain (indexes into profiles, from router_chain_build):
 * each profile's backend (profile->backend, a backend *) is tried up to
 * 1 + retries times with back-off while the error is retryable, then the
 * next profile while backend_error_fallback holds. Breakers are consulted
 * and updated, in_flight counted and latency figures observed. Once a piece
 * was streamed to on_token nothing is retried (the client has it). req->model
 * is replaced by each profile's name. outcome records who answered and why
 * each earlier one failed. Returns 0 with res filled, or the last error. */
int router_run(router_profile *profiles, size_t n, const size_t *chain, size_t chain_len,
               const router_retry *retry, const router_clock *clock,
               const backend_request *req, backend_token_fn on_token, void *user,
               const atomic_bool *cancel, backend_result *res, router_outcome *outcome,
               mm_error *err);

/* ---- health probes of remotes (router-probe.c) ---- */

/* Bound on one probe GET: a remote slower than this to list its models is
 * as good as down for routing. */
#define ROUTER_PROBE_TIMEOUT_MS 5000

/* One configured remote and what its probes found. */
typedef struct router_remote {
    const char     *name;          /* borrowed from the router */
    backend        *b;             /* borrowed from mm_router.backends */
    int64_t         interval_ms;   /* 0: not probed */
    int64_t         timeout_ms;
    int64_t         next_ms;       /* probe thread only: when the next probe is due */
    pthread_mutex_t lock;          /* guards the results below */
    int             state;         /* mm_remote_state */
    char            error[256];
    int64_t         last_probe_ms; /* mm_now_ms at the end of the last probe; 0: never */
    double          latency_ms;
    int             http_status;
} router_remote;

/* Probe one remote now (blocking, bounded by its timeout) and publish the
 * result: its state and the health of every profile it serves. cancel may
 * be NULL. Returns the probe's result (0: healthy). Thread-safe. */
int router_probe_remote(mm_router *r, router_remote *rm, const atomic_bool *cancel);
/* Probe every remote once, in order. */
void router_probe_all(mm_router *r);
/* Start the probe thread when some remote has an interval; each remote is
 * first probed one interval after the start. 0 or MM_ENOMEM/MM_EIO. */
int router_probe_start(mm_router *r, mm_error *err);
/* Stop the probe thread (an in-flight probe is cancelled) and wait for it.
 * Idempotent. */
void router_probe_stop(mm_router *r);
/* Tests: every remote's interval in milliseconds (0: none), restarting the
 * thread. */
int router_probe_set_interval_ms(mm_router *r, int64_t interval_ms, mm_error *err);
/* "remote X is unreachable: <error>" for a profile its probe took out, or
 * "health: down"; for exclusion messages. */
void router_health_format(const router_profile *p, char *out, size_t out_size);

/* ---- the router object behind mm_router (router.c, router-explain.c) ---- */

#define ROUTER_PROFILES_MAX 1024
/* Context assumed for a remote model no `models:` entry describes. */
#define ROUTER_REMOTE_CONTEXT_DEFAULT 8192
/* Quality tier assumed for a remote model no `models:` entry describes. */
#define ROUTER_REMOTE_TIER_DEFAULT 3

struct mm_router {
    router_profile *profiles;        /* n_profiles, owned */
    size_t          n_profiles;
    backend       **backends;        /* one per remote (NULL where none could open) */
    size_t          n_backends;
    char          **owned;           /* strings the profiles borrow */
    size_t          n_owned, cap_owned;
    router_policy   policy;          /* from router.*; fixed_model = default_model */
    router_state    state;
    router_retry    retry;
    const char    **default_fallbacks;  /* borrowed from the config copy in owned */
    size_t          n_default_fallbacks;
    const char     *default_model;
    router_remote  *remotes;         /* n_remotes, config order; locks initialised */
    size_t          n_remotes;
    pthread_t       probe_thread;
    bool            probe_running;
    pthread_mutex_t probe_lock;      /* guards probe_stop for the timed wait */
    pthread_cond_t  probe_cond;
    atomic_bool     probe_stop;      /* also cancels an in-flight probe */
    bool            probe_sync_ready; /* probe_lock and probe_cond initialised */
};

/* The profile of model name on deployment ("local" for catalog models), or
 * NULL. The runtime updates its live figures (atomics) through it and may
 * read it from any thread; borrowed until mm_router_close. */
router_profile *router_find(mm_router *r, const char *name, const char *deployment);
/* Let b (borrowed; must outlive the router or be detached with NULL) run
 * the requests routed to name on deployment: how the built-in engine's
 * backend joins the local models. Returns 0 or MM_ENOTFOUND. Not
 * thread-safe against router_generate: call it while setting up. */
int router_attach_backend(mm_router *r, const char *name, const char *deployment, backend *b);

/* The whole path of one request: features, pick under policy (NULL: the
 * router's), fallback chain, and router_run with the router's retry
 * settings and clock (NULL: the system clock). req->model is ignored (each
 * profile's name is sent). Thread-safe. */
int router_generate(mm_router *r, const router_request *rq, const router_policy *policy,
                    const router_clock *clock, const backend_request *req,
                    backend_token_fn on_token, void *user, const atomic_bool *cancel,
                    backend_result *res, router_outcome *outcome, mm_error *err);

/* Capabilities of a comma list ("chat,tools"); NULL or "" gives chat.
 * MM_EINVAL names the unknown capability. */
int router_caps_parse_list(const char *list, unsigned *caps, mm_error *err);
/* Policy for one request: the router's, with req's strategy and model. */
int router_request_policy(const mm_router *r, const mm_route_request *req, router_policy *out,
                          mm_error *err);

#endif /* MM_ROUTER_INTERNAL_H */

/* batch.c - the shared engine worker of one loaded model: one engine context
 * whose sequences are the model's slots, and one thread that drives it,
 * decoding every active slot's next token in one pass over the weights
 * (continuous batching: slots join and leave between steps).
 *
 * DESIGN: a request thread owns its slot's job from rt_batch_start to
 * rt_batch_end; the worker owns the engine context, the job's sampler and
 * the slot's token record while the job runs. They meet under one mutex:
 * the worker pushes sampled tokens into the slot's ring and sets its end,
 * the request thread pops tokens (detokenizing and streaming them on its
 * own thread) and may ask the job to stop. Each worker iteration evaluates
 * at most one prompt chunk (the oldest waiting prompt) and then one decode
 * step over every slot that has room in its ring, so a long new prompt
 * delays running streams by one chunk at a time, not by its whole length.
 * The worker samples right after each step, so no step waits for a request
 * thread. When a job is about to overwrite a slot's cached prompt with an
 * unrelated one, the worker first copies that prefix's KV cells into a small
 * LRU of saved prefixes (worker-only state), and a later job whose prompt
 * shares more with a saved prefix than with its slot gets it copied back.
 * A slot also keeps the logits of its last prompt's final token, so the
 * same prompt again (a retry, a regenerated answer) evaluates nothing: it
 * samples its first token from them at once. */
#include "runtime/runtime.h"
#include "engine/engine.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH_RING      256   /* sampled tokens a slot may hold unread */
#define BATCH_IDLE_MS   1000  /* the worker's wait between checks when idle */
#define BATCH_CHUNK     256u  /* prompt tokens evaluated between two decode steps */
#define BATCH_SAVE_MIN  64u   /* cached tokens a job must lose before they are saved */

typedef enum slot_phase {
    SLOT_IDLE = 0,
    SLOT_PREFILL,     /* prompt being evaluated */
    SLOT_DECODE,      /* generating */
    SLOT_DONE         /* ended; the request has not called rt_batch_end yet */
} slot_phase;

typedef struct batch_slot {
    pthread_cond_t   cond;       /* worker -> request: tokens or the end */
    bool             claimed;    /* an instance holds it */
    slot_phase       phase;      /* under lock */
    bool             stop;       /* under lock: the request asked to end */
    uint64_t         ticket;     /* prompt order */
    /* the job: set by rt_batch_start, then the worker's until the end */
    const int32_t   *prompt;     /* borrowed until rt_batch_end */
    uint32_t         n_prompt, prefilled, max_new, produced;
    bool             job_new;    /* the prefix is chosen at its first prompt chunk */
    uint32_t         chosen;     /* worker: the prompt tokens it did not evaluate */
    uint32_t         reused;     /* under lock: prompt tokens not evaluated */
    engine_sampler  *sampler;    /* borrowed */
    const atomic_bool *cancel;
    bool           (*is_eog)(const void *user, int32_t token);
    const void      *eog_user;
    int32_t          pending;    /* sampled, to be evaluated at the next step */
    int32_t         *cached;     /* [n_ctx] the tokens in this sequence's KV cache */
    uint32_t         n_cached;
    float           *last_logits; /* [n_vocab] logits after cached[0 .. logits_at) */
    uint32_t         logits_at;  /* 0: none; valid while n_cached >= logits_at */
    /* results, under lock */
    int32_t          ring[BATCH_RING];
    uint32_t         ring_head, ring_len;
    const char      *finish;     /* static; set at the end */
    int              rc;
    char             msg[MM_ERROR_MSG_MAX];
} batch_slot;

/* A prompt prefix copied out of a slot (worker only). */
typedef struct saved_prefix {
    int32_t  *tokens;            /* [RT_SAVED_TOKENS] */
    uint32_t  n;                 /* 0: empty */
    uint8_t  *state;             /* engine_seq_state_size(ctx, saved_max) bytes */
    uint64_t  used;              /* recency */
} saved_prefix;

struct rt_batch {
    pthread_mutex_t  lock;
    pthread_cond_t   work;       /* request -> worker: a job, a stop, ring room */
    const engine_model *model;   /* borrowed */
    engine_ctx      *ctx;        /* the worker's only */
    uint32_t         n_slots, n_ctx, n_batch, n_vocab;
    batch_slot      *slots;
    uint64_t         next_ticket;
    saved_prefix     saved[RT_SAVED_PREFIXES];
    uint32_t         saved_max;  /* tokens a saved prefix holds at most */
    uint64_t         saved_clock;
    pthread_t        thread;
    bool             running, quit;
    rt_batch_stats   stats;      /* under lock */
};

static void init_cond(pthread_cond_t *c)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(c, &attr);
    pthread_condattr_destroy(&attr);
}

static struct timespec after_ms(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* ---- the worker ---- */

/* What a step did to one slot, applied under the lock afterwards. */
typedef struct slot_event {
    bool        has_token;
    int32_t     token;
    const char *finish;          /* static, or NULL: still running */
    int         rc;
    char        msg[MM_ERROR_MSG_MAX];
} slot_event;

/* The slot's logits are ready: sample its next token (worker, no lock). */
static void sample_next(rt_batch *b, batch_slot *s, const float *logits, slot_event *ev)
{
    if (s->produced >= s->max_new) {
        ev->finish = "length";
        return;
    }
    if (s->cancel && atomic_load(s->cancel)) {
        ev->finish = "cancelled";
        return;
    }
    int32_t tok = engine_sampler_sample(s->sampler, logits);
    if (s->is_eog(s->eog_user, tok)) {
        ev->finish = "stop";
        return;
    }
    engine_sampler_accept(s->sampler, tok);
    ev->has_token = true;
    ev->token = tok;
    s->produced++;
    s->pending = tok;
    if (s->produced >= s->max_new)
        ev->finish = "length";
}

static void fail_event(slot_event *ev, int rc, const mm_error *err)
{
    ev->rc = rc;
    ev->finish = "error";
    mm_strlcpy(ev->msg, err->message, sizeof ev->msg);
}

static uint32_t common_prefix(const int32_t *a, uint32_t na, const int32_t *b, uint32_t nb)
{
    uint32_t n = 0, limit = na < nb ? na : nb;
    while (n < limit && a[n] == b[n])
        n++;
    return n;
}

/* Copy the slot's cached prefix out before a job overwrites it (worker). */
static void save_prefix(rt_batch *b, uint32_t seq, const batch_slot *s)
{
    uint32_t n = s->n_cached < b->saved_max ? s->n_cached : b->saved_max;
    saved_prefix *victim = &b->saved[0];
    for (int i = 0; i < RT_SAVED_PREFIXES; i++) {
        saved_prefix *e = &b->saved[i];
        if (e->n >= n && common_prefix(e->tokens, e->n, s->cached, n) == n) {
            e->used = ++b->saved_clock;   /* already saved */
            return;
        }
        if (e->used < victim->used)
            victim = e;
    }
    if (engine_seq_state_get(b->ctx, seq, n, victim->state, NULL) != 0)
        return;
    memcpy(victim->tokens, s->cached, n * sizeof *victim->tokens);
    victim->n = n;
    victim->used = ++b->saved_clock;
    b->stats.saves++;
}

/* Decide where a new job's prompt starts (worker, at its first chunk): the
 * slot's own cached prefix, or a longer saved one copied into the slot;
 * what the job would discard of the slot's cache is saved first. */
static void choose_prefix(rt_batch *b, uint32_t seq, batch_slot *s)
{
    uint32_t last = s->n_prompt - 1;   /* the last prompt token is evaluated: its logits */
    uint32_t common = common_prefix(s->cached, s->n_cached, s->prompt, s->n_prompt);
    if (s->logits_at > s->n_cached)
        s->logits_at = 0;
    if (common == s->n_prompt && s->logits_at == s->n_prompt) {
        /* the same prompt as the one whose logits the slot kept: nothing
         * to evaluate, nothing lost (the cells after it are cut) */
        engine_seq_truncate(b->ctx, seq, common);
        s->prefilled = s->n_cached = common;
        s->chosen = common;
        s->job_new = false;
        return;
    }
    if (common > last)
        common = last;
    if (s->n_cached >= common + BATCH_SAVE_MIN)
        save_prefix(b, seq, s);
    saved_prefix *best = NULL;
    uint32_t best_n = common;
    for (int i = 0; i < RT_SAVED_PREFIXES; i++) {
        uint32_t n = common_prefix(b->saved[i].tokens, b->saved[i].n, s->prompt, s->n_prompt);
        if (n > last)
            n = last;
        if (n > best_n) {
            best = &b->saved[i];
            best_n = n;
        }
    }
    /* the state's layout is that of all its cells: restore them, then cut */
    if (best && engine_seq_state_set(b->ctx, seq, best->n, best->state, NULL) == 0) {
        s->logits_at = 0;   /* other cells now */
        engine_seq_truncate(b->ctx, seq, best_n);
        memcpy(s->cached, best->tokens, best_n * sizeof *s->cached);
        best->used = ++b->saved_clock;
        common = best_n;
        b->stats.restores++;
    }
    s->prefilled = s->n_cached = common;
    if (s->logits_at > common)
        s->logits_at = 0;
    s->chosen = common;
    s->job_new = false;
}

/* Evaluate the next chunk of s's prompt (worker, no lock). */
static void prefill_chunk(rt_batch *b, uint32_t seq, batch_slot *s, slot_event *ev)
{
    mm_error err = { 0 };
    if (s->job_new)
        choose_prefix(b, seq, s);
    if (s->prefilled == s->n_prompt) {
        sample_next(b, s, s->last_logits, ev);
        return;
    }
    engine_seq_truncate(b->ctx, seq, s->prefilled);
    uint32_t n = s->n_prompt - s->prefilled;
    if (n > b->n_batch)
        n = b->n_batch;
    int rc = engine_eval_seq(b->ctx, seq, s->prompt + s->prefilled, n, &err);
    if (rc != 0) {
        fail_event(ev, rc, &err);
        return;
    }
    memcpy(s->cached + s->prefilled, s->prompt + s->prefilled, n * sizeof *s->cached);
    s->prefilled += n;
    s->n_cached = s->prefilled;
    if (s->prefilled == s->n_prompt) {
        const float *logits = engine_ctx_logits(b->ctx, n - 1);
        memcpy(s->last_logits, logits, b->n_vocab * sizeof *s->last_logits);
        s->logits_at = s->n_prompt;
        sample_next(b, s, logits, ev);
    }
}

/* One token of every slot in seqs (worker, no lock). */
static void decode_step(rt_batch *b, const uint32_t *seqs, uint32_t n, slot_event *evs)
{
    int32_t toks[RT_POOL_MAX];
    for (uint32_t i = 0; i < n; i++)
        toks[i] = b->slots[seqs[i]].pending;
    mm_error err = { 0 };
    int rc = engine_decode(b->ctx, seqs, toks, n, &err);
    for (uint32_t i = 0; i < n; i++) {
        batch_slot *s = &b->slots[seqs[i]];
        slot_event *ev = &evs[seqs[i]];
        if (rc != 0) {
            fail_event(ev, rc, &err);
            continue;
        }
        s->cached[s->n_cached++] = toks[i];
        sample_next(b, s, engine_ctx_logits(b->ctx, i), ev);
    }
}

static void end_slot(batch_slot *s, const char *finish, int rc, const char *msg)
{
    s->phase = SLOT_DONE;
    s->finish = finish;
    s->rc = rc;
    mm_strlcpy(s->msg, msg ? msg : "", sizeof s->msg);
    pthread_cond_signal(&s->cond);
}

/* Lock held. */
static void apply_event(batch_slot *s, const slot_event *ev)
{
    if (ev->has_token) {
        MM_ASSERT(s->ring_len < BATCH_RING);
        s->ring[(s->ring_head + s->ring_len) % BATCH_RING] = ev->token;
        s->ring_len++;
        pthread_cond_signal(&s->cond);
    }
    if (ev->finish)
        end_slot(s, ev->finish, ev->rc, ev->msg);
}

/* One iteration: at most one prompt chunk, then one decode step. Lock held
 * on entry and exit (released while the engine runs). False when there was
 * nothing to do. */
static bool iterate(rt_batch *b)
{
    slot_event evs[RT_POOL_MAX];
    uint32_t seqs[RT_POOL_MAX];
    int prefill = -1;
    uint32_t n_dec = 0;
    for (uint32_t i = 0; i < b->n_slots; i++) {
        batch_slot *s = &b->slots[i];
        if (s->phase != SLOT_PREFILL && s->phase != SLOT_DECODE)
            continue;
        if (s->stop) {
            end_slot(s, "cancelled", 0, NULL);
            continue;
        }
        if (s->phase == SLOT_PREFILL && (prefill < 0 || s->ticket < b->slots[prefill].ticket))
            prefill = (int)i;
        else if (s->phase == SLOT_DECODE && s->ring_len < BATCH_RING)
            seqs[n_dec++] = i;
    }
    if (prefill < 0 && n_dec == 0)
        return false;
    pthread_mutex_unlock(&b->lock);
    memset(evs, 0, sizeof evs);
    if (prefill >= 0)
        prefill_chunk(b, (uint32_t)prefill, &b->slots[prefill], &evs[prefill]);
    if (n_dec > 0)
        decode_step(b, seqs, n_dec, evs);
    pthread_mutex_lock(&b->lock);
    if (prefill >= 0) {
        batch_slot *s = &b->slots[prefill];
        if (s->reused == UINT32_MAX)
            s->reused = s->chosen;
        if (!evs[prefill].finish && s->prefilled == s->n_prompt)
            s->phase = SLOT_DECODE;
        apply_event(s, &evs[prefill]);
    }
    for (uint32_t i = 0; i < n_dec; i++)
        apply_event(&b->slots[seqs[i]], &evs[seqs[i]]);
    if (n_dec > 0) {
        b->stats.steps++;
        b->stats.rows += n_dec;
        if (n_dec > b->stats.max_rows)
            b->stats.max_rows = n_dec;
    }
    return true;
}

static void *worker_main(void *arg)
{
    rt_batch *b = arg;
    pthread_mutex_lock(&b->lock);
    while (!b->quit) {
        if (!iterate(b)) {
            struct timespec until = after_ms(BATCH_IDLE_MS);
            pthread_cond_timedwait(&b->work, &b->lock, &until);
        }
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

bool rt_batch_step(rt_batch *b)
{
    MM_ASSERT(!b->running);
    pthread_mutex_lock(&b->lock);
    bool did = iterate(b);
    pthread_mutex_unlock(&b->lock);
    return did;
}

/* ---- lifecycle ---- */

int rt_batch_new(const struct engine_model *model, uint32_t n_slots, int n_threads,
                 bool manual, rt_batch **out, mm_error *err)
{
    *out = NULL;
    if (n_slots < 1 || n_slots > RT_POOL_MAX)
        return mm_error_set(err, MM_EINVAL, "a model has 1 to %d slots (got %" PRIu32 ")",
                            RT_POOL_MAX, n_slots);
    rt_batch *b = calloc(1, sizeof *b);
    if (!b)
        return mm_error_set(err, MM_ENOMEM, "out of memory creating the engine worker");
    pthread_mutex_init(&b->lock, NULL);
    init_cond(&b->work);
    b->model = model;
    b->n_slots = n_slots;
    engine_ctx_params p;
    engine_ctx_default_params(&p);
    p.n_threads = n_threads > 0 ? n_threads : 1;
    p.n_seq = n_slots;
    int rc = engine_ctx_new(model, &p, &b->ctx, err);
    if (rc != 0)
        goto fail;
    b->n_ctx = engine_ctx_size(b->ctx);
    b->n_batch = BATCH_CHUNK;
    b->n_vocab = model->hp.n_vocab;
    b->saved_max = b->n_ctx < RT_SAVED_TOKENS ? b->n_ctx : RT_SAVED_TOKENS;
    for (int i = 0; i < RT_SAVED_PREFIXES; i++) {
        b->saved[i].tokens = calloc(b->saved_max, sizeof *b->saved[i].tokens);
        b->saved[i].state = malloc(engine_seq_state_size(b->ctx, b->saved_max));
        if (!b->saved[i].tokens || !b->saved[i].state) {
            rc = mm_error_set(err, MM_ENOMEM, "out of memory creating the engine worker");
            goto fail;
        }
    }
    b->slots = calloc(n_slots, sizeof *b->slots);
    if (!b->slots) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory creating the engine worker");
        goto fail;
    }
    for (uint32_t i = 0; i < n_slots; i++) {
        init_cond(&b->slots[i].cond);
        b->slots[i].cached = calloc(b->n_ctx, sizeof *b->slots[i].cached);
        b->slots[i].last_logits = malloc(b->n_vocab * sizeof *b->slots[i].last_logits);
        if (!b->slots[i].cached || !b->slots[i].last_logits) {
            rc = mm_error_set(err, MM_ENOMEM, "out of memory creating the engine worker");
            goto fail;
        }
    }
    if (!manual) {
        if (pthread_create(&b->thread, NULL, worker_main, b) != 0) {
            rc = mm_error_set(err, MM_ENOMEM, "cannot start the engine worker thread");
            goto fail;
        }
        b->running = true;
    }
    *out = b;
    return 0;
fail:
    rt_batch_free(b);
    return rc;
}

void rt_batch_free(rt_batch *b)
{
    if (!b)
        return;
    if (b->running) {
        pthread_mutex_lock(&b->lock);
        b->quit = true;
        pthread_cond_signal(&b->work);
        pthread_mutex_unlock(&b->lock);
        pthread_join(b->thread, NULL);
    }
    for (uint32_t i = 0; b->slots && i < b->n_slots; i++) {
        MM_ASSERT(b->slots[i].phase == SLOT_IDLE);
        pthread_cond_destroy(&b->slots[i].cond);
        free(b->slots[i].cached);
        free(b->slots[i].last_logits);
    }
    free(b->slots);
    for (int i = 0; i < RT_SAVED_PREFIXES; i++) {
        free(b->saved[i].tokens);
        free(b->saved[i].state);
    }
    engine_ctx_free(b->ctx);
    pthread_cond_destroy(&b->work);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

uint32_t rt_batch_context(const rt_batch *b)
{
    return b->n_ctx;
}

int rt_batch_claim(rt_batch *b, uint32_t *slot, mm_error *err)
{
    pthread_mutex_lock(&b->lock);
    for (uint32_t i = 0; i < b->n_slots; i++) {
        if (!b->slots[i].claimed) {
            b->slots[i].claimed = true;
            b->slots[i].n_cached = 0;   /* a new instance reuses nothing */
            b->slots[i].logits_at = 0;
            *slot = i;
            pthread_mutex_unlock(&b->lock);
            return 0;
        }
    }
    pthread_mutex_unlock(&b->lock);
    return mm_error_set(err, MM_EBUSY, "all %" PRIu32 " slots of the model are taken",
                        b->n_slots);
}

void rt_batch_release(rt_batch *b, uint32_t slot)
{
    pthread_mutex_lock(&b->lock);
    MM_ASSERT(b->slots[slot].phase == SLOT_IDLE);
    b->slots[slot].claimed = false;
    pthread_mutex_unlock(&b->lock);
}

/* ---- a job ---- */

void rt_batch_start(rt_batch *b, uint32_t slot, const rt_batch_job *job)
{
    batch_slot *s = &b->slots[slot];
    pthread_mutex_lock(&b->lock);
    MM_ASSERT(s->claimed && s->phase == SLOT_IDLE && job->n_prompt > 0);
    /* The slot's token record stays as it is: the worker compares it with
     * the prompt at the first chunk (choose_prefix). */
    s->prompt = job->prompt;
    s->n_prompt = job->n_prompt;
    s->job_new = true;
    s->reused = UINT32_MAX;
    s->max_new = job->max_new;
    s->produced = 0;
    s->sampler = job->sampler;
    s->cancel = job->cancel;
    s->is_eog = job->is_eog;
    s->eog_user = job->eog_user;
    s->stop = false;
    s->ring_head = s->ring_len = 0;
    s->finish = NULL;
    s->rc = 0;
    s->msg[0] = '\0';
    s->ticket = b->next_ticket++;
    s->phase = SLOT_PREFILL;
    pthread_cond_signal(&b->work);
    pthread_mutex_unlock(&b->lock);
}

uint32_t rt_batch_reused(rt_batch *b, uint32_t slot)
{
    pthread_mutex_lock(&b->lock);
    uint32_t n = b->slots[slot].reused;
    pthread_mutex_unlock(&b->lock);
    return n == UINT32_MAX ? 0 : n;
}

int rt_batch_next(rt_batch *b, uint32_t slot, int32_t *token, const char **finish, mm_error *err)
{
    batch_slot *s = &b->slots[slot];
    int rc;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        if (s->ring_len > 0) {
            bool was_full = s->ring_len == BATCH_RING;
            *token = s->ring[s->ring_head];
            s->ring_head = (s->ring_head + 1) % BATCH_RING;
            s->ring_len--;
            if (was_full)
                pthread_cond_signal(&b->work);   /* the slot may step again */
            rc = 1;
            break;
        }
        if (s->phase == SLOT_DONE) {
            *finish = s->finish;
            rc = s->rc;
            if (rc != 0)
                mm_error_set(err, rc, "%s", s->msg);
            break;
        }
        if (!b->running) {   /* manual: nobody else will produce it */
            rc = mm_error_set(err, MM_EBUSY, "no token yet: run rt_batch_step");
            break;
        }
        /* The worker always progresses; the timeout only bounds one wait. */
        struct timespec until = after_ms(BATCH_IDLE_MS);
        pthread_cond_timedwait(&s->cond, &b->lock, &until);
    }
    pthread_mutex_unlock(&b->lock);
    return rc;
}

void rt_batch_end(rt_batch *b, uint32_t slot)
{
    batch_slot *s = &b->slots[slot];
    pthread_mutex_lock(&b->lock);
    if ((s->phase == SLOT_PREFILL || s->phase == SLOT_DECODE) && !b->running)
        end_slot(s, "cancelled", 0, NULL);   /* manual: no step is running */
    if (s->phase == SLOT_PREFILL || s->phase == SLOT_DECODE) {
        s->stop = true;
        pthread_cond_signal(&b->work);
        while (s->phase != SLOT_DONE) {
            struct timespec until = after_ms(BATCH_IDLE_MS);
            pthread_cond_timedwait(&s->cond, &b->lock, &until);
        }
    }
    s->phase = SLOT_IDLE;
    s->prompt = NULL;
    s->sampler = NULL;
    s->cancel = NULL;
    pthread_mutex_unlock(&b->lock);
}

void rt_batch_stats_get(rt_batch *b, rt_batch_stats *out)
{
    pthread_mutex_lock(&b->lock);
    *out = b->stats;
    pthread_mutex_unlock(&b->lock);
}

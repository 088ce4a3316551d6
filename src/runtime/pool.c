/* pool.c - the instance pool of one loaded model: up to `size` instances
 * over one shared model handle, created on demand, and a bounded FIFO queue
 * of callers waiting for one.
 *
 * DESIGN: every waiter is a node on its caller's stack with its own
 * condition variable (CLOCK_MONOTONIC). A release hands the instance
 * straight to the oldest waiter instead of freeing it, so a newcomer can
 * never overtake a queued caller and wake-ups go to exactly one thread. A
 * waiter that times out unlinks itself; if the hand-off raced the timeout,
 * the waiter keeps the instance it was given. */
#include "runtime/runtime.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct pool_waiter {
    pthread_cond_t      cond;
    void               *granted;   /* the instance handed over, or NULL */
    struct pool_waiter *next;
} pool_waiter;

typedef struct pool_slot {
    void    *inst;
    bool     busy;
    uint64_t released;   /* pool->releases when it was last given back */
} pool_slot;

struct rt_pool {
    pthread_mutex_t  lock;
    const rt_factory *factory;
    void            *model;      /* borrowed shared handle */
    char             label[128]; /* the model's key, for messages */
    int              size;
    int              queue_max;
    pool_slot        slots[RT_POOL_MAX];
    int              created;
    int              creating;   /* instances being made outside the lock */
    int              busy;
    int              max_busy;
    int              queued;
    uint64_t         rejected;
    uint64_t         releases;   /* counts releases: the free instances' age */
    pool_waiter     *head, *tail;
};

int rt_pool_new(const rt_factory *f, void *model, int size, int queue_max,
                const char *label, rt_pool **out, mm_error *err)
{
    *out = NULL;
    if (size < 1 || size > RT_POOL_MAX || queue_max < 0)
        return mm_error_set(err, MM_EINVAL, "pool size must be 1 to %d (got %d)",
                            RT_POOL_MAX, size);
    rt_pool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return mm_error_set(err, MM_ENOMEM, "out of memory creating an instance pool");
    pthread_mutex_init(&pool->lock, NULL);
    pool->factory = f;
    pool->model = model;
    pool->size = size;
    pool->queue_max = queue_max;
    mm_strlcpy(pool->label, label ? label : "model", sizeof pool->label);
    *out = pool;
    return 0;
}

void rt_pool_free(rt_pool *pool)
{
    if (!pool)
        return;
    MM_ASSERT(pool->busy == 0 && pool->head == NULL);
    for (int i = 0; i < pool->created; i++)
        pool->factory->instance_free(pool->factory->user, pool->slots[i].inst);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}

/* The free instance that suits req best (prefix reuse), marked busy: the
 * highest affinity, the least recently used on ties. When none shares
 * anything with req and a new instance may still be made (may_create),
 * NULL, so that every instance keeps its cached prefix for the requests
 * that share it. Without affinity: the first free one. */
static void *take_free_slot(rt_pool *pool, const struct mm_gen_request *req, bool may_create)
{
    bool scored = req && pool->factory->affinity;
    int best = -1;
    uint64_t best_score = 0;
    for (int i = 0; i < pool->created; i++) {
        const pool_slot *s = &pool->slots[i];
        if (s->busy)
            continue;
        if (!scored) {
            best = i;
            break;
        }
        uint64_t score = pool->factory->affinity(pool->factory->user, s->inst, req);
        if (best < 0 || score > best_score ||
            (score == best_score && s->released < pool->slots[best].released)) {
            best = i;
            best_score = score;
        }
    }
    if (best < 0 || (scored && best_score == 0 && may_create))
        return NULL;
    pool->slots[best].busy = true;
    return pool->slots[best].inst;
}

static void mark_busy(rt_pool *pool)
{
    pool->busy++;
    if (pool->busy > pool->max_busy)
        pool->max_busy = pool->busy;
}

static void unlink_waiter(rt_pool *pool, pool_waiter *w)
{
    pool_waiter **pp = &pool->head, *prev = NULL;
    while (*pp && *pp != w) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp)
        return;
    *pp = w->next;
    if (pool->tail == w)
        pool->tail = prev;
    pool->queued--;
}

static int busy_error(rt_pool *pool, mm_error *err, const char *why)
{
    pool->rejected++;
    return mm_error_set(err, MM_EBUSY,
                        "model '%s' is busy: all %d instance%s in use and %s; "
                        "retry in a few seconds, or raise pool_size (MODEL_POOL_SIZE) "
                        "or queue_size (MODEL_QUEUE_SIZE)",
                        pool->label, pool->size, pool->size == 1 ? "" : "s", why);
}

/* Make a new instance outside the lock (an engine context can take a while
 * to allocate); the slot is reserved by `creating` meanwhile. */
static int create_instance(rt_pool *pool, void **inst, mm_error *err)
{
    pool->creating++;
    pthread_mutex_unlock(&pool->lock);
    void *made = NULL;
    int rc = pool->factory->instance_new(pool->factory->user, pool->model, &made, err);
    pthread_mutex_lock(&pool->lock);
    pool->creating--;
    if (rc != 0) {
        /* The slot is free again: let the oldest waiter try to make one. */
        if (pool->head)
            pthread_cond_signal(&pool->head->cond);
        return rc;
    }
    pool->slots[pool->created].inst = made;
    pool->slots[pool->created].busy = true;
    pool->created++;
    mark_busy(pool);
    *inst = made;
    return 0;
}

static struct timespec deadline_after(int64_t timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(timeout_ms / 1000);
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int rt_pool_acquire(rt_pool *pool, int64_t timeout_ms, void **inst, mm_error *err)
{
    return rt_pool_acquire_for(pool, timeout_ms, NULL, inst, err);
}

int rt_pool_acquire_for(rt_pool *pool, int64_t timeout_ms, const struct mm_gen_request *req,
                        void **inst, mm_error *err)
{
    *inst = NULL;
    pthread_mutex_lock(&pool->lock);
    int rc = 0;
    /* Nobody may overtake a queued caller. */
    if (!pool->head) {
        bool may_create = pool->created + pool->creating < pool->size;
        void *free_inst = take_free_slot(pool, req, may_create);
        if (free_inst) {
            mark_busy(pool);
            *inst = free_inst;
            goto done;
        }
        if (may_create) {
            rc = create_instance(pool, inst, err);
            goto done;
        }
    }
    if (pool->queued >= pool->queue_max) {
        rc = busy_error(pool, err, pool->queue_max ? "the wait queue is full" : "no request may wait");
        goto done;
    }

    pool_waiter self = { .granted = NULL, .next = NULL };
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&self.cond, &attr);
    pthread_condattr_destroy(&attr);
    if (pool->tail)
        pool->tail->next = &self;
    else
        pool->head = &self;
    pool->tail = &self;
    pool->queued++;

    struct timespec deadline = deadline_after(timeout_ms < 0 ? 0 : timeout_ms);
    bool create = false;
    while (!self.granted) {
        /* A failed creation left a slot free and woke the head of the queue. */
        if (pool->head == &self && pool->created + pool->creating < pool->size) {
            create = true;
            break;
        }
        int wait_rc = pthread_cond_timedwait(&self.cond, &pool->lock, &deadline);
        if (wait_rc == ETIMEDOUT)
            break;
    }
    if (self.granted) {
        *inst = self.granted;   /* already unlinked and counted busy by release */
    } else if (create) {
        unlink_waiter(pool, &self);
        rc = create_instance(pool, inst, err);
    } else {
        unlink_waiter(pool, &self);
        char why[96];
        snprintf(why, sizeof why, "no instance came free within %lld ms",
                 (long long)(timeout_ms < 0 ? 0 : timeout_ms));
        rc = busy_error(pool, err, why);
    }
    pthread_cond_destroy(&self.cond);
done:
    pthread_mutex_unlock(&pool->lock);
    return rc;
}

void rt_pool_release(rt_pool *pool, void *inst)
{
    if (!inst)
        return;
    pthread_mutex_lock(&pool->lock);
    pool_waiter *w = pool->head;
    if (w) {
        /* Hand over: the instance stays busy and changes owner. */
        pool->head = w->next;
        if (!pool->head)
            pool->tail = NULL;
        pool->queued--;
        w->next = NULL;
        w->granted = inst;
        pthread_cond_signal(&w->cond);
    } else {
        bool found = false;
        for (int i = 0; i < pool->created; i++) {
            if (pool->slots[i].inst == inst) {
                MM_ASSERT(pool->slots[i].busy);
                pool->slots[i].busy = false;
                pool->slots[i].released = ++pool->releases;
                found = true;
                break;
            }
        }
        MM_ASSERT(found);
        pool->busy--;
    }
    pthread_mutex_unlock(&pool->lock);
}

void rt_pool_stats_get(rt_pool *pool, rt_pool_stats *out)
{
    pthread_mutex_lock(&pool->lock);
    out->created = pool->created;
    out->busy = pool->busy;
    out->queued = pool->queued;
    out->max_busy = pool->max_busy;
    out->rejected = pool->rejected;
    pthread_mutex_unlock(&pool->lock);
}

/* test-pool.c - the instance pool: lazy creation (a second instance only
 * while the first is busy), never more than `size` busy under many threads,
 * FIFO hand-off to waiters in arrival order, queue timeout and a full queue
 * answered with MM_EBUSY and a retry hint. */
#include "runtime/runtime.h"
#include "support/test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

static atomic_int instances_made;
static atomic_int instances_live;

static int fake_new(void *user, void *model, void **inst, mm_error *err)
{
    (void)user;
    (void)model;
    (void)err;
    *inst = malloc(1);
    atomic_fetch_add(&instances_made, 1);
    atomic_fetch_add(&instances_live, 1);
    return 0;
}

static void fake_free(void *user, void *inst)
{
    (void)user;
    free(inst);
    atomic_fetch_sub(&instances_live, 1);
}

static const rt_factory fake = { .instance_new = fake_new, .instance_free = fake_free };

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static void test_lazy_creation(void)
{
    atomic_store(&instances_made, 0);
    rt_pool *pool = NULL;
    CHECK_INT(rt_pool_new(&fake, NULL, 2, 4, "m", &pool, NULL), 0);
    void *a = NULL, *b = NULL;
    for (int i = 0; i < 5; i++) {
        CHECK_INT(rt_pool_acquire(pool, 0, &a, NULL), 0);
        rt_pool_release(pool, a);
    }
    /* Used one at a time: one instance is enough. */
    CHECK_INT(atomic_load(&instances_made), 1);
    CHECK_INT(rt_pool_acquire(pool, 0, &a, NULL), 0);
    CHECK_INT(rt_pool_acquire(pool, 0, &b, NULL), 0);
    CHECK(a != b);
    CHECK_INT(atomic_load(&instances_made), 2);
    rt_pool_stats st;
    rt_pool_stats_get(pool, &st);
    CHECK_INT(st.created, 2);
    CHECK_INT(st.busy, 2);
    rt_pool_release(pool, a);
    rt_pool_release(pool, b);
    rt_pool_free(pool);
    CHECK_INT(atomic_load(&instances_live), 0);
    rt_pool_free(NULL);
    CHECK_INT(rt_pool_new(&fake, NULL, 0, 4, "m", &pool, NULL), MM_EINVAL);
    CHECK_INT(rt_pool_new(&fake, NULL, RT_POOL_MAX + 1, 4, "m", &pool, NULL), MM_EINVAL);
}

/* ---- many threads on a pool of two ---- */

typedef struct stress_ctx {
    rt_pool   *pool;
    atomic_int busy_now;
    atomic_int busy_max;
    atomic_int done;
    atomic_int errors;
} stress_ctx;

static void *stress_thread(void *arg)
{
    stress_ctx *c = arg;
    for (int i = 0; i < 40; i++) {
        void *inst = NULL;
        if (rt_pool_acquire(c->pool, 60000, &inst, NULL) != 0) {
            atomic_fetch_add(&c->errors, 1);
            continue;
        }
        int now = atomic_fetch_add(&c->busy_now, 1) + 1;
        int prev = atomic_load(&c->busy_max);
        while (now > prev && !atomic_compare_exchange_weak(&c->busy_max, &prev, now))
            ;
        if (i % 8 == 0)
            sleep_ms(1);
        atomic_fetch_sub(&c->busy_now, 1);
        rt_pool_release(c->pool, inst);
        atomic_fetch_add(&c->done, 1);
    }
    return NULL;
}

static void test_threads_bounded(void)
{
    enum { THREADS = 8 };
    atomic_store(&instances_made, 0);
    stress_ctx c = { 0 };
    CHECK_INT(rt_pool_new(&fake, NULL, 2, THREADS, "m", &c.pool, NULL), 0);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, stress_thread, &c);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    CHECK_INT(atomic_load(&c.errors), 0);
    CHECK_INT(atomic_load(&c.done), THREADS * 40);
    CHECK(atomic_load(&c.busy_max) <= 2);
    CHECK(atomic_load(&instances_made) <= 2);
    rt_pool_stats st;
    rt_pool_stats_get(c.pool, &st);
    CHECK(st.max_busy <= 2);
    CHECK_INT(st.busy, 0);
    CHECK_INT(st.queued, 0);
    rt_pool_free(c.pool);
}

/* ---- FIFO: waiters are served in the order they arrived ---- */

typedef struct fifo_ctx {
    rt_pool        *pool;
    pthread_mutex_t lock;
    int             order[8];
    int             n_order;
} fifo_ctx;

typedef struct fifo_arg {
    fifo_ctx *c;
    int       id;
} fifo_arg;

static void *fifo_thread(void *arg)
{
    fifo_arg *a = arg;
    void *inst = NULL;
    if (rt_pool_acquire(a->c->pool, 60000, &inst, NULL) != 0)
        return NULL;
    pthread_mutex_lock(&a->c->lock);
    a->c->order[a->c->n_order++] = a->id;
    pthread_mutex_unlock(&a->c->lock);
    rt_pool_release(a->c->pool, inst);
    return NULL;
}

static void wait_queued(rt_pool *pool, int n)
{
    for (;;) {
        rt_pool_stats st;
        rt_pool_stats_get(pool, &st);
        if (st.queued >= n)
            return;
        sleep_ms(1);
    }
}

static void test_fifo(void)
{
    enum { WAITERS = 6 };
    fifo_ctx c = { .n_order = 0 };
    pthread_mutex_init(&c.lock, NULL);
    CHECK_INT(rt_pool_new(&fake, NULL, 1, WAITERS, "m", &c.pool, NULL), 0);
    void *held = NULL;
    CHECK_INT(rt_pool_acquire(c.pool, 0, &held, NULL), 0);
    pthread_t t[WAITERS];
    fifo_arg args[WAITERS];
    /* Start each waiter only once the previous one is queued, so the
     * arrival order is known. */
    for (int i = 0; i < WAITERS; i++) {
        args[i] = (fifo_arg){ &c, i };
        pthread_create(&t[i], NULL, fifo_thread, &args[i]);
        wait_queued(c.pool, i + 1);
    }
    rt_pool_release(c.pool, held);
    for (int i = 0; i < WAITERS; i++)
        pthread_join(t[i], NULL);
    CHECK_INT(c.n_order, WAITERS);
    for (int i = 0; i < c.n_order; i++)
        CHECK_INT(c.order[i], i);
    rt_pool_free(c.pool);
    pthread_mutex_destroy(&c.lock);
}

/* ---- timeouts and a full queue ---- */

typedef struct blocker_arg {
    rt_pool *pool;
    int      rc;
} blocker_arg;

static void *long_waiter(void *arg)
{
    blocker_arg *b = arg;
    void *inst = NULL;
    b->rc = rt_pool_acquire(b->pool, 60000, &inst, NULL);
    if (b->rc == 0)
        rt_pool_release(b->pool, inst);
    return NULL;
}

static void test_timeout_and_full(void)
{
    rt_pool *pool = NULL;
    CHECK_INT(rt_pool_new(&fake, NULL, 1, 1, "tiny", &pool, NULL), 0);
    void *held = NULL;
    CHECK_INT(rt_pool_acquire(pool, 0, &held, NULL), 0);

    mm_error err = { 0 };
    void *inst = (void *)&err;
    CHECK_INT(rt_pool_acquire(pool, 30, &inst, &err), MM_EBUSY);
    CHECK(inst == NULL);
    CHECK_INT(err.code, MM_EBUSY);
    CHECK_CONTAINS(err.message, "model 'tiny' is busy");
    CHECK_CONTAINS(err.message, "retry in a few seconds");
    CHECK_CONTAINS(err.message, "no instance came free within 30 ms");
    rt_pool_stats st;
    rt_pool_stats_get(pool, &st);
    CHECK_INT(st.queued, 0);   /* the timed-out waiter left the queue */
    CHECK_INT(st.rejected, 1);

    /* One waiter fills the queue of one; the next is refused at once. */
    blocker_arg b = { pool, 1 };
    pthread_t t;
    pthread_create(&t, NULL, long_waiter, &b);
    wait_queued(pool, 1);
    mm_error_clear(&err);
    CHECK_INT(rt_pool_acquire(pool, 60000, &inst, &err), MM_EBUSY);
    CHECK_CONTAINS(err.message, "the wait queue is full");
    CHECK_CONTAINS(err.message, "queue_size (MODEL_QUEUE_SIZE)");
    rt_pool_release(pool, held);
    pthread_join(t, NULL);
    CHECK_INT(b.rc, 0);
    rt_pool_free(pool);

    /* queue_max 0: nobody waits. */
    CHECK_INT(rt_pool_new(&fake, NULL, 1, 0, "nowait", &pool, NULL), 0);
    CHECK_INT(rt_pool_acquire(pool, 0, &held, NULL), 0);
    CHECK_INT(rt_pool_acquire(pool, 60000, &inst, &err), MM_EBUSY);
    CHECK_CONTAINS(err.message, "no request may wait");
    rt_pool_release(pool, held);
    rt_pool_free(pool);
}

/* ---- a failed creation hands its slot to the oldest waiter ---- */

static atomic_int gate_open, gated_calls;

static int gated_new(void *user, void *model, void **inst, mm_error *err)
{
    (void)user;
    (void)model;
    if (atomic_fetch_add(&gated_calls, 1) == 0) {
        while (!atomic_load(&gate_open))
            sleep_ms(1);
        return mm_error_set(err, MM_ENOMEM, "first instance failed");
    }
    *inst = malloc(1);
    return 0;
}

static const rt_factory gated = { .instance_new = gated_new, .instance_free = fake_free };

static void *first_acquirer(void *arg)
{
    blocker_arg *b = arg;
    void *inst = NULL;
    b->rc = rt_pool_acquire(b->pool, 60000, &inst, NULL);
    return NULL;
}

static void test_failed_creation_wakes_waiter(void)
{
    rt_pool *pool = NULL;
    CHECK_INT(rt_pool_new(&gated, NULL, 1, 4, "g", &pool, NULL), 0);
    blocker_arg a = { pool, 1 }, b = { pool, 1 };
    pthread_t ta, tb;
    pthread_create(&ta, NULL, first_acquirer, &a);
    while (atomic_load(&gated_calls) == 0)
        sleep_ms(1);
    pthread_create(&tb, NULL, long_waiter, &b);   /* queues behind the creation */
    wait_queued(pool, 1);
    atomic_store(&gate_open, 1);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK_INT(a.rc, MM_ENOMEM);
    CHECK_INT(b.rc, 0);            /* it made the instance itself, long before 60 s */
    CHECK_INT(atomic_load(&gated_calls), 2);
    rt_pool_free(pool);
}

int main(void)
{
    test_lazy_creation();
    test_threads_bounded();
    test_fifo();
    test_timeout_and_full();
    test_failed_creation_wakes_waiter();
    return mmtest_finish();
}

/* pool.c - the engine's persistent thread pool.
 *
 * DESIGN: a call publishes (fn, arg) and bumps an atomic generation; workers
 * spin on it for a while (the forward pass issues calls back to back, so the
 * next one usually arrives within microseconds) and only then sleep on a
 * condition variable. The caller runs share 0 itself and spins until the
 * done counter shows every worker finished. The mutex is taken only to put
 * a worker to sleep or to wake sleeping ones, never on a busy pool. */
#include "engine/engine.h"

#include "core/core.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#define POOL_SPIN_ROUNDS 20000   /* yield-spins before a worker sleeps (~ms) */
#define POOL_PAUSE_ROUNDS 64     /* pause-spins before the first yield */

/* A spin-wait hint: on x86 `pause` lets the sibling hyperthread run and
 * avoids the memory-order flush when the awaited value changes. */
static inline void pool_relax(int spins)
{
    if (spins > POOL_PAUSE_ROUNDS) {
        sched_yield();
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

typedef struct pool_worker {
    engine_pool *pool;
    pthread_t    thread;
    int          ith;
} pool_worker;

struct engine_pool {
    int              n_threads;
    pool_worker     *workers;      /* n_threads - 1 */
    int              n_started;
    engine_task_fn   fn;
    void            *arg;
    atomic_uint      generation;   /* bumped once per engine_pool_run */
    atomic_int       n_done;       /* workers finished with the current generation */
    atomic_int       n_sleeping;
    atomic_bool      stop;
    pthread_mutex_t  lock;
    pthread_cond_t   wake;
};

static void *worker_main(void *p)
{
    pool_worker *w = p;
    engine_pool *pool = w->pool;
    /* 0, not a fresh load: a call may bump the counter before this thread runs */
    unsigned seen = 0;
    for (;;) {
        int spins = 0;
        unsigned gen;
        while ((gen = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen &&
               !atomic_load(&pool->stop)) {
            if (++spins < POOL_SPIN_ROUNDS) {
                pool_relax(spins);
                continue;
            }
            pthread_mutex_lock(&pool->lock);
            atomic_fetch_add(&pool->n_sleeping, 1);
            while (atomic_load(&pool->generation) == seen && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->wake, &pool->lock);
            atomic_fetch_sub(&pool->n_sleeping, 1);
            pthread_mutex_unlock(&pool->lock);
            spins = 0;
        }
        if (atomic_load(&pool->stop))
            return NULL;
        seen = gen;
        pool->fn(pool->arg, w->ith, pool->n_threads);
        atomic_fetch_add_explicit(&pool->n_done, 1, memory_order_release);
    }
}

int engine_pool_new(int n_threads, engine_pool **out, mm_error *err)
{
    *out = NULL;
    if (n_threads < 1)
        n_threads = 1;
    engine_pool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return mm_error_set(err, MM_ENOMEM, "out of memory creating the thread pool");
    pool->n_threads = n_threads;
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->n_done, 0);
    atomic_init(&pool->n_sleeping, 0);
    atomic_init(&pool->stop, false);
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    if (n_threads > 1) {
        pool->workers = calloc((size_t)n_threads - 1, sizeof *pool->workers);
        if (!pool->workers)
            goto fail_nomem;
        for (int i = 0; i < n_threads - 1; i++) {
            pool->workers[i].pool = pool;
            pool->workers[i].ith = i + 1;
            if (pthread_create(&pool->workers[i].thread, NULL, worker_main, &pool->workers[i]) != 0) {
                engine_pool_free(pool);
                return mm_error_set(err, MM_EINVAL, "cannot start %d engine threads", n_threads);
            }
            pool->n_started++;
        }
    }
    *out = pool;
    return 0;
fail_nomem:
    engine_pool_free(pool);
    return mm_error_set(err, MM_ENOMEM, "out of memory creating the thread pool");
}

void engine_pool_free(engine_pool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    atomic_store(&pool->stop, true);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->n_started; i++)
        pthread_join(pool->workers[i].thread, NULL);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->lock);
    free(pool->workers);
    free(pool);
}

int engine_pool_threads(const engine_pool *pool)
{
    return pool->n_threads;
}

void engine_pool_run(engine_pool *pool, engine_task_fn fn, void *arg)
{
    if (pool->n_threads == 1) {
        fn(arg, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->arg = arg;
    atomic_store_explicit(&pool->n_done, 0, memory_order_relaxed);
    atomic_fetch_add(&pool->generation, 1);   /* seq_cst: pairs with n_sleeping */
    if (atomic_load(&pool->n_sleeping) > 0) {
        pthread_mutex_lock(&pool->lock);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->lock);
    }
    fn(arg, 0, pool->n_threads);
    int spins = 0;
    while (atomic_load_explicit(&pool->n_done, memory_order_acquire) < pool->n_threads - 1)
        pool_relax(++spins);
}

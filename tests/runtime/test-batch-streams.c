/* test-batch-streams.c - concurrent requests on one model through the
 * manager and the real engine factory (pool_size 3: three slots of one
 * shared engine worker): 1, 2 and 3 greedy streams, each started once the
 * previous one has streamed its first piece, answer exactly what each
 * request answers alone; with three at once, a stop string ends one stream
 * where strstr finds it in its solo answer and a cancel flag ends another
 * early with a prefix of its solo answer, while the third is unaffected. */
// labels: model
#include "runtime/runtime.h"
#include "support/synth.h"
#include "support/test.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_STREAMS 3

static mm_manager *mgr;
static const char *prompts[N_STREAMS] = {
    "the cat sat on the mat and looked at the",
    "a long time ago in a land far away there",
    "one two three four five six",
};

typedef struct stream {
    int             idx;
    const char     *stop;             /* or NULL */
    bool            cancel_after_2;   /* set the cancel flag on the 2nd piece */
    atomic_bool     cancel;
    atomic_int      pieces;
    atomic_bool     done;
    mm_gen_result   res;
    int             rc;
} stream;

static int on_piece(const char *text, size_t len, void *user)
{
    (void)text;
    (void)len;
    stream *s = user;
    int n = atomic_fetch_add(&s->pieces, 1) + 1;
    if (s->cancel_after_2 && n == 2)
        atomic_store(&s->cancel, true);
    return 0;
}

static void *run_stream(void *arg)
{
    stream *s = arg;
    const char *stops[1] = { s->stop };
    mm_gen_request req = { .model = "synth", .prompt = prompts[s->idx], .max_tokens = 40,
                           .no_cache = true, .on_piece = on_piece, .piece_user = s,
                           .cancel = &s->cancel };
    if (s->stop) {
        req.stop = stops;
        req.n_stop = 1;
    }
    mm_error err = { 0 };
    s->rc = mm_manager_generate(mgr, &req, &s->res, &err);
    if (s->rc != 0)
        fprintf(stderr, "stream %d: %s\n", s->idx, err.message);
    atomic_store(&s->done, true);
    return NULL;
}

static void wait_first_piece(stream *s)
{
    struct timespec ts = { 0, 1000000L };
    for (int i = 0; i < 20000 && atomic_load(&s->pieces) == 0 && !atomic_load(&s->done); i++)
        nanosleep(&ts, NULL);
}

static void start_all(stream *st, int n, pthread_t *tid)
{
    for (int i = 0; i < n; i++) {
        pthread_create(&tid[i], NULL, run_stream, &st[i]);
        if (i + 1 < n)
            wait_first_piece(&st[i]);
    }
    for (int i = 0; i < n; i++)
        pthread_join(tid[i], NULL);
}

static void init_stream(stream *s, int idx)
{
    memset(s, 0, sizeof *s);
    s->idx = idx;
    atomic_init(&s->cancel, false);
    atomic_init(&s->pieces, 0);
    atomic_init(&s->done, false);
}

int main(void)
{
    char *tmp = mmtest_tmpdir();
    char *dir = mm_path_join(tmp, "models");
    mm_mkdirs(dir, NULL);
    char *path = mm_path_join(dir, "synth.gguf");
    mmtest_synth_params params;
    mmtest_synth_default_params(&params);
    params.weight_scale = 0.5f;
    params.n_vocab = 600;
    CHECK_INT(mmtest_synth_model(&params, path), 0);
    const char *extra[] = { "default_model=synth", "pool_size=3", "threads=2", NULL };
    mm_config *cfg = mmtest_config(tmp, extra);
    mm_error err = { 0 };
    CHECK_INT(mm_manager_open(cfg, &mgr, &err), 0);
    if (!mgr)
        return mmtest_finish();

    /* alone, one after the other */
    char *solo[N_STREAMS];
    for (int i = 0; i < N_STREAMS; i++) {
        stream s;
        init_stream(&s, i);
        run_stream(&s);
        CHECK_INT(s.rc, 0);
        solo[i] = mm_strdup(s.res.text ? s.res.text : "");
        CHECK(strlen(solo[i]) > 8);
        mm_gen_result_clear(&s.res);
    }

    for (int n = 1; n <= N_STREAMS; n++) {
        stream st[N_STREAMS];
        pthread_t tid[N_STREAMS];
        for (int i = 0; i < n; i++)
            init_stream(&st[i], i);
        start_all(st, n, tid);
        for (int i = 0; i < n; i++) {
            CHECK_INT(st[i].rc, 0);
            CHECK_STR(st[i].res.text, solo[i]);
            mm_gen_result_clear(&st[i].res);
        }
    }

    /* per-stream stop string and cancellation, all three at once */
    stream st[N_STREAMS];
    pthread_t tid[N_STREAMS];
    for (int i = 0; i < N_STREAMS; i++)
        init_stream(&st[i], i);
    char stop[4] = { solo[0][4], solo[0][5], solo[0][6], 0 };
    st[0].stop = stop;
    st[1].cancel_after_2 = true;
    start_all(st, N_STREAMS, tid);
    CHECK_INT(st[0].rc, 0);
    const char *cut = strstr(solo[0], stop);
    CHECK(cut != NULL);
    if (cut && st[0].res.text) {
        CHECK_INT(strlen(st[0].res.text), (size_t)(cut - solo[0]));
        CHECK(strncmp(st[0].res.text, solo[0], (size_t)(cut - solo[0])) == 0);
    }
    CHECK_STR(st[0].res.finish_reason, "stop");
    CHECK_INT(st[1].rc, 0);
    CHECK_STR(st[1].res.finish_reason, "cancelled");
    if (st[1].res.text) {
        CHECK(strlen(st[1].res.text) < strlen(solo[1]));
        CHECK(strncmp(st[1].res.text, solo[1], strlen(st[1].res.text)) == 0);
    }
    CHECK_INT(st[2].rc, 0);
    CHECK_STR(st[2].res.text, solo[2]);
    for (int i = 0; i < N_STREAMS; i++)
        mm_gen_result_clear(&st[i].res);

    for (int i = 0; i < N_STREAMS; i++)
        free(solo[i]);
    mm_manager_close(mgr);
    mm_config_free(cfg);
    mmtest_rmtree(tmp);
    free(path);
    free(dir);
    free(tmp);
    return mmtest_finish();
}

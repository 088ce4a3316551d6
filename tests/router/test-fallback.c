/* test-fallback.c - the circuit breaker (closed -> open -> half-open ->
 * closed/open on an injected clock), back-off bounds, and router_run over
 * scripted backends: retries, fallback with the tried-list, errors that stop
 * the chain, and no retry once a piece was streamed. */
#include "router/router.h"
#include "support/test.h"

#include <stdlib.h>

/* ---- a fake clock: sleeping advances time and is recorded ---- */

typedef struct fake_clock {
    int64_t now;
    int64_t slept[16];
    int     n_slept;
} fake_clock;

static int64_t fake_now(void *user)
{
    return ((fake_clock *)user)->now;
}

static void fake_sleep(void *user, int64_t ms)
{
    fake_clock *c = user;
    if (c->n_slept < 16)
        c->slept[c->n_slept++] = ms;
    c->now += ms;
}

/* ---- a scripted backend: answers from a list of result codes ---- */

typedef struct script_backend {
    backend base;
    int     codes[8];       /* per call; past the end: the last one */
    int     n_codes;
    int     calls;
    int     stream_before_fail; /* pieces streamed before a failure */
    const char *answer;
} script_backend;

static int script_generate(backend *b, const backend_request *req, backend_token_fn on_token,
                           void *user, const atomic_bool *cancel, backend_result *res,
                           mm_error *err)
{
    script_backend *s = (script_backend *)b;
    int idx = s->calls < s->n_codes ? s->calls : s->n_codes - 1;
    int code = s->codes[idx];
    s->calls++;
    if (code != 0) {
        for (int i = 0; i < s->stream_before_fail && on_token; i++)
            on_token("x", 1, user);
        return mm_error_set(err, code, "%s: HTTP %d from the remote (calls so far %d)",
                            req->model, code == MM_EAUTH ? 401 : 500, s->calls);
    }
    if (on_token)
        on_token(s->answer, strlen(s->answer), user);
    res->text = mm_strdup(s->answer);
    res->text_len = strlen(s->answer);
    res->completion_tokens = 10;
    res->ttft_ms = 50.0;
    res->total_ms = 150.0;      /* 10 tokens in 100 ms: 100 tokens/s */
    return 0;
}

static void script_close(backend *b)
{
    (void)b;
}

static const backend_ops script_ops = { "test", script_generate, script_close, NULL };

static void script_init(script_backend *s, const char *name, const int *codes, int n,
                        const char *answer)
{
    memset(s, 0, sizeof *s);
    s->base.ops = &script_ops;
    s->base.name = name;
    memcpy(s->codes, codes, (size_t)n * sizeof *codes);
    s->n_codes = n;
    s->answer = answer;
}

static void test_breaker(void)
{
    router_breaker b;
    router_breaker_init(&b, 2, 1000, 5000);
    CHECK(router_breaker_available(&b, 0));
    /* Two failures 1500 ms apart: the window holds only one. */
    router_breaker_record(&b, false, 0);
    router_breaker_record(&b, false, 1500);
    CHECK_INT(atomic_load(&b.state), ROUTER_BREAKER_CLOSED);
    /* A second failure within 1000 ms of the last one opens it. */
    router_breaker_record(&b, false, 2000);
    CHECK_INT(atomic_load(&b.state), ROUTER_BREAKER_OPEN);
    CHECK(!router_breaker_available(&b, 2001));
    CHECK(!router_breaker_acquire(&b, 6999));
    /* Cooldown over: exactly one probe goes. */
    CHECK(router_breaker_available(&b, 7000));
    CHECK(router_breaker_acquire(&b, 7000));
    CHECK_INT(atomic_load(&b.state), ROUTER_BREAKER_HALF_OPEN);
    CHECK(!router_breaker_available(&b, 7001));
    CHECK(!router_breaker_acquire(&b, 7001));
    /* The probe fails: open again, for a full cooldown from now. */
    router_breaker_record(&b, false, 7100);
    CHECK_INT(atomic_load(&b.state), ROUTER_BREAKER_OPEN);
    CHECK(!router_breaker_available(&b, 12000));
    CHECK(router_breaker_acquire(&b, 12100));
    /* This probe succeeds: closed, with a clean failure window. */
    router_breaker_record(&b, true, 12200);
    CHECK_INT(atomic_load(&b.state), ROUTER_BREAKER_CLOSED);
    router_breaker_record(&b, false, 12300);
    CHECK_INT(atomic_load(&b.state), ROUTER_BREAKER_CLOSED);
    /* A probe that ends without a verdict (a bad request) gives its slot
     * back: the next request probes. */
    router_breaker_record(&b, false, 12400);
    CHECK_INT(atomic_load(&b.state), ROUTER_BREAKER_OPEN);
    CHECK(router_breaker_acquire(&b, 17400));
    CHECK(!router_breaker_acquire(&b, 17401));
    router_breaker_release(&b);
    CHECK_INT(atomic_load(&b.state), ROUTER_BREAKER_OPEN);
    CHECK(router_breaker_acquire(&b, 17402));
    CHECK_INT(atomic_load(&b.state), ROUTER_BREAKER_HALF_OPEN);
    CHECK_STR(router_breaker_state_name(ROUTER_BREAKER_HALF_OPEN), "half-open");
    router_breaker_destroy(&b);
}

static void test_backoff(void)
{
    router_retry retry = { .retries = 5, .backoff_base_ms = 100, .backoff_max_ms = 1000 };
    uint64_t seed = 42;
    bool varied = false;
    int64_t first = -1;
    for (int i = 0; i < 50; i++) {
        int64_t d1 = router_backoff_ms(&retry, 1, &seed);
        int64_t d3 = router_backoff_ms(&retry, 3, &seed);
        int64_t d9 = router_backoff_ms(&retry, 9, &seed);
        CHECK(d1 >= 50 && d1 <= 100);     /* 100 * [0.5, 1] */
        CHECK(d3 >= 200 && d3 <= 400);    /* 400 * [0.5, 1] */
        CHECK(d9 >= 500 && d9 <= 1000);   /* capped at 1000 */
        if (first >= 0 && d1 != first)
            varied = true;
        first = d1;
    }
    CHECK(varied);
}

static router_profile profiles[3];
static script_backend backends[3];

static void setup(const int *codes_a, int na, const int *codes_b, int nb)
{
    static const int ok[] = { 0 };
    const char *names[3] = { "a", "b", "c" };
    for (int i = 0; i < 3; i++) {
        router_profile_destroy(&profiles[i]);
        router_profile_init(&profiles[i], names[i], names[i], 2, 60000, 10000);
        profiles[i].caps = ROUTER_CAP_CHAT;
        profiles[i].context_length = 4096;
        profiles[i].backend = &backends[i].base;
    }
    script_init(&backends[0], "a", codes_a, na, "from a");
    script_init(&backends[1], "b", codes_b, nb, "from b");
    script_init(&backends[2], "c", ok, 1, "from c");
}

static int collect(const char *piece, size_t len, void *user)
{
    mm_buf *b = user;
    return mm_buf_append(b, piece, len);
}

static void test_run(void)
{
    static const int fail500[] = { MM_EIO };
    static const int ok[] = { 0 };
    static const int auth[] = { MM_EAUTH };
    static const int bad[] = { MM_EINVAL };
    fake_clock clock = { .now = 1000 };
    router_clock rc = { fake_now, fake_sleep, &clock };
    router_retry retry = { .retries = 1, .backoff_base_ms = 100, .backoff_max_ms = 1000,
                           .jitter_seed = 7 };
    backend_request req = { .prompt = "hi" };
    backend_result res;
    router_outcome out;
    mm_error err = { 0 };
    size_t chain[3] = { 0, 1, 2 };

    /* a fails twice (one retry after a back-off), b answers. */
    setup(fail500, 1, ok, 1);
    CHECK_INT(router_run(profiles, 3, chain, 3, &retry, &rc, &req, NULL, NULL, NULL, &res, &out,
                         &err), 0);
    CHECK(out.answered);
    CHECK_INT(out.answered_by, 1);
    CHECK_STR(res.text, "from b");
    CHECK_INT(out.n_tried, 2);
    CHECK_INT(out.tried[0].profile, 0);
    CHECK_INT(out.tried[0].tries, 2);
    CHECK_INT(out.tried[0].code, MM_EIO);
    CHECK_CONTAINS(out.tried[0].reason, "a: HTTP 500");
    CHECK_INT(out.tried[1].tries, 1);
    CHECK_INT(out.tried[1].code, 0);
    CHECK_INT(backends[0].calls, 2);
    CHECK_INT(clock.n_slept, 1);
    CHECK(clock.slept[0] >= 50 && clock.slept[0] <= 100);
    CHECK_INT(atomic_load(&profiles[0].live.in_flight), 0);
    /* b's EWMA took its first sample as is: 50 ms, 10 tokens / 100 ms. */
    CHECK_NEAR(atomic_load(&profiles[1].live.ttft_ms), 50.0, 1e-9);
    CHECK_NEAR(atomic_load(&profiles[1].live.tokens_per_s), 100.0, 1e-9);
    /* Two failures opened a's breaker (allowed_fails 2). */
    CHECK_INT(atomic_load(&profiles[0].breaker.state), ROUTER_BREAKER_OPEN);
    backend_result_free(&res);

    /* Next request: a is skipped without a call, b answers. */
    CHECK_INT(router_run(profiles, 3, chain, 3, &retry, &rc, &req, NULL, NULL, NULL, &res, &out,
                         &err), 0);
    CHECK_INT(out.answered_by, 1);
    CHECK_INT(out.tried[0].tries, 0);
    CHECK_STR(out.tried[0].reason, "circuit open (cooling down)");
    CHECK_INT(backends[0].calls, 2);
    backend_result_free(&res);

    /* An auth failure is not retried on a but falls back to b. */
    setup(auth, 1, ok, 1);
    CHECK_INT(router_run(profiles, 3, chain, 3, &retry, &rc, &req, NULL, NULL, NULL, &res, &out,
                         &err), 0);
    CHECK_INT(backends[0].calls, 1);
    CHECK_INT(out.tried[0].code, MM_EAUTH);
    CHECK_INT(out.answered_by, 1);
    backend_result_free(&res);

    /* A bad request stops at once: no retry, no fallback. */
    setup(bad, 1, ok, 1);
    CHECK_INT(router_run(profiles, 3, chain, 3, &retry, &rc, &req, NULL, NULL, NULL, &res, &out,
                         &err), MM_EINVAL);
    CHECK_INT(out.n_tried, 1);
    CHECK_INT(backends[1].calls, 0);
    CHECK(res.text == NULL);

    /* Everyone fails: the error says so and names the last reason. */
    setup(fail500, 1, fail500, 1);
    size_t two[2] = { 0, 1 };
    CHECK_INT(router_run(profiles, 3, two, 2, &retry, &rc, &req, NULL, NULL, NULL, &res, &out,
                         &err), MM_EIO);
    CHECK_INT(out.n_tried, 2);
    CHECK(!out.answered);
    CHECK_CONTAINS(err.message, "all 2 models in the fallback chain failed; last: b: HTTP 500");

    /* Streaming: a fails after sending a piece; the client already has it,
     * so nothing is retried and b is never asked. */
    setup(fail500, 1, ok, 1);
    backends[0].stream_before_fail = 1;
    mm_buf got;
    mm_buf_init(&got, 1024);
    req.stream = true;
    CHECK_INT(router_run(profiles, 3, chain, 3, &retry, &rc, &req, collect, &got, NULL, &res, &out,
                         &err), MM_EIO);
    CHECK_INT(backends[0].calls, 1);
    CHECK_INT(backends[1].calls, 0);
    CHECK_STR(got.data, "x");
    mm_buf_free(&got);

    /* Streaming that succeeds forwards the pieces. */
    setup(ok, 1, ok, 1);
    mm_buf_init(&got, 1024);
    CHECK_INT(router_run(profiles, 3, chain, 3, &retry, &rc, &req, collect, &got, NULL, &res, &out,
                         &err), 0);
    CHECK_STR(got.data, "from a");
    CHECK_INT(res.pieces_delivered, 1);
    mm_buf_free(&got);
    backend_result_free(&res);

    /* A cancelled request stops before the first call. */
    atomic_bool cancel = true;
    setup(ok, 1, ok, 1);
    CHECK_INT(router_run(profiles, 3, chain, 3, &retry, &rc, &req, NULL, NULL, &cancel, &res,
                         &out, &err), MM_ECANCELED);
    CHECK_INT(backends[0].calls, 0);
    CHECK_INT(backends[1].calls, 0);

    for (int i = 0; i < 3; i++)
        router_profile_destroy(&profiles[i]);
}

int main(void)
{
    test_breaker();
    test_backoff();
    test_run();
    return mmtest_finish();
}

/* test-pick.c - strategies on crafted profiles (which model each strategy
 * must choose, worked out by hand from the figures below), capability and
 * context exclusion with the error naming the unmet requirement, the
 * context-window fallback, even load over two deployments, and the fallback
 * chain's order. */
#include "router/router.h"
#include "support/test.h"

enum { SMALL, MID, BIG, N_PROFILES };

static router_profile profiles[N_PROFILES];

/* small: tier 1, local, 4096 ctx, chat+completion, free.
 * mid:   tier 3, local, 8192 ctx, chat+completion, free.
 * big:   tier 5, remote, 128000 ctx, chat+tools+json+vision, 3/15 per M. */
static void setup(void)
{
    for (int i = 0; i < N_PROFILES; i++)
        router_profile_destroy(&profiles[i]);
    router_profile_init(&profiles[SMALL], "small", "local", 3, 60000, 30000);
    profiles[SMALL].caps = ROUTER_CAP_CHAT | ROUTER_CAP_COMPLETION;
    profiles[SMALL].quality_tier = 1;
    profiles[SMALL].context_length = 4096;
    profiles[SMALL].fallbacks[0] = "mid";
    profiles[SMALL].n_fallbacks = 1;

    router_profile_init(&profiles[MID], "mid", "local", 3, 60000, 30000);
    profiles[MID].caps = ROUTER_CAP_CHAT | ROUTER_CAP_COMPLETION;
    profiles[MID].quality_tier = 3;
    profiles[MID].context_length = 8192;

    router_profile_init(&profiles[BIG], "big", "cloud", 3, 60000, 30000);
    profiles[BIG].remote = true;
    profiles[BIG].caps = ROUTER_CAP_CHAT | ROUTER_CAP_TOOLS | ROUTER_CAP_JSON | ROUTER_CAP_VISION;
    profiles[BIG].quality_tier = 5;
    profiles[BIG].context_length = 128000;
    profiles[BIG].cost_in_per_m = 3.0;
    profiles[BIG].cost_out_per_m = 15.0;
    profiles[BIG].fallbacks[0] = "mid";
    profiles[BIG].n_fallbacks = 1;
}

static router_features request(const char *text, unsigned caps, int64_t prompt_tokens)
{
    router_request req = { .text = text, .text_len = strlen(text), .caps = caps,
                           .prompt_tokens = prompt_tokens, .n_messages = 1 };
    router_features f;
    router_features_compute(&req, &f);
    return f;
}

static int pick(router_strategy s, const router_features *f, size_t *chosen, mm_error *err)
{
    static router_state state;
    router_policy policy = { .strategy = s, .complexity_threshold = 0.5, .quality_floor = 1 };
    router_eval evals[N_PROFILES];
    return router_pick(&policy, &state, f, profiles, N_PROFILES, 0, chosen, evals, err);
}

static void test_auto(void)
{
    setup();
    router_state state = { 0 };
    router_eval evals[N_PROFILES];
    size_t chosen = 99;
    router_features simple = request("What is the capital of France?", ROUTER_CAP_CHAT, 0);
    router_features hard = request("x", ROUTER_CAP_CHAT, 0);
    hard.complexity = 0.9;

    /* Simple, floor 1: small and mid cost 0 and tie on load and latency;
     * the first wins. Floor 3 leaves only mid among the free ones. */
    router_policy policy = { .strategy = ROUTER_STRATEGY_AUTO, .complexity_threshold = 0.5,
                             .quality_floor = 1 };
    CHECK_INT(router_pick(&policy, &state, &simple, profiles, N_PROFILES, 0, &chosen, evals, NULL), 0);
    CHECK_INT(chosen, SMALL);
    policy.quality_floor = 3;
    CHECK_INT(router_pick(&policy, &state, &simple, profiles, N_PROFILES, 0, &chosen, evals, NULL), 0);
    CHECK_INT(chosen, MID);
    /* Floor 5: big is the only one at the floor, though not free. */
    policy.quality_floor = 5;
    CHECK_INT(router_pick(&policy, &state, &simple, profiles, N_PROFILES, 0, &chosen, evals, NULL), 0);
    CHECK_INT(chosen, BIG);
    /* The request's cost on big: 8 tokens * 3/M + 256 * 15/M ("What is the
     * capital of France?" is 30 bytes -> 8 tokens). */
    CHECK_NEAR(evals[BIG].cost, (8 * 3.0 + 256 * 15.0) / 1e6, 1e-15);
    CHECK_NEAR(evals[SMALL].cost, 0.0, 1e-15);
    /* Complex: the best tier. */
    policy.quality_floor = 1;
    CHECK_INT(router_pick(&policy, &state, &hard, profiles, N_PROFILES, 0, &chosen, evals, NULL), 0);
    CHECK_INT(chosen, BIG);

    /* Load breaks the tie between small and mid. */
    atomic_store(&profiles[SMALL].live.in_flight, 2);
    CHECK_INT(router_pick(&policy, &state, &simple, profiles, N_PROFILES, 0, &chosen, evals, NULL), 0);
    CHECK_INT(chosen, MID);
    /* A degraded model goes behind a healthy one. */
    atomic_store(&profiles[SMALL].live.in_flight, 0);
    atomic_store(&profiles[SMALL].live.health, ROUTER_HEALTH_DEGRADED);
    CHECK_INT(router_pick(&policy, &state, &simple, profiles, N_PROFILES, 0, &chosen, evals, NULL), 0);
    CHECK_INT(chosen, MID);
}

static void test_other_strategies(void)
{
    setup();
    size_t chosen = 99;
    router_features f = request("hello", ROUTER_CAP_CHAT, 0);

    CHECK_INT(pick(ROUTER_STRATEGY_COST, &f, &chosen, NULL), 0);
    CHECK(chosen == SMALL || chosen == MID);

    /* big: 100 ms + 256 tokens at 100/s = 2660 ms; the local ones have no
     * samples: 500 ms + 256 at 20/s = 13300 ms. */
    atomic_store(&profiles[BIG].live.ttft_ms, 100.0);
    atomic_store(&profiles[BIG].live.tokens_per_s, 100.0);
    router_eval evals[N_PROFILES];
    router_state state = { 0 };
    router_policy policy = { .strategy = ROUTER_STRATEGY_LATENCY };
    CHECK_INT(router_pick(&policy, &state, &f, profiles, N_PROFILES, 0, &chosen, evals, NULL), 0);
    CHECK_INT(chosen, BIG);
    CHECK_NEAR(evals[BIG].latency_ms, 2660.0, 1e-9);
    CHECK_NEAR(evals[SMALL].latency_ms, 13300.0, 1e-9);

    atomic_store(&profiles[SMALL].live.in_flight, 3);
    atomic_store(&profiles[MID].live.in_flight, 1);
    atomic_store(&profiles[MID].live.queue_len, 1);
    atomic_store(&profiles[BIG].live.in_flight, 3);
    CHECK_INT(pick(ROUTER_STRATEGY_LEAST_BUSY, &f, &chosen, NULL), 0);
    CHECK_INT(chosen, MID);

    /* Round-robin visits every eligible profile once per cycle. */
    int seen[N_PROFILES] = { 0 };
    for (int i = 0; i < 3 * N_PROFILES; i++) {
        CHECK_INT(pick(ROUTER_STRATEGY_ROUND_ROBIN, &f, &chosen, NULL), 0);
        seen[chosen]++;
    }
    for (int i = 0; i < N_PROFILES; i++)
        CHECK_INT(seen[i], 3);

    router_policy fixed = { .strategy = ROUTER_STRATEGY_FIXED, .fixed_model = "mid" };
    CHECK_INT(router_pick(&fixed, &state, &f, profiles, N_PROFILES, 0, &chosen, evals, NULL), 0);
    CHECK_INT(chosen, MID);
    CHECK_INT(evals[SMALL].excluded, ROUTER_EX_NOT_NAMED);
    mm_error err = { 0 };
    fixed.fixed_model = "nope";
    CHECK_INT(router_pick(&fixed, &state, &f, profiles, N_PROFILES, 0, &chosen, evals, &err),
              MM_ENOTFOUND);
    CHECK_STR(err.message, "no model named 'nope' (see 'modelmgr list')");

    router_strategy s;
    CHECK_INT(router_strategy_parse("least-busy", &s), 0);
    CHECK_INT(s, ROUTER_STRATEGY_LEAST_BUSY);
    CHECK_INT(router_strategy_parse("fastest", &s), MM_EINVAL);
    CHECK_STR(router_strategy_name(ROUTER_STRATEGY_ROUND_ROBIN), "round-robin");
}

static void test_exclusion(void)
{
    setup();
    size_t chosen = 99;
    mm_error err = { 0 };
    router_eval evals[N_PROFILES];
    router_state state = { 0 };
    router_policy policy = { .strategy = ROUTER_STRATEGY_AUTO, .complexity_threshold = 0.5,
                             .quality_floor = 1 };

    /* Tools: only big, even for a trivial prompt under auto. */
    router_features f = request("hi", ROUTER_CAP_CHAT | ROUTER_CAP_TOOLS, 0);
    CHECK_INT(router_pick(&policy, &state, &f, profiles, N_PROFILES, 0, &chosen, evals, &err), 0);
    CHECK_INT(chosen, BIG);
    CHECK_INT(evals[SMALL].excluded, ROUTER_EX_CAPABILITY);
    CHECK_INT(evals[SMALL].missing_caps, ROUTER_CAP_TOOLS);
    char why[128];
    router_exclusion_format(&evals[SMALL], &profiles[SMALL], &f, why, sizeof why);
    CHECK_STR(why, "missing capability tools");

    f = request("hi", ROUTER_CAP_EMBEDDINGS, 0);
    CHECK_INT(router_pick(&policy, &state, &f, profiles, N_PROFILES, 0, &chosen, evals, &err),
              MM_ENOTFOUND);
    CHECK_STR(err.message, "no model supports embeddings (required by the request)");

    /* 200000 + 256 tokens fit nowhere. */
    f = request("hi", ROUTER_CAP_CHAT, 200000);
    CHECK_INT(router_pick(&policy, &state, &f, profiles, N_PROFILES, 0, &chosen, evals, &err),
              MM_ENOTFOUND);
    CHECK_STR(err.message, "no model has a context window of 200256 tokens "
              "(prompt 200000 + max_tokens 256; the largest is 128000)");

    /* 6000 tokens: small's 4096 is too short; mid takes it. */
    f = request("hi", ROUTER_CAP_CHAT, 6000);
    CHECK_INT(router_pick(&policy, &state, &f, profiles, N_PROFILES, 0, &chosen, evals, &err), 0);
    CHECK_INT(chosen, MID);
    router_exclusion_format(&evals[SMALL], &profiles[SMALL], &f, why, sizeof why);
    CHECK_STR(why, "context 4096 < 6256 tokens needed");

    /* Completion + 20000 tokens: big has the context, mid the capability. */
    f = request("hi", ROUTER_CAP_COMPLETION, 20000);
    CHECK_INT(router_pick(&policy, &state, &f, profiles, N_PROFILES, 0, &chosen, evals, &err),
              MM_ENOTFOUND);
    CHECK_STR(err.message, "no single model has both the capabilities 'completion' and a "
              "context window of 20256 tokens");

    /* Context-window fallback: "small" named, too short, its fallback mid. */
    router_policy fixed = { .strategy = ROUTER_STRATEGY_FIXED, .fixed_model = "small" };
    f = request("hi", ROUTER_CAP_CHAT, 6000);
    CHECK_INT(router_pick(&fixed, &state, &f, profiles, N_PROFILES, 0, &chosen, evals, &err), 0);
    CHECK_INT(chosen, MID);

    /* Tools needed, big's circuit open and then its health down: busy. */
    f = request("hi", ROUTER_CAP_TOOLS, 0);
    for (int i = 0; i < 3; i++)
        router_breaker_record(&profiles[BIG].breaker, false, 1000);
    CHECK_INT(router_pick(&policy, &state, &f, profiles, N_PROFILES, 2000, &chosen, evals, &err),
              MM_EBUSY);
    CHECK_INT(evals[BIG].excluded, ROUTER_EX_BREAKER);
    CHECK_CONTAINS(err.message, "circuit open or health down");
    /* After the 30 s cooldown a probe may go. */
    CHECK_INT(router_pick(&policy, &state, &f, profiles, N_PROFILES, 31000, &chosen, evals, &err), 0);
    CHECK_INT(chosen, BIG);
    atomic_store(&profiles[BIG].live.health, ROUTER_HEALTH_DOWN);
    CHECK_INT(router_pick(&policy, &state, &f, profiles, N_PROFILES, 31000, &chosen, evals, &err),
              MM_EBUSY);
    CHECK_INT(evals[BIG].excluded, ROUTER_EX_HEALTH);

    /* A model that cannot run at all is never picked. */
    setup();
    profiles[SMALL].excluded = "not downloaded";
    profiles[MID].excluded = "not downloaded";
    f = request("hi", ROUTER_CAP_CHAT, 0);
    CHECK_INT(router_pick(&policy, &state, &f, profiles, N_PROFILES, 0, &chosen, evals, &err), 0);
    CHECK_INT(chosen, BIG);
    CHECK_INT(router_pick(&policy, &state, &f, profiles, 0, 0, &chosen, evals, &err), MM_ENOTFOUND);
    CHECK_CONTAINS(err.message, "no models to route to");
}

static void test_deployments(void)
{
    router_profile dep[2];
    router_profile_init(&dep[0], "m", "a", 3, 1000, 1000);
    router_profile_init(&dep[1], "m", "b", 3, 1000, 1000);
    for (int i = 0; i < 2; i++) {
        dep[i].caps = ROUTER_CAP_CHAT;
        dep[i].context_length = 8192;
    }
    router_features f = request("hi", ROUTER_CAP_CHAT, 0);
    router_state state = { 0 };
    router_eval evals[2];
    size_t chosen = 9;
    int count[2] = { 0, 0 };
    /* Requests that stay in flight: equal weights share them evenly. */
    for (router_strategy s = ROUTER_STRATEGY_AUTO; s <= ROUTER_STRATEGY_LEAST_BUSY; s++) {
        router_policy policy = { .strategy = s, .complexity_threshold = 0.5, .quality_floor = 1 };
        count[0] = count[1] = 0;
        atomic_store(&dep[0].live.in_flight, 0);
        atomic_store(&dep[1].live.in_flight, 0);
        for (int i = 0; i < 10; i++) {
            CHECK_INT(router_pick(&policy, &state, &f, dep, 2, 0, &chosen, evals, NULL), 0);
            count[chosen]++;
            atomic_fetch_add(&dep[chosen].live.in_flight, 1);
        }
        CHECK_INT(count[0], 5);
        CHECK_INT(count[1], 5);
    }
    /* Weight 2 against 1: load is in_flight / weight, so 9 picks go 6 / 3. */
    dep[0].weight = 2.0;
    router_policy policy = { .strategy = ROUTER_STRATEGY_LEAST_BUSY };
    count[0] = count[1] = 0;
    atomic_store(&dep[0].live.in_flight, 0);
    atomic_store(&dep[1].live.in_flight, 0);
    for (int i = 0; i < 9; i++) {
        CHECK_INT(router_pick(&policy, &state, &f, dep, 2, 0, &chosen, evals, NULL), 0);
        count[chosen]++;
        atomic_fetch_add(&dep[chosen].live.in_flight, 1);
    }
    CHECK_INT(count[0], 6);
    CHECK_INT(count[1], 3);
    router_profile_destroy(&dep[0]);
    router_profile_destroy(&dep[1]);
}

static void test_chain(void)
{
    setup();
    router_policy policy = { .strategy = ROUTER_STRATEGY_AUTO };
    router_features f = request("hi", ROUTER_CAP_CHAT, 0);
    const char *defaults[] = { "small", "mid" };
    size_t chain[ROUTER_CHAIN_MAX];
    /* big's own fallback (mid), the default fallbacks (small; mid again is
     * skipped), the default model (small again: skipped). */
    size_t len = router_chain_build(&policy, &f, profiles, N_PROFILES, BIG, defaults, 2, "small",
                                    0, chain, ROUTER_CHAIN_MAX);
    CHECK_INT(len, 3);
    CHECK_INT(chain[0], BIG);
    CHECK_INT(chain[1], MID);
    CHECK_INT(chain[2], SMALL);

    /* 6000 tokens: small cannot hold it and drops out of the chain. */
    f = request("hi", ROUTER_CAP_CHAT, 6000);
    len = router_chain_build(&policy, &f, profiles, N_PROFILES, BIG, defaults, 2, "small",
                             0, chain, ROUTER_CHAIN_MAX);
    CHECK_INT(len, 2);
    CHECK_INT(chain[1], MID);

    /* The bound holds. */
    f = request("hi", ROUTER_CAP_CHAT, 0);
    len = router_chain_build(&policy, &f, profiles, N_PROFILES, BIG, defaults, 2, "small",
                             0, chain, 2);
    CHECK_INT(len, 2);
}

/* Without an evaluation array a pick evaluates where it looks: the same
 * choices and errors. */
static void test_without_evals(void)
{
    setup();
    atomic_store(&profiles[MID].live.in_flight, 1);
    atomic_store(&profiles[BIG].live.ttft_ms, 50.0);
    const int64_t prompt_tokens[] = { 0, 6000, 200000 };
    const unsigned caps[] = { ROUTER_CAP_CHAT, ROUTER_CAP_TOOLS, ROUTER_CAP_EMBEDDINGS };
    for (int s = 0; s < ROUTER_N_STRATEGIES; s++)
        for (int t = 0; t < 3; t++)
            for (int k = 0; k < 3; k++) {
                router_features f = request("Explain why?", caps[k], prompt_tokens[t]);
                router_policy policy = { .strategy = (router_strategy)s,
                                         .complexity_threshold = 0.5, .quality_floor = 2,
                                         .fixed_model = "small" };
                router_state s1 = { 0 }, s2 = { 0 };
                router_eval evals[N_PROFILES];
                mm_error e1 = { 0 }, e2 = { 0 };
                size_t c1 = 99, c2 = 99;
                int r1 = router_pick(&policy, &s1, &f, profiles, N_PROFILES, 0, &c1, evals, &e1);
                int r2 = router_pick(&policy, &s2, &f, profiles, N_PROFILES, 0, &c2, NULL, &e2);
                CHECK_INT(r2, r1);
                CHECK_INT(c2, c1);
                CHECK_STR(e2.message, e1.message);
            }
}

static void test_ewma(void)
{
    router_live live;
    memset(&live, 0, sizeof live);
    router_live_observe(&live, 100.0, 10.0);      /* first samples taken as they are */
    CHECK_NEAR(atomic_load(&live.ttft_ms), 100.0, 1e-12);
    CHECK_NEAR(atomic_load(&live.tokens_per_s), 10.0, 1e-12);
    router_live_observe(&live, 200.0, 0.0);       /* 100 + 0.2 * (200 - 100); no tps sample */
    CHECK_NEAR(atomic_load(&live.ttft_ms), 120.0, 1e-12);
    CHECK_NEAR(atomic_load(&live.tokens_per_s), 10.0, 1e-12);
    router_live_observe(&live, 0.0, 20.0);        /* 120 + 0.2 * (0.001 - 120); 10 + 0.2 * 10 */
    CHECK_NEAR(atomic_load(&live.ttft_ms), 96.0002, 1e-9);
    CHECK_NEAR(atomic_load(&live.tokens_per_s), 12.0, 1e-12);
}

static void test_tiers(void)
{
    CHECK_INT(router_tier_from_params(0), 1);
    CHECK_INT(router_tier_from_params(500000000ull), 1);
    CHECK_INT(router_tier_from_params(1500000000ull), 2);
    CHECK_INT(router_tier_from_params(7000000000ull), 3);
    CHECK_INT(router_tier_from_params(13000000000ull), 4);
    CHECK_INT(router_tier_from_params(70000000000ull), 5);
}

int main(void)
{
    test_auto();
    test_other_strategies();
    test_exclusion();
    test_deployments();
    test_chain();
    test_without_evals();
    test_ewma();
    test_tiers();
    for (int i = 0; i < N_PROFILES; i++)
        router_profile_destroy(&profiles[i]);
    return mmtest_finish();
}

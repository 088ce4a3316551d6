/* router.c - benchmark: median time of one routing decision (router_pick over
 * 20 candidates, auto strategy) and of feature extraction for a 2 KB prompt.
 * Target: a decision under 5 us. Prints figures; never fails. */
#include "router/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_CANDIDATES 20
#define ROUNDS 2001
#define BATCH 100

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(void)
{
    static router_profile profiles[N_CANDIDATES];
    static char names[N_CANDIDATES][16];
    for (int i = 0; i < N_CANDIDATES; i++) {
        snprintf(names[i], sizeof names[i], "model-%d", i);
        router_profile_init(&profiles[i], names[i], i % 2 ? "remote" : "local", 3, 60000, 30000);
        profiles[i].caps = ROUTER_CAP_CHAT | ROUTER_CAP_COMPLETION | (i % 3 ? ROUTER_CAP_TOOLS : 0);
        profiles[i].quality_tier = 1 + i % 5;
        profiles[i].context_length = (uint32_t)(2048u << (i % 5));
        profiles[i].cost_in_per_m = i % 2 ? 0.5 * i : 0.0;
        profiles[i].cost_out_per_m = i % 2 ? 1.5 * i : 0.0;
        atomic_store(&profiles[i].live.in_flight, i % 4);
        atomic_store(&profiles[i].live.ttft_ms, 100.0 + 10.0 * i);
        atomic_store(&profiles[i].live.tokens_per_s, 20.0 + i);
    }
    char prompt[2048];
    for (size_t i = 0; i < sizeof prompt - 1; i++)
        prompt[i] = "Explain step by step why this code fails? int main() { return 0; } "[i % 67];
    prompt[sizeof prompt - 1] = '\0';
    router_request req = { .text = prompt, .text_len = strlen(prompt), .n_messages = 3,
                           .caps = ROUTER_CAP_CHAT | ROUTER_CAP_TOOLS };
    router_features f;
    router_features_compute(&req, &f);
    router_policy policy = { .strategy = ROUTER_STRATEGY_AUTO, .complexity_threshold = 0.5,
                             .quality_floor = 2 };
    router_state state = { 0 };
    router_eval evals[N_CANDIDATES];

    static double pick_ns[ROUNDS], bare_ns[ROUNDS], feat_ns[ROUNDS];
    size_t chosen = 0, sink = 0;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_ns();
        for (int k = 0; k < BATCH; k++) {
            router_pick(&policy, &state, &f, profiles, N_CANDIDATES, 0, &chosen, evals, NULL);
            sink += chosen;
        }
        double t1 = now_ns();
        router_features_compute(&req, &f);
        double t2 = now_ns();
        for (int k = 0; k < BATCH; k++) {
            router_pick(&policy, &state, &f, profiles, N_CANDIDATES, 0, &chosen, NULL, NULL);
            sink += chosen;
        }
        double t3 = now_ns();
        pick_ns[r] = (t1 - t0) / BATCH;
        feat_ns[r] = t2 - t1;
        bare_ns[r] = (t3 - t2) / BATCH;
    }
    qsort(pick_ns, ROUNDS, sizeof *pick_ns, cmp);
    qsort(feat_ns, ROUNDS, sizeof *feat_ns, cmp);
    qsort(bare_ns, ROUNDS, sizeof *bare_ns, cmp);
    printf("router: decision over %d candidates (auto): median %.2f us (target < 5 us), chose %s\n",
           N_CANDIDATES, pick_ns[ROUNDS / 2] / 1000.0, profiles[chosen].name);
    printf("router: the same without an evaluation array (router_generate's path): median %.2f us\n",
           bare_ns[ROUNDS / 2] / 1000.0);
    printf("router: features of a %zu-byte prompt: median %.2f us (complexity %.3f)\n",
           req.text_len, feat_ns[ROUNDS / 2] / 1000.0, f.complexity);
    for (int i = 0; i < N_CANDIDATES; i++)
        router_profile_destroy(&profiles[i]);
    return sink == (size_t)-1;
}

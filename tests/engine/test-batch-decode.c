/* test-batch-decode.c - batched decoding over the sequences of one context:
 * streams that start and stop at different steps, decoded together (one
 * engine_decode per step over every active stream), give logits
 * bit-identical to each stream evaluated alone in its own single-sequence
 * context, for F32, Q8_0, Q4_0, Q4_K, Q5_K and Q6_K weights (a step of several
 * rows goes through the tile kernels); rewinding one sequence leaves the others intact; a sequence's
 * cells copied into another continue identically; bad calls are refused
 * and evaluate nothing. */
// labels: unit model
#include "engine/engine.h"
#include "support/synth.h"
#include "support/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_STREAMS 5
#define N_STEPS   14

static uint32_t pick_type(const char *name, uint32_t n_dims, const uint64_t *ne, void *user)
{
    (void)name;
    (void)ne;
    return n_dims == 2 ? *(const uint32_t *)user : GGML_TYPE_F32;
}

static int32_t argmax(const float *v, uint32_t n)
{
    int32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (v[i] > v[best])
            best = (int32_t)i;
    return best;
}

/* Stream s: a prompt of 3 + 2s tokens, starting at step `start`, decoding
 * `len` tokens greedily. */
typedef struct stream {
    int32_t  prompt[16];
    uint32_t n_prompt;
    int      start, len;
    int32_t  tokens[N_STEPS];   /* what it generated */
    float   *logits;            /* [len][n_vocab] the logits of each step */
    int      done;
    int32_t  next;
} stream;

static void init_streams(stream *st, uint32_t n_vocab)
{
    static const int starts[N_STREAMS] = { 0, 0, 2, 3, 5 };
    static const int lens[N_STREAMS] = { 12, 4, 10, 8, 6 };
    for (int s = 0; s < N_STREAMS; s++) {
        memset(&st[s], 0, sizeof st[s]);
        st[s].n_prompt = 3 + 2 * (uint32_t)s;
        for (uint32_t i = 0; i < st[s].n_prompt; i++)
            st[s].prompt[i] = (int32_t)((7u * i + 31u * (uint32_t)s + 3u) % n_vocab);
        st[s].start = starts[s];
        st[s].len = lens[s];
        st[s].logits = calloc((size_t)lens[s] * n_vocab, sizeof(float));
    }
}

static void free_streams(stream *st)
{
    for (int s = 0; s < N_STREAMS; s++)
        free(st[s].logits);
}

/* Each stream alone: prompt, then one engine_eval per token. */
static void run_alone(const engine_model *m, stream *st)
{
    uint32_t nv = m->hp.n_vocab;
    for (int s = 0; s < N_STREAMS; s++) {
        engine_ctx_params p;
        engine_ctx_default_params(&p);
        p.n_ctx = 64;
        p.n_threads = 2;
        engine_ctx *ctx = NULL;
        CHECK_INT(engine_ctx_new(m, &p, &ctx, NULL), 0);
        if (!ctx)
            return;
        CHECK_INT(engine_eval(ctx, st[s].prompt, st[s].n_prompt, NULL), 0);
        const float *lg = engine_ctx_logits(ctx, st[s].n_prompt - 1);
        for (int k = 0; k < st[s].len; k++) {
            memcpy(st[s].logits + (size_t)k * nv, lg, nv * sizeof(float));
            int32_t tok = argmax(lg, nv);
            st[s].tokens[k] = tok;
            CHECK_INT(engine_eval(ctx, &tok, 1, NULL), 0);
            lg = engine_ctx_logits(ctx, 0);
        }
        engine_ctx_free(ctx);
    }
}

/* All streams in one context: at each step, streams that start now get
 * their prompt evaluated, then every active stream advances by one token
 * in one engine_decode call. */
static void run_batched(const engine_model *m, const stream *alone, uint32_t n_threads)
{
    uint32_t nv = m->hp.n_vocab;
    stream st[N_STREAMS];
    init_streams(st, nv);
    engine_ctx_params p;
    engine_ctx_default_params(&p);
    p.n_ctx = 64;
    p.n_threads = (int)n_threads;
    p.n_seq = N_STREAMS;
    engine_ctx *ctx = NULL;
    CHECK_INT(engine_ctx_new(m, &p, &ctx, NULL), 0);
    if (!ctx)
        goto out;
    CHECK_INT(engine_ctx_n_seq(ctx), N_STREAMS);
    int produced[N_STREAMS] = { 0 };
    int max_batch = 0;
    for (int step = 0; step < N_STEPS; step++) {
        for (int s = 0; s < N_STREAMS; s++) {
            if (st[s].start != step)
                continue;
            CHECK_INT(engine_eval_seq(ctx, (uint32_t)s, st[s].prompt, st[s].n_prompt, NULL), 0);
            const float *lg = engine_ctx_logits(ctx, st[s].n_prompt - 1);
            memcpy(st[s].logits, lg, nv * sizeof(float));
            st[s].next = argmax(lg, nv);
        }
        uint32_t seqs[N_STREAMS];
        int32_t toks[N_STREAMS];
        uint32_t n = 0;
        for (int s = 0; s < N_STREAMS; s++) {
            if (st[s].start > step || produced[s] >= st[s].len)
                continue;
            st[s].tokens[produced[s]] = st[s].next;
            seqs[n] = (uint32_t)s;
            toks[n++] = st[s].next;
        }
        if (n == 0)
            continue;
        if ((int)n > max_batch)
            max_batch = (int)n;
        CHECK_INT(engine_decode(ctx, seqs, toks, n, NULL), 0);
        for (uint32_t i = 0; i < n; i++) {
            int s = (int)seqs[i];
            produced[s]++;
            if (produced[s] < st[s].len) {
                const float *lg = engine_ctx_logits(ctx, i);
                memcpy(st[s].logits + (size_t)produced[s] * nv, lg, nv * sizeof(float));
                st[s].next = argmax(lg, nv);
            }
        }
    }
    CHECK(max_batch >= 4);   /* steps of several rows were exercised */
    for (int s = 0; s < N_STREAMS; s++) {
        CHECK_INT(produced[s], st[s].len);
        CHECK_INT(engine_seq_pos(ctx, (uint32_t)s), st[s].n_prompt + (uint32_t)st[s].len);
        CHECK(memcmp(st[s].tokens, alone[s].tokens, (size_t)st[s].len * sizeof(int32_t)) == 0);
        bool same = memcmp(st[s].logits, alone[s].logits,
                           (size_t)st[s].len * nv * sizeof(float)) == 0;
        if (!same)
            fprintf(stderr, "stream %d: batched logits differ from alone (%u threads)\n", s,
                    n_threads);
        CHECK(same);
    }

    /* Rewind stream 0 to its prompt and decode its first token again, alone:
     * the other sequences' caches must not be touched by that. */
    engine_seq_truncate(ctx, 0, st[0].n_prompt);
    CHECK_INT(engine_seq_pos(ctx, 0), st[0].n_prompt);
    CHECK_INT(engine_seq_pos(ctx, 1), st[1].n_prompt + (uint32_t)st[1].len);
    uint32_t s0 = 0;
    CHECK_INT(engine_decode(ctx, &s0, &alone[0].tokens[0], 1, NULL), 0);
    CHECK(memcmp(engine_ctx_logits(ctx, 0), alone[0].logits + nv, nv * sizeof(float)) == 0);

    /* Stream 2's cells copied into stream 0's sequence continue as stream 2
     * itself would: the same logits for its next token. */
    uint32_t n2 = engine_seq_pos(ctx, 2);
    void *state = malloc(engine_seq_state_size(ctx, n2));
    CHECK_INT(engine_seq_state_get(ctx, 2, n2 + 1, state, NULL), MM_EINVAL);
    CHECK_INT(engine_seq_state_get(ctx, 2, n2, state, NULL), 0);
    CHECK_INT(engine_seq_state_set(ctx, 0, n2, state, NULL), 0);
    CHECK_INT(engine_seq_pos(ctx, 0), n2);
    int32_t probe = 42;
    uint32_t s2 = 2;
    CHECK_INT(engine_decode(ctx, &s0, &probe, 1, NULL), 0);
    float *from_copy = malloc(nv * sizeof(float));
    memcpy(from_copy, engine_ctx_logits(ctx, 0), nv * sizeof(float));
    CHECK_INT(engine_decode(ctx, &s2, &probe, 1, NULL), 0);
    CHECK(memcmp(from_copy, engine_ctx_logits(ctx, 0), nv * sizeof(float)) == 0);
    free(from_copy);
    free(state);

    /* refused, nothing evaluated */
    uint32_t twice[2] = { 1, 1 };
    int32_t two[2] = { 5, 6 };
    mm_error err = { 0 };
    CHECK_INT(engine_decode(ctx, twice, two, 2, &err), MM_EINVAL);
    CHECK(strstr(err.message, "twice") != NULL);
    uint32_t missing = N_STREAMS;
    CHECK_INT(engine_decode(ctx, &missing, two, 1, &err), MM_EINVAL);
    CHECK_INT(engine_eval_seq(ctx, N_STREAMS, two, 1, &err), MM_EINVAL);
    int32_t bad = (int32_t)nv;
    CHECK_INT(engine_decode(ctx, &s0, &bad, 1, &err), MM_EINVAL);
    CHECK_INT(engine_seq_pos(ctx, 1), st[1].n_prompt + (uint32_t)st[1].len);
out:
    engine_ctx_free(ctx);
    free_streams(st);
}

int main(void)
{
    char *dir = mmtest_tmpdir();
    static const uint32_t types[] = { GGML_TYPE_F32, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0,
                                      GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K };
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        mmtest_synth_params p;
        mmtest_synth_default_params(&p);
        p.weight_scale = 0.25f;   /* scores O(1): positions and caches matter */
        p.seed = 11;
        if (types[t] == GGML_TYPE_Q4_K || types[t] == GGML_TYPE_Q5_K ||
            types[t] == GGML_TYPE_Q6_K) {
            p.n_embd = 256;       /* rows of whole 256-element super-blocks */
            p.n_ff = 512;
        }
        if (types[t] != GGML_TYPE_F32) {
            p.tensor_type = pick_type;
            p.convert = mmtest_synth_quantize;
            p.user = (void *)&types[t];
        }
        char *path = mm_asprintf("%s/m%zu.gguf", dir, t);
        CHECK_INT(mmtest_synth_model(&p, path), 0);
        engine_model *m = NULL;
        CHECK_INT(engine_model_load(path, &m, NULL), 0);
        if (m) {
            stream alone[N_STREAMS];
            init_streams(alone, m->hp.n_vocab);
            run_alone(m, alone);
            run_batched(m, alone, 1);
            run_batched(m, alone, 3);
            free_streams(alone);
        }
        engine_model_free(m);
        free(path);
    }
    mmtest_rmtree(dir);
    free(dir);
    return mmtest_finish();
}

/* ctx.c - an evaluation context: the F16 KV caches of its sequences and
 * scratch buffers sized once for the largest batch (ctx_layout, shared with
 * the memory estimate), its sequences' positions and saved states, and
 * its logits. The forward pass over them is ctx-forward.c. */
#define ENGINE_CTX_SOURCE   /* engine.h: struct engine_ctx */
#include "engine/engine.h"

#include "core/core.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void engine_ctx_default_params(engine_ctx_params *p)
{
    memset(p, 0, sizeof *p);
    p->n_threads = 1;
}

static void resolve_params(const engine_model *m, const engine_ctx_params *in,
                           engine_ctx_params *out)
{
    *out = *in;
    if (out->n_ctx == 0)
        out->n_ctx = m->hp.n_ctx_train < CTX_DEFAULT_N_CTX ? m->hp.n_ctx_train : CTX_DEFAULT_N_CTX;
    if (out->n_ctx == 0)
        out->n_ctx = CTX_DEFAULT_N_CTX;
    if (out->n_batch == 0)
        out->n_batch = CTX_DEFAULT_N_BATCH;
    if (out->n_batch > out->n_ctx)
        out->n_batch = out->n_ctx;
    if (out->n_threads < 1)
        out->n_threads = 1;
    if (out->n_seq == 0)
        out->n_seq = 1;
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

static void compute_layout(const engine_model *m, const engine_ctx_params *p, ctx_layout *l)
{
    const engine_hparams *hp = &m->hp;
    size_t nb = max_sz(p->n_batch, p->n_seq);
    l->x = nb * hp->n_embd;
    l->xb = nb * max_sz(hp->n_embd, hp->q_dim);
    l->q = nb * hp->q_dim;
    l->kv = nb * hp->kv_dim;
    l->att = nb * hp->q_dim;
    l->ff = nb * hp->n_ff;
    l->tmp = nb * hp->n_embd;
    uint32_t group = hp->n_head / hp->n_head_kv;
    l->attn_tok = group < ENGINE_ATTN_ROWS ? ENGINE_ATTN_ROWS / group : 1;
    l->attn_scratch = engine_attn_scratch_floats((uint32_t)l->attn_tok * group, hp->head_dim);
    l->scores = (size_t)p->n_threads * l->attn_scratch;
    l->logits = (p->all_logits ? nb : p->n_seq) * (size_t)hp->n_vocab;
    l->cs = nb * hp->n_rot;
    /* F32 (4 bytes per element) is the widest activation format any kernel
     * takes, so this bound holds for every weight type. */
    size_t kmax = max_sz(max_sz(hp->n_embd, hp->q_dim), hp->n_ff);
    l->act_row = kmax * sizeof(float);
    l->act_q = nb * l->act_row;
}

void engine_mem_estimate_get(const engine_model *model, const engine_ctx_params *params,
                             engine_mem_estimate *out)
{
    engine_ctx_params p;
    ctx_layout l;
    resolve_params(model, params, &p);
    compute_layout(model, &p, &l);
    out->weights = model->weight_bytes;
    out->kv_cache = 2ull * p.n_seq * model->hp.n_layer * p.n_ctx * model->hp.kv_dim *
                    sizeof(uint16_t);
    size_t floats = l.x + l.xb + l.q + 2 * l.kv + l.att + 2 * l.ff + l.tmp + l.scores + l.logits +
                    l.cs + model->hp.n_rot / 2;
    out->scratch = floats * sizeof(float) + l.act_q + sizeof(engine_ctx) +
                   (p.n_seq + 3 * max_sz(p.n_batch, p.n_seq) + 1) * sizeof(uint32_t);
    out->total = out->weights + out->kv_cache + out->scratch;
}

int engine_ctx_new(const engine_model *model, const engine_ctx_params *params,
                   engine_ctx **out, mm_error *err)
{
    engine_ctx_params p;
    engine_ctx_params dflt;
    *out = NULL;
    if (!params) {
        engine_ctx_default_params(&dflt);
        params = &dflt;
    }
    resolve_params(model, params, &p);
    if (p.n_ctx > CTX_MAX_N_CTX)
        return mm_error_set(err, MM_EINVAL, "context size %" PRIu32 " exceeds the limit of %u",
                            p.n_ctx, CTX_MAX_N_CTX);
    if (p.n_seq > CTX_MAX_N_SEQ)
        return mm_error_set(err, MM_EINVAL, "%" PRIu32 " sequences exceed the limit of %u",
                            p.n_seq, CTX_MAX_N_SEQ);
    engine_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return mm_error_set(err, MM_ENOMEM, "out of memory creating a context");
    c->model = model;
    c->n_ctx = p.n_ctx;
    c->n_batch = p.n_batch;
    c->n_seq = p.n_seq;
    c->n_rows = p.n_batch > p.n_seq ? p.n_batch : p.n_seq;
    c->all_logits = p.all_logits;
    compute_layout(model, &p, &c->lay);
    const engine_hparams *hp = &model->hp;
    size_t cache_elems = (size_t)p.n_seq * hp->n_layer * p.n_ctx * hp->kv_dim;
    c->seq_pos = calloc(p.n_seq, sizeof *c->seq_pos);
    c->row_seq = calloc(c->n_rows, sizeof *c->row_seq);
    c->row_pos = calloc(c->n_rows, sizeof *c->row_pos);
    c->attn_blk = calloc((size_t)c->n_rows + 1, sizeof *c->attn_blk);
    c->k_cache = malloc(cache_elems * sizeof(uint16_t));
    c->v_cache = malloc(cache_elems * sizeof(uint16_t));
    c->x = malloc(c->lay.x * sizeof(float));
    c->xb = malloc(c->lay.xb * sizeof(float));
    c->q = malloc(c->lay.q * sizeof(float));
    c->k = malloc(c->lay.kv * sizeof(float));
    c->v = malloc(c->lay.kv * sizeof(float));
    c->att = malloc(c->lay.att * sizeof(float));
    c->hb = malloc(c->lay.ff * sizeof(float));
    c->hb2 = malloc(c->lay.ff * sizeof(float));
    c->tmp = malloc(c->lay.tmp * sizeof(float));
    c->scores = malloc(c->lay.scores * sizeof(float));
    c->logits = calloc(c->lay.logits, sizeof(float));
    c->cs = malloc(c->lay.cs * sizeof(float));
    c->inv_freq = malloc((hp->n_rot / 2) * sizeof(float));
    c->act_q = malloc(c->lay.act_q);
    if (!c->seq_pos || !c->row_seq || !c->row_pos || !c->attn_blk || !c->k_cache || !c->v_cache || !c->x || !c->xb || !c->q || !c->k || !c->v || !c->att ||
        !c->hb || !c->hb2 || !c->tmp || !c->scores || !c->logits || !c->cs || !c->inv_freq ||
        !c->act_q)
        goto fail_nomem;
    for (uint32_t i = 0; i < hp->n_rot / 2; i++) {
        double f = pow((double)hp->rope_freq_base, -2.0 * i / hp->n_rot) * hp->rope_freq_scale;
        if (model->rope_freqs) {
            float div;
            memcpy(&div, (const float *)model->rope_freqs->data + i, sizeof div);
            f /= div;
        }
        c->inv_freq[i] = (float)f;
    }
    int rc = engine_pool_new(p.n_threads, &c->pool, err);
    if (rc != 0) {
        engine_ctx_free(c);
        return rc;
    }
    *out = c;
    return 0;
fail_nomem:
    engine_ctx_free(c);
    return mm_error_set(err, MM_ENOMEM,
                        "out of memory allocating a context of %" PRIu32 " tokens (KV cache %zu MiB)",
                        p.n_ctx, cache_elems * 4 >> 20);
}

void engine_ctx_free(engine_ctx *c)
{
    if (!c)
        return;
    engine_pool_free(c->pool);
    free(c->seq_pos);
    free(c->row_seq);
    free(c->row_pos);
    free(c->attn_blk);
    free(c->k_cache);
    free(c->v_cache);
    free(c->x);
    free(c->xb);
    free(c->q);
    free(c->k);
    free(c->v);
    free(c->att);
    free(c->hb);
    free(c->hb2);
    free(c->tmp);
    free(c->scores);
    free(c->logits);
    free(c->cs);
    free(c->inv_freq);
    free(c->act_q);
    free(c);
}

uint32_t engine_ctx_pos(const engine_ctx *ctx) { return ctx->seq_pos[0]; }
uint32_t engine_ctx_size(const engine_ctx *ctx) { return ctx->n_ctx; }
uint32_t engine_ctx_n_seq(const engine_ctx *ctx) { return ctx->n_seq; }

uint32_t engine_seq_pos(const engine_ctx *ctx, uint32_t seq)
{
    return seq < ctx->n_seq ? ctx->seq_pos[seq] : 0;
}

void engine_seq_truncate(engine_ctx *ctx, uint32_t seq, uint32_t pos)
{
    if (seq < ctx->n_seq && pos < ctx->seq_pos[seq])
        ctx->seq_pos[seq] = pos;
}

size_t engine_seq_state_size(const engine_ctx *ctx, uint32_t n)
{
    const engine_hparams *hp = &ctx->model->hp;
    return 2 * (size_t)hp->n_layer * n * hp->kv_dim * sizeof(uint16_t);
}

/* The cells [0, n) of K, then of V, layer after layer, head after head. */
static void seq_state_copy(engine_ctx *ctx, uint32_t seq, uint32_t n, uint8_t *state, bool out)
{
    const engine_hparams *hp = &ctx->model->hp;
    size_t cells = (size_t)n * hp->head_dim * sizeof(uint16_t);
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        for (int kv = 0; kv < 2; kv++) {
            for (uint32_t g = 0; g < hp->n_head_kv; g++, state += cells) {
                uint16_t *cache = (kv ? ctx->v_cache : ctx->k_cache) + engine_ctx_kv_off(ctx, seq, il, g);
                if (out)
                    memcpy(state, cache, cells);
                else
                    memcpy(cache, state, cells);
            }
        }
    }
}

int engine_seq_state_get(engine_ctx *ctx, uint32_t seq, uint32_t n, void *state, mm_error *err)
{
    if (seq >= ctx->n_seq || n > ctx->seq_pos[seq])
        return mm_error_set(err, MM_EINVAL, "sequence %" PRIu32 " does not hold %" PRIu32
                            " cells", seq, n);
    seq_state_copy(ctx, seq, n, state, true);
    return 0;
}

int engine_seq_state_set(engine_ctx *ctx, uint32_t seq, uint32_t n, const void *state,
                         mm_error *err)
{
    if (seq >= ctx->n_seq || n > ctx->n_ctx)
        return mm_error_set(err, MM_EINVAL, "sequence %" PRIu32 " cannot take %" PRIu32
                            " cells", seq, n);
    seq_state_copy(ctx, seq, n, (uint8_t *)(uintptr_t)state, false);
    ctx->seq_pos[seq] = n;
    return 0;
}

void engine_ctx_truncate(engine_ctx *ctx, uint32_t pos)
{
    engine_seq_truncate(ctx, 0, pos);
}

const float *engine_ctx_logits(const engine_ctx *ctx, uint32_t i)
{
    if (i < ctx->logits_first || i - ctx->logits_first >= ctx->n_logits)
        return NULL;
    return ctx->logits + (size_t)(i - ctx->logits_first) * ctx->model->hp.n_vocab;
}


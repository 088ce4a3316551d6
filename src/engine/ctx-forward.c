/* ctx-forward.c - the llama/qwen2 forward pass over a context
 * (gguf-and-quants.md section 7). A pass evaluates rows that each name
 * their sequence and position: a prompt chunk of one sequence, or one
 * token of each of several sequences (batched decoding), so the weights are
 * read once per step for all of them. Matmuls (the gate/up pair with its
 * SiLU gate, q/k/v with their RoPE and KV store), attention, and for
 * prompts the quantizing of activations run on the context's thread pool;
 * the norms, residual adds and a decode step's quantizing are cheap and
 * run on the caller. */
#define ENGINE_CTX_SOURCE   /* engine.h: struct engine_ctx */
#include "engine/engine.h"

#include "core/core.h"

#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---- parallel matmul: out[t][m] = dot(W row m, act t) (+ bias[m]) ---- */

/* Which projection a job is, when its work items also finish the heads
 * they computed (decode widths): RoPE on q; RoPE on k and k into the KV
 * cache; v into the KV cache. */
typedef enum qkv_part { QKV_NONE = 0, QKV_Q, QKV_K, QKV_V } qkv_part;

typedef struct matmul_job {
    const gguf_tensor *w;
    float             *out;      /* row stride = w->ne[1] */
    const float       *bias;     /* or NULL */
    qkv_part           part;     /* items are whole heads when not QKV_NONE */
    uint32_t           layer;    /* with part: whose cache cells */
} matmul_job;

static void qkv_heads(engine_ctx *c, uint32_t il, uint32_t row, qkv_part part, uint32_t h0,
                      uint32_t h1);

typedef struct matmul_task {
    engine_ctx    *c;
    matmul_job     jobs[CTX_MAX_MATMULS];
    int            n_jobs;
    bool           silu_pair;  /* jobs 0 and 1 are gate and up: an item does the
                                * same rows of both, then silu(gate) * up there */
    const uint8_t *act;
    size_t         act_row;      /* bytes between tokens in act */
    uint32_t       n_tok;
    int64_t        item_rows[CTX_MAX_MATMULS]; /* weight rows per work item of each job */
    uint32_t       item_end[CTX_MAX_MATMULS];  /* items of jobs 0..j together */
    atomic_uint    next;                       /* the next work item to take */
} matmul_task;

/* Rows [m0, m1) of one job, every token. */
static void matmul_rows(const matmul_task *t, const matmul_job *job, int64_t m0, int64_t m1)
{
    const engine_quant_traits *wt = engine_quant_get(job->w->type);
    int64_t K = (int64_t)job->w->ne[0], M = (int64_t)job->w->ne[1];
    size_t row_bytes = engine_row_size(job->w->type, K);
    const uint8_t *w = (const uint8_t *)job->w->data;
    /* Types with a tile kernel (1 row x up to 8 tokens, as a decode step of
     * up to 8 streams is) take every token count through it; the others
     * call vec_dot per (row, token). */
    if (wt->gemm) {
        /* The tile kernel walks the tokens in small groups over these
         * rows, which stay in L2 meanwhile (an item is at most
         * CTX_GEMM_TILE_BYTES of them); it blocks in registers. */
        wt->gemm(K, w + (size_t)m0 * row_bytes, row_bytes, m1 - m0, t->act, t->act_row,
                 t->n_tok, job->out + m0, (size_t)M);
        if (job->bias)
            for (uint32_t n = 0; n < t->n_tok; n++)
                for (int64_t m = m0; m < m1; m++)
                    job->out[(size_t)n * M + m] += job->bias[m];
        return;
    }
    /* A block of rows small enough to stay in L1 serves every token. */
    int64_t rb = (int64_t)(CTX_TILE_BYTES / (row_bytes ? row_bytes : 1));
    if (rb < 1)
        rb = 1;
    for (int64_t r0 = m0; r0 < m1; r0 += rb) {
        int64_t r1 = r0 + rb < m1 ? r0 + rb : m1;
        for (uint32_t n = 0; n < t->n_tok; n++) {
            const uint8_t *act = t->act + n * t->act_row;
            for (int64_t m = r0; m < r1; m++) {
                float b = job->bias ? job->bias[m] : 0.0f;
                job->out[(size_t)n * M + m] = wt->vec_dot(K, w + (size_t)m * row_bytes, act) + b;
            }
        }
    }
}

/* The gate and up matmuls with the SiLU gate folded in, so that it needs no
 * pool call of its own: item k is rows [m0, m1) of both weights for every
 * token, then g = silu(g) * u over those rows. m0 is a multiple of 8, so
 * the AVX2 kernel splits each row into the same vectors and tail as it
 * does a whole row: the same bits. */
static void silu_pair_items(matmul_task *t)
{
    engine_silu_mul_fn silu_mul = engine_silu_mul_get();
    int64_t M = (int64_t)t->jobs[0].w->ne[1], rows = t->item_rows[0];
    for (;;) {
        uint32_t item = atomic_fetch_add_explicit(&t->next, 1, memory_order_relaxed);
        if (item >= t->item_end[0])
            return;
        int64_t m0 = (int64_t)item * rows;
        int64_t m1 = m0 + rows < M ? m0 + rows : M;
        matmul_rows(t, &t->jobs[0], m0, m1);
        matmul_rows(t, &t->jobs[1], m0, m1);
        for (uint32_t n = 0; n < t->n_tok; n++)
            silu_mul(t->jobs[0].out + (size_t)n * M + m0, t->jobs[1].out + (size_t)n * M + m0,
                     (size_t)(m1 - m0));
    }
}

/* Threads take work items (a block of rows of one job, every token) from
 * a shared counter instead of a fixed half each: on a shared machine a
 * thread that loses its core for a while then does fewer items, where a
 * fixed split made the other wait for it at the end of every matmul
 * (F16 generation spent 3-20% of its time in sched_yield at load 8-13).
 * Which thread computes a row changes no bit. */
static void matmul_worker(void *arg, int ith, int nth)
{
    matmul_task *t = arg;
    (void)ith;
    (void)nth;
    if (t->silu_pair) {
        silu_pair_items(t);
        return;
    }
    int j = 0;
    for (;;) {
        uint32_t item = atomic_fetch_add_explicit(&t->next, 1, memory_order_relaxed);
        while (j < t->n_jobs && item >= t->item_end[j])
            j++;
        if (j >= t->n_jobs)
            return;
        uint32_t first = j > 0 ? t->item_end[j - 1] : 0;
        int64_t M = (int64_t)t->jobs[j].w->ne[1];
        int64_t m0 = (int64_t)(item - first) * t->item_rows[j];
        int64_t m1 = m0 + t->item_rows[j] < M ? m0 + t->item_rows[j] : M;
        matmul_rows(t, &t->jobs[j], m0, m1);
        if (t->jobs[j].part != QKV_NONE) {
            uint32_t hd = t->c->model->hp.head_dim;
            for (uint32_t i = 0; i < t->n_tok; i++)
                qkv_heads(t->c, t->jobs[j].layer, i, t->jobs[j].part, (uint32_t)(m0 / hd),
                          (uint32_t)(m1 / hd));
        }
    }
}

/* Cut each job into work items: blocks of rows that stay in L2 (the vec_dot
 * path cuts them further into L1 blocks), a multiple of 8 rows (the fp
 * tiles' height is 4; the SiLU pair wants vector-aligned rows) or of the
 * head size for a q/k/v job that finishes its heads, and about a multiple
 * of the thread count in number, so that equal threads end together. A
 * SiLU pair is planned as its gate job, sized for the wider of its two
 * rows. */
static void matmul_plan(matmul_task *t, int nth)
{
    uint32_t items = 0;
    for (int j = 0; j < (t->silu_pair ? 1 : t->n_jobs); j++) {
        const gguf_tensor *w = t->jobs[j].w;
        int64_t M = (int64_t)w->ne[1];
        size_t row_bytes = engine_row_size(w->type, (int64_t)w->ne[0]);
        if (t->silu_pair) {
            const gguf_tensor *up = t->jobs[1].w;
            size_t up_bytes = engine_row_size(up->type, (int64_t)up->ne[0]);
            row_bytes = row_bytes > up_bytes ? row_bytes : up_bytes;
        }
        int64_t rows = (int64_t)(CTX_GEMM_TILE_BYTES / (row_bytes ? row_bytes : 1));
        if (rows < 1)
            rows = 1;
        int64_t n_items = (M + rows - 1) / rows;
        n_items = (n_items + nth - 1) / nth * nth;
        rows = (M + n_items - 1) / n_items;
        if (t->jobs[j].part != QKV_NONE) {
            /* whole heads; for a prompt down rather than up, so that there
             * are at least as many items as planned (up, 72 rows became two
             * heads of 48: 3 items of a 288-row job, 9 in all for 2
             * threads); a decode step keeps the items it had (18 instead
             * of 9 for the 24 M shape: 3-7 % slower in 4 of 6 noisy pairs) */
            int64_t hd = t->c->model->hp.head_dim;
            if (t->n_tok > CTX_SERIAL_ROWS)
                rows = rows / hd > 0 ? rows / hd * hd : hd;
            else
                rows = (rows + hd - 1) / hd * hd;
        } else {
            rows = (rows + 7) / 8 * 8;
        }
        t->item_rows[j] = rows;
        items += (uint32_t)((M + rows - 1) / rows);
        t->item_end[j] = items;
    }
    atomic_init(&t->next, 0);
}

typedef struct quantize_task {
    const engine_quant_traits *at;
    const float *src;
    uint8_t     *dst;
    size_t       dst_row;
    int64_t      k;
    uint32_t     n;
} quantize_task;

static void quantize_worker(void *arg, int ith, int nth)
{
    const quantize_task *t = arg;
    int64_t begin, end;
    engine_split_rows(t->n, ith, nth, &begin, &end);
    for (int64_t i = begin; i < end; i++)
        t->at->quantize_row(t->src + i * t->k, t->dst + i * t->dst_row, t->k);
}

/* Quantize n rows of k floats at src into the format w's kernel takes,
 * unless act_q already holds exactly that. */
static void prepare_act(engine_ctx *c, const gguf_tensor *w, const float *src, uint32_t n)
{
    const engine_quant_traits *wt = engine_quant_get(w->type);
    uint32_t type = wt->vec_dot_type;
    uint32_t k = (uint32_t)w->ne[0];
    if (c->act_src == src && c->act_type == type && c->act_k == k && c->act_n == n)
        return;
    quantize_task qt = { engine_quant_get(type), src, c->act_q, c->lay.act_row, k, n };
    if (n > CTX_SERIAL_ROWS)
        engine_pool_run(c->pool, quantize_worker, &qt);
    else
        quantize_worker(&qt, 0, 1);
    c->act_src = src;
    c->act_type = type;
    c->act_k = k;
    c->act_n = n;
}

/* The activations at act_src changed: forget their quantized form. */
static void act_invalidate(engine_ctx *c)
{
    c->act_src = NULL;
}

static const float *bias_of(const gguf_tensor *t)
{
    return t ? (const float *)t->data : NULL;
}

/* Up to three weights with the same input; each job's output has n rows of
 * w->ne[1]. Weights whose kernels want different activation formats are
 * split into separate calls. With silu, jobs are gate and up: true when the
 * gate was applied in the same call (both weights take one activation
 * format and have as many rows), false when the caller still has to. */
static bool matmul(engine_ctx *c, const float *src, uint32_t n, const matmul_job *jobs,
                   int n_jobs, bool silu)
{
    int done = 0;
    silu = silu && n_jobs == 2 && jobs[0].w->ne[1] == jobs[1].w->ne[1] &&
           engine_quant_get(jobs[0].w->type)->vec_dot_type ==
           engine_quant_get(jobs[1].w->type)->vec_dot_type;
    while (done < n_jobs) {
        matmul_task t = { .c = c, .n_tok = n, .act_row = c->lay.act_row, .silu_pair = silu };
        uint32_t type = engine_quant_get(jobs[done].w->type)->vec_dot_type;
        if (type == GGML_TYPE_F32) {
            /* F32/F16/BF16 kernels read the f32 rows where they are: no copy */
            t.act = (const uint8_t *)src;
            t.act_row = (size_t)jobs[done].w->ne[0] * sizeof(float);
        } else {
            prepare_act(c, jobs[done].w, src, n);
            t.act = c->act_q;
        }
        while (done < n_jobs && engine_quant_get(jobs[done].w->type)->vec_dot_type == type)
            t.jobs[t.n_jobs++] = jobs[done++];
        matmul_plan(&t, engine_pool_threads(c->pool));
        engine_pool_run(c->pool, matmul_worker, &t);
    }
    return silu;
}

/* ---- element-wise operators (caller thread) ---- */

static void rmsnorm(float *out, const float *x, const float *w, uint32_t n, float eps)
{
    double ss = 0;
    for (uint32_t i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(ss / n + eps));
    for (uint32_t i = 0; i < n; i++)
        out[i] = x[i] * scale * w[i];
}

static void rope(float *vec, uint32_t n_heads, uint32_t head_dim, uint32_t n_rot,
                 engine_rope_mode mode, const float *cs)
{
    uint32_t half = n_rot / 2;
    for (uint32_t h = 0; h < n_heads; h++) {
        float *x = vec + (size_t)h * head_dim;
        for (uint32_t i = 0; i < half; i++) {
            float cos_t = cs[2 * i], sin_t = cs[2 * i + 1];
            uint32_t i0 = mode == ENGINE_ROPE_NEOX ? i : 2 * i;
            uint32_t i1 = mode == ENGINE_ROPE_NEOX ? i + half : 2 * i + 1;
            float a = x[i0], b = x[i1];
            x[i0] = a * cos_t - b * sin_t;
            x[i1] = a * sin_t + b * cos_t;
        }
    }
}

/* ---- attention: one (block of rows, KV head) pair per work item ----
 * A block is up to lay.attn_tok consecutive rows of one sequence (a prompt
 * chunk gives several, a decode step one per sequence). Threads take items
 * from a shared counter, the longest (latest rows) first, so a thread that
 * the machine slows down does less of the work; the kernel computes each
 * row the same way whichever item and thread it falls in. */

typedef struct attn_task {
    engine_ctx    *c;
    uint32_t       layer;
    engine_attn_fn kernel;
    atomic_uint    next;
} attn_task;

static void attn_worker(void *arg, int ith, int nth)
{
    attn_task *t = arg;
    engine_ctx *c = t->c;
    const engine_hparams *hp = &c->model->hp;
    uint32_t hd = hp->head_dim, group = hp->n_head / hp->n_head_kv;
    uint32_t n_items = c->n_attn_blk * hp->n_head_kv;
    (void)nth;
    engine_attn_args a = {
        .q_stride = hp->q_dim, .n_group = group, .kv_stride = hd, .head_dim = hd,
        .scale = 1.0f / sqrtf((float)hd), .scratch = c->scores + (size_t)ith * c->lay.attn_scratch,
    };
    for (;;) {
        uint32_t item = atomic_fetch_add_explicit(&t->next, 1, memory_order_relaxed);
        if (item >= n_items)
            break;
        uint32_t b = c->n_attn_blk - 1 - item / hp->n_head_kv, g = item % hp->n_head_kv;
        uint32_t i0 = c->attn_blk[b];
        size_t off = engine_ctx_kv_off(c, c->row_seq[i0], t->layer, g);
        a.q = c->q + (size_t)i0 * hp->q_dim + (size_t)g * group * hd;
        a.out = c->att + (size_t)i0 * hp->q_dim + (size_t)g * group * hd;
        a.n_tok = c->attn_blk[b + 1] - i0;
        a.pos = c->row_pos + i0;
        a.k = c->k_cache + off;
        a.v = c->v_cache + off;
        t->kernel(&a);
    }
}

/* Split rows [first, n) of a pass into attention blocks: runs of one
 * sequence, at most lay.attn_tok rows each. */
static void attn_blocks(engine_ctx *c, uint32_t first, uint32_t n)
{
    uint32_t nb = 0;
    for (uint32_t i = first; i < n; i++)
        if (i == first || c->row_seq[i] != c->row_seq[i - 1] ||
            i - c->attn_blk[nb - 1] >= c->lay.attn_tok)
            c->attn_blk[nb++] = i;
    c->attn_blk[nb] = n;
    c->n_attn_blk = nb;
}

/* ---- the q/k/v heads, finished in the QKV matmul's items, and the SiLU
 * gate when it could not run in the gate/up items (gate and up of
 * different activation formats or widths): a pool call over the rows;
 * each row is computed alone, so the split changes no bit ---- */

typedef struct rows_task {
    engine_ctx *c;
    uint32_t    n;
} rows_task;

/* Heads [h0, h1) of one row of a pass, once its q, k or v projection is
 * computed: RoPE on q; RoPE on k, then k into the row's cache cells; v into
 * its cells. Each head is computed alone, so whichever thread and item
 * does it, the bits are the same. */
static void qkv_heads(engine_ctx *c, uint32_t il, uint32_t row, qkv_part part, uint32_t h0,
                      uint32_t h1)
{
    const engine_hparams *hp = &c->model->hp;
    uint32_t hd = hp->head_dim;
    const float *cs = c->cs + (size_t)row * hp->n_rot;
    if (part == QKV_Q) {
        rope(c->q + (size_t)row * hp->q_dim + (size_t)h0 * hd, h1 - h0, hd, hp->n_rot,
             hp->rope_mode, cs);
        return;
    }
    float *src = (part == QKV_K ? c->k : c->v) + (size_t)row * hp->kv_dim;
    uint16_t *cache = part == QKV_K ? c->k_cache : c->v_cache;
    if (part == QKV_K)
        rope(src + (size_t)h0 * hd, h1 - h0, hd, hp->n_rot, hp->rope_mode, cs);
    const engine_quant_traits *f16 = engine_quant_get(GGML_TYPE_F16);
    for (uint32_t g = h0; g < h1; g++) {
        size_t cell = engine_ctx_kv_off(c, c->row_seq[row], il, g) + (size_t)c->row_pos[row] * hd;
        f16->quantize_row(src + (size_t)g * hd, cache + cell, hd);
    }
}

static void silu_worker(void *arg, int ith, int nth)
{
    const rows_task *t = arg;
    engine_ctx *c = t->c;
    const engine_hparams *hp = &c->model->hp;
    int64_t begin, end;
    engine_split_rows(t->n, ith, nth, &begin, &end);
    engine_silu_mul_fn silu_mul = engine_silu_mul_get();
    for (int64_t i = begin; i < end; i++)
        silu_mul(c->hb + (size_t)i * hp->n_ff, c->hb2 + (size_t)i * hp->n_ff, hp->n_ff);
}

static void silu_run(engine_ctx *c, uint32_t n)
{
    rows_task t = { c, n };
    if (n > CTX_SERIAL_ROWS)
        engine_pool_run(c->pool, silu_worker, &t);
    else
        silu_worker(&t, 0, 1);
}

/* ---- one chunk of at most n_batch tokens ---- */

/* Rows [0, n) go through the layer up to their KV store; only rows
 * [keep, n) go on through attention and the FFN (the last layer: the rows
 * whose logits are kept, none for a prompt chunk that is not the last; the
 * other rows' outputs would feed nothing). A row is computed alone in
 * each of those steps, so dropping the others changes no bit of it. */
static void forward_layer(engine_ctx *c, uint32_t il, uint32_t n, uint32_t keep)
{
    const engine_model *m = c->model;
    const engine_hparams *hp = &m->hp;
    const engine_layer *L = &m->layers[il];

    for (uint32_t i = 0; i < n; i++)
        rmsnorm(c->xb + (size_t)i * hp->n_embd, c->x + (size_t)i * hp->n_embd,
                (const float *)L->attn_norm->data, hp->n_embd, hp->rms_eps);
    act_invalidate(c);
    /* The items finish their heads (RoPE, the KV store) while they are in
     * cache, and the pass needs no pool call (no barrier) for them. */
    matmul_job qkv[3] = {
        { L->wq, c->q, bias_of(L->bq), QKV_Q, il },
        { L->wk, c->k, bias_of(L->bk), QKV_K, il },
        { L->wv, c->v, bias_of(L->bv), QKV_V, il },
    };
    matmul(c, c->xb, n, qkv, 3, false);
    if (keep >= n)
        return;
    if (keep > 0)
        attn_blocks(c, keep, n);
    attn_task at = { .c = c, .layer = il, .kernel = engine_attn_get(hp->head_dim) };
    atomic_init(&at.next, 0);
    engine_pool_run(c->pool, attn_worker, &at);

    /* from here on, the kept rows only */
    float *x = c->x + (size_t)keep * hp->n_embd;
    n -= keep;
    matmul_job wo = { .w = L->wo, .out = c->tmp, .bias = bias_of(L->bo) };
    matmul(c, c->att + (size_t)keep * hp->q_dim, n, &wo, 1, false);
    for (size_t e = 0; e < (size_t)n * hp->n_embd; e++)
        x[e] += c->tmp[e];

    for (uint32_t i = 0; i < n; i++)
        rmsnorm(c->xb + (size_t)i * hp->n_embd, x + (size_t)i * hp->n_embd,
                (const float *)L->ffn_norm->data, hp->n_embd, hp->rms_eps);
    act_invalidate(c);
    matmul_job gate_up[2] = { { .w = L->w_gate, .out = c->hb }, { .w = L->w_up, .out = c->hb2 } };
    if (!matmul(c, c->xb, n, gate_up, 2, true))
        silu_run(c, n);
    act_invalidate(c);
    matmul_job down = { .w = L->w_down, .out = c->tmp };
    matmul(c, c->hb, n, &down, 1, false);
    for (size_t e = 0; e < (size_t)n * hp->n_embd; e++)
        x[e] += c->tmp[e];
}

/* Evaluate n rows (tokens[i] of sequence row_seq[i] at row_pos[i], set by
 * the caller; each row's cell is written before any row attends, so a
 * prompt chunk sees itself causally) and keep the logits of rows
 * logits_row.. n-1, or none when logits_row >= n. */
static void forward_rows(engine_ctx *c, const int32_t *tokens, uint32_t n, uint32_t logits_row)
{
    const engine_model *m = c->model;
    const engine_hparams *hp = &m->hp;
    const engine_quant_traits *et = engine_quant_get(m->tok_embd->type);
    size_t embd_row = engine_row_size(m->tok_embd->type, hp->n_embd);
    for (uint32_t i = 0; i < n; i++) {
        et->dequantize_row((const uint8_t *)m->tok_embd->data + (size_t)tokens[i] * embd_row,
                           c->x + (size_t)i * hp->n_embd, hp->n_embd);
        float *cs = c->cs + (size_t)i * hp->n_rot;
        double pos = (double)c->row_pos[i];
        for (uint32_t p = 0; p < hp->n_rot / 2; p++) {
            double theta = pos * c->inv_freq[p];
            cs[2 * p] = (float)cos(theta);
            cs[2 * p + 1] = (float)sin(theta);
        }
    }
    attn_blocks(c, 0, n);
    for (uint32_t il = 0; il < hp->n_layer; il++)
        forward_layer(c, il, n, il + 1 < hp->n_layer ? 0 : logits_row);
    act_invalidate(c);
    if (logits_row >= n)
        return;
    /* Only the rows whose logits are kept go through the output matmul. */
    uint32_t first = logits_row;
    uint32_t rows = n - first;
    for (uint32_t i = 0; i < rows; i++)
        rmsnorm(c->xb + (size_t)i * hp->n_embd, c->x + (size_t)(first + i) * hp->n_embd,
                (const float *)m->output_norm->data, hp->n_embd, hp->rms_eps);
    matmul_job out = { .w = m->output, .out = c->logits };
    matmul(c, c->xb, rows, &out, 1, false);
    act_invalidate(c);
    c->n_logits = rows;
}

static int check_tokens(const engine_ctx *c, const int32_t *tokens, uint32_t n, mm_error *err)
{
    if (n == 0)
        return mm_error_set(err, MM_EINVAL, "nothing to evaluate (0 tokens)");
    for (uint32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= c->model->hp.n_vocab)
            return mm_error_set(err, MM_EINVAL,
                                "token id %" PRId32 " is outside the vocabulary (0..%" PRIu32 ")",
                                tokens[i], c->model->hp.n_vocab - 1);
    return 0;
}

static int check_room(const engine_ctx *c, uint32_t seq, uint32_t n, mm_error *err)
{
    if (seq >= c->n_seq)
        return mm_error_set(err, MM_EINVAL, "sequence %" PRIu32 " does not exist (the context "
                            "has %" PRIu32 ")", seq, c->n_seq);
    uint32_t past = c->seq_pos[seq];
    if (n > c->n_ctx - past)
        return mm_error_set(err, MM_ELIMIT,
                            "context full: %" PRIu32 " tokens cached + %" PRIu32
                            " new exceed the context size %" PRIu32, past, n, c->n_ctx);
    return 0;
}

int engine_eval(engine_ctx *c, const int32_t *tokens, uint32_t n, mm_error *err)
{
    return engine_eval_seq(c, 0, tokens, n, err);
}

int engine_decode(engine_ctx *c, const uint32_t *seqs, const int32_t *tokens, uint32_t n,
                  mm_error *err)
{
    int rc = check_tokens(c, tokens, n, err);
    if (rc != 0)
        return rc;
    if (n > c->n_seq)
        return mm_error_set(err, MM_EINVAL, "%" PRIu32 " tokens for %" PRIu32 " sequences: one "
                            "token per sequence", n, c->n_seq);
    for (uint32_t i = 0; i < n; i++) {
        rc = check_room(c, seqs[i], 1, err);
        if (rc != 0)
            return rc;
        for (uint32_t j = 0; j < i; j++)
            if (seqs[j] == seqs[i])
                return mm_error_set(err, MM_EINVAL, "sequence %" PRIu32 " appears twice in one "
                                    "decode step", seqs[i]);
    }
    for (uint32_t i = 0; i < n; i++) {
        c->row_seq[i] = seqs[i];
        c->row_pos[i] = c->seq_pos[seqs[i]];
    }
    c->n_logits = 0;
    forward_rows(c, tokens, n, 0);
    for (uint32_t i = 0; i < n; i++)
        c->seq_pos[seqs[i]]++;
    c->logits_first = 0;
    return 0;
}

int engine_eval_seq(engine_ctx *c, uint32_t seq, const int32_t *tokens, uint32_t n,
                    mm_error *err)
{
    int rc = check_tokens(c, tokens, n, err);
    if (rc == 0)
        rc = check_room(c, seq, n, err);
    if (rc != 0)
        return rc;
    if (c->all_logits && n > c->n_batch)
        return mm_error_set(err, MM_ELIMIT,
                            "%" PRIu32 " tokens exceed the batch size %" PRIu32
                            " of a context that keeps every position's logits", n, c->n_batch);
    c->n_logits = 0;
    for (uint32_t done = 0; done < n;) {
        uint32_t chunk = n - done < c->n_batch ? n - done : c->n_batch;
        bool last = done + chunk == n;
        for (uint32_t i = 0; i < chunk; i++) {
            c->row_seq[i] = seq;
            c->row_pos[i] = c->seq_pos[seq] + i;
        }
        forward_rows(c, tokens + done, chunk, !last ? chunk : c->all_logits ? 0 : chunk - 1);
        c->seq_pos[seq] += chunk;
        if (last)
            c->logits_first = c->all_logits ? 0 : n - 1;
        done += chunk;
    }
    return 0;
}

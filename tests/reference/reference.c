/* reference.c - the naive reference forward pass (see reference.h). Speed is
 * irrelevant here; every step is the textbook formula of
 * gguf-and-quants.md section 7 on f32 copies of the weights. */
#include "reference/reference.h"

#include "engine/engine.h"
#include "gguf/gguf.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ref_layer {
    float *attn_norm, *wq, *wk, *wv, *wo, *bq, *bk, *bv, *bo;
    float *ffn_norm, *gate, *up, *down;
} ref_layer;

struct ref_model {
    uint32_t n_vocab, n_embd, n_layer, n_head, n_kv_head, head_dim, n_rot, n_ff;
    float eps, base, freq_scale;
    bool neox;
    float *embd, *out_norm, *output, *freqs;   /* output == embd when tied (not owned) */
    bool tied;
    ref_layer *layers;
};

static float *deq(const gguf_file *f, const char *name, bool required, uint64_t want,
                  char *msg, size_t msg_size, bool *failed)
{
    const gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t) {
        if (required) {
            snprintf(msg, msg_size, "reference: missing %s", name);
            *failed = true;
        }
        return NULL;
    }
    const engine_quant_traits *tr = engine_quant_get_scalar(t->type);
    if (!tr || t->n_elements != want) {
        snprintf(msg, msg_size, "reference: %s: unsupported type or %llu elements (want %llu)",
                 name, (unsigned long long)t->n_elements, (unsigned long long)want);
        *failed = true;
        return NULL;
    }
    float *out = malloc(want * sizeof(float));
    if (!out) {
        *failed = true;
        return NULL;
    }
    uint64_t rows = want / t->ne[0];
    size_t row_bytes = (t->ne[0] / tr->block_size) * tr->type_size;
    for (uint64_t r = 0; r < rows; r++)
        tr->dequantize_row((const uint8_t *)t->data + r * row_bytes, out + r * t->ne[0],
                           (int64_t)t->ne[0]);
    return out;
}

static uint32_t key_u32(const gguf_file *f, const char *arch, const char *suffix, uint32_t dflt)
{
    char key[128];
    uint32_t v;
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return gguf_get_u32(f, key, &v) == 0 ? v : dflt;
}

static float key_f32(const gguf_file *f, const char *arch, const char *suffix, float dflt)
{
    char key[128];
    float v;
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return gguf_get_f32(f, key, &v) == 0 ? v : dflt;
}

ref_model *ref_model_load(const char *path, char *msg, size_t msg_size)
{
    gguf_file *f = NULL;
    mm_error err = { 0 };
    if (gguf_open(path, &f, &err) != 0) {
        snprintf(msg, msg_size, "reference: %s", err.message);
        return NULL;
    }
    ref_model *m = calloc(1, sizeof *m);
    gguf_str a;
    char arch[32] = "";
    if (gguf_get_str(f, "general.architecture", &a) == 0 && a.len < sizeof arch)
        memcpy(arch, a.ptr, a.len);
    m->neox = strcmp(arch, "llama") != 0;
    m->n_embd = key_u32(f, arch, "embedding_length", 0);
    m->n_layer = key_u32(f, arch, "block_count", 0);
    m->n_head = key_u32(f, arch, "attention.head_count", 1);
    m->n_kv_head = key_u32(f, arch, "attention.head_count_kv", m->n_head);
    m->head_dim = key_u32(f, arch, "attention.key_length", m->n_embd / m->n_head);
    m->n_rot = key_u32(f, arch, "rope.dimension_count", m->head_dim);
    m->n_ff = key_u32(f, arch, "feed_forward_length", 0);
    m->eps = key_f32(f, arch, "attention.layer_norm_rms_epsilon", 1e-5f);
    m->base = key_f32(f, arch, "rope.freq_base", 10000.0f);
    float factor = key_f32(f, arch, "rope.scaling.factor", 0.0f);
    m->freq_scale = factor > 0 ? 1.0f / factor : 1.0f;
    const gguf_tensor *te = gguf_find_tensor(f, "token_embd.weight");
    m->n_vocab = te ? (uint32_t)te->ne[1] : 0;

    bool failed = false;
    uint64_t E = m->n_embd, Q = (uint64_t)m->n_head * m->head_dim,
             KV = (uint64_t)m->n_kv_head * m->head_dim, F = m->n_ff;
    m->embd = deq(f, "token_embd.weight", true, E * m->n_vocab, msg, msg_size, &failed);
    m->out_norm = deq(f, "output_norm.weight", true, E, msg, msg_size, &failed);
    m->output = deq(f, "output.weight", false, E * m->n_vocab, msg, msg_size, &failed);
    m->freqs = deq(f, "rope_freqs.weight", false, m->n_rot / 2, msg, msg_size, &failed);
    if (!m->output) {
        m->output = m->embd;
        m->tied = true;
    }
    m->layers = calloc(m->n_layer ? m->n_layer : 1, sizeof *m->layers);
    for (uint32_t l = 0; l < m->n_layer && !failed; l++) {
        ref_layer *L = &m->layers[l];
        char name[96];
#define D(field, base, req, n) (snprintf(name, sizeof name, "blk.%u." base, l), \
        L->field = deq(f, name, req, n, msg, msg_size, &failed))
        D(attn_norm, "attn_norm.weight", true, E);
        D(wq, "attn_q.weight", true, E * Q);
        D(wk, "attn_k.weight", true, E * KV);
        D(wv, "attn_v.weight", true, E * KV);
        D(wo, "attn_output.weight", true, Q * E);
        D(bq, "attn_q.bias", false, Q);
        D(bk, "attn_k.bias", false, KV);
        D(bv, "attn_v.bias", false, KV);
        D(bo, "attn_output.bias", false, E);
        D(ffn_norm, "ffn_norm.weight", true, E);
        D(gate, "ffn_gate.weight", true, E * F);
        D(up, "ffn_up.weight", true, E * F);
        D(down, "ffn_down.weight", true, F * E);
#undef D
    }
    gguf_close(f);
    if (failed || m->n_vocab == 0 || m->n_layer == 0) {
        if (!failed)
            snprintf(msg, msg_size, "reference: no vocabulary or layers");
        ref_model_free(m);
        return NULL;
    }
    return m;
}

void ref_model_free(ref_model *m)
{
    if (!m)
        return;
    for (uint32_t l = 0; m->layers && l < m->n_layer; l++) {
        ref_layer *L = &m->layers[l];
        float *all[] = { L->attn_norm, L->wq, L->wk, L->wv, L->wo, L->bq, L->bk, L->bv, L->bo,
                         L->ffn_norm, L->gate, L->up, L->down };
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            free(all[i]);
    }
    free(m->layers);
    if (!m->tied)
        free(m->output);
    free(m->embd);
    free(m->out_norm);
    free(m->freqs);
    free(m);
}

uint32_t ref_model_n_vocab(const ref_model *m)
{
    return m->n_vocab;
}

/* y[r] = sum_c W[r][c] x[c] (+ b[r]); W has rows of cols floats. */
static void matvec(float *y, const float *W, const float *x, const float *b, uint32_t rows,
                   uint32_t cols)
{
    for (uint32_t r = 0; r < rows; r++) {
        double acc = 0;
        for (uint32_t c = 0; c < cols; c++)
            acc += (double)W[(size_t)r * cols + c] * x[c];
        y[r] = (float)acc + (b ? b[r] : 0.0f);
    }
}

static void norm(float *y, const float *x, const float *w, uint32_t n, float eps)
{
    double ss = 0;
    for (uint32_t i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    double inv = 1.0 / sqrt(ss / n + eps);
    for (uint32_t i = 0; i < n; i++)
        y[i] = (float)(x[i] * inv * w[i]);
}

static void rotate(const ref_model *m, float *head, uint32_t pos)
{
    uint32_t half = m->n_rot / 2;
    for (uint32_t i = 0; i < half; i++) {
        double theta = pos * pow(m->base, -2.0 * i / m->n_rot) * m->freq_scale;
        if (m->freqs)
            theta /= m->freqs[i];
        double c = cos(theta), s = sin(theta);
        uint32_t a = m->neox ? i : 2 * i, b = m->neox ? i + half : 2 * i + 1;
        double x0 = head[a], x1 = head[b];
        head[a] = (float)(x0 * c - x1 * s);
        head[b] = (float)(x0 * s + x1 * c);
    }
}

int ref_forward(const ref_model *m, const int32_t *tokens, uint32_t n, float *logits)
{
    uint32_t E = m->n_embd, HD = m->head_dim, Q = m->n_head * HD, KV = m->n_kv_head * HD;
    uint32_t F = m->n_ff, big = E > Q ? E : Q;
    float *x = malloc((size_t)n * E * sizeof(float));
    float *h = malloc((size_t)big * sizeof(float));
    float *q = malloc((size_t)n * Q * sizeof(float));
    float *k = malloc((size_t)n * KV * sizeof(float));
    float *v = malloc((size_t)n * KV * sizeof(float));
    float *o = malloc((size_t)n * Q * sizeof(float));
    float *t = malloc((size_t)E * sizeof(float));
    float *g = malloc((size_t)F * sizeof(float));
    float *u = malloc((size_t)F * sizeof(float));
    double *p = malloc((size_t)n * sizeof(double));
    int rc = -1;
    if (!x || !h || !q || !k || !v || !o || !t || !g || !u || !p)
        goto done;
    for (uint32_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= m->n_vocab)
            goto done;
        memcpy(x + (size_t)i * E, m->embd + (size_t)tokens[i] * E, E * sizeof(float));
    }
    for (uint32_t l = 0; l < m->n_layer; l++) {
        const ref_layer *L = &m->layers[l];
        for (uint32_t i = 0; i < n; i++) {
            norm(h, x + (size_t)i * E, L->attn_norm, E, m->eps);
            matvec(q + (size_t)i * Q, L->wq, h, L->bq, Q, E);
            matvec(k + (size_t)i * KV, L->wk, h, L->bk, KV, E);
            matvec(v + (size_t)i * KV, L->wv, h, L->bv, KV, E);
            for (uint32_t hh = 0; hh < m->n_head; hh++)
                rotate(m, q + (size_t)i * Q + hh * HD, i);
            for (uint32_t hh = 0; hh < m->n_kv_head; hh++)
                rotate(m, k + (size_t)i * KV + hh * HD, i);
        }
        for (uint32_t i = 0; i < n; i++) {
            for (uint32_t hh = 0; hh < m->n_head; hh++) {
                uint32_t kvh = hh / (m->n_head / m->n_kv_head);
                const float *qi = q + (size_t)i * Q + hh * HD;
                double mx = -INFINITY, sum = 0;
                for (uint32_t j = 0; j <= i; j++) {
                    double s = 0;
                    for (uint32_t d = 0; d < HD; d++)
                        s += (double)qi[d] * k[(size_t)j * KV + kvh * HD + d];
                    p[j] = s / sqrt((double)HD);
                    if (p[j] > mx)
                        mx = p[j];
                }
                for (uint32_t j = 0; j <= i; j++) {
                    p[j] = exp(p[j] - mx);
                    sum += p[j];
                }
                for (uint32_t d = 0; d < HD; d++) {
                    double acc = 0;
                    for (uint32_t j = 0; j <= i; j++)
                        acc += p[j] / sum * v[(size_t)j * KV + kvh * HD + d];
                    o[(size_t)i * Q + hh * HD + d] = (float)acc;
                }
            }
        }
        for (uint32_t i = 0; i < n; i++) {
            float *xi = x + (size_t)i * E;
            matvec(t, L->wo, o + (size_t)i * Q, L->bo, E, Q);
            for (uint32_t e = 0; e < E; e++)
                xi[e] += t[e];
            norm(h, xi, L->ffn_norm, E, m->eps);
            matvec(g, L->gate, h, NULL, F, E);
            matvec(u, L->up, h, NULL, F, E);
            for (uint32_t e = 0; e < F; e++)
                g[e] = (float)(g[e] / (1.0 + exp(-(double)g[e])) * u[e]);
            matvec(t, L->down, g, NULL, E, F);
            for (uint32_t e = 0; e < E; e++)
                xi[e] += t[e];
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        norm(h, x + (size_t)i * E, m->out_norm, E, m->eps);
        matvec(logits + (size_t)i * m->n_vocab, m->output, h, NULL, m->n_vocab, E);
    }
    rc = 0;
done:
    free(x); free(h); free(q); free(k); free(v); free(o); free(t); free(g); free(u); free(p);
    return rc;
}

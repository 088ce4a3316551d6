/* attn.c - causal attention over the F16 KV cache, blocked: a block of
 * cells is converted to f32 once and serves every query row of a work item
 * (a prompt chunk's tokens x the heads sharing one KV head), with a running
 * softmax per row. Portable C version and the kernel choice; the AVX2
 * version is attn-avx2.c and follows the same steps. The FFN's SiLU gate
 * lives here too, as it shares the vector exp of the AVX2 file. */
#include "engine/engine.h"

#include <math.h>

size_t engine_attn_scratch_floats(uint32_t rows, uint32_t head_dim)
{
    /* K and V of a block, one row's scores, running max and sum per row */
    return 2 * (size_t)ENGINE_ATTN_BLOCK * head_dim + ENGINE_ATTN_BLOCK + 2 * (size_t)rows;
}

engine_attn_fn engine_attn_get(uint32_t head_dim)
{
#ifdef ENGINE_HAVE_AVX2_KERNELS
    if (head_dim % 8 == 0 && engine_quant_isa()[0] == 'a')
        return engine_attn_f16_avx2;
#else
    (void)head_dim;
#endif
    return engine_attn_f16;
}

engine_silu_mul_fn engine_silu_mul_get(void)
{
#ifdef ENGINE_HAVE_AVX2_KERNELS
    if (engine_quant_isa()[0] == 'a')
        return engine_silu_mul_avx2;
#endif
    return engine_silu_mul;
}

void engine_silu_mul(float *g, const float *u, size_t n)
{
    for (size_t i = 0; i < n; i++)
        g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* Cells [c0, c0 + n) of k and v as f32 rows of hd; the rest of the block is
 * zero, so no row ever reads a cell that was never written. */
static void load_block(const engine_attn_args *a, uint32_t c0, uint32_t n, float *kb, float *vb)
{
    uint32_t hd = a->head_dim;
    for (uint32_t s = 0; s < n; s++) {
        const uint16_t *kc = a->k + (size_t)(c0 + s) * a->kv_stride;
        const uint16_t *vc = a->v + (size_t)(c0 + s) * a->kv_stride;
        for (uint32_t d = 0; d < hd; d++) {
            kb[(size_t)s * hd + d] = engine_f16_to_f32(kc[d]);
            vb[(size_t)s * hd + d] = engine_f16_to_f32(vc[d]);
        }
    }
    for (size_t e = (size_t)n * hd; e < (size_t)ENGINE_ATTN_BLOCK * hd; e++)
        kb[e] = vb[e] = 0.0f;
}

void engine_attn_f16(const engine_attn_args *a)
{
    uint32_t hd = a->head_dim, rows = a->n_tok * a->n_group;
    float *kb = a->scratch, *vb = kb + (size_t)ENGINE_ATTN_BLOCK * hd;
    float *sc = vb + (size_t)ENGINE_ATTN_BLOCK * hd, *mx = sc + ENGINE_ATTN_BLOCK, *sum = mx + rows;
    uint32_t n_max = 0;
    for (uint32_t t = 0; t < a->n_tok; t++)
        if (a->pos[t] + 1 > n_max)
            n_max = a->pos[t] + 1;
    for (uint32_t c0 = 0; c0 < n_max; c0 += ENGINE_ATTN_BLOCK) {
        uint32_t nb = n_max - c0 < ENGINE_ATTN_BLOCK ? n_max - c0 : ENGINE_ATTN_BLOCK;
        load_block(a, c0, nb, kb, vb);
        for (uint32_t r = 0; r < rows; r++) {
            uint32_t t = r / a->n_group, j = r % a->n_group;
            uint32_t n_att = a->pos[t] + 1;
            if (c0 >= n_att)
                continue;
            uint32_t valid = n_att - c0 < nb ? n_att - c0 : nb;
            const float *q = a->q + t * a->q_stride + (size_t)j * hd;
            float *o = a->out + t * a->q_stride + (size_t)j * hd;
            float bm = -INFINITY;
            for (uint32_t s = 0; s < valid; s++) {
                float acc = 0.0f;
                for (uint32_t d = 0; d < hd; d++)
                    acc += q[d] * kb[(size_t)s * hd + d];
                sc[s] = acc * a->scale;
                if (sc[s] > bm)
                    bm = sc[s];
            }
            float m_new = c0 == 0 || bm > mx[r] ? bm : mx[r];
            float bs = 0.0f;
            for (uint32_t s = 0; s < valid; s++) {
                sc[s] = expf(sc[s] - m_new);
                bs += sc[s];
            }
            if (c0 == 0) {
                sum[r] = bs;
                for (uint32_t d = 0; d < hd; d++)
                    o[d] = 0.0f;
            } else {
                float alpha = expf(mx[r] - m_new);
                sum[r] = sum[r] * alpha + bs;
                for (uint32_t d = 0; d < hd; d++)
                    o[d] *= alpha;
            }
            mx[r] = m_new;
            for (uint32_t s = 0; s < valid; s++)
                for (uint32_t d = 0; d < hd; d++)
                    o[d] += sc[s] * vb[(size_t)s * hd + d];
        }
    }
    for (uint32_t r = 0; r < rows; r++) {
        uint32_t t = r / a->n_group, j = r % a->n_group;
        float *o = a->out + t * a->q_stride + (size_t)j * hd;
        float inv = 1.0f / sum[r];
        for (uint32_t d = 0; d < hd; d++)
            o[d] *= inv;
    }
}

/* attn-avx2.c - the AVX2+FMA+F16C version of attn.c's blocked attention:
 * a block's K and V cells are converted with F16C once per work item, the
 * scores of 8 cells come out of one register (8 dot products reduced
 * together), the softmax uses a vector exp, and P.V accumulates in
 * registers. A row's arithmetic depends only on its query and its cells.
 * The FFN's SiLU gate uses the same vector exp. */
#define ENGINE_AVX2_SOURCE   /* engine.h: the shared AVX2 helpers */
#include "engine/engine.h"

#ifdef ENGINE_HAVE_AVX2_KERNELS

#include <immintrin.h>
#include <math.h>


/* e^x for x <= 88, Cephes' expf (range reduction by ln 2, degree-6
 * polynomial, about 2 ulp); inputs below -87.3 give about 1e-38, not 0,
 * so the callers zero masked lanes themselves. */
AVX2 INLINE __m256 exp256(__m256 x)
{
    x = _mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f));
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.3365447504f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

AVX2 INLINE float hmax8(__m256 v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Lane i = the sum of the 8 lanes of a[i]. */
AVX2 INLINE __m256 reduce8(const __m256 a[8])
{
    __m256 t0 = _mm256_hadd_ps(a[0], a[1]), t1 = _mm256_hadd_ps(a[2], a[3]);
    __m256 t2 = _mm256_hadd_ps(a[4], a[5]), t3 = _mm256_hadd_ps(a[6], a[7]);
    __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20),
                         _mm256_permute2f128_ps(u0, u1, 0x31));
}

/* Cells [c0, c0 + n) as f32 rows of hd; the rest of the block is zero. */
AVX2 static void load_block(const engine_attn_args *a, uint32_t c0, uint32_t n, float *kb,
                            float *vb)
{
    uint32_t hd = a->head_dim;
    for (uint32_t s = 0; s < n; s++) {
        const uint16_t *kc = a->k + (size_t)(c0 + s) * a->kv_stride;
        const uint16_t *vc = a->v + (size_t)(c0 + s) * a->kv_stride;
        for (uint32_t d = 0; d < hd; d += 8) {
            _mm256_storeu_ps(kb + (size_t)s * hd + d,
                             _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(kc + d))));
            _mm256_storeu_ps(vb + (size_t)s * hd + d,
                             _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(vc + d))));
        }
    }
    for (size_t e = (size_t)n * hd; e < (size_t)ENGINE_ATTN_BLOCK * hd; e += 8) {
        _mm256_storeu_ps(kb + e, _mm256_setzero_ps());
        _mm256_storeu_ps(vb + e, _mm256_setzero_ps());
    }
}

/* Scores of cells 8g .. 8g+7 of the block for query q. */
AVX2 INLINE __m256 scores8(const float *q, const float *kb, uint32_t hd, uint32_t g)
{
    __m256 acc[8];
    const float *k0 = kb + (size_t)8 * g * hd;
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        acc[i] = _mm256_setzero_ps();
    for (uint32_t c = 0; c < hd; c += 8) {
        __m256 qc = _mm256_loadu_ps(q + c);
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++)
            acc[i] = _mm256_fmadd_ps(_mm256_loadu_ps(k0 + (size_t)i * hd + c), qc, acc[i]);
    }
    return reduce8(acc);
}

/* o[0 .. 8*NG) = (first ? 0 : o * alpha) + sum over s < n of p[s] * vb row s. */
AVX2 INLINE void pv_chunk(int NG, float *o, const float *p, const float *vb, uint32_t hd,
                          uint32_t n, bool first, float alpha)
{
    __m256 acc[4];
    __m256 al = _mm256_set1_ps(alpha);
#pragma GCC unroll 4
    for (int k = 0; k < NG; k++)
        acc[k] = first ? _mm256_setzero_ps() : _mm256_mul_ps(_mm256_loadu_ps(o + 8 * k), al);
    for (uint32_t s = 0; s < n; s++) {
        __m256 ps = _mm256_broadcast_ss(p + s);
        const float *v = vb + (size_t)s * hd;
#pragma GCC unroll 4
        for (int k = 0; k < NG; k++)
            acc[k] = _mm256_fmadd_ps(ps, _mm256_loadu_ps(v + 8 * k), acc[k]);
    }
#pragma GCC unroll 4
    for (int k = 0; k < NG; k++)
        _mm256_storeu_ps(o + 8 * k, acc[k]);
}

/* One row against one block of nb cells, of which the first valid count. */
AVX2 static void row_block(const engine_attn_args *a, const float *q, float *o, const float *kb,
                           const float *vb, float *sc, uint32_t valid, bool first, float *mx,
                           float *sum)
{
    uint32_t hd = a->head_dim, ng = (valid + 7) / 8;
    const __m256 lane = _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 scale = _mm256_set1_ps(a->scale);
    __m256 s[ENGINE_ATTN_BLOCK / 8], valid_mask[ENGINE_ATTN_BLOCK / 8];
    __m256 vmax = _mm256_set1_ps(-INFINITY);
    for (uint32_t g = 0; g < ng; g++) {
        valid_mask[g] = _mm256_cmp_ps(_mm256_add_ps(lane, _mm256_set1_ps((float)(8 * g))),
                                      _mm256_set1_ps((float)valid), _CMP_LT_OQ);
        s[g] = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY),
                                _mm256_mul_ps(scores8(q, kb, hd, g), scale), valid_mask[g]);
        vmax = _mm256_max_ps(vmax, s[g]);
    }
    float bm = hmax8(vmax);
    float m_new = first || bm > *mx ? bm : *mx;
    __m256 mv = _mm256_set1_ps(m_new);
    __m256 vsum = _mm256_setzero_ps();
    for (uint32_t g = 0; g < ng; g++) {
        __m256 p = _mm256_and_ps(exp256(_mm256_sub_ps(s[g], mv)), valid_mask[g]);
        _mm256_storeu_ps(sc + 8 * g, p);
        vsum = _mm256_add_ps(vsum, p);
    }
    float bs = engine_avx2_hsum(vsum), alpha = 1.0f;
    if (!first) {
        alpha = _mm_cvtss_f32(_mm256_castps256_ps128(exp256(_mm256_set1_ps(*mx - m_new))));
        *sum = *sum * alpha + bs;
    } else {
        *sum = bs;
    }
    *mx = m_new;
    uint32_t d = 0;
    for (; d + 32 <= hd; d += 32)
        pv_chunk(4, o + d, sc, vb + d, hd, valid, first, alpha);
    switch ((hd - d) / 8) {
    case 3: pv_chunk(3, o + d, sc, vb + d, hd, valid, first, alpha); break;
    case 2: pv_chunk(2, o + d, sc, vb + d, hd, valid, first, alpha); break;
    case 1: pv_chunk(1, o + d, sc, vb + d, hd, valid, first, alpha); break;
    default: break;
    }
}

AVX2 void engine_attn_f16_avx2(const engine_attn_args *a)
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
            row_block(a, a->q + t * a->q_stride + (size_t)j * hd,
                      a->out + t * a->q_stride + (size_t)j * hd, kb, vb, sc, valid, c0 == 0,
                      mx + r, sum + r);
        }
    }
    for (uint32_t r = 0; r < rows; r++) {
        uint32_t t = r / a->n_group, j = r % a->n_group;
        float *o = a->out + t * a->q_stride + (size_t)j * hd;
        __m256 inv = _mm256_set1_ps(1.0f / sum[r]);
        for (uint32_t d = 0; d < hd; d += 8)
            _mm256_storeu_ps(o + d, _mm256_mul_ps(_mm256_loadu_ps(o + d), inv));
    }
}

AVX2 void engine_silu_mul_avx2(float *g, const float *u, size_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(g + i);
        __m256 e = exp256(_mm256_xor_ps(x, sign));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_div_ps(x, _mm256_add_ps(one, e)),
                                              _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++)
        g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

#else
typedef int engine_attn_avx2_unused;
#endif

/* quant-k-avx2.c - the AVX2 kernels for Q4_K, Q5_K and Q6_K weights against Q8_K
 * activations, in the shape of quant-q-avx2.c: one weight row x up to 8
 * tokens per pass, each super-block's quants and scales unpacked once per
 * pass, and vec_dot is the 1 x 1 case, so a (row, token) result is the same
 * bits whichever call computed it. The weights are read in place. */
#define ENGINE_AVX2_SOURCE   /* engine.h: the shared AVX2 helpers */
#include "engine/engine.h"

#ifdef ENGINE_HAVE_AVX2_KERNELS

#include <immintrin.h>
#include <stddef.h>
#include <string.h>


/* Order of the arithmetic per (row, token), which every call keeps:
 * - super-block i gives 8 exact int32 lane sums S_i of q * y * scale (Q4_K,
 *   Q5_K: the quants 0..15 or 0..31 with the 6-bit scales; Q6_K: the quants stored as
 *   q + 32 in 0..63, unsigned, with the signed scales) and the float
 *   d_i = dx_i * dy_i; acc = fma(d_i, S_i, acc) in super-block order;
 * - the part that does not depend on the weights' quants goes through the
 *   Q8_K block sums (bsums) of the activations, eight tokens per vector:
 *   Q4_K, Q5_K: corr = fma(dmin_i * dy_i, sum_j m_j * (bsums_2j + bsums_2j+1), corr)
 *   Q6_K: corr = fma(32 * dx_i * dy_i, sum_j sc_j * bsums_j, corr)
 *   (the integer sums are exact);
 * - the result is hsum(acc) - corr.
 * Taking the 32 of Q6_K through the bsums saves a maddubs per 32 quants
 * and token; the 6-bit mins of Q4_K/Q5_K were always taken that way. */
#define KT_MAX 8
#define KSEG   64             /* super-blocks per activation summary: K <= 16384 in one */
/* Bytes ahead of the super-block being read: a page, as quant-q-avx2.c's
 * Q_PREFETCH (Q4_K tg64 better than 1 KiB in 9 of 10 alternated pairs,
 * +3-16 %; pp128 unchanged). */
#define K_PREFETCH 4096

enum { K_Q4 = 0, K_Q5 = 1, K_Q6 = 2 };

#define Q4K_BLOCK ((int64_t)sizeof(engine_block_q4_k))
#define Q5K_BLOCK ((int64_t)sizeof(engine_block_q5_k))
#define Q6K_BLOCK ((int64_t)sizeof(engine_block_q6_k))
#define Q8K_BLOCK ((int64_t)sizeof(engine_block_q8_k))

/* Per super-block i of one segment, lane t = token t of the group (lanes
 * past the group's tokens are zero): dy[i][t] the activation's scale;
 * bs[i][k][t] two int16 of its block sums (Q4_K, Q5_K: sums over the 32-element
 * sub-blocks 2k and 2k+1; Q6_K: bsums 2k and 2k+1), the operand of one
 * madd against the weights' pair of mins or scales. */
typedef struct k_act_sum {
    float   dy[KSEG][KT_MAX];
    int32_t bs[KSEG][8][KT_MAX];
} k_act_sum;

AVX2 INLINE int32_t k_pair(int lo, int hi)
{
    return (int32_t)(((uint32_t)(uint16_t)lo) | ((uint32_t)(uint16_t)hi << 16));
}

/* Super-blocks [i0, i0 + ni) of tokens 0..T-1 (token t at act + t * a_stride). */
AVX2 static void k_summarize(int kind, const uint8_t *act, size_t a_stride, int T, int64_t i0,
                             int64_t ni, k_act_sum *s)
{
    memset(s, 0, sizeof s->dy[0] * (size_t)ni);
    memset(s->bs, 0, sizeof s->bs[0] * (size_t)ni);
    for (int t = 0; t < T; t++) {
        const uint8_t *y = act + (size_t)t * a_stride + i0 * Q8K_BLOCK;
        for (int64_t i = 0; i < ni; i++, y += Q8K_BLOCK) {
            const engine_block_q8_k *b = (const engine_block_q8_k *)(const void *)y;
            int16_t bsums[16];
            memcpy(&s->dy[i][t], &b->d, sizeof(float));
            memcpy(bsums, b->bsums, sizeof bsums);
            for (int k = 0; k < 8; k++)
                s->bs[i][k][t] = kind != K_Q6
                    ? (k < 4 ? k_pair(bsums[4 * k] + bsums[4 * k + 1],
                                      bsums[4 * k + 2] + bsums[4 * k + 3]) : 0)
                    : k_pair(bsums[2 * k], bsums[2 * k + 1]);
        }
    }
}

/* The 8 scales (bytes 0..7) and 8 mins (bytes 8..15), 0..63, of a Q4_K
 * super-block from its 12 packed bytes (and 4 bytes of quants after them,
 * unused): sub-blocks 4..7 keep their low 4 bits in bytes 8..11 and their
 * top 2 bits in bits 6-7 of bytes 0..7. As dwords, with w0 w1 w2 the packed
 * ones: sc0-3 = w0 & 3F.., sc4-7 = (w2 & 0F..) | (w0 >> 2 & 30..),
 * m0-3 = w1 & 3F.., m4-7 = (w2 >> 4 & 0F..) | (w1 >> 2 & 30..). */
AVX2 INLINE __m128i k4_scales(const uint8_t *packed)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)packed);
    __m128i a = _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 1, 2, 0));    /* w0 w2 w1 w2 */
    __m128i b = _mm_shuffle_epi32(v, _MM_SHUFFLE(1, 1, 0, 0));    /* w0 w0 w1 w1 */
    __m128i lo = _mm_and_si128(_mm_srlv_epi32(a, _mm_setr_epi32(0, 0, 0, 4)),
                               _mm_setr_epi32(0x3F3F3F3F, 0x0F0F0F0F, 0x3F3F3F3F, 0x0F0F0F0F));
    __m128i hi = _mm_and_si128(_mm_srli_epi32(b, 2),
                               _mm_setr_epi32(0, 0x30303030, 0, 0x30303030));
    return _mm_or_si128(lo, hi);
}

/* Q4_K (q5 false) or Q5_K super-block i of row x against T tokens: acc[t]
 * gets d_i * S_i, *corr the mins term; sb is super-block i's summary. The
 * two formats share d, dmin and the scales; Q5_K adds a 5th bit per quant
 * (qh byte l, bit k: element 32k + l) before its nibbles. */
AVX2 INLINE void k45_block(bool q5, int T, const uint8_t *x, int64_t i, const uint8_t *act,
                           size_t a_stride, const float *dy, const int32_t (*sb)[KT_MAX],
                           __m256 acc[KT_MAX], __m256 *corr)
{
    const int64_t bsz = q5 ? Q5K_BLOCK : Q4K_BLOCK;
    const uint8_t *b = x + i * bsz;
    const uint8_t *qs = b + (q5 ? offsetof(engine_block_q5_k, qs) : offsetof(engine_block_q4_k, qs));
    for (int o = 0; o < (int)bsz; o += 64)
        _mm_prefetch((const char *)b + K_PREFETCH + o, _MM_HINT_T0);
    __m128i scm = k4_scales(b + offsetof(engine_block_q4_k, scales));
    /* both as int16, in both 128-bit lanes: dword k of mins = (m_2k, m_2k+1) */
    __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scm));
    __m256i m16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_srli_si128(scm, 8)));
    __m256 dyv = _mm256_loadu_ps(dy);
    __m256i msum = _mm256_add_epi32(
        _mm256_add_epi32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)sb[0]),
                                           _mm256_shuffle_epi32(m16, 0x00)),
                         _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)sb[1]),
                                           _mm256_shuffle_epi32(m16, 0x55))),
        _mm256_add_epi32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)sb[2]),
                                           _mm256_shuffle_epi32(m16, 0xAA)),
                         _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)sb[3]),
                                           _mm256_shuffle_epi32(m16, 0xFF))));
    __m256 dmin = _mm256_set1_ps(engine_avx2_f16(b + offsetof(engine_block_q4_k, dmin)));
    *corr = _mm256_fmadd_ps(_mm256_mul_ps(dmin, dyv), _mm256_cvtepi32_ps(msum), *corr);

    const __m256i low = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    const __m256i hb = q5 ? _mm256_loadu_si256((const __m256i *)(const void *)
                                               (b + offsetof(engine_block_q5_k, qh)))
                          : _mm256_setzero_si256();
    __m256i sumi[KT_MAX];
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        sumi[t] = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        __m256i q4 = _mm256_loadu_si256((const __m256i *)(const void *)(qs + 32 * c));
        __m256i ql = _mm256_and_si256(q4, low);
        __m256i qh = _mm256_and_si256(_mm256_srli_epi16(q4, 4), low);
        if (q5) {
            /* bit 2c of each qh byte is the 5th bit of the low nibbles, 2c + 1 of the high */
            ql = _mm256_or_si256(ql, _mm256_slli_epi16(
                _mm256_and_si256(_mm256_srli_epi16(hb, 2 * c), one), 4));
            qh = _mm256_or_si256(qh, _mm256_slli_epi16(
                _mm256_and_si256(_mm256_srli_epi16(hb, 2 * c + 1), one), 4));
        }
        /* scale 2c in every int16 lane, then 2c + 1 */
        __m256i sl = _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short)(0x0100 + 0x0404 * c)));
        __m256i sh = _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short)(0x0302 + 0x0404 * c)));
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const uint8_t *y = act + (size_t)t * a_stride + i * Q8K_BLOCK + 4 + 64 * c;
            __m256i pl = _mm256_madd_epi16(
                _mm256_maddubs_epi16(ql, _mm256_loadu_si256((const __m256i *)(const void *)y)), sl);
            __m256i ph = _mm256_madd_epi16(
                _mm256_maddubs_epi16(qh, _mm256_loadu_si256((const __m256i *)(const void *)(y + 32))),
                sh);
            sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(pl, ph));
        }
    }
    __m256 dx = _mm256_set1_ps(engine_avx2_f16(b));
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dx, _mm256_broadcast_ss(dy + t)),
                                 _mm256_cvtepi32_ps(sumi[t]), acc[t]);
}

/* Q6_K super-block i: as k45_block, with the 32 offset as corr. */
AVX2 INLINE void k6_block(int T, const uint8_t *x, int64_t i, const uint8_t *act,
                          size_t a_stride, const float *dy, const int32_t (*sb)[KT_MAX],
                          __m256 acc[KT_MAX], __m256 *corr)
{
    const engine_block_q6_k *b = (const engine_block_q6_k *)(const void *)(x + i * Q6K_BLOCK);
    for (int o = 0; o < 256; o += 64)
        _mm_prefetch((const char *)b + K_PREFETCH + o, _MM_HINT_T0);
    /* the 16 signed scales as int16: dword k = (sc_2k, sc_2k+1) */
    __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)b->scales));
    __m256 dyv = _mm256_loadu_ps(dy);
    __m256i msum = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++)
        msum = _mm256_add_epi32(msum, _mm256_madd_epi16(
            _mm256_loadu_si256((const __m256i *)(const void *)sb[k]),
            _mm256_permutevar8x32_epi32(sc16, _mm256_set1_epi32(k))));
    __m256 dx = _mm256_set1_ps(engine_avx2_f16((const uint8_t *)&b->d));
    *corr = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_mul_ps(dx, _mm256_set1_ps(32.0f)), dyv),
                            _mm256_cvtepi32_ps(msum), *corr);

    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x03);
    __m256i sumi[KT_MAX];
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        sumi[t] = _mm256_setzero_si256();
    /* scales 8h..8h+7 in both 128-bit lanes */
    const __m256i sc_half[2] = { _mm256_permute4x64_epi64(sc16, 0x44),
                                 _mm256_permute4x64_epi64(sc16, 0xEE) };
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h, *qhp = b->qh + 32 * h;
        __m256i sch = sc_half[h];
        for (int k = 0; k < 4; k++) {
            /* run k of this half: low 4 bits from ql (bytes 0..31 or 32..63,
             * low or high nibbles), the top 2 from bits 2k, 2k+1 of qh */
            __m256i l = _mm256_loadu_si256((const __m256i *)(const void *)(ql + 32 * (k & 1)));
            __m256i hb = _mm256_loadu_si256((const __m256i *)(const void *)qhp);
            __m256i lo = _mm256_and_si256(k < 2 ? l : _mm256_srli_epi16(l, 4), m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * k), m2);
            __m256i q = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
            /* scale 8h + 2k in the low lane's int16, 8h + 2k + 1 in the high's */
            __m256i s = _mm256_shuffle_epi8(sch, _mm256_setr_epi8(
                (char)(4 * k), (char)(4 * k + 1), (char)(4 * k), (char)(4 * k + 1),
                (char)(4 * k), (char)(4 * k + 1), (char)(4 * k), (char)(4 * k + 1),
                (char)(4 * k), (char)(4 * k + 1), (char)(4 * k), (char)(4 * k + 1),
                (char)(4 * k), (char)(4 * k + 1), (char)(4 * k), (char)(4 * k + 1),
                (char)(4 * k + 2), (char)(4 * k + 3), (char)(4 * k + 2), (char)(4 * k + 3),
                (char)(4 * k + 2), (char)(4 * k + 3), (char)(4 * k + 2), (char)(4 * k + 3),
                (char)(4 * k + 2), (char)(4 * k + 3), (char)(4 * k + 2), (char)(4 * k + 3),
                (char)(4 * k + 2), (char)(4 * k + 3), (char)(4 * k + 2), (char)(4 * k + 3)));
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) {
                const uint8_t *y = act + (size_t)t * a_stride + i * Q8K_BLOCK + 4 + 128 * h + 32 * k;
                __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)(const void *)y));
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(p, s));
            }
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dx, _mm256_broadcast_ss(dy + t)),
                                 _mm256_cvtepi32_ps(sumi[t]), acc[t]);
}

/* out[t * o_stride] = row x . token t for t < T, over all ni super-blocks.
 * With ready, s already summarizes every super-block of these tokens;
 * otherwise (a row longer than KSEG super-blocks) s is refilled per segment. */
AVX2 INLINE void k_row(int kind, int T, int64_t ni, const uint8_t *x, const uint8_t *act,
                       size_t a_stride, k_act_sum *s, bool ready, float *out, size_t o_stride)
{
    __m256 acc[KT_MAX], corr = _mm256_setzero_ps();
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        acc[t] = _mm256_setzero_ps();
    for (int64_t i0 = 0; i0 < ni; i0 += KSEG) {
        int64_t i1 = ni - i0 < KSEG ? ni : i0 + KSEG;
        if (!ready)
            k_summarize(kind, act, a_stride, T, i0, i1 - i0, s);
        for (int64_t i = i0; i < i1; i++) {
            if (kind != K_Q6)
                k45_block(kind == K_Q5, T, x, i, act, a_stride, s->dy[i - i0], s->bs[i - i0],
                          acc, &corr);
            else
                k6_block(T, x, i, act, a_stride, s->dy[i - i0], s->bs[i - i0], acc, &corr);
        }
    }
    float c[KT_MAX];
    _mm256_storeu_ps(c, corr);
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        out[(size_t)t * o_stride] = engine_avx2_hsum(acc[t]) - c[t];
}

#define K_CASE(T) \
    case T: \
        for (int64_t r = 0; r < n_rows; r++) \
            k_row(kind, T, ni, w + (size_t)r * w_row, ar, a_stride, s, ready, o + r, o_stride); \
        break

/* Tokens in groups of KT_MAX, each group's activations summarized once and
 * the rows (a slice the caller keeps in L2) walked one at a time. */
AVX2 INLINE void k_gemm(int kind, int64_t n, const uint8_t *w, size_t w_row, int64_t n_rows,
                        const uint8_t *act, size_t a_stride, int64_t n_tok, float *out,
                        size_t o_stride, k_act_sum *s)
{
    int64_t ni = n / ENGINE_QK_K;
    bool ready = ni <= KSEG;
    for (int64_t t0 = 0; t0 < n_tok; t0 += KT_MAX) {
        int tt = n_tok - t0 < KT_MAX ? (int)(n_tok - t0) : KT_MAX;
        const uint8_t *ar = act + (size_t)t0 * a_stride;
        float *o = out + (size_t)t0 * o_stride;
        if (ready)
            k_summarize(kind, ar, a_stride, tt, 0, ni, s);
        switch (tt) {
        K_CASE(1); K_CASE(2); K_CASE(3); K_CASE(4);
        K_CASE(5); K_CASE(6); K_CASE(7); K_CASE(8);
        default: break;
        }
    }
}

AVX2 void engine_gemm_q4_k_q8_k_avx2(int64_t n, const void *w, size_t w_row, int64_t n_rows,
                                     const void *act, size_t a_stride, int64_t n_tok, float *out,
                                     size_t o_stride)
{
    k_act_sum s;
    k_gemm(K_Q4, n, w, w_row, n_rows, act, a_stride, n_tok, out, o_stride, &s);
}

AVX2 void engine_gemm_q5_k_q8_k_avx2(int64_t n, const void *w, size_t w_row, int64_t n_rows,
                                     const void *act, size_t a_stride, int64_t n_tok, float *out,
                                     size_t o_stride)
{
    k_act_sum s;
    k_gemm(K_Q5, n, w, w_row, n_rows, act, a_stride, n_tok, out, o_stride, &s);
}

AVX2 void engine_gemm_q6_k_q8_k_avx2(int64_t n, const void *w, size_t w_row, int64_t n_rows,
                                     const void *act, size_t a_stride, int64_t n_tok, float *out,
                                     size_t o_stride)
{
    k_act_sum s;
    k_gemm(K_Q6, n, w, w_row, n_rows, act, a_stride, n_tok, out, o_stride, &s);
}

/* vec_dot is the 1 x 1 tile, which makes it agree with the tiles by
 * construction. */
AVX2 float engine_vec_dot_q4_k_q8_k_avx2(int64_t n, const void *w, const void *a)
{
    k_act_sum s;
    float r;
    k_gemm(K_Q4, n, w, 0, 1, a, 0, 1, &r, 1, &s);
    return r;
}

AVX2 float engine_vec_dot_q5_k_q8_k_avx2(int64_t n, const void *w, const void *a)
{
    k_act_sum s;
    float r;
    k_gemm(K_Q5, n, w, 0, 1, a, 0, 1, &r, 1, &s);
    return r;
}

AVX2 float engine_vec_dot_q6_k_q8_k_avx2(int64_t n, const void *w, const void *a)
{
    k_act_sum s;
    float r;
    k_gemm(K_Q6, n, w, 0, 1, a, 0, 1, &r, 1, &s);
    return r;
}

#else
typedef int engine_quant_k_avx2_unused;
#endif

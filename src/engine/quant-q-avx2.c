/* quant-q-avx2.c - the AVX2 kernels for Q4_0 and Q8_0 weights against Q8_0
 * activations. vec_dot and the matmul tiles (gemm) are one inline kernel of
 * one weight row x T tokens, so a (row, token) result is the same bits
 * whichever call computed it: a prompt, a batched decode step of any width
 * and one token alone agree exactly. The weights are read in place (no repacking). */
#define ENGINE_AVX2_SOURCE   /* engine.h: the shared AVX2 helpers */
#include "engine/engine.h"

#ifdef ENGINE_HAVE_AVX2_KERNELS

#include <immintrin.h>
#include <string.h>


/* Order of the arithmetic per (row, token), which every kernel keeps:
 * - block b gives 8 exact int32 lane sums P_b and the scale d_b = dx_b * dy_b;
 * - blocks go in pairs: acc = acc + fma(d_b+1, P_b+1, d_b * P_b); a lone last
 *   block: acc = fma(d_b, P_b, acc). The dependency chain through acc is one
 *   add per two blocks, not one FMA (4 cycles) per block, which was what
 *   bounded a single row;
 * - the result is the horizontal sum of acc (minus corr for Q4_0).
 * Q4_0 multiplies its nibbles q (0..15) unsigned against the signed
 * activations (one maddubs, no sign juggling per token) and takes the -8
 * back per row: corr = sum_b dx_b * c_b with c_b = dy_b * 8 * sum(y_b), in
 * the same pairs, eight tokens per vector; result = hsum(acc) - corr. Q8_0
 * is signed x signed: the weights' signs move onto the activations.
 *
 * Shape: one row x up to QT_MAX tokens per pass (8 accumulators), so a
 * decode step of up to 8 rows streams the weights once; a prompt goes in
 * groups of 8 tokens over a slice of rows kept in L2 (measured in cache,
 * K 1024, 128 tokens: 1 x 8 gave Q4_0 40 G MAC/s, 2 x 4 36, 2 x 3 34), and
 * its Q4_0 rows are first widened to one byte per nibble, a chunk at a time. */
#define QT_MAX 8
#define QSEG   512            /* blocks per activation summary: K <= 16384 in one */
/* Bytes ahead of the block being read. 4 KiB (a page: the hardware
 * prefetchers stop at page ends) beat 1 KiB in 9 of 12 alternated Q4_0
 * tg64 pairs (median 77.3 against 73.4 t/s) and in 5 of 5 4-sequence
 * decode steps (7-13 %); Q8_0 tg64 5 of 6. */
#define Q_PREFETCH 4096

enum { Q_Q8 = 0, Q_Q4 = 1, Q_Q4W = 2 };   /* Q8_0 rows, Q4_0 rows, widened Q4_0 rows */

#define Q4_BLOCK  ((int64_t)sizeof(engine_block_q4_0))
#define Q8_BLOCK  ((int64_t)sizeof(engine_block_q8_0))

/* Per block b of one segment and token t, at [b * T + t] for a group of T
 * tokens: a vector load at [b * T] has the group's tokens in its first T
 * lanes (the rest is the next blocks' finite values, or the zero padding,
 * and is never used). */
typedef struct q_act_sum {
    float dy[QSEG * QT_MAX + QT_MAX];   /* the activation block's scale */
    float c[QSEG * QT_MAX + QT_MAX];    /* Q4_0: dy * 8 * sum of its quants */
} q_act_sum;

/* Lane k of the result: the sum of the 8 lanes of p[k]. */
AVX2 INLINE __m256i q_hsum8_epi32(const __m256i p[8])
{
    __m256i s[4];
    for (int k = 0; k < 4; k++)
        s[k] = _mm256_add_epi32(_mm256_unpacklo_epi32(p[2 * k], p[2 * k + 1]),
                                _mm256_unpackhi_epi32(p[2 * k], p[2 * k + 1]));
    __m256i lo = _mm256_add_epi32(_mm256_unpacklo_epi64(s[0], s[1]), _mm256_unpackhi_epi64(s[0], s[1]));
    __m256i hi = _mm256_add_epi32(_mm256_unpacklo_epi64(s[2], s[3]), _mm256_unpackhi_epi64(s[2], s[3]));
    /* lo = [sums of p0..p3 over lanes 0-3 | over lanes 4-7], hi likewise for p4..p7 */
    return _mm256_add_epi32(_mm256_permute2x128_si256(lo, hi, 0x20),
                            _mm256_permute2x128_si256(lo, hi, 0x31));
}

/* Sum of the 32 quants of an activation block, times 8. */
AVX2 INLINE __m256i q_sum_lanes(const uint8_t *qs)
{
    __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)qs);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1));
}

/* Blocks [b0, b0 + nb) of tokens 0..T-1 (token t at act + t * a_stride),
 * entry [b * T + t], eight entries per step. */
AVX2 static void q_summarize(bool q4, const uint8_t *act, size_t a_stride, int T, int64_t b0,
                             int64_t nb, q_act_sum *s)
{
    const uint8_t *base = act + b0 * Q8_BLOCK;
    int64_t n = nb * T, i = 0, b = 0;
    int t = 0;
    for (; i + 8 <= n; i += 8) {
        const uint8_t *y[8];
        uint16_t h[8];
        for (int k = 0; k < 8; k++) {
            y[k] = base + (size_t)t * a_stride + b * Q8_BLOCK;
            memcpy(&h[k], y[k], sizeof h[k]);
            if (++t == T) {
                t = 0;
                b++;
            }
        }
        __m256 dy = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)h));
        _mm256_storeu_ps(s->dy + i, dy);
        if (!q4)
            continue;
        __m256i p[8];
        for (int k = 0; k < 8; k++)
            p[k] = q_sum_lanes(y[k] + 2);
        __m256i sum8 = _mm256_slli_epi32(q_hsum8_epi32(p), 3);
        _mm256_storeu_ps(s->c + i, _mm256_mul_ps(dy, _mm256_cvtepi32_ps(sum8)));
    }
    for (; i < n; i++) {
        const uint8_t *y = base + (size_t)t * a_stride + b * Q8_BLOCK;
        float dy = engine_avx2_f16(y);
        s->dy[i] = dy;
        if (q4) {
            __m256i p = q_sum_lanes(y + 2);
            __m128i h = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
            h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
            h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xB1));
            s->c[i] = dy * (float)(8 * _mm_cvtsi128_si32(h));
        }
        if (++t == T) {
            t = 0;
            b++;
        }
    }
    memset(s->dy + n, 0, QT_MAX * sizeof(float));
    memset(s->c + n, 0, QT_MAX * sizeof(float));
}

/* Weight block b of a row: its quants as 32 bytes (Q8_0 signed, Q4_0
 * nibbles 0..15: elements 0..15 from the low nibbles, 16..31 from the high);
 * its scale comes from q_dx. */
AVX2 INLINE __m256i q_load(int kind, const uint8_t *row, int64_t b)
{
    if (kind == Q_Q4) {
        const uint8_t *p = row + b * Q4_BLOCK;
        /* both halves hold the 16 bytes; the high half shifted right by 4
         * per 64 bits leaves each byte's high nibble in its low 4 bits */
        __m256i both = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(p + 2)));
        both = _mm256_srlv_epi64(both, _mm256_set_epi64x(4, 4, 0, 0));
        return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
    }
    const uint8_t *p = row + b * Q8_BLOCK;
    return _mm256_loadu_si256((const __m256i *)(const void *)(p + 2));
}

/* The scales of blocks [b0, b1) of a row as floats, eight conversions at a
 * time: the kernels then broadcast them from memory (a load, no ALU). */
AVX2 INLINE void q_scales(int kind, const uint8_t *row, int64_t b0, int64_t b1, float *xd)
{
    const int64_t bs = kind == Q_Q4 ? Q4_BLOCK : Q8_BLOCK;
    int64_t b = b0;
    for (; b + 8 <= b1; b += 8) {
        uint16_t h[8];
        for (int k = 0; k < 8; k++)
            memcpy(&h[k], row + (b + k) * bs, sizeof h[k]);
        _mm256_storeu_ps(xd + (b - b0), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)h)));
    }
    for (; b < b1; b++)
        xd[b - b0] = engine_avx2_f16(row + b * bs);
}

/* Block b's scale in every lane: Q4_0 rows from q_scales' array xd (from
 * block b0 on); Q8_0 and widened rows convert it in place, which measured
 * faster for them (Q8_0 one token: the array cost 4-14%). */
AVX2 INLINE __m256 q_dx(int kind, const uint8_t *row, const float *xd, int64_t b, int64_t b0)
{
    if (kind == Q_Q4)
        return _mm256_broadcast_ss(xd + (b - b0));
    return _mm256_set1_ps(engine_avx2_f16(row + b * Q8_BLOCK));
}

/* The 8 lane sums of a weight block against one activation block, as floats. */
AVX2 INLINE __m256 q_prod(bool q4, __m256i qx, __m256i ax, const uint8_t *yqs)
{
    __m256i y = _mm256_loadu_si256((const __m256i *)(const void *)yqs);
    __m256i p16 = q4 ? _mm256_maddubs_epi16(qx, y)
                     : _mm256_maddubs_epi16(ax, _mm256_sign_epi8(y, qx));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

/* Blocks [b0, b1) of one row against T tokens; s summarizes the
 * activations from block s0 on. Only a row's last segment may end with a
 * lone block. */
AVX2 INLINE void q_seg(int kind, int T, int64_t b0, int64_t b1, const uint8_t *x,
                       const uint8_t *act, size_t a_stride, const q_act_sum *s, int64_t s0,
                       __m256 acc[QT_MAX], __m256 *corr)
{
    const bool q4 = kind != Q_Q8;
    const int64_t bs = kind == Q_Q4 ? Q4_BLOCK : Q8_BLOCK;
    float xd[QSEG];
    if (kind == Q_Q4)
        q_scales(kind, x, b0, b1, xd);
    int64_t b = b0;
    for (; b + 2 <= b1; b += 2) {
        const float *dy0 = s->dy + (b - s0) * T, *dy1 = dy0 + T;
        const float *c0 = s->c + (b - s0) * T, *c1 = c0 + T;
        /* the row streams from memory (in a decode step): fetch ahead */
        _mm_prefetch((const char *)x + b * bs + Q_PREFETCH, _MM_HINT_T0);
        __m256 dx0 = q_dx(kind, x, xd, b, b0), dx1 = q_dx(kind, x, xd, b + 1, b0);
        __m256i q0 = q_load(kind, x, b), q1 = q_load(kind, x, b + 1);
        __m256i a0 = q4 ? q0 : _mm256_sign_epi8(q0, q0);
        __m256i a1 = q4 ? q1 : _mm256_sign_epi8(q1, q1);
        if (q4)
            *corr = _mm256_add_ps(*corr, _mm256_fmadd_ps(
                dx1, _mm256_loadu_ps(c1), _mm256_mul_ps(dx0, _mm256_loadu_ps(c0))));
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const uint8_t *y = act + (size_t)t * a_stride + b * Q8_BLOCK + 2;
            __m256 d0 = _mm256_mul_ps(dx0, _mm256_broadcast_ss(dy0 + t));
            __m256 d1 = _mm256_mul_ps(dx1, _mm256_broadcast_ss(dy1 + t));
            __m256 p0 = q_prod(q4, q0, a0, y), p1 = q_prod(q4, q1, a1, y + Q8_BLOCK);
            acc[t] = _mm256_add_ps(acc[t], _mm256_fmadd_ps(d1, p1, _mm256_mul_ps(d0, p0)));
        }
    }
    if (b < b1) {
        const float *dy0 = s->dy + (b - s0) * T, *c0 = s->c + (b - s0) * T;
        __m256 dx0 = q_dx(kind, x, xd, b, b0);
        __m256i q0 = q_load(kind, x, b);
        __m256i a0 = q4 ? q0 : _mm256_sign_epi8(q0, q0);
        if (q4)
            *corr = _mm256_fmadd_ps(dx0, _mm256_loadu_ps(c0), *corr);
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const uint8_t *y = act + (size_t)t * a_stride + b * Q8_BLOCK + 2;
            __m256 d0 = _mm256_mul_ps(dx0, _mm256_broadcast_ss(dy0 + t));
            acc[t] = _mm256_fmadd_ps(d0, q_prod(q4, q0, a0, y), acc[t]);
        }
    }
}

/* out[t * o_stride] = row x . token t for t < T, over all nb blocks. With
 * ready, s already summarizes every block of these tokens; otherwise (a row
 * longer than QSEG blocks) s is scratch, refilled per segment. */
AVX2 INLINE void q_row(int kind, int T, int64_t nb, const uint8_t *x, const uint8_t *act,
                       size_t a_stride, q_act_sum *s, bool ready, float *out, size_t o_stride)
{
    __m256 acc[QT_MAX], corr = _mm256_setzero_ps();
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        acc[t] = _mm256_setzero_ps();
    if (ready) {
        q_seg(kind, T, 0, nb, x, act, a_stride, s, 0, acc, &corr);
    } else {
        for (int64_t b0 = 0; b0 < nb; b0 += QSEG) {
            int64_t b1 = nb - b0 < QSEG ? nb : b0 + QSEG;
            q_summarize(kind != Q_Q8, act, a_stride, T, b0, b1 - b0, s);
            q_seg(kind, T, b0, b1, x, act, a_stride, s, b0, acc, &corr);
        }
    }
    float c[QT_MAX];
    _mm256_storeu_ps(c, corr);
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) {
        float v = engine_avx2_hsum(acc[t]);
        out[(size_t)t * o_stride] = kind != Q_Q8 ? v - c[t] : v;
    }
}

#define Q_CASE(T) \
    case T: \
        for (int64_t r = 0; r < n_rows; r++) \
            q_row(kind, T, nb, w + (size_t)r * w_row, ar, a_stride, s, ready, o + r, o_stride); \
        break

/* Tokens in groups of QT_MAX, each group's activations summarized once and
 * the rows (a slice the caller keeps in L2) walked one at a time. */
AVX2 INLINE void q_gemm(int kind, int64_t n, const uint8_t *w, size_t w_row, int64_t n_rows,
                        const uint8_t *act, size_t a_stride, int64_t n_tok, float *out,
                        size_t o_stride, q_act_sum *s)
{
    int64_t nb = n / ENGINE_QK;
    bool ready = nb <= QSEG;
    for (int64_t t0 = 0; t0 < n_tok; t0 += QT_MAX) {
        int tt = n_tok - t0 < QT_MAX ? (int)(n_tok - t0) : QT_MAX;
        const uint8_t *ar = act + (size_t)t0 * a_stride;
        float *o = out + (size_t)t0 * o_stride;
        if (ready)
            q_summarize(kind != Q_Q8, ar, a_stride, tt, 0, nb, s);
        switch (tt) {
        Q_CASE(1); Q_CASE(2); Q_CASE(3); Q_CASE(4);
        Q_CASE(5); Q_CASE(6); Q_CASE(7); Q_CASE(8);
        default: break;
        }
    }
}

AVX2 void engine_gemm_q8_0_q8_0_avx2(int64_t n, const void *w, size_t w_row, int64_t n_rows,
                                     const void *act, size_t a_stride, int64_t n_tok, float *out,
                                     size_t o_stride)
{
    q_act_sum s;
    q_gemm(Q_Q8, n, w, w_row, n_rows, act, a_stride, n_tok, out, o_stride, &s);
}

/* With more tokens than one pass takes, Q4_0 rows are first widened to one
 * byte per nibble (Q8_0-sized blocks: the scale bits, then q in 0..15), a
 * chunk of rows at a time on the stack, so the nibbles are split once per
 * chunk instead of once per group of QT_MAX tokens; the tile then sees the
 * very integers and scales, hence the same bits. The chunk holds a whole
 * 128 KiB slice of the matmul's rows widened (the activation summaries are
 * made once per chunk and token group: with 48 KiB chunks they took 11% of
 * a prompt's time), and still fits in L2 beside a token group. */
#define Q4_WIDEN_BYTES (256u << 10)

AVX2 static void q4_0_widen(int64_t nb, const uint8_t *row, uint8_t *out)
{
    for (int64_t b = 0; b < nb; b++, out += Q8_BLOCK) {
        __m256i q = q_load(Q_Q4, row, b);
        memcpy(out, row + b * Q4_BLOCK, 2);
        _mm256_storeu_si256((__m256i *)(void *)(out + 2), q);
    }
}

AVX2 void engine_gemm_q4_0_q8_0_avx2(int64_t n, const void *w, size_t w_row, int64_t n_rows,
                                     const void *act, size_t a_stride, int64_t n_tok, float *out,
                                     size_t o_stride)
{
    q_act_sum s;
    int64_t nb = n / ENGINE_QK;
    size_t wide_row = (size_t)(nb * Q8_BLOCK);
    int64_t chunk = wide_row ? (int64_t)(Q4_WIDEN_BYTES / wide_row) : 0;
    if (n_tok <= QT_MAX || chunk < 2) {
        q_gemm(Q_Q4, n, w, w_row, n_rows, act, a_stride, n_tok, out, o_stride, &s);
        return;
    }
    uint8_t wide[Q4_WIDEN_BYTES];
    const uint8_t *wr = w;
    for (int64_t r0 = 0; r0 < n_rows; r0 += chunk) {
        int64_t rows = n_rows - r0 < chunk ? n_rows - r0 : chunk;
        for (int64_t r = 0; r < rows; r++)
            q4_0_widen(nb, wr + (size_t)(r0 + r) * w_row, wide + (size_t)r * wide_row);
        q_gemm(Q_Q4W, n, wide, wide_row, rows, act, a_stride, n_tok, out + r0, o_stride, &s);
    }
}

/* vec_dot is the 1 x 1 tile, which makes it agree with the tiles by
 * construction. */
AVX2 float engine_vec_dot_q8_0_q8_0_avx2(int64_t n, const void *w, const void *a)
{
    q_act_sum s;
    float r;
    q_gemm(Q_Q8, n, w, 0, 1, a, 0, 1, &r, 1, &s);
    return r;
}

AVX2 float engine_vec_dot_q4_0_q8_0_avx2(int64_t n, const void *w, const void *a)
{
    q_act_sum s;
    float r;
    q_gemm(Q_Q4, n, w, 0, 1, a, 0, 1, &r, 1, &s);
    return r;
}

#else
typedef int engine_quant_q_avx2_unused;
#endif

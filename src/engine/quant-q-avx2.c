/* quant-q-avx2.c - the AVX2 kernels for Q4_0 and Q8_0 weights against Q8_0
 * activations. Per type, vec_dot and the matmul tiles (gemm) are one inline
 * kernel, so a (row, token) result is the same bits whichever call computed
 * it: a prompt, a batched decode step of any width and one token alone agree
 * exactly. The weights are read in place (no repacking at load). */
#define ENGINE_AVX2_SOURCE   /* engine.h: the shared AVX2 helpers */
#include "engine/engine.h"

#ifdef ENGINE_HAVE_AVX2_KERNELS

#include <immintrin.h>
#include <string.h>


/* Q8_0, per (row, token):
 * - block b gives 8 exact int32 lane sums P_b and the scale d_b = dx_b * dy_b;
 * - blocks go in pairs: acc = acc + fma(d_b+1, P_b+1, d_b * P_b); a lone last
 *   block: acc = fma(d_b, P_b, acc). The dependency chain through acc is one
 *   add per two blocks, not one FMA (4 cycles) per block, which was what
 *   bounded a single row;
 * - the result is the horizontal sum of acc.
 * The weights' signs move onto the activations (maddubs takes one unsigned
 * operand). Shape: one row x up to QT_MAX tokens per pass (8 accumulators),
 * so a decode step of up to 8 rows streams the weights once; a prompt goes in
 * groups of 8 tokens over a slice of rows kept in L2.
 *
 * Q4_0 goes eight rows at a time, see "Q4_0" below. */
#define QT_MAX 8
#define QSEG   512            /* blocks per activation summary: K <= 16384 in one */
/* Bytes ahead of the block being read. 4 KiB (a page: the hardware
 * prefetchers stop at page ends) beat 1 KiB in 9 of 12 alternated Q4_0
 * tg64 pairs (median 77.3 against 73.4 t/s) and in 5 of 5 4-sequence
 * decode steps (7-13 %); Q8_0 tg64 5 of 6. */
#define Q_PREFETCH 4096

#define Q4_BLOCK  ((int64_t)sizeof(engine_block_q4_0))
#define Q8_BLOCK  ((int64_t)sizeof(engine_block_q8_0))

/* Per block b of one segment and token t, at [b * T + t] for a group of T
 * tokens: a vector load at [b * T] has the group's tokens in its first T
 * lanes (the rest is the next blocks' finite values, or the zero padding,
 * and is never used). */
typedef struct q_act_sum {
    float   dy[QSEG * QT_MAX + QT_MAX];   /* the activation block's scale */
    int32_t s8[QSEG * QT_MAX + QT_MAX];   /* Q4_0: 8 * the sum of its quants */
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

/* Sum of the 32 quants of an activation block, times 8, in 8 lanes. */
AVX2 INLINE __m256i q_sum_lanes(const uint8_t *qs)
{
    __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)qs);
    return _mm256_slli_epi32(
        _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1)), 3);
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
        _mm256_storeu_ps(s->dy + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)h)));
        if (!q4)
            continue;
        __m256i p[8];
        for (int k = 0; k < 8; k++)
            p[k] = q_sum_lanes(y[k] + 2);
        _mm256_storeu_si256((__m256i *)(void *)(s->s8 + i), q_hsum8_epi32(p));
    }
    for (; i < n; i++) {
        const uint8_t *y = base + (size_t)t * a_stride + b * Q8_BLOCK;
        s->dy[i] = engine_avx2_f16(y);
        if (q4) {
            __m256i p = q_sum_lanes(y + 2);
            __m128i h = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
            h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
            h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xB1));
            s->s8[i] = _mm_cvtsi128_si32(h);
        }
        if (++t == T) {
            t = 0;
            b++;
        }
    }
    memset(s->dy + n, 0, QT_MAX * sizeof(float));
    memset(s->s8 + n, 0, QT_MAX * sizeof(int32_t));
}

/* ---- Q8_0 ---- */

/* The 8 lane sums of a weight block (ax = |q|, signs in qx) against one
 * activation block, as floats. */
AVX2 INLINE __m256 q8_prod(__m256i qx, __m256i ax, const uint8_t *yqs)
{
    __m256i y = _mm256_loadu_si256((const __m256i *)(const void *)yqs);
    __m256i p16 = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(y, qx));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

AVX2 INLINE __m256i q8_load(const uint8_t *row, int64_t b)
{
    return _mm256_loadu_si256((const __m256i *)(const void *)(row + b * Q8_BLOCK + 2));
}

AVX2 INLINE __m256 q8_dx(const uint8_t *row, int64_t b)
{
    return _mm256_set1_ps(engine_avx2_f16(row + b * Q8_BLOCK));
}

/* Blocks [b0, b1) of one row against T tokens; s summarizes the
 * activations from block s0 on. Only a row's last segment may end with a
 * lone block. */
AVX2 INLINE void q8_seg(int T, int64_t b0, int64_t b1, const uint8_t *x, const uint8_t *act,
                        size_t a_stride, const q_act_sum *s, int64_t s0, __m256 acc[QT_MAX])
{
    int64_t b = b0;
    for (; b + 2 <= b1; b += 2) {
        const float *dy0 = s->dy + (b - s0) * T, *dy1 = dy0 + T;
        /* the row streams from memory (in a decode step): fetch ahead */
        _mm_prefetch((const char *)x + b * Q8_BLOCK + Q_PREFETCH, _MM_HINT_T0);
        __m256 dx0 = q8_dx(x, b), dx1 = q8_dx(x, b + 1);
        __m256i q0 = q8_load(x, b), q1 = q8_load(x, b + 1);
        __m256i a0 = _mm256_sign_epi8(q0, q0), a1 = _mm256_sign_epi8(q1, q1);
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const uint8_t *y = act + (size_t)t * a_stride + b * Q8_BLOCK + 2;
            __m256 d0 = _mm256_mul_ps(dx0, _mm256_broadcast_ss(dy0 + t));
            __m256 d1 = _mm256_mul_ps(dx1, _mm256_broadcast_ss(dy1 + t));
            __m256 p0 = q8_prod(q0, a0, y), p1 = q8_prod(q1, a1, y + Q8_BLOCK);
            acc[t] = _mm256_add_ps(acc[t], _mm256_fmadd_ps(d1, p1, _mm256_mul_ps(d0, p0)));
        }
    }
    if (b < b1) {
        const float *dy0 = s->dy + (b - s0) * T;
        __m256 dx0 = q8_dx(x, b);
        __m256i q0 = q8_load(x, b);
        __m256i a0 = _mm256_sign_epi8(q0, q0);
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const uint8_t *y = act + (size_t)t * a_stride + b * Q8_BLOCK + 2;
            __m256 d0 = _mm256_mul_ps(dx0, _mm256_broadcast_ss(dy0 + t));
            acc[t] = _mm256_fmadd_ps(d0, q8_prod(q0, a0, y), acc[t]);
        }
    }
}

/* out[t * o_stride] = row x . token t for t < T, over all nb blocks. With
 * ready, s already summarizes every block of these tokens; otherwise (a row
 * longer than QSEG blocks) s is scratch, refilled per segment. */
AVX2 INLINE void q8_row(int T, int64_t nb, const uint8_t *x, const uint8_t *act, size_t a_stride,
                        q_act_sum *s, bool ready, float *out, size_t o_stride)
{
    __m256 acc[QT_MAX];
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        acc[t] = _mm256_setzero_ps();
    if (ready) {
        q8_seg(T, 0, nb, x, act, a_stride, s, 0, acc);
    } else {
        for (int64_t b0 = 0; b0 < nb; b0 += QSEG) {
            int64_t b1 = nb - b0 < QSEG ? nb : b0 + QSEG;
            q_summarize(false, act, a_stride, T, b0, b1 - b0, s);
            q8_seg(T, b0, b1, x, act, a_stride, s, b0, acc);
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        out[(size_t)t * o_stride] = engine_avx2_hsum(acc[t]);
}

#define Q8_CASE(T) \
    case T: \
        for (int64_t r = 0; r < n_rows; r++) \
            q8_row(T, nb, w + (size_t)r * w_row, ar, a_stride, s, ready, o + r, o_stride); \
        break

/* Tokens in groups of QT_MAX, each group's activations summarized once and
 * the rows (a slice the caller keeps in L2) walked one at a time. */
AVX2 static void q8_gemm(int64_t n, const uint8_t *w, size_t w_row, int64_t n_rows,
                         const uint8_t *act, size_t a_stride, int64_t n_tok, float *out,
                         size_t o_stride)
{
    q_act_sum s_;
    q_act_sum *s = &s_;
    int64_t nb = n / ENGINE_QK;
    bool ready = nb <= QSEG;
    for (int64_t t0 = 0; t0 < n_tok; t0 += QT_MAX) {
        int tt = n_tok - t0 < QT_MAX ? (int)(n_tok - t0) : QT_MAX;
        const uint8_t *ar = act + (size_t)t0 * a_stride;
        float *o = out + (size_t)t0 * o_stride;
        if (ready)
            q_summarize(false, ar, a_stride, tt, 0, nb, s);
        switch (tt) {
        Q8_CASE(1); Q8_CASE(2); Q8_CASE(3); Q8_CASE(4);
        Q8_CASE(5); Q8_CASE(6); Q8_CASE(7); Q8_CASE(8);
        default: break;
        }
    }
}

AVX2 void engine_gemm_q8_0_q8_0_avx2(int64_t n, const void *w, size_t w_row, int64_t n_rows,
                                     const void *act, size_t a_stride, int64_t n_tok, float *out,
                                     size_t o_stride)
{
    q8_gemm(n, w, w_row, n_rows, act, a_stride, n_tok, out, o_stride);
}

/* vec_dot is the 1 x 1 tile, which makes it agree with the tiles by
 * construction. */
AVX2 float engine_vec_dot_q8_0_q8_0_avx2(int64_t n, const void *w, const void *a)
{
    float r;
    q8_gemm(n, w, 0, 1, a, 0, 1, &r, 1);
    return r;
}

/* ---- Q4_0: eight rows at a time ----
 * Block b of eight rows is transposed by dwords: vector k < 4 holds in its
 * 32-bit lane r the low nibbles of bytes 4k..4k+3 of row r (quants
 * 4k..4k+3), vector 4 + k their high nibbles (quants 16+4k..16+4k+3). So
 * vector k meets activation dword k broadcast, and after maddubs and adds,
 * lane r holds row r's integer dot for the block: one multiply per (row,
 * token, 4 quants) instead of 8 lane sums per row to scale and add. The
 * eight maddubs results add up in int16 (16 products of at most 15 x 128:
 * 30720) before the one madd. Per (row, token), block after block from 0:
 *     acc = fma(dx_b * dy_b, (float)(sum q_i y_i - 8 sum y_i), acc)
 * (q the nibbles 0..15, the -8 of Q4_0 taken back in integers), and acc is
 * the result. Lane r depends on row r alone, so a row gives the same bits
 * in any group of rows, any pass of tokens, widened or not, and alone.
 *
 * A pass takes up to Q4_TOK tokens (the eight weight vectors and one
 * accumulator per token stay in registers). With more tokens than one pass
 * takes, the rows are first widened: transposed, unpacked and their scales
 * converted once per chunk into Q4_WIDEN_BYTES on the stack, which the
 * passes then read from L2. */
#define Q4_TOK 4
#define Q4_WIDEN_BYTES (256u << 10)

typedef struct q4_wide {   /* one block of eight rows, ready for the pass */
    __m256i w[8];
    float   dx[8];
} q4_wide;

/* Block b of the eight rows p, transposed and unpacked as above. */
AVX2 INLINE void q4_transpose(const uint8_t *const p[8], int64_t b, __m256i w[8])
{
    __m256i v[4];
    for (int k = 0; k < 4; k++) {
        __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)(p[k] + b * Q4_BLOCK + 2));
        __m128i hi = _mm_loadu_si128((const __m128i *)(const void *)(p[k + 4] + b * Q4_BLOCK + 2));
        v[k] = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
    }
    /* 128-bit halves: rows 0-3 and rows 4-7; d[m] lane r = byte dword m of row r */
    __m256i t0 = _mm256_unpacklo_epi32(v[0], v[1]), t1 = _mm256_unpackhi_epi32(v[0], v[1]);
    __m256i t2 = _mm256_unpacklo_epi32(v[2], v[3]), t3 = _mm256_unpackhi_epi32(v[2], v[3]);
    __m256i d[4] = { _mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2),
                     _mm256_unpacklo_epi64(t1, t3), _mm256_unpackhi_epi64(t1, t3) };
    const __m256i m = _mm256_set1_epi8(0x0F);
    for (int k = 0; k < 4; k++) {
        w[k] = _mm256_and_si256(d[k], m);
        w[k + 4] = _mm256_and_si256(_mm256_srli_epi16(d[k], 4), m);
    }
}

/* Block b's scales of the eight rows. Gathered block by block: a pass over
 * all of a group's scales first read the group's lines in row order before
 * the blocks did, which cost 10-25 % of a one-token matmul streaming from
 * memory. */
AVX2 INLINE __m256 q4_dx(const uint8_t *const p[8], int64_t b)
{
    uint16_t h[8];
    for (int r = 0; r < 8; r++)
        memcpy(&h[r], p[r] + b * Q4_BLOCK, sizeof h[r]);
    return _mm256_cvtph_ps(_mm_set_epi16((short)h[7], (short)h[6], (short)h[5], (short)h[4],
                                         (short)h[3], (short)h[2], (short)h[1], (short)h[0]));
}

AVX2 INLINE __m256i q4_bcast(const uint8_t *y)
{
    int32_t v;
    memcpy(&v, y, sizeof v);
    return _mm256_set1_epi32(v);
}

/* Lane r: row r's block (w) . the activation quants y, exact. */
AVX2 INLINE __m256i q4_dot8(const __m256i w[8], const uint8_t *y)
{
    __m256i s[4];
    for (int k = 0; k < 4; k++)
        s[k] = _mm256_add_epi16(_mm256_maddubs_epi16(w[2 * k], q4_bcast(y + 8 * k)),
                                _mm256_maddubs_epi16(w[2 * k + 1], q4_bcast(y + 8 * k + 4)));
    __m256i sum = _mm256_add_epi16(_mm256_add_epi16(s[0], s[1]), _mm256_add_epi16(s[2], s[3]));
    return _mm256_madd_epi16(sum, _mm256_set1_epi16(1));
}

/* Blocks [b0, b1) of eight rows against T tokens, from the raw rows p (wb
 * NULL) or their widened blocks wb; s summarizes the activations from block
 * s0 on; pf (raw rows) is where the next rows begin, fetched ahead. */
AVX2 INLINE void q4_seg(int T, const uint8_t *const p[8], const q4_wide *wb, const uint8_t *pf,
                        int64_t b0, int64_t b1, const uint8_t *act, size_t a_stride,
                        const q_act_sum *s, int64_t s0, __m256 acc[Q4_TOK])
{
    for (int64_t b = b0; b < b1; b++) {
        __m256i w[8];
        __m256 dx;
        if (wb) {
            for (int k = 0; k < 8; k++)
                w[k] = _mm256_load_si256(&wb[b].w[k]);
            dx = _mm256_load_ps(wb[b].dx);
        } else {
            /* the eight rows' next blocks are 8 x 18 bytes further on in
             * the rows that follow: two lines per block keeps ahead */
            _mm_prefetch((const char *)pf + b * 8 * Q4_BLOCK, _MM_HINT_T0);
            _mm_prefetch((const char *)pf + b * 8 * Q4_BLOCK + 64, _MM_HINT_T0);
            q4_transpose(p, b, w);
            dx = q4_dx(p, b);
        }
        const float *dy = s->dy + (b - s0) * T;
        const int32_t *s8 = s->s8 + (b - s0) * T;
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const uint8_t *y = act + (size_t)t * a_stride + b * Q8_BLOCK + 2;
            __m256i dot = _mm256_sub_epi32(q4_dot8(w, y), _mm256_set1_epi32(s8[t]));
            __m256 d = _mm256_mul_ps(dx, _mm256_broadcast_ss(dy + t));
            acc[t] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot), acc[t]);
        }
    }
}

/* Eight rows (the first `rows` of them real) x T tokens over all nb blocks:
 * out[t * o_stride + r]. ready: as for q8_row. */
AVX2 INLINE void q4_group(int T, int64_t nb, const uint8_t *const p[8], const q4_wide *wb,
                          const uint8_t *pf, const uint8_t *act, size_t a_stride, q_act_sum *s,
                          bool ready, float *out, size_t o_stride, int rows)
{
    __m256 acc[Q4_TOK];
#pragma GCC unroll 4
    for (int t = 0; t < T; t++)
        acc[t] = _mm256_setzero_ps();
    if (ready) {
        q4_seg(T, p, wb, pf, 0, nb, act, a_stride, s, 0, acc);
    } else {
        for (int64_t b0 = 0; b0 < nb; b0 += QSEG) {
            int64_t b1 = nb - b0 < QSEG ? nb : b0 + QSEG;
            q_summarize(true, act, a_stride, T, b0, b1 - b0, s);
            q4_seg(T, p, wb, pf, b0, b1, act, a_stride, s, b0, acc);
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) {
        float *o = out + (size_t)t * o_stride;
        if (rows == 8) {
            _mm256_storeu_ps(o, acc[t]);
        } else {
            float v[8];
            _mm256_storeu_ps(v, acc[t]);
            memcpy(o, v, (size_t)rows * sizeof *o);
        }
    }
}

/* Rows [r0, r0 + 8) of w as eight pointers; past n_rows, the last real row
 * again (computed, never stored). Returns how many are real. */
AVX2 INLINE int q4_rows(const uint8_t *w, size_t w_row, int64_t n_rows, int64_t r0,
                        const uint8_t *p[8])
{
    int rows = n_rows - r0 < 8 ? (int)(n_rows - r0) : 8;
    for (int r = 0; r < 8; r++)
        p[r] = w + (size_t)(r0 + (r < rows ? r : rows - 1)) * w_row;
    return rows;
}

#define Q4_CASE(T) \
    case T: \
        q4_group(T, nb, p, wb, pf, ar, a_stride, s, ready, o, o_stride, rows); \
        break

/* Rows [0, n_rows) in groups of eight against tokens [0, n_tok) in passes
 * of Q4_TOK, from the raw rows (wide NULL) or their widened blocks, group g
 * at wide + g * nb. */
AVX2 static void q4_gemm(int64_t nb, const uint8_t *w, size_t w_row, const q4_wide *wide,
                         int64_t n_rows, const uint8_t *act, size_t a_stride, int64_t n_tok,
                         float *out, size_t o_stride, q_act_sum *s)
{
    bool ready = nb <= QSEG;
    for (int64_t t0 = 0; t0 < n_tok; t0 += Q4_TOK) {
        int tt = n_tok - t0 < Q4_TOK ? (int)(n_tok - t0) : Q4_TOK;
        const uint8_t *ar = act + (size_t)t0 * a_stride;
        if (ready)
            q_summarize(true, ar, a_stride, tt, 0, nb, s);
        for (int64_t r0 = 0; r0 < n_rows; r0 += 8) {
            const uint8_t *p[8];
            int rows = q4_rows(w, w_row, n_rows, r0, p);
            const q4_wide *wb = wide ? wide + (r0 / 8) * nb : NULL;
            const uint8_t *pf = p[7] + w_row;
            float *o = out + (size_t)t0 * o_stride + r0;
            switch (tt) {
            Q4_CASE(1); Q4_CASE(2); Q4_CASE(3); Q4_CASE(4);
            default: break;
            }
        }
    }
}

/* The blocks of eight rows (from r0 on) into wide, group after group. */
AVX2 static void q4_widen(int64_t nb, const uint8_t *w, size_t w_row, int64_t n_rows, int64_t r0,
                          int64_t groups, q4_wide *wide)
{
    for (int64_t g = 0; g < groups; g++) {
        const uint8_t *p[8];
        q4_rows(w, w_row, n_rows, r0 + g * 8, p);
        for (int64_t b = 0; b < nb; b++) {
            q4_wide *o = wide + g * nb + b;
            q4_transpose(p, b, o->w);
            _mm256_store_ps(o->dx, q4_dx(p, b));
        }
    }
}

AVX2 void engine_gemm_q4_0_q8_0_avx2(int64_t n, const void *w, size_t w_row, int64_t n_rows,
                                     const void *act, size_t a_stride, int64_t n_tok, float *out,
                                     size_t o_stride)
{
    q_act_sum s;
    int64_t nb = n / ENGINE_QK;
    int64_t chunk = nb ? (int64_t)(Q4_WIDEN_BYTES / sizeof(q4_wide)) / nb : 0;   /* groups */
    if (n_tok <= Q4_TOK || chunk < 1) {
        q4_gemm(nb, w, w_row, NULL, n_rows, act, a_stride, n_tok, out, o_stride, &s);
        return;
    }
    q4_wide wide[Q4_WIDEN_BYTES / sizeof(q4_wide)];
    const uint8_t *wr = w;
    for (int64_t r0 = 0; r0 < n_rows; r0 += chunk * 8) {
        int64_t rows = n_rows - r0 < chunk * 8 ? n_rows - r0 : chunk * 8;
        q4_widen(nb, wr, w_row, n_rows, r0, (rows + 7) / 8, wide);
        q4_gemm(nb, wr + (size_t)r0 * w_row, w_row, wide, rows, act, a_stride, n_tok,
                out + r0, o_stride, &s);
    }
}

AVX2 float engine_vec_dot_q4_0_q8_0_avx2(int64_t n, const void *w, const void *a)
{
    q_act_sum s;
    float r;
    q4_gemm(n / ENGINE_QK, w, 0, NULL, 1, a, 0, 1, &r, 1, &s);
    return r;
}

#else
typedef int engine_quant_q_avx2_unused;
#endif

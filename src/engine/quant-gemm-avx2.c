/* quant-gemm-avx2.c - register-blocked AVX2 matmul tiles (engine_gemm_fn) for
 * F32, F16 and BF16 weights (Q8_0 and Q4_0: quant-q-avx2.c): a few weight rows x a few tokens per pass,
 * so every weight vector loaded (and converted or unpacked) serves several
 * tokens and every activation vector several rows. Each (row, token) pair
 * keeps its own accumulator and the order of additions of the type's
 * vec_dot, so every output is bit-identical to one vec_dot call. */
#define ENGINE_AVX2_SOURCE   /* engine.h: the shared AVX2 helpers */
#include "engine/engine.h"

#ifdef ENGINE_HAVE_AVX2_KERNELS

#include <immintrin.h>


/* Tile shapes. F32/F16: 4 rows x 3 tokens = 12 accumulators, 3 activation
 * vectors and one weight vector: the 16 YMM registers. A single token (generation) goes one row at a
 * time: with the weights streaming from memory, walking 2 or 4 rows side by
 * side measured up to 2.5x slower (the prefetchers lose the streams), even
 * though it is faster when the rows are in cache. */
#define FP_R 4
#define FP_T 3
enum { FP_F32, FP_F16, FP_BF16 };   /* weight formats of the fp tiles */
#ifndef FP_PREFETCH
#define FP_PREFETCH 1024
#endif
#define FP_CHUNK_BYTES 512   /* of one weight row per pass pair; a multiple of 64 */
#define FP_WHOLE_BYTES (24 << 10)   /* a tile's rows + activations up to this: one chunk */
#ifndef FP_BLOCK_BYTES
#define FP_BLOCK_BYTES (16 << 10)   /* weight rows that stay in L1 while the tokens pass */
#endif

/* ---- F32 / F16 weights, f32 activations ----
 * Order per pair: two 8-lane accumulators over the full groups of 8 (even
 * groups in one, odd in the other), their sum, its horizontal sum, then the
 * tail elements one by one. */

AVX2 INLINE __m256 fp_load8(int fmt, const uint8_t *row, int64_t i)
{
    if (fmt == FP_F16)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + 2 * i)));
    if (fmt == FP_BF16)     /* bf16 is the top half of an f32 */
        return _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(row + 2 * i))), 16));
    return _mm256_loadu_ps((const float *)(const void *)(row + 4 * i));
}

AVX2 INLINE float fp_elem(int fmt, const uint8_t *row, int64_t i)
{
    if (fmt == FP_F16)
        return _cvtsh_ss(engine_load_u16(row, i));
    if (fmt == FP_BF16)
        return engine_bf16_to_f32(engine_load_u16(row, i));
    return engine_load_f32(row, i);
}

/* One pass of a tile over every other group of 8 elements of [i0, i1),
 * starting at element i0: the accumulators come in and go out through
 * acc_io and stay in registers in between. */
AVX2 INLINE void fp_pass(int fmt, int R, int T, int64_t i0, int64_t i1, const uint8_t *w,
                         size_t w_row, const uint8_t *act, size_t a_stride,
                         __m256 acc_io[FP_R][FP_T])
{
    __m256 acc[FP_R][FP_T];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            acc[r][t] = acc_io[r][t];
    for (int64_t i = i0; i < i1; i += 16) {
        __m256 y[FP_T];
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            y[t] = _mm256_loadu_ps((const float *)(const void *)(act + t * a_stride + 4 * i));
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            __m256 x = fp_load8(fmt, w + r * w_row, i);
#pragma GCC unroll 4
            for (int t = 0; t < T; t++)
                acc[r][t] = _mm256_fmadd_ps(x, y[t], acc[r][t]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            acc_io[r][t] = acc[r][t];
}

AVX2 INLINE float fp_finish(int fmt, __m256 even, __m256 odd, int64_t n8, int64_t n,
                            const uint8_t *wrow, const uint8_t *arow)
{
    float s = engine_avx2_hsum(_mm256_add_ps(even, odd));
    for (int64_t i = n8; i < n; i++)
        s += fp_elem(fmt, wrow, i) * engine_load_f32(arow, i);
    return s;
}

/* engine_avx2_hsum of a, b, c and d at once: the same tree of additions
 * ((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7)) for each, so the same
 * bits, in about a third of the instructions of four separate sums. */
AVX2 INLINE __m128 fp_hsum4(__m256 a, __m256 b, __m256 c, __m256 d)
{
    /* [a_lo + a_hi | b_lo + b_hi], [c_lo + c_hi | d_lo + d_hi] */
    __m256 ab = _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20),
                              _mm256_permute2f128_ps(a, b, 0x31));
    __m256 cd = _mm256_add_ps(_mm256_permute2f128_ps(c, d, 0x20),
                              _mm256_permute2f128_ps(c, d, 0x31));
    /* per lane: [x0 + x2, x1 + x3, y0 + y2, y1 + y3] */
    __m256 z = _mm256_add_ps(_mm256_shuffle_ps(ab, cd, _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm256_shuffle_ps(ab, cd, _MM_SHUFFLE(3, 2, 3, 2)));
    /* low lane [a, a, c, c], high lane [b, b, d, d] */
    __m256 u = _mm256_add_ps(z, _mm256_permute_ps(z, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_blend_ps(_mm256_castps256_ps128(u), _mm256_extractf128_ps(u, 1), 0xA);
}

/* A tile does the even groups of a chunk, then its odd ones, each pass
 * with every accumulator in a register; the single dot (1 x 1) runs both chains side
 * by side in one sweep, which hides the FMA latency without a second
 * memory stream. Each chain adds its groups in the same order either way. */
AVX2 INLINE void fp_tile(int fmt, int R, int T, int64_t n, const uint8_t *w, size_t w_row,
                         const uint8_t *act, size_t a_stride, float *out, size_t o_stride)
{
    int64_t n8 = n - n % 8;
    if (R == 1 && T == 1) {
        __m256 even = _mm256_setzero_ps(), odd = _mm256_setzero_ps();
        const float *y = (const float *)(const void *)act;
        int64_t i = 0;
        int64_t esz = fmt == FP_F32 ? 4 : 2;
        (void)esz;
        for (; i + 16 <= n8; i += 16) {
#if FP_PREFETCH > 0
            _mm_prefetch((const char *)(w + esz * i + FP_PREFETCH), _MM_HINT_T0);
#endif
            even = _mm256_fmadd_ps(fp_load8(fmt, w, i), _mm256_loadu_ps(y + i), even);
            odd = _mm256_fmadd_ps(fp_load8(fmt, w, i + 8), _mm256_loadu_ps(y + i + 8), odd);
        }
        if (i < n8)
            even = _mm256_fmadd_ps(fp_load8(fmt, w, i), _mm256_loadu_ps(y + i), even);
        out[0] = fp_finish(fmt, even, odd, n8, n, w, act);
        return;
    }
    __m256 even[FP_R][FP_T], odd[FP_R][FP_T];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            even[r][t] = odd[r][t] = _mm256_setzero_ps();
    /* Chunks of FP_CHUNK_BYTES of each weight row: the odd pass finds the
     * chunk's weights and activations still in L1 (a whole FFN row of
     * 2816 elements for 3 tokens would not fit). Chunks start at multiples
     * of 16 elements, so each chain still adds its groups in order. */
    int64_t esz = fmt == FP_F32 ? 4 : 2;
    int64_t kc = FP_CHUNK_BYTES / esz;
    /* Rows short enough that the tile's rows and activations fit in L1
     * whole go in one chunk: two passes instead of several, each of which
     * reloads and stores every accumulator. */
    if ((R + T) * n * esz <= FP_WHOLE_BYTES)
        kc = n8;
    for (int64_t k0 = 0; k0 < n8; k0 += kc) {
        int64_t k1 = k0 + kc < n8 ? k0 + kc : n8;
        fp_pass(fmt, R, T, k0, k1, w, w_row, act, a_stride, even);
        fp_pass(fmt, R, T, k0 + 8, k1, w, w_row, act, a_stride, odd);
    }
    if (R == 4) {
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            __m128 s = fp_hsum4(_mm256_add_ps(even[0][t], odd[0][t]),
                                _mm256_add_ps(even[1][t], odd[1][t]),
                                _mm256_add_ps(even[2][t], odd[2][t]),
                                _mm256_add_ps(even[3][t], odd[3][t]));
            float *o = out + t * o_stride;
            _mm_storeu_ps(o, s);
            for (int64_t i = n8; i < n; i++)
                for (int r = 0; r < 4; r++)
                    o[r] += fp_elem(fmt, w + r * w_row, i) *
                            engine_load_f32(act + t * a_stride, i);
        }
        return;
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            out[t * o_stride + r] = fp_finish(fmt, even[r][t], odd[r][t], n8, n, w + r * w_row,
                                              act + t * a_stride);
}

#define FP_CASE(R, T) \
    case (R) * 8 + (T): fp_tile(fmt, R, T, n, wr, w_row, ar, a_stride, o, o_stride); break

/* F32: blocks of rows that fit in half an L1 outermost, then tokens, then the
 * block's tiles: a block's weights stay in L1 while every token group
 * passes, and a group's activation rows stay there while the block's
 * tiles take them; only activations come from L2, each once per block
 * (walking all n_rows per token group re-read every weight from L2 and
 * bound the tiles on L2 bandwidth). F16/BF16: one block of all n_rows,
 * whose 2-byte rows cost less from L2 than the activations again. The caller
 * sizes n_rows so that the rows stay in L2. Which block a row falls in
 * changes no bit. */
AVX2 INLINE void fp_gemm(int fmt, int64_t n, const void *w, size_t w_row, int64_t n_rows,
                         const void *act, size_t a_stride, int64_t n_tok, float *out,
                         size_t o_stride)
{
    int64_t rstep = n_tok == 1 ? 1 : FP_R;
    int64_t esz = fmt == FP_F32 ? 4 : 2;
    int64_t block = FP_BLOCK_BYTES / (n * esz + 1) / FP_R * FP_R;
    /* 2-byte weights walk every row per token group instead: their rows
     * from L2 cost half the bytes of the group's f32 activations that a
     * block makes come from L2 (or L3: 128 tokens of 1024 f32 are a whole
     * L2) again for every block; with 64-row items of F16 K=1024 the tiles
     * went from 211 to 185 us (docs/PERFORMANCE.md). */
    if (block < FP_R || n_tok <= FP_T || esz == 2)
        block = n_rows;
    int64_t groups = (n_tok + FP_T - 1) / FP_T;
    for (int64_t b0 = 0; b0 < n_rows; b0 += block) {
        int64_t b1 = b0 + block < n_rows ? b0 + block : n_rows;
        /* The next block's rows, a slice per token group into L2: they
         * come from memory once per prompt (a small model's weights fit
         * no L3 together with its output matrix), and the block's tokens
         * take long enough to hide it. */
        int64_t next_rows = n_rows - b1 < block ? n_rows - b1 : block;
        /* 2-byte weights of a prompt, past the last row: the rows after
         * this call's, which the next work item of the job takes (prefetch
         * never faults, past the tensor's end included). Unhidden, the
         * first token group waits on memory for all of the item's rows. */
        if (b1 == n_rows && esz == 2 && n_tok > FP_T)
            next_rows = n_rows;
        /* an address, not a pointer: it may run past the tensor */
        uintptr_t pf = (uintptr_t)w + (uintptr_t)(b1 * (int64_t)w_row);
        int64_t pf_left = next_rows * (int64_t)w_row;
        int64_t pf_step = (pf_left / groups + 64) & ~(int64_t)63;
        for (int64_t t0 = 0; t0 < n_tok; t0 += FP_T) {
            int tt = n_tok - t0 < FP_T ? (int)(n_tok - t0) : FP_T;
            const uint8_t *ar = (const uint8_t *)act + t0 * a_stride;
            for (int64_t o = 0; o < pf_step && pf_left > 0; o += 64, pf_left -= 64, pf += 64)
                _mm_prefetch((const char *)pf, _MM_HINT_T1);
            for (int64_t r0 = b0; r0 < b1; r0 += rstep) {
                int rr = b1 - r0 < rstep ? (int)(b1 - r0) : (int)rstep;
                const uint8_t *wr = (const uint8_t *)w + r0 * w_row;
                float *o = out + t0 * o_stride + r0;
                switch (rr * 8 + tt) {
                FP_CASE(4, 3); FP_CASE(4, 2); FP_CASE(4, 1);
                FP_CASE(3, 3); FP_CASE(3, 2); FP_CASE(3, 1);
                FP_CASE(2, 3); FP_CASE(2, 2); FP_CASE(2, 1);
                FP_CASE(1, 3); FP_CASE(1, 2); FP_CASE(1, 1);
                default: break;
                }
            }
        }
    }
}

AVX2 void engine_gemm_f32_f32_avx2(int64_t n, const void *w, size_t w_row, int64_t n_rows,
                                   const void *act, size_t a_stride, int64_t n_tok, float *out,
                                   size_t o_stride)
{
    fp_gemm(FP_F32, n, w, w_row, n_rows, act, a_stride, n_tok, out, o_stride);
}

AVX2 void engine_gemm_f16_f32_avx2(int64_t n, const void *w, size_t w_row, int64_t n_rows,
                                   const void *act, size_t a_stride, int64_t n_tok, float *out,
                                   size_t o_stride)
{
    fp_gemm(FP_F16, n, w, w_row, n_rows, act, a_stride, n_tok, out, o_stride);
}

/* quant-avx2.c's BF16 vec_dot sums in this same order (even groups, odd
 * groups, their sum's horizontal sum, then the tail), so this tile matches
 * it bit for bit; test-gemm holds the two together. */
AVX2 void engine_gemm_bf16_f32_avx2(int64_t n, const void *w, size_t w_row, int64_t n_rows,
                                    const void *act, size_t a_stride, int64_t n_tok, float *out,
                                    size_t o_stride)
{
    fp_gemm(FP_BF16, n, w, w_row, n_rows, act, a_stride, n_tok, out, o_stride);
}

/* vec_dot is the 1 x 1 tile, which makes the two agree by construction. */
AVX2 float engine_vec_dot_f32_f32_avx2(int64_t n, const void *w, const void *a)
{
    float r;
    fp_tile(FP_F32, 1, 1, n, w, 0, a, 0, &r, 1);
    return r;
}

AVX2 float engine_vec_dot_f16_f32_avx2(int64_t n, const void *w, const void *a)
{
    float r;
    fp_tile(FP_F16, 1, 1, n, w, 0, a, 0, &r, 1);
    return r;
}

#else
typedef int engine_quant_gemm_avx2_unused;
#endif

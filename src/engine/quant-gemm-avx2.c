/* quant-gemm-avx2.c - register-blocked AVX2 matmul tiles (engine_gemm_fn) for
 * F32 and F16 weights (Q8_0 and Q4_0: quant-q-avx2.c): a few weight rows x a few tokens per pass,
 * so every weight vector loaded (and converted or unpacked) serves several
 * tokens and every activation vector several rows. Each (row, token) pair
 * keeps its own accumulator and the order of additions of the type's
 * vec_dot, so every output is bit-identical to one vec_dot call. */
#include "engine/engine.h"

#ifdef ENGINE_HAVE_AVX2_KERNELS

#include <immintrin.h>

#define AVX2   __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

/* Tile shapes. F32/F16: 4 rows x 3 tokens = 12 accumulators, 3 activation
 * vectors and one weight vector: the 16 YMM registers. A single token (generation) goes one row at a
 * time: with the weights streaming from memory, walking 2 or 4 rows side by
 * side measured up to 2.5x slower (the prefetchers lose the streams), even
 * though it is faster when the rows are in cache. */
#define FP_R 4
#define FP_T 3

/* Same sequence as quant-avx2.c's hsum_ps: the bit-identity with vec_dot
 * depends on it. */
AVX2 INLINE float g_hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* ---- F32 / F16 weights, f32 activations ----
 * Order per pair: two 8-lane accumulators over the full groups of 8 (even
 * groups in one, odd in the other), their sum, its horizontal sum, then the
 * tail elements one by one. */

AVX2 INLINE __m256 fp_load8(bool f16, const uint8_t *row, int64_t i)
{
    if (f16)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + 2 * i)));
    return _mm256_loadu_ps((const float *)(const void *)(row + 4 * i));
}

AVX2 INLINE float fp_elem(bool f16, const uint8_t *row, int64_t i)
{
    return f16 ? _cvtsh_ss(engine_load_u16(row, i)) : engine_load_f32(row, i);
}

/* One pass of a tile over every other group of 8 elements, starting at
 * group h: accumulators in registers, summed into acc_out. */
AVX2 INLINE void fp_pass(bool f16, int R, int T, int h, int64_t n8, const uint8_t *w,
                         size_t w_row, const uint8_t *act, size_t a_stride,
                         __m256 acc_out[FP_R][FP_T])
{
    __m256 acc[FP_R][FP_T];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            acc[r][t] = _mm256_setzero_ps();
    for (int64_t i = 8 * h; i < n8; i += 16) {
        __m256 y[FP_T];
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            y[t] = _mm256_loadu_ps((const float *)(const void *)(act + t * a_stride + 4 * i));
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            __m256 x = fp_load8(f16, w + r * w_row, i);
#pragma GCC unroll 4
            for (int t = 0; t < T; t++)
                acc[r][t] = _mm256_fmadd_ps(x, y[t], acc[r][t]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            acc_out[r][t] = acc[r][t];
}

AVX2 INLINE float fp_finish(bool f16, __m256 even, __m256 odd, int64_t n8, int64_t n,
                            const uint8_t *wrow, const uint8_t *arow)
{
    float s = g_hsum_ps(_mm256_add_ps(even, odd));
    for (int64_t i = n8; i < n; i++)
        s += fp_elem(f16, wrow, i) * engine_load_f32(arow, i);
    return s;
}

/* A tile does the even groups, then the odd ones, each pass with every
 * accumulator in a register; the single dot (1 x 1) runs both chains side
 * by side in one sweep, which hides the FMA latency without a second
 * memory stream. Each chain adds its groups in the same order either way. */
AVX2 INLINE void fp_tile(bool f16, int R, int T, int64_t n, const uint8_t *w, size_t w_row,
                         const uint8_t *act, size_t a_stride, float *out, size_t o_stride)
{
    int64_t n8 = n - n % 8;
    if (R == 1 && T == 1) {
        __m256 even = _mm256_setzero_ps(), odd = _mm256_setzero_ps();
        const float *y = (const float *)(const void *)act;
        int64_t i = 0;
        for (; i + 16 <= n8; i += 16) {
            even = _mm256_fmadd_ps(fp_load8(f16, w, i), _mm256_loadu_ps(y + i), even);
            odd = _mm256_fmadd_ps(fp_load8(f16, w, i + 8), _mm256_loadu_ps(y + i + 8), odd);
        }
        if (i < n8)
            even = _mm256_fmadd_ps(fp_load8(f16, w, i), _mm256_loadu_ps(y + i), even);
        out[0] = fp_finish(f16, even, odd, n8, n, w, act);
        return;
    }
    __m256 even[FP_R][FP_T], odd[FP_R][FP_T];
    fp_pass(f16, R, T, 0, n8, w, w_row, act, a_stride, even);
    fp_pass(f16, R, T, 1, n8, w, w_row, act, a_stride, odd);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            out[t * o_stride + r] = fp_finish(f16, even[r][t], odd[r][t], n8, n, w + r * w_row,
                                              act + t * a_stride);
}

#define FP_CASE(R, T) \
    case (R) * 8 + (T): fp_tile(f16, R, T, n, wr, w_row, ar, a_stride, o, o_stride); break

/* Tokens outermost: a group's activation rows stay in L1 while the rows
 * pass; the caller sizes n_rows so that the rows stay in L2. */
AVX2 INLINE void fp_gemm(bool f16, int64_t n, const void *w, size_t w_row, int64_t n_rows,
                         const void *act, size_t a_stride, int64_t n_tok, float *out,
                         size_t o_stride)
{
    int64_t rstep = n_tok == 1 ? 1 : FP_R;
    for (int64_t t0 = 0; t0 < n_tok; t0 += FP_T) {
        int tt = n_tok - t0 < FP_T ? (int)(n_tok - t0) : FP_T;
        const uint8_t *ar = (const uint8_t *)act + t0 * a_stride;
        for (int64_t r0 = 0; r0 < n_rows; r0 += rstep) {
            int rr = n_rows - r0 < rstep ? (int)(n_rows - r0) : (int)rstep;
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

AVX2 void engine_gemm_f32_f32_avx2(int64_t n, const void *w, size_t w_row, int64_t n_rows,
                                   const void *act, size_t a_stride, int64_t n_tok, float *out,
                                   size_t o_stride)
{
    fp_gemm(false, n, w, w_row, n_rows, act, a_stride, n_tok, out, o_stride);
}

AVX2 void engine_gemm_f16_f32_avx2(int64_t n, const void *w, size_t w_row, int64_t n_rows,
                                   const void *act, size_t a_stride, int64_t n_tok, float *out,
                                   size_t o_stride)
{
    fp_gemm(true, n, w, w_row, n_rows, act, a_stride, n_tok, out, o_stride);
}

/* vec_dot is the 1 x 1 tile, which makes the two agree by construction. */
AVX2 float engine_vec_dot_f32_f32_avx2(int64_t n, const void *w, const void *a)
{
    float r;
    fp_tile(false, 1, 1, n, w, 0, a, 0, &r, 1);
    return r;
}

AVX2 float engine_vec_dot_f16_f32_avx2(int64_t n, const void *w, const void *a)
{
    float r;
    fp_tile(true, 1, 1, n, w, 0, a, 0, &r, 1);
    return r;
}

#else
typedef int engine_quant_gemm_avx2_unused;
#endif

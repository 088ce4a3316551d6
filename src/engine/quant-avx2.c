/* quant-avx2.c - x86-64 AVX2+FMA+F16C versions of the hot kernels (the F32
 * and F16 dots and their tiles are in quant-gemm-avx2.c, Q4_0/Q8_0 in
 * quant-q-avx2.c, Q4_K/Q5_K/Q6_K in quant-k-avx2.c). Each
 * function carries its own target attribute, so this file builds with the
 * project's generic flags and quant.c calls these only after CPUID says the
 * CPU has the features. Integer sums are exact, as in the scalar kernels;
 * only the order of float additions differs. */
#define ENGINE_AVX2_SOURCE   /* engine.h: the shared AVX2 helpers */
#include "engine/engine.h"

#ifdef ENGINE_HAVE_AVX2_KERNELS

#include <cpuid.h>
#include <immintrin.h>
#include <string.h>


/* CPUID by hand rather than __builtin_cpu_supports, whose feature names
 * differ between compilers (clang 14 does not know "f16c"). AVX2 also needs
 * the OS to save the YMM registers (OSXSAVE and XCR0 bits 1-2). */
bool engine_cpu_has_avx2(void)
{
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
        return false;
    bool fma = ecx & (1u << 12), osxsave = ecx & (1u << 27), avx = ecx & (1u << 28),
         f16c = ecx & (1u << 29);
    if (!(fma && osxsave && avx && f16c))
        return false;
    unsigned int xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    (void)xcr0_hi;
    if ((xcr0_lo & 6u) != 6u)
        return false;
    if (__get_cpuid_max(0, NULL) < 7)
        return false;
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    return (ebx & (1u << 5)) != 0;     /* AVX2 */
}

AVX2 static inline float f16_scalar(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* Eight int32 sums of products of signed bytes x*y. maddubs wants one
 * unsigned operand, so move x's sign onto y. Exact for |x|,|y| <= 127
 * (the formats' quantizers never produce -128 activations). */
AVX2 static inline __m256i dot_i8_pairs(__m256i x, __m256i y)
{
    __m256i ax = _mm256_sign_epi8(x, x);
    __m256i sy = _mm256_sign_epi8(y, x);
    __m256i p16 = _mm256_maddubs_epi16(ax, sy);
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

/* 32 nibbles of a 16-byte run as bytes: low nibbles (elements 0..15) in
 * the low lane, high nibbles (16..31) in the high lane. */
AVX2 static inline __m256i nibbles_32(const uint8_t *qs)
{
    __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(raw),
                                           _mm_srli_epi16(raw, 4), 1);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

/* 32 bytes that are 0xFF where bit i of the 32-bit mask is set. */
AVX2 static inline __m256i bits_to_bytes(uint32_t bits)
{
    const __m256i shuffle = _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL,
                                              0x0101010101010101LL, 0x0000000000000000LL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), shuffle);
    const __m256i select = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    v = _mm256_and_si256(v, select);
    return _mm256_cmpeq_epi8(v, select);
}

AVX2 void engine_dequantize_row_f16_avx2(const void *src, float *dst, int64_t n)
{
    const uint8_t *s = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + 2 * i))));
    for (; i < n; i++)
        dst[i] = f16_scalar(engine_load_u16(src, i));
}

/* F16C rounds to nearest even, as engine_f32_to_f16 does: same bits. */
AVX2 void engine_quantize_row_f16_avx2(const float *src, void *dst, int64_t n)
{
    uint8_t *d = dst;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(void *)(d + 2 * i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) {
        uint16_t h = engine_f32_to_f16(src[i]);
        memcpy(d + 2 * i, &h, sizeof h);
    }
}

AVX2 void engine_dequantize_row_q4_0_avx2(const void *src, float *dst, int64_t n)
{
    const engine_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / ENGINE_QK; i++, dst += ENGINE_QK) {
        __m256 d = _mm256_set1_ps(f16_scalar(b[i].d));
        __m256i q = _mm256_sub_epi8(nibbles_32(b[i].qs), _mm256_set1_epi8(8));
        __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
        _mm256_storeu_ps(dst + 0,  _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo))));
        _mm256_storeu_ps(dst + 8,  _mm256_mul_ps(d, _mm256_cvtepi32_ps(
                                       _mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)))));
        _mm256_storeu_ps(dst + 16, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi))));
        _mm256_storeu_ps(dst + 24, _mm256_mul_ps(d, _mm256_cvtepi32_ps(
                                       _mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)))));
    }
}

AVX2 void engine_dequantize_row_q8_0_avx2(const void *src, float *dst, int64_t n)
{
    const engine_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / ENGINE_QK; i++, dst += ENGINE_QK) {
        __m256 d = _mm256_set1_ps(f16_scalar(b[i].d));
        for (int k = 0; k < 4; k++) {
            __m128i q = _mm_loadl_epi64((const __m128i *)(b[i].qs + 8 * k));
            _mm256_storeu_ps(dst + 8 * k,
                             _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))));
        }
    }
}

/* roundf (halves away from zero) of 8 floats, exactly: truncate, then step
 * away from zero where the dropped fraction is at least one half (the
 * fraction v - trunc(v) is exact for |v| < 2^23). _mm256_round_ps's nearest
 * mode rounds halves to even and would differ from the reference quantizer. */
AVX2 static inline __m256i round_away_epi32(__m256 v)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
    __m256 step = _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ),
                                _mm256_or_ps(_mm256_and_ps(v, sign), _mm256_set1_ps(1.0f)));
    return _mm256_cvttps_epi32(_mm256_add_ps(t, step));
}

/* Same bytes as engine_quantize_row_q8_0 (the test compares them): the same
 * absolute maximum, the same scalar d and 1/d, the same products, roundf. */
AVX2 void engine_quantize_row_q8_0_avx2(const float *src, void *dst, int64_t n)
{
    engine_block_q8_0 *b = dst;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < n / ENGINE_QK; i++, b++, src += ENGINE_QK) {
        __m256 v[4];
        __m256 m = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) {
            v[k] = _mm256_loadu_ps(src + 8 * k);
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[k]));
        }
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4);
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b->d = engine_f32_to_f16(d);
        __m256 idv = _mm256_set1_ps(id);
        __m256i q[4];
        for (int k = 0; k < 4; k++)
            q[k] = round_away_epi32(_mm256_mul_ps(v[k], idv));
        /* packs work per 128-bit lane: the dwords come out as elements 0-3
         * of q0 q1 q2 q3, then elements 4-7 of each; the permute restores
         * element order */
        __m256i q8 = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]),
                                        _mm256_packs_epi32(q[2], q[3]));
        q8 = _mm256_permutevar8x32_epi32(q8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(void *)b->qs, q8);
    }
}

AVX2 static inline __m256 load_bf16x8(const void *row, int64_t i)
{
    const __m128i *p = (const __m128i *)((const uint8_t *)row + 2 * i);
    __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

AVX2 float engine_vec_dot_bf16_f32_avx2(int64_t n, const void *w, const void *a)
{
    const float *y = a;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(load_bf16x8(w, i),     _mm256_loadu_ps(y + i),     acc0);
        acc1 = _mm256_fmadd_ps(load_bf16x8(w, i + 8), _mm256_loadu_ps(y + i + 8), acc1);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(load_bf16x8(w, i), _mm256_loadu_ps(y + i), acc0);
    float sum = engine_avx2_hsum(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++)
        sum += engine_bf16_to_f32(engine_load_u16(w, i)) * engine_load_f32(a, i);
    return sum;
}

AVX2 float engine_vec_dot_q4_1_q8_1_avx2(int64_t n, const void *w, const void *a)
{
    const engine_block_q4_1 *x = w;
    const engine_block_q8_1 *y = a;
    __m256 acc = _mm256_setzero_ps();
    float summ = 0.0f;
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t i = 0; i < n / ENGINE_QK; i++) {
        summ += f16_scalar(x[i].m) * f16_scalar(y[i].s);
        __m256 d = _mm256_set1_ps(f16_scalar(x[i].d) * f16_scalar(y[i].d));
        __m256i qx = nibbles_32(x[i].qs);                 /* unsigned 0..15 */
        __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(qx, qy), ones);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    }
    return engine_avx2_hsum(acc) + summ;
}

AVX2 float engine_vec_dot_q5_0_q8_0_avx2(int64_t n, const void *w, const void *a)
{
    const engine_block_q5_0 *x = w;
    const engine_block_q8_0 *y = a;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / ENGINE_QK; i++) {
        __m256 d = _mm256_set1_ps(f16_scalar(x[i].d) * f16_scalar(y[i].d));
        uint32_t qh;
        memcpy(&qh, x[i].qh, sizeof qh);       /* x86 is little-endian */
        /* q - 16 = low4 - 16 + 16*bit: subtract 16 where the bit is clear */
        __m256i clear = _mm256_andnot_si256(bits_to_bytes(qh), _mm256_set1_epi8(16));
        __m256i qx = _mm256_sub_epi8(nibbles_32(x[i].qs), clear);
        __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_i8_pairs(qx, qy)), acc);
    }
    return engine_avx2_hsum(acc);
}

AVX2 float engine_vec_dot_q5_1_q8_1_avx2(int64_t n, const void *w, const void *a)
{
    const engine_block_q5_1 *x = w;
    const engine_block_q8_1 *y = a;
    __m256 acc = _mm256_setzero_ps();
    float summ = 0.0f;
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t i = 0; i < n / ENGINE_QK; i++) {
        summ += f16_scalar(x[i].m) * f16_scalar(y[i].s);
        __m256 d = _mm256_set1_ps(f16_scalar(x[i].d) * f16_scalar(y[i].d));
        uint32_t qh;
        memcpy(&qh, x[i].qh, sizeof qh);
        __m256i high = _mm256_and_si256(bits_to_bytes(qh), _mm256_set1_epi8(16));
        __m256i qx = _mm256_or_si256(nibbles_32(x[i].qs), high);      /* unsigned 0..31 */
        __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(qx, qy), ones);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    }
    return engine_avx2_hsum(acc) + summ;
}

/* int16 lanes 0..7 = lo, 8..15 = hi: the two 16-element sub-blocks of a
 * 32-element run after maddubs. */
AVX2 static inline __m256i scale_pair(int lo, int hi)
{
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)lo)),
                                   _mm_set1_epi16((short)hi), 1);
}

AVX2 float engine_vec_dot_q2_k_q8_k_avx2(int64_t n, const void *w, const void *a)
{
    const engine_block_q2_k *x = w;
    const engine_block_q8_k *y = a;
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    __m256 acc_m = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / ENGINE_QK_K; i++) {
        /* mins: high nibbles of the 16 scale bytes against bsums */
        __m128i sb = _mm_loadu_si128((const __m128i *)x[i].scales);
        __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sb, 4), _mm_set1_epi8(0x0F)));
        __m256i pm = _mm256_madd_epi16(mins, _mm256_loadu_si256((const __m256i *)y[i].bsums));
        acc_m = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * f16_scalar(x[i].dmin)),
                                _mm256_cvtepi32_ps(pm), acc_m);
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i q2 = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            for (int j = 0; j < 4; j++) {
                __m256i q = _mm256_and_si256(q2, m3);
                q2 = _mm256_srli_epi16(q2, 2);
                __m256i q8 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 128 * h + 32 * j));
                int g = 8 * h + 2 * j;
                __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(q, q8),
                                              scale_pair(x[i].scales[g] & 0x0F,
                                                         x[i].scales[g + 1] & 0x0F));
                sumi = _mm256_add_epi32(sumi, p);
            }
        }
        __m256 d = _mm256_set1_ps(y[i].d * f16_scalar(x[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc);
    }
    return engine_avx2_hsum(acc) - engine_avx2_hsum(acc_m);
}

AVX2 float engine_vec_dot_q3_k_q8_k_avx2(int64_t n, const void *w, const void *a)
{
    const engine_block_q3_k *x = w;
    const engine_block_q8_k *y = a;
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m256i one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / ENGINE_QK_K; i++) {
        int8_t sc[16];
        for (int s = 0; s < 16; s++) {
            int low4 = s < 8 ? (x[i].scales[s] & 0x0F) : (x[i].scales[s - 8] >> 4);
            int high2 = (x[i].scales[8 + s % 4] >> (2 * (s / 4))) & 3;
            sc[s] = (int8_t)((low4 | (high2 << 4)) - 32);
        }
        /* hmask byte l, bit 4h + j: clear means the quant is q2 - 4 */
        __m256i hmask = _mm256_loadu_si256((const __m256i *)x[i].hmask);
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i q2 = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            for (int j = 0; j < 4; j++) {
                __m256i q = _mm256_and_si256(q2, m3);
                q2 = _mm256_srli_epi16(q2, 2);
                __m256i minus4 = _mm256_slli_epi16(_mm256_andnot_si256(hmask, one), 2);
                hmask = _mm256_srli_epi16(hmask, 1);
                __m256i q8 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 128 * h + 32 * j));
                __m256i p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(q, q8),
                                               _mm256_maddubs_epi16(minus4, q8));
                int g = 8 * h + 2 * j;
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p16, scale_pair(sc[g], sc[g + 1])));
            }
        }
        __m256 d = _mm256_set1_ps(y[i].d * f16_scalar(x[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc);
    }
    return engine_avx2_hsum(acc);
}

#else
/* Not x86: nothing to build; keeps the translation unit non-empty. */
typedef int engine_quant_avx2_unused;
#endif

/* quant.c - fp16/bf16 conversions, the dequantizers of every supported ggml
 * type (portable C, bit-exact to the GGUF block layouts) and the type table
 * that picks scalar or AVX2 kernels at run time. */
#include "engine/engine.h"

#include <stdatomic.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the engine reads GGUF's little-endian blocks directly: big-endian hosts are not supported"
#endif

_Static_assert(sizeof(engine_block_q4_0) == 18, "Q4_0 block is 18 bytes");
_Static_assert(sizeof(engine_block_q4_1) == 20, "Q4_1 block is 20 bytes");
_Static_assert(sizeof(engine_block_q5_0) == 22, "Q5_0 block is 22 bytes");
_Static_assert(sizeof(engine_block_q5_1) == 24, "Q5_1 block is 24 bytes");
_Static_assert(sizeof(engine_block_q8_0) == 34, "Q8_0 block is 34 bytes");
_Static_assert(sizeof(engine_block_q8_1) == 36, "Q8_1 block is 36 bytes");
_Static_assert(sizeof(engine_block_q2_k) == 84, "Q2_K block is 84 bytes");
_Static_assert(sizeof(engine_block_q3_k) == 110, "Q3_K block is 110 bytes");
_Static_assert(sizeof(engine_block_q4_k) == 144, "Q4_K block is 144 bytes");
_Static_assert(sizeof(engine_block_q5_k) == 176, "Q5_K block is 176 bytes");
_Static_assert(sizeof(engine_block_q6_k) == 210, "Q6_K block is 210 bytes");
_Static_assert(sizeof(engine_block_q8_k) == 292, "Q8_K block is 292 bytes");
/* The sizes equal the sum of the members, so the packed structs match the
 * file layout with no padding; packing (alignment 1) is what lets blocks sit
 * at any address. Q5_0/Q5_1 qh is kept as bytes and read little-endian. */

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}


uint16_t engine_f32_to_f16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7FFFFFFFu;
    if (ax > 0x7F800000u)                 /* NaN: quiet, keep the top payload bits */
        return (uint16_t)(sign | 0x7E00u | ((ax >> 13) & 0x3FFu));
    if (ax >= 0x477FF000u)                /* >= 65520 rounds to infinity */
        return (uint16_t)(sign | 0x7C00u);
    if (ax >= 0x38800000u) {              /* normal half (>= 2^-14) */
        uint32_t odd = (ax >> 13) & 1u;
        /* rebias 127 -> 15 and round to nearest even; a carry out of the
         * mantissa correctly bumps the exponent */
        ax = ax - 0x38000000u + 0xFFFu + odd;
        return (uint16_t)(sign | (ax >> 13));
    }
    /* Subnormal or zero: count units of 2^-24. Adding 2^23 makes the f32
     * adder round to an integer, ties to even; 1024 units is the smallest
     * normal, whose encoding is exactly 0x0400. */
    float units = f32_from_bits(ax) * 0x1p24f + 0x1p23f;
    return (uint16_t)(sign | (uint16_t)(f32_bits(units) - f32_bits(0x1p23f)));
}

float engine_bf16_to_f32(uint16_t b)
{
    return f32_from_bits((uint32_t)b << 16);
}

uint16_t engine_f32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u)
        return (uint16_t)((x >> 16) | 0x40u);
    return (uint16_t)((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

/* ---- dequantizers ---- */

void engine_dequantize_row_f32(const void *src, float *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void engine_dequantize_row_f16(const void *src, float *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = engine_f16_to_f32(engine_load_u16(src, i));
}

void engine_dequantize_row_bf16(const void *src, float *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = engine_bf16_to_f32(engine_load_u16(src, i));
}

void engine_dequantize_row_q4_0(const void *src, float *dst, int64_t n)
{
    const engine_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / ENGINE_QK; i++, b++, dst += ENGINE_QK) {
        float d = engine_f16_to_f32(b->d);
        for (int j = 0; j < ENGINE_QK / 2; j++) {
            dst[j]      = (float)((b->qs[j] & 0x0F) - 8) * d;
            dst[j + 16] = (float)((b->qs[j] >> 4) - 8) * d;
        }
    }
}

void engine_dequantize_row_q4_1(const void *src, float *dst, int64_t n)
{
    const engine_block_q4_1 *b = src;
    for (int64_t i = 0; i < n / ENGINE_QK; i++, b++, dst += ENGINE_QK) {
        float d = engine_f16_to_f32(b->d), m = engine_f16_to_f32(b->m);
        for (int j = 0; j < ENGINE_QK / 2; j++) {
            dst[j]      = (float)(b->qs[j] & 0x0F) * d + m;
            dst[j + 16] = (float)(b->qs[j] >> 4) * d + m;
        }
    }
}

static uint32_t load_u32_le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void engine_dequantize_row_q5_0(const void *src, float *dst, int64_t n)
{
    const engine_block_q5_0 *b = src;
    for (int64_t i = 0; i < n / ENGINE_QK; i++, b++, dst += ENGINE_QK) {
        float d = engine_f16_to_f32(b->d);
        uint32_t qh = load_u32_le(b->qh);
        for (int j = 0; j < ENGINE_QK / 2; j++) {
            int lo = (b->qs[j] & 0x0F) | (int)(((qh >> j) & 1u) << 4);
            int hi = (b->qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
            dst[j]      = (float)(lo - 16) * d;
            dst[j + 16] = (float)(hi - 16) * d;
        }
    }
}

void engine_dequantize_row_q5_1(const void *src, float *dst, int64_t n)
{
    const engine_block_q5_1 *b = src;
    for (int64_t i = 0; i < n / ENGINE_QK; i++, b++, dst += ENGINE_QK) {
        float d = engine_f16_to_f32(b->d), m = engine_f16_to_f32(b->m);
        uint32_t qh = load_u32_le(b->qh);
        for (int j = 0; j < ENGINE_QK / 2; j++) {
            int lo = (b->qs[j] & 0x0F) | (int)(((qh >> j) & 1u) << 4);
            int hi = (b->qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
            dst[j]      = (float)lo * d + m;
            dst[j + 16] = (float)hi * d + m;
        }
    }
}

void engine_dequantize_row_q8_0(const void *src, float *dst, int64_t n)
{
    const engine_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / ENGINE_QK; i++, b++, dst += ENGINE_QK) {
        float d = engine_f16_to_f32(b->d);
        for (int j = 0; j < ENGINE_QK; j++)
            dst[j] = (float)b->qs[j] * d;
    }
}

void engine_dequantize_row_q8_1(const void *src, float *dst, int64_t n)
{
    const engine_block_q8_1 *b = src;
    for (int64_t i = 0; i < n / ENGINE_QK; i++, b++, dst += ENGINE_QK) {
        float d = engine_f16_to_f32(b->d);
        for (int j = 0; j < ENGINE_QK; j++)
            dst[j] = (float)b->qs[j] * d;
    }
}

void engine_dequantize_row_q2_k(const void *src, float *dst, int64_t n)
{
    const engine_block_q2_k *b = src;
    for (int64_t i = 0; i < n / ENGINE_QK_K; i++, b++) {
        float d = engine_f16_to_f32(b->d), dmin = engine_f16_to_f32(b->dmin);
        int is = 0;
        /* two halves of 128; each 32-byte run of qs holds 4 planes of 32 */
        for (int h = 0; h < 2; h++) {
            const uint8_t *q = b->qs + 32 * h;
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half16 = 0; half16 < 2; half16++) {
                    uint8_t sc = b->scales[is++];
                    float dl = d * (float)(sc & 0x0F), ml = dmin * (float)(sc >> 4);
                    for (int l = 0; l < 16; l++)
                        *dst++ = dl * (float)((q[16 * half16 + l] >> shift) & 3) - ml;
                }
            }
        }
    }
}

/* The 16 Q3_K sub-block scales, unbiased to -32..31. */
static void q3_k_unpack_scales(const uint8_t packed[12], int8_t out[16])
{
    for (int i = 0; i < 16; i++) {
        int low4  = i < 8 ? (packed[i] & 0x0F) : (packed[i - 8] >> 4);
        int high2 = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
        out[i] = (int8_t)((low4 | (high2 << 4)) - 32);
    }
}

void engine_dequantize_row_q3_k(const void *src, float *dst, int64_t n)
{
    const engine_block_q3_k *b = src;
    for (int64_t i = 0; i < n / ENGINE_QK_K; i++, b++) {
        float d = engine_f16_to_f32(b->d);
        int8_t sc[16];
        q3_k_unpack_scales(b->scales, sc);
        int is = 0;
        uint8_t hbit = 1;
        for (int h = 0; h < 2; h++) {
            const uint8_t *q = b->qs + 32 * h;
            for (int shift = 0; shift < 8; shift += 2, hbit = (uint8_t)(hbit << 1)) {
                for (int half16 = 0; half16 < 2; half16++) {
                    float dl = d * (float)sc[is++];
                    for (int l = 16 * half16; l < 16 * half16 + 16; l++) {
                        int v = ((q[l] >> shift) & 3) - ((b->hmask[l] & hbit) ? 0 : 4);
                        *dst++ = dl * (float)v;
                    }
                }
            }
        }
    }
}

void engine_dequantize_row_q4_k(const void *src, float *dst, int64_t n)
{
    const engine_block_q4_k *b = src;
    for (int64_t i = 0; i < n / ENGINE_QK_K; i++, b++) {
        float d = engine_f16_to_f32(b->d), dmin = engine_f16_to_f32(b->dmin);
        for (int c = 0; c < 4; c++) {
            const uint8_t *q = b->qs + 32 * c;
            uint8_t sc, m;
            engine_k_scale_min(2 * c, b->scales, &sc, &m);
            float d1 = d * (float)sc, m1 = dmin * (float)m;
            engine_k_scale_min(2 * c + 1, b->scales, &sc, &m);
            float d2 = d * (float)sc, m2 = dmin * (float)m;
            for (int l = 0; l < 32; l++) *dst++ = d1 * (float)(q[l] & 0x0F) - m1;
            for (int l = 0; l < 32; l++) *dst++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

void engine_dequantize_row_q5_k(const void *src, float *dst, int64_t n)
{
    const engine_block_q5_k *b = src;
    for (int64_t i = 0; i < n / ENGINE_QK_K; i++, b++) {
        float d = engine_f16_to_f32(b->d), dmin = engine_f16_to_f32(b->dmin);
        for (int c = 0; c < 4; c++) {
            const uint8_t *q = b->qs + 32 * c;
            uint8_t sc, m;
            engine_k_scale_min(2 * c, b->scales, &sc, &m);
            float d1 = d * (float)sc, m1 = dmin * (float)m;
            engine_k_scale_min(2 * c + 1, b->scales, &sc, &m);
            float d2 = d * (float)sc, m2 = dmin * (float)m;
            uint8_t bit_lo = (uint8_t)(1u << (2 * c)), bit_hi = (uint8_t)(2u << (2 * c));
            for (int l = 0; l < 32; l++)
                *dst++ = d1 * (float)((q[l] & 0x0F) + ((b->qh[l] & bit_lo) ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                *dst++ = d2 * (float)((q[l] >> 4) + ((b->qh[l] & bit_hi) ? 16 : 0)) - m2;
        }
    }
}

void engine_dequantize_row_q6_k(const void *src, float *dst, int64_t n)
{
    const engine_block_q6_k *b = src;
    for (int64_t i = 0; i < n / ENGINE_QK_K; i++, b++) {
        float d = engine_f16_to_f32(b->d);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
            const int8_t *sc = b->scales + 8 * h;
            float *y = dst + 128 * h;
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0x0F)      | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4)        | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4)   | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l]      = d * (float)sc[is + 0] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
        dst += ENGINE_QK_K;
    }
}

void engine_dequantize_row_q8_k(const void *src, float *dst, int64_t n)
{
    const engine_block_q8_k *b = src;
    for (int64_t i = 0; i < n / ENGINE_QK_K; i++, b++, dst += ENGINE_QK_K) {
        for (int j = 0; j < ENGINE_QK_K; j++)
            dst[j] = b->d * (float)b->qs[j];
    }
}

/* ---- the type table ---- */

#define TRAITS(T, NAME, BS, TS, DQ, Q, DOT, VDT) \
    [T] = { NAME, T, BS, TS, DQ, Q, DOT, VDT }

static const engine_quant_traits scalar_traits[GGML_TYPE_COUNT] = {
    TRAITS(GGML_TYPE_F32,  "F32",  1, 4, engine_dequantize_row_f32,  engine_quantize_row_f32,
           engine_vec_dot_f32_f32,  GGML_TYPE_F32),
    TRAITS(GGML_TYPE_F16,  "F16",  1, 2, engine_dequantize_row_f16,  engine_quantize_row_f16,
           engine_vec_dot_f16_f32,  GGML_TYPE_F32),
    TRAITS(GGML_TYPE_BF16, "BF16", 1, 2, engine_dequantize_row_bf16, engine_quantize_row_bf16,
           engine_vec_dot_bf16_f32, GGML_TYPE_F32),
    TRAITS(GGML_TYPE_Q4_0, "Q4_0", ENGINE_QK, sizeof(engine_block_q4_0),
           engine_dequantize_row_q4_0, engine_quantize_row_q4_0,
           engine_vec_dot_q4_0_q8_0, GGML_TYPE_Q8_0),
    TRAITS(GGML_TYPE_Q4_1, "Q4_1", ENGINE_QK, sizeof(engine_block_q4_1),
           engine_dequantize_row_q4_1, engine_quantize_row_q4_1,
           engine_vec_dot_q4_1_q8_1, GGML_TYPE_Q8_1),
    TRAITS(GGML_TYPE_Q5_0, "Q5_0", ENGINE_QK, sizeof(engine_block_q5_0),
           engine_dequantize_row_q5_0, engine_quantize_row_q5_0,
           engine_vec_dot_q5_0_q8_0, GGML_TYPE_Q8_0),
    TRAITS(GGML_TYPE_Q5_1, "Q5_1", ENGINE_QK, sizeof(engine_block_q5_1),
           engine_dequantize_row_q5_1, engine_quantize_row_q5_1,
           engine_vec_dot_q5_1_q8_1, GGML_TYPE_Q8_1),
    TRAITS(GGML_TYPE_Q8_0, "Q8_0", ENGINE_QK, sizeof(engine_block_q8_0),
           engine_dequantize_row_q8_0, engine_quantize_row_q8_0,
           engine_vec_dot_q8_0_q8_0, GGML_TYPE_Q8_0),
    TRAITS(GGML_TYPE_Q8_1, "Q8_1", ENGINE_QK, sizeof(engine_block_q8_1),
           engine_dequantize_row_q8_1, engine_quantize_row_q8_1, NULL, GGML_TYPE_Q8_1),
    TRAITS(GGML_TYPE_Q2_K, "Q2_K", ENGINE_QK_K, sizeof(engine_block_q2_k),
           engine_dequantize_row_q2_k, engine_quantize_row_q2_k,
           engine_vec_dot_q2_k_q8_k, GGML_TYPE_Q8_K),
    TRAITS(GGML_TYPE_Q3_K, "Q3_K", ENGINE_QK_K, sizeof(engine_block_q3_k),
           engine_dequantize_row_q3_k, engine_quantize_row_q3_k,
           engine_vec_dot_q3_k_q8_k, GGML_TYPE_Q8_K),
    TRAITS(GGML_TYPE_Q4_K, "Q4_K", ENGINE_QK_K, sizeof(engine_block_q4_k),
           engine_dequantize_row_q4_k, engine_quantize_row_q4_k,
           engine_vec_dot_q4_k_q8_k, GGML_TYPE_Q8_K),
    TRAITS(GGML_TYPE_Q5_K, "Q5_K", ENGINE_QK_K, sizeof(engine_block_q5_k),
           engine_dequantize_row_q5_k, engine_quantize_row_q5_k,
           engine_vec_dot_q5_k_q8_k, GGML_TYPE_Q8_K),
    TRAITS(GGML_TYPE_Q6_K, "Q6_K", ENGINE_QK_K, sizeof(engine_block_q6_k),
           engine_dequantize_row_q6_k, engine_quantize_row_q6_k,
           engine_vec_dot_q6_k_q8_k, GGML_TYPE_Q8_K),
    TRAITS(GGML_TYPE_Q8_K, "Q8_K", ENGINE_QK_K, sizeof(engine_block_q8_k),
           engine_dequantize_row_q8_k, engine_quantize_row_q8_k, NULL, GGML_TYPE_Q8_K),
};

/* Built once: the scalar table with the AVX2 kernels swapped in. One
 * caller wins the compare-and-swap and builds it; callers that arrive while
 * it is being built get the scalar table (a correct answer), so nobody
 * waits and no reader sees a half-built table. */
static engine_quant_traits simd_traits[GGML_TYPE_COUNT];
static atomic_int simd_state;          /* 0 unknown, 1 building, 2 available, 3 none */
static atomic_bool force_scalar;

static void build_simd_table(void)
{
    memcpy(simd_traits, scalar_traits, sizeof simd_traits);
#ifdef ENGINE_HAVE_AVX2_KERNELS
    engine_quant_traits *t = simd_traits;
    t[GGML_TYPE_F32].vec_dot  = engine_vec_dot_f32_f32_avx2;
    t[GGML_TYPE_F16].vec_dot  = engine_vec_dot_f16_f32_avx2;
    t[GGML_TYPE_F16].dequantize_row = engine_dequantize_row_f16_avx2;
    t[GGML_TYPE_F16].quantize_row = engine_quantize_row_f16_avx2;
    t[GGML_TYPE_BF16].vec_dot = engine_vec_dot_bf16_f32_avx2;
    t[GGML_TYPE_Q4_0].vec_dot = engine_vec_dot_q4_0_q8_0_avx2;
    t[GGML_TYPE_Q4_0].dequantize_row = engine_dequantize_row_q4_0_avx2;
    t[GGML_TYPE_Q4_1].vec_dot = engine_vec_dot_q4_1_q8_1_avx2;
    t[GGML_TYPE_Q5_0].vec_dot = engine_vec_dot_q5_0_q8_0_avx2;
    t[GGML_TYPE_Q5_1].vec_dot = engine_vec_dot_q5_1_q8_1_avx2;
    t[GGML_TYPE_Q8_0].vec_dot = engine_vec_dot_q8_0_q8_0_avx2;
    t[GGML_TYPE_Q8_0].dequantize_row = engine_dequantize_row_q8_0_avx2;
    t[GGML_TYPE_Q8_0].quantize_row = engine_quantize_row_q8_0_avx2;
    t[GGML_TYPE_Q2_K].vec_dot = engine_vec_dot_q2_k_q8_k_avx2;
    t[GGML_TYPE_Q3_K].vec_dot = engine_vec_dot_q3_k_q8_k_avx2;
    t[GGML_TYPE_Q4_K].vec_dot = engine_vec_dot_q4_k_q8_k_avx2;
    t[GGML_TYPE_Q5_K].vec_dot = engine_vec_dot_q5_k_q8_k_avx2;
    t[GGML_TYPE_Q6_K].vec_dot = engine_vec_dot_q6_k_q8_k_avx2;
    t[GGML_TYPE_F32].gemm  = engine_gemm_f32_f32_avx2;
    t[GGML_TYPE_F16].gemm  = engine_gemm_f16_f32_avx2;
    t[GGML_TYPE_BF16].gemm = engine_gemm_bf16_f32_avx2;
    t[GGML_TYPE_Q8_0].gemm = engine_gemm_q8_0_q8_0_avx2;
    t[GGML_TYPE_Q4_0].gemm = engine_gemm_q4_0_q8_0_avx2;
    t[GGML_TYPE_Q4_K].gemm = engine_gemm_q4_k_q8_k_avx2;
    t[GGML_TYPE_Q5_K].gemm = engine_gemm_q5_k_q8_k_avx2;
    t[GGML_TYPE_Q6_K].gemm = engine_gemm_q6_k_q8_k_avx2;
#endif
}

static bool simd_available(void)
{
    int state = atomic_load_explicit(&simd_state, memory_order_acquire);
    if (state >= 2)
        return state == 2;
    bool have = false;
#ifdef ENGINE_HAVE_AVX2_KERNELS
    have = engine_cpu_has_avx2();
#endif
    int expected = 0;
    if (atomic_compare_exchange_strong(&simd_state, &expected, 1)) {
        if (have)
            build_simd_table();
        atomic_store_explicit(&simd_state, have ? 2 : 3, memory_order_release);
        return have;
    }
    /* Another thread is building: the scalar table is a correct answer. */
    state = atomic_load_explicit(&simd_state, memory_order_acquire);
    return state == 2;
}

const engine_quant_traits *engine_quant_get_scalar(uint32_t type)
{
    if (type >= GGML_TYPE_COUNT || scalar_traits[type].name == NULL)
        return NULL;
    return &scalar_traits[type];
}

const engine_quant_traits *engine_quant_get(uint32_t type)
{
    const engine_quant_traits *t = engine_quant_get_scalar(type);
    if (t == NULL || atomic_load_explicit(&force_scalar, memory_order_relaxed) || !simd_available())
        return t;
    return &simd_traits[type];
}

void engine_quant_force_scalar(bool scalar)
{
    atomic_store(&force_scalar, scalar);
}

const char *engine_quant_isa(void)
{
    if (atomic_load(&force_scalar) || !simd_available())
        return "scalar";
    return "avx2";
}

size_t engine_row_size(uint32_t type, int64_t n)
{
    const engine_quant_traits *t = engine_quant_get_scalar(type);
    if (t == NULL || n < 0 || n % t->block_size != 0)
        return 0;
    return (size_t)(n / t->block_size) * t->type_size;
}

/* quant-dot.c - portable dot-product kernels: one quantized weight row
 * against one activation row in the paired format (gguf-and-quants.md
 * section 4). Integer sums per block, one or two float multiplies per
 * block; mins enter through the activation sums (Q8_1 s, Q8_K bsums). */
#include "engine/engine.h"

float engine_vec_dot_f32_f32(int64_t n, const void *w, const void *a)
{
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)engine_load_f32(w, i) * (double)engine_load_f32(a, i);
    return (float)sum;
}

float engine_vec_dot_f16_f32(int64_t n, const void *w, const void *a)
{
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)engine_f16_to_f32(engine_load_u16(w, i)) * (double)engine_load_f32(a, i);
    return (float)sum;
}

float engine_vec_dot_bf16_f32(int64_t n, const void *w, const void *a)
{
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)engine_bf16_to_f32(engine_load_u16(w, i)) * (double)engine_load_f32(a, i);
    return (float)sum;
}

/* Most scalar kernels unpack a block's quants into int8 arrays and then do
 * plain int8 x int8 loops, shapes compilers auto-vectorize (this is the
 * only path on non-x86 CPUs). Q2_K/Q3_K/Q4_0 measured faster as direct
 * loops over the packed bits, so they stay that way. */
static int dot_i8(const int8_t *a, const int8_t *b, int len)
{
    int sum = 0;
    for (int l = 0; l < len; l++)
        sum += a[l] * b[l];
    return sum;
}

/* 32 nibbles: low nibbles are elements 0..15, high nibbles 16..31. */
static void unpack_nibbles(const uint8_t qs[16], int8_t q[32])
{
    for (int j = 0; j < 16; j++) {
        q[j]      = (int8_t)(qs[j] & 0x0F);
        q[j + 16] = (int8_t)(qs[j] >> 4);
    }
}

/* Adds the 5th bits (LE u32: bit j = element j) to unpacked nibbles. */
static void add_fifth_bits(const uint8_t qh_bytes[4], int8_t q[32])
{
    uint32_t qh = (uint32_t)qh_bytes[0] | (uint32_t)qh_bytes[1] << 8 |
                  (uint32_t)qh_bytes[2] << 16 | (uint32_t)qh_bytes[3] << 24;
    for (int j = 0; j < 32; j++)
        q[j] = (int8_t)(q[j] | (((qh >> j) & 1u) << 4));
}

static int sum_i8(const int8_t *a, int len)
{
    int sum = 0;
    for (int l = 0; l < len; l++)
        sum += a[l];
    return sum;
}

float engine_vec_dot_q4_0_q8_0(int64_t n, const void *w, const void *a)
{
    const engine_block_q4_0 *x = w;
    const engine_block_q8_0 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / ENGINE_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < ENGINE_QK / 2; j++) {
            sumi += ((x[i].qs[j] & 0x0F) - 8) * y[i].qs[j];
            sumi += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
        }
        sum += (float)sumi * engine_f16_to_f32(x[i].d) * engine_f16_to_f32(y[i].d);
    }
    return sum;
}

float engine_vec_dot_q4_1_q8_1(int64_t n, const void *w, const void *a)
{
    const engine_block_q4_1 *x = w;
    const engine_block_q8_1 *y = a;
    float sum = 0.0f;
    int8_t q[32];
    for (int64_t i = 0; i < n / ENGINE_QK; i++) {
        unpack_nibbles(x[i].qs, q);
        int sumi = dot_i8(q, y[i].qs, 32);
        sum += (float)sumi * engine_f16_to_f32(x[i].d) * engine_f16_to_f32(y[i].d)
             + engine_f16_to_f32(x[i].m) * engine_f16_to_f32(y[i].s);
    }
    return sum;
}

float engine_vec_dot_q5_0_q8_0(int64_t n, const void *w, const void *a)
{
    const engine_block_q5_0 *x = w;
    const engine_block_q8_0 *y = a;
    float sum = 0.0f;
    int8_t q[32];
    for (int64_t i = 0; i < n / ENGINE_QK; i++) {
        unpack_nibbles(x[i].qs, q);
        add_fifth_bits(x[i].qh, q);
        int sumi = dot_i8(q, y[i].qs, 32) - 16 * sum_i8(y[i].qs, 32);
        sum += (float)sumi * engine_f16_to_f32(x[i].d) * engine_f16_to_f32(y[i].d);
    }
    return sum;
}

float engine_vec_dot_q5_1_q8_1(int64_t n, const void *w, const void *a)
{
    const engine_block_q5_1 *x = w;
    const engine_block_q8_1 *y = a;
    float sum = 0.0f;
    int8_t q[32];
    for (int64_t i = 0; i < n / ENGINE_QK; i++) {
        unpack_nibbles(x[i].qs, q);
        add_fifth_bits(x[i].qh, q);
        int sumi = dot_i8(q, y[i].qs, 32);
        sum += (float)sumi * engine_f16_to_f32(x[i].d) * engine_f16_to_f32(y[i].d)
             + engine_f16_to_f32(x[i].m) * engine_f16_to_f32(y[i].s);
    }
    return sum;
}

float engine_vec_dot_q8_0_q8_0(int64_t n, const void *w, const void *a)
{
    const engine_block_q8_0 *x = w;
    const engine_block_q8_0 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / ENGINE_QK; i++) {
        int sumi = dot_i8(x[i].qs, y[i].qs, 32);
        sum += (float)sumi * engine_f16_to_f32(x[i].d) * engine_f16_to_f32(y[i].d);
    }
    return sum;
}

float engine_vec_dot_q2_k_q8_k(int64_t n, const void *w, const void *a)
{
    const engine_block_q2_k *x = w;
    const engine_block_q8_k *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / ENGINE_QK_K; i++) {
        int summs = 0;
        for (int g = 0; g < 16; g++)
            summs += y[i].bsums[g] * (x[i].scales[g] >> 4);
        int isum = 0, is = 0;
        const int8_t *q8 = y[i].qs;
        for (int h = 0; h < 2; h++) {
            const uint8_t *q2 = x[i].qs + 32 * h;
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half16 = 0; half16 < 2; half16++, q8 += 16) {
                    int sub = 0;
                    for (int l = 0; l < 16; l++)
                        sub += q8[l] * ((q2[16 * half16 + l] >> shift) & 3);
                    isum += (x[i].scales[is++] & 0x0F) * sub;
                }
            }
        }
        float dall = y[i].d * engine_f16_to_f32(x[i].d);
        float dmin = y[i].d * engine_f16_to_f32(x[i].dmin);
        sum += dall * (float)isum - dmin * (float)summs;
    }
    return sum;
}

float engine_vec_dot_q3_k_q8_k(int64_t n, const void *w, const void *a)
{
    const engine_block_q3_k *x = w;
    const engine_block_q8_k *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / ENGINE_QK_K; i++) {
        int8_t sc[16];
        for (int s = 0; s < 16; s++) {
            int low4 = s < 8 ? (x[i].scales[s] & 0x0F) : (x[i].scales[s - 8] >> 4);
            int high2 = (x[i].scales[8 + s % 4] >> (2 * (s / 4))) & 3;
            sc[s] = (int8_t)((low4 | (high2 << 4)) - 32);
        }
        int isum = 0, is = 0;
        const int8_t *q8 = y[i].qs;
        uint8_t hbit = 1;
        for (int h = 0; h < 2; h++) {
            const uint8_t *q3 = x[i].qs + 32 * h;
            for (int shift = 0; shift < 8; shift += 2, hbit = (uint8_t)(hbit << 1)) {
                for (int half16 = 0; half16 < 2; half16++, q8 += 16) {
                    int sub = 0;
                    for (int l = 0; l < 16; l++) {
                        int idx = 16 * half16 + l;
                        int v = ((q3[idx] >> shift) & 3) - ((x[i].hmask[idx] & hbit) ? 0 : 4);
                        sub += q8[l] * v;
                    }
                    isum += sc[is++] * sub;
                }
            }
        }
        sum += y[i].d * engine_f16_to_f32(x[i].d) * (float)isum;
    }
    return sum;
}

float engine_vec_dot_q4_k_q8_k(int64_t n, const void *w, const void *a)
{
    const engine_block_q4_k *x = w;
    const engine_block_q8_k *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / ENGINE_QK_K; i++) {
        int isum = 0, summs = 0;
        for (int c = 0; c < 4; c++) {
            const uint8_t *q4 = x[i].qs + 32 * c;
            const int8_t *q8 = y[i].qs + 64 * c;
            uint8_t sc_lo, m_lo, sc_hi, m_hi;
            engine_k_scale_min(2 * c, x[i].scales, &sc_lo, &m_lo);
            engine_k_scale_min(2 * c + 1, x[i].scales, &sc_hi, &m_hi);
            int lo = 0, hi = 0;
            for (int l = 0; l < 32; l++) {
                lo += (q4[l] & 0x0F) * q8[l];
                hi += (q4[l] >> 4) * q8[l + 32];
            }
            isum += sc_lo * lo + sc_hi * hi;
            summs += m_lo * (y[i].bsums[4 * c] + y[i].bsums[4 * c + 1]);
            summs += m_hi * (y[i].bsums[4 * c + 2] + y[i].bsums[4 * c + 3]);
        }
        float dall = y[i].d * engine_f16_to_f32(x[i].d);
        float dmin = y[i].d * engine_f16_to_f32(x[i].dmin);
        sum += dall * (float)isum - dmin * (float)summs;
    }
    return sum;
}

float engine_vec_dot_q5_k_q8_k(int64_t n, const void *w, const void *a)
{
    const engine_block_q5_k *x = w;
    const engine_block_q8_k *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / ENGINE_QK_K; i++) {
        int isum = 0, summs = 0;
        for (int c = 0; c < 4; c++) {
            const uint8_t *q4 = x[i].qs + 32 * c;
            const int8_t *q8 = y[i].qs + 64 * c;
            uint8_t sc_lo, m_lo, sc_hi, m_hi;
            engine_k_scale_min(2 * c, x[i].scales, &sc_lo, &m_lo);
            engine_k_scale_min(2 * c + 1, x[i].scales, &sc_hi, &m_hi);
            uint8_t bit_lo = (uint8_t)(1u << (2 * c)), bit_hi = (uint8_t)(2u << (2 * c));
            int lo = 0, hi = 0;
            for (int l = 0; l < 32; l++) {
                lo += ((q4[l] & 0x0F) + ((x[i].qh[l] & bit_lo) ? 16 : 0)) * q8[l];
                hi += ((q4[l] >> 4) + ((x[i].qh[l] & bit_hi) ? 16 : 0)) * q8[l + 32];
            }
            isum += sc_lo * lo + sc_hi * hi;
            summs += m_lo * (y[i].bsums[4 * c] + y[i].bsums[4 * c + 1]);
            summs += m_hi * (y[i].bsums[4 * c + 2] + y[i].bsums[4 * c + 3]);
        }
        float dall = y[i].d * engine_f16_to_f32(x[i].d);
        float dmin = y[i].d * engine_f16_to_f32(x[i].dmin);
        sum += dall * (float)isum - dmin * (float)summs;
    }
    return sum;
}

float engine_vec_dot_q6_k_q8_k(int64_t n, const void *w, const void *a)
{
    const engine_block_q6_k *x = w;
    const engine_block_q8_k *y = a;
    float sum = 0.0f;
    int8_t q[ENGINE_QK_K];
    for (int64_t i = 0; i < n / ENGINE_QK_K; i++) {
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[i].ql + 64 * h, *qh = x[i].qh + 32 * h;
            int8_t *qq = q + 128 * h;
            for (int l = 0; l < 32; l++) {
                qq[l]      = (int8_t)(((ql[l] & 0x0F)      | (((qh[l] >> 0) & 3) << 4)) - 32);
                qq[l + 32] = (int8_t)(((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32);
                qq[l + 64] = (int8_t)(((ql[l] >> 4)        | (((qh[l] >> 4) & 3) << 4)) - 32);
                qq[l + 96] = (int8_t)(((ql[l + 32] >> 4)   | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        }
        int isum = 0;
        for (int g = 0; g < 16; g++)
            isum += x[i].scales[g] * dot_i8(q + 16 * g, y[i].qs + 16 * g, 16);
        sum += y[i].d * engine_f16_to_f32(x[i].d) * (float)isum;
    }
    return sum;
}

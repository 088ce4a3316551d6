/* quant-quantize.c - reference quantizers from f32 to every block type,
 * following ggml's reference algorithms (quantize_row_*_ref) so that the
 * blocks tests and tools synthesize look like the ones llama.cpp writes:
 * round-to-nearest for the 32-element types and the activation formats,
 * scale searches (make_qx_quants, make_qkx2_quants, make_q3_quants) for the
 * K-quants. Slow by design for K-quants; activations use Q8_0/Q8_1/Q8_K. */
#include "engine/engine.h"

#include <math.h>
#include <string.h>

/* Below this a group counts as all zeros (ggml's GROUP_MAX_EPS). */
#define GROUP_MAX_EPS 1e-15f

/* Round to nearest, ties to even, for |v| < 2^22: adding 1.5 * 2^23 puts the
 * integer part into the low mantissa bits. */
static int nearest_int(float v)
{
    float shifted = v + 12582912.0f;
    int32_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    return (bits & 0x007FFFFF) - 0x00400000;
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void engine_quantize_row_f32(const float *src, void *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void engine_quantize_row_f16(const float *src, void *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = engine_f32_to_f16(src[i]);
        memcpy((uint8_t *)dst + 2 * i, &h, sizeof h);
    }
}

void engine_quantize_row_bf16(const float *src, void *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        uint16_t b = engine_f32_to_bf16(src[i]);
        memcpy((uint8_t *)dst + 2 * i, &b, sizeof b);
    }
}

/* The signed value of largest magnitude (first one on ties) and its |.|. */
static float signed_absmax(const float *x, int n, float *amax_out)
{
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    *amax_out = amax;
    return max;
}

void engine_quantize_row_q4_0(const float *src, void *dst, int64_t n)
{
    engine_block_q4_0 *b = dst;
    for (int64_t i = 0; i < n / ENGINE_QK; i++, b++, src += ENGINE_QK) {
        float amax;
        float max = signed_absmax(src, ENGINE_QK, &amax);
        /* d is negative when the extreme is positive, so that extreme lands
         * on q = 0 (the value -8) and the full range -8..7 is used */
        float d = max / -8.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b->d = engine_f32_to_f16(d);
        for (int j = 0; j < ENGINE_QK / 2; j++) {
            int q0 = clampi((int)(src[j] * id + 8.5f), 0, 15);
            int q1 = clampi((int)(src[j + 16] * id + 8.5f), 0, 15);
            b->qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void engine_quantize_row_q4_1(const float *src, void *dst, int64_t n)
{
    engine_block_q4_1 *b = dst;
    for (int64_t i = 0; i < n / ENGINE_QK; i++, b++, src += ENGINE_QK) {
        float min = src[0], max = src[0];
        for (int j = 1; j < ENGINE_QK; j++) {
            if (src[j] < min) min = src[j];
            if (src[j] > max) max = src[j];
        }
        float d = (max - min) / 15.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b->d = engine_f32_to_f16(d);
        b->m = engine_f32_to_f16(min);
        for (int j = 0; j < ENGINE_QK / 2; j++) {
            int q0 = clampi((int)((src[j] - min) * id + 0.5f), 0, 15);
            int q1 = clampi((int)((src[j + 16] - min) * id + 0.5f), 0, 15);
            b->qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void engine_quantize_row_q5_0(const float *src, void *dst, int64_t n)
{
    engine_block_q5_0 *b = dst;
    for (int64_t i = 0; i < n / ENGINE_QK; i++, b++, src += ENGINE_QK) {
        float amax;
        float max = signed_absmax(src, ENGINE_QK, &amax);
        float d = max / -16.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b->d = engine_f32_to_f16(d);
        uint32_t qh = 0;
        for (int j = 0; j < ENGINE_QK / 2; j++) {
            int q0 = clampi((int)(src[j] * id + 16.5f), 0, 31);
            int q1 = clampi((int)(src[j + 16] * id + 16.5f), 0, 31);
            b->qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + 16);
        }
        for (int k = 0; k < 4; k++)
            b->qh[k] = (uint8_t)(qh >> (8 * k));
    }
}

void engine_quantize_row_q5_1(const float *src, void *dst, int64_t n)
{
    engine_block_q5_1 *b = dst;
    for (int64_t i = 0; i < n / ENGINE_QK; i++, b++, src += ENGINE_QK) {
        float min = src[0], max = src[0];
        for (int j = 1; j < ENGINE_QK; j++) {
            if (src[j] < min) min = src[j];
            if (src[j] > max) max = src[j];
        }
        float d = (max - min) / 31.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b->d = engine_f32_to_f16(d);
        b->m = engine_f32_to_f16(min);
        uint32_t qh = 0;
        for (int j = 0; j < ENGINE_QK / 2; j++) {
            int q0 = clampi((int)((src[j] - min) * id + 0.5f), 0, 31);
            int q1 = clampi((int)((src[j + 16] - min) * id + 0.5f), 0, 31);
            b->qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + 16);
        }
        for (int k = 0; k < 4; k++)
            b->qh[k] = (uint8_t)(qh >> (8 * k));
    }
}

void engine_quantize_row_q8_0(const float *src, void *dst, int64_t n)
{
    engine_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / ENGINE_QK; i++, b++, src += ENGINE_QK) {
        float amax;
        (void)signed_absmax(src, ENGINE_QK, &amax);
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b->d = engine_f32_to_f16(d);
        for (int j = 0; j < ENGINE_QK; j++)
            b->qs[j] = (int8_t)roundf(src[j] * id);
    }
}

void engine_quantize_row_q8_1(const float *src, void *dst, int64_t n)
{
    engine_block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / ENGINE_QK; i++, b++, src += ENGINE_QK) {
        float amax;
        (void)signed_absmax(src, ENGINE_QK, &amax);
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum = 0;
        b->d = engine_f32_to_f16(d);
        for (int j = 0; j < ENGINE_QK; j++) {
            b->qs[j] = (int8_t)roundf(src[j] * id);
            sum += b->qs[j];
        }
        b->s = engine_f32_to_f16((float)sum * d);
    }
}

void engine_quantize_row_q8_k(const float *src, void *dst, int64_t n)
{
    engine_block_q8_k *b = dst;
    for (int64_t i = 0; i < n / ENGINE_QK_K; i++, b++, src += ENGINE_QK_K) {
        float amax;
        float max = signed_absmax(src, ENGINE_QK_K, &amax);
        if (amax == 0.0f) {
            memset(b, 0, sizeof *b);
            continue;
        }
        /* The extreme maps to -127 exactly; d = 1/iscale may be negative. */
        float iscale = -127.0f / max;
        for (int j = 0; j < ENGINE_QK_K; j++) {
            int v = nearest_int(iscale * src[j]);
            b->qs[j] = (int8_t)(v > 127 ? 127 : v);
        }
        for (int g = 0; g < ENGINE_QK_K / 16; g++) {
            int sum = 0;
            for (int l = 0; l < 16; l++)
                sum += b->qs[16 * g + l];
            b->bsums[g] = (int16_t)sum;
        }
        b->d = 1.0f / iscale;
    }
}

/* ---- K-quant scale searches ---- */

/* Symmetric quantization of x[0..n) to L[i] in 0..2*nmax-1 (value
 * L - nmax), searching scales around nmax/max for the least weighted
 * squared error (weights x^2 when rmse_type is 1). Returns the scale. */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L, int rmse_type)
{
    float amax;
    float max = signed_absmax(x, n, &amax);
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = -(float)nmax / max;
    if (rmse_type == 0) {
        for (int i = 0; i < n; i++)
            L[i] = (int8_t)(nmax + clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1));
        return 1.0f / iscale;
    }
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0)
            continue;
        iscale = -((float)nmax + 0.1f * (float)is) / max;
        sumlx = suml2 = 0.0f;
        for (int i = 0; i < n; i++) {
            int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            float w = x[i] * x[i];
            sumlx += w * x[i] * (float)l;
            suml2 += w * (float)l * (float)l;
        }
        /* sumlx^2/suml2 is the error reduction; keep the largest */
        if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (int8_t)(nmax + clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Asymmetric quantization x ~ scale * L - the_min with L in 0..nmax and a
 * min that is never negative; tries nstep+1 scales from (nmax + rmin) to
 * (nmax + rmin + nstep * rdelta) over the range and solves the weighted
 * least-squares scale/min for each rounding. Returns the scale. */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights,
                              uint8_t *L, float *the_min, uint8_t *Laux,
                              float rmin, float rdelta, int nstep, bool use_mad)
{
    float min = x[0], max = x[0];
    float sum_w = weights[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += weights[i];
        sum_x += weights[i] * x[i];
    }
    if (min > 0.0f)
        min = 0.0f;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.0f;
    }
    float iscale = (float)nmax / (max - min);
    float scale = 1.0f / iscale;
    float best_err = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
        L[i] = (uint8_t)l;
        float diff = scale * (float)l + min - x[i];
        best_err += weights[i] * (use_mad ? fabsf(diff) : diff * diff);
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
        for (int i = 0; i < n; i++) {
            int l = clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            float w = weights[i];
            sum_l  += w * (float)l;
            sum_l2 += w * (float)l * (float)l;
            sum_xl += w * (float)l * x[i];
        }
        float det = sum_w * sum_l2 - sum_l * sum_l;
        if (det <= 0.0f)
            continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
        if (this_min > 0.0f) {
            this_min = 0.0f;
            this_scale = sum_xl / sum_l2;
        }
        float err = 0.0f;
        for (int i = 0; i < n; i++) {
            float diff = this_scale * (float)Laux[i] + this_min - x[i];
            err += weights[i] * (use_mad ? fabsf(diff) : diff * diff);
        }
        if (err < best_err) {
            memcpy(L, Laux, (size_t)n);
            best_err = err;
            scale = this_scale;
            min = this_min;
        }
    }
    *the_min = -min;
    return scale;
}

/* Symmetric 3-bit-style search used by Q3_K: start from nmax/max, then
 * move single quants while that improves the x^2-weighted fit. L gets
 * values 0..2*nmax-1. Returns the scale. */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L)
{
    float amax;
    float max = signed_absmax(x, n, &amax);
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = -(float)nmax / max;
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * (float)L[i];
            if (slx <= 0.0f)
                continue;
            float sl2 = suml2 - w * (float)L[i] * (float)L[i];
            int new_l = clampi(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (new_l == L[i])
                continue;
            slx += w * x[i] * (float)new_l;
            sl2 += w * (float)new_l * (float)new_l;
            if (sl2 > 0.0f && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (int8_t)new_l;
                sumlx = slx;
                suml2 = sl2;
                n_changed++;
            }
        }
        if (n_changed == 0)
            break;
    }
    for (int i = 0; i < n; i++)
        L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Pack 256 2-bit values: byte 32h+l holds elements 128h+l+32j in bits 2j. */
static void pack_2bit_planes(const uint8_t L[ENGINE_QK_K], uint8_t qs[ENGINE_QK_K / 4])
{
    for (int j = 0; j < ENGINE_QK_K; j += 128)
        for (int l = 0; l < 32; l++)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) |
                                      (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

void engine_quantize_row_q2_k(const float *src, void *dst, int64_t n)
{
    engine_block_q2_k *b = dst;
    uint8_t L[ENGINE_QK_K], Laux[16];
    float weights[16], mins[16], scales[16];
    for (int64_t i = 0; i < n / ENGINE_QK_K; i++, b++, src += ENGINE_QK_K) {
        float max_scale = 0.0f, max_min = 0.0f;
        for (int j = 0; j < 16; j++) {
            for (int l = 0; l < 16; l++)
                weights[l] = fabsf(src[16 * j + l]);
            scales[j] = make_qkx2_quants(16, 3, src + 16 * j, weights, L + 16 * j,
                                         &mins[j], Laux, -0.5f, 0.1f, 15, true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        /* sub-scales and mins are 4-bit multiples of the f16 d / dmin */
        memset(b->scales, 0, sizeof b->scales);
        b->d = 0;
        b->dmin = 0;
        if (max_scale > 0.0f) {
            float iscale = 15.0f / max_scale;
            for (int j = 0; j < 16; j++)
                b->scales[j] = (uint8_t)clampi(nearest_int(iscale * scales[j]), 0, 15);
            b->d = engine_f32_to_f16(max_scale / 15.0f);
        }
        if (max_min > 0.0f) {
            float iscale = 15.0f / max_min;
            for (int j = 0; j < 16; j++)
                b->scales[j] |= (uint8_t)(clampi(nearest_int(iscale * mins[j]), 0, 15) << 4);
            b->dmin = engine_f32_to_f16(max_min / 15.0f);
        }
        /* requantize against the scales as stored */
        for (int j = 0; j < 16; j++) {
            float d = engine_f16_to_f32(b->d) * (float)(b->scales[j] & 0x0F);
            if (d == 0.0f)
                continue;
            float dm = engine_f16_to_f32(b->dmin) * (float)(b->scales[j] >> 4);
            for (int l = 0; l < 16; l++)
                L[16 * j + l] = (uint8_t)clampi(nearest_int((src[16 * j + l] + dm) / d), 0, 3);
        }
        pack_2bit_planes(L, b->qs);
    }
}

void engine_quantize_row_q3_k(const float *src, void *dst, int64_t n)
{
    engine_block_q3_k *b = dst;
    int8_t L[ENGINE_QK_K];
    float scales[16];
    for (int64_t i = 0; i < n / ENGINE_QK_K; i++, b++, src += ENGINE_QK_K) {
        float max_scale = 0.0f, amax = 0.0f;
        for (int j = 0; j < 16; j++) {
            scales[j] = make_q3_quants(16, 4, src + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > amax) {
                amax = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        memset(b->scales, 0, sizeof b->scales);
        b->d = 0;
        if (max_scale != 0.0f) {
            float iscale = -32.0f / max_scale;
            for (int j = 0; j < 16; j++) {
                int l = clampi(nearest_int(iscale * scales[j]), -32, 31) + 32;
                if (j < 8)
                    b->scales[j] = (uint8_t)(l & 0x0F);
                else
                    b->scales[j - 8] |= (uint8_t)((l & 0x0F) << 4);
                b->scales[8 + j % 4] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            b->d = engine_f32_to_f16(1.0f / iscale);
        }
        for (int j = 0; j < 16; j++) {
            int low4 = j < 8 ? (b->scales[j] & 0x0F) : (b->scales[j - 8] >> 4);
            int sc = (low4 | (((b->scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
            float d = engine_f16_to_f32(b->d) * (float)sc;
            if (d == 0.0f)
                continue;
            for (int l = 0; l < 16; l++)
                L[16 * j + l] = (int8_t)(clampi(nearest_int(src[16 * j + l] / d), -4, 3) + 4);
        }
        /* bit 2 goes to hmask (byte e%32, bit e/32); the rest to qs */
        uint8_t low2[ENGINE_QK_K];
        memset(b->hmask, 0, sizeof b->hmask);
        for (int e = 0; e < ENGINE_QK_K; e++) {
            int v = L[e];
            if (v > 3) {
                b->hmask[e % 32] |= (uint8_t)(1u << (e / 32));
                v -= 4;
            }
            low2[e] = (uint8_t)v;
        }
        pack_2bit_planes(low2, b->qs);
    }
}

/* The 6-bit scale/min packing shared by Q4_K and Q5_K. */
static void pack_k_scales(const uint8_t ls[8], const uint8_t lm[8], uint8_t out[12])
{
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            out[j] = ls[j];
            out[j + 4] = lm[j];
        } else {
            out[j + 4] = (uint8_t)((ls[j] & 0x0F) | ((lm[j] & 0x0F) << 4));
            out[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            out[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

/* Shared part of Q4_K and Q5_K: per 32-group asymmetric fits, 6-bit
 * scales/mins relative to f16 d/dmin, then L (0..nmax) against the stored
 * scales. */
static void quantize_k_groups(const float *x, int nmax, float rmin, int nstep,
                              uint16_t *d_out, uint16_t *dmin_out, uint8_t scales_out[12],
                              uint8_t L[ENGINE_QK_K])
{
    float weights[32], mins[8], scales[8];
    uint8_t Laux[32], ls[8], lm[8];
    float max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 8; j++) {
        float sum_x2 = 0.0f;
        for (int l = 0; l < 32; l++)
            sum_x2 += x[32 * j + l] * x[32 * j + l];
        float av_x = sqrtf(sum_x2 / 32.0f);
        for (int l = 0; l < 32; l++)
            weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j],
                                     Laux, rmin, 0.1f, nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    for (int j = 0; j < 8; j++) {
        ls[j] = (uint8_t)clampi(nearest_int(inv_scale * scales[j]), 0, 63);
        lm[j] = (uint8_t)clampi(nearest_int(inv_min * mins[j]), 0, 63);
    }
    memset(scales_out, 0, ENGINE_K_SCALE_SIZE);
    pack_k_scales(ls, lm, scales_out);
    *d_out = engine_f32_to_f16(max_scale / 63.0f);
    *dmin_out = engine_f32_to_f16(max_min / 63.0f);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        engine_k_scale_min(j, scales_out, &sc, &m);
        float d = engine_f16_to_f32(*d_out) * (float)sc;
        if (d == 0.0f)
            continue;
        float dm = engine_f16_to_f32(*dmin_out) * (float)m;
        for (int l = 0; l < 32; l++)
            L[32 * j + l] = (uint8_t)clampi(nearest_int((x[32 * j + l] + dm) / d), 0, nmax);
    }
}

void engine_quantize_row_q4_k(const float *src, void *dst, int64_t n)
{
    engine_block_q4_k *b = dst;
    uint8_t L[ENGINE_QK_K];
    for (int64_t i = 0; i < n / ENGINE_QK_K; i++, b++, src += ENGINE_QK_K) {
        memset(L, 0, sizeof L);
        uint16_t d, dmin;
        quantize_k_groups(src, 15, -1.0f, 20, &d, &dmin, b->scales, L);
        b->d = d;
        b->dmin = dmin;
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                b->qs[32 * c + l] = (uint8_t)(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
    }
}

void engine_quantize_row_q5_k(const float *src, void *dst, int64_t n)
{
    engine_block_q5_k *b = dst;
    uint8_t L[ENGINE_QK_K];
    for (int64_t i = 0; i < n / ENGINE_QK_K; i++, b++, src += ENGINE_QK_K) {
        memset(L, 0, sizeof L);
        uint16_t d, dmin;
        quantize_k_groups(src, 31, -0.5f, 15, &d, &dmin, b->scales, L);
        b->d = d;
        b->dmin = dmin;
        memset(b->qh, 0, sizeof b->qh);
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) {
                int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
                if (lo > 15) b->qh[l] |= (uint8_t)(1u << (2 * c));
                if (hi > 15) b->qh[l] |= (uint8_t)(2u << (2 * c));
                b->qs[32 * c + l] = (uint8_t)((lo & 0x0F) | ((hi & 0x0F) << 4));
            }
        }
    }
}

void engine_quantize_row_q6_k(const float *src, void *dst, int64_t n)
{
    engine_block_q6_k *b = dst;
    int8_t L[ENGINE_QK_K];
    float scales[16];
    for (int64_t i = 0; i < n / ENGINE_QK_K; i++, b++, src += ENGINE_QK_K) {
        float max_scale = 0.0f, max_abs = 0.0f;
        for (int j = 0; j < 16; j++) {
            scales[j] = make_qx_quants(16, 32, src + 16 * j, L + 16 * j, 1);
            if (fabsf(scales[j]) > max_abs) {
                max_abs = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        memset(b, 0, sizeof *b);
        if (max_abs < GROUP_MAX_EPS)
            continue;
        float iscale = -128.0f / max_scale;
        b->d = engine_f32_to_f16(1.0f / iscale);
        for (int j = 0; j < 16; j++)
            b->scales[j] = (int8_t)clampi(nearest_int(iscale * scales[j]), -128, 127);
        for (int j = 0; j < 16; j++) {
            float d = engine_f16_to_f32(b->d) * (float)b->scales[j];
            if (d == 0.0f)
                continue;
            for (int l = 0; l < 16; l++)
                L[16 * j + l] = (int8_t)(clampi(nearest_int(src[16 * j + l] / d), -32, 31) + 32);
        }
        for (int h = 0; h < 2; h++) {
            const int8_t *q = L + 128 * h;
            uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                ql[l]      = (uint8_t)((q[l] & 0x0F) | ((q[l + 64] & 0x0F) << 4));
                ql[l + 32] = (uint8_t)((q[l + 32] & 0x0F) | ((q[l + 96] & 0x0F) << 4));
                qh[l] = (uint8_t)((q[l] >> 4) | ((q[l + 32] >> 4) << 2) |
                                  ((q[l + 64] >> 4) << 4) | ((q[l + 96] >> 4) << 6));
            }
        }
    }
}

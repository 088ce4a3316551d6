/* test-fp16.c - fp16 and bf16 conversions: hand-checked edge cases
 * (subnormals, infinities, NaN, ties), an exhaustive check of all 65536
 * halves against a ldexp-based decoder, and random floats against a
 * double-precision rounding reference and, when the CPU has it, F16C. */
#include "engine/engine.h"
#include "support/test.h"

#include <math.h>
#include <stdlib.h>
#ifdef ENGINE_HAVE_AVX2_KERNELS
#include <immintrin.h>
#define HAVE_F16C_CHECK 1
#endif

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float float_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* binary16 decoded from the definition, in double. */
static double half_ref(uint16_t h)
{
    int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 31)
        v = m ? NAN : INFINITY;
    else if (e == 0)
        v = ldexp((double)m, -24);
    else
        v = ldexp(1024.0 + m, e - 25);
    return sign ? -v : v;
}

/* f32 -> f16 value by rounding in double: the representable neighbours are
 * multiples of the ulp of x's binade (2^-24 below 2^-14); nearbyint rounds
 * ties to even in the default mode. Returns the rounded value (may be inf). */
static double round_to_half_ref(float x)
{
    double ax = fabs((double)x);
    int e;
    (void)frexp(ax, &e);               /* ax = f * 2^e, f in [0.5, 1) */
    int exp2 = e - 1;                  /* ax in [2^exp2, 2^(exp2+1)) */
    if (exp2 < -14)
        exp2 = -14;
    double ulp = ldexp(1.0, exp2 - 10);
    double r = nearbyint(ax / ulp) * ulp;
    if (r > 65504.0)
        r = INFINITY;
    return x < 0 ? -r : r;
}

static void test_f16_known(void)
{
    CHECK(engine_f16_to_f32(0x3C00) == 1.0f);
    CHECK(engine_f16_to_f32(0xC000) == -2.0f);
    CHECK(engine_f16_to_f32(0x3400) == 0.25f);
    CHECK(engine_f16_to_f32(0x7BFF) == 65504.0f);
    CHECK(engine_f16_to_f32(0x0400) == 0x1p-14f);        /* smallest normal */
    CHECK(engine_f16_to_f32(0x0001) == 0x1p-24f);        /* smallest subnormal */
    CHECK(engine_f16_to_f32(0x03FF) == 1023.0f * 0x1p-24f);
    CHECK(engine_f16_to_f32(0x8001) == -0x1p-24f);
    CHECK_INT(bits_of(engine_f16_to_f32(0x0000)), 0x00000000);
    CHECK_INT(bits_of(engine_f16_to_f32(0x8000)), 0x80000000);
    CHECK(isinf(engine_f16_to_f32(0x7C00)) && engine_f16_to_f32(0x7C00) > 0);
    CHECK(isinf(engine_f16_to_f32(0xFC00)) && engine_f16_to_f32(0xFC00) < 0);
    CHECK(isnan(engine_f16_to_f32(0x7E00)));
    CHECK(isnan(engine_f16_to_f32(0x7C01)));

    CHECK_INT(engine_f32_to_f16(1.0f), 0x3C00);
    CHECK_INT(engine_f32_to_f16(-0.0f), 0x8000);
    CHECK_INT(engine_f32_to_f16(65504.0f), 0x7BFF);
    CHECK_INT(engine_f32_to_f16(65519.0f), 0x7BFF);      /* below the midpoint */
    CHECK_INT(engine_f32_to_f16(65520.0f), 0x7C00);      /* tie, even is inf */
    CHECK_INT(engine_f32_to_f16(1e10f), 0x7C00);
    CHECK_INT(engine_f32_to_f16(-INFINITY), 0xFC00);
    CHECK(((engine_f32_to_f16(NAN) & 0x7C00) == 0x7C00) && (engine_f32_to_f16(NAN) & 0x3FF));
    /* ties at 1.0: 1 + 2^-11 is halfway between 0x3C00 and 0x3C01 */
    CHECK_INT(engine_f32_to_f16(1.0f + 0x1p-11f), 0x3C00);
    CHECK_INT(engine_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3C02);
    CHECK_INT(engine_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3C01);
    /* subnormal results and their ties */
    CHECK_INT(engine_f32_to_f16(0x1p-24f), 0x0001);
    CHECK_INT(engine_f32_to_f16(0x1p-25f), 0x0000);          /* tie to even 0 */
    CHECK_INT(engine_f32_to_f16(0x1.0002p-25f), 0x0001);
    CHECK_INT(engine_f32_to_f16(3 * 0x1p-25f), 0x0002);      /* tie to even 2 */
    CHECK_INT(engine_f32_to_f16(5 * 0x1p-25f), 0x0002);      /* tie to even 2 */
    CHECK_INT(engine_f32_to_f16(-7 * 0x1p-25f), 0x8004);
    CHECK_INT(engine_f32_to_f16(1023.5f * 0x1p-24f), 0x0400); /* rounds up into normal */
    CHECK_INT(engine_f32_to_f16(1e-30f), 0x0000);
    CHECK_INT(engine_f32_to_f16(float_of(0x00000001)), 0x0000); /* f32 subnormal */
}

static void test_f16_exhaustive(void)
{
    int bad_decode = 0, bad_roundtrip = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = engine_f16_to_f32((uint16_t)h);
        double ref = half_ref((uint16_t)h);
        if (isnan(ref)) {
            if (!isnan(f)) bad_decode++;
            if (!isnan(engine_f16_to_f32(engine_f32_to_f16(f)))) bad_roundtrip++;
            continue;
        }
        if ((double)f != ref || !signbit(f) != !signbit(ref)) bad_decode++;
        if (engine_f32_to_f16(f) != h) bad_roundtrip++;
    }
    CHECK_INT(bad_decode, 0);
    CHECK_INT(bad_roundtrip, 0);
}

#ifdef HAVE_F16C_CHECK
__attribute__((target("f16c"))) static uint16_t hw_f32_to_f16(float f)
{
    return (uint16_t)_cvtss_sh(f, 0);   /* 0 = round to nearest even */
}

__attribute__((target("f16c"))) static float hw_f16_to_f32(uint16_t h)
{
    return _cvtsh_ss(h);
}
/* The engine's own CPU check covers F16C (it is one of its requirements). */
static bool hw_available(void) { return engine_cpu_has_avx2(); }
#else
static uint16_t hw_f32_to_f16(float f) { (void)f; return 0; }
static float hw_f16_to_f32(uint16_t h) { (void)h; return 0.0f; }
static bool hw_available(void) { return false; }
#endif

static uint32_t rng_state = 12345;
static uint32_t rng_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static void test_f16_random(void)
{
    bool hw = hw_available();
    int bad_ref = 0, bad_hw = 0;
    for (int i = 0; i < 400000; i++) {
        /* exponents spread over the half range and beyond */
        uint32_t u = rng_u32();
        uint32_t e = 96 + (u >> 24) % 52;          /* 2^-31 .. 2^20 */
        uint32_t bits = (u & 0x80000000u) | (e << 23) | (rng_u32() & 0x7FFFFFu);
        if (i % 8 == 0)
            bits = (bits & 0xFFFFE000u) | 0x1000u;    /* exact ties */
        float x = float_of(bits);
        uint16_t h = engine_f32_to_f16(x);
        double want = round_to_half_ref(x);
        double got = (double)engine_f16_to_f32(h);
        if (got != want || !signbit(got) != !signbit(x)) bad_ref++;
        if (hw && h != hw_f32_to_f16(x)) bad_hw++;
    }
    CHECK_INT(bad_ref, 0);
    CHECK_INT(bad_hw, 0);
    if (hw) {
        int bad = 0;
        for (uint32_t h = 0; h < 65536; h++) {
            float a = engine_f16_to_f32((uint16_t)h), b = hw_f16_to_f32((uint16_t)h);
            if (isnan(a) ? !isnan(b) : bits_of(a) != bits_of(b)) bad++;
        }
        CHECK_INT(bad, 0);
    } else {
        printf("note: no F16C on this CPU; hardware cross-check skipped\n");
    }
}

static void test_bf16(void)
{
    CHECK(engine_bf16_to_f32(0x3F80) == 1.0f);
    CHECK(engine_bf16_to_f32(0xC040) == -3.0f);
    CHECK(engine_bf16_to_f32(0x0001) == float_of(0x00010000));   /* subnormal kept */
    CHECK(isinf(engine_bf16_to_f32(0x7F80)));
    CHECK(isnan(engine_bf16_to_f32(0x7FC0)));
    CHECK_INT(engine_f32_to_bf16(1.0f), 0x3F80);
    CHECK_INT(engine_f32_to_bf16(float_of(0x3F808000)), 0x3F80);  /* tie, even stays */
    CHECK_INT(engine_f32_to_bf16(float_of(0x3F818000)), 0x3F82);  /* tie, odd goes up */
    CHECK_INT(engine_f32_to_bf16(float_of(0x3F808001)), 0x3F81);  /* above the tie */
    CHECK_INT(engine_f32_to_bf16(float_of(0x3F807FFF)), 0x3F80);
    CHECK_INT(engine_f32_to_bf16(float_of(0x7F7FFFFF)), 0x7F80);  /* max rounds to inf */
    CHECK_INT(engine_f32_to_bf16(-INFINITY), 0xFF80);
    CHECK_INT(engine_f32_to_bf16(float_of(0x7F800001)), 0x7FC0);  /* sNaN -> quiet */
    CHECK_INT(engine_f32_to_bf16(float_of(0xFFC12345)), 0xFFC1);
    CHECK_INT(engine_f32_to_bf16(-0.0f), 0x8000);
    /* every bf16 survives a round trip */
    int bad = 0;
    for (uint32_t b = 0; b < 65536; b++) {
        float f = engine_bf16_to_f32((uint16_t)b);
        uint16_t back = engine_f32_to_bf16(f);
        if (isnan(f) ? !isnan(engine_bf16_to_f32(back)) : back != b) bad++;
    }
    CHECK_INT(bad, 0);
}

int main(void)
{
    test_f16_known();
    test_f16_exhaustive();
    test_f16_random();
    test_bf16();
    return mmtest_finish();
}

/*
 * kernels.c: the generic kernel table, CPU feature detection, and the
 * once-per-process choice of a table (see kernels.h).
 *
 * The generic table is the exact-math reference path: every weight
 * block is dequantized with quant.c's dequantizers and dotted with
 * float activations in double, in the same order as quant_dot, so a
 * model run on it reproduces float64 math over the stored weights up
 * to the float rounding of activations. It is slow by design.
 *
 * Detection. x86: a table needs its instructions (cpuid) and the OS
 * saving the registers they use across context switches (xgetbv: XCR0
 * bits 1-2 for the YMM state, 5-7 for the AVX-512 opmask and ZMM
 * state); without the second an AVX instruction faults even when cpuid
 * lists it. aarch64: getauxval(AT_HWCAP).
 */
#include "kernels.h"

#include <math.h>

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

/* ------------------------------------------------------------------ */
/* The generic table                                                   */
/* ------------------------------------------------------------------ */

/* Float activations for every type: dequantize 1024 weights (whole
 * blocks of every type) at a time, then accumulate each activation row
 * in double, in quant_dot's order, so out[t] == quant_dot(type, w, x_t,
 * n) bit for bit. */
#define GENERIC_CHUNK 1024
static void generic_dot(uint32_t type, int64_t n, const void *w, const void *x,
                        size_t x_stride, int nx, float *out)
{
    double acc[KERN_NX_MAX] = {0};
    if (type == GGML_TYPE_F32) {
        const float *wf = w;
        for (int t = 0; t < nx; t++) {
            const float *xt = (const float *)(const void *)((const char *)x + t * x_stride);
            for (int64_t i = 0; i < n; i++)
                acc[t] += (double)wf[i] * (double)xt[i];
        }
    } else {
        const struct quant_type_info *ti = quant_type_info(type);
        float buf[GENERIC_CHUNK];
        for (int64_t off = 0; off < n; off += GENERIC_CHUNK) {
            const int64_t m = MIN(GENERIC_CHUNK, n - off);
            const uint8_t *blk = (const uint8_t *)w + off / ti->block_size * ti->type_size;
            quant_dequantize_row(type, blk, buf, m);
            for (int t = 0; t < nx; t++) {
                const float *xt = (const float *)(const void *)((const char *)x + t * x_stride) + off;
                for (int64_t j = 0; j < m; j++)
                    acc[t] += (double)buf[j] * (double)xt[j];
            }
        }
    }
    for (int t = 0; t < nx; t++)
        out[t] = (float)acc[t];
}

#define GENERIC_DOT(T)                                                                        \
    static void generic_dot_##T(int64_t n, const void *w, const void *x, size_t xs, int nx,  \
                                float *out)                                                  \
    {                                                                                        \
        generic_dot(GGML_TYPE_##T, n, w, x, xs, nx, out);                                    \
    }
GENERIC_DOT(F32)
GENERIC_DOT(F16)
GENERIC_DOT(BF16)
GENERIC_DOT(Q8_0)
GENERIC_DOT(Q4_0)
GENERIC_DOT(Q4_K)
GENERIC_DOT(Q5_K)
GENERIC_DOT(Q6_K)
#undef GENERIC_DOT
static_assert(GENERIC_CHUNK % QK_K == 0, "the chunk must hold whole blocks of every type");

/* Attention in plain float, summed left to right (the reference
 * forward pass's order). */
static void generic_attn_scores(float *s, const float *q, const float *k, size_t stride, int n,
                                int hd, float scale)
{
    for (int j = 0; j < n; j++, k += stride) {
        float dot = 0.0f;
        for (int i = 0; i < hd; i++)
            dot += q[i] * k[i];
        s[j] = dot * scale;
    }
}

static void generic_attn_mix(float *out, const float *p, const float *v, size_t stride, int n,
                             int hd)
{
    memset(out, 0, (size_t)hd * sizeof(float));
    for (int j = 0; j < n; j++, v += stride)
        for (int i = 0; i < hd; i++)
            out[i] += p[j] * v[i];
}

void kern_softmax_scalar(float *x, int n)
{
    float max = x[0];
    for (int i = 1; i < n; i++)
        max = x[i] > max ? x[i] : max;
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++)
        x[i] *= inv;
}

void kern_swiglu_scalar(float *g, const float *u, int n)
{
    for (int i = 0; i < n; i++)
        g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

const struct kernels kernels_generic = {
    .name = "generic",
    .nx = KERN_NX_MAX,
    /* act_type left zero: GGML_TYPE_F32 for every type */
    .dot = {
        [GGML_TYPE_F32] = generic_dot_F32,
        [GGML_TYPE_F16] = generic_dot_F16,
        [GGML_TYPE_BF16] = generic_dot_BF16,
        [GGML_TYPE_Q8_0] = generic_dot_Q8_0,
        [GGML_TYPE_Q4_0] = generic_dot_Q4_0,
        [GGML_TYPE_Q4_K] = generic_dot_Q4_K,
        [GGML_TYPE_Q5_K] = generic_dot_Q5_K,
        [GGML_TYPE_Q6_K] = generic_dot_Q6_K,
    },
    .quantize_q8_0 = quant_quantize_row_q8_0_act,
    .quantize_q8_K = quant_quantize_row_q8_K,
    .attn_scores = generic_attn_scores,
    .attn_mix = generic_attn_mix,
    .softmax = kern_softmax_scalar,
    .swiglu = kern_swiglu_scalar,
};
static_assert(GGML_TYPE_F32 == 0, "a zeroed act_type must mean float activations");

/* ------------------------------------------------------------------ */
/* CPU features                                                        */
/* ------------------------------------------------------------------ */

/* Appends name to a comma list in buf when have is false; returns have. */
static bool kernels_need(bool have, const char *name, char *buf, size_t cap)
{
    if (!have) {
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", name);
    }
    return have;
}

#if defined(__x86_64__)
static uint64_t kernels_xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* Lists in missing what the named x86 table needs and this machine
 * lacks; true when nothing is missing. */
static bool kernels_x86_check(bool avx512, char *missing, size_t cap)
{
    unsigned a = 0, b = 0, c = 0, d = 0;
    unsigned c1 = 0, b7 = 0, c7 = 0;
    if (__get_cpuid(1, &a, &b, &c, &d))
        c1 = c;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        b7 = b;
        c7 = c;
    }
    const bool osxsave = (c1 >> 27) & 1;
    const uint64_t xcr0 = osxsave ? kernels_xgetbv0() : 0;
    bool ok = true;
    ok &= kernels_need((c1 >> 28) & 1, "avx", missing, cap);
    ok &= kernels_need((b7 >> 5) & 1, "avx2", missing, cap);
    ok &= kernels_need((c1 >> 12) & 1, "fma", missing, cap);
    ok &= kernels_need((c1 >> 29) & 1, "f16c", missing, cap);
    ok &= kernels_need((xcr0 & 0x6) == 0x6, "OS support for AVX state (xgetbv)", missing, cap);
    if (avx512) {
        ok &= kernels_need((b7 >> 16) & 1, "avx512f", missing, cap);
        ok &= kernels_need((b7 >> 17) & 1, "avx512dq", missing, cap);
        ok &= kernels_need((b7 >> 30) & 1, "avx512bw", missing, cap);
        ok &= kernels_need((b7 >> 31) & 1, "avx512vl", missing, cap);
        ok &= kernels_need((c7 >> 11) & 1, "avx512_vnni", missing, cap);
        ok &= kernels_need((xcr0 & 0xe6) == 0xe6, "OS support for AVX-512 state (xgetbv)",
                           missing, cap);
    }
    return ok;
}
#endif

#if defined(__aarch64__)
static bool kernels_neon_check(char *missing, size_t cap)
{
    return kernels_need((getauxval(AT_HWCAP) & HWCAP_ASIMD) != 0, "asimd", missing, cap);
}
#endif

/* ------------------------------------------------------------------ */
/* Choosing                                                            */
/* ------------------------------------------------------------------ */

/* Every table name, best last within its architecture. */
static const char *const kernels_names[] = {"generic", "avx2", "avx512", "neon"};

const struct kernels *kernels_get(const char *name, struct smol_err *err)
{
    char missing[256] = "";
    if (!strcmp(name, "generic"))
        return &kernels_generic;
#if defined(__x86_64__)
    if (!strcmp(name, "avx2") || !strcmp(name, "avx512")) {
        const bool is512 = name[3] == '5';
        if (kernels_x86_check(is512, missing, sizeof(missing)))
            return is512 ? &kernels_avx512 : &kernels_avx2;
        err_set(err, SMOL_EUNSUPPORTED, "kernels: '%s' needs %s, which this CPU or OS lacks",
                name, missing);
        return NULL;
    }
#endif
#if defined(__aarch64__)
    if (!strcmp(name, "neon")) {
        if (kernels_neon_check(missing, sizeof(missing)))
            return &kernels_neon;
        err_set(err, SMOL_EUNSUPPORTED, "kernels: 'neon' needs %s, which this CPU lacks", missing);
        return NULL;
    }
#endif
    for (size_t i = 0; i < ARRAY_SIZE(kernels_names); i++)
        if (!strcmp(name, kernels_names[i])) {
            err_set(err, SMOL_EUNSUPPORTED,
                    "kernels: '%s' is for another architecture than this binary's", name);
            return NULL;
        }
    err_set(err, SMOL_EINVAL, "kernels: unknown kernel set '%.32s' (generic, avx2, avx512 or neon)",
            name);
    return NULL;
}

int kernels_usable(const char **names, int cap)
{
    int n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(kernels_names); i++) {
        if (!kernels_get(kernels_names[i], NULL))
            continue;
        if (n < cap)
            names[n] = kernels_names[i];
        n++;
    }
    return n;
}

/* The decision, made once under pthread_once. */
static const struct kernels *kernels_chosen;
static struct smol_err kernels_choice_err;
static pthread_once_t kernels_once = PTHREAD_ONCE_INIT;

static void kernels_choose(void)
{
    const char *env = getenv("SMOL_KERNELS");
    if (env && *env) {
        kernels_chosen = kernels_get(env, &kernels_choice_err);
        return;
    }
    const char *names[ARRAY_SIZE(kernels_names)];
    const int n = kernels_usable(names, (int)ARRAY_SIZE(names));
    kernels_chosen = kernels_get(names[n - 1], NULL); /* generic is always usable */
}

const struct kernels *kernels_default(struct smol_err *err)
{
    pthread_once(&kernels_once, kernels_choose);
    if (!kernels_chosen)
        err_set(err, kernels_choice_err.code, "%s (set by SMOL_KERNELS)", kernels_choice_err.msg);
    return kernels_chosen;
}

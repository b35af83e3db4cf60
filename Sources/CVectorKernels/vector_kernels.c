#include "vector_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MLINFRA_X86 1
#define AVX2 __attribute__((target("avx2,fma")))
#endif

#ifdef MLINFRA_X86

int mlinfra_vk_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

AVX2 static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

/// The four sums of four vectors, as one 128-bit vector.
AVX2 static inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256 ab = _mm256_hadd_ps(a, b);
    __m256 cd = _mm256_hadd_ps(c, d);
    __m256 abcd = _mm256_hadd_ps(ab, cd);
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

AVX2 float mlinfra_vk_l2(const float *a, const float *b, size_t stride) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    for (size_t i = 0; i < stride; i += 16) {
        __m256 d0 = _mm256_sub_ps(_mm256_load_ps(a + i), _mm256_load_ps(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_load_ps(a + i + 8), _mm256_load_ps(b + i + 8));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
    }
    return hsum(_mm256_add_ps(s0, s1));
}

AVX2 float mlinfra_vk_dot(const float *a, const float *b, size_t stride) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    for (size_t i = 0; i < stride; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_load_ps(a + i), _mm256_load_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_load_ps(a + i + 8), _mm256_load_ps(b + i + 8), s1);
    }
    return hsum(_mm256_add_ps(s0, s1));
}

/// Four queries against three rows: twelve accumulators, seven loads per eight components.
AVX2 static void tile4x3(const float *q0, const float *q1, const float *q2, const float *q3,
                         const float *x0, const float *x1, const float *x2, size_t stride,
                         float *out, size_t row_count) {
    __m256 a00 = _mm256_setzero_ps(), a01 = _mm256_setzero_ps(), a02 = _mm256_setzero_ps();
    __m256 a10 = _mm256_setzero_ps(), a11 = _mm256_setzero_ps(), a12 = _mm256_setzero_ps();
    __m256 a20 = _mm256_setzero_ps(), a21 = _mm256_setzero_ps(), a22 = _mm256_setzero_ps();
    __m256 a30 = _mm256_setzero_ps(), a31 = _mm256_setzero_ps(), a32 = _mm256_setzero_ps();
    for (size_t i = 0; i < stride; i += 8) {
        __m256 v0 = _mm256_load_ps(x0 + i), v1 = _mm256_load_ps(x1 + i), v2 = _mm256_load_ps(x2 + i);
        __m256 q = _mm256_load_ps(q0 + i);
        a00 = _mm256_fmadd_ps(q, v0, a00); a01 = _mm256_fmadd_ps(q, v1, a01); a02 = _mm256_fmadd_ps(q, v2, a02);
        q = _mm256_load_ps(q1 + i);
        a10 = _mm256_fmadd_ps(q, v0, a10); a11 = _mm256_fmadd_ps(q, v1, a11); a12 = _mm256_fmadd_ps(q, v2, a12);
        q = _mm256_load_ps(q2 + i);
        a20 = _mm256_fmadd_ps(q, v0, a20); a21 = _mm256_fmadd_ps(q, v1, a21); a22 = _mm256_fmadd_ps(q, v2, a22);
        q = _mm256_load_ps(q3 + i);
        a30 = _mm256_fmadd_ps(q, v0, a30); a31 = _mm256_fmadd_ps(q, v1, a31); a32 = _mm256_fmadd_ps(q, v2, a32);
    }
    // Column r of the tile: the four queries' sums for row r.
    float c0[4], c1[4], c2[4];
    _mm_storeu_ps(c0, hsum4(a00, a10, a20, a30));
    _mm_storeu_ps(c1, hsum4(a01, a11, a21, a31));
    _mm_storeu_ps(c2, hsum4(a02, a12, a22, a32));
    for (int q = 0; q < 4; q++) {
        out[q * row_count + 0] = c0[q];
        out[q * row_count + 1] = c1[q];
        out[q * row_count + 2] = c2[q];
    }
}

AVX2 void mlinfra_vk_inner_products(const float *const *queries, size_t query_count,
                                    const float *rows, size_t row_count, size_t stride,
                                    float *out) {
    size_t q = 0;
    for (; q + 4 <= query_count; q += 4) {
        const float *q0 = queries[q], *q1 = queries[q + 1], *q2 = queries[q + 2], *q3 = queries[q + 3];
        float *o = out + q * row_count;
        size_t r = 0;
        for (; r + 3 <= row_count; r += 3) {
            const float *x = rows + r * stride;
            tile4x3(q0, q1, q2, q3, x, x + stride, x + 2 * stride, stride, o + r, row_count);
        }
        for (; r < row_count; r++) {
            const float *x = rows + r * stride;
            o[r] = mlinfra_vk_dot(q0, x, stride);
            o[row_count + r] = mlinfra_vk_dot(q1, x, stride);
            o[2 * row_count + r] = mlinfra_vk_dot(q2, x, stride);
            o[3 * row_count + r] = mlinfra_vk_dot(q3, x, stride);
        }
    }
    for (; q < query_count; q++) {
        const float *qq = queries[q];
        float *o = out + q * row_count;
        for (size_t r = 0; r < row_count; r++) o[r] = mlinfra_vk_dot(qq, rows + r * stride, stride);
    }
}

#else

int mlinfra_vk_available(void) { return 0; }

float mlinfra_vk_l2(const float *a, const float *b, size_t stride) {
    float s = 0;
    for (size_t i = 0; i < stride; i++) { float d = a[i] - b[i]; s += d * d; }
    return s;
}

float mlinfra_vk_dot(const float *a, const float *b, size_t stride) {
    float s = 0;
    for (size_t i = 0; i < stride; i++) s += a[i] * b[i];
    return s;
}

void mlinfra_vk_inner_products(const float *const *queries, size_t query_count,
                               const float *rows, size_t row_count, size_t stride,
                               float *out) {
    for (size_t q = 0; q < query_count; q++)
        for (size_t r = 0; r < row_count; r++)
            out[q * row_count + r] = mlinfra_vk_dot(queries[q], rows + r * stride, stride);
}

#endif

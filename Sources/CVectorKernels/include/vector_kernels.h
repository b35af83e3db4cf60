#ifndef MLINFRA_VECTOR_KERNELS_H
#define MLINFRA_VECTOR_KERNELS_H

#include <stddef.h>

/// Distance kernels for VectorIndex, compiled for AVX2 + FMA per function and chosen at
/// run time, so the package needs no machine-specific compiler flags and still runs on
/// CPUs without AVX2 (callers then keep their portable Swift SIMD path).
///
/// Every row and query is `stride` floats long, `stride` a multiple of 16, and 32-byte
/// aligned; padding components are zero.

/// 1 when this CPU has AVX2 and FMA, so the functions below may be called; 0 otherwise.
int mlinfra_vk_available(void);

/// Squared L2 distance between two rows.
float mlinfra_vk_l2(const float *a, const float *b, size_t stride);

/// Dot product of two rows.
float mlinfra_vk_dot(const float *a, const float *b, size_t stride);

/// Inner products of `query_count` queries with `row_count` consecutive rows:
/// `out[q * row_count + r] = dot(queries[q], rows + r * stride)`.
/// `queries` holds one pointer per query. Blocked four queries by three rows so each row
/// load serves four queries and each query load three rows.
void mlinfra_vk_inner_products(const float *const *queries, size_t query_count,
                               const float *rows, size_t row_count, size_t stride,
                               float *out);

#endif

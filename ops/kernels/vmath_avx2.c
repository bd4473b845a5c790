/* ops/kernels/vmath_avx2.c — vmath.h loops on AVX2+FMA SLEEF functions.
 * Compiled with -mavx2 -mfma (this file only); used after the CPU check. */
#include <immintrin.h>
#include <stdint.h>
#include <sleef.h>

#define SFX _avx2
#define VF __m256
#define VD __m256d
#define LF 8
#define LD 4
#define F_LOAD(p) _mm256_loadu_ps(p)
#define F_STORE(p, v) _mm256_storeu_ps((p), (v))
#define F_EXP Sleef_expf8_u10avx2
#define F_LOG Sleef_logf8_u10avx2
#define F_TANH Sleef_tanhf8_u10avx2
#define F_LOG1P Sleef_log1pf8_u10avx2
#define F_EXPM1 Sleef_expm1f8_u10avx2
#define F_ERF Sleef_erff8_u10avx2
#define F_ERFC Sleef_erfcf8_u15avx2
#define F_ABS(v) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), (v))
#define F_NEG(v) _mm256_sub_ps(_mm256_setzero_ps(), (v))
#define F_ADD _mm256_add_ps
#define F_MUL _mm256_mul_ps
#define F_DIV _mm256_div_ps
#define F_MAX _mm256_max_ps
#define F_SET1 _mm256_set1_ps
#define F_BLEND_NEG(x, a, b) _mm256_blendv_ps((b), (a), _mm256_cmp_ps((x), _mm256_setzero_ps(), _CMP_LT_OQ))
#define D_LOAD(p) _mm256_loadu_pd(p)
#define D_STORE(p, v) _mm256_storeu_pd((p), (v))
#define D_EXP Sleef_expd4_u10avx2
#define D_LOG Sleef_logd4_u10avx2
#define D_TANH Sleef_tanhd4_u10avx2
#define D_LOG1P Sleef_log1pd4_u10avx2
#define D_EXPM1 Sleef_expm1d4_u10avx2
#define D_ERF Sleef_erfd4_u10avx2
#define D_ERFC Sleef_erfcd4_u15avx2
#define D_ABS(v) _mm256_andnot_pd(_mm256_set1_pd(-0.0), (v))
#define D_NEG(v) _mm256_sub_pd(_mm256_setzero_pd(), (v))
#define D_ADD _mm256_add_pd
#define D_MUL _mm256_mul_pd
#define D_DIV _mm256_div_pd
#define D_MAX _mm256_max_pd
#define D_SET1 _mm256_set1_pd
#define D_BLEND_NEG(x, a, b) _mm256_blendv_pd((b), (a), _mm256_cmp_pd((x), _mm256_setzero_pd(), _CMP_LT_OQ))
#define F_ANY_GT(x, c) (_mm256_movemask_ps(_mm256_cmp_ps((x), (c), _CMP_GT_OQ)) != 0)
#define F_BLEND_GT(x, c, a, b) _mm256_blendv_ps((b), (a), _mm256_cmp_ps((x), (c), _CMP_GT_OQ))
#define D_ANY_GT(x, c) (_mm256_movemask_pd(_mm256_cmp_pd((x), (c), _CMP_GT_OQ)) != 0)
#define D_BLEND_GT(x, c, a, b) _mm256_blendv_pd((b), (a), _mm256_cmp_pd((x), (c), _CMP_GT_OQ))
#include "vmath_tmpl.h"

/* ops/kernels/vmath_avx512.c — vmath.h loops on AVX-512F SLEEF functions.
 * Compiled with -mavx512f (this file only); used after the CPU check. */
#include <immintrin.h>
#include <stdint.h>
#include <sleef.h>

#define SFX _avx512
#define VF __m512
#define VD __m512d
#define LF 16
#define LD 8
#define F_LOAD(p) _mm512_loadu_ps(p)
#define F_STORE(p, v) _mm512_storeu_ps((p), (v))
#define F_EXP Sleef_expf16_u10avx512f
#define F_LOG Sleef_logf16_u10avx512f
#define F_TANH Sleef_tanhf16_u10avx512f
#define F_LOG1P Sleef_log1pf16_u10avx512f
#define F_EXPM1 Sleef_expm1f16_u10avx512f
#define F_ERF Sleef_erff16_u10avx512f
#define F_ERFC Sleef_erfcf16_u15avx512f
#define F_ABS(v) _mm512_abs_ps(v)
#define F_NEG(v) _mm512_sub_ps(_mm512_setzero_ps(), (v))
#define F_ADD _mm512_add_ps
#define F_MUL _mm512_mul_ps
#define F_DIV _mm512_div_ps
#define F_MAX _mm512_max_ps
#define F_SET1 _mm512_set1_ps
#define F_BLEND_NEG(x, a, b) _mm512_mask_blend_ps(_mm512_cmp_ps_mask((x), _mm512_setzero_ps(), _CMP_LT_OQ), (b), (a))
#define D_LOAD(p) _mm512_loadu_pd(p)
#define D_STORE(p, v) _mm512_storeu_pd((p), (v))
#define D_EXP Sleef_expd8_u10avx512f
#define D_LOG Sleef_logd8_u10avx512f
#define D_TANH Sleef_tanhd8_u10avx512f
#define D_LOG1P Sleef_log1pd8_u10avx512f
#define D_EXPM1 Sleef_expm1d8_u10avx512f
#define D_ERF Sleef_erfd8_u10avx512f
#define D_ERFC Sleef_erfcd8_u15avx512f
#define D_ABS(v) _mm512_abs_pd(v)
#define D_NEG(v) _mm512_sub_pd(_mm512_setzero_pd(), (v))
#define D_ADD _mm512_add_pd
#define D_MUL _mm512_mul_pd
#define D_DIV _mm512_div_pd
#define D_MAX _mm512_max_pd
#define D_SET1 _mm512_set1_pd
#define D_BLEND_NEG(x, a, b) _mm512_mask_blend_pd(_mm512_cmp_pd_mask((x), _mm512_setzero_pd(), _CMP_LT_OQ), (b), (a))
#define F_ANY_GT(x, c) (_mm512_cmp_ps_mask((x), (c), _CMP_GT_OQ) != 0)
#define F_BLEND_GT(x, c, a, b) _mm512_mask_blend_ps(_mm512_cmp_ps_mask((x), (c), _CMP_GT_OQ), (b), (a))
#define D_ANY_GT(x, c) (_mm512_cmp_pd_mask((x), (c), _CMP_GT_OQ) != 0)
#define D_BLEND_GT(x, c, a, b) _mm512_mask_blend_pd(_mm512_cmp_pd_mask((x), (c), _CMP_GT_OQ), (b), (a))
#include "vmath_tmpl.h"

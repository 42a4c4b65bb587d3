/*
 * The two FFT-friendly prime fields of VDAF-08 (section 6.1):
 *
 *   Field64  p = 2^32 * 4294967295 + 1        = 2^64 - 2^32 + 1
 *   Field128 p = 2^66 * 4611686018427387897 + 1 = 2^128 - 28 * 2^64 + 1
 *
 * Field64 elements are kept canonical (0 <= x < p) and multiplied with the
 * special reduction that 2^64 = 2^32 - 1 (mod p) allows. Field128 elements
 * live in Montgomery form (x * 2^128 mod p), two 64-bit limbs, and leave it
 * only when encoded. Every operation is branch-free on the values it handles:
 * carries and conditional subtractions are turned into masks, so secret
 * shares and proofs never steer the control flow.
 *
 * Encoding is little-endian, 8 or 16 bytes; decoding rejects values >= p.
 */
#ifndef DAP_VDAF_FIELD_H
#define DAP_VDAF_FIELD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef unsigned __int128 dap_u128;

/* ---------------------------------------------------------------- Field64 */

typedef uint64_t f64_t;

#define F64_P 0xffffffff00000001ULL
#define F64_EPS 0xffffffffULL /* 2^64 mod p */
#define F64_ENCODED_SIZE 8
#define F64_GEN_LOG2_ORDER 32

static inline f64_t f64_zero(void) { return 0; }
static inline f64_t f64_one(void) { return 1; }

/* Subtracts p when x >= p (x < 2^64 < 2p), without branching. */
static inline f64_t f64_canon(uint64_t x)
{
	uint64_t y = x - F64_P;
	uint64_t ge = (uint64_t)0 - (uint64_t)(x >= F64_P);
	return (y & ge) | (x & ~ge);
}

static inline f64_t f64_add(f64_t a, f64_t b)
{
	dap_u128 s = (dap_u128)a + b;
	dap_u128 t = s - F64_P;
	/* t's bit 127 is set when s < p */
	uint64_t lt = (uint64_t)0 - (uint64_t)(t >> 127);
	return ((uint64_t)s & lt) | ((uint64_t)t & ~lt);
}

static inline f64_t f64_sub(f64_t a, f64_t b)
{
	uint64_t d = a - b;
	uint64_t borrow = (uint64_t)0 - (uint64_t)(a < b);
	return d + (F64_P & borrow);
}

static inline f64_t f64_neg(f64_t a) { return f64_sub(0, a); }

static inline f64_t f64_reduce128(dap_u128 x)
{
	uint64_t lo = (uint64_t)x, hi = (uint64_t)(x >> 64);
	uint64_t hh = hi >> 32, hl = hi & F64_EPS;
	/* x = lo + hl * 2^64 + hh * 2^96 = lo + hl * (2^32 - 1) - hh (mod p) */
	uint64_t t0 = lo - hh;
	t0 -= F64_EPS & ((uint64_t)0 - (uint64_t)(lo < hh));
	uint64_t t1 = hl * F64_EPS;
	uint64_t t2 = t0 + t1;
	t2 += F64_EPS & ((uint64_t)0 - (uint64_t)(t2 < t1));
	return f64_canon(t2);
}

static inline f64_t f64_mul(f64_t a, f64_t b) { return f64_reduce128((dap_u128)a * b); }
static inline f64_t f64_from_u64(uint64_t x) { return f64_canon(x); }
static inline uint64_t f64_to_u64(f64_t a) { return a; }
/* 0 when equal, constant time */
static inline int f64_neq(f64_t a, f64_t b) { return (int)(((a ^ b) | ((uint64_t)0 - (a ^ b))) >> 63); }
static inline int f64_is_zero(f64_t a) { return !f64_neq(a, 0); }

static inline void f64_encode(uint8_t *out, f64_t a)
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(a >> (8 * i));
}

/* Returns 0, or -1 for a non-canonical encoding (>= p). */
static inline int f64_decode(f64_t *a, const uint8_t *in)
{
	uint64_t x = 0;
	for (int i = 0; i < 8; i++)
		x |= (uint64_t)in[i] << (8 * i);
	*a = x;
	/* x >= p without branching: 1 when x - p does not borrow */
	dap_u128 d = (dap_u128)x - F64_P;
	return -(int)(((uint64_t)(d >> 64) & 1) ^ 1);
}

/* ---------------------------------------------------------------- Field128 */

typedef struct {
	uint64_t lo, hi;
} f128_t;

#define F128_P_LO 1ULL
#define F128_P_HI 0xffffffffffffffe4ULL /* 2^64 - 28 */
#define F128_ENCODED_SIZE 16
#define F128_GEN_LOG2_ORDER 66

/* R mod p = 2^128 - p = 28 * 2^64 - 1 */
static inline f128_t f128_zero(void) { return (f128_t){ 0, 0 }; }
static inline f128_t f128_one(void) { return (f128_t){ 0xffffffffffffffffULL, 27 }; }

/* (c, x) is a 129-bit value < 2p; returns it reduced below p */
static inline f128_t f128_csub(uint64_t c, uint64_t lo, uint64_t hi)
{
	dap_u128 x = ((dap_u128)hi << 64) | lo;
	dap_u128 p = ((dap_u128)F128_P_HI << 64) | F128_P_LO;
	dap_u128 y = x - p;
	uint64_t borrow = (uint64_t)(x < p); /* x < p as 128-bit */
	/* keep x only when c == 0 and x < p */
	uint64_t keep = (uint64_t)0 - (borrow & (c ^ 1));
	f128_t r;
	r.lo = (lo & keep) | ((uint64_t)y & ~keep);
	r.hi = (hi & keep) | ((uint64_t)(y >> 64) & ~keep);
	return r;
}

static inline f128_t f128_add(f128_t a, f128_t b)
{
	dap_u128 x = ((dap_u128)a.hi << 64) | a.lo;
	dap_u128 y = ((dap_u128)b.hi << 64) | b.lo;
	dap_u128 s = x + y;
	uint64_t c = (uint64_t)(s < x);
	return f128_csub(c, (uint64_t)s, (uint64_t)(s >> 64));
}

static inline f128_t f128_sub(f128_t a, f128_t b)
{
	dap_u128 x = ((dap_u128)a.hi << 64) | a.lo;
	dap_u128 y = ((dap_u128)b.hi << 64) | b.lo;
	dap_u128 d = x - y;
	dap_u128 mask = (dap_u128)0 - (dap_u128)(x < y);
	dap_u128 p = ((dap_u128)F128_P_HI << 64) | F128_P_LO;
	d += p & mask;
	return (f128_t){ (uint64_t)d, (uint64_t)(d >> 64) };
}

static inline f128_t f128_neg(f128_t a) { return f128_sub(f128_zero(), a); }

/*
 * Montgomery multiplication, R = 2^128. Since p = 1 + p1 * 2^64, -p^-1 mod
 * 2^64 is -1, so each reduction step's multiplier is simply -t[i].
 */
static inline f128_t f128_mul(f128_t a, f128_t b)
{
	dap_u128 t;
	uint64_t t0, t1, t2, t3;
	/* schoolbook 2x2 -> 4 limbs */
	dap_u128 ll = (dap_u128)a.lo * b.lo;
	dap_u128 lh = (dap_u128)a.lo * b.hi;
	dap_u128 hl = (dap_u128)a.hi * b.lo;
	dap_u128 hh = (dap_u128)a.hi * b.hi;
	t0 = (uint64_t)ll;
	t = (ll >> 64) + (uint64_t)lh + (uint64_t)hl;
	t1 = (uint64_t)t;
	t = (t >> 64) + (lh >> 64) + (hl >> 64) + (uint64_t)hh;
	t2 = (uint64_t)t;
	t3 = (uint64_t)(t >> 64) + (uint64_t)(hh >> 64);
	uint64_t t4 = 0;
	/* step 0: m = -t0; add m * p = m + m * p1 * 2^64 at limb 0 */
	uint64_t m = (uint64_t)0 - t0;
	t = (dap_u128)t0 + m; /* low limb becomes 0 */
	t = (t >> 64) + (dap_u128)t1 + (dap_u128)m * F128_P_HI;
	t1 = (uint64_t)t;
	t = (t >> 64) + t2;
	t2 = (uint64_t)t;
	t = (t >> 64) + t3;
	t3 = (uint64_t)t;
	t4 = (uint64_t)(t >> 64);
	/* step 1: m = -t1; add m * p at limb 1 */
	m = (uint64_t)0 - t1;
	t = (dap_u128)t1 + m;
	t = (t >> 64) + (dap_u128)t2 + (dap_u128)m * F128_P_HI;
	t2 = (uint64_t)t;
	t = (t >> 64) + t3;
	t3 = (uint64_t)t;
	t4 += (uint64_t)(t >> 64);
	return f128_csub(t4, t2, t3);
}

/* R^2 mod p, for entering Montgomery form */
extern const f128_t dap_f128_r2;

static inline f128_t f128_from_raw(uint64_t lo, uint64_t hi)
{
	return f128_mul((f128_t){ lo, hi }, dap_f128_r2);
}
static inline f128_t f128_from_u64(uint64_t x) { return f128_from_raw(x, 0); }
/* Leaves Montgomery form: multiplies by 1. */
static inline f128_t f128_to_raw(f128_t a) { return f128_mul(a, (f128_t){ 1, 0 }); }

static inline int f128_neq(f128_t a, f128_t b)
{
	uint64_t d = (a.lo ^ b.lo) | (a.hi ^ b.hi);
	return (int)((d | ((uint64_t)0 - d)) >> 63);
}
static inline int f128_is_zero(f128_t a) { return !f128_neq(a, f128_zero()); }

static inline void f128_encode(uint8_t *out, f128_t a)
{
	f128_t r = f128_to_raw(a);
	for (int i = 0; i < 8; i++) {
		out[i] = (uint8_t)(r.lo >> (8 * i));
		out[8 + i] = (uint8_t)(r.hi >> (8 * i));
	}
}

static inline int f128_decode(f128_t *a, const uint8_t *in)
{
	uint64_t lo = 0, hi = 0;
	for (int i = 0; i < 8; i++) {
		lo |= (uint64_t)in[i] << (8 * i);
		hi |= (uint64_t)in[8 + i] << (8 * i);
	}
	/* x >= p, computed without branching: shares decode through here */
	dap_u128 x = ((dap_u128)hi << 64) | lo;
	dap_u128 p = ((dap_u128)F128_P_HI << 64) | F128_P_LO;
	int bad = (int)(x >= p); /* a sub/sbb and setcc, no jump */
	*a = f128_from_raw(lo, hi);
	return -bad;
}

/* 1 / 2^k = p - (p - 1) / 2^k, for k up to the 2-adicity (no inversion needed) */
static inline f64_t f64_inv_pow2(unsigned k) { return F64_P - ((F64_P - 1) >> k); }
static inline f128_t f128_inv_pow2(unsigned k)
{
	dap_u128 p = ((dap_u128)F128_P_HI << 64) | F128_P_LO;
	dap_u128 r = p - ((p - 1) >> k);
	return f128_from_raw((uint64_t)r, (uint64_t)(r >> 64));
}

/* Exponentiation by a public exponent, and inversion (a^(p-2)). */
f64_t f64_pow(f64_t a, uint64_t e);
f64_t f64_inv(f64_t a);
f128_t f128_pow(f128_t a, dap_u128 e);
f128_t f128_inv(f128_t a);
/* A principal 2^log2n-th root of unity (the generator raised to GEN_ORDER / 2^log2n). */
f64_t f64_root(unsigned log2n);
f128_t f128_root(unsigned log2n);

#endif

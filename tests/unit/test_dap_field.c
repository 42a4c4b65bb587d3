/*
 * Field64 and Field128: canonical encoding (values >= p rejected), the
 * arithmetic against identities and independently computed constants,
 * inversion, roots of unity, and the NTT (roundtrip and agreement with a
 * naive DFT).
 */
#include "core/error.h"
#include "dap/vdaf/vdaf_internal.h"
#include "tb_test.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd64(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void field64(void)
{
	uint8_t b[8];
	f64_t a;
	/* p - 1 decodes, p and above do not */
	uint64_t pm1 = F64_P - 1;
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(pm1 >> (8 * i));
	CHECK_INT(f64_decode(&a, b), 0);
	CHECK(a == pm1);
	b[0] = 0x01; /* p */
	CHECK_INT(f64_decode(&a, b), -1);
	memset(b, 0xff, 8);
	CHECK_INT(f64_decode(&a, b), -1);
	/* (p - 1)^2 = 1, (p-1) + 1 = 0, 0 - 1 = p - 1 */
	CHECK(f64_mul(pm1, pm1) == 1);
	CHECK(f64_add(pm1, 1) == 0);
	CHECK(f64_sub(0, 1) == pm1);
	/* 2^32 * 2^32 = 2^64 = 2^32 - 1 */
	CHECK(f64_mul(1ULL << 32, 1ULL << 32) == 0xffffffffULL);
	/* 2^63 * 2^63 = 2^126 = -2^30 (2^96 = -1) */
	CHECK(f64_mul(1ULL << 63, 1ULL << 63) == F64_P - (1ULL << 30));
	for (int i = 0; i < 2000; i++) {
		f64_t x = f64_from_u64(rnd64()), y = f64_from_u64(rnd64()), z = f64_from_u64(rnd64());
		CHECK(f64_mul(x, f64_add(y, z)) == f64_add(f64_mul(x, y), f64_mul(x, z)));
		CHECK(f64_sub(f64_add(x, y), y) == x);
		CHECK(x < F64_P);
		if (x)
			CHECK(f64_mul(x, f64_inv(x)) == 1);
		/* 128-bit reduction against % */
		dap_u128 prod = (dap_u128)x * y;
		CHECK(f64_mul(x, y) == (uint64_t)(prod % F64_P));
		uint8_t enc[8];
		f64_encode(enc, x);
		f64_t back;
		CHECK_INT(f64_decode(&back, enc), 0);
		CHECK(back == x);
	}
	/* the generator has order exactly 2^32 */
	f64_t g = f64_root(32);
	CHECK(f64_pow(g, 1ULL << 32) == 1);
	CHECK(f64_pow(g, 1ULL << 31) != 1);
	CHECK(f64_pow(7, 4294967295ULL) == g);
}

static dap_u128 p128(void)
{
	return ((dap_u128)F128_P_HI << 64) | F128_P_LO;
}

static void field128(void)
{
	uint8_t b[16];
	f128_t a;
	dap_u128 p = p128(), pm1 = p - 1;
	for (int i = 0; i < 16; i++)
		b[i] = (uint8_t)(pm1 >> (8 * i));
	CHECK_INT(f128_decode(&a, b), 0);
	uint8_t back[16];
	f128_encode(back, a);
	CHECK_MEM(back, 16, b, 16);
	b[0] = 0x01; /* p */
	CHECK_INT(f128_decode(&a, b), -1);
	memset(b, 0xff, 16);
	CHECK_INT(f128_decode(&a, b), -1);
	memset(b, 0, 8);
	memset(b + 8, 0xff, 8);
	b[8] = 0xe5; /* hi = 0xff..e5 > p_hi, lo = 0 */
	CHECK_INT(f128_decode(&a, b), -1);

	f128_t one = f128_one(), m1 = f128_neg(one);
	CHECK(!f128_neq(f128_mul(m1, m1), one));
	CHECK(f128_is_zero(f128_add(m1, one)));
	for (int i = 0; i < 2000; i++) {
		uint64_t xl = rnd64(), xh = rnd64() >> 1, yl = rnd64(), yh = rnd64() >> 1;
		f128_t x = f128_from_raw(xl, xh), y = f128_from_raw(yl, yh), z = f128_from_u64(rnd64());
		CHECK(!f128_neq(f128_mul(x, f128_add(y, z)), f128_add(f128_mul(x, y), f128_mul(x, z))));
		CHECK(!f128_neq(f128_sub(f128_add(x, y), y), x));
		if (!f128_is_zero(x))
			CHECK(!f128_neq(f128_mul(x, f128_inv(x)), one));
		/* mul against a schoolbook mod-p reference on small operands */
		uint64_t s = rnd64() >> 4, t = rnd64() >> 4;
		dap_u128 want = (dap_u128)s * t; /* < 2^120 < p */
		f128_t r = f128_to_raw(f128_mul(f128_from_u64(s), f128_from_u64(t)));
		CHECK(r.lo == (uint64_t)want && r.hi == (uint64_t)(want >> 64));
	}
	/* 2^127 * 2 = 2^128 = 28 * 2^64 - 1 (mod p) */
	f128_t two127 = f128_from_raw(0, 1ULL << 63), two = f128_from_u64(2);
	f128_t r = f128_to_raw(f128_mul(two127, two));
	CHECK(r.lo == 0xffffffffffffffffULL && r.hi == 27);
	f128_t g = f128_root(66);
	CHECK(!f128_neq(f128_pow(g, (dap_u128)1 << 66), one));
	CHECK(f128_neq(f128_pow(g, (dap_u128)1 << 65), one));
	CHECK(!f128_neq(f128_pow(f128_from_u64(7), 4611686018427387897ULL), g));
}

static void ntt(void)
{
	for (unsigned logn = 0; logn <= 7; logn++) {
		size_t n = (size_t)1 << logn;
		f64_t a[128], c[128], naive[128];
		f128_t x[128], y[128];
		for (size_t i = 0; i < n; i++) {
			a[i] = c[i] = f64_from_u64(rnd64());
			x[i] = y[i] = f128_from_raw(rnd64(), rnd64() >> 1);
		}
		/* forward against the naive DFT for Field64 */
		f64_t w = f64_root(logn);
		for (size_t i = 0; i < n; i++) {
			f64_t s = 0, wi = f64_pow(w, i), wij = 1;
			for (size_t j = 0; j < n; j++) {
				s = f64_add(s, f64_mul(a[j], wij));
				wij = f64_mul(wij, wi);
			}
			naive[i] = s;
		}
		dap_f64_ntt(c, logn, 0);
		CHECK_MEM(c, n * sizeof(f64_t), naive, n * sizeof(f64_t));
		dap_f64_ntt(c, logn, 1);
		CHECK_MEM(c, n * sizeof(f64_t), a, n * sizeof(f64_t));
		dap_f128_ntt(y, logn, 0);
		dap_f128_ntt(y, logn, 1);
		CHECK_MEM(y, n * sizeof(f128_t), x, n * sizeof(f128_t));
	}
	/* sizes beyond the twiddle table: roundtrip, and NTT(x) = powers of w */
	for (unsigned logn = 11; logn <= 13; logn++) {
		size_t n = (size_t)1 << logn;
		f128_t *v = calloc(n, sizeof(f128_t)), *keep = calloc(n, sizeof(f128_t));
		for (size_t i = 0; i < n; i++)
			v[i] = keep[i] = f128_from_raw(rnd64(), rnd64() >> 1);
		dap_f128_ntt(v, logn, 0);
		dap_f128_ntt(v, logn, 1);
		CHECK_MEM(v, n * sizeof(f128_t), keep, n * sizeof(f128_t));
		memset(v, 0, n * sizeof(f128_t));
		v[1] = f128_one();
		dap_f128_ntt(v, logn, 0);
		f128_t w = f128_root(logn), wi = f128_one();
		int bad = 0;
		for (size_t i = 0; i < n; i++) {
			bad |= f128_neq(v[i], wi);
			wi = f128_mul(wi, w);
		}
		CHECK_INT(bad, 0);
		free(v);
		free(keep);
	}
	/* Field128 forward on a polynomial: NTT(p)[i] = p(w^i) */
	f128_t co[16], ev[16];
	for (size_t i = 0; i < 16; i++)
		co[i] = ev[i] = f128_from_u64(rnd64());
	dap_f128_ntt(ev, 4, 0);
	f128_t w = f128_root(4), wi = f128_one();
	for (size_t i = 0; i < 16; i++) {
		f128_t s = f128_zero(), xp = f128_one();
		for (size_t j = 0; j < 16; j++) {
			s = f128_add(s, f128_mul(co[j], xp));
			xp = f128_mul(xp, wi);
		}
		CHECK(!f128_neq(s, ev[i]));
		wi = f128_mul(wi, w);
	}
}

int main(void)
{
	field64();
	field128();
	ntt();
	return tb_test_result("dap_field");
}

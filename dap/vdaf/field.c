/*
 * Field64 / Field128 exponentiation, inversion and the roots of unity the
 * NTT needs. The roots are the fields' generators (7^((p-1)/GEN_ORDER), see
 * VDAF-08 section 6.1.2) raised to GEN_ORDER / 2^k, precomputed for every k.
 */
#include "dap/vdaf/field.h"

const f128_t dap_f128_r2 = { 0xfffffffffffffcf1ULL, 0x0000000000005587ULL };

static const f64_t f64_roots[F64_GEN_LOG2_ORDER + 1] = {
	0x0000000000000001ULL,
	0xffffffff00000000ULL,
	0x0001000000000000ULL,
	0xfffffffeff000001ULL,
	0xefffffff00000001ULL,
	0x00003fffffffc000ULL,
	0x0000008000000000ULL,
	0xf80007ff08000001ULL,
	0xbf79143ce60ca966ULL,
	0x1905d02a5c411f4eULL,
	0x9d8f2ad78bfed972ULL,
	0x0653b4801da1c8cfULL,
	0xf2c35199959dfcb6ULL,
	0x1544ef2335d17997ULL,
	0xe0ee099310bba1e2ULL,
	0xf6b2cffe2306baacULL,
	0x54df9630bf79450eULL,
	0xabd0a6e8aa3d8a0eULL,
	0x81281a7b05f9beacULL,
	0xfbd41c6b8caa3302ULL,
	0x30ba2ecd5e93e76dULL,
	0xf502aef532322654ULL,
	0x4b2a18ade67246b5ULL,
	0xea9d5a1336fbc98bULL,
	0x86cdcc31c307e171ULL,
	0x4bbaf5976ecfefd8ULL,
	0xed41d05b78d6e286ULL,
	0x10d78dd8915a171dULL,
	0x59049500004a4485ULL,
	0xdfa8c93ba46d2666ULL,
	0x7e9bd009b86a0845ULL,
	0x400a7f755588e659ULL,
	0x185629dcda58878cULL,
};

/* Montgomery form */
static const f128_t f128_roots[F128_GEN_LOG2_ORDER + 1] = {
	{ 0xffffffffffffffffULL, 0x000000000000001bULL },
	{ 0x0000000000000002ULL, 0xffffffffffffffc8ULL },
	{ 0x8ff94ea745b7d9d6ULL, 0x6171e408747992c7ULL },
	{ 0x1323bb095fba9556ULL, 0x7f2a4e6655e5a49cULL },
	{ 0xd1c455956aafabfcULL, 0x3d661493c5e89442ULL },
	{ 0x416d53fbcdfcc65cULL, 0x5c159e1cffd5eca0ULL },
	{ 0x1428d15e766f5f3eULL, 0x960d5c8696ec3aa3ULL },
	{ 0x8f0cef59f8c23f3eULL, 0xcce83f596bb28730ULL },
	{ 0x432d8d01ae187081ULL, 0x12b496afe629224cULL },
	{ 0x0edc26fa686e3d3bULL, 0xc2026e57b1554ea9ULL },
	{ 0x79663ccecfe8c86cULL, 0xf38c95d1e57405eaULL },
	{ 0xfecc377cf0f47a9fULL, 0x2b486d42d73283bdULL },
	{ 0x0ab1068497116540ULL, 0x70866815dbf52bacULL },
	{ 0x2d9420dc5196c01aULL, 0x852c9b234b09c7dfULL },
	{ 0x1a491a6cf3399115ULL, 0xca4b831e2e621692ULL },
	{ 0xb99152aabeebd757ULL, 0xb7fbf514f82e2269ULL },
	{ 0xb8da2f851dfd594aULL, 0x597c0e93a246d640ULL },
	{ 0xf2888c210ef9f1c4ULL, 0x97f929a5d52ab886ULL },
	{ 0xe6a0ccbc956fc7fbULL, 0xfa4748aea960d0ebULL },
	{ 0xe53d6d96e1ec92a0ULL, 0xc24ed95c3c013bccULL },
	{ 0x6cc6e9129e1679c0ULL, 0x6f825f88648b270cULL },
	{ 0x2c4d04cc40a2bd04ULL, 0x17c2af4df9629e3dULL },
	{ 0x843747925bd7da8eULL, 0xdcd8c9979b888e8aULL },
	{ 0x4a1b1730d0aa77a0ULL, 0x391696912d85b368ULL },
	{ 0x68fb2b7e053e9500ULL, 0x8ab5e54096ca012cULL },
	{ 0x1ccc0958442d4cd2ULL, 0x819909091849c5c1ULL },
	{ 0x25e9f8eeb3a11b26ULL, 0x741eb9f6cfde0f02ULL },
	{ 0x57b7921d9d4d0d66ULL, 0x681f358ffad3a90dULL },
	{ 0x9bd3b6be3602bfe2ULL, 0x294e31a63bbd8bb1ULL },
	{ 0xe36811a2b6dd2f4dULL, 0x402946e8dcc86185ULL },
	{ 0x468354d0ce6f4f42ULL, 0xdc3971476a49c161ULL },
	{ 0xd42c20d91e16ba3bULL, 0x16849c909ba2920dULL },
	{ 0x488a61cbe76f8796ULL, 0xe0312b455090dc3dULL },
	{ 0x34d592b2d95461c7ULL, 0x69ff23c4ae8a9ae2ULL },
	{ 0xab1c9df91252cfb0ULL, 0x3a71deec98434255ULL },
	{ 0x1c5f61d837a9ff92ULL, 0x4ec0bbb14b4943fcULL },
	{ 0x2550c6695de272eaULL, 0x4e7f5d927ad2bb46ULL },
	{ 0x786b6c965e58be0dULL, 0xfbb47d3729647361ULL },
	{ 0xbbfba318618fff40ULL, 0x58938d40e16fc273ULL },
	{ 0x0c8b4baee9a2907fULL, 0x2b0dddcff641c0c4ULL },
	{ 0xf0d881f5c07b45fcULL, 0x33044b6b9af79104ULL },
	{ 0x530f1c8d85c53b49ULL, 0x7277db26e889f0c0ULL },
	{ 0xefe24ff8e3caacf0ULL, 0xd39b9320d2172567ULL },
	{ 0xee7e1fbb71e9b04cULL, 0x105d0de0eba9ed48ULL },
	{ 0x743424fea03af69bULL, 0xff50f6975f58d667ULL },
	{ 0x1e55f4c8165fa615ULL, 0x60d0d6428bc526f6ULL },
	{ 0xf89e2f45fe30a628ULL, 0xd35040e25d621120ULL },
	{ 0x93a9b9bfa0ba47e5ULL, 0xa14eda13d2c9f218ULL },
	{ 0x7184aca1f5b7d796ULL, 0x3067d899e53ae149ULL },
	{ 0x48c135bbd45c9f78ULL, 0x0231ec7261c6fe5eULL },
	{ 0xace311a714d11f45ULL, 0x985458a22fc7b74fULL },
	{ 0xebd8c0f65c3941c7ULL, 0x9253e8d60d138145ULL },
	{ 0xa22ef3d3cf82d6ffULL, 0xf616691696239dadULL },
	{ 0xeb43ea48a880c558ULL, 0x4c33bc414d65c622ULL },
	{ 0xb02ca157db2f5773ULL, 0x0ca75daa548fab25ULL },
	{ 0x2e2d3b5d3d7fd880ULL, 0xe709ce35344480a0ULL },
	{ 0x04febe6d0fed06dbULL, 0x82de81148eada3d0ULL },
	{ 0xc549b2f670e7fe80ULL, 0xef7c7c796a560813ULL },
	{ 0x420d567cfa7dd71dULL, 0xd10bc78478e67ebaULL },
	{ 0xd4e1bfae0eae0e5dULL, 0x69c02ae2b2189664ULL },
	{ 0xee5aab9df23ad495ULL, 0xe7fa9150bd2dd0bbULL },
	{ 0xdbe38168360cebacULL, 0x612d7349f49997adULL },
	{ 0x9e4fc0f4006111e3ULL, 0x54879fe858345e92ULL },
	{ 0x3c5dd0cda73814c2ULL, 0x1a29ef0cd721372eULL },
	{ 0x8b45f6e90b16542dULL, 0xd9b5db39af523ffbULL },
	{ 0x336824df50a3e9deULL, 0x1f70898af1701972ULL },
	{ 0xf0111fb98c6b9875ULL, 0x50f8f7f554db309cULL },
};

f64_t f64_pow(f64_t a, uint64_t e)
{
	f64_t r = f64_one();
	for (int i = 63; i >= 0; i--) {
		r = f64_mul(r, r);
		if ((e >> i) & 1)
			r = f64_mul(r, a);
	}
	return r;
}

/* The exponent p - 2 is public: the square-and-multiply pattern leaks nothing about a. */
f64_t f64_inv(f64_t a)
{
	return f64_pow(a, F64_P - 2);
}

f128_t f128_pow(f128_t a, dap_u128 e)
{
	f128_t r = f128_one();
	for (int i = 127; i >= 0; i--) {
		r = f128_mul(r, r);
		if ((unsigned)(e >> i) & 1)
			r = f128_mul(r, a);
	}
	return r;
}

f128_t f128_inv(f128_t a)
{
	dap_u128 p = ((dap_u128)F128_P_HI << 64) | F128_P_LO;
	return f128_pow(a, p - 2);
}

f64_t f64_root(unsigned log2n)
{
	return log2n <= F64_GEN_LOG2_ORDER ? f64_roots[log2n] : f64_zero();
}

f128_t f128_root(unsigned log2n)
{
	return log2n <= F128_GEN_LOG2_ORDER ? f128_roots[log2n] : f128_zero();
}

/*
 * DESIGN: TurboSHAKE128 (RFC 9861: Keccak-p[1600, 12 rounds], rate 168
 * bytes, a domain-separation byte D in 0x01..0x7F) and the two XOFs of
 * VDAF-08 section 6.2 built on it and on AES:
 *
 *  - XofTurboShake128(seed, dst, binder) = TurboSHAKE128(len(dst) || dst ||
 *    seed || binder, D = 1), read as an endless stream;
 *  - XofFixedKeyAes128: key = TurboSHAKE128(len(dst) || dst || binder, D = 2)
 *    truncated to 16 bytes; block i of the stream is the hash
 *    sigma(x) xor AES_key(sigma(x)) of x = seed xor le128(i), where
 *    sigma(lo || hi) = hi || (hi xor lo).
 *
 * The binder may be absorbed in pieces (prio3 binds an aggregator id, the
 * nonce and an encoded vector without concatenating them first).
 */
#include "dap/vdaf.h"

#include <mbedtls/aes.h>

#include "core/error.h"

static const uint64_t keccak_rc[24] = {
	0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL,
	0x8000000080008000ULL, 0x000000000000808bULL, 0x0000000080000001ULL,
	0x8000000080008081ULL, 0x8000000000008009ULL, 0x000000000000008aULL,
	0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
	0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL,
	0x8000000000008003ULL, 0x8000000000008002ULL, 0x8000000000000080ULL,
	0x000000000000800aULL, 0x800000008000000aULL, 0x8000000080008081ULL,
	0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

static inline uint64_t rol64(uint64_t x, unsigned n)
{
	return n ? (x << n) | (x >> (64 - n)) : x;
}

/*
 * Keccak-p[1600, 12]: the last 12 rounds of Keccak-f[1600], lanes a[x + 5y].
 * Unrolled (theta, rho and pi in one pass, then chi and iota) with the
 * rotation offsets and pi destinations of FIPS 202 written out.
 */
static void keccak_p12(uint64_t s[25])
{
	uint64_t a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24;
	uint64_t b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15, b16, b17, b18, b19, b20, b21, b22, b23, b24;
	uint64_t c0, c1, c2, c3, c4, d0, d1, d2, d3, d4;
	a0 = s[0];
	a1 = s[1];
	a2 = s[2];
	a3 = s[3];
	a4 = s[4];
	a5 = s[5];
	a6 = s[6];
	a7 = s[7];
	a8 = s[8];
	a9 = s[9];
	a10 = s[10];
	a11 = s[11];
	a12 = s[12];
	a13 = s[13];
	a14 = s[14];
	a15 = s[15];
	a16 = s[16];
	a17 = s[17];
	a18 = s[18];
	a19 = s[19];
	a20 = s[20];
	a21 = s[21];
	a22 = s[22];
	a23 = s[23];
	a24 = s[24];
	for (int round = 12; round < 24; round++) {
		c0 = a0 ^ a5 ^ a10 ^ a15 ^ a20;
		c1 = a1 ^ a6 ^ a11 ^ a16 ^ a21;
		c2 = a2 ^ a7 ^ a12 ^ a17 ^ a22;
		c3 = a3 ^ a8 ^ a13 ^ a18 ^ a23;
		c4 = a4 ^ a9 ^ a14 ^ a19 ^ a24;
		d0 = c4 ^ rol64(c1, 1);
		d1 = c0 ^ rol64(c2, 1);
		d2 = c1 ^ rol64(c3, 1);
		d3 = c2 ^ rol64(c4, 1);
		d4 = c3 ^ rol64(c0, 1);
		b0 = rol64(a0 ^ d0, 0);
		b16 = rol64(a5 ^ d0, 36);
		b7 = rol64(a10 ^ d0, 3);
		b23 = rol64(a15 ^ d0, 41);
		b14 = rol64(a20 ^ d0, 18);
		b10 = rol64(a1 ^ d1, 1);
		b1 = rol64(a6 ^ d1, 44);
		b17 = rol64(a11 ^ d1, 10);
		b8 = rol64(a16 ^ d1, 45);
		b24 = rol64(a21 ^ d1, 2);
		b20 = rol64(a2 ^ d2, 62);
		b11 = rol64(a7 ^ d2, 6);
		b2 = rol64(a12 ^ d2, 43);
		b18 = rol64(a17 ^ d2, 15);
		b9 = rol64(a22 ^ d2, 61);
		b5 = rol64(a3 ^ d3, 28);
		b21 = rol64(a8 ^ d3, 55);
		b12 = rol64(a13 ^ d3, 25);
		b3 = rol64(a18 ^ d3, 21);
		b19 = rol64(a23 ^ d3, 56);
		b15 = rol64(a4 ^ d4, 27);
		b6 = rol64(a9 ^ d4, 20);
		b22 = rol64(a14 ^ d4, 39);
		b13 = rol64(a19 ^ d4, 8);
		b4 = rol64(a24 ^ d4, 14);
		a0 = b0 ^ (~b1 & b2);
		a1 = b1 ^ (~b2 & b3);
		a2 = b2 ^ (~b3 & b4);
		a3 = b3 ^ (~b4 & b0);
		a4 = b4 ^ (~b0 & b1);
		a5 = b5 ^ (~b6 & b7);
		a6 = b6 ^ (~b7 & b8);
		a7 = b7 ^ (~b8 & b9);
		a8 = b8 ^ (~b9 & b5);
		a9 = b9 ^ (~b5 & b6);
		a10 = b10 ^ (~b11 & b12);
		a11 = b11 ^ (~b12 & b13);
		a12 = b12 ^ (~b13 & b14);
		a13 = b13 ^ (~b14 & b10);
		a14 = b14 ^ (~b10 & b11);
		a15 = b15 ^ (~b16 & b17);
		a16 = b16 ^ (~b17 & b18);
		a17 = b17 ^ (~b18 & b19);
		a18 = b18 ^ (~b19 & b15);
		a19 = b19 ^ (~b15 & b16);
		a20 = b20 ^ (~b21 & b22);
		a21 = b21 ^ (~b22 & b23);
		a22 = b22 ^ (~b23 & b24);
		a23 = b23 ^ (~b24 & b20);
		a24 = b24 ^ (~b20 & b21);
		a0 ^= keccak_rc[round];
	}
	s[0] = a0;
	s[1] = a1;
	s[2] = a2;
	s[3] = a3;
	s[4] = a4;
	s[5] = a5;
	s[6] = a6;
	s[7] = a7;
	s[8] = a8;
	s[9] = a9;
	s[10] = a10;
	s[11] = a11;
	s[12] = a12;
	s[13] = a13;
	s[14] = a14;
	s[15] = a15;
	s[16] = a16;
	s[17] = a17;
	s[18] = a18;
	s[19] = a19;
	s[20] = a20;
	s[21] = a21;
	s[22] = a22;
	s[23] = a23;
	s[24] = a24;
}

static inline void state_xor_byte(uint64_t s[25], size_t pos, uint8_t v)
{
	s[pos / 8] ^= (uint64_t)v << (8 * (pos % 8));
}

static inline uint8_t state_byte(const uint64_t s[25], size_t pos)
{
	return (uint8_t)(s[pos / 8] >> (8 * (pos % 8)));
}

void dap_turboshake128_init(struct dap_turboshake *t, uint8_t domain)
{
	memset(t, 0, sizeof(*t));
	t->domain = domain;
}

void dap_turboshake128_absorb(struct dap_turboshake *t, const void *data, size_t n)
{
	const uint8_t *p = data;
	if (t->squeezing)
		return; /* programmer error: absorbing after squeezing starts */
	while (n > 0) {
		if (t->pos == 0 && n >= DAP_TURBOSHAKE_RATE) {
			for (size_t i = 0; i < DAP_TURBOSHAKE_RATE / 8; i++) {
				uint64_t w = 0;
				for (int k = 0; k < 8; k++)
					w |= (uint64_t)p[8 * i + k] << (8 * k);
				t->s[i] ^= w;
			}
			keccak_p12(t->s);
			p += DAP_TURBOSHAKE_RATE;
			n -= DAP_TURBOSHAKE_RATE;
			continue;
		}
		if (t->pos % 8 == 0 && n >= 8) {
			uint64_t w = 0;
			for (int k = 0; k < 8; k++)
				w |= (uint64_t)p[k] << (8 * k);
			t->s[t->pos / 8] ^= w;
			t->pos += 8;
			p += 8;
			n -= 8;
		} else {
			state_xor_byte(t->s, t->pos++, *p++);
			n--;
		}
		if (t->pos == DAP_TURBOSHAKE_RATE) {
			keccak_p12(t->s);
			t->pos = 0;
		}
	}
}

void dap_turboshake128_squeeze(struct dap_turboshake *t, void *out, size_t n)
{
	uint8_t *o = out;
	if (!t->squeezing) {
		state_xor_byte(t->s, t->pos, t->domain);
		state_xor_byte(t->s, DAP_TURBOSHAKE_RATE - 1, 0x80);
		keccak_p12(t->s);
		t->pos = 0;
		t->squeezing = 1;
	}
	while (n > 0) {
		if (t->pos == DAP_TURBOSHAKE_RATE) {
			keccak_p12(t->s);
			t->pos = 0;
		}
		if (t->pos == 0 && n >= DAP_TURBOSHAKE_RATE) {
			for (size_t i = 0; i < DAP_TURBOSHAKE_RATE / 8; i++)
				for (int k = 0; k < 8; k++)
					o[8 * i + k] = (uint8_t)(t->s[i] >> (8 * k));
			o += DAP_TURBOSHAKE_RATE;
			n -= DAP_TURBOSHAKE_RATE;
			t->pos = DAP_TURBOSHAKE_RATE;
			continue;
		}
		if (t->pos % 8 == 0 && n >= 8) {
			uint64_t w = t->s[t->pos / 8];
			for (int k = 0; k < 8; k++)
				o[k] = (uint8_t)(w >> (8 * k));
			o += 8;
			n -= 8;
			t->pos += 8;
			continue;
		}
		*o++ = state_byte(t->s, t->pos++);
		n--;
	}
}

void dap_turboshake128(uint8_t domain, const void *in, size_t n, void *out, size_t outlen)
{
	struct dap_turboshake t;
	dap_turboshake128_init(&t, domain);
	dap_turboshake128_absorb(&t, in, n);
	dap_turboshake128_squeeze(&t, out, outlen);
}

/* ------------------------------------------------------------ XofTurboShake128 */

int dap_xof_ts_init(struct dap_xof_ts *x, const uint8_t seed[DAP_XOF_SEED_SIZE],
		    const uint8_t *dst, size_t dst_len)
{
	if (dst_len > 255)
		return TB_ERR_INVALID;
	uint8_t l = (uint8_t)dst_len;
	dap_turboshake128_init(&x->ts, 1);
	dap_turboshake128_absorb(&x->ts, &l, 1);
	dap_turboshake128_absorb(&x->ts, dst, dst_len);
	dap_turboshake128_absorb(&x->ts, seed, DAP_XOF_SEED_SIZE);
	return 0;
}

void dap_xof_ts_binder(struct dap_xof_ts *x, const void *binder, size_t n)
{
	dap_turboshake128_absorb(&x->ts, binder, n);
}

void dap_xof_ts_next(struct dap_xof_ts *x, void *out, size_t n)
{
	dap_turboshake128_squeeze(&x->ts, out, n);
}

int dap_xof_ts_derive_seed(uint8_t out[DAP_XOF_SEED_SIZE], const uint8_t seed[DAP_XOF_SEED_SIZE],
			   const uint8_t *dst, size_t dst_len, const uint8_t *binder, size_t binder_len)
{
	struct dap_xof_ts x;
	int rc = dap_xof_ts_init(&x, seed, dst, dst_len);
	if (rc)
		return rc;
	dap_xof_ts_binder(&x, binder, binder_len);
	dap_xof_ts_next(&x, out, DAP_XOF_SEED_SIZE);
	return 0;
}

/* ------------------------------------------------------------ XofFixedKeyAes128 */

int dap_xof_aes_init(struct dap_xof_aes *x, const uint8_t seed[DAP_XOF_SEED_SIZE],
		     const uint8_t *dst, size_t dst_len, const uint8_t *binder, size_t binder_len)
{
	uint8_t key[16];
	struct dap_turboshake t;
	if (dst_len > 255)
		return TB_ERR_INVALID;
	uint8_t l = (uint8_t)dst_len;
	dap_turboshake128_init(&t, 2);
	dap_turboshake128_absorb(&t, &l, 1);
	dap_turboshake128_absorb(&t, dst, dst_len);
	dap_turboshake128_absorb(&t, binder, binder_len);
	dap_turboshake128_squeeze(&t, key, sizeof(key));
	mbedtls_aes_context *ctx = malloc(sizeof(*ctx));
	if (!ctx)
		return TB_ERR_NOMEM;
	mbedtls_aes_init(ctx);
	if (mbedtls_aes_setkey_enc(ctx, key, 128) != 0) {
		mbedtls_aes_free(ctx);
		free(ctx);
		return TB_ERR_CRYPTO;
	}
	x->aes = ctx;
	memcpy(x->seed, seed, DAP_XOF_SEED_SIZE);
	x->consumed = 0;
	return 0;
}

static int aes_hash_block(struct dap_xof_aes *x, uint64_t index, uint8_t out[16])
{
	uint8_t blk[16], sigma[16];
	memcpy(blk, x->seed, 16);
	for (int i = 0; i < 8; i++)
		blk[i] ^= (uint8_t)(index >> (8 * i));
	/* sigma(lo || hi) = hi || (hi xor lo) */
	for (int i = 0; i < 8; i++) {
		sigma[i] = blk[8 + i];
		sigma[8 + i] = blk[8 + i] ^ blk[i];
	}
	if (mbedtls_aes_crypt_ecb(x->aes, MBEDTLS_AES_ENCRYPT, sigma, out) != 0)
		return TB_ERR_CRYPTO;
	for (int i = 0; i < 16; i++)
		out[i] ^= sigma[i];
	return 0;
}

int dap_xof_aes_next(struct dap_xof_aes *x, void *out, size_t n)
{
	uint8_t *o = out, blk[16];
	while (n > 0) {
		size_t off = (size_t)(x->consumed % 16);
		int rc = aes_hash_block(x, x->consumed / 16, blk);
		if (rc)
			return rc;
		size_t take = 16 - off < n ? 16 - off : n;
		memcpy(o, blk + off, take);
		o += take;
		n -= take;
		x->consumed += take;
	}
	return 0;
}

void dap_xof_aes_free(struct dap_xof_aes *x)
{
	if (x->aes) {
		mbedtls_aes_free(x->aes);
		free(x->aes);
		x->aes = NULL;
	}
}

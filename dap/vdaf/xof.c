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

/* rho offsets and pi destinations, indexed by lane x + 5y */
static const unsigned keccak_rho[25] = {
	0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14,
};

/* Keccak-p[1600, 12]: the last 12 rounds of Keccak-f[1600]. */
static void keccak_p12(uint64_t s[25])
{
	uint64_t c[5], d[5], b[25];
	for (int round = 12; round < 24; round++) {
		for (int x = 0; x < 5; x++)
			c[x] = s[x] ^ s[x + 5] ^ s[x + 10] ^ s[x + 15] ^ s[x + 20];
		for (int x = 0; x < 5; x++)
			d[x] = c[(x + 4) % 5] ^ rol64(c[(x + 1) % 5], 1);
		for (int i = 0; i < 25; i++)
			s[i] ^= d[i % 5];
		/* rho and pi: B[y, 2x + 3y] = rot(A[x, y], r[x, y]) */
		for (int x = 0; x < 5; x++)
			for (int y = 0; y < 5; y++)
				b[y + 5 * ((2 * x + 3 * y) % 5)] = rol64(s[x + 5 * y], keccak_rho[x + 5 * y]);
		/* chi */
		for (int y = 0; y < 5; y++)
			for (int x = 0; x < 5; x++)
				s[x + 5 * y] = b[x + 5 * y] ^ (~b[(x + 1) % 5 + 5 * y] & b[(x + 2) % 5 + 5 * y]);
		/* iota */
		s[0] ^= keccak_rc[round];
	}
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
		state_xor_byte(t->s, t->pos++, *p++);
		n--;
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

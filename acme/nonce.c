/*
 * Replay nonces (RFC 8555 section 6.5) without a table of strings:
 *
 *   nonce = base64url(counter (8 bytes, big-endian) || HMAC-SHA256(key, counter)[0..15])
 *
 * The key is random per process, so a restart invalidates every earlier
 * nonce (clients retry on badNonce). Issuing takes the next counter; a nonce
 * is accepted once if its tag verifies, its counter is among the last
 * `window` issued, and its bit in a ring bitmap of `window` bits is clear.
 * Memory is window / 8 bytes whatever the traffic; a nonce older than the
 * window is refused like a used one. Loop thread only (no locking).
 */
#include <stdlib.h>
#include <string.h>

#include "acme/acme.h"
#include "core/error.h"

#define NONCE_TAG_LEN 16
#define NONCE_RAW_LEN (8 + NONCE_TAG_LEN)

struct acme_nonces {
	uint8_t key[32];
	uint64_t next;     /* counter of the next nonce issued; counters start at 1 */
	size_t window;     /* how many of the most recent nonces stay redeemable */
	uint8_t *used;     /* window bits, indexed by counter % window */
};

int acme_nonces_new(struct acme_nonces **out, size_t window)
{
	*out = NULL;
	if (window == 0)
		window = ACME_NONCE_DEFAULT_WINDOW;
	if (window > ACME_NONCE_MAX_WINDOW)
		return TB_ERR_TOO_LARGE;
	struct acme_nonces *n = calloc(1, sizeof *n);
	if (!n)
		return TB_ERR_NOMEM;
	n->used = calloc((window + 7) / 8, 1);
	if (!n->used) {
		free(n);
		return TB_ERR_NOMEM;
	}
	int err = tb_random(n->key, sizeof n->key);
	if (err) {
		free(n->used);
		free(n);
		return err;
	}
	n->next = 1;
	n->window = window;
	*out = n;
	return 0;
}

void acme_nonces_free(struct acme_nonces *n)
{
	if (!n)
		return;
	tb_crypto_wipe(n->key, sizeof n->key);
	free(n->used);
	free(n);
}

static int tag(const struct acme_nonces *n, const uint8_t ctr[8], uint8_t out[NONCE_TAG_LEN])
{
	uint8_t mac[TB_SHA256_LEN];
	int err = tb_hmac(TB_HASH_SHA256, TB_BUF(n->key, sizeof n->key), TB_BUF(ctr, 8), mac);
	memcpy(out, mac, NONCE_TAG_LEN);
	return err;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

int acme_nonce_issue(struct acme_nonces *n, char out[ACME_NONCE_LEN + 1])
{
	uint64_t c = n->next;
	if (c == UINT64_MAX)
		return TB_ERR_STATE;
	uint8_t raw[NONCE_RAW_LEN];
	put_u64(raw, c);
	int err = tag(n, raw, raw + 8);
	if (err)
		return err;
	struct tb_bytes b = { 0 };
	err = tb_base64url_encode(&b, raw, sizeof raw);
	if (!err && b.len != ACME_NONCE_LEN)
		err = TB_ERR_CRYPTO;
	if (!err) {
		memcpy(out, b.p, ACME_NONCE_LEN);
		out[ACME_NONCE_LEN] = '\0';
		/* the slot now belongs to c; whoever held it fell out of the window */
		size_t slot = (size_t)(c % n->window);
		n->used[slot / 8] &= (uint8_t)~(1u << (slot % 8));
		n->next = c + 1;
	}
	tb_bytes_free(&b);
	return err;
}

int acme_nonce_consume(struct acme_nonces *n, const char *nonce, struct acme_problem *prob)
{
	if (!nonce || strlen(nonce) != ACME_NONCE_LEN)
		return acme_problem_set(prob, ACME_PROB_BAD_NONCE, "JWS has an invalid anti-replay nonce");
	struct tb_bytes b = { 0 };
	int bad = tb_base64url_decode(&b, nonce, ACME_NONCE_LEN) != 0 || b.len != NONCE_RAW_LEN;
	uint8_t want[NONCE_TAG_LEN];
	if (!bad)
		bad = tag(n, b.p, want) != 0 || tb_memeq_ct(want, b.p + 8, NONCE_TAG_LEN) != 0;
	uint64_t c = 0;
	for (int i = 0; !bad && i < 8; i++)
		c = c << 8 | b.p[i];
	tb_bytes_free(&b);
	if (bad)
		return acme_problem_set(prob, ACME_PROB_BAD_NONCE, "JWS has an invalid anti-replay nonce");
	if (c == 0 || c >= n->next || n->next - c > n->window)
		return acme_problem_set(prob, ACME_PROB_BAD_NONCE, "JWS has an expired anti-replay nonce");
	size_t slot = (size_t)(c % n->window);
	uint8_t bit = (uint8_t)(1u << (slot % 8));
	if (n->used[slot / 8] & bit)
		return acme_problem_set(prob, ACME_PROB_BAD_NONCE, "JWS has a used anti-replay nonce");
	n->used[slot / 8] |= bit;
	return 0;
}

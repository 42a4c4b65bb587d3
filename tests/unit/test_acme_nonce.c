/*
 * Replay nonces: single use, window expiry, forgeries, restarts.
 */
#include "acme/acme.h"
#include "core/error.h"
#include "tb_test.h"

static enum acme_problem_type consume(struct acme_nonces *n, const char *s)
{
	struct acme_problem p = { 0 };
	return acme_nonce_consume(n, s, &p) ? p.type : ACME_PROB_NONE;
}

int main(void)
{
	struct acme_nonces *n = NULL, *other = NULL;
	CHECK_INT(acme_nonces_new(&n, 64), 0);
	CHECK_INT(acme_nonces_new(&other, 64), 0);
	struct acme_nonces *huge = NULL;
	CHECK_INT(acme_nonces_new(&huge, ACME_NONCE_MAX_WINDOW + 1), TB_ERR_TOO_LARGE);
	CHECK(huge == NULL);
	if (!n || !other)
		return tb_test_result("test_acme_nonce");

	char a[ACME_NONCE_LEN + 1], b[ACME_NONCE_LEN + 1];
	CHECK_INT(acme_nonce_issue(n, a), 0);
	CHECK_INT(acme_nonce_issue(n, b), 0);
	CHECK_INT(strlen(a), ACME_NONCE_LEN);
	CHECK(strcmp(a, b) != 0);
	/* single use, in any order */
	CHECK_INT(consume(n, b), ACME_PROB_NONE);
	CHECK_INT(consume(n, b), ACME_PROB_BAD_NONCE);
	CHECK_INT(consume(n, a), ACME_PROB_NONE);
	CHECK_INT(consume(n, a), ACME_PROB_BAD_NONCE);

	/* another instance (a restart) does not accept them */
	char c[ACME_NONCE_LEN + 1];
	CHECK_INT(acme_nonce_issue(n, c), 0);
	CHECK_INT(consume(other, c), ACME_PROB_BAD_NONCE);

	/* tampering: a flipped character, wrong length, junk */
	char t[ACME_NONCE_LEN + 1];
	memcpy(t, c, sizeof t);
	t[3] = t[3] == 'A' ? 'B' : 'A';
	CHECK_INT(consume(n, t), ACME_PROB_BAD_NONCE);
	t[3] = c[3];
	t[ACME_NONCE_LEN - 2] = t[ACME_NONCE_LEN - 2] == 'A' ? 'B' : 'A';
	CHECK_INT(consume(n, t), ACME_PROB_BAD_NONCE);
	CHECK_INT(consume(n, "abc"), ACME_PROB_BAD_NONCE);
	CHECK_INT(consume(n, ""), ACME_PROB_BAD_NONCE);
	CHECK_INT(consume(n, NULL), ACME_PROB_BAD_NONCE);
	CHECK_INT(consume(n, "================================"), ACME_PROB_BAD_NONCE);
	CHECK_INT(consume(n, c), ACME_PROB_NONE);

	/* the window: the 64 most recent nonces are redeemable, older ones are not */
	char keep[70][ACME_NONCE_LEN + 1];
	for (int i = 0; i < 70; i++)
		CHECK_INT(acme_nonce_issue(n, keep[i]), 0);
	for (int i = 0; i < 6; i++)
		CHECK_INT(consume(n, keep[i]), ACME_PROB_BAD_NONCE);
	for (int i = 6; i < 70; i++)
		CHECK_INT(consume(n, keep[i]), ACME_PROB_NONE);
	for (int i = 0; i < 70; i++)
		CHECK_INT(consume(n, keep[i]), ACME_PROB_BAD_NONCE);
	/* slots are reused cleanly after wrapping */
	for (int round = 0; round < 5; round++) {
		CHECK_INT(acme_nonce_issue(n, a), 0);
		CHECK_INT(consume(n, a), ACME_PROB_NONE);
		CHECK_INT(consume(n, a), ACME_PROB_BAD_NONCE);
	}
	acme_nonces_free(n);
	acme_nonces_free(other);
	return tb_test_result("test_acme_nonce");
}

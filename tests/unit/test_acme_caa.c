/*
 * CAA evaluation (RFC 8659 section 4, RFC 8657): issuer matching, issuewild
 * for wildcards, accounturi and validationmethods, critical unknown tags,
 * malformed records, sets without CAA records.
 */
#include <string.h>

#include "acme/acme.h"
#include "core/services.h"
#include "tb_test.h"

static const char *const issuers[] = { "trustbox", "trustbox.test" };

/* One CAA RR: flags, tag, value. */
static struct tb_rr rr(uint8_t *buf, uint8_t flags, const char *tag, const char *value)
{
	size_t tl = strlen(tag), vl = strlen(value);
	buf[0] = flags;
	buf[1] = (uint8_t)tl;
	memcpy(buf + 2, tag, tl);
	memcpy(buf + 2 + tl, value, vl);
	struct tb_rr r = { 257, 60, TB_BUF(buf, 2 + tl + vl) };
	return r;
}

static int eval1(int wildcard, const char *method, uint8_t flags, const char *tag, const char *value)
{
	uint8_t b[512];
	struct tb_rr r = rr(b, flags, tag, value);
	struct acme_caa_request q = { issuers, 2, wildcard, "https://ca.test/acme/acct/abc", method };
	return acme_caa_evaluate(&q, &r, 1, NULL);
}

int main(void)
{
	/* issuer matching */
	CHECK_INT(eval1(0, "http-01", 0, "issue", "trustbox"), 0);
	CHECK_INT(eval1(0, "http-01", 0, "issue", "TrustBox.Test"), 0);
	CHECK_INT(eval1(0, "http-01", 0, "issue", "  trustbox  "), 0);
	CHECK_INT(eval1(0, "http-01", 0, "issue", "ca.example"), -1);
	CHECK_INT(eval1(0, "http-01", 0, "issue", ";"), -1);   /* nobody may issue */
	CHECK_INT(eval1(0, "http-01", 0, "issue", ""), -1);
	CHECK_INT(eval1(0, "http-01", 0, "issue", "trustbox.testx"), -1);
	/* parameters (RFC 8657) */
	CHECK_INT(eval1(0, "http-01", 0, "issue", "trustbox; accounturi=https://ca.test/acme/acct/abc"), 0);
	CHECK_INT(eval1(0, "http-01", 0, "issue", "trustbox; accounturi=https://ca.test/acme/acct/other"), -1);
	CHECK_INT(eval1(0, "http-01", 0, "issue", "trustbox; validationmethods=dns-01,http-01"), 0);
	CHECK_INT(eval1(0, "http-01", 0, "issue", "trustbox; validationmethods=dns-01"), -1);
	CHECK_INT(eval1(0, "tls-alpn-01", 0, "issue", "trustbox; validationmethods = dns-01 , tls-alpn-01 "), 0);
	CHECK_INT(eval1(0, "http-01", 0, "issue", "trustbox; unknown=1"), 0);
	CHECK_INT(eval1(0, "http-01", 0, "issue", "trustbox; keyonly"), -1);
	/* wildcards: issuewild decides when present, issue otherwise */
	CHECK_INT(eval1(1, "dns-01", 0, "issuewild", "trustbox"), 0);
	CHECK_INT(eval1(1, "dns-01", 0, "issuewild", ";"), -1);
	CHECK_INT(eval1(1, "dns-01", 0, "issue", "trustbox"), 0);
	CHECK_INT(eval1(0, "http-01", 0, "issuewild", ";"), 0);  /* issuewild alone does not restrict non-wildcards */
	/* other tags */
	CHECK_INT(eval1(0, "http-01", 0, "iodef", "mailto:a@b.test"), 0);
	CHECK_INT(eval1(0, "http-01", 0x80, "iodef", "mailto:a@b.test"), 0);
	CHECK_INT(eval1(0, "http-01", 0, "future", "x"), 0);
	CHECK_INT(eval1(0, "http-01", 0x80, "future", "x"), -1);

	/* sets */
	uint8_t b1[128], b2[128];
	struct tb_rr set[3];
	set[0] = rr(b1, 0, "issue", "ca.example");
	set[1] = rr(b2, 0, "issue", "trustbox");
	struct acme_caa_request q = { issuers, 2, 0, "u", "http-01" };
	CHECK_INT(acme_caa_evaluate(&q, set, 2, NULL), 0);      /* any issue record may authorise */
	CHECK_INT(acme_caa_evaluate(&q, set, 0, NULL), 1);      /* empty: climb */
	struct tb_rr a = { 1, 60, TB_BUF("\x7f\0\0\1", 4) };
	CHECK_INT(acme_caa_evaluate(&q, &a, 1, NULL), 1);       /* no CAA among them: climb */
	int crit = 0;
	uint8_t bad[2] = { 0, 9 };                               /* tag longer than the RDATA */
	set[2] = (struct tb_rr){ 257, 60, TB_BUF(bad, 2) };
	CHECK_INT(acme_caa_evaluate(&q, &set[2], 1, &crit), -1);
	CHECK_INT(crit, 1);
	set[2] = (struct tb_rr){ 257, 60, TB_BUF(bad, 1) };
	CHECK_INT(acme_caa_evaluate(&q, &set[2], 1, NULL), -1);
	return tb_test_result("acme_caa");
}

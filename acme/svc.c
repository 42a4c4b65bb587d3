/*
 * The ACME service's core: ids and time, profiles, lab names, and
 * hold/release, which lets stop() wait for store jobs and validations.
 * It calls nothing else of the service.
 */
#include "acme/svc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/error.h"

int64_t acme_now(void)
{
	return tb_time_now();
}

char *acme_ts(struct tb_arena *a, int64_t t)
{
	char b[32];
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return tb_arena_strdup(a, b);
}

static unsigned random_fail_at; /* tests: the nth next acme_random_id fails */

void acme_test_fail_random(unsigned nth)
{
	random_fail_at = nth;
}

int acme_random_id(char out[ACME_ID_LEN + 1])
{
	if (random_fail_at && --random_fail_at == 0)
		return TB_ERR_CRYPTO;
	uint8_t r[ACME_ID_BYTES];
	struct tb_bytes b = { 0 };
	if (tb_random(r, sizeof r) || tb_base64url_encode(&b, r, sizeof r) || b.len != ACME_ID_LEN) {
		tb_bytes_free(&b);
		return TB_ERR_CRYPTO;
	}
	memcpy(out, b.p, ACME_ID_LEN);
	out[ACME_ID_LEN] = 0;
	tb_bytes_free(&b);
	return 0;
}

int acme_id_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

int acme_is_lab_name(const struct acme_svc *s, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < s->n_lab_domains; i++) {
		const char *d = s->lab_domains[i];
		size_t m = strlen(d);
		if (n == m && strcmp(name, d) == 0)
			return 1;
		if (n > m && name[n - m - 1] == '.' && strcmp(name + n - m, d) == 0)
			return 1;
	}
	return 0;
}

const struct acme_profile *acme_find_profile(const struct acme_svc *s, const char *name)
{
	for (size_t i = 0; i < s->n_profiles; i++)
		if (strcmp(s->profiles[i].name, name) == 0)
			return &s->profiles[i];
	return NULL;
}

void acme_svc_hold(struct acme_svc *s)
{
	s->pending++;
}

void acme_svc_release(struct acme_svc *s)
{
	if (s->pending)
		s->pending--;
	if (s->stopping && s->pending == 0 && s->stop_done) {
		tb_done_cb d = s->stop_done;
		s->stop_done = NULL;
		d(s->stop_arg);
	}
}

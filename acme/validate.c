/*
 * DESIGN: challenge validation and CAA for the ACME service.
 *
 * One struct acme_validation per challenge being validated, on the loop
 * thread, linked into the service so stop() can cancel it. Steps:
 *   reserve -> [queue] -> [lab delay timer] -> target address ->
 *   challenge check -> CAA -> store.
 *
 * Admission: at most acme.max_validations run at once, and at most
 * acme.max_validations_per_account for one account; the others wait in a
 * FIFO queue of acme.max_queued_validations, and a challenge POST that
 * finds the queue full is answered rateLimited. The place (running slot or
 * queue) is reserved before the challenge is stored as processing, so the
 * answer to the POST can still be a refusal.
 *
 * Target address (http-01, tls-alpn-01), for the first hop and for every
 * redirect: IP literals are dialled as they are; DNS names are looked up (A,
 * then AAAA) through the registered tb_resolver; without one the HTTP
 * client resolves them with getaddrinfo. Under the lab policy, names under
 * a lab domain that do not resolve are dialled at 127.0.0.1, and any address
 * is allowed. Under the strict policy the HTTP client passes every address
 * it is about to dial, whichever way it was found, to dial_check, which
 * refuses reserved ones (loopback, private, link-local, ...); redirects
 * are followed only to http on acme.http01_port and https on 443.
 *
 * http-01 follows at most ACME_HTTP01_MAX_REDIRECTS redirects itself (the
 * HTTP client never does), reads at most ACME_HTTP01_MAX_BODY bytes and
 * gives up after validation_timeout_ms per hop. A mismatching body is quoted
 * in the error only when it came from the first hop: bytes fetched after a
 * redirect are never shown to the client. tls-alpn-01 does a handshake
 * only, offering acme-tls/1 with the identifier as SNI (the reverse name for
 * IPs) and checks the certificate with acme/challenge.c. dns-01 asks the
 * resolver for TXT at _acme-challenge.<name>.
 *
 * The outcome (challenge and authorization status, error document, the
 * failed-validation token refunded on success) is written in one store job,
 * written again when the store refuses it (stored()).
 *
 * Size: past 900 lines because the steps above are one state machine over
 * struct acme_validation; CAA (its lookups and parameter checks) is the
 * part that would move to a file of its own next.
 */
#include "acme/db.h"
#include "acme/metrics.h"
#include "acme/svc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/http.h"
#include "core/log.h"
#include "core/services.h"

#define DNS_TYPE_A 1
#define DNS_TYPE_TXT 16
#define DNS_TYPE_AAAA 28
#define DNS_TYPE_CAA 257
#define ACME_DNS_TIMEOUT_MS 10000
#define ACME_MAX_URL 2048
#define ACME_TXT_MAX 1024          /* bytes of one TXT record we compare */
#define ACME_CAA_MAX_PARAMS 8

struct acme_validation {
	struct acme_svc *s;
	struct acme_validation_req v;
	struct acme_validation *next, **pprev;
	char account[80];          /* the account's id: the per-account cap counts by it */
	uint64_t seq;              /* reservation order; the queue is served lowest first */
	int slot;                  /* holds one of the max_validations running slots */
	int ready;                 /* the challenge is stored as processing: may run */
	int begun;                 /* left the queue (or never waited) and started */
	struct tb_http_call *call;
	uv_timer_t *timer;
	int redirects;
	int canceled;
	int caa_pending;
	int asked_aaaa;
	int outcome_tries;         /* failed writes of the outcome (stored()) */
	char url[ACME_MAX_URL];
	char connect[64];          /* "" = let the HTTP client resolve */
	char host[ACME_MAX_IDENT_LEN + 1];
	char refused[80];          /* "address:port" the strict policy refused last */
	char target[80];           /* "address:port" dialled last (the attempt's target) */
	int refused_port;          /* ... for its port, not its address */
	struct acme_problem prob;
	double started;            /* tb_metrics_now() when it began: the latency histogram */
};

static void finish(struct acme_validation *val);
static void run_check(struct acme_validation *val);
static void dispatch(struct acme_svc *s);

static void val_unlink(struct acme_validation *val)
{
	if (val->pprev) {
		*val->pprev = val->next;
		if (val->next)
			val->next->pprev = val->pprev;
		else
			val->s->vals_tail = val->pprev;
		val->pprev = NULL;
	}
}

static void timer_closed(uv_handle_t *h)
{
	free(h);
}

static void val_free(struct acme_validation *val)
{
	struct acme_svc *s = val->s;
	val_unlink(val);
	if (val->timer)
		uv_close((uv_handle_t *)val->timer, timer_closed);
	int freed_slot = val->slot;
	if (val->slot)
		s->vals_running--;
	else if (!val->begun)
		s->vals_queued--;
	free(val);
	if (freed_slot)
		dispatch(s);
	acme_svc_release(s);
}

/* ------------------------------------------------------------------ */
/* Outcome                                                               */
/* ------------------------------------------------------------------ */

static void outcome_retry(uv_timer_t *t)
{
	struct acme_validation *val = t->data;
	if (val->canceled) {
		val_free(val);
		return;
	}
	finish(val);
}

/*
 * The challenge was answered "processing": its outcome must reach the store,
 * or the authorization stays pending and the client polls it until it gives
 * up. A failed write (disk full, an I/O error) is tried again, backing off
 * to 30 s, for about ten minutes while the validation keeps its slot.
 */
#define ACME_OUTCOME_TRIES 25

static void stored(void *ctx, int status)
{
	struct acme_validation *val = ctx;
	struct acme_svc *s = val->s;
	if (status && !val->canceled && !s->stopping && val->outcome_tries < ACME_OUTCOME_TRIES) {
		uint64_t ms = val->outcome_tries < 5 ? 1000u << val->outcome_tries : 30000u;
		val->outcome_tries++;
		TB_WARN("acme", "challenge %s: storing the outcome failed: %s; again in %llu ms", val->v.chall_id,
			tb_strerror(status), (unsigned long long)ms);
		if (!val->timer && (val->timer = malloc(sizeof *val->timer)) &&
		    uv_timer_init(s->core->loop, val->timer) != 0) {
			free(val->timer);
			val->timer = NULL;
		}
		if (val->timer) {
			val->timer->data = val;
			uv_timer_start(val->timer, outcome_retry, ms, 0);
			return;
		}
	}
	if (status)
		TB_WARN("acme", "challenge %s: storing the outcome failed: %s", val->v.chall_id, tb_strerror(status));
	val_free(val);
}

static void finish(struct acme_validation *val)
{
	struct acme_svc *s = val->s;
	int64_t now = acme_now();
	int ok = val->prob.type == ACME_PROB_NONE;
	tb_metric_inc(&acme_m_validations, val->v.type, ok ? "valid" : "invalid");
	tb_metric_inc(&acme_m_authz_results, ok ? "valid" : "invalid");
	tb_metric_observe(&acme_m_validation_secs, tb_metrics_now() - val->started, val->v.type);
	struct acme_wjob *j = acme_wjob_new(s);
	/* The attempt, for the admin API's timeline: where we looked and what we found. */
	const char *target = val->target[0] ? val->target
		: strcmp(val->v.type, "dns-01") == 0 ? "resolver"
		: s->lab_always_valid ? "none (lab_always_valid)" : "none";
	if (ok) {
		acme_db_attempt_insert(j, val->v.chall_id, val->v.authz_id, now, target, "valid", NULL);
		TB_INFO("acme", "%s for %s: valid", val->v.type, val->v.ident.value);
		acme_db_chall_valid(j, val->v.chall_id, val->v.authz_id, now, now + s->authz_valid_lifetime);
		/*
		 * The failed-validation token was taken when the validation started (authz.c
		 * acme_handle_challenge()), so that validations still running count against the limit and one
		 * identifier cannot have more in flight than the bucket holds. A success gives it
		 * back: the limit counts failures, and a client revalidating a name it controls is
		 * not what it is for. A failure keeps it; a validation canceled by stop keeps it
		 * too (the bucket refills within the hour).
		 */
		acme_db_failed_bucket_add(j, s, &val->v.ident, +1);
	} else {
		TB_INFO("acme", "%s for %s: invalid: %s: %s", val->v.type, val->v.ident.value,
			acme_problem_name(val->prob.type), val->prob.detail);
		cJSON *e = acme_problem_json(&val->prob);
		char *et = e ? cJSON_PrintUnformatted(e) : NULL;
		cJSON_Delete(e);
		acme_db_chall_invalid(j, val->v.chall_id, val->v.authz_id, now, et ? et : "{}");
		acme_db_attempt_insert(j, val->v.chall_id, val->v.authz_id, now, target, "invalid", et ? et : "{}");
		free(et);
	}
	if (acme_wjob_submit(j, stored, val))
		val_free(val);
}

/* ------------------------------------------------------------------ */
/* CAA (RFC 8659, RFC 8657)                                              */
/* ------------------------------------------------------------------ */

struct caa_ctx {
	struct acme_svc *s;
	struct acme_identifier id;
	int wildcard;
	char account_url[512];
	char method[16];
	char name[ACME_MAX_IDENT_LEN + 1]; /* the next name to ask */
	char asked[ACME_MAX_IDENT_LEN + 1]; /* the name asked last */
	acme_caa_cb cb;
	void *arg;
};

static void caa_next(struct caa_ctx *c);

static void caa_answer(enum tb_resolve_status st, const struct tb_rr *rrs, size_t n, const char *detail, void *arg)
{
	struct caa_ctx *c = arg;
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	if (st != TB_RESOLVE_OK && st != TB_RESOLVE_NXDOMAIN) {
		/* fail closed, typed caa as Boulder does: a CAA set that cannot be read (a bogus
		 * DNSSEC answer is a SERVFAIL) is no permission */
		acme_problem_set(&p, ACME_PROB_CAA, "While processing CAA for %s: DNS problem: %s looking up CAA for %s%s%s",
			c->id.value,
			st == TB_RESOLVE_TIMEOUT ? "query timed out" : st == TB_RESOLVE_SERVFAIL ? "SERVFAIL" : "failure",
			c->asked, detail ? ": " : "", detail ? detail : "");
		c->cb(-1, &p, c->arg);
		free(c);
		return;
	}
	const char *issuers[ACME_MAX_CAA_IDS];
	for (size_t i = 0; i < c->s->n_caa_ids; i++)
		issuers[i] = c->s->caa_ids[i];
	struct acme_caa_request q = { issuers, c->s->n_caa_ids, c->wildcard, c->account_url, c->method };
	int crit = 0;
	int rc = st == TB_RESOLVE_OK ? acme_caa_evaluate(&q, rrs, n, &crit) : 1;
	if (rc == 1) {
		caa_next(c);
		return;
	}
	if (rc == 0) {
		c->cb(0, NULL, c->arg);
	} else {
		acme_problem_set(&p, ACME_PROB_CAA, "CAA record for %s prevents issuance%s", c->asked,
			crit ? " (unknown critical property)" : "");
		c->cb(-1, &p, c->arg);
	}
	free(c);
}

/* Asks for c->name's CAA set, then climbs one label per empty answer. */
static void caa_next(struct caa_ctx *c)
{
	if (c->name[0] == 0) {
		c->cb(0, NULL, c->arg);
		free(c);
		return;
	}
	char name[ACME_MAX_IDENT_LEN + 1];
	snprintf(name, sizeof name, "%s", c->name);
	snprintf(c->asked, sizeof c->asked, "%s", c->name);
	const char *dot = strchr(c->name, '.');
	/* The next name to ask: the parent; stop below the TLD. */
	if (dot && strchr(dot + 1, '.'))
		memmove(c->name, dot + 1, strlen(dot + 1) + 1);
	else
		c->name[0] = 0;
	struct tb_resolver *res = c->s->core->services ? c->s->core->services->resolver : NULL;
	if (!res || res->lookup(res->impl, name, DNS_TYPE_CAA, ACME_DNS_TIMEOUT_MS, caa_answer, c)) {
		struct acme_problem p;
		memset(&p, 0, sizeof p);
		acme_problem_set(&p, ACME_PROB_DNS, "DNS problem: could not look up CAA for %s", name);
		c->cb(-1, &p, c->arg);
		free(c);
		return;
	}
}

int acme_caa_check(struct acme_svc *s, const struct acme_identifier *id, int wildcard, const char *account_url,
	const char *method, acme_caa_cb cb, void *arg)
{
	struct tb_resolver *res = s->core->services ? s->core->services->resolver : NULL;
	if (!res || id->type != ACME_IDENT_DNS) {
		if (!res && !s->caa_absent_logged) {
			TB_INFO("acme", "no resolver registered: CAA is treated as empty (issuance allowed)");
			s->caa_absent_logged = 1;
		}
		cb(0, NULL, arg);
		return 0;
	}
	struct caa_ctx *c = calloc(1, sizeof *c);
	if (!c)
		return TB_ERR_NOMEM;
	c->s = s;
	c->id = *id;
	c->wildcard = wildcard;
	snprintf(c->account_url, sizeof c->account_url, "%s", account_url);
	snprintf(c->method, sizeof c->method, "%s", method);
	snprintf(c->name, sizeof c->name, "%s", id->value);
	c->cb = cb;
	c->arg = arg;
	caa_next(c);
	return 0;
}

static void caa_done(int err, const struct acme_problem *p, void *arg)
{
	struct acme_validation *val = arg;
	val->caa_pending = 0;
	if (val->canceled) {
		val_free(val);
		return;
	}
	if (err && p)
		val->prob = *p;
	finish(val);
}

/* The challenge passed: CAA next, then the outcome. */
static void passed(struct acme_validation *val)
{
	val->caa_pending = 1;
	if (acme_caa_check(val->s, &val->v.ident, val->v.wildcard, val->v.account_url, val->v.type, caa_done, val)) {
		val->caa_pending = 0;
		acme_problem_set(&val->prob, ACME_PROB_SERVER_INTERNAL, "CAA check could not start");
		finish(val);
	}
}

/* ------------------------------------------------------------------ */
/* http-01 and tls-alpn-01                                               */
/* ------------------------------------------------------------------ */

static void set_conn_problem(struct acme_validation *val, int err, const char *what)
{
	if (err == -EACCES && val->refused[0]) {
		/* Only the address and port: nothing was fetched from it. */
		acme_problem_set(&val->prob, ACME_PROB_CONNECTION, "%s: %s: connection to %s refused: %s",
			val->v.ident.value, what, val->refused,
			val->refused_port ? "port not allowed by policy" : "reserved address, not allowed by policy");
		return;
	}
	enum acme_problem_type t = ACME_PROB_CONNECTION;
	const char *why = tb_strerror(err);
	if (err == TB_ERR_TIMEOUT)
		why = "Timeout during connect (likely firewall problem)";
	else if (err == -ECONNREFUSED)
		why = "Connection refused";
	else if (err == TB_ERR_NOT_FOUND)
		t = ACME_PROB_DNS, why = "No valid IP addresses found";
	else if (err == TB_ERR_CRYPTO || err == TB_ERR_VERIFY)
		t = ACME_PROB_TLS, why = "Error getting validation data (TLS)";
	else if (err == TB_ERR_TOO_LARGE)
		t = ACME_PROB_UNAUTHORIZED, why = "Response body too large";
	acme_problem_set(&val->prob, t, "%s: %s: %s", val->v.ident.value, what, why);
}

/*
 * Asked by the HTTP client for every address it is about to dial, however
 * it was found (an IP identifier, the resolver's answer, a redirect's IP
 * literal, getaddrinfo): the address is noted as the attempt's target, and
 * under the strict policy reserved addresses are refused, and so are ports
 * other than the validation ports and 443 (redirect_url checks the scheme
 * and port of a redirect; this is the backstop at the socket).
 */
static int dial_check(const struct sockaddr *sa, void *arg)
{
	struct acme_validation *val = arg;
	struct acme_svc *s = val->s;
	uint8_t a[16];
	int fam = sa->sa_family, port;
	if (fam == AF_INET) {
		struct sockaddr_in in;
		memcpy(&in, sa, sizeof in);
		memcpy(a, &in.sin_addr, 4);
		port = ntohs(in.sin_port);
	} else if (fam == AF_INET6) {
		struct sockaddr_in6 in6;
		memcpy(&in6, sa, sizeof in6);
		memcpy(a, &in6.sin6_addr, 16);
		port = ntohs(in6.sin6_port);
	} else {
		snprintf(val->refused, sizeof val->refused, "an address of family %d", fam);
		val->refused_port = 0;
		return -EACCES;
	}
	char txt[64];
	if (acme_ip_format(a, fam, txt, sizeof txt))
		snprintf(txt, sizeof txt, "?");
	snprintf(val->target, sizeof val->target, fam == AF_INET6 ? "[%s]:%d" : "%s:%d", txt, port);
	if (!s->strict)
		return 0;
	int reserved = acme_ip_is_reserved(a, fam);
	int port_ok = port == s->http01_port || port == s->tlsalpn01_port || port == 443;
	if (!reserved && port_ok)
		return 0;
	snprintf(val->refused, sizeof val->refused, "%s", val->target);
	val->refused_port = !reserved;
	TB_INFO("acme", "%s for %s: not dialling %s (policy)", val->v.type, val->v.ident.value, val->refused);
	return -EACCES;
}

static void hop(struct acme_validation *val);
static void connect_now(struct acme_validation *val);

static int host_is_ip(const char *h)
{
	uint8_t a[16];
	int fam;
	return acme_ip_parse(h, strlen(h), a, &fam) == 0;
}

static int host_char(char c, int bracketed)
{
	if (bracketed)
		return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '.' ||
		c == '_';
}

/*
 * Resolves a Location against the current URL into val->url and val->host.
 * Returns 0 (*new_host: the host changed), TB_ERR_INVALID when it cannot be
 * followed, or -EACCES with val->prob set when the strict policy refuses
 * its scheme and port. The host and port are parsed strictly (no userinfo,
 * digits only) so that what is checked here is what the HTTP client dials.
 */
static int redirect_url(struct acme_validation *val, const char *loc, int *new_host)
{
	char next[ACME_MAX_URL];
	if (strncmp(loc, "http://", 7) == 0 || strncmp(loc, "https://", 8) == 0) {
		if (strlen(loc) >= sizeof next)
			return TB_ERR_TOO_LARGE;
		snprintf(next, sizeof next, "%s", loc);
	} else if (loc[0] == '/' && loc[1] != '/') {
		const char *p = strstr(val->url, "://");
		const char *path = p ? strchr(p + 3, '/') : NULL;
		size_t hl = path ? (size_t)(path - val->url) : strlen(val->url);
		if (hl + strlen(loc) >= sizeof next)
			return TB_ERR_TOO_LARGE;
		snprintf(next, sizeof next, "%.*s%s", (int)hl, val->url, loc);
	} else {
		return TB_ERR_INVALID;
	}
	int https = strncmp(next, "https://", 8) == 0;
	const char *h = strstr(next, "://") + 3, *after;
	char host[ACME_MAX_IDENT_LEN + 1];
	int bracketed = h[0] == '[';
	if (bracketed) {
		const char *e = strchr(h, ']');
		if (!e || e == h + 1 || (size_t)(e - h - 1) >= sizeof host)
			return TB_ERR_INVALID;
		snprintf(host, sizeof host, "%.*s", (int)(e - h - 1), h + 1);
		after = e + 1;
	} else {
		size_t hl = strcspn(h, "/:?#");
		if (hl == 0 || hl >= sizeof host)
			return TB_ERR_INVALID;
		snprintf(host, sizeof host, "%.*s", (int)hl, h);
		after = h + hl;
	}
	for (const char *c = host; *c; c++)
		if (!host_char(*c, bracketed))
			return TB_ERR_INVALID;
	long port = https ? 443 : 80;
	if (*after == ':') {
		size_t nd = strspn(after + 1, "0123456789");
		if (nd == 0 || nd > 5)
			return TB_ERR_INVALID;
		port = strtol(after + 1, NULL, 10);
		after += 1 + nd;
		if (port < 1 || port > 65535)
			return TB_ERR_INVALID;
	}
	if (*after && !strchr("/?#", *after))
		return TB_ERR_INVALID;
	for (char *c = host; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	/* As Boulder: only the validation port for http and 443 for https. */
	if (val->s->strict && (https ? port != 443 : port != val->s->http01_port)) {
		acme_problem_set(&val->prob, ACME_PROB_CONNECTION, "%s: redirect to %s%s%s:%ld (%s) refused: only http on "
			"port %d and https on port 443 are followed", val->v.ident.value, bracketed ? "[" : "", host,
			bracketed ? "]" : "", port, https ? "https" : "http", val->s->http01_port);
		return -EACCES;
	}
	*new_host = strcmp(host, val->host) != 0;
	snprintf(val->host, sizeof val->host, "%s", host);
	snprintf(val->url, sizeof val->url, "%s", next);
	return 0;
}

static void http_done(int err, const struct tb_http_client_resp *resp, void *arg)
{
	struct acme_validation *val = arg;
	val->call = NULL;
	if (val->canceled || err == TB_ERR_CANCELED) {
		val_free(val);
		return;
	}
	if (err) {
		set_conn_problem(val, err, "Fetching http-01 challenge");
		finish(val);
		return;
	}
	if (resp->status >= 300 && resp->status < 400 && resp->status != 304) {
		const char *loc = tb_http_client_header(resp, "Location");
		if (!loc || ++val->redirects > ACME_HTTP01_MAX_REDIRECTS) {
			acme_problem_set(&val->prob, ACME_PROB_CONNECTION, "%s: %s", val->v.ident.value,
				loc ? "Too many redirects" : "Redirect without a Location header");
			finish(val);
			return;
		}
		int new_host = 0, rc = redirect_url(val, loc, &new_host);
		if (rc && rc != -EACCES)
			acme_problem_set(&val->prob, ACME_PROB_CONNECTION, "%s: Invalid redirect to \"%.128s\"",
				val->v.ident.value, loc);
		if (rc) {
			finish(val);
			return;
		}
		if (new_host)
			hop(val);
		else
			connect_now(val);
		return;
	}
	if (resp->status != 200) {
		acme_problem_set(&val->prob, ACME_PROB_UNAUTHORIZED, "%s: Invalid response from %s: %d",
			val->v.ident.value, val->url, resp->status);
		finish(val);
		return;
	}
	/* The body is quoted only when it came from the identifier's own server. */
	if (acme_http01_check_body(resp->body.p, resp->body.len, val->v.key_authz, val->redirects == 0, &val->prob)) {
		finish(val);
		return;
	}
	passed(val);
}

static int start_http(struct acme_validation *val)
{
	struct tb_http_client_req r;
	memset(&r, 0, sizeof r);
	r.method = "GET";
	r.url = val->url;
	r.timeout_ms = val->s->validation_timeout_ms;
	r.max_body = ACME_HTTP01_MAX_BODY;
	r.insecure = 1; /* redirects to https are not certificate-checked (as Boulder) */
	r.connect_address = val->connect[0] ? val->connect : NULL;
	r.dial_check = dial_check; /* notes the target; refuses by policy when strict */
	r.dial_check_arg = val;
	struct tb_http_header h = { "User-Agent", "trustbox-acme-va" };
	r.headers = &h;
	r.n_headers = 1;
	return tb_http_client_start(val->s->core->loop, &r, http_done, val, &val->call);
}

static void alpn_done(int err, const struct tb_http_client_resp *resp, void *arg)
{
	struct acme_validation *val = arg;
	val->call = NULL;
	if (val->canceled || err == TB_ERR_CANCELED) {
		val_free(val);
		return;
	}
	if (err) {
		set_conn_problem(val, err, "tls-alpn-01 handshake");
		finish(val);
		return;
	}
	if (!resp->alpn || strcmp(resp->alpn, ACME_TLS_ALPN_PROTOCOL) != 0) {
		acme_problem_set(&val->prob, ACME_PROB_TLS, "%s: Cannot negotiate ALPN protocol \"acme-tls/1\" for "
			"tls-alpn-01 challenge", val->v.ident.value);
		finish(val);
		return;
	}
	if (acme_tlsalpn01_check_cert(resp->peer_cert.p, resp->peer_cert.len, &val->v.ident, val->v.key_authz, &val->prob)) {
		finish(val);
		return;
	}
	passed(val);
}

static int start_alpn(struct acme_validation *val)
{
	static const char *const alpn[] = { ACME_TLS_ALPN_PROTOCOL, NULL };
	char sni[80 + ACME_MAX_IDENT_LEN];
	if (val->v.ident.type == ACME_IDENT_IP) {
		uint8_t a[16];
		int fam;
		if (acme_ip_parse(val->v.ident.value, strlen(val->v.ident.value), a, &fam) ||
			acme_ip_reverse_name(a, fam, sni, sizeof sni))
			return TB_ERR_INVALID;
	} else {
		snprintf(sni, sizeof sni, "%s", val->v.ident.value);
	}
	struct tb_http_client_req r;
	memset(&r, 0, sizeof r);
	r.url = val->url;
	r.timeout_ms = val->s->validation_timeout_ms;
	r.insecure = 1;
	r.alpn = alpn;
	r.sni = sni;
	r.want_peer_cert = 1;
	r.handshake_only = 1;
	r.connect_address = val->connect[0] ? val->connect : NULL;
	r.dial_check = dial_check; /* notes the target; refuses by policy when strict */
	r.dial_check_arg = val;
	return tb_http_client_start(val->s->core->loop, &r, alpn_done, val, &val->call);
}

/* Connects this hop: val->url at val->connect ("" = the HTTP client resolves the host). */
static void connect_now(struct acme_validation *val)
{
	val->refused[0] = 0;
	int err = strcmp(val->v.type, "http-01") == 0 ? start_http(val) : start_alpn(val);
	if (err) {
		set_conn_problem(val, err, "starting the connection");
		finish(val);
	}
}

static void addr_answer(enum tb_resolve_status st, const struct tb_rr *rrs, size_t n, const char *detail, void *arg)
{
	struct acme_validation *val = arg;
	(void)detail;
	if (val->canceled) {
		val_free(val);
		return;
	}
	for (size_t i = 0; st == TB_RESOLVE_OK && i < n; i++) {
		if (rrs[i].type == DNS_TYPE_A && rrs[i].rdata.len == 4) {
			acme_ip_format(rrs[i].rdata.p, AF_INET, val->connect, sizeof val->connect);
			connect_now(val);
			return;
		}
		if (rrs[i].type == DNS_TYPE_AAAA && rrs[i].rdata.len == 16) {
			acme_ip_format(rrs[i].rdata.p, AF_INET6, val->connect, sizeof val->connect);
			connect_now(val);
			return;
		}
	}
	struct tb_resolver *res = val->s->core->services ? val->s->core->services->resolver : NULL;
	if (!val->asked_aaaa && res && (st == TB_RESOLVE_OK || st == TB_RESOLVE_NXDOMAIN)) {
		val->asked_aaaa = 1;
		if (res->lookup(res->impl, val->host, DNS_TYPE_AAAA, ACME_DNS_TIMEOUT_MS, addr_answer, val) == 0)
			return;
	}
	if (!val->s->strict && acme_is_lab_name(val->s, val->host)) {
		snprintf(val->connect, sizeof val->connect, "127.0.0.1");
		connect_now(val);
		return;
	}
	acme_problem_set(&val->prob, ACME_PROB_DNS, "DNS problem: %s looking up A/AAAA for %s",
		st == TB_RESOLVE_NXDOMAIN ? "NXDOMAIN" : st == TB_RESOLVE_OK ? "no addresses" : "failure", val->host);
	finish(val);
}

/*
 * Finds the address for val->host, on the first hop and after every redirect
 * to a new host: an IP literal as it is, else the resolver's A/AAAA answer,
 * else (no resolver) getaddrinfo in the HTTP client. Under the lab policy a
 * lab name nobody resolves is dialled at 127.0.0.1.
 */
static void hop(struct acme_validation *val)
{
	val->connect[0] = 0;
	val->asked_aaaa = 0;
	if (host_is_ip(val->host)) {
		snprintf(val->connect, sizeof val->connect, "%s", val->host);
		connect_now(val);
		return;
	}
	struct tb_resolver *res = val->s->core->services ? val->s->core->services->resolver : NULL;
	if (res && res->lookup(res->impl, val->host, DNS_TYPE_A, ACME_DNS_TIMEOUT_MS, addr_answer, val) == 0)
		return;
	if (!val->s->strict && acme_is_lab_name(val->s, val->host))
		snprintf(val->connect, sizeof val->connect, "127.0.0.1");
	connect_now(val);
}

/* ------------------------------------------------------------------ */
/* dns-01                                                                */
/* ------------------------------------------------------------------ */

static void txt_answer(enum tb_resolve_status st, const struct tb_rr *rrs, size_t n, const char *detail, void *arg)
{
	struct acme_validation *val = arg;
	if (val->canceled) {
		val_free(val);
		return;
	}
	char want[ACME_DNS01_TXT_LEN + 1];
	acme_dns01_txt(val->v.key_authz, want);
	if (st != TB_RESOLVE_OK && st != TB_RESOLVE_NXDOMAIN) {
		acme_problem_set(&val->prob, ACME_PROB_DNS, "DNS problem: %s looking up TXT for _acme-challenge.%s%s%s",
			st == TB_RESOLVE_TIMEOUT ? "query timed out" : "SERVFAIL", val->v.ident.value, detail ? ": " : "",
			detail ? detail : "");
		finish(val);
		return;
	}
	size_t seen = 0;
	for (size_t i = 0; i < n; i++) {
		if (rrs[i].type != DNS_TYPE_TXT)
			continue;
		seen++;
		char txt[ACME_TXT_MAX + 1];
		size_t tl = 0, p = 0;
		while (p < rrs[i].rdata.len) {
			size_t l = rrs[i].rdata.p[p++];
			if (p + l > rrs[i].rdata.len || tl + l > ACME_TXT_MAX)
				break;
			memcpy(txt + tl, rrs[i].rdata.p + p, l);
			tl += l;
			p += l;
		}
		txt[tl] = 0;
		if (tl == ACME_DNS01_TXT_LEN && memcmp(txt, want, tl) == 0) {
			passed(val);
			return;
		}
	}
	if (!seen)
		acme_problem_set(&val->prob, ACME_PROB_UNAUTHORIZED, "No TXT record found at _acme-challenge.%s",
			val->v.ident.value);
	else
		acme_problem_set(&val->prob, ACME_PROB_UNAUTHORIZED, "Incorrect TXT record found at _acme-challenge.%s",
			val->v.ident.value);
	finish(val);
}

/* ------------------------------------------------------------------ */
/* Driver                                                                */
/* ------------------------------------------------------------------ */

static void run_check(struct acme_validation *val)
{
	struct acme_svc *s = val->s;
	if (s->lab_always_valid) {
		passed(val);
		return;
	}
	struct tb_resolver *res = s->core->services ? s->core->services->resolver : NULL;
	if (strcmp(val->v.type, "dns-01") == 0) {
		char name[ACME_MAX_IDENT_LEN + 32];
		snprintf(name, sizeof name, "_acme-challenge.%s", val->v.ident.value);
		if (!res) {
			acme_problem_set(&val->prob, ACME_PROB_DNS, "DNS problem: no resolver is configured for dns-01");
			finish(val);
			return;
		}
		if (res->lookup(res->impl, name, DNS_TYPE_TXT, ACME_DNS_TIMEOUT_MS, txt_answer, val)) {
			acme_problem_set(&val->prob, ACME_PROB_DNS, "DNS problem: lookup of %s could not start", name);
			finish(val);
		}
		return;
	}
	snprintf(val->host, sizeof val->host, "%s", val->v.ident.value);
	int v6 = strchr(val->v.ident.value, ':') != NULL;
	if (strcmp(val->v.type, "http-01") == 0)
		snprintf(val->url, sizeof val->url, "http://%s%s%s:%d/.well-known/acme-challenge/%s", v6 ? "[" : "",
			val->v.ident.value, v6 ? "]" : "", s->http01_port, val->v.token);
	else
		snprintf(val->url, sizeof val->url, "https://%s%s%s:%d/", v6 ? "[" : "", val->v.ident.value, v6 ? "]" : "",
			s->tlsalpn01_port);
	hop(val);
}

static void delay_fired(uv_timer_t *t)
{
	struct acme_validation *val = t->data;
	if (val->canceled) {
		val_free(val);
		return;
	}
	run_check(val);
}

/* A validation with a running slot and its challenge stored: go. */
static void begin(struct acme_validation *val)
{
	struct acme_svc *s = val->s;
	val->begun = 1;
	val->started = tb_metrics_now();
	if (s->lab_delay_ms > 0) {
		val->timer = malloc(sizeof *val->timer);
		if (val->timer && uv_timer_init(s->core->loop, val->timer) == 0) {
			val->timer->data = val;
			uv_timer_start(val->timer, delay_fired, (uint64_t)s->lab_delay_ms, 0);
			return;
		}
		free(val->timer);
		val->timer = NULL;
	}
	run_check(val);
}

static int64_t account_running(const struct acme_svc *s, const char *account)
{
	int64_t n = 0;
	for (const struct acme_validation *v = s->vals; v; v = v->next)
		n += v->slot && strcmp(v->account, account) == 0;
	return n;
}

#define DISPATCH_MEMO 64 /* accounts at their cap remembered during one scan */

/*
 * Starts waiting validations, oldest first, while running slots are free;
 * one whose account is at its cap is passed over (and keeps its place).
 * Not re-entered: a validation that ends at once while being started frees
 * its slot into this loop.
 */
static void dispatch(struct acme_svc *s)
{
	if (s->stopping || s->vals_dispatching)
		return;
	s->vals_dispatching = 1;
	while (s->vals_running < s->max_validations) {
		const char *full[DISPATCH_MEMO];
		size_t n_full = 0;
		struct acme_validation *pick = NULL;
		/* s->vals is in reservation order: the first that may run is the oldest. */
		for (struct acme_validation *v = s->vals; v && !pick; v = v->next) {
			if (v->slot || v->begun || !v->ready)
				continue;
			int known_full = 0;
			for (size_t i = 0; i < n_full && !known_full; i++)
				known_full = strcmp(full[i], v->account) == 0;
			if (known_full)
				continue;
			if (account_running(s, v->account) >= s->max_validations_per_account) {
				if (n_full < DISPATCH_MEMO)
					full[n_full++] = v->account;
				continue;
			}
			pick = v;
		}
		if (!pick)
			break;
		pick->slot = 1;
		s->vals_queued--;
		s->vals_running++;
		begin(pick);
	}
	s->vals_dispatching = 0;
}

int acme_validate_reserve(struct acme_svc *s, const char *account, const struct acme_validation_req *v,
	struct acme_validation **out, int64_t *retry_after)
{
	*out = NULL;
	*retry_after = 0;
	if (s->stopping)
		return TB_ERR_STATE;
	int run = s->vals_running < s->max_validations && account_running(s, account) < s->max_validations_per_account;
	if (!run && s->vals_queued >= s->max_queued_validations) {
		/* About when the queue will have moved: one validation deadline per round of slots. */
		int64_t per = (int64_t)((s->validation_timeout_ms + 999) / 1000);
		int64_t wait = per * (1 + s->vals_queued / s->max_validations);
		*retry_after = wait < 1 ? 1 : wait > 3600 ? 3600 : wait;
		return TB_ERR_TOO_LARGE;
	}
	struct acme_validation *val = calloc(1, sizeof *val);
	if (!val)
		return TB_ERR_NOMEM;
	val->s = s;
	val->v = *v;
	snprintf(val->account, sizeof val->account, "%s", account);
	val->seq = ++s->vals_seq;
	if (!s->vals_tail)
		s->vals_tail = &s->vals;
	val->pprev = s->vals_tail;
	*s->vals_tail = val;
	s->vals_tail = &val->next;
	acme_svc_hold(s);
	if (run) {
		val->slot = 1;
		s->vals_running++;
	} else {
		s->vals_queued++;
	}
	*out = val;
	return 0;
}

void acme_validate_start(struct acme_validation *val)
{
	if (val->canceled) {
		val_free(val);
		return;
	}
	val->ready = 1;
	if (val->slot)
		begin(val);
	else
		dispatch(val->s);
}

void acme_validate_abort(struct acme_validation *val)
{
	val_free(val);
}

void acme_validate_cancel_all(struct acme_svc *s)
{
	struct acme_validation *val = s->vals;
	while (val) {
		struct acme_validation *next = val->next;
		val->canceled = 1;
		val_unlink(val);
		if (val->call) {
			struct tb_http_call *c = val->call;
			val->call = NULL;
			tb_http_client_cancel(c); /* runs the callback, which frees val */
		} else if (val->timer && uv_is_active((uv_handle_t *)val->timer)) {
			uv_timer_stop(val->timer);
			val_free(val);
		} else if (val->ready && !val->begun) {
			val_free(val); /* waiting in the queue: nothing in flight */
		}
		/* Reserved but not stored yet: acme_validate_start or _abort frees it. A resolver
		 * lookup or store job in flight frees val when it answers. */
		val = next;
	}
}

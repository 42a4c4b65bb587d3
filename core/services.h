/*
 * Service interfaces between subsystems. One subsystem provides, another
 * consumes, and neither includes the other's headers; an external provider
 * (an upstream resolver, a remote CT log) can fill the same slot.
 */
#ifndef TB_SERVICES_H
#define TB_SERVICES_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* ---- tb_resolver: DNS lookups for the CA (dns-01 TXT, CAA, A/AAAA) ---- */

enum tb_resolve_status {
	TB_RESOLVE_OK = 0,        /* answer (possibly empty: NODATA) */
	TB_RESOLVE_NXDOMAIN = 1,
	TB_RESOLVE_SERVFAIL = 2,
	TB_RESOLVE_TIMEOUT = 3,
	TB_RESOLVE_REFUSED = 4,
	TB_RESOLVE_ERROR = 5,     /* malformed answer or local failure */
};

struct tb_rr {
	uint16_t type;
	uint32_t ttl;
	struct tb_buf rdata;      /* wire-format RDATA, uncompressed */
};

/* rrs (of the asked type, after CNAME following) are valid only during the call. */
typedef void (*tb_resolve_cb)(enum tb_resolve_status status, const struct tb_rr *rrs, size_t n,
	const char *detail, void *arg);

struct tb_resolver {
	void *impl;
	/* name: presentation form; timeout_ms: whole-lookup deadline. Returns 0 or an error (cb not called). */
	int (*lookup)(void *impl, const char *name, uint16_t qtype, uint64_t timeout_ms,
		tb_resolve_cb cb, void *arg);
};

/* ---- tb_ct_submitter: precertificates and certificates to a CT log ---- */

/* sct: one TLS-encoded SignedCertificateTimestamp, valid only during the call. */
typedef void (*tb_sct_cb)(int status, struct tb_buf sct, void *arg);

struct tb_ct_submitter {
	void *impl;
	/* What the SCTs it returns say: the log's name and id (has_log_id 0: unknown). */
	const char *name;
	uint8_t log_id[32];
	int has_log_id;
	/* chain[0] is the (pre)certificate DER, then its issuers. */
	int (*submit)(void *impl, const struct tb_buf *chain, size_t n, int precert,
		tb_sct_cb cb, void *arg);
};

struct tb_services {
	struct tb_resolver *resolver;         /* NULL until a provider registers */
	struct tb_ct_submitter *ct[8];        /* logs the CA submits to */
	size_t n_ct;
};

#endif

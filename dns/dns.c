/*
 * DESIGN: the dns subsystem.
 *
 * Config: one `dns { ... }` section (option table below). configure() checks
 * every option and loads every zone (inline master-file lines and/or a master
 * file), so all errors appear before anything starts, each naming its option
 * (and line/column for zone data). start() opens the UDP and TCP listeners
 * (server.c) and registers the tb_resolver service, which answers the CA from
 * the same local zones and forwards the rest (forward.c) or, with
 * dns.iterate, resolves it from the root (iterate.c). Lookups always
 * complete asynchronously, so callers never see their callback before
 * lookup() returns: a local answer waits for the next loop turn in a struct
 * dns_pending, and a forwarded one is delivered the same way
 * (dns_resolver_deliver) when the upstream answers.
 *
 * Store (db.c, the only DNS file with SQL): table dns_update_journal records
 * dynamic updates (RFC 2136) and dns_zone_serial the serial each zone reached,
 * so updates survive restarts; dns_tsig_seen the signed updates accepted
 * within their fudge window, so a replay is refused after a restart too.
 *
 * Size: past 900 lines. The option table (its help text is what `trustbox
 * config doc` prints) and configure()'s checks of every option take half;
 * the tb_resolver service (pending lookups, delivery) is the part to move
 * out next.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/log.h"
#include "core/services.h"
#include "core/subsystem.h"
#include "core/tls.h"
#include "dns/dns.h"
#include "dns/dns_internal.h"
#include "dns/metrics.h"
#include "dns/dnssec.h"

#define DNS_ZONE_FILE_MAX (64u << 20) /* bytes of one master file */
#define DNS_RESOLVE_RRS_MAX 256       /* records one resolver answer carries */
#define DNS_LISTEN_DEFAULT "[\"127.0.0.1:5353\",\"[::1]:5353\"]"
/*
 * DoT comes with the default listeners only: a configuration that moves
 * listen (every test does, to a free port) picks its own tls_listen rather
 * than competing for this fixed port.
 */
#define DNS_TLS_LISTEN_LAB "127.0.0.1:8853"

/* The lab zone: any name under lab.test resolves to the host, and CAA names this CA. */
#define LAB_ZONE_DEFAULT                                                                   \
	"[{\"name\":\"lab.test\",\"records\":["                                           \
	"\"@ 60 IN SOA ns.lab.test. hostmaster.lab.test. 1 3600 600 86400 60\","          \
	"\"@ NS ns\",\"ns A 127.0.0.1\",\"ns AAAA ::1\","                                 \
	"\"@ A 127.0.0.1\",\"@ AAAA ::1\",\"* A 127.0.0.1\",\"* AAAA ::1\","              \
	"\"@ CAA 0 issue \\\"trustbox.test\\\"\",\"@ CAA 0 issuewild \\\"trustbox.test\\\"\"]}]"

static const struct tb_option zone_options[] = {
	{ .name = "name", .type = TB_OPT_STRING, .help = "zone apex, e.g. \"lab.test\"", .required = 1 },
	{ .name = "file", .type = TB_OPT_STRING, .help = "RFC 1035 master file loaded into the zone ($INCLUDE is refused)" },
	{ .name = "records", .type = TB_OPT_STRINGS, .def = "[]",
		.help = "records in master-file syntax, one per string, names relative to the zone" },
	{ .name = "ttl", .type = TB_OPT_INT, .def = "300", .help = "TTL of records that give none",
		.min = 0, .max = 2147483647 },
	TB_OPTIONS_END
};

static const struct tb_option key_options[] = {
	{ .name = "name", .type = TB_OPT_STRING, .help = "key name, as clients send it", .required = 1 },
	{ .name = "algorithm", .type = TB_OPT_ENUM, .def = "\"hmac-sha256\"", .help = "TSIG algorithm",
		.choices = "hmac-sha256" },
	{ .name = "secret", .type = TB_OPT_STRING, .help = "base64 secret (16 to 64 bytes)", .required = 1 },
	{ .name = "zones", .type = TB_OPT_STRINGS, .required = 1,
		.help = "local zones this key may update (apex names, at most 16); other zones are REFUSED" },
	TB_OPTIONS_END
};

static const struct tb_option forwarder_options[] = {
	{ .name = "zone", .type = TB_OPT_STRING, .def = "\".\"",
		.help = "names at or below this zone go to these servers (the longest zone wins)" },
	{ .name = "servers", .type = TB_OPT_STRINGS, .help = "upstream resolvers, \"host:port\" (port 53 when absent)",
		.required = 1 },
	TB_OPTIONS_END
};

static const struct tb_option dns_options[] = {
	{ .name = "enabled", .type = TB_OPT_BOOL, .def = "true", .help = "run the DNS server" },
	{ .name = "listen", .type = TB_OPT_STRINGS, .def = DNS_LISTEN_DEFAULT,
		.help = "UDP+TCP listen addresses (\"host:port\", \"[v6]:port\"; port 0 picks one)" },
	{ .name = "tls_listen", .type = TB_OPT_STRINGS,
		.help = "DNS over TLS (RFC 7858) listen addresses (\"host:port\"; port 0 picks one), with the HTTPS "
			"listeners' certificate from trustbox's CA and ALPN \"dot\"; {} serves none. When not given: "
			"\"" DNS_TLS_LISTEN_LAB "\" if listen is left at its default (the lab set-up), none otherwise" },
	{ .name = "udp_payload", .type = TB_OPT_INT, .def = "1232",
		.help = "largest UDP response we send with EDNS (512 without)", .min = 512, .max = 4096 },
	{ .name = "tcp_idle_ms", .type = TB_OPT_INT, .def = "10000",
		.help = "close TCP connections idle this long (RFC 7766)", .min = 100, .max = 600000 },
	{ .name = "tcp_clients", .type = TB_OPT_INT, .def = "256",
		.help = "open TCP connections at most; a new one beyond it takes the place of the oldest "
			"connection with no answer pending (idle, or a query still arriving), or is refused when "
			"there is none",
		.min = 1, .max = DNS_TCP_CLIENTS_MAX },
	{ .name = "tcp_clients_per_address", .type = TB_OPT_INT, .def = "64",
		.help = "open TCP connections from one client IP address, shed the same way (the oldest such "
			"connection of that address goes first)",
		.min = 1, .max = DNS_TCP_CLIENTS_MAX },
	{ .name = "tcp_queue_bytes", .type = TB_OPT_INT, .def = "1048576",
		.help = "answer bytes queued on one TCP connection (not yet taken by the client) before it stops "
			"reading queries; it resumes as the client reads",
		.min = 65536, .max = 67108864 },
	{ .name = "tcp_queue_bytes_total", .type = TB_OPT_INT, .def = "33554432",
		.help = "answer bytes queued on all TCP connections together before every connection with "
			"answers queued stops reading queries",
		.min = 1048576, .max = 1073741824 },
	{ .name = "allow_query", .type = TB_OPT_STRINGS, .def = "[\"any\"]",
		.help = "client prefixes that may query (\"any\", \"10.0.0.0/8\", \"::1\")" },
	{ .name = "allow_recursion", .type = TB_OPT_STRINGS, .def = "[\"127.0.0.0/8\",\"::1/128\"]",
		.help = "client prefixes that may have names outside local zones resolved" },
	{ .name = "allow_update", .type = TB_OPT_STRINGS, .def = "[\"127.0.0.0/8\",\"::1/128\"]",
		.help = "client prefixes that may send dynamic updates (which must still be signed); others get REFUSED" },
	{ .name = "zones", .type = TB_OPT_TABLES, .def = LAB_ZONE_DEFAULT,
		.help = "local authoritative zones (given zones replace the default lab.test)",
		.children = zone_options },
	{ .name = "tsig_keys", .type = TB_OPT_TABLES, .def = "[]",
		.help = "TSIG keys (RFC 8945) allowed to send dynamic updates, each to its own zones",
		.children = key_options },
	{ .name = "forwarders", .type = TB_OPT_TABLES, .def = "[]",
		.help = "upstream resolvers for names outside the local zones", .children = forwarder_options },
	{ .name = "iterate", .type = TB_OPT_BOOL, .def = "true",
		.help = "resolve names outside the local zones and the forward zones iteratively, from the root hints "
			"(clients in allow_recursion, RD set); false: such names are REFUSED" },
	{ .name = "root_hints", .type = TB_OPT_STRING,
		.help = "master file with the root's NS records and their A/AAAA addresses, replacing the built-in "
			"IANA root hints (for labs)" },
	{ .name = "iterate_queries_max", .type = TB_OPT_INT, .def = "64",
		.help = "upstream queries one client query may cause while iterating, NS address lookups included "
			"(then SERVFAIL, EDE 0)", .min = 4, .max = 1000 },
	{ .name = "iterate_referrals_max", .type = TB_OPT_INT, .def = "16",
		.help = "referrals followed for one client query, CNAME targets included (then SERVFAIL, EDE 0)",
		.min = 2, .max = 100 },
	{ .name = "iterate_ns_lookups_max", .type = TB_OPT_INT, .def = "4",
		.help = "NS names without glue resolved per delegation before it counts as unreachable (EDE 22)",
		.min = 1, .max = 16 },
	{ .name = "iterate_0x20", .type = TB_OPT_BOOL, .def = "true",
		.help = "randomise the case of the question's letters in iterated queries and drop answers that do not "
			"echo it exactly (draft-vixie-dnsext-dns0x20); a server that never echoes the case is asked in "
			"lower case instead, remembered as iterate_infra_ttl says" },
	{ .name = "iterate_qname_minimisation", .type = TB_OPT_BOOL, .def = "true",
		.help = "ask each server only for the next label below its zone (RFC 9156, with type A), relaxed as "
			"Unbound's default: after NXDOMAIN or an error for a shortened name the full name is asked" },
	{ .name = "iterate_infra_size", .type = TB_OPT_INT, .def = "10000",
		.help = "authoritative server addresses whose round-trip time, back-off and workarounds (no EDNS, no "
			"0x20) are remembered for choosing servers; the least recently used goes first (0: none)",
		.min = 0, .max = 1000000 },
	{ .name = "iterate_infra_ttl", .type = TB_OPT_INT, .def = "900",
		.help = "seconds a server's round-trip time, back-off and workarounds are remembered after its last "
			"exchange", .min = 1, .max = 86400 },
	{ .name = "iterate_deleg_cache_size", .type = TB_OPT_INT, .def = "10000",
		.help = "zone cuts (NS sets with their servers' addresses) kept from referrals, so that a cache miss "
			"starts at the closest known cut of its name rather than the root; the least recently used goes "
			"first (0: every miss starts at the root)", .min = 0, .max = 1000000 },
	{ .name = "iterate_deleg_ttl_max", .type = TB_OPT_INT, .def = "86400",
		.help = "the longest, in seconds, a zone cut's NS set or a server address is kept, whatever its TTL",
		.min = 1, .max = 604800 },
	{ .name = "cname_max", .type = TB_OPT_INT, .def = "10",
		.help = "CNAME and DNAME links followed for one iterated query (then SERVFAIL, EDE 0)",
		.min = 1, .max = 32 },
	{ .name = "dnssec", .type = TB_OPT_ENUM, .def = "\"validate\"", .choices = "off|validate",
		.help = "DNSSEC validation of iterated and forwarded answers: \"validate\" asks with DO (and CD when "
			"forwarding), checks the chain of trust from "
			"the trust anchors, sets AD on secure answers for clients that ask (DO or AD) and answers bogus "
			"data with SERVFAIL and an EDE (unless the client set CD); a forward zone for a private, unsigned "
			"name under a signed parent needs that zone in negative_trust_anchors" },
	{ .name = "trust_anchor_file", .type = TB_OPT_STRING,
		.help = "master file of DS or DNSKEY records for the root, replacing the built-in root KSK-2017 and "
			"KSK-2024 anchors (for labs)" },
	{ .name = "negative_trust_anchors", .type = TB_OPT_STRINGS, .def = "[]",
		.help = "zones whose DNSSEC is not checked (RFC 7646): answers at or below them are treated as "
			"insecure (no AD, never bogus)" },
	{ .name = "dnssec_skew", .type = TB_OPT_INT, .def = "300",
		.help = "seconds of clock skew allowed at both ends of a signature's validity window", .min = 0,
		.max = 86400 },
	{ .name = "dnssec_sig_max", .type = TB_OPT_INT, .def = "64",
		.help = "signature checks one client query may cause (KeyTrap, CVE-2023-50387; then SERVFAIL, EDE 6)",
		.min = 4, .max = 1000 },
	{ .name = "dnssec_rrset_sig_max", .type = TB_OPT_INT, .def = "8",
		.help = "signature checks per RRset (then SERVFAIL, EDE 6)", .min = 1, .max = 64 },
	{ .name = "dnssec_keytag_collisions_max", .type = TB_OPT_INT, .def = "4",
		.help = "DNSKEYs sharing a signature's key tag that are tried (then SERVFAIL, EDE 6)", .min = 1,
		.max = 64 },
	{ .name = "dnssec_nsec3_iterations_max", .type = TB_OPT_INT, .def = "150",
		.help = "NSEC3 proofs with more iterations count as insecure (RFC 9276, EDE 27)", .min = 0,
		.max = 2500 },
	{ .name = "dnssec_nsec3_hashes_max", .type = TB_OPT_INT, .def = "64",
		.help = "NSEC3 hash computations one client query may cause (CVE-2023-50868; then SERVFAIL, EDE 6)",
		.min = 4, .max = 1000 },
	{ .name = "forward_attempt_ms", .type = TB_OPT_INT, .def = "1000",
		.help = "wait this long for one upstream answer before trying the next server (forwarding and "
			"iteration)", .min = 50, .max = 30000 },
	{ .name = "forward_timeout_ms", .type = TB_OPT_INT, .def = "4000",
		.help = "give up on a forwarded or iterated query (SERVFAIL) after this long", .min = 100,
		.max = 60000 },
	{ .name = "use_0x20", .type = TB_OPT_BOOL, .def = "false",
		.help = "randomise the case of forwarded query names and require it echoed (draft-vixie-dnsext-dns0x20)" },
	{ .name = "cache_bytes", .type = TB_OPT_INT, .def = "16777216",
		.help = "memory the resolver's cache may hold, in bytes, every entry counted at its allocated size "
			"(least recently used entries go first; 0: no cache)", .min = 0, .max = 68719476736LL },
	{ .name = "cache_size", .type = TB_OPT_INT, .def = "1000000",
		.help = "answers the cache keeps at most, a cap on entries besides cache_bytes (0: no cache)",
		.min = 0, .max = 10000000 },
	{ .name = "serve_stale_seconds", .type = TB_OPT_INT, .def = "86400",
		.help = "keep expired cache entries this long and answer with them (TTL 30, EDE 3) when every "
			"upstream fails, as RFC 8767 (0: off)", .min = 0, .max = 604800 },
	{ .name = "prefetch", .type = TB_OPT_BOOL, .def = "true",
		.help = "refresh a cached answer in the background when it is asked for in the last tenth of its TTL" },
	{ .name = "querylog_size", .type = TB_OPT_INT, .def = "1000",
		.help = "answers the query log keeps (the newest; the log is off at start and turned on through "
			"PUT /api/v1/dns/querylog until a restart; 0: it cannot be turned on)",
		.min = 0, .max = DNS_QLOG_MAX },
	{ .name = "policy", .type = TB_OPT_FUNCTION,
		.help = "policy(name, type, client) per query: nil answers normally, \"refuse\" (REFUSED, EDE 15), "
			"\"nxdomain\" (EDE 17), or an IP address to answer A/AAAA with" },
	{ .name = "doh_path", .type = TB_OPT_STRING, .def = "\"/dns-query\"",
		.help = "path of DNS over HTTPS (RFC 8484, GET ?dns= and POST application/dns-message) on every "
			"HTTP listener, over HTTP/1.1 and HTTP/2; \"\" serves none" },
	{ .name = "lab_key", .type = TB_OPT_BOOL, .def = "true",
		.help = "when the zone lab.test is served, generate a TSIG key named lab.test. that may update "
			"only that zone, kept in the store and written to <data_dir>/lab.test.tsig as "
			"hmac-sha256:NAME:SECRET" },
	TB_OPTIONS_END
};

static const struct tb_section_def dns_section = {
	.name = "dns",
	.options = dns_options,
	.help = "DNS server: local authoritative zones on UDP and TCP, and the resolver the CA uses",
};

static const struct tb_section_def *const dns_sections[] = { &dns_section, NULL };

/* ---- zones from config ---- */

struct load_ctx {
	struct dns_zone *z;
	int err;
};

static int load_rr(void *arg, const struct dns_rr *rr)
{
	struct load_ctx *c = arg;
	if (rr->rclass != DNS_C_IN)
		return c->err = TB_ERR_UNSUPPORTED;
	c->err = dns_zone_add_rr(c->z, rr);
	return c->err;
}

static const char *load_err_text(int err)
{
	switch (err) {
	case TB_ERR_INVALID: return "record outside the zone or invalid here";
	case TB_ERR_EXISTS: return "CNAME and other data at the same name";
	case TB_ERR_UNSUPPORTED: return "only class IN is served";
	default: return tb_strerror(err);
	}
}

static int load_zone(struct dns_server *s, const cJSON *zc, int idx, char *err, size_t errlen)
{
	const char *zname = tb_cfg_str(zc, "name");
	uint8_t origin[DNS_NAME_MAX];
	size_t ol;
	char tmp[300];
	snprintf(tmp, sizeof tmp, "%s%s", zname, zname[0] && zname[strlen(zname) - 1] == '.' ? "" : ".");
	if (dns_name_from_text(tmp, strlen(tmp), NULL, origin, &ol)) {
		snprintf(err, errlen, "dns.zones[%d].name: not a domain name: \"%s\"", idx, zname);
		return TB_ERR_CONFIG;
	}
	struct dns_zone *z;
	int e = dns_zone_new(&s->zones, origin, &z);
	if (e) {
		snprintf(err, errlen, "dns.zones[%d].name: %s", idx,
			e == TB_ERR_EXISTS ? "zone given twice" : tb_strerror(e));
		return TB_ERR_CONFIG;
	}
	uint32_t ttl = (uint32_t)tb_cfg_int(zc, "ttl");
	struct load_ctx lc = { z, 0 };
	static const uint8_t lab[] = "\3lab\4test";
	const char *zf = tb_cfg_str(zc, "file");
	z->source = dns_name_eq(origin, lab) ? DNS_ZONE_LAB : zf && *zf ? DNS_ZONE_FILE : DNS_ZONE_CONFIG;
	struct dns_zone_error ze;
	const char *file = tb_cfg_str(zc, "file");
	if (file && *file) {
		struct tb_bytes text = { 0 };
		e = tb_read_file(file, DNS_ZONE_FILE_MAX, &text);
		if (!e && !tb_bytes_cstr(&text))
			e = TB_ERR_NOMEM;
		if (e) {
			tb_bytes_free(&text);
			snprintf(err, errlen, "dns.zones[%d].file: cannot read %s: %s", idx, file, tb_strerror(e));
			return TB_ERR_CONFIG;
		}
		e = dns_zonefile_parse((const char *)text.p, text.len, origin, ttl, load_rr, &lc, &ze);
		tb_bytes_free(&text);
		if (e) {
			snprintf(err, errlen, "dns.zones[%d].file: %s:%u:%u: %s", idx, file, ze.line, ze.col,
				lc.err ? load_err_text(lc.err) : ze.msg);
			return TB_ERR_CONFIG;
		}
	}
	const cJSON *recs = tb_cfg_get(zc, "records"), *it;
	int k = 0;
	cJSON_ArrayForEach(it, recs) {
		k++;
		const char *line = cJSON_GetStringValue(it);
		if (!line)
			continue;
		lc.err = 0;
		e = dns_zonefile_parse(line, strlen(line), origin, ttl, load_rr, &lc, &ze);
		if (e) {
			snprintf(err, errlen, "dns.zones[%d].records[%d]: column %u: %s (\"%.60s\")", idx, k,
				ze.col, lc.err ? load_err_text(lc.err) : ze.msg, line);
			return TB_ERR_CONFIG;
		}
	}
	char fe[200];
	if (dns_zone_finish(z, fe, sizeof fe)) {
		snprintf(err, errlen, "dns.zones[%d]: %s", idx, fe);
		return TB_ERR_CONFIG;
	}
	return 0;
}

/* ---- the resolver service (local zones) ---- */

struct dns_pending {
	uv_timer_t t;
	struct dns_server *s;
	struct dns_pending *prev, *next;
	tb_resolve_cb cb;
	void *arg;
	enum tb_resolve_status status;
	char detail[160];
	int counted;          /* closed by a stop: part of the server's closing count */
	size_t n;
	struct tb_rr rrs[DNS_RESOLVE_RRS_MAX];
	struct tb_bytes data;
};

static void pending_closed(uv_handle_t *h)
{
	struct dns_pending *p = h->data;
	struct dns_server *s = p->s;
	int counted = p->counted;
	tb_bytes_free(&p->data);
	free(p);
	if (counted && --s->closing == 0 && s->stop_done)
		s->stop_done(s->stop_arg);
}

static void pending_fire(uv_timer_t *t)
{
	struct dns_pending *p = t->data;
	struct dns_server *s = p->s;
	if (p->prev)
		p->prev->next = p->next;
	else
		s->pending = p->next;
	if (p->next)
		p->next->prev = p->prev;
	/* fix up rdata pointers: the byte buffer may have moved while filling */
	size_t off = 0;
	for (size_t i = 0; i < p->n; i++) {
		p->rrs[i].rdata.p = p->data.p + off;
		off += p->rrs[i].rdata.len;
	}
	p->cb(p->status, p->rrs, p->n, p->detail[0] ? p->detail : NULL, p->arg);
	uv_close((uv_handle_t *)&p->t, pending_closed);
}

static void resolve_local(struct dns_server *s, const uint8_t *name, uint16_t qtype,
	struct dns_pending *p)
{
	char nb[DNS_NAME_TEXT_MAX];
	const struct dns_zone *z = dns_zoneset_find(&s->zones, name);
	if (!z) {
		p->status = TB_RESOLVE_SERVFAIL;
		snprintf(p->detail, sizeof p->detail, "%s is in no local zone, no forwarder covers it and iteration is off",
			dns_name_str(name, nb, sizeof nb));
		return;
	}
	struct dns_lookup lk;
	dns_zone_lookup(z, name, qtype, &lk);
	if (lk.referral) {
		p->status = TB_RESOLVE_SERVFAIL;
		snprintf(p->detail, sizeof p->detail, "%s is delegated away from the local zone",
			dns_name_str(name, nb, sizeof nb));
		return;
	}
	if (lk.rcode == DNS_RCODE_NXDOMAIN) {
		p->status = TB_RESOLVE_NXDOMAIN;
		snprintf(p->detail, sizeof p->detail, "%s does not exist", dns_name_str(name, nb, sizeof nb));
		return;
	}
	p->status = TB_RESOLVE_OK;
	for (size_t i = 0; i < lk.n_an; i++) {
		const struct dns_rrset *rs = lk.an[i].rs;
		if (rs->type != qtype && qtype != DNS_T_ANY)
			continue;
		for (size_t k = 0; k < rs->n && p->n < DNS_RESOLVE_RRS_MAX; k++) {
			size_t l = dns_rd_len(rs->rd[k]);
			p->rrs[p->n].type = rs->type;
			p->rrs[p->n].ttl = rs->ttl;
			p->rrs[p->n].rdata.len = l;
			tb_bytes_append(&p->data, rs->rd[k] + 2, l);
			p->n++;
		}
	}
	/* a CNAME chain that leaves the local zones cannot be finished without a forwarder */
	if (p->n == 0 && lk.n_an && lk.an[lk.n_an - 1].rs->type == DNS_T_CNAME && qtype != DNS_T_CNAME) {
		const uint8_t *target = lk.an[lk.n_an - 1].rs->rd[0] + 2;
		if (!dns_name_is_sub(target, z->origin)) {
			p->status = TB_RESOLVE_SERVFAIL;
			snprintf(p->detail, sizeof p->detail, "CNAME to %s leaves the local zones",
				dns_name_str(target, nb, sizeof nb));
		}
	}
	if (p->data.err) {
		p->status = TB_RESOLVE_ERROR;
		p->n = 0;
		snprintf(p->detail, sizeof p->detail, "out of memory");
	}
}

static void pending_queue(struct dns_server *s, struct dns_pending *p)
{
	uv_timer_init(s->loop, &p->t);
	p->t.data = p;
	p->next = s->pending;
	if (s->pending)
		s->pending->prev = p;
	s->pending = p;
	uv_timer_start(&p->t, pending_fire, 0, 0);
}

void dns_resolver_deliver(struct dns_server *s, const struct dns_fwd_client *cl,
	const struct dns_cache_entry *e, enum tb_resolve_status status, const char *why)
{
	struct dns_pending *p = calloc(1, sizeof *p);
	if (!p) {
		cl->cb(TB_RESOLVE_ERROR, NULL, 0, "out of memory", cl->arg);
		return;
	}
	p->s = s;
	p->cb = cl->cb;
	p->arg = cl->arg;
	p->status = status;
	if (why)
		snprintf(p->detail, sizeof p->detail, "%s", why);
	if (e) {
		uint8_t rcode;
		struct tb_rr rrs[DNS_RESOLVE_RRS_MAX];
		size_t n = dns_cache_entry_records(e, cl->qtype, rrs, DNS_RESOLVE_RRS_MAX, &rcode);
		for (size_t i = 0; i < n; i++) {
			p->rrs[i] = rrs[i];
			tb_bytes_append(&p->data, rrs[i].rdata.p, rrs[i].rdata.len);
		}
		p->n = n;
		p->status = rcode == DNS_RCODE_NXDOMAIN ? TB_RESOLVE_NXDOMAIN
			  : rcode == DNS_RCODE_NOERROR ? TB_RESOLVE_OK
						       : TB_RESOLVE_SERVFAIL;
		if (p->data.err) {
			p->n = 0;
			p->status = TB_RESOLVE_ERROR;
		}
	}
	if (s->stopping) {
		/* the stop drains pending lookups already queued; this one ends now */
		p->cb(TB_RESOLVE_ERROR, NULL, 0, "resolver is stopping", p->arg);
		tb_bytes_free(&p->data);
		free(p);
		return;
	}
	pending_queue(s, p);
}

static int resolver_lookup(void *impl, const char *name, uint16_t qtype, uint64_t timeout_ms,
	tb_resolve_cb cb, void *arg)
{
	struct dns_server *s = impl;
	if (s->stopping)
		return TB_ERR_STATE;
	uint8_t wire[DNS_NAME_MAX];
	size_t wl, nl = strlen(name);
	char tmp[DNS_NAME_TEXT_MAX];
	if (nl == 0 || nl + 2 > sizeof tmp)
		return TB_ERR_INVALID;
	snprintf(tmp, sizeof tmp, "%s%s", name, name[nl - 1] == '.' ? "" : ".");
	if (dns_name_from_text(tmp, strlen(tmp), NULL, wire, &wl))
		return TB_ERR_INVALID;
	struct dns_pending *p = calloc(1, sizeof *p);
	if (!p)
		return TB_ERR_NOMEM;
	p->s = s;
	p->cb = cb;
	p->arg = arg;
	const struct dns_forwarder *f = NULL;
	if (!dns_zoneset_find(&s->zones, wire) && ((f = dns_forwarder_find(s, wire)) != NULL || s->iterate)) {
		free(p);
		struct dns_fwd_client cl;
		memset(&cl, 0, sizeof cl);
		cl.kind = DNS_FWD_RESOLVER;
		memcpy(cl.qname, wire, wl);
		cl.qtype = qtype;
		cl.qclass = DNS_C_IN;
		cl.flags = DNS_F_RD;
		cl.cb = cb;
		cl.arg = arg;
		uint64_t t = timeout_ms && timeout_ms < s->fwd_deadline_ms ? timeout_ms : s->fwd_deadline_ms;
		if (f)
			dns_forward(s, f, &cl, t, NULL, 0);
		else
			dns_iterate(s, &cl, t, NULL, 0);
		return 0;
	}
	resolve_local(s, wire, qtype, p);
	pending_queue(s, p);
	return 0;
}

/* ---- the policy hook ---- */

/* Runs per query, so under core's hook limits (core.hook_deadline_ms, core.hook_max_instructions). */
enum dns_policy dns_policy_check(struct dns_server *s, const uint8_t *qname, uint16_t qtype,
	const struct sockaddr *from, uint8_t *addr, int *family)
{
	if (!s->L || s->policy_ref == LUA_NOREF || s->policy_ref == LUA_REFNIL)
		return DNS_POLICY_PASS;
	lua_State *L = s->L;
	char name[DNS_NAME_TEXT_MAX], tb[16], ip[INET6_ADDRSTRLEN] = "", err[256];
	dns_name_str(qname, name, sizeof name);
	if (from && from->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)from)->sin_addr, ip, sizeof ip);
	else if (from && from->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)from)->sin6_addr, ip, sizeof ip);
	int top = lua_gettop(L);
	lua_pushstring(L, name);
	lua_pushstring(L, dns_type_str(qtype, tb));
	lua_pushstring(L, ip);
	enum dns_policy out = DNS_POLICY_PASS;
	if (tb_cfg_call_hook(L, s->policy_ref, 3, 1, err, sizeof err)) {
		if (!s->policy_warned++)
			TB_WARN("dns", "policy hook failed (answering normally): %s", err);
	} else if (lua_type(L, -1) == LUA_TSTRING) {
		const char *r = lua_tostring(L, -1);
		if (strcmp(r, "refuse") == 0)
			out = DNS_POLICY_REFUSE;
		else if (strcmp(r, "nxdomain") == 0)
			out = DNS_POLICY_NXDOMAIN;
		else if (inet_pton(AF_INET, r, addr) == 1)
			out = DNS_POLICY_REWRITE, *family = AF_INET;
		else if (inet_pton(AF_INET6, r, addr) == 1)
			out = DNS_POLICY_REWRITE, *family = AF_INET6;
		else if (!s->policy_warned++)
			TB_WARN("dns", "policy hook returned \"%.40s\": expected nil, \"refuse\", \"nxdomain\" or an address", r);
	}
	lua_settop(L, top);
	return out;
}

/* ---- lifecycle ---- */

static void dns_free(void *state)
{
	struct dns_server *s = state;
	if (!s)
		return;
	dns_metrics_stop(s);
	dns_zoneset_free(&s->zones);
	dns_cache_free(&s->cache);
	dns_infra_free(&s->infra);
	dns_deleg_free(&s->deleg);
	dns_qlog_free(&s->qlog);
	tb_bytes_free(&s->anchors);
	dns_val_cache_free(s);
	tb_tls_server_free(s->tls);
	free(s);
}

/* A list of "host:port" strings (dns.listen, dns.tls_listen); NULL is an empty list. */
static int parse_addrs(const cJSON *list, const char *opt, int default_port, struct sockaddr_storage *addrs,
	size_t *n, char *err, size_t errlen)
{
	const cJSON *it;
	int k = 0;
	cJSON_ArrayForEach(it, list) {
		k++;
		const char *v = cJSON_GetStringValue(it);
		if (*n >= DNS_LISTEN_MAX) {
			snprintf(err, errlen, "dns.%s: at most %d addresses", opt, DNS_LISTEN_MAX);
			return TB_ERR_CONFIG;
		}
		if (!v || dns_parse_hostport(v, default_port, &addrs[*n])) {
			snprintf(err, errlen, "dns.%s[%d]: expected \"host:port\" or \"[v6]:port\", got \"%s\"", opt,
				k, v ? v : "?");
			return TB_ERR_CONFIG;
		}
		(*n)++;
	}
	return 0;
}

static int parse_acl(const cJSON *sec, const char *opt, struct dns_acl *acl, char *err, size_t errlen)
{
	const cJSON *it;
	int k = 0;
	cJSON_ArrayForEach(it, tb_cfg_get(sec, opt)) {
		k++;
		const char *v = cJSON_GetStringValue(it);
		if (!v || dns_acl_parse(acl, v)) {
			snprintf(err, errlen, "dns.%s[%d]: expected \"any\" or an address prefix, got \"%s\"", opt,
				k, v ? v : "?");
			return TB_ERR_CONFIG;
		}
	}
	return 0;
}

static int dns_configure(struct tb_core *core, void **state, char *err, size_t errlen)
{
	const cJSON *sec = tb_config_section(core->config, "dns");
	*state = NULL;
	if (!sec || !tb_cfg_bool(sec, "enabled"))
		return 0;
	struct dns_server *s = calloc(1, sizeof *s);
	if (!s)
		return TB_ERR_NOMEM;
	s->core = core;
	s->loop = core->loop;
	dns_zoneset_init(&s->zones);
	s->udp_payload = (uint16_t)tb_cfg_int(sec, "udp_payload");
	s->tcp_idle_ms = (uint64_t)tb_cfg_int(sec, "tcp_idle_ms");
	s->tcp_clients_max = (size_t)tb_cfg_int(sec, "tcp_clients");
	s->tcp_clients_per_address = (size_t)tb_cfg_int(sec, "tcp_clients_per_address");
	s->tcp_queue_bytes = (size_t)tb_cfg_int(sec, "tcp_queue_bytes");
	s->tcp_queue_bytes_total = (size_t)tb_cfg_int(sec, "tcp_queue_bytes_total");
	const cJSON *it;
	int k = 0;
	if (parse_addrs(tb_cfg_get(sec, "listen"), "listen", 53, s->listen_addr, &s->n_listen, err, errlen))
		goto fail;
	const cJSON *tls_listen = tb_cfg_get(sec, "tls_listen");
	cJSON *lab_listen = cJSON_Parse(DNS_LISTEN_DEFAULT);
	cJSON *lab_tls = NULL;
	if (!tls_listen && cJSON_Compare(tb_cfg_get(sec, "listen"), lab_listen, 1)) {
		lab_tls = cJSON_CreateStringArray((const char *const[]){ DNS_TLS_LISTEN_LAB }, 1);
		tls_listen = lab_tls;
	}
	int bad = parse_addrs(tls_listen, "tls_listen", 853, s->tls_listen_addr, &s->n_tls_listen, err, errlen);
	cJSON_Delete(lab_listen);
	cJSON_Delete(lab_tls);
	if (bad)
		goto fail;
	if (parse_acl(sec, "allow_query", &s->allow_query, err, errlen) ||
		parse_acl(sec, "allow_recursion", &s->allow_recursion, err, errlen) ||
		parse_acl(sec, "allow_update", &s->allow_update, err, errlen))
		goto fail;
	k = 0;
	cJSON_ArrayForEach(it, tb_cfg_get(sec, "zones")) {
		if (load_zone(s, it, ++k, err, errlen))
			goto fail;
	}
	k = 0;
	cJSON_ArrayForEach(it, tb_cfg_get(sec, "tsig_keys")) {
		k++;
		if (s->n_keys >= DNS_TSIG_KEYS_MAX) {
			snprintf(err, errlen, "dns.tsig_keys: at most %d keys", DNS_TSIG_KEYS_MAX);
			goto fail;
		}
		struct dns_tsig_key *key = &s->keys[s->n_keys];
		const char *kn = tb_cfg_str(it, "name"), *sec64 = tb_cfg_str(it, "secret");
		char tmp[300];
		size_t nl;
		snprintf(tmp, sizeof tmp, "%s%s", kn, kn[0] && kn[strlen(kn) - 1] == '.' ? "" : ".");
		if (dns_name_from_text(tmp, strlen(tmp), NULL, key->name, &nl)) {
			snprintf(err, errlen, "dns.tsig_keys[%d].name: not a domain name: \"%s\"", k, kn);
			goto fail;
		}
		struct tb_bytes b = { 0 };
		if (tb_base64_decode(&b, sec64, strlen(sec64)) || b.len < 16 || b.len > sizeof key->secret) {
			tb_bytes_free(&b);
			snprintf(err, errlen, "dns.tsig_keys[%d].secret: expected base64 of 16 to 64 bytes", k);
			goto fail;
		}
		memcpy(key->secret, b.p, b.len);
		key->secret_len = b.len;
		tb_crypto_wipe(b.p, b.len);
		tb_bytes_free(&b);
		/* the zones it may update: each one a zone served here, so a typo is an error now */
		const cJSON *zv;
		int j = 0;
		cJSON_ArrayForEach(zv, tb_cfg_get(it, "zones")) {
			j++;
			const char *v = cJSON_GetStringValue(zv);
			uint8_t zw[DNS_NAME_MAX];
			size_t zl;
			snprintf(tmp, sizeof tmp, "%s%s", v ? v : "", v && v[0] && v[strlen(v) - 1] == '.' ? "" : ".");
			if (!v || dns_name_from_text(tmp, strlen(tmp), NULL, zw, &zl)) {
				snprintf(err, errlen, "dns.tsig_keys[%d].zones[%d]: not a domain name: \"%s\"", k, j,
					v ? v : "?");
				goto fail;
			}
			const struct dns_zone *z = dns_zoneset_find(&s->zones, zw);
			if (!z || !dns_name_eq(z->origin, zw)) {
				snprintf(err, errlen, "dns.tsig_keys[%d].zones[%d]: \"%s\" is not a local zone (dns.zones)",
					k, j, v);
				goto fail;
			}
			if (key->n_zones >= DNS_TSIG_KEY_ZONES_MAX) {
				snprintf(err, errlen, "dns.tsig_keys[%d].zones: at most %d zones", k,
					DNS_TSIG_KEY_ZONES_MAX);
				goto fail;
			}
			memcpy(key->zones[key->n_zones++], zw, zl);
		}
		if (!key->n_zones) {
			snprintf(err, errlen, "dns.tsig_keys[%d].zones: at least one zone", k);
			goto fail;
		}
		s->n_keys++;
	}
	k = 0;
	cJSON_ArrayForEach(it, tb_cfg_get(sec, "forwarders")) {
		k++;
		if (s->n_fwd >= DNS_FWD_MAX) {
			snprintf(err, errlen, "dns.forwarders: at most %d zones", DNS_FWD_MAX);
			goto fail;
		}
		struct dns_forwarder *f = &s->fwd[s->n_fwd];
		const char *zn = tb_cfg_str(it, "zone");
		char tmp[300];
		size_t nl;
		snprintf(tmp, sizeof tmp, "%s%s", zn, zn[0] && zn[strlen(zn) - 1] == '.' ? "" : ".");
		if (dns_name_from_text(tmp, strlen(tmp), NULL, f->zone, &nl)) {
			snprintf(err, errlen, "dns.forwarders[%d].zone: not a domain name: \"%s\"", k, zn);
			goto fail;
		}
		const cJSON *sv;
		int j = 0;
		cJSON_ArrayForEach(sv, tb_cfg_get(it, "servers")) {
			j++;
			const char *v = cJSON_GetStringValue(sv);
			if (f->n >= DNS_FWD_SERVERS_MAX || !v || dns_parse_hostport(v, 53, &f->servers[f->n])) {
				snprintf(err, errlen, "dns.forwarders[%d].servers[%d]: expected \"host:port\" (at most %d), got \"%s\"",
					k, j, DNS_FWD_SERVERS_MAX, v ? v : "?");
				goto fail;
			}
			f->n++;
		}
		if (!f->n) {
			snprintf(err, errlen, "dns.forwarders[%d].servers: at least one server", k);
			goto fail;
		}
		s->n_fwd++;
	}
	s->fwd_timeout_ms = (uint64_t)tb_cfg_int(sec, "forward_attempt_ms");
	s->fwd_deadline_ms = (uint64_t)tb_cfg_int(sec, "forward_timeout_ms");
	s->use_0x20 = tb_cfg_bool(sec, "use_0x20");
	s->iterate = tb_cfg_bool(sec, "iterate");
	s->iter_queries_max = (size_t)tb_cfg_int(sec, "iterate_queries_max");
	s->iter_referrals_max = (size_t)tb_cfg_int(sec, "iterate_referrals_max");
	s->iter_ns_lookups_max = (size_t)tb_cfg_int(sec, "iterate_ns_lookups_max");
	s->cname_max = (size_t)tb_cfg_int(sec, "cname_max");
	s->iter_0x20 = tb_cfg_bool(sec, "iterate_0x20");
	s->iter_qmin = tb_cfg_bool(sec, "iterate_qname_minimisation");
	if (dns_infra_init(&s->infra, (size_t)tb_cfg_int(sec, "iterate_infra_size"),
		(uint64_t)tb_cfg_int(sec, "iterate_infra_ttl") * 1000)) {
		snprintf(err, errlen, "dns.iterate_infra_size: out of memory");
		goto fail;
	}
	if (dns_deleg_init(&s->deleg, (size_t)tb_cfg_int(sec, "iterate_deleg_cache_size"),
		(uint32_t)tb_cfg_int(sec, "iterate_deleg_ttl_max"))) {
		snprintf(err, errlen, "dns.iterate_deleg_cache_size: out of memory");
		goto fail;
	}
	const char *hints = tb_cfg_str(sec, "root_hints");
	if (hints && *hints) {
		struct tb_bytes text = { 0 };
		char he[300];
		int e = tb_read_file(hints, DNS_ROOT_HINTS_MAX, &text);
		if (e) {
			tb_bytes_free(&text);
			snprintf(err, errlen, "dns.root_hints: cannot read %s: %s", hints, tb_strerror(e));
			goto fail;
		}
		e = dns_root_hints_parse((const char *)text.p, text.len, &s->roots, he, sizeof he);
		tb_bytes_free(&text);
		if (e) {
			snprintf(err, errlen, "dns.root_hints: %s: %s", hints, he);
			goto fail;
		}
		s->roots_file = hints;
	} else if (dns_root_hints_builtin(&s->roots)) {
		snprintf(err, errlen, "dns: the built-in root hints do not parse");
		goto fail;
	}
	s->dnssec = strcmp(tb_cfg_str(sec, "dnssec"), "validate") == 0;
	s->dnssec_skew = (uint32_t)tb_cfg_int(sec, "dnssec_skew");
	s->dnssec_sig_max = (unsigned)tb_cfg_int(sec, "dnssec_sig_max");
	s->dnssec_rrset_sig_max = (unsigned)tb_cfg_int(sec, "dnssec_rrset_sig_max");
	s->dnssec_collisions_max = (unsigned)tb_cfg_int(sec, "dnssec_keytag_collisions_max");
	s->dnssec_nsec3_iter_max = (unsigned)tb_cfg_int(sec, "dnssec_nsec3_iterations_max");
	s->dnssec_nsec3_hash_max = (unsigned)tb_cfg_int(sec, "dnssec_nsec3_hashes_max");
	{
		const cJSON *it;
		int k = 0;
		cJSON_ArrayForEach(it, tb_cfg_get(sec, "negative_trust_anchors")) {
			const char *v = cJSON_GetStringValue(it);
			char tmp[DNS_NAME_TEXT_MAX];
			size_t wl, vl = v ? strlen(v) : 0;
			k++;
			if (s->n_nta >= DNS_NTA_MAX) {
				snprintf(err, errlen, "dns.negative_trust_anchors: at most %d", DNS_NTA_MAX);
				goto fail;
			}
			if (vl && vl + 2 <= sizeof tmp)
				snprintf(tmp, sizeof tmp, "%s%s", v, v[vl - 1] == '.' ? "" : ".");
			if (!vl || vl + 2 > sizeof tmp ||
				dns_name_from_text(tmp, strlen(tmp), NULL, s->nta[s->n_nta], &wl)) {
				snprintf(err, errlen, "dns.negative_trust_anchors[%d]: expected a domain name, got \"%s\"", k,
					v ? v : "?");
				goto fail;
			}
			s->n_nta++;
		}
	}
	const char *ta = tb_cfg_str(sec, "trust_anchor_file");
	{
		struct tb_bytes text = { 0 };
		char te[300];
		int e = 0;
		if (ta && *ta && (e = tb_read_file(ta, DNS_ROOT_HINTS_MAX, &text))) {
			tb_bytes_free(&text);
			snprintf(err, errlen, "dns.trust_anchor_file: cannot read %s: %s", ta, tb_strerror(e));
			goto fail;
		}
		if (ta && *ta)
			e = dns_val_anchors_parse((const char *)text.p, text.len, &s->anchors, te, sizeof te);
		else
			e = dns_val_anchors_parse(dns_val_root_anchors, strlen(dns_val_root_anchors), &s->anchors, te,
				sizeof te);
		tb_bytes_free(&text);
		if (e) {
			snprintf(err, errlen, "dns.trust_anchor_file: %s: %s", ta && *ta ? ta : "built-in", te);
			goto fail;
		}
		s->anchors_file = ta && *ta ? ta : NULL;
	}
	size_t cache_bytes = (size_t)tb_cfg_int(sec, "cache_bytes");
	if (dns_cache_init_bytes(&s->cache, cache_bytes ? (size_t)tb_cfg_int(sec, "cache_size") : 0, cache_bytes)) {
		snprintf(err, errlen, "dns.cache_size: out of memory");
		goto fail;
	}
	s->cache.stale_ms = (uint64_t)tb_cfg_int(sec, "serve_stale_seconds") * 1000;
	s->prefetch = tb_cfg_bool(sec, "prefetch");
	s->qlog.size = (size_t)tb_cfg_int(sec, "querylog_size");
	s->lab_key = tb_cfg_bool(sec, "lab_key");
	const char *doh = tb_cfg_str(sec, "doh_path");
	if (doh && *doh) {
		size_t dl = strlen(doh);
		if (doh[0] != '/' || dl < 2 || dl >= sizeof s->doh_path || doh[dl - 1] == '/' ||
			strpbrk(doh, "?#% ")) {
			snprintf(err, errlen, "dns.doh_path: expected a path such as \"/dns-query\" (starting with '/', "
				"no trailing '/', query or escapes, under %zu bytes), got \"%s\"", sizeof s->doh_path, doh);
			goto fail;
		}
		memcpy(s->doh_path, doh, dl + 1);
	}
	s->policy_ref = tb_cfg_hook(sec, "policy");
	s->L = tb_config_lua(core->config);
	s->resolver.impl = s;
	s->resolver.lookup = resolver_lookup;
	*state = s;
	return 0;
fail:
	dns_free(s);
	return TB_ERR_CONFIG;
}

static const uint8_t lab_zone[] = "\3lab\4test";

/* Is lab.test one of the local zones (the lab key exists only then)? */
static int lab_zone_served(const struct dns_server *s)
{
	const struct dns_zone *z = dns_zoneset_find(&s->zones, lab_zone);
	return z && dns_name_eq(z->origin, lab_zone);
}

/*
 * The lab TSIG key: made once, kept in the store, exported for nsupdate and
 * certbot. It may update lab.test and nothing else, so holding it gives no
 * say over other local zones (which the CA reads for dns-01 and CAA).
 */
static int load_lab_key(struct dns_server *s)
{
	struct dns_tsig_key *k = &s->keys[s->n_keys];
	memcpy(k->name, lab_zone, sizeof lab_zone);
	memcpy(k->zones[0], lab_zone, sizeof lab_zone);
	k->n_zones = 1;
	void *val = NULL;
	size_t len = 0;
	int err = dns_db_lab_key_get(s, &val, &len);
	if (err == 0 && len >= 16 && len <= sizeof k->secret) {
		memcpy(k->secret, val, len);
		k->secret_len = len;
	} else {
		k->secret_len = 32;
		tb_random(k->secret, k->secret_len);
		err = dns_db_lab_key_put(s, k);
		if (err) {
			free(val);
			return err;
		}
	}
	free(val);
	s->n_keys++;
	struct tb_bytes b = { 0 };
	tb_bytes_printf(&b, "hmac-sha256:lab.test:");
	tb_base64_encode(&b, k->secret, k->secret_len);
	tb_bytes_u8(&b, '\n');
	char path[1200];
	snprintf(path, sizeof path, "%s/lab.test.tsig", s->core->data_dir ? s->core->data_dir : ".");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		if (write(fd, b.p, b.len) != (ssize_t)b.len)
			TB_WARN("dns", "could not write %s", path);
		close(fd);
		tb_core_announce(s->core, "dns", "DNS update key", "%s", path);
	} else {
		TB_WARN("dns", "could not write %s: %s", path, strerror(errno));
	}
	tb_crypto_wipe(b.p, b.len);
	tb_bytes_free(&b);
	return 0;
}

/* The banner (and status API) line saying how names outside the local zones are resolved. */
static void announce_resolution(struct dns_server *s)
{
	char dnssec[1200];
	if (!s->dnssec)
		snprintf(dnssec, sizeof dnssec, "DNSSEC off");
	else if (s->anchors_file)
		snprintf(dnssec, sizeof dnssec, "DNSSEC validated from %s", s->anchors_file);
	else
		snprintf(dnssec, sizeof dnssec, "DNSSEC validated from the built-in root anchors");
	int global = 0;
	for (size_t i = 0; i < s->n_fwd; i++)
		global |= s->fwd[i].zone[0] == 0;
	if (global)
		tb_core_announce(s->core, "dns", "DNS resolution", "forward zones (. included), %s", dnssec);
	else if (s->iterate && s->roots_file)
		tb_core_announce(s->core, "dns", "DNS resolution", "iterate from %s%s, %s", s->roots_file,
			s->n_fwd ? " and forward zones" : "", dnssec);
	else if (s->iterate)
		tb_core_announce(s->core, "dns", "DNS resolution", "iterate from the built-in root hints%s, %s",
			s->n_fwd ? " and forward zones" : "", dnssec);
	else if (s->n_fwd)
		tb_core_announce(s->core, "dns", "DNS resolution", "forward zones only, %s", dnssec);
	else
		tb_core_announce(s->core, "dns", "DNS resolution", "local zones only (iterate = false)");
}

static int dns_start(void *state)
{
	struct dns_server *s = state;
	tb_random(s->cookie_secret, sizeof s->cookie_secret);
	int err = dns_metrics_start(s);
	if (err)
		return err;
	if (s->core->store) {
		if (s->lab_key && lab_zone_served(s) && (err = load_lab_key(s)) != 0) {
			TB_ERROR("dns", "cannot create the lab TSIG key: %s", tb_strerror(err));
			return err;
		}
		if ((err = dns_journal_replay(s)) != 0 || (err = dns_tsig_seen_load(s)) != 0)
			return err;
	}
	err = dns_server_listen(s);
	if (!err)
		err = dns_doh_register(s);
	if (!err && (err = dns_admin_mount(s)) != 0)
		TB_ERROR("dns", "cannot mount the admin API: %s", tb_strerror(err));
	if (err) {
		/* close what was opened; main runs the loop once more before freeing us */
		s->stop_done = NULL;
		dns_server_close(s);
		return err;
	}
	size_t nrec = 0;
	for (const struct dns_zone *z = s->zones.zones; z; z = z->next)
		nrec += z->nrecords;
	TB_INFO("dns", "serving %zu local zone(s), %zu records", s->zones.n, nrec);
	announce_resolution(s);
	if (s->iterate)
		dns_iterate_prime(s);
	if (s->core->services && !s->core->services->resolver)
		s->core->services->resolver = &s->resolver;
	return 0;
}

static void dns_stop(void *state, tb_done_cb done, void *arg)
{
	struct dns_server *s = state;
	if (s->core->services && s->core->services->resolver == &s->resolver)
		s->core->services->resolver = NULL;
	s->stop_done = done;
	s->stop_arg = arg;
	s->stopping = 1;
	s->closing++; /* held while closes are issued */
	dns_forward_stop(s);
	dns_iterate_stop(s);
	/* Lookups not yet delivered end now, with an error, exactly once. */
	while (s->pending) {
		struct dns_pending *p = s->pending;
		s->pending = p->next;
		uv_timer_stop(&p->t);
		p->cb(TB_RESOLVE_ERROR, NULL, 0, "resolver is stopping", p->arg);
		p->counted = 1;
		s->closing++;
		uv_close((uv_handle_t *)&p->t, pending_closed);
	}
	dns_update_hold_for_stop(s);
	dns_server_close(s);
	if (--s->closing == 0)
		done(arg);
}

/*
 * `trustbox dns tsig-key`: the lab key as nsupdate -y and the RFC 2136 plugins
 * take it. `trustbox dns flush [NAME]`: the running instance's cache (admin.c).
 */
static int dns_command(void *state, int argc, char **argv)
{
	struct dns_server *s = state;
	if (argc >= 1 && strcmp(argv[0], "flush") == 0)
		return dns_admin_flush_command(s, argc, argv);
	if (argc != 1 || strcmp(argv[0], "tsig-key") != 0) {
		fprintf(stderr, "trustbox: usage: trustbox dns tsig-key | flush [NAME] [--url URL] [-c FILE]\n");
		return 2;
	}
	if (!s->lab_key) {
		fprintf(stderr, "trustbox: dns.lab_key is false: there is no lab TSIG key\n");
		return 1;
	}
	if (!lab_zone_served(s)) {
		fprintf(stderr, "trustbox: the zone lab.test is not served (dns.zones): there is no lab TSIG key\n");
		return 1;
	}
	int err = load_lab_key(s);
	if (err) {
		fprintf(stderr, "trustbox: cannot read or create the lab TSIG key: %s\n", tb_strerror(err));
		return 1;
	}
	const struct dns_tsig_key *k = &s->keys[s->n_keys - 1];
	struct tb_bytes b = { 0 };
	tb_bytes_printf(&b, "hmac-sha256:lab.test:");
	tb_base64_encode(&b, k->secret, k->secret_len);
	int ok = tb_bytes_cstr(&b) != NULL;
	if (ok)
		printf("%s\n", (char *)b.p);
	tb_crypto_wipe(b.p, b.len);
	tb_bytes_free(&b);
	return ok ? 0 : 1;
}

const struct tb_subsystem dns_subsystem = {
	.command = dns_command,
	.command_usage = "tsig-key | flush [NAME] [--url URL]",
	.name = "dns",
	.sections = dns_sections,
	.configure = dns_configure,
	.migrations = dns_migrations,
	.start = dns_start,
	.stop = dns_stop,
	.free = dns_free,
};

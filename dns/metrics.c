/*
 * The DNS server's series (dns/metrics.h), after what Knot Resolver
 * exports in spirit (queries by type, answers by RCODE, cache hits and
 * misses, upstream latency) in Prometheus' conventions. The query-type label
 * is the bounded set below plus "other"; RCODEs are the header's four bits
 * (extended RCODEs such as BADVERS, carried in OPT, count under their low
 * bits). Transports are udp, tcp, doh and dot. DNSSEC results count each validation of an iterated answer.
 */
#include "dns/metrics.h"

#include "dns/dns.h"
#include "dns/dns_internal.h"

static const char *const transports[] = { "udp", "tcp", "doh", "dot", NULL };
static const char *const qtypes[] = { "A", "NS", "CNAME", "SOA", "PTR", "MX", "TXT", "AAAA", "SRV", "DS",
	"DNSKEY", "SVCB", "HTTPS", "CAA", "ANY", "other", NULL };
static const char *const rcodes[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "other", NULL };
static const char *const modes[] = { "forward", "iterate", NULL };
static const char *const dnssec[] = { "secure", "insecure", "bogus", "indeterminate", NULL };
static const double upstream_buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5 };

static struct tb_metric m_queries = { "tb_dns_queries_total",
	"DNS queries (opcode QUERY) received, by transport and query type.", TB_METRIC_COUNTER,
	{ { "transport", transports }, { "qtype", qtypes } }, NULL, 0, NULL };
static struct tb_metric m_responses = { "tb_dns_responses_total",
	"DNS responses to queries sent, by transport and RCODE.", TB_METRIC_COUNTER,
	{ { "transport", transports }, { "rcode", rcodes } }, NULL, 0, NULL };
static struct tb_metric m_updates = { "tb_dns_updates_total",
	"RFC 2136 updates answered, by RCODE (NOERROR: applied and durable).", TB_METRIC_COUNTER,
	{ { "result", rcodes } }, NULL, 0, NULL };
static struct tb_metric m_hits = { "tb_dns_cache_hits_total",
	"Lookups answered from the cache (forwarding and iteration).", TB_METRIC_COUNTER, { { NULL, NULL } },
	NULL, 0, NULL };
static struct tb_metric m_misses = { "tb_dns_cache_misses_total",
	"Lookups the cache could not answer (an upstream exchange follows).", TB_METRIC_COUNTER,
	{ { NULL, NULL } }, NULL, 0, NULL };
static struct tb_metric m_cache_entries = { "tb_dns_cache_entries", "Entries in the cache now.",
	TB_METRIC_GAUGE, { { NULL, NULL } }, NULL, 0, NULL };
static struct tb_metric m_cache_bytes = { "tb_dns_cache_bytes",
	"Memory the cache's entries hold now, in bytes (capped by dns.cache_bytes).", TB_METRIC_GAUGE,
	{ { NULL, NULL } }, NULL, 0, NULL };
static struct tb_metric m_cache_evictions = { "tb_dns_cache_evictions_total",
	"Cache entries dropped to stay within dns.cache_bytes or dns.cache_size.", TB_METRIC_COUNTER,
	{ { NULL, NULL } }, NULL, 0, NULL };
static struct tb_metric m_stale = { "tb_dns_cache_stale_answers_total",
	"Answers given from expired cache entries because every upstream failed (RFC 8767, EDE 3).",
	TB_METRIC_COUNTER, { { NULL, NULL } }, NULL, 0, NULL };
static struct tb_metric m_prefetches = { "tb_dns_cache_prefetches_total",
	"Background refreshes of cache entries asked for in the last tenth of their TTL.", TB_METRIC_COUNTER,
	{ { NULL, NULL } }, NULL, 0, NULL };
static struct tb_metric m_nsec = { "tb_dns_cache_nsec_answers_total",
	"NXDOMAIN answers synthesized from cached DNSSEC-validated NSEC/NSEC3 records (RFC 8198).",
	TB_METRIC_COUNTER, { { NULL, NULL } }, NULL, 0, NULL };
static const char *const shed_reasons[] = { "evicted", "refused", NULL };
static struct tb_metric m_tcp_shed = { "tb_dns_tcp_connections_shed_total",
	"TCP connections closed at the connection caps (tcp_clients, tcp_clients_per_address): an idle one for a "
	"new one (evicted), or the new one (refused).", TB_METRIC_COUNTER, { { "reason", shed_reasons } }, NULL, 0,
	NULL };
static struct tb_metric m_upstream = { "tb_dns_upstream_duration_seconds",
	"Time from sending a query upstream to its answer (forwarders, or authoritative servers when iterating).",
	TB_METRIC_HISTOGRAM, { { "mode", modes } }, upstream_buckets,
	sizeof upstream_buckets / sizeof *upstream_buckets, NULL };
static struct tb_metric m_dnssec = { "tb_dns_dnssec_validations_total",
	"DNSSEC validations by result; always zero until validation exists.", TB_METRIC_COUNTER,
	{ { "result", dnssec } }, NULL, 0, NULL };

static const char *const fallbacks[] = { "no_edns", "no_0x20", NULL };
static struct tb_metric m_up_timeouts = { "tb_dns_upstream_timeouts_total",
	"Upstream exchanges of the iterator that went unanswered within forward_attempt_ms (each backs the "
	"server off).", TB_METRIC_COUNTER, { { NULL, NULL } }, NULL, 0, NULL };
static struct tb_metric m_up_fallbacks = { "tb_dns_upstream_fallbacks_total",
	"Iterator exchanges asked again without EDNS (after FORMERR/NOTIMP) or without 0x20 (the case was not "
	"echoed).", TB_METRIC_COUNTER, { { "kind", fallbacks } }, NULL, 0, NULL };

static const char *const deleg_drops[] = { "evicted", "failed", NULL };
static struct tb_metric m_deleg_cuts = { "tb_dns_deleg_cuts",
	"Zone cuts the iterator keeps now (capped by dns.iterate_deleg_cache_size).", TB_METRIC_GAUGE,
	{ { NULL, NULL } }, NULL, 0, NULL };
static struct tb_metric m_deleg_starts = { "tb_dns_deleg_starts_total",
	"Iterations started at a kept zone cut below the root (a cache miss that did not ask the root).",
	TB_METRIC_COUNTER, { { NULL, NULL } }, NULL, 0, NULL };
static struct tb_metric m_deleg_drops = { "tb_dns_deleg_dropped_total",
	"Kept zone cuts dropped: for a new one at dns.iterate_deleg_cache_size (evicted), or because every "
	"server of the cut failed (failed: the query went on from the cut above).", TB_METRIC_COUNTER,
	{ { "reason", deleg_drops } }, NULL, 0, NULL };

/* Index of a qtype in qtypes[] (the last, "other", for the rest). */
static unsigned qtype_index(uint16_t t)
{
	switch (t) {
	case DNS_T_A: return 0;
	case DNS_T_NS: return 1;
	case DNS_T_CNAME: return 2;
	case DNS_T_SOA: return 3;
	case DNS_T_PTR: return 4;
	case DNS_T_MX: return 5;
	case DNS_T_TXT: return 6;
	case DNS_T_AAAA: return 7;
	case DNS_T_SRV: return 8;
	case DNS_T_DS: return 9;
	case DNS_T_DNSKEY: return 10;
	case DNS_T_SVCB: return 11;
	case DNS_T_HTTPS: return 12;
	case DNS_T_CAA: return 13;
	case DNS_T_ANY: return 14;
	default: return 15;
	}
}

/* Per packet: by index (tb_metric_add_at), no string comparisons. */
void dns_metrics_query(uint16_t qtype, int via)
{
	unsigned idx[2] = { via >= 0 && via <= DNS_VIA_MAX ? (unsigned)via : 0u, qtype_index(qtype) };
	tb_metric_add_at(&m_queries, 1, idx);
}

void dns_metrics_dnssec(int status)
{
	/* the label list is secure, insecure, bogus, indeterminate */
	static const unsigned of_status[] = { 3, 0, 1, 2 };
	unsigned idx[1] = { status >= 0 && status <= 3 ? of_status[status] : 3u };
	tb_metric_add_at(&m_dnssec, 1, idx);
}

void dns_metrics_response(const uint8_t *p, size_t n, int via)
{
	if (n < 12)
		return;
	int opcode = (p[2] >> 3) & 0xf;
	unsigned rc = p[3] & 0xf; /* rcodes[] lists 0..10 in order, then "other" */
	if (rc > DNS_RCODE_NOTZONE)
		rc = DNS_RCODE_NOTZONE + 1;
	unsigned idx[2] = { via >= 0 && via <= DNS_VIA_MAX ? (unsigned)via : 0u, rc };
	if (opcode == DNS_OP_UPDATE)
		tb_metric_add_at(&m_updates, 1, &idx[1]);
	else if (opcode == DNS_OP_QUERY)
		tb_metric_add_at(&m_responses, 1, idx);
}

void dns_metrics_upstream(double sent, const char *mode)
{
	tb_metric_observe(&m_upstream, tb_metrics_now() - sent, mode);
}

static void scrape(void *arg)
{
	struct dns_server *s = arg;
	tb_metric_set(&m_hits, (double)s->cache.hits);
	tb_metric_set(&m_misses, (double)s->cache.misses);
	tb_metric_set(&m_cache_entries, (double)s->cache.n);
	tb_metric_set(&m_cache_bytes, (double)s->cache.bytes);
	tb_metric_set(&m_cache_evictions, (double)s->cache.evicted);
	tb_metric_set(&m_stale, (double)s->cache.stale_served);
	tb_metric_set(&m_prefetches, (double)s->cache.prefetches);
	tb_metric_set(&m_nsec, (double)s->cache.nsec_answers);
	tb_metric_set(&m_tcp_shed, (double)s->stats.tcp_evicted, "evicted");
	tb_metric_set(&m_tcp_shed, (double)s->stats.tcp_refused, "refused");
	tb_metric_set(&m_up_timeouts, (double)s->infra.timeouts);
	tb_metric_set(&m_up_fallbacks, (double)s->infra.edns_fallbacks, "no_edns");
	tb_metric_set(&m_up_fallbacks, (double)s->infra.case_fallbacks, "no_0x20");
	tb_metric_set(&m_deleg_cuts, (double)s->deleg.n);
	tb_metric_set(&m_deleg_starts, (double)s->deleg.starts);
	tb_metric_set(&m_deleg_drops, (double)s->deleg.evicted, "evicted");
	tb_metric_set(&m_deleg_drops, (double)s->deleg.failed, "failed");
}

int dns_metrics_start(struct dns_server *s)
{
	static struct tb_metric *const all[] = { &m_queries, &m_responses, &m_updates, &m_hits, &m_misses,
		&m_cache_entries, &m_cache_bytes, &m_cache_evictions, &m_stale, &m_prefetches, &m_nsec, &m_upstream, &m_dnssec,
		&m_tcp_shed, &m_up_timeouts, &m_up_fallbacks, &m_deleg_cuts, &m_deleg_starts, &m_deleg_drops, NULL };
	int err = tb_metrics_register_all(all);
	return err ? err : tb_metrics_hook(scrape, s);
}

void dns_metrics_stop(struct dns_server *s)
{
	tb_metrics_unhook(scrape, s);
}

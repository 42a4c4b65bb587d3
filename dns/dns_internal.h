/*
 * Internals shared by the dns folder: the RDATA schema table. Each known type
 * is a string of field codes, read by the wire checker, the compressor and the
 * presentation code alike, so that a type is described once.
 *
 *   n  domain name               1/2/4  unsigned integer of 1, 2 or 4 octets
 *   T  48-bit time (TSIG)        i/I    IPv4 / IPv6 address
 *   s  one <character-string>    S      one or more <character-string>s to the end
 *   B  base64, rest of RDATA     X      hex, rest of RDATA
 *   x  hex with 1-octet length ("-" when empty, NSEC3 salt)
 *   h  base32hex with 1-octet length (NSEC3 next hashed owner)
 *   W  type bitmap, rest         P      SVCB SvcParams, rest
 *   c  CAA tag (1-octet length)  v      CAA value, rest
 *   y  type mnemonic (u16)       t      RRSIG time (u32, YYYYMMDDHHmmSS)
 *   m  base64 with 2-octet length (TSIG MAC)
 *   o  hex with 2-octet length (TSIG other data)
 *   O  EDNS options, rest
 */
#ifndef DNS_INTERNAL_H
#define DNS_INTERNAL_H

#include <stdint.h>
#include <uv.h>

#include "core/services.h"
#include "core/store.h"
#include "dns/dns.h"

struct dns_rrtype {
	uint16_t type;
	const char *name;
	const char *fields;
	uint8_t compress; /* RFC 1035 type: names may be compressed on write (RFC 3597 4) */
};

/* NULL for types without a schema (handled as RFC 3597 opaque data). */
const struct dns_rrtype *dns_rrtype_find(uint16_t type);
const struct dns_rrtype *dns_rrtype_by_name(const char *s, size_t n);


/* ---- the server (server.c) and subsystem glue (dns.c) ---- */

#define DNS_LISTEN_MAX 16       /* listen addresses */
#define DNS_ACL_MAX 64          /* prefixes per ACL */
#define DNS_TCP_CLIENTS_MAX 1024 /* hard cap on the tcp_clients option */
#define DNS_TCP_PIPELINE_MAX 64 /* responses queued on one TCP connection before reading pauses */
#define DNS_UDP_BATCH 16        /* datagrams per recvmmsg */
#define DNS_TSIG_KEYS_MAX 32
#define DNS_TSIG_KEY_ZONES_MAX 16 /* zones one TSIG key may update */

struct dns_prefix {
	int family;        /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	int bits;
};

struct dns_acl {
	size_t n;
	struct dns_prefix p[DNS_ACL_MAX];
};

struct dns_tsig_key {
	uint8_t name[DNS_NAME_MAX];
	uint8_t secret[64];
	size_t secret_len;
	size_t n_zones;
	uint8_t zones[DNS_TSIG_KEY_ZONES_MAX][DNS_NAME_MAX]; /* the zones it may update (apexes) */
};

#define DNS_UDP_OUT_MAX 4096     /* room per queued UDP response (udp_payload <= 4096) */

struct dns_udp_listener {
	uv_udp_t h;
	struct dns_server *srv;
	uint8_t *rbuf;       /* DNS_UDP_BATCH * 64 KiB for recvmmsg */
	uint8_t *sbuf;       /* DNS_UDP_BATCH * DNS_UDP_OUT_MAX responses waiting for sendmmsg */
	size_t nq;           /* responses queued in sbuf */
	size_t qlen[DNS_UDP_BATCH];
	struct sockaddr_storage qaddr[DNS_UDP_BATCH];
};

struct dns_tcp_listener {
	uv_tcp_t h;
	struct dns_server *srv;
	int deferred;            /* a connection waits in libuv for the next accept turn */
	int tls;                 /* DNS over TLS (RFC 7858): the same framing inside TLS */
};

struct dns_tcp_conn;
struct tb_tls_server;

/*
 * How a query's answer reaches its client, set by the transport that read the
 * query. An answer ready at once is returned by dns_server_answer_for; one given
 * later (a forwarded query, an update after its commit) goes through send, once,
 * so forward.c and update.c never know the transport. When the transport goes
 * away first, dns_forward_forget / dns_update_forget clear send.
 */
struct dns_reply;
typedef void (*dns_reply_fn)(const struct dns_reply *r, const uint8_t *p, size_t n);
struct dns_reply {
	dns_reply_fn send;            /* NULL: nobody to answer later (tests, fuzzing) */
	void *transport;              /* the UDP listener or TCP connection behind send */
	struct sockaddr_storage addr; /* the client; family 0 for internal callers */
	int tcp;                      /* over TCP (or DoH): answers up to 65535 octets */
	int doh;                      /* over DNS over HTTPS (doh.c): for metrics and the query log */
	int dot;                      /* over DNS over TLS (tcp set too): for metrics and the query log */
	uint64_t t0;                  /* uv_hrtime when the query was read (the query log's ms) */
};

/* The transport of a reply as metrics and the query log name it: 0 udp, 1 tcp, 2 doh, 3 dot. */
#define DNS_VIA_MAX 3
static inline int dns_reply_via(const struct dns_reply *r)
{
	return r->doh ? 2 : r->dot ? 3 : r->tcp ? 1 : 0;
}

/* ---- the query log (querylog.c): opt-in, a bounded ring in memory ---- */

#define DNS_QLOG_MAX 100000      /* hard cap on the querylog_size option (about 350 bytes a slot) */

struct dns_qlog_entry {
	int64_t time_ms;              /* Unix ms of the answer */
	uint32_t us;                  /* query to answer, microseconds */
	uint16_t type;
	uint8_t rcode;
	uint8_t tcp;
	char client[56];              /* "addr:port" / "[v6]:port" */
	uint8_t name[DNS_NAME_MAX];   /* the question as asked (wire) */
};

struct dns_qlog {
	int enabled;                  /* off at start; the admin API turns it on until a restart */
	size_t size;                  /* ring slots (dns.querylog_size); 0: cannot be turned on */
	struct dns_qlog_entry *ring;  /* allocated when first turned on */
	size_t next, n;
};

struct dns_server;
/* Records one answer as sent to a client (no-op while the log is off). */
void dns_qlog_answer(struct dns_server *s, const struct dns_reply *r, const uint8_t *p, size_t n);
/* Turns the log on (allocating the ring) or off (keeping what it holds). 0 or an error. */
int dns_qlog_enable(struct dns_qlog *q, int on);
void dns_qlog_free(struct dns_qlog *q);
/* admin.c: mounts /api/v1/dns/ on every listener (start). */
int dns_admin_mount(struct dns_server *s);
/* admin.c: `trustbox dns flush [NAME] [--url URL]`, through the running instance's admin API. */
int dns_admin_flush_command(struct dns_server *s, int argc, char **argv);

/* ---- forwarding and cache (forward.c) ---- */

#define DNS_FWD_MAX 16           /* forwarder zones */
#define DNS_FWD_SERVERS_MAX 8    /* upstream servers per forwarder zone */
#define DNS_FWD_INFLIGHT_MAX 4096 /* upstream queries in flight */

struct dns_forwarder {
	uint8_t zone[DNS_NAME_MAX];
	size_t n;
	struct sockaddr_storage servers[DNS_FWD_SERVERS_MAX];
};

struct dns_cache_entry;
struct dns_cache {
	struct dns_cache_entry **b;
	size_t nb, n, max;             /* buckets, entries, entry cap (dns.cache_size) */
	size_t bytes;                  /* memory the entries hold (malloc_usable_size of each) */
	size_t max_bytes;              /* dns.cache_bytes */
	uint64_t stale_ms;             /* expired entries are kept this long for serve-stale */
	struct dns_cache_entry *head, *tail; /* LRU order */
	struct dns_cache_entry *nsec_head; /* secure NXDOMAIN entries, newest first (RFC 8198) */
	uint64_t hits, misses;
	uint64_t evicted;              /* entries dropped at a cap */
	uint64_t stale_served;         /* answers given from expired entries (RFC 8767) */
	uint64_t prefetches;           /* background refreshes started */
	uint64_t nsec_answers;         /* NXDOMAIN answers synthesized from validated NSEC/NSEC3 */
};

#define DNS_STALE_TTL 30           /* TTL of stale records served (RFC 8767 4) */
#define DNS_STALE_CLIENT_MS 1800   /* a client with stale data at hand waits this long (RFC 8767 5) */

enum dns_fwd_kind { DNS_FWD_UDP, DNS_FWD_TCP, DNS_FWD_RESOLVER };

/* Who a forwarded answer goes to, and how it must look. */
struct dns_fwd_client {
	enum dns_fwd_kind kind;
	struct dns_reply reply;       /* DNS_FWD_UDP, DNS_FWD_TCP */
	uint16_t id, flags;
	uint8_t qname[DNS_NAME_MAX];  /* as the client wrote it */
	uint16_t qtype, qclass;
	int edns;
	uint16_t edns_flags;          /* the client's DO bit, echoed (RFC 3225) */
	size_t cap;                   /* UDP answer size limit */
	uint8_t cookie[40];
	uint8_t cookie_len;
	tb_resolve_cb cb;             /* DNS_FWD_RESOLVER */
	void *arg;
	int prefetch;                 /* a background refresh: skips the cache lookup */
};

/* ---- iterative resolution (iterate.c) ---- */

#define DNS_NSSET_MAX 16         /* NS names kept per zone cut (the root has 13) */
#define DNS_NS_ADDRS_MAX 4       /* addresses kept per NS name */
#define DNS_ROOT_HINTS_MAX (1u << 20) /* bytes of a root hints file */
#define DNS_NTA_MAX 64            /* negative trust anchors (dns.negative_trust_anchors) */

struct dns_ns {
	uint8_t name[DNS_NAME_MAX];
	size_t n_addr;
	struct sockaddr_storage addr[DNS_NS_ADDRS_MAX];
};

/* The servers of one zone cut. */
struct dns_nsset {
	size_t n;
	struct dns_ns ns[DNS_NSSET_MAX];
};

struct dns_iter;

/*
 * What the iterator knows about each server address (infra.c): smoothed RTT
 * and back-off for choosing servers, and the workarounds a server needs.
 */
#define DNS_INFRA_UNKNOWN_MS 376   /* the estimate of a server never measured (as Unbound) */
#define DNS_INFRA_RTO_MIN 50       /* ms: the smallest estimate, however fast the answers */
#define DNS_INFRA_RTO_MAX 120000   /* ms: the back-off stops doubling here */
#define DNS_INFRA_BAND_MS 400      /* servers within this of the best estimate are drawn from at random */
#define DNS_INFRA_NO_EDNS 1u       /* answered FORMERR/NOTIMP to EDNS, and without it did fine */
#define DNS_INFRA_NO_0X20 2u       /* does not echo the question's case */
struct dns_infra_entry;
struct dns_infra {
	struct dns_infra_entry **b;
	size_t nb, n, max;
	struct dns_infra_entry *head, *tail; /* LRU order */
	uint64_t ttl_ms;
	uint64_t timeouts, edns_fallbacks, case_fallbacks; /* for /metrics */
};
/* max entries (0: nothing is remembered), each living ttl_ms after its last update. */
int dns_infra_init(struct dns_infra *t, size_t max, uint64_t ttl_ms);
void dns_infra_free(struct dns_infra *t);
/* The server's retransmission estimate in ms (DNS_INFRA_UNKNOWN_MS when unknown). */
uint32_t dns_infra_rto(struct dns_infra *t, const struct sockaddr_storage *a, uint64_t now);
/* An answer came back after ms: the estimate follows, the back-off resets. */
void dns_infra_rtt(struct dns_infra *t, const struct sockaddr_storage *a, uint32_t ms, uint64_t now);
/* No answer in time: the estimate doubles (up to DNS_INFRA_RTO_MAX). */
void dns_infra_timeout(struct dns_infra *t, const struct sockaddr_storage *a, uint64_t now);
/*
 * The next address of ns to ask, not yet marked in tried (a bit per address of
 * each NS), the fastest known first (infra.c says how); TB_ERR_NOT_FOUND when
 * every one was tried.
 */
int dns_infra_pick(struct dns_infra *t, const struct dns_nsset *ns, const uint8_t *tried, uint64_t now, size_t *ni,
	size_t *ai);
unsigned dns_infra_flags(struct dns_infra *t, const struct sockaddr_storage *a, uint64_t now);
void dns_infra_set_flags(struct dns_infra *t, const struct sockaddr_storage *a, unsigned flags, uint64_t now);

/*
 * The zone cuts learned while iterating (deleg.c): NS sets and their servers'
 * addresses, each with its RFC 2181 5.4.1 credibility rank; a lower rank never
 * replaces a live higher one. Times are uv_now ms.
 */
enum dns_rank {
	DNS_RANK_NONE = 0,
	DNS_RANK_ADDITIONAL,      /* glue: a referral's additional section */
	DNS_RANK_REFERRAL,        /* a referral's NS RRset (the parent's, not authoritative) */
	DNS_RANK_AUTH_AUTHORITY,  /* the authority section of an answer from the zone itself (AA) */
	DNS_RANK_AUTH_ANSWER,     /* the answer section of an authoritative answer */
};
struct dns_deleg_entry;
struct dns_deleg {
	struct dns_deleg_entry **b;
	size_t nb, n, max;
	uint32_t ttl_max;         /* seconds: dns.iterate_deleg_ttl_max */
	struct dns_deleg_entry *head, *tail; /* LRU order */
	uint64_t starts;          /* iterations started at a cached cut (for /metrics) */
	uint64_t evicted, failed; /* cuts dropped at the size cap, or because every server failed */
};
/* max cuts (0: none kept), TTLs capped at ttl_max seconds. */
int dns_deleg_init(struct dns_deleg *d, size_t max, uint32_t ttl_max);
void dns_deleg_free(struct dns_deleg *d);
/*
 * The NS set of cut (the names of set; addresses are ignored), living ttl
 * seconds: 1 stored, 0 kept out (a live set of a higher rank, the root, no
 * table), or an error. Addresses of names that stay in the set are kept.
 */
int dns_deleg_put_ns(struct dns_deleg *d, const uint8_t *cut, const struct dns_nsset *set, uint32_t ttl,
	enum dns_rank rank, uint64_t now);
/* An address of the server nsname of cut: 1 stored, 0 kept out (no such cut or server, a higher rank). */
int dns_deleg_put_addr(struct dns_deleg *d, const uint8_t *cut, const uint8_t *nsname,
	const struct sockaddr_storage *a, uint32_t ttl, enum dns_rank rank, uint64_t now);
/* The same for an A/AAAA record (owner: the server's name; port 53). */
int dns_deleg_put_rr(struct dns_deleg *d, const uint8_t *cut, const struct dns_rr *rr, uint32_t ttl,
	enum dns_rank rank, uint64_t now);
/*
 * A referral from the servers of zone from to cut (below it), its authority
 * and additional sections: the NS set with the glue for names under from
 * into set (what the query goes on with), both kept (ranks REFERRAL and
 * ADDITIONAL). Glue for names outside from, or for no NS of the set, is dropped.
 */
void dns_deleg_referral(struct dns_deleg *d, const uint8_t *from, const uint8_t *cut, const struct dns_rr *auth,
	size_t nauth, const struct dns_rr *add, size_t nadd, struct dns_nsset *set, uint64_t now);
/*
 * The closest live cut at or above name (never the root) with at least one
 * live server address: its name into cut (DNS_NAME_MAX) and its servers into
 * set (names without a live address have none); TB_ERR_NOT_FOUND when none.
 */
int dns_deleg_find(struct dns_deleg *d, const uint8_t *name, uint64_t now, uint8_t *cut, struct dns_nsset *set);
/* Forgets cut (every server of it failed); TB_ERR_NOT_FOUND when it was not kept. */
int dns_deleg_drop(struct dns_deleg *d, const uint8_t *cut);
/* Forgets every cut (name NULL) or those at and below name; returns how many. */
size_t dns_deleg_flush(struct dns_deleg *d, const uint8_t *name);

struct dns_stats {
	uint64_t queries_udp, queries_tcp, queries_doh, queries_dot, formerr, refused, nxdomain, truncated, dropped;
	uint64_t tcp_evicted, tcp_refused; /* TCP connections shed at the caps (dns/server.c make_room) */
	uint64_t dot_handshake_failed;     /* DoT connections closed in or at the TLS handshake */
};

/*
 * Signed updates remembered to refuse replays within the fudge window (RFC 8945
 * 5.2.3), keyed on the full MAC we computed over the signed data (never on the
 * MAC as sent, which a client may truncate: its length is not signed). Kept in
 * the store as well (dns_tsig_seen), so a restart forgets nothing still inside
 * its window. When every slot is still inside its window, updates are refused
 * until the oldest expires: at most DNS_TSIG_SEEN_MAX signed updates per
 * 2 * DNS_TSIG_FUDGE_MAX seconds.
 */
#define DNS_TSIG_SEEN_MAX 4096
#define DNS_TSIG_FUDGE_MAX 300   /* the largest fudge accepted from a request (as BIND) */
struct dns_tsig_seen {
	uint64_t expires;        /* time signed + fudge; 0 = empty slot */
	uint8_t mac[32];         /* HMAC-SHA256 over the signed data, full length */
};

struct dns_server {
	uv_loop_t *loop;
	struct tb_core *core;
	struct dns_zoneset zones;
	struct dns_acl allow_query, allow_recursion;
	struct dns_acl allow_update;  /* who may send UPDATE at all (before TSIG) */
	uint16_t udp_payload;
	uint64_t tcp_idle_ms;
	size_t tcp_clients_max;
	size_t tcp_clients_per_address; /* open TCP connections from one client IP */
	size_t tcp_queue_bytes;       /* answer bytes queued on one connection before it pauses */
	size_t tcp_queue_bytes_total; /* answer bytes queued on all connections before they pause */
	size_t tcp_queued_bytes;      /* answer bytes queued on all connections now */
	size_t tcp_paused_total;      /* connections paused by the total cap */
	size_t n_listen;
	struct sockaddr_storage listen_addr[DNS_LISTEN_MAX];
	struct dns_udp_listener udp[DNS_LISTEN_MAX];
	size_t n_tls_listen;          /* DNS over TLS addresses (dns.tls_listen) */
	struct sockaddr_storage tls_listen_addr[DNS_LISTEN_MAX];
	struct tb_tls_server *tls;    /* DoT: the HTTPS listeners' certificate, ALPN "dot" */
	struct dns_tcp_listener tcp[2 * DNS_LISTEN_MAX]; /* TCP, then DoT */
	size_t n_udp, n_tcp;
	struct dns_tcp_conn *conns;   /* open TCP connections */
	size_t n_conns;
	unsigned tcp_accepted;        /* accepted in this loop turn (server.c TCP_ACCEPT_BATCH) */
	uint64_t tcp_accept_turn;     /* uv_now of that turn */
	uv_timer_t tcp_accept_timer;  /* resumes deferred accepts on the next turn */
	int tcp_accept_timer_open;    /* initialised (at the first deferral) */
	uint8_t cookie_secret[16];
	size_t n_keys;
	struct dns_tsig_key keys[DNS_TSIG_KEYS_MAX + 1]; /* + the generated lab key */
	int lab_key;                  /* generate/load the lab TSIG key at start */
	char doh_path[128];           /* DNS over HTTPS route on core's HTTP server; "" = none */
	struct dns_stats stats;
	struct dns_qlog qlog;
	struct tb_resolver resolver;
	struct dns_pending *pending;  /* resolver lookups waiting to call back */
	struct dns_update *updates;   /* dynamic updates waiting for their commit */
	struct dns_tsig_seen tsig_seen[DNS_TSIG_SEEN_MAX]; /* ring of verified update MACs */
	size_t tsig_seen_next;
	int tsig_full_warned;
	/* forwarding */
	struct dns_forwarder fwd[DNS_FWD_MAX];
	size_t n_fwd;
	struct dns_cache cache;
	struct dns_fwd *fwds;         /* upstream queries in flight */
	size_t n_fwds;
	int use_0x20;
	int prefetch;                 /* dns.prefetch: refresh popular entries near expiry */
	/* iteration */
	int iterate;                  /* resolve from the root when no forwarder covers the name */
	struct dns_nsset roots;       /* the hints, then the primed root NS set */
	const char *roots_file;       /* dns.root_hints, NULL: the built-in IANA hints */
	struct dns_iter *iters;       /* client queries being iterated */
	size_t n_iters;
	size_t iter_queries_max, iter_referrals_max, iter_ns_lookups_max, cname_max;
	struct dns_infra infra;        /* per-server RTT and workarounds (infra.c) */
	struct dns_deleg deleg;        /* zone cuts learned from referrals (deleg.c) */
	int iter_0x20;                 /* randomise the question's case when iterating */
	int iter_qmin;                 /* QNAME minimisation (RFC 9156, relaxed) */
	/* DNSSEC validation of iterated answers (dnssec.h, validate.c) */
	int dnssec;                   /* dns.dnssec = "validate" */
	struct tb_bytes anchors;      /* trust anchors as chain records (section, owner, type, class, TTL, RDATA) */
	const char *anchors_file;     /* dns.trust_anchor_file, NULL: the built-in root anchors */
	uint32_t dnssec_skew;
	unsigned dnssec_sig_max, dnssec_rrset_sig_max, dnssec_collisions_max;
	unsigned dnssec_nsec3_iter_max, dnssec_nsec3_hash_max;
	struct dns_val_cache *val_cache; /* zone verdicts and validated DNSKEY sets */
	size_t n_nta;                 /* negative trust anchors: zones treated as insecure */
	uint8_t nta[DNS_NTA_MAX][DNS_NAME_MAX];
	/* the Lua policy hook */
	struct lua_State *L;
	int policy_ref;               /* registry reference, or LUA_NOREF */
	int policy_warned;
	uint64_t fwd_timeout_ms;      /* per attempt */
	uint64_t fwd_deadline_ms;     /* per query */
	/* stop */
	int stopping;
	size_t closing;               /* handles whose close callback is pending */
	void (*stop_done)(void *);
	void *stop_arg;
};

int dns_text_unescape(const char *s, size_t n, size_t *i, unsigned *c);
int dns_acl_parse(struct dns_acl *acl, const char *s);
int dns_acl_match(const struct dns_acl *acl, const struct sockaddr *sa);
int dns_parse_hostport(const char *s, int default_port, struct sockaddr_storage *out);

/* Policy decisions (Lua hook). */
enum dns_policy { DNS_POLICY_PASS, DNS_POLICY_REFUSE, DNS_POLICY_NXDOMAIN, DNS_POLICY_REWRITE };
enum dns_policy dns_policy_check(struct dns_server *s, const uint8_t *qname, uint16_t qtype,
	const struct sockaddr *from, uint8_t *addr, int *family);

/*
 * Answers one query message into out (capacity outcap) and returns its length,
 * or 0: dropped, or answered later through reply->send.
 */
size_t dns_server_answer_for(struct dns_server *s, const uint8_t *q, size_t qlen,
	const struct dns_reply *reply, uint8_t *out, size_t outcap);
/* The same for a caller with no way to take a later answer (tests, fuzzing): that one is dropped. */
size_t dns_server_answer(struct dns_server *s, const uint8_t *q, size_t qlen,
	const struct sockaddr *from, int tcp, uint8_t *out, size_t outcap);
int dns_server_listen(struct dns_server *s);
/*
 * The framing of DNS over TCP and over TLS (RFC 1035 4.2.2, RFC 7858 3.3):
 * for the len bytes at buf, the length of the message that follows the
 * 2-octet prefix when all of it is there, 0 when more bytes are needed, or
 * -1 when the prefix announces less than a header (the connection closes).
 */
long dns_tcp_frame(const uint8_t *buf, size_t len);
/*
 * DoT answers (RFC 8467 4.1): when the last record of the answer at m (n
 * octets, in a buffer of cap) is its OPT, a Padding option (RFC 7830) makes
 * it a multiple of 468 octets. Returns the new length (n when nothing fits
 * or there is no OPT last, as under TSIG).
 */
size_t dns_pad_answer(uint8_t *m, size_t n, size_t cap);
/*
 * stream.c: DNS over TCP and over TLS. dns_stream_accept is the listeners'
 * connection callback (a DoT listener has tls set); dns_dot_tls_server sets up
 * s->tls for DoT; dns_stream_close_all closes every connection at a stop.
 */
void dns_stream_accept(uv_stream_t *ls, int status);
int dns_dot_tls_server(struct dns_server *s);
void dns_stream_close_all(struct dns_server *s);
/* Not-yet-accepted connections the kernel queues (capped by somaxconn); see core/http.c. */
#define DNS_TCP_LISTEN_BACKLOG 4096
/* doh.c: mounts the DNS over HTTPS route (RFC 8484) on core's HTTP server. */
int dns_doh_register(struct dns_server *s);

/* update.c: RFC 2136 + TSIG. Returns the answer length, or 0 when it will be sent later. */
size_t dns_update_handle(struct dns_server *s, const struct dns_msg *m, const uint8_t *q, size_t qlen,
	const struct dns_reply *reply, uint8_t *out, size_t cap);
/*
 * The same write path without a message (the admin API): pr/up as in an
 * UPDATE's prerequisite and update sections, applied to z and journaled.
 * cb(arg, status, rcode, changes, serial) runs on the loop once the store
 * has committed (status: the commit's). by names the writer in the log.
 * 0, or an error (then cb never runs).
 */
typedef void (*dns_update_cb)(void *arg, int status, int rcode, size_t changes, uint32_t serial);
int dns_update_submit(struct dns_server *s, struct dns_zone *z, const struct dns_rr *pr, size_t npr,
	const struct dns_rr *up, size_t nup, const char *by, dns_update_cb cb, void *arg);
/* The transport is going away: answers still owed to it are not sent. */
void dns_update_forget(struct dns_server *s, const void *transport);
/* Makes a stop wait for every update still being committed; returns how many. */
size_t dns_update_hold_for_stop(struct dns_server *s);
int dns_journal_replay(struct dns_server *s);
/* cache.c: at most max entries (0: no cache) and, with _bytes, max_bytes bytes of entries. */
int dns_cache_init(struct dns_cache *c, size_t max);
int dns_cache_init_bytes(struct dns_cache *c, size_t max, size_t max_bytes);
void dns_cache_free(struct dns_cache *c);
const struct dns_forwarder *dns_forwarder_find(const struct dns_server *s, const uint8_t *name);
/*
 * Answers from the cache into out (returns the length), or starts an upstream
 * query and returns 0 (the answer goes to cl later). Resolver clients are
 * always answered through dns_resolver_deliver.
 */
size_t dns_forward(struct dns_server *s, const struct dns_forwarder *f, const struct dns_fwd_client *cl,
	uint64_t timeout_ms, uint8_t *out, size_t cap);
size_t dns_fwd_answer(struct dns_server *s, const struct dns_fwd_client *cl,
	const struct dns_cache_entry *e, int rcode, uint16_t ede, const char *ede_text, uint64_t now,
	uint8_t *out, size_t cap);
/*
 * The answer from an expired entry still inside dns.serve_stale_seconds (TTL
 * DNS_STALE_TTL, EDE 3), for a client whose upstreams all failed; 0 when there
 * is none (or the client is the CA's resolver, which never gets stale data).
 */
size_t dns_fwd_answer_stale(struct dns_server *s, const struct dns_fwd_client *cl, uint64_t now, uint8_t *out,
	size_t cap);
/*
 * The client-response timer's end (RFC 8767 5), forwarded or iterated: sends
 * cl the stale answer through its reply channel; 1 when there was one to send.
 */
int dns_fwd_send_stale(struct dns_server *s, const struct dns_fwd_client *cl);
/*
 * The cache step of forwarding and iteration: the fresh entry for cl's
 * question (counted as a hit, and refreshed in the background when dns.prefetch
 * is on and it is in the last tenth of its TTL) or NULL (a miss; always for a
 * refresh itself).
 */
struct dns_cache_entry *dns_cache_lookup(struct dns_server *s, const struct dns_fwd_client *cl, uint64_t now);
void dns_forward_forget(struct dns_server *s, const void *transport);
void dns_forward_stop(struct dns_server *s);
/* The entry for (name, type, class) unless expired at now (ms); moves it to the LRU front. */
struct dns_cache_entry *dns_cache_get(struct dns_cache *c, const uint8_t *name, uint16_t type,
	uint16_t cls, uint64_t now);
/* An expired entry still inside the serve-stale window (not moved in the LRU order), or NULL. */
struct dns_cache_entry *dns_cache_get_stale(struct dns_cache *c, const uint8_t *name, uint16_t type,
	uint16_t cls, uint64_t now);
/*
 * RFC 8198: a fresh secure NXDOMAIN entry whose NSEC/NSEC3 records prove that
 * name does not exist either (its answer serves name too), or NULL. b: the
 * NSEC3 hash budget spent on the search.
 */
struct dnssec_budget;
struct dns_cache_entry *dns_cache_nsec_find(struct dns_cache *c, const uint8_t *name, uint16_t type,
	uint16_t cls, uint64_t now, struct dnssec_budget *b);
/* 1 once when a hit at now falls in the entry's last tenth of TTL (the caller refreshes it). */
int dns_cache_entry_prefetch_due(struct dns_cache_entry *e, uint64_t now);
int dns_cache_entry_secure(const struct dns_cache_entry *e);
int dns_cache_entry_rcode(const struct dns_cache_entry *e);
/* Whole seconds since the entry was stored. */
uint32_t dns_cache_entry_age(const struct dns_cache_entry *e, uint64_t now);
/* The stored records (section, owner length, owner, type, class, TTL, RDATA length, RDATA). */
const uint8_t *dns_cache_entry_data(const struct dns_cache_entry *e, size_t *len);
/* Removes every entry (name NULL) or those of one name (every type); returns how many. */
size_t dns_cache_flush(struct dns_cache *c, const uint8_t *name);
/* Takes ownership of e; replaces an entry for the same key; evicts the least recently used. */
void dns_cache_put(struct dns_cache *c, struct dns_cache_entry *e);
/* A cache entry (malloc'd, not in any cache) from a parsed upstream answer; NULL if too large. */
struct dns_cache_entry *dns_cache_entry_from_msg(const struct dns_msg *m, const uint8_t *qname,
	uint16_t qtype, uint16_t qclass, uint64_t now, uint32_t *ttl_out);
/* Marks an entry as DNSSEC-validated secure (answers from it carry AD to clients that ask). */
void dns_cache_entry_set_secure(struct dns_cache_entry *e, int secure);
size_t dns_cache_entry_records(const struct dns_cache_entry *e, uint16_t qtype, struct tb_rr *rrs,
	size_t max, uint8_t *rcode);
/* iterate.c: answers from the cache into out, or iterates and answers cl later (as dns_forward). */
size_t dns_iterate(struct dns_server *s, const struct dns_fwd_client *cl, uint64_t timeout_ms, uint8_t *out,
	size_t cap);
/*
 * RFC 6672 2.2: name with its owner suffix replaced by target, into out
 * (DNS_NAME_MAX). TB_ERR_NOT_FOUND when name is not strictly below owner,
 * TB_ERR_INVALID when the result would be longer than a name.
 */
int dns_dname_substitute(const uint8_t *name, const uint8_t *owner, const uint8_t *target, uint8_t *out);
/* hints.c: adds an A/AAAA address (port 53) to the server named name; TB_ERR_NOT_FOUND if set has no such server. */
int dns_nsset_add_addr(struct dns_nsset *set, const uint8_t *name, const struct dns_rr *rr);
/* hints.c: adds a server (no address yet) unless known or the set is full. */
void dns_nsset_add_ns(struct dns_nsset *set, const uint8_t *name);
/* Root hints: NS records for "." and A/AAAA records for their names, in master-file form. */
int dns_root_hints_parse(const char *text, size_t len, struct dns_nsset *set, char *err, size_t errlen);
int dns_root_hints_builtin(struct dns_nsset *set);
/* Asks the hinted servers for the root's NS set (at start); their answer replaces the hints. */
void dns_iterate_prime(struct dns_server *s);
void dns_iterate_forget(struct dns_server *s, const void *transport);
void dns_iterate_stop(struct dns_server *s);
/* dns.c: hands a forwarded outcome to a resolver caller, on the next loop turn. */
void dns_resolver_deliver(struct dns_server *s, const struct dns_fwd_client *cl,
	const struct dns_cache_entry *e, enum tb_resolve_status status, const char *why);

/* A verified TSIG request: what its answer is signed with. */
struct dns_tsig_ctx {
	const struct dns_tsig_key *key;
	uint8_t mac[64];          /* the request MAC as sent (answers are signed over it) */
	size_t mac_len;
	uint8_t digest[32];       /* the full MAC we computed: what replay detection keys on */
	uint64_t time_signed;
	uint16_t fudge;           /* as accepted: min(request fudge, DNS_TSIG_FUDGE_MAX) */
};
#define DNS_TSIG_RESERVE (DNS_NAME_MAX + 80) /* room an answer keeps for its TSIG record */
/*
 * Checks the TSIG record (the last additional) of m against our keys:
 * *ok = 1 and ctx filled when it verifies; otherwise the NOTAUTH (BADKEY,
 * BADSIG, BADTIME) or FORMERR answer is written to out and its length returned.
 */
size_t dns_tsig_verify(struct dns_server *s, const struct dns_msg *m, const uint8_t *q,
	struct dns_tsig_ctx *ctx, uint8_t *out, size_t cap, int *ok);
int dns_tsig_sign_answer(const struct dns_tsig_ctx *ctx, uint8_t *buf, size_t *len, size_t cap);
/* Signs a request (no request MAC) as a client would: for tests and fuzzing. */
int dns_tsig_sign_request(const struct dns_tsig_key *k, uint8_t *buf, size_t *len, size_t cap,
	uint64_t now);
/* The same with a given fudge (tests of the fudge cap). */
int dns_tsig_sign_request_fudge(const struct dns_tsig_key *k, uint8_t *buf, size_t *len, size_t cap,
	uint64_t now, uint16_t fudge);
/* Loads the remembered signed updates still inside their window from the store (at start). */
int dns_tsig_seen_load(struct dns_server *s);

/*
 * db.c: the only DNS file with SQL. An update's journal is a byte string of
 * changes, each op ('a' add, 'd' delete one record), owner length, owner
 * (wire), type (2), TTL (4), RDATA length (2), RDATA.
 */
extern const struct tb_migration dns_migrations[];
struct dns_db_update {
	char zone[DNS_NAME_TEXT_MAX];
	uint32_t serial;              /* 0: no change, no serial to record */
	struct tb_bytes journal;
	int64_t at;
	uint8_t digest[32];           /* the full request MAC, remembered against replays */
	uint64_t expires;             /* until when (time signed + fudge) */
};
/* Queues the update's rows and MAC as one store job; done(status, u) runs on the loop after the commit. */
int dns_db_write_update(struct dns_server *s, struct dns_db_update *u, void (*done)(int status, void *u));
typedef void (*dns_db_journal_fn)(void *arg, int add, const struct dns_rr *rr);
/* Calls fn for each journal row of zone, oldest first; rows that cannot be read are counted in *malformed. */
int dns_db_journal_read(struct dns_server *s, const char *zone, dns_db_journal_fn fn, void *arg,
	size_t *malformed);
/* Fills ring with up to max remembered MACs still inside their window, oldest first; *n of them. */
int dns_db_tsig_seen_load(struct dns_server *s, struct dns_tsig_seen *ring, size_t max, size_t *n);
/* The lab key's secret as stored (malloc'd into *val), or TB_ERR_NOT_FOUND. */
int dns_db_lab_key_get(struct dns_server *s, void **val, size_t *len);
/* Stores the lab key's secret, synchronously (start-up only). */
int dns_db_lab_key_put(struct dns_server *s, const struct dns_tsig_key *k);
void dns_server_close(struct dns_server *s);

#endif

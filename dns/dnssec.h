/*
 * DNSSEC validation building blocks (RFC 4033-4035, 5155, 6840, 9276): pure
 * functions over parsed records, no I/O and no clock of their own (the caller
 * passes the time; the only state is a cache of built keys, which changes no
 * result), so every rule is checked by unit tests with published
 * vectors and zones signed by real signers.
 *
 * Records are struct dns_rr as dns_msg_parse or dns_zonefile_parse give them
 * (uncompressed RDATA). An RRset is an array of records of one owner, class and
 * type; its signatures are the RRSIGs at that owner covering that type.
 *
 * Work is bounded by a struct dnssec_budget shared by one client query: the
 * KeyTrap defences (CVE-2023-50387, CVE-2023-50868) cap the signature checks
 * per RRset and per query, the keys tried for one key tag, and the NSEC3 hash
 * computations per query. A spent budget makes the answer bogus (SERVFAIL with
 * an Extended DNS Error), never slow.
 */
#ifndef DNS_DNSSEC_H
#define DNS_DNSSEC_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "dns/dns.h"

/* ---- limits (defaults of the dns.dnssec_* options) ---- */
#define DNSSEC_SIG_RRSET_MAX 8       /* signature checks per RRset */
#define DNSSEC_SIG_QUERY_MAX 64      /* signature checks per client query */
#define DNSSEC_KEYTAG_COLLISIONS_MAX 4 /* keys with one signature's key tag tried */
#define DNSSEC_NSEC3_HASH_MAX 64     /* NSEC3 owner hashes per client query */
#define DNSSEC_NSEC3_ITERATIONS_MAX 150 /* above this an NSEC3 proof is insecure (RFC 9276 3.2) */
#define DNSSEC_SKEW_DEFAULT 300      /* seconds of clock skew allowed at both ends of a validity window */
#define DNSSEC_RSA_MIN_BITS 1024     /* smaller RSA keys are refused */
#define DNSSEC_RRSET_MAX 512         /* records of one RRset validated */

/* Validation outcome (RFC 4033 5). */
enum dnssec_status {
	DNSSEC_INDETERMINATE = 0,
	DNSSEC_SECURE = 1,
	DNSSEC_INSECURE = 2,
	DNSSEC_BOGUS = 3,
};
const char *dnssec_status_str(enum dnssec_status s);

/* Extended DNS Error info codes (RFC 8914) the validator gives. */
enum dnssec_ede {
	DNSSEC_EDE_UNSUPPORTED_ALG = 1,
	DNSSEC_EDE_UNSUPPORTED_DS = 2,
	DNSSEC_EDE_INDETERMINATE = 5,
	DNSSEC_EDE_BOGUS = 6,
	DNSSEC_EDE_EXPIRED = 7,
	DNSSEC_EDE_NOT_YET_VALID = 8,
	DNSSEC_EDE_DNSKEY_MISSING = 9,
	DNSSEC_EDE_RRSIGS_MISSING = 10,
	DNSSEC_EDE_NO_ZONE_KEY = 11,
	DNSSEC_EDE_NSEC_MISSING = 12,
	DNSSEC_EDE_NSEC3_ITERATIONS = 27,
};

struct dnssec_budget {
	unsigned sig_rrset_max, sig_query_max, collisions_max, nsec3_hash_max, nsec3_iter_max;
	unsigned sigs;     /* signature checks made for this query */
	unsigned hashes;   /* NSEC3 hashes computed for this query */
	int exhausted;     /* a cap was reached: the answer is bogus */
};
/* A budget with the default limits and nothing spent. */
void dnssec_budget_init(struct dnssec_budget *b);

/* ---- algorithms ---- */
enum {
	DNSSEC_ALG_RSASHA1 = 5,
	DNSSEC_ALG_RSASHA1_NSEC3 = 7,
	DNSSEC_ALG_RSASHA256 = 8,
	DNSSEC_ALG_RSASHA512 = 10,
	DNSSEC_ALG_ECDSAP256 = 13,
	DNSSEC_ALG_ECDSAP384 = 14,
	DNSSEC_ALG_ED25519 = 15,
};
enum { DNSSEC_DS_SHA1 = 1, DNSSEC_DS_SHA256 = 2, DNSSEC_DS_SHA384 = 4 };
#define DNSKEY_F_ZONE 0x0100
#define DNSKEY_F_REVOKE 0x0080
#define DNSKEY_F_SEP 0x0001

/* Signature algorithms we validate (8, 10, 13, 14, 15). */
int dnssec_alg_supported(uint8_t alg);
/* DS digest types we validate (1, 2, 4). */
int dnssec_digest_supported(uint8_t type);

/* RFC 4034 appendix B key tag of a DNSKEY RDATA. */
uint16_t dnssec_key_tag(const uint8_t *rdata, size_t rdlen);

/*
 * Does ds (DS RDATA) name the key dnskey (RDATA) at owner? 1 yes, 0 no,
 * TB_ERR_UNSUPPORTED for a digest type we do not compute.
 */
int dnssec_ds_match(const uint8_t *owner, const uint8_t *ds, size_t dslen, const uint8_t *dnskey,
	size_t keylen);

/* ---- RRSIG fields ---- */
struct dnssec_rrsig {
	uint16_t covered;
	uint8_t alg, labels;
	uint32_t orig_ttl, expiration, inception;
	uint16_t key_tag;
	const uint8_t *signer;     /* points into the RDATA */
	const uint8_t *sig;
	size_t sig_len;
	size_t fixed_len;          /* RDATA octets before the signature */
};
int dnssec_rrsig_parse(const uint8_t *rdata, size_t rdlen, struct dnssec_rrsig *out);

/* RFC 4034 3.1.5 serial-number arithmetic (RFC 1982): is a before b? */
int dnssec_time_before(uint32_t a, uint32_t b);
/*
 * Checks the validity window against now (seconds since 1970) with skew
 * seconds of allowance at both ends: 0, or DNSSEC_EDE_EXPIRED or
 * DNSSEC_EDE_NOT_YET_VALID.
 */
int dnssec_check_window(const struct dnssec_rrsig *sig, uint64_t now, uint32_t skew);

/*
 * The data an RRSIG signs (RFC 4034 3.1.8.1 with 6.2 and 6.3): the RRSIG RDATA
 * without its signature, then each record of the RRset in canonical form
 * (owner lowercased, or the wildcard "*." + its last `labels` labels; the
 * RDATA names of the RFC 4034 6.2 / RFC 6840 5.1 types lowercased; the
 * original TTL), sorted by canonical RDATA, duplicates removed. Appended to out.
 */
int dnssec_signed_data(const uint8_t *rrsig, size_t rrsig_len, const struct dns_rr *rrset, size_t n,
	struct tb_bytes *out);

/*
 * Verifies one signature over signed data with one DNSKEY RDATA: 0 valid,
 * TB_ERR_VERIFY bad, TB_ERR_UNSUPPORTED algorithm, TB_ERR_INVALID a malformed
 * or too small key.
 */
int dnssec_verify_sig(uint8_t alg, const uint8_t *dnskey, size_t keylen, struct tb_buf data,
	struct tb_buf sig);
/*
 * dnssec_verify_sig keeps the key objects it builds (up to 256, least
 * recently used out, keyed by algorithm and the whole RDATA; thread-safe),
 * so the next signature by the same DNSKEY costs only its check. Clearing
 * frees them (tests, shutdown); the count is for tests.
 */
void dnssec_key_cache_clear(void);
size_t dnssec_key_cache_count(void);

/*
 * Validates an RRset with its signatures against the DNSKEYs of zone (its
 * signer): SECURE when one signature from a zone key of zone, inside its
 * window, whose label count fits the owner, verifies; INSECURE when every
 * signature uses an algorithm we do not support; otherwise BOGUS with *ede
 * the reason (RRSIGs missing, expired, not yet valid, DNSKEY missing, bogus).
 * *wild gets the RRSIG label count when the RRset was expanded from a
 * wildcard (fewer labels than its owner), else -1.
 */
enum dnssec_status dnssec_verify_rrset(const struct dns_rr *rrset, size_t n, const struct dns_rr *sigs,
	size_t nsig, const struct dns_rr *keys, size_t nkeys, const uint8_t *zone, uint64_t now,
	uint32_t skew, struct dnssec_budget *b, uint16_t *ede, int *wild);

/*
 * Validates a zone's DNSKEY RRset against its DS RRset (from the validated
 * parent) or trust anchors (DS or DNSKEY records): SECURE when a key that a
 * supported DS names (or an anchor DNSKEY equals) signs the DNSKEY RRset;
 * INSECURE when no DS uses a supported algorithm and digest (RFC 4035 5.2);
 * else BOGUS. A SHA-1 DS counts only when no SHA-256/384 DS names the same
 * key (RFC 4509 3).
 */
enum dnssec_status dnssec_verify_dnskeys(const struct dns_rr *keys, size_t nkeys, const struct dns_rr *sigs,
	size_t nsig, const struct dns_rr *anchors, size_t nanchors, const uint8_t *zone, uint64_t now,
	uint32_t skew, struct dnssec_budget *b, uint16_t *ede);

/* ---- denial of existence ---- */

/* Is type set in an NSEC/NSEC3 type bitmap (bm, len)? */
int dnssec_bitmap_has(const uint8_t *bm, size_t len, uint16_t type);

/* RFC 5155 5 hash of name (out: 20 octets). Counts against b (NULL: unbounded). */
int dnssec_nsec3_hash(const uint8_t *name, const uint8_t *salt, size_t salt_len, uint16_t iterations,
	uint8_t out[20], struct dnssec_budget *b);

/* What a denial proof is asked to show. */
enum dnssec_denial {
	DNSSEC_DENY_NXDOMAIN,  /* the name does not exist, nor a wildcard that would match it */
	DNSSEC_DENY_NODATA,    /* the name exists without the type (no wildcard match either) */
	DNSSEC_DENY_WILDCARD,  /* an answer expanded from a wildcard: the name itself does not exist */
	DNSSEC_DENY_DS,        /* no DS at a delegation: secure NODATA or insecure (opt-out) */
};

/*
 * Checks a denial of existence for qname/qtype from validated NSEC or NSEC3
 * records (records of other types are ignored). zone: the zone the records
 * come from. For DNSSEC_DENY_WILDCARD, wild is the RRSIG label count of the
 * expanded answer. Returns SECURE (proven), INSECURE (an opt-out span covers
 * the name, or NSEC3 iterations above the cap: *ede 27), or BOGUS (*ede 12).
 */
enum dnssec_status dnssec_deny(enum dnssec_denial what, const uint8_t *qname, uint16_t qtype, int wild,
	const struct dns_rr *rrs, size_t n, const uint8_t *zone, struct dnssec_budget *b, uint16_t *ede);

/* ---- the resolver's chain of trust (validate.c) ---- */

struct dns_server;
struct dns_nsset;

#define DNS_VAL_ZONES_MAX 16      /* zone cuts one query's chain of trust may hold */
#define DNS_VAL_APEX_MAX 4        /* zone apexes met without a referral, remembered per query */

/*
 * One zone cut met while iterating: its servers (to ask for its DNSKEY set),
 * what the referral into it carried (DS or the NSEC/NSEC3 proving there is
 * none, with their RRSIGs), its DNSKEY set once fetched, and the verdict.
 * Records are kept as iterate.c's chain: section, owner, type, class, TTL,
 * 2-octet RDATA length, RDATA.
 */
struct dns_val_zone {
	uint8_t name[DNS_NAME_MAX];
	uint8_t parent[DNS_NAME_MAX];
	int root;
	struct dns_nsset *ns;
	struct tb_bytes from_parent;
	struct tb_bytes keys;
	int keys_fetched, done;
	enum dnssec_status st;
	uint16_t ede;
};

struct dns_val {
	size_t n;
	struct dns_val_zone *z[DNS_VAL_ZONES_MAX];
	struct dnssec_budget budget;
	int overflow;             /* more cuts than DNS_VAL_ZONES_MAX: indeterminate */
	size_t n_apex;            /* zone apexes seen in answers (their SOA) that no referral led to */
	uint8_t apex[DNS_VAL_APEX_MAX][DNS_NAME_MAX];
};

void dns_val_init(struct dns_val *v, const struct dns_server *s);
void dns_val_free(struct dns_val *v);
/* A zone cut: the root (parent NULL), or a referral from parent with its authority section. */
void dns_val_cut(struct dns_val *v, const uint8_t *parent, const uint8_t *zone, const struct dns_nsset *ns,
	const struct dns_rr *auth, size_t n);
/*
 * Walks the chain of trust as far as the keys at hand allow: returns the zone
 * whose DNSKEY set must be fetched next (then dns_val_keys), or NULL when
 * every zone has its verdict.
 */
struct dns_val_zone *dns_val_step(struct dns_val *v, struct dns_server *s, uint64_t now);
/*
 * Starts the chain at zone, a cut iterate.c begins at instead of the root,
 * with the verdict kept for it (secure with its validated DNSKEY set, or
 * insecure): 0, or TB_ERR_NOT_FOUND when no live verdict is kept (then the
 * chain must start higher). now in seconds since 1970.
 */
int dns_val_start(struct dns_val *v, struct dns_server *s, const uint8_t *zone, const struct dns_nsset *ns,
	uint64_t now);
/* Zone verdicts kept across queries (validate.c): slots, and the longest a verdict is kept.
 * Freeing them also frees the built keys dnssec_verify_sig keeps. */
#define DNS_VAL_CACHE_MAX 256
#define DNS_VAL_CACHE_TTL_MAX 3600
void dns_val_cache_free(struct dns_server *s);
/*
 * A zone met without a referral: an RRSIG signer (in the answer chain or a
 * validated DNSKEY set) below every zone of the chain. Returns the deepest zone
 * above it, whose servers are to be asked for its DS, and its name into name;
 * NULL when there is none.
 */
struct dns_val_zone *dns_val_need_ds(struct dns_val *v, const uint8_t *chain, size_t len, uint8_t *name);
/*
 * A zone apex met without a referral (its SOA answered a query of the zone
 * above, as when one server serves both): dns_val_need_ds asks for its DS
 * too, so that an unsigned child is proven insecure rather than found
 * unsigned inside its signed parent. The chain's own SOA records count too.
 */
void dns_val_apex(struct dns_val *v, const uint8_t *name);
/* The DS answer (chain records: DS and RRSIGs, or the NSEC/NSEC3 denial) for zone, asked of above. */
void dns_val_cut_ds(struct dns_val *v, const uint8_t *zone, const uint8_t *above, const uint8_t *chain,
	size_t len);
/* The zone of the chain named name, or NULL (forward.c: is this cut known?). */
struct dns_val_zone *dns_val_find(const struct dns_val *v, const uint8_t *name);
/* The deepest zone of the chain holding name, or NULL. */
struct dns_val_zone *dns_val_zone_of(const struct dns_val *v, const uint8_t *name);
/* The fetched DNSKEY answer for zone (chain records), or nothing (len 0) when the fetch failed. */
void dns_val_keys(struct dns_val *v, const uint8_t *zone, const uint8_t *chain, size_t len);
/*
 * The verdict on a final answer (chain records) for qname/qtype with rcode:
 * every answer RRset verified with its zone's keys, wildcard expansions and
 * negative answers proven by NSEC/NSEC3. *ede is set for BOGUS and INSECURE.
 */
enum dnssec_status dns_val_answer(struct dns_val *v, const struct dns_server *s, const uint8_t *chain,
	size_t len, const uint8_t *qname, uint16_t qtype, int rcode, uint64_t now, uint16_t *ede);

/* Trust anchors (DS or DNSKEY records in master-file form) into chain records; err says why not. */
int dns_val_anchors_parse(const char *text, size_t len, struct tb_bytes *out, char *err, size_t errlen);
/* The root's KSK-2017 and KSK-2024 as DS records. */
extern const char dns_val_root_anchors[];

#endif

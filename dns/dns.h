/*
 * DNS: the public face of the dns folder.
 *
 * - Names travel in uncompressed wire form (length-prefixed labels ending in
 *   the root label), case preserved; every comparison is case-insensitive and
 *   dns_name_cmp gives the RFC 4034 section 6.1 canonical order.
 * - dns_msg_parse reads a whole message, bounded: decompression follows only
 *   backward pointers with a hop cap, names are at most 255 octets, counts
 *   must fit the message, RDATA of every known type is checked against its
 *   structure and stored uncompressed. Any failure is TB_ERR_INVALID or
 *   TB_ERR_TRUNCATED, which the server answers with FORMERR.
 * - struct dns_builder writes a message into a caller buffer with name
 *   compression; a record that does not fit leaves the message unchanged and
 *   returns TB_ERR_TOO_LARGE, so the caller can set TC.
 * - Presentation format (text) in both directions for every known type and
 *   RFC 3597 `\# len hex` for the rest; a master-file parser (zonefile.c).
 */
#ifndef DNS_DNS_H
#define DNS_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* ---- limits ---- */
#define DNS_NAME_MAX 255        /* octets of a wire name, root label included */
/* room for any name in presentation form (dns_name_str): 255 octets, each at most "\DDD", the dots, NUL */
#define DNS_NAME_TEXT_MAX 1100
#define DNS_LABEL_MAX 63
#define DNS_PTR_HOPS_MAX 32     /* compression pointers followed per name */
#define DNS_MSG_MAX 65535
#define DNS_MSG_RR_MAX 4096     /* records kept from one message (all sections) */
#define DNS_MSG_QD_MAX 4        /* questions kept from one message */
#define DNS_MSG_STORAGE_MAX (1u << 20) /* decompressed names + RDATA of one message */
#define DNS_EDNS_OPTS_MAX 32    /* EDNS options kept from one OPT record */
#define DNS_COMP_MAX 96         /* compression table entries of a builder */
#define DNS_UDP_PAYLOAD 1232    /* our EDNS UDP payload size (DNS flag day 2020) */
#define DNS_TXT_MAX 65535

/* ---- protocol numbers ---- */
enum dns_type {
	DNS_T_A = 1,
	DNS_T_NS = 2,
	DNS_T_CNAME = 5,
	DNS_T_SOA = 6,
	DNS_T_PTR = 12,
	DNS_T_HINFO = 13,
	DNS_T_MX = 15,
	DNS_T_TXT = 16,
	DNS_T_AAAA = 28,
	DNS_T_SRV = 33,
	DNS_T_DNAME = 39,
	DNS_T_OPT = 41,
	DNS_T_DS = 43,
	DNS_T_RRSIG = 46,
	DNS_T_NSEC = 47,
	DNS_T_DNSKEY = 48,
	DNS_T_NSEC3 = 50,
	DNS_T_NSEC3PARAM = 51,
	DNS_T_TLSA = 52,
	DNS_T_SVCB = 64,
	DNS_T_HTTPS = 65,
	DNS_T_TKEY = 249,
	DNS_T_TSIG = 250,
	DNS_T_IXFR = 251,
	DNS_T_AXFR = 252,
	DNS_T_ANY = 255,
	DNS_T_CAA = 257,
};

enum dns_class {
	DNS_C_IN = 1,
	DNS_C_CH = 3,
	DNS_C_HS = 4,
	DNS_C_NONE = 254,
	DNS_C_ANY = 255,
};

enum dns_rcode {
	DNS_RCODE_NOERROR = 0,
	DNS_RCODE_FORMERR = 1,
	DNS_RCODE_SERVFAIL = 2,
	DNS_RCODE_NXDOMAIN = 3,
	DNS_RCODE_NOTIMP = 4,
	DNS_RCODE_REFUSED = 5,
	DNS_RCODE_YXDOMAIN = 6,
	DNS_RCODE_YXRRSET = 7,
	DNS_RCODE_NXRRSET = 8,
	DNS_RCODE_NOTAUTH = 9,
	DNS_RCODE_NOTZONE = 10,
	DNS_RCODE_BADVERS = 16, /* extended (OPT) */
	DNS_RCODE_BADSIG = 16,  /* the same value, in the TSIG error field */
	DNS_RCODE_BADKEY = 17,
	DNS_RCODE_BADTIME = 18,
	DNS_RCODE_BADCOOKIE = 23,
};

enum dns_opcode { DNS_OP_QUERY = 0, DNS_OP_NOTIFY = 4, DNS_OP_UPDATE = 5 };

/* Header flag bits (second 16-bit word). */
#define DNS_F_QR 0x8000
#define DNS_F_AA 0x0400
#define DNS_F_TC 0x0200
#define DNS_F_RD 0x0100
#define DNS_F_RA 0x0080
#define DNS_F_AD 0x0020
#define DNS_F_CD 0x0010
#define DNS_OPCODE(f) (((f) >> 11) & 0xf)
#define DNS_RCODE(f) ((f)&0xf)

/* EDNS. */
#define DNS_EDNS_DO 0x8000
enum dns_edns_code {
	DNS_OPT_COOKIE = 10,
	DNS_OPT_PADDING = 12,
	DNS_OPT_EDE = 15,
};
/* Extended DNS Error info codes (RFC 8914) we use. */
enum dns_ede {
	DNS_EDE_OTHER = 0,
	DNS_EDE_STALE = 3,
	DNS_EDE_FORGED = 4,
	DNS_EDE_BLOCKED = 15,
	DNS_EDE_CENSORED = 16,
	DNS_EDE_FILTERED = 17,
	DNS_EDE_PROHIBITED = 18,
	DNS_EDE_NOT_AUTHORITATIVE = 20,
	DNS_EDE_NOT_SUPPORTED = 21,
	DNS_EDE_NO_REACHABLE_AUTHORITY = 22,
	DNS_EDE_NETWORK_ERROR = 23,
	DNS_EDE_INVALID_DATA = 24,
};

enum dns_section { DNS_SEC_QUESTION = 0, DNS_SEC_ANSWER = 1, DNS_SEC_AUTHORITY = 2, DNS_SEC_ADDITIONAL = 3 };

/* ---- names (name.c) ---- */

/* Length of a wire name at p (bounded by len), or a negative error. No pointers allowed. */
int dns_name_len(const uint8_t *p, size_t len);
/* Number of labels, root not counted. */
int dns_name_labels(const uint8_t *name);
/* Case-insensitive equality of two wire names. */
int dns_name_eq(const uint8_t *a, const uint8_t *b);
/* RFC 4034 6.1 canonical order: <0, 0, >0. */
int dns_name_cmp(const uint8_t *a, const uint8_t *b);
/* Is `name` equal to or below `zone`? */
int dns_name_is_sub(const uint8_t *name, const uint8_t *zone);
/* Pointer to the suffix of name after skipping `n` labels. */
const uint8_t *dns_name_skip(const uint8_t *name, int n);
/* Lowercases ASCII letters in place. */
void dns_name_lower(uint8_t *name);
/* A simple hash of the lowercased name (for tables). */
uint32_t dns_name_hash(const uint8_t *name);
/* Labels in a name: at most 127 in 255 octets, plus room to stop. */
#define DNS_NAME_LABELS_MAX 128
/*
 * Every suffix of name at once (up to max labels): starts[i] is the offset of
 * label i, hashes[i] a case-insensitive hash of the suffix there (the message
 * builder's, not dns_name_hash). Returns the number of labels (0 for the root).
 */
int dns_name_suffix_hashes(const uint8_t *name, uint16_t *starts, uint32_t *hashes, int max);
/*
 * Presentation text -> wire. Relative names get `origin` appended (origin is a
 * wire name, or NULL: then a relative name is an error); "@" is the origin.
 * Writes at most DNS_NAME_MAX octets to out and the length to *outlen.
 */
int dns_name_from_text(const char *s, size_t n, const uint8_t *origin, uint8_t *out,
	size_t *outlen);
/* Wire -> presentation, absolute with trailing dot, escaping as RFC 4343. */
int dns_name_to_text(const uint8_t *name, struct tb_bytes *out);
/* Convenience: static-size text into buf (at least 1010 bytes for any name). */
const char *dns_name_str(const uint8_t *name, char *buf, size_t buflen);

/* ---- messages (wire.c) ---- */

struct dns_question {
	const uint8_t *name; /* wire name, uncompressed */
	uint16_t qtype;
	uint16_t qclass;
};

struct dns_rr {
	const uint8_t *owner; /* wire name, uncompressed */
	uint16_t type;
	uint16_t rclass;
	uint32_t ttl;
	const uint8_t *rdata; /* uncompressed, structure checked for known types */
	uint16_t rdlen;
};

struct dns_edns_opt {
	uint16_t code;
	uint16_t len;
	const uint8_t *data;
};

struct dns_edns {
	int present;
	uint16_t udp_size;
	uint8_t ext_rcode;  /* upper 8 bits of the 12-bit RCODE */
	uint8_t version;
	uint16_t flags;     /* DO and the rest of the Z field */
	size_t n_opts;
	struct dns_edns_opt opts[DNS_EDNS_OPTS_MAX];
	/* Cookie (RFC 7873): client cookie 8 bytes, server cookie 0 or 8..32. */
	int has_cookie;
	uint8_t cookie[40];
	uint8_t cookie_len;
};

struct dns_msg {
	uint16_t id;
	uint16_t flags;
	uint16_t count[4];             /* header counts as received */
	size_t n_qd;
	struct dns_question qd[DNS_MSG_QD_MAX];
	struct dns_rr *rr;             /* answer, then authority, then additional (OPT removed) */
	size_t n_rr[4];                /* index DNS_SEC_ANSWER.. ; [0] unused */
	struct dns_edns edns;
	int has_tsig;                  /* the last additional record is TSIG */
	size_t tsig_offset;            /* offset of the TSIG record in the raw message */
	uint8_t *storage;              /* owns the names and RDATA the records point to */
	size_t storage_len;
};

/* Records of one section. */
static inline struct dns_rr *dns_msg_section(const struct dns_msg *m, int sec, size_t *n)
{
	size_t off = 0;
	for (int s = DNS_SEC_ANSWER; s < sec; s++)
		off += m->n_rr[s];
	*n = m->n_rr[sec];
	return m->rr + off;
}

/*
 * Parses a complete message. On error *m is left freed (dns_msg_free safe).
 * Returns 0, TB_ERR_TRUNCATED, TB_ERR_INVALID, TB_ERR_TOO_LARGE or TB_ERR_NOMEM.
 */
int dns_msg_parse(struct dns_msg *m, const uint8_t *p, size_t len);
void dns_msg_free(struct dns_msg *m);

/*
 * Reads a possibly compressed name at *off in msg[0..len) into out
 * (DNS_NAME_MAX bytes), advancing *off past it. Only backward pointers,
 * at most DNS_PTR_HOPS_MAX of them.
 */
int dns_name_unpack(const uint8_t *msg, size_t len, size_t *off, uint8_t *out, size_t *outlen);

/*
 * Checks RDATA structure of a known type (uncompressed form); unknown types
 * always pass. Used for zone data and update records.
 */
int dns_rdata_check(uint16_t type, const uint8_t *rdata, size_t rdlen);

struct dns_builder {
	uint8_t *p;
	size_t cap;      /* hard size limit (UDP payload or 65535) */
	size_t len;
	size_t reserve;  /* bytes kept free for the OPT record (and TSIG) */
	int section;     /* current section; records must come in order */
	uint16_t count[4];
	size_t n_comp;
	struct {
		uint16_t off;   /* offset of a name suffix in the message */
		uint16_t nlen;  /* its uncompressed length */
		uint32_t hash;  /* its dns_name_suffix_hashes hash */
	} comp[DNS_COMP_MAX];
};

void dns_builder_init(struct dns_builder *b, uint8_t *buf, size_t cap, uint16_t id, uint16_t flags);
void dns_builder_set_flags(struct dns_builder *b, uint16_t flags);
uint16_t dns_builder_flags(const struct dns_builder *b);
int dns_builder_question(struct dns_builder *b, const uint8_t *name, uint16_t qtype, uint16_t qclass);
/* Adds one RR; rdata uncompressed. TB_ERR_TOO_LARGE leaves the message unchanged. */
int dns_builder_rr(struct dns_builder *b, int section, const uint8_t *owner, uint16_t type,
	uint16_t rclass, uint32_t ttl, const uint8_t *rdata, size_t rdlen);
/* Appends an OPT record (always fits if reserved). ext_rcode: upper bits of rcode. */
int dns_builder_opt(struct dns_builder *b, uint16_t udp_size, uint8_t ext_rcode, uint16_t flags,
	const struct dns_edns_opt *opts, size_t n, size_t pad_block);
/* Writes the header counts; returns the message length. */
size_t dns_builder_finish(struct dns_builder *b);

/* Encoded size of an OPT record carrying these options (for reserving room). */
size_t dns_opt_size(const struct dns_edns_opt *opts, size_t n);

/* ---- presentation format (text.c) ---- */

/* Mnemonic for a type ("A", "TYPE65280"); buf must hold 16 bytes. */
const char *dns_type_str(uint16_t type, char *buf);
/* "A" / "TYPE65280" -> number; negative when unknown. Case-insensitive. */
int dns_type_from_str(const char *s, size_t n);
const char *dns_class_str(uint16_t cls, char *buf);
int dns_class_from_str(const char *s, size_t n);
const char *dns_rcode_str(int rcode);

/* RDATA -> text (no owner/ttl/type). Unknown types as `\# len hex`. */
int dns_rdata_to_text(uint16_t type, const uint8_t *rdata, size_t rdlen, struct tb_bytes *out);
/* A whole record: "owner TTL CLASS TYPE rdata". */
int dns_rr_to_text(const struct dns_rr *rr, struct tb_bytes *out);

/* A TTL or time period: seconds, or BIND units ("1w2d3h4m5s"), at most 2^31 - 1 (RFC 2181 8). */
int dns_ttl_from_text(const char *s, size_t n, uint32_t *out);

/* A token of presentation text (zone file or config). */
struct dns_tok {
	const char *p;
	size_t len;
	int quoted;    /* was inside "..." (escapes still raw) */
	unsigned line, col;
};

/*
 * Text tokens -> RDATA wire. origin completes relative names. On error,
 * *bad is the index of the offending token (or n) and msg says why.
 */
int dns_rdata_from_text(uint16_t type, const struct dns_tok *toks, size_t n,
	const uint8_t *origin, struct tb_bytes *out, size_t *bad, const char **msg);

/* ---- master files (zonefile.c) ---- */

#define DNS_ZONE_TOKENS_MAX 1024    /* tokens in one record */
#define DNS_ZONE_RECORDS_MAX 1000000 /* records in one file */

struct dns_zone_error {
	unsigned line, col;
	char msg[160];
};

/* Called for each record; rr->owner/rdata valid only during the call. Non-zero stops. */
typedef int (*dns_zone_rr_cb)(void *arg, const struct dns_rr *rr);

/*
 * Parses an RFC 1035 master file held in memory. origin: initial $ORIGIN
 * (wire) or NULL. default_ttl: used until $TTL or an explicit TTL appears.
 * $INCLUDE is refused. Errors fill *err with line and column.
 */
int dns_zonefile_parse(const char *text, size_t len, const uint8_t *origin, uint32_t default_ttl,
	dns_zone_rr_cb cb, void *arg, struct dns_zone_error *err);


/* ---- local zones (zone.c) ---- */

#define DNS_ZONE_NODES_MAX 1000000  /* names in one zone */
#define DNS_RRSET_MAX 4096          /* records in one RRset */
#define DNS_CNAME_CHAIN_MAX 8       /* CNAMEs followed inside local data */
#define DNS_LOOKUP_RRSETS_MAX 64    /* RRsets one lookup may return per section */

struct dns_rrset {
	uint16_t type;
	uint32_t ttl;
	size_t n;              /* records */
	size_t cap;
	uint8_t **rd;          /* each: 2-octet big-endian length, then RDATA */
	struct dns_rrset *next;
};

struct dns_node {
	uint8_t *name;         /* wire form as first written (case kept) */
	uint32_t hash;         /* dns_name_hash (case-insensitive) */
	struct dns_rrset *rrsets;
	struct dns_node *hnext;
	uint32_t children;     /* nodes directly below this one */
};

struct dns_zone {
	uint8_t origin[DNS_NAME_MAX];
	int origin_labels;
	struct dns_node **buckets;
	size_t nbuckets, nnodes, nrecords;
	struct dns_node *apex;
	struct dns_zone *next;
	int source;            /* where its data came from (enum dns_zone_source) */
};

enum dns_zone_source { DNS_ZONE_CONFIG = 0, DNS_ZONE_FILE = 1, DNS_ZONE_LAB = 2 };

struct dns_zoneset {
	struct dns_zone *zones;
	size_t n;
};

/* One RRset of a lookup result; owner is the name to write (wildcards: the query name). */
struct dns_ans {
	const uint8_t *owner;
	const struct dns_rrset *rs;
};

struct dns_lookup {
	int rcode;                 /* NOERROR or NXDOMAIN */
	int aa;                    /* authoritative (0 for a referral) */
	int referral;
	int wildcard;              /* the answer came from a wildcard */
	const struct dns_zone *zone;
	size_t n_an, n_ns, n_ar;
	struct dns_ans an[DNS_LOOKUP_RRSETS_MAX];
	struct dns_ans ns[DNS_LOOKUP_RRSETS_MAX];
	struct dns_ans ar[DNS_LOOKUP_RRSETS_MAX];
	uint32_t neg_ttl;          /* SOA in authority: min(SOA TTL, SOA minimum) (RFC 2308) */
	/* CNAMEs synthesised from DNAMEs (RFC 6672): their RRsets and RDATA live here */
	size_t n_synth;
	struct dns_rrset synth[DNS_CNAME_CHAIN_MAX + 1];
	uint8_t *synth_rd[DNS_CNAME_CHAIN_MAX + 1];
	uint8_t synth_buf[DNS_CNAME_CHAIN_MAX + 1][2 + DNS_NAME_MAX];
};

static inline uint16_t dns_rd_len(const uint8_t *rd)
{
	return (uint16_t)(rd[0] << 8 | rd[1]);
}

void dns_zoneset_init(struct dns_zoneset *zs);
void dns_zoneset_free(struct dns_zoneset *zs);
/* A new empty zone; TB_ERR_EXISTS when the origin is already served. */
int dns_zone_new(struct dns_zoneset *zs, const uint8_t *origin, struct dns_zone **out);
/*
 * Adds a record (owner must be in the zone; RDATA structure checked; an exact
 * duplicate is ignored; the RRset takes the TTL of the last record added).
 * TB_ERR_EXISTS for CNAME beside other data.
 */
int dns_zone_add_rr(struct dns_zone *z, const struct dns_rr *rr);
/* Removes records: one (rdata != NULL), an RRset (type), or a whole name (type ANY). */
int dns_zone_del_rr(struct dns_zone *z, const uint8_t *owner, uint16_t type, const uint8_t *rdata,
	size_t rdlen);
struct dns_node *dns_zone_find(const struct dns_zone *z, const uint8_t *name);
struct dns_rrset *dns_node_rrset(const struct dns_node *n, uint16_t type);
/* Adds an SOA and NS when the zone lacks them (lab convenience); checks the apex. */
int dns_zone_finish(struct dns_zone *z, char *err, size_t errlen);
/* The most specific zone containing name, or NULL. */
const struct dns_zone *dns_zoneset_find(const struct dns_zoneset *zs, const uint8_t *name);
/*
 * Answers qname/qtype from a zone (RFC 1034 4.3.2 with RFC 4592 wildcards):
 * answers, CNAME chains inside the zone, NODATA and NXDOMAIN with the SOA in
 * authority, referrals with glue below zone cuts.
 */
void dns_zone_lookup(const struct dns_zone *z, const uint8_t *qname, uint16_t qtype,
	struct dns_lookup *out);

#endif

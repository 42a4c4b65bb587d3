/*
 * Certificate Transparency log: the public face of ctlog/.
 *
 * Pure pieces (no loop, no store), each in its own file:
 *   merkle.c  RFC 6962 tree hashes, inclusion and consistency proofs (made
 *             from a reader of complete-subtree hashes, so tiles can back
 *             them), their verification, and tlog-tiles coordinates/paths.
 *   leaf.c    MerkleTreeLeaf / TimestampedEntry, CtExtensions (leaf_index)
 *             and the static-ct-api TileLeaf, with strict decoders.
 *   sct.c     SCT v1 and its signature input, SignedCertificateTimestampList,
 *             TreeHeadSignature and the checkpoint signed note (type 0x05).
 *   chain.c   add-chain / add-pre-chain bodies, chain validation against the
 *             accepted roots, precertificate TBS reconstruction.
 *
 * Everything returns 0 or a negative TB_ERR_* code (core/error.h).
 */
#ifndef CT_CTLOG_H
#define CT_CTLOG_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct tb_pkey;

/* ---- Merkle tree (RFC 6962 section 2.1) -------------------------------- */

#define CT_HASH_LEN 32
/* A proof for a tree of up to 2^63 leaves has at most 64 hashes. */
#define CT_MAX_PROOF 64

/* SHA-256(0x00 || leaf) */
int ct_hash_leaf(struct tb_buf leaf, uint8_t out[CT_HASH_LEN]);
/* SHA-256(0x01 || left || right) */
int ct_hash_children(const uint8_t left[CT_HASH_LEN], const uint8_t right[CT_HASH_LEN],
	uint8_t out[CT_HASH_LEN]);
/* MTH of the empty tree: SHA-256(""). */
void ct_empty_root(uint8_t out[CT_HASH_LEN]);

/*
 * Reads the hash of a complete subtree: MTH(D[index * 2^level : (index + 1) * 2^level]).
 * Proof generation asks only for subtrees that lie inside the tree it works on.
 */
typedef int (*ct_subtree_fn)(void *arg, int level, uint64_t index, uint8_t out[CT_HASH_LEN]);

/* MTH(D[0:size]) */
int ct_tree_hash(ct_subtree_fn get, void *arg, uint64_t size, uint8_t out[CT_HASH_LEN]);
/* PATH(index, D[0:size]); *n_out hashes written to proof (at most CT_MAX_PROOF). */
int ct_inclusion_proof(ct_subtree_fn get, void *arg, uint64_t index, uint64_t size,
	uint8_t proof[][CT_HASH_LEN], size_t *n_out);
/* PROOF(size1, D[0:size2]) */
int ct_consistency_proof(ct_subtree_fn get, void *arg, uint64_t size1, uint64_t size2,
	uint8_t proof[][CT_HASH_LEN], size_t *n_out);

/* RFC 9162 section 2.1.3.2: 0 or TB_ERR_VERIFY / TB_ERR_INVALID. */
int ct_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf_hash[CT_HASH_LEN],
	const uint8_t proof[][CT_HASH_LEN], size_t n, const uint8_t root[CT_HASH_LEN]);
/* RFC 9162 section 2.1.4.2 */
int ct_verify_consistency(uint64_t size1, uint64_t size2, const uint8_t proof[][CT_HASH_LEN],
	size_t n, const uint8_t root1[CT_HASH_LEN], const uint8_t root2[CT_HASH_LEN]);

/* ---- tiles (C2SP tlog-tiles, height 8) --------------------------------- */

#define CT_TILE_HEIGHT 8
#define CT_TILE_WIDTH 256
#define CT_TILE_BYTES (CT_TILE_WIDTH * CT_HASH_LEN)
/* Tile levels 0..5 cover 2^48 entries, the most tlog-tiles lets a path name. */
#define CT_TILE_MAX_LEVEL 5
/* tile level value used for data tiles in struct ct_tile */
#define CT_TILE_DATA (-1)

struct ct_tile {
	int level;      /* 0..CT_TILE_MAX_LEVEL, or CT_TILE_DATA */
	uint64_t index; /* N */
	unsigned width; /* 1..256; 256 = full tile (no .p/ suffix) */
};

/*
 * Width of tile (level, index) in a tree of `size` leaves: 256 when full, the
 * partial width otherwise, 0 when the tree has no such tile. Data tiles use
 * level 0's widths.
 */
unsigned ct_tile_width(int level, uint64_t index, uint64_t size);
/* Writes "tile/<L>/<N>[.p/<W>]" or "tile/data/<N>[.p/<W>]". */
int ct_tile_path(struct tb_bytes *out, const struct ct_tile *t);
/*
 * Parses the part of a path after "tile/": "<L>/<N>[.p/<W>]" or
 * "data/<N>[.p/<W>]", strictly (canonical encoding only, no leading zeros).
 */
int ct_tile_parse(const char *s, size_t len, struct ct_tile *t);

/*
 * Reads the first `width` hashes of tile (level, index) into out
 * (width * CT_HASH_LEN bytes). A stored tile wider than asked may be
 * truncated: a narrower partial tile is always a prefix of a wider one.
 */
typedef int (*ct_tile_read_fn)(void *arg, int level, uint64_t index, unsigned width, uint8_t *out);

/*
 * A ct_subtree_fn over tiles for a tree of `size` leaves: hashes at levels
 * that are multiples of 8 come straight from a tile, the others are
 * recomputed from the tile below. The last tile read is cached.
 */
struct ct_tile_hasher {
	ct_tile_read_fn read;
	void *arg;
	uint64_t size;
	/* cache of one tile */
	int c_level;
	uint64_t c_index;
	unsigned c_width; /* 0: empty */
	uint8_t c_data[CT_TILE_BYTES];
};
void ct_tile_hasher_init(struct ct_tile_hasher *h, ct_tile_read_fn read, void *arg, uint64_t size);
int ct_tile_hasher_get(void *h, int level, uint64_t index, uint8_t out[CT_HASH_LEN]);

/*
 * The right edge of the tree, enough to append leaves and compute new tiles
 * and the root without reading anything back: for every tile level, the
 * hashes of the current partial tile.
 */
struct ct_edge {
	uint64_t size;
	unsigned width[CT_TILE_MAX_LEVEL + 2];
	uint8_t hashes[CT_TILE_MAX_LEVEL + 2][CT_TILE_BYTES];
};
/* Rebuilds the edge of a tree of `size` leaves from its tiles. */
int ct_edge_load(struct ct_edge *e, uint64_t size, ct_tile_read_fn read, void *arg);
/*
 * Appends one leaf hash. For every tile that becomes full, calls
 * full(arg, level, index, data) (data is CT_TILE_BYTES long) before it is cleared.
 */
typedef int (*ct_tile_emit_fn)(void *arg, int level, uint64_t index, unsigned width,
	const uint8_t *data);
int ct_edge_append(struct ct_edge *e, const uint8_t leaf_hash[CT_HASH_LEN], ct_tile_emit_fn full,
	void *arg);
/* Calls emit for every non-empty partial tile of the edge. */
int ct_edge_partials(const struct ct_edge *e, ct_tile_emit_fn emit, void *arg);
/* MTH of the whole tree. */
int ct_edge_root(const struct ct_edge *e, uint8_t out[CT_HASH_LEN]);

/* ---- log entries (RFC 6962 section 3.4, static-ct-api TileLeaf) -------- */

enum ct_entry_type {
	CT_ENTRY_X509 = 0,
	CT_ENTRY_PRECERT = 1,
};

/* ASN.1Cert<1..2^24-1>: the largest certificate the encodings can carry. */
#define CT_MAX_ASN1CERT ((1u << 24) - 1)
/* Fingerprint certificate_chain<0..2^16-1> holds at most this many issuers. */
#define CT_MAX_TILE_CHAIN (65535 / CT_HASH_LEN)
/* Bytes of a CtExtensions field holding only leaf_index (type, length, uint40). */
#define CT_LEAF_INDEX_EXT_LEN 8
/* uint40 */
#define CT_MAX_LEAF_INDEX ((((uint64_t)1) << 40) - 1)

/*
 * One log entry. Slices are borrowed (from the decoder's input or the
 * caller's buffers). TileLeaf-only fields are ignored by the RFC 6962
 * encoders.
 */
struct ct_entry {
	uint64_t timestamp;             /* milliseconds since the epoch */
	enum ct_entry_type type;
	struct tb_buf cert;             /* x509: the certificate; precert: the TBSCertificate */
	uint8_t issuer_key_hash[CT_HASH_LEN]; /* precert: SHA-256 of the issuer's SPKI */
	struct tb_buf extensions;       /* CtExtensions content, without its length prefix */
	struct tb_buf precert;          /* TileLeaf, precert: the submitted precertificate */
	struct tb_buf chain_fps;        /* TileLeaf: n * 32 bytes, SHA-256 of each issuer */
};

/* Appends the CtExtensions content with one leaf_index extension (8 bytes). */
int ct_extensions_leaf_index(struct tb_bytes *out, uint64_t leaf_index);
/*
 * Parses CtExtensions content strictly (one-byte types, no duplicates, no
 * trailing bytes) and returns the leaf_index; TB_ERR_NOT_FOUND if absent.
 */
int ct_extensions_parse(struct tb_buf ext, uint64_t *leaf_index);

/* TimestampedEntry */
int ct_timestamped_entry_write(struct tb_bytes *out, const struct ct_entry *e);
int ct_timestamped_entry_read(struct tb_reader *r, struct ct_entry *e);
/* MerkleTreeLeaf: version v1, timestamped_entry, then the TimestampedEntry. */
int ct_merkle_leaf_write(struct tb_bytes *out, const struct ct_entry *e);
int ct_merkle_leaf_read(struct tb_buf in, struct ct_entry *e);
/* The leaf hash of the entry: SHA-256(0x00 || MerkleTreeLeaf). */
int ct_entry_leaf_hash(const struct ct_entry *e, uint8_t out[CT_HASH_LEN]);
/* static-ct-api TileLeaf */
int ct_tile_leaf_write(struct tb_bytes *out, const struct ct_entry *e);
/* Reads one TileLeaf from r (more may follow: a data tile is a sequence). */
int ct_tile_leaf_read(struct tb_reader *r, struct ct_entry *e);
/*
 * Splits a data tile into exactly `count` TileLeafs (no trailing bytes);
 * entries must hold count elements.
 */
int ct_data_tile_read(struct tb_buf tile, struct ct_entry *entries, size_t count);

/* ---- SCTs, tree heads and checkpoints (sct.c) -------------------------- */

/* TLS HashAlgorithm sha256 and SignatureAlgorithm ecdsa (RFC 5246 7.4.1.4.1) */
#define CT_HASH_ALG_SHA256 4
#define CT_SIG_ALG_ECDSA 3
/* A checkpoint note (with a few cosignatures) is small; refuse bigger input. */
#define CT_MAX_CHECKPOINT 8192
/* Origin lines longer than this are refused (static-ct-api: a schemeless URL). */
#define CT_MAX_ORIGIN 256

struct ct_sct {
	uint8_t version;                /* 0: v1 */
	uint8_t log_id[CT_HASH_LEN];
	uint64_t timestamp;
	struct tb_buf extensions;       /* borrowed */
	uint8_t hash_alg, sig_alg;
	struct tb_buf signature;        /* DER ECDSA signature, borrowed */
};

/* LogID: SHA-256 of the log key's DER SubjectPublicKeyInfo. */
int ct_log_id(const struct tb_pkey *key, uint8_t out[CT_HASH_LEN]);
/* The digitally-signed input of an SCT over entry e (RFC 6962 section 3.2). */
int ct_sct_signed_data(struct tb_bytes *out, const struct ct_entry *e);
/* Signs e and fills sct (its slices point into sigbuf, which the caller frees). */
int ct_sct_sign(const struct tb_pkey *key, const uint8_t log_id[CT_HASH_LEN],
	const struct ct_entry *e, struct ct_sct *sct, struct tb_bytes *sigbuf);
int ct_sct_verify(const struct tb_pkey *key, const struct ct_entry *e, const struct ct_sct *sct);
/* SignedCertificateTimestamp (the TLS encoding that goes into SCT lists). */
int ct_sct_write(struct tb_bytes *out, const struct ct_sct *sct);
int ct_sct_read(struct tb_buf in, struct ct_sct *sct);
/* DigitallySigned: hash, signature algorithm, opaque signature<0..2^16-1>. */
int ct_digitally_signed_write(struct tb_bytes *out, struct tb_buf der_sig);
int ct_digitally_signed_read(struct tb_reader *r, struct tb_buf *der_sig);
/* SignedCertificateTimestampList from n serialized SCTs. */
int ct_sct_list_write(struct tb_bytes *out, const struct tb_buf *scts, size_t n);
/* The same wrapped in a DER OCTET STRING: the extnValue content of 1.3.6.1.4.1.11129.2.4.2. */
int ct_sct_list_extension(struct tb_bytes *out, const struct tb_buf *scts, size_t n);

/* TreeHeadSignature input (RFC 6962 section 3.5). */
int ct_tree_head_signed_data(struct tb_bytes *out, uint64_t timestamp, uint64_t size,
	const uint8_t root[CT_HASH_LEN]);
/* Appends the DER ECDSA signature over the tree head. */
int ct_tree_head_sign(const struct tb_pkey *key, uint64_t timestamp, uint64_t size,
	const uint8_t root[CT_HASH_LEN], struct tb_bytes *der_sig);
int ct_tree_head_verify(const struct tb_pkey *key, uint64_t timestamp, uint64_t size,
	const uint8_t root[CT_HASH_LEN], struct tb_buf der_sig);

/* Note key ID: first 4 bytes of SHA-256(name || 0x0A || 0x05 || log_id), big-endian. */
uint32_t ct_note_key_id(const char *name, const uint8_t log_id[CT_HASH_LEN]);

struct ct_checkpoint {
	uint64_t size;
	uint8_t root[CT_HASH_LEN];
	uint64_t timestamp;             /* from the RFC6962NoteSignature */
	struct tb_buf signature;        /* DER ECDSA over the tree head, borrowed */
};

/*
 * Writes the signed checkpoint: the tlog-checkpoint body (origin, size,
 * base64 root), a blank line and one note signature line whose body is an
 * RFC6962NoteSignature (timestamp, TreeHeadSignature) made from der_sig.
 */
int ct_checkpoint_write(struct tb_bytes *out, const char *origin,
	const uint8_t log_id[CT_HASH_LEN], const struct ct_checkpoint *c);
/* Signs and writes in one go. */
int ct_checkpoint_sign(struct tb_bytes *out, const struct tb_pkey *key, const char *origin,
	uint64_t timestamp, uint64_t size, const uint8_t root[CT_HASH_LEN]);
/*
 * Parses a checkpoint strictly and verifies the log's signature line (other
 * signature lines are ignored, as signed-note says). TB_ERR_VERIFY when the
 * origin does not match or no valid line from this key is present.
 */
int ct_checkpoint_verify(struct tb_buf note, const char *origin, const struct tb_pkey *key,
	struct ct_checkpoint *c);

/* ---- submissions: add-chain / add-pre-chain (chain.c) ------------------ */

/* Request body cap for add-chain and add-pre-chain. */
#define CT_MAX_BODY (512 * 1024)
/* Certificates accepted in one submitted chain. */
#define CT_MAX_CHAIN 10
/* DER bytes of one submitted certificate. */
#define CT_MAX_CERT (64 * 1024)
/* Accepted roots per log. */
#define CT_MAX_ROOTS 512

/* A submitted chain: chain[0] is the (pre)certificate, then its issuers. */
struct ct_chain {
	struct tb_bytes der[CT_MAX_CHAIN];
	size_t n;
};

/* Parses {"chain": ["<base64 DER>", ...]} strictly within the caps above. */
int ct_chain_parse_json(const char *body, size_t len, struct ct_chain *out);
void ct_chain_free(struct ct_chain *c);

/* The accepted roots of one log (parsed once, shared read-only). */
struct ct_roots;
int ct_roots_new(struct ct_roots **out);
/* Adds one DER certificate; duplicates are ignored. */
int ct_roots_add_der(struct ct_roots *r, struct tb_buf der);
/* Adds every certificate of a PEM bundle. */
int ct_roots_add_pem(struct ct_roots *r, const char *pem, size_t len);
size_t ct_roots_count(const struct ct_roots *r);
struct tb_buf ct_roots_der(const struct ct_roots *r, size_t i);
void ct_roots_free(struct ct_roots *r);

struct ct_policy {
	/* Temporal shard: accept leaves whose NotAfter is in [not_after_start,
	 * not_after_limit), Unix seconds; 0 leaves a side unbounded. */
	int64_t not_after_start;
	int64_t not_after_limit;
};

/* What a valid submission becomes. */
struct ct_validated {
	enum ct_entry_type type;
	struct tb_buf cert;             /* x509: the certificate; precert: tbs below */
	struct tb_bytes tbs;            /* precert: the reconstructed TBSCertificate */
	struct tb_buf precert;          /* precert: the submitted precertificate */
	uint8_t issuer_key_hash[CT_HASH_LEN];
	/* The issuers of the validated path, the accepted root last (appended
	 * when the submitter left it out). Borrowed from the chain and the roots. */
	struct tb_buf issuers[CT_MAX_CHAIN + 1];
	uint8_t issuer_fps[(CT_MAX_CHAIN + 1) * CT_HASH_LEN];
	size_t n_issuers;
	/* Deduplication key: SHA-256 over the entry type, issuer_key_hash and cert. */
	uint8_t dedup_key[CT_HASH_LEN];
	uint64_t not_after;             /* leaf NotAfter, Unix seconds */
};

/*
 * Validates a submitted chain for add-chain (precert = 0) or add-pre-chain
 * (precert = 1): every signature up to an accepted root, the poison
 * extension (required exactly for precertificates), the Precertificate
 * Signing Certificate case, serverAuth EKU and the NotAfter window.
 * Fills out (free with ct_validated_free); on error writes a reason to why.
 * chain and roots must outlive out.
 */
int ct_validate_chain(const struct ct_roots *roots, const struct ct_policy *pol,
	const struct ct_chain *chain, int precert, struct ct_validated *out, char *why, size_t whylen);
void ct_validated_free(struct ct_validated *v);
/*
 * The log entry's TBSCertificate of a precertificate (poison removed; with
 * a Precertificate Signing Certificate psc (len > 0), its issuer and AKI).
 * No signature is checked: ct_validate_chain does that.
 */
int ct_precert_tbs(struct tb_buf precert, struct tb_buf psc, struct tb_bytes *out);
/* Fills a log entry (without timestamp and extensions) from a validated submission. */
void ct_validated_entry(const struct ct_validated *v, struct ct_entry *e);

/* ---- external logs (external.c) ---------------------------------------- */

struct uv_loop_s;
struct tb_ct_submitter;
struct ct_external;

/*
 * A tb_ct_submitter for a remote RFC 6962 or static-ct-api log at the
 * submission prefix `url`. key_b64: the log's base64 DER public key (as in
 * log lists); when given, SCTs are verified before they are handed over.
 * timeout_ms 0: the HTTP client's default.
 */
int ct_external_new(struct uv_loop_s *loop, const char *url, const char *key_b64,
	uint64_t timeout_ms, struct ct_external **out);
struct tb_ct_submitter *ct_external_submitter(struct ct_external *x);
/* Frees now, or after the last request in flight has called back. */
void ct_external_free(struct ct_external *x);

#endif

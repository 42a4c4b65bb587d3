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

#endif

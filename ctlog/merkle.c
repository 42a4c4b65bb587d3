/*
 * DESIGN: the Merkle tree of RFC 6962 section 2.1, seen through complete
 * subtrees.
 *
 * Every hash a proof or a tree head needs is either the hash of a complete
 * subtree (2^level leaves starting at a multiple of 2^level) or a right-to-left
 * fold of such hashes: MTH of n leaves splits at the largest power of two
 * below n, which is exactly the binary decomposition of n. So the algorithms
 * here take one callback, "give me subtree (level, index)", and a tile store
 * implements it (struct ct_tile_hasher): a level that is a multiple of 8 is
 * one hash of a tile, any other level is recomputed from at most 128 pairs of
 * the tile below. The naive test reader implements it from the leaves.
 *
 * struct ct_edge keeps the rightmost partial tile of each level in memory so
 * the sequencer appends leaves, learns which tiles became full and computes
 * the new root without reading anything back.
 *
 * Verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2 (bit walks over
 * the index and the size), independent of the generation code.
 */
#include "ctlog/ctlog.h"

#include <string.h>

#include "core/crypto.h"
#include "core/error.h"

/* ---- hashing ----------------------------------------------------------- */

int ct_hash_leaf(struct tb_buf leaf, uint8_t out[CT_HASH_LEN])
{
	struct tb_hash_ctx c;
	static const uint8_t prefix = 0x00;
	int err = tb_hash_init(&c, TB_HASH_SHA256);
	if (!err)
		err = tb_hash_update(&c, &prefix, 1);
	if (!err)
		err = tb_hash_update(&c, leaf.p, leaf.len);
	if (!err)
		err = tb_hash_final(&c, out);
	return err;
}

int ct_hash_children(const uint8_t left[CT_HASH_LEN], const uint8_t right[CT_HASH_LEN],
	uint8_t out[CT_HASH_LEN])
{
	uint8_t in[1 + 2 * CT_HASH_LEN];
	in[0] = 0x01;
	memcpy(in + 1, left, CT_HASH_LEN);
	memcpy(in + 1 + CT_HASH_LEN, right, CT_HASH_LEN);
	return tb_sha256(TB_BUF(in, sizeof in), out);
}

void ct_empty_root(uint8_t out[CT_HASH_LEN])
{
	static const uint8_t e[CT_HASH_LEN] = {
		0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
		0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
		0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
	};
	memcpy(out, e, CT_HASH_LEN);
}

/* Largest power of two strictly below n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
	uint64_t k = 1;
	while (k << 1 < n)
		k <<= 1;
	return k;
}

/* MTH(D[start:start+n]) for n >= 1 and start aligned as the RFC recursion aligns it. */
static int range_hash(ct_subtree_fn get, void *arg, uint64_t start, uint64_t n,
	uint8_t out[CT_HASH_LEN])
{
	uint8_t pieces[64][CT_HASH_LEN];
	int np = 0;
	uint64_t pos = start;
	for (int b = 63; b >= 0; b--) {
		uint64_t w = (uint64_t)1 << b;
		if (!(n & w))
			continue;
		if (pos & (w - 1))
			return TB_ERR_INVALID;
		int err = get(arg, b, pos >> b, pieces[np]);
		if (err)
			return err;
		np++;
		pos += w;
	}
	if (np == 0)
		return TB_ERR_INVALID;
	memcpy(out, pieces[np - 1], CT_HASH_LEN);
	for (int i = np - 2; i >= 0; i--) {
		int err = ct_hash_children(pieces[i], out, out);
		if (err)
			return err;
	}
	return 0;
}

int ct_tree_hash(ct_subtree_fn get, void *arg, uint64_t size, uint8_t out[CT_HASH_LEN])
{
	if (size == 0) {
		ct_empty_root(out);
		return 0;
	}
	return range_hash(get, arg, 0, size, out);
}

int ct_inclusion_proof(ct_subtree_fn get, void *arg, uint64_t index, uint64_t size,
	uint8_t proof[][CT_HASH_LEN], size_t *n_out)
{
	*n_out = 0;
	if (index >= size)
		return TB_ERR_INVALID;
	/* Walk down from the root; siblings come out top first, the proof wants them bottom first. */
	uint8_t sib[CT_MAX_PROOF][CT_HASH_LEN];
	size_t ns = 0;
	uint64_t start = 0, n = size, m = index;
	while (n > 1) {
		if (ns >= CT_MAX_PROOF)
			return TB_ERR_INVALID;
		uint64_t k = split_point(n);
		int err;
		if (m < k) {
			err = range_hash(get, arg, start + k, n - k, sib[ns]);
			n = k;
		} else {
			err = range_hash(get, arg, start, k, sib[ns]);
			start += k;
			m -= k;
			n -= k;
		}
		if (err)
			return err;
		ns++;
	}
	for (size_t i = 0; i < ns; i++)
		memcpy(proof[i], sib[ns - 1 - i], CT_HASH_LEN);
	*n_out = ns;
	return 0;
}

int ct_consistency_proof(ct_subtree_fn get, void *arg, uint64_t size1, uint64_t size2,
	uint8_t proof[][CT_HASH_LEN], size_t *n_out)
{
	*n_out = 0;
	if (size1 > size2)
		return TB_ERR_INVALID;
	if (size1 == 0 || size1 == size2)
		return 0;
	uint8_t sib[CT_MAX_PROOF][CT_HASH_LEN];
	size_t ns = 0;
	uint64_t start = 0, n = size2, m = size1;
	int whole = 1; /* b in SUBPROOF(m, D[n], b): the subtree is the whole old tree */
	while (m != n) {
		if (ns >= CT_MAX_PROOF - 1)
			return TB_ERR_INVALID;
		uint64_t k = split_point(n);
		int err;
		if (m <= k) {
			err = range_hash(get, arg, start + k, n - k, sib[ns]);
			n = k;
		} else {
			err = range_hash(get, arg, start, k, sib[ns]);
			start += k;
			m -= k;
			n -= k;
			whole = 0;
		}
		if (err)
			return err;
		ns++;
	}
	size_t o = 0;
	if (!whole) {
		int err = range_hash(get, arg, start, m, proof[o]);
		if (err)
			return err;
		o++;
	}
	for (size_t i = 0; i < ns; i++)
		memcpy(proof[o++], sib[ns - 1 - i], CT_HASH_LEN);
	*n_out = o;
	return 0;
}

/* ---- verification (RFC 9162) ------------------------------------------- */

int ct_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf_hash[CT_HASH_LEN],
	const uint8_t proof[][CT_HASH_LEN], size_t n, const uint8_t root[CT_HASH_LEN])
{
	if (index >= size || n > CT_MAX_PROOF)
		return TB_ERR_VERIFY;
	uint64_t fn = index, sn = size - 1;
	uint8_t r[CT_HASH_LEN];
	memcpy(r, leaf_hash, CT_HASH_LEN);
	for (size_t i = 0; i < n; i++) {
		if (sn == 0)
			return TB_ERR_VERIFY;
		int err;
		if ((fn & 1) || fn == sn) {
			err = ct_hash_children(proof[i], r, r);
			if (!(fn & 1)) {
				while (fn != 0 && !(fn & 1)) {
					fn >>= 1;
					sn >>= 1;
				}
			}
		} else {
			err = ct_hash_children(r, proof[i], r);
		}
		if (err)
			return err;
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || tb_memeq_ct(r, root, CT_HASH_LEN) != 0)
		return TB_ERR_VERIFY;
	return 0;
}

int ct_verify_consistency(uint64_t size1, uint64_t size2, const uint8_t proof[][CT_HASH_LEN],
	size_t n, const uint8_t root1[CT_HASH_LEN], const uint8_t root2[CT_HASH_LEN])
{
	if (size1 > size2 || n > CT_MAX_PROOF)
		return TB_ERR_VERIFY;
	if (size1 == size2) {
		if (n != 0 || tb_memeq_ct(root1, root2, CT_HASH_LEN) != 0)
			return TB_ERR_VERIFY;
		return 0;
	}
	if (size1 == 0)
		return n == 0 ? 0 : TB_ERR_VERIFY;
	if (n == 0)
		return TB_ERR_VERIFY;
	/* When size1 is a power of two the old root is itself the first node. */
	size_t i = 0;
	const uint8_t *first;
	if ((size1 & (size1 - 1)) == 0) {
		first = root1;
	} else {
		first = proof[0];
		i = 1;
	}
	uint64_t fn = size1 - 1, sn = size2 - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	uint8_t fr[CT_HASH_LEN], sr[CT_HASH_LEN];
	memcpy(fr, first, CT_HASH_LEN);
	memcpy(sr, first, CT_HASH_LEN);
	for (; i < n; i++) {
		if (sn == 0)
			return TB_ERR_VERIFY;
		int err = 0;
		if ((fn & 1) || fn == sn) {
			err = ct_hash_children(proof[i], fr, fr);
			if (!err)
				err = ct_hash_children(proof[i], sr, sr);
			if (!(fn & 1)) {
				while (fn != 0 && !(fn & 1)) {
					fn >>= 1;
					sn >>= 1;
				}
			}
		} else {
			err = ct_hash_children(sr, proof[i], sr);
		}
		if (err)
			return err;
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || tb_memeq_ct(fr, root1, CT_HASH_LEN) != 0 ||
		tb_memeq_ct(sr, root2, CT_HASH_LEN) != 0)
		return TB_ERR_VERIFY;
	return 0;
}

/* ---- tiles ------------------------------------------------------------- */

/* Number of complete subtree hashes at tile level `level` in a tree of `size`. */
static uint64_t level_count(int level, uint64_t size)
{
	int shift = CT_TILE_HEIGHT * level;
	return shift >= 64 ? 0 : size >> shift;
}

unsigned ct_tile_width(int level, uint64_t index, uint64_t size)
{
	if (level == CT_TILE_DATA)
		level = 0;
	if (level < 0 || level > CT_TILE_MAX_LEVEL)
		return 0;
	uint64_t count = level_count(level, size);
	uint64_t full = count / CT_TILE_WIDTH;
	if (index < full)
		return CT_TILE_WIDTH;
	if (index == full)
		return (unsigned)(count % CT_TILE_WIDTH);
	return 0;
}

static int put_index(struct tb_bytes *out, uint64_t n)
{
	/* 3-digit groups, all but the last prefixed with 'x' */
	unsigned groups[8];
	int ng = 0;
	do {
		groups[ng++] = (unsigned)(n % 1000);
		n /= 1000;
	} while (n > 0 && ng < 8);
	int err = 0;
	for (int i = ng - 1; i >= 0 && !err; i--)
		err = tb_bytes_printf(out, i > 0 ? "x%03u/" : "%03u", groups[i]);
	return err;
}

int ct_tile_path(struct tb_bytes *out, const struct ct_tile *t)
{
	if (t->width < 1 || t->width > CT_TILE_WIDTH)
		return TB_ERR_INVALID;
	int err;
	if (t->level == CT_TILE_DATA)
		err = tb_bytes_printf(out, "tile/data/");
	else if (t->level >= 0 && t->level <= CT_TILE_MAX_LEVEL)
		err = tb_bytes_printf(out, "tile/%d/", t->level);
	else
		return TB_ERR_INVALID;
	if (!err)
		err = put_index(out, t->index);
	if (!err && t->width < CT_TILE_WIDTH)
		err = tb_bytes_printf(out, ".p/%u", t->width);
	return err;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int ct_tile_parse(const char *s, size_t len, struct ct_tile *t)
{
	size_t i = 0;
	memset(t, 0, sizeof *t);
	if (len >= 5 && memcmp(s, "data/", 5) == 0) {
		t->level = CT_TILE_DATA;
		i = 5;
	} else if (len >= 2 && s[0] >= '0' && s[0] <= '0' + CT_TILE_MAX_LEVEL && s[1] == '/') {
		t->level = s[0] - '0';
		i = 2;
	} else {
		return TB_ERR_INVALID;
	}
	/* N: ("x" ddd "/")* ddd, canonical (no "x000/" leading group) */
	uint64_t n = 0;
	int groups = 0;
	for (;;) {
		int x = 0;
		if (i < len && s[i] == 'x') {
			x = 1;
			i++;
		}
		if (i + 3 > len || !is_digit(s[i]) || !is_digit(s[i + 1]) || !is_digit(s[i + 2]))
			return TB_ERR_INVALID;
		unsigned g = (unsigned)((s[i] - '0') * 100 + (s[i + 1] - '0') * 10 + (s[i + 2] - '0'));
		i += 3;
		if (groups == 0 && x && g == 0)
			return TB_ERR_INVALID;
		if (++groups > 7)
			return TB_ERR_INVALID; /* 10^21 > 2^64 */
		if (n > (UINT64_MAX - g) / 1000)
			return TB_ERR_INVALID;
		n = n * 1000 + g;
		if (x) {
			if (i >= len || s[i] != '/')
				return TB_ERR_INVALID;
			i++;
			continue;
		}
		break;
	}
	t->index = n;
	t->width = CT_TILE_WIDTH;
	if (i == len)
		return 0;
	if (len - i < 4 || memcmp(s + i, ".p/", 3) != 0)
		return TB_ERR_INVALID;
	i += 3;
	if (s[i] == '0' || len - i > 3)
		return TB_ERR_INVALID;
	unsigned w = 0;
	for (; i < len; i++) {
		if (!is_digit(s[i]))
			return TB_ERR_INVALID;
		w = w * 10 + (unsigned)(s[i] - '0');
	}
	if (w < 1 || w >= CT_TILE_WIDTH)
		return TB_ERR_INVALID;
	t->width = w;
	return 0;
}

/* MTH of n (a power of two, <= 256) consecutive hashes; scratch is n * 32 bytes. */
static int perfect_hash(const uint8_t *hashes, unsigned n, uint8_t *scratch, uint8_t out[CT_HASH_LEN])
{
	if (n == 1) {
		memcpy(out, hashes, CT_HASH_LEN);
		return 0;
	}
	const uint8_t *src = hashes;
	while (n > 1) {
		for (unsigned i = 0; i < n / 2; i++) {
			int err = ct_hash_children(src + 2 * i * CT_HASH_LEN,
				src + (2 * i + 1) * CT_HASH_LEN, scratch + i * CT_HASH_LEN);
			if (err)
				return err;
		}
		src = scratch;
		n /= 2;
	}
	memcpy(out, scratch, CT_HASH_LEN);
	return 0;
}

void ct_tile_hasher_init(struct ct_tile_hasher *h, ct_tile_read_fn read, void *arg, uint64_t size)
{
	h->read = read;
	h->arg = arg;
	h->size = size;
	h->c_level = -1;
	h->c_index = 0;
	h->c_width = 0;
}

int ct_tile_hasher_get(void *hv, int level, uint64_t index, uint8_t out[CT_HASH_LEN])
{
	struct ct_tile_hasher *h = hv;
	int tl = level / CT_TILE_HEIGHT, sub = level % CT_TILE_HEIGHT;
	if (level < 0 || tl > CT_TILE_MAX_LEVEL)
		return TB_ERR_INVALID;
	if (index > (UINT64_MAX >> sub))
		return TB_ERR_INVALID;
	uint64_t first = index << sub; /* first hash at tile level tl */
	uint64_t tindex = first / CT_TILE_WIDTH;
	unsigned pos = (unsigned)(first % CT_TILE_WIDTH);
	unsigned need = pos + (1u << sub);
	unsigned width = ct_tile_width(tl, tindex, h->size);
	if (width < need)
		return TB_ERR_INVALID; /* not a complete subtree of this tree */
	if (!(h->c_width >= need && h->c_level == tl && h->c_index == tindex)) {
		int err = h->read(h->arg, tl, tindex, width, h->c_data);
		if (err) {
			h->c_width = 0;
			return err;
		}
		h->c_level = tl;
		h->c_index = tindex;
		h->c_width = width;
	}
	uint8_t scratch[CT_TILE_BYTES / 2];
	return perfect_hash(h->c_data + (size_t)pos * CT_HASH_LEN, 1u << sub, scratch, out);
}

/* ---- the right edge ---------------------------------------------------- */

int ct_edge_load(struct ct_edge *e, uint64_t size, ct_tile_read_fn read, void *arg)
{
	memset(e->width, 0, sizeof e->width);
	e->size = size;
	if (size >> (CT_TILE_HEIGHT * (CT_TILE_MAX_LEVEL + 1)))
		return TB_ERR_TOO_LARGE;
	for (int l = 0; l <= CT_TILE_MAX_LEVEL; l++) {
		uint64_t count = level_count(l, size);
		unsigned w = (unsigned)(count % CT_TILE_WIDTH);
		if (w == 0)
			continue;
		int err = read(arg, l, count / CT_TILE_WIDTH, w, e->hashes[l]);
		if (err)
			return err;
		e->width[l] = w;
	}
	return 0;
}

int ct_edge_append(struct ct_edge *e, const uint8_t leaf_hash[CT_HASH_LEN], ct_tile_emit_fn full,
	void *arg)
{
	if ((e->size + 1) >> (CT_TILE_HEIGHT * (CT_TILE_MAX_LEVEL + 1)))
		return TB_ERR_TOO_LARGE;
	uint8_t h[CT_HASH_LEN];
	memcpy(h, leaf_hash, CT_HASH_LEN);
	e->size++;
	for (int l = 0; l <= CT_TILE_MAX_LEVEL; l++) {
		memcpy(e->hashes[l] + (size_t)e->width[l] * CT_HASH_LEN, h, CT_HASH_LEN);
		e->width[l]++;
		if (e->width[l] < CT_TILE_WIDTH)
			return 0;
		uint64_t index = (e->size >> (CT_TILE_HEIGHT * (l + 1))) - 1;
		int err = full ? full(arg, l, index, CT_TILE_WIDTH, e->hashes[l]) : 0;
		uint8_t scratch[CT_TILE_BYTES / 2];
		if (!err)
			err = perfect_hash(e->hashes[l], CT_TILE_WIDTH, scratch, h);
		if (err)
			return err;
		e->width[l] = 0;
	}
	return 0;
}

int ct_edge_partials(const struct ct_edge *e, ct_tile_emit_fn emit, void *arg)
{
	for (int l = 0; l <= CT_TILE_MAX_LEVEL; l++) {
		if (e->width[l] == 0)
			continue;
		uint64_t index = e->size >> (CT_TILE_HEIGHT * (l + 1));
		int err = emit(arg, l, index, e->width[l], e->hashes[l]);
		if (err)
			return err;
	}
	return 0;
}

int ct_edge_root(const struct ct_edge *e, uint8_t out[CT_HASH_LEN])
{
	if (e->size == 0) {
		ct_empty_root(out);
		return 0;
	}
	/* Perfect subtrees left to right: higher tile levels first, within a tile largest first. */
	uint8_t pieces[64][CT_HASH_LEN];
	int np = 0;
	uint8_t scratch[CT_TILE_BYTES / 2];
	for (int l = CT_TILE_MAX_LEVEL; l >= 0; l--) {
		unsigned w = e->width[l], pos = 0;
		for (int b = CT_TILE_HEIGHT - 1; b >= 0; b--) {
			if (!(w & (1u << b)))
				continue;
			int err = perfect_hash(e->hashes[l] + (size_t)pos * CT_HASH_LEN, 1u << b,
				scratch, pieces[np]);
			if (err)
				return err;
			np++;
			pos += 1u << b;
		}
	}
	memcpy(out, pieces[np - 1], CT_HASH_LEN);
	for (int i = np - 2; i >= 0; i--) {
		int err = ct_hash_children(pieces[i], out, out);
		if (err)
			return err;
	}
	return 0;
}

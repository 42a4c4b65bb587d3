/*
 * Merkle tree hashes, proofs and tiles against the RFC 6962 reference tree
 * (the 8-leaf tree of the certificate-transparency test vectors, as kept in
 * transparency-dev/merkle proof/verify_test.go) and against a naive
 * recomputation from the leaves for many tree sizes.
 */
#include "tb_test.h"

#include "core/error.h"
#include "ctlog/ctlog.h"

static void unhex(const char *s, uint8_t *out)
{
	for (size_t i = 0; s[2 * i]; i++) {
		unsigned v;
		sscanf(s + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

/* ---- naive tree over explicit leaf hashes ---- */

struct naive {
	uint8_t (*leaf)[CT_HASH_LEN];
	uint64_t n;
	long calls;
};

static void naive_mth(struct naive *t, uint64_t start, uint64_t n, uint8_t out[CT_HASH_LEN])
{
	if (n == 1) {
		memcpy(out, t->leaf[start], CT_HASH_LEN);
		return;
	}
	uint64_t k = 1;
	while (k * 2 < n)
		k *= 2;
	uint8_t l[CT_HASH_LEN], r[CT_HASH_LEN];
	naive_mth(t, start, k, l);
	naive_mth(t, start + k, n - k, r);
	ct_hash_children(l, r, out);
}

static int naive_get(void *arg, int level, uint64_t index, uint8_t out[CT_HASH_LEN])
{
	struct naive *t = arg;
	t->calls++;
	if (level >= 63)
		return TB_ERR_INVALID;
	uint64_t w = (uint64_t)1 << level;
	if (index > UINT64_MAX / w || (index + 1) * w > t->n)
		return TB_ERR_INVALID;
	naive_mth(t, index * w, w, out);
	return 0;
}

/* ---- in-memory tile store ---- */

#define MAXT 512
struct tilestore {
	struct {
		int level;
		uint64_t index;
		unsigned width;
		uint8_t data[CT_TILE_BYTES];
	} t[MAXT];
	int n;
	long reads;
};

static int ts_put(void *arg, int level, uint64_t index, unsigned width, const uint8_t *data)
{
	struct tilestore *s = arg;
	int i;
	for (i = 0; i < s->n; i++)
		if (s->t[i].level == level && s->t[i].index == index)
			break;
	if (i == s->n) {
		if (s->n == MAXT)
			return TB_ERR_TOO_LARGE;
		s->n++;
	}
	s->t[i].level = level;
	s->t[i].index = index;
	s->t[i].width = width;
	memcpy(s->t[i].data, data, (size_t)width * CT_HASH_LEN);
	return 0;
}

static int ts_read(void *arg, int level, uint64_t index, unsigned width, uint8_t *out)
{
	struct tilestore *s = arg;
	s->reads++;
	for (int i = 0; i < s->n; i++) {
		if (s->t[i].level == level && s->t[i].index == index) {
			if (s->t[i].width < width)
				return TB_ERR_NOT_FOUND;
			memcpy(out, s->t[i].data, (size_t)width * CT_HASH_LEN);
			return 0;
		}
	}
	return TB_ERR_NOT_FOUND;
}

static const char *leaves_hex[8] = { "", "00", "10", "2021", "3031", "40414243",
	"5051525354555657", "606162636465666768696a6b6c6d6e6f" };
static const char *roots_hex[8] = {
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

struct pvec {
	uint64_t a, b; /* inclusion: 1-based leaf, size; consistency: size1, size2 */
	int n;
	const char *h[3];
};

static const struct pvec incl[] = {
	{ 1, 1, 0, { 0 } },
	{ 1, 8, 3, { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
			   "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			   "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 6, 8, 3, { "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
			   "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
			   "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 3, 3, 1, { "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125" } },
	{ 2, 5, 3, { "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
			   "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			   "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
};

static const struct pvec cons[] = {
	{ 1, 1, 0, { 0 } },
	{ 1, 8, 3, { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
			   "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			   "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 6, 8, 3, { "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
			   "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
			   "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 5, 2, { "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			   "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
	{ 6, 7, 3, { "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
			   "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
			   "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
};

static void test_reference_tree(void)
{
	uint8_t lh[8][CT_HASH_LEN], roots[8][CT_HASH_LEN];
	for (int i = 0; i < 8; i++) {
		uint8_t raw[16];
		unhex(leaves_hex[i], raw);
		CHECK_INT(ct_hash_leaf(TB_BUF(raw, strlen(leaves_hex[i]) / 2), lh[i]), 0);
		unhex(roots_hex[i], roots[i]);
	}
	struct naive t = { lh, 8, 0 };
	uint8_t got[CT_HASH_LEN];
	for (uint64_t n = 1; n <= 8; n++) {
		t.n = n;
		CHECK_INT(ct_tree_hash(naive_get, &t, n, got), 0);
		CHECK_MEM(got, CT_HASH_LEN, roots[n - 1], CT_HASH_LEN);
	}
	t.n = 8;
	uint8_t empty[CT_HASH_LEN], e2[CT_HASH_LEN];
	ct_empty_root(empty);
	unhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", e2);
	CHECK_MEM(empty, CT_HASH_LEN, e2, CT_HASH_LEN);

	for (size_t v = 0; v < sizeof incl / sizeof incl[0]; v++) {
		const struct pvec *p = &incl[v];
		uint8_t want[3][CT_HASH_LEN], proof[CT_MAX_PROOF][CT_HASH_LEN];
		for (int i = 0; i < p->n; i++)
			unhex(p->h[i], want[i]);
		t.n = p->b;
		size_t n = 99;
		CHECK_INT(ct_inclusion_proof(naive_get, &t, p->a - 1, p->b, proof, &n), 0);
		CHECK_INT(n, p->n);
		for (int i = 0; i < p->n && (size_t)i < n; i++)
			CHECK_MEM(proof[i], CT_HASH_LEN, want[i], CT_HASH_LEN);
		const uint8_t *root = roots[p->b - 1];
		CHECK_INT(ct_verify_inclusion(p->a - 1, p->b, lh[p->a - 1], (const uint8_t(*)[CT_HASH_LEN])want, (size_t)p->n, root), 0);
		/* corruptions */
		CHECK(ct_verify_inclusion(p->a, p->b, lh[p->a - 1], (const uint8_t(*)[CT_HASH_LEN])want, (size_t)p->n, root) != 0);
		CHECK(ct_verify_inclusion(p->a - 1, p->b * 2, lh[p->a - 1], (const uint8_t(*)[CT_HASH_LEN])want, (size_t)p->n, root) != 0);
		CHECK(ct_verify_inclusion(p->a - 1, p->b, empty, (const uint8_t(*)[CT_HASH_LEN])want, (size_t)p->n, root) != 0);
		CHECK(ct_verify_inclusion(p->a - 1, p->b, lh[p->a - 1], (const uint8_t(*)[CT_HASH_LEN])want, (size_t)p->n, empty) != 0);
		if (p->n > 0) {
			CHECK(ct_verify_inclusion(p->a - 1, p->b, lh[p->a - 1], (const uint8_t(*)[CT_HASH_LEN])want, (size_t)p->n - 1, root) != 0);
			for (int i = 0; i < p->n; i++) {
				want[i][0] ^= 8;
				CHECK(ct_verify_inclusion(p->a - 1, p->b, lh[p->a - 1], (const uint8_t(*)[CT_HASH_LEN])want, (size_t)p->n, root) != 0);
				want[i][0] ^= 8;
			}
		}
		/* trailing root */
		memcpy(want[p->n < 3 ? p->n : 2], root, CT_HASH_LEN);
		if (p->n < 3)
			CHECK(ct_verify_inclusion(p->a - 1, p->b, lh[p->a - 1], (const uint8_t(*)[CT_HASH_LEN])want, (size_t)p->n + 1, root) != 0);
	}

	for (size_t v = 0; v < sizeof cons / sizeof cons[0]; v++) {
		const struct pvec *p = &cons[v];
		uint8_t want[4][CT_HASH_LEN], proof[CT_MAX_PROOF][CT_HASH_LEN];
		for (int i = 0; i < p->n; i++)
			unhex(p->h[i], want[i]);
		t.n = p->b;
		size_t n = 99;
		CHECK_INT(ct_consistency_proof(naive_get, &t, p->a, p->b, proof, &n), 0);
		CHECK_INT(n, p->n);
		for (int i = 0; i < p->n && (size_t)i < n; i++)
			CHECK_MEM(proof[i], CT_HASH_LEN, want[i], CT_HASH_LEN);
		const uint8_t *r1 = roots[p->a - 1], *r2 = roots[p->b - 1];
		const uint8_t(*w)[CT_HASH_LEN] = (const uint8_t(*)[CT_HASH_LEN])want;
		CHECK_INT(ct_verify_consistency(p->a, p->b, w, (size_t)p->n, r1, r2), 0);
		if (p->n == 0)
			continue;
		CHECK(ct_verify_consistency(p->a - 1, p->b, w, (size_t)p->n, r1, r2) != 0);
		CHECK(ct_verify_consistency(p->a + 1, p->b, w, (size_t)p->n, r1, r2) != 0);
		CHECK(ct_verify_consistency(p->a, p->b * 2, w, (size_t)p->n, r1, r2) != 0);
		CHECK(ct_verify_consistency(p->a, p->b, w, (size_t)p->n, r2, r1) != 0);
		CHECK(ct_verify_consistency(p->a, p->b, w, 0, r1, r2) != 0);
		CHECK(ct_verify_consistency(p->a, p->b, w, (size_t)p->n - 1, r1, r2) != 0);
		for (int i = 0; i < p->n; i++) {
			want[i][0] ^= 16;
			CHECK(ct_verify_consistency(p->a, p->b, w, (size_t)p->n, r1, r2) != 0);
			want[i][0] ^= 16;
		}
		memcpy(want[p->n], r2, CT_HASH_LEN);
		CHECK(ct_verify_consistency(p->a, p->b, w, (size_t)p->n + 1, r1, r2) != 0);
	}
	/* edge cases from the reference verifier tests */
	uint8_t some[CT_HASH_LEN] = { 0xab };
	CHECK_INT(ct_verify_consistency(0, 0, NULL, 0, some, some), 0);
	CHECK_INT(ct_verify_consistency(0, 1, NULL, 0, some, empty), 0);
	CHECK(ct_verify_consistency(1, 1, NULL, 0, some, empty) != 0);
	CHECK(ct_verify_consistency(1, 0, NULL, 0, some, empty) != 0);
	CHECK(ct_verify_consistency(1, 2, NULL, 0, some, empty) != 0);
	CHECK(ct_verify_consistency(0, 1, (const uint8_t(*)[CT_HASH_LEN])empty, 1, empty, empty) != 0);
	CHECK(ct_verify_inclusion(0, 0, some, NULL, 0, some) != 0);
	CHECK_INT(ct_verify_inclusion(0, 1, some, NULL, 0, some), 0);
	CHECK(ct_verify_inclusion(1, 1, some, NULL, 0, some) != 0);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/*
 * Grows a tree leaf by leaf through struct ct_edge, storing tiles as a log
 * would, and at chosen sizes compares root, proofs from tiles and proofs
 * from the naive tree.
 */
static void test_random(uint64_t max, int checkpoints)
{
	uint8_t(*lh)[CT_HASH_LEN] = malloc(max * CT_HASH_LEN);
	struct tilestore *ts = calloc(1, sizeof *ts);
	struct ct_edge *e = calloc(1, sizeof *e);
	struct ct_edge *e2 = calloc(1, sizeof *e2);
	struct ct_tile_hasher *th = malloc(sizeof *th);
	if (!lh || !ts || !e || !e2 || !th) {
		CHECK(0);
		return;
	}
	struct naive t = { lh, 0, 0 };
	uint64_t next = 1;
	for (uint64_t i = 0; i < max; i++) {
		uint8_t data[8];
		for (int j = 0; j < 8; j++)
			data[j] = (uint8_t)(i >> (8 * j));
		ct_hash_leaf(TB_BUF(data, 8), lh[i]);
		CHECK_INT(ct_edge_append(e, lh[i], ts_put, ts), 0);
		uint64_t size = i + 1;
		if (size != next && size != max)
			continue;
		next = size + 1 + rnd() % (max / (uint64_t)checkpoints + 1);
		CHECK_INT(ct_edge_partials(e, ts_put, ts), 0);
		t.n = size;
		uint8_t want[CT_HASH_LEN], got[CT_HASH_LEN];
		naive_mth(&t, 0, size, want);
		CHECK_INT(ct_edge_root(e, got), 0);
		CHECK_MEM(got, CT_HASH_LEN, want, CT_HASH_LEN);
		ct_tile_hasher_init(th, ts_read, ts, size);
		CHECK_INT(ct_tree_hash(ct_tile_hasher_get, th, size, got), 0);
		CHECK_MEM(got, CT_HASH_LEN, want, CT_HASH_LEN);
		/* reload the edge from tiles */
		CHECK_INT(ct_edge_load(e2, size, ts_read, ts), 0);
		CHECK_INT(ct_edge_root(e2, got), 0);
		CHECK_MEM(got, CT_HASH_LEN, want, CT_HASH_LEN);
		/* inclusion proofs for a few indices */
		for (int k = 0; k < 4; k++) {
			uint64_t idx = k == 0 ? size - 1 : rnd() % size;
			uint8_t p1[CT_MAX_PROOF][CT_HASH_LEN], p2[CT_MAX_PROOF][CT_HASH_LEN];
			size_t n1 = 0, n2 = 0;
			CHECK_INT(ct_inclusion_proof(naive_get, &t, idx, size, p1, &n1), 0);
			CHECK_INT(ct_inclusion_proof(ct_tile_hasher_get, th, idx, size, p2, &n2), 0);
			CHECK_INT(n1, n2);
			CHECK(n1 == n2 && memcmp(p1, p2, n1 * CT_HASH_LEN) == 0);
			CHECK_INT(ct_verify_inclusion(idx, size, lh[idx], (const uint8_t(*)[CT_HASH_LEN])p1, n1, want), 0);
		}
		/* consistency from a few older sizes */
		for (int k = 0; k < 4; k++) {
			uint64_t old = k == 0 ? size : 1 + rnd() % size;
			uint8_t p1[CT_MAX_PROOF][CT_HASH_LEN], p2[CT_MAX_PROOF][CT_HASH_LEN];
			size_t n1 = 0, n2 = 0;
			uint8_t oldroot[CT_HASH_LEN];
			naive_mth(&t, 0, old, oldroot);
			CHECK_INT(ct_consistency_proof(naive_get, &t, old, size, p1, &n1), 0);
			CHECK_INT(ct_consistency_proof(ct_tile_hasher_get, th, old, size, p2, &n2), 0);
			CHECK(n1 == n2 && memcmp(p1, p2, n1 * CT_HASH_LEN) == 0);
			CHECK_INT(ct_verify_consistency(old, size, (const uint8_t(*)[CT_HASH_LEN])p1, n1, oldroot, want), 0);
			if (n1 > 0) {
				p1[n1 - 1][5] ^= 1;
				CHECK(ct_verify_consistency(old, size, (const uint8_t(*)[CT_HASH_LEN])p1, n1, oldroot, want) != 0);
			}
		}
		/* a subtree outside the tree is refused */
		uint8_t x[CT_HASH_LEN];
		CHECK(ct_tile_hasher_get(th, 0, size, x) != 0);
	}
	free(lh);
	free(ts);
	free(e);
	free(e2);
	free(th);
}

static void test_tiles(void)
{
	/* the tlog-tiles example: a tree of 70,000 */
	CHECK_INT(ct_tile_width(0, 272, 70000), 256);
	CHECK_INT(ct_tile_width(0, 273, 70000), 112);
	CHECK_INT(ct_tile_width(0, 274, 70000), 0);
	CHECK_INT(ct_tile_width(1, 0, 70000), 256);
	CHECK_INT(ct_tile_width(1, 1, 70000), 17);
	CHECK_INT(ct_tile_width(2, 0, 70000), 1);
	CHECK_INT(ct_tile_width(3, 0, 70000), 0);
	CHECK_INT(ct_tile_width(CT_TILE_DATA, 273, 70000), 112);
	CHECK_INT(ct_tile_width(1, 0, 256), 1);
	CHECK_INT(ct_tile_width(0, 0, 256), 256);
	CHECK_INT(ct_tile_width(0, 1, 256), 0);

	struct {
		struct ct_tile t;
		const char *path;
	} v[] = {
		{ { 0, 1234067, 256 }, "tile/0/x001/x234/067" },
		{ { 0, 0, 256 }, "tile/0/000" },
		{ { 1, 999, 17 }, "tile/1/999.p/17" },
		{ { 5, 1000, 255 }, "tile/5/x001/000.p/255" },
		{ { CT_TILE_DATA, 273, 112 }, "tile/data/273.p/112" },
		{ { CT_TILE_DATA, 1000000, 256 }, "tile/data/x001/x000/000" },
		{ { 2, UINT64_MAX, 1 }, "tile/2/x018/x446/x744/x073/x709/x551/615.p/1" },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		struct tb_bytes b = { 0 };
		CHECK_INT(ct_tile_path(&b, &v[i].t), 0);
		CHECK_STR(tb_bytes_cstr(&b), v[i].path);
		struct ct_tile t;
		const char *s = v[i].path + 5;
		CHECK_INT(ct_tile_parse(s, strlen(s), &t), 0);
		CHECK_INT(t.level, v[i].t.level);
		CHECK_INT(t.index, v[i].t.index);
		CHECK_INT(t.width, v[i].t.width);
		tb_bytes_free(&b);
	}
	const char *bad[] = { "", "0", "0/", "6/000", "00/000", "0/00", "0/0000", "0/x000/001",
		"0/x001", "0/x001/", "0/001/002", "0/000.p/0", "0/000.p/256", "0/000.p/01",
		"0/000.p/", "0/000.p", "0/000.q/1", "data/", "data/1", "0/000.p/1000", "-1/000",
		"0/x1/000", "0/x999/x999/x999/x999/x999/x999/999", "0/x018/x446/x744/x073/x709/x551/616" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct ct_tile t;
		int err = ct_tile_parse(bad[i], strlen(bad[i]), &t);
		if (err == 0)
			fprintf(stderr, "accepted bad tile path %s\n", bad[i]);
		CHECK(err != 0);
	}
}

int main(void)
{
	test_reference_tree();
	test_tiles();
	test_random(1000, 60);
	test_random(70000, 4);
	return tb_test_result("ctlog_merkle");
}

/*
 * Decoders of log data: data tiles (TileLeaf sequences), MerkleTreeLeaf,
 * SCTs, CtExtensions, tile paths and checkpoints. The first byte picks the
 * decoder; whatever decodes must re-encode to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "ctlog/ctlog.h"

static struct tb_pkey *key;

static void same(struct tb_bytes *b, const uint8_t *p, size_t n)
{
	if (b->len != n || memcmp(b->p, p, n) != 0)
		abort();
	tb_bytes_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	struct tb_bytes b = { 0 };
	struct ct_entry e;
	switch (mode % 6) {
	case 0: { /* data tile: second byte is the entry count */
		if (n < 1)
			return 0;
		size_t count = (size_t)p[0] + 1;
		struct ct_entry *es = calloc(count, sizeof *es);
		if (es && ct_data_tile_read(TB_BUF(p + 1, n - 1), es, count) == 0) {
			for (size_t i = 0; i < count; i++)
				if (ct_tile_leaf_write(&b, &es[i]) != 0)
					abort();
			same(&b, p + 1, n - 1);
		}
		free(es);
		break;
	}
	case 1:
		if (ct_merkle_leaf_read(TB_BUF(p, n), &e) == 0) {
			if (ct_merkle_leaf_write(&b, &e) != 0)
				abort();
			same(&b, p, n);
		}
		break;
	case 2: {
		struct ct_sct s;
		if (ct_sct_read(TB_BUF(p, n), &s) == 0) {
			if (ct_sct_write(&b, &s) != 0)
				abort();
			same(&b, p, n);
		}
		break;
	}
	case 3: {
		uint64_t idx;
		ct_extensions_parse(TB_BUF(p, n), &idx);
		break;
	}
	case 4: {
		struct ct_tile t;
		if (ct_tile_parse((const char *)p, n, &t) == 0) {
			if (ct_tile_path(&b, &t) != 0 || b.len != n + 5 || memcmp(b.p + 5, p, n) != 0)
				abort();
			tb_bytes_free(&b);
		}
		break;
	}
	case 5: {
		if (!key && tb_pkey_generate_ec(TB_CURVE_P256, &key) != 0)
			return 0;
		struct ct_checkpoint c;
		ct_checkpoint_verify(TB_BUF(p, n), "ct.lab.test/fuzz", key, &c);
		break;
	}
	}
	return 0;
}

/*
 * Log entry encodings (MerkleTreeLeaf, TileLeaf, CtExtensions), SCTs, SCT
 * lists, tree head signatures and checkpoints: round trips, exact layouts
 * and strict rejection of truncated, padded and tampered input.
 */
#include "tb_test.h"

#include "core/crypto.h"
#include "core/error.h"
#include "ctlog/ctlog.h"

static const uint8_t cert_bytes[] = { 0x30, 0x03, 0x02, 0x01, 0x07 };
static const uint8_t tbs_bytes[] = { 0x30, 0x02, 0x05, 0x00 };
static const uint8_t pre_bytes[] = { 0x30, 0x04, 0x30, 0x02, 0x05, 0x00 };

static void make_entries(struct ct_entry *x, struct ct_entry *p, struct tb_bytes *ext,
	uint8_t *fps)
{
	tb_bytes_free(ext);
	CHECK_INT(ct_extensions_leaf_index(ext, 0x0102030405ull), 0);
	for (int i = 0; i < 64; i++)
		fps[i] = (uint8_t)i;
	memset(x, 0, sizeof *x);
	x->timestamp = 1700000000123ull;
	x->type = CT_ENTRY_X509;
	x->cert = TB_BUF(cert_bytes, sizeof cert_bytes);
	x->extensions = tb_bytes_buf(ext);
	x->chain_fps = TB_BUF(fps, 64);
	*p = *x;
	p->type = CT_ENTRY_PRECERT;
	p->cert = TB_BUF(tbs_bytes, sizeof tbs_bytes);
	memset(p->issuer_key_hash, 0xaa, CT_HASH_LEN);
	p->precert = TB_BUF(pre_bytes, sizeof pre_bytes);
	p->chain_fps = TB_BUF(fps, 32);
}

static int same_entry(const struct ct_entry *a, const struct ct_entry *b, int tile)
{
	if (a->timestamp != b->timestamp || a->type != b->type || a->cert.len != b->cert.len ||
		memcmp(a->cert.p, b->cert.p, a->cert.len) != 0 ||
		a->extensions.len != b->extensions.len ||
		memcmp(a->extensions.p, b->extensions.p, a->extensions.len) != 0)
		return 0;
	if (a->type == CT_ENTRY_PRECERT && memcmp(a->issuer_key_hash, b->issuer_key_hash, CT_HASH_LEN))
		return 0;
	if (!tile)
		return 1;
	if (a->chain_fps.len != b->chain_fps.len || memcmp(a->chain_fps.p, b->chain_fps.p, a->chain_fps.len))
		return 0;
	if (a->type == CT_ENTRY_PRECERT && (a->precert.len != b->precert.len ||
		memcmp(a->precert.p, b->precert.p, a->precert.len)))
		return 0;
	return 1;
}

static void test_extensions(void)
{
	struct tb_bytes b = { 0 };
	CHECK_INT(ct_extensions_leaf_index(&b, 0x0102030405ull), 0);
	const uint8_t want[] = { 0, 0, 5, 1, 2, 3, 4, 5 };
	CHECK_MEM(b.p, b.len, want, sizeof want);
	uint64_t idx = 0;
	CHECK_INT(ct_extensions_parse(tb_bytes_buf(&b), &idx), 0);
	CHECK_INT(idx, 0x0102030405ull);
	CHECK_INT(ct_extensions_leaf_index(&b, CT_MAX_LEAF_INDEX + 1), TB_ERR_TOO_LARGE);
	/* duplicate, missing, wrong length, unknown extension alongside */
	const uint8_t dup[] = { 0, 0, 5, 1, 2, 3, 4, 5, 0, 0, 5, 1, 2, 3, 4, 5 };
	CHECK(ct_extensions_parse(TB_BUF(dup, sizeof dup), &idx) != 0);
	CHECK_INT(ct_extensions_parse(TB_BUF(dup, 0), &idx), TB_ERR_NOT_FOUND);
	const uint8_t shortv[] = { 0, 0, 4, 1, 2, 3, 4 };
	CHECK(ct_extensions_parse(TB_BUF(shortv, sizeof shortv), &idx) != 0);
	const uint8_t other[] = { 7, 0, 1, 9, 0, 0, 5, 0, 0, 0, 0, 42 };
	CHECK_INT(ct_extensions_parse(TB_BUF(other, sizeof other), &idx), 0);
	CHECK_INT(idx, 42);
	const uint8_t trunc[] = { 0, 0, 5, 1, 2 };
	CHECK(ct_extensions_parse(TB_BUF(trunc, sizeof trunc), &idx) != 0);
	tb_bytes_free(&b);
}

static void test_leaves(void)
{
	struct ct_entry x, p, got;
	struct tb_bytes ext = { 0 };
	uint8_t fps[64];
	make_entries(&x, &p, &ext, fps);

	/* MerkleTreeLeaf layout for the x509 entry */
	struct tb_bytes b = { 0 };
	CHECK_INT(ct_merkle_leaf_write(&b, &x), 0);
	const uint8_t want[] = { 0, 0, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x7b, 0, 0,
		0, 0, 5, 0x30, 0x03, 0x02, 0x01, 0x07, 0, 8, 0, 0, 5, 1, 2, 3, 4, 5 };
	CHECK_MEM(b.p, b.len, want, sizeof want);
	CHECK_INT(ct_merkle_leaf_read(tb_bytes_buf(&b), &got), 0);
	CHECK(same_entry(&x, &got, 0));
	for (size_t n = 0; n < b.len; n++)
		CHECK(ct_merkle_leaf_read(TB_BUF(b.p, n), &got) != 0);
	tb_bytes_u8(&b, 0);
	CHECK_INT(ct_merkle_leaf_read(tb_bytes_buf(&b), &got), TB_ERR_TRAILING);
	tb_bytes_free(&b);

	/* SCT signed data = 0x00 0x00 || TimestampedEntry, the same bytes as the leaf */
	struct tb_bytes sd = { 0 }, te = { 0 };
	CHECK_INT(ct_sct_signed_data(&sd, &p), 0);
	CHECK_INT(ct_timestamped_entry_write(&te, &p), 0);
	CHECK_INT(sd.len, te.len + 2);
	CHECK(sd.len > 2 && sd.p[0] == 0 && sd.p[1] == 0 && memcmp(sd.p + 2, te.p, te.len) == 0);
	CHECK_INT(te.len, 8 + 2 + 32 + 3 + sizeof tbs_bytes + 2 + 8);
	tb_bytes_free(&sd);
	tb_bytes_free(&te);

	/* a data tile of three TileLeafs */
	struct tb_bytes tile = { 0 };
	CHECK_INT(ct_tile_leaf_write(&tile, &x), 0);
	CHECK_INT(ct_tile_leaf_write(&tile, &p), 0);
	CHECK_INT(ct_tile_leaf_write(&tile, &x), 0);
	struct ct_entry three[3];
	CHECK_INT(ct_data_tile_read(tb_bytes_buf(&tile), three, 3), 0);
	CHECK(same_entry(&x, &three[0], 1));
	CHECK(same_entry(&p, &three[1], 1));
	CHECK(same_entry(&x, &three[2], 1));
	CHECK_INT(ct_data_tile_read(tb_bytes_buf(&tile), three, 2), TB_ERR_TRAILING);
	CHECK(ct_data_tile_read(tb_bytes_buf(&tile), three, 3) == 0);
	struct ct_entry four[4];
	CHECK(ct_data_tile_read(tb_bytes_buf(&tile), four, 4) != 0);
	for (size_t n = 0; n < tile.len; n++)
		CHECK(ct_data_tile_read(TB_BUF(tile.p, n), three, 3) != 0);
	/* the leaf hash is the same whether computed from the entry or the tile */
	uint8_t h1[CT_HASH_LEN], h2[CT_HASH_LEN];
	CHECK_INT(ct_entry_leaf_hash(&p, h1), 0);
	CHECK_INT(ct_entry_leaf_hash(&three[1], h2), 0);
	CHECK_MEM(h1, CT_HASH_LEN, h2, CT_HASH_LEN);
	tb_bytes_free(&tile);

	/* rejected encodings */
	struct ct_entry bad = x;
	bad.cert = TB_BUF(cert_bytes, 0);
	CHECK(ct_merkle_leaf_write(&b, &bad) != 0);
	tb_bytes_free(&b);
	bad = x;
	bad.chain_fps = TB_BUF(fps, 31);
	CHECK(ct_tile_leaf_write(&b, &bad) != 0);
	tb_bytes_free(&b);
	bad = p;
	bad.precert = TB_BUF(pre_bytes, 0);
	CHECK(ct_tile_leaf_write(&b, &bad) != 0);
	tb_bytes_free(&b);
	/* unknown entry type 2 */
	const uint8_t t2[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 1, 0x30, 0, 0 };
	CHECK(ct_merkle_leaf_read(TB_BUF(t2, sizeof t2), &got) != 0);
	/* fingerprints not a multiple of 32 */
	struct tb_bytes tl = { 0 };
	ct_timestamped_entry_write(&tl, &x);
	tb_bytes_vec(&tl, 2, fps, 33);
	struct tb_reader r = TB_READER(tl.p, tl.len);
	CHECK(ct_tile_leaf_read(&r, &got) != 0);
	tb_bytes_free(&tl);
	tb_bytes_free(&ext);
}

static void test_sct_and_checkpoint(void)
{
	struct tb_pkey *key = NULL, *other = NULL;
	CHECK_INT(tb_pkey_generate_ec(TB_CURVE_P256, &key), 0);
	CHECK_INT(tb_pkey_generate_ec(TB_CURVE_P256, &other), 0);
	if (!key || !other)
		return;
	uint8_t log_id[CT_HASH_LEN];
	CHECK_INT(ct_log_id(key, log_id), 0);

	struct ct_entry x, p;
	struct tb_bytes ext = { 0 };
	uint8_t fps[64];
	make_entries(&x, &p, &ext, fps);

	struct ct_sct sct, back;
	struct tb_bytes sig = { 0 }, enc = { 0 };
	CHECK_INT(ct_sct_sign(key, log_id, &p, &sct, &sig), 0);
	CHECK_INT(ct_sct_verify(key, &p, &sct), 0);
	CHECK_INT(ct_sct_verify(other, &p, &sct), TB_ERR_VERIFY);
	CHECK(ct_sct_verify(key, &x, &sct) != 0);
	CHECK_INT(ct_sct_write(&enc, &sct), 0);
	CHECK_INT(enc.len, 1 + 32 + 8 + 2 + 8 + 2 + 2 + sct.signature.len);
	CHECK_INT(ct_sct_read(tb_bytes_buf(&enc), &back), 0);
	CHECK_MEM(back.log_id, CT_HASH_LEN, log_id, CT_HASH_LEN);
	CHECK_INT(back.timestamp, p.timestamp);
	CHECK_INT(ct_sct_verify(key, &p, &back), 0);
	uint64_t idx = 0;
	CHECK_INT(ct_extensions_parse(back.extensions, &idx), 0);
	CHECK_INT(idx, 0x0102030405ull);
	for (size_t n = 0; n < enc.len; n++)
		CHECK(ct_sct_read(TB_BUF(enc.p, n), &back) != 0);
	/* tampered timestamp */
	back.timestamp++;
	CHECK_INT(ct_sct_verify(key, &p, &back), TB_ERR_VERIFY);

	/* SCT list and its extension value */
	struct tb_bytes list = { 0 }, extv = { 0 };
	struct tb_buf two[2] = { tb_bytes_buf(&enc), tb_bytes_buf(&enc) };
	CHECK_INT(ct_sct_list_write(&list, two, 2), 0);
	CHECK_INT(list.len, 2 + 2 * (2 + enc.len));
	CHECK_INT(((size_t)list.p[0] << 8 | list.p[1]), list.len - 2);
	CHECK_INT(ct_sct_list_extension(&extv, two, 2), 0);
	CHECK(extv.len > 3 && extv.p[0] == 0x04);
	CHECK(extv.len >= list.len && memcmp(extv.p + extv.len - list.len, list.p, list.len) == 0);
	CHECK(ct_sct_list_write(&list, two, 0) != 0);
	tb_bytes_free(&list);
	tb_bytes_free(&extv);

	/* checkpoint */
	uint8_t root[CT_HASH_LEN];
	memset(root, 0x5d, sizeof root);
	struct tb_bytes note = { 0 };
	const char *origin = "ct.lab.test/2026h1";
	CHECK_INT(ct_checkpoint_sign(&note, key, origin, 1700000000999ull, 12345, root), 0);
	char *s = tb_bytes_cstr(&note);
	const char *head = "ct.lab.test/2026h1\n12345\nXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV0=\n\n\xe2\x80\x94 ct.lab.test/2026h1 ";
	CHECK(s && strncmp(s, head, strlen(head)) == 0);
	struct ct_checkpoint c;
	CHECK_INT(ct_checkpoint_verify(tb_bytes_buf(&note), origin, key, &c), 0);
	CHECK_INT(c.size, 12345);
	CHECK_INT(c.timestamp, 1700000000999ull);
	CHECK_MEM(c.root, CT_HASH_LEN, root, CT_HASH_LEN);
	/* signature line body: key id (4) + timestamp (8) + DigitallySigned */
	const char *line = strstr(s, "\xe2\x80\x94 ");
	CHECK(line != NULL);
	if (line) {
		const char *b64 = strchr(line + 4, ' ') + 1;
		struct tb_bytes raw = { 0 };
		CHECK_INT(tb_base64_decode(&raw, b64, strlen(b64) - 1), 0);
		uint32_t id = ct_note_key_id(origin, log_id);
		CHECK(raw.len > 16 && raw.p[0] == (id >> 24) && raw.p[3] == (id & 0xff));
		CHECK(raw.len > 16 && raw.p[12] == 4 && raw.p[13] == 3);
		CHECK_INT(raw.len, 4 + 8 + 2 + 2 + ((size_t)raw.p[14] << 8 | raw.p[15]));
		tb_bytes_free(&raw);
	}
	/* wrong origin, wrong key, tampered size, extension line, unknown extra signer */
	CHECK_INT(ct_checkpoint_verify(tb_bytes_buf(&note), "ct.lab.test/2026h2", key, &c), TB_ERR_VERIFY);
	CHECK_INT(ct_checkpoint_verify(tb_bytes_buf(&note), origin, other, &c), TB_ERR_VERIFY);
	struct tb_bytes t = { 0 };
	tb_bytes_append(&t, note.p, note.len);
	t.p[strlen(origin) + 1] = '2';
	CHECK(ct_checkpoint_verify(tb_bytes_buf(&t), origin, key, &c) != 0);
	tb_bytes_free(&t);
	size_t body = strstr(s, "\n\n") - s + 1;
	tb_bytes_append(&t, note.p, body);
	tb_bytes_printf(&t, "extension\n");
	tb_bytes_append(&t, note.p + body, note.len - body);
	CHECK(ct_checkpoint_verify(tb_bytes_buf(&t), origin, key, &c) != 0);
	tb_bytes_free(&t);
	tb_bytes_append(&t, note.p, note.len);
	tb_bytes_printf(&t, "\xe2\x80\x94 witness.example AAAAAAAAAAAA\n");
	CHECK_INT(ct_checkpoint_verify(tb_bytes_buf(&t), origin, key, &c), 0);
	tb_bytes_free(&t);
	for (size_t n = 0; n < note.len; n++)
		CHECK(ct_checkpoint_verify(TB_BUF(note.p, n), origin, key, &c) != 0);
	CHECK(ct_checkpoint_sign(&t, key, "bad origin", 1, 1, root) != 0);
	tb_bytes_free(&t);

	tb_bytes_free(&note);
	tb_bytes_free(&sig);
	tb_bytes_free(&enc);
	tb_bytes_free(&ext);
	tb_pkey_free(key);
	tb_pkey_free(other);
}

int main(void)
{
	test_extensions();
	test_leaves();
	test_sct_and_checkpoint();
	return tb_test_result("ctlog_leaf");
}

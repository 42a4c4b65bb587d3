/*
 * DESIGN: the byte encodings of log entries.
 *
 * RFC 6962 section 3.4 defines the MerkleTreeLeaf that is hashed into the
 * tree; its TimestampedEntry is also what an SCT signs (with a two-byte
 * prefix) and the head of every static-ct-api TileLeaf, which adds the
 * submitted precertificate and the SHA-256 fingerprints of the chain. The
 * CtExtensions of a static-ct-api log carry exactly one leaf_index.
 *
 *   TimestampedEntry = uint64 timestamp || uint16 entry_type ||
 *       (x509: ASN.1Cert<1..2^24-1> | precert: issuer_key_hash[32] ||
 *        TBSCertificate<1..2^24-1>) || CtExtensions<0..2^16-1>
 *   TileLeaf = TimestampedEntry || (precert: ASN.1Cert pre_certificate) ||
 *       Fingerprint certificate_chain<0..2^16-1>
 *
 * Decoders borrow slices from their input (no allocation), reject empty
 * certificates, unknown entry types, chains that are not whole fingerprints
 * and trailing bytes.
 */
#include "ctlog/ctlog.h"

#include <string.h>

#include "core/error.h"

enum {
	EXT_LEAF_INDEX = 0,
	MERKLE_LEAF_V1 = 0,
	LEAF_TYPE_TIMESTAMPED_ENTRY = 0,
};

int ct_extensions_leaf_index(struct tb_bytes *out, uint64_t leaf_index)
{
	if (leaf_index > CT_MAX_LEAF_INDEX)
		return TB_ERR_TOO_LARGE;
	uint8_t v[CT_LEAF_INDEX_EXT_LEN] = { EXT_LEAF_INDEX, 0, 5 };
	for (int i = 0; i < 5; i++)
		v[3 + i] = (uint8_t)(leaf_index >> (8 * (4 - i)));
	return tb_bytes_append(out, v, sizeof v);
}

int ct_extensions_parse(struct tb_buf ext, uint64_t *leaf_index)
{
	struct tb_reader r = TB_READER(ext.p, ext.len);
	int found = 0;
	uint8_t seen[256] = { 0 };
	while (tb_reader_left(&r) > 0) {
		uint8_t type;
		struct tb_buf data;
		int err = tb_read_u8(&r, &type);
		if (!err)
			err = tb_read_vec(&r, 2, &data);
		if (err)
			return err;
		if (seen[type]++)
			return TB_ERR_INVALID; /* duplicate extension */
		if (type == EXT_LEAF_INDEX) {
			if (data.len != 5)
				return TB_ERR_INVALID;
			uint64_t v = 0;
			for (int i = 0; i < 5; i++)
				v = v << 8 | data.p[i];
			*leaf_index = v;
			found = 1;
		}
	}
	return found ? 0 : TB_ERR_NOT_FOUND;
}

int ct_timestamped_entry_write(struct tb_bytes *out, const struct ct_entry *e)
{
	if (e->cert.len == 0 || e->cert.len > CT_MAX_ASN1CERT)
		return TB_ERR_INVALID;
	tb_bytes_u64(out, e->timestamp);
	tb_bytes_u16(out, (uint16_t)e->type);
	if (e->type == CT_ENTRY_X509) {
		tb_bytes_vec(out, 3, e->cert.p, e->cert.len);
	} else if (e->type == CT_ENTRY_PRECERT) {
		tb_bytes_append(out, e->issuer_key_hash, CT_HASH_LEN);
		tb_bytes_vec(out, 3, e->cert.p, e->cert.len);
	} else {
		return TB_ERR_INVALID;
	}
	int err = tb_bytes_vec(out, 2, e->extensions.p, e->extensions.len);
	return err ? err : out->err;
}

int ct_timestamped_entry_read(struct tb_reader *r, struct ct_entry *e)
{
	uint16_t type;
	int err = tb_read_u64(r, &e->timestamp);
	if (!err)
		err = tb_read_u16(r, &type);
	if (err)
		return err;
	if (type == CT_ENTRY_PRECERT) {
		struct tb_buf ikh;
		if ((err = tb_read_bytes(r, CT_HASH_LEN, &ikh)))
			return err;
		memcpy(e->issuer_key_hash, ikh.p, CT_HASH_LEN);
	} else if (type == CT_ENTRY_X509) {
		memset(e->issuer_key_hash, 0, CT_HASH_LEN);
	} else {
		return TB_ERR_INVALID;
	}
	e->type = (enum ct_entry_type)type;
	if ((err = tb_read_vec(r, 3, &e->cert)))
		return err;
	if (e->cert.len == 0)
		return TB_ERR_INVALID;
	return tb_read_vec(r, 2, &e->extensions);
}

int ct_merkle_leaf_write(struct tb_bytes *out, const struct ct_entry *e)
{
	tb_bytes_u8(out, MERKLE_LEAF_V1);
	tb_bytes_u8(out, LEAF_TYPE_TIMESTAMPED_ENTRY);
	return ct_timestamped_entry_write(out, e);
}

int ct_merkle_leaf_read(struct tb_buf in, struct ct_entry *e)
{
	struct tb_reader r = TB_READER(in.p, in.len);
	uint8_t version, type;
	memset(e, 0, sizeof *e);
	int err = tb_read_u8(&r, &version);
	if (!err)
		err = tb_read_u8(&r, &type);
	if (err)
		return err;
	if (version != MERKLE_LEAF_V1 || type != LEAF_TYPE_TIMESTAMPED_ENTRY)
		return TB_ERR_INVALID;
	if ((err = ct_timestamped_entry_read(&r, e)))
		return err;
	return tb_read_end(&r);
}

int ct_entry_leaf_hash(const struct ct_entry *e, uint8_t out[CT_HASH_LEN])
{
	struct tb_bytes b = { 0 };
	int err = ct_merkle_leaf_write(&b, e);
	if (!err)
		err = ct_hash_leaf(tb_bytes_buf(&b), out);
	tb_bytes_free(&b);
	return err;
}

int ct_tile_leaf_write(struct tb_bytes *out, const struct ct_entry *e)
{
	if (e->chain_fps.len % CT_HASH_LEN != 0)
		return TB_ERR_INVALID;
	int err = ct_timestamped_entry_write(out, e);
	if (err)
		return err;
	if (e->type == CT_ENTRY_PRECERT) {
		if (e->precert.len == 0)
			return TB_ERR_INVALID;
		if ((err = tb_bytes_vec(out, 3, e->precert.p, e->precert.len)))
			return err;
	}
	return tb_bytes_vec(out, 2, e->chain_fps.p, e->chain_fps.len);
}

int ct_tile_leaf_read(struct tb_reader *r, struct ct_entry *e)
{
	memset(e, 0, sizeof *e);
	int err = ct_timestamped_entry_read(r, e);
	if (err)
		return err;
	if (e->type == CT_ENTRY_PRECERT) {
		if ((err = tb_read_vec(r, 3, &e->precert)))
			return err;
		if (e->precert.len == 0)
			return TB_ERR_INVALID;
	}
	if ((err = tb_read_vec(r, 2, &e->chain_fps)))
		return err;
	if (e->chain_fps.len % CT_HASH_LEN != 0)
		return TB_ERR_INVALID;
	return 0;
}

int ct_data_tile_read(struct tb_buf tile, struct ct_entry *entries, size_t count)
{
	struct tb_reader r = TB_READER(tile.p, tile.len);
	for (size_t i = 0; i < count; i++) {
		int err = ct_tile_leaf_read(&r, &entries[i]);
		if (err)
			return err;
	}
	return tb_read_end(&r);
}

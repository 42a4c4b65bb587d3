/*
 * DESIGN: what the log signs, and how signatures travel.
 *
 * SCT (RFC 6962 section 3.2): the log signs, with ECDSA P-256 over SHA-256,
 * sct_version(0) || signature_type certificate_timestamp(0) || the
 * TimestampedEntry fields (timestamp, entry type, certificate or PreCert,
 * extensions). The serialized SCT is version || log_id || timestamp ||
 * CtExtensions<0..2^16-1> || DigitallySigned, and a certificate carries a
 * SignedCertificateTimestampList (vector of vectors) inside an OCTET STRING.
 *
 * Tree heads (RFC 6962 section 3.5): version(0) || tree_hash(1) || timestamp
 * || tree_size || root. static-ct-api publishes them as a tlog-checkpoint
 * signed note: body "origin\nsize\nbase64(root)\n", then one signature line
 * "— origin base64(key_id[4] || RFC6962NoteSignature)" where the key ID is
 * SHA-256(origin || "\n" || 0x05 || log_id)[:4] and RFC6962NoteSignature is
 * uint64 timestamp || DigitallySigned. The origin is not covered by the
 * signature; the verifier checks it matches what it expected.
 */
#include "ctlog/ctlog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/error.h"

enum {
	SCT_V1 = 0,
	SIG_CERTIFICATE_TIMESTAMP = 0,
	SIG_TREE_HASH = 1,
	NOTE_SIG_RFC6962 = 0x05,
};

/* U+2014 EM DASH and a space start every note signature line. */
static const char note_dash[] = "\xe2\x80\x94 ";

int ct_log_id(const struct tb_pkey *key, uint8_t out[CT_HASH_LEN])
{
	struct tb_bytes spki = { 0 };
	int err = tb_pkey_write_spki_der(key, &spki);
	if (!err)
		err = tb_sha256(tb_bytes_buf(&spki), out);
	tb_bytes_free(&spki);
	return err;
}

int ct_sct_signed_data(struct tb_bytes *out, const struct ct_entry *e)
{
	tb_bytes_u8(out, SCT_V1);
	tb_bytes_u8(out, SIG_CERTIFICATE_TIMESTAMP);
	return ct_timestamped_entry_write(out, e);
}

static int sign_data(const struct tb_pkey *key, struct tb_buf data, struct tb_bytes *sig)
{
	uint8_t digest[TB_SHA256_LEN];
	int err = tb_sha256(data, digest);
	return err ? err : tb_pkey_sign(key, TB_HASH_SHA256, digest, sig);
}

static int verify_data(const struct tb_pkey *key, struct tb_buf data, struct tb_buf sig)
{
	uint8_t digest[TB_SHA256_LEN];
	int err = tb_sha256(data, digest);
	return err ? err : tb_pkey_verify(key, TB_HASH_SHA256, digest, sig);
}

int ct_sct_sign(const struct tb_pkey *key, const uint8_t log_id[CT_HASH_LEN],
	const struct ct_entry *e, struct ct_sct *sct, struct tb_bytes *sigbuf)
{
	struct tb_bytes data = { 0 };
	int err = ct_sct_signed_data(&data, e);
	size_t off = sigbuf->len;
	if (!err)
		err = sign_data(key, tb_bytes_buf(&data), sigbuf);
	tb_bytes_free(&data);
	if (err)
		return err;
	memset(sct, 0, sizeof *sct);
	sct->version = SCT_V1;
	memcpy(sct->log_id, log_id, CT_HASH_LEN);
	sct->timestamp = e->timestamp;
	sct->extensions = e->extensions;
	sct->hash_alg = CT_HASH_ALG_SHA256;
	sct->sig_alg = CT_SIG_ALG_ECDSA;
	sct->signature = TB_BUF(sigbuf->p + off, sigbuf->len - off);
	return 0;
}

int ct_sct_verify(const struct tb_pkey *key, const struct ct_entry *e, const struct ct_sct *sct)
{
	if (sct->version != SCT_V1 || sct->hash_alg != CT_HASH_ALG_SHA256 ||
		sct->sig_alg != CT_SIG_ALG_ECDSA)
		return TB_ERR_UNSUPPORTED;
	struct ct_entry signed_e = *e;
	signed_e.timestamp = sct->timestamp;
	signed_e.extensions = sct->extensions;
	struct tb_bytes data = { 0 };
	int err = ct_sct_signed_data(&data, &signed_e);
	if (!err)
		err = verify_data(key, tb_bytes_buf(&data), sct->signature);
	tb_bytes_free(&data);
	return err;
}

int ct_digitally_signed_write(struct tb_bytes *out, struct tb_buf der_sig)
{
	tb_bytes_u8(out, CT_HASH_ALG_SHA256);
	tb_bytes_u8(out, CT_SIG_ALG_ECDSA);
	return tb_bytes_vec(out, 2, der_sig.p, der_sig.len);
}

int ct_digitally_signed_read(struct tb_reader *r, struct tb_buf *der_sig)
{
	uint8_t h, s;
	int err = tb_read_u8(r, &h);
	if (!err)
		err = tb_read_u8(r, &s);
	if (err)
		return err;
	if (h != CT_HASH_ALG_SHA256 || s != CT_SIG_ALG_ECDSA)
		return TB_ERR_UNSUPPORTED;
	return tb_read_vec(r, 2, der_sig);
}

int ct_sct_write(struct tb_bytes *out, const struct ct_sct *sct)
{
	tb_bytes_u8(out, sct->version);
	tb_bytes_append(out, sct->log_id, CT_HASH_LEN);
	tb_bytes_u64(out, sct->timestamp);
	int err = tb_bytes_vec(out, 2, sct->extensions.p, sct->extensions.len);
	if (err)
		return err;
	tb_bytes_u8(out, sct->hash_alg);
	tb_bytes_u8(out, sct->sig_alg);
	return tb_bytes_vec(out, 2, sct->signature.p, sct->signature.len);
}

int ct_sct_read(struct tb_buf in, struct ct_sct *sct)
{
	struct tb_reader r = TB_READER(in.p, in.len);
	struct tb_buf id;
	memset(sct, 0, sizeof *sct);
	int err = tb_read_u8(&r, &sct->version);
	if (!err && sct->version != SCT_V1)
		return TB_ERR_UNSUPPORTED;
	if (!err)
		err = tb_read_bytes(&r, CT_HASH_LEN, &id);
	if (!err) {
		memcpy(sct->log_id, id.p, CT_HASH_LEN);
		err = tb_read_u64(&r, &sct->timestamp);
	}
	if (!err)
		err = tb_read_vec(&r, 2, &sct->extensions);
	if (!err)
		err = tb_read_u8(&r, &sct->hash_alg);
	if (!err)
		err = tb_read_u8(&r, &sct->sig_alg);
	if (!err)
		err = tb_read_vec(&r, 2, &sct->signature);
	return err ? err : tb_read_end(&r);
}

int ct_sct_list_write(struct tb_bytes *out, const struct tb_buf *scts, size_t n)
{
	if (n == 0)
		return TB_ERR_INVALID; /* sct_list<1..2^16-1> */
	size_t mark;
	int err = tb_bytes_vec_begin(out, 2, &mark);
	for (size_t i = 0; i < n && !err; i++) {
		if (scts[i].len == 0)
			return TB_ERR_INVALID;
		err = tb_bytes_vec(out, 2, scts[i].p, scts[i].len);
	}
	return err ? err : tb_bytes_vec_end(out, 2, mark);
}

/* DER length octets */
static int der_len(struct tb_bytes *out, size_t n)
{
	if (n < 0x80)
		return tb_bytes_u8(out, (uint8_t)n);
	if (n <= 0xff) {
		tb_bytes_u8(out, 0x81);
		return tb_bytes_u8(out, (uint8_t)n);
	}
	if (n <= 0xffff) {
		tb_bytes_u8(out, 0x82);
		return tb_bytes_u16(out, (uint16_t)n);
	}
	if (n <= 0xffffff) {
		tb_bytes_u8(out, 0x83);
		return tb_bytes_u24(out, (uint32_t)n);
	}
	return TB_ERR_TOO_LARGE;
}

int ct_sct_list_extension(struct tb_bytes *out, const struct tb_buf *scts, size_t n)
{
	struct tb_bytes list = { 0 };
	int err = ct_sct_list_write(&list, scts, n);
	if (!err) {
		tb_bytes_u8(out, 0x04); /* OCTET STRING */
		err = der_len(out, list.len);
	}
	if (!err)
		err = tb_bytes_append(out, list.p, list.len);
	tb_bytes_free(&list);
	return err;
}

int ct_tree_head_signed_data(struct tb_bytes *out, uint64_t timestamp, uint64_t size,
	const uint8_t root[CT_HASH_LEN])
{
	tb_bytes_u8(out, SCT_V1);
	tb_bytes_u8(out, SIG_TREE_HASH);
	tb_bytes_u64(out, timestamp);
	tb_bytes_u64(out, size);
	return tb_bytes_append(out, root, CT_HASH_LEN);
}

int ct_tree_head_sign(const struct tb_pkey *key, uint64_t timestamp, uint64_t size,
	const uint8_t root[CT_HASH_LEN], struct tb_bytes *der_sig)
{
	struct tb_bytes data = { 0 };
	int err = ct_tree_head_signed_data(&data, timestamp, size, root);
	if (!err)
		err = sign_data(key, tb_bytes_buf(&data), der_sig);
	tb_bytes_free(&data);
	return err;
}

int ct_tree_head_verify(const struct tb_pkey *key, uint64_t timestamp, uint64_t size,
	const uint8_t root[CT_HASH_LEN], struct tb_buf der_sig)
{
	struct tb_bytes data = { 0 };
	int err = ct_tree_head_signed_data(&data, timestamp, size, root);
	if (!err)
		err = verify_data(key, tb_bytes_buf(&data), der_sig);
	tb_bytes_free(&data);
	return err;
}

uint32_t ct_note_key_id(const char *name, const uint8_t log_id[CT_HASH_LEN])
{
	struct tb_hash_ctx c;
	uint8_t d[TB_SHA256_LEN] = { 0 };
	const uint8_t sep[2] = { '\n', NOTE_SIG_RFC6962 };
	if (tb_hash_init(&c, TB_HASH_SHA256) == 0) {
		tb_hash_update(&c, name, strlen(name));
		tb_hash_update(&c, sep, 2);
		tb_hash_update(&c, log_id, CT_HASH_LEN);
		tb_hash_final(&c, d);
	}
	return (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
}

/* An origin is a non-empty line of printable ASCII without spaces or '+' (a note key name). */
static int origin_ok(const char *origin)
{
	size_t n = strlen(origin);
	if (n == 0 || n > CT_MAX_ORIGIN)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (origin[i] <= ' ' || origin[i] >= 0x7f || origin[i] == '+')
			return 0;
	return 1;
}

int ct_checkpoint_write(struct tb_bytes *out, const char *origin,
	const uint8_t log_id[CT_HASH_LEN], const struct ct_checkpoint *c)
{
	if (!origin_ok(origin))
		return TB_ERR_INVALID;
	tb_bytes_printf(out, "%s\n%llu\n", origin, (unsigned long long)c->size);
	tb_base64_encode(out, c->root, CT_HASH_LEN);
	tb_bytes_printf(out, "\n\n%s%s ", note_dash, origin);
	struct tb_bytes sig = { 0 };
	uint32_t id = ct_note_key_id(origin, log_id);
	tb_bytes_u32(&sig, id);
	tb_bytes_u64(&sig, c->timestamp);
	int err = ct_digitally_signed_write(&sig, c->signature);
	if (!err)
		err = tb_base64_encode(out, sig.p, sig.len);
	tb_bytes_free(&sig);
	if (!err)
		err = tb_bytes_u8(out, '\n');
	return err ? err : out->err;
}

int ct_checkpoint_sign(struct tb_bytes *out, const struct tb_pkey *key, const char *origin,
	uint64_t timestamp, uint64_t size, const uint8_t root[CT_HASH_LEN])
{
	uint8_t log_id[CT_HASH_LEN];
	struct tb_bytes der = { 0 };
	int err = ct_log_id(key, log_id);
	if (!err)
		err = ct_tree_head_sign(key, timestamp, size, root, &der);
	if (!err) {
		struct ct_checkpoint c = { .size = size, .timestamp = timestamp,
			.signature = tb_bytes_buf(&der) };
		memcpy(c.root, root, CT_HASH_LEN);
		err = ct_checkpoint_write(out, origin, log_id, &c);
	}
	tb_bytes_free(&der);
	return err;
}

/* Next line of [*pos, end) without its '\n'; TB_ERR_TRUNCATED if there is no '\n'. */
static int next_line(const uint8_t **pos, const uint8_t *end, struct tb_buf *line)
{
	const uint8_t *nl = memchr(*pos, '\n', (size_t)(end - *pos));
	if (!nl)
		return TB_ERR_TRUNCATED;
	*line = TB_BUF(*pos, (size_t)(nl - *pos));
	*pos = nl + 1;
	return 0;
}

static int parse_u64_line(struct tb_buf l, uint64_t *v)
{
	if (l.len == 0 || l.len > 20 || (l.len > 1 && l.p[0] == '0'))
		return TB_ERR_INVALID;
	uint64_t n = 0;
	for (size_t i = 0; i < l.len; i++) {
		if (l.p[i] < '0' || l.p[i] > '9')
			return TB_ERR_INVALID;
		unsigned d = l.p[i] - '0';
		if (n > (UINT64_MAX - d) / 10)
			return TB_ERR_INVALID;
		n = n * 10 + d;
	}
	*v = n;
	return 0;
}

int ct_checkpoint_verify(struct tb_buf note, const char *origin, const struct tb_pkey *key,
	struct ct_checkpoint *c)
{
	memset(c, 0, sizeof *c);
	if (note.len > CT_MAX_CHECKPOINT || !origin_ok(origin))
		return TB_ERR_INVALID;
	const uint8_t *pos = note.p, *end = note.p + note.len;
	struct tb_buf line;
	int err;
	/* body: exactly origin, size, root (no extension lines for this signature type) */
	if ((err = next_line(&pos, end, &line)))
		return err;
	if (line.len != strlen(origin) || memcmp(line.p, origin, line.len) != 0)
		return TB_ERR_VERIFY;
	if ((err = next_line(&pos, end, &line)) || (err = parse_u64_line(line, &c->size)))
		return err ? err : TB_ERR_INVALID;
	if ((err = next_line(&pos, end, &line)))
		return err;
	struct tb_bytes root = { 0 };
	err = tb_base64_decode(&root, (const char *)line.p, line.len);
	if (!err && root.len != CT_HASH_LEN)
		err = TB_ERR_INVALID;
	if (!err)
		memcpy(c->root, root.p, CT_HASH_LEN);
	tb_bytes_free(&root);
	if (err)
		return err;
	if ((err = next_line(&pos, end, &line)))
		return err;
	if (line.len != 0)
		return TB_ERR_INVALID; /* extension lines are not allowed */

	uint8_t log_id[CT_HASH_LEN];
	if ((err = ct_log_id(key, log_id)))
		return err;
	uint32_t want_id = ct_note_key_id(origin, log_id);
	size_t olen = strlen(origin), dlen = sizeof note_dash - 1;
	int good = 0, lines = 0;
	while (pos < end) {
		if ((err = next_line(&pos, end, &line)))
			return err;
		if (++lines > 100)
			return TB_ERR_TOO_LARGE;
		if (line.len < dlen || memcmp(line.p, note_dash, dlen) != 0)
			return TB_ERR_INVALID;
		struct tb_buf rest = TB_BUF(line.p + dlen, line.len - dlen);
		const uint8_t *sp = memchr(rest.p, ' ', rest.len);
		if (!sp)
			return TB_ERR_INVALID;
		size_t nlen = (size_t)(sp - rest.p);
		if (nlen != olen || memcmp(rest.p, origin, olen) != 0)
			continue; /* another signer: ignored */
		struct tb_bytes sig = { 0 };
		err = tb_base64_decode(&sig, (const char *)sp + 1, rest.len - nlen - 1);
		if (err || sig.len < 4) {
			tb_bytes_free(&sig);
			return err ? err : TB_ERR_INVALID;
		}
		uint32_t id = (uint32_t)sig.p[0] << 24 | (uint32_t)sig.p[1] << 16 |
			(uint32_t)sig.p[2] << 8 | sig.p[3];
		if (id != want_id) {
			tb_bytes_free(&sig);
			continue;
		}
		struct tb_reader r = TB_READER(sig.p + 4, sig.len - 4);
		struct tb_buf der;
		uint64_t ts = 0;
		err = tb_read_u64(&r, &ts);
		if (!err)
			err = ct_digitally_signed_read(&r, &der);
		if (!err)
			err = tb_read_end(&r);
		if (!err)
			err = ct_tree_head_verify(key, ts, c->size, c->root, der);
		tb_bytes_free(&sig);
		if (err)
			return TB_ERR_VERIFY;
		c->timestamp = ts;
		good = 1;
	}
	return good ? 0 : TB_ERR_VERIFY;
}

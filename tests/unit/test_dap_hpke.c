/*
 * HPKE (RFC 9180) against the published vectors read at test time from
 * tests/vectors/hpke/ (a missing file fails the test): the RFC's appendix A.1.1 (DeriveKeyPair,
 * deterministic Encap, key schedule, every sequence number, exports) and the
 * CFRG test-vectors.json (Decap + key schedule + Open for every base-mode
 * suite this build implements). Plus corruption, DAP-09 encodings and the
 * single-shot API on an HpkeConfig.
 */
#include "tb_test.h"

#include <cjson/cJSON.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/error.h"
#include "dap/hpke.h"

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n < (16 << 20) &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
		if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = 0;
			*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

/* Hex string -> owned bytes; exits on malformed vector data. */
static struct tb_bytes unhex(const char *s)
{
	struct tb_bytes b = { 0 };
	if (!s || tb_hex_decode(&b, s, strlen(s)) != 0) {
		fprintf(stderr, "bad hex in vector: %s\n", s ? s : "(null)");
		exit(2);
	}
	return b;
}

/* ---- RFC 9180 appendix A.1.1 (text extract) ------------------------------- */

#define MAX_FIELDS 128

struct field {
	char key[48];
	char val[1024];
};

/* Parses "key: hex" lines where long hex values wrap onto following lines. */
static int parse_fields(char *text, struct field *f, int max)
{
	int n = 0, cur = -1;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char *colon = strchr(line, ':');
		int is_hex = line[0] != 0;
		for (char *p = line; *p; p++)
			if (!strchr("0123456789abcdef", *p))
				is_hex = 0;
		if (is_hex && cur >= 0) {
			strncat(f[cur].val, line, sizeof(f[cur].val) - strlen(f[cur].val) - 1);
			continue;
		}
		cur = -1;
		if (!colon || line[0] == '#' || line[0] == '~' || n >= max)
			continue;
		*colon = 0;
		char *v = colon + 1;
		while (*v == ' ')
			v++;
		snprintf(f[n].key, sizeof(f[n].key), "%s", line);
		snprintf(f[n].val, sizeof(f[n].val), "%s", v);
		cur = n++;
	}
	return n;
}

static const char *field(struct field *f, int n, const char *key)
{
	for (int i = 0; i < n; i++)
		if (strcmp(f[i].key, key) == 0)
			return f[i].val;
	return NULL;
}

static int test_rfc_a11(void)
{
	char path[1024];
	size_t len;
	int cases = 0;
	tb_test_vector("hpke/rfc9180-A.1.1-x25519-sha256-aes128gcm-base.txt", path, sizeof(path));
	char *text = read_file(path, &len);
	if (!text) {
		fprintf(stderr, "missing vector file %s\n", path);
		CHECK(0);
		return 0;
	}
	static struct field f[MAX_FIELDS];
	int nf = parse_fields(text, f, MAX_FIELDS);
	CHECK_STR(field(f, nf, "mode"), "0");
	CHECK_STR(field(f, nf, "kem_id"), "32");
	CHECK_STR(field(f, nf, "kdf_id"), "1");
	CHECK_STR(field(f, nf, "aead_id"), "1");
	struct dap_hpke_suite su = { 0x20, 1, 1 };

	struct tb_bytes info = unhex(field(f, nf, "info")), ikmE = unhex(field(f, nf, "ikmE")),
			ikmR = unhex(field(f, nf, "ikmR")), skEm = unhex(field(f, nf, "skEm")),
			pkEm = unhex(field(f, nf, "pkEm")), skRm = unhex(field(f, nf, "skRm")),
			pkRm = unhex(field(f, nf, "pkRm")), enc = unhex(field(f, nf, "enc")),
			ss = unhex(field(f, nf, "shared_secret")), key = unhex(field(f, nf, "key")),
			nonce = unhex(field(f, nf, "base_nonce")),
			exps = unhex(field(f, nf, "exporter_secret"));

	/* DeriveKeyPair for both key pairs. */
	struct dap_hpke_keypair kpE, kpR;
	CHECK_INT(dap_hpke_derive_keypair(su.kem_id, tb_bytes_buf(&ikmE), &kpE), 0);
	CHECK_MEM(kpE.sk, kpE.sk_len, skEm.p, skEm.len);
	CHECK_MEM(kpE.pk, kpE.pk_len, pkEm.p, pkEm.len);
	CHECK_INT(dap_hpke_derive_keypair(su.kem_id, tb_bytes_buf(&ikmR), &kpR), 0);
	CHECK_MEM(kpR.sk, kpR.sk_len, skRm.p, skRm.len);
	CHECK_MEM(kpR.pk, kpR.pk_len, pkRm.p, pkRm.len);

	/* Deterministic Encap with skEm, and the key schedule, on both sides. */
	struct dap_hpke_ctx s, r;
	uint8_t e[DAP_HPKE_MAX_ENC_LEN], ssS[32], ssR[32];
	size_t elen = 0;
	CHECK_INT(dap_hpke_setup_sender(su, TB_BUF(kpR.pk, kpR.pk_len), tb_bytes_buf(&info), &kpE, e,
					&elen, &s, ssS), 0);
	CHECK_MEM(e, elen, enc.p, enc.len);
	CHECK_MEM(ssS, 32, ss.p, ss.len);
	CHECK_MEM(s.key, s.key_len, key.p, key.len);
	CHECK_MEM(s.base_nonce, 12, nonce.p, nonce.len);
	CHECK_MEM(s.exporter_secret, s.exporter_secret_len, exps.p, exps.len);
	CHECK_INT(dap_hpke_setup_receiver(su, &kpR, tb_bytes_buf(&enc), tb_bytes_buf(&info), &r, ssR),
		  0);
	CHECK_MEM(ssR, 32, ss.p, ss.len);
	CHECK_MEM(r.key, r.key_len, key.p, key.len);
	CHECK_MEM(r.base_nonce, 12, nonce.p, nonce.len);
	CHECK_MEM(r.exporter_secret, r.exporter_secret_len, exps.p, exps.len);
	cases++;

	/* Every encryption at its sequence number, both directions. */
	int encs = 0, exports = 0;
	for (int i = 0; i < nf; i++) {
		if (strcmp(f[i].key, "sequence number") == 0 && i + 4 < nf) {
			uint64_t seq = strtoull(f[i].val, NULL, 10);
			struct tb_bytes pt = unhex(f[i + 1].val), aad = unhex(f[i + 2].val),
					ct = unhex(f[i + 4].val);
			CHECK_STR(f[i + 1].key, "pt");
			CHECK_STR(f[i + 2].key, "aad");
			CHECK_STR(f[i + 4].key, "ct");
			uint8_t *out = malloc(ct.len + 1);
			s.seq = seq;
			CHECK_INT(dap_hpke_ctx_seal(&s, tb_bytes_buf(&aad), tb_bytes_buf(&pt), out), 0);
			CHECK_MEM(out, pt.len + 16, ct.p, ct.len);
			CHECK_INT(s.seq, seq + 1);
			r.seq = seq;
			CHECK_INT(dap_hpke_ctx_open(&r, tb_bytes_buf(&aad), tb_bytes_buf(&ct), out), 0);
			CHECK_MEM(out, ct.len - 16, pt.p, pt.len);
			/* Wrong sequence number or corrupted ciphertext: no plaintext. */
			r.seq = seq + 1;
			CHECK_INT(dap_hpke_ctx_open(&r, tb_bytes_buf(&aad), tb_bytes_buf(&ct), out),
				  TB_ERR_VERIFY);
			CHECK_INT(r.seq, seq + 1);
			r.seq = seq;
			ct.p[ct.len / 2] ^= 0x01;
			CHECK_INT(dap_hpke_ctx_open(&r, tb_bytes_buf(&aad), tb_bytes_buf(&ct), out),
				  TB_ERR_VERIFY);
			free(out);
			tb_bytes_free(&pt);
			tb_bytes_free(&aad);
			tb_bytes_free(&ct);
			encs++;
		}
		if (strcmp(f[i].key, "exporter_context") == 0 && i + 2 < nf) {
			struct tb_bytes ctxt = unhex(f[i].val), want = unhex(f[i + 2].val);
			size_t L = (size_t)strtoul(f[i + 1].val, NULL, 10);
			uint8_t out[256];
			CHECK_STR(f[i + 1].key, "L");
			CHECK(L <= sizeof(out));
			CHECK_INT(dap_hpke_ctx_export(&r, tb_bytes_buf(&ctxt), out, L), 0);
			CHECK_MEM(out, L, want.p, want.len);
			tb_bytes_free(&ctxt);
			tb_bytes_free(&want);
			exports++;
		}
	}
	CHECK_INT(encs, 6);
	CHECK_INT(exports, 3);
	cases += encs + exports;

	struct tb_bytes *all[] = { &info, &ikmE, &ikmR, &skEm, &pkEm, &skRm, &pkRm, &enc, &ss, &key,
				   &nonce, &exps };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		tb_bytes_free(all[i]);
	free(text);
	return cases;
}

/* ---- CFRG test-vectors.json ------------------------------------------------- */

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int jint(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valueint : -1;
}

static int test_json(int *suites_seen)
{
	char path[1024];
	size_t len;
	int cases = 0;
	tb_test_vector("hpke/test-vectors.json", path, sizeof(path));
	char *text = read_file(path, &len);
	if (!text) {
		fprintf(stderr, "missing vector file %s\n", path);
		CHECK(0);
		return 0;
	}
	cJSON *root = cJSON_ParseWithLength(text, len);
	CHECK(cJSON_IsArray(root));
	const cJSON *v;
	cJSON_ArrayForEach(v, root)
	{
		struct dap_hpke_suite su = { (uint16_t)jint(v, "kem_id"), (uint16_t)jint(v, "kdf_id"),
					     (uint16_t)jint(v, "aead_id") };
		if (jint(v, "mode") != 0 || dap_hpke_suite_supported(su) != 0)
			continue;
		suites_seen[(su.kem_id == 0x10 ? 0 : 1) * 9 + (su.kdf_id - 1) * 3 + su.aead_id - 1]++;
		struct tb_bytes info = unhex(jstr(v, "info")), enc = unhex(jstr(v, "enc")),
				pkRm = unhex(jstr(v, "pkRm")), skRm = unhex(jstr(v, "skRm")),
				nonce = unhex(jstr(v, "base_nonce"));
		struct dap_hpke_keypair kp;
		struct dap_hpke_ctx r, s;
		CHECK_INT(dap_hpke_keypair_from_sk(su.kem_id, tb_bytes_buf(&skRm), &kp), 0);
		CHECK_MEM(kp.pk, kp.pk_len, pkRm.p, pkRm.len);
		CHECK_INT(dap_hpke_setup_receiver(su, &kp, tb_bytes_buf(&enc), tb_bytes_buf(&info), &r,
						  NULL), 0);
		CHECK_MEM(r.base_nonce, 12, nonce.p, nonce.len);
		const cJSON *e;
		int encs = 0;
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(v, "encryptions"))
		{
			struct tb_bytes aad = unhex(jstr(e, "aad")), ct = unhex(jstr(e, "ct")),
					pt = unhex(jstr(e, "pt")), en = unhex(jstr(e, "nonce"));
			uint8_t *out = malloc(ct.len + pt.len + 16);
			/* The first encryption is sequence number 0: nonce == base_nonce. */
			CHECK_MEM(en.p, en.len, nonce.p, nonce.len);
			r.seq = 0;
			CHECK_INT(dap_hpke_ctx_open(&r, tb_bytes_buf(&aad), tb_bytes_buf(&ct), out), 0);
			CHECK_MEM(out, ct.len - 16, pt.p, pt.len);
			/* Corrupted ciphertext, tag and aad all fail. */
			r.seq = 0;
			ct.p[0] ^= 0x20;
			CHECK_INT(dap_hpke_ctx_open(&r, tb_bytes_buf(&aad), tb_bytes_buf(&ct), out),
				  TB_ERR_VERIFY);
			ct.p[0] ^= 0x20;
			ct.p[ct.len - 1] ^= 0x01;
			CHECK_INT(dap_hpke_ctx_open(&r, tb_bytes_buf(&aad), tb_bytes_buf(&ct), out),
				  TB_ERR_VERIFY);
			ct.p[ct.len - 1] ^= 0x01;
			aad.p[0] ^= 0x01;
			CHECK_INT(dap_hpke_ctx_open(&r, tb_bytes_buf(&aad), tb_bytes_buf(&ct), out),
				  TB_ERR_VERIFY);
			aad.p[0] ^= 0x01;
			/* Fresh sender to the same key, random ephemeral: round trip. */
			uint8_t e2[DAP_HPKE_MAX_ENC_LEN];
			size_t e2len = 0;
			struct dap_hpke_ctx r2;
			CHECK_INT(dap_hpke_setup_sender(su, tb_bytes_buf(&pkRm), tb_bytes_buf(&info),
							NULL, e2, &e2len, &s, NULL), 0);
			CHECK_INT(dap_hpke_ctx_seal(&s, tb_bytes_buf(&aad), tb_bytes_buf(&pt), out), 0);
			CHECK_INT(dap_hpke_setup_receiver(su, &kp, TB_BUF(e2, e2len), tb_bytes_buf(&info),
							  &r2, NULL), 0);
			CHECK_INT(dap_hpke_ctx_open(&r2, tb_bytes_buf(&aad), TB_BUF(out, pt.len + 16),
						    out), 0);
			CHECK_MEM(out, pt.len, pt.p, pt.len);
			free(out);
			tb_bytes_free(&aad);
			tb_bytes_free(&ct);
			tb_bytes_free(&pt);
			tb_bytes_free(&en);
			encs++;
		}
		CHECK(encs >= 1);
		/* A corrupted enc decapsulates to other keys (or is rejected). */
		enc.p[enc.len - 1] ^= 0x01;
		int rc = dap_hpke_setup_receiver(su, &kp, tb_bytes_buf(&enc), tb_bytes_buf(&info), &r,
						 NULL);
		CHECK(rc == TB_ERR_INVALID || (rc == 0 && memcmp(r.base_nonce, nonce.p, 12) != 0));
		cases += encs;
		tb_bytes_free(&info);
		tb_bytes_free(&enc);
		tb_bytes_free(&pkRm);
		tb_bytes_free(&skRm);
		tb_bytes_free(&nonce);
	}
	cJSON_Delete(root);
	free(text);
	return cases;
}

/* ---- key pairs, DeriveKeyPair on P-256 ------------------------------------ */

static void test_keys(void)
{
	struct dap_hpke_keypair a, b;
	static const uint8_t ikm[32] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	for (int k = 0; k < 2; k++) {
		uint16_t kem = k ? DAP_HPKE_KEM_P256_SHA256 : DAP_HPKE_KEM_X25519_SHA256;
		CHECK_INT(dap_hpke_derive_keypair(kem, TB_BUF(ikm, sizeof(ikm)), &a), 0);
		CHECK_INT(dap_hpke_derive_keypair(kem, TB_BUF(ikm, sizeof(ikm)), &b), 0);
		CHECK_MEM(a.pk, a.pk_len, b.pk, b.pk_len);
		CHECK_INT(a.pk_len, dap_hpke_kem_pk_len(kem));
		CHECK_INT(dap_hpke_keypair_from_sk(kem, TB_BUF(a.sk, a.sk_len), &b), 0);
		CHECK_MEM(a.pk, a.pk_len, b.pk, b.pk_len);
		CHECK_INT(dap_hpke_keygen(kem, &b), 0);
		CHECK(memcmp(a.pk, b.pk, a.pk_len) != 0);
	}
	uint8_t zero[32] = { 0 };
	CHECK_INT(dap_hpke_keypair_from_sk(DAP_HPKE_KEM_P256_SHA256, TB_BUF(zero, 32), &a),
		  TB_ERR_INVALID);
	CHECK_INT(dap_hpke_keygen(0x0011, &a), TB_ERR_UNSUPPORTED);
	struct dap_hpke_suite bad = { 0x20, 1, 0xffff };
	CHECK_INT(dap_hpke_suite_supported(bad), TB_ERR_UNSUPPORTED);
}

/* ---- DAP-09 encodings ------------------------------------------------------ */

static void test_encodings(void)
{
	uint8_t pk[32];
	for (int i = 0; i < 32; i++)
		pk[i] = (uint8_t)(0xa0 + i);
	struct dap_hpke_config c = { 7, 0x20, 1, 1, TB_BUF(pk, 32) }, d;
	struct tb_bytes out = { 0 };
	CHECK_INT(dap_hpke_config_encode(&c, &out), 0);
	CHECK_INT(out.len, 1 + 2 + 2 + 2 + 2 + 32);
	static const uint8_t head[] = { 7, 0, 0x20, 0, 1, 0, 1, 0, 32, 0xa0 };
	CHECK_MEM(out.p, sizeof(head), head, sizeof(head));
	CHECK_INT(dap_hpke_config_decode(tb_bytes_buf(&out), &d), 0);
	CHECK_INT(d.id, 7);
	CHECK_INT(d.kem_id, 0x20);
	CHECK_INT(d.kdf_id, 1);
	CHECK_INT(d.aead_id, 1);
	CHECK_MEM(d.public_key.p, d.public_key.len, pk, 32);
	CHECK_INT(dap_hpke_config_check(&d), 0);
	/* Every truncation fails; an extra byte is trailing. */
	for (size_t n = 0; n < out.len; n++)
		CHECK(dap_hpke_config_decode(TB_BUF(out.p, n), &d) < 0);
	tb_bytes_u8(&out, 0);
	CHECK_INT(dap_hpke_config_decode(tb_bytes_buf(&out), &d), TB_ERR_TRAILING);
	/* Empty public key is not an HpkePublicKey<1..2^16-1>. */
	static const uint8_t empty_pk[] = { 1, 0, 0x20, 0, 1, 0, 1, 0, 0 };
	CHECK_INT(dap_hpke_config_decode(TB_BUF(empty_pk, sizeof(empty_pk)), &d), TB_ERR_INVALID);
	struct dap_hpke_config e0 = { 1, 0x20, 1, 1, TB_BUF(NULL, 0) };
	out.len = 0;
	CHECK_INT(dap_hpke_config_encode(&e0, &out), TB_ERR_INVALID);

	/* Unknown KEM decodes (a client skips it) but does not check. */
	struct dap_hpke_config u = { 9, 0x0021, 1, 1, TB_BUF(pk, 32) };
	CHECK_INT(dap_hpke_config_check(&u), TB_ERR_UNSUPPORTED);
	u.kem_id = 0x20;
	u.public_key.len = 31;
	CHECK_INT(dap_hpke_config_check(&u), TB_ERR_INVALID);
	uint8_t p256[65];
	memset(p256, 1, sizeof(p256));
	p256[0] = 4;
	struct dap_hpke_config pc = { 3, 0x10, 1, 1, TB_BUF(p256, 65) };
	CHECK_INT(dap_hpke_config_check(&pc), TB_ERR_INVALID); /* not on the curve */

	/* HpkeConfigList. */
	struct dap_hpke_config two[2] = { c, u }, got[4];
	size_t n = 0;
	out.len = 0;
	CHECK_INT(dap_hpke_config_list_encode(two, 2, &out), 0);
	CHECK_INT(out.len, 2 + 41 + 40);
	CHECK_INT(out.p[0] * 256 + out.p[1], 81);
	CHECK_INT(dap_hpke_config_list_decode(tb_bytes_buf(&out), got, 4, &n), 0);
	CHECK_INT(n, 2);
	CHECK_INT(got[1].id, 9);
	CHECK_INT(got[1].public_key.len, 31);
	CHECK_INT(dap_hpke_config_list_decode(tb_bytes_buf(&out), got, 1, &n), TB_ERR_TOO_LARGE);
	for (size_t i = 0; i < out.len; i++)
		CHECK(dap_hpke_config_list_decode(TB_BUF(out.p, i), got, 4, &n) < 0);
	tb_bytes_u8(&out, 0);
	CHECK_INT(dap_hpke_config_list_decode(tb_bytes_buf(&out), got, 4, &n), TB_ERR_TRAILING);
	/* Inner length says one byte more than the configs: the list is truncated inside. */
	out.len--;
	out.p[1]++;
	tb_bytes_u8(&out, 0);
	CHECK(dap_hpke_config_list_decode(tb_bytes_buf(&out), got, 4, &n) < 0);
	static const uint8_t empty_list[] = { 0, 0 };
	CHECK_INT(dap_hpke_config_list_decode(TB_BUF(empty_list, 2), got, 4, &n), TB_ERR_INVALID);
	CHECK_INT(dap_hpke_config_list_encode(two, 0, &out), TB_ERR_INVALID);

	/* HpkeCiphertext. */
	uint8_t payload[40];
	memset(payload, 0x5a, sizeof(payload));
	struct dap_hpke_ciphertext ct = { 7, TB_BUF(pk, 32), TB_BUF(payload, 40) }, ct2;
	out.len = 0;
	CHECK_INT(dap_hpke_ciphertext_encode(&ct, &out), 0);
	CHECK_INT(out.len, 1 + 2 + 32 + 4 + 40);
	CHECK_INT(dap_hpke_ciphertext_decode(tb_bytes_buf(&out), &ct2), 0);
	CHECK_INT(ct2.config_id, 7);
	CHECK_MEM(ct2.enc.p, ct2.enc.len, pk, 32);
	CHECK_MEM(ct2.payload.p, ct2.payload.len, payload, 40);
	for (size_t i = 0; i < out.len; i++)
		CHECK(dap_hpke_ciphertext_decode(TB_BUF(out.p, i), &ct2) < 0);
	tb_bytes_u8(&out, 1);
	CHECK_INT(dap_hpke_ciphertext_decode(tb_bytes_buf(&out), &ct2), TB_ERR_TRAILING);
	static const uint8_t empty_enc[] = { 1, 0, 0, 0, 0, 0, 1, 0xff };
	static const uint8_t empty_payload[] = { 1, 0, 1, 0xff, 0, 0, 0, 0 };
	CHECK_INT(dap_hpke_ciphertext_decode(TB_BUF(empty_enc, 8), &ct2), TB_ERR_INVALID);
	CHECK_INT(dap_hpke_ciphertext_decode(TB_BUF(empty_payload, 8), &ct2), TB_ERR_INVALID);
	/* A payload length beyond the buffer is truncation, not an over-read. */
	static const uint8_t huge[] = { 1, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 1 };
	CHECK_INT(dap_hpke_ciphertext_decode(TB_BUF(huge, sizeof(huge)), &ct2), TB_ERR_TRUNCATED);
	tb_bytes_free(&out);

	/* DAP-09 info strings. */
	uint8_t ib[DAP_HPKE_INFO_BUF];
	struct tb_buf info = dap_hpke_info_input_share(DAP_ROLE_HELPER, ib);
	CHECK_MEM(info.p, info.len, "dap-09 input share\x01\x03", 20);
	info = dap_hpke_info_aggregate_share(DAP_ROLE_LEADER, ib);
	CHECK_MEM(info.p, info.len, "dap-09 aggregate share\x02\x00", 24);

	/* DAP-09 aad strings: field order and length prefixes as the draft writes them. */
	uint8_t task[32], rid[16], ps[3] = { 0xa, 0xb, 0xc };
	for (int i = 0; i < 32; i++)
		task[i] = (uint8_t)i;
	for (int i = 0; i < 16; i++)
		rid[i] = (uint8_t)(0x80 + i);
	struct tb_bytes aad = { 0 };
	CHECK_INT(dap_hpke_aad_input_share(task, rid, 0x0102030405060708ull, TB_BUF(ps, 3), &aad), 0);
	CHECK_INT(aad.len, 32 + 16 + 8 + 4 + 3);
	CHECK_MEM(aad.p, 32, task, 32);
	CHECK_MEM(aad.p + 32, 16, rid, 16);
	static const uint8_t tail[] = { 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 3, 0xa, 0xb, 0xc };
	CHECK_MEM(aad.p + 48, aad.len - 48, tail, sizeof(tail));
	aad.len = 0;
	CHECK_INT(dap_hpke_aad_input_share(task, rid, 0, TB_BUF(NULL, 0), &aad), 0);
	CHECK_INT(aad.len, 32 + 16 + 8 + 4);
	aad.len = 0;
	static const uint8_t sel[17] = { 1, 0, 0, 0, 0, 0x65, 0x53, 0xf1, 0x00, 0, 0, 0, 0, 0, 0, 0x0e, 0x10 };
	CHECK_INT(dap_hpke_aad_aggregate_share(task, TB_BUF(ps, 2), TB_BUF(sel, 17), &aad), 0);
	CHECK_INT(aad.len, 32 + 4 + 2 + 17);
	static const uint8_t mid[] = { 0, 0, 0, 2, 0xa, 0xb };
	CHECK_MEM(aad.p + 32, 6, mid, 6);
	CHECK_MEM(aad.p + 38, 17, sel, 17);
	tb_bytes_free(&aad);
}

/* ---- single shot on an HpkeConfig ------------------------------------------ */

static void test_single_shot(void)
{
	for (int k = 0; k < 2; k++) {
		struct dap_hpke_keypair kp;
		uint16_t kem = k ? DAP_HPKE_KEM_P256_SHA256 : DAP_HPKE_KEM_X25519_SHA256;
		CHECK_INT(dap_hpke_keygen(kem, &kp), 0);
		struct dap_hpke_config cfg = { 42, kem, DAP_HPKE_KDF_SHA256, DAP_HPKE_AEAD_AES128GCM,
					       TB_BUF(kp.pk, kp.pk_len) };
		CHECK_INT(dap_hpke_config_check(&cfg), 0);
		uint8_t ib[DAP_HPKE_INFO_BUF];
		struct tb_buf info = dap_hpke_info_input_share(DAP_ROLE_LEADER, ib);
		struct tb_buf aad = TB_BUF_STR("task id || metadata || public share");
		struct tb_buf pt = TB_BUF_STR("plaintext input share");
		struct tb_bytes enc = { 0 }, payload = { 0 }, wire = { 0 }, got = { 0 };
		struct dap_hpke_ciphertext ct, ct2;
		CHECK_INT(dap_hpke_seal(&cfg, info, aad, pt, &enc, &payload, &ct), 0);
		CHECK_INT(ct.config_id, 42);
		CHECK_INT(ct.enc.len, kp.pk_len);
		CHECK_INT(ct.payload.len, pt.len + 16);
		CHECK_INT(dap_hpke_ciphertext_encode(&ct, &wire), 0);
		CHECK_INT(dap_hpke_ciphertext_decode(tb_bytes_buf(&wire), &ct2), 0);
		CHECK_INT(dap_hpke_open(&cfg, &kp, &ct2, info, aad, &got), 0);
		CHECK_MEM(got.p, got.len, pt.p, pt.len);
		/* Wrong role in info, wrong aad, wrong config id, corrupted payload. */
		got.len = 0;
		struct tb_buf info_h = dap_hpke_info_input_share(DAP_ROLE_HELPER, ib);
		CHECK_INT(dap_hpke_open(&cfg, &kp, &ct2, info_h, aad, &got), TB_ERR_VERIFY);
		info = dap_hpke_info_input_share(DAP_ROLE_LEADER, ib);
		CHECK_INT(dap_hpke_open(&cfg, &kp, &ct2, info, TB_BUF_STR("other"), &got),
			  TB_ERR_VERIFY);
		ct2.config_id = 43;
		CHECK_INT(dap_hpke_open(&cfg, &kp, &ct2, info, aad, &got), TB_ERR_NOT_FOUND);
		ct2.config_id = 42;
		ct2.payload.p[3] ^= 0x40;
		CHECK_INT(dap_hpke_open(&cfg, &kp, &ct2, info, aad, &got), TB_ERR_VERIFY);
		ct2.payload.p[3] ^= 0x40;
		ct2.enc.p[ct2.enc.len - 1] ^= 0x01;
		CHECK_INT(dap_hpke_open(&cfg, &kp, &ct2, info, aad, &got), TB_ERR_VERIFY);
		ct2.enc.p[ct2.enc.len - 1] ^= 0x01;
		ct2.payload.len = 15;
		CHECK_INT(dap_hpke_open(&cfg, &kp, &ct2, info, aad, &got), TB_ERR_VERIFY);
		CHECK_INT(got.len, 0);
		/* A config whose key is not a usable point cannot be sealed to. */
		uint8_t badpk[DAP_HPKE_MAX_PK_LEN] = { 0 };
		if (kem == DAP_HPKE_KEM_P256_SHA256)
			badpk[0] = 0x04; /* (0, 0) is not on the curve */
		struct dap_hpke_config badcfg = cfg;
		badcfg.public_key = TB_BUF(badpk, kp.pk_len);
		enc.len = payload.len = 0;
		CHECK_INT(dap_hpke_seal(&badcfg, info, aad, pt, &enc, &payload, &ct), TB_ERR_INVALID);
		CHECK_INT(enc.len + payload.len, 0);
		tb_bytes_free(&enc);
		tb_bytes_free(&payload);
		tb_bytes_free(&wire);
		tb_bytes_free(&got);
	}
}

int main(void)
{
	int suites[18] = { 0 };
	int a11 = test_rfc_a11();
	int json = test_json(suites);
	printf("hpke vectors: %d cases from RFC 9180 A.1.1, %d encryptions from test-vectors.json\n",
	       a11, json);
	CHECK(a11 > 0);
	CHECK(json > 0);
	/* Every suite built here (2 KEMs x HKDF-SHA256/SHA512 x 3 AEADs in the
	 * file) was exercised at least once. */
	for (int kem = 0; kem < 2; kem++)
		for (int kdf = 0; kdf < 3; kdf += 2)
			for (int aead = 0; aead < 3; aead++)
				CHECK(suites[kem * 9 + kdf * 3 + aead] > 0);
	test_keys();
	test_encodings();
	test_single_shot();
	return tb_test_result("dap_hpke");
}

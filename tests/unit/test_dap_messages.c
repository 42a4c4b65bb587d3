/*
 * DAP-09 message codecs (dap/messages.c):
 *  - known-answer encodings written by @divviup/dap 0.9.1's own encoders
 *    (tests/vectors/dap-09/divviup_ts_messages.txt, made by
 *    tests/integration/dap/messages_kat.mjs) decode to the fields the script
 *    set and re-encode to the same bytes;
 *  - known-answer encodings of the aggregator messages, written out field by
 *    field from the draft's structs, decode and re-encode the same;
 *  - every message built by our encoders decodes back (round trip);
 *  - every truncation of every message is refused, and so is a trailing
 *    byte, each fed from an exact-size heap copy (a sanitizer build sees any
 *    over-read);
 *  - undefined enum values, a repeated extension, a vector longer than its
 *    message are refused; the problem type URNs are the draft's.
 */
#include "tb_test.h"

#include "core/error.h"
#include "dap/messages.h"

static struct tb_bytes unhex(const char *s)
{
	struct tb_bytes b = { 0 };
	if (tb_hex_decode(&b, s, strlen(s)) != 0) {
		fprintf(stderr, "bad hex in test: %s\n", s);
		exit(2);
	}
	return b;
}

/* ---- decoders that re-encode: 0 when the bytes decode and re-encode the
 * same, -999 when they decode but re-encode differently, else the error. */

#define REENCODE_OR(enc_call, in)                                            \
	do {                                                                 \
		struct tb_bytes o_ = { 0 };                                  \
		int e_ = (enc_call);                                         \
		int same_ = e_ == 0 && o_.len == (in).len &&                 \
			    (o_.len == 0 || memcmp(o_.p, (in).p, o_.len) == 0); \
		tb_bytes_free(&o_);                                          \
		return same_ ? 0 : -999;                                     \
	} while (0)

static int rt_report(struct tb_buf in)
{
	struct dap_report v;
	int rc = dap_report_decode(in, &v);
	if (rc)
		return rc;
	REENCODE_OR(dap_report_encode(&v, &o_), in);
}

static int rt_metadata(struct tb_buf in)
{
	struct dap_report_metadata v;
	int rc = dap_report_metadata_decode(in, &v);
	if (rc)
		return rc;
	REENCODE_OR(dap_report_metadata_encode(&v, &o_), in);
}

static int rt_ciphertext(struct tb_buf in)
{
	struct dap_hpke_ciphertext v;
	int rc = dap_hpke_ciphertext_decode(in, &v);
	if (rc)
		return rc;
	REENCODE_OR(dap_hpke_ciphertext_encode(&v, &o_), in);
}

static int rt_pis(struct tb_buf in)
{
	struct dap_plaintext_input_share v;
	struct dap_extension ex[64];
	size_t n = 0;
	int rc = dap_plaintext_input_share_decode(in, &v);
	if (rc)
		return rc;
	struct tb_reader it = TB_READER(v.extensions.p, v.extensions.len);
	while (n < 64 && dap_extension_next(&it, &ex[n]) == 0)
		n++;
	if (n != v.n_extensions)
		return -998;
	REENCODE_OR(dap_plaintext_input_share_encode(ex, n, v.payload, &o_), in);
}

static int rt_isaad(struct tb_buf in)
{
	uint8_t tid[32];
	struct dap_report_metadata md;
	struct tb_buf ps;
	int rc = dap_input_share_aad_decode(in, tid, &md, &ps);
	if (rc)
		return rc;
	REENCODE_OR(dap_hpke_aad_input_share(tid, md.id, md.time, ps, &o_), in);
}

static int rt_pbs(struct tb_buf in)
{
	struct dap_part_batch_selector v;
	int rc = dap_part_batch_selector_decode(in, &v);
	if (rc)
		return rc;
	REENCODE_OR(dap_part_batch_selector_encode(&v, &o_), in);
}

static int rt_bs(struct tb_buf in)
{
	struct dap_batch_selector v;
	int rc = dap_batch_selector_decode(in, &v);
	if (rc)
		return rc;
	REENCODE_OR(dap_batch_selector_encode(&v, &o_), in);
}

static int rt_query(struct tb_buf in)
{
	struct dap_query v;
	int rc = dap_query_decode(in, &v);
	if (rc)
		return rc;
	REENCODE_OR(dap_query_encode(&v, &o_), in);
}

static int rt_report_share(struct tb_buf in)
{
	struct dap_report_share v;
	int rc = dap_report_share_decode(in, &v);
	if (rc)
		return rc;
	REENCODE_OR(dap_report_share_encode(&v, &o_), in);
}

static int rt_prep_init(struct tb_buf in)
{
	struct dap_prepare_init v;
	int rc = dap_prepare_init_decode(in, &v);
	if (rc)
		return rc;
	REENCODE_OR(dap_prepare_init_encode(&v, &o_), in);
}

static int rt_prep_resp(struct tb_buf in)
{
	struct dap_prepare_resp v;
	int rc = dap_prepare_resp_decode(in, &v);
	if (rc)
		return rc;
	REENCODE_OR(dap_prepare_resp_encode(&v, &o_), in);
}

static int enc_init_req(const struct dap_agg_job_init_req *v, struct tb_bytes *o)
{
	size_t mark;
	struct tb_reader it = TB_READER(v->prepare_inits.p, v->prepare_inits.len);
	struct dap_prepare_init pi;
	int rc = dap_agg_job_init_req_begin(v->agg_param, &v->part_batch_selector, o, &mark);
	while (!rc && (rc = dap_prepare_init_next(&it, &pi)) == 0)
		rc = dap_prepare_init_encode(&pi, o);
	return rc == 1 ? dap_msg_list_end(o, mark) : rc;
}

static int rt_init_req(struct tb_buf in)
{
	struct dap_agg_job_init_req v;
	int rc = dap_agg_job_init_req_decode(in, &v);
	if (rc)
		return rc;
	REENCODE_OR(enc_init_req(&v, &o_), in);
}

static int enc_resp(const struct dap_agg_job_resp *v, struct tb_bytes *o)
{
	size_t mark;
	struct tb_reader it = TB_READER(v->prepare_resps.p, v->prepare_resps.len);
	struct dap_prepare_resp pr;
	int rc = dap_agg_job_resp_begin(o, &mark);
	while (!rc && (rc = dap_prepare_resp_next(&it, &pr)) == 0)
		rc = dap_prepare_resp_encode(&pr, o);
	return rc == 1 ? dap_msg_list_end(o, mark) : rc;
}

static int rt_resp(struct tb_buf in)
{
	struct dap_agg_job_resp v;
	int rc = dap_agg_job_resp_decode(in, &v);
	if (rc)
		return rc;
	REENCODE_OR(enc_resp(&v, &o_), in);
}

static int enc_cont(const struct dap_agg_job_continue_req *v, struct tb_bytes *o)
{
	size_t mark;
	struct tb_reader it = TB_READER(v->prepare_continues.p, v->prepare_continues.len);
	struct dap_prepare_continue pc;
	int rc = dap_agg_job_continue_req_begin(v->step, o, &mark);
	while (!rc && (rc = dap_prepare_continue_next(&it, &pc)) == 0)
		rc = dap_prepare_continue_encode(&pc, o);
	return rc == 1 ? dap_msg_list_end(o, mark) : rc;
}

static int rt_cont(struct tb_buf in)
{
	struct dap_agg_job_continue_req v;
	int rc = dap_agg_job_continue_req_decode(in, &v);
	if (rc)
		return rc;
	REENCODE_OR(enc_cont(&v, &o_), in);
}

static int rt_coll_req(struct tb_buf in)
{
	struct dap_collection_req v;
	int rc = dap_collection_req_decode(in, &v);
	if (rc)
		return rc;
	REENCODE_OR(dap_collection_req_encode(&v, &o_), in);
}

static int rt_collection(struct tb_buf in)
{
	struct dap_collection v;
	int rc = dap_collection_decode(in, &v);
	if (rc)
		return rc;
	REENCODE_OR(dap_collection_encode(&v, &o_), in);
}

static int rt_asr(struct tb_buf in)
{
	struct dap_agg_share_req v;
	int rc = dap_agg_share_req_decode(in, &v);
	if (rc)
		return rc;
	REENCODE_OR(dap_agg_share_req_encode(&v, &o_), in);
}

static int rt_as(struct tb_buf in)
{
	struct dap_agg_share v;
	int rc = dap_agg_share_decode(in, &v);
	if (rc)
		return rc;
	REENCODE_OR(dap_agg_share_encode(&v, &o_), in);
}

static int rt_asaad(struct tb_buf in)
{
	uint8_t tid[32];
	struct tb_buf ap;
	struct dap_batch_selector bs;
	struct tb_bytes sel = { 0 };
	int rc = dap_agg_share_aad_decode(in, tid, &ap, &bs);
	if (rc)
		return rc;
	if (dap_batch_selector_encode(&bs, &sel) != 0) {
		tb_bytes_free(&sel);
		return -997;
	}
	struct tb_buf selb = tb_bytes_buf(&sel);
	struct tb_bytes o_ = { 0 };
	int e = dap_hpke_aad_aggregate_share(tid, ap, selb, &o_);
	int same = e == 0 && o_.len == in.len && memcmp(o_.p, in.p, in.len) == 0;
	tb_bytes_free(&o_);
	tb_bytes_free(&sel);
	return same ? 0 : -999;
}

typedef int (*rt_fn)(struct tb_buf);

/* The whole message decodes and re-encodes; every shorter prefix and the
 * message plus one byte are refused. */
static void check_all_lengths(const char *name, rt_fn f, const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n + 1);
	memcpy(c, p, n);
	int rc = f(TB_BUF(c, n));
	if (rc != 0)
		fprintf(stderr, "%s: decode/re-encode gave %d\n", name, rc);
	CHECK_INT(rc, 0);
	free(c);
	int refused = 0;
	for (size_t k = 0; k < n; k++) {
		uint8_t *t = malloc(k ? k : 1);
		memcpy(t, p, k);
		rc = f(TB_BUF(t, k));
		free(t);
		if (rc == 0 || rc == -999) {
			fprintf(stderr, "%s: prefix of %zu of %zu bytes accepted\n", name, k, n);
			CHECK(0);
		} else {
			refused++;
		}
	}
	CHECK_INT(refused, n);
	uint8_t *t = malloc(n + 1);
	memcpy(t, p, n);
	t[n] = 0;
	rc = f(TB_BUF(t, n + 1));
	free(t);
	if (rc != TB_ERR_TRAILING)
		fprintf(stderr, "%s: trailing byte gave %d\n", name, rc);
	CHECK_INT(rc, TB_ERR_TRAILING);
}

static void check_hex(const char *name, rt_fn f, const char *hex)
{
	struct tb_bytes b = unhex(hex);
	check_all_lengths(name, f, b.p, b.len);
	tb_bytes_free(&b);
}

static void refuse_hex(const char *name, rt_fn f, const char *hex, int want)
{
	struct tb_bytes b = unhex(hex);
	uint8_t *c = malloc(b.len ? b.len : 1);
	memcpy(c, b.p, b.len);
	int rc = f(TB_BUF(c, b.len));
	free(c);
	if (rc != want)
		fprintf(stderr, "%s: expected %d, got %d\n", name, want, rc);
	CHECK_INT(rc, want);
	tb_bytes_free(&b);
}

/* ---- the @divviup/dap known answers --------------------------------------- */

static const uint8_t *seq(uint8_t *buf, size_t n, uint8_t start)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(start + i);
	return buf;
}

static void divviup_ts(void)
{
	char path[512], line[8192];
	snprintf(path, sizeof(path), "%s/dap-09/divviup_ts_messages.txt", TB_TEST_VECTORS);
	FILE *f = fopen(path, "r");
	CHECK(f != NULL);
	if (!f)
		return;
	int seen = 0;
	uint8_t s1[32], s2[32], s3[32];
	while (fgets(line, sizeof(line), f)) {
		char *sp = strchr(line, ' ');
		if (!sp)
			continue;
		*sp = 0;
		char *hex = sp + 1;
		hex[strcspn(hex, "\r\n")] = 0;
		struct tb_bytes b = unhex(hex);
		struct tb_buf in = tb_bytes_buf(&b);
		const char *name = line;
		seen++;
		if (!strcmp(name, "report_metadata")) {
			struct dap_report_metadata md;
			CHECK_INT(dap_report_metadata_decode(in, &md), 0);
			CHECK_MEM(md.id, 16, seq(s1, 16, 1), 16);
			CHECK_INT(md.time, 1700000000);
			check_all_lengths(name, rt_metadata, b.p, b.len);
		} else if (!strcmp(name, "hpke_ciphertext")) {
			check_all_lengths(name, rt_ciphertext, b.p, b.len);
		} else if (!strncmp(name, "plaintext_input_share", 21)) {
			struct dap_plaintext_input_share v;
			CHECK_INT(dap_plaintext_input_share_decode(in, &v), 0);
			CHECK_INT(v.n_extensions, 0);
			if (!strcmp(name, "plaintext_input_share"))
				CHECK_MEM(v.payload.p, v.payload.len, seq(s1, 9, 0x20), 9);
			else
				CHECK_INT(v.payload.len, 0);
			check_all_lengths(name, rt_pis, b.p, b.len);
		} else if (!strncmp(name, "input_share_aad", 15)) {
			uint8_t tid[32];
			struct dap_report_metadata md;
			struct tb_buf ps;
			CHECK_INT(dap_input_share_aad_decode(in, tid, &md, &ps), 0);
			CHECK_MEM(tid, 32, seq(s1, 32, 0xa0), 32);
			CHECK_INT(md.time, 1700000000);
			CHECK_INT(ps.len, strstr(name, "empty") ? 0 : 7);
			check_all_lengths(name, rt_isaad, b.p, b.len);
		} else if (!strncmp(name, "report", 6) && strcmp(name, "report_count3") != 0) {
			struct dap_report r;
			CHECK_INT(dap_report_decode(in, &r), 0);
			CHECK_MEM(r.md.id, 16, seq(s1, 16, 1), 16);
			CHECK_INT(r.md.time, 1700000000);
			if (strstr(name, "empty"))
				CHECK_INT(r.public_share.len, 0);
			else
				CHECK_MEM(r.public_share.p, r.public_share.len, seq(s1, 7, 0x40), 7);
			CHECK_INT(r.leader_share.config_id, 7);
			CHECK_MEM(r.leader_share.enc.p, r.leader_share.enc.len, seq(s2, 32, 0x60), 32);
			CHECK_MEM(r.leader_share.payload.p, r.leader_share.payload.len, seq(s1, 5, 0x90), 5);
			CHECK_INT(r.helper_share.config_id, 200);
			CHECK_MEM(r.helper_share.enc.p, r.helper_share.enc.len, seq(s3, 32, 0x70), 32);
			CHECK_MEM(r.helper_share.payload.p, r.helper_share.payload.len, seq(s1, 3, 0xb0), 3);
			check_all_lengths(name, rt_report, b.p, b.len);
		} else if (!strcmp(name, "report_count3")) {
			/* A real Prio3Count report: empty public share (no joint
			 * randomness), one X25519 enc each, the input share sealed
			 * inside a PlaintextInputShare (+ 16-byte tag). */
			struct dap_report r;
			CHECK_INT(dap_report_decode(in, &r), 0);
			CHECK_INT(r.md.time, 1700000000 + 1234 - (1700001234 % 3600));
			CHECK_INT(r.public_share.len, 0);
			CHECK_INT(r.leader_share.config_id, 7);
			CHECK_INT(r.helper_share.config_id, 200);
			CHECK_INT(r.leader_share.enc.len, 32);
			CHECK_INT(r.helper_share.enc.len, 32);
			check_all_lengths(name, rt_report, b.p, b.len);
		} else if (!strcmp(name, "hpke_config_list_leader")) {
			struct dap_hpke_config cs[4];
			size_t n = 0;
			CHECK_INT(dap_hpke_config_list_decode(in, cs, 4, &n), 0);
			CHECK_INT(n, 1);
			CHECK_INT(cs[0].id, 7);
		} else {
			fprintf(stderr, "unknown known answer %s\n", name);
			CHECK(0);
		}
		tb_bytes_free(&b);
	}
	fclose(f);
	CHECK_INT(seen, 10);
}

/* ---- the aggregator messages, written field by field ---------------------- */

#define RID "0102030405060708090a0b0c0d0e0f10"
#define RID2 "100f0e0d0c0b0a090807060504030201"
#define TIME "000000006553f100"
#define BID "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
#define TID "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
#define CSUM "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
/* HpkeCiphertext { id 7; enc<2> 3 bytes; payload<4> 4 bytes } */
#define CT "07" "0003" "e1e2e3" "00000004" "f1f2f3f4"
#define CT2 "c8" "0001" "99" "00000001" "88"
/* Interval { start 1700000000; duration 3600 } */
#define IVL "000000006553f100" "0000000000000e10"

static const struct {
	const char *name;
	rt_fn f;
	const char *hex;
} answers[] = {
	{ "pbs_time_interval", rt_pbs, "01" },
	{ "pbs_fixed_size", rt_pbs, "02" BID },
	{ "bs_time_interval", rt_bs, "01" IVL },
	{ "bs_fixed_size", rt_bs, "02" BID },
	{ "query_time_interval", rt_query, "01" IVL },
	{ "query_fixed_by_batch_id", rt_query, "02" "00" BID },
	{ "query_fixed_current_batch", rt_query, "02" "01" },
	{ "report_share", rt_report_share, RID TIME "00000002" "abcd" CT },
	{ "prepare_init", rt_prep_init, RID TIME "00000000" CT "00000003" "00aabb" },
	{ "prepare_resp_continue", rt_prep_resp, RID "00" "00000005" "0100000000" },
	{ "prepare_resp_finished", rt_prep_resp, RID2 "01" },
	{ "prepare_resp_reject", rt_prep_resp, "ffffffffffffffffffffffffffffffff" "02" "05" },
	{ "agg_job_init_req", rt_init_req,
	  "00000000" "01"
	  "0000005d"
	  RID TIME "00000002" "abcd" CT "00000003" "00aabb"
	  RID2 TIME "00000000" CT2 "00000001" "00" },
	{ "agg_job_init_req_fixed", rt_init_req,
	  "00000002" "0102" "02" BID "00000000" },
	{ "agg_job_resp", rt_resp,
	  "0000003b" RID "00" "00000003" "020000" RID2 "01" RID2 "02" "09" },
	{ "agg_job_continue_req", rt_cont,
	  "0001" "00000042" RID "00000005" "0200000000" RID2 "00000000" RID "00000001" "00" },
	{ "collection_req_time", rt_coll_req, "01" IVL "00000000" },
	{ "collection_req_current", rt_coll_req, "02" "01" "00000001" "aa" },
	{ "collection_req_batch_id", rt_coll_req, "02" "00" BID "00000000" },
	{ "collection_time", rt_collection, "01" "0000000000000017" IVL CT CT2 },
	{ "collection_fixed", rt_collection, "02" BID "0000000000000017" IVL CT CT2 },
	{ "agg_share_req_time", rt_asr, "01" IVL "00000000" "00000000000003e8" CSUM },
	{ "agg_share_req_fixed", rt_asr, "02" BID "00000002" "0102" "0000000000000001" CSUM },
	{ "agg_share", rt_as, CT },
	{ "agg_share_aad_time", rt_asaad, TID "00000000" "01" IVL },
	{ "agg_share_aad_fixed", rt_asaad, TID "00000001" "ff" "02" BID },
};

static void aggregator_answers(void)
{
	for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++)
		check_hex(answers[i].name, answers[i].f, answers[i].hex);

	/* Field values of a few, read back. */
	struct tb_bytes b = unhex("0000003b" RID "00" "00000003" "020000" RID2 "01" RID2 "02" "09");
	struct dap_agg_job_resp resp;
	CHECK_INT(dap_agg_job_resp_decode(tb_bytes_buf(&b), &resp), 0);
	CHECK_INT(resp.n_prepare_resps, 3);
	struct tb_reader it = TB_READER(resp.prepare_resps.p, resp.prepare_resps.len);
	struct dap_prepare_resp pr;
	CHECK_INT(dap_prepare_resp_next(&it, &pr), 0);
	CHECK_INT(pr.state, DAP_PREP_CONTINUE);
	CHECK_INT(pr.payload.len, 3);
	CHECK_INT(dap_prepare_resp_next(&it, &pr), 0);
	CHECK_INT(pr.state, DAP_PREP_FINISHED);
	CHECK_INT(dap_prepare_resp_next(&it, &pr), 0);
	CHECK_INT(pr.state, DAP_PREP_REJECT);
	CHECK_INT(pr.error, DAP_PREP_ERR_REPORT_TOO_EARLY);
	CHECK_INT(dap_prepare_resp_next(&it, &pr), 1);
	tb_bytes_free(&b);

	b = unhex("0001" "00000042" RID "00000005" "0200000000" RID2 "00000000" RID "00000001" "00");
	struct dap_agg_job_continue_req cr;
	CHECK_INT(dap_agg_job_continue_req_decode(tb_bytes_buf(&b), &cr), 0);
	CHECK_INT(cr.step, 1);
	CHECK_INT(cr.n_prepare_continues, 3);
	tb_bytes_free(&b);

	b = unhex("02" BID "00000002" "0102" "0000000000000001" CSUM);
	struct dap_agg_share_req asr;
	CHECK_INT(dap_agg_share_req_decode(tb_bytes_buf(&b), &asr), 0);
	CHECK_INT(asr.batch_selector.query_type, DAP_QUERY_FIXED_SIZE);
	CHECK_INT(asr.batch_selector.batch_id[0], 0xb0);
	CHECK_INT(asr.agg_param.len, 2);
	CHECK_INT(asr.report_count, 1);
	CHECK_INT(asr.checksum[31], 0xef);
	tb_bytes_free(&b);

	b = unhex("01" "0000000000000017" IVL CT CT2);
	struct dap_collection col;
	CHECK_INT(dap_collection_decode(tb_bytes_buf(&b), &col), 0);
	CHECK_INT(col.report_count, 23);
	CHECK_INT(col.interval.start, 1700000000);
	CHECK_INT(col.interval.duration, 3600);
	CHECK_INT(col.leader_share.config_id, 7);
	CHECK_INT(col.helper_share.config_id, 200);
	tb_bytes_free(&b);
}

/* ---- refusals ------------------------------------------------------------- */

static void refusals(void)
{
	refuse_hex("query type 0", rt_pbs, "00", TB_ERR_INVALID);
	refuse_hex("query type 3", rt_bs, "03" IVL, TB_ERR_INVALID);
	refuse_hex("fixed size query type 2", rt_query, "02" "02", TB_ERR_INVALID);
	refuse_hex("prepare resp state 3", rt_prep_resp, RID "03", TB_ERR_INVALID);
	refuse_hex("prepare error 10", rt_prep_resp, RID "02" "0a", TB_ERR_INVALID);
	refuse_hex("prepare error 255", rt_prep_resp, RID "02" "ff", TB_ERR_INVALID);
	/* An invalid entry deep in a list fails the whole message. */
	refuse_hex("init req with bad entry", rt_resp, "00000012" RID "02" "0a", TB_ERR_INVALID);
	/* A list length longer than the message. */
	refuse_hex("list longer than message", rt_resp, "00000012" RID "01", TB_ERR_TRUNCATED);
	/* A list whose length cuts an entry. */
	refuse_hex("list cuts an entry", rt_resp, "00000010" RID, TB_ERR_TRUNCATED);
	/* A ciphertext with an empty enc or payload. */
	refuse_hex("empty enc", rt_as, "07" "0000" "00000001" "aa", TB_ERR_INVALID);
	refuse_hex("empty payload", rt_as, "07" "0001" "aa" "00000000", TB_ERR_INVALID);
	/* A public share length of 2^32 - 1 in a short report. */
	refuse_hex("huge public share", rt_report, RID TIME "ffffffff" "00", TB_ERR_TRUNCATED);
	/* Extensions: two of the same type refused; two distinct accepted. */
	refuse_hex("repeated extension", rt_pis, "0008" "0005" "0000" "0005" "0000" "00000000",
		   TB_ERR_INVALID);
	check_hex("two extensions", rt_pis, "0009" "0005" "0000" "0006" "0001" "aa" "00000001" "bb");

	/* The encoders refuse what the draft does not define. */
	struct tb_bytes o = { 0 };
	struct dap_part_batch_selector pbs = { .query_type = 0 };
	CHECK_INT(dap_part_batch_selector_encode(&pbs, &o), TB_ERR_INVALID);
	struct dap_prepare_resp pr = { .state = DAP_PREP_REJECT, .error = 10 };
	CHECK_INT(dap_prepare_resp_encode(&pr, &o), TB_ERR_INVALID);
	struct dap_query q = { .query_type = DAP_QUERY_FIXED_SIZE, .fixed_size_type = 2 };
	CHECK_INT(dap_query_encode(&q, &o), TB_ERR_INVALID);
	tb_bytes_free(&o);
}

/* ---- round trips from our encoders ---------------------------------------- */

static void round_trips(void)
{
	uint8_t enc[32], pay[100], ps[40];
	seq(enc, sizeof(enc), 0x10);
	seq(pay, sizeof(pay), 0x30);
	seq(ps, sizeof(ps), 0x50);
	struct dap_hpke_ciphertext ct = { 9, TB_BUF(enc, 32), TB_BUF(pay, 100) };

	/* An init request with 20 PrepareInits, alternating time_interval and
	 * fixed_size selectors across runs; the iteration yields them in order. */
	for (int qt = DAP_QUERY_TIME_INTERVAL; qt <= DAP_QUERY_FIXED_SIZE; qt++) {
		struct tb_bytes o = { 0 };
		struct dap_part_batch_selector pbs = { .query_type = (uint8_t)qt };
		memset(pbs.batch_id, 0x42, 32);
		size_t mark;
		CHECK_INT(dap_agg_job_init_req_begin(TB_BUF(ps, 3), &pbs, &o, &mark), 0);
		for (int i = 0; i < 20; i++) {
			struct dap_prepare_init pi = { 0 };
			memset(pi.report_share.md.id, i, 16);
			pi.report_share.md.time = 1000u * (unsigned)i;
			pi.report_share.public_share = TB_BUF(ps, (size_t)i);
			pi.report_share.encrypted_input_share = ct;
			pi.payload = TB_BUF(pay, (size_t)i * 3);
			CHECK_INT(dap_prepare_init_encode(&pi, &o), 0);
		}
		CHECK_INT(dap_msg_list_end(&o, mark), 0);
		struct dap_agg_job_init_req req;
		CHECK_INT(dap_agg_job_init_req_decode(tb_bytes_buf(&o), &req), 0);
		CHECK_INT(req.n_prepare_inits, 20);
		CHECK_INT(req.part_batch_selector.query_type, qt);
		CHECK_INT(req.agg_param.len, 3);
		struct tb_reader it = TB_READER(req.prepare_inits.p, req.prepare_inits.len);
		struct dap_prepare_init pi;
		int i = 0;
		while (dap_prepare_init_next(&it, &pi) == 0) {
			CHECK_INT(pi.report_share.md.id[15], i);
			CHECK_INT(pi.report_share.md.time, 1000 * i);
			CHECK_INT(pi.report_share.public_share.len, i);
			CHECK_INT(pi.payload.len, 3 * i);
			CHECK_INT(pi.report_share.encrypted_input_share.payload.len, 100);
			i++;
		}
		CHECK_INT(i, 20);
		/* Every truncation of the whole request. */
		check_all_lengths("built init req", rt_init_req, o.p, o.len);
		tb_bytes_free(&o);
	}

	/* Report, Collection, AggregateShareReq built from structs. */
	struct dap_report r = { 0 };
	seq(r.md.id, 16, 0x77);
	r.md.time = UINT64_MAX;
	r.public_share = TB_BUF(ps, 40);
	r.leader_share = ct;
	r.helper_share = ct;
	r.helper_share.config_id = 255;
	struct tb_bytes o = { 0 };
	CHECK_INT(dap_report_encode(&r, &o), 0);
	struct dap_report r2;
	CHECK_INT(dap_report_decode(tb_bytes_buf(&o), &r2), 0);
	CHECK(r2.md.time == UINT64_MAX);
	CHECK_INT(r2.helper_share.config_id, 255);
	CHECK_MEM(r2.public_share.p, r2.public_share.len, ps, 40);
	check_all_lengths("built report", rt_report, o.p, o.len);
	tb_bytes_free(&o);

	struct dap_collection c = { .part_batch_selector = { .query_type = DAP_QUERY_FIXED_SIZE },
				    .report_count = 12345,
				    .interval = { 3600, 7200 },
				    .leader_share = ct,
				    .helper_share = ct };
	CHECK_INT(dap_collection_encode(&c, &o), 0);
	check_all_lengths("built collection", rt_collection, o.p, o.len);
	tb_bytes_free(&o);

	struct dap_agg_share_req a = { .batch_selector = { .query_type = DAP_QUERY_TIME_INTERVAL,
							   .interval = { 7, 8 } },
				       .agg_param = TB_BUF(ps, 0),
				       .report_count = 99 };
	memset(a.checksum, 0x5a, 32);
	CHECK_INT(dap_agg_share_req_encode(&a, &o), 0);
	struct dap_agg_share_req a2;
	CHECK_INT(dap_agg_share_req_decode(tb_bytes_buf(&o), &a2), 0);
	CHECK_INT(a2.batch_selector.interval.start, 7);
	CHECK_INT(a2.batch_selector.interval.duration, 8);
	CHECK_INT(a2.report_count, 99);
	CHECK_MEM(a2.checksum, 32, a.checksum, 32);
	tb_bytes_free(&o);

	/* A PlaintextInputShare with extensions round trips and iterates. */
	struct dap_extension ex[3] = { { 1, TB_BUF(ps, 0) }, { 0xff00, TB_BUF(ps, 5) },
				       { 7, TB_BUF(ps, 1) } };
	CHECK_INT(dap_plaintext_input_share_encode(ex, 3, TB_BUF(pay, 50), &o), 0);
	struct dap_plaintext_input_share pis;
	CHECK_INT(dap_plaintext_input_share_decode(tb_bytes_buf(&o), &pis), 0);
	CHECK_INT(pis.n_extensions, 3);
	CHECK_INT(pis.payload.len, 50);
	check_all_lengths("built plaintext input share", rt_pis, o.p, o.len);
	tb_bytes_free(&o);
}

static void problems(void)
{
	CHECK_STR(dap_problem_urn(DAP_PROBLEM_INVALID_MESSAGE),
		  "urn:ietf:params:ppm:dap:error:invalidMessage");
	CHECK_STR(dap_problem_urn(DAP_PROBLEM_MISSING_TASK_ID),
		  "urn:ietf:params:ppm:dap:error:missingTaskID");
	CHECK_STR(dap_problem_urn(DAP_PROBLEM_UNRECOGNIZED_AGGREGATION_JOB),
		  "urn:ietf:params:ppm:dap:error:unrecognizedAggregationJob");
	CHECK_STR(dap_problem_urn(DAP_PROBLEM_BATCH_QUERIED_TOO_MANY_TIMES),
		  "urn:ietf:params:ppm:dap:error:batchQueriedTooManyTimes");
	CHECK_STR(dap_problem_name(DAP_PROBLEM_REPORT_TOO_EARLY), "reportTooEarly");
	CHECK_STR(dap_problem_name(DAP_PROBLEM_OUTDATED_CONFIG), "outdatedConfig");
	CHECK_INT(dap_problem_status(DAP_PROBLEM_UNAUTHORIZED_REQUEST), 403);
	CHECK_INT(dap_problem_status(DAP_PROBLEM_UNRECOGNIZED_TASK), 404);
	CHECK_INT(dap_problem_status(DAP_PROBLEM_REPORT_REJECTED), 400);
	CHECK(dap_problem_urn(DAP_PROBLEM_COUNT) == NULL);
	for (int i = 0; i < DAP_PROBLEM_COUNT; i++) {
		const char *u = dap_problem_urn((enum dap_problem)i);
		CHECK(u != NULL && dap_problem_title((enum dap_problem)i) != NULL);
		CHECK_INT(dap_problem_from_urn(u, strlen(u)), i);
	}
	CHECK_INT(dap_problem_from_urn("urn:ietf:params:ppm:dap:error:nope", 34), -1);
	CHECK_STR(dap_prepare_error_name(DAP_PREP_ERR_BATCH_COLLECTED), "batch_collected");
	CHECK_STR(dap_prepare_error_name(DAP_PREP_ERR_VDAF_PREP_ERROR), "vdaf_prep_error");
	CHECK_STR(dap_prepare_error_name(DAP_PREP_ERR_REPORT_TOO_EARLY), "report_too_early");
	CHECK(dap_prepare_error_name(10) == NULL);
}

int main(void)
{
	divviup_ts();
	aggregator_answers();
	refusals();
	round_trips();
	problems();
	return tb_test_result("dap_messages");
}

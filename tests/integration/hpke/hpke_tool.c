/*
 * The C side of the HPKE interop test (test_hpke_interop.sh); every value
 * is hex on the command line or on stdout.
 *
 *   hpke_tool keygen <id> [kem aead] key pair (default X25519/HKDF-SHA256/AES-128-GCM):
 *                                    "config list sk": an HpkeConfigList whose
 *                                    first entry names an unsupported KEM
 *                                    (0x7777) and whose second is
 *                                    the usable config
 *   hpke_tool info-input <role>      DAP-09 info string for an input share
 *   hpke_tool info-agg <role>        DAP-09 info string for an aggregate share
 *   hpke_tool aad-agg <task-id> <agg-param> <start> <duration>
 *                                    AggregateShareAad for a time-interval batch
 *   hpke_tool seal <config> <info> <aad> <pt>        HpkeCiphertext
 *   hpke_tool open <config> <sk> <info> <aad> <ct>   plaintext, or exit 1
 *   hpke_tool open-report <task-id> <leader-config> <leader-sk> <helper-config>
 *             <helper-sk> <report>
 *        decodes a DAP-09 Report, opens both input shares with the info and
 *        InputShareAad of the draft, decodes the PlaintextInputShares and
 *        prepares the Prio3Sum (bits 8) shares through the ping-pong calls;
 *        prints the measurement the two out shares add up to
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "dap/hpke.h"
#include "dap/vdaf.h"

static struct tb_bytes unhex(const char *s)
{
	struct tb_bytes b = { 0 };
	if (tb_hex_decode(&b, s, strlen(s)) != 0) {
		fprintf(stderr, "hpke_tool: bad hex\n");
		exit(2);
	}
	return b;
}

static void put_hex(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
}

__attribute__((noreturn)) static void die(const char *what, int rc)
{
	fprintf(stderr, "hpke_tool: %s: %s\n", what, tb_strerror(rc));
	exit(1);
}

static struct dap_hpke_config config_of(const char *hexcfg, struct tb_bytes *keep)
{
	struct dap_hpke_config c;
	*keep = unhex(hexcfg);
	int rc = dap_hpke_config_decode(tb_bytes_buf(keep), &c);
	if (rc)
		die("config", rc);
	return c;
}

static struct dap_hpke_keypair keypair_of(uint16_t kem, const char *hexsk)
{
	struct dap_hpke_keypair kp;
	struct tb_bytes sk = unhex(hexsk);
	int rc = dap_hpke_keypair_from_sk(kem, tb_bytes_buf(&sk), &kp);
	tb_bytes_free(&sk);
	if (rc)
		die("sk", rc);
	return kp;
}

static int keygen(unsigned id, uint16_t kem, uint16_t aead)
{
	struct dap_hpke_keypair kp;
	int rc = dap_hpke_keygen(kem, &kp);
	if (rc)
		die("keygen", rc);
	static const uint8_t other_pk[40] = { 4 };
	struct dap_hpke_config cs[2] = {
		{ (uint8_t)(id + 1), 0x7777, DAP_HPKE_KDF_SHA256, DAP_HPKE_AEAD_AES128GCM,
		  TB_BUF(other_pk, sizeof(other_pk)) },
		{ (uint8_t)id, kem, DAP_HPKE_KDF_SHA256, aead, TB_BUF(kp.pk, kp.pk_len) },
	};
	struct tb_bytes cfg = { 0 }, list = { 0 };
	if ((rc = dap_hpke_config_encode(&cs[1], &cfg)) ||
	    (rc = dap_hpke_config_list_encode(cs, 2, &list)))
		die("encode", rc);
	put_hex(cfg.p, cfg.len);
	printf(" ");
	put_hex(list.p, list.len);
	printf(" ");
	put_hex(kp.sk, kp.sk_len);
	printf("\n");
	tb_bytes_free(&cfg);
	tb_bytes_free(&list);
	return 0;
}

static int seal(char **a)
{
	struct tb_bytes keep, info = unhex(a[1]), aad = unhex(a[2]), pt = unhex(a[3]);
	struct tb_bytes enc = { 0 }, pay = { 0 }, out = { 0 };
	struct dap_hpke_config c = config_of(a[0], &keep);
	struct dap_hpke_ciphertext ct;
	int rc = dap_hpke_seal(&c, tb_bytes_buf(&info), tb_bytes_buf(&aad), tb_bytes_buf(&pt), &enc,
			       &pay, &ct);
	if (rc || (rc = dap_hpke_ciphertext_encode(&ct, &out)))
		die("seal", rc);
	put_hex(out.p, out.len);
	printf("\n");
	tb_bytes_free(&keep);
	tb_bytes_free(&info);
	tb_bytes_free(&aad);
	tb_bytes_free(&pt);
	tb_bytes_free(&enc);
	tb_bytes_free(&pay);
	tb_bytes_free(&out);
	return 0;
}

static int open_ct(struct dap_hpke_config *c, const struct dap_hpke_keypair *kp,
		   struct tb_buf ctb, struct tb_buf info, struct tb_buf aad, struct tb_bytes *pt)
{
	struct dap_hpke_ciphertext ct;
	int rc = dap_hpke_ciphertext_decode(ctb, &ct);
	if (rc)
		return rc;
	return dap_hpke_open(c, kp, &ct, info, aad, pt);
}

static int open_cmd(char **a)
{
	struct tb_bytes keep, info = unhex(a[2]), aad = unhex(a[3]), ctb = unhex(a[4]), pt = { 0 };
	struct dap_hpke_config c = config_of(a[0], &keep);
	struct dap_hpke_keypair kp = keypair_of(c.kem_id, a[1]);
	int rc = open_ct(&c, &kp, tb_bytes_buf(&ctb), tb_bytes_buf(&info), tb_bytes_buf(&aad), &pt);
	tb_bytes_free(&keep);
	tb_bytes_free(&info);
	tb_bytes_free(&aad);
	tb_bytes_free(&ctb);
	if (rc)
		die("open", rc);
	put_hex(pt.p, pt.len);
	printf("\n");
	tb_bytes_free(&pt);
	return 0;
}

/* PlaintextInputShare { Extension extensions<0..2^16-1>; opaque payload<0..2^32-1>; } */
static int plaintext_payload(const struct tb_bytes *pt, struct tb_buf *payload)
{
	struct tb_reader r = TB_READER(pt->p, pt->len);
	struct tb_buf ext;
	int rc;
	if ((rc = tb_read_vec(&r, 2, &ext)) || (rc = tb_read_vec(&r, 4, payload)))
		return rc;
	if (ext.len != 0)
		return TB_ERR_INVALID; /* the client sends none */
	return tb_read_end(&r);
}

static int open_report(char **a)
{
	struct tb_bytes task = unhex(a[0]), rep = unhex(a[5]), keep[2];
	struct dap_hpke_config cfg[2] = { config_of(a[1], &keep[0]), config_of(a[3], &keep[1]) };
	struct dap_hpke_keypair kp[2] = { keypair_of(cfg[0].kem_id, a[2]),
					  keypair_of(cfg[1].kem_id, a[4]) };
	struct tb_reader r = TB_READER(rep.p, rep.len);
	struct tb_buf report_id, pub;
	struct dap_hpke_ciphertext ct[2];
	uint64_t time;
	int rc;
	/* Report { ReportMetadata { ReportID id[16]; Time time; }; opaque
	 * public_share<0..2^32-1>; HpkeCiphertext leader; HpkeCiphertext helper; } */
	if (task.len != 32 || (rc = tb_read_bytes(&r, 16, &report_id)) ||
	    (rc = tb_read_u64(&r, &time)) || (rc = tb_read_vec(&r, 4, &pub)) ||
	    (rc = dap_hpke_ciphertext_read(&r, &ct[0])) ||
	    (rc = dap_hpke_ciphertext_read(&r, &ct[1])) || (rc = tb_read_end(&r)))
		die("report", TB_ERR_INVALID);
	struct tb_bytes aad = { 0 };
	if ((rc = dap_hpke_aad_input_share(task.p, report_id.p, time, pub, &aad)))
		die("aad", rc);
	struct tb_bytes pt[2] = { { 0 }, { 0 } };
	struct tb_buf share[2];
	for (int j = 0; j < 2; j++) {
		uint8_t ib[DAP_HPKE_INFO_BUF];
		struct tb_buf info = dap_hpke_info_input_share(j == 0 ? DAP_ROLE_LEADER : DAP_ROLE_HELPER, ib);
		if ((rc = dap_hpke_open(&cfg[j], &kp[j], &ct[j], info, tb_bytes_buf(&aad), &pt[j])))
			die(j == 0 ? "open leader share" : "open helper share", rc);
		if ((rc = plaintext_payload(&pt[j], &share[j])))
			die("plaintext input share", rc);
	}
	struct dap_vdaf v;
	struct dap_vdaf_params p = { .shares = 2, .proofs = 1, .bits = 8 };
	if ((rc = dap_vdaf_init(&v, DAP_PRIO3_SUM, &p)))
		die("vdaf", rc);
	uint8_t vk[16] = { 7 }, *state = malloc(v.prep_state_size + 1);
	uint8_t *outs = malloc(2 * v.out_share_size), *agg[2];
	struct tb_bytes to_helper = { 0 }, to_leader = { 0 };
	if ((rc = dap_pp_leader_init(&v, vk, report_id.p, pub, share[0], state, &to_helper, NULL)) ||
	    (rc = dap_pp_helper_init(&v, vk, report_id.p, pub, share[1], tb_bytes_buf(&to_helper),
				     outs + v.out_share_size, &to_leader, NULL)) ||
	    (rc = dap_pp_leader_continued(&v, state, tb_bytes_buf(&to_leader), outs)))
		die("prepare", rc);
	struct tb_buf asb[2];
	for (int j = 0; j < 2; j++) {
		agg[j] = malloc(v.agg_share_size);
		dap_prio3_agg_init(&v, agg[j]);
		dap_prio3_agg_update(&v, agg[j], TB_BUF(outs + j * v.out_share_size, v.out_share_size));
		asb[j] = TB_BUF(agg[j], v.agg_share_size);
	}
	uint64_t res;
	if ((rc = dap_prio3_unshard(&v, asb, 2, 1, &res, 1)))
		die("unshard", rc);
	printf("%llu\n", (unsigned long long)res);
	free(state);
	free(outs);
	free(agg[0]);
	free(agg[1]);
	for (int j = 0; j < 2; j++) {
		tb_bytes_free(&pt[j]);
		tb_bytes_free(&keep[j]);
	}
	tb_bytes_free(&to_helper);
	tb_bytes_free(&to_leader);
	tb_bytes_free(&aad);
	tb_bytes_free(&task);
	tb_bytes_free(&rep);
	return 0;
}

int main(int argc, char **argv)
{
	uint8_t ib[DAP_HPKE_INFO_BUF];
	if (argc == 3 && strcmp(argv[1], "keygen") == 0)
		return keygen((unsigned)atoi(argv[2]), DAP_HPKE_KEM_X25519_SHA256, DAP_HPKE_AEAD_AES128GCM);
	if (argc == 5 && strcmp(argv[1], "keygen") == 0)
		return keygen((unsigned)atoi(argv[2]), (uint16_t)strtoul(argv[3], NULL, 0),
			      (uint16_t)strtoul(argv[4], NULL, 0));
	if (argc == 3 && (strcmp(argv[1], "info-input") == 0 || strcmp(argv[1], "info-agg") == 0)) {
		uint8_t role = (uint8_t)atoi(argv[2]);
		struct tb_buf info = strcmp(argv[1], "info-input") == 0
					     ? dap_hpke_info_input_share(role, ib)
					     : dap_hpke_info_aggregate_share(role, ib);
		put_hex(info.p, info.len);
		printf("\n");
		return 0;
	}
	if (argc == 6 && strcmp(argv[1], "aad-agg") == 0) {
		struct tb_bytes task = unhex(argv[2]), param = unhex(argv[3]), sel = { 0 }, aad = { 0 };
		/* BatchSelector { QueryType time_interval(1); Interval { Time start; Duration duration; } } */
		tb_bytes_u8(&sel, 1);
		tb_bytes_u64(&sel, strtoull(argv[4], NULL, 10));
		tb_bytes_u64(&sel, strtoull(argv[5], NULL, 10));
		int rc = task.len == 32 ? dap_hpke_aad_aggregate_share(task.p, tb_bytes_buf(&param),
								       tb_bytes_buf(&sel), &aad)
					: TB_ERR_INVALID;
		if (rc)
			die("aad-agg", rc);
		put_hex(aad.p, aad.len);
		printf("\n");
		tb_bytes_free(&task);
		tb_bytes_free(&param);
		tb_bytes_free(&sel);
		tb_bytes_free(&aad);
		return 0;
	}
	if (argc == 6 && strcmp(argv[1], "seal") == 0)
		return seal(argv + 2);
	if (argc == 7 && strcmp(argv[1], "open") == 0)
		return open_cmd(argv + 2);
	if (argc == 8 && strcmp(argv[1], "open-report") == 0)
		return open_report(argv + 2);
	fprintf(stderr, "usage: hpke_tool keygen|info-input|info-agg|seal|open|open-report ...\n");
	return 2;
}

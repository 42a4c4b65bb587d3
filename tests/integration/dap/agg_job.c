/*
 * Plays the leader towards a helper in test_dap_helper_jobs.sh: builds the
 * DAP-09 aggregation job messages a leader sends, and reads the helper's
 * answers, so that the script can drive the helper's endpoints directly.
 *
 *   agg_job init [--first MODE] TASK-HEX VERIFY-KEY-HEX HELPER-LIST-HEX TIME N [BATCH-ID-HEX]
 *        prints an AggregationJobInitReq (hex) of N Prio3Count reports of
 *        measurement 1, each sealed to the first config of the helper's
 *        HpkeConfigList and prepared as the leader does (ping-pong
 *        initialize); fixed_size with BATCH-ID-HEX, else time_interval.
 *        The report ids go to stderr, one hex line each. MODE spoils the
 *        first report's helper share: unknown_config (sealed to a config id
 *        the list does not have), bad_ciphertext (its last byte flipped),
 *        bad_plaintext (properly sealed bytes that are no PlaintextInputShare).
 *   agg_job continue STEP [REPORT-ID-HEX...]
 *        prints an AggregationJobContinueReq (hex) with one PrepareContinue
 *        per report id (an empty ping-pong payload).
 *   agg_job resp HEX
 *        prints each PrepareResp of an AggregationJobResp: "REPORT-ID-HEX
 *        continue|finished|reject [PrepareError]", or "empty".
 */
#define TOOL_NAME "agg_job"
#include "tests/integration/dap/report_tool.h"

static void print_hex(const uint8_t *p, size_t n, FILE *f)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
}

static int init_req(int argc, char **argv)
{
	const char *mode = "";
	if (argc > 3 && !strcmp(argv[2], "--first")) {
		mode = argv[3];
		argv += 2;
		argc -= 2;
	}
	if (argc != 7 && argc != 8) {
		fprintf(stderr, "usage: agg_job init TASK-HEX VERIFY-KEY-HEX HELPER-LIST-HEX TIME N [BATCH-ID-HEX]\n");
		return 2;
	}
	struct tb_bytes task = unhex(argv[2]), vk = unhex(argv[3]), hl = unhex(argv[4]), bid = { 0 };
	struct dap_hpke_config hc[4];
	size_t nh = 0;
	check(task.len == 32 ? 0 : TB_ERR_INVALID, "task id");
	check(vk.len == DAP_PRIO3_VERIFY_KEY_SIZE ? 0 : TB_ERR_INVALID, "verify key");
	check(dap_hpke_config_list_decode(tb_bytes_buf(&hl), hc, 4, &nh), "helper config list");
	struct dap_part_batch_selector pbs = { .query_type = DAP_QUERY_TIME_INTERVAL };
	if (argc == 8) {
		bid = unhex(argv[7]);
		check(bid.len == DAP_BATCH_ID_LEN ? 0 : TB_ERR_INVALID, "batch id");
		pbs.query_type = DAP_QUERY_FIXED_SIZE;
		memcpy(pbs.batch_id, bid.p, DAP_BATCH_ID_LEN);
	}
	struct dap_vdaf v;
	struct dap_vdaf_params p = { .shares = 2 };
	check(dap_vdaf_init(&v, DAP_PRIO3_COUNT, &p), "vdaf");
	struct tb_bytes out = { 0 };
	size_t mark;
	check(dap_agg_job_init_req_begin(TB_BUF(NULL, 0), &pbs, &out, &mark), "init req");
	unsigned long n = strtoul(argv[6], NULL, 10);
	uint8_t rand[256];
	uint8_t *state = malloc(v.prep_state_size);
	check(state && v.rand_size <= sizeof rand ? 0 : TB_ERR_NOMEM, "sizes");
	for (unsigned long k = 0; k < n; k++) {
		struct dap_prepare_init pi = { 0 };
		struct dap_report_share *rs = &pi.report_share;
		rs->md.time = strtoull(argv[5], NULL, 10);
		check(tb_random(rs->md.id, sizeof rs->md.id), "random");
		check(tb_random(rand, v.rand_size), "random");
		uint64_t one = 1;
		struct dap_measurement m = { &one, 1 };
		struct tb_bytes pub = { 0 }, shares[2] = { { 0 }, { 0 } }, enc = { 0 }, payload = { 0 }, msg = { 0 };
		check(dap_prio3_shard(&v, &m, rs->md.id, rand, v.rand_size, &pub, shares), "shard");
		rs->public_share = tb_bytes_buf(&pub);
		if (k == 0 && !strcmp(mode, "bad_plaintext")) {
			static const uint8_t junk[3] = { 0xff, 0xff, 0xff };
			uint8_t info_buf[DAP_HPKE_INFO_BUF];
			struct tb_bytes aad = { 0 };
			check(dap_hpke_aad_input_share(task.p, rs->md.id, rs->md.time, rs->public_share, &aad), "aad");
			check(dap_hpke_seal(&hc[0], dap_hpke_info_input_share(DAP_ROLE_HELPER, info_buf),
					    tb_bytes_buf(&aad), TB_BUF(junk, sizeof junk), &enc, &payload,
					    &rs->encrypted_input_share), "seal");
			tb_bytes_free(&aad);
		} else {
			seal(&hc[0], DAP_ROLE_HELPER, task.p, &rs->md, rs->public_share, tb_bytes_buf(&shares[1]),
			     &enc, &payload, &rs->encrypted_input_share);
		}
		if (k == 0 && !strcmp(mode, "unknown_config"))
			rs->encrypted_input_share.config_id = (uint8_t)(hc[0].id + 1);
		if (k == 0 && !strcmp(mode, "bad_ciphertext") && payload.len)
			payload.p[payload.len - 1] ^= 1;
		check(dap_pp_leader_init(&v, vk.p, rs->md.id, rs->public_share, tb_bytes_buf(&shares[0]), state,
					 &msg, NULL), "leader init");
		pi.payload = tb_bytes_buf(&msg);
		check(dap_prepare_init_encode(&pi, &out), "prepare init");
		print_hex(rs->md.id, sizeof rs->md.id, stderr);
		fprintf(stderr, "\n");
		struct tb_bytes *all[] = { &pub, &shares[0], &shares[1], &enc, &payload, &msg };
		for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
			tb_bytes_free(all[i]);
	}
	check(dap_msg_list_end(&out, mark), "list");
	print_hex(out.p, out.len, stdout);
	printf("\n");
	free(state);
	struct tb_bytes *all[] = { &task, &vk, &hl, &bid, &out };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		tb_bytes_free(all[i]);
	return 0;
}

static int continue_req(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: agg_job continue STEP [REPORT-ID-HEX...]\n");
		return 2;
	}
	struct tb_bytes out = { 0 };
	size_t mark;
	check(dap_agg_job_continue_req_begin((uint16_t)strtoul(argv[2], NULL, 10), &out, &mark), "continue req");
	for (int i = 3; i < argc; i++) {
		struct tb_bytes id = unhex(argv[i]);
		struct dap_prepare_continue pc = { .payload = TB_BUF(NULL, 0) };
		check(id.len == DAP_REPORT_ID_LEN ? 0 : TB_ERR_INVALID, "report id");
		memcpy(pc.report_id, id.p, DAP_REPORT_ID_LEN);
		check(dap_prepare_continue_encode(&pc, &out), "prepare continue");
		tb_bytes_free(&id);
	}
	check(dap_msg_list_end(&out, mark), "list");
	print_hex(out.p, out.len, stdout);
	printf("\n");
	tb_bytes_free(&out);
	return 0;
}

static int resp(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: agg_job resp HEX\n");
		return 2;
	}
	struct tb_bytes in = unhex(argv[2]);
	struct dap_agg_job_resp r;
	check(dap_agg_job_resp_decode(tb_bytes_buf(&in), &r), "AggregationJobResp");
	struct tb_reader it = TB_READER(r.prepare_resps.p, r.prepare_resps.len);
	struct dap_prepare_resp pr;
	static const char *const states[] = { "continue", "finished", "reject" };
	if (r.n_prepare_resps == 0)
		printf("empty\n");
	while (dap_prepare_resp_next(&it, &pr) == 0) {
		print_hex(pr.report_id, sizeof pr.report_id, stdout);
		printf(" %s", pr.state < 3 ? states[pr.state] : "?");
		if (pr.state == DAP_PREP_REJECT)
			printf(" %s", dap_prepare_error_name(pr.error));
		printf("\n");
	}
	tb_bytes_free(&in);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "init"))
		return init_req(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "continue"))
		return continue_req(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "resp"))
		return resp(argc, argv);
	fprintf(stderr, "usage: agg_job init|continue|resp ...\n");
	return 2;
}

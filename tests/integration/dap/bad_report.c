/*
 * A Prio3Count report for test_dap_collect.sh whose shares carry an encoded
 * measurement that is no 0 or 1 (the proof fails at preparation), sealed
 * properly to both aggregators, so that only the VDAF can refuse it:
 *
 *   bad_report TASK-ID-HEX LEADER-LIST-HEX HELPER-LIST-HEX TIME VALUE
 *        prints the Report hex (the first config of each HpkeConfigList)
 */
#define TOOL_NAME "bad_report"
#include "tests/integration/dap/report_tool.h"

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: bad_report TASK-ID-HEX LEADER-LIST-HEX HELPER-LIST-HEX TIME VALUE\n");
		return 2;
	}
	struct tb_bytes task = unhex(argv[1]), ll = unhex(argv[2]), hl = unhex(argv[3]);
	struct dap_hpke_config lc[4], hc[4];
	size_t nl = 0, nh = 0;
	check(task.len == 32 ? 0 : TB_ERR_INVALID, "task id");
	check(dap_hpke_config_list_decode(tb_bytes_buf(&ll), lc, 4, &nl), "leader config list");
	check(dap_hpke_config_list_decode(tb_bytes_buf(&hl), hc, 4, &nh), "helper config list");
	struct dap_vdaf v;
	struct dap_vdaf_params p = { .shares = 2 };
	check(dap_vdaf_init(&v, DAP_PRIO3_COUNT, &p), "vdaf");
	struct dap_report r = { 0 };
	r.md.time = strtoull(argv[4], NULL, 10);
	check(tb_random(r.md.id, sizeof r.md.id), "random");
	uint8_t meas[8] = { 0 }, rand[256];
	uint64_t value = strtoull(argv[5], NULL, 10);
	for (int i = 0; i < 8; i++)
		meas[i] = (uint8_t)(value >> (8 * i)); /* Field64, little-endian */
	check(v.rand_size <= sizeof rand ? 0 : TB_ERR_TOO_LARGE, "rand size");
	check(tb_random(rand, v.rand_size), "random");
	struct tb_bytes pub = { 0 }, shares[2] = { { 0 }, { 0 } };
	check(dap_prio3_shard_encoded(&v, meas, r.md.id, rand, v.rand_size, &pub, shares), "shard");
	struct tb_bytes e1 = { 0 }, p1 = { 0 }, e2 = { 0 }, p2 = { 0 }, out = { 0 };
	r.public_share = tb_bytes_buf(&pub);
	seal(&lc[0], DAP_ROLE_LEADER, task.p, &r.md, r.public_share, tb_bytes_buf(&shares[0]), &e1, &p1,
	     &r.leader_share);
	seal(&hc[0], DAP_ROLE_HELPER, task.p, &r.md, r.public_share, tb_bytes_buf(&shares[1]), &e2, &p2,
	     &r.helper_share);
	check(dap_report_encode(&r, &out), "report");
	for (size_t i = 0; i < out.len; i++)
		printf("%02x", out.p[i]);
	printf("\n");
	struct tb_bytes *all[] = { &task, &ll, &hl, &pub, &shares[0], &shares[1], &e1, &p1, &e2, &p2, &out };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		tb_bytes_free(all[i]);
	return 0;
}

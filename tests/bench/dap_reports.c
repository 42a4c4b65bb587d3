/*
 * Report generator for tests/bench/dap.sh: N reports for one task, sealed to
 * the first config of each aggregator's HpkeConfigList, written as DIR/r<i>
 * (one Report per file) before the clock starts. VDAF is "count" (random 0/1
 * measurements; prints the number of 1s, the expected sum) or
 * "histogram:LENGTH:CHUNK" (random buckets; prints the expected histogram as
 * a JSON array).
 *
 *   dap_reports TASK-ID-HEX LEADER-LIST-HEX HELPER-LIST-HEX TIME N DIR [VDAF]
 */
#define TOOL_NAME "dap_reports"
#include "tests/integration/dap/report_tool.h"

int main(int argc, char **argv)
{
	if (argc != 7 && argc != 8) {
		fprintf(stderr, "usage: dap_reports TASK-ID-HEX LEADER-LIST-HEX HELPER-LIST-HEX TIME N DIR [VDAF]\n");
		return 2;
	}
	unsigned hist_len = 0, hist_chunk = 0;
	if (argc == 8 && strcmp(argv[7], "count") != 0 &&
	    (sscanf(argv[7], "histogram:%u:%u", &hist_len, &hist_chunk) != 2 || hist_len < 1 || hist_len > 100000 ||
	     hist_chunk < 1)) {
		fprintf(stderr, "dap_reports: VDAF is count or histogram:LENGTH:CHUNK\n");
		return 2;
	}
	struct tb_bytes task = unhex(argv[1]), ll = unhex(argv[2]), hl = unhex(argv[3]);
	struct dap_hpke_config lc[4], hc[4];
	size_t nl = 0, nh = 0;
	check(dap_hpke_config_list_decode(tb_bytes_buf(&ll), lc, 4, &nl), "leader config list");
	check(dap_hpke_config_list_decode(tb_bytes_buf(&hl), hc, 4, &nh), "helper config list");
	struct dap_vdaf v;
	struct dap_vdaf_params p = { .shares = 2, .length = hist_len, .chunk_length = hist_chunk };
	check(dap_vdaf_init(&v, hist_len ? DAP_PRIO3_HISTOGRAM : DAP_PRIO3_COUNT, &p), "vdaf");
	unsigned long n = strtoul(argv[5], NULL, 10), ones = 0;
	unsigned long *hist = calloc(hist_len ? hist_len : 1, sizeof *hist);
	check(hist ? 0 : TB_ERR_NOMEM, "histogram");
	for (unsigned long i = 0; i < n; i++) {
		struct dap_report r = { 0 };
		uint8_t rnd[256], bit;
		r.md.time = strtoull(argv[4], NULL, 10);
		check(tb_random(r.md.id, sizeof r.md.id), "random");
		check(tb_random(rnd, v.rand_size), "random");
		check(tb_random(&bit, 1), "random");
		uint64_t value = bit & 1;
		if (hist_len) {
			uint32_t rb;
			check(tb_random(&rb, sizeof rb), "random");
			value = rb % hist_len;
			hist[value]++;
		}
		ones += value;
		struct dap_measurement m = { &value, 1 };
		struct tb_bytes pub = { 0 }, shares[2] = { { 0 }, { 0 } }, e1 = { 0 }, p1 = { 0 }, e2 = { 0 },
				p2 = { 0 }, out = { 0 };
		check(dap_prio3_shard(&v, &m, r.md.id, rnd, v.rand_size, &pub, shares), "shard");
		r.public_share = tb_bytes_buf(&pub);
		seal(&lc[0], DAP_ROLE_LEADER, task.p, &r.md, r.public_share, tb_bytes_buf(&shares[0]), &e1,
		     &p1, &r.leader_share);
		seal(&hc[0], DAP_ROLE_HELPER, task.p, &r.md, r.public_share, tb_bytes_buf(&shares[1]), &e2,
		     &p2, &r.helper_share);
		check(dap_report_encode(&r, &out), "report");
		char path[4096];
		snprintf(path, sizeof path, "%s/r%lu", argv[6], i);
		FILE *f = fopen(path, "wb");
		if (!f || fwrite(out.p, 1, out.len, f) != out.len || fclose(f)) {
			fprintf(stderr, "dap_reports: cannot write %s\n", path);
			return 1;
		}
		struct tb_bytes *all[] = { &pub, &shares[0], &shares[1], &e1, &p1, &e2, &p2, &out };
		for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
			tb_bytes_free(all[k]);
	}
	if (hist_len) {
		for (unsigned k = 0; k < hist_len; k++)
			printf("%s%lu", k ? "," : "[", hist[k]);
		printf("]\n");
	} else {
		printf("%lu\n", ones);
	}
	free(hist);
	tb_bytes_free(&task);
	tb_bytes_free(&ll);
	tb_bytes_free(&hl);
	return 0;
}

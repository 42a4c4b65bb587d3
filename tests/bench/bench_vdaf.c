/*
 * Prio3 micro-benchmark: microseconds per report for shard, and for the two
 * aggregators' preparation together (prep_init by each, prep_shares_to_prep,
 * prep_next by each), single thread, one reused scratch block.
 *
 *   bench_vdaf [config ...]     default: count sum8 hist100 sumvec1000
 *
 * Output: one JSON line per configuration (vdaf.sh prints them as a table
 * next to @divviup/prio3).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/error.h"
#include "dap/vdaf.h"

struct config {
	const char *name;
	enum dap_vdaf_type type;
	struct dap_vdaf_params p;
	int reports;
};

static const struct config configs[] = {
	{ "count", DAP_PRIO3_COUNT, { .shares = 2, .proofs = 1 }, 20000 },
	{ "sum8", DAP_PRIO3_SUM, { .shares = 2, .proofs = 1, .bits = 8 }, 10000 },
	{ "hist100", DAP_PRIO3_HISTOGRAM, { .shares = 2, .proofs = 1, .length = 100, .chunk_length = 10 }, 2000 },
	{ "sumvec1000", DAP_PRIO3_SUMVEC, { .shares = 2, .proofs = 1, .bits = 1, .length = 1000, .chunk_length = 31 }, 300 },
};

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void rnd(void *p, size_t n)
{
	if (getrandom(p, n, 0) != (ssize_t)n)
		exit(1);
}

static int bench(const struct config *c)
{
	struct dap_vdaf v;
	if (dap_vdaf_init(&v, c->type, &c->p) != 0)
		return 1;
	const int n = c->reports;
	uint8_t vk[16];
	rnd(vk, 16);
	uint8_t *nonces = malloc((size_t)n * 16), *rands = malloc((size_t)n * v.rand_size);
	uint64_t *vals = malloc((size_t)n * 1000 * 8);
	size_t nv = c->type == DAP_PRIO3_SUMVEC ? v.length : 1;
	rnd(nonces, (size_t)n * 16);
	rnd(rands, (size_t)n * v.rand_size);
	for (int i = 0; i < n; i++)
		for (size_t k = 0; k < nv; k++) {
			uint64_t r;
			rnd(&r, 8);
			vals[i * nv + k] = c->type == DAP_PRIO3_COUNT ? r & 1
					   : c->type == DAP_PRIO3_HISTOGRAM ? r % v.length
					   : r & ((1ULL << v.bits) - 1);
		}
	struct tb_bytes *pub = calloc((size_t)n, sizeof(*pub));
	struct tb_bytes *sh = calloc((size_t)n * 2, sizeof(*sh));

	double t0 = now_us();
	for (int i = 0; i < n; i++) {
		struct dap_measurement m = { vals + i * nv, nv };
		if (dap_prio3_shard(&v, &m, nonces + 16 * i, rands + (size_t)i * v.rand_size, v.rand_size,
				    &pub[i], &sh[2 * i]) != 0)
			return 1;
	}
	double shard_us = (now_us() - t0) / n;

	struct dap_prio3_scratch scr = { malloc(v.scratch_size), v.scratch_size };
	uint8_t *st = malloc(2 * v.prep_state_size + 1), *ps = malloc(2 * v.prep_share_size + 1);
	uint8_t *out = malloc(v.out_share_size), msg[16];
	int rejected = 0;
	t0 = now_us();
	for (int i = 0; i < n; i++) {
		struct tb_buf psb[2];
		int rc = 0;
		for (unsigned j = 0; j < 2 && !rc; j++) {
			rc = dap_prio3_prep_init(&v, vk, j, nonces + 16 * i, tb_bytes_buf(&pub[i]),
						 tb_bytes_buf(&sh[2 * i + j]), st + j * v.prep_state_size,
						 ps + j * v.prep_share_size, &scr);
			psb[j] = TB_BUF(ps + j * v.prep_share_size, v.prep_share_size);
		}
		if (!rc)
			rc = dap_prio3_prep_shares_to_prep(&v, psb, 2, msg, &scr);
		for (unsigned j = 0; j < 2 && !rc; j++)
			rc = dap_prio3_prep_next(&v, st + j * v.prep_state_size,
						 TB_BUF(msg, v.prep_msg_size), out);
		rejected += rc != 0;
	}
	double prep_us = (now_us() - t0) / n;
	printf("{\"config\":\"%s\",\"reports\":%d,\"shard_us\":%.2f,\"prep_us\":%.2f,\"rejected\":%d}\n",
	       c->name, n, shard_us, prep_us, rejected);
	for (int i = 0; i < n; i++) {
		tb_bytes_free(&pub[i]);
		tb_bytes_free(&sh[2 * i]);
		tb_bytes_free(&sh[2 * i + 1]);
	}
	free(pub);
	free(sh);
	free(scr.p);
	free(st);
	free(ps);
	free(out);
	free(nonces);
	free(rands);
	free(vals);
	return rejected ? 1 : 0;
}

int main(int argc, char **argv)
{
	int rc = 0;
	for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++) {
		int want = argc < 2;
		for (int a = 1; a < argc; a++)
			want |= strcmp(argv[a], configs[i].name) == 0;
		if (want)
			rc |= bench(&configs[i]);
	}
	return rc;
}

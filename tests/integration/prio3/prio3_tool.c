/*
 * The C side of the Prio3 cross-implementation test (test_prio3_interop.sh).
 *
 *   prio3_tool shard <config> <n>     random measurements sharded by trustbox;
 *                                     JSON on stdout in the format prio3.mjs reads
 *   prio3_tool prepare < shards.json  prepares (two aggregators through the
 *                                     ping-pong transitions, more through the
 *                                     plain VDAF calls), aggregates and unshards
 *   prio3_tool shard-spec < spec.json shards the measurements of a spec written
 *                                     by prio3_random.mjs with the nonces and
 *                                     randomness it names (deterministic)
 *
 * Configurations carry the same names as in prio3.mjs; a document may instead
 * carry "params" {type, shares, bits, length, chunk} (prio3_random.mjs).
 * Measurements and results of specs are decimal strings (64-bit values).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/error.h"
#include "dap/vdaf.h"

struct config {
	const char *name;
	enum dap_vdaf_type type;
	struct dap_vdaf_params p;
};

static const struct config configs[] = {
	{ "count", DAP_PRIO3_COUNT, { .shares = 2, .proofs = 1 } },
	{ "count3", DAP_PRIO3_COUNT, { .shares = 3, .proofs = 1 } },
	{ "sum8", DAP_PRIO3_SUM, { .shares = 2, .proofs = 1, .bits = 8 } },
	{ "sum32_3", DAP_PRIO3_SUM, { .shares = 3, .proofs = 1, .bits = 32 } },
	{ "sumvec10", DAP_PRIO3_SUMVEC, { .shares = 2, .proofs = 1, .bits = 8, .length = 10, .chunk_length = 9 } },
	{ "sumvec1000", DAP_PRIO3_SUMVEC, { .shares = 2, .proofs = 1, .bits = 1, .length = 1000, .chunk_length = 31 } },
	{ "hist4", DAP_PRIO3_HISTOGRAM, { .shares = 2, .proofs = 1, .length = 4, .chunk_length = 2 } },
	{ "hist100", DAP_PRIO3_HISTOGRAM, { .shares = 2, .proofs = 1, .length = 100, .chunk_length = 10 } },
};

static const struct config *find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++)
		if (strcmp(configs[i].name, name) == 0)
			return &configs[i];
	return NULL;
}

static unsigned param(const cJSON *o, const char *k)
{
	const cJSON *x = cJSON_GetObjectItem(o, k);
	return cJSON_IsNumber(x) ? (unsigned)x->valuedouble : 0;
}

/* The configuration of a document: a name from the table, or "params". */
static const struct config *doc_config(const cJSON *root, struct config *tmp)
{
	const cJSON *p = cJSON_GetObjectItem(root, "params");
	if (!p)
		return find(cJSON_GetStringValue(cJSON_GetObjectItem(root, "config")));
	const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(p, "type"));
	if (!t)
		return NULL;
	memset(tmp, 0, sizeof(*tmp));
	tmp->name = "params";
	if (strcmp(t, "count") == 0)
		tmp->type = DAP_PRIO3_COUNT;
	else if (strcmp(t, "sum") == 0)
		tmp->type = DAP_PRIO3_SUM;
	else if (strcmp(t, "sumvec") == 0)
		tmp->type = DAP_PRIO3_SUMVEC;
	else if (strcmp(t, "histogram") == 0)
		tmp->type = DAP_PRIO3_HISTOGRAM;
	else
		return NULL;
	tmp->p.shares = param(p, "shares");
	tmp->p.proofs = 1;
	tmp->p.bits = param(p, "bits");
	tmp->p.length = param(p, "length");
	tmp->p.chunk_length = param(p, "chunk");
	return tmp;
}

static void rnd(void *p, size_t n)
{
	uint8_t *b = p;
	while (n) {
		ssize_t r = getrandom(b, n, 0);
		if (r <= 0) {
			perror("getrandom");
			exit(1);
		}
		b += r;
		n -= (size_t)r;
	}
}

static char *hex(const uint8_t *p, size_t n)
{
	struct tb_bytes b = { 0 };
	tb_hex_encode(&b, p, n);
	return tb_bytes_cstr(&b);
}

static struct tb_bytes unhex(const cJSON *s)
{
	struct tb_bytes b = { 0 };
	const char *str = cJSON_GetStringValue(s);
	if (!str || tb_hex_decode(&b, str, strlen(str)) != 0) {
		fprintf(stderr, "prio3_tool: bad hex\n");
		exit(1);
	}
	return b;
}

static int do_shard(const struct config *c, int n)
{
	struct dap_vdaf v;
	if (dap_vdaf_init(&v, c->type, &c->p) != 0)
		return 1;
	uint8_t vk[16];
	rnd(vk, sizeof(vk));
	uint64_t *expected = calloc(v.output_len, 8), vals[1000];
	cJSON *root = cJSON_CreateObject(), *reports = cJSON_CreateArray();
	cJSON_AddStringToObject(root, "config", c->name);
	cJSON_AddNumberToObject(root, "shares", v.shares);
	char *h = hex(vk, 16);
	cJSON_AddStringToObject(root, "verify_key", h);
	free(h);
	uint8_t *rand = malloc(v.rand_size);
	for (int i = 0; i < n; i++) {
		size_t nv = c->type == DAP_PRIO3_SUMVEC ? v.length : 1;
		for (size_t k = 0; k < nv; k++) {
			uint64_t r;
			rnd(&r, sizeof(r));
			switch (c->type) {
			case DAP_PRIO3_COUNT: vals[k] = r & 1; break;
			case DAP_PRIO3_SUM:
			case DAP_PRIO3_SUMVEC: vals[k] = v.bits >= 64 ? r : r & ((1ULL << v.bits) - 1); break;
			case DAP_PRIO3_HISTOGRAM: vals[k] = r % v.length; break;
			}
			if (c->type == DAP_PRIO3_HISTOGRAM)
				expected[vals[k]]++;
			else
				expected[k] += vals[k];
		}
		struct dap_measurement m = { vals, nv };
		uint8_t nonce[16];
		rnd(nonce, 16);
		rnd(rand, v.rand_size);
		struct tb_bytes pub = { 0 }, shares[8] = { { 0 } };
		int rc = dap_prio3_shard(&v, &m, nonce, rand, v.rand_size, &pub, shares);
		if (rc) {
			fprintf(stderr, "shard: %s\n", tb_strerror(rc));
			return 1;
		}
		cJSON *rep = cJSON_CreateObject(), *is = cJSON_CreateArray();
		h = hex(nonce, 16);
		cJSON_AddStringToObject(rep, "nonce", h);
		free(h);
		h = hex(pub.p, pub.len);
		cJSON_AddStringToObject(rep, "public_share", h);
		free(h);
		for (unsigned j = 0; j < v.shares; j++) {
			h = hex(shares[j].p, shares[j].len);
			cJSON_AddItemToArray(is, cJSON_CreateString(h));
			free(h);
			tb_bytes_free(&shares[j]);
		}
		cJSON_AddItemToObject(rep, "input_shares", is);
		cJSON_AddItemToArray(reports, rep);
		tb_bytes_free(&pub);
	}
	cJSON *exp = cJSON_CreateArray();
	for (size_t k = 0; k < v.output_len; k++)
		cJSON_AddItemToArray(exp, cJSON_CreateNumber((double)expected[k]));
	cJSON_AddItemToObject(root, "expected", exp);
	cJSON_AddItemToObject(root, "reports", reports);
	char *s = cJSON_PrintUnformatted(root);
	puts(s);
	free(s);
	cJSON_Delete(root);
	free(rand);
	free(expected);
	return 0;
}

/* Prepares one report with every aggregator; out shares go to outs[j]. */
static int prepare_one(const struct dap_vdaf *v, const uint8_t *vk, const uint8_t *nonce,
		       struct tb_buf pub, const struct tb_bytes *shares, uint8_t *outs)
{
	int rc;
	if (v->shares == 2) {
		uint8_t *lstate = malloc(v->prep_state_size + 1);
		struct tb_bytes to_helper = { 0 }, to_leader = { 0 };
		rc = dap_pp_leader_init(v, vk, nonce, pub, tb_bytes_buf(&shares[0]), lstate, &to_helper, NULL);
		if (!rc)
			rc = dap_pp_helper_init(v, vk, nonce, pub, tb_bytes_buf(&shares[1]),
						tb_bytes_buf(&to_helper), outs + v->out_share_size,
						&to_leader, NULL);
		if (!rc)
			rc = dap_pp_leader_continued(v, lstate, tb_bytes_buf(&to_leader), outs);
		free(lstate);
		tb_bytes_free(&to_helper);
		tb_bytes_free(&to_leader);
		return rc;
	}
	uint8_t *st = malloc(v->shares * v->prep_state_size + 1);
	uint8_t *ps = malloc(v->shares * v->prep_share_size + 1);
	struct tb_buf psb[8];
	uint8_t msg[16];
	rc = 0;
	for (unsigned j = 0; j < v->shares && !rc; j++) {
		rc = dap_prio3_prep_init(v, vk, j, nonce, pub, tb_bytes_buf(&shares[j]),
					 st + j * v->prep_state_size, ps + j * v->prep_share_size, NULL);
		psb[j] = TB_BUF(ps + j * v->prep_share_size, v->prep_share_size);
	}
	if (!rc)
		rc = dap_prio3_prep_shares_to_prep(v, psb, v->shares, msg, NULL);
	for (unsigned j = 0; j < v->shares && !rc; j++)
		rc = dap_prio3_prep_next(v, st + j * v->prep_state_size, TB_BUF(msg, v->prep_msg_size),
					 outs + j * v->out_share_size);
	free(st);
	free(ps);
	return rc;
}

static char *read_stdin(void)
{
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);
	size_t r;
	while ((r = fread(buf + len, 1, cap - len - 1, stdin)) > 0) {
		len += r;
		if (len + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	buf[len] = 0;
	return buf;
}

/*
 * shard-spec: every report of the spec carries its measurement (decimal
 * strings), nonce and rand; the output is the spec with public_share and
 * input_shares added to each report.
 */
static int do_shard_spec(void)
{
	char *buf = read_stdin();
	cJSON *root = cJSON_Parse(buf);
	free(buf);
	if (!root)
		return 1;
	struct config tmpc;
	const struct config *c = doc_config(root, &tmpc);
	struct dap_vdaf v;
	if (!c || dap_vdaf_init(&v, c->type, &c->p) != 0) {
		fprintf(stderr, "shard-spec: bad params\n");
		return 1;
	}
	cJSON *rep;
	cJSON_ArrayForEach(rep, cJSON_GetObjectItem(root, "reports"))
	{
		uint64_t vals[1024];
		size_t nv = 0;
		const cJSON *x;
		cJSON_ArrayForEach(x, cJSON_GetObjectItem(rep, "measurement"))
		{
			const char *d = cJSON_GetStringValue(x);
			if (!d || nv == 1024)
				return 1;
			vals[nv++] = strtoull(d, NULL, 10);
		}
		struct tb_bytes nonce = unhex(cJSON_GetObjectItem(rep, "nonce"));
		struct tb_bytes rand = unhex(cJSON_GetObjectItem(rep, "rand"));
		struct dap_measurement m = { vals, nv };
		struct tb_bytes pub = { 0 }, shares[8] = { { 0 } };
		int rc = nonce.len == 16 ? dap_prio3_shard(&v, &m, nonce.p, rand.p, rand.len, &pub, shares)
					 : TB_ERR_INVALID;
		if (rc) {
			fprintf(stderr, "shard: %s\n", tb_strerror(rc));
			return 1;
		}
		char *h = hex(pub.p, pub.len);
		cJSON_AddStringToObject(rep, "public_share", h);
		free(h);
		cJSON *is = cJSON_CreateArray();
		for (unsigned j = 0; j < v.shares; j++) {
			h = hex(shares[j].p, shares[j].len);
			cJSON_AddItemToArray(is, cJSON_CreateString(h));
			free(h);
			tb_bytes_free(&shares[j]);
		}
		cJSON_AddItemToObject(rep, "input_shares", is);
		tb_bytes_free(&pub);
		tb_bytes_free(&nonce);
		tb_bytes_free(&rand);
	}
	char *s = cJSON_PrintUnformatted(root);
	puts(s);
	free(s);
	cJSON_Delete(root);
	return 0;
}

static int do_prepare(void)
{
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);
	size_t r;
	while ((r = fread(buf + len, 1, cap - len - 1, stdin)) > 0) {
		len += r;
		if (len + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	buf[len] = 0;
	cJSON *root = cJSON_Parse(buf);
	free(buf);
	if (!root)
		return 1;
	struct config tmpc;
	const struct config *c = doc_config(root, &tmpc);
	struct dap_vdaf v;
	if (!c || dap_vdaf_init(&v, c->type, &c->p) != 0)
		return 1;
	struct tb_bytes vk = unhex(cJSON_GetObjectItem(root, "verify_key"));
	uint8_t *agg = malloc(v.shares * v.agg_share_size);
	uint8_t *outs = malloc(v.shares * v.out_share_size);
	for (unsigned j = 0; j < v.shares; j++)
		dap_prio3_agg_init(&v, agg + j * v.agg_share_size);
	int rejected = 0, count = 0;
	const cJSON *rep;
	cJSON_ArrayForEach(rep, cJSON_GetObjectItem(root, "reports"))
	{
		struct tb_bytes nonce = unhex(cJSON_GetObjectItem(rep, "nonce"));
		struct tb_bytes pub = unhex(cJSON_GetObjectItem(rep, "public_share"));
		struct tb_bytes shares[8];
		for (unsigned j = 0; j < v.shares; j++)
			shares[j] = unhex(cJSON_GetArrayItem(cJSON_GetObjectItem(rep, "input_shares"), (int)j));
		int rc = nonce.len == 16 ? prepare_one(&v, vk.p, nonce.p, tb_bytes_buf(&pub), shares, outs)
					 : TB_ERR_INVALID;
		if (rc) {
			fprintf(stderr, "report rejected: %s\n", tb_strerror(rc));
			rejected++;
		} else {
			for (unsigned j = 0; j < v.shares; j++)
				dap_prio3_agg_update(&v, agg + j * v.agg_share_size,
						     TB_BUF(outs + j * v.out_share_size, v.out_share_size));
			count++;
		}
		for (unsigned j = 0; j < v.shares; j++)
			tb_bytes_free(&shares[j]);
		tb_bytes_free(&nonce);
		tb_bytes_free(&pub);
	}
	struct tb_buf asb[8];
	for (unsigned j = 0; j < v.shares; j++)
		asb[j] = TB_BUF(agg + j * v.agg_share_size, v.agg_share_size);
	uint64_t *res = calloc(v.output_len, 8);
	int rc = dap_prio3_unshard(&v, asb, v.shares, (uint64_t)count, res, v.output_len);
	if (rc && (rc != TB_ERR_TOO_LARGE || !cJSON_GetObjectItem(root, "params"))) {
		fprintf(stderr, "unshard: %s\n", tb_strerror(rc));
		return 1;
	}
	cJSON *out = cJSON_CreateObject(), *ra = cJSON_CreateArray(), *aa = cJSON_CreateArray();
	cJSON *rd = cJSON_CreateArray();
	cJSON_AddStringToObject(out, "config", c->name);
	cJSON_AddNumberToObject(out, "rejected", rejected);
	if (rc)
		cJSON_AddStringToObject(out, "unshard_error", tb_strerror(rc));
	for (size_t k = 0; k < v.output_len && !rc; k++) {
		char d[24];
		snprintf(d, sizeof(d), "%llu", (unsigned long long)res[k]);
		cJSON_AddItemToArray(ra, cJSON_CreateNumber((double)res[k]));
		cJSON_AddItemToArray(rd, cJSON_CreateString(d));
	}
	cJSON_AddItemToObject(out, "result", ra);
	cJSON_AddItemToObject(out, "result_dec", rd);
	for (unsigned j = 0; j < v.shares; j++) {
		char *h = hex(asb[j].p, asb[j].len);
		cJSON_AddItemToArray(aa, cJSON_CreateString(h));
		free(h);
	}
	cJSON_AddItemToObject(out, "agg_shares", aa);
	char *s = cJSON_PrintUnformatted(out);
	puts(s);
	free(s);
	cJSON_Delete(out);
	cJSON_Delete(root);
	free(res);
	free(agg);
	free(outs);
	tb_bytes_free(&vk);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "shard") == 0) {
		const struct config *c = find(argv[2]);
		if (!c) {
			fprintf(stderr, "unknown config %s\n", argv[2]);
			return 2;
		}
		return do_shard(c, atoi(argv[3]));
	}
	if (argc == 2 && strcmp(argv[1], "prepare") == 0)
		return do_prepare();
	if (argc == 2 && strcmp(argv[1], "shard-spec") == 0)
		return do_shard_spec();
	fprintf(stderr, "usage: prio3_tool shard <config> <n> | prepare < shards.json\n");
	return 2;
}

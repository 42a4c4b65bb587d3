/*
 * Prio3Count, Prio3Sum, Prio3SumVec and Prio3Histogram against the
 * published draft-irtf-cfrg-vdaf-08 test vectors, byte for byte at every
 * step: public share, input shares, prep shares, prep message, out shares,
 * aggregate shares and the aggregate result. The vectors are read from
 * tests/vectors/vdaf-08/ at run time; a missing directory or zero files is a
 * failure.
 */
#include <cjson/cJSON.h>
#include <dirent.h>

#include "core/error.h"
#include "dap/vdaf.h"
#include "tb_test.h"

#define VEC_DIR "vdaf-08"

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		b = NULL;
	}
	if (b)
		b[n] = 0;
	fclose(f);
	return b;
}

static struct tb_bytes hex(const cJSON *s)
{
	struct tb_bytes b = { 0 };
	const char *str = cJSON_GetStringValue(s);
	if (!str || tb_hex_decode(&b, str, strlen(str)) != 0)
		fprintf(stderr, "bad hex in vector\n");
	return b;
}

static unsigned num(const cJSON *o, const char *k)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(x) ? (unsigned)x->valuedouble : 0;
}

static int check_file(const char *path, enum dap_vdaf_type type, const struct dap_vdaf_params *extra)
{
	char *txt = read_file(path);
	CHECK(txt != NULL);
	if (!txt)
		return -1;
	cJSON *root = cJSON_Parse(txt);
	free(txt);
	CHECK(root != NULL);
	if (!root)
		return -1;
	int failures_before = 0;
	(void)failures_before;

	struct dap_vdaf_params pa = {
		.shares = num(root, "shares"),
		.bits = num(root, "bits"),
		.length = num(root, "length"),
		.chunk_length = num(root, "chunk_length"),
	};
	if (extra) {
		pa.proofs = extra->proofs;
		pa.field = extra->field;
		pa.id = extra->id;
	}
	struct dap_vdaf v;
	CHECK_INT(dap_vdaf_init(&v, type, &pa), 0);
	struct tb_bytes vk = hex(cJSON_GetObjectItemCaseSensitive(root, "verify_key"));
	CHECK_INT(vk.len, DAP_PRIO3_VERIFY_KEY_SIZE);

	uint8_t *agg = calloc(v.shares, v.agg_share_size);
	for (unsigned j = 0; j < v.shares; j++)
		dap_prio3_agg_init(&v, agg + j * v.agg_share_size);
	size_t nreports = 0;

	const cJSON *prep;
	cJSON_ArrayForEach(prep, cJSON_GetObjectItemCaseSensitive(root, "prep"))
	{
		const cJSON *jm = cJSON_GetObjectItemCaseSensitive(prep, "measurement");
		uint64_t vals[4096];
		size_t nv = 0;
		if (cJSON_IsArray(jm)) {
			const cJSON *e;
			cJSON_ArrayForEach(e, jm)
			{
				if (nv < 4096)
					vals[nv++] = (uint64_t)e->valuedouble;
			}
		} else {
			vals[nv++] = (uint64_t)jm->valuedouble;
		}
		struct dap_measurement m = { vals, nv };
		struct tb_bytes nonce = hex(cJSON_GetObjectItemCaseSensitive(prep, "nonce"));
		struct tb_bytes rnd = hex(cJSON_GetObjectItemCaseSensitive(prep, "rand"));
		struct tb_bytes want_pub = hex(cJSON_GetObjectItemCaseSensitive(prep, "public_share"));
		CHECK_INT(nonce.len, DAP_PRIO3_NONCE_SIZE);
		CHECK_INT(rnd.len, v.rand_size);

		struct tb_bytes pub = { 0 };
		struct tb_bytes *shares = calloc(v.shares, sizeof(*shares));
		CHECK_INT(dap_prio3_shard(&v, &m, nonce.p, rnd.p, rnd.len, &pub, shares), 0);
		CHECK_MEM(pub.p, pub.len, want_pub.p, want_pub.len);

		const cJSON *jis = cJSON_GetObjectItemCaseSensitive(prep, "input_shares");
		const cJSON *jps = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(prep, "prep_shares"), 0);
		const cJSON *jos = cJSON_GetObjectItemCaseSensitive(prep, "out_shares");
		struct tb_bytes want_msg = hex(cJSON_GetArrayItem(
			cJSON_GetObjectItemCaseSensitive(prep, "prep_messages"), 0));

		uint8_t *states = calloc(v.shares, v.prep_state_size + 1);
		uint8_t *pshares = calloc(v.shares, v.prep_share_size + 1);
		struct tb_buf *psb = calloc(v.shares, sizeof(*psb));
		for (unsigned j = 0; j < v.shares; j++) {
			struct tb_bytes want = hex(cJSON_GetArrayItem(jis, (int)j));
			CHECK_MEM(shares[j].p, shares[j].len, want.p, want.len);
			CHECK_INT(dap_prio3_check_input_share(&v, j, tb_bytes_buf(&want)), 0);
			/* prepare from the vector's bytes, not ours */
			CHECK_INT(dap_prio3_prep_init(&v, vk.p, j, nonce.p, tb_bytes_buf(&want_pub),
						      tb_bytes_buf(&want),
						      states + j * v.prep_state_size,
						      pshares + j * v.prep_share_size, NULL),
				  0);
			struct tb_bytes wps = hex(cJSON_GetArrayItem(jps, (int)j));
			CHECK_MEM(pshares + j * v.prep_share_size, v.prep_share_size, wps.p, wps.len);
			psb[j] = TB_BUF(pshares + j * v.prep_share_size, v.prep_share_size);
			tb_bytes_free(&want);
			tb_bytes_free(&wps);
		}
		uint8_t msg[DAP_XOF_SEED_SIZE + 1];
		CHECK_INT(dap_prio3_prep_shares_to_prep(&v, psb, v.shares, msg, NULL), 0);
		CHECK_MEM(msg, v.prep_msg_size, want_msg.p, want_msg.len);

		uint8_t *out = malloc(v.out_share_size + 1);
		for (unsigned j = 0; j < v.shares; j++) {
			CHECK_INT(dap_prio3_prep_next(&v, states + j * v.prep_state_size,
						      TB_BUF(msg, v.prep_msg_size), out),
				  0);
			/* out_shares[j] is a list of encoded field elements */
			struct tb_bytes want = { 0 };
			const cJSON *e;
			cJSON_ArrayForEach(e, cJSON_GetArrayItem(jos, (int)j))
			{
				struct tb_bytes one = hex(e);
				tb_bytes_append(&want, one.p, one.len);
				tb_bytes_free(&one);
			}
			CHECK_MEM(out, v.out_share_size, want.p, want.len);
			CHECK_INT(dap_prio3_agg_update(&v, agg + j * v.agg_share_size,
						       TB_BUF(out, v.out_share_size)),
				  0);
			tb_bytes_free(&want);
		}
		nreports++;
		free(out);
		free(states);
		free(pshares);
		free(psb);
		for (unsigned j = 0; j < v.shares; j++)
			tb_bytes_free(&shares[j]);
		free(shares);
		tb_bytes_free(&pub);
		tb_bytes_free(&nonce);
		tb_bytes_free(&rnd);
		tb_bytes_free(&want_pub);
		tb_bytes_free(&want_msg);
	}
	CHECK(nreports > 0);

	const cJSON *jas = cJSON_GetObjectItemCaseSensitive(root, "agg_shares");
	struct tb_buf *asb = calloc(v.shares, sizeof(*asb));
	for (unsigned j = 0; j < v.shares; j++) {
		struct tb_bytes want = hex(cJSON_GetArrayItem(jas, (int)j));
		CHECK_MEM(agg + j * v.agg_share_size, v.agg_share_size, want.p, want.len);
		asb[j] = TB_BUF(agg + j * v.agg_share_size, v.agg_share_size);
		tb_bytes_free(&want);
	}
	uint64_t *res = calloc(v.output_len, sizeof(uint64_t));
	CHECK_INT(dap_prio3_unshard(&v, asb, v.shares, nreports, res, v.output_len), 0);
	const cJSON *jr = cJSON_GetObjectItemCaseSensitive(root, "agg_result");
	if (cJSON_IsArray(jr)) {
		CHECK_INT(cJSON_GetArraySize(jr), v.output_len);
		for (size_t i = 0; i < v.output_len; i++)
			CHECK_INT(res[i], (uint64_t)cJSON_GetArrayItem(jr, (int)i)->valuedouble);
	} else {
		CHECK_INT(res[0], (uint64_t)jr->valuedouble);
	}
	free(res);
	free(asb);
	free(agg);
	tb_bytes_free(&vk);
	cJSON_Delete(root);
	return 0;
}

int main(void)
{
	char dir[4096];
	/*
	 * The draft's four, then multiproof variants outside the draft text:
	 * libprio 0.16's Prio3SumVec over Field64 with 3 proofs (extra folder)
	 * and the reference code's Prio3SumVecWithMultiproof (Field64, 4
	 * proofs), both under the private codepoint 0xFFFFFFFF. The files do
	 * not name field and proof count; they follow from the share sizes.
	 */
	static const struct {
		const char *prefix;
		enum dap_vdaf_type type;
		struct dap_vdaf_params extra;
		int required;
	} kinds[] = {
		{ "Prio3Count_", DAP_PRIO3_COUNT, { 0 }, 1 },
		{ "Prio3Sum_", DAP_PRIO3_SUM, { 0 }, 1 },
		{ "Prio3SumVec_", DAP_PRIO3_SUMVEC, { 0 }, 1 },
		{ "Prio3Histogram_", DAP_PRIO3_HISTOGRAM, { 0 }, 1 },
		{ "libprio-rs-0.16.8/Prio3SumVecField64Multiproof_", DAP_PRIO3_SUMVEC,
		  { .proofs = 3, .field = 64, .id = 0xFFFFFFFF }, 0 },
		{ "Prio3SumVecWithMultiproof_", DAP_PRIO3_SUMVEC,
		  { .proofs = 4, .field = 64, .id = 0xFFFFFFFF }, 0 },
	};
	enum { KINDS = sizeof(kinds) / sizeof(kinds[0]) };
	int per_kind[KINDS] = { 0 };
	int files = 0;

	tb_test_vector(VEC_DIR, dir, sizeof(dir));
	static const char *subdirs[] = { "", "libprio-rs-0.16.8/" };
	for (size_t sd = 0; sd < 2; sd++) {
		char path0[8192];
		snprintf(path0, sizeof(path0), "%s/%s", dir, subdirs[sd]);
		DIR *d = opendir(path0);
		if (!d) {
			fprintf(stderr, "vector directory %s missing\n", path0);
			return 1;
		}
		struct dirent *e;
		while ((e = readdir(d))) {
			char rel[1024];
			snprintf(rel, sizeof(rel), "%s%s", subdirs[sd], e->d_name);
			for (size_t k = 0; k < KINDS; k++) {
				size_t pl = strlen(kinds[k].prefix);
				if (strncmp(rel, kinds[k].prefix, pl) != 0 || !strstr(rel, ".json"))
					continue;
				char path[8192];
				snprintf(path, sizeof(path), "%s/%s", dir, rel);
				int before = tb_test_failures;
				check_file(path, kinds[k].type, kinds[k].required ? NULL : &kinds[k].extra);
				printf("%s: %s\n", rel, tb_test_failures == before ? "ok" : "FAILED");
				per_kind[k]++;
				files++;
			}
		}
		closedir(d);
	}
	printf("checked %d vector files\n", files);
	CHECK(files > 0);
	for (size_t k = 0; k < KINDS; k++) {
		if (!per_kind[k])
			fprintf(stderr, "no %s vectors found\n", kinds[k].prefix);
		if (kinds[k].required)
			CHECK(per_kind[k] > 0);
	}
	return tb_test_result("dap_prio3_vectors");
}

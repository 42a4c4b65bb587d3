/*
 * TurboSHAKE128 against RFC 9861 section 5 (a few published constants), and
 * XofTurboShake128 / XofFixedKeyAes128 against the VDAF-08 vector files read
 * from tests/vectors/vdaf-08/ (missing files fail the test).
 */
#include <cjson/cJSON.h>

#include "core/error.h"
#include "dap/vdaf.h"
#include "dap/vdaf/field.h"
#include "tb_test.h"

#define VEC_DIR "vdaf-08"

static struct tb_bytes unhex(const char *s)
{
	struct tb_bytes b = { 0 };
	tb_hex_decode(&b, s, strlen(s));
	return b;
}

/* ptn(n): 00 01 .. FA repeated */
static uint8_t *ptn(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i % 251);
	return p;
}

static void rfc9861(void)
{
	static const struct {
		size_t inlen;
		size_t outlen;
		uint8_t domain;
		const char *want;
	} v[] = {
		{ 0, 32, 0x1f, "1e415f1c5983aff2169217277d17bb538cd945a397ddec541f1ce41af2c1b74c" },
		{ 0, 64, 0x1f,
		  "1e415f1c5983aff2169217277d17bb538cd945a397ddec541f1ce41af2c1b74c"
		  "3e8ccae2a4dae56c84a04c2385c03c15e8193bdf58737363321691c05462c8df" },
		{ 1, 32, 0x1f, "55cedd6f60af7bb29a4042ae832ef3f58db7299f893ebb9247247d856958daa9" },
		{ 17, 32, 0x1f, "9c97d036a3bac819db70ede0ca554ec6e4c2a1a4ffbfd9ec269ca6a111161233" },
		{ 289, 32, 0x1f, "96c77c279e0126f7fc07c9b07f5cdae1e0be60bdbe10620040e75d7223a624d2" },
		{ 4913, 32, 0x1f, "d4976eb56bcf118520582b709f73e1d6853e001fdaf80e1b13e0d0599d5fb372" },
		{ 83521, 32, 0x1f, "da67c7039e98bf530cf7a37830c6664e14cbab7f540f58403b1b82951318ee5c" },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t *in = ptn(v[i].inlen), out[64];
		struct tb_bytes want = unhex(v[i].want);
		dap_turboshake128(v[i].domain, in, v[i].inlen, out, v[i].outlen);
		CHECK_MEM(out, v[i].outlen, want.p, want.len);
		/* the same through uneven absorb / squeeze pieces */
		struct dap_turboshake t;
		uint8_t out2[64];
		dap_turboshake128_init(&t, v[i].domain);
		size_t off = 0, step = 1;
		while (off < v[i].inlen) {
			size_t n = v[i].inlen - off < step ? v[i].inlen - off : step;
			dap_turboshake128_absorb(&t, in + off, n);
			off += n;
			step = step * 3 + 1;
		}
		dap_turboshake128_squeeze(&t, out2, 5);
		dap_turboshake128_squeeze(&t, out2 + 5, v[i].outlen - 5);
		CHECK_MEM(out2, v[i].outlen, want.p, want.len);
		tb_bytes_free(&want);
		free(in);
	}
	/* long output: the last 32 bytes of a 10032-byte output (RFC 9861) */
	uint8_t *big = malloc(10032);
	struct tb_bytes want = unhex("a3b9b0385900ce761f22aed548e754da10a5242d62e8c658e3f3a923a7555607");
	dap_turboshake128(0x1f, NULL, 0, big, 10032);
	CHECK_MEM(big + 10000, 32, want.p, want.len);
	tb_bytes_free(&want);
	free(big);
}

static cJSON *load(const char *name)
{
	char path[4096], rel[256];
	snprintf(rel, sizeof(rel), "%s/%s", VEC_DIR, name);
	tb_test_vector(rel, path, sizeof(path));
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "missing vector file %s\n", path);
		return NULL;
	}
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return cJSON_Parse(buf);
}

static struct tb_bytes field(cJSON *o, const char *k)
{
	return unhex(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k)));
}

static int xof_ts_vector(void)
{
	cJSON *o = load("XofTurboShake128.json");
	CHECK(o != NULL);
	if (!o)
		return 0;
	struct tb_bytes seed = field(o, "seed"), dst = field(o, "dst"), binder = field(o, "binder");
	struct tb_bytes ds = field(o, "derived_seed"), vec = field(o, "expanded_vec_field128");
	size_t len = (size_t)cJSON_GetObjectItemCaseSensitive(o, "length")->valuedouble;
	uint8_t out[DAP_XOF_SEED_SIZE];
	CHECK_INT(dap_xof_ts_derive_seed(out, seed.p, dst.p, dst.len, binder.p, binder.len), 0);
	CHECK_MEM(out, sizeof(out), ds.p, ds.len);
	uint8_t *ev = malloc(len * 16);
	CHECK_INT(dap_xof_ts_expand_vec(128, seed.p, dst.p, dst.len, binder.p, binder.len, len, ev), 0);
	CHECK_MEM(ev, len * 16, vec.p, vec.len);
	free(ev);
	tb_bytes_free(&seed);
	tb_bytes_free(&dst);
	tb_bytes_free(&binder);
	tb_bytes_free(&ds);
	tb_bytes_free(&vec);
	cJSON_Delete(o);
	return 1;
}

static int xof_aes_vector(void)
{
	cJSON *o = load("XofFixedKeyAes128.json");
	CHECK(o != NULL);
	if (!o)
		return 0;
	struct tb_bytes seed = field(o, "seed"), dst = field(o, "dst"), binder = field(o, "binder");
	struct tb_bytes ds = field(o, "derived_seed"), vec = field(o, "expanded_vec_field128");
	size_t len = (size_t)cJSON_GetObjectItemCaseSensitive(o, "length")->valuedouble;
	struct dap_xof_aes x;
	uint8_t out[DAP_XOF_SEED_SIZE];
	CHECK_INT(dap_xof_aes_init(&x, seed.p, dst.p, dst.len, binder.p, binder.len), 0);
	CHECK_INT(dap_xof_aes_next(&x, out, sizeof(out)), 0);
	CHECK_MEM(out, sizeof(out), ds.p, ds.len);
	dap_xof_aes_free(&x);
	/* expand_into_vec(Field128) with rejection sampling, read in odd pieces */
	CHECK_INT(dap_xof_aes_init(&x, seed.p, dst.p, dst.len, binder.p, binder.len), 0);
	uint8_t *ev = malloc(len * 16);
	size_t got = 0;
	while (got < len) {
		uint8_t cand[16];
		f128_t e;
		CHECK_INT(dap_xof_aes_next(&x, cand, 7), 0);
		CHECK_INT(dap_xof_aes_next(&x, cand + 7, 9), 0);
		if (f128_decode(&e, cand) == 0)
			memcpy(ev + 16 * got++, cand, 16);
	}
	CHECK_MEM(ev, len * 16, vec.p, vec.len);
	dap_xof_aes_free(&x);
	free(ev);
	tb_bytes_free(&seed);
	tb_bytes_free(&dst);
	tb_bytes_free(&binder);
	tb_bytes_free(&ds);
	tb_bytes_free(&vec);
	cJSON_Delete(o);
	return 1;
}

int main(void)
{
	rfc9861();
	int files = xof_ts_vector() + xof_aes_vector();
	printf("checked %d XOF vector files\n", files);
	CHECK_INT(files, 2);
	return tb_test_result("dap_xof");
}

/*
 * Minimal unit-test helpers: each CHECK prints what it expected and what it
 * got, counts failures, and the test's main returns tb_test_result().
 */
#ifndef TB_TEST_H
#define TB_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tb_test_failures;
static int tb_test_checks;

#define CHECK(cond)                                                                   \
	do {                                                                          \
		tb_test_checks++;                                                     \
		if (!(cond)) {                                                        \
			tb_test_failures++;                                           \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                     \
	} while (0)

#define CHECK_INT(got, want)                                                          \
	do {                                                                          \
		long long g_ = (long long)(got), w_ = (long long)(want);              \
		tb_test_checks++;                                                     \
		if (g_ != w_) {                                                       \
			tb_test_failures++;                                           \
			fprintf(stderr, "%s:%d: %s: expected %lld, got %lld\n", __FILE__, \
				__LINE__, #got, w_, g_);                              \
		}                                                                     \
	} while (0)

#define CHECK_STR(got, want)                                                          \
	do {                                                                          \
		const char *g_ = (got), *w_ = (want);                                 \
		tb_test_checks++;                                                     \
		if (!g_ || !w_ || strcmp(g_, w_) != 0) {                              \
			tb_test_failures++;                                           \
			fprintf(stderr, "%s:%d: %s: expected \"%s\", got \"%s\"\n",   \
				__FILE__, __LINE__, #got, w_ ? w_ : "(null)",         \
				g_ ? g_ : "(null)");                                  \
		}                                                                     \
	} while (0)

static inline void tb_test_hex(FILE *f, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n && i < 64; i++)
		fprintf(f, "%02x", p[i]);
	if (n > 64)
		fprintf(f, "...(%zu bytes)", n);
}

#define CHECK_MEM(got, gotlen, want, wantlen)                                         \
	do {                                                                          \
		const uint8_t *g_ = (const uint8_t *)(got), *w_ = (const uint8_t *)(want); \
		size_t gl_ = (gotlen), wl_ = (wantlen);                               \
		tb_test_checks++;                                                     \
		if (gl_ != wl_ || (gl_ && memcmp(g_, w_, gl_) != 0)) {                \
			tb_test_failures++;                                           \
			fprintf(stderr, "%s:%d: %s: expected ", __FILE__, __LINE__, #got); \
			tb_test_hex(stderr, w_, wl_);                                 \
			fprintf(stderr, ", got ");                                    \
			tb_test_hex(stderr, g_, gl_);                                 \
			fprintf(stderr, "\n");                                        \
		}                                                                     \
	} while (0)

static inline int tb_test_result(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, tb_test_checks, tb_test_failures);
	if (tb_test_checks == 0) {
		fprintf(stderr, "%s: no checks ran\n", name);
		return 1;
	}
	return tb_test_failures ? 1 : 0;
}

/*
 * Path of a published test vector file under tests/vectors/ (see its README).
 * The build passes the directory as TB_TEST_VECTORS, so a test binary finds
 * its vectors from any working directory and in any clone.
 */
#ifdef TB_TEST_VECTORS
static inline const char *tb_test_vector(const char *rel, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s", TB_TEST_VECTORS, rel);
	return out;
}
#endif

#endif

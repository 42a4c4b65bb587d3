/* Byte strings: writer, bounded reader, vectors, encodings. */
#include "core/buf.h"

#include <errno.h>
#include <unistd.h>

#include "core/error.h"
#include "tb_test.h"

/* tb_read_file: whole files up to a cap, nothing read or kept past it. */
static void test_read_file(void)
{
	char dir[] = "/tmp/tb-buf-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[64];
	struct tb_bytes out = { 0 };

	/* a missing file is -errno (ENOENT), out untouched */
	snprintf(path, sizeof path, "%s/missing", dir);
	CHECK_INT(tb_read_file(path, 100, &out), -ENOENT);
	CHECK_INT(out.len, 0);

	/* an empty file: success, nothing read */
	snprintf(path, sizeof path, "%s/empty", dir);
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL);
	fclose(f);
	CHECK_INT(tb_read_file(path, 100, &out), 0);
	CHECK_INT(out.len, 0);
	unlink(path);

	/* exactly at the cap is read whole; one byte over is refused, out kept as it was */
	snprintf(path, sizeof path, "%s/data", dir);
	f = fopen(path, "wb");
	CHECK(f != NULL);
	for (int i = 0; i < 40000; i++)
		fputc('a' + i % 26, f);
	fclose(f);
	CHECK_INT(tb_read_file(path, 40000, &out), 0);
	CHECK_INT(out.len, 40000);
	CHECK(out.p && out.p[0] == 'a' && out.p[39999] == 'a' + 39999 % 26);
	CHECK_INT(tb_read_file(path, 39999, &out), TB_ERR_TOO_LARGE);
	CHECK_INT(out.len, 40000); /* appended to nothing: the first read is intact */
	out.len = 0;
	CHECK_INT(tb_read_file(path, 10, &out), TB_ERR_TOO_LARGE);
	CHECK_INT(out.len, 0);
	CHECK_INT(tb_read_file(path, 0, &out), TB_ERR_TOO_LARGE);
	unlink(path);

	/* an endless file: the cap stops the read */
	CHECK_INT(tb_read_file("/dev/zero", 1000, &out), TB_ERR_TOO_LARGE);
	CHECK_INT(out.len, 0);
	tb_bytes_free(&out);
	rmdir(dir);
}

int main(void)
{
	test_read_file();

	struct tb_bytes b = { 0 };
	tb_bytes_u8(&b, 1);
	tb_bytes_u16(&b, 0x0203);
	tb_bytes_u24(&b, 0x040506);
	tb_bytes_u32(&b, 0x0708090a);
	tb_bytes_u64(&b, 0x0b0c0d0e0f101112ULL);
	tb_bytes_vec(&b, 2, "abc", 3);
	size_t mark;
	tb_bytes_vec_begin(&b, 3, &mark);
	tb_bytes_append(&b, "hello", 5);
	CHECK_INT(tb_bytes_vec_end(&b, 3, mark), 0);
	static const uint8_t want[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 0, 3, 'a', 'b',
		'c', 0, 0, 5, 'h', 'e', 'l', 'l', 'o' };
	CHECK_MEM(b.p, b.len, want, sizeof want);

	struct tb_reader r = TB_READER(b.p, b.len);
	uint8_t u8;
	uint16_t u16;
	uint32_t u24, u32;
	uint64_t u64;
	struct tb_buf v;
	CHECK_INT(tb_read_u8(&r, &u8), 0);
	CHECK_INT(tb_read_u16(&r, &u16), 0);
	CHECK_INT(tb_read_u24(&r, &u24), 0);
	CHECK_INT(tb_read_u32(&r, &u32), 0);
	CHECK_INT(tb_read_u64(&r, &u64), 0);
	CHECK_INT(u16, 0x0203);
	CHECK_INT(u24, 0x040506);
	CHECK(u64 == 0x0b0c0d0e0f101112ULL);
	CHECK_INT(tb_read_vec(&r, 2, &v), 0);
	CHECK_MEM(v.p, v.len, "abc", 3);
	CHECK(tb_read_end(&r) == TB_ERR_TRAILING);
	CHECK_INT(tb_read_vec(&r, 3, &v), 0);
	CHECK_INT(tb_read_end(&r), 0);
	CHECK_INT(tb_read_u8(&r, &u8), TB_ERR_TRUNCATED);

	/* A vector whose length runs past the end is rejected and consumes nothing. */
	static const uint8_t bad[] = { 0, 9, 'x' };
	r = TB_READER(bad, sizeof bad);
	CHECK_INT(tb_read_vec(&r, 2, &v), TB_ERR_TRUNCATED);
	CHECK_INT(r.off, 0);
	CHECK_INT(tb_bytes_vec(&b, 1, b.p, 256), TB_ERR_TOO_LARGE);
	tb_bytes_free(&b);

	/* Encodings, RFC 4648 test vectors. */
	const char *plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	const char *b64[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	const char *b64u[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" };
	for (int i = 0; i < 7; i++) {
		struct tb_bytes e = { 0 }, d = { 0 }, eu = { 0 }, du = { 0 };
		tb_base64_encode(&e, (const uint8_t *)plain[i], strlen(plain[i]));
		CHECK_STR(tb_bytes_cstr(&e), b64[i]);
		CHECK_INT(tb_base64_decode(&d, b64[i], strlen(b64[i])), 0);
		CHECK_MEM(d.p, d.len, plain[i], strlen(plain[i]));
		tb_base64url_encode(&eu, (const uint8_t *)plain[i], strlen(plain[i]));
		CHECK_STR(tb_bytes_cstr(&eu), b64u[i]);
		CHECK_INT(tb_base64url_decode(&du, b64u[i], strlen(b64u[i])), 0);
		CHECK_MEM(du.p, du.len, plain[i], strlen(plain[i]));
		tb_bytes_free(&e);
		tb_bytes_free(&d);
		tb_bytes_free(&eu);
		tb_bytes_free(&du);
	}
	struct tb_bytes x = { 0 };
	CHECK_INT(tb_base64url_decode(&x, "Zg==", 4), TB_ERR_INVALID); /* padding */
	CHECK_INT(tb_base64url_decode(&x, "Zh", 2), TB_ERR_INVALID);   /* non-zero trailing bits */
	CHECK_INT(tb_base64url_decode(&x, "Z+8", 3), TB_ERR_INVALID);  /* standard alphabet */
	CHECK_INT(tb_base64url_decode(&x, "Z", 1), TB_ERR_INVALID);
	CHECK_INT(tb_base64_decode(&x, "Zg=", 3), TB_ERR_INVALID);
	tb_bytes_free(&x);
	CHECK_INT(tb_hex_decode(&x, "00ffA0", 6), 0);
	CHECK_MEM(x.p, x.len, "\x00\xff\xa0", 3);
	tb_bytes_free(&x);
	CHECK_INT(tb_hex_decode(&x, "0g", 2), TB_ERR_INVALID);
	tb_bytes_free(&x);
	CHECK_INT(tb_memeq_ct("abc", "abc", 3), 0);
	CHECK(tb_memeq_ct("abc", "abd", 3) != 0);
	CHECK_STR(tb_strerror(TB_ERR_TRUNCATED), "input truncated");
	return tb_test_result("buf");
}

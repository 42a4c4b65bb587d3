/* gzip helpers: round trip, output cap, corrupt and truncated input, Accept-Encoding parsing. */
#include "core/compress.h"
#include "core/error.h"
#include "core/http.h"
#include "tb_test.h"

static int accepts(const char *value)
{
	struct tb_http_header h = { "accept-encoding", value };
	struct tb_http_request req = { .headers = &h, .n_headers = value ? 1 : 0 };
	return tb_http_accepts_gzip(&req);
}

int main(void)
{
	uint8_t data[70000];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)(i % 251 == 0 ? i : 'a' + i % 7);
	struct tb_bytes gz = { 0 }, back = { 0 };
	CHECK_INT(tb_gzip(&gz, data, sizeof data), 0);
	CHECK(gz.len > 18 && gz.len < sizeof data / 4);
	CHECK(gz.p[0] == 0x1f && gz.p[1] == 0x8b); /* gzip magic */
	CHECK_INT(tb_gunzip(&back, gz.p, gz.len, sizeof data), 0);
	CHECK_MEM(back.p, back.len, data, sizeof data);
	tb_bytes_free(&back);
	CHECK_INT(tb_gunzip(&back, gz.p, gz.len, sizeof data - 1), TB_ERR_TOO_LARGE);
	tb_bytes_free(&back);
	CHECK(tb_gunzip(&back, gz.p, gz.len - 5, sizeof data) != 0);
	tb_bytes_free(&back);
	gz.p[gz.len / 2] ^= 0xff;
	CHECK(tb_gunzip(&back, gz.p, gz.len, sizeof data) != 0);
	tb_bytes_free(&back);
	tb_bytes_free(&gz);
	CHECK_INT(tb_gzip(&gz, data, 0), 0);
	CHECK_INT(tb_gunzip(&back, gz.p, gz.len, 10), 0);
	CHECK_INT(back.len, 0);
	tb_bytes_free(&gz);
	tb_bytes_free(&back);

	CHECK_INT(accepts(NULL), 0);
	CHECK_INT(accepts("gzip"), 1);
	CHECK_INT(accepts("deflate, gzip;q=0.5"), 1);
	CHECK_INT(accepts("GZIP"), 1);
	CHECK_INT(accepts("gzip;q=0"), 0);
	CHECK_INT(accepts("br, deflate"), 0);
	CHECK_INT(accepts("*"), 1);
	CHECK_INT(accepts("x-gzip2"), 0);
	return tb_test_result("compress");
}

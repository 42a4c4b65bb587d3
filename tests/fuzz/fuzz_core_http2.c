/*
 * Fuzzes the HTTP/2 server side (core/http2.c over libnghttp2: frames,
 * HPACK, flow control, stream states, our flood and size defences, and the
 * mapping of streams onto core requests, routes, limits and responses)
 * through the same seam as HTTP/1.1, tb_http_feed_bytes: one in-memory
 * connection per input. The client preface is prepended, so inputs are the
 * frames that follow it (a SETTINGS frame first, as a client must).
 */
#include "fuzz_core_http_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!srv)
		fuzz_http_init();
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	uint8_t *in = malloc(sizeof preface - 1 + size);
	if (!in)
		return 0;
	memcpy(in, preface, sizeof preface - 1);
	if (size)
		memcpy(in + sizeof preface - 1, data, size);
	struct tb_bytes out = { 0 };
	tb_http_feed_bytes(srv, in, sizeof preface - 1 + size, &out);
	tb_bytes_free(&out);
	free(in);
	return 0;
}

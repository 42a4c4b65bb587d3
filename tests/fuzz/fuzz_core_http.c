/*
 * Fuzzes the HTTP server's byte-driven connection state machine (request
 * parsing, routing, limits, pipelining, chunked bodies, error responses)
 * through tb_http_feed_bytes: one in-memory connection per input. Inputs
 * starting with 0xff/0xfe go to the client's response parser instead (what
 * an ACME validation or a DAP peer sends back is attacker-controlled too).
 */
#include "fuzz_core_http_common.h"

static void on_resp(int err, const struct tb_http_client_resp *resp, void *arg)
{
	(void)arg;
	if (err || !resp)
		return;
	/* Touch everything the callback may read. */
	volatile size_t sum = resp->body.len;
	for (size_t i = 0; i < resp->n_headers; i++)
		sum += strlen(resp->headers[i].name) + strlen(resp->headers[i].value);
	for (size_t i = 0; i < resp->body.len; i++)
		sum += resp->body.p[i];
	if (tb_http_client_header(resp, "location"))
		sum++;
	(void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!srv)
		fuzz_http_init();
	/* A first byte 0xff or 0xfe selects the client's response parser (0xfe: after HEAD). */
	if (size > 0 && data[0] >= 0xfe) {
		tb_http_client_parse_response(data + 1, size - 1, data[0] == 0xfe, 4096, on_resp, NULL);
		return 0;
	}
	struct tb_bytes out = { 0 };
	tb_http_feed_bytes(srv, data, size, &out);
	tb_bytes_free(&out);
	return 0;
}

/*
 * The one write path of the HTTP server and client (see core/http_io.h).
 */
#include "core/http_io.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/tls.h"

struct write_req {
	uv_write_t w;
	struct tb_http_out *out;
	uint8_t *p;
};

static void on_write(uv_write_t *w, int status)
{
	struct write_req *wr = (struct write_req *)w;
	struct tb_http_out *out = wr->out;
	free(wr->p);
	free(wr);
	out->pending--;
	if (out->written)
		out->written(out, status);
}

int tb_http_out_send(struct tb_http_out *out, uint8_t *p, size_t n)
{
	if (!out->stream) {
		if (out->sink)
			tb_bytes_append(out->sink, p, n);
		free(p);
		return 0;
	}
	if (n == 0) {
		free(p);
		return 0;
	}
	struct write_req *wr = malloc(sizeof *wr);
	if (!wr) {
		free(p);
		return TB_ERR_NOMEM;
	}
	wr->out = out;
	wr->p = p;
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
	int rc = uv_write(&wr->w, out->stream, &b, 1, on_write);
	if (rc) {
		free(p);
		free(wr);
		return rc;
	}
	out->pending++;
	return 0;
}

int tb_http_out_flush_tls(struct tb_http_out *out)
{
	struct tb_bytes o;
	tb_tls_conn_take_output(out->tls, &o);
	if (o.err) {
		tb_bytes_free(&o);
		return TB_ERR_NOMEM;
	}
	return tb_http_out_send(out, o.p, o.len);
}

int tb_http_out_write(struct tb_http_out *out, const uint8_t *p, size_t n)
{
	if (out->tls) {
		int rc = tb_tls_conn_write(out->tls, p, n);
		return rc ? rc : tb_http_out_flush_tls(out);
	}
	uint8_t *copy = malloc(n ? n : 1);
	if (!copy)
		return TB_ERR_NOMEM;
	memcpy(copy, p, n);
	return tb_http_out_send(out, copy, n);
}

/*
 * The write path both ends of HTTP share: server connections (core/http.c)
 * and client calls (core/http_client.c) put bytes on a libuv stream as they
 * are or as TLS records, each write owning its buffer until libuv is done
 * with it. Internal to core.
 */
#ifndef TB_HTTP_IO_H
#define TB_HTTP_IO_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"

struct tb_tls_conn;

struct tb_http_out {
	uv_stream_t *stream;      /* NULL: no socket, bytes go to sink (the server's feed mode) */
	struct tb_tls_conn *tls;  /* NULL: plaintext */
	struct tb_bytes *sink;    /* without a stream: where bytes go; NULL drops them */
	size_t pending;           /* writes handed to libuv and not yet completed */
	/* After each write completed (pending already counts it out); status < 0 on failure. */
	void (*written)(struct tb_http_out *out, int status);
};

/* Sends bytes as they are (plaintext, or records already encrypted). Takes p, always. */
int tb_http_out_send(struct tb_http_out *out, uint8_t *p, size_t n);
/* Sends the records the TLS connection has produced (handshake, alerts, data). */
int tb_http_out_flush_tls(struct tb_http_out *out);
/* Sends plaintext: encrypted when TLS, else copied. p stays the caller's. */
int tb_http_out_write(struct tb_http_out *out, const uint8_t *p, size_t n);

#endif

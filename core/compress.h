/*
 * gzip (RFC 1952) for HTTP responses, over zlib: the static CT API serves
 * data tiles gzipped to clients that accept it.
 */
#ifndef TB_COMPRESS_H
#define TB_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct tb_http_request;

/* Appends the gzip encoding of p to out. 0 or an error. */
int tb_gzip(struct tb_bytes *out, const uint8_t *p, size_t n);
/* Decompresses a gzip stream into out, refusing output larger than max_out (TB_ERR_TOO_LARGE). */
int tb_gunzip(struct tb_bytes *out, const uint8_t *p, size_t n, size_t max_out);
/* Whether the request's Accept-Encoding allows gzip (a q=0 parameter refuses it). */
int tb_http_accepts_gzip(const struct tb_http_request *req);

#endif

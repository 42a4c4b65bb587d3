#include "core/compress.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "core/error.h"
#include "core/http.h"

#define GZIP_WINDOW (15 + 16) /* zlib: 32 KiB window, gzip wrapper */

int tb_gzip(struct tb_bytes *out, const uint8_t *p, size_t n)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, 6, Z_DEFLATED, GZIP_WINDOW, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return TB_ERR_NOMEM;
	uLong bound = deflateBound(&z, (uLong)n);
	int err = tb_bytes_reserve(out, bound);
	if (!err) {
		z.next_in = (Bytef *)p;
		z.avail_in = (uInt)n;
		z.next_out = out->p + out->len;
		z.avail_out = (uInt)bound;
		err = deflate(&z, Z_FINISH) == Z_STREAM_END ? 0 : TB_ERR_IO;
		if (!err)
			out->len += z.total_out;
	}
	deflateEnd(&z);
	return err;
}

int tb_gunzip(struct tb_bytes *out, const uint8_t *p, size_t n, size_t max_out)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	if (inflateInit2(&z, GZIP_WINDOW) != Z_OK)
		return TB_ERR_NOMEM;
	z.next_in = (Bytef *)p;
	z.avail_in = (uInt)n;
	size_t start = out->len;
	int rc = Z_OK, err = 0;
	while (rc != Z_STREAM_END) {
		if (out->len - start >= max_out) {
			err = TB_ERR_TOO_LARGE;
			break;
		}
		size_t room = max_out - (out->len - start);
		if (room > 65536)
			room = 65536;
		if ((err = tb_bytes_reserve(out, room)))
			break;
		z.next_out = out->p + out->len;
		z.avail_out = (uInt)room;
		rc = inflate(&z, Z_NO_FLUSH);
		out->len += room - z.avail_out;
		if (rc != Z_OK && rc != Z_STREAM_END) {
			err = TB_ERR_INVALID;
			break;
		}
		if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
			err = TB_ERR_TRUNCATED;
			break;
		}
	}
	if (!err && z.avail_in != 0)
		err = TB_ERR_TRAILING;
	inflateEnd(&z);
	return err;
}

int tb_http_accepts_gzip(const struct tb_http_request *req)
{
	const char *ae = tb_http_header(req, "Accept-Encoding");
	if (!ae)
		return 0;
	/* Tokens separated by commas, each "coding[;q=value]". */
	for (const char *s = ae; *s;) {
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		const char *tok = s;
		while (*s && *s != ',' && *s != ';' && *s != ' ' && *s != '\t')
			s++;
		size_t len = (size_t)(s - tok);
		double q = 1;
		while (*s && *s != ',') {
			if (*s == ';') {
				s++;
				while (*s == ' ' || *s == '\t')
					s++;
				if ((s[0] == 'q' || s[0] == 'Q') && s[1] == '=')
					q = strtod(s + 2, NULL);
			} else {
				s++;
			}
		}
		if (((len == 4 && strncasecmp(tok, "gzip", 4) == 0) || (len == 1 && tok[0] == '*')) && q > 0)
			return 1;
	}
	return 0;
}

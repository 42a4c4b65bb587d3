#include "core/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

int tb_bytes_reserve(struct tb_bytes *b, size_t extra)
{
	if (b->err)
		return b->err;
	if (extra > SIZE_MAX - b->len - 1)
		return b->err = TB_ERR_NOMEM;
	size_t need = b->len + extra + 1; /* room for tb_bytes_cstr's NUL */
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	uint8_t *p = realloc(b->p, cap);
	if (!p)
		return b->err = TB_ERR_NOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int tb_read_file(const char *path, size_t max_bytes, struct tb_bytes *out)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return errno ? -errno : TB_ERR_IO;
	size_t start = out->len, total = 0;
	char chunk[16384];
	int err = 0;
	for (;;) {
		/* ask for at most one byte past the cap: enough to know it is over */
		size_t left = max_bytes - total;
		size_t want = left < sizeof chunk ? left + 1 : sizeof chunk;
		size_t n = fread(chunk, 1, want, f);
		if (n == 0) {
			if (ferror(f))
				err = TB_ERR_IO;
			break;
		}
		total += n;
		if (total > max_bytes) {
			err = TB_ERR_TOO_LARGE;
			break;
		}
		if ((err = tb_bytes_append(out, chunk, n)))
			break;
	}
	fclose(f);
	if (err) {
		out->len = start;
		return err;
	}
	return 0;
}

int tb_bytes_append(struct tb_bytes *b, const void *p, size_t n)
{
	int err = tb_bytes_reserve(b, n);
	if (err)
		return err;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static int put_be(struct tb_bytes *b, uint64_t v, int n)
{
	uint8_t tmp[8];
	for (int i = 0; i < n; i++)
		tmp[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	return tb_bytes_append(b, tmp, (size_t)n);
}

int tb_bytes_u8(struct tb_bytes *b, uint8_t v) { return put_be(b, v, 1); }
int tb_bytes_u16(struct tb_bytes *b, uint16_t v) { return put_be(b, v, 2); }
int tb_bytes_u24(struct tb_bytes *b, uint32_t v) { return put_be(b, v, 3); }
int tb_bytes_u32(struct tb_bytes *b, uint32_t v) { return put_be(b, v, 4); }
int tb_bytes_u64(struct tb_bytes *b, uint64_t v) { return put_be(b, v, 8); }

static uint64_t prefix_max(int prefix_len)
{
	return prefix_len >= 8 ? UINT64_MAX : (((uint64_t)1) << (8 * prefix_len)) - 1;
}

int tb_bytes_vec(struct tb_bytes *b, int prefix_len, const void *p, size_t n)
{
	if (prefix_len < 1 || prefix_len > 4 || (uint64_t)n > prefix_max(prefix_len))
		return TB_ERR_TOO_LARGE;
	int err = put_be(b, n, prefix_len);
	return err ? err : tb_bytes_append(b, p, n);
}

int tb_bytes_vec_begin(struct tb_bytes *b, int prefix_len, size_t *mark)
{
	if (prefix_len < 1 || prefix_len > 4)
		return TB_ERR_INVALID;
	*mark = b->len;
	return put_be(b, 0, prefix_len);
}

int tb_bytes_vec_end(struct tb_bytes *b, int prefix_len, size_t mark)
{
	if (b->err)
		return b->err;
	size_t n = b->len - mark - (size_t)prefix_len;
	if ((uint64_t)n > prefix_max(prefix_len))
		return TB_ERR_TOO_LARGE;
	for (int i = 0; i < prefix_len; i++)
		b->p[mark + i] = (uint8_t)(n >> (8 * (prefix_len - 1 - i)));
	return 0;
}

int tb_bytes_printf(struct tb_bytes *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return TB_ERR_INVALID;
	int err = tb_bytes_reserve(b, (size_t)n);
	if (err)
		return err;
	va_start(ap, fmt);
	vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

char *tb_bytes_cstr(struct tb_bytes *b)
{
	if (tb_bytes_reserve(b, 0))
		return NULL;
	b->p[b->len] = 0;
	return (char *)b->p;
}

struct tb_buf tb_bytes_buf(const struct tb_bytes *b)
{
	return (struct tb_buf){ b->p, b->len };
}

void tb_bytes_free(struct tb_bytes *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

static int get_be(struct tb_reader *r, int n, uint64_t *v)
{
	if (tb_reader_left(r) < (size_t)n)
		return TB_ERR_TRUNCATED;
	uint64_t x = 0;
	for (int i = 0; i < n; i++)
		x = (x << 8) | r->p[r->off + i];
	r->off += (size_t)n;
	*v = x;
	return 0;
}

#define READ_INT(name, type, n)                        \
	int name(struct tb_reader *r, type *v)         \
	{                                              \
		uint64_t x;                            \
		int err = get_be(r, n, &x);            \
		if (!err)                              \
			*v = (type)x;                  \
		return err;                            \
	}
READ_INT(tb_read_u8, uint8_t, 1)
READ_INT(tb_read_u16, uint16_t, 2)
READ_INT(tb_read_u24, uint32_t, 3)
READ_INT(tb_read_u32, uint32_t, 4)
READ_INT(tb_read_u64, uint64_t, 8)

int tb_read_bytes(struct tb_reader *r, size_t n, struct tb_buf *out)
{
	if (tb_reader_left(r) < n)
		return TB_ERR_TRUNCATED;
	out->p = (uint8_t *)(r->p + r->off);
	out->len = n;
	r->off += n;
	return 0;
}

int tb_read_vec(struct tb_reader *r, int prefix_len, struct tb_buf *out)
{
	if (prefix_len < 1 || prefix_len > 4)
		return TB_ERR_INVALID;
	size_t save = r->off;
	uint64_t n;
	int err = get_be(r, prefix_len, &n);
	if (!err)
		err = tb_read_bytes(r, (size_t)n, out);
	if (err)
		r->off = save;
	return err;
}

int tb_read_end(const struct tb_reader *r)
{
	return tb_reader_left(r) ? TB_ERR_TRAILING : 0;
}

static const char hexdig[] = "0123456789abcdef";

int tb_hex_encode(struct tb_bytes *out, const uint8_t *p, size_t n)
{
	if (n > SIZE_MAX / 2)
		return TB_ERR_TOO_LARGE;
	int err = tb_bytes_reserve(out, 2 * n);
	if (err)
		return err;
	for (size_t i = 0; i < n; i++) {
		out->p[out->len++] = (uint8_t)hexdig[p[i] >> 4];
		out->p[out->len++] = (uint8_t)hexdig[p[i] & 15];
	}
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int tb_hex_decode(struct tb_bytes *out, const char *s, size_t n)
{
	if (n % 2)
		return TB_ERR_INVALID;
	int err = tb_bytes_reserve(out, n / 2);
	if (err)
		return err;
	for (size_t i = 0; i < n; i += 2) {
		int hi = hexval(s[i]), lo = hexval(s[i + 1]);
		if (hi < 0 || lo < 0)
			return TB_ERR_INVALID;
		out->p[out->len++] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static const char b64std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64_encode(struct tb_bytes *out, const uint8_t *p, size_t n, const char *alpha, int pad)
{
	if (n > SIZE_MAX / 2)
		return TB_ERR_TOO_LARGE;
	int err = tb_bytes_reserve(out, (n + 2) / 3 * 4);
	if (err)
		return err;
	size_t i = 0;
	uint8_t *o = out->p + out->len;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = (uint8_t)alpha[v >> 18];
		*o++ = (uint8_t)alpha[(v >> 12) & 63];
		*o++ = (uint8_t)alpha[(v >> 6) & 63];
		*o++ = (uint8_t)alpha[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		*o++ = (uint8_t)alpha[v >> 18];
		*o++ = (uint8_t)alpha[(v >> 12) & 63];
		if (pad) {
			*o++ = '=';
			*o++ = '=';
		}
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		*o++ = (uint8_t)alpha[v >> 18];
		*o++ = (uint8_t)alpha[(v >> 12) & 63];
		*o++ = (uint8_t)alpha[(v >> 6) & 63];
		if (pad)
			*o++ = '=';
	}
	out->len = (size_t)(o - out->p);
	return 0;
}

static int b64_decode(struct tb_bytes *out, const char *s, size_t n, const char *alpha, int padded)
{
	int8_t map[256];
	memset(map, -1, sizeof map);
	for (int i = 0; i < 64; i++)
		map[(uint8_t)alpha[i]] = (int8_t)i;
	if (padded) {
		if (n % 4)
			return TB_ERR_INVALID;
		if (n && s[n - 1] == '=')
			n--;
		if (n && s[n - 1] == '=')
			n--;
	}
	if (n % 4 == 1)
		return TB_ERR_INVALID;
	int err = tb_bytes_reserve(out, n / 4 * 3 + 3);
	if (err)
		return err;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int8_t v = map[(uint8_t)s[i]];
		if (v < 0)
			return TB_ERR_INVALID;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out->p[out->len++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0) /* non-canonical trailing bits */
		return TB_ERR_INVALID;
	return 0;
}

int tb_base64_encode(struct tb_bytes *out, const uint8_t *p, size_t n)
{
	return b64_encode(out, p, n, b64std, 1);
}

int tb_base64_decode(struct tb_bytes *out, const char *s, size_t n)
{
	return b64_decode(out, s, n, b64std, 1);
}

int tb_base64url_encode(struct tb_bytes *out, const uint8_t *p, size_t n)
{
	return b64_encode(out, p, n, b64url, 0);
}

int tb_base64url_decode(struct tb_bytes *out, const char *s, size_t n)
{
	return b64_decode(out, s, n, b64url, 0);
}

int tb_memeq_ct(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t d = 0;
	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d != 0;
}

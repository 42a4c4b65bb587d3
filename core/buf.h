/*
 * Bytes. One slice type (struct tb_buf) for every byte string that crosses a
 * function boundary, a growable writer (struct tb_bytes) and a bounded reader
 * (struct tb_reader) for the TLS presentation language that CT, DAP and HPKE
 * use: big-endian integers and length-prefixed vectors. The reader never
 * reads past its end; every read returns 0 or TB_ERR_TRUNCATED.
 */
#ifndef TB_BUF_H
#define TB_BUF_H

#include <stddef.h>
#include <stdint.h>

/* A borrowed slice: the owner frees p, if anyone does. */
struct tb_buf {
	uint8_t *p;
	size_t len;
};

#define TB_BUF(ptr, n) ((struct tb_buf){ (uint8_t *)(ptr), (n) })
#define TB_BUF_STR(s) ((struct tb_buf){ (uint8_t *)(s), sizeof(s) - 1 })

/* A growable, owned byte string. Zero-initialise, append, tb_bytes_free. */
struct tb_bytes {
	uint8_t *p;
	size_t len;
	size_t cap;
	int err; /* sticky: set to TB_ERR_NOMEM on the first failed append */
};

int tb_bytes_reserve(struct tb_bytes *b, size_t extra);
int tb_bytes_append(struct tb_bytes *b, const void *p, size_t n);
int tb_bytes_u8(struct tb_bytes *b, uint8_t v);
int tb_bytes_u16(struct tb_bytes *b, uint16_t v);
int tb_bytes_u24(struct tb_bytes *b, uint32_t v);
int tb_bytes_u32(struct tb_bytes *b, uint32_t v);
int tb_bytes_u64(struct tb_bytes *b, uint64_t v);
/* Appends a vector with a big-endian length prefix of prefix_len (1, 2, 3 or 4) bytes. */
int tb_bytes_vec(struct tb_bytes *b, int prefix_len, const void *p, size_t n);
/*
 * Starts a vector whose length is not known yet: writes a zero prefix and
 * returns its offset in *mark; tb_bytes_vec_end patches it (TB_ERR_TOO_LARGE
 * if the content does not fit the prefix).
 */
int tb_bytes_vec_begin(struct tb_bytes *b, int prefix_len, size_t *mark);
int tb_bytes_vec_end(struct tb_bytes *b, int prefix_len, size_t mark);
int tb_bytes_printf(struct tb_bytes *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* NUL-terminates without counting the NUL in len; returns the string or NULL. */
char *tb_bytes_cstr(struct tb_bytes *b);
struct tb_buf tb_bytes_buf(const struct tb_bytes *b);
void tb_bytes_free(struct tb_bytes *b);

/*
 * Reads a whole file into out (appended; the caller frees it). Refuses, with
 * TB_ERR_TOO_LARGE, a file longer than max_bytes without reading more than
 * max_bytes + 1 bytes of it, so a configured path that names something huge
 * (or endless, like a device) cannot exhaust memory. A missing or unreadable
 * file is -errno; on any error out keeps its previous length. An empty file is 0 with
 * out->len == 0.
 */
int tb_read_file(const char *path, size_t max_bytes, struct tb_bytes *out);

/* A bounded reader over a borrowed slice. */
struct tb_reader {
	const uint8_t *p;
	size_t len;
	size_t off;
};

#define TB_READER(ptr, n) ((struct tb_reader){ (const uint8_t *)(ptr), (n), 0 })

static inline size_t tb_reader_left(const struct tb_reader *r)
{
	return r->len - r->off;
}

int tb_read_u8(struct tb_reader *r, uint8_t *v);
int tb_read_u16(struct tb_reader *r, uint16_t *v);
int tb_read_u24(struct tb_reader *r, uint32_t *v);
int tb_read_u32(struct tb_reader *r, uint32_t *v);
int tb_read_u64(struct tb_reader *r, uint64_t *v);
/* Borrows the next n bytes. */
int tb_read_bytes(struct tb_reader *r, size_t n, struct tb_buf *out);
/* Borrows a vector with a prefix_len-byte big-endian length prefix. */
int tb_read_vec(struct tb_reader *r, int prefix_len, struct tb_buf *out);
/* Returns TB_ERR_TRAILING unless every byte was consumed. */
int tb_read_end(const struct tb_reader *r);

/* Encodings. Output lengths: hex 2n, base64 4*ceil(n/3), base64url (no pad) ceil(4n/3). */
int tb_hex_encode(struct tb_bytes *out, const uint8_t *p, size_t n);
int tb_hex_decode(struct tb_bytes *out, const char *s, size_t n);
int tb_base64_encode(struct tb_bytes *out, const uint8_t *p, size_t n);
int tb_base64_decode(struct tb_bytes *out, const char *s, size_t n);
int tb_base64url_encode(struct tb_bytes *out, const uint8_t *p, size_t n);
/* Strict: rejects padding, whitespace and non-zero trailing bits. */
int tb_base64url_decode(struct tb_bytes *out, const char *s, size_t n);

/* Constant-time comparison of equal-length byte strings: 0 when equal. */
int tb_memeq_ct(const void *a, const void *b, size_t n);

#endif

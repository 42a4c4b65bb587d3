/*
 * DESIGN: RFC 1035 section 5 master files.
 *
 * A tokenizer turns the text into logical records: parentheses join lines,
 * ';' starts a comment, "..." is one token (escapes kept raw for the field
 * decoder), and a line that starts with blank space inherits the previous
 * owner. Each record is then: [owner] [TTL] [class] type RDATA, with TTL and
 * class in either order and optional; the RDATA tokens go to
 * dns_rdata_from_text. $ORIGIN and $TTL are honoured; $INCLUDE is refused
 * (zones come from one file or one config string, so no path ever escapes the
 * operator's choice). Every error names line and column. Bounds: tokens per
 * record (DNS_ZONE_TOKENS_MAX) and records per file (DNS_ZONE_RECORDS_MAX).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "dns/dns.h"

struct lexer {
	const char *s;
	size_t len, pos;
	unsigned line, col;
	int paren;
};

struct record {
	struct dns_tok tok[DNS_ZONE_TOKENS_MAX];
	size_t n;
	int indented;       /* the first line began with blank space */
	unsigned line;      /* line where the record starts */
};

static int fail(struct dns_zone_error *err, unsigned line, unsigned col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct dns_zone_error *err, unsigned line, unsigned col, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		err->line = line;
		err->col = col;
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return TB_ERR_INVALID;
}

static void advance(struct lexer *lx)
{
	if (lx->s[lx->pos] == '\n') {
		lx->line++;
		lx->col = 1;
	} else {
		lx->col++;
	}
	lx->pos++;
}

/* Reads the next logical record. Returns 1 when one was read, 0 at end, or an error. */
static int next_record(struct lexer *lx, struct record *rec, struct dns_zone_error *err)
{
	rec->n = 0;
	rec->indented = 0;
	for (;;) {
		int at_line_start = lx->col == 1;
		if (lx->pos >= lx->len) {
			if (lx->paren)
				return fail(err, lx->line, lx->col, "unbalanced '(' at end of file");
			return rec->n > 0;
		}
		char c = lx->s[lx->pos];
		if (c == '\n') {
			advance(lx);
			if (!lx->paren && rec->n > 0)
				return 1;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\r') {
			if (at_line_start && rec->n == 0 && !lx->paren)
				rec->indented = 1;
			advance(lx);
			continue;
		}
		if (c == ';') {
			while (lx->pos < lx->len && lx->s[lx->pos] != '\n')
				advance(lx);
			continue;
		}
		if (c == '(') {
			if (++lx->paren > 1)
				return fail(err, lx->line, lx->col, "nested '('");
			advance(lx);
			continue;
		}
		if (c == ')') {
			if (--lx->paren < 0)
				return fail(err, lx->line, lx->col, "')' without '('");
			advance(lx);
			continue;
		}
		if (rec->n >= DNS_ZONE_TOKENS_MAX)
			return fail(err, lx->line, lx->col, "too many fields in one record (max %d)",
				DNS_ZONE_TOKENS_MAX);
		if (rec->n == 0)
			rec->line = lx->line;
		struct dns_tok *t = &rec->tok[rec->n];
		t->line = lx->line;
		t->col = lx->col;
		if (c == '"') {
			advance(lx);
			size_t start = lx->pos;
			for (;;) {
				if (lx->pos >= lx->len || lx->s[lx->pos] == '\n')
					return fail(err, t->line, t->col, "unterminated quoted string");
				char d = lx->s[lx->pos];
				if (d == '"')
					break;
				if (d == '\\' && lx->pos + 1 < lx->len && lx->s[lx->pos + 1] != '\n')
					advance(lx);
				advance(lx);
			}
			t->p = lx->s + start;
			t->len = lx->pos - start;
			t->quoted = 1;
			advance(lx); /* closing quote */
		} else {
			size_t start = lx->pos;
			while (lx->pos < lx->len) {
				char d = lx->s[lx->pos];
				if (d == ' ' || d == '\t' || d == '\r' || d == '\n' || d == ';' ||
					d == '(' || d == ')' || d == '"')
					break;
				if (d == '\\' && lx->pos + 1 < lx->len && lx->s[lx->pos + 1] != '\n')
					advance(lx);
				advance(lx);
			}
			t->p = lx->s + start;
			t->len = lx->pos - start;
			t->quoted = 0;
		}
		rec->n++;
	}
}

/* TTL: seconds, or BIND units (1w2d3h4m5s), see dns_ttl_from_text. */
static int parse_ttl(const struct dns_tok *t, uint32_t *out)
{
	if (t->quoted)
		return TB_ERR_INVALID;
	return dns_ttl_from_text(t->p, t->len, out);
}

static int tok_is(const struct dns_tok *t, const char *lit)
{
	size_t n = strlen(lit);
	if (t->len != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = t->p[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 32);
		if (c != lit[i])
			return 0;
	}
	return 1;
}

int dns_zonefile_parse(const char *text, size_t len, const uint8_t *origin_in, uint32_t default_ttl,
	dns_zone_rr_cb cb, void *arg, struct dns_zone_error *err)
{
	struct lexer lx = { text, len, 0, 1, 1, 0 };
	struct record *rec = malloc(sizeof *rec); /* about 32 KiB: not on the stack */
	uint8_t origin[DNS_NAME_MAX], owner[DNS_NAME_MAX];
	int have_origin = 0, have_owner = 0, have_dollar_ttl = 0, have_last_ttl = 0;
	uint32_t dollar_ttl = 0, last_ttl = 0;
	uint16_t last_class = DNS_C_IN;
	size_t records = 0;
	struct tb_bytes rdata = { 0 };
	int ret = 0;

	if (err)
		memset(err, 0, sizeof *err);
	if (!rec)
		return TB_ERR_NOMEM;
	if (origin_in) {
		int ol = dns_name_len(origin_in, DNS_NAME_MAX);
		if (ol < 0) {
			free(rec);
			return fail(err, 0, 0, "bad origin");
		}
		memcpy(origin, origin_in, (size_t)ol);
		have_origin = 1;
	}
	for (;;) {
		int r = next_record(&lx, rec, err);
		if (r < 0) {
			ret = r;
			break;
		}
		if (r == 0)
			break;
		const struct dns_tok *t = rec->tok;
		size_t n = rec->n, i = 0;
		if (!rec->indented && t[0].len > 0 && t[0].p[0] == '$' && !t[0].quoted) {
			if (tok_is(&t[0], "$ORIGIN")) {
				size_t nl;
				if (n != 2) {
					ret = fail(err, t[0].line, t[0].col, "$ORIGIN takes one name");
					break;
				}
				uint8_t tmp[DNS_NAME_MAX];
				if (dns_name_from_text(t[1].p, t[1].len, have_origin ? origin : NULL,
					    tmp, &nl)) {
					ret = fail(err, t[1].line, t[1].col, "bad $ORIGIN name");
					break;
				}
				memcpy(origin, tmp, nl);
				have_origin = 1;
				continue;
			}
			if (tok_is(&t[0], "$TTL")) {
				if (n != 2 || parse_ttl(&t[1], &dollar_ttl)) {
					ret = fail(err, t[0].line, t[0].col, "$TTL takes one TTL value");
					break;
				}
				have_dollar_ttl = 1;
				continue;
			}
			if (tok_is(&t[0], "$INCLUDE")) {
				ret = fail(err, t[0].line, t[0].col, "$INCLUDE is not supported");
				break;
			}
			ret = fail(err, t[0].line, t[0].col, "unknown directive %.*s",
				(int)(t[0].len > 32 ? 32 : t[0].len), t[0].p);
			break;
		}
		/* owner */
		if (!rec->indented) {
			size_t nl;
			uint8_t tmp[DNS_NAME_MAX];
			if (dns_name_from_text(t[0].p, t[0].len, have_origin ? origin : NULL, tmp, &nl)) {
				ret = fail(err, t[0].line, t[0].col,
					have_origin ? "bad owner name" : "bad owner name (relative name without $ORIGIN?)");
				break;
			}
			memcpy(owner, tmp, nl);
			have_owner = 1;
			i = 1;
		} else if (!have_owner) {
			ret = fail(err, t[0].line, t[0].col, "record without owner name");
			break;
		}
		/* [TTL] [class] in either order */
		int got_ttl = 0, got_class = 0;
		uint32_t ttl = 0;
		uint16_t cls = last_class;
		for (int k = 0; k < 2 && i < n; k++) {
			uint32_t v;
			int c;
			if (!got_ttl && parse_ttl(&t[i], &v) == 0) {
				ttl = v;
				got_ttl = 1;
				i++;
			} else if (!got_class && !t[i].quoted &&
				   (c = dns_class_from_str(t[i].p, t[i].len)) >= 0) {
				cls = (uint16_t)c;
				got_class = 1;
				i++;
			}
		}
		if (i >= n) {
			ret = fail(err, rec->line, t[n - 1].col, "record without type");
			break;
		}
		int type = t[i].quoted ? -1 : dns_type_from_str(t[i].p, t[i].len);
		if (type < 0 || type == DNS_T_OPT || type == DNS_T_ANY || type == DNS_T_AXFR ||
			type == DNS_T_IXFR || type == DNS_T_TSIG || type == DNS_T_TKEY) {
			ret = fail(err, t[i].line, t[i].col, "unknown or meta type %.*s",
				(int)(t[i].len > 32 ? 32 : t[i].len), t[i].p);
			break;
		}
		i++;
		if (got_ttl) {
			last_ttl = ttl;
			have_last_ttl = 1;
		} else if (have_dollar_ttl) {
			ttl = dollar_ttl;
		} else if (have_last_ttl) {
			ttl = last_ttl;
		} else {
			ttl = default_ttl;
		}
		last_class = cls;
		rdata.len = 0;
		size_t bad = 0;
		const char *why = NULL;
		int e = dns_rdata_from_text((uint16_t)type, t + i, n - i, have_origin ? origin : NULL,
			&rdata, &bad, &why);
		if (e) {
			const struct dns_tok *bt = (i + bad < n) ? &t[i + bad] : &t[n - 1];
			ret = fail(err, bt->line, bt->col, "%s", why ? why : "bad RDATA");
			break;
		}
		if (++records > DNS_ZONE_RECORDS_MAX) {
			ret = fail(err, rec->line, 1, "too many records (max %d)", DNS_ZONE_RECORDS_MAX);
			break;
		}
		struct dns_rr rr = { owner, (uint16_t)type, cls, ttl, rdata.p, (uint16_t)rdata.len };
		if (!rdata.p)
			rr.rdata = (const uint8_t *)"";
		int cr = cb ? cb(arg, &rr) : 0;
		if (cr) {
			ret = cr < 0 ? cr : TB_ERR_CANCELED;
			if (err && !err->msg[0]) {
				err->line = rec->line;
				err->col = 1;
				snprintf(err->msg, sizeof err->msg, "record refused: %s", tb_strerror(ret));
			}
			break;
		}
	}
	tb_bytes_free(&rdata);
	free(rec);
	return ret;
}

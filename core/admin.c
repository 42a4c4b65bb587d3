/*
 * The admin API's access check, its token file and the helpers its handlers
 * share (core/admin.h).
 */
#include "core/admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/log.h"

/* The process's token; empty until loaded. Read on the loop thread only. */
static char token[TB_ADMIN_TOKEN_LEN + 1];

void tb_admin_token_set(const char *t)
{
	memset(token, 0, sizeof token);
	if (t)
		snprintf(token, sizeof token, "%s", t);
}

static int base64url_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		ch == '_';
}

/* The file's text without its trailing line end must be exactly one token. */
static int parse_token(const struct tb_bytes *b, char *out)
{
	size_t n = b->len;
	while (n > 0 && (b->p[n - 1] == '\n' || b->p[n - 1] == '\r'))
		n--;
	if (n != TB_ADMIN_TOKEN_LEN)
		return TB_ERR_INVALID;
	for (size_t i = 0; i < n; i++)
		if (!base64url_char((char)b->p[i]))
			return TB_ERR_INVALID;
	memcpy(out, b->p, n);
	out[n] = 0;
	return 0;
}

static int create_token(const char *path, char *out)
{
	uint8_t raw[32];
	struct tb_bytes enc = { 0 };
	int err = tb_random(raw, sizeof raw);
	if (!err)
		err = tb_base64url_encode(&enc, raw, sizeof raw);
	sodium_memzero(raw, sizeof raw);
	if (err || enc.len != TB_ADMIN_TOKEN_LEN) {
		tb_bytes_free(&enc);
		return err ? err : TB_ERR_CRYPTO;
	}
	memcpy(out, enc.p, TB_ADMIN_TOKEN_LEN);
	out[TB_ADMIN_TOKEN_LEN] = 0;
	sodium_memzero(enc.p, enc.len);
	tb_bytes_free(&enc);
	/* O_EXCL: two processes starting at once must not end up with different tokens. */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	char line[TB_ADMIN_TOKEN_LEN + 1];
	memcpy(line, out, TB_ADMIN_TOKEN_LEN);
	line[TB_ADMIN_TOKEN_LEN] = '\n';
	ssize_t w = write(fd, line, sizeof line);
	int rc = w == (ssize_t)sizeof line && fsync(fd) == 0 ? 0 : (errno ? -errno : TB_ERR_IO);
	close(fd);
	if (rc)
		unlink(path);
	return rc;
}

int tb_admin_token_load(const char *data_dir, char *out, size_t cap)
{
	char path[4096];
	int n = snprintf(path, sizeof path, "%s/" TB_ADMIN_TOKEN_FILE, data_dir);
	if (n < 0 || (size_t)n >= sizeof path)
		return TB_ERR_TOO_LARGE;
	/* The directories of the path, as the store makes them (the command may run before the first start). */
	for (char *q = path + 1; *q; q++) {
		if (*q != '/')
			continue;
		*q = 0;
		int rc = mkdir(path, 0700) != 0 && errno != EEXIST ? -errno : 0;
		*q = '/';
		if (rc)
			return rc;
	}
	char t[TB_ADMIN_TOKEN_LEN + 1];
	struct tb_bytes b = { 0 };
	int err = tb_read_file(path, 256, &b);
	if (err == -ENOENT) {
		err = create_token(path, t);
		if (err == -EEXIST) /* created by a process that started at the same time */
			err = tb_read_file(path, 256, &b);
		else if (!err)
			TB_INFO("core", "created the admin API token in %s (trustbox admin token prints it)", path);
	}
	if (!err && b.p)
		err = parse_token(&b, t);
	if (b.p)
		sodium_memzero(b.p, b.len);
	tb_bytes_free(&b);
	if (err)
		return err == TB_ERR_TOO_LARGE ? TB_ERR_INVALID : err;
	struct stat st;
	if (stat(path, &st) == 0 && (st.st_mode & 077))
		TB_WARN("core", "%s is readable by others (mode %03o); chmod 600 it", path,
			(unsigned)(st.st_mode & 0777));
	tb_admin_token_set(t);
	if (out && cap > TB_ADMIN_TOKEN_LEN)
		memcpy(out, t, TB_ADMIN_TOKEN_LEN + 1);
	sodium_memzero(t, sizeof t);
	return 0;
}

int tb_admin_address_is_loopback(const char *address)
{
	uint8_t a[16];
	if (!address)
		return 0;
	if (inet_pton(AF_INET, address, a) == 1)
		return a[0] == 127;
	if (inet_pton(AF_INET6, address, a) != 1)
		return 0;
	static const uint8_t one[16] = { [15] = 1 };
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	return memcmp(a, one, 16) == 0 || (memcmp(a, mapped, 12) == 0 && a[12] == 127);
}

int tb_admin_authorize(unsigned flags, int loopback, const char *authorization)
{
	if (!(flags & (TB_ROUTE_ADMIN_READ | TB_ROUTE_ADMIN_WRITE)))
		return 0;
	if (!(flags & TB_ROUTE_ADMIN_WRITE) && loopback)
		return 0;
	/* RFC 6750 2.1: "Bearer" (case-insensitive), one or more spaces, the token. */
	if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
		return 401;
	const char *v = authorization + 7;
	while (*v == ' ')
		v++;
	size_t n = strlen(v);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n == 0)
		return 401;
	/*
	 * The length is no secret (every token has TB_ADMIN_TOKEN_LEN characters);
	 * the bytes are compared in constant time so that timing tells nothing
	 * about how much of a guess was right.
	 */
	if (token[0] == 0 || n != TB_ADMIN_TOKEN_LEN)
		return 403;
	return tb_memeq_ct(v, token, TB_ADMIN_TOKEN_LEN) == 0 ? 0 : 403;
}

static const char *kind_title(const char *kind)
{
	static const struct {
		const char *kind, *title;
	} titles[] = {
		{ "unauthorized", "Authentication required" },
		{ "forbidden", "Wrong credentials" },
		{ "notFound", "Not found" },
		{ "malformed", "Malformed request" },
		{ "conflict", "Conflict" },
		{ "unavailable", "Unavailable" },
	};
	for (size_t i = 0; i < sizeof titles / sizeof titles[0]; i++)
		if (strcmp(titles[i].kind, kind) == 0)
			return titles[i].title;
	return "Error";
}

int tb_admin_problem(struct tb_http_request *req, int status, const char *kind, const char *detail)
{
	cJSON *j = cJSON_CreateObject();
	char type[96];
	snprintf(type, sizeof type, "urn:trustbox:admin:%s", kind);
	if (!j || !cJSON_AddStringToObject(j, "type", type) ||
		!cJSON_AddStringToObject(j, "title", kind_title(kind)) ||
		!cJSON_AddNumberToObject(j, "status", status) ||
		!cJSON_AddStringToObject(j, "detail", detail ? detail : "")) {
		cJSON_Delete(j);
		return TB_ERR_NOMEM;
	}
	char *s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (!s)
		return TB_ERR_NOMEM;
	int rc = tb_http_respond(req, status, "application/problem+json", s, strlen(s));
	cJSON_free(s);
	return rc;
}

int tb_admin_route_error(struct tb_http_request *req, int status, void *state)
{
	(void)state;
	if (status == 405)
		return tb_admin_problem(req, 405, "malformed", "method not allowed on this resource");
	return tb_admin_problem(req, 404, "notFound", "no such resource");
}

int tb_admin_deny(struct tb_http_request *req, int status)
{
	if (status == 401) {
		tb_http_set_header(req, "WWW-Authenticate", "Bearer realm=\"trustbox admin\"");
		return tb_admin_problem(req, 401, "unauthorized",
			"this route needs Authorization: Bearer <token> (trustbox admin token prints it)");
	}
	tb_http_set_header(req, "WWW-Authenticate", "Bearer realm=\"trustbox admin\", error=\"invalid_token\"");
	return tb_admin_problem(req, 403, "forbidden", "the bearer token is not this instance's admin token");
}

int tb_admin_page_get(struct tb_http_request *req, struct tb_admin_page *pg)
{
	pg->limit = TB_ADMIN_PAGE_DEFAULT;
	pg->cursor = tb_http_query_param(req, "cursor");
	if (pg->cursor && !*pg->cursor)
		pg->cursor = NULL;
	const char *l = tb_http_query_param(req, "limit");
	if (!l)
		return 0;
	unsigned long long v = 0;
	size_t i = 0;
	for (; l[i] >= '0' && l[i] <= '9' && i < 12; i++)
		v = v * 10 + (unsigned)(l[i] - '0');
	if (i == 0 || l[i] || v == 0) {
		tb_admin_problem(req, 400, "malformed", "limit must be a positive integer (at most 500 are returned)");
		return -1;
	}
	pg->limit = v > TB_ADMIN_PAGE_MAX ? TB_ADMIN_PAGE_MAX : (unsigned)v;
	return 0;
}

int tb_admin_cursor_int(const struct tb_admin_page *pg, int64_t *out)
{
	*out = 0;
	if (!pg->cursor)
		return 0;
	int64_t v = 0;
	size_t i = 0;
	for (; pg->cursor[i] >= '0' && pg->cursor[i] <= '9'; i++) {
		if (i >= 18)
			return -1;
		v = v * 10 + (pg->cursor[i] - '0');
	}
	if (i == 0 || pg->cursor[i])
		return -1;
	*out = v;
	return 0;
}

int tb_admin_respond(struct tb_http_request *req, int status, cJSON *json)
{
	if (!json)
		return TB_ERR_NOMEM;
	int rc = tb_http_respond_json(req, status, json);
	cJSON_Delete(json);
	return rc;
}

int tb_admin_respond_list(struct tb_http_request *req, cJSON *items, const char *next)
{
	cJSON *j = cJSON_CreateObject();
	if (!j || !items) {
		cJSON_Delete(j);
		cJSON_Delete(items);
		return TB_ERR_NOMEM;
	}
	cJSON_AddItemToObject(j, "items", items);
	if (!(next ? cJSON_AddStringToObject(j, "next", next) : cJSON_AddNullToObject(j, "next"))) {
		cJSON_Delete(j);
		return TB_ERR_NOMEM;
	}
	return tb_admin_respond(req, 200, j);
}

const char *tb_admin_time(int64_t unix_s, char *buf, size_t cap)
{
	time_t t = (time_t)unix_s;
	struct tm tm;
	if (!gmtime_r(&t, &tm) || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		if (cap)
			buf[0] = 0;
	}
	return buf;
}

cJSON *tb_admin_add_time(cJSON *obj, const char *name, int64_t unix_s)
{
	if (unix_s <= 0)
		return cJSON_AddNullToObject(obj, name);
	char buf[40];
	return cJSON_AddStringToObject(obj, name, tb_admin_time(unix_s, buf, sizeof buf));
}

int tb_admin_json_body(struct tb_http_request *req, cJSON **out)
{
	*out = NULL;
	if (req->body.len == 0) {
		*out = cJSON_CreateObject();
		return *out ? 0 : TB_ERR_NOMEM;
	}
	cJSON *j = cJSON_ParseWithLength((const char *)req->body.p, req->body.len);
	if (!j || !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		tb_admin_problem(req, 400, "malformed", "the body must be a JSON object");
		return -1;
	}
	*out = j;
	return 0;
}

void tb_admin_log_write(const struct tb_http_request *req, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	TB_INFO("admin", "%s %s from %s on %s: %s", req->method, req->route ? req->route : req->path,
		req->remote, req->listener, what);
}

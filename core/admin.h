/*
 * The admin API's core: who may call it, and the few helpers every
 * subsystem's /api/v1/... handlers share (problem documents, paging,
 * timestamps, JSON bodies, the log line of a write). docs/api.md is the
 * contract seen from outside.
 *
 * Access. A route opts in with a flag in its table entry (core/http.h):
 *   TB_ROUTE_ADMIN_READ   open on loopback listeners (bound to 127.0.0.0/8
 *                         or ::1), a bearer token needed on every other
 *   TB_ROUTE_ADMIN_WRITE  a bearer token needed everywhere
 * Core checks the flag when the request's headers are complete, before any
 * body is read: no "Authorization: Bearer ..." is a 401 with
 * "WWW-Authenticate: Bearer", a wrong token a 403 (compared in constant
 * time); the connection is closed after either, since the body was not read.
 * Handlers of flagged routes therefore only run for authorised callers.
 *
 * The token: 32 random bytes, base64url without padding, created on first
 * start in <data_dir>/admin.token (mode 0600) and printed by
 * `trustbox admin token`. One token per process; without one (never loaded)
 * every flagged request that needs it is refused with 403.
 */
#ifndef TB_ADMIN_H
#define TB_ADMIN_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "core/http.h"

#define TB_ADMIN_TOKEN_FILE "admin.token"
#define TB_ADMIN_TOKEN_LEN 43 /* base64url of 32 bytes, no padding */

/* Paging: ?limit=N (default and ceiling) and ?cursor=OPAQUE. */
#define TB_ADMIN_PAGE_DEFAULT 50u
#define TB_ADMIN_PAGE_MAX 500u

/* ---- The token ---- */

/*
 * Reads <data_dir>/admin.token, creating it (and data_dir) when missing, and
 * makes it the process's token. out (at least TB_ADMIN_TOKEN_LEN + 1 bytes)
 * receives it when not NULL. Returns 0, TB_ERR_INVALID (a file that holds
 * no well-formed token: refused, never replaced), TB_ERR_TOO_LARGE (path) or
 * a negative errno.
 */
int tb_admin_token_load(const char *data_dir, char *out, size_t cap);
/* Sets the process's token (tests; NULL: none). */
void tb_admin_token_set(const char *token);

/*
 * The access decision for a route with these flags: 0 (go on), 401 (no
 * bearer credentials) or 403 (wrong token). loopback: the request came in on
 * a listener bound to a loopback address. authorization: the request's
 * Authorization header or NULL.
 */
int tb_admin_authorize(unsigned flags, int loopback, const char *authorization);
/* Whether an address literal ("127.0.0.1", "::1") is loopback (127.0.0.0/8, ::1, ::ffff:127.x). */
int tb_admin_address_is_loopback(const char *address);
/* Core's 401 (with WWW-Authenticate: Bearer) or 403 for a refused request. */
int tb_admin_deny(struct tb_http_request *req, int status);

/* ---- Handlers' helpers ---- */

/*
 * application/problem+json {"type":"urn:trustbox:admin:<kind>","title",
 * "status","detail"}; kind: unauthorized, forbidden, notFound, malformed,
 * conflict, unavailable (title from the kind).
 */
int tb_admin_problem(struct tb_http_request *req, int status, const char *kind, const char *detail);

/* The error renderer of admin route tables: core's 404 and 405 as admin problem documents. */
int tb_admin_route_error(struct tb_http_request *req, int status, void *state);

struct tb_admin_page {
	unsigned limit;           /* 1..TB_ADMIN_PAGE_MAX; a larger limit is clamped */
	const char *cursor;       /* the opaque "next" of the previous page, or NULL */
};
/*
 * Reads ?limit= and ?cursor=. Returns 0, or -1 after having answered 400
 * (limit not a positive integer); the handler then returns 0.
 */
int tb_admin_page_get(struct tb_http_request *req, struct tb_admin_page *pg);
/* The cursor as a non-negative integer (the usual "last id"); 0 and *out = 0 when absent; -1 when malformed. */
int tb_admin_cursor_int(const struct tb_admin_page *pg, int64_t *out);
/* {"items": items, "next": next or null}; takes items (freed here). */
int tb_admin_respond_list(struct tb_http_request *req, cJSON *items, const char *next);
/* 200 application/json; takes json (freed here). */
int tb_admin_respond(struct tb_http_request *req, int status, cJSON *json);

/* RFC 3339 UTC ("2026-12-02T16:50:00Z") of a Unix time in seconds, into buf (>= 21 bytes). */
const char *tb_admin_time(int64_t unix_s, char *buf, size_t cap);
/* Adds name: the RFC 3339 string, or null when unix_s <= 0. NULL on allocation failure. */
cJSON *tb_admin_add_time(cJSON *obj, const char *name, int64_t unix_s);

/*
 * The request body as a JSON object. Returns 0 with *out (the caller frees),
 * or -1 after having answered 400; an empty body is an empty object.
 */
int tb_admin_json_body(struct tb_http_request *req, cJSON **out);

/* The INFO line of an admin write: "<method> <route> from <remote>: <what>". */
void tb_admin_log_write(const struct tb_http_request *req, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif

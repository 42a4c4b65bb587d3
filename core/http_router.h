/*
 * The router of the HTTP server (core/http.c) and its per-route metrics,
 * apart from the connection machinery: route tables mounted under prefixes
 * (tb_http_mount), the matching
 * that decides handler, 404 or 405 once for every subsystem, and the
 * Prometheus series labelled by route. Internal to core: the public
 * contract, matching rules included, is in core/http.h.
 */
#ifndef TB_HTTP_ROUTER_H
#define TB_HTTP_ROUTER_H

#include "core/http.h"

struct tb_http_router;
struct tb_http_series; /* the counters and histogram of one route label */

/* What the router decided for one request. */
struct tb_http_match {
	tb_http_handler fn;           /* the handler, or NULL for a miss */
	void *arg;                    /* its argument (a mount's state) */
	int miss;                     /* 404 or 405 when fn is NULL */
	const char *allow;            /* a 405's Allow value (in the arena), or NULL */
	tb_http_error_renderer error; /* words the miss; NULL: core's default */
	void *error_state;
	const char *label;            /* req->route; NULL when no prefix matched */
	struct tb_http_series *series; /* where the request is counted */
	size_t max_body;              /* body limit that applies */
	unsigned flags;               /* the route's TB_ROUTE_* flags (0 for a miss) */
	struct tb_http_path_param params[TB_HTTP_MAX_PARAMS];
	size_t n_params;
};

/* default_max_body: the limit of routes that set none. 0 or TB_ERR_NOMEM. */
int tb_http_router_new(struct tb_http_router **out, size_t default_max_body);
void tb_http_router_free(struct tb_http_router *router);

/* tb_http_mount (core/http.h). */
int tb_http_router_mount(struct tb_http_router *router, const char *listener, const char *prefix,
	const struct tb_http_table *table, void *state);

/*
 * Decides who answers a request with this (decoded) path and method on
 * that listener (NULL: none, as in feed mode); parameters and Allow go to
 * the arena. Returns 0 or TB_ERR_NOMEM.
 */
int tb_http_router_match(const struct tb_http_router *router, const char *listener,
	const char *method, const char *path, struct tb_arena *a, struct tb_http_match *out);

/*
 * tb_http_listen tells the router each listener's address, so that the
 * admin check knows the loopback ones. 0 or TB_ERR_NOMEM.
 */
int tb_http_router_listener(struct tb_http_router *router, const char *name, const char *address);
/*
 * The access check of a matched route's flags (core/admin.h) for a request
 * whose headers are complete: 0 (go on), 401 or 403. Core answers a refusal
 * with tb_admin_deny before reading any body.
 */
int tb_http_router_gate(const struct tb_http_router *router, const struct tb_http_match *m,
	const struct tb_http_request *req);

/* The series of requests that matched no prefix or failed before routing ("none"). */
struct tb_http_series *tb_http_router_none(struct tb_http_router *router);
/* Counts a response (NULL: ignored); h2: it went out over HTTP/2 (the protocol label). */
void tb_http_series_observe(struct tb_http_series *s, int h2, int status, double seconds);
/* tb_http_requests_total and tb_http_request_duration_seconds, every series. */
void tb_http_router_metrics_write(const struct tb_http_router *router, struct tb_bytes *out);

#endif

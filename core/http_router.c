/*
 * DESIGN: the router of the HTTP server (see core/http_router.h; the rules
 * are in core/http.h).
 *
 * - Routes are tables mounted under a prefix, compiled into segments once,
 *   when mounted. The longest covering prefix owns a path.
 * - A request is matched by walking its decoded path once per candidate
 *   pattern of the owning prefix (tables are small): the most specific
 *   pattern that takes the method wins; when patterns match but no method,
 *   the answer is 405 with the union of their methods; else 404. The
 *   decision is made once, here, for every subsystem.
 * - Metrics are one series per label (a pattern, a prefix, or "none"), so
 *   their number is bounded by what was registered, never by what clients
 *   send.
 */
#include "core/http_router.h"

#include <stdlib.h>
#include <string.h>

#include "core/admin.h"
#include "core/error.h"
#include "core/log.h"

#define MAX_ROUTES 512
#define MAX_MOUNTS 64
#define MAX_PATTERN_SEGS 16 /* segments of one table pattern */
#define N_BUCKETS 12

static const double bucket_bounds[N_BUCKETS] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
	0.25, 0.5, 1, 2.5, 10 };

struct tb_http_series {
	char *route;                  /* label value: a pattern, a prefix, or "none" */
	uint64_t by_class[2][6];      /* [protocol: HTTP/1.x, h2][status/100 (1xx..5xx), 0 unused] */
	uint64_t buckets[N_BUCKETS];  /* non-cumulative; summed when written */
	uint64_t count;
	double sum;
	struct tb_http_series *next;
};

/* One segment of a compiled table pattern. */
enum seg_kind {
	SEG_LIT,   /* matches exactly this text (may be empty: a trailing '/') */
	SEG_PARAM, /* "{name}": one non-empty segment */
	SEG_REST,  /* "{name...}", last only: the rest of the path, '/' included, possibly empty */
};

struct seg {
	enum seg_kind kind;
	const char *text; /* the literal, or the parameter's name (points into mroute.buf) */
	size_t len;
};

/* A table route, compiled when mounted. */
struct mroute {
	const struct tb_http_route_def *def; /* borrowed from the static table */
	struct seg segs[MAX_PATTERN_SEGS];
	size_t n_segs;
	char *buf;                /* the pattern, split in place into segment names */
	char *label;              /* prefix + pattern: the metrics label and req->route */
	size_t max_body;
	struct tb_http_series *m;
};

/* A route table mounted under a prefix (tb_http_mount). */
struct mount {
	char *listener;           /* NULL = all */
	char *prefix;             /* as given; the label of the 404s below it */
	size_t plen;              /* prefix length without its trailing '/' */
	const struct tb_http_table *table;
	void *state;
	struct mroute *routes;
	size_t n_routes;
	struct tb_http_series *m;  /* 404s below the prefix */
};

/* A listener's name and whether it is bound to a loopback address (the admin check). */
struct lsn {
	char *name;
	int loopback;
	struct lsn *next;
};

struct tb_http_router {
	size_t default_max_body;
	struct mount *mounts[MAX_MOUNTS];
	size_t n_mounts;
	struct tb_http_series *metrics; /* list; first is "none" */
	struct lsn *listeners;
};

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* ---- Metrics ---- */

static struct tb_http_series *metrics_for(struct tb_http_router *router, const char *route)
{
	for (struct tb_http_series *m = router->metrics; m; m = m->next)
		if (strcmp(m->route, route) == 0)
			return m;
	struct tb_http_series *m = calloc(1, sizeof *m);
	if (!m || !(m->route = strdup(route))) {
		free(m);
		return NULL;
	}
	/* Append so that "none" stays first and output order is registration order. */
	struct tb_http_series **pp = &router->metrics;
	while (*pp)
		pp = &(*pp)->next;
	*pp = m;
	return m;
}

void tb_http_series_observe(struct tb_http_series *m, int h2, int status, double seconds)
{
	if (!m)
		return;
	int cls = status / 100;
	if (cls >= 1 && cls <= 5)
		m->by_class[h2 != 0][cls]++;
	m->count++;
	m->sum += seconds;
	for (size_t i = 0; i < N_BUCKETS; i++) {
		if (seconds <= bucket_bounds[i]) {
			m->buckets[i]++;
			break;
		}
	}
}

static void write_label(struct tb_bytes *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			tb_bytes_printf(out, "\\%c", *s);
		else if (*s == '\n')
			tb_bytes_printf(out, "\\n");
		else
			tb_bytes_u8(out, (uint8_t)*s);
	}
}

void tb_http_router_metrics_write(const struct tb_http_router *router, struct tb_bytes *out)
{
	tb_bytes_printf(out, "# HELP tb_http_requests_total HTTP requests by route and status class.\n"
			     "# TYPE tb_http_requests_total counter\n");
	static const char *const protocols[2] = { "http/1.1", "h2" };
	for (struct tb_http_series *m = router->metrics; m; m = m->next) {
		for (int p = 0; p < 2; p++) {
			for (int cls = 1; cls <= 5; cls++) {
				if (!m->by_class[p][cls])
					continue;
				tb_bytes_printf(out, "tb_http_requests_total{route=\"");
				write_label(out, m->route);
				tb_bytes_printf(out, "\",code=\"%dxx\",protocol=\"%s\"} %llu\n", cls,
					protocols[p], (unsigned long long)m->by_class[p][cls]);
			}
		}
	}
	tb_bytes_printf(out, "# HELP tb_http_request_duration_seconds HTTP request latency.\n"
			     "# TYPE tb_http_request_duration_seconds histogram\n");
	for (struct tb_http_series *m = router->metrics; m; m = m->next) {
		if (!m->count)
			continue;
		uint64_t cum = 0;
		for (size_t i = 0; i < N_BUCKETS; i++) {
			cum += m->buckets[i];
			tb_bytes_printf(out, "tb_http_request_duration_seconds_bucket{route=\"");
			write_label(out, m->route);
			tb_bytes_printf(out, "\",le=\"%g\"} %llu\n", bucket_bounds[i], (unsigned long long)cum);
		}
		tb_bytes_printf(out, "tb_http_request_duration_seconds_bucket{route=\"");
		write_label(out, m->route);
		tb_bytes_printf(out, "\",le=\"+Inf\"} %llu\n", (unsigned long long)m->count);
		tb_bytes_printf(out, "tb_http_request_duration_seconds_sum{route=\"");
		write_label(out, m->route);
		tb_bytes_printf(out, "\"} %.6f\n", m->sum);
		tb_bytes_printf(out, "tb_http_request_duration_seconds_count{route=\"");
		write_label(out, m->route);
		tb_bytes_printf(out, "\"} %llu\n", (unsigned long long)m->count);
	}
}

/*
 * Table routes. A mount covers its prefix and everything below it on
 * segment boundaries; the remainder ("" or "/...") is matched against each
 * route's pattern, segment by segment. Returns 1 on a match and then, when
 * out is given, stores the parameters in it (0 when they do not fit the arena).
 */
static int pattern_match(const struct mroute *mr, const char *rest, struct tb_arena *a,
	struct tb_http_match *out)
{
	const char *p = rest;
	size_t np = 0;
	for (size_t i = 0; i < mr->n_segs; i++) {
		const struct seg *sg = &mr->segs[i];
		if (*p != '/')
			return 0;
		p++;
		size_t n = sg->kind == SEG_REST ? strlen(p) : strcspn(p, "/");
		if (sg->kind == SEG_LIT) {
			if (n != sg->len || memcmp(p, sg->text, n) != 0)
				return 0;
		} else {
			if ((sg->kind == SEG_PARAM && n == 0) || n > TB_HTTP_MAX_PARAM_LEN)
				return 0;
			if (out) {
				const char *v = tb_arena_strndup(a, p, n);
				if (!v)
					return 0;
				out->params[np].name = sg->text;
				out->params[np].value = v;
			}
			np++;
		}
		p += n;
	}
	if (*p != 0)
		return 0;
	if (out)
		out->n_params = np;
	return 1;
}

/* How well a route's method takes the request's: 3 exact, 2 GET for HEAD, 1 any, 0 not at all. */
static int method_rank(const char *route_method, const char *method)
{
	if (!route_method)
		return 1;
	if (strcmp(route_method, method) == 0)
		return 3;
	if (strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0)
		return 2;
	return 0;
}

/*
 * Of two patterns that match the same path, the more specific one: compared
 * segment by segment, a literal beats a parameter beats a rest wildcard.
 * <0 when a is more specific, >0 when b is, 0 when they are alike.
 */
static int specificity_cmp(const struct mroute *a, const struct mroute *b)
{
	for (size_t i = 0; i < a->n_segs && i < b->n_segs; i++)
		if (a->segs[i].kind != b->segs[i].kind)
			return (int)a->segs[i].kind - (int)b->segs[i].kind;
	return 0;
}

static int listener_ok(const char *route_listener, const char *listener)
{
	return !route_listener || (listener && strcmp(route_listener, listener) == 0);
}

static int mount_covers(const struct mount *m, const char *path)
{
	return strncmp(path, m->prefix, m->plen) == 0 && (path[m->plen] == 0 || path[m->plen] == '/');
}

/* "GET, HEAD, POST": the methods of the routes that match the path, HEAD added after GET. */
static const char *allow_of(struct tb_arena *a, struct mount **group, size_t n_group, const char *rest)
{
	const char *seen[32];
	size_t n = 0;
	int head = 0;
	for (size_t g = 0; g < n_group; g++) {
		for (size_t i = 0; i < group[g]->n_routes; i++) {
			const struct mroute *mr = &group[g]->routes[i];
			const char *m = mr->def->method;
			if (!m || !pattern_match(mr, rest, NULL, NULL))
				continue;
			size_t k = 0;
			while (k < n && strcmp(seen[k], m) != 0)
				k++;
			if (k < n || n == sizeof seen / sizeof seen[0])
				continue;
			seen[n++] = m;
			head |= strcmp(m, "HEAD") == 0;
		}
	}
	struct tb_bytes b = { 0 };
	for (size_t k = 0; k < n; k++) {
		tb_bytes_printf(&b, "%s%s", b.len ? ", " : "", seen[k]);
		if (!head && strcmp(seen[k], "GET") == 0)
			tb_bytes_printf(&b, ", HEAD");
	}
	const char *s = tb_bytes_cstr(&b) ? tb_arena_strdup(a, (const char *)b.p) : NULL;
	tb_bytes_free(&b);
	return s;
}

/*
 * Decides who answers: a table route or core (404, 405 with Allow). The
 * mount with the longest covering prefix wins; no shorter prefix is
 * consulted after that. Within the mounts of that prefix the most specific pattern that
 * matches path and method wins, an exact method before GET-for-HEAD before
 * any, then the earlier route. Returns 0, or TB_ERR_NOMEM.
 */
int tb_http_router_match(const struct tb_http_router *router, const char *listener,
	const char *method, const char *path, struct tb_arena *a, struct tb_http_match *out)
{
	memset(out, 0, sizeof *out);
	out->series = router->metrics;
	out->max_body = router->default_max_body;
	struct mount *best = NULL;
	for (size_t i = 0; i < router->n_mounts; i++) {
		struct mount *m = router->mounts[i];
		if (listener_ok(m->listener, listener) && mount_covers(m, path) &&
			(!best || m->plen > best->plen))
			best = m;
	}
	if (!best) {
		out->miss = 404;
		return 0;
	}

	/* Every mount with that prefix takes part (several tables may share one). */
	struct mount *mounts[MAX_MOUNTS];
	size_t n_group = 0;
	for (size_t i = 0; i < router->n_mounts; i++) {
		struct mount *m = router->mounts[i];
		if (m->plen == best->plen && listener_ok(m->listener, listener) && mount_covers(m, path))
			mounts[n_group++] = m;
	}
	const char *rest = path + best->plen;
	struct mroute *hit = NULL, *any = NULL;
	struct mount *hit_m = NULL, *any_m = NULL;
	int hit_rank = 0;
	for (size_t g = 0; g < n_group; g++) {
		for (size_t i = 0; i < mounts[g]->n_routes; i++) {
			struct mroute *mr = &mounts[g]->routes[i];
			if (!pattern_match(mr, rest, NULL, NULL))
				continue;
			if (!any || specificity_cmp(mr, any) < 0) {
				any = mr;
				any_m = mounts[g];
			}
			int rank = method_rank(mr->def->method, method);
			if (!rank)
				continue;
			int cmp = hit ? specificity_cmp(mr, hit) : -1;
			if (cmp < 0 || (cmp == 0 && rank > hit_rank)) {
				hit = mr;
				hit_m = mounts[g];
				hit_rank = rank;
			}
		}
	}
	if (hit) {
		out->fn = hit->def->fn;
		out->arg = hit_m->state;
		out->max_body = hit->max_body;
		out->flags = hit->def->flags;
		out->series = hit->m;
		out->label = hit->label;
		return pattern_match(hit, rest, a, out) ? 0 : TB_ERR_NOMEM;
	}
	if (any) {
		/* The path names a resource, the method is not one of its: 405, counted under its pattern. */
		out->miss = 405;
		out->error = any_m->table->error;
		out->error_state = any_m->state;
		out->series = any->m;
		out->label = any->label;
		out->allow = allow_of(a, mounts, n_group, rest);
		if (!out->allow || !pattern_match(any, rest, a, out))
			return TB_ERR_NOMEM;
		return 0;
	}
	out->miss = 404;
	struct mount *owner = best;
	for (size_t g = 0; g < n_group; g++) {
		if (mounts[g]->table->error) {
			owner = mounts[g];
			break;
		}
	}
	out->error = owner->table->error;
	out->error_state = owner->state;
	out->series = owner->m;
	out->label = owner->prefix;
	return 0;
}

static int name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
}

/* Splits a pattern ("" or "/seg/{name}/.../{rest...}") into segments; 0 or an error. */
static int compile_pattern(struct mroute *mr, const char *pattern)
{
	if (pattern[0] != 0 && pattern[0] != '/')
		return TB_ERR_INVALID;
	if (!(mr->buf = strdup(pattern)))
		return TB_ERR_NOMEM;
	size_t n_params = 0;
	char *p = mr->buf;
	while (*p == '/') {
		*p++ = 0;
		if (mr->n_segs > 0 && mr->segs[mr->n_segs - 1].kind == SEG_REST)
			return TB_ERR_INVALID; /* a rest wildcard must be last */
		if (mr->n_segs == MAX_PATTERN_SEGS)
			return TB_ERR_TOO_LARGE;
		struct seg *sg = &mr->segs[mr->n_segs++];
		size_t n = strcspn(p, "/");
		if (memchr(p, '{', n) || memchr(p, '}', n)) {
			/* a parameter fills its segment: "{id}" or "{rest...}" */
			size_t name_len = n >= 2 && p[0] == '{' && p[n - 1] == '}' ? n - 2 : 0;
			sg->kind = SEG_PARAM;
			if (name_len > 3 && memcmp(p + 1 + name_len - 3, "...", 3) == 0) {
				sg->kind = SEG_REST;
				name_len -= 3;
			}
			if (name_len == 0)
				return TB_ERR_INVALID;
			for (size_t i = 0; i < name_len; i++)
				if (!name_char(p[1 + i]))
					return TB_ERR_INVALID;
			if (++n_params > TB_HTTP_MAX_PARAMS)
				return TB_ERR_TOO_LARGE;
			sg->text = p + 1;
			sg->len = name_len;
			p[1 + name_len] = 0;
			for (size_t i = 0; i + 1 < mr->n_segs; i++)
				if (mr->segs[i].kind != SEG_LIT && strcmp(mr->segs[i].text, sg->text) == 0)
					return TB_ERR_INVALID; /* the same name twice */
		} else {
			sg->kind = SEG_LIT;
			sg->text = p;
			sg->len = n;
		}
		p += n;
	}
	return *p ? TB_ERR_INVALID : 0;
}

static void mount_free(struct mount *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_routes; i++) {
		free(m->routes[i].buf);
		free(m->routes[i].label);
	}
	free(m->routes);
	free(m->listener);
	free(m->prefix);
	free(m);
}

int tb_http_router_mount(struct tb_http_router *router, const char *listener, const char *prefix,
	const struct tb_http_table *table, void *state)
{
	if (!prefix || prefix[0] != '/' || !table || (table->n_routes && !table->routes))
		return TB_ERR_INVALID;
	if (router->n_mounts >= MAX_MOUNTS || table->n_routes > MAX_ROUTES)
		return TB_ERR_TOO_LARGE;
	size_t plen = strlen(prefix);
	if (prefix[plen - 1] == '/')
		plen--;
	for (size_t i = 0; i < router->n_mounts; i++) {
		struct mount *m = router->mounts[i];
		if (m->table == table && m->plen == plen && strncmp(m->prefix, prefix, plen) == 0 &&
			(m->listener == listener || (m->listener && listener && strcmp(m->listener, listener) == 0)))
			return TB_ERR_EXISTS;
	}
	struct mount *m = calloc(1, sizeof *m);
	if (!m)
		return TB_ERR_NOMEM;
	m->plen = plen;
	m->table = table;
	m->state = state;
	m->n_routes = table->n_routes;
	m->listener = xstrdup(listener);
	m->prefix = strdup(prefix);
	m->routes = calloc(table->n_routes ? table->n_routes : 1, sizeof *m->routes);
	int err = (listener && !m->listener) || !m->prefix || !m->routes ? TB_ERR_NOMEM : 0;
	if (!err && !(m->m = metrics_for(router, prefix)))
		err = TB_ERR_NOMEM;
	const char *bad = NULL;
	for (size_t i = 0; !err && i < table->n_routes; i++) {
		const struct tb_http_route_def *d = &table->routes[i];
		bad = d->pattern ? d->pattern : "(null)";
		struct mroute *mr = &m->routes[i];
		mr->def = d;
		if (!d->fn || !d->pattern) {
			err = TB_ERR_INVALID;
			break;
		}
		if (d->max_body > TB_HTTP_MAX_BODY_CEILING) {
			err = TB_ERR_TOO_LARGE;
			break;
		}
		mr->max_body = d->max_body ? d->max_body : router->default_max_body;
		if ((err = compile_pattern(mr, d->pattern)) != 0)
			break;
		size_t llen = plen + strlen(d->pattern);
		/* at least 2: pattern "" at the root is labelled "/" */
		if (!(mr->label = malloc(llen + 2))) {
			err = TB_ERR_NOMEM;
			break;
		}
		memcpy(mr->label, prefix, plen);
		strcpy(mr->label + plen, d->pattern);
		if (llen == 0)
			strcpy(mr->label, "/"); /* pattern "" at the root */
		if (!(mr->m = metrics_for(router, mr->label)))
			err = TB_ERR_NOMEM;
	}
	if (err) {
		if (err != TB_ERR_NOMEM && bad)
			TB_ERROR("http", "route table under %s: bad route pattern \"%s\": %s", prefix, bad,
				tb_strerror(err));
		mount_free(m);
		return err;
	}
	router->mounts[router->n_mounts++] = m;
	return 0;
}

/* ---- Lifetime ---- */

int tb_http_router_new(struct tb_http_router **out, size_t default_max_body)
{
	*out = NULL;
	struct tb_http_router *router = calloc(1, sizeof *router);
	if (!router)
		return TB_ERR_NOMEM;
	router->default_max_body = default_max_body;
	if (!metrics_for(router, "none")) {
		free(router);
		return TB_ERR_NOMEM;
	}
	*out = router;
	return 0;
}

struct tb_http_series *tb_http_router_none(struct tb_http_router *router)
{
	return router->metrics;
}

void tb_http_router_free(struct tb_http_router *router)
{
	if (!router)
		return;
	for (size_t i = 0; i < router->n_mounts; i++)
		mount_free(router->mounts[i]);
	for (struct tb_http_series *m = router->metrics, *next; m; m = next) {
		next = m->next;
		free(m->route);
		free(m);
	}
	for (struct lsn *l = router->listeners, *next; l; l = next) {
		next = l->next;
		free(l->name);
		free(l);
	}
	free(router);
}

/* ---- The admin check ---- */

int tb_http_router_listener(struct tb_http_router *router, const char *name, const char *address)
{
	struct lsn *l = calloc(1, sizeof *l);
	if (!l || !(l->name = strdup(name))) {
		free(l);
		return TB_ERR_NOMEM;
	}
	l->loopback = tb_admin_address_is_loopback(address);
	l->next = router->listeners;
	router->listeners = l;
	return 0;
}

int tb_http_router_gate(const struct tb_http_router *router, const struct tb_http_match *m,
	const struct tb_http_request *req)
{
	if (!m->fn || !m->flags)
		return 0;
	/* A listener the router was not told about (feed mode: "-") counts as not loopback. */
	int loopback = 0;
	for (const struct lsn *l = router->listeners; l; l = l->next)
		if (req->listener && strcmp(l->name, req->listener) == 0)
			loopback = l->loopback;
	return tb_admin_authorize(m->flags, loopback, tb_http_header(req, "Authorization"));
}


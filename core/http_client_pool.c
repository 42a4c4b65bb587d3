/*
 * The HTTP client's keep-alive pool (core/http_client_pool.h; how calls use
 * it is in core/http_client.c's DESIGN).
 */
#include "core/http_client_pool.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "core/metrics.h"
#include "core/tls.h"

#define POOL_MAX_PEERS 64 /* peers a process pools for; calls to others dial each time */

struct pool_conn {
	struct pool_conn *next;
	struct tb_http_pool_peer *peer;
	uv_tcp_t *tcp;            /* data: this connection while idle */
	struct tb_tls_conn *tls;  /* NULL for http */
	uint64_t since;           /* uv_now when it went idle */
	char rbuf[64];            /* whatever an idle connection receives is discarded */
};

/* Freed at refs 0: one each for the pool's list, the timer, every call and idle connection. */
struct tb_http_pool_peer {
	struct tb_http_pool_peer *next;
	uv_loop_t *loop;
	char *key;
	struct tb_tls_client *tlscfg;   /* https: shared by its connections */
	struct tb_tls_session *session; /* of the last full handshake: offered to new connections */
	struct pool_conn *idle;         /* most recently used first */
	size_t n_idle;
	size_t refs;
	int closed;                     /* tb_http_client_pool_close: nothing goes back */
	uv_timer_t timer;               /* closes connections idle too long */
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER; /* the list; a peer belongs to its loop */
static struct tb_http_pool_peer *pool_peers;
static size_t pool_n_peers;
static size_t pool_per_peer = TB_HTTP_CLIENT_POOL_SIZE;
static uint64_t pool_idle_ms = TB_HTTP_CLIENT_IDLE_MS;

static const char *const conn_kinds[] = { "new", "resumed", "reused", NULL };
static struct tb_metric m_conns = { "tb_http_client_connections_total",
	"Connections the HTTP client used for its calls: dialled with a full TLS handshake or plain TCP (new), "
	"dialled with a resumed TLS session (resumed), or taken idle from the keep-alive pool (reused).",
	TB_METRIC_COUNTER, { { "kind", conn_kinds } } };

void tb_http_pool_peer_unref(struct tb_http_pool_peer *p)
{
	if (--p->refs)
		return;
	tb_tls_session_free(p->session);
	tb_tls_client_free(p->tlscfg);
	free(p->key);
	free(p);
}

static void peer_timer_closed(uv_handle_t *h)
{
	tb_http_pool_peer_unref(h->data);
}

static void pool_conn_closed(uv_handle_t *h)
{
	struct pool_conn *pc = h->data;
	struct tb_http_pool_peer *p = pc->peer;
	free(h);
	free(pc);
	tb_http_pool_peer_unref(p);
}

/* pc is already off the idle list. */
static void pool_conn_close(struct pool_conn *pc)
{
	tb_tls_conn_free(pc->tls);
	pc->tls = NULL;
	uv_close((uv_handle_t *)pc->tcp, pool_conn_closed);
}

static void pool_unlink(struct pool_conn *pc)
{
	struct pool_conn **pp = &pc->peer->idle;
	while (*pp && *pp != pc)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = pc->next;
		pc->peer->n_idle--;
	}
}

static void pool_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct pool_conn *pc = h->data;
	*buf = uv_buf_init(pc->rbuf, sizeof pc->rbuf);
}

static void pool_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	(void)buf;
	if (nread == 0)
		return;
	/* EOF, an error, or bytes nobody asked for (close_notify): the server is done with it. */
	struct pool_conn *pc = s->data;
	pool_unlink(pc);
	pool_conn_close(pc);
}

static void pool_sweep(uv_timer_t *t)
{
	struct tb_http_pool_peer *p = t->data;
	uint64_t now = uv_now(p->loop);
	struct pool_conn **pp = &p->idle;
	while (*pp) {
		struct pool_conn *pc = *pp;
		if (now - pc->since >= pool_idle_ms) {
			*pp = pc->next;
			p->n_idle--;
			pool_conn_close(pc);
		} else {
			pp = &pc->next;
		}
	}
	if (!p->n_idle)
		uv_timer_stop(t);
}

void tb_http_pool_count(const char *kind)
{
	tb_metric_inc(&m_conns, kind);
}

struct tb_tls_client *tb_http_pool_tls(const struct tb_http_pool_peer *p)
{
	return p->tlscfg;
}

const struct tb_tls_session *tb_http_pool_session(const struct tb_http_pool_peer *p)
{
	return p->session;
}

void tb_http_pool_keep_session(struct tb_http_pool_peer *p, struct tb_tls_session *s)
{
	tb_tls_session_free(p->session);
	p->session = s;
}

struct tb_http_pool_peer *tb_http_pool_peer_get(uv_loop_t *loop, const char *key, int https,
	const char *ca_pem, int insecure, const char *const *alpn)
{
	pthread_mutex_lock(&pool_lock);
	struct tb_http_pool_peer *p = pool_peers;
	while (p && (p->loop != loop || strcmp(p->key, key)))
		p = p->next;
	if (p) {
		p->refs++;
	} else if (pool_n_peers < POOL_MAX_PEERS && (p = calloc(1, sizeof *p)) != NULL) {
		p->loop = loop;
		if (!(p->key = strdup(key)) ||
			(https && tb_tls_client_new(&p->tlscfg, ca_pem, insecure, alpn) != 0)) {
			free(p->key);
			free(p);
			p = NULL;
		} else {
			uv_timer_init(loop, &p->timer);
			uv_unref((uv_handle_t *)&p->timer);
			p->timer.data = p;
			p->refs = 3; /* the list, the timer, the caller */
			p->next = pool_peers;
			pool_peers = p;
			pool_n_peers++;
		}
	}
	pthread_mutex_unlock(&pool_lock);
	return p;
}

int tb_http_pool_take(struct tb_http_pool_peer *p, uv_tcp_t **tcp, struct tb_tls_conn **tls)
{
	uv_update_time(p->loop);
	uint64_t now = uv_now(p->loop);
	while (p->idle) {
		struct pool_conn *pc = p->idle;
		p->idle = pc->next;
		p->n_idle--;
		if (now - pc->since >= pool_idle_ms) {
			pool_conn_close(pc);
			continue;
		}
		uv_read_stop((uv_stream_t *)pc->tcp);
		uv_ref((uv_handle_t *)pc->tcp);
		*tcp = pc->tcp;
		*tls = pc->tls;
		free(pc);
		tb_http_pool_peer_unref(p);
		tb_metric_inc(&m_conns, "reused");
		return 1;
	}
	return 0;
}

int tb_http_pool_has_room(const struct tb_http_pool_peer *p)
{
	return !p->closed && p->n_idle < pool_per_peer;
}

void tb_http_pool_put(struct tb_http_pool_peer *p, uv_tcp_t *tcp, struct tb_tls_conn *tls)
{
	struct pool_conn *pc = calloc(1, sizeof *pc);
	if (!pc) {
		tb_tls_conn_free(tls);
		uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
		return;
	}
	tcp->data = pc;
	pc->peer = p;
	pc->tcp = tcp;
	pc->tls = tls;
	pc->since = uv_now(p->loop);
	p->refs++;
	uv_unref((uv_handle_t *)tcp);
	pc->next = p->idle;
	p->idle = pc;
	p->n_idle++;
	if (uv_read_start((uv_stream_t *)tcp, pool_alloc, pool_read) != 0) {
		pool_unlink(pc);
		pool_conn_close(pc);
	} else if (!uv_is_active((uv_handle_t *)&p->timer)) {
		uint64_t every = pool_idle_ms / 2 + 1;
		uv_timer_start(&p->timer, pool_sweep, every, every);
	}
}

void tb_http_client_pool_setup(size_t per_peer, uint64_t idle_ms)
{
	pool_per_peer = per_peer;
	pool_idle_ms = idle_ms ? idle_ms : 1;
	tb_metric_register(&m_conns);
}

void tb_http_client_pool_close(uv_loop_t *loop)
{
	struct tb_http_pool_peer *mine = NULL;
	pthread_mutex_lock(&pool_lock);
	for (struct tb_http_pool_peer **pp = &pool_peers; *pp;) {
		struct tb_http_pool_peer *p = *pp;
		if (p->loop == loop) {
			*pp = p->next;
			pool_n_peers--;
			p->next = mine;
			mine = p;
		} else {
			pp = &p->next;
		}
	}
	pthread_mutex_unlock(&pool_lock);
	while (mine) {
		struct tb_http_pool_peer *p = mine;
		mine = p->next;
		p->closed = 1;
		while (p->idle) {
			struct pool_conn *pc = p->idle;
			p->idle = pc->next;
			p->n_idle--;
			pool_conn_close(pc);
		}
		uv_close((uv_handle_t *)&p->timer, peer_timer_closed);
		tb_http_pool_peer_unref(p); /* the list's */
	}
}

size_t tb_http_client_pool_idle(uv_loop_t *loop)
{
	size_t n = 0;
	pthread_mutex_lock(&pool_lock);
	for (struct tb_http_pool_peer *p = pool_peers; p; p = p->next)
		if (p->loop == loop)
			n += p->n_idle;
	pthread_mutex_unlock(&pool_lock);
	return n;
}


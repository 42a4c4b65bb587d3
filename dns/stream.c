/*
 * DESIGN: the stream transports of the DNS server, DNS over TCP and DNS over
 * TLS, behind the reply channel (server.c answers; this file frames, queues
 * and sends).
 *
 * TCP connections read 2-octet framed messages, answer complete ones in order
 * (pipelining), stop reading and answering while the answers queued for the
 * client reach a cap (count, tcp_queue_bytes, or tcp_queue_bytes_total over
 * all connections) and go on as the client reads them, and close after
 * tcp_idle_ms without a complete query or a write taken by the client
 * (RFC 7766 6.2.3). Connection floods are bounded per client address and in
 * all, shedding the oldest connection that has no answer pending.
 *
 * DNS over TLS (RFC 7858) connections are of the same kind with a TLS session
 * (core/tls.c, memory-bridged) between the socket and the frame buffer:
 * ciphertext read is fed to the session, plaintext it yields goes through the
 * same framing, caps, pool and idle timer as TCP, and each answer is encrypted
 * (padded, RFC 8467) into one write. The certificate is core's HTTPS one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ca.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/subsystem.h"
#include "core/tls.h"
#include "dns/dns.h"
#include "dns/dns_internal.h"
#include "dns/metrics.h"

/* ---- connections ---- */

#define TCP_BUF (2 + 65535)

struct dns_tcp_conn {
	uv_tcp_t h;
	uv_timer_t idle;
	struct dns_server *srv;
	struct dns_tcp_conn *prev, *next;
	uint8_t *buf;
	size_t len;
	size_t queued;       /* writes in flight */
	size_t queued_bytes; /* their bytes (also counted in the server's tcp_queued_bytes) */
	size_t owed;         /* queries answered later (forwarded, updates): count as queued */
	size_t sent;         /* answers handed to conn_send so far */
	int answering;       /* inside dns_server_answer_for for this connection */
	int reading;
	int paused;          /* reading and answering stopped at a queue cap until writes drain */
	int closing;
	int counted;         /* its close is part of a server stop */
	int open_handles;
	struct sockaddr_storage peer;
	struct tb_tls_conn *tls; /* DNS over TLS: frames travel inside this session; NULL for TCP */
};

struct tcp_write {
	uv_write_t req;
	struct dns_tcp_conn *c;
	size_t len;          /* bytes written: what the queue counters got, for an answer */
	int answer;          /* an answer (counted by the queue caps), not TLS handshake records */
	uint8_t *owned;      /* TLS records to free after the write; NULL: the bytes are data[] */
	uint8_t data[];
};

static void conn_closed(uv_handle_t *h)
{
	struct dns_tcp_conn *c = h->data;
	if (--c->open_handles > 0)
		return;
	struct dns_server *s = c->srv;
	int counted = c->counted;
	tb_tls_conn_free(c->tls);
	free(c->buf);
	free(c);
	if (counted && --s->closing == 0 && s->stop_done)
		s->stop_done(s->stop_arg);
}

static void tls_goodbye(struct dns_tcp_conn *c);

static void conn_close(struct dns_tcp_conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	struct dns_server *s = c->srv;
	if (c->tls)
		tls_goodbye(c);
	dns_update_forget(s, c);
	dns_forward_forget(s, c);
	dns_iterate_forget(s, c);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->n_conns--;
	if (s->stopping) {
		s->closing++;
		c->counted = 1;
	}
	uv_close((uv_handle_t *)&c->idle, conn_closed);
	uv_close((uv_handle_t *)&c->h, conn_closed);
}

static void conn_idle(uv_timer_t *t)
{
	conn_close(t->data);
}

/*
 * Ciphertext read from a DoT connection goes straight into its TLS session
 * (tb_tls_conn_feed copies it), so one buffer serves every connection.
 */
static uint8_t tls_rbuf[16384 + 2048];

static void tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct dns_tcp_conn *c = h->data;
	(void)suggested;
	if (c->tls)
		*buf = uv_buf_init((char *)tls_rbuf, sizeof tls_rbuf);
	else
		*buf = uv_buf_init((char *)c->buf + c->len, (unsigned)(TCP_BUF - c->len));
}

static void tcp_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void tcp_process(struct dns_tcp_conn *c);
static void conn_input(struct dns_tcp_conn *c);

/*
 * Answers queued on a connection are bounded by count (DNS_TCP_PIPELINE_MAX),
 * by bytes (tcp_queue_bytes) and, over all connections, by tcp_queue_bytes_total.
 * The total stops only connections that have answers of their own queued, so
 * each connection can always get one answer out and the total is exceeded by
 * at most one answer (64 KiB) per connection. A connection at a cap neither
 * reads nor answers what it has buffered; its own write completions resume it
 * (queue_low), so no other connection has to wake it, and a client that never
 * reads makes no progress until tcp_idle_ms closes it. Answers still owed
 * (forwarded queries, updates waiting for their commit) count against the
 * count cap, as their size is not known yet: each becomes a queued write.
 */
static int queue_full(const struct dns_tcp_conn *c)
{
	const struct dns_server *s = c->srv;
	size_t n = c->queued + c->owed;
	if (n >= DNS_TCP_PIPELINE_MAX || c->queued_bytes >= s->tcp_queue_bytes)
		return 1;
	return n && s->tcp_queued_bytes >= s->tcp_queue_bytes_total;
}

/* Drained enough to go on (half the per-connection caps: no stop-start per answer). */
static int queue_low(const struct dns_tcp_conn *c)
{
	const struct dns_server *s = c->srv;
	size_t n = c->queued + c->owed;
	return n <= DNS_TCP_PIPELINE_MAX / 2 && c->queued_bytes <= s->tcp_queue_bytes / 2 &&
	       (!n || s->tcp_queued_bytes < s->tcp_queue_bytes_total);
}

static void conn_pause(struct dns_tcp_conn *c)
{
	c->paused = 1;
	if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->h);
		c->reading = 0;
	}
}

static void tcp_written(uv_write_t *req, int status)
{
	struct tcp_write *w = (struct tcp_write *)req;
	struct dns_tcp_conn *c = w->c;
	struct dns_server *s = c->srv;
	if (w->answer) {
		c->queued--;
		c->queued_bytes -= w->len;
		s->tcp_queued_bytes -= w->len;
	}
	free(w->owned);
	free(w);
	if (c->closing)
		return;
	if (status < 0) {
		conn_close(c);
		return;
	}
	uv_timer_again(&c->idle); /* the client is reading: not idle */
	if (c->paused && queue_low(c)) {
		c->paused = 0;
		conn_input(c); /* what was buffered first; it may stop again */
		if (!c->closing && !c->paused && !c->reading) {
			c->reading = 1;
			uv_read_start((uv_stream_t *)&c->h, tcp_alloc, tcp_read);
		}
	}
}

/* Hands w (its bytes in owned or data[], len of them) to libuv; an answer counts against the caps. */
static void conn_write(struct dns_tcp_conn *c, struct tcp_write *w, int answer)
{
	w->c = c;
	w->answer = answer;
	uv_buf_t b = uv_buf_init((char *)(w->owned ? w->owned : w->data), (unsigned)w->len);
	if (uv_write(&w->req, (uv_stream_t *)&c->h, &b, 1, tcp_written)) {
		free(w->owned);
		free(w);
		conn_close(c);
		return;
	}
	if (!answer)
		return;
	c->queued++;
	c->queued_bytes += w->len;
	c->srv->tcp_queued_bytes += w->len;
}

/* Sends the TLS records the session produced (handshake, alerts, answers). 0 or an error. */
static int tls_flush(struct dns_tcp_conn *c, int answer)
{
	struct tb_bytes out;
	tb_tls_conn_take_output(c->tls, &out);
	if (out.err) {
		tb_bytes_free(&out);
		return TB_ERR_NOMEM;
	}
	if (!out.len) {
		tb_bytes_free(&out);
		return 0;
	}
	struct tcp_write *w = malloc(sizeof *w);
	if (!w) {
		tb_bytes_free(&out);
		return TB_ERR_NOMEM;
	}
	w->owned = out.p;
	w->len = out.len;
	conn_write(c, w, answer);
	return 0;
}

/*
 * A DoT connection going away: its last records (an alert, close_notify)
 * are written if the socket takes them now, since a close cancels queued writes.
 */
static void tls_goodbye(struct dns_tcp_conn *c)
{
	if (tb_tls_conn_handshake_done(c->tls))
		tb_tls_conn_close_notify(c->tls);
	struct tb_bytes out;
	tb_tls_conn_take_output(c->tls, &out);
	if (out.len) {
		uv_buf_t b = uv_buf_init((char *)out.p, (unsigned)out.len);
		(void)uv_try_write((uv_stream_t *)&c->h, &b, 1);
	}
	tb_bytes_free(&out);
}

/* RFC 8467 4.1: responses over encrypted transports padded to a multiple of 468 octets. */
#define DOT_PAD_BLOCK 468

/* Where a (possibly compressed) name at off ends, or 0 past the message. */
static size_t skip_name(const uint8_t *m, size_t n, size_t off)
{
	while (off < n) {
		if ((m[off] & 0xc0) == 0xc0)
			return off + 2 <= n ? off + 2 : 0;
		if (m[off] == 0)
			return off + 1;
		off += 1 + (size_t)m[off];
	}
	return 0;
}

/*
 * A client that did not pad its query may get a padded answer (RFC 7830 3:
 * MAY when the query had EDNS), so nothing about the query needs remembering
 * until a later answer.
 */
size_t dns_pad_answer(uint8_t *m, size_t n, size_t cap)
{
	if (n < 12 || !(m[10] | m[11]))
		return n;
	size_t off = 12, rr = 0, last = 0;
	size_t qd = (size_t)(m[4] << 8 | m[5]);
	size_t nrr = (size_t)(m[6] << 8 | m[7]) + (size_t)(m[8] << 8 | m[9]) + (size_t)(m[10] << 8 | m[11]);
	for (size_t i = 0; i < qd; i++) {
		off = skip_name(m, n, off);
		if (!off || (off += 4) > n)
			return n;
	}
	for (; rr < nrr; rr++) {
		last = off;
		off = skip_name(m, n, off);
		if (!off || off + 10 > n)
			return n;
		off += 10 + (size_t)(m[off + 8] << 8 | m[off + 9]);
		if (off > n)
			return n;
	}
	/* the last record: an OPT owned by the root, ending the message */
	if (off != n || m[last] != 0 || m[last + 1] != 0 || m[last + 2] != DNS_T_OPT)
		return n;
	size_t pad = (DOT_PAD_BLOCK - (n + 4) % DOT_PAD_BLOCK) % DOT_PAD_BLOCK;
	if (n + 4 + pad > cap)
		return n;
	size_t rdlen = (size_t)(m[last + 9] << 8 | m[last + 10]) + 4 + pad;
	m[last + 9] = (uint8_t)(rdlen >> 8);
	m[last + 10] = (uint8_t)rdlen;
	m[n] = 0;
	m[n + 1] = DNS_OPT_PADDING;
	m[n + 2] = (uint8_t)(pad >> 8);
	m[n + 3] = (uint8_t)pad;
	memset(m + n + 4, 0, pad);
	return n + 4 + pad;
}

static void conn_send(struct dns_tcp_conn *c, const uint8_t *p, size_t n)
{
	if (c->closing)
		return;
	c->sent++;
	if (c->tls) {
		/* one write of length and message: one TLS record for an answer up to 16 KiB */
		static uint8_t frame[2 + 65535];
		memcpy(frame + 2, p, n);
		n = dns_pad_answer(frame + 2, n, sizeof frame - 2);
		frame[0] = (uint8_t)(n >> 8);
		frame[1] = (uint8_t)n;
		if (tb_tls_conn_write(c->tls, frame, 2 + n) != 0 || tls_flush(c, 1) != 0)
			conn_close(c);
		return;
	}
	struct tcp_write *w = malloc(sizeof *w + 2 + n);
	if (!w) {
		conn_close(c);
		return;
	}
	w->owned = NULL;
	w->len = 2 + n;
	w->data[0] = (uint8_t)(n >> 8);
	w->data[1] = (uint8_t)n;
	memcpy(w->data + 2, p, n);
	conn_write(c, w, 1);
}

/* The TCP reply channel: an answer given later (forwarded, an update committed). */
static void tcp_reply(const struct dns_reply *r, const uint8_t *p, size_t n)
{
	struct dns_tcp_conn *c = r->transport;
	if (!c->answering && c->owed)
		c->owed--; /* owed since an earlier tcp_process */
	dns_qlog_answer(c->srv, r, p, n);
	dns_metrics_response(p, n, dns_reply_via(r));
	conn_send(c, p, n);
}

long dns_tcp_frame(const uint8_t *buf, size_t len)
{
	if (len < 2)
		return 0;
	size_t ml = (size_t)(buf[0] << 8 | buf[1]);
	if (ml < 12)
		return -1;
	return len - 2 < ml ? 0 : (long)ml;
}

/* Answers the complete queries in the buffer, in order, until a queue cap stops it. */
static void tcp_process(struct dns_tcp_conn *c)
{
	struct dns_server *s = c->srv;
	size_t off = 0;
	static uint8_t out[2 + 65535];
	struct dns_reply reply = { .send = tcp_reply, .transport = c, .addr = c->peer, .tcp = 1, .dot = !!c->tls };
	while (!c->closing) {
		long fl = dns_tcp_frame(c->buf + off, c->len - off);
		if (fl < 0) {
			conn_close(c); /* not even a header: nothing sensible to answer */
			return;
		}
		if (fl == 0)
			break;
		size_t ml = (size_t)fl;
		if (queue_full(c)) {
			conn_pause(c); /* the rest waits in the buffer until the client reads */
			break;
		}
		if (c->tls)
			s->stats.queries_dot++;
		else
			s->stats.queries_tcp++;
		reply.t0 = s->qlog.enabled ? uv_hrtime() : 0; /* only the query log reads it */
		size_t sent = c->sent;
		c->answering = 1;
		size_t n = dns_server_answer_for(s, c->buf + off + 2, ml, &reply, out + 2, sizeof out - 2);
		c->answering = 0;
		/* no answer now and none sent meanwhile: a query (not a response, which is
		 * dropped) is answered later */
		if (!n && c->sent == sent && !(c->buf[off + 4] & 0x80))
			c->owed++;
		off += 2 + ml;
		uv_timer_again(&c->idle);
		if (n) {
			dns_qlog_answer(s, &reply, out + 2, n);
			conn_send(c, out + 2, n);
		}
	}
	if (c->closing)
		return;
	if (off) {
		memmove(c->buf, c->buf + off, c->len - off);
		c->len -= off;
	}
	if (queue_full(c))
		conn_pause(c);
}

/*
 * DoT: decrypts into the connection's frame buffer and answers what is
 * complete, exactly as over TCP, until the session has no more plaintext,
 * the buffer is full or a queue cap pauses the connection (the rest stays in
 * the session until the client has taken answers). A close_notify ends the
 * connection: the client sends nothing more and RFC 7858 leaves closing to it.
 */
static void tls_pump(struct dns_tcp_conn *c)
{
	tcp_process(c); /* frames decrypted before a pause */
	while (!c->closing && !c->paused && c->len < TCP_BUF) {
		int closed = 0;
		int n = tb_tls_conn_read(c->tls, c->buf + c->len, TCP_BUF - c->len, &closed);
		if (n < 0 || closed) {
			conn_close(c);
			return;
		}
		if (n == 0)
			return;
		c->len += (size_t)n;
		tcp_process(c);
	}
}

/* Answers what the connection holds: its frame buffer, and for DoT its session's plaintext. */
static void conn_input(struct dns_tcp_conn *c)
{
	if (c->tls)
		tls_pump(c);
	else
		tcp_process(c);
}

/* DoT bytes arrived: the handshake first (its records sent at once), then frames. */
static void tls_read(struct dns_tcp_conn *c, const uint8_t *p, size_t n)
{
	if (tb_tls_conn_feed(c->tls, p, n) != 0) {
		conn_close(c);
		return;
	}
	if (!tb_tls_conn_handshake_done(c->tls)) {
		int rc = tb_tls_conn_handshake(c->tls);
		if (rc < 0) {
			/* not TLS (plain DNS on the DoT port), or a failed handshake: the alert, then close */
			c->srv->stats.dot_handshake_failed++;
			conn_close(c);
			return;
		}
		if (tls_flush(c, 0) != 0) {
			conn_close(c);
			return;
		}
		if (rc == TB_TLS_WANT)
			return;
	}
	tls_pump(c);
}

static void tcp_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct dns_tcp_conn *c = st->data;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	if (c->tls) {
		tls_read(c, (const uint8_t *)buf->base, (size_t)nread);
		return;
	}
	c->len += (size_t)nread;
	tcp_process(c);
}

static int same_address(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			      &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
	return 0;
}

/* No answer pending: idle, or a query still arriving (slowloris). Such a connection may be shed. */
static int sheddable(const struct dns_tcp_conn *c)
{
	return !c->closing && !c->answering && c->queued == 0 && c->owed == 0;
}

/*
 * Connection floods: at most tcp_clients_per_address from one IP and
 * tcp_clients in all. A new connection over either cap takes the place of
 * the oldest sheddable one (of its address, or of all), else it is refused;
 * so idle connections cannot lock clients out until tcp_idle_ms. c is the
 * newest (s->conns). 0 when c may stay.
 */
static int make_room(struct dns_server *s, struct dns_tcp_conn *c)
{
	size_t same = 0;
	struct dns_tcp_conn *oldest_same = NULL, *oldest = NULL;
	for (struct dns_tcp_conn *o = c->next; o; o = o->next) {
		int sa = same_address(&o->peer, &c->peer);
		same += (size_t)sa;
		if (!sheddable(o))
			continue;
		oldest = o; /* the list is newest first: the last one seen is the oldest */
		if (sa)
			oldest_same = o;
	}
	struct dns_tcp_conn *victim;
	if (same >= s->tcp_clients_per_address)
		victim = oldest_same;
	else if (s->n_conns > s->tcp_clients_max)
		victim = oldest;
	else
		return 0;
	if (!victim) {
		s->stats.tcp_refused++;
		return -1;
	}
	s->stats.tcp_evicted++;
	conn_close(victim);
	return 0;
}

/*
 * Connections accepted per loop turn. libuv accepts in a loop while the
 * backlog has connections; a client that reconnects as fast as it is shed
 * would keep that loop going, and a new connection would be shed (as the
 * oldest) before its query was ever read. After a quarter of tcp_clients
 * (at most this many), accepting waits for the next turn, after reads have
 * had theirs: a new connection is read before four turns' worth of newer
 * ones could make it the oldest. Larger batches drain a flood's backlog sooner.
 */
#define TCP_ACCEPT_BATCH 256u


static void tcp_accept_resume(uv_timer_t *t)
{
	struct dns_server *s = t->data;
	s->tcp_accepted = 0;
	s->tcp_accept_turn = uv_now(s->loop);
	for (size_t i = 0; i < s->n_tcp; i++) {
		if (s->tcp[i].deferred) {
			s->tcp[i].deferred = 0;
			dns_stream_accept((uv_stream_t *)&s->tcp[i].h, 0); /* takes the waiting one */
		}
	}
}

/* Whether this turn's accept budget is spent; then the listener waits for tcp_accept_resume. */
static int defer_accept(struct dns_server *s, struct dns_tcp_listener *l)
{
	uint64_t now = uv_now(s->loop);
	if (now != s->tcp_accept_turn) {
		s->tcp_accept_turn = now;
		s->tcp_accepted = 0;
	}
	size_t batch = s->tcp_clients_max / 4;
	if (batch > TCP_ACCEPT_BATCH)
		batch = TCP_ACCEPT_BATCH;
	if (++s->tcp_accepted <= (batch ? batch : 1))
		return 0;
	if (!s->tcp_accept_timer_open) {
		if (uv_timer_init(s->loop, &s->tcp_accept_timer) != 0)
			return 0;
		s->tcp_accept_timer.data = s;
		s->tcp_accept_timer_open = 1;
	}
	l->deferred = 1;
	uv_timer_start(&s->tcp_accept_timer, tcp_accept_resume, 0, 0);
	return 1;
}

void dns_stream_accept(uv_stream_t *ls, int status)
{
	struct dns_tcp_listener *l = ls->data;
	struct dns_server *s = l->srv;
	if (status < 0 || s->stopping)
		return;
	if (defer_accept(s, l))
		return; /* not accepted: libuv stops polling the listener until uv_accept */
	struct dns_tcp_conn *c = calloc(1, sizeof *c);
	if (!c)
		return;
	c->srv = s;
	c->buf = malloc(TCP_BUF);
	uv_tcp_init(s->loop, &c->h);
	c->h.data = c;
	uv_timer_init(s->loop, &c->idle);
	c->idle.data = c;
	c->open_handles = 2;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;
	if (!c->buf || uv_accept(ls, (uv_stream_t *)&c->h) != 0) {
		conn_close(c);
		return;
	}
	int pl = sizeof c->peer;
	uv_tcp_getpeername(&c->h, (struct sockaddr *)&c->peer, &pl);
	if (l->tls && tb_tls_conn_new_server(&c->tls, s->tls) != 0) {
		conn_close(c);
		return;
	}
	if (make_room(s, c) != 0) {
		conn_close(c); /* nothing to shed: the client falls back or retries */
		return;
	}
	uv_tcp_nodelay(&c->h, 1);
	uv_timer_start(&c->idle, conn_idle, s->tcp_idle_ms, s->tcp_idle_ms);
	c->reading = 1;
	uv_read_start((uv_stream_t *)&c->h, tcp_alloc, tcp_read);
}

/* ---- DoT ---- */

/*
 * DNS over TLS (RFC 7858): the certificate and key of core's HTTPS listeners
 * (issued by trustbox's CA, core/ca.c) with ALPN "dot" and core's resumption
 * limits, in a TLS server of its own so that ALPN offers "dot" alone.
 */
int dns_dot_tls_server(struct dns_server *s)
{
	const struct tb_ca *ca = s->core ? s->core->ca : NULL;
	if (!ca || !ca->server_chain_pem || !ca->server_key_pem) {
		TB_ERROR("dns", "dns.tls_listen: no server certificate (the CA is not loaded)");
		return TB_ERR_INVALID;
	}
	struct tb_tls_cert cert = {
		.chain = TB_BUF(ca->server_chain_pem, strlen(ca->server_chain_pem) + 1),
		.key = TB_BUF(ca->server_key_pem, strlen(ca->server_key_pem) + 1),
	};
	static const char *const alpn[] = { "dot", NULL };
	int rc = tb_tls_server_new(&s->tls, &cert, 1, alpn);
	const cJSON *core = tb_config_section(s->core->config, "core");
	if (rc == 0 && core)
		rc = tb_tls_server_set_resumption(s->tls, (uint32_t)tb_cfg_int(core, "tls_ticket_lifetime_s"),
			(size_t)tb_cfg_int(core, "tls_session_cache_size"),
			(uint32_t)tb_cfg_int(core, "tls_session_cache_timeout_s"));
	if (rc)
		TB_ERROR("dns", "dns.tls_listen: cannot set up TLS: %s", tb_strerror(rc));
	return rc;
}

/* A server stop: every connection closes (each counted in the server's closing). */
void dns_stream_close_all(struct dns_server *s)
{
	while (s->conns)
		conn_close(s->conns);
}

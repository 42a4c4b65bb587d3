/*
 * DESIGN: HTTP/2 server sessions (see core/http2.h for the seam with
 * core/http.c).
 *
 * - libnghttp2 does the protocol: frames, stream states, flow control
 *   (automatic WINDOW_UPDATE as we consume), HPACK, and the checks of
 *   RFC 9113 8 on requests (pseudo-headers, connection-specific fields,
 *   Content-Length against DATA). We drive it with memory buffers:
 *   nghttp2_session_mem_recv on plaintext, nghttp2_session_mem_send into
 *   the connection's write path.
 * - Each stream gets a core request at its first HEADERS; header fields go
 *   into it as they decode, routing happens at the end of the header block
 *   (so the route's body limit applies to DATA), dispatch at END_STREAM.
 *   Core answers 400/413/431 itself on the stream; the connection stays.
 * - Output is bounded: frames are taken from nghttp2 only while the
 *   socket's write queue is under OUT_CAP; above it reading pauses too, so
 *   a client that does not read cannot make us queue without end (nghttp2
 *   caps its own queued SETTINGS/PING acks: max_outbound_ack).
 * - Defences, each answered with GOAWAY ENHANCE_YOUR_CALM and a lingering
 *   close: client resets per second (Rapid Reset), control and empty
 *   frames per second (SETTINGS/PING/PRIORITY/empty DATA/WINDOW_UPDATE
 *   floods), CONTINUATION frames per header block, and decoded header bytes far
 *   beyond the limit (HPACK bombs). nghttp2's own backstops (reset token
 *   bucket, max continuations) sit just behind ours.
 * - One timer per connection: idle (no stream) -> GOAWAY and close;
 *   requests incomplete -> the body timeout since the last request
 *   completed; responses blocked by flow control (a zero window) -> the
 *   idle timeout since the last byte went out; none while only handlers
 *   are pending.
 */
#include "core/http2.h"

#include <nghttp2/nghttp2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "core/log.h"

#define OUT_CAP (1u << 20)        /* queued output before we stop producing frames and reading */
#define COALESCE (64u * 1024)     /* output gathered per write */
#define BOMB_FACTOR 4             /* decoded header bytes over this many times the limit: calm */
/*
 * WINDOW_UPDATE frames are control frames, but a client that reads a large
 * response at speed sends many of them: up to one for the stream and one for
 * the connection per DATA frame it consumed. So each non-empty DATA frame we
 * send earns the client WU_PER_DATA updates that are not counted; updates
 * beyond what our DATA earned (a flood, on the connection, on a stream, on a
 * closed stream) count like SETTINGS and PING. The credit is capped so that
 * a long download does not bank an unbounded free flood.
 */
#define WU_PER_DATA 2
#define WU_CREDIT_CAP 4096

struct tb_h2_stream {
	struct tb_h2 *h;
	int32_t id;
	struct tb_http_request *req; /* NULL once answered (or freed) */
	int dispatched;              /* a handler holds req */
	int err;                     /* status core answers at the end of the request */
	int complete;                /* END_STREAM seen (or answered early) */
	const char *method, *path;   /* pseudo-headers, in req's arena */
	int has_host;
	const char *authority;
	size_t header_bytes;
	uint8_t *body;               /* response body, owned */
	size_t body_len, body_off;
	int responding;              /* response submitted, not all sent */
	int early;                   /* answered before the request ended: reset once sent */
	struct tb_h2_stream *prev, *next;
};

struct tb_h2 {
	struct tb_http_conn *hc;
	const struct tb_http_limits *lim;
	nghttp2_session *sess;
	struct tb_h2_stream *streams;
	int in_recv;                 /* inside nghttp2_session_mem_recv */
	int detached;                /* the connection closed */
	int calm;                    /* a defence tripped: GOAWAY ENHANCE_YOUR_CALM */
	int calm_sent;               /* that GOAWAY is queued */
	int finishing;
	uint64_t reset_window, control_window; /* start of the current one-second windows */
	unsigned resets, controls;
	unsigned wu_credit;          /* WINDOW_UPDATE frames earned by our DATA (see WU_PER_DATA) */
	unsigned continuations;      /* in the current header block */
	uint64_t mark;               /* last progress (timers) */
	unsigned incomplete, responding; /* streams in these states */
};

static void stream_unlink(struct tb_h2_stream *s)
{
	struct tb_h2 *h = s->h;
	if (s->prev)
		s->prev->next = s->next;
	else if (h->streams == s)
		h->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
}

/* Lets go of the stream's request: orphaned when a handler holds it, else freed. */
static void stream_drop_req(struct tb_h2_stream *s)
{
	if (!s->req)
		return;
	if (s->dispatched)
		tb_http_h2_req_orphan(s->req);
	else
		tb_http_h2_req_free(s->req);
	s->req = NULL;
}

static void stream_set_complete(struct tb_h2_stream *s)
{
	if (s->complete)
		return;
	s->complete = 1;
	s->h->incomplete--;
	s->h->mark = tb_http_conn_now(s->h->hc);
}

static void stream_free(struct tb_h2_stream *s)
{
	struct tb_h2 *h = s->h;
	if (!s->complete)
		h->incomplete--;
	if (s->responding)
		h->responding--;
	stream_drop_req(s);
	stream_unlink(s);
	free(s->body);
	free(s);
}

static int calm(struct tb_h2 *h, const char *why)
{
	if (!h->calm)
		TB_WARN("http", "HTTP/2 peer misbehaves (%s): GOAWAY ENHANCE_YOUR_CALM", why);
	h->calm = 1;
	return NGHTTP2_ERR_CALLBACK_FAILURE;
}

/* Counts one event in a one-second window; nonzero when over max. */
static int over_rate(struct tb_h2 *h, uint64_t *window, unsigned *count, unsigned max)
{
	uint64_t now = tb_http_conn_now(h->hc);
	if (now - *window >= 1000) {
		*window = now;
		*count = 0;
	}
	return ++*count > max;
}

/* ---- Arming the timer ---- */

static void rearm(struct tb_h2 *h)
{
	if (h->detached || h->finishing)
		return;
	uint64_t now = tb_http_conn_now(h->hc), span, since = now - h->mark;
	if (h->responding)
		span = h->lim->idle_timeout_ms;   /* a response the client does not take (zero window, slow reads) */
	else if (h->incomplete)
		span = h->lim->body_timeout_ms;
	else if (h->streams)
		span = 0;                         /* handlers are working */
	else
		span = h->lim->idle_timeout_ms;
	if (span == 0) {
		tb_http_conn_arm(h->hc, 0);
		return;
	}
	tb_http_conn_arm(h->hc, since >= span ? 1 : span - since);
}

/* ---- nghttp2 callbacks ---- */

static int on_begin_frame(nghttp2_session *sess, const nghttp2_frame_hd *hd, void *ud)
{
	(void)sess;
	struct tb_h2 *h = ud;
	if (h->detached)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	/*
	 * WINDOW_UPDATE is counted here, at its header: nghttp2 drops one for a
	 * closed stream without calling on_frame_recv, and those flood as well.
	 */
	if (hd->type == NGHTTP2_WINDOW_UPDATE) {
		if (h->wu_credit > 0)
			h->wu_credit--;
		else if (over_rate(h, &h->control_window, &h->controls, h->lim->h2_max_control_per_sec))
			return calm(h, "WINDOW_UPDATE flood");
		return 0;
	}
	if (hd->type == NGHTTP2_HEADERS)
		h->continuations = 0;
	else if (hd->type == NGHTTP2_CONTINUATION && ++h->continuations > h->lim->h2_max_continuations)
		return calm(h, "CONTINUATION flood");
	return 0;
}

static int on_begin_headers(nghttp2_session *sess, const nghttp2_frame *frame, void *ud)
{
	struct tb_h2 *h = ud;
	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct tb_h2_stream *s = calloc(1, sizeof *s);
	if (!s)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	s->h = h;
	s->id = frame->hd.stream_id;
	s->req = tb_http_h2_req_new(h->hc, s);
	if (!s->req) {
		free(s);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	if (!h->incomplete)
		h->mark = tb_http_conn_now(h->hc);
	h->incomplete++;
	s->next = h->streams;
	if (h->streams)
		h->streams->prev = s;
	h->streams = s;
	nghttp2_session_set_stream_user_data(sess, s->id, s);
	return 0;
}

static int on_header(nghttp2_session *sess, const nghttp2_frame *frame, const uint8_t *name,
	size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
	(void)flags;
	struct tb_h2 *h = ud;
	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	struct tb_h2_stream *s = nghttp2_session_get_stream_user_data(sess, frame->hd.stream_id);
	if (!s || !s->req)
		return 0;
	/* RFC 9113 6.5.2: the size of a field is name + value + 32. */
	s->header_bytes += nlen + vlen + 32;
	if (s->header_bytes > (size_t)BOMB_FACTOR * h->lim->h2_max_header_list)
		return calm(h, "decoded header block far over the limit");
	if (s->err || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0; /* trailers count against the limit but are not kept */
	if (s->header_bytes > h->lim->h2_max_header_list) {
		s->err = 431;
		return 0;
	}
	struct tb_arena *a = s->req->arena;
	if (nlen && name[0] == ':') {
		const char *v = tb_arena_strndup(a, (const char *)value, vlen);
		if (!v) {
			s->err = 500;
			return 0;
		}
		if (nlen == 7 && memcmp(name, ":method", 7) == 0)
			s->method = v;
		else if (nlen == 5 && memcmp(name, ":path", 5) == 0)
			s->path = v;
		else if (nlen == 10 && memcmp(name, ":authority", 10) == 0)
			s->authority = v;
		/* :scheme is checked by nghttp2; nothing here depends on it. */
		return 0;
	}
	if (nlen == 4 && memcmp(name, "host", 4) == 0)
		s->has_host = 1;
	int rc = tb_http_h2_req_header(s->req, (const char *)name, nlen, (const char *)value, vlen);
	if (rc)
		s->err = rc;
	return 0;
}

static void answer(struct tb_h2_stream *s, int status)
{
	struct tb_http_request *q = s->req;
	if (!q || s->dispatched)
		return;
	tb_http_h2_req_error(q, status); /* ends in tb_h2_respond, which clears s->req */
}

static int on_frame_recv(nghttp2_session *sess, const nghttp2_frame *frame, void *ud)
{
	struct tb_h2 *h = ud;
	if (h->detached)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	const struct tb_http_limits *lim = h->lim;
	switch (frame->hd.type) {
	case NGHTTP2_RST_STREAM:
		if (over_rate(h, &h->reset_window, &h->resets, lim->h2_max_resets_per_sec))
			return calm(h, "stream resets (Rapid Reset)");
		return 0;
	case NGHTTP2_SETTINGS:
	case NGHTTP2_PING:
		if (frame->hd.flags & NGHTTP2_FLAG_ACK)
			return 0;
		if (over_rate(h, &h->control_window, &h->controls, lim->h2_max_control_per_sec))
			return calm(h, "SETTINGS/PING flood");
		return 0;
	case NGHTTP2_PRIORITY:
		if (over_rate(h, &h->control_window, &h->controls, lim->h2_max_control_per_sec))
			return calm(h, "PRIORITY flood");
		return 0;
	case NGHTTP2_DATA:
	case NGHTTP2_HEADERS:
		break;
	default:
		return 0;
	}
	if (frame->hd.length == 0 && !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
		over_rate(h, &h->control_window, &h->controls, lim->h2_max_control_per_sec))
		return calm(h, "empty frames");
	struct tb_h2_stream *s = nghttp2_session_get_stream_user_data(sess, frame->hd.stream_id);
	if (!s)
		return 0;
	if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST && s->req) {
		if (!s->err) {
			if (!s->method || !s->path) {
				s->err = 400;
			} else {
				if (!s->has_host && s->authority) {
					int rc = tb_http_h2_req_header(s->req, "host", 4, s->authority,
						strlen(s->authority));
					if (rc)
						s->err = rc;
				}
				if (!s->err)
					s->err = tb_http_h2_req_route(s->req, s->method, s->path);
			}
		}
		if (s->err == 413 || s->err == 431 || s->err == 400 || s->err == 401 || s->err == 403) {
			/* Answer now; whatever body follows is dropped. */
			stream_set_complete(s);
			answer(s, s->err);
			return 0;
		}
	}
	if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM) || s->complete)
		return 0;
	stream_set_complete(s);
	if (!s->req)
		return 0;
	if (s->err) {
		answer(s, s->err);
		return 0;
	}
	s->dispatched = 1;
	tb_http_h2_req_dispatch(s->req);
	return 0;
}

static int on_data_chunk(nghttp2_session *sess, uint8_t flags, int32_t id, const uint8_t *data,
	size_t len, void *ud)
{
	(void)flags, (void)ud;
	struct tb_h2_stream *s = nghttp2_session_get_stream_user_data(sess, id);
	if (!s || !s->req || s->complete || s->dispatched)
		return 0;
	if (s->err)
		return 0;
	int rc = tb_http_h2_req_body(s->req, data, len);
	if (rc) {
		s->err = rc;
		stream_set_complete(s);
		answer(s, rc);
	}
	return 0;
}

static int on_stream_close(nghttp2_session *sess, int32_t id, uint32_t code, void *ud)
{
	(void)code, (void)ud;
	struct tb_h2_stream *s = nghttp2_session_get_stream_user_data(sess, id);
	if (!s)
		return 0;
	nghttp2_session_set_stream_user_data(sess, id, NULL);
	stream_free(s);
	return 0;
}

static int on_frame_send(nghttp2_session *sess, const nghttp2_frame *frame, void *ud)
{
	struct tb_h2 *h = ud;
	/*
	 * Streams we had to reset (refused past the stream limit, malformed)
	 * count like the client's resets: opening them is as cheap for a client.
	 */
	if (frame->hd.type == NGHTTP2_RST_STREAM && frame->rst_stream.error_code != NGHTTP2_NO_ERROR &&
		over_rate(h, &h->reset_window, &h->resets, h->lim->h2_max_resets_per_sec))
		calm(h, "streams refused or malformed");
	if (frame->hd.type == NGHTTP2_DATA && frame->hd.length > 0)
		h->wu_credit = h->wu_credit > WU_CREDIT_CAP - WU_PER_DATA ? WU_CREDIT_CAP : h->wu_credit + WU_PER_DATA;
	if ((frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS) ||
		!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	struct tb_h2_stream *s = nghttp2_session_get_stream_user_data(sess, frame->hd.stream_id);
	if (s && s->early) {
		s->early = 0;
		nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
	}
	return 0;
}

static ssize_t read_body(nghttp2_session *sess, int32_t id, uint8_t *buf, size_t len,
	uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	(void)sess, (void)id, (void)ud;
	struct tb_h2_stream *s = src->ptr;
	size_t n = s->body_len - s->body_off;
	if (n > len)
		n = len;
	memcpy(buf, s->body + s->body_off, n);
	s->body_off += n;
	if (s->body_off == s->body_len) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		free(s->body);
		s->body = NULL;
		s->body_len = s->body_off = 0;
	}
	return (ssize_t)n;
}

/* ---- Public side ---- */

int tb_h2_respond(struct tb_h2_stream *s, int status, const struct tb_http_header *hdrs,
	size_t n_hdrs, const void *body, size_t len, int no_body)
{
	struct tb_h2 *h = s->h;
	s->req = NULL;
	if (h->detached)
		return 0;
	nghttp2_nv *nv = calloc(n_hdrs + 1, sizeof *nv);
	if (!nv)
		return TB_ERR_NOMEM;
	char st[4];
	snprintf(st, sizeof st, "%03d", status % 1000);
	nv[0] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)st, 7, 3, NGHTTP2_NV_FLAG_NONE };
	for (size_t i = 0; i < n_hdrs; i++)
		nv[i + 1] = (nghttp2_nv){ (uint8_t *)hdrs[i].name, (uint8_t *)hdrs[i].value,
			strlen(hdrs[i].name), strlen(hdrs[i].value), NGHTTP2_NV_FLAG_NONE };
	nghttp2_data_provider prd = { .source.ptr = s, .read_callback = read_body };
	int send_body = !no_body && len > 0;
	if (send_body) {
		s->body = malloc(len);
		if (!s->body) {
			free(nv);
			nghttp2_submit_rst_stream(h->sess, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
			return TB_ERR_NOMEM;
		}
		memcpy(s->body, body, len);
		s->body_len = len;
	}
	int rc = nghttp2_submit_response(h->sess, s->id, nv, n_hdrs + 1, send_body ? &prd : NULL);
	free(nv);
	if (rc != 0) {
		/* This stream only: the others and the connection go on. */
		free(s->body);
		s->body = NULL;
		s->body_len = 0;
		nghttp2_submit_rst_stream(h->sess, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
	}
	if (!s->responding) {
		s->responding = 1;
		h->responding++;
	}
	/*
	 * An early answer (413, 431, or a handler that did not wait for the
	 * body): the rest of the request is dropped, and once the response is
	 * out the client is asked to stop sending (RST_STREAM NO_ERROR, RFC
	 * 9113 8.1), so that it cannot keep uploading into the void.
	 */
	if (!s->complete) {
		stream_set_complete(s);
		s->early = 1;
	}
	if (!h->in_recv) {
		int frc = tb_h2_flush(h);
		if (frc)
			return frc;
	}
	return 0;
}

int tb_h2_flush(struct tb_h2 *h)
{
	if (h->detached)
		return 0;
	int sent = 0;
	/*
	 * Frames are gathered into one write (one TLS record run, one libuv
	 * write) per COALESCE bytes: many small streams otherwise cost a write
	 * and a record each.
	 */
	struct tb_bytes batch = { 0 };
	while (tb_http_conn_queued(h->hc) < OUT_CAP) {
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(h->sess, &data);
		if (n < 0) {
			tb_bytes_free(&batch);
			return TB_ERR_NOMEM;
		}
		if (n > 0 && tb_bytes_append(&batch, data, (size_t)n) != 0) {
			tb_bytes_free(&batch);
			return TB_ERR_NOMEM;
		}
		if (batch.len && (n == 0 || batch.len >= COALESCE)) {
			int rc = tb_http_conn_send(h->hc, batch.p, batch.len);
			batch.len = 0;
			if (rc) {
				tb_bytes_free(&batch);
				return rc;
			}
			sent = 1;
			if (h->detached) {
				tb_bytes_free(&batch);
				return 0;
			}
		}
		if (n == 0)
			break;
	}
	if (batch.len) {
		int rc = tb_http_conn_send(h->hc, batch.p, batch.len);
		sent = 1;
		if (rc) {
			tb_bytes_free(&batch);
			return rc;
		}
	}
	tb_bytes_free(&batch);
	if (h->detached)
		return 0;
	if (sent && h->responding)
		h->mark = tb_http_conn_now(h->hc);
	if (h->calm && !h->calm_sent) {
		/* A defence tripped while sending (our resets): GOAWAY now, then close. */
		h->calm_sent = 1;
		nghttp2_session_terminate_session(h->sess, NGHTTP2_ENHANCE_YOUR_CALM);
		int rc = tb_h2_flush(h);
		if (rc == 0 && !h->finishing) {
			h->finishing = 1;
			tb_http_conn_finish(h->hc);
		}
		return rc;
	}
	if (!h->finishing && !nghttp2_session_want_read(h->sess) && !nghttp2_session_want_write(h->sess)) {
		/* GOAWAY exchanged (or a fatal protocol error answered): close once written. */
		h->finishing = 1;
		tb_http_conn_finish(h->hc);
		return 0;
	}
	rearm(h);
	return 0;
}

int tb_h2_backlogged(const struct tb_h2 *h)
{
	return tb_http_conn_queued(h->hc) >= OUT_CAP;
}

int tb_h2_input(struct tb_h2 *h, const uint8_t *p, size_t n)
{
	if (h->detached || h->finishing)
		return 0;
	h->in_recv = 1;
	ssize_t rc = nghttp2_session_mem_recv(h->sess, p, n);
	h->in_recv = 0;
	if (h->detached)
		return 0;
	if (h->calm) {
		h->calm_sent = 1;
		nghttp2_session_terminate_session(h->sess, NGHTTP2_ENHANCE_YOUR_CALM);
	} else if (rc < 0) {
		/*
		 * A connection error nghttp2 detected (it has queued GOAWAY with
		 * the code when it could: PROTOCOL_ERROR, COMPRESSION_ERROR,
		 * FLOW_CONTROL_ERROR, or its own flood limits).
		 */
		TB_DEBUG("http", "HTTP/2 session error: %s", nghttp2_strerror((int)rc));
		if (rc == NGHTTP2_ERR_NOMEM)
			return TB_ERR_NOMEM;
		nghttp2_session_terminate_session(h->sess, rc == NGHTTP2_ERR_FLOODED ||
			rc == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS ? NGHTTP2_ENHANCE_YOUR_CALM
								: NGHTTP2_PROTOCOL_ERROR);
	}
	int frc = tb_h2_flush(h);
	if (frc)
		return frc;
	if ((h->calm || rc < 0) && !h->finishing) {
		h->finishing = 1;
		tb_http_conn_finish(h->hc);
	}
	return 0;
}

void tb_h2_timeout(struct tb_h2 *h)
{
	if (h->detached || h->finishing)
		return;
	/* Idle, a request too slow, or a response the client does not take: GOAWAY and go. */
	nghttp2_session_terminate_session(h->sess, NGHTTP2_NO_ERROR);
	tb_h2_flush(h);
	if (!h->finishing) {
		h->finishing = 1;
		tb_http_conn_finish(h->hc);
	}
}

int tb_h2_new(struct tb_h2 **out, struct tb_http_conn *hc, const struct tb_http_limits *lim)
{
	*out = NULL;
	struct tb_h2 *h = calloc(1, sizeof *h);
	if (!h)
		return TB_ERR_NOMEM;
	h->hc = hc;
	h->lim = lim;
	h->mark = tb_http_conn_now(hc);
	nghttp2_session_callbacks *cb = NULL;
	nghttp2_option *opt = NULL;
	if (nghttp2_session_callbacks_new(&cb) != 0 || nghttp2_option_new(&opt) != 0) {
		nghttp2_session_callbacks_del(cb);
		free(h);
		return TB_ERR_NOMEM;
	}
	nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
	/* nghttp2's own limits stay just behind ours, as a backstop. */
	nghttp2_option_set_max_continuations(opt, lim->h2_max_continuations + 1);
	nghttp2_option_set_stream_reset_rate_limit(opt, (uint64_t)lim->h2_max_resets_per_sec * 2,
		lim->h2_max_resets_per_sec);
	nghttp2_option_set_max_deflate_dynamic_table_size(opt, lim->h2_header_table_size);
	nghttp2_option_set_max_outbound_ack(opt, 1000);
	nghttp2_option_set_max_settings(opt, 32);
	nghttp2_option_set_no_closed_streams(opt, 1);
	int rc = nghttp2_session_server_new2(&h->sess, cb, h, opt);
	nghttp2_session_callbacks_del(cb);
	nghttp2_option_del(opt);
	if (rc != 0) {
		free(h);
		return TB_ERR_NOMEM;
	}
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, lim->h2_max_concurrent_streams },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)lim->h2_max_header_list },
		{ NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, lim->h2_header_table_size },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, lim->h2_initial_window },
		{ NGHTTP2_SETTINGS_MAX_FRAME_SIZE, lim->h2_max_frame_size },
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
	};
	if (nghttp2_submit_settings(h->sess, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0) {
		nghttp2_session_del(h->sess);
		free(h);
		return TB_ERR_NOMEM;
	}
	*out = h;
	return 0;
}

int tb_h2_shutdown(struct tb_h2 *h)
{
	if (h->detached || h->finishing)
		return 0;
	if (!h->streams)
		return 0;
	/* Streams up to the last one we saw are finished; the client opens no new ones. */
	nghttp2_submit_goaway(h->sess, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->sess),
		NGHTTP2_NO_ERROR, NULL, 0);
	if (tb_h2_flush(h) != 0)
		return 0;
	return !h->finishing;
}

void tb_h2_detach(struct tb_h2 *h)
{
	if (!h || h->detached)
		return;
	h->detached = 1;
	for (struct tb_h2_stream *s = h->streams; s; s = s->next)
		stream_drop_req(s);
}

void tb_h2_free(struct tb_h2 *h)
{
	if (!h)
		return;
	tb_h2_detach(h);
	while (h->streams) {
		nghttp2_session_set_stream_user_data(h->sess, h->streams->id, NULL);
		stream_free(h->streams);
	}
	nghttp2_session_del(h->sess);
	free(h);
}

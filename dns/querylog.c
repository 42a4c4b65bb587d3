/*
 * DESIGN: the query log, an opt-in ring of the last answers sent to clients
 * (who asked, over what, the question, the RCODE, how long it took). Off at
 * start and allocated only when the admin API turns it on (until the next
 * restart), so a server nobody watches pays one branch per answer; bounded by
 * dns.querylog_size slots, the oldest overwritten. It is read from the answer
 * as sent (the question is echoed there), at the two places an answer leaves:
 * at once from server.c's transports, or later through their reply callbacks.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/error.h"
#include "dns/dns.h"
#include "dns/dns_internal.h"

int dns_qlog_enable(struct dns_qlog *q, int on)
{
	if (!on) {
		q->enabled = 0;
		return 0;
	}
	if (!q->size)
		return TB_ERR_UNSUPPORTED;
	if (!q->ring) {
		q->ring = calloc(q->size, sizeof *q->ring);
		if (!q->ring)
			return TB_ERR_NOMEM;
		q->next = q->n = 0;
	}
	q->enabled = 1;
	return 0;
}

void dns_qlog_free(struct dns_qlog *q)
{
	free(q->ring);
	memset(q, 0, sizeof *q);
}

static void client_str(const struct sockaddr_storage *ss, char *buf, size_t n)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
		snprintf(buf, n, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
		snprintf(buf, n, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
	} else {
		snprintf(buf, n, "internal");
	}
}

void dns_qlog_answer(struct dns_server *s, const struct dns_reply *r, const uint8_t *p, size_t n)
{
	struct dns_qlog *q = &s->qlog;
	if (!q->enabled || !q->ring || n < 12)
		return;
	struct dns_qlog_entry *e = &q->ring[q->next];
	memset(e, 0, sizeof *e);
	uv_timeval64_t tv;
	e->time_ms = uv_gettimeofday(&tv) == 0 ? (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000 : 0;
	uint64_t now = uv_hrtime();
	e->us = r->t0 && now > r->t0 ? (uint32_t)((now - r->t0) / 1000) : 0;
	e->rcode = (uint8_t)(p[3] & 0xf);
	e->tcp = (uint8_t)dns_reply_via(r); /* 0 udp, 1 tcp, 2 doh, 3 dot */
	client_str(&r->addr, e->client, sizeof e->client);
	/* the question, when the answer carries one (a FORMERR may not) */
	size_t off = 12, nl = 0;
	e->name[0] = 0;
	if ((p[4] << 8 | p[5]) >= 1 && dns_name_unpack(p, n, &off, e->name, &nl) == 0 && n - off >= 2)
		e->type = (uint16_t)(p[off] << 8 | p[off + 1]);
	else
		e->name[0] = 0;
	q->next = (q->next + 1) % q->size;
	if (q->n < q->size)
		q->n++;
}

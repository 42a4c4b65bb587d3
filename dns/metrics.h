/*
 * The DNS server's Prometheus series (core/metrics.h; listed in
 * docs/metrics.md): queries and responses counted in server.c (every answer,
 * at once or later, passes there), upstream latency in forward.c and
 * iterate.c, the cache's counters and size read at scrape time.
 */
#ifndef DNS_METRICS_H
#define DNS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/metrics.h"

struct dns_server;

/* A QUERY-opcode message with this qtype (0: no question) arrived; via: 0 udp, 1 tcp, 2 doh, 3 dot. */
void dns_metrics_query(uint16_t qtype, int via);
/* A response leaves: a QUERY's counts by RCODE, an UPDATE's as an update result. */
void dns_metrics_response(const uint8_t *p, size_t n, int via);
/* An upstream exchange sent at `sent` (tb_metrics_now()) was answered; mode "forward" or "iterate". */
void dns_metrics_upstream(double sent, const char *mode);
/* A validation ended (dnssec.h's status: 0 indeterminate, 1 secure, 2 insecure, 3 bogus). */
void dns_metrics_dnssec(int status);
/* Registers the series and the scrape hook (start); dns_metrics_stop removes the hook. */
int dns_metrics_start(struct dns_server *s);
void dns_metrics_stop(struct dns_server *s);

#endif

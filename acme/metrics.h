/*
 * The CA's Prometheus series (core/metrics.h; listed in docs/metrics.md),
 * bumped where the events happen: order.c (orders, authorizations created),
 * validate.c (validations and their latency, authorizations valid or
 * invalid), authz.c (deactivations), finalize.c (finalizations, issuances).
 */
#ifndef ACME_METRICS_H
#define ACME_METRICS_H

#include "core/metrics.h"

extern struct tb_metric acme_m_orders;         /* tb_acme_orders_created_total */
extern struct tb_metric acme_m_authzs;         /* tb_acme_authorizations_created_total */
extern struct tb_metric acme_m_authz_results;  /* {result} */
extern struct tb_metric acme_m_finalized;      /* {result} */
extern struct tb_metric acme_m_validations;    /* {type, result} */
extern struct tb_metric acme_m_validation_secs; /* {type} */
extern struct tb_metric acme_m_issued;         /* {profile} */

/* Registers the series (at start). */
int acme_metrics_register(void);

#endif

/*
 * The CT log's Prometheus series (core/metrics.h; listed in
 * docs/metrics.md): submissions are counted in log.c as each submitter gets
 * its answer, sequencing as each batch commits; the gauges (tree size,
 * pool, checkpoint age) are read from the logs at scrape time.
 */
#ifndef CT_METRICS_H
#define CT_METRICS_H

#include "core/metrics.h"

struct ct_service;

extern struct tb_metric ct_m_submissions;   /* {log, endpoint, result} */
extern struct tb_metric ct_m_entries;       /* {log} */
extern struct tb_metric ct_m_batch_size;    /* {log} */
extern struct tb_metric ct_m_batch_secs;    /* {log} */

/* "ok", "rejected" (the submission is at fault: 400) or "error" for a submission's status. */
const char *ct_metrics_result(int status);
/* Registers the series and the scrape hook (start); ct_metrics_stop removes the hook. */
int ct_metrics_start(struct ct_service *svc);
void ct_metrics_stop(struct ct_service *svc);

#endif

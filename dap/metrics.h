/*
 * The aggregator's Prometheus series (core/metrics.h; listed in
 * docs/metrics.md): uploads by outcome in upload.c and api.c, aggregation
 * jobs and collections where they end (leader.c, api.c), per-task counts
 * through dap_metrics_task.
 */
#ifndef DAP_METRICS_H
#define DAP_METRICS_H

#include <stdint.h>

#include "core/metrics.h"

extern struct tb_metric dap_m_agg_jobs;     /* {role, result} */
extern struct tb_metric dap_m_collections;  /* {role, result} */

/*
 * An upload's outcome: "accepted" or a rejection reason (docs/metrics.md
 * lists them). Counts tb_dap_reports_total and the task's accepted/rejected.
 */
void dap_metrics_upload(const uint8_t *task_id, const char *outcome);
/* n reports of a task reached event: "aggregated" or "collected" (leader). */
void dap_metrics_task(const uint8_t *task_id, const char *event, uint64_t n);
int dap_metrics_register(void);

#endif

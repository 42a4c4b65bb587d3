/*
 * The leader's upload pipeline (DAP-09 section 4.4.2), without HTTP: the
 * route handler in api.c calls dap_leader_upload and turns its verdict into
 * a response. Checks, in the draft's order of cost (cheap first, HPKE last):
 *   the Report decodes                       else invalidMessage
 *   time <= now + tolerable_clock_skew        else reportTooEarly
 *   time <= task_expiration (when set)        else reportRejected
 *   time >= now - report_expiry_age (when set) else reportRejected
 *   the report's batch was not collected yet  else reportRejected
 *   the leader's HPKE config id is known      else outdatedConfig
 *   the public share is well-formed           else invalidMessage
 *   the leader's share opens (info, InputShareAad) else reportRejected
 *   PlaintextInputShare and the VDAF input share decode else invalidMessage
 *   the report id is new for the task         else reportRejected (replay)
 * The last check is the store's primary key, so it holds across concurrent
 * uploads and restarts; the answer is given only after the commit. The open
 * and the checks of the plaintext run on libuv's thread pool (on copies of
 * the report, the key and the VDAF), so the loop thread does no X25519. Each
 * refusal is counted per task under a reason named like the PrepareErrors
 * (dap_rejections, read by the admin API).
 */
#include "dap/dap_internal.h"
#include "dap/metrics.h"

#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/error.h"
#include "core/log.h"

struct upload_ctx {
	struct dap_service *svc;
	struct dap_aggregator *agg;
	dap_upload_cb cb;
	void *ctx;
	uint8_t task_id[DAP_TASK_ID_LEN]; /* for the per-task metrics */
	/* The thread pool's part (copies: the loop may reload keys and tasks meanwhile). */
	uv_work_t work;
	struct dap_vdaf vdaf;
	struct dap_hpke_key key;
	struct tb_buf body;               /* a copy of the Report */
	struct dap_stored_report *report; /* the worker's result */
	int problem;                      /* or the refusal it found */
	const char *reason, *metric, *detail;
	int rc;
};

static void upload_free(struct upload_ctx *u)
{
	tb_crypto_wipe(&u->key, sizeof u->key);
	free((void *)u->body.p);
	dap_stored_report_free(u->report);
	free(u);
}

/* Counts a refused upload under its reason; returns problem. */
static int refuse(struct dap_aggregator *agg, const struct dap_task *task, int problem, const char *reason)
{
	dap_db_count_rejection(agg->svc->core->store, agg->name, task->id, reason);
	return problem;
}

static void stored(int status, void *arg)
{
	struct upload_ctx *u = arg;
	u->svc->inflight--;
	dap_metrics_upload(u->task_id, status == 0 ? "accepted" : status == TB_ERR_EXISTS ? "replayed" : "error");
	if (status == 0)
		u->cb(u->ctx, DAP_PENDING, NULL);
	else if (status == TB_ERR_EXISTS) {
		dap_db_count_rejection(u->svc->core->store, "leader", u->task_id, "report_replayed");
		u->cb(u->ctx, DAP_PROBLEM_REPORT_REJECTED, "report replayed: this report id was already uploaded");
	}
	else
		u->cb(u->ctx, DAP_STORE_FAILED, "the report could not be stored");
	struct dap_service *svc = u->svc;
	free(u);
	dap_service_check_stopped(svc);
}

/*
 * Worker thread: the leader's HPKE open (X25519, HKDF, AEAD) and the checks
 * of what it yields; reads only u. The Report decoded on the loop already.
 */
static void open_work(uv_work_t *w)
{
	struct upload_ctx *u = w->data;
	struct dap_report rep;
	uint8_t info_buf[DAP_HPKE_INFO_BUF];
	struct tb_buf info = dap_hpke_info_input_share(DAP_ROLE_LEADER, info_buf);
	struct tb_bytes aad = { 0 }, pt = { 0 };
	int rc = dap_report_decode(u->body, &rep);
	if (!rc)
		rc = dap_hpke_aad_input_share(u->task_id, rep.md.id, rep.md.time, rep.public_share, &aad);
	if (rc) {
		tb_bytes_free(&aad);
		u->rc = rc;
		return;
	}
	rc = dap_hpke_open(&u->key.config, &u->key.kp, &rep.leader_share, info, tb_bytes_buf(&aad), &pt);
	tb_bytes_free(&aad);
	struct dap_plaintext_input_share pis;
	if (rc) {
		u->problem = DAP_PROBLEM_REPORT_REJECTED;
		u->reason = "hpke_decrypt_error";
		u->metric = "decrypt_failure";
		u->detail = "the leader's input share does not decrypt";
	} else if (dap_plaintext_input_share_decode(tb_bytes_buf(&pt), &pis) ||
		   dap_prio3_check_input_share(&u->vdaf, 0, pis.payload)) {
		u->problem = DAP_PROBLEM_INVALID_MESSAGE;
		u->reason = "invalid_message";
		u->metric = "invalid_message";
		u->detail = "the leader's plaintext input share is malformed";
	} else {
		struct dap_stored_report *r = calloc(1, sizeof *r);
		if (r) {
			memcpy(r->task_id, u->task_id, DAP_TASK_ID_LEN);
			r->md = rep.md;
			tb_bytes_append(&r->public_share, rep.public_share.p, rep.public_share.len);
			tb_bytes_append(&r->extensions, pis.extensions.p, pis.extensions.len);
			tb_bytes_append(&r->leader_share, pis.payload.p, pis.payload.len);
			dap_hpke_ciphertext_encode(&rep.helper_share, &r->helper_share);
		}
		if (!r || r->public_share.err || r->extensions.err || r->leader_share.err || r->helper_share.err) {
			dap_stored_report_free(r);
			u->rc = TB_ERR_NOMEM;
		} else {
			u->report = r;
		}
	}
	tb_crypto_wipe(pt.p, pt.len);
	tb_bytes_free(&pt);
}

/* Loop thread: a refusal is answered now, a report goes to the store (answered after the commit). */
static void opened(uv_work_t *w, int status)
{
	struct upload_ctx *u = w->data;
	struct dap_service *svc = u->svc;
	int rc = status ? TB_ERR_CANCELED : u->rc;
	if (!rc && u->report) {
		rc = dap_db_insert_report(svc->core->store, u->report, stored, u);
		if (!rc) {
			u->report = NULL; /* the store's now */
			tb_crypto_wipe(&u->key, sizeof u->key);
			free((void *)u->body.p);
			u->body = TB_BUF(NULL, 0);
			return; /* stored() answers, and frees u */
		}
	}
	if (rc) {
		dap_metrics_upload(u->task_id, "error");
		u->cb(u->ctx, DAP_STORE_FAILED, "the report could not be stored");
	} else {
		dap_metrics_upload(u->task_id, u->metric);
		dap_db_count_rejection(svc->core->store, u->agg->name, u->task_id, u->reason);
		u->cb(u->ctx, u->problem, u->detail);
	}
	svc->inflight--;
	upload_free(u);
	dap_service_check_stopped(svc);
}

int dap_leader_upload(struct dap_aggregator *agg, const struct dap_task *task, struct tb_buf body,
		      uint64_t now, dap_upload_cb cb, void *ctx, const char **detail)
{
	struct dap_report rep;
	int rc;
	*detail = NULL;
	if (dap_report_decode(body, &rep)) {
		*detail = "the body is not a DAP-09 Report";
		dap_metrics_upload(task->id, "invalid_message");
		return refuse(agg, task, DAP_PROBLEM_INVALID_MESSAGE, "invalid_message");
	}
	uint64_t t = rep.md.time;
	if (t > now && t - now > task->tolerable_clock_skew) {
		*detail = "the report's time is ahead of the aggregator's clock by more than the tolerable skew";
		dap_metrics_upload(task->id, "too_early");
		return refuse(agg, task, DAP_PROBLEM_REPORT_TOO_EARLY, "report_too_early");
	}
	if (task->task_expiration && t > task->task_expiration) {
		*detail = "the report's time is after the task's expiration";
		dap_metrics_upload(task->id, "task_expired");
		return refuse(agg, task, DAP_PROBLEM_REPORT_REJECTED, "task_expired");
	}
	if (task->report_expiry_age && t < now && now - t > task->report_expiry_age) {
		*detail = "the report is older than the task's report expiry age";
		dap_metrics_upload(task->id, "report_expired");
		return refuse(agg, task, DAP_PROBLEM_REPORT_REJECTED, "report_dropped");
	}
	uint64_t queried = 0;
	/* (A fixed_size report gets its batch later, at aggregation.) */
	if (task->query_type == DAP_QUERY_TIME_INTERVAL &&
	    (rc = dap_db_bucket_queried(agg->svc->core->store, "leader", task->id,
					dap_bucket_of(task, t), &queried))) {
		dap_metrics_upload(task->id, "error");
		return rc;
	}
	if (queried) {
		*detail = "the report's batch was collected already";
		dap_metrics_upload(task->id, "batch_collected");
		return refuse(agg, task, DAP_PROBLEM_REPORT_REJECTED, "batch_collected");
	}
	struct dap_hpke_key own; /* the task's own key, when it has one */
	const struct dap_hpke_key *key = dap_task_find_key(agg, task, rep.leader_share.config_id, &own);
	if (!key) {
		*detail = "the leader's input share is sealed to an unknown HPKE config";
		dap_metrics_upload(task->id, "outdated_config");
		return refuse(agg, task, DAP_PROBLEM_OUTDATED_CONFIG, "hpke_unknown_config_id");
	}
	if (dap_prio3_check_public_share(&task->vdaf, rep.public_share)) {
		tb_crypto_wipe(&own, sizeof own);
		*detail = "the public share is malformed for the task's VDAF";
		dap_metrics_upload(task->id, "invalid_message");
		return refuse(agg, task, DAP_PROBLEM_INVALID_MESSAGE, "invalid_message");
	}

	/* The open and what follows it: the thread pool's (open_work, opened). */
	struct upload_ctx *u = calloc(1, sizeof *u);
	uint8_t *copy = malloc(body.len ? body.len : 1);
	if (!u || !copy) {
		tb_crypto_wipe(&own, sizeof own);
		free(u);
		free(copy);
		dap_metrics_upload(task->id, "error");
		return TB_ERR_NOMEM;
	}
	memcpy(copy, body.p, body.len);
	u->svc = agg->svc;
	u->agg = agg;
	u->cb = cb;
	u->ctx = ctx;
	memcpy(u->task_id, task->id, DAP_TASK_ID_LEN);
	u->vdaf = task->vdaf;
	u->key = *key;
	u->key.config.public_key = TB_BUF(u->key.pk, key->config.public_key.len);
	tb_crypto_wipe(&own, sizeof own);
	u->body = TB_BUF(copy, body.len);
	u->work.data = u;
	if ((rc = uv_queue_work(agg->svc->core->loop, &u->work, open_work, opened)) != 0) {
		upload_free(u);
		dap_metrics_upload(task->id, "error");
		return TB_ERR_IO;
	}
	agg->svc->inflight++;
	return DAP_PENDING;
}

/*
 * DESIGN: the leader's aggregation job driver and collection (DAP-09 4.5,
 * 4.6), on the loop thread; HTTP to the helper goes through the core client,
 * HTTP from the collector stays in api.c.
 *
 * Driver: a timer (dap.aggregation_period_ms) takes one job at a time; its
 * preparation (and the helper's) runs on libuv's thread pool. A
 * job left in flight by a crash or a failed request is resumed first, with
 * the same id and, since Prio3's preparation is deterministic and the
 * reports are taken in report id order, the same request bytes, so the
 * helper answers it from its stored response. Otherwise up to
 * dap.max_aggregation_job_size waiting reports of one task are claimed for
 * a new job in a store commit before anything is sent. The helper's answer
 * is finished in one store job that adds the out shares to the batch
 * buckets and marks the reports aggregated or failed only if the job is
 * still in flight: a report is aggregated once, whatever is retried or
 * killed. A failed request backs off (period times 2^n, at most a minute)
 * for its task only; the other tasks' jobs go on meanwhile.
 *
 * Collection: a job is ready when no report of its interval waits for
 * aggregation; the leader then sums its buckets, checks the batch size and
 * query count, asks the helper for its share with the report count and
 * checksum, seals its own share to the collector, and stores the Collection
 * (counting the query) before answering.
 */
#include "dap/dap_internal.h"
#include "dap/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ca.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/http.h"
#include "core/log.h"

#define DAP_MAX_BACKOFF_MS 60000u
#define DAP_HELPER_TIMEOUT_MS 60000u
#define DAP_MAX_HELPER_RESPONSE (256u << 20)

static void schedule(struct dap_service *svc, uint64_t ms);

static const char *helper_roots(struct dap_service *svc)
{
	if (svc->helper_ca_pem)
		return svc->helper_ca_pem;
	return svc->core->ca ? svc->core->ca->root_pem : NULL;
}

/* helper_url + path (helper_url ends with '/'). */
static char *helper_url(const struct dap_task *t, const char *fmt1, const uint8_t *id2, size_t id2_len)
{
	char tid[64], jid[64] = "";
	struct tb_bytes u = { 0 };
	dap_b64url(t->id, DAP_TASK_ID_LEN, tid, sizeof tid);
	if (id2)
		dap_b64url(id2, id2_len, jid, sizeof jid);
	size_t hl = strlen(t->helper_url);
	tb_bytes_printf(&u, "%s%stasks/%s/%s%s", t->helper_url,
			hl && t->helper_url[hl - 1] == '/' ? "" : "/", tid, fmt1, jid);
	return tb_bytes_cstr(&u);
}

/* ---- the driver ------------------------------------------------------------- */

/*
 * A failed job's task waits (period x 2^n, at most a minute) while the other
 * tasks go on: a helper that is down holds up only its own tasks.
 */
static void job_over(struct dap_service *svc, int ok)
{
	tb_metric_inc(&dap_m_agg_jobs, "leader", ok ? "ok" : "error");
	if (ok) {
		if (svc->backoff_until && !memcmp(svc->job->task.id, svc->backoff_task, DAP_TASK_ID_LEN)) {
			svc->backoff = 0;
			svc->backoff_until = 0;
		}
		schedule(svc, 0);
	} else {
		uint64_t ms = svc->aggregation_period_ms;
		for (unsigned i = 0; i < svc->backoff && ms < DAP_MAX_BACKOFF_MS; i++)
			ms *= 2;
		if (svc->backoff < 16)
			svc->backoff++;
		memcpy(svc->backoff_task, svc->job->task.id, DAP_TASK_ID_LEN);
		svc->backoff_until = uv_now(svc->core->loop) + (ms < DAP_MAX_BACKOFF_MS ? ms : DAP_MAX_BACKOFF_MS);
		schedule(svc, svc->aggregation_period_ms);
	}
	dap_flow_free(svc->job);
	svc->job = NULL;
	dap_service_check_stopped(svc);
}

static void finished(int status, struct dap_flow *f)
{
	struct dap_service *svc = f->svc;
	size_t ok = 0, early = 0;
	for (size_t i = 0; i < f->n_items; i++) {
		ok += f->items[i].out_share && f->items[i].result < 0;
		early += !f->items[i].out_share && f->items[i].result == DAP_PREP_ERR_REPORT_TOO_EARLY;
	}
	if (status)
		TB_WARN("dap", "leader: aggregation job commit failed: %s", tb_strerror(status));
	else
		TB_DEBUG("dap", "leader: aggregation job done: %zu of %zu reports aggregated", ok, f->n_items);
	if (!status)
		dap_metrics_task(f->task.id, "aggregated", ok);
	if (!status && early)
		TB_WARN("dap", "leader: the helper found %zu report(s) too early; they wait for a later job", early);
	/* Early reports wait again: back off so that they are not re-sent every period. */
	job_over(svc, status == 0 && early == 0);
}

static struct dap_out_item *item_of(struct dap_flow *f, const uint8_t *report_id, size_t *cursor)
{
	/* The helper answers in request order: the next item is the usual match. */
	for (size_t k = 0; k < f->n_items; k++) {
		size_t i = (*cursor + k) % f->n_items;
		if (!memcmp(f->items[i].report_id, report_id, DAP_REPORT_ID_LEN)) {
			*cursor = i + 1;
			return &f->items[i];
		}
	}
	return NULL;
}

static void on_helper_answer(int err, const struct tb_http_client_resp *resp, void *arg)
{
	struct dap_flow *f = arg;
	struct dap_service *svc = f->svc;
	const struct dap_vdaf *v = &f->task.vdaf;
	struct dap_agg_job_resp r;
	if (err || !resp || resp->status != 200 || dap_agg_job_resp_decode(resp->body, &r)) {
		TB_WARN("dap", "leader: aggregation job to %s failed: %s", f->task.helper_url,
			err ? tb_strerror(err) : resp && resp->status != 200 ? "helper refused the job" :
			"the answer is not an AggregationJobResp");
		job_over(svc, 0);
		return;
	}
	/* Every report the request carried gets a result; one without an answer fails. */
	struct tb_reader it = TB_READER(r.prepare_resps.p, r.prepare_resps.len);
	struct dap_prepare_resp pr;
	size_t cursor = 0;
	while (dap_prepare_resp_next(&it, &pr) == 0) {
		struct dap_out_item *o = item_of(f, pr.report_id, &cursor);
		if (!o || o->result >= 0 || o->out_share)
			continue;
		if (pr.state == DAP_PREP_REJECT) {
			o->result = pr.error;
			continue;
		}
		if (pr.state != DAP_PREP_CONTINUE || !(o->out_share = malloc(v->out_share_size ? v->out_share_size : 1)) ||
		    dap_pp_leader_continued(v, o->prep_state, pr.payload, o->out_share)) {
			free(o->out_share);
			o->out_share = NULL;
			o->result = DAP_PREP_ERR_VDAF_PREP_ERROR;
		}
	}
	for (size_t i = 0; i < f->n_items; i++)
		if (!f->items[i].out_share && f->items[i].result < 0)
			f->items[i].result = DAP_PREP_ERR_REPORT_DROPPED;
	if (dap_db_leader_finish(svc->core->store, f, finished))
		job_over(svc, 0);
}

static void send_job(struct dap_flow *f)
{
	struct dap_service *svc = f->svc;
	char *url = helper_url(&f->task, "aggregation_jobs/", f->job_id, DAP_AGG_JOB_ID_LEN);
	struct tb_http_header h[] = {
		{ "Content-Type", DAP_MT_AGG_JOB_INIT_REQ },
		{ "DAP-Auth-Token", f->task.aggregator_auth_token },
	};
	struct tb_http_client_req r = {
		.method = "PUT",
		.url = url,
		.headers = h,
		.n_headers = 2,
		.body = tb_bytes_buf(&f->request),
		.timeout_ms = DAP_HELPER_TIMEOUT_MS,
		.max_body = DAP_MAX_HELPER_RESPONSE,
		.ca_pem = helper_roots(svc),
		/* One connection (and TLS session) to the helper for every job; the PUT is idempotent by job id. */
		.keep_alive = 1,
		.retry = 1,
	};
	int err = url ? tb_http_client_request(svc->core->loop, &r, on_helper_answer, f) : TB_ERR_NOMEM;
	free(url);
	if (err) {
		TB_WARN("dap", "leader: cannot send an aggregation job: %s", tb_strerror(err));
		job_over(svc, 0);
	}
}

static void begun(int status, struct dap_flow *f)
{
	if (status) {
		TB_WARN("dap", "leader: cannot claim reports for a job: %s", tb_strerror(status));
		job_over(f->svc, 0);
		return;
	}
	if (f->request.len)
		send_job(f);
	else if (dap_db_leader_finish(f->svc->core->store, f, finished))
		job_over(f->svc, 0);
}

/* Leader preparation of every report and the AggregationJobInitReq. */
static int build_job(struct dap_flow *f)
{
	const struct dap_vdaf *v = &f->task.vdaf;
	struct dap_part_batch_selector pbs = { .query_type = f->task.query_type };
	memcpy(pbs.batch_id, f->batch_id, DAP_BATCH_ID_LEN);
	size_t mark, sent = 0;
	int rc = dap_agg_job_init_req_begin(TB_BUF(NULL, 0), &pbs, &f->request, &mark);
	for (size_t i = 0; !rc && i < f->n_items; i++) {
		struct dap_out_item *o = &f->items[i];
		struct dap_prepare_init pi = { 0 };
		o->bucket = dap_bucket_of(&f->task, o->time);
		if (!(o->prep_state = malloc(v->prep_state_size ? v->prep_state_size : 1)))
			return TB_ERR_NOMEM;
		if (dap_hpke_ciphertext_decode(tb_bytes_buf(&o->helper_share),
					       &pi.report_share.encrypted_input_share) ||
		    dap_pp_leader_init(v, f->task.verify_key, o->report_id, tb_bytes_buf(&o->public_share),
				       tb_bytes_buf(&o->input_share), o->prep_state, &o->outbound, NULL)) {
			o->result = DAP_PREP_ERR_VDAF_PREP_ERROR;
			continue;
		}
		memcpy(pi.report_share.md.id, o->report_id, DAP_REPORT_ID_LEN);
		pi.report_share.md.time = o->time;
		pi.report_share.public_share = tb_bytes_buf(&o->public_share);
		pi.payload = tb_bytes_buf(&o->outbound);
		rc = dap_prepare_init_encode(&pi, &f->request);
		sent++;
	}
	if (!rc)
		rc = dap_msg_list_end(&f->request, mark);
	if (!rc && sent == 0)
		tb_bytes_free(&f->request); /* nothing to send: finish at once */
	if (!rc && f->request.len)
		tb_sha256(tb_bytes_buf(&f->request), f->request_hash);
	return rc;
}

/* Worker thread: the leader's preparation and the request (reads only f). */
static void build_work(uv_work_t *w)
{
	struct dap_flow *f = w->data;
	f->work_rc = build_job(f);
}

static void build_done(uv_work_t *w, int status)
{
	struct dap_flow *f = w->data;
	int rc = status ? TB_ERR_CANCELED : f->work_rc;
	if (!rc && f->resumed)
		begun(0, f);
	else if (!rc)
		rc = dap_db_leader_begin(f->svc->core->store, f, begun);
	if (rc) {
		TB_WARN("dap", "leader: cannot start an aggregation job: %s", tb_strerror(rc));
		job_over(f->svc, 0);
	}
}

static void tick(uv_timer_t *timer)
{
	struct dap_service *svc = timer->data;
	struct tb_store *st = svc->core->store;
	if (svc->job || svc->stopping)
		return;
	uint8_t tid[DAP_TASK_ID_LEN], jid[DAP_AGG_JOB_ID_LEN], bid[DAP_BATCH_ID_LEN];
	int fixed = 0;
	const uint8_t *skip = svc->backoff_until > uv_now(svc->core->loop) ? svc->backoff_task : NULL;
	int resumed = dap_db_leader_pending_job(st, skip, tid, jid, bid, &fixed) == 0;
	if (!resumed && (dap_db_leader_pending_task(st, skip, tid) || tb_random(jid, sizeof jid)))
		return;
	/* From the store, not the cache: a task deleted by a command is gone here at once. */
	struct dap_task task, *t = &task;
	int grc = dap_db_get_task(st, "leader", tid, &task);
	if (grc && grc != TB_ERR_NOT_FOUND)
		return;
	if (grc) {
		/* Deleted with reports waiting: drop them, or they would hold up every other task. */
		TB_WARN("dap", "leader: dropping the reports of a task this leader no longer knows");
		dap_db_leader_drop_task(st, tid);
		return;
	}
	struct dap_flow *f = calloc(1, sizeof *f);
	if (!f)
		return;
	f->svc = svc;
	f->task = *t;
	memcpy(f->job_id, jid, sizeof jid);
	svc->job = f;
	size_t max = svc->max_job_size;
	int rc = 0;
	if (resumed) {
		f->fixed = fixed;
		memcpy(f->batch_id, bid, sizeof bid);
	} else if (t->query_type == DAP_QUERY_FIXED_SIZE) {
		/* Fill the open batch up to max_batch_size, then start a new one. */
		uint64_t assigned = 0;
		f->fixed = 1;
		rc = dap_db_open_batch(st, t->id, t->max_batch_size, f->batch_id, &assigned);
		if (rc == TB_ERR_NOT_FOUND)
			rc = tb_random(f->batch_id, sizeof f->batch_id);
		if (!rc && t->max_batch_size && t->max_batch_size - assigned < max)
			max = (size_t)(t->max_batch_size - assigned);
	}
	if (!rc)
		rc = dap_db_leader_reports(st, f, resumed, max);
	if (!rc) {
		/* Preparation is CPU work: the thread pool does it. */
		f->resumed = resumed;
		f->work.data = f;
		rc = uv_queue_work(svc->core->loop, &f->work, build_work, build_done) ? TB_ERR_IO : 0;
	}
	if (rc) {
		TB_WARN("dap", "leader: cannot start an aggregation job: %s", tb_strerror(rc));
		job_over(svc, 0);
	}
}

static void schedule(struct dap_service *svc, uint64_t ms)
{
	if (svc->timer_on && !svc->stopping)
		uv_timer_start(&svc->timer, tick, ms, svc->aggregation_period_ms);
}

void dap_leader_kick(struct dap_service *svc)
{
	if (!svc->job)
		schedule(svc, 0);
}

void dap_leader_start(struct dap_service *svc)
{
	uv_timer_init(svc->core->loop, &svc->timer);
	svc->timer.data = svc;
	svc->timer_on = 1;
	schedule(svc, svc->aggregation_period_ms);
}

static void timer_closed(uv_handle_t *h)
{
	struct dap_service *svc = h->data;
	svc->timer_on = 0;
	dap_service_check_stopped(svc);
}

void dap_leader_stop(struct dap_service *svc)
{
	if (svc->timer_on && !uv_is_closing((uv_handle_t *)&svc->timer)) {
		svc->timer_on = 2; /* closing */
		uv_close((uv_handle_t *)&svc->timer, timer_closed);
	}
}

/* ---- collection --------------------------------------------------------------- */

struct collect_ctx {
	struct dap_service *svc;
	struct dap_task task;
	uint8_t job_id[DAP_COLLECTION_JOB_ID_LEN];
	struct tb_bytes request;          /* the CollectionReq */
	struct dap_interval interval;     /* time_interval: the query's */
	int fixed;                        /* fixed_size: the batch collected */
	uint8_t batch_id[DAP_BATCH_ID_LEN];
	uint64_t start, end;              /* the buckets of the batch */
	struct dap_batch_sum sum;
	struct tb_bytes collection;
	dap_collect_cb cb;
	void *ctx;
};

/* The BatchSelector of the collected batch (AggregateShareReq, the aad). */
static void selector(const struct collect_ctx *c, struct dap_batch_selector *bs)
{
	memset(bs, 0, sizeof(*bs));
	bs->query_type = c->fixed ? DAP_QUERY_FIXED_SIZE : DAP_QUERY_TIME_INTERVAL;
	bs->interval = c->interval;
	memcpy(bs->batch_id, c->batch_id, DAP_BATCH_ID_LEN);
}

static void collect_free(struct collect_ctx *c)
{
	tb_bytes_free(&c->request);
	tb_bytes_free(&c->collection);
	if (c->sum.agg_share)
		tb_crypto_wipe(c->sum.agg_share, c->task.vdaf.agg_share_size);
	dap_batch_sum_free(&c->sum);
	tb_crypto_wipe(&c->task, sizeof c->task);
	free(c);
}

static void collect_stored(int status, int conflict, void *arg)
{
	struct collect_ctx *c = arg;
	(void)conflict;
	c->svc->inflight--;
	tb_metric_inc(&dap_m_collections, "leader", status ? "error" : "ok");
	if (!status)
		dap_metrics_task(c->task.id, "collected", c->sum.report_count);
	if (status)
		c->cb(c->ctx, DAP_STORE_FAILED, "the collection could not be stored", TB_BUF(NULL, 0));
	else
		c->cb(c->ctx, -1, NULL, tb_bytes_buf(&c->collection));
	struct dap_service *svc = c->svc;
	collect_free(c);
	dap_service_check_stopped(svc);
}

/* The helper's problem type, when it answered with a problem document. */
static int helper_problem(const struct tb_http_client_resp *resp)
{
	cJSON *j = cJSON_ParseWithLength((const char *)resp->body.p, resp->body.len);
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
	int p = cJSON_IsString(type) ? dap_problem_from_urn(type->valuestring, strlen(type->valuestring)) : -1;
	cJSON_Delete(j);
	return p;
}

static void on_agg_share(int err, const struct tb_http_client_resp *resp, void *arg)
{
	struct collect_ctx *c = arg;
	struct dap_service *svc = c->svc;
	struct dap_agg_share as;
	int problem = DAP_STORE_FAILED;
	const char *detail = "the helper did not give its aggregate share";
	if (!err && resp && resp->status == 200 && dap_agg_share_decode(resp->body, &as) == 0) {
		struct dap_collection col = { .report_count = c->sum.report_count,
					      .helper_share = as.encrypted_agg_share };
		struct dap_batch_selector bs;
		struct tb_bytes leader_ct = { 0 };
		selector(c, &bs);
		col.part_batch_selector.query_type = bs.query_type;
		memcpy(col.part_batch_selector.batch_id, c->batch_id, DAP_BATCH_ID_LEN);
		/* The smallest aligned interval holding the batch's reports. */
		uint64_t p = c->task.time_precision;
		col.interval.start = c->sum.first - c->sum.first % p;
		col.interval.duration = c->sum.last - c->sum.last % p + p - col.interval.start;
		int rc = dap_seal_agg_share(&c->task, DAP_ROLE_LEADER, c->sum.agg_share, &bs, &leader_ct);
		if (!rc)
			rc = dap_hpke_ciphertext_decode(tb_bytes_buf(&leader_ct), &col.leader_share);
		if (!rc)
			rc = dap_collection_encode(&col, &c->collection);
		if (!rc)
			rc = dap_db_put_collection_job(svc->core->store, c->task.id, c->job_id,
						       tb_bytes_buf(&c->request), 2, tb_bytes_buf(&c->collection),
						       c->start, c->end, collect_stored, c);
		tb_bytes_free(&leader_ct);
		if (!rc)
			return; /* collect_stored answers */
		detail = "the collection could not be built";
	} else if (!err && resp && resp->status != 200) {
		int p = helper_problem(resp);
		if (p >= 0) {
			problem = p;
			detail = "the helper refused the aggregate share request";
		}
	}
	svc->inflight--;
	c->cb(c->ctx, problem, detail, TB_BUF(NULL, 0));
	collect_free(c);
	dap_service_check_stopped(svc);
}

int dap_leader_collect(struct dap_aggregator *agg, const struct dap_task *t,
		       const uint8_t job_id[DAP_COLLECTION_JOB_ID_LEN], dap_collect_cb cb, void *ctx,
		       struct tb_bytes *result, const char **detail)
{
	struct dap_service *svc = agg->svc;
	struct tb_store *st = svc->core->store;
	struct collect_ctx *c = calloc(1, sizeof *c);
	int state = 0, rc;
	*detail = NULL;
	if (!c)
		return TB_ERR_NOMEM;
	rc = dap_db_get_collection_job(st, t->id, job_id, &c->request, result, &state);
	if (rc || state == 3) {
		collect_free(c);
		return rc == TB_ERR_NOT_FOUND || state == 3 ? DAP_NOT_FOUND : rc;
	}
	if (state == 2) {
		collect_free(c);
		return DAP_PROBLEM_COUNT; /* result holds the Collection */
	}
	struct dap_collection_req cr;
	if (dap_collection_req_decode(tb_bytes_buf(&c->request), &cr)) {
		collect_free(c);
		return TB_ERR_STORE;
	}
	c->interval = cr.query.interval;
	uint64_t start = c->interval.start, end = start + c->interval.duration, waiting = 0;
	if (cr.query.query_type == DAP_QUERY_FIXED_SIZE) {
		/* A batch id: named, or the oldest batch ready; its bucket is the range. */
		const uint8_t *busy = svc->job && svc->job->fixed ? svc->job->batch_id : NULL;
		c->fixed = 1;
		if (cr.query.fixed_size_type == DAP_FIXED_SIZE_BY_BATCH_ID)
			memcpy(c->batch_id, cr.query.batch_id, DAP_BATCH_ID_LEN);
		else if ((rc = dap_db_current_batch(st, t->id, t->min_batch_size, busy, c->batch_id))) {
			collect_free(c);
			if (rc != TB_ERR_NOT_FOUND)
				return rc;
			dap_leader_kick(svc);
			return DAP_NOT_READY;
		}
		rc = dap_db_batch_bucket(st, "leader", t->id, c->batch_id, &start);
		if (rc == TB_ERR_NOT_FOUND) {
			*detail = "no batch of this task has that id";
			collect_free(c);
			return DAP_PROBLEM_BATCH_INVALID;
		}
		if (rc) {
			collect_free(c);
			return rc;
		}
		end = start + 1;
		waiting = busy && !memcmp(busy, c->batch_id, DAP_BATCH_ID_LEN);
	} else if ((rc = dap_db_leader_unaggregated(st, t->id, start, end, &waiting))) {
		collect_free(c);
		return rc;
	}
	if (waiting) {
		dap_leader_kick(svc);
		collect_free(c);
		return DAP_NOT_READY;
	}
	c->task = *t;
	if ((rc = dap_db_batch_read(st, "leader", t, start, end, &c->sum))) {
		collect_free(c);
		return rc;
	}
	int problem = -1;
	if (c->sum.report_count < t->min_batch_size) {
		*detail = "the batch holds fewer reports than the task's min_batch_size";
		problem = DAP_PROBLEM_INVALID_BATCH_SIZE;
	} else if (c->sum.max_query_count >= t->max_batch_query_count) {
		*detail = "the batch was collected as often as the task allows";
		problem = DAP_PROBLEM_BATCH_QUERIED_TOO_MANY_TIMES;
	}
	if (problem >= 0) {
		collect_free(c);
		return problem;
	}
	c->start = start;
	c->end = end;
	if (c->fixed && (rc = dap_db_batch_times(st, t->id, start, &c->sum.first, &c->sum.last))) {
		collect_free(c);
		return rc;
	}
	struct dap_agg_share_req asr = { .report_count = c->sum.report_count };
	selector(c, &asr.batch_selector);
	memcpy(asr.checksum, c->sum.checksum, DAP_CHECKSUM_LEN);
	struct tb_bytes body = { 0 };
	char *url = helper_url(t, "aggregate_shares", NULL, 0);
	struct tb_http_header h[] = {
		{ "Content-Type", DAP_MT_AGG_SHARE_REQ },
		{ "DAP-Auth-Token", t->aggregator_auth_token },
	};
	rc = url ? dap_agg_share_req_encode(&asr, &body) : TB_ERR_NOMEM;
	struct tb_http_client_req r = {
		.method = "POST",
		.url = url,
		.headers = h,
		.n_headers = 2,
		.body = tb_bytes_buf(&body),
		.timeout_ms = DAP_HELPER_TIMEOUT_MS,
		.max_body = DAP_MAX_HELPER_RESPONSE,
		.ca_pem = helper_roots(svc),
		.keep_alive = 1, /* no retry: the helper counts each aggregate share query */
	};
	memcpy(c->job_id, job_id, DAP_COLLECTION_JOB_ID_LEN);
	c->svc = svc;
	c->cb = cb;
	c->ctx = ctx;
	if (!rc)
		rc = tb_http_client_request(svc->core->loop, &r, on_agg_share, c);
	free(url);
	tb_bytes_free(&body);
	if (rc) {
		collect_free(c);
		return rc;
	}
	svc->inflight++;
	return DAP_PENDING;
}

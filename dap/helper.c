/*
 * DESIGN: the helper's side of aggregation and collection (DAP-09 4.5.1,
 * 4.6.3), without HTTP: api.c hands the request body in and gets a verdict
 * now or a callback after the store commit.
 *
 * Aggregation job init: every PrepareInit is checked and prepared on its
 * own (a bad report is a PrepareError in the response, never the job's
 * failure): time against the clock skew and the task's expiration, the HPKE
 * config id, HPKE open, the PlaintextInputShare, then the VDAF (ping-pong
 * helper_init with the leader's initialize message: Prio3 finishes in one
 * round). One store job then, atomically: records the report ids (a report
 * seen in an earlier job is report_replayed), adds the out shares to their
 * batch buckets (a collected bucket gives batch_collected), and stores the
 * job with its response. A job id seen before answers with the stored
 * response when the request is byte for byte the same, and is refused
 * otherwise: retries are safe, and nothing is aggregated twice.
 *
 * Continuation (DAP-09 4.5.2): see continue_decide below; Prio3 leaves
 * nothing to prepare after the init, but the step, replay and report checks
 * are the draft's.
 *
 * Aggregate share: the buckets of the batch interval are summed; the
 * report count and checksum must be the leader's (batchMismatch), the count
 * at least min_batch_size (invalidBatchSize), the buckets queried fewer
 * than max_batch_query_count times. The share (noised when the task has a
 * dp_epsilon) is sealed to the collector and the answer stored under the
 * request's hash, so a repeated request gets the same share and counts once.
 */
#include "dap/dap_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/error.h"
#include "core/log.h"
#include "dap/dp.h"

void dap_flow_free(struct dap_flow *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_items; i++) {
		struct dap_out_item *it = &f->items[i];
		tb_bytes_free(&it->public_share);
		tb_crypto_wipe(it->input_share.p, it->input_share.len);
		tb_bytes_free(&it->input_share);
		tb_bytes_free(&it->helper_share);
		tb_bytes_free(&it->outbound);
		free(it->prep_state);
		free(it->out_share);
	}
	free(f->items);
	if (f->keys) {
		tb_crypto_wipe(f->keys, f->n_keys * sizeof *f->keys);
		free(f->keys);
	}
	tb_bytes_free(&f->request);
	tb_bytes_free(&f->response);
	tb_crypto_wipe(&f->task, sizeof f->task);
	free(f);
}

uint64_t dap_bucket_of(const struct dap_task *t, uint64_t time)
{
	return time - time % t->time_precision;
}

/* The key of an HPKE config id among the job's copies (the task's own first). */
static const struct dap_hpke_key *key_of(const struct dap_flow *f, uint8_t id)
{
	for (size_t i = 0; i < f->n_keys; i++)
		if (f->keys[i].config.id == id)
			return &f->keys[i];
	return NULL;
}

/*
 * Prepares one report share; returns -1 with it->out_share set, or a
 * PrepareError. On a worker thread: reads only f and the request body.
 */
static int prepare_one(const struct dap_flow *f, const struct dap_task *t,
		       const struct dap_prepare_init *pi, uint64_t now, struct dap_out_item *it)
{
	const struct dap_report_share *rs = &pi->report_share;
	const struct dap_vdaf *v = &t->vdaf;
	uint64_t time = rs->md.time;
	if (time > now && time - now > t->tolerable_clock_skew)
		return DAP_PREP_ERR_REPORT_TOO_EARLY;
	if (t->task_expiration && time > t->task_expiration)
		return DAP_PREP_ERR_TASK_EXPIRED;
	const struct dap_hpke_key *key = key_of(f, rs->encrypted_input_share.config_id);
	if (!key)
		return DAP_PREP_ERR_HPKE_UNKNOWN_CONFIG_ID;
	uint8_t info_buf[DAP_HPKE_INFO_BUF];
	struct tb_buf info = dap_hpke_info_input_share(DAP_ROLE_HELPER, info_buf);
	struct tb_bytes aad = { 0 }, pt = { 0 };
	int err = dap_hpke_aad_input_share(t->id, rs->md.id, time, rs->public_share, &aad);
	if (!err)
		err = dap_hpke_open(&key->config, &key->kp, &rs->encrypted_input_share, info,
				    tb_bytes_buf(&aad), &pt);
	tb_bytes_free(&aad);
	int result = -1;
	struct dap_plaintext_input_share pis;
	if (err) {
		result = DAP_PREP_ERR_HPKE_DECRYPT_ERROR;
	} else if (dap_plaintext_input_share_decode(tb_bytes_buf(&pt), &pis)) {
		result = DAP_PREP_ERR_INVALID_MESSAGE;
	} else if (dap_prio3_check_public_share(v, rs->public_share) ||
		   dap_prio3_check_input_share(v, 1, pis.payload)) {
		result = DAP_PREP_ERR_VDAF_PREP_ERROR;
	} else if (!(it->out_share = malloc(v->out_share_size ? v->out_share_size : 1))) {
		result = DAP_PREP_ERR_REPORT_DROPPED;
	} else if (dap_pp_helper_init(v, t->verify_key, rs->md.id, rs->public_share, pis.payload,
				      pi->payload, it->out_share, &it->outbound, NULL)) {
		free(it->out_share);
		it->out_share = NULL;
		tb_bytes_free(&it->outbound);
		result = DAP_PREP_ERR_VDAF_PREP_ERROR;
	}
	tb_crypto_wipe(pt.p, pt.len);
	tb_bytes_free(&pt);
	return result;
}

/* Worker thread: decrypt and prepare every report of the job. */
static void prepare_work(uv_work_t *w)
{
	struct dap_flow *f = w->data;
	const struct dap_task *t = &f->task;
	struct tb_reader it = TB_READER(f->body.p, f->body.len);
	struct dap_prepare_init pi;
	while (f->n_items < f->n_expected && dap_prepare_init_next(&it, &pi) == 0) {
		struct dap_out_item *o = &f->items[f->n_items++];
		memcpy(o->report_id, pi.report_share.md.id, DAP_REPORT_ID_LEN);
		o->time = pi.report_share.md.time;
		o->bucket = dap_bucket_of(t, o->time);
		o->result = -1;
		/* The same report twice in one job: the second is a replay. */
		for (size_t k = 0; k + 1 < f->n_items; k++)
			if (!memcmp(f->items[k].report_id, o->report_id, DAP_REPORT_ID_LEN))
				o->result = DAP_PREP_ERR_REPORT_REPLAYED;
		if (o->result < 0)
			o->result = prepare_one(f, t, &pi, f->now, o);
	}
}

/* Back on the loop: one store job aggregates and answers. */
static void prepare_done(uv_work_t *w, int status)
{
	struct dap_flow *f = w->data;
	int rc = status ? TB_ERR_CANCELED : dap_db_helper_commit(f->svc->core->store, f, f->cb);
	if (rc)
		f->cb(rc, f); /* answers 500, frees f, ends the in-flight count */
}

int dap_helper_init_job(struct dap_aggregator *agg, const struct dap_task *t,
			const uint8_t job_id[DAP_AGG_JOB_ID_LEN], struct tb_buf body, uint64_t now,
			dap_flow_cb cb, void *req, struct tb_bytes *stored, const char **detail)
{
	struct dap_agg_job_init_req r;
	*detail = NULL;
	if (dap_agg_job_init_req_decode(body, &r)) {
		*detail = "the body is not a DAP-09 AggregationJobInitReq";
		return DAP_PROBLEM_INVALID_MESSAGE;
	}
	if (r.part_batch_selector.query_type != t->query_type) {
		*detail = "the batch selector's query type is not the task's";
		return DAP_PROBLEM_INVALID_MESSAGE;
	}
	if (r.agg_param.len != 0) {
		*detail = "Prio3 takes no aggregation parameter";
		return DAP_PROBLEM_INVALID_MESSAGE;
	}
	if (r.n_prepare_inits == 0 || r.n_prepare_inits > agg->svc->max_job_size) {
		*detail = "the job holds no reports, or more than this helper takes in one job";
		return DAP_PROBLEM_INVALID_MESSAGE;
	}
	struct dap_flow *f = calloc(1, sizeof *f);
	if (!f)
		return TB_ERR_NOMEM;
	f->svc = agg->svc;
	f->task = *t;
	f->req = req;
	f->fixed = t->query_type == DAP_QUERY_FIXED_SIZE;
	memcpy(f->batch_id, r.part_batch_selector.batch_id, DAP_BATCH_ID_LEN);
	memcpy(f->job_id, job_id, DAP_AGG_JOB_ID_LEN);
	tb_sha256(body, f->request_hash);

	/* A retried job: the stored answer, without preparing anything again. */
	struct tb_bytes hash = { 0 };
	int rc = dap_db_get_agg_job(agg->svc->core->store, "helper", f, &hash, &f->response, NULL);
	if (rc == 0) {
		int conflict = hash.len != TB_SHA256_LEN || memcmp(hash.p, f->request_hash, TB_SHA256_LEN);
		tb_bytes_free(&hash);
		if (!conflict)
			rc = tb_bytes_append(stored, f->response.p, f->response.len);
		dap_flow_free(f);
		return rc ? rc : conflict ? DAP_CONFLICT : DAP_PROBLEM_COUNT;
	}
	tb_bytes_free(&hash);
	if (rc != TB_ERR_NOT_FOUND) {
		dap_flow_free(f);
		return rc;
	}

	/* The keys as they are now: the worker must not see a reload half done. */
	dap_keys_refresh(agg);
	f->items = calloc(r.n_prepare_inits, sizeof *f->items);
	f->keys = malloc((agg->n_keys + 1) * sizeof *f->keys);
	if (!f->items || !f->keys) {
		dap_flow_free(f);
		return TB_ERR_NOMEM;
	}
	/* The task's own key first: key_of takes the first match, as dap_task_find_key does. */
	if (t->has_own_key)
		dap_task_own_key(t, &f->keys[f->n_keys++]);
	memcpy(f->keys + f->n_keys, agg->keys, agg->n_keys * sizeof *f->keys);
	f->n_keys += agg->n_keys;
	for (size_t i = 0; i < f->n_keys; i++) /* the copies' configs borrow their own pk */
		f->keys[i].config.public_key = TB_BUF(f->keys[i].pk, f->keys[i].config.public_key.len);
	f->body = TB_BUF(r.prepare_inits.p, r.prepare_inits.len);
	f->n_expected = r.n_prepare_inits;
	f->now = now;
	f->cb = cb;
	f->work.data = f;
	agg->svc->inflight++;
	if ((rc = uv_queue_work(agg->svc->core->loop, &f->work, prepare_work, prepare_done))) {
		agg->svc->inflight--;
		dap_flow_free(f);
		return TB_ERR_IO;
	}
	return DAP_PENDING;
}

/* ---- aggregation job continuation (DAP-09 4.5.2) ---------------------------- */

/*
 * Runs inside the store job, with the job's row read into c (no I/O here).
 * The job's reports and their state after the init are its stored init
 * response: a reject PrepareResp is a failed report, a continue one carries
 * the helper's ping-pong message, which for Prio3 is always `finish` (one
 * round): no report of a trustbox job ever waits for a later step, so there
 * is no prepare state to continue and no waiting report an omission could
 * drop. What the draft and Janus do follows from that:
 *   - the step the job processed last, again: a retry; the same request
 *     gets the stored answer, another one 409;
 *   - any other step than the next one: stepMismatch;
 *   - a report the job does not hold (or repeated, or out of order), or one
 *     that is not waiting (finished or failed earlier): invalidMessage, and
 *     the job does not move;
 *   - else the step is processed: no report to prepare, so the job, already
 *     finished, moves to the step and answers an empty AggregationJobResp.
 */
static int continue_decide(struct dap_continue *c)
{
	c->problem = -1;
	if (!c->found) {
		c->problem = DAP_PROBLEM_UNRECOGNIZED_AGGREGATION_JOB;
		return 0;
	}
	if (c->req.step == c->job_step) {
		if (c->last_hash.len == TB_SHA256_LEN && !memcmp(c->last_hash.p, c->request_hash, TB_SHA256_LEN))
			return tb_bytes_append(&c->response, c->last_response.p, c->last_response.len);
		c->problem = DAP_CONFLICT;
		return 0;
	}
	if (c->req.step != c->job_step + 1) {
		c->problem = DAP_PROBLEM_STEP_MISMATCH;
		c->detail = "the request's step is not the one after the job's last step";
		return 0;
	}
	struct dap_agg_job_resp init;
	if (dap_agg_job_resp_decode(tb_bytes_buf(&c->init_response), &init))
		return TB_ERR_STORE;
	struct tb_reader job = TB_READER(init.prepare_resps.p, init.prepare_resps.len);
	struct tb_reader it = TB_READER(c->req.prepare_continues.p, c->req.prepare_continues.len);
	struct dap_prepare_continue pc;
	struct dap_prepare_resp pr;
	while (dap_prepare_continue_next(&it, &pc) == 0) {
		int found = 0;
		/* The leader keeps the init's order and leaves out failed reports. */
		while (!found && dap_prepare_resp_next(&job, &pr) == 0)
			found = !memcmp(pr.report_id, pc.report_id, DAP_REPORT_ID_LEN);
		c->problem = DAP_PROBLEM_INVALID_MESSAGE;
		c->detail = found ? "the report is not waiting: it finished or failed in an earlier step"
				  : "a report that is not in the job, or repeated, or out of order";
		return 0;
	}
	size_t mark;
	int rc = dap_agg_job_resp_begin(&c->response, &mark);
	if (!rc)
		rc = dap_msg_list_end(&c->response, mark);
	c->store = !rc;
	return rc;
}

int dap_helper_continue_job(struct dap_aggregator *agg, const struct dap_task *t,
			    const uint8_t job_id[DAP_AGG_JOB_ID_LEN], struct tb_buf body,
			    struct dap_continue *c, const char **detail)
{
	*detail = NULL;
	if (dap_agg_job_continue_req_decode(body, &c->req)) {
		*detail = "the body is not a DAP-09 AggregationJobContinueReq";
		return DAP_PROBLEM_INVALID_MESSAGE;
	}
	if (c->req.step == 0) {
		*detail = "an aggregation job cannot continue to step 0 (the init)";
		return DAP_PROBLEM_INVALID_MESSAGE;
	}
	c->svc = agg->svc;
	memcpy(c->task_id, t->id, DAP_TASK_ID_LEN);
	memcpy(c->job_id, job_id, DAP_AGG_JOB_ID_LEN);
	tb_sha256(body, c->request_hash);
	c->decide = continue_decide;
	int rc = dap_db_helper_continue(agg->svc->core->store, c);
	if (rc)
		return rc;
	agg->svc->inflight++;
	return DAP_PENDING;
}

/* ---- aggregate shares ----------------------------------------------------- */

/*
 * Seals an encoded aggregate share (noised first when the task asks) to the
 * task's collector: info "dap-09 aggregate share" || role || collector,
 * aad AggregateShareAad(task, agg_param, batch_selector).
 */
int dap_seal_agg_share(const struct dap_task *t, uint8_t role, uint8_t *agg_share,
		       const struct dap_batch_selector *bs, struct tb_bytes *out)
{
	struct dap_hpke_config cfg;
	int rc;
	if (!t->collector_config_len ||
	    dap_hpke_config_decode(TB_BUF(t->collector_config, t->collector_config_len), &cfg))
		return TB_ERR_CONFIG;
	if (t->dp_epsilon > 0) {
		/* epsilon as a rational in millionths (the option's resolution). */
		struct dap_dp_strategy s = { DAP_DP_PURE_DISCRETE_LAPLACE,
					     { (uint64_t)(t->dp_epsilon * 1e6 + 0.5), 1000000 } };
		if ((rc = dap_dp_apply_agg_share(&s, &t->vdaf, agg_share, t->vdaf.agg_share_size)))
			return rc;
	}
	struct tb_bytes sel = { 0 }, aad = { 0 }, enc = { 0 }, payload = { 0 };
	struct dap_hpke_ciphertext ct;
	uint8_t info_buf[DAP_HPKE_INFO_BUF];
	struct tb_buf info = dap_hpke_info_aggregate_share(role, info_buf);
	rc = dap_batch_selector_encode(bs, &sel);
	if (!rc)
		rc = dap_hpke_aad_aggregate_share(t->id, TB_BUF(NULL, 0), tb_bytes_buf(&sel), &aad);
	if (!rc)
		rc = dap_hpke_seal(&cfg, info, tb_bytes_buf(&aad),
				   TB_BUF(agg_share, t->vdaf.agg_share_size), &enc, &payload, &ct);
	if (!rc)
		rc = dap_hpke_ciphertext_encode(&ct, out);
	tb_bytes_free(&sel);
	tb_bytes_free(&aad);
	tb_bytes_free(&enc);
	tb_bytes_free(&payload);
	return rc;
}

/* A time_interval batch interval must be aligned to the task's precision. */
int dap_interval_valid(const struct dap_task *t, const struct dap_interval *iv)
{
	return iv->duration > 0 && iv->start % t->time_precision == 0 &&
	       iv->duration % t->time_precision == 0 && iv->start + iv->duration > iv->start;
}

int dap_helper_agg_share(struct dap_aggregator *agg, const struct dap_task *t, struct tb_buf body,
			 dap_db_put_cb cb, void *ctx, struct tb_bytes *response, const char **detail)
{
	struct dap_agg_share_req r;
	uint8_t hash[TB_SHA256_LEN];
	struct tb_store *st = agg->svc->core->store;
	*detail = NULL;
	if (dap_agg_share_req_decode(body, &r)) {
		*detail = "the body is not a DAP-09 AggregateShareReq";
		return DAP_PROBLEM_INVALID_MESSAGE;
	}
	if (r.batch_selector.query_type != t->query_type) {
		*detail = "the batch selector's query type is not the task's";
		return DAP_PROBLEM_BATCH_INVALID;
	}
	if (r.agg_param.len) {
		*detail = "Prio3 takes no aggregation parameter";
		return DAP_PROBLEM_INVALID_MESSAGE;
	}
	const struct dap_interval *iv = &r.batch_selector.interval;
	uint64_t start = iv->start, end = iv->start + iv->duration;
	if (t->query_type == DAP_QUERY_FIXED_SIZE) {
		/* A batch this helper never saw has no reports: the count check refuses it. */
		int brc = dap_db_batch_bucket(st, "helper", t->id, r.batch_selector.batch_id, &start);
		if (brc && brc != TB_ERR_NOT_FOUND)
			return brc;
		end = brc ? start : start + 1;
	} else if (!dap_interval_valid(t, iv)) {
		*detail = "the batch interval is not aligned to the task's time precision";
		return DAP_PROBLEM_BATCH_INVALID;
	}
	tb_sha256(body, hash);
	int rc = dap_db_get_agg_share_job(st, t->id, hash, response);
	if (rc == 0)
		return DAP_PROBLEM_COUNT; /* the stored answer is in response */
	if (rc != TB_ERR_NOT_FOUND)
		return rc;
	struct dap_batch_sum sum;
	rc = dap_db_batch_read(st, "helper", t, start, end, &sum);
	if (rc) {
		dap_batch_sum_free(&sum);
		return rc;
	}
	int problem = -1;
	if (sum.report_count != r.report_count ||
	    tb_memeq_ct(sum.checksum, r.checksum, DAP_CHECKSUM_LEN) != 0) {
		*detail = "the helper's report count or checksum for the batch differs from the leader's";
		problem = DAP_PROBLEM_BATCH_MISMATCH;
	} else if (sum.report_count < t->min_batch_size) {
		*detail = "the batch holds fewer reports than the task's min_batch_size";
		problem = DAP_PROBLEM_INVALID_BATCH_SIZE;
	} else if (sum.max_query_count >= t->max_batch_query_count) {
		*detail = "the batch was collected as often as the task allows";
		problem = DAP_PROBLEM_BATCH_QUERIED_TOO_MANY_TIMES;
	}
	if (problem >= 0) {
		dap_batch_sum_free(&sum);
		return problem;
	}
	rc = dap_seal_agg_share(t, DAP_ROLE_HELPER, sum.agg_share, &r.batch_selector, response);
	tb_crypto_wipe(sum.agg_share, t->vdaf.agg_share_size);
	dap_batch_sum_free(&sum);
	if (!rc)
		rc = dap_db_put_agg_share_job(st, t->id, hash, tb_bytes_buf(response), start, end, cb, ctx);
	if (rc)
		return rc;
	agg->svc->inflight++;
	return DAP_PENDING;
}

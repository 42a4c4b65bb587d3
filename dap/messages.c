/*
 * DAP-09 wire codecs. Each struct of the draft has a _read (one value from a
 * bounded reader), a whole-buffer _decode that refuses trailing bytes, and an
 * _encode that appends. The lists of an aggregation job are validated by the
 * message decoder in one pass and then iterated (see dap/messages.h), so a
 * message of any size costs no allocation and no count-driven memory.
 */
#include "dap/messages.h"

#include <string.h>

#include "core/error.h"

/* ---- names ----------------------------------------------------------------- */

static const char *const prep_error_names[] = {
	"batch_collected",   "report_replayed", "report_dropped", "hpke_unknown_config_id",
	"hpke_decrypt_error", "vdaf_prep_error", "batch_saturated", "task_expired",
	"invalid_message",   "report_too_early",
};

const char *dap_prepare_error_name(int e)
{
	if (e < 0 || e > DAP_PREP_ERR_MAX)
		return NULL;
	return prep_error_names[e];
}

static const struct {
	const char *urn;
	const char *title;
	int status;
} problems[DAP_PROBLEM_COUNT] = {
	[DAP_PROBLEM_INVALID_MESSAGE] = { DAP_PROBLEM_URN_PREFIX "invalidMessage",
		"The message type for a response was incorrect or the payload was malformed.", 400 },
	[DAP_PROBLEM_UNRECOGNIZED_TASK] = { DAP_PROBLEM_URN_PREFIX "unrecognizedTask",
		"An endpoint received a message with an unknown task ID.", 404 },
	[DAP_PROBLEM_STEP_MISMATCH] = { DAP_PROBLEM_URN_PREFIX "stepMismatch",
		"The leader and helper are not on the same step of VDAF preparation.", 400 },
	[DAP_PROBLEM_MISSING_TASK_ID] = { DAP_PROBLEM_URN_PREFIX "missingTaskID",
		"HPKE configuration was requested without specifying a task ID.", 400 },
	[DAP_PROBLEM_UNRECOGNIZED_AGGREGATION_JOB] = {
		DAP_PROBLEM_URN_PREFIX "unrecognizedAggregationJob",
		"An endpoint received a message with an unknown aggregation job ID.", 404 },
	[DAP_PROBLEM_OUTDATED_CONFIG] = { DAP_PROBLEM_URN_PREFIX "outdatedConfig",
		"The message was generated using an outdated configuration.", 400 },
	[DAP_PROBLEM_REPORT_REJECTED] = { DAP_PROBLEM_URN_PREFIX "reportRejected",
		"Report could not be processed.", 400 },
	[DAP_PROBLEM_REPORT_TOO_EARLY] = { DAP_PROBLEM_URN_PREFIX "reportTooEarly",
		"Report could not be processed because it arrived too early.", 400 },
	[DAP_PROBLEM_BATCH_INVALID] = { DAP_PROBLEM_URN_PREFIX "batchInvalid",
		"The batch implied by the query is invalid.", 400 },
	[DAP_PROBLEM_INVALID_BATCH_SIZE] = { DAP_PROBLEM_URN_PREFIX "invalidBatchSize",
		"The number of reports included in the batch is invalid.", 400 },
	[DAP_PROBLEM_BATCH_QUERIED_TOO_MANY_TIMES] = {
		DAP_PROBLEM_URN_PREFIX "batchQueriedTooManyTimes",
		"The batch described by the query has been queried too many times.", 400 },
	[DAP_PROBLEM_BATCH_MISMATCH] = { DAP_PROBLEM_URN_PREFIX "batchMismatch",
		"Leader and helper disagree on reports aggregated in a batch.", 400 },
	[DAP_PROBLEM_UNAUTHORIZED_REQUEST] = { DAP_PROBLEM_URN_PREFIX "unauthorizedRequest",
		"The request's authorization is not valid.", 403 },
	[DAP_PROBLEM_BATCH_OVERLAP] = { DAP_PROBLEM_URN_PREFIX "batchOverlap",
		"The queried batch overlaps with a previously queried batch.", 400 },
	[DAP_PROBLEM_INVALID_TASK] = { DAP_PROBLEM_URN_PREFIX "invalidTask",
		"Aggregator has opted out of the indicated task.", 400 },
};

const char *dap_problem_urn(enum dap_problem p)
{
	return (unsigned)p < DAP_PROBLEM_COUNT ? problems[p].urn : NULL;
}

const char *dap_problem_name(enum dap_problem p)
{
	const char *u = dap_problem_urn(p);
	return u ? u + sizeof(DAP_PROBLEM_URN_PREFIX) - 1 : NULL;
}

const char *dap_problem_title(enum dap_problem p)
{
	return (unsigned)p < DAP_PROBLEM_COUNT ? problems[p].title : NULL;
}

int dap_problem_status(enum dap_problem p)
{
	return (unsigned)p < DAP_PROBLEM_COUNT ? problems[p].status : 0;
}

int dap_problem_from_urn(const char *s, size_t n)
{
	for (int i = 0; i < DAP_PROBLEM_COUNT; i++)
		if (strlen(problems[i].urn) == n && memcmp(problems[i].urn, s, n) == 0)
			return i;
	return -1;
}

/* ---- small helpers -------------------------------------------------------- */

static int read_fixed(struct tb_reader *r, uint8_t *dst, size_t n)
{
	struct tb_buf b;
	int rc = tb_read_bytes(r, n, &b);
	if (rc)
		return rc;
	memcpy(dst, b.p, n);
	return 0;
}

static int finish(struct tb_reader *r, int rc)
{
	return rc ? rc : tb_read_end(r);
}

/* A ciphertext slice must fit the wire's prefixes before we write it. */
static int vec(struct tb_bytes *out, int prefix, struct tb_buf b)
{
	return tb_bytes_vec(out, prefix, b.p, b.len);
}

static int check_out(struct tb_bytes *out)
{
	return out->err ? out->err : 0;
}

/*
 * Defines the whole-buffer decoder fn from a bounded reader read: one value
 * read from in, and any byte left over is an error.
 */
#define WHOLE_DECODER(fn, type, read)                               \
	int fn(struct tb_buf in, type *v)                           \
	{                                                           \
		struct tb_reader r = TB_READER(in.p, in.len);       \
		return finish(&r, read(&r, v));                     \
	}

/* ---- building blocks ------------------------------------------------------ */

int dap_interval_read(struct tb_reader *r, struct dap_interval *v)
{
	int rc;
	if ((rc = tb_read_u64(r, &v->start)) || (rc = tb_read_u64(r, &v->duration)))
		return rc;
	return 0;
}

int dap_interval_encode(const struct dap_interval *v, struct tb_bytes *out)
{
	tb_bytes_u64(out, v->start);
	tb_bytes_u64(out, v->duration);
	return check_out(out);
}

int dap_report_metadata_read(struct tb_reader *r, struct dap_report_metadata *v)
{
	int rc;
	if ((rc = read_fixed(r, v->id, DAP_REPORT_ID_LEN)) || (rc = tb_read_u64(r, &v->time)))
		return rc;
	return 0;
}

int dap_report_metadata_encode(const struct dap_report_metadata *v, struct tb_bytes *out)
{
	tb_bytes_append(out, v->id, DAP_REPORT_ID_LEN);
	tb_bytes_u64(out, v->time);
	return check_out(out);
}

WHOLE_DECODER(dap_report_metadata_decode, struct dap_report_metadata, dap_report_metadata_read)

int dap_extension_read(struct tb_reader *r, struct dap_extension *v)
{
	int rc;
	if ((rc = tb_read_u16(r, &v->type)) || (rc = tb_read_vec(r, 2, &v->data)))
		return rc;
	return 0;
}

int dap_extension_encode(const struct dap_extension *v, struct tb_bytes *out)
{
	int rc;
	tb_bytes_u16(out, v->type);
	if ((rc = vec(out, 2, v->data)))
		return rc;
	return check_out(out);
}

static int read_query_type(struct tb_reader *r, uint8_t *qt)
{
	int rc = tb_read_u8(r, qt);
	if (rc)
		return rc;
	return (*qt == DAP_QUERY_TIME_INTERVAL || *qt == DAP_QUERY_FIXED_SIZE) ? 0 : TB_ERR_INVALID;
}

int dap_part_batch_selector_read(struct tb_reader *r, struct dap_part_batch_selector *v)
{
	int rc;
	memset(v, 0, sizeof(*v));
	if ((rc = read_query_type(r, &v->query_type)))
		return rc;
	if (v->query_type == DAP_QUERY_FIXED_SIZE)
		return read_fixed(r, v->batch_id, DAP_BATCH_ID_LEN);
	return 0;
}

int dap_part_batch_selector_encode(const struct dap_part_batch_selector *v, struct tb_bytes *out)
{
	if (v->query_type != DAP_QUERY_TIME_INTERVAL && v->query_type != DAP_QUERY_FIXED_SIZE)
		return TB_ERR_INVALID;
	tb_bytes_u8(out, v->query_type);
	if (v->query_type == DAP_QUERY_FIXED_SIZE)
		tb_bytes_append(out, v->batch_id, DAP_BATCH_ID_LEN);
	return check_out(out);
}

WHOLE_DECODER(dap_part_batch_selector_decode, struct dap_part_batch_selector,
	      dap_part_batch_selector_read)

/*
 * What BatchSelector and Query open with: the QueryType and, for a
 * time_interval, the Interval that is all the rest of it.
 */
static int read_selector_head(struct tb_reader *r, uint8_t *qt, struct dap_interval *interval)
{
	int rc = read_query_type(r, qt);
	if (rc || *qt != DAP_QUERY_TIME_INTERVAL)
		return rc;
	return dap_interval_read(r, interval);
}

static int encode_time_interval(const struct dap_interval *interval, struct tb_bytes *out)
{
	tb_bytes_u8(out, DAP_QUERY_TIME_INTERVAL);
	return dap_interval_encode(interval, out);
}

int dap_batch_selector_read(struct tb_reader *r, struct dap_batch_selector *v)
{
	int rc;
	memset(v, 0, sizeof(*v));
	if ((rc = read_selector_head(r, &v->query_type, &v->interval)) ||
	    v->query_type == DAP_QUERY_TIME_INTERVAL)
		return rc;
	return read_fixed(r, v->batch_id, DAP_BATCH_ID_LEN);
}

int dap_batch_selector_encode(const struct dap_batch_selector *v, struct tb_bytes *out)
{
	if (v->query_type == DAP_QUERY_TIME_INTERVAL)
		return encode_time_interval(&v->interval, out);
	if (v->query_type != DAP_QUERY_FIXED_SIZE)
		return TB_ERR_INVALID;
	tb_bytes_u8(out, v->query_type);
	tb_bytes_append(out, v->batch_id, DAP_BATCH_ID_LEN);
	return check_out(out);
}

WHOLE_DECODER(dap_batch_selector_decode, struct dap_batch_selector, dap_batch_selector_read)

int dap_query_read(struct tb_reader *r, struct dap_query *v)
{
	int rc;
	memset(v, 0, sizeof(*v));
	if ((rc = read_selector_head(r, &v->query_type, &v->interval)) ||
	    v->query_type == DAP_QUERY_TIME_INTERVAL)
		return rc;
	if ((rc = tb_read_u8(r, &v->fixed_size_type)))
		return rc;
	if (v->fixed_size_type == DAP_FIXED_SIZE_BY_BATCH_ID)
		return read_fixed(r, v->batch_id, DAP_BATCH_ID_LEN);
	if (v->fixed_size_type == DAP_FIXED_SIZE_CURRENT_BATCH)
		return 0;
	return TB_ERR_INVALID;
}

int dap_query_encode(const struct dap_query *v, struct tb_bytes *out)
{
	if (v->query_type == DAP_QUERY_TIME_INTERVAL)
		return encode_time_interval(&v->interval, out);
	if (v->query_type != DAP_QUERY_FIXED_SIZE ||
	    (v->fixed_size_type != DAP_FIXED_SIZE_BY_BATCH_ID &&
	     v->fixed_size_type != DAP_FIXED_SIZE_CURRENT_BATCH))
		return TB_ERR_INVALID;
	tb_bytes_u8(out, v->query_type);
	tb_bytes_u8(out, v->fixed_size_type);
	if (v->fixed_size_type == DAP_FIXED_SIZE_BY_BATCH_ID)
		tb_bytes_append(out, v->batch_id, DAP_BATCH_ID_LEN);
	return check_out(out);
}

WHOLE_DECODER(dap_query_decode, struct dap_query, dap_query_read)

/* ---- upload --------------------------------------------------------------- */

static int report_read(struct tb_reader *r, struct dap_report *v)
{
	int rc;
	memset(v, 0, sizeof(*v));
	if ((rc = dap_report_metadata_read(r, &v->md)) ||
	    (rc = tb_read_vec(r, 4, &v->public_share)) ||
	    (rc = dap_hpke_ciphertext_read(r, &v->leader_share)) ||
	    (rc = dap_hpke_ciphertext_read(r, &v->helper_share)))
		return rc;
	return 0;
}

WHOLE_DECODER(dap_report_decode, struct dap_report, report_read)

int dap_report_encode(const struct dap_report *v, struct tb_bytes *out)
{
	int rc;
	if ((rc = dap_report_metadata_encode(&v->md, out)) || (rc = vec(out, 4, v->public_share)) ||
	    (rc = dap_hpke_ciphertext_encode(&v->leader_share, out)) ||
	    (rc = dap_hpke_ciphertext_encode(&v->helper_share, out)))
		return rc;
	return check_out(out);
}

int dap_extension_next(struct tb_reader *it, struct dap_extension *v)
{
	return tb_reader_left(it) == 0 ? 1 : dap_extension_read(it, v);
}

int dap_plaintext_input_share_decode(struct tb_buf in, struct dap_plaintext_input_share *v)
{
	struct tb_reader r = TB_READER(in.p, in.len), it;
	struct dap_extension e;
	int rc;
	memset(v, 0, sizeof(*v));
	if ((rc = tb_read_vec(&r, 2, &v->extensions)) || (rc = tb_read_vec(&r, 4, &v->payload)))
		return rc;
	if ((rc = tb_read_end(&r)))
		return rc;
	/*
	 * Validate the list and refuse a repeated type. The body is at most
	 * 2^16 - 1 bytes, so at most 16383 entries: the quadratic scan is bounded.
	 */
	it = TB_READER(v->extensions.p, v->extensions.len);
	while ((rc = dap_extension_next(&it, &e)) == 0) {
		struct tb_reader prev = TB_READER(v->extensions.p, it.off);
		struct dap_extension p;
		size_t seen = 0;
		while (seen < v->n_extensions && dap_extension_next(&prev, &p) == 0) {
			if (p.type == e.type)
				return TB_ERR_INVALID;
			seen++;
		}
		v->n_extensions++;
	}
	return rc == 1 ? 0 : rc;
}

int dap_plaintext_input_share_encode(const struct dap_extension *exts, size_t n,
				     struct tb_buf payload, struct tb_bytes *out)
{
	size_t mark;
	int rc;
	if ((rc = tb_bytes_vec_begin(out, 2, &mark)))
		return rc;
	for (size_t i = 0; i < n; i++)
		if ((rc = dap_extension_encode(&exts[i], out)))
			return rc;
	if ((rc = tb_bytes_vec_end(out, 2, mark)) || (rc = vec(out, 4, payload)))
		return rc;
	return check_out(out);
}

int dap_input_share_aad_decode(struct tb_buf in, uint8_t task_id[DAP_TASK_ID_LEN],
			       struct dap_report_metadata *md, struct tb_buf *public_share)
{
	struct tb_reader r = TB_READER(in.p, in.len);
	int rc;
	if ((rc = read_fixed(&r, task_id, DAP_TASK_ID_LEN)) ||
	    (rc = dap_report_metadata_read(&r, md)) || (rc = tb_read_vec(&r, 4, public_share)))
		return rc;
	return tb_read_end(&r);
}

/* ---- aggregation ---------------------------------------------------------- */

int dap_report_share_read(struct tb_reader *r, struct dap_report_share *v)
{
	int rc;
	memset(v, 0, sizeof(*v));
	if ((rc = dap_report_metadata_read(r, &v->md)) ||
	    (rc = tb_read_vec(r, 4, &v->public_share)) ||
	    (rc = dap_hpke_ciphertext_read(r, &v->encrypted_input_share)))
		return rc;
	return 0;
}

WHOLE_DECODER(dap_report_share_decode, struct dap_report_share, dap_report_share_read)

int dap_report_share_encode(const struct dap_report_share *v, struct tb_bytes *out)
{
	int rc;
	if ((rc = dap_report_metadata_encode(&v->md, out)) || (rc = vec(out, 4, v->public_share)) ||
	    (rc = dap_hpke_ciphertext_encode(&v->encrypted_input_share, out)))
		return rc;
	return check_out(out);
}

int dap_prepare_init_read(struct tb_reader *r, struct dap_prepare_init *v)
{
	int rc;
	if ((rc = dap_report_share_read(r, &v->report_share)) || (rc = tb_read_vec(r, 4, &v->payload)))
		return rc;
	return 0;
}

WHOLE_DECODER(dap_prepare_init_decode, struct dap_prepare_init, dap_prepare_init_read)

int dap_prepare_init_encode(const struct dap_prepare_init *v, struct tb_bytes *out)
{
	int rc;
	if ((rc = dap_report_share_encode(&v->report_share, out)) || (rc = vec(out, 4, v->payload)))
		return rc;
	return check_out(out);
}

int dap_prepare_resp_read(struct tb_reader *r, struct dap_prepare_resp *v)
{
	int rc;
	memset(v, 0, sizeof(*v));
	if ((rc = read_fixed(r, v->report_id, DAP_REPORT_ID_LEN)) || (rc = tb_read_u8(r, &v->state)))
		return rc;
	switch (v->state) {
	case DAP_PREP_CONTINUE:
		return tb_read_vec(r, 4, &v->payload);
	case DAP_PREP_FINISHED:
		return 0;
	case DAP_PREP_REJECT:
		if ((rc = tb_read_u8(r, &v->error)))
			return rc;
		return v->error <= DAP_PREP_ERR_MAX ? 0 : TB_ERR_INVALID;
	default:
		return TB_ERR_INVALID;
	}
}

WHOLE_DECODER(dap_prepare_resp_decode, struct dap_prepare_resp, dap_prepare_resp_read)

int dap_prepare_resp_encode(const struct dap_prepare_resp *v, struct tb_bytes *out)
{
	int rc;
	if (v->state > DAP_PREP_REJECT || (v->state == DAP_PREP_REJECT && v->error > DAP_PREP_ERR_MAX))
		return TB_ERR_INVALID;
	tb_bytes_append(out, v->report_id, DAP_REPORT_ID_LEN);
	tb_bytes_u8(out, v->state);
	if (v->state == DAP_PREP_CONTINUE) {
		if ((rc = vec(out, 4, v->payload)))
			return rc;
	} else if (v->state == DAP_PREP_REJECT) {
		tb_bytes_u8(out, v->error);
	}
	return check_out(out);
}

int dap_prepare_continue_read(struct tb_reader *r, struct dap_prepare_continue *v)
{
	int rc;
	if ((rc = read_fixed(r, v->report_id, DAP_REPORT_ID_LEN)) ||
	    (rc = tb_read_vec(r, 4, &v->payload)))
		return rc;
	return 0;
}

int dap_prepare_continue_encode(const struct dap_prepare_continue *v, struct tb_bytes *out)
{
	int rc;
	tb_bytes_append(out, v->report_id, DAP_REPORT_ID_LEN);
	if ((rc = vec(out, 4, v->payload)))
		return rc;
	return check_out(out);
}

/* Iterators over a validated list body. */
int dap_prepare_init_next(struct tb_reader *it, struct dap_prepare_init *v)
{
	return tb_reader_left(it) == 0 ? 1 : dap_prepare_init_read(it, v);
}

int dap_prepare_resp_next(struct tb_reader *it, struct dap_prepare_resp *v)
{
	return tb_reader_left(it) == 0 ? 1 : dap_prepare_resp_read(it, v);
}

int dap_prepare_continue_next(struct tb_reader *it, struct dap_prepare_continue *v)
{
	return tb_reader_left(it) == 0 ? 1 : dap_prepare_continue_read(it, v);
}

/* Walks a u32 list body with next(), counting entries; every entry must parse. */
#define COUNT_LIST(body, n, type, next)                                   \
	do {                                                              \
		struct tb_reader it_ = TB_READER((body).p, (body).len);   \
		type e_;                                                  \
		int rc_;                                                  \
		(n) = 0;                                                  \
		while ((rc_ = next(&it_, &e_)) == 0)                      \
			(n)++;                                            \
		if (rc_ != 1)                                             \
			return rc_;                                       \
	} while (0)

int dap_agg_job_init_req_decode(struct tb_buf in, struct dap_agg_job_init_req *v)
{
	struct tb_reader r = TB_READER(in.p, in.len);
	int rc;
	memset(v, 0, sizeof(*v));
	if ((rc = tb_read_vec(&r, 4, &v->agg_param)) ||
	    (rc = dap_part_batch_selector_read(&r, &v->part_batch_selector)) ||
	    (rc = tb_read_vec(&r, 4, &v->prepare_inits)) || (rc = tb_read_end(&r)))
		return rc;
	COUNT_LIST(v->prepare_inits, v->n_prepare_inits, struct dap_prepare_init,
		   dap_prepare_init_next);
	return 0;
}

int dap_agg_job_resp_decode(struct tb_buf in, struct dap_agg_job_resp *v)
{
	struct tb_reader r = TB_READER(in.p, in.len);
	int rc;
	memset(v, 0, sizeof(*v));
	if ((rc = tb_read_vec(&r, 4, &v->prepare_resps)) || (rc = tb_read_end(&r)))
		return rc;
	COUNT_LIST(v->prepare_resps, v->n_prepare_resps, struct dap_prepare_resp,
		   dap_prepare_resp_next);
	return 0;
}

int dap_agg_job_continue_req_decode(struct tb_buf in, struct dap_agg_job_continue_req *v)
{
	struct tb_reader r = TB_READER(in.p, in.len);
	int rc;
	memset(v, 0, sizeof(*v));
	if ((rc = tb_read_u16(&r, &v->step)) || (rc = tb_read_vec(&r, 4, &v->prepare_continues)) ||
	    (rc = tb_read_end(&r)))
		return rc;
	COUNT_LIST(v->prepare_continues, v->n_prepare_continues, struct dap_prepare_continue,
		   dap_prepare_continue_next);
	return 0;
}

int dap_agg_job_init_req_begin(struct tb_buf agg_param, const struct dap_part_batch_selector *pbs,
			       struct tb_bytes *out, size_t *mark)
{
	int rc;
	if ((rc = vec(out, 4, agg_param)) || (rc = dap_part_batch_selector_encode(pbs, out)))
		return rc;
	return tb_bytes_vec_begin(out, 4, mark);
}

int dap_agg_job_resp_begin(struct tb_bytes *out, size_t *mark)
{
	return tb_bytes_vec_begin(out, 4, mark);
}

int dap_agg_job_continue_req_begin(uint16_t step, struct tb_bytes *out, size_t *mark)
{
	tb_bytes_u16(out, step);
	return tb_bytes_vec_begin(out, 4, mark);
}

int dap_msg_list_end(struct tb_bytes *out, size_t mark)
{
	int rc = tb_bytes_vec_end(out, 4, mark);
	return rc ? rc : check_out(out);
}

/* ---- collection ----------------------------------------------------------- */

static int collection_req_read(struct tb_reader *r, struct dap_collection_req *v)
{
	int rc;
	memset(v, 0, sizeof(*v));
	if ((rc = dap_query_read(r, &v->query)) || (rc = tb_read_vec(r, 4, &v->agg_param)))
		return rc;
	return 0;
}

WHOLE_DECODER(dap_collection_req_decode, struct dap_collection_req, collection_req_read)

int dap_collection_req_encode(const struct dap_collection_req *v, struct tb_bytes *out)
{
	int rc;
	if ((rc = dap_query_encode(&v->query, out)) || (rc = vec(out, 4, v->agg_param)))
		return rc;
	return check_out(out);
}

static int collection_read(struct tb_reader *r, struct dap_collection *v)
{
	int rc;
	memset(v, 0, sizeof(*v));
	if ((rc = dap_part_batch_selector_read(r, &v->part_batch_selector)) ||
	    (rc = tb_read_u64(r, &v->report_count)) || (rc = dap_interval_read(r, &v->interval)) ||
	    (rc = dap_hpke_ciphertext_read(r, &v->leader_share)) ||
	    (rc = dap_hpke_ciphertext_read(r, &v->helper_share)))
		return rc;
	return 0;
}

WHOLE_DECODER(dap_collection_decode, struct dap_collection, collection_read)

int dap_collection_encode(const struct dap_collection *v, struct tb_bytes *out)
{
	int rc;
	if ((rc = dap_part_batch_selector_encode(&v->part_batch_selector, out)))
		return rc;
	tb_bytes_u64(out, v->report_count);
	if ((rc = dap_interval_encode(&v->interval, out)) ||
	    (rc = dap_hpke_ciphertext_encode(&v->leader_share, out)) ||
	    (rc = dap_hpke_ciphertext_encode(&v->helper_share, out)))
		return rc;
	return check_out(out);
}

static int agg_share_req_read(struct tb_reader *r, struct dap_agg_share_req *v)
{
	int rc;
	memset(v, 0, sizeof(*v));
	if ((rc = dap_batch_selector_read(r, &v->batch_selector)) ||
	    (rc = tb_read_vec(r, 4, &v->agg_param)) || (rc = tb_read_u64(r, &v->report_count)) ||
	    (rc = read_fixed(r, v->checksum, DAP_CHECKSUM_LEN)))
		return rc;
	return 0;
}

WHOLE_DECODER(dap_agg_share_req_decode, struct dap_agg_share_req, agg_share_req_read)

int dap_agg_share_req_encode(const struct dap_agg_share_req *v, struct tb_bytes *out)
{
	int rc;
	if ((rc = dap_batch_selector_encode(&v->batch_selector, out)) ||
	    (rc = vec(out, 4, v->agg_param)))
		return rc;
	tb_bytes_u64(out, v->report_count);
	tb_bytes_append(out, v->checksum, DAP_CHECKSUM_LEN);
	return check_out(out);
}

int dap_agg_share_decode(struct tb_buf in, struct dap_agg_share *v)
{
	struct tb_reader r = TB_READER(in.p, in.len);
	return finish(&r, dap_hpke_ciphertext_read(&r, &v->encrypted_agg_share));
}

int dap_agg_share_encode(const struct dap_agg_share *v, struct tb_bytes *out)
{
	int rc = dap_hpke_ciphertext_encode(&v->encrypted_agg_share, out);
	return rc ? rc : check_out(out);
}

int dap_agg_share_aad_decode(struct tb_buf in, uint8_t task_id[DAP_TASK_ID_LEN],
			     struct tb_buf *agg_param, struct dap_batch_selector *bs)
{
	struct tb_reader r = TB_READER(in.p, in.len);
	int rc;
	if ((rc = read_fixed(&r, task_id, DAP_TASK_ID_LEN)) || (rc = tb_read_vec(&r, 4, agg_param)) ||
	    (rc = dap_batch_selector_read(&r, bs)))
		return rc;
	return tb_read_end(&r);
}

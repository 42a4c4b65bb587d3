/*
 * DAP-09 messages (draft-ietf-ppm-dap-09, section 4): the wire codecs in the
 * TLS presentation language, their media types and the problem type URNs.
 *
 * Decoders read from a borrowed slice and never past its end: every vector is
 * length-prefixed, every count is bounded by the bytes that carry it, and a
 * whole-message decoder refuses trailing bytes (TB_ERR_TRAILING), a short
 * input (TB_ERR_TRUNCATED) and an unknown enum value (TB_ERR_INVALID).
 * Decoded structs borrow the input: they are valid while it is.
 *
 * The three lists that can be long (an aggregation job's PrepareInits,
 * PrepareResps and PrepareContinues) are not copied out: the whole-message
 * decoder walks the list once to validate every entry and count it, and
 * keeps the list body; dap_msg_list_next then yields the entries one at a
 * time. Nothing here allocates except the encoders' output.
 *
 * HpkeConfig, HpkeConfigList and HpkeCiphertext are in dap/hpke.h, as are
 * the InputShareAad and AggregateShareAad builders HPKE uses.
 */
#ifndef DAP_MESSAGES_H
#define DAP_MESSAGES_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "dap/hpke.h"

#define DAP_TASK_ID_LEN 32
#define DAP_REPORT_ID_LEN 16
#define DAP_BATCH_ID_LEN 32
#define DAP_AGG_JOB_ID_LEN 16
#define DAP_COLLECTION_JOB_ID_LEN 16
#define DAP_CHECKSUM_LEN 32

/* Media types (DAP-09 section 8.1), compared exactly by the handlers. */
#define DAP_MT_HPKE_CONFIG_LIST "application/dap-hpke-config-list"
#define DAP_MT_REPORT "application/dap-report"
#define DAP_MT_AGG_JOB_INIT_REQ "application/dap-aggregation-job-init-req"
#define DAP_MT_AGG_JOB_RESP "application/dap-aggregation-job-resp"
#define DAP_MT_AGG_JOB_CONTINUE_REQ "application/dap-aggregation-job-continue-req"
#define DAP_MT_AGG_SHARE_REQ "application/dap-aggregate-share-req"
#define DAP_MT_AGG_SHARE "application/dap-aggregate-share"
#define DAP_MT_COLLECT_REQ "application/dap-collect-req"
#define DAP_MT_COLLECTION "application/dap-collection"

/* QueryType (one byte). */
enum dap_query_type {
	DAP_QUERY_TIME_INTERVAL = 1,
	DAP_QUERY_FIXED_SIZE = 2,
};

/* FixedSizeQueryType (one byte). */
enum dap_fixed_size_query_type {
	DAP_FIXED_SIZE_BY_BATCH_ID = 0,
	DAP_FIXED_SIZE_CURRENT_BATCH = 1,
};

/* PrepareRespState (one byte). */
enum dap_prepare_resp_state {
	DAP_PREP_CONTINUE = 0,
	DAP_PREP_FINISHED = 1,
	DAP_PREP_REJECT = 2,
};

/* PrepareError (one byte), DAP-09 numbering (batch_collected is 0). */
enum dap_prepare_error {
	DAP_PREP_ERR_BATCH_COLLECTED = 0,
	DAP_PREP_ERR_REPORT_REPLAYED = 1,
	DAP_PREP_ERR_REPORT_DROPPED = 2,
	DAP_PREP_ERR_HPKE_UNKNOWN_CONFIG_ID = 3,
	DAP_PREP_ERR_HPKE_DECRYPT_ERROR = 4,
	DAP_PREP_ERR_VDAF_PREP_ERROR = 5,
	DAP_PREP_ERR_BATCH_SATURATED = 6,
	DAP_PREP_ERR_TASK_EXPIRED = 7,
	DAP_PREP_ERR_INVALID_MESSAGE = 8,
	DAP_PREP_ERR_REPORT_TOO_EARLY = 9,
	DAP_PREP_ERR_MAX = 9,
};
/* The draft's name of a PrepareError ("vdaf_prep_error"), or NULL. */
const char *dap_prepare_error_name(int e);

/* Problem types (DAP-09 section 3.2): "urn:ietf:params:ppm:dap:error:" + name. */
enum dap_problem {
	DAP_PROBLEM_INVALID_MESSAGE,
	DAP_PROBLEM_UNRECOGNIZED_TASK,
	DAP_PROBLEM_STEP_MISMATCH,
	DAP_PROBLEM_MISSING_TASK_ID,
	DAP_PROBLEM_UNRECOGNIZED_AGGREGATION_JOB,
	DAP_PROBLEM_OUTDATED_CONFIG,
	DAP_PROBLEM_REPORT_REJECTED,
	DAP_PROBLEM_REPORT_TOO_EARLY,
	DAP_PROBLEM_BATCH_INVALID,
	DAP_PROBLEM_INVALID_BATCH_SIZE,
	DAP_PROBLEM_BATCH_QUERIED_TOO_MANY_TIMES,
	DAP_PROBLEM_BATCH_MISMATCH,
	DAP_PROBLEM_UNAUTHORIZED_REQUEST,
	DAP_PROBLEM_BATCH_OVERLAP,
	DAP_PROBLEM_INVALID_TASK,
	DAP_PROBLEM_COUNT,
};
#define DAP_PROBLEM_URN_PREFIX "urn:ietf:params:ppm:dap:error:"
/* The full type URN, the short name after the prefix, a one-line title and
 * the HTTP status an aggregator answers with; NULL/0 for an unknown value. */
const char *dap_problem_urn(enum dap_problem p);
const char *dap_problem_name(enum dap_problem p);
const char *dap_problem_title(enum dap_problem p);
int dap_problem_status(enum dap_problem p);
/* The problem whose URN is s[0..n), or -1. */
int dap_problem_from_urn(const char *s, size_t n);

/* ---- building blocks ---------------------------------------------------- */

/* struct { Time start; Duration duration; } Interval; */
struct dap_interval {
	uint64_t start;
	uint64_t duration;
};

/* struct { ReportID report_id; Time time; } ReportMetadata; */
struct dap_report_metadata {
	uint8_t id[DAP_REPORT_ID_LEN];
	uint64_t time;
};

/* struct { ExtensionType extension_type; opaque extension_data<0..2^16-1>; } */
struct dap_extension {
	uint16_t type;
	struct tb_buf data;
};

/*
 * PartialBatchSelector { QueryType query_type; select: time_interval: Empty;
 * fixed_size: BatchID batch_id; }. batch_id is meaningful for fixed_size.
 */
struct dap_part_batch_selector {
	uint8_t query_type;
	uint8_t batch_id[DAP_BATCH_ID_LEN];
};

/* BatchSelector { QueryType; time_interval: Interval; fixed_size: BatchID; } */
struct dap_batch_selector {
	uint8_t query_type;
	struct dap_interval interval;         /* time_interval */
	uint8_t batch_id[DAP_BATCH_ID_LEN];   /* fixed_size */
};

/*
 * Query { QueryType; time_interval: Interval batch_interval; fixed_size:
 * FixedSizeQuery { FixedSizeQueryType; by_batch_id: BatchID; current_batch:
 * Empty; } }.
 */
struct dap_query {
	uint8_t query_type;
	struct dap_interval interval;         /* time_interval */
	uint8_t fixed_size_type;              /* fixed_size: by_batch_id or current_batch */
	uint8_t batch_id[DAP_BATCH_ID_LEN];   /* fixed_size by_batch_id */
};

/* ---- upload --------------------------------------------------------------- */

/*
 * Report { ReportMetadata report_metadata; opaque public_share<0..2^32-1>;
 *          HpkeCiphertext leader_encrypted_input_share;
 *          HpkeCiphertext helper_encrypted_input_share; }
 */
struct dap_report {
	struct dap_report_metadata md;
	struct tb_buf public_share;
	struct dap_hpke_ciphertext leader_share;
	struct dap_hpke_ciphertext helper_share;
};

/*
 * PlaintextInputShare { Extension extensions<0..2^16-1>; opaque payload<0..2^32-1>; }
 * extensions is the list body (iterate with dap_extension_next); a repeated
 * extension type is refused by the decoder (DAP-09 4.4.2: invalid_message).
 */
struct dap_plaintext_input_share {
	struct tb_buf extensions;
	size_t n_extensions;
	struct tb_buf payload;
};

/* ---- aggregation ---------------------------------------------------------- */

/* ReportShare { ReportMetadata; opaque public_share<0..2^32-1>; HpkeCiphertext encrypted_input_share; } */
struct dap_report_share {
	struct dap_report_metadata md;
	struct tb_buf public_share;
	struct dap_hpke_ciphertext encrypted_input_share;
};

/* PrepareInit { ReportShare report_share; opaque payload<0..2^32-1>; } (payload: a ping-pong Message) */
struct dap_prepare_init {
	struct dap_report_share report_share;
	struct tb_buf payload;
};

/* AggregationJobInitReq { opaque agg_param<0..2^32-1>; PartialBatchSelector;
 *                         PrepareInit prepare_inits<0..2^32-1>; } */
struct dap_agg_job_init_req {
	struct tb_buf agg_param;
	struct dap_part_batch_selector part_batch_selector;
	struct tb_buf prepare_inits;  /* list body: dap_msg_list_next */
	size_t n_prepare_inits;
};

/* PrepareResp { ReportID report_id; PrepareRespState; select: continue:
 *   opaque payload<0..2^32-1>; finished: Empty; reject: PrepareError; } */
struct dap_prepare_resp {
	uint8_t report_id[DAP_REPORT_ID_LEN];
	uint8_t state;          /* enum dap_prepare_resp_state */
	struct tb_buf payload;  /* continue */
	uint8_t error;          /* reject: enum dap_prepare_error */
};

/* AggregationJobResp { PrepareResp prepare_resps<0..2^32-1>; } */
struct dap_agg_job_resp {
	struct tb_buf prepare_resps;
	size_t n_prepare_resps;
};

/* PrepareContinue { ReportID report_id; opaque payload<0..2^32-1>; } */
struct dap_prepare_continue {
	uint8_t report_id[DAP_REPORT_ID_LEN];
	struct tb_buf payload;
};

/* AggregationJobContinueReq { uint16 step; PrepareContinue prepare_continues<0..2^32-1>; } */
struct dap_agg_job_continue_req {
	uint16_t step;
	struct tb_buf prepare_continues;
	size_t n_prepare_continues;
};

/* ---- collection ----------------------------------------------------------- */

/* CollectionReq { Query query; opaque agg_param<0..2^32-1>; } */
struct dap_collection_req {
	struct dap_query query;
	struct tb_buf agg_param;
};

/* Collection { PartialBatchSelector; uint64 report_count; Interval interval;
 *   HpkeCiphertext leader_encrypted_agg_share; HpkeCiphertext helper_encrypted_agg_share; } */
struct dap_collection {
	struct dap_part_batch_selector part_batch_selector;
	uint64_t report_count;
	struct dap_interval interval;
	struct dap_hpke_ciphertext leader_share;
	struct dap_hpke_ciphertext helper_share;
};

/* AggregateShareReq { BatchSelector; opaque agg_param<0..2^32-1>;
 *                     uint64 report_count; opaque checksum[32]; } */
struct dap_agg_share_req {
	struct dap_batch_selector batch_selector;
	struct tb_buf agg_param;
	uint64_t report_count;
	uint8_t checksum[DAP_CHECKSUM_LEN];
};

/* AggregateShare { HpkeCiphertext encrypted_aggregate_share; } */
struct dap_agg_share {
	struct dap_hpke_ciphertext encrypted_agg_share;
};

/* ---- readers (embedded values; slices borrow the reader) ----------------- */

int dap_interval_read(struct tb_reader *r, struct dap_interval *v);
int dap_report_metadata_read(struct tb_reader *r, struct dap_report_metadata *v);
int dap_extension_read(struct tb_reader *r, struct dap_extension *v);
int dap_part_batch_selector_read(struct tb_reader *r, struct dap_part_batch_selector *v);
int dap_batch_selector_read(struct tb_reader *r, struct dap_batch_selector *v);
int dap_query_read(struct tb_reader *r, struct dap_query *v);
int dap_report_share_read(struct tb_reader *r, struct dap_report_share *v);
int dap_prepare_init_read(struct tb_reader *r, struct dap_prepare_init *v);
int dap_prepare_resp_read(struct tb_reader *r, struct dap_prepare_resp *v);
int dap_prepare_continue_read(struct tb_reader *r, struct dap_prepare_continue *v);

/* ---- whole-message decoders (trailing bytes refused) --------------------- */

int dap_report_decode(struct tb_buf in, struct dap_report *v);
int dap_report_metadata_decode(struct tb_buf in, struct dap_report_metadata *v);
int dap_plaintext_input_share_decode(struct tb_buf in, struct dap_plaintext_input_share *v);
int dap_report_share_decode(struct tb_buf in, struct dap_report_share *v);
int dap_prepare_init_decode(struct tb_buf in, struct dap_prepare_init *v);
int dap_prepare_resp_decode(struct tb_buf in, struct dap_prepare_resp *v);
int dap_agg_job_init_req_decode(struct tb_buf in, struct dap_agg_job_init_req *v);
int dap_agg_job_resp_decode(struct tb_buf in, struct dap_agg_job_resp *v);
int dap_agg_job_continue_req_decode(struct tb_buf in, struct dap_agg_job_continue_req *v);
int dap_part_batch_selector_decode(struct tb_buf in, struct dap_part_batch_selector *v);
int dap_batch_selector_decode(struct tb_buf in, struct dap_batch_selector *v);
int dap_query_decode(struct tb_buf in, struct dap_query *v);
int dap_collection_req_decode(struct tb_buf in, struct dap_collection_req *v);
int dap_collection_decode(struct tb_buf in, struct dap_collection *v);
int dap_agg_share_req_decode(struct tb_buf in, struct dap_agg_share_req *v);
int dap_agg_share_decode(struct tb_buf in, struct dap_agg_share *v);
/* InputShareAad { TaskID; ReportMetadata; opaque public_share<0..2^32-1>; } */
int dap_input_share_aad_decode(struct tb_buf in, uint8_t task_id[DAP_TASK_ID_LEN],
			       struct dap_report_metadata *md, struct tb_buf *public_share);
/* AggregateShareAad { TaskID; opaque agg_param<0..2^32-1>; BatchSelector; } */
int dap_agg_share_aad_decode(struct tb_buf in, uint8_t task_id[DAP_TASK_ID_LEN],
			     struct tb_buf *agg_param, struct dap_batch_selector *bs);

/*
 * Iteration over a list body a whole-message decoder validated: set
 * *it = TB_READER(list.p, list.len) once, then call the _next function of the
 * entry type until it returns 1 (end). Returns 0 with the next entry, 1 at
 * the end, or a negative code (only for a body that was not validated).
 */
int dap_prepare_init_next(struct tb_reader *it, struct dap_prepare_init *v);
int dap_prepare_resp_next(struct tb_reader *it, struct dap_prepare_resp *v);
int dap_prepare_continue_next(struct tb_reader *it, struct dap_prepare_continue *v);
int dap_extension_next(struct tb_reader *it, struct dap_extension *v);

/* ---- encoders (append to out; TB_ERR_TOO_LARGE when a vector overflows its
 * prefix, TB_ERR_INVALID for an enum value the draft does not define) ---- */

int dap_interval_encode(const struct dap_interval *v, struct tb_bytes *out);
int dap_report_metadata_encode(const struct dap_report_metadata *v, struct tb_bytes *out);
int dap_extension_encode(const struct dap_extension *v, struct tb_bytes *out);
int dap_part_batch_selector_encode(const struct dap_part_batch_selector *v, struct tb_bytes *out);
int dap_batch_selector_encode(const struct dap_batch_selector *v, struct tb_bytes *out);
int dap_query_encode(const struct dap_query *v, struct tb_bytes *out);
int dap_report_encode(const struct dap_report *v, struct tb_bytes *out);
/* exts: n entries (the list body is written from them). */
int dap_plaintext_input_share_encode(const struct dap_extension *exts, size_t n,
				     struct tb_buf payload, struct tb_bytes *out);
int dap_report_share_encode(const struct dap_report_share *v, struct tb_bytes *out);
int dap_prepare_init_encode(const struct dap_prepare_init *v, struct tb_bytes *out);
int dap_prepare_resp_encode(const struct dap_prepare_resp *v, struct tb_bytes *out);
int dap_prepare_continue_encode(const struct dap_prepare_continue *v, struct tb_bytes *out);
/*
 * The list messages are written in two steps so that a caller can stream
 * entries without building an array: _begin writes the fixed part and opens
 * the u32 list, the caller appends entries with the entry encoders, _end
 * patches the length. *mark is opaque to the caller.
 */
int dap_agg_job_init_req_begin(struct tb_buf agg_param, const struct dap_part_batch_selector *pbs,
			       struct tb_bytes *out, size_t *mark);
int dap_agg_job_resp_begin(struct tb_bytes *out, size_t *mark);
int dap_agg_job_continue_req_begin(uint16_t step, struct tb_bytes *out, size_t *mark);
int dap_msg_list_end(struct tb_bytes *out, size_t mark);
int dap_collection_req_encode(const struct dap_collection_req *v, struct tb_bytes *out);
int dap_collection_encode(const struct dap_collection *v, struct tb_bytes *out);
int dap_agg_share_req_encode(const struct dap_agg_share_req *v, struct tb_bytes *out);
int dap_agg_share_encode(const struct dap_agg_share *v, struct tb_bytes *out);

#endif

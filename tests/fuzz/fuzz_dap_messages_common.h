/*
 * Shared body of the DAP-09 message fuzz targets (fuzz_dap_msg_*.c): each
 * target names one whole-message decoder that takes network input and an
 * encoder for what it decoded. Whatever decodes must re-encode to exactly the
 * bytes it came from (the codecs are canonical: no field has two encodings),
 * every list entry the decoder counted must come out of the iterator, and
 * nothing may read outside the input.
 */
#ifndef FUZZ_DAP_MESSAGES_COMMON_H
#define FUZZ_DAP_MESSAGES_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"
#include "dap/messages.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline void fuzz_same_or_abort(int rc, const struct tb_bytes *b, const uint8_t *p, size_t n)
{
	if (rc != 0 || b->len != n || (n && memcmp(b->p, p, n) != 0))
		abort();
}

/* Re-encoders of the list messages, through the iterators. */
static inline int fuzz_enc_init_req(const struct dap_agg_job_init_req *v, struct tb_bytes *o)
{
	size_t mark, n = 0;
	struct tb_reader it = TB_READER(v->prepare_inits.p, v->prepare_inits.len);
	struct dap_prepare_init pi;
	int rc = dap_agg_job_init_req_begin(v->agg_param, &v->part_batch_selector, o, &mark);
	while (!rc && (rc = dap_prepare_init_next(&it, &pi)) == 0) {
		rc = dap_prepare_init_encode(&pi, o);
		n++;
	}
	if (rc != 1 || n != v->n_prepare_inits)
		abort();
	return dap_msg_list_end(o, mark);
}

static inline int fuzz_enc_resp(const struct dap_agg_job_resp *v, struct tb_bytes *o)
{
	size_t mark, n = 0;
	struct tb_reader it = TB_READER(v->prepare_resps.p, v->prepare_resps.len);
	struct dap_prepare_resp pr;
	int rc = dap_agg_job_resp_begin(o, &mark);
	while (!rc && (rc = dap_prepare_resp_next(&it, &pr)) == 0) {
		if (pr.state == DAP_PREP_REJECT && !dap_prepare_error_name(pr.error))
			abort();
		rc = dap_prepare_resp_encode(&pr, o);
		n++;
	}
	if (rc != 1 || n != v->n_prepare_resps)
		abort();
	return dap_msg_list_end(o, mark);
}

static inline int fuzz_enc_cont(const struct dap_agg_job_continue_req *v, struct tb_bytes *o)
{
	size_t mark, n = 0;
	struct tb_reader it = TB_READER(v->prepare_continues.p, v->prepare_continues.len);
	struct dap_prepare_continue pc;
	int rc = dap_agg_job_continue_req_begin(v->step, o, &mark);
	while (!rc && (rc = dap_prepare_continue_next(&it, &pc)) == 0) {
		rc = dap_prepare_continue_encode(&pc, o);
		n++;
	}
	if (rc != 1 || n != v->n_prepare_continues)
		abort();
	return dap_msg_list_end(o, mark);
}

static inline int fuzz_enc_pis(const struct dap_plaintext_input_share *v, struct tb_bytes *o)
{
	/* Extensions are re-encoded one by one after the list prefix. */
	struct tb_reader it = TB_READER(v->extensions.p, v->extensions.len);
	struct dap_extension e;
	size_t mark, n = 0;
	int rc = tb_bytes_vec_begin(o, 2, &mark);
	while (!rc && (rc = dap_extension_next(&it, &e)) == 0) {
		rc = dap_extension_encode(&e, o);
		n++;
	}
	if (rc != 1 || n != v->n_extensions)
		abort();
	if ((rc = tb_bytes_vec_end(o, 2, mark)))
		return rc;
	return tb_bytes_vec(o, 4, v->payload.p, v->payload.len);
}

/* One target: T is the struct, DEC the decoder, ENC(v, out) the encoder. */
#define FUZZ_DAP_MESSAGE(T, DEC, ENC)                                               \
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                \
	{                                                                           \
		T v;                                                                \
		struct tb_bytes out = { 0 };                                        \
		if (DEC(TB_BUF(data, size), &v) == 0)                               \
			fuzz_same_or_abort(ENC(&v, &out), &out, data, size);        \
		tb_bytes_free(&out);                                                \
		return 0;                                                           \
	}

#endif

/*
 * DESIGN: the ping-pong topology of VDAF-08 section 5.8, as DAP-09 carries
 * it in its aggregation jobs, specialised to one-round VDAFs (Prio3):
 *
 *   leader: prep_init -> Message.initialize(prep_share)      (Continued)
 *   helper: prep_init, prep_shares_to_prep(leader, helper) -> prep_msg,
 *           prep_next -> out share; Message.finish(prep_msg)  (Finished)
 *   leader: Message.finish(prep_msg) -> prep_next -> out share (Finished)
 *
 *   struct {
 *     MessageType type;                       u8: 0 initialize, 1 continue, 2 finish
 *     initialize: opaque prep_share<0..2^32-1>;
 *     continue:   opaque prep_msg<0..2^32-1>; opaque prep_share<0..2^32-1>;
 *     finish:     opaque prep_msg<0..2^32-1>;
 *   } Message;
 *
 * A continue message is well-formed and decodes, but a one-round VDAF never
 * accepts one: it is TB_ERR_STATE at the transitions.
 */
#include "dap/vdaf.h"

#include "core/error.h"

int dap_pp_encode(struct tb_bytes *out, const struct dap_pp_message *m)
{
	switch (m->type) {
	case DAP_PP_INITIALIZE:
		tb_bytes_u8(out, 0);
		tb_bytes_vec(out, 4, m->prep_share.p, m->prep_share.len);
		break;
	case DAP_PP_CONTINUE:
		tb_bytes_u8(out, 1);
		tb_bytes_vec(out, 4, m->prep_msg.p, m->prep_msg.len);
		tb_bytes_vec(out, 4, m->prep_share.p, m->prep_share.len);
		break;
	case DAP_PP_FINISH:
		tb_bytes_u8(out, 2);
		tb_bytes_vec(out, 4, m->prep_msg.p, m->prep_msg.len);
		break;
	default:
		return TB_ERR_INVALID;
	}
	return out->err;
}

int dap_pp_decode(struct dap_pp_message *m, struct tb_buf in)
{
	struct tb_reader r = TB_READER(in.p, in.len);
	uint8_t t;
	int rc;
	memset(m, 0, sizeof(*m));
	if (in.len > DAP_PP_MAX_MESSAGE)
		return TB_ERR_TOO_LARGE;
	if ((rc = tb_read_u8(&r, &t)))
		return rc;
	switch (t) {
	case 0:
		m->type = DAP_PP_INITIALIZE;
		rc = tb_read_vec(&r, 4, &m->prep_share);
		break;
	case 1:
		m->type = DAP_PP_CONTINUE;
		rc = tb_read_vec(&r, 4, &m->prep_msg);
		if (!rc)
			rc = tb_read_vec(&r, 4, &m->prep_share);
		break;
	case 2:
		m->type = DAP_PP_FINISH;
		rc = tb_read_vec(&r, 4, &m->prep_msg);
		break;
	default:
		return TB_ERR_INVALID;
	}
	if (rc)
		return rc;
	return tb_read_end(&r);
}

int dap_pp_leader_init(const struct dap_vdaf *v, const uint8_t *verify_key,
		       const uint8_t nonce[DAP_PRIO3_NONCE_SIZE], struct tb_buf public_share,
		       struct tb_buf input_share, uint8_t *prep_state, struct tb_bytes *outbound,
		       struct dap_prio3_scratch *scratch)
{
	if (v->shares != 2)
		return TB_ERR_UNSUPPORTED; /* ping-pong is a two-party topology */
	uint8_t *share = malloc(v->prep_share_size ? v->prep_share_size : 1);
	if (!share)
		return TB_ERR_NOMEM;
	int rc = dap_prio3_prep_init(v, verify_key, 0, nonce, public_share, input_share,
				     prep_state, share, scratch);
	if (rc == 0) {
		struct dap_pp_message m = { DAP_PP_INITIALIZE, { NULL, 0 },
					    { share, v->prep_share_size } };
		rc = dap_pp_encode(outbound, &m);
	}
	free(share);
	return rc;
}

int dap_pp_helper_init(const struct dap_vdaf *v, const uint8_t *verify_key,
		       const uint8_t nonce[DAP_PRIO3_NONCE_SIZE], struct tb_buf public_share,
		       struct tb_buf input_share, struct tb_buf inbound, uint8_t *out_share,
		       struct tb_bytes *outbound, struct dap_prio3_scratch *scratch)
{
	struct dap_pp_message in;
	int rc;
	if (v->shares != 2)
		return TB_ERR_UNSUPPORTED; /* ping-pong is a two-party topology */
	if ((rc = dap_pp_decode(&in, inbound)))
		return rc;
	if (in.type != DAP_PP_INITIALIZE)
		return TB_ERR_STATE;
	uint8_t *mem = malloc(v->prep_state_size + v->prep_share_size + v->prep_msg_size + 1);
	if (!mem)
		return TB_ERR_NOMEM;
	uint8_t *state = mem, *share = mem + v->prep_state_size;
	uint8_t *msg = share + v->prep_share_size;
	rc = dap_prio3_prep_init(v, verify_key, 1, nonce, public_share, input_share, state, share,
				 scratch);
	if (rc == 0) {
		struct tb_buf shares[2] = { in.prep_share, { share, v->prep_share_size } };
		rc = dap_prio3_prep_shares_to_prep(v, shares, 2, msg, scratch);
	}
	if (rc == 0)
		rc = dap_prio3_prep_next(v, state, TB_BUF(msg, v->prep_msg_size), out_share);
	if (rc == 0) {
		struct dap_pp_message m = { DAP_PP_FINISH, { msg, v->prep_msg_size }, { NULL, 0 } };
		rc = dap_pp_encode(outbound, &m);
	}
	free(mem);
	return rc;
}

int dap_pp_leader_continued(const struct dap_vdaf *v, const uint8_t *prep_state,
			    struct tb_buf inbound, uint8_t *out_share)
{
	struct dap_pp_message in;
	int rc;
	if (v->shares != 2)
		return TB_ERR_UNSUPPORTED;
	if ((rc = dap_pp_decode(&in, inbound)))
		return rc;
	if (in.type != DAP_PP_FINISH)
		return TB_ERR_STATE;
	return dap_prio3_prep_next(v, prep_state, in.prep_msg, out_share);
}

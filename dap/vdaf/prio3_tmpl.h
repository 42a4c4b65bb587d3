/*
 * DESIGN: the field-dependent half of Prio3 (VDAF-08 sections 7.2 and 7.3),
 * written once and compiled twice, for Field64 and Field128. The includer
 * defines:
 *   FE        element type
 *   F(op)     element operation (f64_add, f128_mul, ...)
 *   ESZ       encoded element size
 *   PFX(name) exported name (dap_f64_name, dap_f128_name)
 *
 * The FLP is the generic one of section 7.3 specialised to circuits with a
 * single gadget (true of Count, Sum, SumVec and Histogram):
 *  - prove: run the circuit, recording each gadget call's inputs as wire
 *    values at alpha^k (alpha a P-th root of unity, wire 0 a random seed);
 *    interpolate the wires (inverse NTT), evaluate them on the 2P-th roots
 *    (NTT), apply the gadget pointwise and interpolate: that is the gadget
 *    polynomial, of degree 2(P - 1) for the degree-2 gadgets here;
 *  - query: run the circuit on shares with gadget outputs read from the
 *    gadget polynomial (its NTT on the 2P-th roots gives every alpha^k at
 *    even indices); then evaluate the wire polynomials at the query point t
 *    through the Lagrange basis over the P-th roots (one batch inversion);
 *  - decide: the circuit output is zero and gadget(wires(t)) = gadget_poly(t).
 * Gadgets are sums of "units": Mul (2 wires), Range2 (1 wire);
 * ParallelSum(Mul, c) is c Mul units.
 */

/* Working memory is carved out of one scratch block (v->scratch_size bytes). */
struct PFX(arena) {
	uint8_t *p;
	size_t off;
};

static FE *PFX(take)(struct PFX(arena) *a, size_t n)
{
	FE *r = (FE *)(a->p + a->off);
	a->off += n * sizeof(FE);
	return r;
}

static void PFX(zero)(FE *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		a[i] = F(zero)();
}

/* ------------------------------------------------------------------ NTT */

enum { PFX(NTT_TABLE) = 1024 };

static size_t PFX(bitrev)(size_t x, unsigned logn)
{
	size_t r = 0;
	for (unsigned i = 0; i < logn; i++)
		r |= ((x >> i) & 1) << (logn - 1 - i);
	return r;
}

/*
 * In place: a[i] = sum_j a[j] w^(ij) with w a principal 2^logn-th root of
 * unity. The inverse is the forward transform read backwards, a[i] ->
 * a[(n - i) mod n], times 1/n: no inversion at all.
 */
void PFX(ntt)(void *vp, unsigned logn, int inverse)
{
	FE *a = vp;
	size_t n = (size_t)1 << logn;
	for (size_t i = 0; i < n; i++) {
		size_t j = PFX(bitrev)(i, logn);
		if (i < j) {
			FE t = a[i];
			a[i] = a[j];
			a[j] = t;
		}
	}
	/* twiddles w^j for j < n/2 in one table when it fits on the stack */
	FE tw[PFX(NTT_TABLE)];
	int table = n / 2 <= PFX(NTT_TABLE);
	if (table && n > 1) {
		FE wn = F(root)(logn);
		tw[0] = F(one)();
		for (size_t j = 1; j < n / 2; j++)
			tw[j] = F(mul)(tw[j - 1], wn);
	}
	for (unsigned s = 1; s <= logn; s++) {
		size_t len = (size_t)1 << s, half = len / 2;
		unsigned shift = logn - s;
		FE wl = F(root)(s);
		for (size_t i = 0; i < n; i += len) {
			/* j = 0: the twiddle is 1 */
			FE u0 = a[i], x0 = a[i + half];
			a[i] = F(add)(u0, x0);
			a[i + half] = F(sub)(u0, x0);
			FE w = wl;
			for (size_t j = 1; j < half; j++) {
				FE u = a[i + j];
				FE x = F(mul)(a[i + j + half], table ? tw[j << shift] : w);
				a[i + j] = F(add)(u, x);
				a[i + j + half] = F(sub)(u, x);
				if (!table)
					w = F(mul)(w, wl);
			}
		}
	}
	if (inverse) {
		FE ninv = F(inv_pow2)(logn);
		for (size_t i = 1; i < n - i; i++) {
			FE t = a[i];
			a[i] = a[n - i];
			a[n - i] = t;
		}
		for (size_t i = 0; i < n; i++)
			a[i] = F(mul)(a[i], ninv);
	}
}

static FE PFX(horner)(const FE *c, size_t n, FE x)
{
	FE r = F(zero)();
	for (size_t i = n; i-- > 0;)
		r = F(add)(F(mul)(r, x), c[i]);
	return r;
}

/* ------------------------------------------------------------------ vectors */

static void PFX(encode_vec)(uint8_t *out, const FE *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		F(encode)(out + i * ESZ, a[i]);
}

static int PFX(decode_vec)(FE *a, const uint8_t *in, size_t n)
{
	int bad = 0;
	for (size_t i = 0; i < n; i++)
		bad |= F(decode)(&a[i], in + i * ESZ);
	return bad ? TB_ERR_INVALID : 0;
}

int PFX(check_vec)(const uint8_t *p, size_t n)
{
	FE t;
	int bad = 0;
	for (size_t i = 0; i < n; i++)
		bad |= F(decode)(&t, p + i * ESZ);
	return bad ? TB_ERR_INVALID : 0;
}

int PFX(add_vec)(uint8_t *acc, const uint8_t *in, size_t n)
{
	if (PFX(check_vec)(in, n) || PFX(check_vec)(acc, n))
		return TB_ERR_INVALID;
	for (size_t i = 0; i < n; i++) {
		FE a, b;
		F(decode)(&a, acc + i * ESZ);
		F(decode)(&b, in + i * ESZ);
		F(encode)(acc + i * ESZ, F(add)(a, b));
	}
	return 0;
}

/* next_vec: rejection sampling of ESZ-byte little-endian candidates */
void PFX(expand_vec)(struct dap_xof_ts *x, void *outp, size_t n)
{
	FE *out = outp;
	uint8_t buf[ESZ];
	size_t i = 0;
	while (i < n) {
		dap_xof_ts_next(x, buf, ESZ);
		if (F(decode)(&out[i], buf) == 0)
			i++;
	}
}

static int PFX(expand)(const struct dap_vdaf *v, const uint8_t *seed, unsigned usage,
		       const uint8_t *b1, size_t b1len, const uint8_t *b2, size_t b2len,
		       FE *out, size_t n)
{
	uint8_t dst[DAP_DST_SIZE];
	struct dap_xof_ts x;
	dap_prio3_dst(v, usage, dst);
	int rc = dap_xof_ts_init(&x, seed, dst, sizeof(dst));
	if (rc)
		return rc;
	dap_xof_ts_binder(&x, b1, b1len);
	if (b2len)
		dap_xof_ts_binder(&x, b2, b2len);
	PFX(expand_vec)(&x, out, n);
	return 0;
}

/* ------------------------------------------------------------------ gadgets */

static FE PFX(gadget_eval)(const struct dap_vdaf *v, const FE *in)
{
	switch (v->gadget) {
	case DAP_GADGET_MUL:
		return F(mul)(in[0], in[1]);
	case DAP_GADGET_RANGE2:
		return F(sub)(F(mul)(in[0], in[0]), in[0]);
	case DAP_GADGET_PARALLEL_SUM_MUL: {
		FE s = F(zero)();
		for (size_t i = 0; i < v->chunk_length; i++)
			s = F(add)(s, F(mul)(in[2 * i], in[2 * i + 1]));
		return s;
	}
	}
	return F(zero)();
}

struct PFX(gctx) {
	FE *wire;       /* arity rows of P values; row j, column k = call k's input j */
	size_t p;
	size_t k;       /* calls so far */
	const FE *gvals; /* query mode: gadget polynomial on the 2P-th roots; NULL when proving */
};

static FE PFX(gcall)(const struct dap_vdaf *v, struct PFX(gctx) *g, const FE *in)
{
	g->k++;
	if (g->k >= g->p)
		return F(zero)(); /* cannot happen: calls < P by construction */
	for (size_t j = 0; j < v->gadget_arity; j++)
		g->wire[j * g->p + g->k] = in[j];
	if (g->gvals)
		return g->gvals[2 * g->k];
	return PFX(gadget_eval)(v, in);
}

/* ------------------------------------------------------------------ circuits */

/* SumVec / Histogram range check with ParallelSum(Mul) (libprio's parallel_sum_range_checks) */
static FE PFX(range_checks)(const struct dap_vdaf *v, struct PFX(gctx) *g, const FE *meas,
			    FE r, FE shares_inv, FE *in)
{
	FE out = F(zero)(), rp = r;
	size_t c = v->chunk_length;
	for (size_t call = 0; call < v->gadget_calls; call++) {
		for (size_t j = 0; j < c; j++) {
			size_t idx = call * c + j;
			FE m = idx < v->meas_len ? meas[idx] : F(zero)();
			in[2 * j] = F(mul)(rp, m);
			in[2 * j + 1] = F(sub)(m, shares_inv);
			rp = F(mul)(rp, r);
		}
		out = F(add)(out, PFX(gcall)(v, g, in));
	}
	return out;
}

/* 1 / num_shares: precomputed by dap_vdaf_init for the usual value */
static FE PFX(shares_inv)(const struct dap_vdaf *v, unsigned num_shares)
{
	FE r;
	if (num_shares == v->shares && F(decode)(&r, v->shares_inv) == 0)
		return r;
	return F(inv)(F(from_u64)(num_shares));
}

static FE PFX(circuit)(const struct dap_vdaf *v, struct PFX(gctx) *g, const FE *meas,
		       const FE *jr, unsigned num_shares, FE *in)
{
	switch (v->type) {
	case DAP_PRIO3_COUNT:
		in[0] = meas[0];
		in[1] = meas[0];
		return F(sub)(PFX(gcall)(v, g, in), meas[0]);
	case DAP_PRIO3_SUM: {
		FE out = F(zero)(), r = jr[0];
		for (size_t i = 0; i < v->meas_len; i++) {
			in[0] = meas[i];
			out = F(add)(out, F(mul)(r, PFX(gcall)(v, g, in)));
			r = F(mul)(r, jr[0]);
		}
		return out;
	}
	case DAP_PRIO3_SUMVEC: {
		FE sinv = PFX(shares_inv)(v, num_shares);
		return PFX(range_checks)(v, g, meas, jr[0], sinv, in);
	}
	case DAP_PRIO3_HISTOGRAM: {
		FE sinv = PFX(shares_inv)(v, num_shares);
		FE rc = PFX(range_checks)(v, g, meas, jr[0], sinv, in);
		FE sc = F(neg)(sinv);
		for (size_t i = 0; i < v->meas_len; i++)
			sc = F(add)(sc, meas[i]);
		return F(add)(F(mul)(jr[1], rc), F(mul)(F(mul)(jr[1], jr[1]), sc));
	}
	}
	return F(zero)();
}

static void PFX(truncate)(const struct dap_vdaf *v, const FE *meas, FE *out)
{
	switch (v->type) {
	case DAP_PRIO3_COUNT:
	case DAP_PRIO3_HISTOGRAM:
		for (size_t i = 0; i < v->output_len; i++)
			out[i] = meas[i];
		break;
	case DAP_PRIO3_SUM:
	case DAP_PRIO3_SUMVEC: {
		FE pw[DAP_VDAF_MAX_BITS];
		pw[0] = F(one)();
		for (size_t b = 1; b < v->bits; b++)
			pw[b] = F(add)(pw[b - 1], pw[b - 1]);
		for (size_t i = 0; i < v->output_len; i++) {
			FE s = v->bits == 1 ? meas[i] : F(zero)();
			for (size_t b = 0; b < v->bits && v->bits > 1; b++)
				s = F(add)(s, F(mul)(pw[b], meas[i * v->bits + b]));
			out[i] = s;
		}
		break;
	}
	}
}

int PFX(encode_meas)(const struct dap_vdaf *v, const struct dap_measurement *m, uint8_t *out)
{
	switch (v->type) {
	case DAP_PRIO3_COUNT:
		if (m->count != 1 || m->values[0] > 1)
			return TB_ERR_INVALID;
		F(encode)(out, F(from_u64)(m->values[0]));
		return 0;
	case DAP_PRIO3_SUM:
	case DAP_PRIO3_SUMVEC: {
		size_t n = v->type == DAP_PRIO3_SUM ? 1 : v->length;
		if (m->count != n)
			return TB_ERR_INVALID;
		for (size_t i = 0; i < n; i++) {
			if (v->bits < 64 && m->values[i] >> v->bits)
				return TB_ERR_INVALID;
			for (size_t b = 0; b < v->bits; b++) /* no branch on the bits */
				F(encode)(out + (i * v->bits + b) * ESZ,
					  F(from_u64)((m->values[i] >> b) & 1));
		}
		return 0;
	}
	case DAP_PRIO3_HISTOGRAM:
		if (m->count != 1 || m->values[0] >= v->length)
			return TB_ERR_INVALID;
		for (size_t i = 0; i < v->length; i++) {
			uint64_t d = (uint64_t)i ^ m->values[0];
			F(encode)(out + i * ESZ, F(from_u64)(((d | ((uint64_t)0 - d)) >> 63) ^ 1));
		}
		return 0;
	}
	return TB_ERR_INVALID;
}

int PFX(to_u64_vec)(const uint8_t *in, size_t n, uint64_t *out)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t w[2] = { 0, 0 };
		for (size_t b = 0; b < ESZ; b++)
			w[b / 8] |= (uint64_t)in[i * ESZ + b] << (8 * (b % 8));
		if (w[1])
			return TB_ERR_TOO_LARGE;
		out[i] = w[0];
	}
	return 0;
}

/* ------------------------------------------------------------------ FLP */

/* Wire rows for one run of the circuit: seeds at column 0, the rest zero. */
static void PFX(wires_init)(const struct dap_vdaf *v, FE *wire, const FE *seeds)
{
	PFX(zero)(wire, v->gadget_arity * v->gadget_p);
	for (size_t j = 0; j < v->gadget_arity; j++)
		wire[j * v->gadget_p] = seeds[j];
}

static int PFX(prove)(const struct dap_vdaf *v, const FE *meas, const FE *prove_rand,
		      const FE *jr, FE *proof, struct PFX(arena) a)
{
	size_t p = v->gadget_p, p2 = 2 * p;
	unsigned lp = v->gadget_log2p;
	FE *wire = PFX(take)(&a, v->gadget_arity * p);
	FE *in = PFX(take)(&a, v->gadget_arity);
	FE *acc = PFX(take)(&a, p2), *ea = PFX(take)(&a, p2), *eb = PFX(take)(&a, p2);
	struct PFX(gctx) g = { wire, p, 0, NULL };

	PFX(wires_init)(v, wire, prove_rand);
	(void)PFX(circuit)(v, &g, meas, jr, 1, in);

	/*
	 * Each wire's values on the 2P-th roots omega^i: at even i they are the
	 * recorded values themselves (omega^2 = alpha); at odd i they are the
	 * P-point NTT of the coefficients c_j scaled by omega^j. The gadget's
	 * values accumulate in acc[0..P) (even) and acc[P..2P) (odd).
	 */
	PFX(zero)(acc, p2);
	FE omega = F(root)(lp + 1);
	size_t units = v->gadget == DAP_GADGET_PARALLEL_SUM_MUL ? v->chunk_length : 1;
	size_t width = v->gadget == DAP_GADGET_RANGE2 ? 1 : 2;
	for (size_t u = 0; u < units; u++) {
		FE *odd[2] = { ea, eb };
		const FE *even[2];
		for (size_t w = 0; w < width; w++) {
			even[w] = wire + (u * width + w) * p;
			memcpy(odd[w], even[w], p * sizeof(FE));
			PFX(ntt)(odd[w], lp, 1);
			FE om = F(one)();
			for (size_t j = 0; j < p; j++) {
				odd[w][j] = F(mul)(odd[w][j], om);
				om = F(mul)(om, omega);
			}
			PFX(ntt)(odd[w], lp, 0);
		}
		for (size_t k = 0; k < p; k++) {
			FE te, to;
			if (width == 2) {
				te = F(mul)(even[0][k], even[1][k]);
				to = F(mul)(odd[0][k], odd[1][k]);
			} else {
				te = F(sub)(F(mul)(even[0][k], even[0][k]), even[0][k]);
				to = F(sub)(F(mul)(odd[0][k], odd[0][k]), odd[0][k]);
			}
			acc[k] = F(add)(acc[k], te);
			acc[p + k] = F(add)(acc[p + k], to);
		}
	}
	/* interleave into natural order on the 2P-th roots, then interpolate */
	for (size_t k = 0; k < p; k++) {
		ea[2 * k] = acc[k];
		ea[2 * k + 1] = acc[p + k];
	}
	memcpy(acc, ea, p2 * sizeof(FE));
	PFX(ntt)(acc, lp + 1, 1);
	for (size_t j = 0; j < v->gadget_arity; j++)
		proof[j] = prove_rand[j];
	for (size_t i = 0; i < p2 - 1; i++)
		proof[v->gadget_arity + i] = acc[i];
	return 0;
}

static int PFX(query)(const struct dap_vdaf *v, const FE *meas, const FE *proof,
		      const FE *query_rand, const FE *jr, unsigned num_shares, FE *verifier,
		      struct PFX(arena) a)
{
	size_t p = v->gadget_p, p2 = 2 * p, arity = v->gadget_arity;
	unsigned lp = v->gadget_log2p;
	FE *wire = PFX(take)(&a, arity * p);
	FE *in = PFX(take)(&a, arity);
	FE *gvals = PFX(take)(&a, p2), *lag = PFX(take)(&a, p), *pre = PFX(take)(&a, p);
	const FE *gpoly = proof + arity;
	struct PFX(gctx) g = { wire, p, 0, gvals };

	memcpy(gvals, gpoly, (p2 - 1) * sizeof(FE));
	gvals[p2 - 1] = F(zero)();
	PFX(ntt)(gvals, lp + 1, 0);

	PFX(wires_init)(v, wire, proof);
	verifier[0] = PFX(circuit)(v, &g, meas, jr, num_shares, in);

	FE t = query_rand[0];
	FE tp = F(one)();
	for (size_t i = 0; i < p; i++)
		tp = F(mul)(tp, t);
	if (!F(neq)(tp, F(one)()))
		return TB_ERR_VERIFY; /* t is a P-th root of unity: degenerate */

	if (arity * p * (lp + 1) < 256) {
		/* few small wires: interpolate each and evaluate (cheaper than an inversion) */
		for (size_t j = 0; j < arity; j++) {
			memcpy(pre, wire + j * p, p * sizeof(FE));
			PFX(ntt)(pre, lp, 1);
			verifier[1 + j] = PFX(horner)(pre, p, t);
		}
	} else {
		/* L_k(t) = alpha^k (t^P - 1) / (P (t - alpha^k)), batch-inverted */
		FE alpha = F(root)(lp), ak = F(one)();
		FE num = F(sub)(tp, F(one)());
		FE pf = F(from_u64)((uint64_t)p);
		FE run = F(one)();
		for (size_t k = 0; k < p; k++) {
			lag[k] = F(mul)(pf, F(sub)(t, ak)); /* denominators */
			pre[k] = run;
			run = F(mul)(run, lag[k]);
			ak = F(mul)(ak, alpha);
		}
		FE rinv = F(inv)(run);
		for (size_t k = p; k-- > 0;) {
			FE d = lag[k];
			lag[k] = F(mul)(rinv, pre[k]); /* 1 / d_k */
			rinv = F(mul)(rinv, d);
		}
		ak = F(one)();
		for (size_t k = 0; k < p; k++) {
			lag[k] = F(mul)(F(mul)(lag[k], num), ak);
			ak = F(mul)(ak, alpha);
		}
		size_t used = v->gadget_calls + 1; /* columns beyond the last call are zero */
		for (size_t j = 0; j < arity; j++) {
			FE s = F(zero)();
			for (size_t k = 0; k < used; k++)
				s = F(add)(s, F(mul)(wire[j * p + k], lag[k]));
			verifier[1 + j] = s;
		}
	}
	verifier[1 + arity] = PFX(horner)(gpoly, p2 - 1, t);
	return 0;
}

static int PFX(decide)(const struct dap_vdaf *v, const FE *verifier)
{
	if (F(neq)(verifier[0], F(zero)()))
		return 0;
	FE z = PFX(gadget_eval)(v, verifier + 1);
	return !F(neq)(z, verifier[1 + v->gadget_arity]);
}

/* ------------------------------------------------------------------ Prio3 */

static int PFX(joint_rand_part)(const struct dap_vdaf *v, unsigned agg_id, const uint8_t *blind,
				const FE *meas_share, const uint8_t *nonce, uint8_t *part)
{
	uint8_t dst[DAP_DST_SIZE], id = (uint8_t)agg_id, buf[ESZ];
	struct dap_xof_ts x;
	dap_prio3_dst(v, DAP_USAGE_JOINT_RAND_PART, dst);
	int rc = dap_xof_ts_init(&x, blind, dst, sizeof(dst));
	if (rc)
		return rc;
	dap_xof_ts_binder(&x, &id, 1);
	dap_xof_ts_binder(&x, nonce, DAP_PRIO3_NONCE_SIZE);
	for (size_t i = 0; i < v->meas_len; i++) {
		F(encode)(buf, meas_share[i]);
		dap_xof_ts_binder(&x, buf, ESZ);
	}
	dap_xof_ts_next(&x, part, DAP_XOF_SEED_SIZE);
	return 0;
}

static int PFX(joint_rand_seed)(const struct dap_vdaf *v, const uint8_t *parts, uint8_t *seed)
{
	uint8_t dst[DAP_DST_SIZE], zeros[DAP_XOF_SEED_SIZE] = { 0 };
	dap_prio3_dst(v, DAP_USAGE_JOINT_RAND_SEED, dst);
	return dap_xof_ts_derive_seed(seed, zeros, dst, sizeof(dst), parts,
				      (size_t)v->shares * DAP_XOF_SEED_SIZE);
}

static int PFX(joint_rands)(const struct dap_vdaf *v, const uint8_t *seed, FE *out)
{
	uint8_t pr = (uint8_t)v->proofs;
	return PFX(expand)(v, seed, DAP_USAGE_JOINT_RANDOMNESS, &pr, 1, NULL, 0, out,
			   v->joint_rand_len * v->proofs);
}

static int PFX(helper_meas_share)(const struct dap_vdaf *v, unsigned agg_id, const uint8_t *seed,
				  FE *out)
{
	uint8_t id = (uint8_t)agg_id;
	return PFX(expand)(v, seed, DAP_USAGE_MEAS_SHARE, &id, 1, NULL, 0, out, v->meas_len);
}

static int PFX(helper_proofs_share)(const struct dap_vdaf *v, unsigned agg_id, const uint8_t *seed,
				    FE *out)
{
	uint8_t b[2] = { (uint8_t)v->proofs, (uint8_t)agg_id };
	return PFX(expand)(v, seed, DAP_USAGE_PROOF_SHARE, b, 2, NULL, 0, out,
			   v->proof_len * v->proofs);
}

int PFX(shard)(const struct dap_vdaf *v, const uint8_t *encoded_meas, const uint8_t *nonce,
	       const uint8_t *rand, struct tb_bytes *public_share, struct tb_bytes *input_shares,
	       uint8_t *scratch)
{
	struct PFX(arena) a = { scratch, 0 };
	const size_t S = DAP_XOF_SEED_SIZE, H = v->shares - 1, pr = v->proofs;
	const int jr = v->joint_rand_len > 0;
	const size_t per = jr ? 3 : 2;
	const uint8_t *leader_blind = jr ? rand + H * per * S : NULL;
	const uint8_t *k_prove = rand + H * per * S + (jr ? S : 0);
	FE *meas = PFX(take)(&a, v->meas_len);
	FE *lmeas = PFX(take)(&a, v->meas_len);
	FE *tmp = PFX(take)(&a, v->meas_len > v->proof_len * pr ? v->meas_len : v->proof_len * pr);
	FE *jrand = PFX(take)(&a, v->joint_rand_len * pr + 1);
	FE *prand = PFX(take)(&a, v->prove_rand_len * pr);
	FE *proofs = PFX(take)(&a, v->proof_len * pr);
	uint8_t *parts = (uint8_t *)PFX(take)(&a, (v->shares * S + sizeof(FE) - 1) / sizeof(FE));
	uint8_t seed[DAP_XOF_SEED_SIZE];
	int rc;

	if ((rc = PFX(decode_vec)(meas, encoded_meas, v->meas_len)))
		return rc;
	memcpy(lmeas, meas, v->meas_len * sizeof(FE));
	for (size_t j = 0; j < H; j++) {
		const uint8_t *hs = rand + j * per * S;
		if ((rc = PFX(helper_meas_share)(v, (unsigned)j + 1, hs, tmp)))
			return rc;
		for (size_t i = 0; i < v->meas_len; i++)
			lmeas[i] = F(sub)(lmeas[i], tmp[i]);
		if (jr && (rc = PFX(joint_rand_part)(v, (unsigned)j + 1, hs + 2 * S, tmp, nonce,
						      parts + (j + 1) * S)))
			return rc;
	}
	if (jr) {
		if ((rc = PFX(joint_rand_part)(v, 0, leader_blind, lmeas, nonce, parts)))
			return rc;
		if ((rc = PFX(joint_rand_seed)(v, parts, seed)))
			return rc;
		if ((rc = PFX(joint_rands)(v, seed, jrand)))
			return rc;
	}
	uint8_t prb = (uint8_t)pr;
	if ((rc = PFX(expand)(v, k_prove, DAP_USAGE_PROVE_RANDOMNESS, &prb, 1, NULL, 0, prand,
			      v->prove_rand_len * pr)))
		return rc;
	for (size_t i = 0; i < pr; i++) {
		struct PFX(arena) sub = a;
		if ((rc = PFX(prove)(v, meas, prand + i * v->prove_rand_len,
				     jrand + i * v->joint_rand_len, proofs + i * v->proof_len, sub)))
			return rc;
	}
	for (size_t j = 0; j < H; j++) {
		if ((rc = PFX(helper_proofs_share)(v, (unsigned)j + 1, rand + j * per * S + S, tmp)))
			return rc;
		for (size_t i = 0; i < v->proof_len * pr; i++)
			proofs[i] = F(sub)(proofs[i], tmp[i]);
	}

	/* encode */
	if (jr)
		tb_bytes_append(public_share, parts, v->shares * S);
	struct tb_bytes *l = &input_shares[0];
	if ((rc = tb_bytes_reserve(l, v->leader_input_share_size)))
		return rc;
	PFX(encode_vec)(l->p + l->len, lmeas, v->meas_len);
	l->len += v->meas_len * ESZ;
	PFX(encode_vec)(l->p + l->len, proofs, v->proof_len * pr);
	l->len += v->proof_len * pr * ESZ;
	if (jr)
		tb_bytes_append(l, leader_blind, S);
	for (size_t j = 0; j < H; j++)
		tb_bytes_append(&input_shares[j + 1], rand + j * per * S, per * S);
	if (public_share->err)
		return public_share->err;
	for (size_t j = 0; j <= H; j++)
		if (input_shares[j].err)
			return input_shares[j].err;
	return 0;
}

int PFX(prep_init)(const struct dap_vdaf *v, const uint8_t *verify_key, unsigned agg_id,
		   const uint8_t *nonce, struct tb_buf public_share, struct tb_buf input_share,
		   uint8_t *prep_state, uint8_t *prep_share, uint8_t *scratch)
{
	struct PFX(arena) a = { scratch, 0 };
	const size_t S = DAP_XOF_SEED_SIZE, pr = v->proofs;
	const int jr = v->joint_rand_len > 0;
	FE *meas = PFX(take)(&a, v->meas_len);
	FE *proofs = PFX(take)(&a, v->proof_len * pr);
	FE *jrand = PFX(take)(&a, v->joint_rand_len * pr + 1);
	FE *qrand = PFX(take)(&a, v->query_rand_len * pr);
	FE *ver = PFX(take)(&a, v->verifier_len * pr);
	FE *out = PFX(take)(&a, v->output_len);
	uint8_t *parts = (uint8_t *)PFX(take)(&a, (v->shares * S + sizeof(FE) - 1) / sizeof(FE));
	const uint8_t *blind = NULL;
	uint8_t part[DAP_XOF_SEED_SIZE], seed[DAP_XOF_SEED_SIZE];
	int rc;

	if (agg_id >= v->shares)
		return TB_ERR_INVALID;
	if (public_share.len != v->public_share_size ||
	    input_share.len != dap_vdaf_input_share_size(v, agg_id))
		return TB_ERR_INVALID;
	if (agg_id == 0) {
		if ((rc = PFX(decode_vec)(meas, input_share.p, v->meas_len)) ||
		    (rc = PFX(decode_vec)(proofs, input_share.p + v->meas_len * ESZ,
					  v->proof_len * pr)))
			return rc;
		if (jr)
			blind = input_share.p + (v->meas_len + v->proof_len * pr) * ESZ;
	} else {
		if ((rc = PFX(helper_meas_share)(v, agg_id, input_share.p, meas)) ||
		    (rc = PFX(helper_proofs_share)(v, agg_id, input_share.p + S, proofs)))
			return rc;
		if (jr)
			blind = input_share.p + 2 * S;
	}
	PFX(truncate)(v, meas, out);

	if (jr) {
		if ((rc = PFX(joint_rand_part)(v, agg_id, blind, meas, nonce, part)))
			return rc;
		memcpy(parts, public_share.p, v->shares * S);
		memcpy(parts + agg_id * S, part, S);
		if ((rc = PFX(joint_rand_seed)(v, parts, seed)) ||
		    (rc = PFX(joint_rands)(v, seed, jrand)))
			return rc;
	}
	uint8_t qb[1 + DAP_PRIO3_NONCE_SIZE];
	qb[0] = (uint8_t)pr;
	memcpy(qb + 1, nonce, DAP_PRIO3_NONCE_SIZE);
	if ((rc = PFX(expand)(v, verify_key, DAP_USAGE_QUERY_RANDOMNESS, qb, sizeof(qb), NULL, 0,
			      qrand, v->query_rand_len * pr)))
		return rc;
	for (size_t i = 0; i < pr; i++) {
		if ((rc = PFX(query)(v, meas, proofs + i * v->proof_len,
				     qrand + i * v->query_rand_len, jrand + i * v->joint_rand_len,
				     v->shares, ver + i * v->verifier_len, a)))
			return rc;
	}

	PFX(encode_vec)(prep_state, out, v->output_len);
	if (jr)
		memcpy(prep_state + v->output_len * ESZ, seed, S);
	PFX(encode_vec)(prep_share, ver, v->verifier_len * pr);
	if (jr)
		memcpy(prep_share + v->verifier_len * pr * ESZ, part, S);
	return 0;
}

int PFX(prep_shares_to_prep)(const struct dap_vdaf *v, const struct tb_buf *prep_shares, size_t n,
			     uint8_t *prep_msg, uint8_t *scratch)
{
	struct PFX(arena) a = { scratch, 0 };
	const size_t S = DAP_XOF_SEED_SIZE, vl = v->verifier_len * v->proofs;
	const int jr = v->joint_rand_len > 0;
	FE *ver = PFX(take)(&a, vl), *tmp = PFX(take)(&a, vl);
	uint8_t *parts = (uint8_t *)PFX(take)(&a, (v->shares * S + sizeof(FE) - 1) / sizeof(FE));
	int rc;

	if (n != v->shares)
		return TB_ERR_INVALID;
	PFX(zero)(ver, vl);
	for (size_t i = 0; i < n; i++) {
		if (prep_shares[i].len != v->prep_share_size)
			return TB_ERR_INVALID;
		if ((rc = PFX(decode_vec)(tmp, prep_shares[i].p, vl)))
			return rc;
		for (size_t k = 0; k < vl; k++)
			ver[k] = F(add)(ver[k], tmp[k]);
		if (jr)
			memcpy(parts + i * S, prep_shares[i].p + vl * ESZ, S);
	}
	for (size_t i = 0; i < v->proofs; i++)
		if (!PFX(decide)(v, ver + i * v->verifier_len))
			return TB_ERR_VERIFY;
	if (jr)
		return PFX(joint_rand_seed)(v, parts, prep_msg);
	return 0;
}

/*
 * add-chain / add-pre-chain bodies: JSON parsing, certificate parsing, chain
 * validation and, when a chain anchors, precertificate TBS reconstruction.
 * The last certificate of each chain is made the accepted root so that
 * seeds built from real chains reach the deepest code.
 */
#include <stdint.h>
#include <stdlib.h>

#include "core/crypto.h"
#include "ctlog/ctlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ct_chain c;
	if (ct_chain_parse_json((const char *)data, size, &c) != 0)
		return 0;
	struct ct_roots *roots = NULL;
	if (ct_roots_new(&roots) == 0) {
		ct_roots_add_der(roots, tb_bytes_buf(&c.der[c.n - 1]));
		struct ct_policy pol = { 0 };
		for (int precert = 0; precert < 2; precert++) {
			struct ct_validated v;
			char why[128];
			if (ct_validate_chain(roots, &pol, &c, precert, &v, why, sizeof why) == 0) {
				struct ct_entry e;
				struct tb_bytes b = { 0 };
				ct_validated_entry(&v, &e);
				if (ct_tile_leaf_write(&b, &e) != 0)
					abort(); /* a validated entry always encodes */
				tb_bytes_free(&b);
				ct_validated_free(&v);
			}
		}
		ct_roots_free(roots);
	}
	ct_chain_free(&c);
	return 0;
}

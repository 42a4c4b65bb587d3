/* Prio3 over Field128: instantiates prio3_tmpl.h. */
#include "dap/vdaf/vdaf_internal.h"

#include "core/error.h"

#define FE f128_t
#define F(op) f128_##op
#define ESZ F128_ENCODED_SIZE
#define PFX(name) dap_f128_##name

#include "dap/vdaf/prio3_tmpl.h"

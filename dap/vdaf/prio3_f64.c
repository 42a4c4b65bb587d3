/* Prio3 over Field64: instantiates prio3_tmpl.h. */
#include "dap/vdaf/vdaf_internal.h"

#include "core/error.h"

#define FE f64_t
#define F(op) f64_##op
#define ESZ F64_ENCODED_SIZE
#define PFX(name) dap_f64_##name

#include "dap/vdaf/prio3_tmpl.h"

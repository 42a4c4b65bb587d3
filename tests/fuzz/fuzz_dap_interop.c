/*
 * Fuzz target: the interop test API's add_task body (dap/interop.c), as a
 * test runner sends it: JSON parsed by cJSON, mapped to a task record, and
 * checked as every task record is (dap/task.c). Nothing may crash or read
 * outside the input; a record that passes must re-encode and pass again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dap/dap_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	cJSON *j = cJSON_ParseWithLength((const char *)data, size);
	cJSON *rec = j ? dap_interop_task_record(j, err, sizeof err) : NULL;
	struct dap_task t, again;
	if (rec && dap_task_from_json(rec, &t, err, sizeof err) == 0) {
		cJSON *back = dap_task_to_json(&t);
		if (!back || dap_task_from_json(back, &again, err, sizeof err) != 0 ||
		    memcmp(again.id, t.id, sizeof t.id) != 0 || again.vdaf_type != t.vdaf_type)
			abort();
		cJSON_Delete(back);
	}
	cJSON_Delete(rec);
	cJSON_Delete(j);
	return 0;
}

/*
 * Fuzz target: the interop test API's add_task body (dap/interop.c), as a
 * test runner sends it: JSON parsed by cJSON, mapped to a task record, and
 * checked as every task record is (dap/task.c). Nothing may crash or read
 * outside the input; a record that passes must re-encode and pass again.
 * The same input is also the client role's upload body (mapped to `dap
 * upload` arguments: at most the array's room, flags and values in pairs, a
 * value starting with '-' only for the base64url task id, which the command
 * takes as the flag's value whatever it looks like) and the collector role's view of `dap collect`'s output (to the
 * draft's poll answer, whose result is numbers as strings).
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
	struct dap_interop_upload u;
	if (!dap_interop_upload_argv(j, &u)) {
		if (u.n < 11 || u.n >= (int)(sizeof u.args / sizeof u.args[0]) || u.args[u.n])
			abort();
		for (int i = 3; i < u.n; i += 2)
			if (u.args[i][0] != '-' || u.args[i][1] != '-' ||
			    (u.args[i + 1][0] == '-' && strcmp(u.args[i], "--task-id") != 0))
				abort();
	}
	cJSON_Delete(j);
	cJSON *poll = dap_interop_collection_json((const char *)data, size);
	if (poll) {
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(poll, "result"), *it;
		if (!cJSON_IsString(r) && !cJSON_IsArray(r))
			abort();
		if (cJSON_IsArray(r))
			cJSON_ArrayForEach(it, r)
				if (!cJSON_IsString(it))
					abort();
		cJSON_Delete(poll);
	}
	return 0;
}

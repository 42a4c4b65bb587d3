#ifndef TB_STATUS_H
#define TB_STATUS_H

#include <cjson/cJSON.h>

#include "core/subsystem.h"

extern const struct tb_subsystem tb_status_subsystem;
/* The document GET /api/v1/status returns (caller frees). */
cJSON *tb_status_json(struct tb_core *core);

#endif

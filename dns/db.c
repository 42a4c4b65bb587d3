/*
 * DESIGN: the DNS subsystem's storage, and the only DNS file that speaks SQL
 * (so that the store stays swappable behind these functions).
 *
 * Tables (prefixed dns_): update_journal (every effective change an RFC 2136
 * update made, one row per added or deleted record, replayed over the
 * configured zone data at start), zone_serial (the last serial per zone) and
 * tsig_seen (the full MACs of accepted signed updates until their time signed
 * + fudge, so a replay is refused across a restart). The lab TSIG key lives in
 * core's kv table.
 *
 * Reads run at start on the loop thread's read connection; an update's rows
 * and its MAC are one write job, committed before the client is answered.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/store.h"
#include "core/subsystem.h"
#include "dns/dns.h"
#include "dns/dns_internal.h"

const struct tb_migration dns_migrations[] = {
	{ 1, "CREATE TABLE dns_update_journal ("
	     " id INTEGER PRIMARY KEY,"
	     " zone TEXT NOT NULL,"
	     " serial INTEGER NOT NULL,"
	     " op TEXT NOT NULL CHECK (op IN ('add','del')),"
	     " owner BLOB NOT NULL,"
	     " type INTEGER NOT NULL,"
	     " ttl INTEGER NOT NULL,"
	     " rdata BLOB,"
	     " at INTEGER NOT NULL);"
	     "CREATE INDEX dns_update_journal_zone ON dns_update_journal(zone, id);"
	     "CREATE TABLE dns_zone_serial (zone TEXT PRIMARY KEY, serial INTEGER NOT NULL);" },
	/* full MACs of accepted signed updates, until their time signed + fudge (replay refusal) */
	{ 2, "CREATE TABLE dns_tsig_seen (mac BLOB PRIMARY KEY, expires INTEGER NOT NULL);" },
	{ 0, NULL },
};

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static sqlite3 *reader(struct dns_server *s)
{
	return s->core && s->core->store ? tb_store_reader(s->core->store) : NULL;
}

/* ---- an update: its journal rows, its zone's serial and its MAC, in one transaction ---- */

static int update_job(sqlite3 *db, void *arg)
{
	struct dns_db_update *u = arg;
	sqlite3_stmt *st = NULL;
	int rc;
	/* an unsigned change (the admin API) has no MAC to remember */
	if (!u->expires)
		goto journal;
	/* the digest first, in the same transaction as the changes it authorised */
	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO dns_tsig_seen(mac, expires) VALUES (?,?)", -1, &st,
		    NULL) != SQLITE_OK)
		return TB_ERR_STORE;
	sqlite3_bind_blob(st, 1, u->digest, sizeof u->digest, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)u->expires);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return TB_ERR_STORE;
	if (sqlite3_prepare_v2(db, "DELETE FROM dns_tsig_seen WHERE expires < ?", -1, &st, NULL) != SQLITE_OK)
		return TB_ERR_STORE;
	sqlite3_bind_int64(st, 1, u->at);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return TB_ERR_STORE;
journal:
	if (!u->journal.len)
		return 0;
	if (sqlite3_prepare_v2(db,
		    "INSERT INTO dns_update_journal(zone, serial, op, owner, type, ttl, rdata, at)"
		    " VALUES (?,?,?,?,?,?,?,?)",
		    -1, &st, NULL) != SQLITE_OK)
		return TB_ERR_STORE;
	int err = 0;
	size_t o = 0;
	const uint8_t *j = u->journal.p;
	while (!err && o < u->journal.len) {
		char op = (char)j[o];
		size_t ol = j[o + 1];
		const uint8_t *owner = j + o + 2;
		o += 2 + ol;
		uint16_t type = rd16(j + o);
		uint32_t ttl = (uint32_t)rd16(j + o + 2) << 16 | rd16(j + o + 4);
		uint16_t rdlen = rd16(j + o + 6);
		const uint8_t *rdata = j + o + 8;
		o += 8 + rdlen;
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, u->zone, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, u->serial);
		sqlite3_bind_text(st, 3, op == 'a' ? "add" : "del", -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 4, owner, (int)ol, SQLITE_STATIC);
		sqlite3_bind_int(st, 5, type);
		sqlite3_bind_int64(st, 6, ttl);
		sqlite3_bind_blob(st, 7, rdlen ? (const void *)rdata : (const void *)"", rdlen, SQLITE_STATIC);
		sqlite3_bind_int64(st, 8, u->at);
		if (sqlite3_step(st) != SQLITE_DONE)
			err = TB_ERR_STORE;
	}
	sqlite3_finalize(st);
	if (err)
		return err;
	if (sqlite3_prepare_v2(db,
		    "INSERT INTO dns_zone_serial(zone, serial) VALUES (?,?)"
		    " ON CONFLICT(zone) DO UPDATE SET serial = excluded.serial",
		    -1, &st, NULL) != SQLITE_OK)
		return TB_ERR_STORE;
	sqlite3_bind_text(st, 1, u->zone, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, u->serial);
	if (sqlite3_step(st) != SQLITE_DONE)
		err = TB_ERR_STORE;
	sqlite3_finalize(st);
	return err;
}

int dns_db_write_update(struct dns_server *s, struct dns_db_update *u, void (*done)(int status, void *u))
{
	return tb_store_write(s->core->store, update_job, done, u);
}

/* ---- start: the journal and the replay memory ---- */

int dns_db_journal_read(struct dns_server *s, const char *zone, dns_db_journal_fn fn, void *arg,
	size_t *malformed)
{
	sqlite3 *db = reader(s);
	*malformed = 0;
	if (!db)
		return 0;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db,
		    "SELECT op, owner, type, ttl, rdata FROM dns_update_journal WHERE zone = ? ORDER BY id",
		    -1, &st, NULL) != SQLITE_OK)
		return TB_ERR_STORE;
	sqlite3_bind_text(st, 1, zone, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *op = (const char *)sqlite3_column_text(st, 0);
		const uint8_t *owner = sqlite3_column_blob(st, 1);
		int ol = sqlite3_column_bytes(st, 1);
		uint16_t type = (uint16_t)sqlite3_column_int(st, 2);
		uint32_t ttl = (uint32_t)sqlite3_column_int64(st, 3);
		const uint8_t *rd = sqlite3_column_blob(st, 4);
		int rl = sqlite3_column_bytes(st, 4);
		if (!op || !owner || ol <= 0 || ol > DNS_NAME_MAX || dns_name_len(owner, (size_t)ol) != ol ||
			rl < 0 || rl > 65535 || (strcmp(op, "add") != 0 && strcmp(op, "del") != 0)) {
			(*malformed)++;
			continue;
		}
		struct dns_rr rr = { owner, type, DNS_C_IN, ttl, rd ? rd : (const uint8_t *)"", (uint16_t)rl };
		fn(arg, op[0] == 'a', &rr);
	}
	sqlite3_finalize(st);
	return 0;
}

int dns_db_tsig_seen_load(struct dns_server *s, struct dns_tsig_seen *ring, size_t max, size_t *n)
{
	sqlite3 *db = reader(s);
	*n = 0;
	if (!db)
		return 0;
	sqlite3_stmt *st = NULL;
	/* the latest-expiring ones if there were ever more than fit, oldest first in the ring */
	if (sqlite3_prepare_v2(db,
		    "SELECT mac, expires FROM (SELECT mac, expires FROM dns_tsig_seen WHERE expires >= ?"
		    " ORDER BY expires DESC LIMIT ?) ORDER BY expires",
		    -1, &st, NULL) != SQLITE_OK)
		return TB_ERR_STORE;
	sqlite3_bind_int64(st, 1, tb_time_now());
	sqlite3_bind_int(st, 2, (int)max);
	while (sqlite3_step(st) == SQLITE_ROW && *n < max) {
		const void *mac = sqlite3_column_blob(st, 0);
		if (!mac || sqlite3_column_bytes(st, 0) != (int)sizeof ring->mac)
			continue;
		struct dns_tsig_seen *e = &ring[(*n)++];
		memcpy(e->mac, mac, sizeof e->mac);
		e->expires = (uint64_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return 0;
}

/* ---- the lab TSIG key (core's kv table) ---- */

#define LAB_KEY_KV "dns.lab_tsig_key"

int dns_db_lab_key_get(struct dns_server *s, void **val, size_t *len)
{
	sqlite3 *db = reader(s);
	return db ? tb_store_kv_get(db, LAB_KEY_KV, val, len) : TB_ERR_NOT_FOUND;
}

static int put_lab_key(sqlite3 *db, void *arg)
{
	const struct dns_tsig_key *k = arg;
	return tb_store_kv_put(db, LAB_KEY_KV, k->secret, k->secret_len);
}

int dns_db_lab_key_put(struct dns_server *s, const struct dns_tsig_key *k)
{
	return tb_store_write_sync(s->core->store, put_lab_key, (void *)k);
}

#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "daemon/log.h"
#include "daemon/util.h"

/* How long a statement waits for another connection's lock before failing with SQLITE_BUSY. Calls run
 * on the loop thread, so this is also the longest the loop can stall on a contended database. */
#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_ERR_MAX         512

/*
 * The migrations, in order. Each entry takes a database at version - 1 to version and runs in the same
 * transaction as the user_version bump, so a crash mid-migration leaves the old version intact. Entries
 * are never edited once released: a change to the schema is a new entry.
 */
struct migration {
	int version;
	const char *sql;
};

static const struct migration migrations[] = {
        {1, "CREATE TABLE responses ("
            " id TEXT PRIMARY KEY NOT NULL,"
            " created_at INTEGER NOT NULL,"
            " response_json TEXT NOT NULL,"
            " input_json TEXT NOT NULL);"
            /* For the retention sweep (delete by age) that comes later. */
            "CREATE INDEX responses_created_at ON responses(created_at);"},
        /*
         * NOT NULL on every key column: SQLite lets NULL into a PRIMARY KEY that is not an INTEGER PRIMARY
         * KEY, and NULLs never conflict, so a NULL key would let rows for the same key pile up.
         */
        {2, "CREATE TABLE mcp_tool_cache ("
            " url TEXT NOT NULL,"
            " cred_hash TEXT NOT NULL,"
            " protocol_version TEXT NOT NULL,"
            " tools_json TEXT NOT NULL,"
            " fetched_at INTEGER NOT NULL,"
            " expires_at INTEGER NOT NULL,"
            " PRIMARY KEY (url, cred_hash, protocol_version));"
            /* For the purge; deletes by url use the primary key's leading column. */
            "CREATE INDEX mcp_tool_cache_expires_at ON mcp_tool_cache(expires_at);"
            "CREATE TABLE mcp_transport ("
            " url TEXT PRIMARY KEY NOT NULL,"
            " transport TEXT NOT NULL,"
            " protocol_version TEXT NOT NULL,"
            " updated_at INTEGER NOT NULL);"},
        /*
         * No foreign key from mcp_approvals to responses: the approval row is written while the response
         * is still running (it is stored when it ends), and a response with store:false is never stored.
         * The CHECK keeps the decide statement's "status = 'pending'" test meaningful.
         */
        {3, "CREATE TABLE mcp_approvals ("
            " id TEXT PRIMARY KEY NOT NULL,"
            " response_id TEXT NOT NULL,"
            " server_label TEXT NOT NULL,"
            " target_sha256 TEXT NOT NULL,"
            " tool TEXT NOT NULL,"
            " arguments_sha256 TEXT NOT NULL,"
            " requested_by TEXT NOT NULL,"
            " status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'executed')),"
            " decided_by TEXT,"
            " reason TEXT,"
            " created_at INTEGER NOT NULL,"
            " decided_at INTEGER NOT NULL);"
            /*
             * The id is the rowid (the list's tie-break costs nothing); AUTOINCREMENT so that an id is
             * never handed out twice, even after a purge has emptied the table: readers of the log may
             * remember the ids they have seen.
             */
            "CREATE TABLE mcp_audit ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " at_ms INTEGER NOT NULL,"
            " response_id TEXT,"
            " caller TEXT,"
            " server_label TEXT,"
            " server_url TEXT,"
            " tool TEXT,"
            " args_bytes INTEGER NOT NULL,"
            " args_sha256 TEXT,"
            " outcome TEXT,"
            " error TEXT,"
            " duration_ms INTEGER NOT NULL,"
            " approval_id TEXT,"
            " decided_by TEXT);"
            /* For the retention purge and the newest-first list. */
            "CREATE INDEX mcp_audit_at_ms ON mcp_audit(at_ms);"
            "CREATE TABLE secrets ("
            " name TEXT PRIMARY KEY NOT NULL,"
            " value BLOB NOT NULL);"},
        /*
         * Every response gets the caller identity that created it. The rows written before there was
         * an owner get STORE_OWNER_LEGACY, which no caller identity can be ("uid=..." and "key=..."), so
         * that only an operator reaches them. The DEFAULT is how ALTER TABLE fills the old rows (SQLite
         * wants one for NOT NULL); put always binds the owner. The audit index serves the caller's own
         * newest-first list.
         */
        {4, "ALTER TABLE responses ADD COLUMN owner TEXT NOT NULL DEFAULT 'legacy:';" /* STORE_OWNER_LEGACY */
            "CREATE INDEX mcp_audit_caller_at_ms ON mcp_audit(caller, at_ms);"},
        /*
         * URLs are stored with their user info and query hashed (url_key): rows written before kept
         * them in clear, and a query may carry a credential. They are only a cache and a hint, so they
         * are dropped rather than rewritten ('@' also matches a path that has one: such a row is merely
         * fetched again). Calls now write an "in_progress" audit row when they start; the partial index
         * keeps the sweep of the rows a stopped daemon left open off a full scan of the log.
         */
        {5, "DELETE FROM mcp_tool_cache WHERE instr(url, '?') > 0 OR instr(url, '@') > 0;"
            "DELETE FROM mcp_transport WHERE instr(url, '?') > 0 OR instr(url, '@') > 0;"
            "CREATE INDEX mcp_audit_open ON mcp_audit(outcome) WHERE outcome = 'in_progress';"},
        /*
         * Approvals get the whole state machine of api/approvals.h: "executed" becomes "running" (claimed,
         * the call under way) then "done"; "expired" and "abandoned" end a wait that nobody decided. Each
         * step adds one to version, so that a decision can name the state it saw. SQLite cannot change a
         * CHECK in place: the table is rebuilt. A row executed before is done (its call ended or was
         * interrupted with that daemon); a decided row starts at version 2, a pending one at 1.
         */
        {6, "CREATE TABLE mcp_approvals_v6 ("
            " id TEXT PRIMARY KEY NOT NULL,"
            " response_id TEXT NOT NULL,"
            " server_label TEXT NOT NULL,"
            " target_sha256 TEXT NOT NULL,"
            " tool TEXT NOT NULL,"
            " arguments_sha256 TEXT NOT NULL,"
            " requested_by TEXT NOT NULL,"
            " status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired',"
            " 'abandoned', 'running', 'done')),"
            " decided_by TEXT,"
            " reason TEXT,"
            " created_at INTEGER NOT NULL,"
            " decided_at INTEGER NOT NULL,"
            " version INTEGER NOT NULL);"
            "INSERT INTO mcp_approvals_v6 SELECT id, response_id, server_label, target_sha256, tool,"
            " arguments_sha256, requested_by, CASE status WHEN 'executed' THEN 'done' ELSE status END,"
            " decided_by, reason, created_at, decided_at, CASE status WHEN 'pending' THEN 1 ELSE 2 END"
            " FROM mcp_approvals;"
            "DROP TABLE mcp_approvals;"
            "ALTER TABLE mcp_approvals_v6 RENAME TO mcp_approvals;"
            /* The start's sweep of running rows and the operator's lists (by state, by response, all). */
            "CREATE INDEX mcp_approvals_status ON mcp_approvals(status, created_at);"
            "CREATE INDEX mcp_approvals_response ON mcp_approvals(response_id, created_at);"
            "CREATE INDEX mcp_approvals_created_at ON mcp_approvals(created_at);"},
        /*
         * Operator approvals: an approval is the caller's (mcp_approval_request) or an operator's, whose
         * wait ends at expires_at; decision says which of the operator's decisions settled it; detail
         * is what the operator is shown (JSON: the arguments, the model's text, why approval is
         * needed...). Rules let a tool run without asking, while its definition hashes the same; each
         * decision leaves a row in mcp_approval_decisions.
         */
        {7, "ALTER TABLE mcp_approvals ADD COLUMN mode TEXT NOT NULL DEFAULT 'caller'"
            " CHECK (mode IN ('caller', 'operator'));"
            "ALTER TABLE mcp_approvals ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;"
            "ALTER TABLE mcp_approvals ADD COLUMN decision TEXT;"
            "ALTER TABLE mcp_approvals ADD COLUMN definition_sha256 TEXT;"
            "ALTER TABLE mcp_approvals ADD COLUMN detail TEXT;"
            "CREATE TABLE mcp_approval_rules ("
            " id TEXT PRIMARY KEY NOT NULL,"
            " server_label TEXT NOT NULL,"
            " target_sha256 TEXT NOT NULL,"
            " tool TEXT NOT NULL,"
            " definition_sha256 TEXT NOT NULL,"
            " definition TEXT NOT NULL,"
            " created_by TEXT NOT NULL,"
            " created_at INTEGER NOT NULL,"
            " expires_at INTEGER NOT NULL,"
            " from_approval TEXT,"
            " hits INTEGER NOT NULL DEFAULT 0,"
            " last_used_at INTEGER NOT NULL DEFAULT 0);"
            "CREATE INDEX mcp_approval_rules_tool ON mcp_approval_rules(target_sha256, tool);"
            "CREATE TABLE mcp_approval_decisions ("
            " id INTEGER PRIMARY KEY,"
            " approval_id TEXT NOT NULL,"
            " response_id TEXT NOT NULL,"
            " decision TEXT NOT NULL,"
            " actor TEXT NOT NULL,"
            " at INTEGER NOT NULL,"
            " arguments_sha256 TEXT NOT NULL,"
            " definition_sha256 TEXT,"
            " message TEXT,"
            " status TEXT NOT NULL);"
            "CREATE INDEX mcp_approval_decisions_approval ON mcp_approval_decisions(approval_id);"},
};

#define STORE_NMIGRATIONS    ((int)(sizeof migrations / sizeof migrations[0]))
#define STORE_SCHEMA_VERSION (migrations[STORE_NMIGRATIONS - 1].version)

enum store_stmt {
	STMT_PUT,
	STMT_GET,
	STMT_DELETE,
	STMT_COUNT,
	STMT_TOOLCACHE_PUT,
	STMT_TOOLCACHE_GET,
	STMT_TOOLCACHE_DELETE_CRED,
	STMT_TOOLCACHE_DELETE_URL,
	STMT_TOOLCACHE_DELETE_ALL,
	STMT_TOOLCACHE_PURGE,
	STMT_TRANSPORT_PUT,
	STMT_TRANSPORT_GET,
	STMT_APPROVAL_PUT,
	STMT_APPROVAL_GET,
	STMT_APPROVAL_DECIDE,
	STMT_APPROVAL_EXISTS,
	STMT_APPROVAL_CLAIM,
	STMT_APPROVAL_FINISH,
	STMT_APPROVAL_SETTLE_RUNNING,
	STMT_APPROVAL_LIST,
	STMT_APPROVAL_LIST_STATUS,
	STMT_APPROVAL_LIST_RESPONSE,
	STMT_APPROVAL_OPEN,
	STMT_APPROVAL_RESOLVE,
	STMT_APPROVAL_SETTLE_WAITING,
	STMT_APPROVAL_PENDING_OPERATOR,
	STMT_RULE_PUT,
	STMT_RULE_MATCH,
	STMT_RULE_HIT,
	STMT_RULE_LATEST,
	STMT_RULE_LIST,
	STMT_RULE_DELETE,
	STMT_DECISION_ADD,
	STMT_DECISION_LIST,
	STMT_RESPONSE_FAIL_UNFINISHED,
	STMT_AUDIT_ADD,
	STMT_AUDIT_END,
	STMT_AUDIT_INTERRUPT,
	STMT_AUDIT_PURGE,
	STMT_AUDIT_LIST,
	STMT_AUDIT_LIST_CALLER,
	STMT_SECRET_GET,
	STMT_SECRET_PUT,
	STMT_MAX
};

/* The approval lists: the columns of store_approval_list's keys, in order; newest first, the rowid (the
 * order of the inserts) breaking ties within a second (ids are random). One statement per filter (no
 * "?2 IS NULL OR"), so that each keeps to its index. */
#define APPROVAL_COLUMNS                                                                                     \
	"SELECT id, response_id, server_label, tool, arguments_sha256, requested_by, status, decided_by,"    \
	" reason, created_at, decided_at, version, mode, expires_at, decision, definition_sha256, detail"    \
	" FROM mcp_approvals"
#define RULE_COLUMNS                                                                                         \
	"SELECT id, server_label, tool, definition_sha256, definition, created_by, created_at, expires_at,"  \
	" from_approval, hits, last_used_at FROM mcp_approval_rules"
#define APPROVAL_ORDER " ORDER BY created_at DESC, rowid DESC LIMIT ?1"

/*
 * An upsert rather than INSERT OR REPLACE: REPLACE deletes the old row first, which would fire ON DELETE
 * foreign-key actions in the tables that will reference responses (approvals, audit log).
 */
static const char *const stmt_sql[STMT_MAX] = {
        [STMT_PUT] = "INSERT INTO responses (id, created_at, response_json, input_json, owner)"
                     " VALUES (?1, ?2, ?3, ?4, ?5)"
                     " ON CONFLICT (id) DO UPDATE SET created_at = excluded.created_at,"
                     " response_json = excluded.response_json, input_json = excluded.input_json"
                     " WHERE owner = excluded.owner",
        /* ?2 NULL: any owner (an operator). The id is the primary key, so the OR costs nothing. */
        [STMT_GET] = "SELECT response_json, input_json FROM responses WHERE id = ?1 AND (?2 IS NULL OR owner "
                     "= ?2)",
        [STMT_DELETE] = "DELETE FROM responses WHERE id = ?1 AND (?2 IS NULL OR owner = ?2)",
        [STMT_COUNT] = "SELECT count(*) FROM responses",
        [STMT_TOOLCACHE_PUT] = "INSERT INTO mcp_tool_cache"
                               " (url, cred_hash, protocol_version, tools_json, fetched_at, expires_at)"
                               " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                               " ON CONFLICT (url, cred_hash, protocol_version) DO UPDATE SET"
                               " tools_json = excluded.tools_json, fetched_at = excluded.fetched_at,"
                               " expires_at = excluded.expires_at",
        /* An expired row reads as missing; purge removes it later. */
        [STMT_TOOLCACHE_GET] =
                "SELECT tools_json, expires_at FROM mcp_tool_cache"
                " WHERE url = ?1 AND cred_hash = ?2 AND protocol_version = ?3 AND expires_at > ?4",
        [STMT_TOOLCACHE_DELETE_CRED] = "DELETE FROM mcp_tool_cache WHERE url = ?1 AND cred_hash = ?2",
        [STMT_TOOLCACHE_DELETE_URL] = "DELETE FROM mcp_tool_cache WHERE url = ?1",
        [STMT_TOOLCACHE_DELETE_ALL] = "DELETE FROM mcp_tool_cache",
        [STMT_TOOLCACHE_PURGE] = "DELETE FROM mcp_tool_cache WHERE expires_at <= ?1",
        [STMT_TRANSPORT_PUT] =
                "INSERT INTO mcp_transport (url, transport, protocol_version, updated_at)"
                " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (url) DO UPDATE SET"
                " transport = excluded.transport, protocol_version = excluded.protocol_version,"
                " updated_at = excluded.updated_at",
        [STMT_TRANSPORT_GET] = "SELECT transport, protocol_version FROM mcp_transport WHERE url = ?1",
        /* A plain INSERT: ids are random, so a duplicate is a bug to report, not a row to replace. */
        [STMT_APPROVAL_PUT] =
                "INSERT INTO mcp_approvals (id, response_id, server_label, tool,"
                " arguments_sha256, status, created_at, decided_at, target_sha256, requested_by, version)"
                " VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, 0, ?7, ?8, 1)",
        [STMT_APPROVAL_GET] = "SELECT id, response_id, server_label, tool, arguments_sha256, status,"
                              " decided_by, reason, created_at, decided_at, target_sha256, requested_by,"
                              " version, mode, expires_at, decision, definition_sha256, detail"
                              " FROM mcp_approvals WHERE id = ?1",
        [STMT_APPROVAL_OPEN] =
                "INSERT INTO mcp_approvals (id, response_id, server_label, tool, arguments_sha256, status,"
                " created_at, decided_at, target_sha256, requested_by, version, mode, expires_at,"
                " definition_sha256, detail)"
                " VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, 0, ?7, ?8, 1, 'operator', ?9, ?10, ?11)",
        /* The version in the WHERE: a decision applies only to the state its maker saw. */
        [STMT_APPROVAL_RESOLVE] =
                "UPDATE mcp_approvals SET status = ?3, decision = ?4, decided_by = ?5, reason = ?6,"
                " decided_at = ?7, version = version + 1"
                " WHERE id = ?1 AND version = ?2 AND status = 'pending'",
        [STMT_APPROVAL_SETTLE_WAITING] =
                "UPDATE mcp_approvals SET status = 'abandoned', decision = 'abandon', decided_by = 'daemon',"
                " reason = ?1, decided_at = ?2, version = version + 1"
                " WHERE status = 'pending' AND mode = 'operator'",
        /* The snapshot every new operator stream gets: built by SQLite's JSON functions in one step (the
         * detail's text is taken as the JSON it holds, never re-parsed into a tree here), the rows of
         * the subquery in its order, as many of the oldest as fit ?2 bytes (each counted as its detail
         * and 1 KiB for the rest), and the count of all pending. */
        [STMT_APPROVAL_PENDING_OPERATOR] =
                "SELECT coalesce(json_group_array(json_object('object', 'approval', 'id', id, 'response_id',"
                " response_id, 'server_label', server_label, 'tool', tool, 'arguments_sha256', "
                "arguments_sha256,"
                " 'requested_by', requested_by, 'status', status, 'decided_by', decided_by, 'reason', reason,"
                " 'created_at', created_at, 'decided_at', decided_at, 'version', version, 'mode', mode,"
                " 'expires_at', expires_at, 'decision', decision, 'definition_sha256', definition_sha256,"
                " 'detail', CASE WHEN json_valid(detail) AND json_type(detail) = 'object' THEN json(detail)"
                " ELSE json_object() END)), '[]'),"
                " (SELECT count(*) FROM mcp_approvals WHERE status = 'pending' AND mode = 'operator')"
                " FROM (SELECT *, sum(coalesce(length(CAST(detail AS BLOB)), 0) + 1024)"
                " OVER (ORDER BY created_at, rowid) AS upto"
                " FROM mcp_approvals WHERE status = 'pending' AND mode = 'operator'"
                " ORDER BY created_at, rowid LIMIT ?1) WHERE upto <= ?2",
        [STMT_RULE_PUT] = "INSERT INTO mcp_approval_rules (id, server_label, target_sha256, tool,"
                          " definition_sha256, definition, created_by, created_at, expires_at, from_approval)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        [STMT_RULE_MATCH] = "SELECT id FROM mcp_approval_rules WHERE target_sha256 = ?1 AND tool = ?2"
                            " AND definition_sha256 = ?3 AND (expires_at = 0 OR expires_at > ?4)"
                            " ORDER BY created_at DESC LIMIT 1",
        [STMT_RULE_HIT] = "UPDATE mcp_approval_rules SET hits = hits + 1, last_used_at = ?2 WHERE id = ?1",
        /* A rule of the tool whose definition is not the one seen now: what the operator is shown. */
        [STMT_RULE_LATEST] = "SELECT id, definition_sha256, definition FROM mcp_approval_rules"
                             " WHERE target_sha256 = ?1 AND tool = ?2 AND definition_sha256 <> ?3"
                             " AND (expires_at = 0 OR expires_at > ?4) ORDER BY created_at DESC LIMIT 1",
        [STMT_RULE_LIST] = RULE_COLUMNS " ORDER BY created_at DESC, rowid DESC LIMIT ?1",
        [STMT_RULE_DELETE] = "DELETE FROM mcp_approval_rules WHERE id = ?1",
        [STMT_DECISION_ADD] = "INSERT INTO mcp_approval_decisions (approval_id, response_id, decision, actor,"
                              " at, arguments_sha256, definition_sha256, message, status)"
                              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        [STMT_DECISION_LIST] = "SELECT id, approval_id, response_id, decision, actor, at, arguments_sha256,"
                               " definition_sha256, message, status FROM mcp_approval_decisions"
                               " WHERE approval_id = ?1 ORDER BY id",
        /* Like decide: one statement, so that two racing claims cannot both run the call. */
        [STMT_APPROVAL_CLAIM] = "UPDATE mcp_approvals SET status = 'running', version = version + 1"
                                " WHERE id = ?1 AND status = 'approved'",
        [STMT_APPROVAL_FINISH] = "UPDATE mcp_approvals SET status = 'done', version = version + 1"
                                 " WHERE id = ?1 AND status = 'running'",
        [STMT_APPROVAL_SETTLE_RUNNING] = "UPDATE mcp_approvals SET status = 'done', version = version + 1"
                                         " WHERE status = 'running'",
        [STMT_APPROVAL_LIST] = APPROVAL_COLUMNS APPROVAL_ORDER,
        [STMT_APPROVAL_LIST_STATUS] = APPROVAL_COLUMNS " WHERE status = ?2" APPROVAL_ORDER,
        [STMT_APPROVAL_LIST_RESPONSE] = APPROVAL_COLUMNS " WHERE response_id = ?3" APPROVAL_ORDER,
        [STMT_RESPONSE_FAIL_UNFINISHED] =
                "UPDATE responses SET response_json = json_set(response_json, '$.status', 'failed',"
                " '$.error', json_object('code', ?1, 'message', ?2))"
                " WHERE json_valid(response_json)"
                " AND json_extract(response_json, '$.status') IN ('queued', 'in_progress')",
        /* The status test in the WHERE makes the decision one statement: two racing decisions cannot
         * both see "pending". */
        [STMT_APPROVAL_DECIDE] =
                "UPDATE mcp_approvals SET status = ?2, decided_by = ?3, reason = ?4,"
                " decided_at = ?5, version = version + 1 WHERE id = ?1 AND status = 'pending'",
        [STMT_APPROVAL_EXISTS] = "SELECT 1 FROM mcp_approvals WHERE id = ?1",
        [STMT_AUDIT_ADD] =
                "INSERT INTO mcp_audit (at_ms, response_id, caller, server_label, server_url, tool,"
                " args_bytes, args_sha256, outcome, error, duration_ms, approval_id, decided_by)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        /* Only an open row: a row completed once (or swept as interrupted) stays as it is. */
        [STMT_AUDIT_END] = "UPDATE mcp_audit SET outcome = ?2, error = ?3, duration_ms = ?4"
                           " WHERE id = ?1 AND outcome = 'in_progress'",
        [STMT_AUDIT_INTERRUPT] = "UPDATE mcp_audit SET outcome = 'interrupted', error = ?1"
                                 " WHERE outcome = 'in_progress'",
        [STMT_AUDIT_PURGE] = "DELETE FROM mcp_audit WHERE at_ms < ?1",
        /* id breaks ties between rows of the same millisecond: the later insert is the newer. */
        [STMT_AUDIT_LIST] = "SELECT id, at_ms, response_id, caller, server_label, server_url, tool,"
                            " args_bytes, args_sha256, outcome, error, duration_ms, approval_id, decided_by"
                            " FROM mcp_audit ORDER BY at_ms DESC, id DESC LIMIT ?1",
        /* A statement of its own rather than "?2 IS NULL OR": that OR would keep SQLite off the index. */
        [STMT_AUDIT_LIST_CALLER] =
                "SELECT id, at_ms, response_id, caller, server_label, server_url, tool,"
                " args_bytes, args_sha256, outcome, error, duration_ms, approval_id, decided_by"
                " FROM mcp_audit WHERE caller = ?2 ORDER BY at_ms DESC, id DESC LIMIT ?1",
        [STMT_SECRET_GET] = "SELECT value FROM secrets WHERE name = ?1",
        /* DO NOTHING: when another connection created the secret first, its bytes win (read back). */
        [STMT_SECRET_PUT] = "INSERT INTO secrets (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[STMT_MAX];
	int memory;        /* ":memory:": no file, no WAL */
	int wal;           /* journal_mode is WAL, so close checkpoints */
	int audit_pending; /* audit rows inserted in the open transaction, not yet committed */
	char errmsg[STORE_ERR_MAX];
};

/* Audit rows committed together: one commit per call costs more than the call (WAL append and
 * file locks every time); past this many rows the batch is committed at once. */
#define STORE_AUDIT_BATCH 256

static int audit_commit(struct store *s);

static void set_err(struct store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
set_err(struct store *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
	va_end(ap);
}

/*
 * SQLite's messages name tables, columns and constraints but never the bound values, so they are safe
 * to log. "what" says which operation failed.
 */
static void
set_db_err(struct store *s, const char *what)
{
	int code = sqlite3_extended_errcode(s->db);

	if ((code & 0xff) == SQLITE_NOTADB || (code & 0xff) == SQLITE_CORRUPT)
		set_err(s, "%s: the database file is not an SQLite database or is corrupt (%s)", what,
		        sqlite3_errmsg(s->db));
	else
		set_err(s, "%s: %s (sqlite code %d)", what, sqlite3_errmsg(s->db), code);
}

/* Creates each missing directory on the way to path's parent, mode 0700; existing ones are left as
 * they are (their mode is the administrator's choice). */
static int
make_parent_dirs(struct store *s, const char *path)
{
	char dir[PATH_MAX];
	char *slash, *p;
	size_t len = strlen(path);
	struct stat st;

	if (len >= sizeof dir) {
		set_err(s, "open: database path is too long");
		return -1;
	}
	memcpy(dir, path, len + 1);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0; /* the current directory or "/" */
	*slash = '\0';

	/* Walk every prefix ending at a '/', then the whole parent. */
	for (p = dir + 1;; p++) {
		int last = *p == '\0';

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (stat(dir, &st) == 0) {
			if (!S_ISDIR(st.st_mode)) {
				set_err(s, "open: %s is not a directory", dir);
				return -1;
			}
		} else if (errno != ENOENT) {
			set_err(s, "open: %s: %s", dir, strerror(errno));
			return -1;
		} else if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
			set_err(s, "open: cannot create directory %s: %s", dir, strerror(errno));
			return -1;
		}
		if (last)
			return 0;
		*p = '/';
	}
}

/*
 * Creates a missing database file with mode 0600 before SQLite opens it: SQLite would create it 0644,
 * and the stored responses are the callers' conversations. SQLite gives the -wal and -shm files the
 * mode of the database file, so they follow.
 */
static int
precreate_file(struct store *s, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd == -1) {
		if (errno == EEXIST)
			return 0;
		set_err(s, "open: cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

static int
exec_sql(struct store *s, const char *sql, const char *what)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		set_db_err(s, what);
		return -1;
	}
	return 0;
}

/* Runs a one-row query and returns its first column: as an integer in *ival, or copied into text. */
static int
query_one(struct store *s, const char *sql, const char *what, int64_t *ival, char *text, size_t textlen)
{
	sqlite3_stmt *st = NULL;
	int rc, result = -1;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		set_db_err(s, what);
		goto done;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			set_err(s, "%s: no result", what);
		else
			set_db_err(s, what);
		goto done;
	}
	if (ival)
		*ival = sqlite3_column_int64(st, 0);
	if (text) {
		const unsigned char *t = sqlite3_column_text(st, 0);

		snprintf(text, textlen, "%s", t ? (const char *)t : "");
	}
	result = 0;
done:
	sqlite3_finalize(st);
	return result;
}

static int
refuse_newer(struct store *s, int64_t version)
{
	if (version > STORE_SCHEMA_VERSION || version < 0) {
		set_err(s,
		        "open: the database has schema version %lld, this toolhost knows up to %d; refusing "
		        "to "
		        "open it (use a newer toolhost, or another database path)",
		        (long long)version, STORE_SCHEMA_VERSION);
		return -1;
	}
	return 0;
}

/*
 * Brings the schema to STORE_SCHEMA_VERSION. The version is read again under BEGIN IMMEDIATE (the write
 * lock) because another process may have migrated between our first look and now.
 */
static int
migrate(struct store *s)
{
	int64_t version, ntables;
	char sql[64];
	int i, result = -1;

	if (exec_sql(s, "BEGIN IMMEDIATE", "open: begin migration") == -1)
		return -1;
	if (query_one(s, "PRAGMA user_version", "open: read schema version", &version, NULL, 0) == -1)
		goto done;
	if (refuse_newer(s, version) == -1)
		goto done;
	if (version == 0) {
		/* Version 0 with tables in it is some other program's database: do not write into it. */
		if (query_one(s, "SELECT count(*) FROM sqlite_master", "open: read schema", &ntables, NULL,
		              0) == -1)
			goto done;
		if (ntables != 0) {
			set_err(s, "open: the file is an SQLite database without a toolhost schema version; "
			           "refusing to modify it");
			goto done;
		}
	}
	for (i = 0; i < STORE_NMIGRATIONS; i++) {
		if (migrations[i].version <= version)
			continue;
		if (exec_sql(s, migrations[i].sql, "open: migrate") == -1)
			goto done;
		/* PRAGMA takes no bound parameters; the value is our own constant. */
		snprintf(sql, sizeof sql, "PRAGMA user_version = %d", migrations[i].version);
		if (exec_sql(s, sql, "open: set schema version") == -1)
			goto done;
	}
	if (exec_sql(s, "COMMIT", "open: commit migration") == -1)
		goto done;
	result = 0;
done:
	if (result == -1 && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return result;
}

static int
configure(struct store *s)
{
	char mode[32];
	int64_t version;

	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
	/* The file may have been tampered with: forbid the schema tricks (writable_schema, functions in
	 * triggers and views) that a crafted database uses to attack the program that opens it. */
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);

	/*
	 * Read the version before anything writes: this is the first read of the file, so a garbage file
	 * fails here, and a database from a newer toolhost is refused before we switch its journal mode.
	 */
	if (query_one(s, "PRAGMA user_version", "open", &version, NULL, 0) == -1)
		return -1;
	if (refuse_newer(s, version) == -1)
		return -1;

	if (!s->memory) {
		if (query_one(s, "PRAGMA journal_mode = WAL", "open: set WAL mode", NULL, mode,
		              sizeof mode) == -1)
			return -1;
		if (strcmp(mode, "wal") != 0) {
			set_err(s, "open: the database cannot use WAL mode (journal mode stays \"%s\")",
			        mode);
			return -1;
		}
		s->wal = 1;
	}
	/* In WAL mode, NORMAL keeps every commit across a crash of the process; only an OS crash or power
	 * loss can lose the last commits, never corrupt the file. */
	if (exec_sql(s, "PRAGMA synchronous = NORMAL", "open: set synchronous") == -1)
		return -1;
	if (exec_sql(s, "PRAGMA foreign_keys = ON", "open: enable foreign keys") == -1)
		return -1;
	if (version < STORE_SCHEMA_VERSION && migrate(s) == -1)
		return -1;
	return 0;
}

static int
prepare_all(struct store *s)
{
	int i;

	for (i = 0; i < STMT_MAX; i++) {
		if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
		                       NULL) != SQLITE_OK) {
			set_db_err(s, "open: prepare");
			return -1;
		}
	}
	return 0;
}

struct store *
store_open(const char *path, char *err, size_t errlen)
{
	struct store *s = xcalloc(1, sizeof *s);
	int rc, result = -1;

	if (path == NULL || *path == '\0') {
		/* "" would give a private temporary database: never what a configuration means. */
		set_err(s, "open: no database path");
		goto done;
	}
	s->memory = strcmp(path, ":memory:") == 0;
	if (!s->memory) {
		if (make_parent_dirs(s, path) == -1)
			goto done;
		if (precreate_file(s, path) == -1)
			goto done;
	}
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                     NULL);
	if (rc != SQLITE_OK) {
		if (s->db)
			set_err(s, "open %s: %s", path, sqlite3_errmsg(s->db));
		else
			set_err(s, "open %s: %s", path, sqlite3_errstr(rc));
		goto done;
	}
	if (configure(s) == -1)
		goto done;
	if (prepare_all(s) == -1)
		goto done;
	result = 0;
done:
	if (result == -1) {
		if (err && errlen)
			snprintf(err, errlen, "store: %s", s->errmsg);
		s->wal = 0; /* nothing of ours to checkpoint, and the file may not even be a database */
		store_close(s);
		return NULL;
	}
	return s;
}

void
store_close(struct store *s)
{
	int i, rc;

	if (s == NULL)
		return;
	audit_commit(s);
	for (i = 0; i < STMT_MAX; i++)
		sqlite3_finalize(s->stmt[i]);
	if (s->db) {
		if (s->wal) {
			/* Passive: copies what it can without waiting on readers in other processes. */
			rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
			if (rc != SQLITE_OK)
				log_warnx("store: checkpoint on close: %s", sqlite3_errmsg(s->db));
		}
		rc = sqlite3_close(s->db);
		if (rc != SQLITE_OK)
			log_warnx("store: close: %s", sqlite3_errstr(rc));
	}
	free(s);
}

/*
 * Steps a prepared statement once. The caller resets it with finish(): bound text is SQLITE_STATIC (the
 * caller's strings, no copy of multi-megabyte values), so the bindings must be cleared before return.
 */
static int
step(struct store *s, sqlite3_stmt *st, const char *what)
{
	int rc;

	/* Every other write commits the batched audit rows first: a response or a decision must never
	 * wait on the audit batch to become durable. */
	if (s->audit_pending > 0 && st != s->stmt[STMT_AUDIT_ADD] && st != s->stmt[STMT_AUDIT_END] &&
	    !sqlite3_stmt_readonly(st))
		audit_commit(s);
	rc = sqlite3_step(st);

	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		set_db_err(s, what);
	return rc;
}

static void
finish(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static int
bind_text(struct store *s, sqlite3_stmt *st, int idx, const char *v, const char *what)
{
	if (sqlite3_bind_text64(st, idx, v, strlen(v), SQLITE_STATIC, SQLITE_UTF8) != SQLITE_OK) {
		set_db_err(s, what);
		return -1;
	}
	return 0;
}

/* Binds v, or SQL NULL when v is NULL. */
static int
bind_text_or_null(struct store *s, sqlite3_stmt *st, int idx, const char *v, const char *what)
{
	if (v == NULL) {
		if (sqlite3_bind_null(st, idx) != SQLITE_OK) {
			set_db_err(s, what);
			return -1;
		}
		return 0;
	}
	return bind_text(s, st, idx, v, what);
}

static int
bind_int(struct store *s, sqlite3_stmt *st, int idx, int64_t v, const char *what)
{
	if (sqlite3_bind_int64(st, idx, v) != SQLITE_OK) {
		set_db_err(s, what);
		return -1;
	}
	return 0;
}

int
store_response_put(struct store *s, const char *id, const char *owner, const char *response_json,
                   const char *input_json, int64_t created_at)
{
	sqlite3_stmt *st;
	int result = -1;

	if (s == NULL)
		return -1;
	if (id == NULL || *id == '\0' || owner == NULL || *owner == '\0' || response_json == NULL ||
	    input_json == NULL) {
		set_err(s, "put: missing id, owner, response or input");
		return -1;
	}
	st = s->stmt[STMT_PUT];
	if (bind_text(s, st, 1, id, "put") == -1 || bind_int(s, st, 2, created_at, "put") == -1 ||
	    bind_text(s, st, 3, response_json, "put") == -1 || bind_text(s, st, 4, input_json, "put") == -1 ||
	    bind_text(s, st, 5, owner, "put") == -1)
		goto done;
	if (step(s, st, "put") != SQLITE_DONE)
		goto done;
	/* The upsert's WHERE left a row of another owner alone: ownership never moves. */
	if (sqlite3_changes(s->db) == 0) {
		set_err(s, "put: %s belongs to another owner", id);
		goto done;
	}
	result = 0;
done:
	finish(st);
	return result;
}

/* Copies column i into a malloc'd string. A NULL column only exists in a file written by someone else. */
static int
copy_column(struct store *s, sqlite3_stmt *st, int i, char **out, const char *what)
{
	const unsigned char *t;
	int n;

	if (sqlite3_column_type(st, i) == SQLITE_NULL) {
		set_err(s, "%s: the stored row is incomplete", what);
		return -1;
	}
	t = sqlite3_column_text(st, i);
	if (t == NULL) {
		/* NULL is also how SQLite returns a zero-length blob; only NOMEM is a failure. */
		if ((sqlite3_errcode(s->db) & 0xff) == SQLITE_NOMEM) {
			set_db_err(s, what);
			return -1;
		}
		*out = xstrdup("");
		return 0;
	}
	n = sqlite3_column_bytes(st, i);
	*out = xmalloc((size_t)n + 1);
	memcpy(*out, t, (size_t)n);
	(*out)[n] = '\0';
	return 0;
}

int
store_response_get(struct store *s, const char *id, const char *owner, char **response_json,
                   char **input_json)
{
	sqlite3_stmt *st;
	char *resp = NULL, *input = NULL;
	int rc, result = -1;

	if (s == NULL)
		return -1;
	if (id == NULL) {
		set_err(s, "get: missing id");
		return -1;
	}
	st = s->stmt[STMT_GET];
	if (bind_text(s, st, 1, id, "get") == -1 || bind_text_or_null(s, st, 2, owner, "get") == -1)
		goto done;
	rc = step(s, st, "get");
	if (rc == SQLITE_DONE) {
		result = 1;
		goto done;
	}
	if (rc != SQLITE_ROW)
		goto done;
	if (response_json && copy_column(s, st, 0, &resp, "get") == -1)
		goto done;
	if (input_json && copy_column(s, st, 1, &input, "get") == -1)
		goto done;
	if (response_json) {
		*response_json = resp;
		resp = NULL;
	}
	if (input_json) {
		*input_json = input;
		input = NULL;
	}
	result = 0;
done:
	finish(st);
	free(resp);
	free(input);
	return result;
}

int
store_response_delete(struct store *s, const char *id, const char *owner)
{
	sqlite3_stmt *st;
	int result = -1;

	if (s == NULL)
		return -1;
	if (id == NULL) {
		set_err(s, "delete: missing id");
		return -1;
	}
	st = s->stmt[STMT_DELETE];
	if (bind_text(s, st, 1, id, "delete") == -1 || bind_text_or_null(s, st, 2, owner, "delete") == -1)
		goto done;
	if (step(s, st, "delete") != SQLITE_DONE)
		goto done;
	result = sqlite3_changes(s->db) > 0 ? 0 : 1;
done:
	finish(st);
	return result;
}

int64_t
store_response_count(struct store *s)
{
	sqlite3_stmt *st;
	int64_t result = -1;

	if (s == NULL)
		return -1;
	st = s->stmt[STMT_COUNT];
	if (step(s, st, "count") != SQLITE_ROW)
		goto done;
	result = sqlite3_column_int64(st, 0);
done:
	finish(st);
	return result;
}

/* Binds the tool-list cache key to parameters 1 to 3. */
static int
bind_toolcache_key(struct store *s, sqlite3_stmt *st, const char *url, const char *cred_hash,
                   const char *protocol_version, const char *what)
{
	if (bind_text(s, st, 1, url, what) == -1 || bind_text(s, st, 2, cred_hash, what) == -1 ||
	    bind_text(s, st, 3, protocol_version, what) == -1)
		return -1;
	return 0;
}

/*
 * The form of an MCP server's URL kept in the tool cache and transport rows. User info and query may
 * carry a credential (https://host/mcp?token=..., https://user:secret@host/mcp) and the database is
 * not a secret store, so both are replaced by "?sha256=" and the SHA-256 (hex) of exactly those bytes
 * (the user info with its '@', then the query from its '?' to the end): two URLs that differ there
 * still get two rows, and nothing of the secret is kept. A URL with neither is kept as it is; a key
 * never contains '@', and has a '?' only when something was hashed. Caller frees.
 */
static char *
url_key(const char *url)
{
	const char *auth, *end, *at = NULL, *q, *p;
	char hex[65], *secret, *out;
	size_t ul, ql;

	p = strstr(url, "://");
	auth = p ? p + 3 : url;
	end = auth + strcspn(auth, "/?#");
	for (p = auth; p < end; p++) {
		if (*p == '@')
			at = p;
	}
	q = strchr(end, '?');
	if (at == NULL && q == NULL)
		return xstrdup(url);
	ul = at ? (size_t)(at + 1 - auth) : 0;
	ql = q ? strlen(q) : 0;
	secret = xmalloc(ul + ql + 1);
	memcpy(secret, auth, ul);
	memcpy(secret + ul, q ? q : "", ql + 1);
	util_sha256_hex(secret, ul + ql, hex);
	explicit_bzero(secret, ul + ql);
	free(secret);
	/* scheme://, host and path (the user info and the query cut out), the digest. */
	out = xasprintf("%.*s%.*s?sha256=%s", (int)(auth - url), url,
	                (int)((q ? q : end + strlen(end)) - (auth + ul)), auth + ul, hex);
	return out;
}

int
store_toolcache_put(struct store *s, const char *url, const char *cred_hash, const char *protocol_version,
                    const char *tools_json, int64_t fetched_at, int64_t expires_at)
{
	const char *what = "tool cache put";
	sqlite3_stmt *st;
	char *key;
	int result = -1;

	if (s == NULL)
		return -1;
	if (url == NULL || cred_hash == NULL || protocol_version == NULL || tools_json == NULL) {
		set_err(s, "%s: missing url, credential hash, protocol version or tools", what);
		return -1;
	}
	key = url_key(url);
	st = s->stmt[STMT_TOOLCACHE_PUT];
	if (bind_toolcache_key(s, st, key, cred_hash, protocol_version, what) == -1 ||
	    bind_text(s, st, 4, tools_json, what) == -1 || bind_int(s, st, 5, fetched_at, what) == -1 ||
	    bind_int(s, st, 6, expires_at, what) == -1)
		goto done;
	if (step(s, st, what) != SQLITE_DONE)
		goto done;
	result = 0;
done:
	finish(st);
	free(key);
	return result;
}

int
store_toolcache_get(struct store *s, const char *url, const char *cred_hash, const char *protocol_version,
                    int64_t now, char **tools_json, int64_t *expires_at)
{
	const char *what = "tool cache get";
	sqlite3_stmt *st;
	char *key;
	int rc, result = -1;

	if (s == NULL)
		return -1;
	if (url == NULL || cred_hash == NULL || protocol_version == NULL || tools_json == NULL) {
		set_err(s, "%s: missing url, credential hash, protocol version or output", what);
		return -1;
	}
	key = url_key(url);
	st = s->stmt[STMT_TOOLCACHE_GET];
	if (bind_toolcache_key(s, st, key, cred_hash, protocol_version, what) == -1 ||
	    bind_int(s, st, 4, now, what) == -1)
		goto done;
	rc = step(s, st, what);
	if (rc == SQLITE_DONE) {
		result = 1;
		goto done;
	}
	if (rc != SQLITE_ROW)
		goto done;
	/* Nothing can fail after the copy, so *tools_json is only written on success. */
	if (copy_column(s, st, 0, tools_json, what) == -1)
		goto done;
	if (expires_at)
		*expires_at = sqlite3_column_int64(st, 1);
	result = 0;
done:
	finish(st);
	free(key);
	return result;
}

int64_t
store_toolcache_delete(struct store *s, const char *url, const char *cred_hash)
{
	const char *what = "tool cache delete";
	sqlite3_stmt *st;
	char *key;
	int64_t result = -1;

	if (s == NULL)
		return -1;
	key = url ? url_key(url) : NULL;
	/* Three statements rather than "?1 IS NULL OR url = ?1", which would keep SQLite from using the
	 * primary key. */
	if (url == NULL) {
		st = s->stmt[STMT_TOOLCACHE_DELETE_ALL];
	} else if (cred_hash == NULL) {
		st = s->stmt[STMT_TOOLCACHE_DELETE_URL];
		if (bind_text(s, st, 1, key, what) == -1)
			goto done;
	} else {
		st = s->stmt[STMT_TOOLCACHE_DELETE_CRED];
		if (bind_text(s, st, 1, key, what) == -1 || bind_text(s, st, 2, cred_hash, what) == -1)
			goto done;
	}
	if (step(s, st, what) != SQLITE_DONE)
		goto done;
	result = sqlite3_changes(s->db);
done:
	finish(st);
	free(key);
	return result;
}

/* Runs a DELETE whose one parameter is a time: the number of rows deleted, or -1. */
static int64_t
purge_before(struct store *s, enum store_stmt id, int64_t t, const char *what)
{
	sqlite3_stmt *st;
	int64_t result = -1;

	if (s == NULL)
		return -1;
	st = s->stmt[id];
	if (bind_int(s, st, 1, t, what) == -1)
		goto done;
	if (step(s, st, what) != SQLITE_DONE)
		goto done;
	result = sqlite3_changes(s->db);
done:
	finish(st);
	return result;
}

int64_t
store_toolcache_purge(struct store *s, int64_t now)
{
	return purge_before(s, STMT_TOOLCACHE_PURGE, now, "tool cache purge");
}

int
store_mcp_transport_put(struct store *s, const char *url, const char *transport, const char *protocol_version,
                        int64_t updated_at)
{
	const char *what = "transport put";
	sqlite3_stmt *st;
	char *key;
	int result = -1;

	if (s == NULL)
		return -1;
	if (url == NULL || transport == NULL || protocol_version == NULL) {
		set_err(s, "%s: missing url, transport or protocol version", what);
		return -1;
	}
	key = url_key(url);
	st = s->stmt[STMT_TRANSPORT_PUT];
	if (bind_text(s, st, 1, key, what) == -1 || bind_text(s, st, 2, transport, what) == -1 ||
	    bind_text(s, st, 3, protocol_version, what) == -1 || bind_int(s, st, 4, updated_at, what) == -1)
		goto done;
	if (step(s, st, what) != SQLITE_DONE)
		goto done;
	result = 0;
done:
	finish(st);
	free(key);
	return result;
}

int
store_mcp_transport_get(struct store *s, const char *url, char **transport, char **protocol_version)
{
	const char *what = "transport get";
	sqlite3_stmt *st;
	char *key;
	char *tr = NULL, *version = NULL;
	int rc, result = -1;

	if (s == NULL)
		return -1;
	if (url == NULL || transport == NULL || protocol_version == NULL) {
		set_err(s, "%s: missing url or output", what);
		return -1;
	}
	key = url_key(url);
	st = s->stmt[STMT_TRANSPORT_GET];
	if (bind_text(s, st, 1, key, what) == -1)
		goto done;
	rc = step(s, st, what);
	if (rc == SQLITE_DONE) {
		result = 1;
		goto done;
	}
	if (rc != SQLITE_ROW)
		goto done;
	if (copy_column(s, st, 0, &tr, what) == -1 || copy_column(s, st, 1, &version, what) == -1)
		goto done;
	*transport = tr;
	*protocol_version = version;
	tr = version = NULL;
	result = 0;
done:
	finish(st);
	free(key);
	free(tr);
	free(version);
	return result;
}

/* Like copy_column, but a NULL column is a NULL string: for the columns that may hold one. */
static int
copy_column_or_null(struct store *s, sqlite3_stmt *st, int i, char **out, const char *what)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL) {
		*out = NULL;
		return 0;
	}
	return copy_column(s, st, i, out, what);
}

int
store_approval_put(struct store *s, const char *id, const char *response_id, const char *server_label,
                   const char *target_sha256, const char *tool, const char *arguments_sha256,
                   const char *requested_by, int64_t created_at)
{
	const char *what = "approval put";
	sqlite3_stmt *st;
	int result = -1;

	if (s == NULL)
		return -1;
	if (id == NULL || *id == '\0' || response_id == NULL || server_label == NULL || tool == NULL ||
	    arguments_sha256 == NULL || target_sha256 == NULL || requested_by == NULL) {
		set_err(s,
		        "%s: missing id, response id, server label, target, tool, arguments hash or caller",
		        what);
		return -1;
	}
	st = s->stmt[STMT_APPROVAL_PUT];
	if (bind_text(s, st, 1, id, what) == -1 || bind_text(s, st, 2, response_id, what) == -1 ||
	    bind_text(s, st, 3, server_label, what) == -1 || bind_text(s, st, 4, tool, what) == -1 ||
	    bind_text(s, st, 5, arguments_sha256, what) == -1 || bind_int(s, st, 6, created_at, what) == -1 ||
	    bind_text(s, st, 7, target_sha256, what) == -1 || bind_text(s, st, 8, requested_by, what) == -1)
		goto done;
	if (step(s, st, what) != SQLITE_DONE)
		goto done;
	result = 0;
done:
	finish(st);
	return result;
}

void
store_approval_clear(struct store_approval *a)
{
	if (a == NULL)
		return;
	free(a->id);
	free(a->response_id);
	free(a->server_label);
	free(a->tool);
	free(a->arguments_sha256);
	free(a->target_sha256);
	free(a->requested_by);
	free(a->status);
	free(a->decided_by);
	free(a->reason);
	free(a->mode);
	free(a->decision);
	free(a->definition_sha256);
	free(a->detail);
	memset(a, 0, sizeof *a);
}

int
store_approval_get(struct store *s, const char *id, struct store_approval *out)
{
	const char *what = "approval get";
	struct store_approval a = {0};
	sqlite3_stmt *st;
	int rc, result = -1;

	if (s == NULL)
		return -1;
	if (id == NULL || out == NULL) {
		set_err(s, "%s: missing id or output", what);
		return -1;
	}
	st = s->stmt[STMT_APPROVAL_GET];
	if (bind_text(s, st, 1, id, what) == -1)
		goto done;
	rc = step(s, st, what);
	if (rc == SQLITE_DONE) {
		result = 1;
		goto done;
	}
	if (rc != SQLITE_ROW)
		goto done;
	if (copy_column(s, st, 0, &a.id, what) == -1 || copy_column(s, st, 1, &a.response_id, what) == -1 ||
	    copy_column(s, st, 2, &a.server_label, what) == -1 ||
	    copy_column(s, st, 3, &a.tool, what) == -1 ||
	    copy_column(s, st, 4, &a.arguments_sha256, what) == -1 ||
	    copy_column(s, st, 5, &a.status, what) == -1 ||
	    copy_column_or_null(s, st, 6, &a.decided_by, what) == -1 ||
	    copy_column_or_null(s, st, 7, &a.reason, what) == -1 ||
	    copy_column(s, st, 10, &a.target_sha256, what) == -1 ||
	    copy_column(s, st, 11, &a.requested_by, what) == -1)
		goto done;
	a.created_at = sqlite3_column_int64(st, 8);
	a.decided_at = sqlite3_column_int64(st, 9);
	a.version = sqlite3_column_int64(st, 12);
	if (copy_column(s, st, 13, &a.mode, what) == -1 ||
	    copy_column_or_null(s, st, 15, &a.decision, what) == -1 ||
	    copy_column_or_null(s, st, 16, &a.definition_sha256, what) == -1 ||
	    copy_column_or_null(s, st, 17, &a.detail, what) == -1)
		goto done;
	a.expires_at = sqlite3_column_int64(st, 14);
	*out = a;
	memset(&a, 0, sizeof a);
	result = 0;
done:
	finish(st);
	store_approval_clear(&a);
	return result;
}

int
store_approval_decide(struct store *s, const char *id, int approve, const char *decided_by,
                      const char *reason, int64_t now)
{
	const char *what = "approval decide";
	sqlite3_stmt *st;
	int rc, result = -1;

	if (s == NULL)
		return -1;
	if (id == NULL) {
		set_err(s, "%s: missing id", what);
		return -1;
	}
	st = s->stmt[STMT_APPROVAL_DECIDE];
	if (bind_text(s, st, 1, id, what) == -1 ||
	    bind_text(s, st, 2, approve ? "approved" : "denied", what) == -1 ||
	    bind_text_or_null(s, st, 3, decided_by, what) == -1 ||
	    bind_text_or_null(s, st, 4, reason, what) == -1 || bind_int(s, st, 5, now, what) == -1)
		goto done;
	if (step(s, st, what) != SQLITE_DONE)
		goto done;
	if (sqlite3_changes(s->db) > 0) {
		result = 0;
		goto done;
	}
	finish(st);

	/* Nothing changed: the row is missing or was decided before. A decided row never goes back to
	 * pending, so this second look cannot misreport a row the UPDATE skipped. */
	st = s->stmt[STMT_APPROVAL_EXISTS];
	if (bind_text(s, st, 1, id, what) == -1)
		goto done;
	rc = step(s, st, what);
	if (rc == SQLITE_DONE)
		result = 1;
	else if (rc == SQLITE_ROW)
		result = 2;
done:
	finish(st);
	return result;
}

/* One conditional step of one row: 0 taken, 2 the row is not in the state the statement needs, -1 error. */
static int
approval_step(struct store *s, enum store_stmt which, const char *id, const char *what)
{
	sqlite3_stmt *st;
	int result = -1;

	if (s == NULL)
		return -1;
	if (id == NULL) {
		set_err(s, "%s: missing id", what);
		return -1;
	}
	st = s->stmt[which];
	if (bind_text(s, st, 1, id, what) == -1 || step(s, st, what) != SQLITE_DONE)
		goto done;
	result = sqlite3_changes(s->db) > 0 ? 0 : 2;
done:
	finish(st);
	return result;
}

int
store_approval_claim(struct store *s, const char *id)
{
	return approval_step(s, STMT_APPROVAL_CLAIM, id, "approval claim");
}

int
store_approval_finish(struct store *s, const char *id)
{
	return approval_step(s, STMT_APPROVAL_FINISH, id, "approval finish");
}

int64_t
store_approval_settle_running(struct store *s)
{
	const char *what = "approval settle";
	sqlite3_stmt *st;
	int64_t result = -1;

	if (s == NULL)
		return -1;
	st = s->stmt[STMT_APPROVAL_SETTLE_RUNNING];
	if (step(s, st, what) == SQLITE_DONE)
		result = sqlite3_changes(s->db);
	finish(st);
	return result;
}

int64_t
store_response_fail_unfinished(struct store *s, const char *code, const char *message)
{
	const char *what = "fail unfinished responses";
	sqlite3_stmt *st;
	int64_t result = -1;

	if (s == NULL)
		return -1;
	st = s->stmt[STMT_RESPONSE_FAIL_UNFINISHED];
	if (bind_text(s, st, 1, code ? code : "", what) == -1 ||
	    bind_text(s, st, 2, message ? message : "", what) == -1 || step(s, st, what) != SQLITE_DONE)
		goto done;
	result = sqlite3_changes(s->db);
done:
	finish(st);
	return result;
}

/* The first write of an audit batch opens the transaction the next ones join. */
static int
audit_batch_join(struct store *s, const char *what)
{
	if (s->audit_pending == 0 && sqlite3_get_autocommit(s->db) &&
	    sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		set_db_err(s, what);
		return -1;
	}
	return 0;
}

int
store_audit_add(struct store *s, const struct store_audit *row)
{
	const char *what = "audit add";
	sqlite3_stmt *st;
	int result = -1;

	if (s == NULL)
		return -1;
	if (row == NULL) {
		set_err(s, "%s: missing row", what);
		return -1;
	}
	if (audit_batch_join(s, what) < 0)
		return -1;
	st = s->stmt[STMT_AUDIT_ADD];
	if (bind_int(s, st, 1, row->at_ms, what) == -1 ||
	    bind_text_or_null(s, st, 2, row->response_id, what) == -1 ||
	    bind_text_or_null(s, st, 3, row->caller, what) == -1 ||
	    bind_text_or_null(s, st, 4, row->server_label, what) == -1 ||
	    bind_text_or_null(s, st, 5, row->server_url, what) == -1 ||
	    bind_text_or_null(s, st, 6, row->tool, what) == -1 ||
	    bind_int(s, st, 7, row->args_bytes, what) == -1 ||
	    bind_text_or_null(s, st, 8, row->args_sha256, what) == -1 ||
	    bind_text_or_null(s, st, 9, row->outcome, what) == -1 ||
	    bind_text_or_null(s, st, 10, row->error, what) == -1 ||
	    bind_int(s, st, 11, row->duration_ms, what) == -1 ||
	    bind_text_or_null(s, st, 12, row->approval_id, what) == -1 ||
	    bind_text_or_null(s, st, 13, row->decided_by, what) == -1)
		goto done;
	if (step(s, st, what) != SQLITE_DONE)
		goto done;
	s->audit_pending++;
	result = 0;
done:
	finish(st);
	/* A batch that failed at its first row must not stay open for every later statement to join. */
	if (result < 0 && s->audit_pending == 0 && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	if (s->audit_pending >= STORE_AUDIT_BATCH)
		audit_commit(s);
	return result;
}

int
store_audit_start(struct store *s, const struct store_audit *row, int64_t *id_out)
{
	struct store_audit open_row;
	int64_t id;

	if (s == NULL)
		return -1;
	if (row == NULL || id_out == NULL) {
		set_err(s, "audit start: missing row or id");
		return -1;
	}
	open_row = *row;
	open_row.outcome = "in_progress";
	open_row.error = NULL;
	open_row.duration_ms = 0;
	*id_out = 0;
	if (store_audit_add(s, &open_row) < 0)
		return -1;
	id = (int64_t)sqlite3_last_insert_rowid(s->db);
	/* The row joined (or opened) the batch; committing it now commits the batch with it. Only a
	 * committed row's id is handed out: a rolled-back insert's id is given to the next row again. */
	if (audit_commit(s) < 0)
		return -1;
	*id_out = id;
	return 0;
}

int
store_audit_end(struct store *s, int64_t id, const char *outcome, const char *error, int64_t duration_ms)
{
	const char *what = "audit end";
	sqlite3_stmt *st;
	int result = -1;

	if (s == NULL)
		return -1;
	if (outcome == NULL) {
		set_err(s, "%s: missing outcome", what);
		return -1;
	}
	/* Batched like store_audit_add: a completion lost in a crash leaves the row open, and the next
	 * start marks it interrupted, which is what the log can honestly say then. */
	if (audit_batch_join(s, what) < 0)
		return -1;
	st = s->stmt[STMT_AUDIT_END];
	if (bind_int(s, st, 1, id, what) == -1 || bind_text(s, st, 2, outcome, what) == -1 ||
	    bind_text_or_null(s, st, 3, error, what) == -1 || bind_int(s, st, 4, duration_ms, what) == -1)
		goto done;
	if (step(s, st, what) != SQLITE_DONE)
		goto done;
	result = sqlite3_changes(s->db) > 0 ? 0 : 1;
	s->audit_pending++;
done:
	finish(st);
	if (result < 0 && s->audit_pending == 0 && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	if (s->audit_pending >= STORE_AUDIT_BATCH)
		audit_commit(s);
	return result;
}

int64_t
store_audit_interrupt_open(struct store *s, const char *message)
{
	const char *what = "audit interrupt";
	sqlite3_stmt *st;
	int64_t result = -1;

	if (s == NULL)
		return -1;
	st = s->stmt[STMT_AUDIT_INTERRUPT];
	if (bind_text_or_null(s, st, 1, message, what) == -1 || step(s, st, what) != SQLITE_DONE)
		goto done;
	result = sqlite3_changes(s->db);
done:
	finish(st);
	return result;
}

/* Commits the open audit batch, if any. */
static int
audit_commit(struct store *s)
{
	char *msg = NULL;

	if (s->audit_pending == 0)
		return 0;
	s->audit_pending = 0;
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
		set_err(s, "audit commit: %s", msg ? msg : "failed");
		log_warnx("store: %s", s->errmsg);
		sqlite3_free(msg);
		/* Never leave the transaction open for the next writes to join. */
		if (!sqlite3_get_autocommit(s->db))
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

int
store_audit_flush(struct store *s)
{
	if (s == NULL)
		return -1;
	return audit_commit(s);
}

int64_t
store_audit_purge(struct store *s, int64_t before_ms)
{
	return purge_before(s, STMT_AUDIT_PURGE, before_ms, "audit purge");
}

/*
 * Column i as a JSON value. Text is not trusted to be UTF-8 (an error message may have been cut in the
 * middle of a character, and the file may have been written by someone else), and jansson refuses
 * invalid UTF-8; such text is kept with every non-ASCII byte shown as '?' rather than dropped.
 */
static json_t *
column_json(sqlite3_stmt *st, int i)
{
	const unsigned char *t;
	json_t *v;
	char *copy;
	int n, k;

	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL:
		return json_null();
	case SQLITE_INTEGER:
		return json_integer((json_int_t)sqlite3_column_int64(st, i));
	default:
		break;
	}
	t = sqlite3_column_text(st, i);
	n = sqlite3_column_bytes(st, i);
	if (t == NULL)
		return json_string("");
	v = json_stringn((const char *)t, (size_t)n);
	if (v)
		return v;
	copy = xmalloc((size_t)n + 1);
	for (k = 0; k < n; k++)
		copy[k] = (char)(t[k] < 0x80 ? t[k] : '?');
	copy[n] = '\0';
	v = json_stringn(copy, (size_t)n);
	free(copy);
	return v;
}

/* The keys of an approval row as JSON, in the order of APPROVAL_COLUMNS. */
static const char *const approval_keys[] = {"id",
                                            "response_id",
                                            "server_label",
                                            "tool",
                                            "arguments_sha256",
                                            "requested_by",
                                            "status",
                                            "decided_by",
                                            "reason",
                                            "created_at",
                                            "decided_at",
                                            "version",
                                            "mode",
                                            "expires_at",
                                            "decision",
                                            "definition_sha256",
                                            "detail"};
#define APPROVAL_DETAIL_COLUMN 16

/* Appends the row st is on (APPROVAL_COLUMNS) to arr as an object: detail as the JSON it holds. 0 or -1. */
static int
approval_row_json(sqlite3_stmt *st, json_t *arr)
{
	json_t *obj = json_object(), *v;
	size_t i;

	if (obj == NULL || json_array_append_new(arr, obj) == -1)
		return -1;
	for (i = 0; i < sizeof approval_keys / sizeof approval_keys[0]; i++) {
		if (i == APPROVAL_DETAIL_COLUMN) {
			/* An object always ({} for a caller-mode row), as approvals_row_json gives it. */
			v = sqlite3_column_type(st, (int)i) == SQLITE_TEXT
			            ? json_loads((const char *)sqlite3_column_text(st, (int)i), 0, NULL)
			            : NULL;
			if (!json_is_object(v)) {
				json_decref(v);
				v = json_object();
			}
		} else {
			v = column_json(st, (int)i);
		}
		if (v == NULL || json_object_set_new(obj, approval_keys[i], v) == -1)
			return -1;
	}
	return 0;
}

int
store_approval_list(struct store *s, const char *status, const char *response_id, int limit, char **json_out)
{
	const char *what = "approval list";
	sqlite3_stmt *st;
	json_t *arr = NULL;
	int rc, result = -1;

	if (s == NULL)
		return -1;
	if (json_out == NULL || limit < 1 || limit > 1000) {
		set_err(s, "%s: missing output or limit outside 1..1000", what);
		return -1;
	}
	st = s->stmt[response_id ? STMT_APPROVAL_LIST_RESPONSE
	             : status    ? STMT_APPROVAL_LIST_STATUS
	                         : STMT_APPROVAL_LIST];
	if (bind_int(s, st, 1, limit, what) == -1 ||
	    (status && !response_id && bind_text(s, st, 2, status, what) == -1) ||
	    (response_id && bind_text(s, st, 3, response_id, what) == -1))
		goto done;
	arr = json_array();
	if (arr == NULL)
		goto oom;
	while ((rc = step(s, st, what)) == SQLITE_ROW) {
		/* Of one response, the state filter is applied here: a response has a handful of rows. */
		if (response_id && status && strcmp((const char *)sqlite3_column_text(st, 6), status) != 0)
			continue;
		if (approval_row_json(st, arr) < 0)
			goto oom;
	}
	if (rc != SQLITE_DONE)
		goto done;
	*json_out = json_dumps(arr, JSON_COMPACT);
	if (*json_out == NULL)
		goto oom;
	result = 0;
	goto done;
oom:
	set_err(s, "%s: out of memory building the list", what);
done:
	finish(st);
	json_decref(arr);
	return result;
}

/* ---- operator approvals, rules and decisions ---- */

int
store_approval_open(struct store *s, const struct store_approval_new *a)
{
	const char *what = "approval open";
	sqlite3_stmt *st;
	int result = -1;

	if (s == NULL)
		return -1;
	if (a == NULL || a->id == NULL || *a->id == '\0' || a->response_id == NULL ||
	    a->server_label == NULL || a->tool == NULL || a->arguments_sha256 == NULL ||
	    a->target_sha256 == NULL || a->requested_by == NULL) {
		set_err(s,
		        "%s: missing id, response id, server label, target, tool, arguments hash or caller",
		        what);
		return -1;
	}
	st = s->stmt[STMT_APPROVAL_OPEN];
	if (bind_text(s, st, 1, a->id, what) == -1 || bind_text(s, st, 2, a->response_id, what) == -1 ||
	    bind_text(s, st, 3, a->server_label, what) == -1 || bind_text(s, st, 4, a->tool, what) == -1 ||
	    bind_text(s, st, 5, a->arguments_sha256, what) == -1 ||
	    bind_int(s, st, 6, a->created_at, what) == -1 ||
	    bind_text(s, st, 7, a->target_sha256, what) == -1 ||
	    bind_text(s, st, 8, a->requested_by, what) == -1 ||
	    bind_int(s, st, 9, a->expires_at, what) == -1 ||
	    bind_text_or_null(s, st, 10, a->definition_sha256, what) == -1 ||
	    bind_text_or_null(s, st, 11, a->detail, what) == -1)
		goto done;
	if (step(s, st, what) == SQLITE_DONE)
		result = 0;
done:
	finish(st);
	return result;
}

/* One resolve statement: 0 changed, 2 not pending at version, -1 error. */
static int
resolve_one(struct store *s, const char *id, int64_t version, const struct store_resolution *r)
{
	const char *what = "approval resolve";
	sqlite3_stmt *st = s->stmt[STMT_APPROVAL_RESOLVE];
	int result = -1;

	if (id == NULL || r == NULL || r->status == NULL || r->decision == NULL) {
		set_err(s, "%s: missing id, status or decision", what);
		return -1;
	}
	if (bind_text(s, st, 1, id, what) == -1 || bind_int(s, st, 2, version, what) == -1 ||
	    bind_text(s, st, 3, r->status, what) == -1 || bind_text(s, st, 4, r->decision, what) == -1 ||
	    bind_text_or_null(s, st, 5, r->decided_by, what) == -1 ||
	    bind_text_or_null(s, st, 6, r->reason, what) == -1 || bind_int(s, st, 7, r->at, what) == -1)
		goto done;
	if (step(s, st, what) == SQLITE_DONE)
		result = sqlite3_changes(s->db) > 0 ? 0 : 2;
done:
	finish(st);
	return result;
}

int
store_approval_resolve(struct store *s, const char *id, int64_t version, const struct store_resolution *r)
{
	if (s == NULL)
		return -1;
	return resolve_one(s, id, version, r);
}

int
store_approval_resolve_all(struct store *s, const char *const *ids, const int64_t *versions, size_t n,
                           const struct store_resolution *r)
{
	size_t i;
	int rc = 0;

	if (s == NULL)
		return -1;
	/* Its own transaction: the audit batch, if one is open, is committed first. */
	if (audit_commit(s) < 0 || sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		set_db_err(s, "approval resolve all");
		return -1;
	}
	for (i = 0; i < n && rc == 0; i++)
		rc = resolve_one(s, ids[i], versions[i], r);
	if (rc == 0 && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		set_db_err(s, "approval resolve all");
		rc = -1;
	}
	if (rc != 0 && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int64_t
store_approval_settle_waiting(struct store *s, const char *reason, int64_t now)
{
	const char *what = "approval settle waiting";
	sqlite3_stmt *st;
	int64_t result = -1;

	if (s == NULL)
		return -1;
	st = s->stmt[STMT_APPROVAL_SETTLE_WAITING];
	if (bind_text(s, st, 1, reason ? reason : "", what) == -1 || bind_int(s, st, 2, now, what) == -1)
		goto done;
	if (step(s, st, what) == SQLITE_DONE)
		result = sqlite3_changes(s->db);
done:
	finish(st);
	return result;
}

/* Rows of a statement over APPROVAL_COLUMNS (or any, with row_fn) as a JSON array text. */
static int
rows_json(struct store *s, sqlite3_stmt *st, int (*row_fn)(sqlite3_stmt *, json_t *), char **json_out,
          const char *what)
{
	json_t *arr = json_array();
	int rc;

	if (arr == NULL)
		goto oom;
	while ((rc = step(s, st, what)) == SQLITE_ROW)
		if (row_fn(st, arr) < 0)
			goto oom;
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return -1;
	}
	*json_out = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	if (*json_out == NULL)
		goto oom;
	return 0;
oom:
	json_decref(arr);
	set_err(s, "%s: out of memory building the list", what);
	return -1;
}

int
store_approval_pending_operator(struct store *s, int limit, size_t max_bytes, char **json_out,
                                int64_t *pending)
{
	const char *what = "approval pending";
	sqlite3_stmt *st;
	int result = -1;

	if (s == NULL)
		return -1;
	if (json_out == NULL || pending == NULL || limit < 1) {
		set_err(s, "%s: missing output or limit", what);
		return -1;
	}
	st = s->stmt[STMT_APPROVAL_PENDING_OPERATOR];
	if (bind_int(s, st, 1, limit, what) == 0 &&
	    bind_int(s, st, 2, max_bytes > (size_t)INT64_MAX ? INT64_MAX : (int64_t)max_bytes, what) == 0 &&
	    step(s, st, what) == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(st, 0);

		if (text) {
			*json_out = xstrdup(text);
			*pending = sqlite3_column_int64(st, 1);
			result = 0;
		} else {
			set_err(s, "%s: out of memory building the list", what);
		}
	}
	finish(st);
	return result;
}

int
store_rule_put(struct store *s, const struct store_rule_new *r)
{
	const char *what = "rule put";
	sqlite3_stmt *st;
	int result = -1;

	if (s == NULL)
		return -1;
	if (r == NULL || r->id == NULL || r->server_label == NULL || r->target_sha256 == NULL ||
	    r->tool == NULL || r->definition_sha256 == NULL || r->definition == NULL ||
	    r->created_by == NULL) {
		set_err(s, "%s: missing id, server, target, tool, definition or creator", what);
		return -1;
	}
	st = s->stmt[STMT_RULE_PUT];
	if (bind_text(s, st, 1, r->id, what) == -1 || bind_text(s, st, 2, r->server_label, what) == -1 ||
	    bind_text(s, st, 3, r->target_sha256, what) == -1 || bind_text(s, st, 4, r->tool, what) == -1 ||
	    bind_text(s, st, 5, r->definition_sha256, what) == -1 ||
	    bind_text(s, st, 6, r->definition, what) == -1 ||
	    bind_text(s, st, 7, r->created_by, what) == -1 || bind_int(s, st, 8, r->created_at, what) == -1 ||
	    bind_int(s, st, 9, r->expires_at, what) == -1 ||
	    bind_text_or_null(s, st, 10, r->from_approval, what) == -1)
		goto done;
	if (step(s, st, what) == SQLITE_DONE)
		result = 0;
done:
	finish(st);
	return result;
}

int
store_rule_match(struct store *s, const char *target_sha256, const char *tool, const char *definition_sha256,
                 int64_t now, int count, char **rule_id)
{
	const char *what = "rule match";
	sqlite3_stmt *st;
	char *id = NULL;
	int rc, result = -1;

	if (s == NULL)
		return -1;
	if (target_sha256 == NULL || tool == NULL || definition_sha256 == NULL || rule_id == NULL) {
		set_err(s, "%s: missing target, tool, definition or output", what);
		return -1;
	}
	st = s->stmt[STMT_RULE_MATCH];
	if (bind_text(s, st, 1, target_sha256, what) == -1 || bind_text(s, st, 2, tool, what) == -1 ||
	    bind_text(s, st, 3, definition_sha256, what) == -1 || bind_int(s, st, 4, now, what) == -1)
		goto done;
	rc = step(s, st, what);
	if (rc == SQLITE_DONE)
		result = 1;
	else if (rc == SQLITE_ROW && copy_column(s, st, 0, &id, what) == 0)
		result = 0;
	finish(st);
	if (result != 0 || !count) {
		if (result == 0)
			*rule_id = id;
		return result;
	}
	st = s->stmt[STMT_RULE_HIT];
	if (bind_text(s, st, 1, id, what) == -1 || bind_int(s, st, 2, now, what) == -1 ||
	    step(s, st, what) != SQLITE_DONE)
		log_warnx("store: %s", s->errmsg); /* the rule matched; only its counter is off */
	*rule_id = id;
done:
	finish(st);
	return result;
}

int
store_rule_changed(struct store *s, const char *target_sha256, const char *tool,
                   const char *definition_sha256, int64_t now, char **rule_id, char **definition)
{
	const char *what = "rule changed";
	sqlite3_stmt *st;
	char *id = NULL, *def = NULL;
	int rc, result = -1;

	if (s == NULL)
		return -1;
	if (target_sha256 == NULL || tool == NULL || definition_sha256 == NULL || rule_id == NULL ||
	    definition == NULL) {
		set_err(s, "%s: missing target, tool, definition or output", what);
		return -1;
	}
	st = s->stmt[STMT_RULE_LATEST];
	if (bind_text(s, st, 1, target_sha256, what) == -1 || bind_text(s, st, 2, tool, what) == -1 ||
	    bind_text(s, st, 3, definition_sha256, what) == -1 || bind_int(s, st, 4, now, what) == -1)
		goto done;
	rc = step(s, st, what);
	if (rc == SQLITE_DONE) {
		result = 1;
	} else if (rc == SQLITE_ROW && copy_column(s, st, 0, &id, what) == 0 &&
	           copy_column(s, st, 2, &def, what) == 0) {
		*rule_id = id;
		*definition = def;
		id = def = NULL;
		result = 0;
	}
done:
	finish(st);
	free(id);
	free(def);
	return result;
}

static int
plain_row_json(sqlite3_stmt *st, json_t *arr, const char *const *keys, size_t n)
{
	json_t *obj = json_object(), *v;
	size_t i;

	if (obj == NULL || json_array_append_new(arr, obj) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		v = column_json(st, (int)i);
		if (v == NULL || json_object_set_new(obj, keys[i], v) == -1)
			return -1;
	}
	return 0;
}

static int
rule_row_json(sqlite3_stmt *st, json_t *arr)
{
	static const char *const keys[] = {
	        "id",          "server_label", "tool",       "definition_sha256", "definition",
	        "created_by",  "created_at",   "expires_at", "from_approval",     "hits",
	        "last_used_at"};

	return plain_row_json(st, arr, keys, sizeof keys / sizeof keys[0]);
}

int
store_rule_list(struct store *s, int limit, char **json_out)
{
	const char *what = "rule list";
	sqlite3_stmt *st;
	int result = -1;

	if (s == NULL)
		return -1;
	if (json_out == NULL || limit < 1) {
		set_err(s, "%s: missing output or limit", what);
		return -1;
	}
	st = s->stmt[STMT_RULE_LIST];
	if (bind_int(s, st, 1, limit, what) == 0)
		result = rows_json(s, st, rule_row_json, json_out, what);
	finish(st);
	return result;
}

int
store_rule_delete(struct store *s, const char *id)
{
	int rc = approval_step(s, STMT_RULE_DELETE, id, "rule delete");

	return rc == 2 ? 1 : rc;
}

int
store_decision_add(struct store *s, const struct store_decision *d)
{
	const char *what = "decision add";
	sqlite3_stmt *st;
	int result = -1;

	if (s == NULL)
		return -1;
	if (d == NULL || d->approval_id == NULL || d->response_id == NULL || d->decision == NULL ||
	    d->actor == NULL || d->arguments_sha256 == NULL || d->status == NULL) {
		set_err(s, "%s: missing approval, response, decision, actor, arguments hash or status", what);
		return -1;
	}
	st = s->stmt[STMT_DECISION_ADD];
	if (bind_text(s, st, 1, d->approval_id, what) == -1 ||
	    bind_text(s, st, 2, d->response_id, what) == -1 || bind_text(s, st, 3, d->decision, what) == -1 ||
	    bind_text(s, st, 4, d->actor, what) == -1 || bind_int(s, st, 5, d->at, what) == -1 ||
	    bind_text(s, st, 6, d->arguments_sha256, what) == -1 ||
	    bind_text_or_null(s, st, 7, d->definition_sha256, what) == -1 ||
	    bind_text_or_null(s, st, 8, d->message, what) == -1 || bind_text(s, st, 9, d->status, what) == -1)
		goto done;
	if (step(s, st, what) == SQLITE_DONE)
		result = 0;
done:
	finish(st);
	return result;
}

static int
decision_row_json(sqlite3_stmt *st, json_t *arr)
{
	static const char *const keys[] = {"id",      "approval_id", "response_id",      "decision",
	                                   "actor",   "at",          "arguments_sha256", "definition_sha256",
	                                   "message", "status"};

	return plain_row_json(st, arr, keys, sizeof keys / sizeof keys[0]);
}

int
store_decision_list(struct store *s, const char *approval_id, char **json_out)
{
	const char *what = "decision list";
	sqlite3_stmt *st;
	int result = -1;

	if (s == NULL)
		return -1;
	if (approval_id == NULL || json_out == NULL) {
		set_err(s, "%s: missing approval id or output", what);
		return -1;
	}
	st = s->stmt[STMT_DECISION_LIST];
	if (bind_text(s, st, 1, approval_id, what) == 0)
		result = rows_json(s, st, decision_row_json, json_out, what);
	finish(st);
	return result;
}

int
store_audit_list(struct store *s, const char *caller, int limit, char **json_out)
{
	static const char *const keys[] = {"id",           "at_ms",      "response_id", "caller",
	                                   "server_label", "server_url", "tool",        "args_bytes",
	                                   "args_sha256",  "outcome",    "error",       "duration_ms",
	                                   "approval_id",  "decided_by"};
	const char *what = "audit list";
	sqlite3_stmt *st;
	json_t *arr = NULL, *obj, *v;
	size_t i;
	int rc, result = -1;

	if (s == NULL)
		return -1;
	if (json_out == NULL || limit < 1 || limit > 1000) {
		set_err(s, "%s: missing output or limit outside 1..1000", what);
		return -1;
	}
	st = s->stmt[caller ? STMT_AUDIT_LIST_CALLER : STMT_AUDIT_LIST];
	if (bind_int(s, st, 1, limit, what) == -1 || (caller && bind_text(s, st, 2, caller, what) == -1))
		goto done;
	arr = json_array();
	if (arr == NULL)
		goto oom;
	while ((rc = step(s, st, what)) == SQLITE_ROW) {
		obj = json_object();
		if (obj == NULL || json_array_append_new(arr, obj) == -1)
			goto oom;
		for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
			v = column_json(st, (int)i);
			if (v == NULL || json_object_set_new(obj, keys[i], v) == -1)
				goto oom;
		}
	}
	if (rc != SQLITE_DONE)
		goto done;
	*json_out = json_dumps(arr, JSON_COMPACT);
	if (*json_out == NULL)
		goto oom;
	result = 0;
	goto done;
oom:
	set_err(s, "%s: out of memory building the list", what);
done:
	finish(st);
	json_decref(arr);
	return result;
}

/* Fills out with len random bytes; getrandom returns at most 256 bytes whole once the pool is seeded. */
static int
random_bytes(struct store *s, unsigned char *out, size_t len)
{
	ssize_t n;

	for (;;) {
		n = getrandom(out, len, 0);
		if (n == (ssize_t)len)
			return 0;
		if (n == -1 && errno == EINTR)
			continue;
		set_err(s, "secret: getrandom: %s", n == -1 ? strerror(errno) : "short read");
		return -1;
	}
}

/* 0 with the secret in out, 1 when there is none, -1 on error (including a stored value of another
 * length: the caller's key size changed, and silently handing out a different key is worse). */
static int
secret_read(struct store *s, const char *name, unsigned char *out, size_t len)
{
	const char *what = "secret get";
	sqlite3_stmt *st = s->stmt[STMT_SECRET_GET];
	const void *blob;
	int rc, result = -1;

	if (bind_text(s, st, 1, name, what) == -1)
		goto done;
	rc = step(s, st, what);
	if (rc == SQLITE_DONE) {
		result = 1;
		goto done;
	}
	if (rc != SQLITE_ROW)
		goto done;
	blob = sqlite3_column_blob(st, 0);
	if (blob == NULL || (size_t)sqlite3_column_bytes(st, 0) != len) {
		set_err(s, "%s: the stored secret has %d bytes, %zu wanted", what,
		        sqlite3_column_bytes(st, 0), len);
		goto done;
	}
	memcpy(out, blob, len);
	result = 0;
done:
	finish(st);
	return result;
}

int
store_secret(struct store *s, const char *name, unsigned char *out, size_t len)
{
	const char *what = "secret put";
	unsigned char fresh[64];
	sqlite3_stmt *st;
	int rc, result = -1;

	if (s == NULL)
		return -1;
	if (name == NULL || out == NULL || len == 0 || len > sizeof fresh) {
		set_err(s, "secret: missing name or output, or length outside 1..%zu", sizeof fresh);
		return -1;
	}
	rc = secret_read(s, name, out, len);
	if (rc != 1)
		return rc;
	if (random_bytes(s, fresh, len) == -1)
		return -1;
	st = s->stmt[STMT_SECRET_PUT];
	if (bind_text(s, st, 1, name, what) == -1)
		goto done;
	if (sqlite3_bind_blob64(st, 2, fresh, len, SQLITE_STATIC) != SQLITE_OK) {
		set_db_err(s, what);
		goto done;
	}
	if (step(s, st, what) != SQLITE_DONE)
		goto done;
	finish(st);
	/* Read back rather than use fresh: another connection may have inserted its own first. */
	rc = secret_read(s, name, out, len);
	if (rc == 1)
		set_err(s, "secret get: the secret vanished after it was written");
	result = rc == 0 ? 0 : -1;
done:
	finish(st);
	explicit_bzero(fresh, sizeof fresh);
	return result;
}

const char *
store_errmsg(struct store *s)
{
	if (s == NULL)
		return "no store";
	return s->errmsg[0] ? s->errmsg : "no error";
}

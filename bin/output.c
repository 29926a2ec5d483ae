/*-------------------------------------------------------------------------
 *
 * output.c
 *		Print query results: aligned tables as psql prints them (fe_utils'
 *		printQuery), or one JSON object per row with --json.
 *
 * JSON is written here, not by the server, so that every command prints
 * rows the same way: numbers and booleans unquoted, NULL as null, json and
 * jsonb as they are, everything else as a string.
 *
 * Copyright (c) 2026, fs_backfill authors
 *
 * IDENTIFICATION
 *	  bin/output.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "fe_utils/print.h"

#include "fs_backfill_cli.h"

/* Type OIDs printed unquoted (pg_type.dat; stable across releases) */
#define BOOLOID		16
#define INT8OID		20
#define INT2OID		21
#define INT4OID		23
#define JSONOID		114
#define FLOAT4OID	700
#define FLOAT8OID	701
#define NUMERICOID	1700
#define JSONBOID	3802

/* Appends s as a JSON string, or null. */
void
fsb_json_string(PQExpBuffer buf, const char *s)
{
	const unsigned char *p;

	if (s == NULL)
	{
		appendPQExpBufferStr(buf, "null");
		return;
	}
	appendPQExpBufferChar(buf, '"');
	for (p = (const unsigned char *) s; *p; p++)
	{
		switch (*p)
		{
			case '"':
				appendPQExpBufferStr(buf, "\\\"");
				break;
			case '\\':
				appendPQExpBufferStr(buf, "\\\\");
				break;
			case '\n':
				appendPQExpBufferStr(buf, "\\n");
				break;
			case '\r':
				appendPQExpBufferStr(buf, "\\r");
				break;
			case '\t':
				appendPQExpBufferStr(buf, "\\t");
				break;
			default:
				if (*p < 0x20)
					appendPQExpBuffer(buf, "\\u%04x", *p);
				else
					appendPQExpBufferChar(buf, *p);
		}
	}
	appendPQExpBufferChar(buf, '"');
}

/*
 * Appends "key": value, after a comma unless it is the object's first
 * member; a numeric value is written as it is, NULL as null.
 */
void
fsb_json_value(PQExpBuffer buf, const char *key, const char *s, bool numeric)
{
	if (buf->len > 0 && buf->data[buf->len - 1] != '{')
		appendPQExpBufferChar(buf, ',');
	fsb_json_string(buf, key);
	appendPQExpBufferChar(buf, ':');
	if (s == NULL)
		appendPQExpBufferStr(buf, "null");
	else if (numeric)
		appendPQExpBufferStr(buf, s);
	else
		fsb_json_string(buf, s);
}

static void
print_json_rows(const PGresult *res)
{
	PQExpBuffer buf = createPQExpBuffer();
	int			r,
				c;

	for (r = 0; r < PQntuples(res); r++)
	{
		resetPQExpBuffer(buf);
		appendPQExpBufferChar(buf, '{');
		for (c = 0; c < PQnfields(res); c++)
		{
			Oid			type = PQftype(res, c);
			const char *v = PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);

			if (v && type == BOOLOID)
				v = strcmp(v, "t") == 0 ? "true" : "false";
			fsb_json_value(buf, PQfname(res, c), v,
						   type == BOOLOID || type == INT2OID || type == INT4OID ||
						   type == INT8OID || type == NUMERICOID ||
						   type == FLOAT4OID || type == FLOAT8OID ||
						   type == JSONOID || type == JSONBOID);
		}
		appendPQExpBufferChar(buf, '}');
		printf("%s\n", buf->data);
	}
	destroyPQExpBuffer(buf);
	fflush(stdout);
}

/*
 * Prints a result on stdout: a psql-style table under title (expanded, one
 * field a line, for a single record), or JSON lines.
 */
void
fsb_print_result(FsbConn *fc, const PGresult *res, const char *title,
				 bool expanded, bool json)
{
	printQueryOpt popt;

	if (json)
	{
		print_json_rows(res);
		return;
	}
	memset(&popt, 0, sizeof(popt));
	popt.topt.format = PRINT_ALIGNED;
	popt.topt.expanded = expanded;
	popt.topt.border = 1;
	popt.topt.pager = 0;
	popt.topt.start_table = true;
	popt.topt.stop_table = true;
	popt.topt.default_footer = !expanded;
	popt.topt.fieldSep.separator = "|";
	popt.topt.recordSep.separator = "\n";
	popt.topt.csvFieldSep[0] = ',';
	popt.topt.encoding = PQclientEncoding(fc->conn);
	popt.topt.unicode_border_linestyle = UNICODE_LINESTYLE_SINGLE;
	popt.topt.unicode_column_linestyle = UNICODE_LINESTYLE_SINGLE;
	popt.topt.unicode_header_linestyle = UNICODE_LINESTYLE_SINGLE;
	popt.title = (char *) title;
	printQuery(res, &popt, stdout, false, NULL);
	fflush(stdout);
}

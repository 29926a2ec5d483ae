/*-------------------------------------------------------------------------
 *
 * source.c
 *	  Checking a feature set's source query and embedding it in an INSERT.
 *
 * A source is one SELECT whose output columns carry target column names and
 * types, with $1 and $2 (timestamptz) for the slice bounds.  It is checked by
 * the parser itself, not by matching text: one raw statement, a SelectStmt
 * without INTO, and after analysis a plain SELECT without data-modifying
 * WITH.  The source runs with the caller's rights and search_path: it is the
 * caller's own query.
 *
 * The delete_insert strategy wraps the source as a subquery of an INSERT.
 * Text cannot break out of that wrapper unnoticed: the combined statement is
 * parsed again and its subquery must equal the source's own parse tree.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/source.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/tupdesc.h"
#include "catalog/pg_type.h"
#include "utils/lsyscache.h"
#include "lib/stringinfo.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "parser/analyze.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "fs_backfill.h"

typedef struct SourceErrorArg
{
	const char *sql;
	const char *feature_set;
} SourceErrorArg;

/*
 * Reports syntax errors at their position inside the source, not inside the
 * statement that called us, and says whose source it is.
 */
static void
source_error_callback(void *arg)
{
	SourceErrorArg *a = (SourceErrorArg *) arg;
	int			pos = geterrposition();

	if (pos > 0)
	{
		errposition(0);
		internalerrposition(pos);
		internalerrquery(a->sql);
	}
	errcontext("source of feature set \"%s\"", a->feature_set);
}

static void
report_not_select(const char *feature_set, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("source of feature set \"%s\" must be a single SELECT statement",
					feature_set),
			 errdetail_internal("%s", detail),
			 errhint("Write the source as one SELECT, with $1 and $2 for the bounds of the slice.")));
}

/* Whether a query or any query inside it locks rows (FOR UPDATE, ...). */
static bool
locks_rows_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *query = (Query *) node;

		return query->rowMarks != NIL ||
			query_tree_walker(query, locks_rows_walker, context, 0);
	}
	return expression_tree_walker(node, locks_rows_walker, context);
}

/*
 * Parses a source alone; returns its only raw statement.
 */
static RawStmt *
parse_one_select(const char *sql, const char *feature_set)
{
	List	   *raw = pg_parse_query(sql);
	RawStmt    *rs;

	if (raw == NIL)
		report_not_select(feature_set, "It is empty.");
	if (list_length(raw) > 1)
		report_not_select(feature_set,
						  psprintf("It contains %d statements.",
								   list_length(raw)));
	rs = linitial_node(RawStmt, raw);
	if (!IsA(rs->stmt, SelectStmt))
		report_not_select(feature_set, "It is not a SELECT.");
	if (((SelectStmt *) rs->stmt)->intoClause != NULL)
		report_not_select(feature_set, "SELECT INTO creates a table.");
	return rs;
}

/*
 * Checks a source against its target and maps its columns.
 *
 * Raises invalid_parameter_value for anything but one SELECT, and
 * datatype_mismatch for columns that do not fit the target.  The result
 * lives in the caller's memory context.
 */
FsbSource *
fsb_source_analyze(const char *sql, Relation target, List *entity_columns,
				   const char *time_column, const char *feature_set)
{
	TupleDesc	tupdesc = RelationGetDescr(target);
	const char *relname = RelationGetRelationName(target);
	Oid			paramtypes[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	ErrorContextCallback errcb;
	SourceErrorArg errarg = {sql, feature_set};
	RawStmt    *rs;
	Query	   *query;
	FsbSource  *src;
	Bitmapset  *seen = NULL;
	ListCell   *lc;
	AttrNumber	time_attnum = InvalidAttrNumber;
	int			i = 0;

	errcb.callback = source_error_callback;
	errcb.arg = &errarg;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	rs = parse_one_select(sql, feature_set);
	query = parse_analyze_fixedparams(copyObject(rs), sql, paramtypes, 2, NULL);
	if (query->commandType != CMD_SELECT || query->utilityStmt != NULL)
		report_not_select(feature_set, "It is not a SELECT.");
	if (query->hasModifyingCTE)
		report_not_select(feature_set,
						  "It contains a data-modifying statement in WITH.");
	/* a backfill reads; locking the rows it reads would block their writers */
	if (locks_rows_walker((Node *) query, NULL))
		report_not_select(feature_set,
						  "It locks rows with FOR UPDATE or FOR SHARE.");

	error_context_stack = errcb.previous;

	src = palloc0(sizeof(FsbSource));
	src->text = rs->stmt_len > 0 ?
		pnstrdup(sql + rs->stmt_location, rs->stmt_len) :
		pstrdup(sql + rs->stmt_location);
	src->natts = list_length(query->targetList);
	src->target_attnum = palloc0(sizeof(AttrNumber) * src->natts);
	src->time_index = -1;
	src->fits_heap = true;

	foreach(lc, query->targetList)
	{
		TargetEntry *te = lfirst_node(TargetEntry, lc);
		const char *name = te->resname ? te->resname : "?column?";
		AttrNumber	attnum;
		Form_pg_attribute attr;
		Oid			type = exprType((Node *) te->expr);

		if (te->resjunk)
			continue;
		attnum = get_attnum(RelationGetRelid(target), name);
		if (attnum <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("source of feature set \"%s\" returns column \"%s\", which table \"%s\" does not have",
							feature_set, name, relname),
					 errhint("Name every output column of the source after a column of the table.")));
		if (bms_is_member(attnum, seen))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("source of feature set \"%s\" returns column \"%s\" twice",
							feature_set, name)));
		seen = bms_add_member(seen, attnum);

		attr = TupleDescAttr(tupdesc, attnum - 1);
		if (type != attr->atttypid)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of the source of feature set \"%s\" has type %s, but column \"%s\" of table \"%s\" has type %s",
							name, feature_set, format_type_be(type),
							name, relname, format_type_be(attr->atttypid)),
					 errhint("Cast the column in the source to %s.",
							 format_type_be(attr->atttypid))));
		if (attr->attgenerated)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("source of feature set \"%s\" returns generated column \"%s\"",
							feature_set, name),
					 errhint("Leave generated columns out of the source.")));
		if (attr->atttypmod >= 0 && exprTypmod((Node *) te->expr) != attr->atttypmod)
			src->fits_heap = false;

		if (strcmp(name, time_column) == 0)
		{
			src->time_index = i;
			time_attnum = attnum;
		}
		src->target_attnum[i++] = attnum;
	}
	src->natts = i;

	foreach(lc, entity_columns)
	{
		if (!bms_is_member(get_attnum(RelationGetRelid(target), lfirst(lc)), seen))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("source of feature set \"%s\" does not return key column \"%s\"",
							feature_set, (char *) lfirst(lc)),
					 errhint("Every entity column and the time column must be in the source.")));
	}
	if (!AttributeNumberIsValid(time_attnum))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("source of feature set \"%s\" does not return time column \"%s\"",
						feature_set, time_column),
				 errhint("Every entity column and the time column must be in the source.")));

	/*
	 * Generated columns are computed by the executor, and an omitted column
	 * of a domain type gets its NULL checked by it: neither fits a raw heap.
	 */
	if (tupdesc->constr && tupdesc->constr->has_generated_stored)
		src->fits_heap = false;
	for (int a = 0; a < tupdesc->natts; a++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, a);

		if (!attr->attisdropped && !bms_is_member(attr->attnum, seen) &&
			get_typtype(attr->atttypid) == TYPTYPE_DOMAIN)
			src->fits_heap = false;
	}
	return src;
}

/*
 * Builds the INSERT of the delete_insert strategy:
 *
 *	INSERT INTO target (cols) SELECT s.cols FROM (source) AS s
 *	 WHERE fs_backfill._row_in_slice(s.time, $1, $2, $3)
 *
 * and checks that the source is still exactly the subquery.
 */
char *
fsb_source_insert_sql(const FsbSource *src, Relation target,
					  Relation into, const char *time_column)
{
	TupleDesc	tupdesc = RelationGetDescr(target);
	StringInfoData cols;
	StringInfoData sql;
	RawStmt    *alone;
	List	   *raw;
	InsertStmt *insert;
	SelectStmt *select;
	RangeSubselect *sub = NULL;

	initStringInfo(&cols);
	initStringInfo(&sql);
	for (int i = 0; i < src->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, src->target_attnum[i] - 1);

		appendStringInfo(&cols, "%s%s", i > 0 ? ", " : "",
						 quote_identifier(NameStr(attr->attname)));
	}
	appendStringInfo(&sql, "INSERT INTO %s (%s) SELECT ",
					 fsb_relation_name(into),
					 cols.data);
	for (int i = 0; i < src->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, src->target_attnum[i] - 1);

		appendStringInfo(&sql, "%ss.%s", i > 0 ? ", " : "",
						 quote_identifier(NameStr(attr->attname)));
	}
	appendStringInfo(&sql, " FROM (\n%s\n) AS s WHERE %s._row_in_slice(s.%s, $1, $2, $3)",
					 src->text, FSB_SCHEMA, quote_identifier(time_column));

	alone = linitial_node(RawStmt, pg_parse_query(src->text));
	raw = pg_parse_query(sql.data);
	if (list_length(raw) == 1 &&
		IsA(linitial_node(RawStmt, raw)->stmt, InsertStmt))
	{
		insert = (InsertStmt *) linitial_node(RawStmt, raw)->stmt;
		select = (SelectStmt *) insert->selectStmt;
		if (select && IsA(select, SelectStmt) &&
			list_length(select->fromClause) == 1 &&
			IsA(linitial(select->fromClause), RangeSubselect))
			sub = linitial(select->fromClause);
	}
	if (sub == NULL || !equal(sub->subquery, alone->stmt))
		elog(ERROR, "source does not embed as a subquery");
	return sql.data;
}

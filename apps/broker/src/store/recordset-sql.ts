import { getTableColumns, getTableName, type SQL, sql } from 'drizzle-orm';
import { toSnakeCase } from 'drizzle-orm/casing';
import type { PgTable } from 'drizzle-orm/pg-core';

/**
 * `INSERT INTO <table> (...) SELECT ... FROM jsonb_to_recordset($1::jsonb) ...`: a statement whose
 * text is built once per table, so a batch of any size is written with one parameter (the rows
 * as JSON, keyed by their property names) instead of a query built column by column and row by
 * row on the hot path. `conflict` is the statement's tail (`ON CONFLICT ...`, `RETURNING ...`).
 *
 * Every listed column must be present in every row (a missing key is NULL, not the column's
 * default): list in `omit` the columns the database fills.
 */
export function recordsetInsert<T extends PgTable>(
  table: T,
  opts: { omit?: ReadonlyArray<keyof T['_']['columns']>; conflict: (columns: string[]) => string },
): (rows: readonly object[]) => SQL {
  const columns = Object.entries(getTableColumns(table)).filter(([key]) => !opts.omit?.includes(key));
  // The column names drizzle itself derives (`casing: 'snake_case'`).
  const names = columns.map(([key]) => toSnakeCase(key));
  const recordType = columns.map(([key, column]) => `"${key}" ${column.getSQLType()}`).join(', ');
  const head = `INSERT INTO "${getTableName(table)}" (${names.map((n) => `"${n}"`).join(', ')}) SELECT ${columns
    .map(([key]) => `x."${key}"`)
    .join(', ')} FROM jsonb_to_recordset(`;
  const tail = `::jsonb) AS x(${recordType}) ${opts.conflict(names)}`;
  return (rows) => sql`${sql.raw(head)}${JSON.stringify(rows)}${sql.raw(tail)}`;
}

/** `col = excluded.col` for every column but `except`. */
export function setExcluded(columns: string[], except: string[]): string {
  return columns
    .filter((c) => !except.includes(c))
    .map((c) => `"${c}" = excluded."${c}"`)
    .join(', ');
}

/**
 * Validation of a Batch API input file, as OpenAI runs it while a batch is `validating`: pure, so the
 * rules can be unit-tested line by line. A failing file fails the whole batch with `errors.data[]`.
 */

/** One entry of a batch's `errors.data` (the openai SDK's `BatchError`). */
export interface BatchError {
  code: string;
  message: string;
  param: string | null;
  line: number | null;
}

/** A valid input line: `custom_id` and the chat-completions `body` to run. */
export interface BatchInputLine {
  line: number;
  customId: string;
  body: Record<string, unknown>;
}

export interface BatchInputBounds {
  /** OpenAI: 50,000 requests per batch. */
  maxLines: number;
  /** OpenAI: 200 MB per batch input file. */
  maxBytes: number;
}

export type BatchInputVerdict =
  | { ok: true; lines: BatchInputLine[]; model: string }
  | { ok: false; errors: BatchError[] };

/** OpenAI lists a bounded number of line errors, not one per bad line of a 50,000-line file. */
const MAX_REPORTED_ERRORS = 100;

const fileError = (code: string, message: string): BatchError => ({ code, message, param: null, line: null });

/** Splits JSONL into its non-blank lines, keeping 1-based line numbers. */
export function jsonlLines(text: string): Array<{ line: number; text: string }> {
  const out: Array<{ line: number; text: string }> = [];
  const raw = text.split('\n');
  for (let i = 0; i < raw.length; i++) {
    const t = raw[i]!.trim();
    if (t) out.push({ line: i + 1, text: t });
  }
  return out;
}

/** The 1-based number of the first non-blank line that is not a JSON object, or null if the file is JSONL. */
export function firstInvalidJsonlLine(text: string): number | null {
  for (const { line, text: t } of jsonlLines(text)) {
    try {
      const v: unknown = JSON.parse(t);
      if (!v || typeof v !== 'object' || Array.isArray(v)) return line;
    } catch {
      return line;
    }
  }
  return null;
}

export function validateBatchInput(
  content: { text: string; bytes: number },
  endpoint: string,
  bounds: BatchInputBounds,
): BatchInputVerdict {
  if (content.bytes > bounds.maxBytes) {
    return {
      ok: false,
      errors: [
        fileError(
          'file_too_large',
          `The batch input file is larger than the ${bounds.maxBytes} byte limit. Please split it into smaller batches.`,
        ),
      ],
    };
  }
  const rows = jsonlLines(content.text);
  if (rows.length === 0) {
    return { ok: false, errors: [fileError('empty_file', 'The batch input file is empty.')] };
  }
  if (rows.length > bounds.maxLines) {
    return {
      ok: false,
      errors: [
        fileError(
          'too_many_tasks',
          `The batch input file contains ${rows.length} requests; the limit is ${bounds.maxLines} requests per batch.`,
        ),
      ],
    };
  }

  const errors: BatchError[] = [];
  const report = (e: BatchError) => {
    if (errors.length < MAX_REPORTED_ERRORS) errors.push(e);
  };
  const seen = new Set<string>();
  const lines: BatchInputLine[] = [];
  let model: string | undefined;
  for (const { line, text } of rows) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      report({
        code: 'invalid_json_line',
        message: 'This line is not parseable as valid JSON.',
        param: null,
        line,
      });
      continue;
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      report({ code: 'invalid_json_line', message: 'This line is not a JSON object.', param: null, line });
      continue;
    }
    const row = parsed as Record<string, unknown>;
    const missing = (['custom_id', 'method', 'url', 'body'] as const).find(
      (k) => row[k] === undefined || row[k] === null,
    );
    if (missing) {
      report({
        code: 'missing_required_parameter',
        message: `Missing required parameter: '${missing}'.`,
        param: missing,
        line,
      });
      continue;
    }
    if (typeof row.custom_id !== 'string' || row.custom_id === '') {
      report({
        code: 'invalid_type',
        message: "Invalid type for 'custom_id': expected a non-empty string.",
        param: 'custom_id',
        line,
      });
      continue;
    }
    if (row.method !== 'POST') {
      report({
        code: 'invalid_value',
        message: `Invalid value for 'method': '${String(row.method)}'. Only POST is supported.`,
        param: 'method',
        line,
      });
      continue;
    }
    if (row.url !== endpoint) {
      report({
        code: 'invalid_url',
        message: `The URL provided for this request ('${String(row.url)}') does not match the batch endpoint '${endpoint}'.`,
        param: 'url',
        line,
      });
      continue;
    }
    if (typeof row.body !== 'object' || Array.isArray(row.body)) {
      report({
        code: 'invalid_type',
        message: "Invalid type for 'body': expected an object.",
        param: 'body',
        line,
      });
      continue;
    }
    if (seen.has(row.custom_id)) {
      report({
        code: 'duplicate_custom_id',
        message: `The custom_id '${row.custom_id}' is a duplicate of another request. The custom_id parameter must be unique for each individual request in a batch.`,
        param: 'custom_id',
        line,
      });
      continue;
    }
    seen.add(row.custom_id);
    const body = row.body as Record<string, unknown>;
    if (typeof body.model === 'string') {
      if (model === undefined) model = body.model;
      else if (body.model !== model) {
        report({
          code: 'mismatched_model',
          message: `The provided model '${body.model}' does not match the model '${model}' of the other requests in this batch. All requests in a batch must use the same model.`,
          param: 'body.model',
          line,
        });
        continue;
      }
    }
    lines.push({ line, customId: row.custom_id, body });
  }
  if (errors.length > 0) return { ok: false, errors };
  // Lines without a model are left to fail one by one (400), like any other invalid body.
  return { ok: true, lines, model: model ?? '' };
}

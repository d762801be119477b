// The user's own tables: a column of numbers from a CSV file, and tab-separated text rows
// (text<TAB>label, source<TAB>target). Every malformed row is refused with its line named.
import { csvParseRows } from 'd3-dsv';

export interface CsvColumn {
  /** The column's header, or `column N` (1-based) in a file without one. */
  name: string;
  values: Float64Array;
  /** Every column's name, in file order. */
  columns: string[];
  /** Whether the first row was a header (it held a field that is not a number). */
  header: boolean;
}

export interface ParseCsvColumnOptions {
  /** A header name, or a 1-based column number. Default: the last column whose values are all numbers. */
  column?: string;
  /** How messages name the file. Default "the CSV file". */
  file?: string;
}

/** A CSV number: what JavaScript's Number reads, but never an empty field, and no hex or binary. */
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const isNumber = (field: string) => NUMBER.test(field.trim());
/** The largest 32-bit float. */
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * One column of numbers from CSV text (RFC 4180: quoted fields, `""` escapes, CRLF), with or
 * without a header row; blank lines are skipped. A field that is not a number (a gap, `NA`, a
 * typo) is an error naming its row and column, never skipped or filled in.
 */
export function parseCsvColumn(text: string, options: ParseCsvColumnOptions = {}): CsvColumn {
  const file = options.file ?? 'the CSV file';
  // Row numbers as the file's lines (blank lines counted, quoted line breaks aside).
  const rows = csvParseRows(text.replace(/^\uFEFF/, ''))
    .map((fields, i) => ({ fields, line: i + 1 }))
    .filter((r) => !(r.fields.length === 1 && r.fields[0]!.trim() === ''));
  if (rows.length === 0) throw new Error(`${file} has no rows.`);
  const width = rows[0]!.fields.length;
  for (const r of rows) {
    if (r.fields.length !== width)
      throw new Error(
        `${file}, line ${r.line}: ${r.fields.length} field${r.fields.length === 1 ? '' : 's'} where the first row has ${width}; every row needs the same columns.`,
      );
  }
  const header = rows[0]!.fields.some((f) => !isNumber(f));
  const columns = header ? rows[0]!.fields.map((f, i) => f.trim() || `column ${i + 1}`) : Array.from({ length: width }, (_, i) => `column ${i + 1}`);
  const body = header ? rows.slice(1) : rows;
  if (body.length === 0) throw new Error(`${file} has a header but no rows of values.`);
  let index: number;
  if (options.column !== undefined) {
    const wanted = options.column.trim();
    index = columns.indexOf(wanted);
    if (index < 0 && /^\d+$/.test(wanted) && Number(wanted) >= 1 && Number(wanted) <= width) index = Number(wanted) - 1;
    if (index < 0)
      throw new Error(`${file} has no column "${wanted}": its columns are ${columns.map((c) => `"${c}"`).join(', ')} (or give a number 1-${width}).`);
  } else {
    index = -1;
    for (let c = width - 1; c >= 0 && index < 0; c--) if (body.every((r) => isNumber(r.fields[c]!))) index = c;
    if (index < 0) {
      // One column holding ; or tabs: another separator than the comma.
      const separator = width === 1 ? [';', '\t'].find((sep) => rows[0]!.fields[0]!.includes(sep)) : undefined;
      throw new Error(
        separator
          ? `${file} seems to separate its fields with ${separator === ';' ? 'semicolons' : 'tabs'}: rnnkit reads comma-separated values (replace each ${separator === ';' ? '";"' : 'tab'} with ",").`
          : `${file} has no column of numbers only (columns ${columns.map((c) => `"${c}"`).join(', ')}): choose one with --column and fix its values.`,
      );
    }
  }
  const values = new Float64Array(body.length);
  body.forEach((r, i) => {
    const field = r.fields[index]!;
    if (!isNumber(field))
      throw new Error(`${file}, line ${r.line}, column "${columns[index]}": ${JSON.stringify(field)} is not a number; fill in or remove that row.`);
    values[i] = Number(field);
    if (!Number.isFinite(values[i]!)) throw new Error(`${file}, line ${r.line}, column "${columns[index]}": ${field} is too large for a number.`);
    // Models compute in 32-bit floats: a larger value would become Infinity there.
    if (Math.abs(values[i]!) > FLOAT32_MAX)
      throw new Error(
        `${file}, line ${r.line}, column "${columns[index]}": ${field.trim()} is beyond the range of 32-bit floats (about ±3.4e38) that models compute in; rescale the column.`,
      );
  });
  return { name: columns[index]!, values, columns, header };
}

export interface ParseTsvOptions {
  /** The fields each line must have, by name, as messages show them (e.g. ['text', 'label']). */
  fields: readonly string[];
  /** How messages name the file. Default "the TSV file". */
  file?: string;
}

/**
 * Rows of tab-separated fields, one per line (LF or CRLF; blank lines skipped). Every other
 * line must have exactly `fields.length` fields, none of them empty: tabs cannot be part of a
 * field. No quoting: quotes are kept as written.
 */
export function parseTsv(text: string, options: ParseTsvOptions): string[][] {
  const file = options.file ?? 'the TSV file';
  const n = options.fields.length;
  const layout = options.fields.join('<TAB>');
  const rows: string[][] = [];
  text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .forEach((line, i) => {
      if (line.trim() === '') return;
      const parts = line.split('\t');
      if (parts.length !== n) {
        const hint = parts.length > n ? ` (a field cannot hold a tab: replace tabs inside it with spaces)` : '';
        throw new Error(`${file}, line ${i + 1}: ${parts.length} tab-separated field${parts.length === 1 ? '' : 's'}, expected ${n}: ${layout}${hint}.`);
      }
      const empty = parts.findIndex((p) => p.trim() === '');
      if (empty >= 0) throw new Error(`${file}, line ${i + 1}: the ${options.fields[empty]} is empty (each line is ${layout}).`);
      rows.push(parts);
    });
  if (rows.length === 0) throw new Error(`${file} has no ${layout} lines.`);
  return rows;
}

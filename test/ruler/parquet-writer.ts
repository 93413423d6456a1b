/**
 * A minimal parquet writer for test fixtures (no parquet writer is installed): one row
 * group, one PLAIN uncompressed v1 data page per column, Thrift compact metadata. Column
 * kinds: required UTF8 strings, required INT64, and a required LIST of required UTF8
 * strings (3-level layout, as pyarrow writes RULER's `answer`).
 */

export type ColumnSpec =
  | { name: string; kind: 'string'; values: string[] }
  | { name: string; kind: 'int64'; values: bigint[] }
  | { name: string; kind: 'stringList'; values: string[][] };

class Bytes {
  parts: number[] = [];
  byte(b: number) { this.parts.push(b & 0xff); }
  bytes(a: Uint8Array | number[]) { for (const b of a) this.parts.push(b); }
  varint(n: bigint) {
    let v = n;
    while (v >= 0x80n) { this.byte(Number(v & 0x7fn) | 0x80); v >>= 7n; }
    this.byte(Number(v));
  }
  zigzag(n: bigint) { this.varint(n >= 0n ? n << 1n : ((-n) << 1n) - 1n); }
  u32le(n: number) { this.byte(n); this.byte(n >>> 8); this.byte(n >>> 16); this.byte(n >>> 24); }
  i64le(n: bigint) { for (let i = 0n; i < 8n; i++) this.byte(Number((BigInt.asUintN(64, n) >> (8n * i)) & 0xffn)); }
  get length() { return this.parts.length; }
  toUint8() { return Uint8Array.from(this.parts); }
}

// Thrift compact protocol: just enough for FileMetaData and PageHeader.
type TValue =
  | { t: 'i32' | 'i64'; v: number | bigint }
  | { t: 'bin'; v: string | Uint8Array }
  | { t: 'struct'; v: TStruct }
  | { t: 'list'; elem: 'i32' | 'bin' | 'struct'; v: TValue[] };
type TStruct = Array<[number, TValue]>;
const CT = { i32: 5, i64: 6, bin: 8, list: 9, struct: 12 } as const;

function writeStruct(out: Bytes, fields: TStruct) {
  let last = 0;
  for (const [id, value] of fields) {
    const type = CT[value.t];
    const delta = id - last;
    if (delta > 0 && delta <= 15) out.byte((delta << 4) | type);
    else { out.byte(type); out.zigzag(BigInt(id)); }
    writeValue(out, value);
    last = id;
  }
  out.byte(0);
}
function writeValue(out: Bytes, value: TValue) {
  switch (value.t) {
    case 'i32': case 'i64': out.zigzag(BigInt(value.v)); break;
    case 'bin': {
      const b = typeof value.v === 'string' ? new TextEncoder().encode(value.v) : value.v;
      out.varint(BigInt(b.length)); out.bytes(b); break;
    }
    case 'struct': writeStruct(out, value.v); break;
    case 'list': {
      const n = value.v.length;
      if (n < 15) out.byte((n << 4) | CT[value.elem]);
      else { out.byte(0xf0 | CT[value.elem]); out.varint(BigInt(n)); }
      for (const e of value.v) writeValue(out, e);
    }
  }
}
const i32 = (v: number): TValue => ({ t: 'i32', v });
const i64 = (v: number | bigint): TValue => ({ t: 'i64', v });
const bin = (v: string): TValue => ({ t: 'bin', v });

// RLE/bit-packed hybrid with bit width 1, as RLE runs only, prefixed by its byte length.
function levels(values: number[]): Uint8Array {
  const body = new Bytes();
  for (let i = 0; i < values.length;) {
    let j = i;
    while (j < values.length && values[j] === values[i]) j++;
    body.varint(BigInt(j - i) << 1n);
    body.byte(values[i]!);
    i = j;
  }
  const out = new Bytes();
  out.u32le(body.length);
  out.bytes(body.toUint8());
  return out.toUint8();
}

function plainStrings(values: string[]): Uint8Array {
  const out = new Bytes();
  for (const s of values) { const b = new TextEncoder().encode(s); out.u32le(b.length); out.bytes(b); }
  return out.toUint8();
}

/** Serializes the columns (all of the same row count) into parquet file bytes. */
export function writeParquet(columns: ColumnSpec[]): Uint8Array {
  const numRows = columns[0]!.values.length;
  const file = new Bytes();
  file.bytes(new TextEncoder().encode('PAR1'));
  const chunks: TValue[] = [];
  const schema: TValue[] = [{ t: 'struct', v: [[4, bin('schema')], [5, i32(columns.length)]] }];
  for (const col of columns) {
    if (col.values.length !== numRows) throw new Error('columns differ in length');
    let page: Uint8Array;
    let numValues: number;
    let physical: number;
    let path: string[];
    if (col.kind === 'string') {
      page = plainStrings(col.values); numValues = numRows; physical = 6; path = [col.name];
      schema.push({ t: 'struct', v: [[1, i32(6)], [3, i32(0)], [4, bin(col.name)], [6, i32(0)]] });
    } else if (col.kind === 'int64') {
      const b = new Bytes(); for (const v of col.values) b.i64le(v);
      page = b.toUint8(); numValues = numRows; physical = 2; path = [col.name];
      schema.push({ t: 'struct', v: [[1, i32(2)], [3, i32(0)], [4, bin(col.name)]] });
    } else {
      const rep: number[] = [];
      const def: number[] = [];
      const flat: string[] = [];
      for (const list of col.values) {
        if (list.length === 0) { rep.push(0); def.push(0); continue; }
        list.forEach((s, k) => { rep.push(k === 0 ? 0 : 1); def.push(1); flat.push(s); });
      }
      const b = new Bytes();
      b.bytes(levels(rep)); b.bytes(levels(def)); b.bytes(plainStrings(flat));
      page = b.toUint8(); numValues = rep.length; physical = 6; path = [col.name, 'list', 'element'];
      schema.push({ t: 'struct', v: [[3, i32(0)], [4, bin(col.name)], [5, i32(1)], [6, i32(3)]] });
      schema.push({ t: 'struct', v: [[3, i32(2)], [4, bin('list')], [5, i32(1)]] });
      schema.push({ t: 'struct', v: [[1, i32(6)], [3, i32(0)], [4, bin('element')], [6, i32(0)]] });
    }
    const header = new Bytes();
    writeStruct(header, [
      [1, i32(0)], [2, i32(page.length)], [3, i32(page.length)],
      [5, { t: 'struct', v: [[1, i32(numValues)], [2, i32(0)], [3, i32(3)], [4, i32(3)]] }],
    ]);
    const offset = file.length;
    file.bytes(header.toUint8());
    file.bytes(page);
    const total = header.length + page.length;
    chunks.push({ t: 'struct', v: [
      [2, i64(offset)],
      [3, { t: 'struct', v: [
        [1, i32(physical)],
        [2, { t: 'list', elem: 'i32', v: [i32(0), i32(3)] }],
        [3, { t: 'list', elem: 'bin', v: path.map(bin) }],
        [4, i32(0)], [5, i64(numValues)], [6, i64(total)], [7, i64(total)], [9, i64(offset)],
      ] }],
    ] });
  }
  const meta = new Bytes();
  writeStruct(meta, [
    [1, i32(1)],
    [2, { t: 'list', elem: 'struct', v: schema }],
    [3, i64(numRows)],
    [4, { t: 'list', elem: 'struct', v: [{ t: 'struct', v: [
      [1, { t: 'list', elem: 'struct', v: chunks }], [2, i64(file.length - 4)], [3, i64(numRows)],
    ] }] }],
    [6, bin('poc test parquet writer')],
  ]);
  file.bytes(meta.toUint8());
  file.u32le(meta.length);
  file.bytes(new TextEncoder().encode('PAR1'));
  return file.toUint8();
}

/** One RULER row in the dataset's column layout. */
export interface RulerRowFixture {
  context: string;
  question: string;
  answer_prefix: string;
  answer: string[];
  task: string;
  max_new_tokens: number;
}

/** A parquet file with simonjegou/ruler's columns (optionally leaving some out). */
export function rulerParquet(rows: RulerRowFixture[], omit: string[] = []): Uint8Array {
  const cols: ColumnSpec[] = [
    { name: 'context', kind: 'string', values: rows.map((r) => r.context) },
    { name: 'question', kind: 'string', values: rows.map((r) => r.question) },
    { name: 'answer_prefix', kind: 'string', values: rows.map((r) => r.answer_prefix) },
    { name: 'answer', kind: 'stringList', values: rows.map((r) => r.answer) },
    { name: 'task', kind: 'string', values: rows.map((r) => r.task) },
    { name: 'max_new_tokens', kind: 'int64', values: rows.map((r) => BigInt(r.max_new_tokens)) },
  ];
  return writeParquet(cols.filter((c) => !omit.includes(c.name)));
}

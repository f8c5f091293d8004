// safetensors files checked by a minimal parser written here from the format description
// (not by the reader under test): header length, padding, offsets, dtypes, shapes, values.
// Then the reader's own checks: truncated and corrupted files give one clear line.

import { deepStrictEqual as equal, ok, rejects, throws } from "node:assert/strict";
import type { TensorInput } from "../../core/safetensors.ts";
import { writeSafetensors } from "../../core/safetensors_write.ts";
import { decodeSafetensors, readSafetensors } from "../../core/safetensors.ts";

/** The bytes `writeSafetensors` writes for these tensors. */
async function encode(
  tensors: Record<string, TensorInput>,
  metadata?: Record<string, string>,
): Promise<Uint8Array> {
  const path = await Deno.makeTempFile({ suffix: ".safetensors" });
  try {
    await writeSafetensors(path, tensors, metadata);
    return await Deno.readFile(path);
  } finally {
    await Deno.remove(path);
  }
}

/** Independent reader: returns header, data offset and a value decoder. */
function independentParse(bytes: Uint8Array) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  const header = JSON.parse(text) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const start = 8 + n;
  const values = (name: string): (number | bigint)[] => {
    const { dtype, data_offsets: [b, e] } = header[name];
    const out: (number | bigint)[] = [];
    const size = { F32: 4, F64: 8, I64: 8, I32: 4, U8: 1, I8: 1, U16: 2, BOOL: 1 }[dtype as "F32"];
    for (let at = start + b; at < start + e; at += size) {
      if (dtype === "F32") out.push(dv.getFloat32(at, true));
      else if (dtype === "F64") out.push(dv.getFloat64(at, true));
      else if (dtype === "I64") out.push(dv.getBigInt64(at, true));
      else if (dtype === "I32") out.push(dv.getInt32(at, true));
      else if (dtype === "I8") out.push(dv.getInt8(at));
      else if (dtype === "U16") out.push(dv.getUint16(at, true));
      else out.push(dv.getUint8(at));
    }
    return out;
  };
  return { n, text, header, start, values };
}

const P = 6, H = 4;
const tensors: Record<string, TensorInput> = {
  "encoder.embedding.word_embedding.weight": {
    dtype: "F32",
    shape: [3, H],
    data: Float32Array.from({ length: 3 * H }, (_, i) => i * 0.5 - 1),
  },
  "encoder.embedding.pos_embedding.position_ids": {
    dtype: "I64",
    shape: [1, P],
    data: Array.from({ length: P }, (_, i) => i),
  },
  "encoder.recurrent_block._orig_mod.layers.0.attn.norm_factor": {
    dtype: "F32",
    shape: [],
    data: new Float32Array([0.5]),
  },
  "counts": { dtype: "I32", shape: [2], data: new Int32Array([-7, 2 ** 31 - 1]) },
  "mask": { dtype: "U8", shape: [3], data: new Uint8Array([0, 1, 255]) },
  "flags": { dtype: "BOOL", shape: [2], data: [1, 0] },
  "empty": { dtype: "F32", shape: [0, 3], data: new Float32Array(0) },
  "f64": { dtype: "F64", shape: [1], data: [Math.PI] },
};

Deno.test("writeSafetensors() output is read by an independent parser", async () => {
  const bytes = await encode(tensors, { format: "pt", step: "12" });
  const f = independentParse(bytes);
  equal((8 + f.n) % 8, 0, "data starts on an 8-byte boundary");
  ok(/^\{.*\} *$/.test(f.text), "JSON object padded with spaces only");
  equal(f.header.__metadata__ as unknown, { format: "pt", step: "12" });
  const size: Record<string, number> = { F32: 4, F64: 8, I64: 8, I32: 4, U8: 1, BOOL: 1 };
  const spans: [number, number][] = [];
  for (const [name, t] of Object.entries(tensors)) {
    const h = f.header[name];
    equal([h.dtype, h.shape], [t.dtype, [...t.shape]], name);
    const [b, e] = h.data_offsets;
    equal(e - b, t.shape.reduce((x, y) => x * y, 1) * size[t.dtype], name);
    equal(b % size[t.dtype], 0, `${name} aligned`);
    spans.push([b, e]);
    const expect = Array.from(
      t.data as ArrayLike<number>,
      (v) => t.dtype === "I64" ? BigInt(v) : v,
    );
    const got = f.values(name);
    if (t.dtype === "F32") equal(got, expect.map((v) => Math.fround(v as number)), name);
    else equal(got, expect, name);
  }
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let at = 0;
  for (const [b, e] of spans) {
    equal(b, at, "contiguous, no holes");
    at = e;
  }
  equal(f.start + at, bytes.length, "nothing after the last tensor");
});

Deno.test("writeSafetensors() and readSafetensors() round-trip values, dtypes and metadata", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/model.safetensors`;
  await writeSafetensors(path, tensors, { format: "pt" });
  equal(
    [...Deno.readDirSync(dir)].map((e) => e.name),
    ["model.safetensors"],
    "no temporary file left",
  );
  const back = await readSafetensors(path);
  equal(back.metadata, { format: "pt" });
  equal(
    back.tensors["encoder.embedding.word_embedding.weight"].data,
    tensors["encoder.embedding.word_embedding.weight"].data,
  );
  equal(
    back.tensors["encoder.embedding.pos_embedding.position_ids"].data,
    BigInt64Array.from([0n, 1n, 2n, 3n, 4n, 5n]),
  );
  equal(back.tensors["encoder.recurrent_block._orig_mod.layers.0.attn.norm_factor"].shape, []);
  equal(back.tensors.counts.data, new Int32Array([-7, 2 ** 31 - 1]));
  equal(back.tensors.flags.data, new Uint8Array([1, 0]));
  equal(back.tensors.empty.shape, [0, 3]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("decodeSafetensors() reads files from other writers: unpadded header, unaligned data", () => {
  const header = new TextEncoder().encode(JSON.stringify({
    b: { dtype: "F32", shape: [2], data_offsets: [1, 9] },
    a: { dtype: "U8", shape: [1], data_offsets: [0, 1] },
  }));
  const bytes = new Uint8Array(8 + header.length + 9);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
  bytes.set(header, 8);
  const dv = new DataView(bytes.buffer, 8 + header.length);
  dv.setUint8(0, 42);
  dv.setFloat32(1, 1.5, true);
  dv.setFloat32(5, -2, true);
  const got = decodeSafetensors(bytes);
  equal(got.tensors.b.data, new Float32Array([1.5, -2]));
  equal(got.tensors.a.data, new Uint8Array([42]));
  equal(got.metadata, {});
});

function withHeader(header: unknown, data: number, raw?: string): Uint8Array {
  const text = new TextEncoder().encode(raw ?? JSON.stringify(header));
  const bytes = new Uint8Array(8 + text.length + data);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(text.length), true);
  bytes.set(text, 8);
  return bytes;
}

Deno.test("decodeSafetensors() rejects truncated and corrupted files with one clear line", async () => {
  const good = await encode({ w: { dtype: "F32", shape: [2, 2], data: new Float32Array(4) } });
  const f32 = (offsets: number[], shape = [2]) => ({ dtype: "F32", shape, data_offsets: offsets });
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array(0), /truncated or not a safetensors file \(0 bytes\)/],
    [good.subarray(0, 5), /truncated or not a safetensors file/],
    [
      good.subarray(0, 20),
      /truncated or not a safetensors file \(header of \d+ bytes, only 12 follow\)/,
    ],
    [
      good.subarray(0, good.length - 1),
      /truncated: tensor "w" ends at data byte 16, the file holds 15/,
    ],
    [withHeader(null, 0, "[1, 2]"), /corrupted header \(it does not start with \{\)/],
    [withHeader(null, 0, "{not json"), /corrupted header/],
    [
      withHeader({ w: { dtype: "F17", shape: [1], data_offsets: [0, 4] } }, 4),
      /unknown dtype "F17"/,
    ],
    [withHeader({ w: f32([0, 4]) }, 4), /"w" spans 4 bytes but F32 \[2\] needs 8/],
    [withHeader({ w: f32([0, 8], [-2]) }, 8), /invalid shape/],
    [withHeader({ w: f32([8, 0]) }, 8), /invalid data_offsets/],
    [withHeader({ a: f32([0, 8]), b: f32([4, 12]) }, 12), /tensors "a" and "b" overlap/],
    [withHeader({ a: f32([4, 12]) }, 12), /4 bytes of the data belong to no tensor, before "a"/],
    [withHeader({ a: f32([0, 8]) }, 10), /2 bytes after the last tensor/],
    [withHeader({ __metadata__: { step: 3 } }, 0), /__metadata__ value "step" is not a string/],
    [withHeader({ w: 5 }, 0), /header entry of tensor "w" is not an object/],
  ];
  const badUtf8 = withHeader(null, 0, "{}");
  badUtf8[9] = 0xff;
  cases.push([badUtf8, /corrupted header/]);
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setBigUint64(0, 2n ** 62n, true);
  cases.push([huge, /header length \d+ is too large/]);
  for (const [bytes, re] of cases) {
    throws(() => decodeSafetensors(bytes, "m.safetensors"), (e: Error) => {
      ok(e.name === "SafetensorsError", e.message);
      ok(e.message.startsWith("Cannot read m.safetensors: "), e.message);
      ok(re.test(e.message) && !e.message.includes("\n"), e.message);
      return true;
    });
  }
});

Deno.test("readSafetensors() names a missing file", async () => {
  await rejects(
    () => readSafetensors("/nonexistent/x.safetensors"),
    /Cannot read \/nonexistent\/x.safetensors: no such file/,
  );
});

Deno.test("writeSafetensors() rejects malformed tensors", async () => {
  await rejects(
    () => encode({ w: { dtype: "F32", shape: [2, 2], data: [1, 2, 3] } }),
    /shape \[2, 2\] needs 4 values, got 3/,
  );
  await rejects(
    () => encode({ w: { dtype: "F32", shape: [-1], data: [] } }),
    /shape must be non-negative integers/,
  );
  await rejects(
    () => encode({ __metadata__: { dtype: "U8", shape: [0], data: [] } }),
    /Cannot write a tensor named "__metadata__"/,
  );
  await rejects(
    () => encode({ w: { dtype: "F16", shape: [1], data: [1] } }),
    /raw 16-bit words/,
  );
  await rejects(
    () => encode({ w: { dtype: "I64", shape: [1], data: [2 ** 60] } }),
    /not a safe integer/,
  );
  await rejects(
    () => encode({ w: { dtype: "X" as "U8", shape: [1], data: [1] } }),
    /unknown dtype X/,
  );
  const raw = await encode({
    h: { dtype: "BF16", shape: [2], data: new Uint8Array([1, 2, 3, 4]) },
  });
  equal(decodeSafetensors(raw).tensors.h.data, new Uint16Array([0x0201, 0x0403]));
});

Deno.test("writeSafetensors() keeps the previous file when writing fails", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/m.safetensors`;
  await writeSafetensors(path, { a: { dtype: "U8", shape: [1], data: [7] } });
  await rejects(
    () => writeSafetensors(path, { a: { dtype: "U8", shape: [2], data: [7] } }),
    /needs 2 values/,
  );
  equal((await readSafetensors(path)).tensors.a.data, new Uint8Array([7]));
  equal([...Deno.readDirSync(dir)].length, 1);
  await Deno.remove(dir, { recursive: true });
});

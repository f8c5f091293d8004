// Tests of the dataset folder format end to end: files agree with each other, same seed gives
// identical bytes, training and evaluation folders share one format, the reader's batches
// (sequential, shuffled, resumed) cover every row, and failed writes leave nothing behind.

import assert from "node:assert/strict";
import { generateDataset, generateGrid } from "../../data/generate.ts";
import { openDataset, readGridMeta, readMeta } from "../../data/dataset.ts";
import { DataError } from "../../data/spec.ts";
import { EOS, getTokenizer, PAD } from "../../data/tokenizer.ts";
import { oracle, rev, splitArith, tempDir } from "./_helpers.ts";

async function files(dir: string): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  for (const f of ["meta.json", "train.bin", "test.bin", "train.txt", "test.txt"]) {
    out[f] = await Deno.readFile(`${dir}/${f}`);
  }
  return out;
}

/** Checks that bin rows and text lines agree and rows are EOS-terminated and PAD-filled. */
async function checkConsistent(dir: string): Promise<string[]> {
  const meta = await readMeta(dir);
  const tok = getTokenizer(meta.tokenizer);
  const T = meta.rowLength;
  const all: string[] = [];
  for (const split of ["train", "test"] as const) {
    const bin = await Deno.readFile(`${dir}/${meta.files[split]}`);
    const text = await Deno.readTextFile(`${dir}/${split === "train" ? "train.txt" : "test.txt"}`);
    const lines = text === "" ? [] : text.slice(0, -1).split("\n");
    assert.equal(bin.length, meta.counts[split] * T);
    assert.equal(lines.length, meta.counts[split]);
    lines.forEach((line, r) => {
      const row = bin.subarray(r * T, (r + 1) * T);
      const eos = row.indexOf(EOS);
      assert(eos > 0 && row.subarray(eos + 1).every((t) => t === PAD), `row ${r}`);
      assert.equal(tok.decode(row), line.replaceAll(" ", ""));
      assert.deepEqual([...row.subarray(0, eos)], tok.encode(line));
    });
    all.push(...lines);
  }
  return all;
}

Deno.test("generateDataset() writes consistent files with the last rows as test", async () => {
  const [root, cleanup] = await tempDir();
  const meta = await generateDataset({
    spec: { op: "+", n: 4, m: 4, limit: 1000, reverseAll: true, p: 0.2 },
    out: `${root}/ds`,
    testRatio: 0.05,
  });
  assert.deepEqual(meta.counts, { train: 950, test: 50 });
  assert(meta.maxSampleTokens <= meta.rowLength);
  const lines = await checkConsistent(`${root}/ds`);
  for (const l of lines) {
    const [a, b, c] = splitArith(l.replaceAll(" ", ""), "+");
    assert.equal(rev(c), oracle("+", rev(a), rev(b)));
  }
  assert.deepEqual(await Array.fromAsync(Deno.readDir(root), (e) => e.name), ["ds"]);
  await cleanup();
});

Deno.test("the same seed gives identical files; another seed gives different ones", async () => {
  const [root, cleanup] = await tempDir();
  const spec = { op: "x" as const, n: 3, m: 3, limit: 500, reverseAll: true };
  await generateDataset({ spec, out: `${root}/a` });
  await generateDataset({ spec, out: `${root}/b` });
  await generateDataset({ spec: { ...spec, seed: 43 }, out: `${root}/c` });
  const [a, b, c] = [await files(`${root}/a`), await files(`${root}/b`), await files(`${root}/c`)];
  assert.deepEqual(a, b);
  assert.notDeepEqual(a["train.bin"], c["train.bin"]);
  assert.notDeepEqual(a["train.txt"], c["train.txt"]);
  await cleanup();
});

Deno.test("training sets and grid cells share one format and one reader", async () => {
  const [root, cleanup] = await tempDir();
  const train = await generateDataset({
    preset: "tiny-addition",
    spec: { limit: 300 },
    out: `${root}/t`,
  });
  const grid = await generateGrid({
    preset: "addition-grid",
    minSide: 2,
    maxSide: 3,
    out: `${root}/g`,
  });
  assert.deepEqual((await readGridMeta(`${root}/g`)).cells, grid.cells);
  assert.equal(grid.cells.length, 4);
  for (const cell of grid.cells) {
    const meta = await readMeta(`${root}/g/${cell.dir}`);
    assert.deepEqual(Object.keys(meta).sort(), Object.keys(train).sort());
    assert.deepEqual(
      [meta.format, meta.version, meta.dtype, meta.tokenizer, meta.files],
      [train.format, train.version, train.dtype, train.tokenizer, train.files],
    );
    assert.deepEqual(meta.counts, { train: 0, test: 100 });
    assert.equal(meta.promptLength, cell.i + cell.j + 2);
    for (const l of await checkConsistent(`${root}/g/${cell.dir}`)) {
      const [a, b, c] = splitArith(l, "+"); // same format as training: a+b=c, all reversed
      assert.deepEqual([a.length, b.length], [cell.i, cell.j]);
      assert(a.at(-1) !== "0" && b.at(-1) !== "0");
      assert.equal(rev(c), oracle("+", rev(a), rev(b)));
    }
    const ds = await openDataset(`${root}/g/${cell.dir}`);
    const [batch] = await Array.fromAsync(ds.batches({ split: "test", batchSize: 100 }));
    assert.equal(batch.rows, 100);
    ds.close();
  }
  await cleanup();
});

Deno.test("grid cells do not depend on the other cells generated", async () => {
  const [root, cleanup] = await tempDir();
  await generateGrid({
    base: { op: "x", reverseAll: true },
    minSide: 1,
    maxSide: 3,
    out: `${root}/a`,
  });
  await generateGrid({
    base: { op: "x", reverseAll: true },
    minSide: 3,
    maxSide: 3,
    out: `${root}/b`,
  });
  assert.deepEqual(
    await Deno.readFile(`${root}/a/x_n_3_m_3/test.bin`),
    await Deno.readFile(`${root}/b/x_n_3_m_3/test.bin`),
  );
  await cleanup();
});

Deno.test("a grid that is not a preset is named after its arguments and sides", async () => {
  const [root, cleanup] = await tempDir();
  const base = { op: "+", reverseAll: true, numSamples: 3 } as const;
  const grid = await generateGrid({ base, maxSide: 2, diagonal: true, baseDir: root });
  assert.equal(grid.name, "+_grid_eval_sides_1_2_diagonal_examples_3_p_00_reverse_all");
  assert.deepEqual(grid.cells.map((c) => c.dir), ["+_n_1_m_1", "+_n_2_m_2"]);
  // A preset grid of other sides or seed adds them to the preset's folder name.
  const or = await generateGrid({
    preset: "or-grid",
    maxSide: 2,
    diagonal: true,
    base: { seed: 3 },
    baseDir: root,
  });
  assert.equal(or.name, "pos_or_one_vec_zeros_eval_sides_1_2_diagonal_seed_3");
  for (const [minSide, maxSide] of [[0, 2], [3, 2], [1, 2.5]]) {
    await assert.rejects(
      generateGrid({ preset: "or-grid", minSide, maxSide, baseDir: root }),
      /^DataError: Cannot generate grid: sides must satisfy 1 <= min <= max, got /,
    );
  }
  await cleanup();
});

Deno.test("Dataset.batches() covers every row sequentially and shuffled", async () => {
  const [root, cleanup] = await tempDir();
  const meta = await generateDataset({
    spec: { op: "+", n: 3, m: 3, limit: 1000 },
    out: `${root}/d`,
  });
  const ds = await openDataset(`${root}/d`);
  const T = meta.rowLength, N = meta.counts.train;
  const all = await ds.readRows("train", 0, N);
  const rowsOf = (b: { tokens: Int32Array; rows: number }) =>
    Array.from({ length: b.rows }, (_, r) => b.tokens.subarray(r * T, (r + 1) * T).join());
  const seq = (await Array.fromAsync(ds.batches({ batchSize: 64 }))).flatMap(rowsOf);
  assert.deepEqual(
    seq,
    Array.from({ length: N }, (_, r) => all.subarray(r * T, (r + 1) * T).join()),
  );
  const shuffled = await Array.fromAsync(ds.batches({ batchSize: 64, shuffle: true, seed: 5 }));
  const flat = shuffled.flatMap(rowsOf);
  assert.notDeepEqual(flat, seq);
  assert.deepEqual([...flat].sort(), [...seq].sort());
  const again = await Array.fromAsync(ds.batches({ batchSize: 64, shuffle: true, seed: 5 }));
  assert.deepEqual(again.flatMap(rowsOf), flat); // the seed fixes the order
  assert.deepEqual(shuffled.map((b) => b.rows).at(-1), N % 64); // a last partial batch
  assert.equal((await ds.readRows("test", 8, 5)).length, 2 * T); // clipped to the 10 test rows
  ds.close();
  await cleanup();
});

Deno.test("an existing non-empty folder needs force, and failures leave nothing behind", async () => {
  const [root, cleanup] = await tempDir();
  const out = `${root}/ds`;
  await generateDataset({ spec: { limit: 20 }, out });
  const before = await Deno.readFile(`${out}/train.bin`);
  await assert.rejects(generateDataset({ spec: { limit: 30 }, out }), (e: unknown) => {
    assert(e instanceof DataError);
    assert.match(e.message, /folder exists and is not empty/);
    return true;
  });
  assert.deepEqual(await Deno.readFile(`${out}/train.bin`), before);
  const meta = await generateDataset({ spec: { limit: 30 }, out, force: true });
  assert.equal(meta.counts.train, 30);
  await Deno.writeTextFile(`${root}/file`, "x");
  await assert.rejects(generateDataset({ spec: { limit: 5 }, out: `${root}/file/sub` }), DataError);
  assert.deepEqual((await Array.fromAsync(Deno.readDir(root), (e) => e.name)).sort(), [
    "ds",
    "file",
  ]);
  await cleanup();
});

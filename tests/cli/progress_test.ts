// Tests of the progress display: throttled plain lines off a terminal, `\r` redraws on one.

import assert from "node:assert/strict";
import { Progress } from "../../cli/progress.ts";

function capture(): { writer: { writeSync(b: Uint8Array): number }; text(): string } {
  const parts: string[] = [];
  const dec = new TextDecoder();
  return {
    writer: { writeSync: (b: Uint8Array) => (parts.push(dec.decode(b)), b.length) },
    text: () => parts.join(""),
  };
}

Deno.test("Progress prints throttled plain lines when not on a terminal", () => {
  const out = capture();
  let t = 0;
  const p = new Progress("gen", { writer: out.writer, tty: false, intervalMs: 1000, now: () => t });
  t = 10;
  p.update(1, 10); // first update prints
  t = 500;
  p.update(5, 10); // throttled
  t = 1500;
  p.update(9, 10);
  p.done();
  const lines = out.text().trimEnd().split("\n");
  assert.equal(lines.length, 3);
  assert.match(lines[0], /^gen: 10\.0% \(1\/10\)/);
  assert.match(lines[1], /^gen: 90\.0% \(9\/10\) \d+\/s ETA \d+s$/);
  assert.equal(lines[2], "gen: done 10 in 1.5s");
  assert(!out.text().includes("\r"));
});

Deno.test("Progress redraws one line with \\r on a terminal", () => {
  const out = capture();
  let t = 0;
  const p = new Progress("gen", { writer: out.writer, tty: true, intervalMs: 0, now: () => t });
  t = 1000;
  p.update(2_000_000, 20_000_000);
  p.done();
  const esc = "\r\x1b[2K";
  assert.equal(
    out.text(),
    `${esc}gen: 10.0% (2.00M/20.00M) 2.00M/s ETA 9s${esc}gen: done 20.00M in 1.0s\n`,
  );
});

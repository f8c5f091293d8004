import { deepStrictEqual, ok, rejects } from "node:assert/strict";
import { greedyDecode } from "../../core/nn/decode.ts";
import { ArithmeticModel } from "../../core/nn/model.ts";
import { type Backend, CPU } from "../../core/backend.ts";
import { HAS_GPU, maybeDevice } from "../kernels/_harness.ts";
import { tinyArch, VARIANTS } from "./_variants.ts";

// Prompts of different lengths ("12+3=", "1+45=", "123+45="-like ids) in one batch.
const PROMPTS = [
  new Int32Array([5, 6, 14, 7, 17]),
  new Int32Array([5, 14, 8, 9, 17]),
  new Int32Array([5, 6, 7, 14, 8, 9, 17]),
  new Int32Array([12, 14, 4, 17]),
];

async function checkAll(backend: Backend) {
  for (const [name, v] of Object.entries(VARIANTS)) {
    const model = ArithmeticModel.create(tinyArch(v), { backend, seed: 21 });
    // No EOS stop, so every step is compared.
    const opts = { maxNewTokens: 6, seed: 17, eosId: -1 };
    const cached = await greedyDecode(model, PROMPTS, opts);
    const full = await greedyDecode(model, PROMPTS, { ...opts, cached: false });
    deepStrictEqual(cached.map((r) => [...r]), full.map((r) => [...r]), name);
    if (backend.kind === "webgpu") model.dispose();
  }
}

Deno.test("greedyDecode() with the KV cache equals full recomputation for every variant (cpu)", async () => {
  await checkAll(CPU);
});

Deno.test({
  name: "greedyDecode() with the KV cache equals full recomputation for every variant (webgpu)",
  ignore: !HAS_GPU,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const live = dev.pool.live;
    await checkAll(dev);
    deepStrictEqual(dev.pool.live, live, "decoding frees its caches and intermediates");
  },
});

Deno.test("greedyDecode() stops rows at EOS and pads the rest", async () => {
  const model = ArithmeticModel.create(tinyArch(VARIANTS["nope"]), { backend: CPU, seed: 2 });
  const free = await greedyDecode(model, PROMPTS, { maxNewTokens: 5, seed: 1, eosId: -1 });
  const eos = free[0][1]; // pretend the second generated token is EOS
  const out = await greedyDecode(model, PROMPTS, { maxNewTokens: 5, seed: 1, eosId: eos });
  deepStrictEqual([...out[0]].slice(0, 2), [free[0][0], eos].slice(0, free[0][0] === eos ? 1 : 2));
  ok(out[0].slice(free[0][0] === eos ? 1 : 2).every((t) => t === 0));
  await rejects(greedyDecode(model, [new Int32Array(0)], { maxNewTokens: 1 }), /empty prompt/);
});

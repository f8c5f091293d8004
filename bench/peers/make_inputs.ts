/**
 * Writes the shared inputs file of the peer benchmarks: initial fp32 weights (deepnorm-straight
 * initialisation as upstream uses) and one random token batch, all from one seed (abacus's `Rng`),
 * so that abacus, jax-js, TF.js and PyTorch start from the very same numbers and their loss curves
 * can be compared.
 * Format: see `encodeInputs` in `common.ts` and `README.md`.
 * @module
 */
import { Rng } from "../../kernels/rng.ts";
import { encodeInputs, type InputsHeader, paramSpecs, parseArgs, VOCAB } from "./common.ts";

/**
 * Generates initial weights and the token batch.
 *
 * Initialisation (upstream `deepnorm-straight`): gain g = (8 L)^(-1/4); linear weights
 * N(0, g^2 * 2 / (fan_in + fan_out)), except the q and k blocks of the fused qkv weight (gain 1, each
 * block its own H x H fan); the embedding N(0, 1/H); LayerNorm weight 1, bias 0. Tokens uniform in
 * 4..18.
 *
 * @returns parameters in `paramSpecs` order and the (B, T) tokens
 */
export function generate(
  config: InputsHeader["config"],
): { params: Float32Array[]; tokens: Int32Array } {
  const rng = new Rng(config.seed);
  const h = config.hidden;
  const gain = Math.pow(8 * config.layers, -0.25);
  const xavier = (rows: number, cols: number, g: number, out: Float32Array, at = 0) => {
    const std = g * Math.sqrt(2 / (rows + cols));
    for (let i = 0; i < rows * cols; i++) out[at + i] = std * rng.normal();
  };
  const params = paramSpecs(config.layers, h, config.vocab).map((s) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(n);
    if (s.name === "embed.weight") {
      for (let i = 0; i < n; i++) out[i] = rng.normal() / Math.sqrt(h);
    } else if (s.name.endsWith("norm.weight") || /norm\d\.weight$/.test(s.name)) {
      out.fill(1);
    } else if (s.name.endsWith(".bias")) {
      // zeros
    } else if (s.name.endsWith("qkv.weight")) {
      xavier(h, h, 1, out, 0);
      xavier(h, h, 1, out, h * h);
      xavier(h, h, gain, out, 2 * h * h);
    } else {
      xavier(s.shape[0], s.shape[1], gain, out);
    }
    return out;
  });
  const tokens = new Int32Array(config.batch * config.seq);
  for (let i = 0; i < tokens.length; i++) tokens[i] = rng.int(4, 18);
  return { params, tokens };
}

if (import.meta.main) {
  // Same CLI as the peers; --steps is accepted and ignored, --weights is the output path.
  const args = Deno.args.includes("--steps") ? Deno.args : [...Deno.args, "--steps", "1"];
  const cfg = parseArgs(args);
  const { layers, hidden, heads, batch, seq, seed } = cfg;
  const config = { layers, hidden, heads, batch, seq, vocab: VOCAB, seed };
  const { params, tokens } = generate(config);
  const bytes = encodeInputs(config, params, tokens);
  Deno.writeFileSync(cfg.weights, bytes);
  console.error(`wrote ${cfg.weights}: ${bytes.length} bytes`);
}

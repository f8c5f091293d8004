/**
 * The shape of the server's `/api/model` answer, shared by the server and the browser bundle
 * (this module imports nothing the browser lacks).
 * @module
 */
import type { Arch } from "../../core/nn/arch.ts";

/** The `/api/model` answer. */
export interface PlayModel {
  /** Run name. */
  run: string;
  /** Checkpoint folder name. */
  checkpoint: string;
  /** Training step of the checkpoint, when known. */
  step: number | null;
  /** URL path of `model.safetensors` (served by the file route). */
  weights: string;
  /** Bytes of `model.safetensors`. */
  bytes: number;
  /** The resolved architecture. */
  arch: Arch;
  /** Operands written least-significant digit first. */
  reverseOperands: boolean;
  /** Answer written least-significant digit first. */
  reverseAnswer: boolean;
  /** The training data's operation, when known. */
  op: string | null;
}

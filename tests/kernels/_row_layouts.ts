/**
 * Runs row-kernel tests under every row layout (one invocation per row, workgroups of 8, 64
 * and 256), whatever the adapter would pick, through the `rows` tuning override.
 * @module
 */
import type { Device } from "../../core/device.ts";

/** The forced layouts (`undefined`: the adapter's own choice). */
export const LAYOUTS: (string | undefined)[] = [undefined, "row", "wg8", "wg64", "wg256"];

/** Shapes `[rows, n]` small enough to run under every layout. */
export const LAYOUT_SHAPES: [number, number][] = [[1, 1], [3, 37], [2, 300], [1, 9001]];

/** Runs `fn` with the layout forced, restoring the adapter's choice afterwards. */
export async function withLayout(
  dev: Device,
  layout: string | undefined,
  fn: () => Promise<void>,
): Promise<void> {
  if (layout) dev.tuning.set("rows", layout);
  try {
    await fn();
  } finally {
    dev.tuning.delete("rows");
  }
}

/** The test shapes for a layout: all of `shapes` for the default, `LAYOUT_SHAPES` otherwise. */
export function shapesFor(
  layout: string | undefined,
  shapes: [number, number][],
): [number, number][] {
  return layout ? LAYOUT_SHAPES : shapes;
}

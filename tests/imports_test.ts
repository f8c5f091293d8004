// The product's modules form a DAG: no import cycle among the repository's files reachable from
// mod.ts or any task entry point (tasks/*.ts), type-only imports and dynamic imports included, as
// `deno info --json` lists them. Layering: backend -> tensor -> autograd -> ops -> nn -> tasks.
// And the naming rule: a file whose name starts with `_` is a part of the modules of its own
// folder, imported only from that folder (and from tests).

import { deepEqual } from "node:assert/strict";

const root = new URL("../", import.meta.url);

/** One module's dependencies as `deno info --json` reports them. */
interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier?: string }; type?: { specifier?: string } }[];
}

/** The repository's modules reachable from `entry`, each with its repository dependencies. */
async function graphOf(entry: string): Promise<Map<string, string[]>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`deno info ${entry}: ${new TextDecoder().decode(out.stderr)}`);
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: InfoModule[] };
  const mine = (s: string | undefined): s is string => !!s && s.startsWith(root.href);
  const graph = new Map<string, string[]>();
  for (const m of info.modules) {
    if (!mine(m.specifier)) continue;
    const deps = (m.dependencies ?? []).flatMap((d) => [d.code?.specifier, d.type?.specifier]);
    graph.set(m.specifier, [...new Set(deps.filter(mine))]);
  }
  return graph;
}

/** Strongly connected components with more than one module, or one importing itself (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], onStack = new Set<string>(), found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w.slice(root.href.length));
    } while (w !== v);
    if (component.length > 1 || graph.get(v)?.includes(v)) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** The union of the graphs of mod.ts and every task entry point. */
async function productGraph(): Promise<Map<string, string[]>> {
  const entries = ["mod.ts"];
  for await (const e of Deno.readDir(new URL("tasks/", root))) {
    if (e.isFile && e.name.endsWith(".ts")) entries.push(`tasks/${e.name}`);
  }
  const graph = new Map<string, string[]>();
  for (const entry of entries.sort()) {
    for (const [m, deps] of await graphOf(entry)) graph.set(m, deps);
  }
  return graph;
}

Deno.test("no import cycles among the modules of mod.ts and every task entry point", async () => {
  const graph = await productGraph();
  const found = cycles(graph).map((c) => c.join(", ")).sort();
  deepEqual(found, [], `modules in import cycles:\n${found.join("\n")}`);
});

Deno.test("a private module (leading _) is imported only from its own folder", async () => {
  const folder = (s: string) => s.slice(0, s.lastIndexOf("/"));
  const bad: string[] = [];
  for (const [m, deps] of await productGraph()) {
    for (const d of deps) {
      const name = d.slice(d.lastIndexOf("/") + 1);
      if (name.startsWith("_") && folder(d) !== folder(m)) {
        bad.push(`${m.slice(root.href.length)} imports ${d.slice(root.href.length)}`);
      }
    }
  }
  deepEqual(bad, []);
});

/** Reads samples out of a Prometheus text exposition (what `/metrics` serves), labels in any order. */

/** One sample line: its labels and value. */
export interface Sample {
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** Parses `a="x",b="y"` (values as prom-client escapes them: `\\`, `\"`, `\n`). */
export function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
    out[m[1] as string] = (m[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return out;
}

/** Every sample of metric `name` (exactly that name, e.g. `warden_requests_total`). */
export function samples(text: string, name: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    out.push({ labels: parseLabels(m[2] ?? ''), value: Number(m[3]) });
  }
  return out;
}

/** The value of the one sample of `name` whose labels are exactly `labels`, or undefined. */
export function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels);
  const hit = samples(text, name).find(
    (s) => Object.keys(s.labels).length === want.length && want.every(([k, v]) => s.labels[k] === v),
  );
  return hit?.value;
}

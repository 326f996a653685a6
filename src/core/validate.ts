import type { z } from 'zod';
import { WardenError } from './errors.js';

/** One validation problem: where (a dotted path) and which rule it broke. */
export interface ValidationIssue {
  path: string;
  message: string;
}

/** Turns zod issues into `path: rule` pairs; the root is written `(root)`. */
export function describeIssues(error: z.ZodError): ValidationIssue[] {
  return error.issues.map((issue) => ({
    path: issue.path.length === 0 ? '(root)' : issue.path.map(String).join('.'),
    message: issue.message,
  }));
}

/**
 * Parses `value` with `schema` at an edge of the library (options, specs, config).
 * On failure throws `WARDEN_INVALID_OPTIONS` whose message names every field and the rule broken.
 */
export function parseOptions<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = describeIssues(result.error);
  const list = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  throw new WardenError('WARDEN_INVALID_OPTIONS', `Invalid ${what}: ${list}`, {
    cause: result.error,
    details: { issues },
  });
}

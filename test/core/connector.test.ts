import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type Connector, defineConnector } from '../../src/core/connector.js';
import { isWardenError, WardenError } from '../../src/core/errors.js';

// defineConnector: options validated by the connector's zod schema before `create` runs.

const PlcOptions = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65_535).default(502),
    tls: z.object({ ca: z.string(), rejectUnauthorized: z.boolean().default(true) }).optional(),
    unitIds: z.array(z.number().int().nonnegative()).default([]),
  })
  .strict()
  .refine((o) => o.tls === undefined || o.port !== 502, {
    message: 'TLS needs a port other than 502',
    path: ['port'],
  });

function plcFactory() {
  const created: unknown[] = [];
  const plc = defineConnector({
    name: 'plc',
    options: PlcOptions,
    create: (options): Connector<string> => {
      created.push(options);
      return {
        connect: () => Promise.reject(new Error('not in this test')),
        classifyError: () => 'retryable',
      };
    },
  });
  return { plc, created };
}

function errorOf(fn: () => unknown): WardenError {
  try {
    fn();
  } catch (err) {
    if (err instanceof WardenError) return err;
    throw err;
  }
  throw new Error('expected a WardenError');
}

/** `path: rule` for every issue zod itself finds: what the message must name. */
function zodIssues(value: unknown): string[] {
  const result = PlcOptions.safeParse(value);
  if (result.success) throw new Error('expected the value to be invalid');
  return result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
}

describe('defineConnector', () => {
  it('exposes its name and schema, and gives create() the parsed options with defaults', () => {
    const { plc, created } = plcFactory();
    expect(plc.name).toBe('plc');
    expect(plc.options).toBe(PlcOptions);
    const connector = plc.create({ host: '10.0.0.5' });
    expect(typeof connector.connect).toBe('function');
    expect(created).toEqual([{ host: '10.0.0.5', port: 502, unitIds: [] }]);
  });

  it.each<[string, unknown, string[]]>([
    ['a value of the wrong type', { host: 42 }, ['host']],
    ['a number out of range', { host: 'plc', port: 70_000 }, ['port']],
    ['a number that is not an integer', { host: 'plc', port: 50.5 }, ['port']],
    ['a nested field', { host: 'plc', port: 5020, tls: { ca: 7 } }, ['tls.ca']],
    ['an array element', { host: 'plc', unitIds: [1, -2] }, ['unitIds.1']],
    ['a refinement across fields', { host: 'plc', tls: { ca: 'pem' } }, ['port']],
    ['several fields at once', { host: '', port: 0 }, ['host', 'port']],
  ])(
    '%s: WARDEN_INVALID_OPTIONS naming the connector, each field and the rule broken',
    (_case, options, paths) => {
      const { plc, created } = plcFactory();
      const err = errorOf(() => plc.create(options as z.input<typeof PlcOptions>));
      expect(isWardenError(err, 'WARDEN_INVALID_OPTIONS')).toBe(true);
      expect(err.name).toBe('WardenError');
      const issues = zodIssues(options);
      expect(issues.map((i) => i.slice(0, i.indexOf(':')))).toEqual(paths);
      // The message is the connector, then every field with the rule zod says it broke.
      expect(err.message).toBe(`Invalid options of connector 'plc': ${issues.join('; ')}`);
      expect(err.details?.issues).toEqual(
        issues.map((i) => ({ path: i.slice(0, i.indexOf(':')), message: i.slice(i.indexOf(':') + 2) })),
      );
      expect(err.cause).toBeInstanceOf(z.ZodError);
      // No connector is made from invalid options.
      expect(created).toEqual([]);
    },
  );

  it('words the rules so a person can fix the options', () => {
    const { plc } = plcFactory();
    expect(errorOf(() => plc.create({ host: 'plc', port: 70_000 })).message).toMatch(/port: .*65535/);
    expect(errorOf(() => plc.create({ host: 'plc', tls: { ca: 'pem' } })).message).toContain(
      'port: TLS needs a port other than 502',
    );
  });

  it('names an unknown key, and the root when the options are not an object', () => {
    const { plc } = plcFactory();
    const unknownKey = errorOf(() => plc.create({ host: 'plc', hots: 'typo' } as z.input<typeof PlcOptions>));
    expect(unknownKey.code).toBe('WARDEN_INVALID_OPTIONS');
    expect(unknownKey.message).toContain('"hots"');
    const notAnObject = errorOf(() => plc.create('plc:502' as unknown as z.input<typeof PlcOptions>));
    expect(notAnObject.message).toMatch(/^Invalid options of connector 'plc': \(root\): /);
  });
});

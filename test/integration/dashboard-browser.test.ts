/**
 * The dashboard in a real browser: Debian's chromium driven by playwright-core. The demo runs in
 * this process with a real nats-server; the page must load nothing from outside 127.0.0.1, show
 * every child, and show a forced failure (state and report) within 2 s. It leaves a screenshot in
 * test-results/dashboard.png.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSupervisor, type Supervisor } from '../../src/actors/supervisor.js';
import { type Demo, startDemo } from '../../src/cli/demo.js';
import type { Connector, Session } from '../../src/core/connector.js';
import { createDashboard, type Dashboard } from '../../src/inspect/dashboard.js';
import { NATS_SESSION_ID } from '../../src/transports/nats/index.js';
import { type NatsServerHandle, startNatsServer } from '../helpers/nats-server.js';

/** The little of the DOM the page functions below use (the project compiles without the DOM lib). */
interface Element {
  readonly textContent: string | null;
  readonly classList: { contains(name: string): boolean };
}
declare const document: {
  querySelector(selector: string): Element | null;
  querySelectorAll(selector: string): { readonly length: number };
};

const CHROMIUM = '/usr/bin/chromium';
const ROOT = join(import.meta.dirname, '..', '..');
const SCREENSHOT = join(ROOT, 'test-results', 'dashboard.png');
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

let context: BrowserContext;
let profile: string;
const requests: string[] = [];
const problems: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: the dashboard's browser test drives Debian's chromium. Install it with: apt-get install -y chromium (.ci/run does this on a fresh machine)`,
    );
  }
  profile = mkdtempSync(join(tmpdir(), 'warden-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1440, height: 1000 },
  });
  // Every request of every page and worker of this browser, whatever starts it.
  context.on('request', (r) => requests.push(r.url()));
}, 60_000);

afterAll(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

async function openPage(url: string): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
  });
  await page.goto(url);
  return page;
}

const stateOf = (page: Page, key: string): Promise<string | null> =>
  page.locator(`[data-key="${key}"] .state`).textContent();

describe('dashboard in chromium', () => {
  let nats: NatsServerHandle;
  let demo: Demo;

  beforeAll(async () => {
    nats = await startNatsServer();
    // The PLC stays up until the test injects a fault, so what the page shows is what the test did.
    demo = await startDemo({ natsUrl: nats.url, plcUpMs: 0 });
  }, 30_000);
  afterAll(async () => {
    await demo?.stop();
    await nats?.stop();
  });

  it('shows the demo from 127.0.0.1 only, every child, and a forced failure within 2 s', async () => {
    const sup = demo.supervisor;
    await Promise.all([
      sup.waitFor('plc', 'ready', { timeoutMs: 10_000 }),
      sup.waitFor('tcp-ticks', 'ready', { timeoutMs: 10_000 }),
      sup.waitFor('h2-ticks', 'ready', { timeoutMs: 10_000 }),
      demo.natsServer.supervisor.waitFor(NATS_SESSION_ID, 'ready', { timeoutMs: 10_000 }),
    ]);
    const page = await openPage(demo.dashboardUrl);
    const nat = `${demo.natsServer.supervisor.id}/${NATS_SESSION_ID}`;
    for (const key of ['demo/plc', 'demo/tcp-ticks', 'demo/h2-ticks', nat]) {
      await page.locator(`[data-key="${key}"] .state`).waitFor({ timeout: 5000 });
      expect(await stateOf(page, key), key).toBe('ready');
    }
    await expect(page.locator('#conn-text').textContent()).resolves.toBe('live');
    // The transport servers with their endpoints and in-flight streams.
    await page.waitForFunction(() => document.querySelectorAll('[data-server]').length === 3);
    expect(await page.locator('[data-server="tcp#1"] .server-head').textContent()).toContain('1 in flight');
    expect(await page.locator('[data-server="tcp#1"] table').textContent()).toContain('demo/clock/ticks');

    // Select the PLC: its session machine is drawn with `ready` as the current state.
    await page.click('[data-key="demo/plc"] .name');
    await page.waitForSelector('#detail svg.machine g.node.current[data-state="ready"]');

    expect(
      demo.fail('plc', 'read ECONNRESET: the PLC reset the connection (forced by the browser test)'),
    ).toBe(true);
    await page.waitForFunction(
      () => {
        const state = document.querySelector('[data-key="demo/plc"] .state')?.textContent;
        const failure = document.querySelector('[data-failure="demo/plc"]')?.textContent ?? '';
        return (
          state !== 'ready' &&
          failure.includes('forced by the browser test') &&
          failure.includes('ECONNRESET')
        );
      },
      undefined,
      { timeout: 2000, polling: 50 }, // the bound: within 2 s of the failure
    );
    const state = (await stateOf(page, 'demo/plc')) as string;
    expect(['reconnecting', 'connecting', 'initializing']).toContain(state);
    // The detail panel follows: its diagram highlights the new state, the report says why.
    await page.waitForSelector(`#detail svg.machine g.node.current[data-state="${state}"]`, {
      timeout: 2000,
    });
    expect(await page.locator('#detail .report').first().textContent()).toContain(
      'forced by the browser test',
    );
    expect(await page.locator('#timeline').textContent()).toContain('forced by the browser test');

    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);

    expect(requests.length).toBeGreaterThan(0);
    for (const url of requests) expect(new URL(url).hostname, url).toBe('127.0.0.1');
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);
});

/**
 * Sessions that connect at once the first time; later connects wait until the gate opens, so a
 * reconnect burst keeps every session visibly out of `ready` until the test lets them back.
 */
class Gate {
  private opened = true;
  private waiting: Array<() => void> = [];
  close(): void {
    this.opened = false;
  }
  open(): void {
    this.opened = true;
    for (const go of this.waiting.splice(0)) go();
  }
  readonly connector: Connector<null> = {
    connect: (ctx) =>
      new Promise((resolve, reject) => {
        const session: Session<null> = {
          handle: null,
          init: async () => {},
          run: (c) =>
            new Promise<never>((_, stop) =>
              c.signal.addEventListener('abort', () => stop(c.signal.reason), { once: true }),
            ),
        };
        if (this.opened) return resolve(session);
        this.waiting.push(() => resolve(session));
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
      }),
    classifyError: () => 'retryable',
  };
}

describe('dashboard in chromium with 1,000 sessions', () => {
  let sup: Supervisor;
  let dashboard: Dashboard;
  const gate = new Gate();

  beforeAll(async () => {
    sup = createSupervisor({
      id: 'fleet',
      children: Array.from({ length: 1000 }, (_, i) => ({
        id: `pump-${String(i).padStart(4, '0')}`,
        connector: gate.connector,
        retry: { initialIntervalMs: 200, randomizationFactor: 0 },
      })),
    }).start();
    await sup.waitFor('pump-0999', 'ready', { timeoutMs: 20_000 });
    dashboard = await createDashboard({ supervisors: [sup] });
  }, 30_000);
  afterAll(async () => {
    gate.open();
    await dashboard?.close();
    await sup?.stop({ timeoutMs: 20_000 });
  });

  it('shows them in collapsed groups, filters by state and name, and keeps up with a burst', async () => {
    const page = await openPage(dashboard.url);
    await page.waitForFunction(
      () => document.querySelector('[data-chip=""] b')?.textContent === '1000',
      undefined,
      {
        timeout: 5000,
      },
    );
    // Groups of 50, collapsed: no 1,000 rows in the document.
    expect(await page.locator('[data-group]').count()).toBe(20);
    expect(await page.locator('.row').count()).toBeLessThan(60);
    await page.fill('#search', 'pump-0999');
    await page.waitForFunction(() => document.querySelectorAll('.row[data-key]').length === 1);
    expect(await stateOf(page, 'fleet/pump-0999')).toBe('ready');
    await page.fill('#search', '');

    // A burst: every session reconnects at once and cannot connect until the gate opens. The page
    // must show all 1,000 leaving ready (only live updates can take the count to 0)...
    gate.close();
    for (let i = 0; i < 1000; i++) sup.reconnect(`pump-${String(i).padStart(4, '0')}`, 'burst');
    await page.waitForFunction(
      () => document.querySelector('[data-chip="ready"] b')?.textContent === '0',
      undefined,
      { timeout: 10_000 },
    );
    // The timeline got the transitions as they happened.
    expect(await page.locator('#timeline').textContent()).toMatch(/pump-0999\s*ready\s*→\s*connecting/);
    // ...and all of them coming back once they can connect again.
    gate.open();
    await page.waitForFunction(
      () => document.querySelector('[data-chip="ready"] b')?.textContent === '1000',
      undefined,
      { timeout: 10_000 },
    );
    // Still responsive: a state filter applies at once.
    await page.click('[data-chip="ready"]');
    await page.waitForFunction(
      () => document.querySelector('[data-chip="ready"]')?.classList.contains('on'),
      undefined,
      {
        timeout: 1000,
      },
    );
    // Opening a group renders its 50 rows on the next animation frame.
    await page.click('[data-group="fleet#0"]');
    await page.waitForFunction(() => document.querySelectorAll('.row[data-key]').length === 50, undefined, {
      timeout: 2000,
    });
    for (const url of requests) expect(new URL(url).hostname, url).toBe('127.0.0.1');
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);
});

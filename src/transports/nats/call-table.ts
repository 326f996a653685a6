/**
 * The calls a client has in flight, found by the last token of a response's subject.
 *
 * A call's token is `{slot}_{id}` in base 36: `slot` indexes an array whose free slots are reused,
 * `id` counts calls, so a late response of an ended call never reaches a new call in its slot.
 * A `Map` with an entry added and deleted per call cost more than the call itself: its tables are
 * re-made as entries churn and keep calls alive past scavenges (measured: ~4 µs of GC per call).
 */

/** What the table needs of a call. */
export interface TableEntry {
  /** Unique per client (a counter). */
  readonly id: number;
  /** Its slot, set by {@link CallTable.add}; -1 while not in the table. */
  slot: number;
}

const UNDERSCORE = 0x5f;

export class CallTable<T extends TableEntry> {
  private readonly slots: (T | undefined)[] = [];
  private readonly free: number[] = [];
  /** Calls in the table. */
  size = 0;

  /** Adds `entry` and returns its token. */
  add(entry: T): string {
    const slot = this.free.pop() ?? this.slots.length;
    this.slots[slot] = entry;
    entry.slot = slot;
    this.size++;
    return `${slot.toString(36)}_${entry.id.toString(36)}`;
  }

  /** True while `entry` is in the table. */
  has(entry: T): boolean {
    return entry.slot >= 0 && this.slots[entry.slot] === entry;
  }

  /** Removes `entry`; false when it was not in the table. */
  delete(entry: T): boolean {
    if (!this.has(entry)) return false;
    this.slots[entry.slot] = undefined;
    this.free.push(entry.slot);
    entry.slot = -1;
    this.size--;
    return true;
  }

  /** The entry whose token is `bytes[from…]` (ASCII), or undefined. No string is made. */
  findBytes(bytes: Uint8Array, from: number): T | undefined {
    let slot = 0;
    let at = from;
    for (; at < bytes.length; at++) {
      const d = digit(bytes[at] as number);
      if (d < 0) break;
      slot = slot * 36 + d;
    }
    if (at === from || bytes[at] !== UNDERSCORE || at + 1 >= bytes.length) return undefined;
    let id = 0;
    for (at++; at < bytes.length; at++) {
      const d = digit(bytes[at] as number);
      if (d < 0) return undefined;
      id = id * 36 + d;
    }
    const entry = this.slots[slot];
    return entry !== undefined && entry.id === id ? entry : undefined;
  }

  /** The entry whose token is `token`, or undefined. */
  find(token: string): T | undefined {
    const cut = token.indexOf('_');
    if (cut <= 0) return undefined;
    const slot = Number.parseInt(token.slice(0, cut), 36);
    const id = Number.parseInt(token.slice(cut + 1), 36);
    const entry = Number.isNaN(slot) ? undefined : this.slots[slot];
    return entry !== undefined && entry.id === id ? entry : undefined;
  }

  /** Every entry now in the table (a copy). */
  values(): T[] {
    const out: T[] = [];
    for (const e of this.slots) if (e !== undefined) out.push(e);
    return out;
  }

  /** Removes every entry. */
  clear(): void {
    for (const e of this.slots) if (e !== undefined) e.slot = -1;
    this.slots.length = 0;
    this.free.length = 0;
    this.size = 0;
  }
}

/** A base-36 digit's value, or -1. */
function digit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x7a) return c - 0x61 + 10;
  return -1;
}

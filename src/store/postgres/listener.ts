import pg from 'pg';
import type { EventBus, EventTopic, ModuleEvents } from '../../events.js';
import type { Logger } from '../../logger.js';
import { EVENTS_CHANNEL } from './writer.js';

export interface ListenerOptions {
  url: string;
  pool: pg.Pool;
  bus: EventBus;
  logger: Logger;
  /** This node's id in wess_events.node: its own events were announced already, by its writer. */
  node: string;
  /** Told when the connection is lost (with why) and when it is back (undefined). */
  onReachable(problem: string | undefined): void;
  /** Told of every other node's module created (+1) or deleted (-1), for the modules gauge. */
  onModuleDelta(delta: number): void;
}

/**
 * A notification is only a hint; the catch-up read is what delivers. This often, the listener also
 * reads without one, so a notification lost with a connection costs at most this long.
 */
const POLL_MS = 1_000;
/** Events kept in wess_events: replay for streams and catch-up for nodes that were away. */
const KEEP_EVENTS = 100_000;
const TRIM_EVERY_MS = 60_000;
const MAX_BACKOFF_MS = 5_000;
/** Rows read per catch-up query. */
const PAGE = 1_000;

interface EventRow {
  seq: string;
  topic: EventTopic;
  tenant_seq: string | null;
  payload: ModuleEvents[EventTopic];
  node: string;
  at: Date;
}

/**
 * Hears every other node's changes: LISTEN on one connection of its own (a pooled one would be
 * handed to others), and on each notification (or each POLL_MS) reads wess_events past the last seq
 * it delivered and emits them on this node's bus, in seq order, with the seq they were given. The
 * reader's caches, the keyring and /events streams then follow other nodes as they follow this one.
 * Reading by seq, not trusting notification payloads, makes a lost or merged notification harmless.
 */
export class EventListener {
  readonly #options: ListenerOptions;
  #client: pg.Client | undefined;
  #last = 0;
  #closed = false;
  #reading: Promise<void> | undefined;
  #again = false;
  #poll: NodeJS.Timeout | undefined;
  #trim: NodeJS.Timeout | undefined;
  #backoff = 100;

  private constructor(options: ListenerOptions) {
    this.#options = options;
  }

  /** Starts at the newest event: what happened before this node started is in the store already. */
  static async start(options: ListenerOptions): Promise<EventListener> {
    const listener = new EventListener(options);
    const res = await options.pool.query<{ value: string }>("SELECT value FROM wess_counters WHERE name = 'events'");
    listener.#last = Number(res.rows[0]?.value ?? 0);
    await listener.#connect();
    listener.#poll = setInterval(() => listener.#catchUp(), POLL_MS).unref();
    listener.#trim = setInterval(() => void listener.#trimLog(), TRIM_EVERY_MS).unref();
    return listener;
  }

  /** The last seq delivered (for tests and health). */
  get last(): number {
    return this.#last;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#poll);
    clearInterval(this.#trim);
    await this.#reading;
    await this.#client?.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.#options.url, application_name: 'wess-listener', connectionTimeoutMillis: 5_000 });
    client.on('notification', () => this.#catchUp());
    const lost = (err?: Error) => {
      if (this.#client !== client) return;
      this.#client = undefined;
      client.removeAllListeners('notification');
      if (this.#closed) return;
      this.#options.onReachable(`the connection to PostgreSQL was lost${err ? ` (${err.message})` : ''}`);
      this.#reconnectSoon();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    await client.connect();
    await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    this.#client = client;
    this.#backoff = 100;
    this.#options.onReachable(undefined);
    // Whatever was committed while this connection was away.
    this.#catchUp();
  }

  #reconnectSoon(): void {
    const wait = this.#backoff;
    this.#backoff = Math.min(MAX_BACKOFF_MS, this.#backoff * 2);
    setTimeout(() => {
      if (this.#closed) return;
      this.#connect().catch((err: Error) => {
        this.#options.onReachable(`PostgreSQL is unreachable (${err.message})`);
        this.#reconnectSoon();
      });
    }, wait).unref();
  }

  /** Reads and delivers what is new; one read at a time, and one more if asked meanwhile. */
  #catchUp(): void {
    if (this.#closed) return;
    if (this.#reading) {
      this.#again = true;
      return;
    }
    this.#reading = this.#read()
      .catch((err: unknown) => this.#options.logger.debug({ err }, 'event log catch-up failed; the next one retries'))
      .finally(() => {
        this.#reading = undefined;
        if (this.#again) {
          this.#again = false;
          this.#catchUp();
        }
      });
  }

  async #read(): Promise<void> {
    for (;;) {
      const res = await this.#options.pool.query<EventRow>(
        'SELECT seq, topic, tenant_seq, payload, node, at FROM wess_events WHERE seq > $1 ORDER BY seq LIMIT $2',
        [this.#last, PAGE],
      );
      for (const row of res.rows) this.#deliver(row);
      if (res.rows.length < PAGE) return;
    }
  }

  #deliver(row: EventRow): void {
    const seq = Number(row.seq);
    this.#last = Math.max(this.#last, seq);
    if (row.node === this.#options.node) return;
    const origin = row.tenant_seq === null ? { seq } : { seq, tenantSeq: Number(row.tenant_seq) };
    try {
      this.#options.bus.emit(row.topic, row.payload as never, origin, row.at.toISOString());
    } catch (err) {
      this.#options.logger.error({ err, seq }, 'an event listener threw on another node\'s event');
    }
    if (row.topic === 'module.created') this.#options.onModuleDelta(1);
    if (row.topic === 'module.deleted') this.#options.onModuleDelta(-1);
  }

  async #trimLog(): Promise<void> {
    await this.#options.pool
      .query("DELETE FROM wess_events WHERE seq <= (SELECT value FROM wess_counters WHERE name = 'events') - $1", [KEEP_EVENTS])
      .catch((err: unknown) => this.#options.logger.debug({ err }, 'event log trim failed; the next one retries'));
  }
}

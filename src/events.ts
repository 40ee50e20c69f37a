import { EventEmitter } from 'node:events';

/** What the writer announces once a change is durable. */
export interface ModuleEvents {
  'module.created': { id: string; sha256: string; version: number };
  'module.updated': { id: string; sha256: string; version: number; previous_sha256: string };
  'module.deleted': { id: string; sha256: string };
}

export type EventTopic = keyof ModuleEvents;

/** A typed in-process event bus: listeners are called synchronously, in subscription order. */
export class EventBus {
  readonly #emitter = new EventEmitter();

  constructor() {
    this.#emitter.setMaxListeners(100);
  }

  on<T extends EventTopic>(topic: T, listener: (event: ModuleEvents[T]) => void): () => void {
    this.#emitter.on(topic, listener);
    return () => this.#emitter.off(topic, listener);
  }

  emit<T extends EventTopic>(topic: T, event: ModuleEvents[T]): void {
    this.#emitter.emit(topic, event);
  }
}

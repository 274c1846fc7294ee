/** What the emulator "delivered": tests and developers read codes here instead of a phone. */
export interface OutboxMessage {
  to: string;
  channel: string;
  code: string;
  body: string;
  created_at: string;
}

export class Outbox {
  #messages: OutboxMessage[] = [];

  append(message: OutboxMessage): void {
    this.#messages.push(message);
  }

  /** Oldest first, so the code to use is the last one. */
  list(to?: string): OutboxMessage[] {
    return to === undefined ? [...this.#messages] : this.#messages.filter((m) => m.to === to);
  }

  clear(): void {
    this.#messages = [];
  }
}

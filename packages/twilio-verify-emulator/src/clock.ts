/** The emulator's notion of now: the injected clock plus however far tests have advanced it. */
export class EmulatorClock {
  readonly #base: () => number;
  #offsetMs = 0;

  constructor(base: () => number) {
    this.#base = base;
  }

  now(): number {
    return this.#base() + this.#offsetMs;
  }

  advance(seconds: number): number {
    this.#offsetMs += seconds * 1000;
    return this.now();
  }
}

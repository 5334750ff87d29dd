// LiveIndex: the one RecordIndex the DNS server answers from, replaced as a whole when a complete new one
// has been built (first load, reload after compaction). Readers take `current` per question; until the
// first complete load `loaded` is false and nothing may be answered from the (empty) index.
import { RecordIndex, type RecordIndexOptions } from "./index.ts";

export class LiveIndex {
  private readonly options: RecordIndexOptions;
  private index: RecordIndex;
  private complete: boolean;
  /** Added to the current index's generation so that the generation never repeats across swaps. */
  private offset = 0;

  constructor(options: RecordIndexOptions) {
    this.options = options;
    this.index = new RecordIndex(options);
    this.complete = false;
  }

  /** A LiveIndex over an index that is complete already (tests, tools that build their own). */
  static of(index: RecordIndex): LiveIndex {
    const live = new LiveIndex({ prefix: index.prefix, defaultTtl: index.defaultTtl });
    live.swap(index);
    return live;
  }

  get current(): RecordIndex {
    return this.index;
  }

  /** True once a complete load has been swapped in; stays true (later reloads keep the previous one meanwhile). */
  get loaded(): boolean {
    return this.complete;
  }

  /** Moves on every change to what is served, including a swap: cached answers keyed on it stay valid until then. */
  get generation(): number {
    return this.offset + this.index.generation;
  }

  /** An empty index with the same settings, to be filled off to the side and then swapped in. */
  create(): RecordIndex {
    return new RecordIndex(this.options);
  }

  /** Serves `next` from now on; the previous index is dropped. */
  swap(next: RecordIndex): void {
    const generation = this.generation + 1;
    this.index = next;
    this.offset = generation - next.generation;
    this.complete = true;
  }
}

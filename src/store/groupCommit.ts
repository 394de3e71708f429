// Group commit: items that arrive while a commit is under way share the next one, so concurrent writers pay for
// one synchronous flush of the database instead of one each. If a group fails, its items are committed one by
// one, so that one bad item fails alone.
interface Pending<Item, Result> {
  item: Item;
  resolve(result: Result): void;
  reject(error: unknown): void;
}

const MAX_GROUP = 256;

export class GroupCommitQueue<Item, Result> {
  private pending: Pending<Item, Result>[] = [];
  private draining = false;

  /** `commit` writes the items in one transaction and returns one result per item, in order. */
  constructor(private readonly commit: (items: Item[]) => Promise<Result[]>) {}

  add(item: Item): Promise<Result> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    // Items queued in the same turn of the event loop join the first group.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.pending.length > 0) {
      const group = this.pending.splice(0, MAX_GROUP);
      try {
        const results = await this.commit(group.map((entry) => entry.item));
        group.forEach((entry, i) => entry.resolve(results[i]!));
      } catch {
        for (const entry of group) {
          await this.commit([entry.item]).then(([result]) => entry.resolve(result!), entry.reject);
        }
      }
    }
    this.draining = false;
  }
}

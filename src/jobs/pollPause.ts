// The wait between two polls of a durable queue (the job queue, the delivery outbox), which a poke ends early.

export class PollPause {
  private wake: (() => void) | undefined;

  /** Resolves after ms, or at once when end() is called meanwhile. */
  wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.finish(resolve), ms);
      this.wake = () => {
        clearTimeout(timer);
        this.finish(resolve);
      };
    });
  }

  /** Ends the wait in progress, if any. */
  end(): void {
    this.wake?.();
  }

  private finish(resolve: () => void): void {
    this.wake = undefined;
    resolve();
  }
}

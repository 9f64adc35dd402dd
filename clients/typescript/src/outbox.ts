/**
 * An outbox is the request side of a worker stream: an async iterable that
 * yields what was pushed, in order, until it is closed. Pushing never
 * blocks; HTTP/2 flow control applies as the transport writes. It has one
 * reader: the iterator, or take() and ready() for a reader that groups
 * what is queued (the worker's results).
 */
export class Outbox<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private wake: (() => void) | undefined;
  private closed = false;

  /** Queues item; false once the outbox is closed. */
  push(item: T): boolean {
    if (this.closed) {
      return false;
    }
    this.items.push(item);
    this.wakeUp();
    return true;
  }

  /** Ends the iteration once what is queued has been yielded. */
  close(): void {
    this.closed = true;
    this.wakeUp();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The next queued item, taken without waiting; undefined when none is queued. */
  take(): T | undefined {
    return this.items.shift();
  }

  /**
   * Resolves true once an item is queued or the outbox is closed, or false
   * when timeoutMs passes first (without it, it waits as long as it takes).
   */
  ready(timeoutMs?: number): Promise<boolean> {
    if (this.items.length > 0 || this.closed) {
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.wake = wake;
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          if (this.wake === wake) {
            this.wake = undefined;
          }
          resolve(false);
        }, timeoutMs);
      }
    });
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      while (this.items.length > 0) {
        yield this.items.shift()!;
      }
      if (this.closed) {
        return;
      }
      await this.ready();
    }
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

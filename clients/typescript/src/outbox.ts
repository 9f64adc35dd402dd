/**
 * An outbox is the request side of a worker stream: an async iterable that
 * yields what was pushed, in order, until it is closed. Pushing never
 * blocks; HTTP/2 flow control applies as the transport writes.
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

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      while (this.items.length > 0) {
        yield this.items.shift()!;
      }
      if (this.closed) {
        return;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/**
 * A small least-recently-used map of finished results. Results hold attention cubes
 * ([layer, head, query, key] floats, a few MB each for GPT-2 small), so only the newest few stay.
 * Pure: no vscode import.
 */
export class ResultCache<V> {
  private readonly entries = new Map<string, V>();

  constructor(private readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError('ResultCache capacity must be at least 1.');
  }

  get(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      // Refresh recency: Map iteration order is insertion order.
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  /** Looks without refreshing recency (for rendering CodeLens, which must not reorder). */
  peek(key: string): V | undefined {
    return this.entries.get(key);
  }

  set(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  delete(key: string): boolean {
    return this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  values(): V[] {
    return [...this.entries.values()];
  }
}

/** Counting V8's major collections of this thread while the benchmark runs something. */
import { PerformanceObserver, constants } from 'node:perf_hooks';

/** Runs `fn` and counts the major (mark-compact) collections of this thread's heap meanwhile. */
export async function countMajorCollections<T>(fn: () => Promise<T>): Promise<{ result: T; majors: number }> {
  let majors = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      // Node's 'gc' entries carry the collection's kind in `detail`, which the DOM-shaped typing lacks.
      const detail = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail;
      if (detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  try {
    const result = await fn();
    // Entries reach the observer on a later turn of the event loop: let the last ones arrive.
    await new Promise((resolve) => setTimeout(resolve, 20));
    return { result, majors };
  } finally {
    observer.disconnect();
  }
}

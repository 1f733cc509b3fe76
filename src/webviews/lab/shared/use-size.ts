/**
 * The size of an element (its content box), following resizes. Attach the returned callback as
 * the element's ref. Sizes come only from ResizeObserver notifications, which the browser
 * delivers after layout and before paint: no forced synchronous layout per view, and the first
 * drawing still lands in the first painted frame.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

export interface Size {
  width: number;
  height: number;
}

export function useSize<T extends HTMLElement>(): [Size, (element: T | null) => void, T | null] {
  const [size, setSize] = useState<Size>({ width: 0, height: 0 });
  const held = useRef<{ element: T | null; observer: ResizeObserver | null }>({ element: null, observer: null });
  const ref = useCallback((element: T | null) => {
    const h = held.current;
    if (h.element === element) return;
    h.observer?.disconnect();
    h.observer = null;
    h.element = element;
    if (!element) return;
    h.observer = new ResizeObserver((entries) => {
      const rect = entries[entries.length - 1]?.contentRect;
      if (!rect) return;
      const width = Math.round(rect.width);
      const height = Math.round(rect.height);
      setSize((old) => (old.width === width && old.height === height ? old : { width, height }));
    });
    h.observer.observe(element);
  }, []);
  useEffect(() => () => held.current.observer?.disconnect(), []);
  return [size, ref, held.current.element];
}

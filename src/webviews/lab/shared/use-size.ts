/** The size of an element, following resizes (ResizeObserver); attach the returned callback as its ref. */
import { useCallback, useLayoutEffect, useState } from 'preact/hooks';

export interface Size {
  width: number;
  height: number;
}

export function useSize<T extends HTMLElement>(): [Size, (element: T | null) => void, T | null] {
  const [element, setElement] = useState<T | null>(null);
  const [size, setSize] = useState<Size>({ width: 0, height: 0 });
  useLayoutEffect(() => {
    if (!element) return;
    const update = () => {
      const width = Math.round(element.clientWidth);
      const height = Math.round(element.clientHeight);
      setSize((old) => (old.width === width && old.height === height ? old : { width, height }));
    };
    update();
    const observer = new ResizeObserver(update);
    observer.observe(element);
    return () => observer.disconnect();
  }, [element]);
  const ref = useCallback((e: T | null) => setElement(e), []);
  return [size, ref, element];
}

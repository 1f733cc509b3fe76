/** A tooltip placed next to the pointer (or a keyboard cursor), kept inside its container. */
import type { ComponentChildren } from 'preact';

export interface TooltipAnchor {
  x: number;
  y: number;
}

export function Tooltip(props: { anchor: TooltipAnchor | null; containerWidth: number; children: ComponentChildren }) {
  if (!props.anchor) return null;
  // Flip to the left of the pointer in the right half so the tooltip stays inside the view.
  const flip = props.anchor.x > props.containerWidth / 2;
  const style = flip
    ? { right: `${Math.max(0, props.containerWidth - props.anchor.x + 12)}px`, top: `${props.anchor.y + 12}px` }
    : { left: `${props.anchor.x + 12}px`, top: `${props.anchor.y + 12}px` };
  return (
    <div class="tooltip" role="tooltip" style={style}>
      {props.children}
    </div>
  );
}

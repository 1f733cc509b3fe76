/**
 * The 3D model grid: layers × heads; brightness = output norm (mean ‖z·W_O‖), hue = sign and size
 * of the direct contribution to the target (blue toward, orange away); the measured head → head
 * edges of a circuit discovered for this prompt (captioned), none without one; layers
 * light up as streamed results arrive. Orbit (drag), zoom (wheel), hover tooltip, click to select;
 * keyboard: arrow keys move a cursor (up = deeper layer), Enter selects. Falls back to a flat
 * canvas grid when WebGL is unavailable.
 */
import { useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { useLab } from '../../components/lab-context.js';
import { Tooltip } from '../../components/tooltip.js';
import { ViewFrame } from '../../components/view-frame.js';
import { toHex } from '../../shared/colour.js';
import { formatScore, formatSigned, headName } from '../../shared/format.js';
import { useSize } from '../../shared/use-size.js';
import { activeTrace } from '../../state/lab-state.js';
import { cursorFrom, moveCursor, selectHead, type HeadCursor } from '../../state/selection.js';
import { Canvas2dGrid } from './grid-canvas2d.js';
import { concentration, gridLinks, headColours, litLayers, OUTPUT_NORM_LABEL } from './grid-model.js';
import type { GridRenderer, ScreenPoint } from './grid-renderer.js';
import { WebGlGrid } from './grid-scene.js';

/** Tests and users without a GPU: a failing WebGL context falls back to the 2D grid. */
function createRenderer(log: (message: string) => void): GridRenderer {
  if ((globalThis as { __labForce2d?: boolean }).__labForce2d) return new Canvas2dGrid();
  try {
    return new WebGlGrid();
  } catch (error) {
    log(`WebGL is unavailable (${error instanceof Error ? error.message : String(error)}); the model grid is drawn in 2D.`);
    return new Canvas2dGrid();
  }
}

export function Grid3dView() {
  const { state, palette, actions } = useLab();
  /** Holds the renderer's canvas; preact renders nothing inside it. */
  const canvasHost = useRef<HTMLDivElement>(null);
  const [size, stageRef, stage] = useSize<HTMLDivElement>();
  const renderer = useRef<GridRenderer | null>(null);
  const [kind, setKind] = useState<'webgl' | 'canvas2d' | null>(null);
  const [hover, setHover] = useState<{ head: HeadCursor; at: ScreenPoint } | null>(null);
  const [cursor, setCursor] = useState<HeadCursor | null>(null);
  const [drawn, setDrawn] = useState(false);
  const [labels, setLabels] = useState<{ layers: (ScreenPoint | null)[]; heads: (ScreenPoint | null)[] }>({ layers: [], heads: [] });
  const downAt = useRef<ScreenPoint | null>(null);
  const trace = activeTrace(state);
  const { nLayers, nHeads } = state;

  const updateLabels = () => {
    const r = renderer.current;
    if (!r || r.kind !== 'webgl' || nLayers === 0) return setLabels({ layers: [], heads: [] });
    setLabels({
      layers: Array.from({ length: nLayers }, (_, l) => {
        const p = r.project(l, 0);
        return p ? { x: p.x - 22, y: p.y } : null;
      }),
      heads: Array.from({ length: nHeads }, (_, h) => {
        const p = r.project(0, h);
        return p ? { x: p.x, y: p.y + 20 } : null;
      }),
    });
  };
  const updateLabelsRef = useRef(updateLabels);
  updateLabelsRef.current = updateLabels;

  // Create the renderer once.
  useLayoutEffect(() => {
    const r = createRenderer((m) => actions.log('warn', m));
    renderer.current = r;
    r.canvas.classList.add('grid3d-canvas');
    r.canvas.tabIndex = -1;
    canvasHost.current?.appendChild(r.canvas);
    r.onViewChange(() => updateLabelsRef.current());
    setKind(r.kind);
    return () => {
      r.dispose();
      r.canvas.remove();
      renderer.current = null;
    };
  }, []);

  const colours = useMemo(() => {
    if (state.result && trace) return headColours({ result: state.result, trace }, palette);
    if (state.phase === 'streaming') return headColours({ streamed: state.streamed, nHeads, nTokens: state.nTokens }, palette);
    return [];
  }, [state.result, trace, state.streamed, state.phase, palette, nHeads, state.nTokens]);

  const links = useMemo(() => gridLinks(state.circuit, state.result), [state.circuit, state.result]);

  // Data: colours, lit layers, circuit edges (rebuilt only when these change).
  useLayoutEffect(() => {
    const r = renderer.current;
    if (!r || size.width === 0 || nLayers === 0) return;
    r.setSize(size.width, size.height);
    r.setData({ nLayers, nHeads, colours, lit: litLayers(nLayers, state.result ? null : state.streamed), edges: links.edges, caption: links.caption }, palette);
  }, [colours, links, size.width, size.height, nLayers, nHeads, palette, kind]);

  // Marks (selection, cursor) and the frame itself: cheap, on every change of either.
  useLayoutEffect(() => {
    const r = renderer.current;
    if (!r || size.width === 0 || nLayers === 0) return;
    r.setMarks(
      state.selection.head !== undefined && state.selection.layer !== undefined ? { layer: state.selection.layer, head: state.selection.head } : null,
      cursor,
      palette,
    );
    r.render();
    updateLabelsRef.current();
    const has = state.result !== null;
    setDrawn(has);
    if (has) actions.reportDrawn('grid3d');
  }, [colours, links, size.width, size.height, nLayers, nHeads, palette, kind, state.selection.layer, state.selection.head, cursor]);

  const pointer = (e: MouseEvent): ScreenPoint => {
    const rect = stage!.getBoundingClientRect();
    return { x: e.clientX - rect.left, y: e.clientY - rect.top };
  };

  const select = (head: HeadCursor) => actions.select(selectHead(state.selection, head.layer, head.head));

  const onKeyDown = (e: KeyboardEvent) => {
    if (nLayers === 0) return;
    const moves: Record<string, [number, number]> = { ArrowUp: [1, 0], ArrowDown: [-1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    const start = cursor ?? cursorFrom(state.selection);
    const move = moves[e.key];
    if (move) {
      e.preventDefault();
      const next = moveCursor(start, move[0], move[1], { nLayers, nHeads });
      setCursor(next);
      const at = renderer.current?.project(next.layer, next.head);
      setHover(at ? { head: next, at } : null);
    } else if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      select(start);
    } else if (e.key === 'Escape') {
      setCursor(null);
      setHover(null);
    }
  };

  const tooltip = (head: HeadCursor) => {
    const i = head.layer * nHeads + head.head;
    const summary = state.result?.heads[i];
    if (summary && trace) {
      return (
        <>
          <div class="tooltip-title">
            {summary.name} · {summary.label}
          </div>
          <div>contribution {formatSigned(trace.heads[i]!)}</div>
          <div>
            {OUTPUT_NORM_LABEL} {summary.outputNorm.toFixed(3)}
          </div>
          <div>
            prev {formatScore(summary.scores.previous)} · dup {formatScore(summary.scores.duplicate)} · ind {formatScore(summary.scores.induction)}
          </div>
        </>
      );
    }
    const pattern = state.streamed[head.layer];
    return (
      <>
        <div class="tooltip-title">{headName(head.layer, head.head)}</div>
        <div>{pattern ? `concentration ${concentration(pattern, head.head, state.nTokens).toFixed(3)}` : 'not computed yet'}</div>
      </>
    );
  };

  const describe = cursor
    ? `${headName(cursor.layer, cursor.head)}${state.result && trace ? `, contribution ${formatSigned(trace.heads[cursor.layer * nHeads + cursor.head]!)}` : ''}`
    : '';
  const streamedCount = state.streamed.filter((s) => s !== null).length;
  const subtitle = state.phase === 'streaming' ? `layer ${streamedCount} of ${nLayers}` : state.result ? `${nLayers} layers × ${nHeads} heads` : '';

  return (
    <ViewFrame
      view="grid3d"
      drawn={drawn}
      subtitle={subtitle}
      controls={
        <>
          <span class="legend">
            <span class="swatch" style={{ background: toHex(palette.positive) }} /> toward
            <span class="swatch" style={{ background: toHex(palette.negative) }} /> away
            <span class="legend-note">
              brightness: {OUTPUT_NORM_LABEL}
              {kind === 'canvas2d' ? ' · 2D' : ''}
            </span>
          </span>
          {kind === 'webgl' && (
            <button type="button" class="icon-button" aria-label="Reset the 3D view" title="Reset view" onClick={() => renderer.current?.resetView()}>
              <span class="codicon codicon-screen-normal" aria-hidden="true" />
            </button>
          )}
        </>
      }
      exporter={{ png: () => renderer.current!.png() }}
    >
      <div
        class="grid3d-stage"
        ref={stageRef}
        tabIndex={0}
        role="application"
        aria-label={`Model grid: layers by heads.${links.caption ? ` Drawn over it: ${links.caption}.` : ''} Arrow keys move between heads, Enter selects.`}
        aria-roledescription="model grid"
        onKeyDown={onKeyDown}
        onPointerDown={(e) => (downAt.current = pointer(e))}
        onPointerUp={(e) => {
          const p = pointer(e);
          const d = downAt.current;
          downAt.current = null;
          // A drag orbits; only a click (little movement) selects.
          if (d && Math.hypot(p.x - d.x, p.y - d.y) < 4) {
            const head = renderer.current?.pick(p.x, p.y);
            if (head) select(head);
          }
        }}
        onMouseMove={(e) => {
          if (e.buttons !== 0) return setHover(null);
          const p = pointer(e);
          const head = renderer.current?.pick(p.x, p.y);
          setHover(head ? { head, at: p } : null);
        }}
        onMouseLeave={() => setHover(null)}
      >
        <div class="grid3d-canvas-host" ref={canvasHost} />
        {/* The 2D grid draws its caption itself; over WebGL it is HTML (and drawn into the PNG). */}
        {kind === 'webgl' && links.caption && <span class="drawing-caption">{links.caption}</span>}
        {labels.layers.map(
          (p, l) =>
            p &&
            l % Math.max(1, Math.ceil(nLayers / 24)) === 0 && (
              <span key={`l${l}`} class="grid3d-label" style={{ left: `${p.x}px`, top: `${p.y}px` }}>
                L{l}
              </span>
            ),
        )}
        {labels.heads.map(
          (p, h) =>
            p && (
              <span key={`h${h}`} class="grid3d-label" style={{ left: `${p.x}px`, top: `${p.y}px` }}>
                H{h}
              </span>
            ),
        )}
        {state.phase === 'empty' && <div class="placeholder">Run Circuit Trace: Analyze to fill the grid.</div>}
        <div class="sr-only" aria-live="polite">
          {describe}
        </div>
        <Tooltip anchor={hover?.at ?? null} containerWidth={size.width}>
          {hover ? tooltip(hover.head) : null}
        </Tooltip>
      </div>
    </ViewFrame>
  );
}

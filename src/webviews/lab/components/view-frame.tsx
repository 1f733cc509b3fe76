/**
 * The frame of every view: a header (title, subtitle, export buttons, open-on-its-own) and a body
 * of fixed size (so that nothing jumps while results stream in). The section carries the stable
 * DOM hooks of the end-to-end tests: data-view and data-drawn.
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import type { ExportFormat, LabViewId } from '../../../protocol/webview-messages.js';
import { useLab } from './lab-context.js';

/** How a view exports itself; a missing format is not offered. */
export interface ViewExporter {
  png?: () => Promise<Uint8Array> | Uint8Array;
  svg?: () => string;
}

export const VIEW_TITLES: Record<LabViewId, string> = {
  grid3d: 'Model grid',
  heatmap: 'Attention',
  trace: 'Circuit trace',
  lens: 'Logit lens',
  flow: 'Token flow',
  predictions: 'Predictions',
  patching: 'Activation patching',
  circuit: 'Circuit',
  attribution: 'Attribution and path patching',
  features: 'Features',
  attributionGraph: 'Attribution graph',
};

export interface ViewFrameProps {
  view: LabViewId;
  drawn: boolean;
  subtitle?: ComponentChildren;
  /** Extra controls in the header (toggles). */
  controls?: ComponentChildren;
  exporter: ViewExporter;
  children: ComponentChildren;
}

function IconButton(props: { icon: string; label: string; onClick: () => void; disabled?: boolean }) {
  return (
    <button type="button" class="icon-button" aria-label={props.label} title={props.label} onClick={props.onClick} disabled={props.disabled}>
      <span class={`codicon codicon-${props.icon}`} aria-hidden="true" />
    </button>
  );
}

export function ViewFrame(props: ViewFrameProps) {
  const { state, actions } = useLab();
  const [busy, setBusy] = useState(false);
  const standalone = state.content === props.view;
  const run = async (format: ExportFormat) => {
    setBusy(true);
    try {
      if (format === 'json') await actions.exportView(props.view, 'json');
      else if (format === 'png' && props.exporter.png) await actions.exportView(props.view, 'png', await props.exporter.png());
      else if (format === 'svg' && props.exporter.svg) await actions.exportView(props.view, 'svg', props.exporter.svg());
    } catch (error) {
      actions.log('warn', `export of ${props.view} as ${format} failed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      setBusy(false);
    }
  };
  const title = VIEW_TITLES[props.view];
  return (
    <section class={`view view-${props.view}`} data-view={props.view} data-drawn={props.drawn ? 'true' : 'false'} aria-label={title}>
      <header class="view-header">
        <h2 class="view-title">{title}</h2>
        <span class="view-subtitle">{props.subtitle}</span>
        <div class="view-controls">{props.controls}</div>
        <div class="view-actions">
          {props.exporter.png && (
            <IconButton icon="device-camera" label={`Export ${title} as PNG`} onClick={() => void run('png')} disabled={busy || !props.drawn} />
          )}
          {props.exporter.svg && (
            <IconButton icon="file-media" label={`Export ${title} as SVG`} onClick={() => void run('svg')} disabled={busy || !props.drawn} />
          )}
          {props.view === 'circuit' && (
            <IconButton icon="json" label="Export the circuit as JSON" onClick={() => void run('json')} disabled={busy || !state.circuit} />
          )}
          {props.view === 'attribution' && (
            <IconButton
              icon="json"
              label="Export the attribution and path-patching maps as JSON"
              onClick={() => void run('json')}
              disabled={busy || (!state.attribution.map && !state.attribution.pathPatch)}
            />
          )}
          {standalone && props.view !== 'circuit' && props.view !== 'attribution' && props.view !== 'features' && props.view !== 'attributionGraph' && (
            <IconButton
              icon="json"
              label="Export the Lab's data as JSON"
              onClick={() => void run('json')}
              disabled={busy || (props.view === 'patching' ? !state.patch : !state.result)}
            />
          )}
          {!standalone && <IconButton icon="link-external" label={`Open ${title} on its own beside the editor`} onClick={() => actions.openView(props.view)} />}
        </div>
      </header>
      <div class="view-body">{props.children}</div>
    </section>
  );
}

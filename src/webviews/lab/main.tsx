/** Entry point of the Lab webview: mounts the app on the root the host's HTML provides. */
import 'uplot/dist/uPlot.min.css';
import './lab.css';
import { render } from 'preact';
import { isLabViewId, LAB_CONTENT_ATTRIBUTE, LAB_ROOT_ID, type LabPanelContent } from '../../protocol/webview-messages.js';
import { LabApp } from './app.js';
import { LabBridge, type VsCodeApi } from './state/bridge.js';

declare function acquireVsCodeApi(): VsCodeApi;

const root = document.getElementById(LAB_ROOT_ID);
if (root) {
  const attribute = root.getAttribute(LAB_CONTENT_ATTRIBUTE);
  const content: LabPanelContent = isLabViewId(attribute) ? attribute : 'lab';
  const bridge = new LabBridge(acquireVsCodeApi(), window);
  window.addEventListener('error', (event) => bridge.post({ type: 'log', level: 'error', message: `${event.message} (${event.filename}:${event.lineno})` }));
  window.addEventListener('unhandledrejection', (event) =>
    bridge.post({ type: 'log', level: 'error', message: `unhandled rejection: ${String(event.reason)}` }),
  );
  render(<LabApp bridge={bridge} content={content} root={root} />, root);
}

/**
 * The model loader's questions and progress as VS Code shows them: a window progress while a
 * model loads, a cancellable notification with bytes and speed once a download starts, and the
 * modal "Contact the Hugging Face Hub?" question of an untrusted workspace.
 */
import * as vscode from 'vscode';
import type { DownloadProgress } from '../../protocol/engine.js';
import type { LoaderUi } from './model-loader.js';
import { progressMessage, TransferRate } from './transfer-rate.js';

export const CONTACT_HUB = 'Contact the Hub';

export function vscodeLoaderUi(log: vscode.LogOutputChannel): LoaderUi {
  return {
    async withLoadProgress(title, task) {
      const cancel = new AbortController();
      // The download notification opens on the first progress event and closes with the task.
      const download: { notification: DownloadNotification | null } = { notification: null };
      const rate = new TransferRate();
      const onDownload = (p: DownloadProgress): void => {
        rate.sample(p, Date.now());
        download.notification ??= openDownloadNotification(title, cancel);
        download.notification.report(progressMessage(p, rate.bytesPerSecond()));
      };
      try {
        return await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title }, () => task(onDownload, cancel.signal));
      } finally {
        download.notification?.close();
      }
    },
    async confirmHubAccess(model) {
      const pick = await vscode.window.showWarningMessage(
        `Contact the Hugging Face Hub? ${model.displayName} is not in the Hugging Face cache. This workspace is not trusted, so Circuit Trace asks before it downloads ${model.id} from the Hub.`,
        { modal: true },
        CONTACT_HUB,
      );
      return pick === CONTACT_HUB;
    },
    fallbackNotice(reason) {
      void vscode.window.showWarningMessage(`Circuit Trace: ${reason}`, 'Select Model', 'Show Logs').then((pick) => {
        if (pick === 'Select Model') void vscode.commands.executeCommand('circuitTrace.selectModel');
        if (pick === 'Show Logs') log.show();
      });
    },
    deviceNotice(note) {
      void vscode.window.showInformationMessage(`Circuit Trace: ${note}`);
    },
  };
}

interface DownloadNotification {
  report(message: string): void;
  close(): void;
}

function openDownloadNotification(title: string, cancel: AbortController): DownloadNotification {
  let report: (message: string) => void = () => undefined;
  let close: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (close = resolve));
  void vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Circuit Trace: ${title.charAt(0).toLowerCase()}${title.slice(1)}`, cancellable: true },
    (progress, token) => {
      token.onCancellationRequested(() => cancel.abort());
      report = (message) => progress.report({ message });
      return done;
    },
  );
  return { report: (message) => report(message), close: () => close() };
}

/**
 * The command side of the library's byte progress (Ports.byteProgress): what each phase is
 * called on the progress line. The line itself is drawn by format's `ProgressDrawer`, the
 * drawer bundlectl uses too. Library code never draws; commands never compute progress.
 */
import type { PhaseProgress } from '@offline-ota/format';
import type { ByteProgress, ProgressPhase } from './lib/ports.js';

/** What each phase is called on the progress line. */
export const PHASE_LABELS: Record<ProgressPhase, string> = {
  'extract-repo': 'Extracting the OSTree repo',
  'pull-ostree': 'Pulling OSTree objects',
  'copy-apps': 'Copying app blobs',
  'write-ostree': 'Writing OSTree objects',
};

/** A library progress report as the drawer takes it. */
export const phaseProgress = (p: ByteProgress): PhaseProgress => ({
  label: PHASE_LABELS[p.phase],
  done: p.done,
  total: p.total,
});

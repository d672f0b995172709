import { useRef, useState } from 'react';
import { uploadFiles, type UploadResult } from '../api/client';

// Files go in batches (one request each, a few at a time): a request carries many files so a big
// drop doesn't cost thousands of requests, and several run at once to keep the line busy.
const BATCH_FILES = 50;
const BATCH_BYTES = 32 * 1024 * 1024;
const PARALLEL = 3;

interface FileState {
  name: string;
  size: number;
  sent: number;
  state: 'waiting' | 'sending' | 'stored' | 'rejected' | 'failed';
  reason?: string;
}

function batches(files: File[]): number[][] {
  const out: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  files.forEach((file, i) => {
    if (current.length && (current.length >= BATCH_FILES || bytes + file.size > BATCH_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(i);
    bytes += file.size;
  });
  if (current.length) out.push(current);
  return out;
}

export function Uploader({ projectId, onUploaded }: { projectId: number; onUploaded: (r: UploadResult) => void }) {
  const [files, setFiles] = useState<FileState[]>([]);
  const [over, setOver] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const input = useRef<HTMLInputElement>(null);

  const start = async (picked: File[]) => {
    if (!picked.length || busy) return;
    setBusy(true);
    setError(null);
    const states: FileState[] = picked.map((f) => ({ name: f.name, size: f.size, sent: 0, state: 'waiting' }));
    setFiles(states.map((s) => ({ ...s })));
    const update = (i: number, patch: Partial<FileState>) => {
      states[i] = { ...states[i], ...patch };
      setFiles(states.map((s) => ({ ...s })));
    };
    const queue = batches(picked);
    const worker = async () => {
      for (let group = queue.shift(); group; group = queue.shift()) {
        const chosen = group.map((i) => picked[i]);
        group.forEach((i) => update(i, { state: 'sending' }));
        const totalSize = chosen.reduce((n, f) => n + f.size, 0) || 1;
        const { promise } = uploadFiles(projectId, chosen, ({ loaded, total }) => {
          // The body is the files in order plus small multipart headers: spread what was sent
          // over the files by their sizes.
          let left = (loaded / total) * totalSize;
          for (const i of group) {
            const sent = Math.min(picked[i].size, Math.max(0, left));
            left -= picked[i].size;
            states[i] = { ...states[i], sent };
          }
          setFiles(states.map((s) => ({ ...s })));
        });
        try {
          const result = await promise;
          const rejected = new Map(result.rejected.map((r) => [r.filename, r.reason]));
          for (const i of group) {
            const reason = rejected.get(picked[i].name);
            update(i, reason === undefined ? { state: 'stored', sent: picked[i].size } : { state: 'rejected', reason, sent: picked[i].size });
          }
          // Names the server cleaned may not match: any rejection not yet shown is listed too.
          const shown = new Set(group.map((i) => picked[i].name));
          for (const r of result.rejected) {
            if (!shown.has(r.filename)) {
              states.push({ name: r.filename, size: 0, sent: 0, state: 'rejected', reason: r.reason });
            }
          }
          setFiles(states.map((s) => ({ ...s })));
          onUploaded(result);
        } catch (e) {
          for (const i of group) update(i, { state: 'failed', reason: (e as Error).message });
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(PARALLEL, queue.length) }, worker));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
      if (input.current) input.current.value = '';
    }
  };

  const total = files.reduce((n, f) => n + f.size, 0);
  const sent = files.reduce((n, f) => n + f.sent, 0);
  const stored = files.filter((f) => f.state === 'stored').length;
  const rejected = files.filter((f) => f.state === 'rejected' || f.state === 'failed');

  return (
    <section className="uploader card" aria-labelledby="upload-heading">
      <h2 id="upload-heading">Upload</h2>
      <div
        className={`dropzone ${over ? 'over' : ''}`}
        data-testid="dropzone"
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(e) => {
          e.preventDefault();
          setOver(false);
          void start([...e.dataTransfer.files]);
        }}
      >
        <p>Drop images here, or</p>
        <label className="button">
          Choose files…
          <input
            ref={input}
            type="file"
            multiple
            accept="image/jpeg,image/png,image/webp"
            className="visually-hidden"
            aria-label="Choose image files to upload"
            disabled={busy}
            onChange={(e) => void start([...(e.target.files ?? [])])}
          />
        </label>
      </div>
      {files.length > 0 && (
        <div className="upload-status">
          <label className="progress-label">
            Total: {stored} stored, {rejected.length} refused of {files.length}
            <progress data-testid="upload-total" max={total || 1} value={sent} />
          </label>
          <ul className="upload-files" aria-label="Files">
            {files.map((f, i) => (
              <li key={`${f.name}-${i}`} className={`file-${f.state}`} data-testid="upload-file">
                <span className="filename">{f.name}</span>
                <progress aria-label={`${f.name} upload progress`} max={f.size || 1} value={f.sent} />
                <span className="state">{f.state}</span>
              </li>
            ))}
          </ul>
          {rejected.length > 0 && (
            <div role="alert" className="rejected" data-testid="rejected">
              <h3>Refused files</h3>
              <ul>
                {rejected.map((f, i) => (
                  <li key={`${f.name}-${i}`}>
                    <strong>{f.name}</strong>: {f.reason}
                  </li>
                ))}
              </ul>
            </div>
          )}
        </div>
      )}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </section>
  );
}

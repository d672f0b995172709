import { useState } from 'react';
import { download } from '../api/client';

const FORMATS = [
  { format: 'coco', label: 'COCO', ext: 'json' },
  { format: 'yolo', label: 'YOLO', ext: 'zip' },
  { format: 'csv', label: 'CSV', ext: 'csv' },
  { format: 'json', label: 'JSON', ext: 'json' },
] as const;

/** The project's labels as a file: `GET /api/v1/projects/{id}/export?format=...`. */
export function ExportButtons({ projectId }: { projectId: number }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const run = async (format: string, ext: string) => {
    setError(null);
    setBusy(format);
    try {
      await download(`/api/v1/projects/${projectId}/export?format=${format}`, `project-${projectId}-${format}.${ext}`);
    } catch (e) {
      setError(`export ${format}: ${(e as Error).message}`);
    } finally {
      setBusy(null);
    }
  };
  return (
    <section className="card" aria-labelledby="export-heading">
      <h2 id="export-heading">Export</h2>
      <div className="row">
        {FORMATS.map(({ format, label, ext }) => (
          <button key={format} type="button" disabled={busy !== null} onClick={() => void run(format, ext)}>
            Export {label}
          </button>
        ))}
      </div>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </section>
  );
}

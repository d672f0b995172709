import { useEffect, useState } from 'react';
import { api, download, must, type Model } from '../api/client';
import type { operations } from '../api/schema';

type ExportQuery = NonNullable<operations['export_project_api_v1_projects__project_id__export_get']['parameters']['query']>;
type Format = NonNullable<ExportQuery['format']>;
type Source = NonNullable<ExportQuery['source']>;

const FORMATS: { format: Format; label: string; ext: string }[] = [
  { format: 'coco', label: 'COCO', ext: 'json' },
  { format: 'yolo', label: 'YOLO', ext: 'zip' },
  { format: 'csv', label: 'CSV', ext: 'csv' },
  { format: 'json', label: 'JSON', ext: 'json' },
  { format: 'voc', label: 'Pascal VOC', ext: 'zip' },
  { format: 'cvat', label: 'CVAT XML', ext: 'xml' },
];

/** The project's labels as a file: `GET /api/v1/projects/{id}/export?format=&source=&model=`. */
export function ExportButtons({ projectId, defaultModel }: { projectId: number; defaultModel: string | null }) {
  const [source, setSource] = useState<Source>('annotations');
  const [models, setModels] = useState<Model[]>([]);
  const [model, setModel] = useState(defaultModel ?? '');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  useEffect(() => {
    if (source === 'annotations' || models.length) return;
    must(api.GET('/api/v1/models'))
      .then((list) => {
        setModels(list);
        setModel((m) => m || list[0]?.name || '');
      })
      .catch((e: Error) => setError(e.message));
  }, [source, models.length]);

  const run = async (format: Format, ext: string) => {
    setError(null);
    setBusy(format);
    const query = new URLSearchParams({ format, source });
    if (source !== 'annotations' && model) query.set('model', model);
    try {
      await download(`/api/v1/projects/${projectId}/export?${query}`, `project-${projectId}-${source}-${format}.${ext}`);
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
        <label>
          Labels to export
          <select value={source} onChange={(e) => setSource(e.target.value as Source)}>
            <option value="annotations">people's annotations</option>
            <option value="predictions">a model's predictions</option>
            <option value="both">both</option>
          </select>
        </label>
        {source !== 'annotations' && (
          <label>
            Export model
            <select value={model} onChange={(e) => setModel(e.target.value)}>
              {[...new Set(models.map((m) => m.name))].map((n) => (
                <option key={n}>{n}</option>
              ))}
            </select>
          </label>
        )}
      </div>
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

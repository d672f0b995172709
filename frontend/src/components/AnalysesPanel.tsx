import { useEffect, useState } from 'react';
import { api, download, must, type Analysis, type AnalysisDetail } from '../api/client';

/** ML analyses posted for the image by external pipelines: pick one to overlay its boxes. */
export function AnalysesPanel({
  imageId,
  enabled,
  selected,
  onSelect,
}: {
  imageId: string;
  enabled: boolean;
  selected: AnalysisDetail | null;
  onSelect: (a: AnalysisDetail | null) => void;
}) {
  const [analyses, setAnalyses] = useState<Analysis[]>([]);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!enabled) return;
    must(api.GET('/api/images/{image_id}/analyses', { params: { path: { image_id: imageId } } }))
      .then((r) => setAnalyses(r.analyses))
      .catch((e: Error) => setError(e.message));
  }, [imageId, enabled]);

  const choose = async (id: string) => {
    if (selected?.id === id) return onSelect(null);
    try {
      onSelect(await must(api.GET('/api/analyses/{analysis_id}', { params: { path: { analysis_id: id } } })));
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <section className="card" aria-labelledby="analyses-heading">
      <h2 id="analyses-heading">ML analyses</h2>
      {!enabled && <p className="muted">ML analyses are off on this server (LABELBAY_ML_ANALYSIS_ENABLED).</p>}
      {enabled && analyses.length === 0 && <p className="muted">No analyses for this image.</p>}
      <ul className="analyses" data-testid="analyses">
        {analyses.map((a) => (
          <li key={a.id}>
            <label>
              <input type="checkbox" checked={selected?.id === a.id} onChange={() => void choose(a.id)} />
              {a.model_name} {a.model_version} · {a.status} · {a.annotation_count} annotations
            </label>
            <span className="row">
              <button type="button" onClick={() => void download(`/api/analyses/${a.id}/export?format=json`, `analysis-${a.id}.json`)}>
                JSON
              </button>
              <button type="button" onClick={() => void download(`/api/analyses/${a.id}/export?format=csv`, `analysis-${a.id}.csv`)}>
                CSV
              </button>
            </span>
          </li>
        ))}
      </ul>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </section>
  );
}

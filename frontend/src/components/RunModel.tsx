import { useEffect, useState } from 'react';
import { api, must, type Job, type Model } from '../api/client';

const FINISHED = new Set(['completed', 'failed', 'cancelled']);
const POLL_MS = 1000;

/** Pick a model, run it on the selection or the whole project, and follow the job live. */
export function RunModel({
  projectId,
  selected,
  onFinished,
}: {
  projectId: number;
  selected: string[];
  onFinished: (job: Job) => void;
}) {
  const [models, setModels] = useState<Model[]>([]);
  const [model, setModel] = useState('');
  const [scope, setScope] = useState<'selection' | 'project'>('project');
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    must(api.GET('/api/v1/models'))
      .then((list) => {
        const active = list.filter((m) => m.is_active);
        setModels(active);
        setModel((current) => current || active[0]?.name || '');
      })
      .catch((e: Error) => setError(e.message));
  }, []);

  useEffect(() => setScope(selected.length ? 'selection' : 'project'), [selected.length]);

  useEffect(() => {
    if (!job || FINISHED.has(job.status)) return;
    const timer = setTimeout(() => {
      must(api.GET('/api/v1/jobs/{job_id}', { params: { path: { job_id: job.id } } }))
        .then((next) => {
          setJob(next);
          if (FINISHED.has(next.status)) onFinished(next);
        })
        .catch((e: Error) => setError(e.message));
    }, POLL_MS);
    return () => clearTimeout(timer);
  }, [job, onFinished]);

  const run = async (event: React.FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      const created = await must(
        api.POST('/api/v1/projects/{project_id}/jobs', {
          params: { path: { project_id: projectId } },
          body: { model, image_ids: scope === 'selection' ? selected : null, save_outputs: false },
        }),
      );
      setJob(created);
      if (FINISHED.has(created.status)) onFinished(created);
    } catch (e) {
      setError((e as Error).message);
    }
  };

  const cancel = async () => {
    if (!job) return;
    try {
      setJob(await must(api.POST('/api/v1/jobs/{job_id}/cancel', { params: { path: { job_id: job.id } } })));
    } catch (e) {
      setError((e as Error).message);
    }
  };

  const running = job !== null && !FINISHED.has(job.status);
  return (
    <section className="card run-model" aria-labelledby="run-heading">
      <h2 id="run-heading">Run a model</h2>
      <form onSubmit={run} className="row">
        <label>
          Model
          <select value={model} onChange={(e) => setModel(e.target.value)} required>
            {models.map((m) => (
              <option key={`${m.name}-${m.version}`} value={m.name}>
                {m.name} {m.version} ({m.task})
              </option>
            ))}
          </select>
        </label>
        <fieldset className="row">
          <legend>Images</legend>
          <label>
            <input
              type="radio"
              name="scope"
              checked={scope === 'selection'}
              disabled={!selected.length}
              onChange={() => setScope('selection')}
            />
            Selected ({selected.length})
          </label>
          <label>
            <input type="radio" name="scope" checked={scope === 'project'} onChange={() => setScope('project')} />
            Whole project
          </label>
        </fieldset>
        <button type="submit" disabled={!model || running}>
          Run model
        </button>
      </form>
      {job && (
        <div className="job" data-testid="job" data-status={job.status} aria-live="polite">
          <label className="progress-label">
            Job {job.id} ({job.model} {job.model_version}): {job.status}, {job.done}/{job.total} done
            {job.failed ? `, ${job.failed} failed` : ''}
            {job.images_per_second ? `, ${job.images_per_second} images/s` : ''}
            <progress max={job.total || 1} value={job.done + job.failed} />
          </label>
          {running && (
            <button type="button" onClick={cancel}>
              Cancel job
            </button>
          )}
          {job.errors.length > 0 && (
            <ul className="error">
              {job.errors.map((e, i) => (
                <li key={i}>{JSON.stringify(e)}</li>
              ))}
            </ul>
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

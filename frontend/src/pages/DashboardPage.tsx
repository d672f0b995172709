// A project's dashboard from `GET …/stats`: images and review progress, who reviewed, images and
// labels per model version, labels per class (annotated vs predicted), annotations per day, and
// each model version's latest evaluation.
import { useEffect, useMemo, useState } from 'react';
import { api, must, type Model, type Schemas } from '../api/client';
import { Chart, type ChartOption } from '../components/Chart';
import { linkClick } from '../router';
import { num } from './EvaluationPage';

type Stats = Schemas['ProjectStats'];

export function DashboardPage({ projectId }: { projectId: number }) {
  const [stats, setStats] = useState<Stats | null>(null);
  const [models, setModels] = useState<Model[]>([]);
  const [model, setModel] = useState('');
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    must(api.GET('/api/v1/models')).then(setModels).catch(() => setModels([]));
  }, []);

  useEffect(() => {
    const at = model.lastIndexOf('@');
    const query = model ? { model: model.slice(0, at), model_version: model.slice(at + 1) } : {};
    must(api.GET('/api/v1/projects/{project_id}/stats', { params: { path: { project_id: projectId }, query } }))
      .then((s) => {
        setStats(s);
        setError(null);
      })
      .catch((e: Error) => setError(e.message));
  }, [projectId, model]);

  const classes = useMemo<ChartOption>(
    () => ({
      animation: false,
      tooltip: { trigger: 'axis' },
      legend: { bottom: 0 },
      grid: { left: 50, right: 20, top: 20, bottom: 70 },
      xAxis: { type: 'category', data: stats?.labels.map((l) => l.label) ?? [], axisLabel: { rotate: 30 } },
      yAxis: { type: 'value' },
      series: [
        { name: 'annotated', type: 'bar', data: stats?.labels.map((l) => l.annotated) ?? [] },
        { name: 'predicted', type: 'bar', data: stats?.labels.map((l) => l.predicted) ?? [] },
      ],
    }),
    [stats],
  );
  const days = useMemo<ChartOption>(
    () => ({
      animation: false,
      tooltip: { trigger: 'axis' },
      grid: { left: 50, right: 20, top: 20, bottom: 40 },
      xAxis: { type: 'category', data: stats?.annotations_per_day.map((d) => d.day) ?? [] },
      yAxis: { type: 'value', minInterval: 1 },
      series: [{ name: 'annotations', type: 'bar', data: stats?.annotations_per_day.map((d) => d.annotations) ?? [] }],
    }),
    [stats],
  );

  if (error)
    return (
      <p role="alert" className="error">
        {error}
      </p>
    );
  if (!stats) return <p role="status">Loading…</p>;
  const percent = stats.images ? Math.round((100 * stats.reviewed) / stats.images) : 0;
  return (
    <div className="dashboard" data-testid="dashboard">
      <div className="card">
        <p>
          <strong data-testid="stat-images">{stats.images}</strong> images · <strong data-testid="stat-reviewed">{stats.reviewed}</strong>{' '}
          reviewed ({percent}%)
        </p>
        <progress max={Math.max(1, stats.images)} value={stats.reviewed} aria-label="Review progress" />
      </div>
      <div className="project-layout">
        <div>
          <section className="card" aria-labelledby="reviewers-heading">
            <h2 id="reviewers-heading">Reviewed by</h2>
            <table>
              <tbody>
                {stats.reviewers.map((r) => (
                  <tr key={r.user_id}>
                    <th scope="row">{r.display_name || r.email}</th>
                    <td>{r.images}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {stats.reviewers.length === 0 && <p className="muted">Nobody yet.</p>}
          </section>
          <section className="card" aria-labelledby="models-heading">
            <h2 id="models-heading">Model versions</h2>
            <table>
              <thead>
                <tr>
                  <th>Version</th>
                  <th>Images</th>
                  <th>Labels</th>
                </tr>
              </thead>
              <tbody>
                {stats.models.map((m) => (
                  <tr key={m.model_version_id}>
                    <th scope="row">
                      {m.model} {m.version}
                    </th>
                    <td>{m.images}</td>
                    <td>{m.labels}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        </div>
        <div>
          <section className="card" aria-labelledby="classes-heading">
            <h2 id="classes-heading">Labels per class</h2>
            <label>
              Predicted by
              <select value={model} onChange={(e) => setModel(e.target.value)}>
                <option value="">the project’s default model</option>
                {models.map((m) => (
                  <option key={`${m.name}@${m.version}`} value={`${m.name}@${m.version}`}>
                    {m.name} {m.version}
                  </option>
                ))}
              </select>
            </label>
            <Chart option={classes} label="Labels per class, annotated and predicted" testId="classes-chart" height={280} />
          </section>
          <section className="card" aria-labelledby="days-heading">
            <h2 id="days-heading">Annotations per day (30 days)</h2>
            <Chart option={days} label="Annotations per day" testId="days-chart" height={220} />
          </section>
          <section className="card" aria-labelledby="latest-heading">
            <h2 id="latest-heading">Latest evaluation per model version</h2>
            <table>
              <thead>
                <tr>
                  <th>Model version</th>
                  <th>Run</th>
                  <th>mAP</th>
                  <th>AP50</th>
                  <th>AP75</th>
                  <th>Accuracy</th>
                </tr>
              </thead>
              <tbody>
                {stats.evaluations.map((e) => (
                  <tr key={String(e.evaluation_id)}>
                    <th scope="row">
                      {String(e.model)} {String(e.version ?? '')}
                    </th>
                    <td>
                      <a href={`/projects/${projectId}/evaluations?id=${String(e.evaluation_id)}`} onClick={linkClick}>
                        #{String(e.evaluation_id)}
                      </a>
                    </td>
                    <td>{num(e.map)}</td>
                    <td>{num(e.ap50)}</td>
                    <td>{num(e.ap75)}</td>
                    <td>{num(e.accuracy)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        </div>
      </div>
    </div>
  );
}

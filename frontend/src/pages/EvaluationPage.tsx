// A project's model evaluations: start one (it runs as a job), follow its progress, read the
// report (COCO numbers over all classes and over the classes present, per class, PR curves, the
// confusion matrix) and compare model versions side by side. Clicking a confusion cell or a class
// opens the image grid filtered to those images.
import { useCallback, useEffect, useMemo, useState } from 'react';
import { api, must, type Model, type Schemas } from '../api/client';
import { Chart, type ChartOption } from '../components/Chart';
import { linkClick, navigate } from '../router';

type Evaluation = Schemas['EvaluationOut'];

interface Prf {
  tp: number;
  fp: number;
  fn: number;
  precision: number;
  recall: number;
  f1: number;
  threshold?: number;
}
interface ClassRow {
  name: string;
  ground_truth: number;
  predictions: number;
  ap?: number;
  ap50?: number;
  ap75?: number;
  ar100?: number;
  at_threshold?: Prf;
  precision?: number;
  recall?: number;
  f1?: number;
  pr_curve?: { recall: number[]; precision: number[]; score: number[] } | null;
}
interface Report {
  kind: 'detection' | 'classification';
  classes_present?: string[];
  present?: Record<string, number>;
  at_threshold?: Prf;
  best_f1?: Prf;
  accuracy?: number;
  top5_accuracy?: number;
  per_class: ClassRow[];
  confusion: { labels: string[]; columns_labels?: string[]; matrix: number[][] };
  [key: string]: unknown;
}

export const SUMMARY: [string, string][] = [
  ['map', 'mAP @[.50:.95]'],
  ['ap50', 'AP50'],
  ['ap75', 'AP75'],
  ['ap_small', 'AP small'],
  ['ap_medium', 'AP medium'],
  ['ap_large', 'AP large'],
  ['ar1', 'AR@1'],
  ['ar10', 'AR@10'],
  ['ar100', 'AR@100'],
  ['ar_small', 'AR small'],
  ['ar_medium', 'AR medium'],
  ['ar_large', 'AR large'],
];

/** COCO writes -1 where a number is undefined (no ground truth of that size). */
export function num(value: unknown, digits = 3): string {
  return typeof value === 'number' && value >= 0 ? value.toFixed(digits) : '–';
}

/** The image grid filtered by an evaluation's outcome. */
export function gridLink(projectId: number, evaluationId: number, filters: Record<string, string>): string {
  return `/projects/${projectId}?${new URLSearchParams({ evaluation: String(evaluationId), ...filters })}`;
}

const OPEN = new Set(['queued', 'running']);

export function EvaluationPage({ projectId }: { projectId: number }) {
  const [evaluations, setEvaluations] = useState<Evaluation[]>([]);
  const [chosen, setChosen] = useState<number | null>(() => Number(new URLSearchParams(location.search).get('id')) || null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      const rows = await must(api.GET('/api/v1/projects/{project_id}/evaluations', { params: { path: { project_id: projectId } } }));
      setEvaluations(rows);
      setError(null);
    } catch (e) {
      setError((e as Error).message);
    }
  }, [projectId]);
  useEffect(() => void load(), [load]);

  // Follow running evaluations until they end.
  const running = evaluations.some((e) => OPEN.has(e.status));
  useEffect(() => {
    if (!running) return;
    const timer = setInterval(() => void load(), 500);
    return () => clearInterval(timer);
  }, [running, load]);

  const shown = evaluations.find((e) => e.id === chosen) ?? evaluations[0] ?? null;
  return (
    <div className="evaluations">
      <div className="project-layout">
        <aside className="side">
          <StartEvaluation
            projectId={projectId}
            onStarted={(row) => {
              setChosen(row.id);
              setEvaluations((old) => [row, ...old]);
            }}
          />
          <section className="card" aria-labelledby="runs-heading">
            <h2 id="runs-heading">Runs</h2>
            {evaluations.length === 0 && <p className="muted">No evaluation yet.</p>}
            <ol className="runs">
              {evaluations.map((e) => (
                <li key={e.id}>
                  <button type="button" className="link" aria-pressed={shown?.id === e.id} onClick={() => setChosen(e.id)}>
                    #{e.id} {e.model} {e.model_version}
                  </button>{' '}
                  <span className="muted">
                    {e.status}
                    {e.status === 'completed' && e.kind === 'detection' ? ` · mAP ${num((e.metrics as Report).map)}` : ''}
                  </span>
                </li>
              ))}
            </ol>
          </section>
        </aside>
        <div className="evaluation-main">
          {error && (
            <p role="alert" className="error">
              {error}
            </p>
          )}
          <Comparison evaluations={evaluations} />
          {shown && <EvaluationReport projectId={projectId} evaluation={shown} />}
        </div>
      </div>
    </div>
  );
}

function StartEvaluation({ projectId, onStarted }: { projectId: number; onStarted: (row: Evaluation) => void }) {
  const [models, setModels] = useState<Model[]>([]);
  const [model, setModel] = useState('');
  const [groundTruth, setGroundTruth] = useState<'reviewed' | 'annotations' | 'model'>('reviewed');
  const [gtModel, setGtModel] = useState('');
  const [iou, setIou] = useState('0.5');
  const [iouType, setIouType] = useState<'bbox' | 'segm'>('bbox');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    must(api.GET('/api/v1/models'))
      .then((rows) => {
        setModels(rows);
        if (rows[0]) setModel(`${rows[0].name}@${rows[0].version}`);
      })
      .catch((e: Error) => setError(e.message));
  }, []);

  const split = (value: string) => {
    const at = value.lastIndexOf('@');
    return { name: value.slice(0, at), version: value.slice(at + 1) };
  };

  const start = async () => {
    setBusy(true);
    setError(null);
    try {
      const m = split(model);
      const gt = groundTruth === 'model' && gtModel ? split(gtModel) : null;
      const row = await must(
        api.POST('/api/v1/projects/{project_id}/evaluations', {
          params: { path: { project_id: projectId } },
          body: {
            model: m.name,
            model_version: m.version,
            ground_truth: groundTruth,
            gt_model: gt?.name ?? null,
            gt_model_version: gt?.version ?? null,
            iou_threshold: Number(iou),
            iou_type: iouType,
          },
        }),
      );
      onStarted(row);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const options = models.map((m) => (
    <option key={`${m.name}@${m.version}`} value={`${m.name}@${m.version}`}>
      {m.name} {m.version}
      {m.is_active ? ' (active)' : ''}
    </option>
  ));
  return (
    <form
      className="card stack"
      aria-labelledby="start-eval-heading"
      onSubmit={(e) => {
        e.preventDefault();
        void start();
      }}
    >
      <h2 id="start-eval-heading">Evaluate a model</h2>
      <label>
        Model version
        <select value={model} onChange={(e) => setModel(e.target.value)}>
          {options}
        </select>
      </label>
      <label>
        Ground truth
        <select value={groundTruth} onChange={(e) => setGroundTruth(e.target.value as typeof groundTruth)}>
          <option value="reviewed">annotations of reviewed images</option>
          <option value="annotations">all annotations</option>
          <option value="model">another model version</option>
        </select>
      </label>
      {groundTruth === 'model' && (
        <label>
          Compared with
          <select value={gtModel} onChange={(e) => setGtModel(e.target.value)}>
            <option value="">choose…</option>
            {options}
          </select>
        </label>
      )}
      <label>
        IoU threshold
        <input type="number" min={0.05} max={1} step={0.05} value={iou} onChange={(e) => setIou(e.target.value)} />
      </label>
      <label>
        Overlap of
        <select value={iouType} onChange={(e) => setIouType(e.target.value as 'bbox' | 'segm')}>
          <option value="bbox">boxes (bbox)</option>
          <option value="segm">masks and polygons (segm)</option>
        </select>
      </label>
      <button type="submit" disabled={busy || !model}>
        Run evaluation
      </button>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </form>
  );
}

/** The latest completed evaluation of each model version, side by side. */
function Comparison({ evaluations }: { evaluations: Evaluation[] }) {
  const latest = new Map<string, Evaluation>();
  for (const e of evaluations) {
    const key = `${e.model} ${e.model_version}`;
    if (e.status === 'completed' && e.kind === 'detection' && !latest.has(key)) latest.set(key, e);
  }
  if (latest.size === 0) return null;
  const rows = [...latest.entries()];
  return (
    <section className="card" aria-labelledby="compare-heading">
      <h2 id="compare-heading">Model versions side by side</h2>
      <table data-testid="comparison">
        <thead>
          <tr>
            <th>Model version</th>
            <th>Run</th>
            <th>Images</th>
            <th>mAP</th>
            <th>AP50</th>
            <th>AP75</th>
            <th>Precision</th>
            <th>Recall</th>
            <th>F1</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(([key, e]) => {
            const m = e.metrics as Report;
            return (
              <tr key={key}>
                <th scope="row">{key}</th>
                <td>#{e.id}</td>
                <td>{e.images}</td>
                <td>{num(m.map)}</td>
                <td>{num(m.ap50)}</td>
                <td>{num(m.ap75)}</td>
                <td>{num(m.at_threshold?.precision)}</td>
                <td>{num(m.at_threshold?.recall)}</td>
                <td>{num(m.at_threshold?.f1)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}

function EvaluationReport({ projectId, evaluation }: { projectId: number; evaluation: Evaluation }) {
  const title = `Evaluation #${evaluation.id}: ${evaluation.model} ${evaluation.model_version} against ${
    evaluation.ground_truth === 'model' ? `${evaluation.gt_model} ${evaluation.gt_model_version}` : `${evaluation.ground_truth} annotations`
  }`;
  if (OPEN.has(evaluation.status)) {
    return (
      <section className="card" aria-labelledby="report-heading">
        <h2 id="report-heading">{title}</h2>
        <p role="status" data-testid="evaluation-progress">
          {evaluation.status} {evaluation.phase ?? ''} {Math.round(evaluation.progress * 100)}%
        </p>
        <progress max={1} value={evaluation.progress} aria-label="Evaluation progress" />
      </section>
    );
  }
  if (evaluation.status === 'failed') {
    return (
      <section className="card" aria-labelledby="report-heading">
        <h2 id="report-heading">{title}</h2>
        <p role="alert" className="error">
          Failed: {evaluation.error}
        </p>
      </section>
    );
  }
  const report = evaluation.metrics as Report;
  return (
    <section aria-labelledby="report-heading" data-testid="evaluation-report">
      <h2 id="report-heading">{title}</h2>
      <p className="muted">
        {evaluation.images} images · IoU {evaluation.iou_threshold} · score ≥ {evaluation.score_threshold}
      </p>
      {report.kind === 'detection' ? (
        <DetectionReport projectId={projectId} evaluation={evaluation} report={report} />
      ) : (
        <div className="card">
          <p>
            Accuracy <strong data-testid="accuracy">{num(report.accuracy)}</strong> · top-5 accuracy {num(report.top5_accuracy)}
          </p>
          <ClassTable projectId={projectId} evaluation={evaluation} report={report} />
        </div>
      )}
      <ConfusionChart projectId={projectId} evaluation={evaluation} report={report} />
    </section>
  );
}

function DetectionReport({ projectId, evaluation, report }: { projectId: number; evaluation: Evaluation; report: Report }) {
  const at = report.at_threshold;
  const best = report.best_f1;
  return (
    <>
      <div className="card">
        <h3>COCO metrics</h3>
        <table data-testid="summary-table">
          <thead>
            <tr>
              <th>Metric</th>
              <th>All classes</th>
              <th>Classes present ({report.classes_present?.length ?? 0})</th>
            </tr>
          </thead>
          <tbody>
            {SUMMARY.map(([key, name]) => (
              <tr key={key} data-metric={key}>
                <th scope="row">{name}</th>
                <td>{num(report[key])}</td>
                <td>{num(report.present?.[key])}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <p className="muted small">
          “All classes” is COCOeval’s mean over every class with ground truth; “classes present” only over those the model also
          predicted. Circles are evaluated as their boxes.
        </p>
        {at && best && (
          <p>
            At the score threshold: precision {num(at.precision)}, recall {num(at.recall)}, F1 {num(at.f1)} (
            <a href={gridLink(projectId, evaluation.id, { outcome: 'tp' })} onClick={linkClick}>
              {at.tp} TP
            </a>
            ,{' '}
            <a href={gridLink(projectId, evaluation.id, { outcome: 'fp' })} onClick={linkClick}>
              {at.fp} FP
            </a>
            ,{' '}
            <a href={gridLink(projectId, evaluation.id, { outcome: 'fn' })} onClick={linkClick}>
              {at.fn} FN
            </a>
            ). Best F1 {num(best.f1)} at score {num(best.threshold, 2)}.
          </p>
        )}
      </div>
      <div className="card">
        <h3>Per class</h3>
        <ClassTable projectId={projectId} evaluation={evaluation} report={report} />
      </div>
      <PrCurves report={report} />
    </>
  );
}

function ClassTable({ projectId, evaluation, report }: { projectId: number; evaluation: Evaluation; report: Report }) {
  const detection = report.kind === 'detection';
  return (
    <table data-testid="class-table">
      <thead>
        <tr>
          <th>Class</th>
          <th>Ground truth</th>
          <th>Predictions</th>
          {detection && (
            <>
              <th>AP</th>
              <th>AP50</th>
              <th>AP75</th>
            </>
          )}
          <th>Precision</th>
          <th>Recall</th>
          <th>F1</th>
          {detection && <th>Images</th>}
        </tr>
      </thead>
      <tbody>
        {report.per_class.map((c) => {
          const prf = c.at_threshold ?? { precision: c.precision, recall: c.recall, f1: c.f1 };
          const link = (filters: Record<string, string>) => gridLink(projectId, evaluation.id, { class: c.name, ...filters });
          return (
            <tr key={c.name}>
              <th scope="row">
                <a href={link({})} onClick={linkClick}>
                  {c.name}
                </a>
              </th>
              <td>{c.ground_truth}</td>
              <td>{c.predictions}</td>
              {detection && (
                <>
                  <td>{num(c.ap)}</td>
                  <td>{num(c.ap50)}</td>
                  <td>{num(c.ap75)}</td>
                </>
              )}
              <td>{num(prf.precision)}</td>
              <td>{num(prf.recall)}</td>
              <td>{num(prf.f1)}</td>
              {detection && (
                <td>
                  <a href={link({ outcome: 'fn' })} onClick={linkClick} aria-label={`Images where ${c.name} was missed`}>
                    missed
                  </a>{' '}
                  ·{' '}
                  <a href={link({ outcome: 'fp' })} onClick={linkClick} aria-label={`Images with false ${c.name}`}>
                    false
                  </a>
                </td>
              )}
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function PrCurves({ report }: { report: Report }) {
  const option = useMemo<ChartOption>(() => {
    const curves = report.per_class.filter((c) => c.pr_curve);
    return {
      animation: false,
      tooltip: { trigger: 'item' },
      legend: { type: 'scroll', bottom: 0 },
      grid: { left: 50, right: 20, top: 20, bottom: 60 },
      xAxis: { type: 'value', name: 'recall', nameLocation: 'middle', nameGap: 25, min: 0, max: 1 },
      yAxis: { type: 'value', name: 'precision', min: 0, max: 1 },
      series: curves.map((c) => ({
        name: c.name,
        type: 'line',
        showSymbol: false,
        data: c.pr_curve!.recall.map((r, i) => [r, c.pr_curve!.precision[i]]),
      })),
    };
  }, [report]);
  const drawn = report.per_class.filter((c) => c.pr_curve).map((c) => c.name);
  return (
    <div className="card">
      <h3>Precision–recall curves (IoU 0.5)</h3>
      {drawn.length === 0 ? (
        <p className="muted">No class has ground truth to draw a curve for.</p>
      ) : (
        <Chart option={option} label={`Precision-recall curves of ${drawn.join(', ')}`} testId="pr-chart" data={{ classes: drawn.join(',') }} />
      )}
    </div>
  );
}

/** Grid margins of the confusion chart in pixels (the end-to-end test finds cells from them). */
const CONFUSION_GRID = { left: 110, right: 80, top: 10, bottom: 70 };

function ConfusionChart({ projectId, evaluation, report }: { projectId: number; evaluation: Evaluation; report: Report }) {
  const rows = report.confusion.labels.slice(0, report.confusion.matrix.length);
  const columns = report.confusion.columns_labels ?? report.confusion.labels;
  const option = useMemo<ChartOption>(() => {
    const cells = report.confusion.matrix.flatMap((row, r) => row.map((n, c) => [c, r, n]));
    const max = Math.max(1, ...cells.map((cell) => cell[2]));
    return {
      animation: false,
      tooltip: { formatter: (p: { data: number[] }) => `${rows[p.data[1]]} → ${columns[p.data[0]]}: ${p.data[2]}` },
      grid: CONFUSION_GRID,
      xAxis: { type: 'category', data: columns, name: 'predicted', nameLocation: 'middle', nameGap: 45, axisLabel: { rotate: 30 } },
      yAxis: { type: 'category', data: rows, name: 'ground truth', inverse: true },
      visualMap: { min: 0, max, calculable: false, orient: 'vertical', right: 0, top: 'middle', inRange: { color: ['#f4f6fb', '#2455c3'] } },
      series: [{ type: 'heatmap', data: cells, label: { show: true } }],
    };
  }, [report, rows, columns]);
  const open = (event: { data: unknown }) => {
    const [c, r] = event.data as number[];
    navigate(gridLink(projectId, evaluation.id, { gt_class: rows[r], pred_class: columns[c] }));
  };
  const height = Math.max(240, rows.length * 36 + CONFUSION_GRID.top + CONFUSION_GRID.bottom);
  return (
    <div className="card">
      <h3>Confusion matrix (IoU ≥ {evaluation.iou_threshold})</h3>
      <p className="muted small">Rows: ground truth; columns: predictions; background is a box on nothing, or one missed. Click a cell for its images.</p>
      <Chart
        option={option}
        onClick={open}
        label="Confusion matrix"
        testId="confusion-chart"
        height={height}
        data={{
          rows: rows.join(','),
          columns: columns.join(','),
          grid: [CONFUSION_GRID.left, CONFUSION_GRID.top, CONFUSION_GRID.right, CONFUSION_GRID.bottom].join(','),
        }}
      />
    </div>
  );
}

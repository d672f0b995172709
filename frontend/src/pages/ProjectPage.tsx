import { lazy, Suspense, useCallback, useEffect, useState } from 'react';
import { api, must, type Project } from '../api/client';
import { linkClick, useLocation, type ProjectTab } from '../router';
import { labelColor } from '../colors';
import { ExportButtons } from '../components/ExportButtons';
import { ImageGrid } from '../components/ImageGrid';
import { Members } from '../components/Members';
import { ProjectSettings } from '../components/ProjectSettings';
import { RunModel } from '../components/RunModel';
import { Uploader } from '../components/Uploader';

// The evaluation page brings the chart library: loaded when first opened.
const EvaluationPage = lazy(() => import('./EvaluationPage').then((m) => ({ default: m.EvaluationPage })));
const DashboardPage = lazy(() => import('./DashboardPage').then((m) => ({ default: m.DashboardPage })));

export function ProjectPage({ projectId, tab }: { projectId: number; tab: ProjectTab }) {
  const search = useLocation().split('?')[1] ?? '';
  const [project, setProject] = useState<Project | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [reloadKey, setReloadKey] = useState(0);

  const load = useCallback(() => {
    must(api.GET('/api/v1/projects/{project_id}', { params: { path: { project_id: projectId } } }))
      .then(setProject)
      .catch((e: Error) => setError(e.message));
  }, [projectId]);
  useEffect(load, [load]);
  const refresh = useCallback(() => setReloadKey((k) => k + 1), []);

  if (error) return <p role="alert" className="error">{error}</p>;
  if (!project) return <p role="status">Loading…</p>;
  const base = `/projects/${project.id}`;
  return (
    <div className="page project">
      <nav aria-label="Breadcrumb" className="crumbs">
        <a href="/" onClick={linkClick}>
          Projects
        </a>{' '}
        / <span>{project.name}</span>
      </nav>
      <h1>{project.name}</h1>
      <div className="legend-row" aria-label="Label set">
        {project.labels.map((l) => (
          <span key={l.id} className="chip">
            <span className="swatch" style={{ background: labelColor(l.name, l.color) }} aria-hidden="true" />
            {l.name}
          </span>
        ))}
      </div>
      <nav className="tabs" aria-label="Project sections">
        <a href={base} onClick={linkClick} aria-current={tab === 'images' ? 'page' : undefined}>
          Images
        </a>
        <a href={`${base}/review`} onClick={linkClick}>
          Review
        </a>
        <a href={`${base}/members`} onClick={linkClick} aria-current={tab === 'members' ? 'page' : undefined}>
          Members
        </a>
        <a href={`${base}/settings`} onClick={linkClick} aria-current={tab === 'settings' ? 'page' : undefined}>
          Labels &amp; metadata
        </a>
        <a href={`${base}/evaluations`} onClick={linkClick} aria-current={tab === 'evaluations' ? 'page' : undefined}>
          Evaluations
        </a>
        <a href={`${base}/dashboard`} onClick={linkClick} aria-current={tab === 'dashboard' ? 'page' : undefined}>
          Dashboard
        </a>
      </nav>
      {tab === 'images' && (
        <div className="project-layout">
          <aside className="side">
            <Uploader projectId={project.id} onUploaded={refresh} />
            <RunModel projectId={project.id} selected={[...selected]} onFinished={refresh} />
            <ExportButtons projectId={project.id} defaultModel={project.default_model ?? null} />
          </aside>
          <ImageGrid key={search} project={project} selected={selected} onSelect={setSelected} reloadKey={reloadKey} search={search} />
        </div>
      )}
      {tab === 'members' && <Members projectId={project.id} />}
      {tab === 'settings' && <ProjectSettings project={project} onChanged={load} />}
      {tab === 'evaluations' && (
        <Suspense fallback={<p role="status">Loading…</p>}>
          <EvaluationPage projectId={project.id} />
        </Suspense>
      )}
      {tab === 'dashboard' && (
        <Suspense fallback={<p role="status">Loading…</p>}>
          <DashboardPage projectId={project.id} />
        </Suspense>
      )}
    </div>
  );
}

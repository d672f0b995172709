import { useEffect, useState } from 'react';
import { api, must, type Project } from '../api/client';
import { linkClick, navigate } from '../router';

/** "a, b, c" or one per line → unique, trimmed names. */
export function splitNames(text: string): string[] {
  return [...new Set(text.split(/[,\n]/).map((s) => s.trim()).filter(Boolean))];
}

/** "key=value" lines → an object. */
export function parseMetadata(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return out;
}

export function Projects() {
  const [projects, setProjects] = useState<Project[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [labels, setLabels] = useState('');
  const [metadata, setMetadata] = useState('');

  useEffect(() => {
    must(api.GET('/api/v1/projects'))
      .then((r) => setProjects(r.projects))
      .catch((e: Error) => setError(e.message));
  }, []);

  const create = async (event: React.FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      const project = await must(
        api.POST('/api/v1/projects', {
          body: { name, description, labels: splitNames(labels), metadata: parseMetadata(metadata) },
        }),
      );
      navigate(`/projects/${project.id}`);
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <div className="page projects">
      <section aria-labelledby="projects-heading">
        <h1 id="projects-heading">Projects</h1>
        {projects === null && !error && <p role="status">Loading…</p>}
        {projects && projects.length === 0 && <p>No projects yet: create one.</p>}
        <ul className="project-list">
          {projects?.map((p) => (
            <li key={p.id}>
              <a href={`/projects/${p.id}`} onClick={linkClick}>
                {p.name}
              </a>
              <span className="muted"> · {p.role} · {p.labels.length} labels</span>
              {p.description && <p className="muted">{p.description}</p>}
            </li>
          ))}
        </ul>
      </section>
      <section aria-labelledby="create-heading" className="card">
        <h2 id="create-heading">New project</h2>
        <form onSubmit={create} className="stack">
          <label>
            Name
            <input required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />
          </label>
          <label>
            Description
            <input value={description} onChange={(e) => setDescription(e.target.value)} />
          </label>
          <label>
            Labels (comma separated)
            <input value={labels} placeholder="cat, dog" onChange={(e) => setLabels(e.target.value)} />
          </label>
          <label>
            Metadata (key=value, one per line)
            <textarea rows={2} value={metadata} onChange={(e) => setMetadata(e.target.value)} />
          </label>
          <button type="submit">Create project</button>
        </form>
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
      </section>
    </div>
  );
}
